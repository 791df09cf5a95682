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
local floor = math.floor -- a local, not a global lookup per call

local function now_us()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- The date part of the last stamp formatted ('YYYY-MM-DDT'): a script formats a few stamps,
-- almost always of one day, and the calendar arithmetic is the costly half.
local formatted_day, formatted_date

-- Every stamp a script writes goes through here, so it is written for Redis CPU: `a % b` and
-- `(a - a % b) / b` instead of math.floor calls, the calendar computed once per day, and one
-- string.format per stamp (measured with callgrind: 15.5k -> 11.8k instructions per stamp).
local function format_us(us)
  local fraction = us % 1000000
  local seconds = (us - fraction) / 1000000
  local of_day = seconds % 86400
  local days = (seconds - of_day) / 86400
  if days ~= formatted_day then
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
    formatted_day, formatted_date = days, string.format('%04d-%02d-%02dT', year, month, day)
  end
  local second = of_day % 60
  local minute = (of_day - second) / 60 % 60
  return string.format('%s%02d:%02d:%02d.%06dZ', formatted_date, (of_day - of_day % 3600) / 3600, minute, second, fraction)
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
-- Leased items by lease deadline (ms), a lower bound: see work_heartbeat and reap_lapsed.
local DEADLINES = P .. 'deadlines'

local function item_key(id) return P .. 'work:' .. id end
local function lease_key(id) return P .. 'lease:' .. id end

-- nil when the environment exists and is self-hosted, else the reply to return.
local function environment_error()
  local kind = redis.call('HGET', KEYS[1], 'type')
  if not kind then return { 'environment_not_found' } end
  if kind ~= 'self_hosted' then return { 'environment_not_self_hosted', kind } end
  return nil
end

local id, worker, expected, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local key = item_key(id)
local item = redis.call('HMGET', key, 'state', 'worker_id', 'latest_heartbeat_at', 'fencing_token', 'lease_expires_at')
local state, holder, last, token, deadline = item[1], item[2] or '', item[3], item[4], item[5]
-- Items exist only in self-hosted environments, and environments are never removed or
-- retyped, so the environment is read only when the item is missing (one call fewer).
if not state then return environment_error() or { 'not_found' } end
if state == 'queued' or state == 'stopped' then return { 'conflict', state } end
if worker ~= '' and holder ~= '' and worker ~= holder then
  return { 'precondition_failed', 'held_by_another_worker' }
end
if expected ~= '' and expected ~= (last or 'NO_HEARTBEAT') then
  return { 'precondition_failed', 'last_heartbeat_mismatch' }
end

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
local expires = format_us(now + ttl * 1000000)
redis.call('HSET', key, 'latest_heartbeat_at', at, 'lease_expires_at', expires)
-- GET: the old value says whether the lease was still live, in the same call.
local extended = redis.call('SET', lease_key(id), holder .. ' ' .. token, 'PX', ttl * 1000, 'GET') and 1 or 0
-- DEADLINES holds a lower bound of each deadline: the reaper re-scores an item whose recorded
-- deadline passed while its lease key lives on. So only a heartbeat that moves the deadline
-- earlier (a shorter TTL) must touch it; a steady heartbeat skips the ZADD.
if not deadline or expires < deadline then
  redis.call('ZADD', DEADLINES, math.floor(now / 1000) + ttl * 1000, id)
end
return { 'ok', at, extended, state, ttl, tonumber(token) }
