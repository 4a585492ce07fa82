//! The catalogue of workloads. Every check looks at what the task produced (exact output, files
//! left in the workspace), so a task that "runs" but computes the wrong thing fails.

use std::path::Path;

use super::Task;

/// Every task, in the order they run and are reported.
pub fn catalogue() -> impl Iterator<Item = &'static Task> {
    TASKS.iter()
}

/// `stdout` must contain each of `needles`.
fn contains_all(stdout: &str, needles: &[&str]) -> Result<(), String> {
    for n in needles {
        if !stdout.contains(n) {
            return Err(format!("output lacks {n:?}; got {:?}", clip(stdout)));
        }
    }
    Ok(())
}

fn clip(s: &str) -> String {
    let s = s.trim();
    if s.len() > 300 {
        let mut end = 300;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    } else {
        s.to_string()
    }
}

/// The output's lines, trimmed, must equal `expected`.
fn lines_are(stdout: &str, expected: &[&str]) -> Result<(), String> {
    let got: Vec<&str> = stdout.lines().map(str::trim).collect();
    if got == expected {
        Ok(())
    } else {
        Err(format!("expected lines {expected:?}, got {got:?}"))
    }
}

fn file_exists(ws: &Path, rel: &str) -> Result<(), String> {
    if ws.join(rel).exists() {
        Ok(())
    } else {
        Err(format!("{rel} was not left in the workspace"))
    }
}

fn file_is(ws: &Path, rel: &str, content: &str) -> Result<(), String> {
    match std::fs::read_to_string(ws.join(rel)) {
        Ok(c) if c == content => Ok(()),
        Ok(c) => Err(format!("{rel} holds {:?}, expected {content:?}", clip(&c))),
        Err(e) => Err(format!("{rel}: {e}")),
    }
}

const C_MAKEFILE: &str = "CC ?= cc\nCFLAGS ?= -O2 -Wall -Werror\nOBJS = main.o add.o mul.o fact.o\n\napp: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n\n%.o: %.c calc.h\n\t$(CC) $(CFLAGS) -c $<\n\nclean:\n\trm -f app $(OBJS)\n";

const NODE_MAIN: &str = r#"const { Worker } = require('node:worker_threads');
const { execFileSync, spawn } = require('node:child_process');
const path = require('node:path');
function work(from, to) {
  return new Promise((resolve, reject) => {
    const w = new Worker(path.join(__dirname, 'worker.js'), { workerData: { from, to } });
    w.on('message', resolve);
    w.on('error', reject);
  });
}
(async () => {
  const parts = await Promise.all([work(1, 500000), work(500001, 1000000)]);
  console.log('workers ' + parts.reduce((a, b) => a + b, 0));
  console.log('exec ' + execFileSync('sh', ['-c', 'echo $((6 * 7))']).toString().trim());
  const child = spawn(process.execPath, ['-e', 'process.stdout.write(String(process.pid > 0))']);
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.on('close', (code) => console.log('spawn ' + out + ' ' + code));
})();
"#;

const NODE_WORKER: &str = r#"const { parentPort, workerData } = require('node:worker_threads');
let sum = 0;
for (let i = workerData.from; i <= workerData.to; i++) sum += i;
parentPort.postMessage(sum);
"#;

pub static TASKS: &[Task] = &[
    Task {
        name: "c-make",
        what: "make -j2 of a small C project",
        tools: &["make", "cc"],
        files: &[
            ("Makefile", C_MAKEFILE),
            (
                "calc.h",
                "long add(long, long);\nlong mul(long, long);\nlong fact(int);\n",
            ),
            (
                "add.c",
                "#include \"calc.h\"\nlong add(long a, long b) { return a + b; }\n",
            ),
            (
                "mul.c",
                "#include \"calc.h\"\nlong mul(long a, long b) { return a * b; }\n",
            ),
            (
                "fact.c",
                "#include \"calc.h\"\nlong fact(int n) { return n <= 1 ? 1 : mul(n, fact(n - 1)); }\n",
            ),
            (
                "main.c",
                "#include <stdio.h>\n#include \"calc.h\"\nint main(void) {\n  printf(\"add=%ld mul=%ld fact10=%ld\\n\", add(2, 3), mul(6, 7), fact(10));\n  return 0;\n}\n",
            ),
        ],
        fixture: None,
        script: "make -j2 >/dev/null && ./app",
        check: |ws, out| {
            lines_are(out, &["add=5 mul=42 fact10=3628800"])?;
            file_exists(ws, "fact.o")
        },
    },
    Task {
        name: "cargo-build",
        what: "cargo build --offline, vendored dependency",
        tools: &["cargo"],
        files: &[],
        fixture: Some("rust-vendored"),
        script: "cargo build --offline -q && ./target/debug/wl-itoa 100",
        check: |ws, out| {
            lines_are(out, &["triangle(100) = 5050"])?;
            file_exists(ws, "target/debug/wl-itoa")
        },
    },
    Task {
        name: "cargo-test",
        what: "cargo test --offline, vendored dependency",
        tools: &["cargo"],
        files: &[],
        fixture: Some("rust-vendored"),
        script: "cargo test --offline -q 2>&1",
        check: |_, out| {
            let passed: usize = out
                .lines()
                .filter_map(|l| l.trim().strip_prefix("test result: ok. "))
                .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
                .sum();
            if passed != 3 || out.contains("FAILED") {
                return Err(format!(
                    "expected 3 passing tests, got {passed}: {}",
                    clip(out)
                ));
            }
            Ok(())
        },
    },
    Task {
        name: "rustc-threads",
        what: "rustc of a file using threads, then run it",
        tools: &["rustc"],
        files: &[(
            "main.rs",
            "fn main() {\n    let hs: Vec<_> = (0..4u64).map(|t| std::thread::spawn(move || (t * 250_000 + 1..=(t + 1) * 250_000).sum::<u64>())).collect();\n    let s: u64 = hs.into_iter().map(|h| h.join().unwrap()).sum();\n    println!(\"sum={s}\");\n}\n",
        )],
        fixture: None,
        script: "rustc -O --edition 2021 main.rs -o main && ./main",
        check: |_, out| lines_are(out, &["sum=500000500000"]),
    },
    Task {
        name: "pytest",
        what: "pytest of a small module (5 tests)",
        tools: &["pytest"],
        files: &[
            (
                "calc.py",
                "def add(a, b):\n    return a + b\n\n\ndef div(a, b):\n    return a / b\n",
            ),
            (
                "test_calc.py",
                "import pytest\nimport calc\n\n\n@pytest.mark.parametrize('a,b,c', [(1, 2, 3), (-1, 1, 0), (2, 2, 4)])\ndef test_add(a, b, c):\n    assert calc.add(a, b) == c\n\n\ndef test_div():\n    assert calc.div(9, 3) == 3\n\n\ndef test_div_zero(tmp_path):\n    (tmp_path / 'x').write_text('y')\n    with pytest.raises(ZeroDivisionError):\n        calc.div(1, 0)\n",
            ),
        ],
        fixture: None,
        script: "pytest -q 2>&1",
        check: |_, out| contains_all(out, &["5 passed"]),
    },
    Task {
        name: "python-venv",
        what: "python3 -m venv, pip in it, a script in it",
        tools: &["python3"],
        files: &[(
            "show.py",
            "import sys, os\nprint('in-venv', sys.prefix != sys.base_prefix)\nprint('prefix', os.path.relpath(sys.prefix))\n",
        )],
        fixture: None,
        script: "python3 -m venv venv && venv/bin/python show.py && venv/bin/python -m pip --version | cut -d' ' -f1",
        check: |ws, out| {
            lines_are(out, &["in-venv True", "prefix venv", "pip"])?;
            file_exists(ws, "venv/pyvenv.cfg")
        },
    },
    Task {
        name: "python-multiprocessing",
        what: "multiprocessing Pool and Queue",
        tools: &["python3"],
        files: &[(
            "mp.py",
            "import multiprocessing as mp\n\ndef sq(x):\n    return x * x\n\ndef produce(q):\n    for i in range(100):\n        q.put(i)\n    q.put(None)\n\nif __name__ == '__main__':\n    with mp.Pool(4) as p:\n        print('pool', sum(p.map(sq, range(1000))))\n    q = mp.Queue()\n    pr = mp.Process(target=produce, args=(q,))\n    pr.start()\n    total = 0\n    while (v := q.get()) is not None:\n        total += v\n    pr.join()\n    print('queue', total, pr.exitcode)\n",
        )],
        fixture: None,
        script: "python3 mp.py",
        check: |_, out| lines_are(out, &["pool 332833500", "queue 4950 0"]),
    },
    Task {
        name: "python-shared-memory",
        what: "shared_memory across processes (/dev/shm)",
        tools: &["python3"],
        files: &[(
            "shm.py",
            "from multiprocessing import Process, shared_memory\n\ndef fill(name):\n    s = shared_memory.SharedMemory(name=name)\n    s.buf[:5] = b'hello'\n    s.close()\n\nif __name__ == '__main__':\n    s = shared_memory.SharedMemory(create=True, size=1 << 20)\n    p = Process(target=fill, args=(s.name,))\n    p.start(); p.join()\n    print(bytes(s.buf[:5]).decode(), len(s.buf) >= 1 << 20)\n    s.close(); s.unlink()\n",
        )],
        fixture: None,
        script: "python3 shm.py",
        check: |_, out| lines_are(out, &["hello True"]),
    },
    Task {
        name: "sqlite3-cli",
        what: "sqlite3: create, insert 1000 rows, aggregate",
        tools: &["sqlite3"],
        files: &[],
        fixture: None,
        script: "sqlite3 db.sqlite 'create table t(x integer); with recursive c(x) as (select 1 union all select x + 1 from c where x < 1000) insert into t select x from c;' && sqlite3 db.sqlite 'select count(*), sum(x) from t;'",
        check: |ws, out| {
            lines_are(out, &["1000|500500"])?;
            file_exists(ws, "db.sqlite")
        },
    },
    Task {
        name: "python-sqlite-wal",
        what: "Python sqlite3 in WAL mode, two connections",
        tools: &["python3"],
        files: &[(
            "wal.py",
            "import sqlite3\na = sqlite3.connect('wal.db')\nprint(a.execute('pragma journal_mode=wal').fetchone()[0])\na.execute('create table kv(k text primary key, v int)')\na.executemany('insert into kv values (?, ?)', [(str(i), i) for i in range(500)])\na.commit()\nb = sqlite3.connect('wal.db')\nprint(b.execute('select sum(v) from kv').fetchone()[0])\n",
        )],
        fixture: None,
        script: "python3 wal.py",
        check: |ws, out| {
            lines_are(out, &["wal", "124750"])?;
            file_exists(ws, "wal.db")
        },
    },
    Task {
        name: "node-workers",
        what: "node: worker threads, exec and spawn",
        tools: &["node"],
        files: &[("main.js", NODE_MAIN), ("worker.js", NODE_WORKER)],
        fixture: None,
        script: "node main.js",
        check: |_, out| lines_are(out, &["workers 500000500000", "exec 42", "spawn true 0"]),
    },
    Task {
        name: "npm-pack",
        what: "npm pack of a local package (npm cache in HOME)",
        tools: &["npm"],
        files: &[
            (
                "package.json",
                "{\"name\": \"wl-pack\", \"version\": \"1.2.3\", \"main\": \"index.js\", \"license\": \"MIT\"}\n",
            ),
            ("index.js", "module.exports = 42;\n"),
        ],
        fixture: None,
        script: "NO_UPDATE_NOTIFIER=1 npm pack --offline --silent --no-fund --no-audit && tar -tzf wl-pack-1.2.3.tgz | sort",
        check: |ws, out| {
            lines_are(
                out,
                &[
                    "wl-pack-1.2.3.tgz",
                    "package/index.js",
                    "package/package.json",
                ],
            )?;
            file_exists(ws, "wl-pack-1.2.3.tgz")
        },
    },
    Task {
        name: "git-session",
        what: "git init, commit, branch, merge, tag, clone, worktree, gc",
        tools: &["git"],
        files: &[],
        fixture: None,
        script: GIT_SESSION,
        check: |ws, out| {
            lines_are(out, &["clone 2", "all 3", "merged two", "v1"])?;
            file_is(ws, "wt/b.txt", "three\n")?;
            if !ws.join("wt/.git").is_file() {
                return Err("wt/.git is not a file: no linked worktree".into());
            }
            file_is(ws, "clone/a.txt", "one\ntwo\n")
        },
    },
    Task {
        name: "coreutils-pipeline",
        what: "seq | awk | sort | uniq -c | sha256sum",
        tools: &["awk", "sha256sum"],
        files: &[],
        fixture: None,
        script: "seq 1 100000 | awk '{print $1 % 7}' | sort | uniq -c | sort -k2n | awk '{printf \"%s:%s \", $2, $1} END {print \"\"}'; seq 1 1000 | sha256sum | cut -c1-16",
        check: |_, out| {
            // 100000 = 7 * 14285 + 5: residues 1 to 5 occur once more.
            lines_are(
                out,
                &[
                    "0:14285 1:14286 2:14286 3:14286 4:14286 5:14286 6:14285",
                    "67d4ff71d43921d5",
                ],
            )
        },
    },
    Task {
        name: "tar-roundtrip",
        what: "tar czf and xJf of 200 files, diff -r",
        tools: &["tar", "gzip", "xz", "diff"],
        files: &[],
        fixture: None,
        script: "mkdir src && for i in $(seq 1 200); do echo \"file $i\" > src/f$i.txt; done && tar czf a.tgz src && tar cJf a.txz src && mkdir out1 out2 && tar xzf a.tgz -C out1 && tar xJf a.txz -C out2 && diff -r src out1/src && diff -r src out2/src && tar tzf a.tgz | wc -l && cat out2/src/f137.txt",
        check: |ws, out| {
            lines_are(out, &["201", "file 137"])?;
            file_exists(ws, "a.txz")
        },
    },
    Task {
        name: "ps",
        what: "ps shows the task's shell and its child",
        tools: &["ps", "sleep"],
        files: &[],
        fixture: None,
        // ps only once the child is `sleep` (its name changes at exec), not a fork of bash.
        script: "sleep 31.5 & until read -r c < /proc/$!/comm && [ \"$c\" = sleep ]; do :; done; ps -eo pid=,ppid=,args= > procs; kill $!; echo $$",
        check: |ws, out| {
            let shell = out.trim();
            let procs = std::fs::read_to_string(ws.join("procs")).map_err(|e| e.to_string())?;
            let rows: Vec<Vec<&str>> = procs
                .lines()
                .map(|l| l.split_whitespace().collect())
                .collect();
            let shell_row = rows.iter().any(|r| {
                r.first() == Some(&shell) && r.get(2).is_some_and(|a| a.ends_with("bash"))
            });
            let child_row = rows
                .iter()
                .any(|r| r.get(1) == Some(&shell) && r.get(2..) == Some(&["sleep", "31.5"][..]));
            if shell_row && child_row {
                Ok(())
            } else {
                Err(format!(
                    "ps did not show bash (pid {shell}) and its sleep: {}",
                    clip(&procs)
                ))
            }
        },
    },
    Task {
        name: "ssh-keygen",
        what: "ssh-keygen: ed25519 key, fingerprint, sign and verify",
        tools: &["ssh-keygen"],
        files: &[("msg", "a message\n")],
        fixture: None,
        script: "ssh-keygen -q -t ed25519 -N '' -C wl -f key && ssh-keygen -l -f key.pub | awk '{print $NF}' && ssh-keygen -q -Y sign -f key -n file msg && echo \"wl $(cut -d' ' -f1,2 key.pub)\" > allowed && ssh-keygen -Y verify -f allowed -I wl -n file -s msg.sig < msg && stat -c %a key",
        check: |ws, out| {
            let l: Vec<&str> = out.lines().map(str::trim).collect();
            match l.as_slice() {
                ["(ED25519)", good, "600"]
                    if good.starts_with("Good \"file\" signature for wl with ED25519 key") => {}
                _ => return Err(format!("unexpected output {l:?}")),
            }
            file_exists(ws, "msg.sig")
        },
    },
    Task {
        name: "openssl",
        what: "openssl: digest, EC self-signed certificate, verify",
        tools: &["openssl"],
        files: &[],
        fixture: None,
        script: "printf abc | openssl dgst -sha256 -r | cut -d' ' -f1 && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout k.pem -out c.pem -days 1 -subj /CN=wl.test 2>/dev/null && openssl x509 -in c.pem -noout -subject && openssl verify -CAfile c.pem c.pem",
        check: |ws, out| {
            lines_are(
                out,
                &[
                    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                    "subject=CN = wl.test",
                    "c.pem: OK",
                ],
            )?;
            file_exists(ws, "k.pem")
        },
    },
    Task {
        name: "user-identity",
        what: "id, whoami and getent agree on a named user",
        tools: &["id", "getent", "whoami"],
        files: &[],
        fixture: None,
        script: "id -un; whoami; getent passwd \"$(id -u)\" | cut -d: -f1; getent group \"$(id -g)\" | cut -d: -f1",
        check: |_, out| {
            let l: Vec<&str> = out.lines().map(str::trim).collect();
            match l.as_slice() {
                [a, b, c, g] if !a.is_empty() && a == b && b == c && !g.is_empty() => Ok(()),
                _ => Err(format!("names disagree or are missing: {l:?}")),
            }
        },
    },
    Task {
        name: "locale-timezone",
        what: "time zone data, UTF-8 locale",
        tools: &["date", "python3"],
        files: &[],
        fixture: None,
        script: "TZ=Europe/Paris date -d @0 +%H:%M; TZ=America/New_York date -d @0 +%F; LC_ALL=C.UTF-8 python3 -c 'import locale; print(\"ß\".upper(), locale.getpreferredencoding())'",
        check: |_, out| lines_are(out, &["01:00", "1969-12-31", "SS UTF-8"]),
    },
    Task {
        name: "pty",
        what: "script(1) in a private pseudo-terminal",
        tools: &["script"],
        files: &[],
        fixture: None,
        script: "script -qec 'tty; test -t 0 && echo is-a-tty' /dev/null | tr -d '\\r'",
        check: |_, out| {
            let l: Vec<&str> = out.lines().map(str::trim).collect();
            match l.as_slice() {
                [tty, "is-a-tty"] if tty.starts_with("/dev/pts/") => Ok(()),
                _ => Err(format!("expected a /dev/pts terminal, got {l:?}")),
            }
        },
    },
    Task {
        name: "dev-nodes",
        what: "/dev/urandom, zero, full, null",
        tools: &["head", "od"],
        files: &[],
        fixture: None,
        script: "head -c 32 /dev/urandom | wc -c; head -c 4 /dev/zero | od -An -tx1 | tr -d ' '; if echo x > /dev/full 2>/dev/null; then echo full-accepted; else echo full-refused; fi; echo gone > /dev/null && echo null-ok",
        check: |_, out| lines_are(out, &["32", "00000000", "full-refused", "null-ok"]),
    },
    Task {
        name: "diff-patch",
        what: "diff -u, then patch applies it",
        tools: &["diff", "patch", "cmp"],
        files: &[
            ("a.txt", "one\ntwo\nthree\n"),
            ("b.txt", "one\n2\nthree\nfour\n"),
        ],
        fixture: None,
        script: "diff -u a.txt b.txt > p.diff || true; patch -s a.txt < p.diff && cmp a.txt b.txt && grep -c '^[-+][^-+]' p.diff",
        check: |ws, out| {
            lines_are(out, &["3"])?;
            file_is(ws, "a.txt", "one\n2\nthree\nfour\n")
        },
    },
    Task {
        name: "find-grep-sed",
        what: "find, grep -r and sed -i over a tree",
        tools: &["find", "grep", "sed"],
        files: &[
            ("src/a/one.txt", "TODO: first\nkeep\n"),
            ("src/a/two.md", "nothing here\n"),
            ("src/b/three.txt", "TODO: second\nTODO: third\n"),
        ],
        fixture: None,
        script: "grep -rl TODO src | sort; find src -name '*.txt' | wc -l; sed -i 's/TODO/DONE/' src/b/three.txt && grep -rc TODO src | sort",
        check: |ws, out| {
            lines_are(
                out,
                &[
                    "src/a/one.txt",
                    "src/b/three.txt",
                    "2",
                    "src/a/one.txt:1",
                    "src/a/two.md:0",
                    "src/b/three.txt:0",
                ],
            )?;
            file_is(ws, "src/b/three.txt", "DONE: second\nDONE: third\n")
        },
    },
];

/// The git session, with a fixed identity and no user or system configuration (the same on
/// both sides): every step's result is printed or left in the workspace for the check.
const GIT_SESSION: &str = concat!(
    "export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 ",
    "GIT_AUTHOR_NAME=wl GIT_AUTHOR_EMAIL=wl@example.invalid ",
    "GIT_COMMITTER_NAME=wl GIT_COMMITTER_EMAIL=wl@example.invalid\n",
    "git init -q -b main repo && cd repo\n",
    "echo one > a.txt && git add a.txt && git commit -qm one\n",
    "git checkout -qb feature && echo two >> a.txt && git commit -qam two\n",
    "git checkout -q main && git merge -q --ff-only feature\n",
    "git tag v1 && echo stash-me >> a.txt && git stash -q && git stash pop -q && git checkout -q -- a.txt\n",
    "cd .. && git clone -q repo clone\n",
    "echo \"clone $(git -C clone rev-list --count HEAD)\"\n",
    "git -C repo worktree add -q -b wt-branch ../wt\n",
    "echo three > wt/b.txt && git -C wt add b.txt && git -C wt commit -qm three\n",
    "echo \"all $(git -C repo rev-list --count --all)\"\n",
    "echo \"merged $(git -C repo log -1 --format=%s main)\"\n",
    "git -C repo gc -q && git -C repo tag --list\n",
);
