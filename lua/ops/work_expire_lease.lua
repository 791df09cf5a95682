-- work_expire_lease: ends an item's lease now, as if it had lapsed (SRE tool `lessor lease
-- expire`): starting/active -> queued (redelivered first), stopping -> stopped.
-- Source: lua/ops/work_expire_lease.lua + lua/parts (edit those, then bash lua/assemble.sh).
--
-- KEYS[1]  <ns>:{env_X}:env
-- ARGV[1]  work id   ARGV[2] retention seconds of stopped items
--
-- Replies:
--   { 'ok', field, value, ..., 'lease_pttl', ms }   the item after the expiry
--   { 'conflict', state }                           the item holds no lease (queued or stopped)
--   { 'not_found' } | { 'environment_not_found' } | { 'environment_not_self_hosted', type }
--
-- redis-cli --eval lua/work_expire_lease.lua 'lessor:{env_X}:env' , work_Y 604800
--#include clock
--#include environment
--#include item

local refused = environment_error()
if refused then return refused end
local id = ARGV[1]
local state = redis.call('HGET', item_key(id), 'state')
if not state then return { 'not_found' } end
local now = now_us()
if state == 'starting' or state == 'active' then
  requeue(id, now)
elseif state == 'stopping' then
  stop(id, now, tonumber(ARGV[2]))
else
  return { 'conflict', state }
end
return item_reply(id)
