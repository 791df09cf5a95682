-- work_heartbeat: the seed (POST .../work/{id}/heartbeat). Compare-and-set of the last
-- heartbeat, then the lease key's TTL is set to the TTL: the key's TTL is the lease.
-- Source: lua/ops/work_heartbeat.lua + lua/parts (edit those, then bash lua/assemble.sh).
--
-- KEYS[1]  <ns>:{env_X}:env
-- ARGV[1]  work id
-- ARGV[2]  Worker-ID ('' when none): when given, the item must be held under it
-- ARGV[3]  expected last heartbeat: '' (no precondition), 'NO_HEARTBEAT', or a timestamp in
--          the canonical form YYYY-MM-DDTHH:MM:SS.ffffffZ (callers normalise any offset)
-- ARGV[4]  lease TTL in seconds (already clamped to 10-600)
--
-- Replies:
--   { 'ok', last_heartbeat, lease_extended (1|0), state, ttl_seconds, fencing_token }
--   { 'conflict', state }                      the item is queued or stopped
--   { 'precondition_failed', reason }          reason: held_by_another_worker | last_heartbeat_mismatch
--   { 'not_found' } | { 'environment_not_found' } | { 'environment_not_self_hosted', type }
--
-- redis-cli --eval lua/work_heartbeat.lua 'lessor:{env_X}:env' , work_Y worker-1 NO_HEARTBEAT 60
-- clock: Redis TIME in microseconds, and RFC 3339 text (UTC, Z, six fractional digits).
-- Lua numbers are doubles: microseconds since 1970 stay exact until the year 2255.
local floor = math.floor -- a local, not a global lookup per call: these run on every heartbeat

local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local function format_us(us)
  local seconds = floor(us / 1000000)
  local fraction = us - seconds * 1000000
  local days = floor(seconds / 86400)
  local of_day = seconds - days * 86400
  -- Howard Hinnant's civil_from_days
  local z = days + 719468
  local era = floor(z / 146097)
  local doe = z - era * 146097
  local yoe = floor((doe - floor(doe / 1460) + floor(doe / 36524) - floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + floor(yoe / 4) - floor(yoe / 100))
  local mp = floor((5 * doy + 2) / 153)
  local day = doy - floor((153 * mp + 2) / 5) + 1
  local month = mp < 10 and mp + 3 or mp - 9
  local year = yoe + era * 400 + (month <= 2 and 1 or 0)
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%06dZ', year, month, day,
    floor(of_day / 3600), floor(of_day / 60) % 60, of_day % 60, fraction)
end

-- The inverse of format_us, for text format_us wrote; nil for anything else.
local function parse_us(text)
  local y, mo, d, h, mi, s, f = string.match(text or '',
    '^(%d%d%d%d)-(%d%d)-(%d%d)T(%d%d):(%d%d):(%d%d)%.(%d%d%d%d%d%d)Z$')
  if not y then return nil end
  y, mo, d = tonumber(y), tonumber(mo), tonumber(d)
  if mo <= 2 then y = y - 1 end
  -- Howard Hinnant's days_from_civil
  local era = floor(y / 400)
  local yoe = y - era * 400
  local doy = floor((153 * (mo > 2 and mo - 3 or mo + 9) + 2) / 5) + d - 1
  local doe = yoe * 365 + floor(yoe / 4) - floor(yoe / 100) + doy
  local days = era * 146097 + doe - 719468
  return (days * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + tonumber(s)) * 1000000 + tonumber(f)
end
-- environment: every key of an environment shares the prefix of KEYS[1] ("<ns>:{env_X}:env"),
-- so one hash tag puts them all in one cluster slot. Item keys are built from the prefix.
local P = string.sub(KEYS[1], 1, -4)
local QUEUE, DELIVERED, AVAILABLE = P .. 'queue', P .. 'delivered', P .. 'available'
local DEADLINES, ITEMS, POLLERS, STOPPED = P .. 'deadlines', P .. 'items', P .. 'pollers', P .. 'stopped'
-- Pub/Sub channel told of every newly pollable item, so long polls wake at once.
local WAKEUP = P .. 'wakeup'
-- Never-delivered items sort after every requeued one in QUEUE: score = ms + FRESH.
local FRESH = 4398046511104 -- 2^42 ms, about 139 years

local function item_key(id) return P .. 'work:' .. id end
local function lease_key(id) return P .. 'lease:' .. id end

-- nil when the environment exists and is self-hosted, else the reply to return.
local function environment_error()
  local kind = redis.call('HGET', KEYS[1], 'type')
  if not kind then return { 'environment_not_found' } end
  if kind ~= 'self_hosted' then return { 'environment_not_self_hosted', kind } end
  return nil
end

local refused = environment_error()
if refused then return refused end
local id, worker, expected, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local key = item_key(id)
local item = redis.call('HMGET', key, 'state', 'worker_id', 'latest_heartbeat_at', 'fencing_token')
local state, holder, last, token = item[1], item[2] or '', item[3], item[4]
if not state then return { 'not_found' } end
if state == 'queued' or state == 'stopped' then return { 'conflict', state } end
if worker ~= '' and holder ~= '' and worker ~= holder then
  return { 'precondition_failed', 'held_by_another_worker' }
end
if expected ~= '' and expected ~= (last or 'NO_HEARTBEAT') then
  return { 'precondition_failed', 'last_heartbeat_mismatch' }
end

local lease = P .. 'lease:' .. id
local extended = redis.call('EXISTS', lease)
local now = now_us()
local at = format_us(now)
-- Strictly increasing: canonical stamps compare as text, so the stored one is parsed only
-- when the clock has not moved past it.
if last and at <= last then
  local previous = parse_us(last)
  if previous then at = format_us(previous + 1) end
end
if state == 'starting' then
  state = 'active'
  redis.call('HSET', key, 'state', 'active', 'started_at', at)
end
redis.call('HSET', key, 'latest_heartbeat_at', at, 'lease_expires_at', format_us(now + ttl * 1000000))
redis.call('SET', lease, holder .. ' ' .. token, 'PX', ttl * 1000)
redis.call('ZADD', DEADLINES, math.floor(now / 1000) + ttl * 1000, id)
return { 'ok', at, extended, state, ttl, tonumber(token) }
