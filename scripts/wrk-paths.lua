-- wrk script for the learning-path routes; the mode comes after "--":
--   path: GET /users/<track learner>/path?category=<cat> over t00000..t00799
--         and the demo's 14 categories
--   next: GET /courses/<id>/next over c001..c336
local categories = { "rust", "python", "go", "javascript", "frontend", "machine-learning", "devops",
  "algorithms", "databases", "mobile", "security", "data-engineering", "cloud", "java" }
local mode = "path"
local n = 0

init = function(args)
  mode = args[1] or "path"
end

-- 7919 is prime, so the strides visit every learner and course.
request = function()
  n = n + 1
  if mode == "next" then
    return wrk.format("GET", string.format("/courses/c%03d/next?n=10", (n * 7919) % 336 + 1))
  end
  return wrk.format("GET", string.format("/users/t%05d/path?category=%s",
    (n * 7919) % 800, categories[n % #categories + 1]))
end

-- The summary lines the load scripts print.
dofile("scripts/wrk-report.lua")
