-- worker_heartbeat: the OpenWork Den activity heartbeat (POST /v1/workers/{id}/activity-heartbeat).
-- A worker's clock running ahead cannot pin the record in the future, and a heartbeat that
-- overtook a newer one through the load balancer never undoes it.
-- Source: lua/ops/worker_heartbeat.lua + lua/parts (edit those, then bash lua/assemble.sh).
--
--   candidate        := min(sentAt or now, now)
--   lastHeartbeatAt  := max(stored, candidate)
--   lastActiveAt     := max(stored, min(lastActivityAt or candidate, now))   only when active
--   isActiveRecently, openSessionCount: stored unless candidate is older than the last stored one
--   presence lease   := renewed for the presence TTL
--
-- KEYS[1]  <ns>:{wrk_X}:worker   KEYS[2] <ns>:{wrk_X}:presence
-- ARGV[1]  SHA-256 (hex) of the presented activity token ('' when none was presented)
-- ARGV[2]  isActiveRecently: 1 | 0
-- ARGV[3]  sentAt in microseconds since 1970 ('' when absent)
-- ARGV[4]  lastActivityAt in microseconds since 1970 ('' when absent or null)
-- ARGV[5]  openSessionCount ('' when absent)
-- ARGV[6]  presence TTL in ms
--
-- Replies:
--   { 'ok', lastHeartbeatAt, lastActiveAt | false }
--   { 'not_found' } | { 'unauthorized' }
--
-- redis-cli --eval lua/worker_heartbeat.lua 'lessor:{wrk_X}:worker' 'lessor:{wrk_X}:presence' , <sha256> 1 '' '' 4 90000
--#include clock

local stored = redis.call('HMGET', KEYS[1], 'tokenSha256', 'lastHeartbeatAt', 'lastActiveAt', 'lastSentAt')
if not stored[1] then return { 'not_found' } end
if ARGV[1] == '' or ARGV[1] ~= stored[1] then return { 'unauthorized' } end

local now = now_us()
local candidate = tonumber(ARGV[3]) or now
if candidate > now then candidate = now end

local heartbeat = parse_us(stored[2])
if not heartbeat or candidate > heartbeat then heartbeat = candidate end
local fields = { 'lastHeartbeatAt', format_us(heartbeat), 'updatedAt', format_us(now) }

local active = stored[3] and parse_us(stored[3]) or nil
if ARGV[2] == '1' then
  local activity = tonumber(ARGV[4]) or candidate
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
  table.insert(fields, ARGV[2])
  if ARGV[5] ~= '' then
    table.insert(fields, 'openSessionCount')
    table.insert(fields, ARGV[5])
  end
end
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('SET', KEYS[2], 1, 'PX', tonumber(ARGV[6]))
return { 'ok', format_us(heartbeat), active and format_us(active) or false }
