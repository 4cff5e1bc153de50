-- wrk script for conditional GETs of the queue board (tests/bench/run.sh): If-None-Match carries the
-- last ETag this thread saw, so the answers are 304 while the board holds; a 200 (the tag changed:
-- the minute turned, or a visit moved) brings the new tag. Args (after the URL): <access token>.
-- done() prints "conditional: 304 N, 200 N, other N".
local threads = {}
local req = nil
n304, n200, nother = 0, 0, 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  wrk.headers["Authorization"] = "Bearer " .. args[1]
  req = wrk.format()
end

function request()
  return req
end

function response(status, headers, body)
  if status == 304 then
    n304 = n304 + 1
  elseif status == 200 then
    n200 = n200 + 1
    local tag = headers["ETag"] or headers["etag"]
    if tag and tag ~= wrk.headers["If-None-Match"] then
      wrk.headers["If-None-Match"] = tag
      req = wrk.format()
    end
  else
    nother = nother + 1
  end
end

function done(summary, latency, requests)
  local a, b, c = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("n304")
    b = b + t:get("n200")
    c = c + t:get("nother")
  end
  io.write(string.format("conditional: 304 %d, 200 %d, other %d\n", a, b, c))
end
