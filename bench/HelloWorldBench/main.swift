import Hummingbird
import LessorRedis

// The floors for the front-node benchmark (bench/run.py), measured in the same run as Lessor:
//
// * POST /hello — a Hummingbird 2 route that answers a fixed JSON body, nothing else in the
//   pipeline: the framework's own floor (H1 and C1 are ratios to it).
// * POST /redis — the same route after one Redis round trip through LessorRedis (EVALSHA of
//   `return 1`, auto-pipelined like Lessor's): the floor of any route that asks Redis once,
//   which is every heartbeat. What Lessor costs beyond it is the lease logic itself.
//
//   HelloWorldBench <port> [<redis port>]
let arguments = CommandLine.arguments.dropFirst()
let port = arguments.first.flatMap(Int.init) ?? 8081
let body = ByteBuffer(string: #"{"type":"work_heartbeat","ok":true}"#)
let router = Router()
router.post("/hello") { _, _ -> Response in
    Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: body))
}
if let redisPort = arguments.dropFirst().first.flatMap(Int.init) {
    let redis = try RedisClient(configuration: RedisConfiguration(host: "127.0.0.1", port: redisPort))
    let script = RedisScript(source: "return 1")
    router.post("/redis") { _, _ -> Response in
        try await redis.evaluate(script)
        return Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: body))
    }
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "hello"))
try await app.runService()
