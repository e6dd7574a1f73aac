"""The official Python `mcp` client drives `janee serve -t http` over Streamable HTTP.

Both protocol eras (mode="legacy" and mode="auto") with the agent's bearer token; then without a
token and with a wrong one, which the server must refuse with HTTP 401. See common.py for the
fixture contract. Exits non-zero on failure.
"""

import httpx2

from common import MODES, basic, check, env, http_client, run, whoami

WRONG_TOKEN = "janee_at_thisIsNotAValidTokenForAnyAgent0000000"


async def refused(url: str, token: str | None, mode: str) -> None:
    label = f"http/{mode} token={'none' if token is None else 'wrong'}"
    statuses: list[int] = []
    try:
        async with http_client(url, token, mode, statuses) as client:
            await client.list_tools()
    except Exception as e:  # the client surfaces the 401 as an MCPError inside task groups
        check(401 in statuses, f"{label}: client raised {e!r} but the server answered {statuses}, not 401")
        check(
            not any(200 <= s < 300 for s in statuses),
            f"{label}: the server answered a request with success: {statuses}",
        )
        print(f"ok  {label}: refused with HTTP 401 ({type(e).__name__})")
        return
    raise AssertionError(f"{label}: the client connected and listed tools; statuses {statuses}")


async def main() -> None:
    url, token, agent = env("E2E_URL"), env("E2E_TOKEN"), env("E2E_AGENT")
    for mode in MODES:
        async with http_client(url, token, mode) as client:
            await basic(client, f"http/{mode}", mode)
            me = await whoami(client)
            check(me["agentId"] == agent, f"http/{mode}: whoami agentId: {me}")
            check(me["identitySource"] == "token", f"http/{mode}: whoami identitySource: {me}")
            check(me["verified"] is True, f"http/{mode}: a token identity is verified: {me}")
            print(f"ok  http/{mode}: whoami agentId={me['agentId']} via {me['identitySource']}")
        await refused(url, None, mode)
        await refused(url, WRONG_TOKEN, mode)

    # The same refusal seen without the SDK in between.
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    hdrs = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    async with httpx2.AsyncClient(timeout=20) as raw:
        for auth in (None, f"Bearer {WRONG_TOKEN}", token):  # `token` alone, without "Bearer "
            h = dict(hdrs, **({"Authorization": auth} if auth else {}))
            r = await raw.post(url, json=body, headers=h)
            check(r.status_code == 401, f"raw POST with Authorization={auth is not None}: HTTP {r.status_code}")
    print("ok  http raw: missing, wrong and scheme-less tokens get HTTP 401")
    print("HTTP OK")


if __name__ == "__main__":
    run(main)
