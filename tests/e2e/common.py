"""Shared fixture contract and checks for the end-to-end client scripts.

The scripts drive the real `janee` binary with the official Python `mcp` SDK. The Rust test
(crates/janee/tests/it/e2e.rs) prepares the home and the loopback upstream and passes:

  JANEE_BIN, JANEE_HOME, JANEE_PASSPHRASE  the binary and its prepared home (stdio spawns it)
  E2E_AGENT        the agent stdio runs as (`janee serve --agent E2E_AGENT`)
  E2E_URL          the Streamable HTTP endpoint of a running `janee serve -t http` (HTTP only)
  E2E_TOKEN        a bearer token for E2E_AGENT (HTTP only)
  E2E_SECRET       the service credential the upstream echoes back (secret_echo.py)

The home holds a service `upstream` (bearer E2E_SECRET) and two capabilities on it:
  CAP         allow "GET /v1/*", "GET /echo/*"; deny "* /v1/admin*"; open to every agent
  HIDDEN_CAP  allowedAgents excludes E2E_AGENT
The upstream answers GET /v1/hello with a JSON body holding GREETING, and /echo/{raw,b64,hex}
with the request's Authorization header (raw, base64, hex) in the body and, raw, in the
X-Echo-Authorization response header.
"""

import asyncio
import base64
import json
import os
import sys

import httpx2
import mcp_types as types
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

CAP = "api"
HIDDEN_CAP = "hidden"
ALLOWED_PATH = "/v1/hello"
DENIED_PATH = "/v1/admin/users"
GREETING = "hello from the e2e upstream"
TOOLS = ("list_services", "execute", "whoami", "explain_access")
INFO = types.Implementation(name="janee-e2e-python", version="1")
MODES = ("legacy", "auto")
# The protocol each client mode must end up speaking with janee: the initialize handshake, or
# server/discover and the stateless protocol.
PROTOCOL = {"legacy": "2025-11-25", "auto": "2026-07-28"}


def env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set (run through `cargo test -p janee --test it e2e`)")
    return value


def check(cond: bool, msg: str) -> None:
    if not cond:
        raise AssertionError(msg)


def text(res: types.CallToolResult) -> str:
    return "".join(c.text for c in res.content if getattr(c, "type", None) == "text")


def stdio_params(agent: str) -> StdioServerParameters:
    return StdioServerParameters(
        command=env("JANEE_BIN"),
        args=["serve", "--agent", agent],
        env={
            "JANEE_HOME": env("JANEE_HOME"),
            "JANEE_PASSPHRASE": env("JANEE_PASSPHRASE"),
            "JANEE_NO_KEYRING": "1",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
        },
    )


def stdio_client(agent: str, mode: str) -> Client:
    return Client(stdio_params(agent), mode=mode, client_info=INFO, raise_exceptions=True)


def http_client(url: str, token: str | None, mode: str, statuses: list | None = None) -> Client:
    """A client for `url`; every HTTP status the server answers is appended to `statuses`."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}

    async def record(response):
        if statuses is not None:
            statuses.append(response.status_code)

    http = httpx2.AsyncClient(
        headers=headers,
        timeout=httpx2.Timeout(20, read=60),
        event_hooks={"response": [record]},
    )
    transport = streamable_http_client(url, http_client=http)
    return Client(transport, mode=mode, client_info=INFO, raise_exceptions=True)


async def expect_invalid_params(client: Client, args: dict, field: str) -> None:
    try:
        res = await client.call_tool("execute", args)
    except MCPError as e:
        check(e.code == -32602, f"execute {args}: want JSON-RPC -32602, got {e.code}: {e}")
        check(field in e.error.message, f"execute {args}: message does not name `{field}`: {e.error.message!r}")
        return
    raise AssertionError(f"execute {args}: want MCPError -32602, got a result: {res}")


async def basic(client: Client, label: str, mode: str) -> None:
    """What every transport and protocol era must get right for the fixture's agent."""
    check(
        client.protocol_version == PROTOCOL[mode],
        f"{label}: negotiated {client.protocol_version}, want {PROTOCOL[mode]}",
    )
    tools = {t.name: t for t in (await client.list_tools()).tools}
    for name in TOOLS:
        check(name in tools, f"{label}: tools/list lacks {name}: {sorted(tools)}")
        schema = tools[name].input_schema
        check(schema.get("type") == "object", f"{label}: {name} input schema is not an object: {schema}")
    execute = tools["execute"].input_schema
    check(
        {"capability", "method", "path"} <= set(execute.get("required", [])),
        f"{label}: execute schema does not require capability/method/path: {execute}",
    )
    for field in ("capability", "method", "path", "body", "headers", "reason"):
        check(field in execute.get("properties", {}), f"{label}: execute schema lacks {field}")
    explain = tools["explain_access"].input_schema
    check("capability" in explain.get("required", []), f"{label}: explain_access schema: {explain}")

    res = await client.call_tool("list_services", {})
    check(not res.is_error, f"{label}: list_services failed: {text(res)}")
    listed = json.loads(text(res))
    names = sorted(entry["name"] for entry in listed)
    check(names == [CAP], f"{label}: list_services should list only {CAP!r} (not {HIDDEN_CAP!r}): {names}")
    entry = listed[0]
    check(entry["service"] == "upstream" and entry["mode"] == "proxy", f"{label}: list_services entry: {entry}")

    res = await client.call_tool("execute", {"capability": CAP, "method": "GET", "path": ALLOWED_PATH})
    check(not res.is_error, f"{label}: allowed GET {ALLOWED_PATH} was refused: {text(res)}")
    out = json.loads(text(res))
    check(out["status"] == 200, f"{label}: upstream status: {out}")
    check(GREETING in out["body"], f"{label}: upstream body missing: {out}")

    res = await client.call_tool("execute", {"capability": CAP, "method": "GET", "path": DENIED_PATH})
    check(res.is_error is True, f"{label}: GET {DENIED_PATH} should be denied: {text(res)}")
    denial = json.loads(text(res))["denial"]
    check(denial["reasonCode"] == "RULE_DENY", f"{label}: deny reasonCode: {denial}")
    check(denial["capability"] == CAP and denial.get("nextStep"), f"{label}: denial: {denial}")

    res = await client.call_tool("execute", {"capability": HIDDEN_CAP, "method": "GET", "path": ALLOWED_PATH})
    check(res.is_error is True, f"{label}: {HIDDEN_CAP} must be refused to this agent: {text(res)}")
    code = json.loads(text(res))["denial"]["reasonCode"]
    check(code in ("AGENT_NOT_ALLOWED", "CAPABILITY_NOT_FOUND"), f"{label}: {HIDDEN_CAP} reasonCode {code}")

    await expect_invalid_params(client, {"capability": CAP, "method": "GET"}, "path")
    await expect_invalid_params(client, {"capability": CAP, "method": 5, "path": ALLOWED_PATH}, "method")

    res = await client.call_tool("explain_access", {"capability": CAP, "method": "DELETE", "path": DENIED_PATH})
    check(not res.is_error, f"{label}: explain_access failed: {text(res)}")
    explained = json.loads(text(res))
    check(
        explained["allowed"] is False and explained["reasonCode"] == "RULE_DENY",
        f"{label}: explain_access should report the deny rule: {explained}",
    )
    print(f"ok  {label} ({client.protocol_version}): tools, list_services, execute allow/deny/hidden, -32602, explain_access")


async def whoami(client: Client) -> dict:
    res = await client.call_tool("whoami", {})
    check(not res.is_error, f"whoami failed: {text(res)}")
    return json.loads(text(res))


def secret_forms(secret: str) -> dict[str, str]:
    """Every agent-visible spelling of `secret` the echo upstream can produce (and a few more)."""
    raw = secret.encode()
    forms = {
        "raw": secret,
        "bearer header": f"Bearer {secret}",
        "hex": raw.hex(),
        "HEX": raw.hex().upper(),
        "base64 of header": base64.b64encode(f"Bearer {secret}".encode()).decode(),
    }
    # base64 at each byte alignment: drop the 4 characters at either end that mix in
    # neighbouring bytes or padding; what remains appears whenever the secret is encoded.
    for k in range(3):
        for name, enc in (("base64", base64.b64encode), ("base64url", base64.urlsafe_b64encode)):
            s = enc(b"\0" * k + raw).decode()
            forms[f"{name}@{k}"] = s[4 if k else 0 : -4]
    return forms


def run(main) -> None:
    try:
        asyncio.run(asyncio.wait_for(main(), timeout=50))
    except BaseException:
        import traceback

        traceback.print_exc()
        sys.exit(1)
