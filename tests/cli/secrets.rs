//! Secrets end to end: the censor on a sandboxed program's output, `[env] secrets` from the
//! vault, and the vault refusing tampered files and surviving a crash mid-write. Each runs as
//! root and as uid 65534.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{Scratch, USERS, User, exec_command, sandbox_bin};

const VALUE: &str = "Zx9-vault-value-7Qp";
const AWS_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
const PEM_BODY: &str = "MIIEowIBAAKCAQEAsecretbody";

/// `missy-sandbox vault ARGS` as `user` with the vault in `dir`, `stdin` fed in.
fn vault(user: User, dir: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = user
        .command(&sandbox_bin())
        .arg("vault")
        .args(args)
        .arg("--vault-dir")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn vault");
    // A command that refuses before reading its input (a tampered vault) may exit first: the
    // broken pipe is then expected, not a failure of the test.
    if let Err(e) = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
    {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
    }
    child.wait_with_output().expect("vault output")
}

fn ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A vault (owned by `user`) holding `app` = VALUE, and a profile that injects it.
fn setup(user: User, scratch: &Scratch) -> (PathBuf, PathBuf) {
    let dir = scratch.path().join("vault");
    ok(&vault(user, &dir, &["init"], ""), "vault init");
    ok(
        &vault(user, &dir, &["set", "app"], &format!("{VALUE}\n")),
        "vault set",
    );
    let profile = scratch.file(
        "secret.toml",
        "extends = \"strict\"\n[env]\nsecrets = { APP_SECRET = \"vault://app\" }\n",
        user,
    );
    (dir, profile)
}

/// Prints a fake AWS key, a PEM block and the vault value (plain, base64, URL-encoded), on
/// stdout and stderr, and says whether the value arrived.
const SCRIPT: &str = r#"
echo "aws $AWS"
printf '%s\n' '-----BEGIN RSA PRIVATE KEY-----' "$PEM" '-----END RSA PRIVATE KEY-----'
echo "plain $APP_SECRET" >&2
printf '%s' "$APP_SECRET" | base64
test "$APP_SECRET" = "$EXPECT" && echo INJECTED
"#;

#[test]
fn the_caller_sees_placeholders_for_keys_pem_blocks_and_vault_values() {
    for user in USERS {
        let scratch = Scratch::new(user);
        let (dir, profile) = setup(user, &scratch);
        // Positive control: the same script unsandboxed prints every secret.
        let raw = user
            .command(Path::new("/bin/sh"))
            .args(["-c", SCRIPT])
            .env("AWS", AWS_KEY)
            .env("PEM", PEM_BODY)
            .env("APP_SECRET", VALUE)
            .env("EXPECT", VALUE)
            .output()
            .expect("sh");
        let raw_all = format!(
            "{}{}",
            String::from_utf8_lossy(&raw.stdout),
            String::from_utf8_lossy(&raw.stderr)
        );
        let b64 = "Wng5LXZhdWx0LXZhbHVlLTdRcA";
        for secret in [AWS_KEY, PEM_BODY, VALUE, b64] {
            assert!(
                raw_all.contains(secret),
                "control lacks {secret}: {raw_all}"
            );
        }
        let out = exec_command(user, &scratch, profile.to_str().expect("utf-8"), &[])
            .arg("--vault-dir")
            .arg(&dir)
            .args(["--env", &format!("AWS={AWS_KEY}")])
            .args(["--env", &format!("PEM={PEM_BODY}")])
            .args(["--env", &format!("EXPECT={VALUE}")])
            .args(["--", "/bin/sh", "-c", SCRIPT])
            .stdin(Stdio::null())
            .output()
            .expect("exec");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{user:?}: {stdout} {stderr}");
        assert!(
            stdout.contains("INJECTED"),
            "{user:?}: the value must reach the child: {stdout}"
        );
        for secret in [AWS_KEY, PEM_BODY, VALUE, b64] {
            assert!(
                !stdout.contains(secret) && !stderr.contains(secret),
                "{user:?}: {secret} leaked: {stdout} / {stderr}"
            );
        }
        assert!(stdout.contains("aws ***"), "{user:?}: {stdout}");
        assert_eq!(stdout.matches("***").count(), 3, "{user:?}: {stdout}");
        assert!(stderr.contains("plain ***"), "{user:?}: {stderr}");
    }
}

#[test]
fn every_byte_is_relayed_and_the_status_kept() {
    for user in USERS {
        let scratch = Scratch::new(user);
        let out = exec_command(user, &scratch, "strict", &["--", "/bin/sh", "-c"])
            .arg("seq 1 200000; printf tail; exit 7")
            .stdin(Stdio::null())
            .output()
            .expect("exec");
        assert_eq!(out.status.code(), Some(7), "{user:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        // 200000 lines and the unterminated `tail`.
        assert_eq!(stdout.lines().count(), 200_001, "{user:?}");
        assert!(stdout.ends_with("200000\ntail"), "{user:?}");
    }
}

#[test]
fn a_missing_vault_name_fails_before_anything_runs() {
    for user in USERS {
        let scratch = Scratch::new(user);
        let (dir, _) = setup(user, &scratch);
        let profile = scratch.file(
            "missing.toml",
            "extends = \"strict\"\n[env]\nsecrets = { T = \"vault://nope\" }\n",
            user,
        );
        let marker = scratch.path().join("ran");
        let out = exec_command(user, &scratch, profile.to_str().expect("utf-8"), &[])
            .arg("--vault-dir")
            .arg(&dir)
            .args(["--", "/bin/touch"])
            .arg(&marker)
            .output()
            .expect("exec");
        assert_eq!(out.status.code(), Some(2), "{user:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("no secret named `nope`"),
            "{user:?}: {stderr}"
        );
        assert!(!marker.exists(), "{user:?}: the command ran");
    }
}

#[test]
fn a_tampered_truncated_or_wrongly_keyed_vault_is_refused_and_left_unchanged() {
    for user in USERS {
        let scratch = Scratch::new(user);
        let (dir, _) = setup(user, &scratch);
        let file = dir.join("vault.json");
        let good = std::fs::read_to_string(&file).expect("read");
        // Flip one character of the entry's ciphertext.
        let entry = good.find("\"app\"").expect("entry");
        let at = entry
            + good[entry..]
                .find("\"ciphertext\": \"")
                .expect("ciphertext")
            + 20;
        let mut bytes = good.clone().into_bytes();
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).expect("utf-8");
        let truncated = good[..good.len() / 2].to_string();
        for (what, content, message) in [
            ("tampered", &tampered, "tampered"),
            ("truncated", &truncated, "damaged"),
        ] {
            std::fs::write(&file, content).expect("write");
            for args in [
                &["get", "app"][..],
                &["set", "other"],
                &["list"],
                &["rotate-key"],
            ] {
                let out = vault(user, &dir, args, "new-value-123\n");
                assert_eq!(out.status.code(), Some(1), "{user:?} {what} {args:?}");
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(
                    stderr.contains(message),
                    "{user:?} {what} {args:?}: {stderr}"
                );
                assert_eq!(&std::fs::read_to_string(&file).expect("read"), content);
            }
        }
        std::fs::write(&file, &good).expect("restore");
        ok(
            &vault(user, &dir, &["get", "app"], ""),
            "restored vault opens",
        );
        std::fs::write(dir.join("vault.key"), [7u8; 32]).expect("wrong key");
        let out = vault(user, &dir, &["get", "app"], "");
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("does not open this vault"));
        assert_eq!(std::fs::read_to_string(&file).expect("read"), good);
    }
}

#[test]
fn a_vault_set_killed_mid_write_leaves_a_readable_vault() {
    for user in USERS {
        let scratch = Scratch::new(user);
        let (dir, _) = setup(user, &scratch);
        let marker = scratch.path().join("paused");
        let mut child = user
            .command(&sandbox_bin())
            .args(["vault", "set", "second", "--vault-dir"])
            .arg(&dir)
            .env("MISSY_VAULT_TEST_PAUSE", &marker)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"second-value-42\n")
            .expect("write");
        let start = Instant::now();
        while !marker.exists() {
            assert!(start.elapsed() < Duration::from_secs(20), "never paused");
            std::thread::sleep(Duration::from_millis(20));
        }
        // The temporary file is half written: that is where the crash lands.
        let partial = std::fs::read_dir(&dir)
            .expect("list")
            .flatten()
            .any(|e| e.file_name().to_string_lossy().contains(".tmp."));
        assert!(partial, "{user:?}: the write should be in progress");
        child.kill().expect("SIGKILL");
        let _ = child.wait();
        let out = vault(user, &dir, &["get", "app"], "");
        ok(&out, "get after the crash");
        assert_eq!(String::from_utf8_lossy(&out.stdout), VALUE);
        let list = vault(user, &dir, &["list"], "");
        assert_eq!(String::from_utf8_lossy(&list.stdout), "app\n");
        ok(
            &vault(user, &dir, &["set", "third"], "v-3333333\n"),
            "set after the crash",
        );
    }
}

#[test]
fn a_value_is_never_taken_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(sandbox_bin())
        .args(["vault", "set", "name", "the-value", "--vault-dir"])
        .arg(dir.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}

fn winsize(rows: u16, cols: u16) -> nix::pty::Winsize {
    nix::pty::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// Everything read from `master` so far, collected by a thread.
fn collect(master: std::fs::File) -> std::sync::Arc<std::sync::Mutex<String>> {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = std::sync::Arc::clone(&seen);
    std::thread::spawn(move || {
        use std::io::Read;
        let mut master = master;
        let mut buf = [0u8; 4096];
        // Ends with EIO once the last slave is closed.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    seen
}

fn wait_for(seen: &std::sync::Mutex<String>, text: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if seen.lock().unwrap().contains(text) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn a_resized_terminal_is_passed_on_to_the_sandbox() {
    use std::os::unix::process::CommandExt;
    // The workload's stdout is the relay's pseudo-terminal: `stty size <&1` reads its size, at
    // start and again when SIGWINCH arrives.
    let script = "stty size <&1; trap 'echo resized; stty size <&1; exit 0' WINCH; echo ready; \
                  i=0; while [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done; echo no-signal";
    for user in USERS {
        let scratch = Scratch::new(user);
        // The supervisor's terminal: a pseudo-terminal of ours, its controlling terminal.
        let pty = nix::pty::openpty(Some(&winsize(24, 80)), None).expect("openpty");
        let slave = std::fs::File::from(pty.slave);
        let mut cmd = exec_command(user, &scratch, "strict", &["--", "/bin/sh", "-c", script]);
        cmd.stdin(slave.try_clone().unwrap())
            .stdout(slave.try_clone().unwrap())
            .stderr(slave.try_clone().unwrap());
        // SAFETY: setsid and ioctl are async-signal-safe; nothing else runs between fork and
        // exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().expect("exec");
        drop(slave);
        let master = std::fs::File::from(pty.master);
        let resize = master.try_clone().unwrap();
        let seen = collect(master);
        assert!(
            wait_for(&seen, "ready"),
            "{user:?}: {}",
            seen.lock().unwrap()
        );
        assert!(
            seen.lock().unwrap().contains("24 80"),
            "{user:?}: the size at start: {}",
            seen.lock().unwrap()
        );
        // Resizing our terminal signals its foreground process group: the supervisor.
        // SAFETY: TIOCSWINSZ reads one `winsize` from the live struct we pass.
        let rc = unsafe {
            libc::ioctl(
                std::os::fd::AsRawFd::as_raw_fd(&resize),
                libc::TIOCSWINSZ,
                &winsize(40, 100),
            )
        };
        assert_eq!(rc, 0);
        assert!(
            wait_for(&seen, "resized"),
            "{user:?}: no SIGWINCH reached the workload: {}",
            seen.lock().unwrap()
        );
        let status = child.wait().expect("wait");
        let text = seen.lock().unwrap().clone();
        assert!(
            text.split("resized")
                .nth(1)
                .is_some_and(|after| after.contains("40 100")),
            "{user:?}: the new size was not passed on: {text}"
        );
        assert_eq!(status.code(), Some(0), "{user:?}: {text}");
    }
}
