-- wrk script of `python -m bench wrk` (bench/wrk.py): cycles through the requests of a file,
-- one a line, "METHOD PATH" or "METHOD PATH JSON-BODY", each thread from its own offset, and
-- prints the run's figures as one JSON line (wrk's own summary has no p95).
--   wrk -t2 -c8 -d10s -s bench/requests.lua URL -- requests.txt
-- The Authorization header comes from wrk's -H.

local requests = {}
local counter = 0
local threads = {}

local function load(path)
  local out = {}
  for line in io.lines(path) do
    local method, rest = line:match("^(%u+) (.*)$")
    if method then
      local target, body = rest:match("^(%S+) (.*)$")
      if not target then
        target, body = rest, nil
      end
      local headers = {}
      for name, value in pairs(wrk.headers) do -- the -H headers (Authorization)
        headers[name] = value
      end
      if body then
        headers["Content-Type"] = "application/json"
      end
      out[#out + 1] = wrk.format(method, target, headers, body)
    end
  end
  return out
end

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  threads[#threads + 1] = thread
end

function init(args)
  requests = load(args[1])
  -- Threads start at different places of the file, so they do not ask the same thing at once.
  index = (id * 7919) % #requests
  statuses = {}
end

function request()
  index = index % #requests + 1
  return requests[index]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests_)
  local counts = {}
  for _, thread in ipairs(threads) do
    local s = thread:get("statuses")
    for status, n in pairs(s) do
      counts[status] = (counts[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counts) do
    parts[#parts + 1] = string.format('"%d": %d', status, n)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "socket_errors": %d, "non_2xx_3xx": %d, "statuses": {%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, e.connect + e.read + e.write + e.timeout, e.status,
    table.concat(parts, ", ")))
end
