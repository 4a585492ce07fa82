#!/usr/bin/env python3
"""A tiny MCP server on stdio, no dependencies: one tool, `echo`, for integration/bench/gateway.sh.

`echo {"text": T}` answers T; `echo {"size": N}` answers N bytes of directory-listing-like
text (what a typical tool result looks like to the screen: words, paths and numbers, no
secrets, no injection phrases). Speaks JSON-RPC 2.0 lines: initialize (any handshake
revision, echoed back), ping, tools/list, tools/call; notifications are ignored.
"""

import json
import sys

LINE = "src/module_{0:04d}/handler_{0:04d}.py  {1:6d} bytes  modified 2025-06-01 12:{2:02d}\n"


def listing(size):
    out, i = [], 0
    total = 0
    while total < size:
        line = LINE.format(i, (i * 7919) % 100000, i % 60)
        out.append(line)
        total += len(line)
        i += 1
    return "".join(out)[:size]


TOOL = {
    "name": "echo",
    "description": "Return the text given, or `size` bytes of a directory listing.",
    "inputSchema": {
        "type": "object",
        "properties": {"text": {"type": "string"}, "size": {"type": "integer"}},
    },
}


def answer(id_, result=None, error=None):
    message = {"jsonrpc": "2.0", "id": id_}
    if error is not None:
        message["error"] = error
    else:
        message["result"] = result
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def main():
    cache = {}
    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        if "id" not in message or "method" not in message:
            continue
        id_, method = message["id"], message["method"]
        params = message.get("params") or {}
        if method == "initialize":
            answer(id_, {
                "protocolVersion": params.get("protocolVersion", "2025-06-18"),
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "bench-echo", "version": "1"},
            })
        elif method == "ping":
            answer(id_, {})
        elif method == "tools/list":
            answer(id_, {"tools": [TOOL]})
        elif method == "tools/call":
            args = params.get("arguments") or {}
            if "size" in args:
                size = int(args["size"])
                text = cache.setdefault(size, listing(size))
            else:
                text = str(args.get("text", ""))
            answer(id_, {"content": [{"type": "text", "text": text}], "isError": False})
        else:
            answer(id_, error={"code": -32601, "message": "method not found: " + method})


if __name__ == "__main__":
    main()
