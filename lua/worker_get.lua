-- worker_get: reads a Den worker and whether its presence lease is live (GET /v1/workers/{id}).
-- Source: lua/ops/worker_get.lua + lua/parts (edit those, then bash lua/assemble.sh).
--
-- KEYS[1]  <ns>:{wrk_X}:worker   KEYS[2] <ns>:{wrk_X}:presence
--
-- Replies:
--   { 'ok', field, value, ..., 'presence_pttl', ms }   ms <= 0: offline
--   { 'not_found' }
--
-- redis-cli --eval lua/worker_get.lua 'lessor:{wrk_X}:worker' 'lessor:{wrk_X}:presence'

local reply = redis.call('HGETALL', KEYS[1])
if #reply == 0 then return { 'not_found' } end
table.insert(reply, 1, 'ok')
table.insert(reply, 'presence_pttl')
table.insert(reply, tostring(redis.call('PTTL', KEYS[2])))
return reply
