-- work_get: reads one item (GET .../work/{id}).
-- Source: lua/ops/work_get.lua + lua/parts (edit those, then bash lua/assemble.sh).
--
-- KEYS[1]  <ns>:{env_X}:env
-- ARGV[1]  work id
--
-- Replies:
--   { 'ok', field, value, ..., 'lease_pttl', ms }
--   { 'not_found' } | { 'environment_not_found' } | { 'environment_not_self_hosted', type }
--
-- redis-cli --eval lua/work_get.lua 'lessor:{env_X}:env' , work_Y
--#include clock
--#include environment
--#include item

local refused = environment_error()
if refused then return refused end
if redis.call('EXISTS', item_key(ARGV[1])) == 0 then return { 'not_found' } end
return item_reply(ARGV[1])
