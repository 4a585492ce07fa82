"""A brokered agent for tests/cli/broker.rs: it tries what a brokered agent may and may not do
and prints one JSON object of results. argv[1]: a host loopback TCP port to try to reach."""
import json, os, socket, sys
path = os.environ["MISSY_SANDBOX_SOCKET"]
def conn():
    s = socket.socket(socket.AF_UNIX); s.connect(path); f = s.makefile("rwb")
    send(f, {"type": "hello", "versions": [1]}); assert recv(f)["type"] == "hello"
    return f
def send(f, o): f.write(json.dumps(o).encode() + b"\n"); f.flush()
def recv(f): return json.loads(f.readline())
def run(f, req):
    send(f, dict(type="exec", **req)); out = ""
    while True:
        e = recv(f)
        if e["type"] == "stdout": out += e.get("data", "")
        if e["type"] in ("exit", "error"): return e, out
ws = os.getcwd()
f = conn()
result = {}
send(f, {"type": "profiles"}); result["profiles"] = [p["name"] for p in recv(f)["profiles"]]
e, _ = run(f, {"id": "a", "profile": "dev", "argv": ["true"], "workspace": ws}); result["dev"] = e.get("code")
e, out = run(f, {"id": "b", "profile": "strict", "argv": ["sh", "-c", "echo tool > tool.txt; cat tool.txt"], "workspace": ws}); result["tool"] = [e.get("status"), out]
e, _ = run(f, {"id": "c", "profile": "strict", "argv": ["true"], "workspace": "/"}); result["outside"] = e.get("code")
try:
    open(os.path.join(ws, "agent.txt"), "w").write("x"); result["agent_write"] = "written"
except OSError as err:
    result["agent_write"] = err.errno
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2).close()
    result["host_tcp"] = "connected"
except OSError as err:
    result["host_tcp"] = err.errno or str(err)
send(f, dict(type="exec", id="long", profile="strict", argv=["sleep", "5"], workspace=ws))
g = conn(); send(g, {"type": "cancel", "id": "long"}); result["other_cancel"] = recv(g).get("code")
send(f, {"type": "cancel", "id": "long"})
print(json.dumps(result))
