import LessorRedis

/// A call's response, and whether it was replayed from an idempotency record instead of run.
public struct Replayable<Value: Sendable>: Sendable {
    /// The response (a replay's is the first run's, as it was).
    public var value: Value
    /// True when an earlier request with the same key ran the call and this is its answer.
    public var replayed: Bool
    /// The secret the record keeps, sealed (see ``Idempotency/seal(_:)``), on a replay.
    public var sealedSecret: String?

    public init(value: Value, replayed: Bool = false, sealedSecret: String? = nil) {
        self.value = value
        self.replayed = replayed
        self.sealedSecret = sealedSecret
    }
}

/// `idempotent`: runs `call` at most once per idempotency record, which lives beside the
/// call's first key (on its slot) and is written by the same Redis call.
public struct Idempotent<Call: LessorCall>: LessorCall {
    public static var function: String { "idempotent" }

    public var call: Call
    public var idempotency: Idempotency
    /// A secret the record keeps for replays, sealed; nil for none.
    public var sealedSecret: String?

    public init(_ call: Call, idempotency: Idempotency, sealedSecret: String? = nil) {
        self.call = call
        self.idempotency = idempotency
        self.sealedSecret = sealedSecret
    }

    public func keys(_ keys: KeySpace) -> [String] {
        let inner = call.keys(keys)
        return [keys.idempotencyRecord(beside: inner[0], recordID: idempotency.recordID)] + inner
    }

    public func arguments(_ keys: KeySpace) -> [any RedisArgumentConvertible] {
        [Call.function, idempotency.fingerprint, Int(IdempotencyKey.lifetime / .milliseconds(1)), sealedSecret ?? ""]
            + call.arguments(keys)
    }

    public func response(_ reply: FunctionReply) throws(RedisError) -> Replayable<Call.Response> {
        Replayable(value: try call.response(reply), replayed: reply.replay != nil, sealedSecret: reply.replay?.sealedSecret)
    }
}

/// `idempotency_reserve`: the first step of an idempotent create whose object's slot is not
/// known before the call (an environment, a Den worker). It records, on the principal's slot,
/// the id this request minted — or answers the id an earlier request with the key reserved —
/// so every retry creates the same object (through ``Idempotent`` on that object's slot),
/// even when a node died between the two steps.
public struct IdempotencyReservation: LessorCall {
    public static let function = "idempotency_reserve"

    public var idempotency: Idempotency
    /// The id this request minted.
    public var id: String
    /// The new object's secret, sealed; nil when it has none.
    public var sealedSecret: String?

    public init(idempotency: Idempotency, id: String, sealedSecret: String? = nil) {
        self.idempotency = idempotency
        self.id = id
        self.sealedSecret = sealedSecret
    }

    public func keys(_ keys: KeySpace) -> [String] {
        [keys.idempotencyReservation(principal: idempotency.principal, recordID: idempotency.recordID)]
    }

    public func arguments(_ keys: KeySpace) -> [any RedisArgumentConvertible] {
        [idempotency.fingerprint, Int(IdempotencyKey.lifetime / .milliseconds(1)), id, sealedSecret ?? ""]
    }

    /// The reserved id and sealed secret: this request's, or an earlier one's.
    public func response(_ reply: FunctionReply) throws(RedisError) -> (id: String, sealedSecret: String?) {
        (try reply.value(0, as: String.self), try reply.value(1, as: String?.self))
    }
}

extension LessorFunctions {
    /// Runs a call, at most once per record when the request carries an idempotency key.
    /// - Parameters:
    ///   - call: The call.
    ///   - idempotency: The request's key, or nil to run the call as is.
    ///   - sealedSecret: A secret the record keeps for replays, sealed under the key.
    /// - Throws: ``Refusal/idempotencyConflict`` when the key's record is of another request;
    ///   a replayed refusal as ``StoreError/replayed(_:)``; else as ``call(_:)``.
    @inlinable
    public func call<Call: LessorCall>(
        _ call: Call, idempotency: Idempotency?, sealedSecret: String? = nil
    ) async throws(StoreError) -> Replayable<Call.Response> {
        guard let idempotency else { return Replayable(value: try await self.call(call)) }
        return try await self.call(Idempotent(call, idempotency: idempotency, sealedSecret: sealedSecret))
    }
}
