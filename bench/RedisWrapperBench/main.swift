// Drives EVALSHA of a script through LessorRedis from many concurrent tasks and prints
// the rate. `bench/redis-wrapper.sh` runs it beside redis-benchmark and prints the ratio.
//
// Usage: RedisWrapperBench --port P --script FILE [--requests N] [--concurrency C] [--pool-size S]
import Foundation
import LessorRedis

struct Options {
    var port = 6379
    var script = "bench/heartbeat-like.lua"
    var requests = 200_000
    var concurrency = 64
    var poolSize = 4
    var keys = 1000

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next() else { fatalError("\(flag) needs a value") }
            switch flag {
            case "--port": port = Int(value)!
            case "--script": script = value
            case "--requests": requests = Int(value)!
            case "--concurrency": concurrency = Int(value)!
            case "--pool-size": poolSize = Int(value)!
            case "--keys": keys = Int(value)!
            default: fatalError("unknown option \(flag)")
            }
        }
    }
}

let options = Options(CommandLine.arguments)
var configuration = RedisConfiguration(host: "127.0.0.1", port: options.port)
configuration.poolSize = options.poolSize
let redis = try RedisClient(configuration: configuration)
let script = RedisScript(source: try String(contentsOfFile: options.script, encoding: .utf8))

/// Runs `total` EVALSHAs split over `options.concurrency` tasks; returns the failures.
func run(total: Int) async -> Int {
    await withTaskGroup(of: Int.self) { group in
        let perTask = total / options.concurrency
        for task in 0..<options.concurrency {
            group.addTask {
                var failures = 0
                for index in 0..<perTask {
                    let item = (task &* 7919 &+ index) % options.keys
                    do {
                        try await redis.evaluate(
                            script, keys: ["bench:{\(item)}:item", "bench:{\(item)}:lease"], arguments: ["holder", 60000])
                    } catch {
                        failures += 1
                    }
                }
                return failures
            }
        }
        return await group.reduce(0, +)
    }
}

_ = await run(total: min(options.requests / 10, 20_000))  // warm up: connections, script cache
let clock = ContinuousClock()
let started = clock.now
let failures = await run(total: options.requests)
let elapsed = clock.now - started
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
let measured = options.requests / options.concurrency * options.concurrency
print(String(format: "wrapper: %d EVALSHA in %.3f s = %.0f req/s (concurrency %d, pool %d, failures %d)",
             measured, seconds, Double(measured) / seconds, options.concurrency, options.poolSize, failures))
redis.shutDown()
