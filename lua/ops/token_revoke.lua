-- token_revoke: marks a personal access token revoked (DELETE /api/v1/tokens/{id}). The record
-- stays (until its expiry, if any) so revoking again answers the same.
-- Source: lua/ops/token_revoke.lua + lua/parts (edit those, then bash lua/assemble.sh).
--
-- KEYS[1]  <ns>:{tokens}:id:<tok_...>
-- ARGV[1]  the record key prefix, <ns>:{tokens}:hash:
--
-- Replies:
--   { 'ok' }          revoked now or before
--   { 'not_found' }   no such token (or it expired)
--
-- redis-cli --eval lua/token_revoke.lua 'lessor:{tokens}:id:tok_...' , 'lessor:{tokens}:hash:'
--#include clock

local digest = redis.call('GET', KEYS[1])
if not digest then return { 'not_found' } end
local record = ARGV[1] .. digest
if redis.call('EXISTS', record) == 0 then return { 'not_found' } end
if redis.call('HGET', record, 'revoked') ~= '1' then
  redis.call('HSET', record, 'revoked', 1, 'revoked_at', format_us(now_us()))
end
return { 'ok' }
