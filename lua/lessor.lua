#!lua name=lessor_v5
-- lessor_v5: every lease decision of Lessor, one Redis Functions library. Each operation is
-- one function, run atomically on Redis's clock; helpers are local functions of the library.
--
-- Loading: Lessor loads this file byte for byte (`FUNCTION LOAD REPLACE`) on every primary
-- that lacks it or holds other code when /readyz is asked, and on a node that answers
-- "Function not found"; `lessor scripts show` prints it and `FUNCTION LIST LIBRARYNAME
-- lessor_v5 WITHCODE` shows what a server runs. By hand:
--   redis-cli -x FUNCTION LOAD REPLACE < lua/lessor.lua
-- The version is in the library and every function name: a release that changes what a
-- function means ships the next version beside this one, so replicas of the old release
-- keep calling their own functions during a rolling deploy. v2 (after v1): the Anthropic
-- family's heartbeat (ARGV[5]) and 412 reply, work_stats' polling window (ARGV[6]),
-- environment metadata, update, archive and delete; delivery and lapse counts, max_lapses,
-- stop_reason, list filters, and the dead-letter counts in the poll, stats and reap replies.
-- v3 (after v2): idempotency keys (`idempotent`, `idempotency_reserve`, at the end); v2's
-- functions keep their meaning, but a library of another content under the same name would
-- be reloaded back and forth by the two releases' nodes.
-- v4 (after v3): a third less Redis work per heartbeat. `lease_expires_at` is no longer stored:
-- item replies read it from the lease key (PEXPIRETIME), the one truth; a successful
-- heartbeat answers one string of words instead of an array, renews with PEXPIRE ... GT and
-- formats its stamp from TIME's text; `available_at` is kept only while an item is queued.
-- v5 (after v4): every lapse is logged in the environment's lapse log, a ninth environment
-- key (so the item keys of a call move to KEYS[10] and KEYS[11]).
--
-- Keys. Every key a call knows before it runs is declared in KEYS; Swift's KeySpace names
-- them, and this file never builds a key name of its own. `lessor scripts command <op>
-- --env env_X [--work work_Y] -- ARGS...` prints the redis-cli line with every key filled
-- in. All keys of one environment share its hash tag `{env_X}`, so one call touches one
-- cluster slot. Items found in the indexes (poll, list, stats, reap) are reached through
-- the item and lease key prefixes passed in ARGV. The work functions that act on a whole
-- environment declare the same nine keys first ("the environment keys"):
--   KEYS[1] <ns>:{env_X}:env        the environment hash
--   KEYS[2] <ns>:{env_X}:queue      never-delivered and requeued items (requeued first)
--   KEYS[3] <ns>:{env_X}:delivered  delivered, unacknowledged items by delivery time (ms)
--   KEYS[4] <ns>:{env_X}:available  queued items by the time they became available (ms)
--   KEYS[5] <ns>:{env_X}:deadlines  leased items by lease deadline (ms), a lower bound
--   KEYS[6] <ns>:{env_X}:items      every item, for listing in id order
--   KEYS[7] <ns>:{env_X}:pollers    Worker-IDs by last poll (ms)
--   KEYS[8] <ns>:{env_X}:stopped    stopped items by stop time (ms), for retention
--   KEYS[9] <ns>:{env_X}:lapses     the last lapses by time (ms), for the status page
-- and, when the call names one item, KEYS[10] <ns>:{env_X}:work:<id> and KEYS[11]
-- <ns>:{env_X}:lease:<id>. Their ARGV start with the same three values:
--   ARGV[1] <ns>:{env_X}:work:   ARGV[2] <ns>:{env_X}:lease:   ARGV[3] <ns>:{env_X}:wakeup
-- (the last a Pub/Sub channel told of every newly pollable item).
--
-- Replies are arrays whose first element is a status word (a successful heartbeat, the hot
-- path, answers the same words as one string joined by spaces, which costs Redis a sixth of
-- an array): 'ok', 'empty', or the refusal
-- ('environment_not_found', 'environment_not_self_hosted', 'environment_archived',
-- 'invalid_config_type_change', 'work_not_found', 'conflict', 'precondition_failed',
-- 'token_not_found', 'worker_not_found', 'wrong_token', 'exists', 'idempotency_conflict'), or
-- 'replayed' before a recorded reply (see `idempotent`), some followed by a reason
-- word. Expected outcomes are never raised.

---------------------------------------------------------------------------------------------
-- The clock: Redis TIME in microseconds, and RFC 3339 text (UTC, Z, six fractional digits).
-- Lua numbers are doubles: microseconds since 1970 stay exact until the year 2255.

-- Only `redis` exists while the library loads; `math`, `string`, `table` and `cjson` exist
-- while a function runs, so they are used by name, not kept as locals of the library.

local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- The stamp of the last minute formatted ('YYYY-MM-DDTHH:MM:') and that minute. A library's
-- locals live between calls, and the calendar arithmetic is the costly half of a stamp: almost
-- every stamp is of the minute before it.
local formatted_minute, formatted_prefix

-- Every stamp a function writes goes through here, so it is written for Redis CPU: `a % b`
-- and `(a - a % b) / b` instead of math.floor calls, the calendar once per minute, one short
-- string.format per stamp.
local function format_us(us)
  local fraction = us % 1000000
  local seconds = (us - fraction) / 1000000
  local second = seconds % 60
  local minute = seconds - second
  if minute ~= formatted_minute then
    local of_day = minute % 86400
    local days = (minute - of_day) / 86400
    -- Howard Hinnant's civil_from_days
    local z = days + 719468
    local doe = z % 146097
    local era = (z - doe) / 146097
    local t = doe - (doe - doe % 1460) / 1460 + (doe - doe % 36524) / 36524 - (doe - doe % 146096) / 146096
    local yoe = (t - t % 365) / 365
    local doy = doe - (365 * yoe + (yoe - yoe % 4) / 4 - (yoe - yoe % 100) / 100)
    local m5 = 5 * doy + 2
    local mp = (m5 - m5 % 153) / 153
    local d5 = 153 * mp + 2
    local day = doy - (d5 - d5 % 5) / 5 + 1
    local month = mp < 10 and mp + 3 or mp - 9
    local year = yoe + era * 400 + (month <= 2 and 1 or 0)
    formatted_minute = minute
    formatted_prefix = string.format('%04d-%02d-%02dT%02d:%02d:', year, month, day, (of_day - of_day % 3600) / 3600, of_day % 3600 / 60)
  end
  return string.format('%s%02d.%06dZ', formatted_prefix, second, fraction)
end

-- Now as text, for the hottest path (a heartbeat): TIME's seconds and microseconds are decimal
-- text, and converting them to numbers costs two thirds of a Redis command, so within one second
-- a stamp is the second's formatted prefix, cached, and the microseconds padded. `time` is a
-- TIME reply; the stamp is format_us of the same instant.
local stamped_second, stamped_prefix

local function stamp_of(time)
  local second, micros = time[1], time[2]
  if second ~= stamped_second then
    stamped_prefix = string.sub(format_us(tonumber(second) * 1000000), 1, 20) -- 'YYYY-MM-DDTHH:MM:SS.'
    stamped_second = second
  end
  if #micros < 6 then micros = string.rep('0', 6 - #micros) .. micros end
  return stamped_prefix .. micros .. 'Z'
end

-- The inverse of format_us, for text format_us wrote; nil for anything else.
local function parse_us(text)
  local y, mo, d, h, mi, s, f = string.match(text or '',
    '^(%d%d%d%d)-(%d%d)-(%d%d)T(%d%d):(%d%d):(%d%d)%.(%d%d%d%d%d%d)Z$')
  if not y then return nil end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo <= 2 then y = y - 1 end
  -- Howard Hinnant's days_from_civil
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * (mo > 2 and mo - 3 or mo + 9) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return (days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s)) * 1000000 + tonumber(f)
end

-- The reply of a function that creates one hash: { 'ok', field, value, ... }.
local function hash_reply(key)
  local reply = redis.call('HGETALL', key)
  table.insert(reply, 1, 'ok')
  return reply
end

---------------------------------------------------------------------------------------------
-- Environments and work items.

-- Never-delivered items sort after every requeued one in the queue: score = ms + FRESH.
local FRESH = 4398046511104 -- 2^42 ms, about 139 years
-- How long a poll's Worker-ID is kept: the longest workers_polling window of GET .../work/stats
-- (60 s in the Qoder family, 30 s in the Anthropic one).
local POLLERS_KEPT_MS = 60000

-- The environment keys and key prefixes of a whole-environment work function.
local function environment(keys, args)
  return {
    env = keys[1], queue = keys[2], delivered = keys[3], available = keys[4], deadlines = keys[5],
    items = keys[6], pollers = keys[7], stopped = keys[8], lapses = keys[9],
    item_prefix = args[1], lease_prefix = args[2], wakeup = args[3],
  }
end

-- nil when the environment exists and is self-hosted (and, with `new_work`, not archived:
-- an archived environment takes no new work, while leases already held run to their end),
-- else the reply to return.
local function environment_error(env_key, new_work)
  local fields = redis.call('HMGET', env_key, 'type', 'archived_at')
  local kind = fields[1]
  if not kind then return { 'environment_not_found' } end
  if kind ~= 'self_hosted' then return { 'environment_not_self_hosted', kind } end
  if new_work and fields[2] then return { 'environment_archived' } end
  return nil
end

-- { status, field, value, ..., 'lease_expires_at', stamp | '', 'lease_pttl', ms } of an item's
-- hash and its lease: when the lease key expires (PEXPIRETIME, '' when no lease is live) and
-- what is left of it. The key's TTL is the lease, so its expiry is read, never stored.
local function item_reply(item, lease, status)
  local reply = redis.call('HGETALL', item)
  table.insert(reply, 1, status or 'ok')
  local expires = redis.call('PEXPIRETIME', lease)
  table.insert(reply, 'lease_expires_at')
  table.insert(reply, expires > 0 and format_us(expires * 1000) or '')
  table.insert(reply, 'lease_pttl')
  table.insert(reply, tostring(redis.call('PTTL', lease)))
  return reply
end

-- Takes the item out of every index of pollable or leased items and drops its lease.
local function unindex(E, id, lease)
  redis.call('ZREM', E.queue, id)
  redis.call('ZREM', E.delivered, id)
  redis.call('ZREM', E.available, id)
  redis.call('ZREM', E.deadlines, id)
  redis.call('DEL', lease)
end

-- A lapsed holder's item goes back to the queue ahead of never-delivered ones; the
-- fencing token stays, so the next ack hands out a higher one.
local function requeue(E, id, item, lease, now)
  unindex(E, id, lease)
  redis.call('HDEL', item, 'worker_id', 'delivered_at', 'delivered_to', 'acknowledged_at',
    'started_at', 'latest_heartbeat_at', 'lease_expires_at')
  redis.call('HSET', item, 'state', 'queued', 'available_at', format_us(now))
  local ms = math.floor(now / 1000)
  redis.call('ZADD', E.queue, ms, id)
  redis.call('ZADD', E.available, ms, id)
  redis.call('PUBLISH', E.wakeup, id)
end

-- Final state: lease released at once; the hash expires after the retention period. `reason`
-- is the stop_reason: completed | stopped_by_request | forced | lease_lapsed_too_often |
-- lapsed_while_stopping.
local function stop_item(E, id, item, lease, now, retention_seconds, reason)
  unindex(E, id, lease)
  local at = format_us(now)
  redis.call('HSET', item, 'state', 'stopped', 'stopped_at', at, 'stop_reason', reason)
  redis.call('HDEL', item, 'lease_expires_at', 'available_at')
  if redis.call('HEXISTS', item, 'stop_requested_at') == 0 then
    redis.call('HSET', item, 'stop_requested_at', at)
  end
  redis.call('EXPIRE', item, retention_seconds)
  redis.call('ZADD', E.stopped, math.floor(now / 1000), id)
end

-- The lapse log keeps this many entries per environment, and none older than the
-- retention of stopped items.
local LAPSES_KEPT = 100

-- Writes a lapse to the environment's log: a sorted set by lapse time (ms) whose members
-- are JSON arrays [µs, work id, the holder's Worker-ID, the lost lease's fencing token,
-- the item's lapse count, outcome: requeued | dead_lettered | stopped]. The µs come first
-- in 16 digits (until 2286), so entries of one millisecond sort by time too (a sorted set
-- orders equal scores by member). Whoever logs trims the log afterwards (trim_lapse_log),
-- once per call, not once per lapse.
local function log_lapse(E, id, item, now, lapses, outcome)
  local held = redis.call('HMGET', item, 'worker_id', 'fencing_token')
  local rest = cjson.encode({ id, held[1] or '', tonumber(held[2]) or 0, lapses, outcome })
  redis.call('ZADD', E.lapses, math.floor(now / 1000), string.format('[%d,', now) .. string.sub(rest, 2))
end

-- Keeps the lapse log's last LAPSES_KEPT entries and none older than the retention, and
-- lets the whole log expire the retention after its last entry.
local function trim_lapse_log(E, now, retention_seconds)
  redis.call('ZREMRANGEBYSCORE', E.lapses, '-inf', '(' .. (math.floor(now / 1000) - retention_seconds * 1000))
  local surplus = redis.call('ZCARD', E.lapses) - LAPSES_KEPT
  while surplus > 0 do
    -- In slices: unpack's arguments are bounded (a reap call may log any batch).
    local slice = math.min(surplus, 1000)
    redis.call('ZREM', E.lapses, unpack(redis.call('ZRANGE', E.lapses, 0, slice - 1)))
    surplus = surplus - slice
  end
  redis.call('EXPIRE', E.lapses, retention_seconds)
end

-- An item whose lease lapsed counts the lapse and logs it (the caller trims the log after);
-- from stopping it is stopped; from starting/active it goes back to the queue, or, once it
-- has lapsed the environment's max_lapses times, is stopped as a dead letter. Returns 1 when
-- it was dead-lettered, else 0.
local function lapse(E, id, item, lease, now, retention_seconds, max_lapses, state)
  local lapses = redis.call('HINCRBY', item, 'lapse_count', 1)
  if state == 'stopping' then
    log_lapse(E, id, item, now, lapses, 'stopped')
    stop_item(E, id, item, lease, now, retention_seconds, 'lapsed_while_stopping')
    return 0
  end
  if max_lapses and lapses >= max_lapses then
    log_lapse(E, id, item, now, lapses, 'dead_lettered')
    stop_item(E, id, item, lease, now, retention_seconds, 'lease_lapsed_too_often')
    return 1
  end
  log_lapse(E, id, item, now, lapses, 'requeued')
  requeue(E, id, item, lease, now)
  return 0
end

-- Requeues (or stops, see lapse) the items whose lease lapsed before now, looking at up to
-- `batch` items whose recorded deadline passed; live ones among them are re-scored.
-- Returns how many it handled, whether more due entries wait, and how many it dead-lettered.
local function reap_lapsed(E, now, batch, retention_seconds)
  local ms = math.floor(now / 1000)
  local due = redis.call('ZRANGEBYSCORE', E.deadlines, '-inf', ms, 'LIMIT', 0, batch)
  local handled, dead, lapsed = 0, 0, false
  local max_lapses
  for _, id in ipairs(due) do
    local item, lease = E.item_prefix .. id, E.lease_prefix .. id
    local pttl = redis.call('PTTL', lease)
    if pttl > 0 then
      -- Still live: a heartbeat renewed the lease key without moving the recorded deadline
      -- (the index is a lower bound, see work_heartbeat). The key is the truth: re-score.
      redis.call('ZADD', E.deadlines, ms + pttl, id)
    else
      local state = redis.call('HGET', item, 'state')
      if state == 'starting' or state == 'active' or state == 'stopping' then
        if max_lapses == nil then max_lapses = tonumber(redis.call('HGET', E.env, 'max_lapses')) or false end
        dead = dead + lapse(E, id, item, lease, now, retention_seconds, max_lapses, state)
        lapsed = true
      else
        redis.call('ZREM', E.deadlines, id)
      end
      handled = handled + 1
    end
  end
  if lapsed then trim_lapse_log(E, now, retention_seconds) end
  return handled, #due == batch, dead
end

-- environment_create: creates an environment (POST /api/v1/cloud/environments, POST /v1/environments).
-- KEYS[1] <ns>:{env_X}:env
-- ARGV[1] name   ARGV[2] description ('' with ARGV[5] = 0: none)   ARGV[3] type: self_hosted | cloud
-- ARGV[4] metadata, a JSON object of strings   ARGV[5] 1 when a description was given, else 0
-- ARGV[6] max_lapses: 1-1000, or '' for none (an item that lapses that often is stopped)
-- Replies: { 'ok', field, value, ... } the environment hash (name, description when given, type,
--          metadata, max_lapses when set, created_at, updated_at) | { 'exists' } (ids are fresh
--          UUIDv7s: should not happen)
-- redis-cli FCALL lessor_v5_environment_create 1 'lessor:{env_X}:env' byoc 'my fleet' self_hosted '{}' 1 3
local function environment_create(keys, args)
  if redis.call('EXISTS', keys[1]) == 1 then return { 'exists' } end
  local at = format_us(now_us())
  redis.call('HSET', keys[1], 'name', args[1], 'type', args[3], 'metadata', args[4],
    'created_at', at, 'updated_at', at)
  if args[5] == '1' then redis.call('HSET', keys[1], 'description', args[2]) end
  if (args[6] or '') ~= '' then redis.call('HSET', keys[1], 'max_lapses', args[6]) end
  return hash_reply(keys[1])
end
redis.register_function('lessor_v5_environment_create', environment_create)

-- environment_update: changes an environment's name, description and metadata (POST
-- .../environments/{id}). The patch names only what changes: `description` null clears it;
-- a `metadata` value upserts its key, null or '' deletes it; `type`, when given, must be the
-- stored one (an environment's type never changes).
-- KEYS[1] <ns>:{env_X}:env
-- ARGV[1] patch, a JSON object: { name?, description? (string | null), metadata? { k: string | null },
--         max_lapses? (1-1000 | null), type? }
-- Replies: { 'ok', field, value, ... } the environment hash | { 'environment_not_found' }
--          | { 'environment_archived' } | { 'invalid_config_type_change', stored type }
local function environment_update(keys, args)
  local stored = redis.call('HMGET', keys[1], 'type', 'archived_at', 'metadata')
  if not stored[1] then return { 'environment_not_found' } end
  if stored[2] then return { 'environment_archived' } end
  local patch = cjson.decode(args[1])
  if patch.type and patch.type ~= stored[1] then return { 'invalid_config_type_change', stored[1] } end
  if type(patch.name) == 'string' then redis.call('HSET', keys[1], 'name', patch.name) end
  if patch.description == cjson.null then
    redis.call('HDEL', keys[1], 'description')
  elseif type(patch.description) == 'string' then
    redis.call('HSET', keys[1], 'description', patch.description)
  end
  if type(patch.metadata) == 'table' then
    local metadata = cjson.decode(stored[3] or '{}')
    for name, value in pairs(patch.metadata) do
      if value == cjson.null or value == '' then metadata[name] = nil else metadata[name] = value end
    end
    redis.call('HSET', keys[1], 'metadata', cjson.encode(metadata))
  end
  if patch.max_lapses == cjson.null then
    redis.call('HDEL', keys[1], 'max_lapses')
  elseif type(patch.max_lapses) == 'number' then
    redis.call('HSET', keys[1], 'max_lapses', patch.max_lapses)
  end
  redis.call('HSET', keys[1], 'updated_at', format_us(now_us()))
  return hash_reply(keys[1])
end
redis.register_function('lessor_v5_environment_update', environment_update)

-- environment_archive: archives an environment (POST .../environments/{id}/archive): it takes
-- no new work and no updates from now on; leases already held run to their end. Archiving
-- again changes nothing.
-- KEYS[1] <ns>:{env_X}:env
-- Replies: { 'ok', field, value, ... } the environment hash, with archived_at | { 'environment_not_found' }
local function environment_archive(keys, args)
  if redis.call('EXISTS', keys[1]) == 0 then return { 'environment_not_found' } end
  if redis.call('HEXISTS', keys[1], 'archived_at') == 0 then
    local at = format_us(now_us())
    redis.call('HSET', keys[1], 'archived_at', at, 'updated_at', at)
  end
  return hash_reply(keys[1])
end
redis.register_function('lessor_v5_environment_archive', environment_archive)

-- environment_delete: deletes an environment and every item in it (DELETE
-- .../environments/{id}), unless an item holds a live lease. Lapsed leases are reaped first,
-- so only leases a worker still holds refuse it. O(items): one call, no half-deleted state.
-- KEYS     the environment keys
-- ARGV[4]  retention seconds of stopped items (for the reaping before the check)
-- Replies: { 'ok' } | { 'environment_not_found' } | { 'conflict', 'live_leases' }
redis.register_function('lessor_v5_environment_delete', function(keys, args)
  local E = environment(keys, args)
  if redis.call('EXISTS', E.env) == 0 then return { 'environment_not_found' } end
  local retention = tonumber(args[4])
  local now = now_us()
  while select(2, reap_lapsed(E, now, 1000, retention)) do end
  if redis.call('ZCARD', E.deadlines) > 0 then return { 'conflict', 'live_leases' } end
  for _, id in ipairs(redis.call('ZRANGE', E.items, 0, -1)) do
    redis.call('DEL', E.item_prefix .. id, E.lease_prefix .. id)
  end
  redis.call('DEL', E.env, E.queue, E.delivered, E.available, E.deadlines, E.items, E.pollers, E.stopped, E.lapses)
  return { 'ok' }
end)

-- work_enqueue: adds a queued work item (POST .../work).
-- KEYS     the environment keys, then the item and its lease
-- ARGV[4]  work id   ARGV[5] data type (session)   ARGV[6] data id (sess_...)   ARGV[7] metadata JSON object
-- Replies: { 'ok', field, value, ..., 'lease_pttl', ms } the new item
--          | { 'environment_not_found' } | { 'environment_not_self_hosted', type } | { 'environment_archived' }
--          | { 'exists' }
local function work_enqueue(keys, args)
  local E = environment(keys, args)
  local refused = environment_error(E.env, true)
  if refused then return refused end
  local item, lease, id = keys[10], keys[11], args[4]
  if redis.call('EXISTS', item) == 1 then return { 'exists' } end
  local now = now_us()
  local at = format_us(now)
  redis.call('HSET', item, 'id', id, 'state', 'queued', 'data_type', args[5], 'session_id', args[6],
    'created_at', at, 'available_at', at, 'fencing_token', 0, 'delivery_count', 0, 'lapse_count', 0,
    'metadata', args[7])
  local ms = math.floor(now / 1000)
  redis.call('ZADD', E.queue, ms + FRESH, id)
  redis.call('ZADD', E.available, ms, id)
  redis.call('ZADD', E.items, 0, id)
  redis.call('PUBLISH', E.wakeup, id)
  return item_reply(item, lease)
end
redis.register_function('lessor_v5_work_enqueue', work_enqueue)

-- work_poll: delivers the next available item (GET .../work/poll); it stays `queued`.
-- Order: items requeued after a lapsed lease (oldest requeue first), then items delivered but
-- not acknowledged for reclaim_ms or longer (oldest delivery first), then never-delivered
-- items (oldest first). Lapsed leases of the environment are reaped first (up to 100).
-- KEYS     the environment keys
-- ARGV[4]  Worker-ID ('' when none)   ARGV[5] reclaim_older_than_ms   ARGV[6] retention seconds of stopped items
-- Replies: { 'ok', field, value, ..., 'lease_pttl', ms, 'dead_lettered', n } the delivered item
--          | { 'empty', dead_lettered } (n: items the reaping stopped for lapsing too often)
--          | { 'environment_not_found' } | { 'environment_not_self_hosted', type } | { 'environment_archived' }
redis.register_function('lessor_v5_work_poll', function(keys, args)
  local E = environment(keys, args)
  local refused = environment_error(E.env, true)
  if refused then return refused end
  local worker, reclaim_ms, retention = args[4], tonumber(args[5]), tonumber(args[6])
  local now = now_us()
  local ms = math.floor(now / 1000)
  local _, _, dead = reap_lapsed(E, now, 100, retention)
  if worker ~= '' then
    redis.call('ZADD', E.pollers, ms, worker)
    redis.call('ZREMRANGEBYSCORE', E.pollers, '-inf', ms - POLLERS_KEPT_MS)
  end

  local id
  local head = redis.call('ZRANGE', E.queue, 0, 0, 'WITHSCORES')
  if head[1] and tonumber(head[2]) < FRESH then
    id = head[1]
  else
    id = redis.call('ZRANGEBYSCORE', E.delivered, '-inf', ms - reclaim_ms, 'LIMIT', 0, 1)[1] or head[1]
  end
  if not id then return { 'empty', dead } end

  local item = E.item_prefix .. id
  redis.call('ZREM', E.queue, id)
  redis.call('ZADD', E.delivered, ms, id)
  redis.call('HSET', item, 'delivered_at', format_us(now), 'delivered_to', worker)
  local reply = item_reply(item, E.lease_prefix .. id)
  table.insert(reply, 'dead_lettered')
  table.insert(reply, tostring(dead))
  return reply
end)

-- work_ack: acknowledges an item (POST .../work/{id}/ack): queued -> starting, first lease,
-- fencing token + 1. A retry by the same worker while starting/active returns it unchanged.
-- KEYS     the environment keys, then the item and its lease
-- ARGV[4]  work id   ARGV[5] Worker-ID ('' when none)   ARGV[6] lease TTL in seconds
-- Replies: { 'ok', field, value, ..., 'lease_pttl', ms } acknowledged (or the same worker's retry)
--          | { 'conflict', reason }  reason: delivered_to_another_worker | held_by_another_worker | stopping | stopped
--          | { 'work_not_found' } | { 'environment_not_found' } | { 'environment_not_self_hosted', type }
local function work_ack(keys, args)
  local E = environment(keys, args)
  local refused = environment_error(E.env)
  if refused then return refused end
  local item, lease = keys[10], keys[11]
  local id, worker, ttl = args[4], args[5], tonumber(args[6])
  local state = redis.call('HGET', item, 'state')
  if not state then return { 'work_not_found' } end

  if state == 'starting' or state == 'active' then
    if (redis.call('HGET', item, 'worker_id') or '') == worker then return item_reply(item, lease) end
    return { 'conflict', 'held_by_another_worker' }
  elseif state ~= 'queued' then
    return { 'conflict', state }
  end
  local delivered_to = redis.call('HGET', item, 'delivered_to') or ''
  if delivered_to ~= '' and worker ~= '' and delivered_to ~= worker then
    return { 'conflict', 'delivered_to_another_worker' }
  end

  local now = now_us()
  local holder = worker ~= '' and worker or delivered_to
  local token = redis.call('HINCRBY', item, 'fencing_token', 1)
  redis.call('HINCRBY', item, 'delivery_count', 1)
  unindex(E, id, lease)
  redis.call('HSET', item, 'state', 'starting', 'acknowledged_at', format_us(now), 'worker_id', holder)
  -- available_at says when a queued item became available; a leased one has no use for it
  -- (requeue writes it again), and lease_expires_at is the lease key's (v3 stored it).
  redis.call('HDEL', item, 'available_at', 'lease_expires_at')
  redis.call('SET', lease, holder .. ' ' .. token, 'PX', ttl * 1000)
  redis.call('ZADD', E.deadlines, math.floor(now / 1000) + ttl * 1000, id)
  return item_reply(item, lease)
end
redis.register_function('lessor_v5_work_ack', work_ack)

-- work_heartbeat: the seed (POST .../work/{id}/heartbeat). Compare-and-set of the last
-- heartbeat, then the lease key's TTL is set to the TTL: the key's TTL is the lease.
-- KEYS[1] <ns>:{env_X}:env   KEYS[2] <ns>:{env_X}:work:<id>   KEYS[3] <ns>:{env_X}:lease:<id>
-- KEYS[4] <ns>:{env_X}:deadlines
-- ARGV[1] work id   ARGV[2] Worker-ID ('' when none): when given, the item must be held under it
-- ARGV[3] expected last heartbeat: '' (no precondition), 'NO_HEARTBEAT', or a timestamp in
--         the canonical form YYYY-MM-DDTHH:MM:SS.ffffffZ (callers normalise any offset)
-- ARGV[4] lease TTL in seconds (already clamped to 10-600)
-- ARGV[5] what a stopping or stopped item does: 'refuse' (the Qoder family: the expectation is
--         compared, a stopped item is a conflict) or 'report' (the Anthropic family: the
--         expectation is not compared while stopping or stopped, and a stopped item answers ok
--         with lease_extended 0 and ttl_seconds 0, so the worker learns it is over)
-- Replies: 'ok <last_heartbeat> <lease_extended 1|0> <state> <ttl_seconds> <fencing_token>', one
--            string (the hot path: an array costs Redis six times as much to send)
--          | { 'ok', last_heartbeat | '', 0, 'stopped', 0, fencing_token }  a stopped item, with 'report'
--          | { 'conflict', state }  the item is queued (or stopped, with 'refuse')
--          | { 'precondition_failed', reason, state, last_heartbeat | false, lease_pttl_ms }
--            reason: held_by_another_worker | last_heartbeat_mismatch; then the lease as it is
--          | { 'work_not_found' } | { 'environment_not_found' } | { 'environment_not_self_hosted', type }
-- redis-cli FCALL lessor_v5_work_heartbeat 4 'lessor:{env_X}:env' 'lessor:{env_X}:work:work_Y' \
--   'lessor:{env_X}:lease:work_Y' 'lessor:{env_X}:deadlines' work_Y worker-1 NO_HEARTBEAT 60 refuse
--
-- Every line here is paid per heartbeat; bench/redis_cost.py counts Redis's instructions per
-- call. A steady heartbeat runs four commands (HMGET, TIME, HSET, PEXPIRE) and formats no
-- number: the stamp is TIME's text (stamp_of), the TTL stays text until multiplied.
local function work_heartbeat(keys, args)
  local item, lease = keys[2], keys[3]
  local worker, expected, report_stop = args[2], args[3], args[5] == 'report'
  local fields = redis.call('HMGET', item, 'state', 'worker_id', 'latest_heartbeat_at', 'fencing_token')
  local state, holder, last, token = fields[1], fields[2] or '', fields[3], fields[4]
  -- Items exist only in self-hosted environments, and environments are never retyped (a
  -- deleted one takes its items with it), so the environment is read only when the item is
  -- missing (one call fewer).
  if not state then return environment_error(keys[1]) or { 'work_not_found' } end
  if state == 'stopped' and report_stop then return { 'ok', last or '', 0, state, 0, tonumber(token) } end
  if state == 'queued' or state == 'stopped' then return { 'conflict', state } end
  if worker ~= '' and holder ~= '' and worker ~= holder then
    return { 'precondition_failed', 'held_by_another_worker', state, last or false, redis.call('PTTL', lease) }
  elseif expected ~= '' and expected ~= (last or 'NO_HEARTBEAT') and not (report_stop and state == 'stopping') then
    return { 'precondition_failed', 'last_heartbeat_mismatch', state, last or false, redis.call('PTTL', lease) }
  end

  local time = redis.call('TIME')
  local at = stamp_of(time)
  -- Strictly increasing: canonical stamps compare as text, so the stored one is parsed only
  -- when the clock has not moved past it.
  if last and at <= last then
    local previous = parse_us(last)
    if previous then at = format_us(previous + 1) end
  end
  if state == 'starting' then
    state = 'active'
    redis.call('HSET', item, 'state', 'active', 'started_at', at, 'latest_heartbeat_at', at)
  else
    redis.call('HSET', item, 'latest_heartbeat_at', at)
  end
  local ttl, ttl_ms = args[4], args[4] * 1000
  -- The deadlines index holds a lower bound of each deadline: the reaper re-scores an item
  -- whose recorded deadline passed while its lease key lives on. A renewal that moves the
  -- expiry later (GT) therefore leaves the index alone. Anything else (the lease lapsed, a
  -- shorter TTL, a second renewal within the same millisecond) sets the key again, learns
  -- from the old value whether the lease was live, and records the exact deadline.
  local extended = '1'
  if redis.call('PEXPIRE', lease, ttl_ms, 'GT') == 0 then
    extended = redis.call('SET', lease, holder .. ' ' .. token, 'PX', ttl_ms, 'GET') and '1' or '0'
    redis.call('ZADD', keys[4], tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000) + ttl_ms, args[1])
  end
  return 'ok ' .. at .. ' ' .. extended .. ' ' .. state .. ' ' .. ttl .. ' ' .. token
end
redis.register_function('lessor_v5_work_heartbeat', work_heartbeat)

-- work_stop: graceful or forced stop (POST .../work/{id}/stop).
-- graceful: queued -> stopped; starting/active -> stopping; stopping -> stopped; stopped as is;
--           from the holder itself (ARGV[7] is its worker id): starting/active/stopping -> stopped.
-- force:    any live state -> stopped. A stopped item's lease is released at once.
-- stop_reason: forced; completed when a graceful stop comes from the holder; else
-- stopped_by_request.
-- KEYS     the environment keys, then the item and its lease
-- ARGV[4]  work id   ARGV[5] force: 1 | 0   ARGV[6] retention seconds of stopped items
-- ARGV[7]  the caller's worker id ('' when none)
-- Replies: { 'ok', field, value, ..., 'lease_pttl', ms } the item after the stop
--          | { 'work_not_found' } | { 'environment_not_found' } | { 'environment_not_self_hosted', type }
local function work_stop(keys, args)
  local E = environment(keys, args)
  local refused = environment_error(E.env)
  if refused then return refused end
  local item, lease = keys[10], keys[11]
  local id, force, retention = args[4], args[5] == '1', tonumber(args[6])
  local state = redis.call('HGET', item, 'state')
  if not state then return { 'work_not_found' } end
  if state == 'stopped' then return item_reply(item, lease) end

  local now = now_us()
  local worker = args[7] or ''
  local by_holder = worker ~= '' and state ~= 'queued' and worker == redis.call('HGET', item, 'worker_id')
  if force or by_holder or state == 'queued' or state == 'stopping' then
    local reason = force and 'forced' or (by_holder and 'completed' or 'stopped_by_request')
    stop_item(E, id, item, lease, now, retention, reason)
  else
    redis.call('HSET', item, 'state', 'stopping', 'stop_requested_at', format_us(now))
  end
  return item_reply(item, lease)
end
redis.register_function('lessor_v5_work_stop', work_stop)

-- work_get: reads one item (GET .../work/{id}).
-- KEYS     the environment keys, then the item and its lease   ARGV[4] work id
-- Replies: { 'ok', field, value, ..., 'lease_pttl', ms }
--          | { 'work_not_found' } | { 'environment_not_found' } | { 'environment_not_self_hosted', type }
redis.register_function{function_name = 'lessor_v5_work_get', flags = { 'no-writes' }, callback = function(keys, args)
  local refused = environment_error(keys[1])
  if refused then return refused end
  if redis.call('EXISTS', keys[10]) == 0 then return { 'work_not_found' } end
  return item_reply(keys[10], keys[11])
end}

-- work_metadata: merge-patches an item's metadata (POST .../work/{id}): a string upserts its
-- key, null deletes it. The caller has checked the patch is an object of strings and nulls.
-- KEYS     the environment keys, then the item and its lease
-- ARGV[4]  work id   ARGV[5] patch, a JSON object of string or null values
-- Replies: { 'ok', field, value, ..., 'lease_pttl', ms } the patched item
--          | { 'work_not_found' } | { 'environment_not_found' } | { 'environment_not_self_hosted', type }
local function work_metadata(keys, args)
  local refused = environment_error(keys[1])
  if refused then return refused end
  local item = keys[10]
  local stored = redis.call('HGET', item, 'metadata')
  if not stored then return { 'work_not_found' } end
  local metadata = cjson.decode(stored)
  for name, value in pairs(cjson.decode(args[5])) do
    if value == cjson.null then metadata[name] = nil else metadata[name] = value end
  end
  -- cjson writes an empty table as {}, which is what an empty metadata object must be.
  redis.call('HSET', item, 'metadata', cjson.encode(metadata))
  return item_reply(item, keys[11])
end
redis.register_function('lessor_v5_work_metadata', work_metadata)

-- work_list: one page of items in id order (GET .../work). Ids are UUIDv7 hex, so the
-- lexical order of the items index is creation order. With a filter, the items that do not
-- match are skipped (a filtered page may read far more of the index than it returns).
-- KEYS     the environment keys
-- ARGV[4]  limit (1-100)   ARGV[5] direction: after | before
-- ARGV[6]  boundary id, exclusive ('' = from the start for after, from the end for before)
-- ARGV[7]  only this state ('' = any)   ARGV[8] only this stop_reason ('' = any)
-- Replies: { 'ok', has_more (1|0), item, item, ... }  each item an array { field, value, ...,
--          'lease_pttl', ms }, ascending by id whatever the direction
--          | { 'environment_not_found' } | { 'environment_not_self_hosted', type }
redis.register_function('lessor_v5_work_list', function(keys, args)
  local E = environment(keys, args)
  local refused = environment_error(E.env)
  if refused then return refused end
  local limit, direction, boundary = tonumber(args[4]), args[5], args[6]
  local state, stop_reason = args[7] or '', args[8] or ''
  local items = {}
  local has_more = 0
  local cursor = boundary
  -- Items whose hash expired after their retention are dropped from the index as met.
  while has_more == 0 do
    local ids
    if direction == 'after' then
      ids = redis.call('ZRANGEBYLEX', E.items, cursor == '' and '-' or '(' .. cursor, '+', 'LIMIT', 0, limit + 1)
    else
      ids = redis.call('ZREVRANGEBYLEX', E.items, cursor == '' and '+' or '(' .. cursor, '-', 'LIMIT', 0, limit + 1)
    end
    for _, id in ipairs(ids) do
      local item = E.item_prefix .. id
      local fields = redis.call('HMGET', item, 'state', 'stop_reason')
      if not fields[1] then
        redis.call('ZREM', E.items, id)
      elseif (state == '' or fields[1] == state) and (stop_reason == '' or fields[2] == stop_reason) then
        if #items == limit then
          has_more = 1
          break
        end
        local reply = item_reply(item, E.lease_prefix .. id)
        table.remove(reply, 1)
        table.insert(items, reply)
      end
      cursor = id
    end
    if #ids < limit + 1 then break end
  end
  local reply = { 'ok', has_more }
  if direction == 'after' then
    for _, item in ipairs(items) do table.insert(reply, item) end
  else
    for index = #items, 1, -1 do table.insert(reply, items[index]) end
  end
  return reply
end)

-- work_stats: the environment's queue figures (GET .../work/stats). depth: queued items a
-- default poll could claim now (requeued, never delivered, or delivered longer than the
-- default redelivery window ago); pending: delivered within that window and not acknowledged;
-- oldest_queued_at: the earliest time a queued item became available; workers_polling:
-- distinct Worker-IDs that polled within the polling window. Lapsed leases are reaped first
-- (up to 100), so the figures count them as queued.
-- KEYS     the environment keys
-- ARGV[4]  default redelivery window in ms (5000)   ARGV[5] retention seconds of stopped items
-- ARGV[6]  polling window in ms (at most 60000)
-- Replies: { 'ok', depth, pending, oldest_queued_at | false, workers_polling, dead_lettered }
--          | { 'environment_not_found' } | { 'environment_not_self_hosted', type }
redis.register_function('lessor_v5_work_stats', function(keys, args)
  local E = environment(keys, args)
  local refused = environment_error(E.env)
  if refused then return refused end
  local now = now_us()
  local ms = math.floor(now / 1000)
  local _, _, dead = reap_lapsed(E, now, 100, tonumber(args[5]))
  local window = tonumber(args[4])
  local pending = redis.call('ZCOUNT', E.delivered, '(' .. (ms - window), '+inf')
  local depth = redis.call('ZCARD', E.queue) + redis.call('ZCARD', E.delivered) - pending
  local oldest = redis.call('ZRANGE', E.available, 0, 0)[1]
  local oldest_at = oldest and redis.call('HGET', E.item_prefix .. oldest, 'available_at') or false
  local polling = redis.call('ZCOUNT', E.pollers, ms - tonumber(args[6]), '+inf')
  return { 'ok', depth, pending, oldest_at, polling, dead }
end)

-- work_reap: the background reaper's step for one environment. Items whose lease lapsed go
-- back to `queued` (or to `stopped` from `stopping`), in batches so no call stalls Redis; then
-- stopped items past their retention leave the indexes (their hashes expire by themselves).
-- Every front node runs it; running it twice at once is harmless, the function decides.
-- KEYS     the environment keys
-- ARGV[4]  batch size   ARGV[5] retention seconds of stopped items
-- Replies: { 'ok', reaped, more (1|0), next_deadline_ms | false, dead_lettered }
--          | { 'environment_not_found' }  (a cloud environment is reaped too: it has no leases)
redis.register_function('lessor_v5_work_reap', function(keys, args)
  local E = environment(keys, args)
  if redis.call('EXISTS', E.env) == 0 then return { 'environment_not_found' } end
  local batch, retention = tonumber(args[4]), tonumber(args[5])
  local now = now_us()
  local reaped, more, dead = reap_lapsed(E, now, batch, retention)
  local expired = redis.call('ZRANGEBYSCORE', E.stopped, '-inf', math.floor(now / 1000) - retention * 1000, 'LIMIT', 0, batch)
  for _, id in ipairs(expired) do
    redis.call('ZREM', E.stopped, id)
    redis.call('ZREM', E.items, id)
  end
  local next_deadline = redis.call('ZRANGE', E.deadlines, 0, 0, 'WITHSCORES')[2] or false
  return { 'ok', reaped, more and 1 or 0, next_deadline, dead }
end)

-- work_expire_lease: ends an item's lease now, as if it had lapsed (`lessor lease expire`):
-- starting/active -> queued (redelivered first; a lapse counted, so max_lapses applies),
-- stopping -> stopped.
-- KEYS     the environment keys, then the item and its lease
-- ARGV[4]  work id   ARGV[5] retention seconds of stopped items
-- Replies: { 'ok', field, value, ..., 'lease_pttl', ms } the item after the expiry
--          | { 'conflict', state }  the item holds no lease (queued or stopped)
--          | { 'work_not_found' } | { 'environment_not_found' } | { 'environment_not_self_hosted', type }
redis.register_function('lessor_v5_work_expire_lease', function(keys, args)
  local E = environment(keys, args)
  local refused = environment_error(E.env)
  if refused then return refused end
  local item, lease, id = keys[10], keys[11], args[4]
  local state = redis.call('HGET', item, 'state')
  if not state then return { 'work_not_found' } end
  if state ~= 'starting' and state ~= 'active' and state ~= 'stopping' then return { 'conflict', state } end
  local max_lapses = tonumber(redis.call('HGET', E.env, 'max_lapses')) or false
  local now, retention = now_us(), tonumber(args[5])
  lapse(E, id, item, lease, now, retention, max_lapses, state)
  trim_lapse_log(E, now, retention)
  return item_reply(item, lease)
end)

---------------------------------------------------------------------------------------------
-- Personal access tokens, stored only as the SHA-256 of their secret.

-- token_create: stores a token record (POST /api/v1/tokens). With an expiry, both keys
-- expire on Redis's clock.
-- KEYS[1] <ns>:{tokens}:hash:<sha256 hex of the secret>   KEYS[2] <ns>:{tokens}:id:<tok_...>
-- ARGV[1] token id   ARGV[2] name   ARGV[3] environment ids as a JSON array, or 'null' for all
-- ARGV[4] lifetime in seconds, or '' for none
-- Replies: { 'ok', field, value, ... } id, name, environment_ids, created_at, expires_at ('' when
--          none), revoked (0) | { 'exists' }  the secret or id is taken (should not happen)
local function token_create(keys, args)
  if redis.call('EXISTS', keys[1]) == 1 or redis.call('EXISTS', keys[2]) == 1 then return { 'exists' } end
  local now = now_us()
  local lifetime = tonumber(args[4])
  local expires_at = lifetime and format_us(now + lifetime * 1000000) or ''
  redis.call('HSET', keys[1], 'id', args[1], 'name', args[2], 'environment_ids', args[3],
    'created_at', format_us(now), 'expires_at', expires_at, 'revoked', 0)
  redis.call('SET', keys[2], string.sub(keys[1], -64))
  if lifetime then
    redis.call('PEXPIRE', keys[1], lifetime * 1000)
    redis.call('PEXPIRE', keys[2], lifetime * 1000)
  end
  return hash_reply(keys[1])
end
redis.register_function('lessor_v5_token_create', token_create)

-- token_revoke: marks a token revoked (DELETE /api/v1/tokens/{id}). The record stays (until
-- its expiry, if any) so revoking again answers the same.
-- KEYS[1] <ns>:{tokens}:id:<tok_...>   ARGV[1] the record key prefix, <ns>:{tokens}:hash:
-- Replies: { 'ok' } revoked now or before | { 'token_not_found' } no such token (or it expired)
redis.register_function('lessor_v5_token_revoke', function(keys, args)
  local digest = redis.call('GET', keys[1])
  if not digest then return { 'token_not_found' } end
  local record = args[1] .. digest
  if redis.call('EXISTS', record) == 0 then return { 'token_not_found' } end
  if redis.call('HGET', record, 'revoked') ~= '1' then
    redis.call('HSET', record, 'revoked', 1, 'revoked_at', format_us(now_us()))
  end
  return { 'ok' }
end)

---------------------------------------------------------------------------------------------
-- OpenWork Den workers.

-- worker_create: registers a worker (POST /v1/workers); its activity token is stored only as
-- the SHA-256 of the secret.
-- KEYS[1] <ns>:{wrk_X}:worker
-- ARGV[1] worker id   ARGV[2] name   ARGV[3] description ('' = none)   ARGV[4] token SHA-256 (hex)
-- Replies: { 'ok', field, value, ... } the worker hash | { 'exists' } (should not happen)
local function worker_create(keys, args)
  if redis.call('EXISTS', keys[1]) == 1 then return { 'exists' } end
  local at = format_us(now_us())
  redis.call('HSET', keys[1], 'id', args[1], 'name', args[2], 'description', args[3], 'tokenSha256', args[4],
    'isActiveRecently', 0, 'createdAt', at, 'updatedAt', at)
  return hash_reply(keys[1])
end
redis.register_function('lessor_v5_worker_create', worker_create)

-- worker_get: reads a worker and whether its presence lease is live (GET /v1/workers/{id}).
-- KEYS[1] <ns>:{wrk_X}:worker   KEYS[2] <ns>:{wrk_X}:presence
-- Replies: { 'ok', field, value, ..., 'presence_pttl', ms }  ms <= 0: offline | { 'worker_not_found' }
redis.register_function{function_name = 'lessor_v5_worker_get', flags = { 'no-writes' }, callback = function(keys)
  local reply = redis.call('HGETALL', keys[1])
  if #reply == 0 then return { 'worker_not_found' } end
  table.insert(reply, 1, 'ok')
  table.insert(reply, 'presence_pttl')
  table.insert(reply, tostring(redis.call('PTTL', keys[2])))
  return reply
end}

-- worker_heartbeat: the Den activity heartbeat (POST /v1/workers/{id}/activity-heartbeat). A
-- worker's clock running ahead cannot pin the record in the future, and a heartbeat that
-- overtook a newer one through the load balancer never undoes it:
--   candidate        := min(sentAt or now, now)
--   lastHeartbeatAt  := max(stored, candidate)
--   lastActiveAt     := max(stored, min(lastActivityAt or candidate, now))   only when active
--   isActiveRecently, openSessionCount: stored unless candidate is older than the last stored one
--   presence lease   := renewed for the presence TTL
-- KEYS[1] <ns>:{wrk_X}:worker   KEYS[2] <ns>:{wrk_X}:presence
-- ARGV[1] SHA-256 (hex) of the presented activity token ('' when none was presented)
-- ARGV[2] isActiveRecently: 1 | 0   ARGV[3] sentAt in microseconds since 1970 ('' when absent)
-- ARGV[4] lastActivityAt in microseconds since 1970 ('' when absent or null)
-- ARGV[5] openSessionCount ('' when absent)   ARGV[6] presence TTL in ms
-- Replies: { 'ok', lastHeartbeatAt, lastActiveAt | false } | { 'worker_not_found' } | { 'wrong_token' }
local function worker_heartbeat(keys, args)
  local stored = redis.call('HMGET', keys[1], 'tokenSha256', 'lastHeartbeatAt', 'lastActiveAt', 'lastSentAt')
  if not stored[1] then return { 'worker_not_found' } end
  if args[1] == '' or args[1] ~= stored[1] then return { 'wrong_token' } end

  local now = now_us()
  local candidate = tonumber(args[3]) or now
  if candidate > now then candidate = now end

  local heartbeat = parse_us(stored[2])
  if not heartbeat or candidate > heartbeat then heartbeat = candidate end
  local fields = { 'lastHeartbeatAt', format_us(heartbeat), 'updatedAt', format_us(now) }

  local active = stored[3] and parse_us(stored[3]) or nil
  if args[2] == '1' then
    local activity = tonumber(args[4]) or candidate
    if activity > now then activity = now end
    if not active or activity > active then active = activity end
    table.insert(fields, 'lastActiveAt')
    table.insert(fields, format_us(active))
  end

  local last_sent = parse_us(stored[4])
  if not last_sent or candidate >= last_sent then
    table.insert(fields, 'lastSentAt')
    table.insert(fields, format_us(candidate))
    table.insert(fields, 'isActiveRecently')
    table.insert(fields, args[2])
    if args[5] ~= '' then
      table.insert(fields, 'openSessionCount')
      table.insert(fields, args[5])
    end
  end
  redis.call('HSET', keys[1], unpack(fields))
  redis.call('SET', keys[2], 1, 'PX', tonumber(args[6]))
  return { 'ok', format_us(heartbeat), active and format_us(active) or false }
end
redis.register_function('lessor_v5_worker_heartbeat', worker_heartbeat)

---------------------------------------------------------------------------------------------
-- Idempotency keys: a POST sent again with the same Idempotency-Key by the same principal is
-- answered from a record instead of running again. The record is written by the same call
-- as the write it protects, on the same slot, so no crash can separate the two.

-- The operations a record can protect, by name (their KEYS and ARGV as documented above).
local IDEMPOTENT = {
  environment_create = environment_create, environment_update = environment_update,
  environment_archive = environment_archive, work_enqueue = work_enqueue, work_ack = work_ack,
  work_heartbeat = work_heartbeat, work_stop = work_stop, work_metadata = work_metadata,
  token_create = token_create, worker_create = worker_create, worker_heartbeat = worker_heartbeat,
}
-- What is recorded: answers and the refusals an operation decides from the state it finds
-- (409, 412). Everything else (not found, archived, a wrong token) runs again on a retry.
local RECORDED = { ok = true, conflict = true, precondition_failed = true }

-- idempotent: runs one operation at most once per record (any POST sent with a key).
-- KEYS[1]  the record, <ns>:{tag}:idem:<key id> on the operation's slot (the key id is a hash
--          of the principal and the key: the key itself never reaches Redis), then the
--          operation's KEYS
-- ARGV[1]  operation (work_heartbeat, ...)   ARGV[2] request fingerprint (a hash of method,
--          path, parameters, worker header and body)   ARGV[3] record lifetime in ms
-- ARGV[4]  a secret to hand back on a replay, sealed by the caller under a key derived from
--          the idempotency key ('' when none), then the operation's ARGV
-- Record:  a string, '<fingerprint> <sealed secret, or nothing> <the reply as JSON>', written
--          with its TTL by one SET (reply integers stay below 10^14, which cjson writes exactly)
-- Replies: the operation's reply when it ran | { 'replayed', secret | false, <the recorded
--          reply...> } | { 'idempotency_conflict' }  the record is of another request
-- redis-cli FCALL lessor_v5_idempotent 5 'lessor:{env_X}:idem:K' 'lessor:{env_X}:env' \
--   'lessor:{env_X}:work:work_Y' 'lessor:{env_X}:lease:work_Y' 'lessor:{env_X}:deadlines' \
--   work_heartbeat F 86400000 '' work_Y worker-1 '' 60 refuse
redis.register_function('lessor_v5_idempotent', function(keys, args)
  local record, fingerprint = keys[1], args[2]
  local stored = redis.call('GET', record)
  if stored then
    local space = string.find(stored, ' ', #fingerprint + 2, true)
    if string.sub(stored, 1, #fingerprint) ~= fingerprint or not space then return { 'idempotency_conflict' } end
    local reply = cjson.decode(string.sub(stored, space + 1))
    if type(reply) == 'string' then
      -- A heartbeat's one-string answer, answered again as its words.
      local words = {}
      for word in string.gmatch(reply, '%S+') do words[#words + 1] = word end
      reply = words
    end
    local secret = string.sub(stored, #fingerprint + 2, space - 1)
    table.insert(reply, 1, 'replayed')
    table.insert(reply, 2, secret ~= '' and secret or false)
    return reply
  end
  local operation = IDEMPOTENT[args[1]]
  if not operation then return redis.error_reply('lessor_v5_idempotent: no such operation ' .. tostring(args[1])) end
  local reply = operation({ unpack(keys, 2) }, { unpack(args, 5) })
  if RECORDED[type(reply) == 'string' and string.match(reply, '^%S+') or reply[1]] then
    redis.call('SET', record, fingerprint .. ' ' .. args[4] .. ' ' .. cjson.encode(reply), 'PX', args[3])
  end
  return reply
end)

-- idempotency_reserve: the first step of a create whose object's slot is not known before the
-- call (an environment, a Den worker): it names the new object's id (and seals its secret)
-- on the principal's slot, so every retry with the key creates that same object, through
-- `idempotent` on the object's own slot. A node that dies between the two steps leaves a
-- reservation whose id the retry creates; one that dies after them leaves a record there.
-- KEYS[1]  <ns>:{principal}:reservation:<key id>
-- ARGV[1]  request fingerprint   ARGV[2] lifetime in ms   ARGV[3] the id this request minted
-- ARGV[4]  its secret, sealed ('' when none)
-- Replies: { 'reserved', id, sealed secret | false } this request's id, or the one an earlier
--          request with the key reserved | { 'idempotency_conflict' }
redis.register_function('lessor_v5_idempotency_reserve', function(keys, args)
  local stored = redis.call('HMGET', keys[1], 'request', 'id', 'secret')
  if stored[1] then
    if stored[1] ~= args[1] then return { 'idempotency_conflict' } end
    return { 'reserved', stored[2], stored[3] or false }
  end
  redis.call('HSET', keys[1], 'request', args[1], 'id', args[3])
  if args[4] ~= '' then redis.call('HSET', keys[1], 'secret', args[4]) end
  redis.call('PEXPIRE', keys[1], tonumber(args[2]))
  return { 'reserved', args[3], args[4] ~= '' and args[4] or false }
end)
