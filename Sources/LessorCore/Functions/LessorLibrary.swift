import Foundation
import LessorRedis

/// The `lessor_v5` Redis Functions library: `lua/lessor.lua`, embedded at build time byte
/// for byte by the EmbedFiles plugin, so what Lessor loads is what `FUNCTION LIST
/// LIBRARYNAME lessor_v5 WITHCODE` shows and `lessor scripts show` prints.
public enum LessorLibrary {
    /// The library of this build.
    public static let embedded = embeddedLibrary("lessor")

    /// `lessor_acl_v1` (`lua/lessor_acl.lua`): which commands the calling user may not run
    /// (``RedisPermissionCheck``). Not lease logic, and versioned apart from it.
    public static let permissionCheck = embeddedLibrary("lessor_acl")

    /// `lua/<file>.lua` as the EmbedFiles plugin embedded it.
    private static func embeddedLibrary(_ file: String) -> RedisFunctionLibrary {
        guard let source = embeddedLuaSources[file] else {
            preconditionFailure("lua/\(file).lua was not embedded; the EmbedFiles plugin must run")
        }
        do throws(RedisError) {
            return try RedisFunctionLibrary(source: source)
        } catch {
            preconditionFailure("lua/\(file).lua: \(error.message)")
        }
    }

    /// Every operation the library registers (`work_heartbeat`, ...), read from its
    /// `redis.register_function` calls.
    public static let operations: [String] = embedded.source.split(separator: "\n").compactMap { line in
        guard line.hasPrefix("redis.register_function"), let start = line.range(of: "'\(embedded.name)_") else { return nil }
        return String(line[start.upperBound...].prefix { $0 != "'" })
    }

    /// A function's full name: the library's name, `_`, the operation (`lessor_v5_work_heartbeat`).
    /// - Parameter operation: The operation, e.g. `work_heartbeat`.
    public static func functionName(_ operation: String) -> String {
        embedded.name + "_" + operation
    }
}
