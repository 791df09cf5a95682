import Foundation
@testable import LessorCore
@testable import LessorHTTP
import NIOCore
import Testing

@Suite("Hand-written response bodies")
struct ResponsesTests {
    @Test(arguments: [true, false])
    func theHeartbeatBodyIsTheJSONTheEncoderWrote(leaseExtended: Bool) throws {
        let result = HeartbeatResult(lastHeartbeat: Timestamp(rfc3339: "2026-07-01T08:15:06.120394Z")!, leaseExtended: leaseExtended, state: .active, ttl: .seconds(60), fencingToken: 12)
        let body = String(buffer: HeartbeatResponse(result).body)
        #expect(body == #"{"type":"work_heartbeat","last_heartbeat":"2026-07-01T08:15:06.120394Z","lease_extended":\#(leaseExtended),"state":"active","ttl_seconds":60,"fencing_token":12}"#)
        let decoded = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        #expect(decoded.count == 6)
        #expect(decoded["lease_extended"] as? Bool == leaseExtended)
    }
}

@Suite("Ordered JSON responses")
struct OrderedJSONTests {
    struct Inner: Encodable {
        let z: Int
        let a: [String?]
    }

    struct Outer: Encodable {
        enum CodingKeys: String, CodingKey { case type, id, nothing, inner, metadata, flag, ratio, text }
        let type = "thing"
        let id = "x/1"
        let nothing: String? = nil
        let inner = Inner(z: -3, a: ["b", nil])
        let metadata = ["b": "2", "a": "1", "c": "3"]
        let flag = true
        let ratio = 0.5
        let text = "quote \" backslash \\ newline \n bell \u{7} é 🎉"

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(type, forKey: .type)
            try container.encode(id, forKey: .id)
            try container.encode(nothing, forKey: .nothing)
            try container.encode(inner, forKey: .inner)
            try container.encode(metadata, forKey: .metadata)
            try container.encode(flag, forKey: .flag)
            try container.encode(ratio, forKey: .ratio)
            try container.encode(text, forKey: .text)
        }
    }

    @Test func keysComeInTheOrderTheValueEncodesThemAndTheJSONMeansWhatJSONEncoderWrites() throws {
        let bytes = try OrderedJSONEncoder.encode(Outer())
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.hasPrefix(#"{"type":"thing","id":"x/1","nothing":null,"inner":{"z":-3,"a":["b",null]},"metadata":{"a":"1","b":"2","c":"3"},"flag":true,"ratio":0.5,"text":"#), "\(text)")
        let ours = try JSONSerialization.jsonObject(with: Data(bytes)) as? NSDictionary
        let foundations = try JSONSerialization.jsonObject(with: JSONEncoder().encode(Outer())) as? NSDictionary
        #expect(ours == foundations)
    }
}
