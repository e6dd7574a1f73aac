"""An upstream that echoes the injected credential must not leak it to the agent.

The upstream puts the request's Authorization header into its body raw, base64- and
hex-encoded (and raw into a response header). Over stdio (mode="legacy") and, when E2E_URL is
set, over HTTP (mode="auto"), everything the agent receives must be free of every spelling of
E2E_SECRET and must show "[REDACTED]" instead. Exits non-zero on failure.
"""

import json
import os

from common import CAP, check, env, http_client, run, secret_forms, stdio_client, text

ECHO_PATHS = ("/echo/raw", "/echo/b64", "/echo/hex")


async def echo(client, label: str, forms: dict[str, str]) -> None:
    for path in ECHO_PATHS:
        res = await client.call_tool("execute", {"capability": CAP, "method": "GET", "path": path})
        check(not res.is_error, f"{label} {path}: refused: {text(res)}")
        visible = res.model_dump_json(by_alias=True)  # the whole tool result, as the agent sees it
        out = json.loads(text(res))
        check(out["status"] == 200, f"{label} {path}: upstream status {out['status']}")
        for where, hay in (("result", visible), ("body", out["body"]), ("headers", json.dumps(out["headers"]))):
            for name, form in forms.items():
                check(form not in hay, f"{label} {path}: the secret leaks ({name}) in the {where}: {hay}")
        check("[REDACTED]" in out["body"], f"{label} {path}: body not redacted: {out['body']}")
        if path == "/echo/raw":
            hdrs = json.dumps(out["headers"])
            check("[REDACTED]" in hdrs, f"{label} {path}: X-Echo-Authorization not redacted: {hdrs}")
        print(f"ok  {label} {path}: no secret spelling, [REDACTED] present")


async def main() -> None:
    forms = secret_forms(env("E2E_SECRET"))
    async with stdio_client(env("E2E_AGENT"), "legacy") as client:
        await echo(client, "stdio/legacy", forms)
    if os.environ.get("E2E_URL"):
        async with http_client(env("E2E_URL"), env("E2E_TOKEN"), "auto") as client:
            await echo(client, "http/auto", forms)
    print("SECRET ECHO OK")


if __name__ == "__main__":
    run(main)
