-- work_poll: delivers the next available item (GET .../work/poll). It stays `queued`.
-- Source: lua/ops/work_poll.lua + lua/parts (edit those, then bash lua/assemble.sh).
--
-- Order: items requeued after a lapsed lease (oldest requeue first), then items delivered
-- but not acknowledged for reclaim_ms or longer (oldest delivery first), then never-delivered
-- items (oldest first). Lapsed leases of the environment are reaped first (up to 100).
--
-- KEYS[1]  <ns>:{env_X}:env
-- ARGV[1]  Worker-ID ('' when none)   ARGV[2] reclaim_older_than_ms   ARGV[3] retention seconds of stopped items
--
-- Replies:
--   { 'ok', field, value, ..., 'lease_pttl', ms }   the delivered item
--   { 'empty' }                                     nothing to deliver
--   { 'environment_not_found' } | { 'environment_not_self_hosted', type }
--
-- redis-cli --eval lua/work_poll.lua 'lessor:{env_X}:env' , worker-1 5000 604800
--#include clock
--#include environment
--#include item

local refused = environment_error()
if refused then return refused end
local worker, reclaim_ms, retention = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_us()
local ms = math.floor(now / 1000)
reap_lapsed(now, 100, retention)
if worker ~= '' then
  redis.call('ZADD', POLLERS, ms, worker)
  redis.call('ZREMRANGEBYSCORE', POLLERS, '-inf', ms - 60000)
end

local id
local head = redis.call('ZRANGE', QUEUE, 0, 0, 'WITHSCORES')
if head[1] and tonumber(head[2]) < FRESH then
  id = head[1]
else
  id = redis.call('ZRANGEBYSCORE', DELIVERED, '-inf', ms - reclaim_ms, 'LIMIT', 0, 1)[1] or head[1]
end
if not id then return { 'empty' } end

redis.call('ZREM', QUEUE, id)
redis.call('ZADD', DELIVERED, ms, id)
redis.call('HSET', item_key(id), 'delivered_at', format_us(now), 'delivered_to', worker)
return item_reply(id)
