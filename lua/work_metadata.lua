-- work_metadata: merge-patches an item's metadata (POST .../work/{id}): a string upserts its
-- key, null deletes it. The caller has checked the patch is an object of strings and nulls.
-- Source: lua/ops/work_metadata.lua + lua/parts (edit those, then bash lua/assemble.sh).
--
-- KEYS[1]  <ns>:{env_X}:env
-- ARGV[1]  work id   ARGV[2] patch, a JSON object of string or null values
--
-- Replies:
--   { 'ok', field, value, ..., 'lease_pttl', ms }   the patched item
--   { 'not_found' } | { 'environment_not_found' } | { 'environment_not_self_hosted', type }
--
-- redis-cli --eval lua/work_metadata.lua 'lessor:{env_X}:env' , work_Y '{"k":"v","gone":null}'
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
-- item: reading a work item and the transitions several scripts share, and the
-- environment's indexes they keep (here, not in the environment part, so the heartbeat,
-- which needs none of them, does not build their names on every call).
-- Needs the clock and environment parts.
local QUEUE, DELIVERED, AVAILABLE = P .. 'queue', P .. 'delivered', P .. 'available'
local ITEMS, POLLERS, STOPPED = P .. 'items', P .. 'pollers', P .. 'stopped'
-- Pub/Sub channel told of every newly pollable item, so long polls wake at once.
local WAKEUP = P .. 'wakeup'
-- Never-delivered items sort after every requeued one in QUEUE: score = ms + FRESH.
local FRESH = 4398046511104 -- 2^42 ms, about 139 years

-- { 'ok', field, value, ... } of the item's hash plus its live lease's remaining ms.
local function item_reply(id, status)
  local reply = redis.call('HGETALL', item_key(id))
  table.insert(reply, 1, status or 'ok')
  table.insert(reply, 'lease_pttl')
  table.insert(reply, tostring(redis.call('PTTL', lease_key(id))))
  return reply
end

-- Takes the item out of every index of pollable or leased items and drops its lease.
local function unindex(id)
  redis.call('ZREM', QUEUE, id)
  redis.call('ZREM', DELIVERED, id)
  redis.call('ZREM', AVAILABLE, id)
  redis.call('ZREM', DEADLINES, id)
  redis.call('DEL', lease_key(id))
end

-- A lapsed holder's item goes back to the queue ahead of never-delivered ones; the
-- fencing token stays, so the next ack hands out a higher one.
local function requeue(id, now)
  local key = item_key(id)
  unindex(id)
  redis.call('HDEL', key, 'worker_id', 'delivered_at', 'delivered_to', 'acknowledged_at',
    'started_at', 'latest_heartbeat_at', 'lease_expires_at')
  redis.call('HSET', key, 'state', 'queued', 'available_at', format_us(now))
  local ms = math.floor(now / 1000)
  redis.call('ZADD', QUEUE, ms, id)
  redis.call('ZADD', AVAILABLE, ms, id)
  redis.call('PUBLISH', WAKEUP, id)
end

-- Final state: lease released at once; the hash expires after the retention period.
local function stop(id, now, retention_seconds)
  local key = item_key(id)
  unindex(id)
  local at = format_us(now)
  redis.call('HSET', key, 'state', 'stopped', 'stopped_at', at)
  redis.call('HDEL', key, 'lease_expires_at')
  if redis.call('HEXISTS', key, 'stop_requested_at') == 0 then
    redis.call('HSET', key, 'stop_requested_at', at)
  end
  redis.call('EXPIRE', key, retention_seconds)
  redis.call('ZADD', STOPPED, math.floor(now / 1000), id)
end

-- Requeues (or, for `stopping`, stops) the items whose lease lapsed before now, looking at up
-- to `batch` items whose recorded deadline passed; live ones among them are re-scored.
-- Returns how many it requeued or stopped and whether more due entries wait.
local function reap_lapsed(now, batch, retention_seconds)
  local ms = math.floor(now / 1000)
  local due = redis.call('ZRANGEBYSCORE', DEADLINES, '-inf', ms, 'LIMIT', 0, batch)
  local handled = 0
  for _, id in ipairs(due) do
    local pttl = redis.call('PTTL', lease_key(id))
    if pttl > 0 then
      -- Still live: a heartbeat renewed the lease key without moving the recorded deadline
      -- (DEADLINES is a lower bound, see work_heartbeat). The key is the truth: re-score.
      redis.call('ZADD', DEADLINES, ms + pttl, id)
    else
      local state = redis.call('HGET', item_key(id), 'state')
      if state == 'starting' or state == 'active' then
        requeue(id, now)
      elseif state == 'stopping' then
        stop(id, now, retention_seconds)
      else
        redis.call('ZREM', DEADLINES, id)
      end
      handled = handled + 1
    end
  end
  return handled, #due == batch
end

local refused = environment_error()
if refused then return refused end
local key = item_key(ARGV[1])
local stored = redis.call('HGET', key, 'metadata')
if not stored then return { 'not_found' } end
local metadata = cjson.decode(stored)
for name, value in pairs(cjson.decode(ARGV[2])) do
  if value == cjson.null then metadata[name] = nil else metadata[name] = value end
end
-- cjson writes an empty table as {}, which is what an empty metadata object must be.
redis.call('HSET', key, 'metadata', cjson.encode(metadata))
return item_reply(ARGV[1])
