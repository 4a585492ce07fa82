#!/usr/bin/env python3
"""MCP client for integration/bench/gateway.sh, no dependencies.

Usage: mcp_bench_client.py TOOL SIZE WARMUP CALLS -- CMD ARGS...

Starts CMD (an MCP server on stdio), sends initialize and notifications/initialized, then
WARMUP untimed and CALLS timed `tools/call` round trips of TOOL, each with arguments
{"text": "hello"} (SIZE 0) or {"size": SIZE}. A round trip is timed from just before the
request line is written to just after its response line is read (time.perf_counter_ns).
Prints {"times_ms": [...], "result_bytes": N} on stdout; the server's stderr goes to ours.
"""

import json
import subprocess
import sys
import time


def main():
    tool, size, warmup, calls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    cmd = sys.argv[sys.argv.index("--") + 1:]
    # Buffered both ways (a raw pipe's readline reads one byte per system call); each request
    # is flushed as soon as it is written.
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    out = proc.stdout
    next_id = [0]

    def request(method, params):
        next_id[0] += 1
        line = json.dumps({"jsonrpc": "2.0", "id": next_id[0], "method": method, "params": params})
        proc.stdin.write(line.encode() + b"\n")
        proc.stdin.flush()
        while True:
            reply = out.readline()
            if not reply:
                sys.exit(f"the server closed its output (exit status {proc.wait()})")
            message = json.loads(reply)
            if message.get("id") == next_id[0]:
                if "error" in message:
                    sys.exit(f"{method}: {message['error']}")
                return message["result"], len(reply)

    request("initialize", {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "missy-bench", "version": "1"},
    })
    proc.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
    proc.stdin.flush()
    tools = [t["name"] for t in request("tools/list", {})[0]["tools"]]
    if tool not in tools:
        sys.exit(f"tool {tool} not listed: {tools}")
    arguments = {"size": size} if size else {"text": "hello"}
    params = {"name": tool, "arguments": arguments}
    result_bytes = 0
    for _ in range(warmup):
        result, result_bytes = request("tools/call", params)
        text = result["content"][-1]["text"]
        if result.get("isError") or len(text) != (size or 5):
            sys.exit(f"unexpected result: {json.dumps(result)[:300]}")
    times = []
    for _ in range(calls):
        start = time.perf_counter_ns()
        request("tools/call", params)
        times.append((time.perf_counter_ns() - start) / 1e6)
    proc.stdin.close()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    print(json.dumps({"times_ms": times, "result_bytes": result_bytes}))


if __name__ == "__main__":
    main()
