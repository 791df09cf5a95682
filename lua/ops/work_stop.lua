-- work_stop: graceful or forced stop (POST .../work/{id}/stop).
-- graceful: queued -> stopped; starting/active -> stopping; stopping -> stopped; stopped as is.
-- force:    any live state -> stopped. A stopped item's lease is released at once.
-- Source: lua/ops/work_stop.lua + lua/parts (edit those, then bash lua/assemble.sh).
--
-- KEYS[1]  <ns>:{env_X}:env
-- ARGV[1]  work id   ARGV[2] force: 1 | 0   ARGV[3] retention seconds of stopped items
--
-- Replies:
--   { 'ok', field, value, ..., 'lease_pttl', ms }   the item after the stop
--   { 'not_found' } | { 'environment_not_found' } | { 'environment_not_self_hosted', type }
--
-- redis-cli --eval lua/work_stop.lua 'lessor:{env_X}:env' , work_Y 0 604800
--#include clock
--#include environment
--#include item

local refused = environment_error()
if refused then return refused end
local id, force, retention = ARGV[1], ARGV[2] == '1', tonumber(ARGV[3])
local key = item_key(id)
local state = redis.call('HGET', key, 'state')
if not state then return { 'not_found' } end
if state == 'stopped' then return item_reply(id) end

local now = now_us()
if force or state == 'queued' or state == 'stopping' then
  stop(id, now, retention)
else
  redis.call('HSET', key, 'state', 'stopping', 'stop_requested_at', format_us(now))
end
return item_reply(id)
