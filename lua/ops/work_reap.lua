-- work_reap: the background reaper's step for one environment. Items whose lease lapsed go
-- back to `queued` (or to `stopped` from `stopping`), in batches so no call stalls Redis; then
-- stopped items past their retention leave the indexes (their hashes expire by themselves).
-- Every front node runs it; running it twice at once is harmless, the script decides.
-- Source: lua/ops/work_reap.lua + lua/parts (edit those, then bash lua/assemble.sh).
--
-- KEYS[1]  <ns>:{env_X}:env
-- ARGV[1]  batch size   ARGV[2] retention seconds of stopped items
--
-- Replies:
--   { 'ok', reaped, more (1|0), next_deadline_ms | false }
--   { 'environment_not_found' }    (a cloud environment is reaped too: it simply has no leases)
--
-- redis-cli --eval lua/work_reap.lua 'lessor:{env_X}:env' , 500 604800
--#include clock
--#include environment
--#include item

if redis.call('EXISTS', KEYS[1]) == 0 then return { 'environment_not_found' } end
local batch, retention = tonumber(ARGV[1]), tonumber(ARGV[2])
local now = now_us()
local reaped, more = reap_lapsed(now, batch, retention)
local expired = redis.call('ZRANGEBYSCORE', STOPPED, '-inf', math.floor(now / 1000) - retention * 1000, 'LIMIT', 0, batch)
for _, id in ipairs(expired) do
  redis.call('ZREM', STOPPED, id)
  redis.call('ZREM', ITEMS, id)
end
local next_deadline = redis.call('ZRANGE', DEADLINES, 0, 0, 'WITHSCORES')[2] or false
return { 'ok', reaped, more and 1 or 0, next_deadline }
