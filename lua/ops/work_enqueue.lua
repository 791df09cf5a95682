-- work_enqueue: adds a queued work item (POST .../work).
-- Source: lua/ops/work_enqueue.lua + lua/parts (edit those, then bash lua/assemble.sh).
--
-- KEYS[1]  <ns>:{env_X}:env
-- ARGV[1]  work id   ARGV[2] data type (session)   ARGV[3] data id (sess_...)   ARGV[4] metadata JSON object
--
-- Replies:
--   { 'ok', field, value, ..., 'lease_pttl', ms }   the new item (see item_reply)
--   { 'environment_not_found' } | { 'environment_not_self_hosted', type }
--   { 'exists' }                  the work id is taken (should not happen)
--
-- redis-cli --eval lua/work_enqueue.lua 'lessor:{env_X}:env' , work_019f3be4fd2475d9a784bf2c739e1194 session sess_1 '{}'
--#include clock
--#include environment
--#include item

local refused = environment_error()
if refused then return refused end
local id = ARGV[1]
local key = item_key(id)
if redis.call('EXISTS', key) == 1 then return { 'exists' } end
local now = now_us()
local at = format_us(now)
redis.call('HSET', key, 'id', id, 'state', 'queued', 'data_type', ARGV[2], 'session_id', ARGV[3],
  'created_at', at, 'available_at', at, 'fencing_token', 0, 'metadata', ARGV[4])
local ms = math.floor(now / 1000)
redis.call('ZADD', QUEUE, ms + FRESH, id)
redis.call('ZADD', AVAILABLE, ms, id)
redis.call('ZADD', ITEMS, 0, id)
redis.call('PUBLISH', WAKEUP, id)
return item_reply(id)
