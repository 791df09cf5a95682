-- wrk script for H1: every request is a real, successful compare-and-set heartbeat.
--
--   wrk -t2 -c64 -d10s -s bench/wrk/heartbeat.lua http://127.0.0.1:PORT -- ITEMS TOKEN ENV THREADS [EXPECTED [PAUSE_MS]]
--
-- ITEMS is a file with one acknowledged work id per line (acknowledged by Worker-ID "bench");
-- EXPECTED, when given, holds each item's current last heartbeat on the same line
-- (NO_HEARTBEAT when absent).
-- Each wrk thread heartbeats its share of the items round robin; an item's last
-- `last_heartbeat` becomes its next `expected_last_heartbeat`. The response says which
-- item it answers through the `x-request-id` echo (the item's index), and an item is not
-- asked again before its previous answer is back, so no request fails its precondition:
-- a non-2xx count above 0 is a bug. Leases are asked for 600 s (the most the API grants), as
-- the runner acknowledged them: the runs on one set of items span minutes, and a lease that
-- lapsed between two runs would rightly answer 409.
--
-- PAUSE_MS, when given, makes a paced run: each connection waits that long after an answer
-- before its next request (wrk's delay()), so N connections send about N / (PAUSE_MS + latency)
-- requests per ms whatever the server could take; the runner picks PAUSE_MS for a rate. Like
-- every closed-loop load, a stall holds requests back instead of queueing them, so a paced
-- run's high percentiles are a lower bound of what an open-loop client (wrk2) would see.
local counter, threads = 0, {}

function setup(thread)
  thread:set("thread_index", counter)
  counter = counter + 1
  threads[#threads + 1] = thread
end

function init(args)
  local file, token, env, threads, expected = args[1], args[2], args[3], tonumber(args[4]), args[5]
  local all, known = {}, {}
  for line in io.lines(file) do all[#all + 1] = line end
  if expected then for line in io.lines(expected) do known[#known + 1] = line end end
  items, last, inflight, statuses = {}, {}, {}, {}
  for index = 1 + thread_index, #all, threads do
    items[#items + 1] = all[index]
    last[#items] = known[index]
  end
  cursor = 0
  headers = { ["Authorization"] = "Bearer " .. token, ["Worker-ID"] = "bench" }
  base = "/api/v1/cloud/environments/" .. env .. "/work/"
  local pause = tonumber(args[6])
  if pause then
    delay = function() return pause end
  end
end

function request()
  -- The next item whose previous heartbeat has been answered: one slow answer must not
  -- send its item again with a stale expectation.
  for _ = 1, #items do
    cursor = cursor % #items + 1
    if not inflight[cursor] then break end
  end
  inflight[cursor] = true
  headers["x-request-id"] = tostring(cursor)
  local expected = last[cursor] or "NO_HEARTBEAT"
  return wrk.format("POST", base .. items[cursor] .. "/heartbeat?desired_ttl_seconds=600&expected_last_heartbeat=" .. expected, headers)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  local index = tonumber(headers["x-request-id"])
  if index then
    inflight[index] = nil
    if status == 200 then last[index] = string.match(body, '"last_heartbeat":"([^"]+)"') end
  end
end

-- One line the runner reads: how many answers of each status, so a failed run says how.
function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do total[status] = (total[status] or 0) + count end
  end
  local parts = {}
  for status, count in pairs(total) do parts[#parts + 1] = status .. "=" .. count end
  table.sort(parts)
  io.write("statuses: " .. table.concat(parts, " ") .. "\n")
  -- wrk's --latency table stops at p99; the runner reads p99.9 here (µs).
  io.write(string.format("percentiles_us: %d %d %d\n", latency:percentile(50), latency:percentile(99), latency:percentile(99.9)))
end
