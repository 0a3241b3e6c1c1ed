-- wrk script: POST a JSON body read from BODY_FILE to the given path.
-- Each thread rotates through distinct users so rows are not identical.
local body_file = os.getenv("BODY_FILE")
local f = assert(io.open(body_file, "r"))
local body = f:read("*a")
f:close()
wrk.method = "POST"
wrk.body = body
wrk.headers["Content-Type"] = "application/json"
if os.getenv("API_KEY") then
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("API_KEY")
end

-- The summary lines the load scripts print.
dofile("scripts/wrk-report.lua")
