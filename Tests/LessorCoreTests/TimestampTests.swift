@testable import LessorCore
import Testing

@Suite("RFC 3339 timestamps at microsecond precision")
struct TimestampTests {
    @Test func formatsWithSixFractionalDigitsAndZ() {
        #expect(Timestamp(microseconds: 0).rfc3339 == "1970-01-01T00:00:00.000000Z")
        #expect(Timestamp(microseconds: 1_782_893_706_120_394).rfc3339 == "2026-07-01T08:15:06.120394Z")
        #expect(Timestamp(microseconds: 951_782_400_000_001).rfc3339 == "2000-02-29T00:00:00.000001Z")
        #expect(Timestamp(microseconds: -1).rfc3339 == "1969-12-31T23:59:59.999999Z")
        #expect(Timestamp(microseconds: 253_402_300_799_999_999).rfc3339 == "9999-12-31T23:59:59.999999Z")
    }

    @Test func roundTripsAcrossYears() throws {
        var micros: Int64 = -62_135_596_800_000_000  // 0001-01-01
        while micros < 253_402_300_799_000_000 {
            let text = Timestamp(microseconds: micros).rfc3339
            #expect(Timestamp(rfc3339: text)?.microseconds == micros, "\(text)")
            micros += 86_400_000_000 * 97 + 3_723_000_321
        }
    }

    @Test(arguments: [
        ("2026-07-01T08:15:06.120394Z", 1_782_893_706_120_394),
        ("2026-07-01T08:15:06.120394+00:00", 1_782_893_706_120_394),
        ("2026-07-01T10:15:06.120394+02:00", 1_782_893_706_120_394),
        ("2026-07-01T03:45:06.120394-04:30", 1_782_893_706_120_394),
        ("2026-07-01T08:15:06.1203949999Z", 1_782_893_706_120_394),
        ("2026-07-01T08:15:06.12Z", 1_782_893_706_120_000),
        ("2026-07-01T08:15:06Z", 1_782_893_706_000_000),
        ("2026-07-01t08:15:06z", 1_782_893_706_000_000),
        ("2026-07-01T08:15:06-00:00", 1_782_893_706_000_000),
        ("2024-02-29T00:00:00Z", 1_709_164_800_000_000),
        ("2000-02-29T00:00:00Z", 951_782_400_000_000),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.999999Z", -1),
        ("2026-12-31T23:59:59+23:59", 1_798_675_259_000_000),
    ] as [(String, Int64)])
    func parsesInstants(text: String, micros: Int64) {
        #expect(Timestamp(rfc3339: text)?.microseconds == micros, "\(text)")
    }

    @Test(arguments: [
        "", " ", "NO_HEARTBEAT", "2026-07-01", "08:15:06Z", "2026-07-01 08:15:06Z", "2026-07-01T08:15Z",
        "2026-07-01T08:15:06", "2026-07-01T08:15:06.Z", "2026-07-01T08:15:06.1234a5Z", "2026-07-01T08:15:06ZZ",
        "2026-07-01T08:15:06+0000", "2026-07-01T08:15:06+00", "2026-07-01T08:15:06+24:00", "2026-07-01T08:15:06+00:60",
        "2026-02-30T00:00:00Z", "2023-02-29T00:00:00Z", "2100-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
        "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-01-00T00:00:00Z", "2026-01-32T00:00:00Z",
        "2026-07-01T24:00:00Z", "2026-07-01T23:60:00Z", "2026-06-30T23:59:60Z", "26-07-01T08:15:06Z",
        "+2026-07-01T08:15:06Z", "2026-7-01T08:15:06Z", "２026-07-01T08:15:06Z", " 2026-07-01T08:15:06Z",
        "2026-07-01T08:15:06Z ", "2026-07-01T08:15:06.123456Z\n",
    ])
    func refusesAnythingElse(text: String) {
        #expect(Timestamp(rfc3339: text) == nil, "\(text.debugDescription)")
    }

    @Test func sameInstantDifferentFormsAreEqual() {
        #expect(Timestamp(rfc3339: "2026-07-01T08:15:06.120394Z") == Timestamp(rfc3339: "2026-07-01T09:15:06.120394000+01:00"))
        #expect(Timestamp(rfc3339: "2026-07-01T08:15:06.120394Z")! < Timestamp(rfc3339: "2026-07-01T08:15:06.120395Z")!)
    }
}

@Suite("Heartbeat query parameters")
struct HeartbeatParameterTests {
    @Test(arguments: [
        ("1", 10), ("9", 10), ("10", 10), ("60", 60), ("600", 600), ("601", 600), ("007", 10), ("0000600", 600),
        ("99999999999999999999999999999", 600), ("18446744073709551616", 600),
    ] as [(String, Int)])
    func ttlIsClampedToTenToSixHundred(text: String, seconds: Int) throws {
        #expect(try DesiredTTL.parse(text) == .seconds(seconds))
    }

    @Test(arguments: ["", "0", "000", "-5", "+5", "1.5", "1e3", " 60", "60 ", "sixty", "0x10", "６０", "60s"])
    func badTTLsAreRefused(text: String) {
        #expect(throws: ParameterError(parameter: "desired_ttl_seconds", message: "desired_ttl_seconds must be a positive integer")) {
            try DesiredTTL.parse(text)
        }
    }

    @Test func absentTTLIsNil() throws {
        #expect(try DesiredTTL.parse(nil) == nil)
    }

    @Test func expectedLastHeartbeat() throws {
        #expect(try ExpectedLastHeartbeat.parse(nil) == nil)
        #expect(try ExpectedLastHeartbeat.parse("NO_HEARTBEAT") == ExpectedLastHeartbeat.none)
        #expect(try ExpectedLastHeartbeat.parse("2026-07-01T08:15:06.120394+00:00") == .at(Timestamp(microseconds: 1_782_893_706_120_394)))
        for bad in ["", "no_heartbeat", "NO_HEARTBEAT ", "2026-02-30T00:00:00Z", "yesterday"] {
            #expect(throws: ParameterError.self) { try ExpectedLastHeartbeat.parse(bad) }
        }
    }
}

@Suite("Identifiers")
struct IdentifierTests {
    @Test func mintsPrefixedUUIDv7Hex() {
        let generator = IdentifierGenerator()
        for kind in IdentifierKind.allCases {
            let id = generator.next(kind)
            #expect(id.hasPrefix(kind.rawValue))
            #expect(kind.isValid(id), "\(id)")
            let hex = Array(id.dropFirst(kind.rawValue.count))
            #expect(hex[12] == "7", "version 7: \(id)")
            #expect("89ab".contains(hex[16]), "RFC 9562 variant: \(id)")
        }
    }

    @Test func strictlyIncreasingWithinAMillisecondAndAcrossACounterOverflow() {
        let generator = IdentifierGenerator(now: { 1_782_893_706_120 })
        var previous = ""
        for _ in 0..<10_000 {
            let id = generator.next(.work)
            #expect(id > previous)
            previous = id
        }
    }

    @Test func embedsTheMillisecond() {
        let id = IdentifierGenerator(now: { 0x0123_4567_89AB }).next(.environment)
        #expect(id.hasPrefix("env_0123456789ab7"))
    }

    @Test(arguments: [
        ("env_0123456789abcdef0123456789abcdef", true), ("env_0123456789ABCDEF0123456789abcdef", false),
        ("env_0123456789abcdef0123456789abcde", false), ("env_0123456789abcdef0123456789abcdef0", false),
        ("work_0123456789abcdef0123456789abcdef", false), ("env_0123456789abcdeg0123456789abcdef", false), ("", false),
    ])
    func validation(id: String, valid: Bool) {
        #expect(IdentifierKind.environment.isValid(id) == valid)
    }
}

@Suite("Den ids and timestamps")
struct DenFormatTests {
    @Test func typeIDMatchesTheSpecVector() {
        // TypeID spec: UUID 01890a5d-ac96-774b-bcce-b302099a8057 -> 01h455vb4pex5vsknk084sn02q
        let bytes: [UInt8] = [0x01, 0x89, 0x0a, 0x5d, 0xac, 0x96, 0x77, 0x4b, 0xbc, 0xce, 0xb3, 0x02, 0x09, 0x9a, 0x80, 0x57]
        #expect(WorkerID.encode(bytes) == "01h455vb4pex5vsknk084sn02q")
        #expect(WorkerID.encode([UInt8](repeating: 0xFF, count: 16)) == "7zzzzzzzzzzzzzzzzzzzzzzzzz")
        #expect(WorkerID.encode([UInt8](repeating: 0, count: 16)) == "00000000000000000000000000")
    }

    @Test func newWorkerIDsAreValid() {
        let generator = IdentifierGenerator()
        for _ in 0..<100 { #expect(WorkerID.isValid(WorkerID.next(generator))) }
    }

    @Test(arguments: [
        ("wrk_01h455vb4pex5vsknk084sn02q", true), ("wrk_71h455vb4pex5vsknk084sn02q", true),
        ("wrk_81h455vb4pex5vsknk084sn02q", false), ("wrk_01h455vb4pex5vsknk084sn02u", false),
        ("wrk_01h455vb4pex5vsknk084sn02", false), ("wrk_01H455VB4PEX5VSKNK084SN02Q", false),
        ("usr_01h455vb4pex5vsknk084sn02q", false), ("wrk_01h455vb4pex5vsknk084sn02qq", false),
    ])
    func workerIDValidation(id: String, valid: Bool) {
        #expect(WorkerID.isValid(id) == valid)
    }

    @Test(arguments: [
        ("2024-02-29T00:00Z", 1_709_164_800_000_000), ("2000-02-29T00:00:00Z", 951_782_400_000_000),
        ("2026-07-01T08:15:06.1203949Z", 1_782_893_706_120_394),
    ] as [(String, Int64)])
    func denTimestamps(text: String, micros: Int64) {
        #expect(Timestamp(denUTC: text)?.microseconds == micros)
    }

    @Test(arguments: [
        "2023-02-29T00:00Z", "2100-02-29T00:00Z", "2026-07-01T08:15:06+00:00", "2026-07-01T08:15:06z",
        "2026-07-01t08:15:06Z", "2026-07-01T08:15.5Z", "2026-07-01T08Z", "2026-07-01", "",
    ])
    func denRefuses(text: String) {
        #expect(Timestamp(denUTC: text) == nil)
    }
}
