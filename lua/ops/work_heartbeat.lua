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
--#include clock
--#include environment

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
