import LessorRedis
import Logging
import Metrics
import ServiceLifecycle

/// Requeues lapsed leases in the background, on every front node, so an item whose holder
/// went quiet goes back to `queued` within about a second even when nobody polls. Running on
/// several nodes at once is harmless: `lessor_v5_work_reap` decides atomically.
public struct LeaseReaper: Service {
    let functions: LessorFunctions
    let environments: Environments
    let interval: Duration
    let batch: Int
    let logger: Logger

    /// Creates the reaper.
    /// - Parameters:
    ///   - functions: The library calls.
    ///   - interval: Pause between sweeps (default 250 ms).
    ///   - batch: Lapsed leases handled per script call, so no call stalls Redis (default 100: about 4 ms of Redis time, measured by bench/run.sh).
    ///   - logger: Where failures go.
    public init(functions: LessorFunctions, interval: Duration = .milliseconds(250), batch: Int = 100, logger: Logger) {
        self.functions = functions
        self.environments = Environments(functions: functions)
        self.interval = interval
        self.batch = batch
        self.logger = logger
    }

    /// Sweeps until graceful shutdown, then returns normally (a throw would fail the service group).
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await sweep()
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// One pass over every environment; an environment with more lapsed leases than a batch
    /// is swept again at once.
    public func sweep() async {
        let environments: [String]
        do throws(StoreError) {
            environments = try await self.environments.ids()
        } catch {
            logger.warning("reaper cannot list environments", metadata: ["error": "\(error)"])
            return
        }
        await withTaskGroup(of: Void.self) { group in
            for environment in environments {
                group.addTask {
                    var more = true
                    while more, !Task.isCancelled {
                        do throws(StoreError) {
                            let result = try await functions.call(WorkReap(environmentID: environment, batch: batch))
                            more = result.more
                            if result.reaped > 0 {
                                Counter(label: "lessor_leases_reaped_total").increment(by: result.reaped)
                                DeadLetters.count(result.deadLettered)
                                logger.debug("reaped lapsed leases", metadata: ["env": "\(environment)", "count": "\(result.reaped)"])
                            }
                        } catch {
                            if case .redis(let redisError) = error {
                                logger.warning("reaper step failed", metadata: ["env": "\(environment)", "error": "\(redisError.message)"])
                            }
                            more = false
                        }
                    }
                }
            }
        }
    }
}

/// `lessor_work_dead_lettered_total`: items stopped for lapsing their environment's
/// `max_lapses` times, counted by the node whose call stopped them (its reaper, or a poll or
/// stats call, which reap before they answer). `lessor lease expire` runs in its own process:
/// it prints the item, `stop_reason` included, and counts nothing.
public enum DeadLetters {
    /// Counts dead letters a call reported.
    public static func count(_ count: Int) {
        if count > 0 { Counter(label: "lessor_work_dead_lettered_total").increment(by: count) }
    }
}
