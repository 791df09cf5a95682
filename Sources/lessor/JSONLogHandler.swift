import Foundation
import LessorCore
import LessorHTTP
import Logging

/// One JSON object per line on standard error: `ts`, `level`, `logger`, `msg`, then metadata,
/// keys in byte order.
///
/// Written by hand: every request logs a line by default, and Foundation's
/// `JSONSerialization` made that line cost twice the heartbeat it described (bench/run.sh's
/// default-configuration row). Each line is one `write` of its own, so a crash loses none.
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let line = line(for: event)
        line.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Foundation.write(STDERR_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { return }
                offset += written
            }
        }
    }

    /// The line `event` is logged as, newline included.
    func line(for event: LogEvent) -> [UInt8] {
        var fields: [(key: String, value: String)] = []
        fields.reserveCapacity(metadata.count + (event.metadata?.count ?? 0) + 4)
        let merged = event.metadata.map { metadata.isEmpty ? $0 : metadata.merging($0) { $1 } } ?? metadata
        for (key, value) in merged where !Self.reserved.contains(key) {
            if case .string(let text) = value { fields.append((key, text)) } else { fields.append((key, "\(value)")) }
        }
        fields.append(("ts", Timestamp(microseconds: Int64(Date().timeIntervalSince1970 * 1_000_000)).rfc3339))
        fields.append(("level", event.level.rawValue))
        fields.append(("logger", label))
        fields.append(("msg", "\(event.message)"))
        fields.sort { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        var line: [UInt8] = []
        line.reserveCapacity(256)
        line.append(UInt8(ascii: "{"))
        for (index, field) in fields.enumerated() {
            if index > 0 { line.append(UInt8(ascii: ",")) }
            OrderedJSONEncoder.appendQuoted(field.key, to: &line)
            line.append(UInt8(ascii: ":"))
            OrderedJSONEncoder.appendQuoted(field.value, to: &line)
        }
        line.append(contentsOf: "}\n".utf8)
        return line
    }

    /// Keys the handler writes itself; metadata of the same name is dropped, so a line never
    /// holds a key twice.
    static let reserved: Set<String> = ["ts", "level", "logger", "msg"]
}
