-- work_list: one page of items in ID order (GET .../work). IDs are UUIDv7 hex, so the
-- lexical order of the items index is creation order.
-- Source: lua/ops/work_list.lua + lua/parts (edit those, then bash lua/assemble.sh).
--
-- KEYS[1]  <ns>:{env_X}:env
-- ARGV[1]  limit (1-100)
-- ARGV[2]  direction: after | before
-- ARGV[3]  boundary id, exclusive ('' = from the start for after, from the end for before)
--
-- Replies:
--   { 'ok', has_more (1|0), item, item, ... }  each item an array { field, value, ..., 'lease_pttl', ms },
--                                              ascending by id whatever the direction
--   { 'environment_not_found' } | { 'environment_not_self_hosted', type }
--
-- redis-cli --eval lua/work_list.lua 'lessor:{env_X}:env' , 20 after ''
--#include clock
--#include environment
--#include item

local refused = environment_error()
if refused then return refused end
local limit, direction, boundary = tonumber(ARGV[1]), ARGV[2], ARGV[3]
local items = {}
local has_more = 0
local cursor = boundary
-- Items whose hash expired after their retention are dropped from the index as met.
while #items < limit do
  local ids
  if direction == 'after' then
    ids = redis.call('ZRANGEBYLEX', ITEMS, cursor == '' and '-' or '(' .. cursor, '+', 'LIMIT', 0, limit + 1 - #items)
  else
    ids = redis.call('ZREVRANGEBYLEX', ITEMS, cursor == '' and '+' or '(' .. cursor, '-', 'LIMIT', 0, limit + 1 - #items)
  end
  if #ids == 0 then break end
  for _, id in ipairs(ids) do
    if #items == limit then
      has_more = 1
      break
    end
    if redis.call('EXISTS', item_key(id)) == 1 then
      local item = item_reply(id)
      table.remove(item, 1)
      table.insert(items, item)
    else
      redis.call('ZREM', ITEMS, id)
    end
    cursor = id
  end
  if has_more == 1 or #ids < limit + 1 - #items then break end
end
local reply = { 'ok', has_more }
if direction == 'after' then
  for _, item in ipairs(items) do table.insert(reply, item) end
else
  for index = #items, 1, -1 do table.insert(reply, items[index]) end
end
return reply
