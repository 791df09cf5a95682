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
