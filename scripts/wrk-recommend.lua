-- wrk script: GET /recommend/<user> over the demo users u00001..u05000.
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", string.format("/recommend/u%05d?n=10", (n * 7919) % 5000 + 1))
end

-- The summary lines the load scripts print.
dofile("scripts/wrk-report.lua")
