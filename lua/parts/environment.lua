-- environment: every key of an environment shares the prefix of KEYS[1] ("<ns>:{env_X}:env"),
-- so one hash tag puts them all in one cluster slot. Item keys are built from the prefix.
local P = string.sub(KEYS[1], 1, -4)
-- Leased items by lease deadline (ms), a lower bound: see work_heartbeat and reap_lapsed.
local DEADLINES = P .. 'deadlines'

local function item_key(id) return P .. 'work:' .. id end
local function lease_key(id) return P .. 'lease:' .. id end

-- nil when the environment exists and is self-hosted, else the reply to return.
local function environment_error()
  local kind = redis.call('HGET', KEYS[1], 'type')
  if not kind then return { 'environment_not_found' } end
  if kind ~= 'self_hosted' then return { 'environment_not_self_hosted', kind } end
  return nil
end
