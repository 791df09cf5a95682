import ArgumentParser
import Foundation
import LessorClient
import Logging
import Synchronization
import UnixSignals

/// `lessor run`: the worker side for any language, like `etcdctl lock` and `consul lock`.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Poll an environment and run COMMAND once per work item while holding its lease.",
        discussion: """
            Each flag can also be set as a LESSOR_* variable (LESSOR_URL, LESSOR_TOKEN, LESSOR_ENV, LESSOR_WORKER_ID, \
            LESSOR_TTL, LESSOR_CONCURRENCY, LESSOR_ONCE, LESSOR_KILL_AFTER). COMMAND gets LESSOR_ENVIRONMENT_ID, \
            LESSOR_WORK_ID, LESSOR_SESSION_ID, LESSOR_FENCING_TOKEN, LESSOR_WORKER_ID and LESSOR_METADATA (JSON) in its \
            environment. Exit 0: the item is stopped (completed); non-zero: lessor.exit_status is recorded in its \
            metadata first. With D the last successful ack or heartbeat's send time plus the granted TTL, COMMAND gets \
            SIGTERM at D - kill-after and SIGKILL at D; on a takeover at once. SIGTERM/SIGINT: no new polls, running \
            commands finish (a second signal ends them), exit 0. --once: one item, exit with COMMAND's status (0 when \
            the queue stayed empty for a second).
            """)

    @Option(help: "The Lessor URL (LESSOR_URL).") var url: String?
    @Option(help: "A token for the environment (LESSOR_TOKEN; the variable keeps it out of ps).") var token: String?
    @Option(help: "The environment id, env_... (LESSOR_ENV).") var env: String?
    @Option(name: .customLong("worker-id"), help: "The worker id (LESSOR_WORKER_ID); default: hostname-pid.") var workerID: String?
    @Option(help: "The lease TTL in seconds for every heartbeat (LESSOR_TTL); default: the server's.") var ttl: Int?
    @Option(help: "Items run at once (LESSOR_CONCURRENCY).") var concurrency: Int?
    @Flag(help: "Handle one item and exit with COMMAND's status (LESSOR_ONCE=1).") var once = false
    @Option(name: .customLong("kill-after"), help: "Seconds from SIGTERM to SIGKILL (LESSOR_KILL_AFTER); below half the TTL; default 10.") var killAfter: Int?
    @Argument(parsing: .postTerminator, help: "-- COMMAND [ARGS...]") var command: [String] = []

    private static func variable(_ name: String) -> String? {
        ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    private func number(_ flag: Int?, _ name: String, _ range: ClosedRange<Int>, default value: Int?) throws -> Int? {
        guard let resolved = try flag ?? Self.variable(name).map({ text in
            guard let number = Int(text) else { throw ValidationError("\(name) must be a whole number") }
            return number
        }) ?? value else { return nil }
        guard range.contains(resolved) else { throw ValidationError("\(name) must be \(range.lowerBound) to \(range.upperBound)") }
        return resolved
    }

    func run() async throws {
        let arguments = command
        guard !arguments.isEmpty else { throw ValidationError("give the command after --: lessor run ... -- COMMAND [ARGS...]") }
        guard let url = url ?? Self.variable("LESSOR_URL") else { throw ValidationError("--url (LESSOR_URL) is required") }
        guard let token = token ?? Self.variable("LESSOR_TOKEN") else { throw ValidationError("--token (LESSOR_TOKEN) is required") }
        guard let env = env ?? Self.variable("LESSOR_ENV") else { throw ValidationError("--env (LESSOR_ENV) is required") }
        let ttl = try number(self.ttl, "LESSOR_TTL", 10...600, default: nil)
        let killAfter = try number(self.killAfter, "LESSOR_KILL_AFTER", 1...299, default: 10)!
        if let ttl, killAfter * 2 >= ttl { throw ValidationError("--kill-after (\(killAfter) s) must be below half the TTL (\(ttl) s)") }
        let concurrency = try number(self.concurrency, "LESSOR_CONCURRENCY", 1...1000, default: 1)!
        let once = once || Self.variable("LESSOR_ONCE") == "1" || Self.variable("LESSOR_ONCE") == "true"
        let worker = workerID ?? Self.variable("LESSOR_WORKER_ID") ?? "\(ProcessInfo.processInfo.hostName)-\(getpid())"

        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        var logger = Logger(label: "lessor.run")
        logger[metadataKey: "worker"] = "\(worker)"
        let runner = Runner(
            client: LessorClient(url: url, token: token), logger: logger,
            options: Runner.Options(
                environment: env, worker: worker, ttl: ttl.map { .seconds($0) }, concurrency: concurrency, once: once,
                killAfter: .seconds(killAfter), command: arguments))
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        let watcher = Task {
            var count = 0
            for await signal in signals {
                count += 1
                if count == 1 {
                    logger.notice("\(signal): draining (no new polls; running commands finish; a second signal ends them)")
                    runner.draining.store(true, ordering: .releasing)
                } else {
                    logger.notice("\(signal): ending the running commands")
                    runner.killing.store(true, ordering: .releasing)
                }
            }
        }
        let status = await runner.run()
        watcher.cancel()
        throw ExitCode(status)
    }
}
