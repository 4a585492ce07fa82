"""Drive `missy-sandbox mcp` with the official MCP Python client (the `mcp` package).

Run by tests/cli/mcp.rs inside the virtual environment it creates. The one argument is a JSON
object: argv (the server command), env, mode ("auto": server/discover, the 2026-07-28
per-request envelope; "legacy": the initialize handshake), the files, URLs and texts to use.
Prints one line per check and a final JSON summary; exits 1 on the first failed check.
"""

import asyncio
import json
import sys

from mcp import Client
from mcp.client.stdio import StdioServerParameters

TOOLS = ["fetch", "list_directory", "read_file", "run_command", "write_file"]


def check(ok, what, detail=""):
    if not ok:
        print(f"FAIL {what}: {detail}", flush=True)
        sys.exit(1)
    print(f"ok   {what}", flush=True)


def text(result):
    return "".join(getattr(block, "text", "") for block in result.content)


async def main(cfg):
    params = StdioServerParameters(command=cfg["argv"][0], args=cfg["argv"][1:], env=cfg["env"])
    async with Client(params, mode=cfg["mode"]) as client:
        version = client.protocol_version
        check(version == cfg["expect_version"], "negotiated version", version)

        listed = await client.list_tools()
        names = sorted(tool.name for tool in listed.tools)
        check(names == TOOLS, "tools/list names", names)

        r = await client.call_tool("write_file", {"path": "note.txt", "content": "hello from mcp\n"})
        check(not r.is_error, "write_file in the workspace", text(r))
        r = await client.call_tool("write_file", {"path": "note.txt", "content": "more\n", "append": True})
        check(not r.is_error, "write_file append", text(r))

        r = await client.call_tool("read_file", {"path": "note.txt"})
        check(not r.is_error and text(r) == "hello from mcp\nmore\n", "read_file", text(r))

        r = await client.call_tool("list_directory", {})
        check(not r.is_error and "file\t20\tnote.txt" in text(r), "list_directory", text(r))

        r = await client.call_tool("run_command", {"argv": ["cat", "note.txt"]})
        check(not r.is_error and "hello from mcp" in text(r), "run_command argv", text(r))
        r = await client.call_tool("run_command", {"command": "echo $((6 * 7)); exit 3"})
        check(r.is_error and "exit status 3" in text(r) and "42" in text(r), "run_command shell, exit 3", text(r))

        secret = cfg["secret"]
        r = await client.call_tool("run_command", {"command": f"echo key={secret}"})
        check(secret not in text(r) and "***" in text(r), "output censored", text(r))

        r = await client.call_tool("read_file", {"path": cfg["denied_path"]})
        check(r.is_error and cfg["denied_path"] in text(r) and "sandbox" in text(r), "read_file denied path", text(r))
        check(cfg["denied_text"] not in text(r), "denied file's content absent", text(r))
        r = await client.call_tool("write_file", {"path": cfg["denied_write"], "content": "x"})
        check(r.is_error and ("read-only" in text(r) or "permission denied" in text(r)), "write_file denied path", text(r))
        r = await client.call_tool("list_directory", {"path": cfg["denied_dir"]})
        check(r.is_error, "list_directory denied directory", text(r))

        r = await client.call_tool("fetch", {"url": cfg["allowed_url"]})
        check(not r.is_error and "HTTP 200" in text(r) and cfg["served_text"] in text(r), "fetch allowed host", text(r))
        r = await client.call_tool("fetch", {"url": cfg["denied_url"]})
        check(r.is_error and "refused" in text(r) and "not allowed" in text(r), "fetch denied host", text(r))

        r = await client.call_tool("read_file", {"path": 7})
        check(r.is_error and "string" in text(r), "bad arguments are a tool error", text(r))
        try:
            await client.call_tool("no_such_tool", {})
            check(False, "an unknown tool is a protocol error", "no error")
        except Exception as e:  # the SDK's MCPError
            check("unknown tool" in str(e), "an unknown tool is a protocol error", str(e))

        print(json.dumps({"version": version, "tools": names}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
