"""The official Python `mcp` client drives `janee serve --agent E2E_AGENT` over stdio.

Both protocol eras: mode="legacy" (initialize handshake) and mode="auto" (server/discover,
then the stateless protocol). See common.py for the fixture contract. Exits non-zero on failure.
"""

from common import MODES, basic, check, env, run, stdio_client, whoami


async def main() -> None:
    agent = env("E2E_AGENT")
    for mode in MODES:
        async with stdio_client(agent, mode) as client:
            await basic(client, f"stdio/{mode}", mode)
            me = await whoami(client)
            check(me["agentId"] == agent, f"stdio/{mode}: whoami agentId: {me}")
            check(me["verified"] is False, f"stdio/{mode}: --agent is not a verified identity: {me}")
            print(f"ok  stdio/{mode}: whoami agentId={me['agentId']} via {me['identitySource']}")
    print("STDIO OK")


if __name__ == "__main__":
    run(main)
