-- item: reading a work item and the transitions several scripts share, and the
-- environment's indexes they keep (here, not in the environment part, so the heartbeat,
-- which needs none of them, does not build their names on every call).
-- Needs the clock and environment parts.
local QUEUE, DELIVERED, AVAILABLE = P .. 'queue', P .. 'delivered', P .. 'available'
local ITEMS, POLLERS, STOPPED = P .. 'items', P .. 'pollers', P .. 'stopped'
-- Pub/Sub channel told of every newly pollable item, so long polls wake at once.
local WAKEUP = P .. 'wakeup'
-- Never-delivered items sort after every requeued one in QUEUE: score = ms + FRESH.
local FRESH = 4398046511104 -- 2^42 ms, about 139 years

-- { 'ok', field, value, ... } of the item's hash plus its live lease's remaining ms.
local function item_reply(id, status)
  local reply = redis.call('HGETALL', item_key(id))
  table.insert(reply, 1, status or 'ok')
  table.insert(reply, 'lease_pttl')
  table.insert(reply, tostring(redis.call('PTTL', lease_key(id))))
  return reply
end

-- Takes the item out of every index of pollable or leased items and drops its lease.
local function unindex(id)
  redis.call('ZREM', QUEUE, id)
  redis.call('ZREM', DELIVERED, id)
  redis.call('ZREM', AVAILABLE, id)
  redis.call('ZREM', DEADLINES, id)
  redis.call('DEL', lease_key(id))
end

-- A lapsed holder's item goes back to the queue ahead of never-delivered ones; the
-- fencing token stays, so the next ack hands out a higher one.
local function requeue(id, now)
  local key = item_key(id)
  unindex(id)
  redis.call('HDEL', key, 'worker_id', 'delivered_at', 'delivered_to', 'acknowledged_at',
    'started_at', 'latest_heartbeat_at', 'lease_expires_at')
  redis.call('HSET', key, 'state', 'queued', 'available_at', format_us(now))
  local ms = math.floor(now / 1000)
  redis.call('ZADD', QUEUE, ms, id)
  redis.call('ZADD', AVAILABLE, ms, id)
  redis.call('PUBLISH', WAKEUP, id)
end

-- Final state: lease released at once; the hash expires after the retention period.
local function stop(id, now, retention_seconds)
  local key = item_key(id)
  unindex(id)
  local at = format_us(now)
  redis.call('HSET', key, 'state', 'stopped', 'stopped_at', at)
  redis.call('HDEL', key, 'lease_expires_at')
  if redis.call('HEXISTS', key, 'stop_requested_at') == 0 then
    redis.call('HSET', key, 'stop_requested_at', at)
  end
  redis.call('EXPIRE', key, retention_seconds)
  redis.call('ZADD', STOPPED, math.floor(now / 1000), id)
end

-- Requeues (or, for `stopping`, stops) the items whose lease lapsed before now, looking at up
-- to `batch` items whose recorded deadline passed; live ones among them are re-scored.
-- Returns how many it requeued or stopped and whether more due entries wait.
local function reap_lapsed(now, batch, retention_seconds)
  local ms = math.floor(now / 1000)
  local due = redis.call('ZRANGEBYSCORE', DEADLINES, '-inf', ms, 'LIMIT', 0, batch)
  local handled = 0
  for _, id in ipairs(due) do
    local pttl = redis.call('PTTL', lease_key(id))
    if pttl > 0 then
      -- Still live: a heartbeat renewed the lease key without moving the recorded deadline
      -- (DEADLINES is a lower bound, see work_heartbeat). The key is the truth: re-score.
      redis.call('ZADD', DEADLINES, ms + pttl, id)
    else
      local state = redis.call('HGET', item_key(id), 'state')
      if state == 'starting' or state == 'active' then
        requeue(id, now)
      elseif state == 'stopping' then
        stop(id, now, retention_seconds)
      else
        redis.call('ZREM', DEADLINES, id)
      end
      handled = handled + 1
    end
  end
  return handled, #due == batch
end
