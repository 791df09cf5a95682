import Foundation
import Hummingbird

/// The response encoder of every route: JSON whose object keys come in the order the value
/// encodes them, which is the order docs/API.md documents (a type's stored properties or
/// `CodingKeys`, or the order of its `encode(to:)`). Foundation's `JSONEncoder` writes them in
/// a different order on every response. A `[String: String]` (metadata), which has no order of
/// its own, is written with its keys sorted. Slashes are not escaped; numbers, strings, `null`
/// and nesting are as `JSONEncoder` writes them.
public struct OrderedJSONEncoder: ResponseEncoder {
    public init() {}

    public func encode(_ value: some Encodable, from request: Request, context: some RequestContext) throws -> Response {
        let bytes = try Self.encode(value)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.contentLength] = String(bytes.count)
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// `value` as JSON bytes.
    public static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = TreeEncoder(codingPath: [])
        try value.encode(to: encoder)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(512)
        encoder.root.value.write(to: &bytes)
        return bytes
    }
}

extension OrderedJSONEncoder {
    /// `text` as a JSON string.
    public static func quoted(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        appendQuoted(text, to: &bytes)
        return bytes
    }

    /// Appends `text` as a JSON string: quotes, backslashes and control characters escaped,
    /// everything else (`/` and non-ASCII included) as its UTF-8 bytes.
    public static func appendQuoted(_ text: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: #"\""#.utf8)
            case UInt8(ascii: "\\"): bytes.append(contentsOf: #"\\"#.utf8)
            case UInt8(ascii: "\n"): bytes.append(contentsOf: #"\n"#.utf8)
            case UInt8(ascii: "\r"): bytes.append(contentsOf: #"\r"#.utf8)
            case UInt8(ascii: "\t"): bytes.append(contentsOf: #"\t"#.utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: #"\u00"#.utf8)
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}

/// A JSON value being built; containers are shared by reference, as `Encoder` requires.
private final class Node {
    enum Value {
        case null, literal(String), string(String), array([Node]), object([(String, Node)])
    }

    var value: Value

    init(_ value: Value = .null) {
        self.value = value
    }

    func append(_ node: Node) {
        if case .array(var nodes) = value {
            value = .null  // one reference to the array while it grows
            nodes.append(node)
            value = .array(nodes)
        }
    }

    /// Sets `key` (a key encoded twice keeps its first place and its last value).
    func set(_ key: String, _ node: Node) {
        guard case .object(var pairs) = value else { return }
        value = .null
        if let index = pairs.firstIndex(where: { $0.0 == key }) { pairs[index].1 = node } else { pairs.append((key, node)) }
        value = .object(pairs)
    }
}

extension Node.Value {
    func write(to bytes: inout [UInt8]) {
        switch self {
        case .null: bytes.append(contentsOf: "null".utf8)
        case .literal(let text): bytes.append(contentsOf: text.utf8)
        case .string(let text): OrderedJSONEncoder.appendQuoted(text, to: &bytes)
        case .array(let nodes):
            bytes.append(UInt8(ascii: "["))
            for (index, node) in nodes.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                node.value.write(to: &bytes)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let pairs):
            bytes.append(UInt8(ascii: "{"))
            for (index, (key, node)) in pairs.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                OrderedJSONEncoder.appendQuoted(key, to: &bytes)
                bytes.append(UInt8(ascii: ":"))
                node.value.write(to: &bytes)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }
}

private struct StringKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        stringValue = String(intValue)
        self.intValue = intValue
    }
}

/// Encodes into `root`.
private final class TreeEncoder: Encoder {
    let root: Node
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(codingPath: [any CodingKey], root: Node = Node()) {
        self.codingPath = codingPath
        self.root = root
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .object = root.value {} else { root.value = .object([]) }
        return KeyedEncodingContainer(KeyedContainer<Key>(node: root, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .array = root.value {} else { root.value = .array([]) }
        return UnkeyedContainer(node: root, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleValueContainer(node: root, codingPath: codingPath)
    }

    /// A scalar's node, or nil when `value` is not a scalar JSON writes by itself.
    static func scalar(_ value: some Encodable) throws -> Node? {
        switch value {
        case let value as String: return Node(.string(value))
        case let value as Bool: return Node(.literal(value ? "true" : "false"))
        case let value as any BinaryInteger: return Node(.literal(String(describing: value)))
        case let value as Float: return try scalar(Double(value))
        case let value as Double:
            guard value.isFinite else { throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "\(value) is not JSON")) }
            return Node(.literal(value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)))
        default: return nil
        }
    }

    /// `value` as a node: a scalar directly, anything else through its own `encode(to:)`.
    static func node(_ value: some Encodable, codingPath: [any CodingKey]) throws -> Node {
        if let scalar = try scalar(value) { return scalar }
        // A dictionary has no order of its own (metadata): its keys are written sorted.
        if let dictionary = value as? [String: String] {
            return Node(.object(dictionary.sorted { $0.key < $1.key }.map { ($0.key, Node(.string($0.value))) }))
        }
        let encoder = TreeEncoder(codingPath: codingPath)
        try value.encode(to: encoder)
        return encoder.root
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: Node
    let codingPath: [any CodingKey]

    mutating func encodeNil(forKey key: Key) throws { node.set(key.stringValue, Node(.null)) }

    mutating func encode(_ value: some Encodable, forKey key: Key) throws {
        node.set(key.stringValue, try TreeEncoder.node(value, codingPath: codingPath + [key]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = Node(.object([]))
        node.set(key.stringValue, child)
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: child, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = Node(.array([]))
        node.set(key.stringValue, child)
        return UnkeyedContainer(node: child, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder { superEncoder(named: StringKey(stringValue: "super")) }

    mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder(named: key) }

    private func superEncoder(named key: any CodingKey) -> any Encoder {
        let child = Node()
        node.set(key.stringValue, child)
        return TreeEncoder(codingPath: codingPath + [key], root: child)
    }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let node: Node
    let codingPath: [any CodingKey]
    var count: Int {
        if case .array(let nodes) = node.value { return nodes.count }
        return 0
    }

    mutating func encodeNil() throws { node.append(Node(.null)) }

    mutating func encode(_ value: some Encodable) throws {
        node.append(try TreeEncoder.node(value, codingPath: codingPath + [StringKey(intValue: count)]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let child = Node(.object([]))
        node.append(child)
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: child, codingPath: codingPath + [StringKey(intValue: count - 1)]))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let child = Node(.array([]))
        node.append(child)
        return UnkeyedContainer(node: child, codingPath: codingPath + [StringKey(intValue: count - 1)])
    }

    mutating func superEncoder() -> any Encoder {
        let child = Node()
        node.append(child)
        return TreeEncoder(codingPath: codingPath + [StringKey(intValue: count - 1)], root: child)
    }
}

private struct SingleValueContainer: SingleValueEncodingContainer {
    let node: Node
    let codingPath: [any CodingKey]

    mutating func encodeNil() throws { node.value = .null }

    mutating func encode(_ value: some Encodable) throws {
        node.value = try TreeEncoder.node(value, codingPath: codingPath).value
    }
}
