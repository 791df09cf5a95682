-- work_stats: the environment's queue figures (GET .../work/stats).
-- Source: lua/ops/work_stats.lua + lua/parts (edit those, then bash lua/assemble.sh).
--
-- depth: queued items a default poll could claim now (requeued, never delivered, or delivered
-- longer than the default redelivery window ago); pending: delivered within that window and
-- not acknowledged; oldest_queued_at: the earliest time a queued item became available;
-- workers_polling: distinct Worker-IDs that polled in the last 60 s. Lapsed leases are reaped
-- first (up to 100), so the figures count them as queued.
--
-- KEYS[1]  <ns>:{env_X}:env
-- ARGV[1]  default redelivery window in ms (5000)   ARGV[2] retention seconds of stopped items
--
-- Replies:
--   { 'ok', depth, pending, oldest_queued_at | false, workers_polling }
--   { 'environment_not_found' } | { 'environment_not_self_hosted', type }
--
-- redis-cli --eval lua/work_stats.lua 'lessor:{env_X}:env' , 5000 604800
--#include clock
--#include environment
--#include item

local refused = environment_error()
if refused then return refused end
local now = now_us()
local ms = math.floor(now / 1000)
reap_lapsed(now, 100, tonumber(ARGV[2]))
local window = tonumber(ARGV[1])
local pending = redis.call('ZCOUNT', DELIVERED, '(' .. (ms - window), '+inf')
local depth = redis.call('ZCARD', QUEUE) + redis.call('ZCARD', DELIVERED) - pending
local oldest = redis.call('ZRANGE', AVAILABLE, 0, 0)[1]
local oldest_at = oldest and redis.call('HGET', item_key(oldest), 'available_at') or false
local polling = redis.call('ZCOUNT', POLLERS, ms - 60000, '+inf')
return { 'ok', depth, pending, oldest_at, polling }
