-- A heartbeat-shaped script for the wrapper benchmark (not Lessor's real heartbeat):
-- read the clock, compare-and-set a hash field, renew a key whose TTL is the lease.
-- KEYS[1] item hash, KEYS[2] lease key; ARGV[1] holder, ARGV[2] TTL in ms.
-- Returns the previous heartbeat (or false).
local t = redis.call('TIME')
local now = t[1] .. string.format('%06d', t[2])
local previous = redis.call('HGET', KEYS[1], 'hb')
redis.call('HSET', KEYS[1], 'hb', now)
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
return previous
