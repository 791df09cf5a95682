import Foundation
import Logging

/// The tests' log level: the in-process routes and Redis clients log every request and every
/// expected failure (the outage tests make hundreds), which buried the test runner's own
/// lines in CI output. Tests assert on answers, not on log lines, so only critical lines are
/// printed unless `TEST_LOG_LEVEL` (trace ... critical) asks for more. (Not `LESSOR_*`: the
/// `lessor serve` processes the tests start inherit the environment and refuse unknown
/// `LESSOR_*` variables.) Processes the tests start log to files, shown when a test fails.
private let quietLogging: Void = {
    let level = ProcessInfo.processInfo.environment["TEST_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
    LoggingSystem.bootstrap { label in
        var handler = StreamLogHandler.standardError(label: label)
        handler.logLevel = level
        return handler
    }
}()

/// Sets the tests' log level, once per process, before the first logger of a test is made.
func configureTestLogging() {
    _ = quietLogging
}
