import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A TCP proxy on 127.0.0.1 that loses answers, as a load balancer in trouble does: it forwards
/// each connection to the next target (round robin) and, for a chosen fraction of connections,
/// forwards the request but drops the response — it resets the client's connection once the
/// answer arrives, or keeps it silent until the client gives up. Clients send one request per
/// connection (`Connection: close`), so a connection's fate is its request's.
///
/// Blocking sockets on threads of their own: test code, a few hundred connections, and no
/// event loop to stall.
public final class FaultProxy: Sendable {
    /// What happens to one connection's answer.
    public enum Fault: Sendable {
        case none, reset, silence
    }

    /// How many connections met each fate.
    public struct Counts: Sendable, CustomStringConvertible {
        public var forwarded = 0
        public var reset = 0
        public var silenced = 0

        public var description: String { "\(forwarded) forwarded, \(reset) answers reset, \(silenced) answers silenced" }
    }

    private struct State {
        var random: UInt64
        var counts = Counts()
        var next = 0
        /// Whether answers are dropped at all (a run can turn the faults off).
        var dropFraction: Double
    }

    /// The port the proxy listens on.
    public let port: Int
    private let listener: Int32
    private let targets: [Int]
    private let state: Mutex<State>

    /// Starts the proxy.
    /// - Parameters:
    ///   - targets: The loopback ports to forward to, in turn.
    ///   - dropFraction: The fraction of connections whose answer is dropped (half reset, half silenced).
    ///   - seed: Seeds the choice, so a run's faults are repeatable.
    public init(targets: [Int], dropFraction: Double, seed: UInt64) throws {
        self.targets = targets
        state = Mutex(State(random: seed, dropFraction: dropFraction))
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard listener >= 0 else { throw ProxyError.socket("socket") }
        self.listener = listener
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 128) == 0 else { throw ProxyError.socket("bind/listen") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in
            while true {
                let client = accept(listener, nil, nil)
                guard client >= 0 else { return }  // closed
                let (target, fault) = choose()
                Thread.detachNewThread { [self] in serve(client, target: target, fault: fault) }
            }
        }
    }

    /// The counts so far.
    public var counts: Counts { state.withLock { $0.counts } }

    /// Changes the fraction of answers dropped from now on; 1 also silences the connections
    /// already open (a load balancer cut off from its clients).
    public func setDropFraction(_ fraction: Double) {
        state.withLock { $0.dropFraction = fraction }
    }

    /// Stops accepting connections (those open run to their end).
    public func close() {
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
    }

    private func choose() -> (target: Int, fault: Fault) {
        state.withLock { state in
            // SplitMix64: repeatable for a seed, good enough to pick faults.
            state.random &+= 0x9E37_79B9_7F4A_7C15
            var z = state.random
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            let draw = Double(z >> 11) / Double(1 << 53)
            let target = targets[state.next % targets.count]
            state.next += 1
            let fault: Fault = draw < state.dropFraction / 2 ? .reset : (draw < state.dropFraction ? .silence : .none)
            switch fault {
            case .none: state.counts.forwarded += 1
            case .reset: state.counts.reset += 1
            case .silence: state.counts.silenced += 1
            }
            return (target, fault)
        }
    }

    /// Pipes one connection: the request always reaches the target; the answer as `fault` says.
    private func serve(_ client: Int32, target: Int, fault: Fault) {
        let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.loopback(port: target)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard server >= 0, connected == 0 else {
            Glibc.close(client)
            if server >= 0 { Glibc.close(server) }
            return
        }
        let upstreamDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            // client → server, until the client closes or its reading side is shut.
            Self.copy(from: client, to: server)
            shutdown(server, Int32(SHUT_WR))
            upstreamDone.signal()
        }
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        answer: while true {
            let count = read(server, &buffer, buffer.count)
            if count <= 0 { break }
            switch fault {
            case .none:
                // Cut off: with every answer dropped, open connections fall silent too.
                if state.withLock({ $0.dropFraction >= 1 }) { continue }
                if !Self.writeAll(client, buffer, count) { break answer }
            case .reset:
                // The answer arrived and the request ran: the client gets a reset instead.
                shutdown(client, Int32(SHUT_RD))
                upstreamDone.wait()
                var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                setsockopt(client, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                Glibc.close(client)
                Glibc.close(server)
                return
            case .silence: continue  // swallowed; the client waits until it gives up
            }
        }
        if fault == .none { shutdown(client, Int32(SHUT_WR)) }
        upstreamDone.wait()
        Glibc.close(client)
        Glibc.close(server)
    }

    private static func copy(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = read(source, &buffer, buffer.count)
            if count <= 0 || !writeAll(destination, buffer, count) { return }
        }
    }

    private static func writeAll(_ fd: Int32, _ buffer: [UInt8], _ count: Int) -> Bool {
        var written = 0
        while written < count {
            // send, not write: a peer gone must not raise SIGPIPE in the test process.
            let result = buffer.withUnsafeBytes { send(fd, $0.baseAddress! + written, count - written, Int32(MSG_NOSIGNAL)) }
            if result <= 0 { return false }
            written += result
        }
        return true
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    enum ProxyError: Error {
        case socket(String)
    }
}
