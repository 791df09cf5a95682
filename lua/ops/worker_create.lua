-- worker_create: registers a Den worker (POST /v1/workers). Its activity token is stored only
-- as the SHA-256 of the secret.
-- Source: lua/ops/worker_create.lua + lua/parts (edit those, then bash lua/assemble.sh).
--
-- KEYS[1]  <ns>:{wrk_X}:worker   the worker hash
-- ARGV[1]  worker id   ARGV[2] name   ARGV[3] description ('' = none)   ARGV[4] token SHA-256 (hex)
--
-- Replies:
--   { 'ok', field, value, ... }   the worker hash (id, name, description, createdAt, updatedAt, ...)
--   { 'exists' }                  the id is taken (should not happen)
--
-- redis-cli --eval lua/worker_create.lua 'lessor:{wrk_01h455vb4pex5vsknk084sn02q}:worker' , wrk_01h455vb4pex5vsknk084sn02q laptop-7 '' 5e88...
--#include clock

if redis.call('EXISTS', KEYS[1]) == 1 then return { 'exists' } end
local at = format_us(now_us())
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'name', ARGV[2], 'description', ARGV[3], 'tokenSha256', ARGV[4],
  'isActiveRecently', 0, 'createdAt', at, 'updatedAt', at)
local reply = redis.call('HGETALL', KEYS[1])
table.insert(reply, 1, 'ok')
return reply
