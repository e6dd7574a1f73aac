-- wrk script for the cost ladder: POSTs the JSON-RPC message in JANEE_BENCH_BODY to /mcp with
-- the agent's bearer token (JANEE_BENCH_TOKEN). Non-2xx answers are counted by wrk itself.

local token = os.getenv("JANEE_BENCH_TOKEN")
local body = os.getenv("JANEE_BENCH_BODY")
if token == nil or token == "" or body == nil or body == "" then
  error("JANEE_BENCH_TOKEN and JANEE_BENCH_BODY must be set")
end

wrk.method = "POST"
wrk.path = "/mcp"
wrk.headers["Authorization"] = "Bearer " .. token
wrk.headers["Accept"] = "application/json, text/event-stream"
wrk.headers["Content-Type"] = "application/json"
wrk.body = body
