import Foundation
import Hummingbird
import NIOCore

/// A JSON value that keeps booleans, numbers and strings apart, so validation is exact.
enum JSONValue: Decodable, Equatable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }
}

/// A request body read as a JSON object, validated member by member so each fault names its parameter.
struct JSONBody {
    /// The top-level members; empty when the body was empty.
    let members: [String: JSONValue]
    /// The body as sent (what an idempotency key's record compares); empty for a nested object.
    var bytes = Data()

    /// Reads the body (at most the context's upload limit: 413 beyond it).
    /// - Parameter required: When false, an empty body reads as `{}`.
    /// - Throws: ``RequestError`` 400 when the body is not a JSON object.
    static func read(_ request: Request, context: some RequestContext, required: Bool = false) async throws(RequestError) -> JSONBody {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: context.maxUploadSize)
        } catch is NIOTooManyBytesError {
            throw RequestError.tooLarge
        } catch {
            throw RequestError.invalid("the request body could not be read")
        }
        let bytes = Data(buffer.readableBytesView)
        if bytes.allSatisfy({ [0x20, 0x09, 0x0A, 0x0D].contains($0) }) {
            if required { throw RequestError.invalid("a JSON object body is required") }
            return JSONBody(members: [:], bytes: bytes)
        }
        guard case .object(let members)? = try? JSONDecoder().decode(JSONValue.self, from: bytes) else {
            throw RequestError.invalid("the request body must be a JSON object")
        }
        return JSONBody(members: members, bytes: bytes)
    }

    /// A string member, if present and not null.
    /// - Parameter param: How errors name it (e.g. `data.id`); defaults to `name`.
    func string(_ name: String, param: String? = nil) throws(RequestError) -> String? {
        switch members[name] {
        case nil, .null?: return nil
        case .string(let text)?: return text
        default: throw RequestError.invalid("\(param ?? name) must be a string", param: param ?? name)
        }
    }

    /// A boolean member, if present and not null.
    func bool(_ name: String) throws(RequestError) -> Bool? {
        switch members[name] {
        case nil, .null?: return nil
        case .bool(let value)?: return value
        default: throw RequestError.invalid("\(name) must be a boolean", param: name)
        }
    }

    /// An object member, if present and not null.
    func object(_ name: String) throws(RequestError) -> [String: JSONValue]? {
        switch members[name] {
        case nil, .null?: return nil
        case .object(let members)?: return members
        default: throw RequestError.invalid("\(name) must be an object", param: name)
        }
    }
}

extension JSONBody {
    /// Metadata limits (work items and environments): at most 64 keys of 1–256 bytes.
    static func checkMetadataLimits<Value>(_ metadata: [String: Value], param: String) throws(RequestError) {
        guard metadata.count <= 64, metadata.keys.allSatisfy({ (1...256).contains($0.utf8.count) }) else {
            throw .invalid("\(param) holds at most 64 keys of 1 to 256 bytes", param: param)
        }
    }

    /// A metadata object of string values, if present and not null.
    func metadata(_ name: String = "metadata") throws(RequestError) -> [String: String]? {
        guard let members = try object(name) else { return nil }
        var metadata: [String: String] = [:]
        for (key, value) in members {
            guard case .string(let text) = value else { throw .invalid("\(name) values must be strings", param: name) }
            metadata[key] = text
        }
        try Self.checkMetadataLimits(metadata, param: name)
        return metadata
    }

    /// A metadata merge patch (a string upserts its key, null deletes it), if present and not
    /// null; the limits apply to the upserted keys.
    func metadataPatch(_ name: String = "metadata") throws(RequestError) -> [String: String?]? {
        guard let members = try object(name) else { return nil }
        var patch: [String: String?] = [:]
        for (key, value) in members {
            switch value {
            case .string(let text): patch[key] = .some(text)
            case .null: patch[key] = .some(nil)
            default: throw .invalid("\(name) values must be strings or null", param: name)
            }
        }
        try Self.checkMetadataLimits(patch.compactMapValues { $0 }, param: name)
        return patch
    }
}
