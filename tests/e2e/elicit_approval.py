"""Approval through MCP elicitation over stdio (the client is the human's own).

A capability `guarded` (autoApprove: false) is called twice with the official Python client in
legacy mode: once with an elicitation callback that approves (the call proceeds, and the
callback was shown the canonical request), once on a fresh agent whose callback declines (the
call is refused with APPROVAL_DENIED).
"""

import asyncio
import json

import mcp_types as types
from mcp import Client

from common import INFO, check, env, stdio_params, text

seen_messages = []


def callback(answer: bool):
    async def on_elicit(context, params: types.ElicitRequestParams) -> types.ElicitResult:
        seen_messages.append(params.message)
        if answer:
            return types.ElicitResult(action="accept", content={"approve": True})
        return types.ElicitResult(action="decline")

    return on_elicit


async def call(agent: str, answer: bool) -> types.CallToolResult:
    async with Client(
        stdio_params(agent), mode="legacy", client_info=INFO, raise_exceptions=True, elicitation_callback=callback(answer)
    ) as client:
        return await client.call_tool(
            "execute", {"capability": "guarded", "method": "GET", "path": "/v1/hello?x=%7e1", "reason": "e2e check"}
        )


async def main() -> None:
    ok = await call(env("E2E_AGENT"), True)
    check(not ok.is_error, f"approved call failed: {text(ok)}")
    check(json.loads(text(ok))["status"] == 200, text(ok))
    check(seen_messages and "GET /v1/hello?x=~1" in seen_messages[0], f"the canonical request was not shown: {seen_messages}")
    check('"e2e check"' in seen_messages[0], f"the agent's reason was not quoted: {seen_messages}")
    no = await call("b2", False)
    check(no.is_error, f"declined call went through: {text(no)}")
    check(json.loads(text(no))["denial"]["reasonCode"] == "APPROVAL_DENIED", text(no))
    print("ELICIT OK")


asyncio.run(main())
