#!/usr/bin/env python3
"""Write the seed corpora under fuzz/corpus/<target>/ from the repository's own material:
shipped and malformed profiles, the secret samples of the detector and censor tests, sample
HTTP / CONNECT / SOCKS5 requests and host spellings, and the shell-policy test command lines.
Run from the repository root: python3 fuzz/seeds/make_seeds.py"""
import glob, hashlib, os, re, struct, warnings

warnings.simplefilter("ignore", DeprecationWarning)

ROOT = os.getcwd()
OUT = os.path.join(ROOT, "fuzz", "corpus")


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# profile_parser: every shipped profile, every malformed profile, and a few `extends` chains
# between in-memory documents (separated by a `#---` line).
profiles = sorted(glob.glob("sandbox-profiles/*.toml")) + sorted(
    glob.glob("integration/corpus/profiles/**/*.toml", recursive=True))
for p in profiles:
    put("profile_parser", open(p, "rb").read())
SEP = "\n#---\n"
put("profile_parser", 'extends = "p1"\n[limits]\nprocesses = 64\n' + SEP +
    'extends = "strict"\ndescription = "mid"\n[network]\nmode = "proxy"\nallow = ["crates.io"]\n')
put("profile_parser", 'extends = ["p1", "p2"]\n' + SEP + 'extends = "p2"\n' + SEP + 'extends = "base"\n')
put("profile_parser", 'extends = "p1"\n' + SEP + 'extends = "p1.toml"\n')
put("profile_parser", 'extends = "dev"\n[filesystem]\nwrite = ["{workspace}/out", "{tmp}/x"]\n'
    '[env]\nset = { A = "1" }\npass = ["HOME", "LC_*"]\n')


# censor: [flags][n][n cut points, u16 LE][payload]
def tok(n):
    a = b"aB3dE5gH7jK9mN1pQ2rS4tU6vW8xY0zLcFiOqZ"
    return "".join(chr(a[(i * 7 + i // 5) % len(a)]) for i in range(n))


def hx(n):
    return "".join("0123456789abcdef"[(i * 7 + 3) % 16] for i in range(n))


secrets = [
    "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n",
    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
    "key: AIzaSy" + tok(33) + "\n",
    "token: ghp_" + tok(36) + "\n",
    "github_pat_" + tok(22) + "_" + tok(59) + "\n",
    "glpat-" + tok(20) + " and sk_live_" + tok(24) + "\n",
    "sk-ant-api03-" + tok(95) + "\n",
    "sk-proj-" + tok(48) + "\n",
    "xoxb-1234567890-1234567890123-" + tok(24) + "\n",
    "https://hooks.slack.com/services/T00000000/B00000000/" + tok(24) + "\n",
    "dop_v1_" + hx(64) + "\n",
    "hvs." + tok(90) + "\n",
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U\n",
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY----- after\n",
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\n",
    "Authorization: Basic dXNlcjpwYXNzd29yZA==\n",
    "using bearer " + tok(40) + "\n",
    "X-Api-Key: " + tok(32) + "\n",
    "password=" + tok(20) + "\r\n",
    "https://u:p4ssw0rdXYZ@host/x \n",
    "vault-value-4242 dmF1bHQtdmFsdWUtNDI0Mg vault%2Dvalue... \n",
    "AGE-SECRET-KEY-1" + "".join("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"[(i * 5) % 32] for i in range(58)) + "\n",
    "   Compiling libc v0.2.150\n   Finished dev [unoptimized] target(s) in 3.2s\n",
    "the AKIA prefix, as in AKIAEXAMPLE; aws_secret_access_key = ${AWS_SECRET}\n",
]
for s in secrets:
    b = s.encode()
    put("censor", bytes([0, 0]) + b)
    mid = len(b) // 2
    put("censor", bytes([0, 1]) + struct.pack("<H", mid) + b)
    put("censor", bytes([1, 2]) + struct.pack("<HH", 3, mid) + b)
put("censor", bytes([2, 1]) + struct.pack("<H", 5) + b"start AKIAIOSFODNN7EXAMPLE end\n")

# proxy_request: selector byte (low 2 bits: 0 HTTP, 1 SOCKS5, 2 host; high bits: read size - 1)
http = [
    "GET http://Allowed.Test:8080/a/b?q=1 HTTP/1.1\r\nHost: x\r\nProxy-Connection: keep-alive\r\nConnection: X-Hop\r\nX-Hop: 1\r\nAccept: */*\r\n\r\n",
    "POST http://allowed.test/upload HTTP/1.0\r\nProxy-Authorization: Basic dTpw\r\nContent-Length: 4\r\n\r\nbody",
    "CONNECT allowed.test:443 HTTP/1.1\r\nHost: allowed.test:443\r\n\r\n\x16\x03\x01",
    "CONNECT 2130706433:443 HTTP/1.1\r\n\r\n",
    "CONNECT [::ffff:127.0.0.1]:443 HTTP/1.1\r\n\r\n",
    "CONNECT 0x7f.1:80 HTTP/1.1\r\n\r\n",
    "GET http://0177.0.0.1/ HTTP/1.1\r\n\r\n",
    "GET http://[::1]:8080/x HTTP/1.1\r\nTE: trailers\r\nUpgrade: h2c\r\n\r\n",
    "GET https://a.test/ HTTP/1.1\r\n\r\n",
    "GET /index.html HTTP/1.1\r\nHost: a.test\r\n\r\n",
    "GET http://a.wild.test./%2e%2e/ HTTP/1.1\r\n\r\n",
]
for h in http:
    put("proxy_request", bytes([0]) + h.encode())
    put("proxy_request", bytes([(7 << 2) | 0]) + h.encode())
socks = [
    bytes([1, 0, 5, 1, 0, 1, 203, 0, 113, 7, 0, 80]),
    bytes([2, 2, 0, 5, 1, 0, 3, 12]) + b"allowed.test" + bytes([1, 187]),
    bytes([1, 0, 5, 1, 0, 3, 10]) + b"2130706433" + bytes([0, 80]),
    bytes([1, 0, 5, 1, 0, 4]) + bytes(10) + bytes([255, 255, 127, 0, 0, 1]) + bytes([0, 22]),
    bytes([1, 2]),
    bytes([1, 0, 5, 2, 0, 1, 1, 1, 1, 1, 0, 53]),
    bytes([1, 0, 5, 1, 0, 9]),
]
for s in socks:
    put("proxy_request", bytes([1]) + s)
    put("proxy_request", bytes([(3 << 2) | 1]) + s)
hosts = ["allowed.test", "Allowed.TEST.", "a.wild.test", "2130706433", "0177.0.0.1", "0x7f000001",
         "127.1", "[::ffff:127.0.0.1]", "[::1]", "xn--nxasmq6b.test", "evil.0x7f", "1.2.3.4.5",
         "*.pythonhosted.org:443", "github.com:*", "host:0", "[::1]:443", "a_b.example.com:8080",
         "169.254.169.254", "::ffff:a9fe:a9fe"]
for h in hosts:
    put("proxy_request", bytes([2]) + h.encode())

# shell_policy: every string literal of the agent crate's shell and policy tests.
for p in ["agent/src/shell_tests.rs", "agent/src/policy_tests.rs"]:
    text = open(p).read()
    for lit in re.findall(r'"((?:[^"\\]|\\.)*)"', text):
        try:
            s = bytes(lit, "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")
        except (UnicodeDecodeError, UnicodeEncodeError):
            continue
        if s.strip():
            put("shell_policy", s)


# daemon_protocol: [reader buffer size byte] + request lines, from the protocol's own examples
# (docs/protocol.md) and the daemon tests' malformed ones.
PROTOCOL_LINES = [
    '{"type":"hello","versions":[1],"client":"my-agent/0.3"}',
    '{"type":"hello","versions":[99],"id":"h"}',
    '{"type":"exec","id":"t1","profile":"dev","argv":["cargo","test"],"workspace":"/home/me/proj",'
    '"stdin":"","env":{"RUST_LOG":"debug"},"timeout_ms":60000,"report":false}',
    '{"type":"exec","id":"b","profile":"strict","argv":["true"],"workspace":"/w","stdin_b64":"aGk="}',
    '{"type":"exec","id":"e","profile":"strict","argv":[],"workspace":"/"}',
    '{"type":"exec","id":"e","profile":"strict","argv":["true"],"workspace":"relative"}',
    '{"type":"exec","id":"x","profile":"p","argv":["a"],"workspace":"/","stdin":"a","stdin_b64":"YQ=="}',
    '{"type":"fetch","id":"f1","profile":"registry","url":"https://pypi.org/simple/","workspace":"/w"}',
    '{"type":"cancel","id":"t1"}',
    '{"type":"profiles"}',
    '{"type":"health","id":"q"}',
    '{"type":"health","surprise":true}',
    '{"type":"launch","id":"x"}',
    '{not json',
    '[1,2,3]',
    '{"type":"exec","id":"\\u0000","profile":"p","argv":["a\\u0000"],"workspace":"/"}',
]
for n, line in enumerate(PROTOCOL_LINES):
    put("daemon_protocol", bytes([n % 64]) + line.encode() + b"\n")
put("daemon_protocol", b"\x03" + "\n".join(PROTOCOL_LINES).encode() + b"\n")
put("daemon_protocol", b"\x07" + b'{"type":"exec","id":"big","stdin":"' + b"a" * 300 + b'"}\n{"type":"health"}')
