#!/usr/bin/env python3
"""A minimal agent loop over `missy-sandbox mcp`, with nothing but the standard library.

The agent starts `missy-sandbox mcp` as a child process and speaks MCP to it over its stdin and
stdout: JSON-RPC 2.0, one message per line. Every tool call it makes runs in a fresh sandbox
under the profile given here, so whatever the model asks for, the kernel decides which files and
hosts are reachable. A call the profile refuses comes back as a result with isError set and a
message the model can read.

    python3 mcp_agent.py --profile dev --workspace ~/src/project

The "model" here is a scripted planner (`next_step`) so the example runs offline; replace it
with a call to your model provider, handing it the tool list and the history.
"""

import argparse
import itertools
import json
import subprocess
import sys

PROTOCOL_VERSION = "2025-11-25"  # the initialize handshake; the server also speaks 2026-07-28


class McpError(Exception):
    """A JSON-RPC error from the server (a protocol error, not a tool failure)."""


class McpClient:
    """One MCP session over a child process's stdio."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8"
        )
        self.ids = itertools.count(1)

    def request(self, method, params=None):
        msg_id = next(self.ids)
        message = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        self._send(message)
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise McpError(f"the server closed its output (exit status {self.proc.wait()})")
            answer = json.loads(line)
            if answer.get("id") != msg_id:
                continue  # a notification, or an answer to something else
            if "error" in answer:
                raise McpError(f"{answer['error']['message']} ({answer['error']['code']})")
            return answer["result"]

    def notify(self, method, params=None):
        self._send({"jsonrpc": "2.0", "method": method, "params": params or {}})

    def _send(self, message):
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def initialize(self):
        result = self.request(
            "initialize",
            {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "mcp_agent.py", "version": "1"},
            },
        )
        self.notify("notifications/initialized")
        return result

    def call_tool(self, name, arguments):
        """The tool's text and whether it failed."""
        result = self.request("tools/call", {"name": name, "arguments": arguments})
        text = "".join(block.get("text", "") for block in result.get("content", []))
        return text, bool(result.get("isError"))

    def close(self):
        self.proc.stdin.close()  # end of input: the server answers what is under way and exits
        return self.proc.wait(timeout=60)


def next_step(history):
    """The planner: the next tool call, or None when done. Stands in for the model."""
    script = [
        ("list_directory", {"path": "."}),
        ("write_file", {"path": "agent-notes.txt", "content": "written by mcp_agent.py\n"}),
        ("read_file", {"path": "agent-notes.txt"}),
        ("run_command", {"command": "wc -c agent-notes.txt && uname -s"}),
        # Outside what a coding profile grants: the sandbox refuses, the agent reads why.
        ("read_file", {"path": "/etc/shadow"}),
        ("fetch", {"url": "https://example.com/"}),
    ]
    return script[len(history)] if len(history) < len(script) else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", default="missy-sandbox", help="the missy-sandbox program")
    parser.add_argument("--profile", default="dev", help="profile every tool call runs under")
    parser.add_argument("--workspace", default=".", help="directory the tools work on")
    args = parser.parse_args()

    client = McpClient(
        [args.binary, "mcp", "--profile", args.profile, "--workspace", args.workspace]
    )
    info = client.initialize()
    print(f"server: {info['serverInfo']['name']} {info['serverInfo']['version']}, "
          f"protocol {info['protocolVersion']}")
    tools = client.request("tools/list")["tools"]
    print("tools:", ", ".join(tool["name"] for tool in tools))

    history = []
    while (step := next_step(history)) is not None:
        name, arguments = step
        text, failed = client.call_tool(name, arguments)
        history.append({"tool": name, "arguments": arguments, "failed": failed, "result": text})
        status = "refused/failed" if failed else "ok"
        print(f"\n> {name} {json.dumps(arguments)}  [{status}]")
        print(text.rstrip())
    status = client.close()
    refused = sum(1 for h in history if h["failed"])
    print(f"\n{len(history)} tool calls, {refused} refused or failed; server exit status {status}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
