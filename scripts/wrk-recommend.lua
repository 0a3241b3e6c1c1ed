-- wrk script: GET /recommend/<user> over the demo users u00001..u05000.
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", string.format("/recommend/u%05d?n=10", (n * 7919) % 5000 + 1))
end

done = function(summary, latency, requests)
  io.write(string.format("requests/s: %.0f\n", summary.requests / (summary.duration / 1e6)))
  io.write(string.format("latency p50: %.2f ms  p99: %.2f ms  max: %.2f ms\n",
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
  io.write(string.format("non-2xx: %d  socket errors: %d\n",
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
