import LessorRedis

/// The Lua scripts of `lua/`, embedded at build time byte for byte by the EmbedFiles
/// plugin, so the SHA1 Lessor loads equals `redis-cli SCRIPT LOAD "$(cat lua/<file>)"`.
public struct LuaScripts: Sendable {
    public let environmentCreate: RedisScript
    public let workEnqueue: RedisScript
    public let workPoll: RedisScript
    public let workAck: RedisScript
    public let workHeartbeat: RedisScript
    public let workStop: RedisScript
    public let workGet: RedisScript
    public let workMetadata: RedisScript
    public let workList: RedisScript
    public let workStats: RedisScript
    public let workReap: RedisScript
    public let workExpireLease: RedisScript
    public let tokenCreate: RedisScript
    public let tokenRevoke: RedisScript
    public let workerCreate: RedisScript
    public let workerGet: RedisScript
    public let workerHeartbeat: RedisScript

    /// The scripts of this build.
    public static let embedded = LuaScripts()

    /// Every script by its `lua/` file name, for loading and for readiness checks.
    public var all: [String: RedisScript] {
        [
            "environment_create": environmentCreate, "work_enqueue": workEnqueue, "work_poll": workPoll,
            "work_ack": workAck, "work_heartbeat": workHeartbeat, "work_stop": workStop, "work_get": workGet,
            "work_metadata": workMetadata, "work_list": workList, "work_stats": workStats, "work_reap": workReap, "work_expire_lease": workExpireLease,
            "token_create": tokenCreate, "token_revoke": tokenRevoke,
            "worker_create": workerCreate, "worker_get": workerGet, "worker_heartbeat": workerHeartbeat,
        ]
    }

    private init() {
        func script(_ name: String) -> RedisScript {
            guard let source = embeddedLuaSources[name] else {
                preconditionFailure("lua/\(name).lua was not embedded; the EmbedFiles plugin must run")
            }
            return RedisScript(source: source)
        }
        environmentCreate = script("environment_create")
        workEnqueue = script("work_enqueue")
        workPoll = script("work_poll")
        workAck = script("work_ack")
        workHeartbeat = script("work_heartbeat")
        workStop = script("work_stop")
        workGet = script("work_get")
        workMetadata = script("work_metadata")
        workList = script("work_list")
        workStats = script("work_stats")
        workReap = script("work_reap")
        workExpireLease = script("work_expire_lease")
        tokenCreate = script("token_create")
        tokenRevoke = script("token_revoke")
        workerCreate = script("worker_create")
        workerGet = script("worker_get")
        workerHeartbeat = script("worker_heartbeat")
    }
}
