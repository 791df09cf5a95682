-- work_ack: acknowledges an item (POST .../work/{id}/ack): queued -> starting, first lease,
-- fencing token + 1. A retry by the same worker while starting/active returns it unchanged.
-- Source: lua/ops/work_ack.lua + lua/parts (edit those, then bash lua/assemble.sh).
--
-- KEYS[1]  <ns>:{env_X}:env
-- ARGV[1]  work id   ARGV[2] Worker-ID ('' when none)   ARGV[3] lease TTL in seconds
--
-- Replies:
--   { 'ok', field, value, ..., 'lease_pttl', ms }       acknowledged (or the same worker's retry)
--   { 'conflict', reason }   reason: delivered_to_another_worker | held_by_another_worker | stopping | stopped
--   { 'not_found' } | { 'environment_not_found' } | { 'environment_not_self_hosted', type }
--
-- redis-cli --eval lua/work_ack.lua 'lessor:{env_X}:env' , work_Y worker-1 60
--#include clock
--#include environment
--#include item

local refused = environment_error()
if refused then return refused end
local id, worker, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local key = item_key(id)
local state = redis.call('HGET', key, 'state')
if not state then return { 'not_found' } end

if state == 'starting' or state == 'active' then
  if (redis.call('HGET', key, 'worker_id') or '') == worker then return item_reply(id) end
  return { 'conflict', 'held_by_another_worker' }
elseif state ~= 'queued' then
  return { 'conflict', state }
end
local delivered_to = redis.call('HGET', key, 'delivered_to') or ''
if delivered_to ~= '' and worker ~= '' and delivered_to ~= worker then
  return { 'conflict', 'delivered_to_another_worker' }
end

local now = now_us()
local holder = worker ~= '' and worker or delivered_to
local token = redis.call('HINCRBY', key, 'fencing_token', 1)
unindex(id)
redis.call('HSET', key, 'state', 'starting', 'acknowledged_at', format_us(now), 'worker_id', holder,
  'lease_expires_at', format_us(now + ttl * 1000000))
redis.call('SET', lease_key(id), holder .. ' ' .. token, 'PX', ttl * 1000)
redis.call('ZADD', DEADLINES, math.floor(now / 1000) + ttl * 1000, id)
return item_reply(id)
