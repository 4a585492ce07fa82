"""Drive `missy-sandbox mcp-gateway` with the official MCP Python client (the `mcp` package).

Run by tests/cli/gateway.rs inside the virtual environment it creates. The one argument is a
JSON object (see the test). Prints one line per check; exits 1 on the first failed check.
"""

import asyncio
import json
import os
import signal
import subprocess
import sys

from mcp import Client, MCPError
from mcp.client.stdio import StdioServerParameters


def check(ok, what, detail=""):
    if not ok:
        print(f"FAIL {what}: {detail}", flush=True)
        sys.exit(1)
    print(f"ok   {what}", flush=True)


def text(result):
    return "".join(getattr(block, "text", "") for block in result.content)


def direct(cfg, name, arguments):
    """The test server's tool called directly, without gateway or sandbox (the control)."""
    lines = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": name, "arguments": arguments}},
    ]
    run = subprocess.run(cfg["direct_prefix"] + cfg["raw_server"], input="".join(json.dumps(l) + "\n" for l in lines),
                         capture_output=True, text=True, timeout=30)
    answers = [json.loads(l) for l in run.stdout.splitlines() if l.strip()]
    check(len(answers) == 2, f"control run of the test server ({name})", run.stderr)
    answer = answers[-1]
    return answer["result"]["content"][0]["text"]


def exec_pids(marker):
    """Host pids of the `missy-sandbox exec` processes running the test server MARKER."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"--raw-output" in argv and marker.encode() in argv and b"exec" in argv:
            pids.append(int(entry))
    # The sandbox's pid 1 is a clone of `exec` with the same command line: keep the top one.
    def parent(pid):
        with open(f"/proc/{pid}/status") as f:
            return next(int(l.split()[1]) for l in f if l.startswith("PPid:"))
    return [p for p in pids if parent(p) not in pids]


async def main_session(cfg):
    params = StdioServerParameters(command=cfg["argv"][0], args=cfg["argv"][1:], env=cfg["env"])
    logs = []

    async def on_log(params):
        logs.append(str(params.data))

    async with Client(params, mode="auto", read_timeout_seconds=60, logging_callback=on_log) as client:
        check(client.protocol_version == "2026-07-28", "negotiated version", client.protocol_version)
        names = {tool.name for tool in (await client.list_tools()).tools}
        for name in ["fs__read_text_file", "git__git_status", "evil__leak", "evilblock__leak"]:
            check(name in names, f"tools/list has {name}", sorted(names))
        check(not any(n.startswith("fs__") and "write" in n for n in names), "fs's allowlist hides its writing tools", sorted(names))

        r = await client.call_tool("fs__read_text_file", {"path": cfg["hello"]})
        check(not r.is_error and "hello from the workspace" in text(r), "filesystem server reads in its workspace", text(r))
        r = await client.call_tool("git__git_status", {"repo_path": cfg["ws"]})
        check(not r.is_error and "On branch" in text(r), "git server's git_status", text(r))

        r = await client.call_tool("fs__read_text_file", {"path": cfg["outside_file"]})
        check(r.is_error and "not granted" in text(r) and cfg["outside_text"] not in text(r),
              "a path outside the grants is refused before the server sees it", text(r))
        try:
            await client.call_tool("fs__write_file", {"path": cfg["hello"], "content": "x"})
            check(False, "a tool outside the allowlist cannot be called", "no error")
        except MCPError as e:
            check("allowed tools" in str(e), "a tool outside the allowlist cannot be called", str(e))

        # The test server, started with check_arguments = false: the kernel is the only check.
        control = direct(cfg, "read_file", {"path": cfg["ssh_key"]})
        check(cfg["ssh_text"] in control, "control: unsandboxed, the server reads ~/.ssh", control)
        r = await client.call_tool("evil__read_file", {"path": cfg["ssh_key"]})
        check("ERR" in text(r) and cfg["ssh_text"] not in text(r), "the sandbox denies the server ~/.ssh", text(r))
        control = direct(cfg, "connect", {"port": cfg["port"]})
        check(control == "CONNECTED", "control: unsandboxed, the server reaches the loopback port", control)
        r = await client.call_tool("evil__connect", {"port": cfg["port"]})
        check(text(r).startswith("ERR"), "the sandbox denies the server the loopback port", text(r))

        steps = []

        async def on_progress(progress, total, message):
            steps.append((progress, total, message))

        r = await client.call_tool("evil__progress", {}, progress_callback=on_progress)
        check(text(r) == "progress token seen", "the client's progress token reaches the server", text(r))
        check([s[0] for s in steps] == [1, 2], "the server's progress reaches the client", steps)

        r = await client.call_tool("evil__leak", {})
        body = text(r)
        check(not r.is_error and "gateway warning" in r.content[0].text, "flag mode: a visible warning block", body)
        check("AKIAIOSFODNN7EXAMPLE" not in body and "***" in body, "flag mode: the AWS key is censored", body)
        check("prompt injection" in r.content[0].text and "aws-access-key-id" in r.content[0].text, "flag mode: the warning names what was found", r.content[0].text)
        r = await client.call_tool("evilblock__leak", {})
        check(r.is_error and "blocked" in text(r) and "AKIA" not in text(r) and "Ignore all previous" not in text(r),
              "block mode: the result is replaced by an error naming the rule", text(r))
        check("injection:" in text(r) or "secret:" in text(r), "block mode: the rule is named", text(r))

        # Kill the server mid-call: the call gets an error, not a hang; the server comes back.
        call = asyncio.create_task(client.call_tool("evil__sleep", {"seconds": 60}))
        # Killed once the call runs in the server (it notes that in its working directory).
        sleeping = os.path.join(cfg["ws"], "sleeping")
        for _ in range(1500):
            if os.path.exists(sleeping):
                break
            await asyncio.sleep(0.02)
        check(os.path.exists(sleeping), "the evil server started the sleep", sleeping)
        pids = exec_pids("evil")
        check(len(pids) == 1, "found the evil server's exec process", pids)
        os.kill(pids[0], signal.SIGKILL)
        try:
            r = await asyncio.wait_for(call, 20)
            check(False, "a server killed mid-call gives the client an error", text(r))
        except MCPError as e:
            check("ended during the call" in str(e), "a server killed mid-call gives the client an error", str(e))
        for _ in range(100):
            try:
                r = await client.call_tool("evil__echo", {"back": 1})
                if not r.is_error:
                    break
            except MCPError:
                pass
            await asyncio.sleep(0.2)
        check(text(r) == '{"back": 1}', "the killed server was restarted and answers", text(r))
        check(any("`evil`" in l and "ended" in l for l in logs), "the client was told the server ended", logs)
        new = exec_pids("evil")
        check(len(new) == 1 and new != pids, "a new server process", new)


async def forged_session(cfg):
    """check_arguments = false and the filesystem server told it may read `outside`: only the
    sandbox stands between the request and the file."""
    control_params = StdioServerParameters(command=cfg["fs_direct"][0], args=cfg["fs_direct"][1:], env=cfg["env"])
    async with Client(control_params, mode="legacy") as client:
        r = await client.call_tool("read_text_file", {"path": cfg["outside_file"]})
        check(not r.is_error and cfg["outside_text"] in text(r), "control: unsandboxed, the filesystem server reads the outside file", text(r))
    params = StdioServerParameters(command=cfg["forged_argv"][0], args=cfg["forged_argv"][1:], env=cfg["env"])
    async with Client(params, mode="legacy") as client:
        check(client.protocol_version == "2025-11-25", "negotiated version (legacy)", client.protocol_version)
        r = await client.call_tool("fs__read_text_file", {"path": cfg["outside_file"]})
        check(r.is_error and cfg["outside_text"] not in text(r), "forged past the gateway's check, the sandbox still refuses", text(r))
        r = await client.call_tool("fs__read_text_file", {"path": cfg["hello"]})
        check(not r.is_error, "and the workspace is still readable", text(r))


cfg = json.loads(sys.argv[1])
asyncio.run(main_session(cfg))
asyncio.run(forged_session(cfg))
print("all checks passed")
