-- work_metadata: merge-patches an item's metadata (POST .../work/{id}): a string upserts its
-- key, null deletes it. The caller has checked the patch is an object of strings and nulls.
-- Source: lua/ops/work_metadata.lua + lua/parts (edit those, then bash lua/assemble.sh).
--
-- KEYS[1]  <ns>:{env_X}:env
-- ARGV[1]  work id   ARGV[2] patch, a JSON object of string or null values
--
-- Replies:
--   { 'ok', field, value, ..., 'lease_pttl', ms }   the patched item
--   { 'not_found' } | { 'environment_not_found' } | { 'environment_not_self_hosted', type }
--
-- redis-cli --eval lua/work_metadata.lua 'lessor:{env_X}:env' , work_Y '{"k":"v","gone":null}'
--#include clock
--#include environment
--#include item

local refused = environment_error()
if refused then return refused end
local key = item_key(ARGV[1])
local stored = redis.call('HGET', key, 'metadata')
if not stored then return { 'not_found' } end
local metadata = cjson.decode(stored)
for name, value in pairs(cjson.decode(ARGV[2])) do
  if value == cjson.null then metadata[name] = nil else metadata[name] = value end
end
-- cjson writes an empty table as {}, which is what an empty metadata object must be.
redis.call('HSET', key, 'metadata', cjson.encode(metadata))
return item_reply(ARGV[1])
