-- token_create: stores a personal access token by the SHA-256 of its secret (POST /api/v1/tokens).
-- The secret itself is never stored. With an expiry, both keys expire on Redis's clock.
-- Source: lua/ops/token_create.lua + lua/parts (edit those, then bash lua/assemble.sh).
--
-- KEYS[1]  <ns>:{tokens}:hash:<sha256 hex of the secret>   the token record
-- KEYS[2]  <ns>:{tokens}:id:<tok_...>                      id -> sha256, for revocation
-- ARGV[1]  token id   ARGV[2] name   ARGV[3] environment ids as JSON array, or 'null' for all
-- ARGV[4]  lifetime in seconds, or '' for none
--
-- Replies:
--   { 'ok', field, value, ... }   id, name, environment_ids, created_at, expires_at ('' when none), revoked (0)
--   { 'exists' }                  the secret or id is taken (should not happen)
--
-- redis-cli --eval lua/token_create.lua 'lessor:{tokens}:hash:ab12...' 'lessor:{tokens}:id:tok_...' , tok_... ci-fleet null 86400
--#include clock

if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return { 'exists' } end
local now = now_us()
local lifetime = tonumber(ARGV[4])
local expires_at = lifetime and format_us(now + lifetime * 1000000) or ''
redis.call('HSET', KEYS[1], 'id', ARGV[1], 'name', ARGV[2], 'environment_ids', ARGV[3],
  'created_at', format_us(now), 'expires_at', expires_at, 'revoked', 0)
redis.call('SET', KEYS[2], string.sub(KEYS[1], -64))
if lifetime then
  redis.call('PEXPIRE', KEYS[1], lifetime * 1000)
  redis.call('PEXPIRE', KEYS[2], lifetime * 1000)
end
local reply = redis.call('HGETALL', KEYS[1])
table.insert(reply, 1, 'ok')
return reply
