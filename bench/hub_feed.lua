-- wrk script for bench/hub_wrk.py: conditional feed polls (or waits) rotating through sellers' tokens.
-- Usage: wrk ... -s bench/hub_feed.lua URL -- TOKENS_FILE CURSOR ETAG WAIT
--   TOKENS_FILE: one seller token a line; CURSOR, ETAG: the head of the feed as an up-to-date agent holds it;
--   WAIT: 0 for plain polls, else the `wait` parameter in seconds.
-- Each wrk thread starts at a different token and walks the list, so the hub sees many agents each polling
-- rarely (one token would also hit the per-seller rate limit). `done` prints one JSON line of figures.

local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

local tokens = {}
local index = 0
local path, etag

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
  path = "/v1/feed?cursor=" .. args[2]
  etag = args[3]
  if args[4] and args[4] ~= "0" then path = path .. "&wait=" .. args[4] end
  index = (id * 7919) % #tokens
end

function request()
  index = index % #tokens + 1
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. tokens[index], ["If-None-Match"] = etag})
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, '
      .. '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
