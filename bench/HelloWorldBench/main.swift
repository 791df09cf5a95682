import Hummingbird

// The framework's own floor for the front-node benchmark (bench/run.py): a Hummingbird 2
// POST route that answers a fixed JSON body, with nothing else in the pipeline. Lessor's
// heartbeat rate and CPU per request are reported as ratios to this, measured in the same run.
//
//   HelloWorldBench <port>
let port = CommandLine.arguments.dropFirst().first.flatMap(Int.init) ?? 8081
let body = ByteBuffer(string: #"{"type":"work_heartbeat","ok":true}"#)
let router = Router()
router.post("/hello") { _, _ -> Response in
    Response(status: .ok, headers: [.contentType: "application/json; charset=utf-8"], body: .init(byteBuffer: body))
}
let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "hello"))
try await app.runService()
