-- wrk script for bench/run.py: each request picks a random id from a file, counts every
-- answer that is not 2xx, and done() prints one line `WRK_RESULT {json}` for bench/load.py.
--
--   wrk ... URL -s bench/wrk/random.lua -- IDS_FILE METHOD PATH_TEMPLATE [BODY_TEMPLATE_FILE]
--
-- "{id}" in the path or body template is replaced by the id. Headers come from wrk's -H.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

local ids, method, path_template, body_template = {}, "GET", "/", nil
bad = 0 -- global: done() reads it from every thread with thread:get("bad")

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then
      ids[#ids + 1] = line
    end
  end
  assert(#ids > 0, "no ids in " .. args[1])
  method, path_template = args[2], args[3]
  if args[4] ~= nil and #args[4] > 0 then
    local file = assert(io.open(args[4], "rb"))
    body_template = file:read("*a")
    file:close()
  end
  math.randomseed(os.time() * 1000 + id)
end

function request()
  local chosen = ids[math.random(#ids)]
  local path = path_template:gsub("{id}", chosen)
  local body = nil
  if body_template ~= nil then
    body = body_template:gsub("{id}", chosen)
  end
  return wrk.format(method, path, nil, body)
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local non2xx = 0
  for _, thread in ipairs(threads) do
    non2xx = non2xx + (thread:get("bad") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "bytes": %d, "non2xx": %d, '
      .. '"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d, '
      .. '"p50_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d}\n',
    summary.requests, summary.duration, summary.bytes, non2xx,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.mean, latency.max
  ))
end
