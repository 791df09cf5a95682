import ArgumentParser
import Foundation
import LessorClient
import LessorCore
import Logging
import ServiceLifecycle
import UnixSignals

/// `lessor den-agent`: a host's OpenWork Den activity heartbeat loop, the other seed.
struct DenAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "den-agent",
        abstract: "Send a Den worker's activity heartbeat every interval until SIGTERM or SIGINT (then exit 0).",
        discussion: """
            isActiveRecently is true, or, with --active-command, whether that command (run by /bin/sh -c before each \
            beat) exits 0. A beat that gets no answer or a 5xx is sent again with the same Idempotency-Key until the next \
            is due. One log line per beat on stderr.
            """)

    @Option(help: "The Lessor URL, e.g. http://127.0.0.1:8080 (or LESSOR_URL).") var url: String?
    @Option(help: "The worker's id, wrk_... (or LESSOR_WORKER).") var worker: String?
    @Option(help: "The worker's activity token, from POST /v1/workers (or LESSOR_TOKEN; the variable keeps it out of ps).") var token: String?
    @Option(help: "Seconds between beats (1-3600).") var interval: Int = 30
    @Option(name: .customLong("active-command"), help: "A shell command whose exit status 0 means active recently.") var activeCommand: String?

    func validate() throws {
        guard (1...3600).contains(interval) else { throw ValidationError("--interval must be 1 to 3600 seconds") }
        for (name, value) in [("--url (LESSOR_URL)", resolved(url, "LESSOR_URL")), ("--worker (LESSOR_WORKER)", resolved(worker, "LESSOR_WORKER")),
                              ("--token (LESSOR_TOKEN)", resolved(token, "LESSOR_TOKEN"))] where value == nil {
            throw ValidationError("\(name) is required")
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        let logger = Logger(label: "lessor.den-agent")
        let agent = ActivityLoop(
            client: LessorClient(url: resolved(url, "LESSOR_URL")!, token: ""), worker: resolved(worker, "LESSOR_WORKER")!,
            token: resolved(token, "LESSOR_TOKEN")!, interval: .seconds(interval), activeCommand: activeCommand, logger: logger)
        try await ServiceGroup(services: [agent], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger).run()
    }

    private func resolved(_ flag: String?, _ variable: String) -> String? {
        flag ?? ProcessInfo.processInfo.environment[variable].flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// The beat loop as a service: it ends at the first graceful-shutdown signal.
struct ActivityLoop: Service {
    let client: LessorClient
    let worker: String
    let token: String
    let interval: Duration
    let activeCommand: String?
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                let next = ContinuousClock.now + interval
                await beat(until: next)
                try? await Task.sleep(until: next, clock: .continuous)
            }
        }
    }

    /// One beat, sent again with its key while transient, until `deadline`.
    private func beat(until deadline: ContinuousClock.Instant) async {
        let active = await isActive()
        let key = UUID().uuidString
        while !Task.isCancelled, ContinuousClock.now < deadline {
            do throws(LessorClientError) {
                let result = try await client.activityHeartbeat(worker: worker, activityToken: token, isActiveRecently: active, idempotencyKey: key)
                logger.info("beat", metadata: ["worker": "\(worker)", "active": "\(active)", "lastHeartbeatAt": "\(result.lastHeartbeatAt.rfc3339)"])
                return
            } catch {
                logger.warning("beat failed", metadata: ["worker": "\(worker)", "error": "\(error)"])
                guard error.isTransient else { return }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// True without an active command, else whether it exits 0.
    private func isActive() async -> Bool {
        guard let activeCommand else { return true }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", activeCommand]
        return await withCheckedContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus == 0) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(returning: false)
            }
        }
    }
}
