/// One Redis server's address.
public struct RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// Host name or IP address (IPv6 without brackets).
    public var host: String
    /// TCP port.
    public var port: Int

    /// Creates an endpoint.
    /// - Parameters:
    ///   - host: Host name or IP address.
    ///   - port: TCP port.
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses a comma-separated list of `host:port` (IPv6 as `[::1]:7000`).
    /// - Parameter list: The list, such as `10.0.0.1:7000,10.0.0.2:7000`.
    /// - Returns: The endpoints, in order, at least one.
    /// - Throws: ``RedisError/Code/invalidConfiguration`` naming the entry at fault.
    public static func list(_ list: String) throws(RedisError) -> [RedisEndpoint] {
        var endpoints: [RedisEndpoint] = []
        // Host names hold no blanks, so blanks around the commas are simply dropped.
        for entry in list.split(separator: ",").map({ $0.filter { $0 != " " && $0 != "\t" } }) where !entry.isEmpty {
            let configuration: RedisConfiguration
            do {
                configuration = try RedisConfiguration(url: "redis://" + entry)
            } catch {
                throw RedisError(.invalidConfiguration, "\"\(entry)\" is not host:port: \(error.message)")
            }
            guard entry.hasSuffix(":\(configuration.port)") else {
                throw RedisError(.invalidConfiguration, "\"\(entry)\" is not host:port (the port is required)")
            }
            endpoints.append(RedisEndpoint(host: configuration.host, port: configuration.port))
        }
        guard !endpoints.isEmpty else { throw RedisError(.invalidConfiguration, "the list of Redis nodes is empty") }
        return endpoints
    }

    /// `host:port` (IPv6 bracketed).
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// How the client finds the server that owns a key.
public enum RedisTopology: Sendable, Equatable {
    /// One server: ``RedisConfiguration/host`` and ``RedisConfiguration/port``.
    case standalone
    /// A Redis Cluster, discovered from any of these seed nodes; commands are routed by the
    /// hash slot of their keys.
    case cluster(seeds: [RedisEndpoint])
    /// A primary found through Redis Sentinel under `masterName`, re-resolved after a failover.
    case sentinel(sentinels: [RedisEndpoint], masterName: String)
}
