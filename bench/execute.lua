-- wrk script: each request is one JSON-RPC `tools/call` of Janee's `execute` tool, POSTed to
-- /mcp of a `janee serve -t http --stateless` server (no initialize needed in that mode).
-- Environment: JANEE_BENCH_TOKEN (agent bearer token), JANEE_BENCH_CAP (capability, default
-- "up"), JANEE_BENCH_PATH (upstream path, default "/v1/ping").
-- Prints one line "JANEE_BENCH ok=N bad=M" at the end; a correct answer is HTTP 200 whose body
-- holds the tool result with the upstream's status 200 and `"isError":false`.

local token = os.getenv("JANEE_BENCH_TOKEN")
if token == nil or token == "" then
  error("JANEE_BENCH_TOKEN is not set")
end
local cap = os.getenv("JANEE_BENCH_CAP") or "up"
local path = os.getenv("JANEE_BENCH_PATH") or "/v1/ping"

wrk.method = "POST"
wrk.path = "/mcp"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute",'
  .. '"arguments":{"capability":"' .. cap .. '","method":"GET","path":"' .. path .. '"}}}'

-- The tool result text is JSON inside a JSON string, so its quotes are escaped; it may be
-- compact or pretty-printed (a lua pattern: backslash, quote, status, backslash, quote, colon).
local STATUS_OK = '\\"status\\":%s*200'
local NOT_ERROR = '"isError":false'

ok = 0
bad = 0
sample = ""

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  if status == 200 and body:find(STATUS_OK) and body:find(NOT_ERROR, 1, true) then
    ok = ok + 1
  else
    bad = bad + 1
    if sample == "" then
      sample = tostring(status) .. " " .. string.sub(body or "", 1, 200)
    end
  end
end

function done(summary, latency, requests)
  local o, b, s = 0, 0, ""
  for _, t in ipairs(threads) do
    o = o + t:get("ok")
    b = b + t:get("bad")
    if s == "" then
      s = t:get("sample")
    end
  end
  io.write(string.format("JANEE_BENCH ok=%d bad=%d\n", o, b))
  if s ~= "" then
    io.write("JANEE_BENCH sample=" .. string.gsub(s, "\n", " ") .. "\n")
  end
end
