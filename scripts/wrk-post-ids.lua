-- wrk script: POST batches of 500 events, each with an event_id never sent
-- before (thread number, request number, index), so every event is stored
-- through the idempotency check.
local kinds = {"view", "click", "add_to_cart", "purchase", "favorite"}
local threads = 0
local counter = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function request()
  counter = counter + 1
  local parts = {}
  for i = 0, 499 do
    parts[#parts + 1] = string.format(
      '{"event_id":"t%d-r%d-%d","user_id":"u%d","course_id":"c%d","type":"%s","ts":"2026-11-01T12:00:00Z"}',
      tid, counter, i, (counter * 500 + i) % 997, i % 301, kinds[i % 5 + 1])
  end
  local headers = {["Content-Type"] = "application/json"}
  if os.getenv("API_KEY") then
    headers["Authorization"] = "Bearer " .. os.getenv("API_KEY")
  end
  return wrk.format("POST", nil, headers, '{"events":[' .. table.concat(parts, ",") .. ']}')
end

dofile("scripts/wrk-report.lua")
