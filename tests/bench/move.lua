-- wrk script for POST /api/queue/phase/move (tests/bench/run.sh): every request is a legal move.
-- Args (after the URL): <access token> <threads> <visit ids, comma-separated, all waiting/called>.
-- The ids are split between the threads (id i goes to thread i % threads); within a thread a visit
-- is never in flight twice: request() takes an idle visit, and response() reads the visit back from
-- the 200 body and queues its opposite move (in_progress -> waiting, waiting -> with_doctor). Needs
-- more visits per thread than connections per thread; a request sent with no idle visit ("starved")
-- reuses one and is likely a 409. done() prints "moves: starved N, failed N".
local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

local queue, head, tail = {}, 1, 0
local pool = {}
starved, failed = 0, 0

local function push(id, phase)
  tail = tail + 1
  queue[tail] = { id, phase }
end

function init(args)
  local token, nthreads, ids = args[1], tonumber(args[2]), args[3]
  wrk.method = "POST"
  wrk.headers["Authorization"] = "Bearer " .. token
  wrk.headers["Content-Type"] = "application/json"
  local i = 0
  for id in ids:gmatch("%d+") do
    if i % nthreads == tid then
      push(id, "with_doctor")
      table.insert(pool, id)
    end
    i = i + 1
  end
end

function request()
  local item
  if head <= tail then
    item = queue[head]
    queue[head] = nil
    head = head + 1
  else
    starved = starved + 1
    item = { pool[1 + starved % #pool], "with_doctor" }
  end
  return wrk.format(nil, nil, nil, '{"visit_id":' .. item[1] .. ',"phase":"' .. item[2] .. '"}')
end

function response(status, headers, body)
  if status == 200 then
    local id = body:match('"id":%s*(%d+)')
    local st = body:match('"status":%s*"([%w_]+)"')
    if id and st then
      push(id, st == "in_progress" and "waiting" or "with_doctor")
      return
    end
  end
  failed = failed + 1
end

function done(summary, latency, requests)
  local s, f = 0, 0
  for _, t in ipairs(threads) do
    s = s + t:get("starved")
    f = f + t:get("failed")
  end
  io.write(string.format("moves: starved %d, failed %d\n", s, f))
end
