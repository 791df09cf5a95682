-- environment_create: creates an environment (admin route POST /api/v1/cloud/environments).
-- Source: lua/ops/environment_create.lua + lua/parts (edit those, then bash lua/assemble.sh).
--
-- KEYS[1]  <ns>:{env_X}:env   the environment hash (its prefix names every key of env_X)
-- ARGV[1]  name   ARGV[2] description   ARGV[3] type: self_hosted | cloud
--
-- Replies:
--   { 'ok', field, value, ... }   the environment hash (name, description, type, created_at, updated_at)
--   { 'exists' }                  KEYS[1] already exists (ids are fresh UUIDv7s: should not happen)
--
-- redis-cli --eval lua/environment_create.lua 'lessor:{env_019e64e01a137caf953ac2ac7b42ec5c}:env' , byoc 'my fleet' self_hosted
--#include clock

if redis.call('EXISTS', KEYS[1]) == 1 then return { 'exists' } end
local at = format_us(now_us())
redis.call('HSET', KEYS[1], 'name', ARGV[1], 'description', ARGV[2], 'type', ARGV[3],
  'created_at', at, 'updated_at', at)
local reply = redis.call('HGETALL', KEYS[1])
table.insert(reply, 1, 'ok')
return reply
