-- environment: every key of an environment shares the prefix of KEYS[1] ("<ns>:{env_X}:env"),
-- so one hash tag puts them all in one cluster slot. Item keys are built from the prefix.
local P = string.sub(KEYS[1], 1, -4)
local QUEUE, DELIVERED, AVAILABLE = P .. 'queue', P .. 'delivered', P .. 'available'
local DEADLINES, ITEMS, POLLERS, STOPPED = P .. 'deadlines', P .. 'items', P .. 'pollers', P .. 'stopped'
-- Pub/Sub channel told of every newly pollable item, so long polls wake at once.
local WAKEUP = P .. 'wakeup'
-- Never-delivered items sort after every requeued one in QUEUE: score = ms + FRESH.
local FRESH = 4398046511104 -- 2^42 ms, about 139 years

local function item_key(id) return P .. 'work:' .. id end
local function lease_key(id) return P .. 'lease:' .. id end

-- nil when the environment exists and is self-hosted, else the reply to return.
local function environment_error()
  local kind = redis.call('HGET', KEYS[1], 'type')
  if not kind then return { 'environment_not_found' } end
  if kind ~= 'self_hosted' then return { 'environment_not_self_hosted', kind } end
  return nil
end
