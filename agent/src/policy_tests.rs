use super::*;
use crate::shell::ParseErrorKind;

fn policy() -> ShellPolicy {
    ShellPolicy::new([
        "ls", "cat", "echo", "export", "grep", "cargo", "git", "env", "timeout", "nice", "sudo",
        "find", "xargs", "bash", "python3", "nohup", "command",
    ])
}

fn ok(line: &str) -> Verdict {
    policy()
        .check(line)
        .unwrap_or_else(|e| panic!("{line:?} refused: {e}"))
}

fn refused(line: &str) -> PolicyError {
    match policy().check(line) {
        Err(e) => e,
        Ok(v) => panic!("{line:?} allowed: {v:?}"),
    }
}

fn not_allowed(line: &str, program: &str) {
    match refused(line) {
        PolicyError::NotAllowed { program: p, .. } => assert_eq!(p, program, "{line:?}"),
        other => panic!("{line:?}: expected NotAllowed({program}), got {other}"),
    }
}

#[test]
fn allowlisted_commands_pass_and_report_their_programs() {
    let v = ok("cargo test --workspace && git status | grep -v x; ls -l");
    let programs: Vec<_> = v.commands.iter().map(|c| c.programs.clone()).collect();
    assert_eq!(programs, [["cargo"], ["git"], ["grep"], ["ls"]]);
    assert_eq!(v.commands[0].argv, ["cargo", "test", "--workspace"]);
    assert!(v.warnings.is_empty(), "{:?}", v.warnings);
}

#[test]
fn every_command_of_a_compound_line_is_checked() {
    not_allowed("ls && rm -rf /", "rm");
    not_allowed("ls || rm -rf /", "rm");
    not_allowed("ls; rm -rf /", "rm");
    not_allowed("ls | rm -rf /", "rm");
    not_allowed("ls & rm -rf /", "rm");
    not_allowed("ls\nrm -rf /", "rm");
    not_allowed("ls |& rm x", "rm");
}

#[test]
fn quoting_tricks_resolve_to_the_real_name() {
    for line in [
        "r''m -rf /",
        "\"r\"m -rf /",
        "'rm' -rf /",
        r"r\m -rf /",
        r"$'\x72m' -rf /",
        r"$'\162m' -rf /",
        r"$'\u0072\u006d' x",
        "r\\\nm -rf /",
        "\"r\\\nm\" x",
    ] {
        not_allowed(line, "rm");
    }
}

#[test]
fn semicolons_inside_quotes_do_not_split() {
    let v = ok("echo 'a; rm -rf /' \"b && rm x\" c\\;rm");
    assert_eq!(v.commands.len(), 1);
    assert_eq!(
        v.commands[0].argv,
        ["echo", "a; rm -rf /", "b && rm x", "c;rm"]
    );
}

#[test]
fn substitutions_anywhere_are_refused() {
    for (line, kind) in [
        ("echo $(rm -rf /)", ParseErrorKind::CommandSubstitution),
        ("echo \"$(rm -rf /)\"", ParseErrorKind::CommandSubstitution),
        (
            "echo \"ok $(echo \"$(rm x)\")\"",
            ParseErrorKind::CommandSubstitution,
        ),
        ("echo `rm -rf /`", ParseErrorKind::Backquote),
        ("echo \"`rm -rf /`\"", ParseErrorKind::Backquote),
        ("cat <(rm x)", ParseErrorKind::ProcessSubstitution),
        ("ls > >(rm x)", ParseErrorKind::ProcessSubstitution),
        ("bash <<EOF\nrm -rf /\nEOF", ParseErrorKind::HereDocument),
        ("bash <<< 'rm -rf /'", ParseErrorKind::HereString),
        ("{ rm -rf /; }", ParseErrorKind::BraceGroup),
        ("(rm -rf /)", ParseErrorKind::Subshell),
    ] {
        match refused(line) {
            PolicyError::Parse(e) => assert_eq!(e.kind, kind, "{line:?}"),
            other => panic!("{line:?}: {other}"),
        }
    }
}

#[test]
fn ifs_and_other_expansions_cannot_name_the_program() {
    for (line, what) in [
        ("rm${IFS}-rf${IFS}/", Dynamic::Parameter),
        ("ls${IFS}-la", Dynamic::Parameter),
        ("$CMD -rf /", Dynamic::Parameter),
        ("\"$CMD\" x", Dynamic::Parameter),
        ("{rm,-rf,/}", Dynamic::Brace),
        ("/usr/bin/r? x", Dynamic::Glob),
        ("l* x", Dynamic::Glob),
        ("~/bin/ls", Dynamic::Tilde),
        ("env $OPTS ls", Dynamic::Parameter),
        ("timeout $T ls", Dynamic::Parameter),
        ("find . $ARGS", Dynamic::Parameter),
        ("find . -name *.rs", Dynamic::Glob),
    ] {
        match refused(line) {
            PolicyError::Dynamic { what: w, .. } => assert_eq!(w, what, "{line:?}"),
            other => panic!("{line:?}: {other}"),
        }
    }
    // As arguments of an ordinary program they are fine: they cannot change the program.
    let v = ok("echo a${IFS}b $HOME ~ *.rs {a,b}");
    assert_eq!(v.commands[0].programs, ["echo"]);
}

#[test]
fn paths_never_match_allowlisted_names() {
    for line in [
        "/usr/bin/ls",
        "./ls",
        "../bin/ls -l",
        "bin/ls",
        "/bin/rm -rf /",
    ] {
        assert!(
            matches!(refused(line), PolicyError::PathQualified { .. }),
            "{line:?}"
        );
    }
}

#[test]
fn unicode_look_alikes_never_match() {
    for line in [
        "l\u{455} -l",          // Cyrillic dze
        "\u{441}at x",          // Cyrillic es
        "\u{FF4C}\u{FF53}",     // fullwidth ls
        "l\u{200B}s",           // zero-width space
        "ls\u{00A0}-l",         // NBSP is part of the word in sh
        "\u{202E}sl",           // right-to-left override
        "ca\u{0301}t",          // combining accent
        "e\u{0441}ho hi; rm x", // refused before the second command is looked at
        r"$'\xd1\x95'l",        // the look-alike built with ANSI-C escapes
        r"$'\xff'ls",           // invalid UTF-8
        "ls\u{0007}",           // control character
    ] {
        assert!(
            matches!(refused(line), PolicyError::NonAsciiProgram { .. }),
            "{line:?}: {}",
            refused(line)
        );
    }
}

#[test]
fn names_are_exact() {
    not_allowed("LS", "LS");
    not_allowed("ls2", "ls2");
    not_allowed("'' ls", "");
}

#[test]
fn assignments_are_skipped_but_dangerous_ones_refused() {
    let v = ok("FOO=1 BAR=\"a b\" cargo build");
    assert_eq!(v.commands[0].programs, ["cargo"]);
    assert_eq!(v.commands[0].argv, ["cargo", "build"]);
    assert_eq!(ok("FOO=1").commands[0].programs, Vec::<String>::new());
    not_allowed("FOO=1 rm x", "rm");
    not_allowed("\"FOO=1\" ls", "FOO=1");
    for line in [
        "PATH=. ls",
        "LD_PRELOAD=/tmp/x.so ls",
        "IFS=/ ls",
        "BASH_ENV=/tmp/x bash -c true",
        "env PATH=/tmp ls",
        "env -i LD_LIBRARY_PATH=/tmp ls",
        "env 'BASH_FUNC_ls%%=() { rm -rf /; }' bash -c ls",
        "export PATH=/tmp; ls",
        "export A=1 LD_PRELOAD=/x.so",
    ] {
        assert!(
            matches!(refused(line), PolicyError::ForbiddenAssignment { .. }),
            "{line:?}: {}",
            refused(line)
        );
    }
}

#[test]
fn wrappers_are_followed_to_the_program_they_run() {
    let cases: &[(&str, &[&str])] = &[
        ("env ls", &["env", "ls"]),
        ("env -i -- FOO=1 ls", &["env", "ls"]),
        ("env -u HOME -C /tmp ls", &["env", "ls"]),
        ("env --unset=HOME ls", &["env", "ls"]),
        ("env", &["env"]),
        ("timeout 5 cargo test", &["timeout", "cargo"]),
        ("timeout -s KILL -k 1 5 cargo test", &["timeout", "cargo"]),
        ("timeout --signal=TERM 5s git fetch", &["timeout", "git"]),
        ("nice -n 5 cargo build", &["nice", "cargo"]),
        ("nice -5 cargo build", &["nice", "cargo"]),
        ("nice -n5 ls", &["nice", "ls"]),
        ("sudo -u root -E ls", &["sudo", "ls"]),
        ("sudo -EHu root ls", &["sudo", "ls"]),
        ("sudo --user=root ls", &["sudo", "ls"]),
        ("nohup env timeout 3 ls", &["nohup", "env", "timeout", "ls"]),
        ("command -v ls", &["command", "ls"]),
    ];
    for (line, programs) in cases {
        assert_eq!(ok(line).commands[0].programs, *programs, "{line:?}");
    }
    not_allowed("env rm -rf /", "rm");
    not_allowed("env -i FOO=1 rm x", "rm");
    not_allowed("timeout 5 rm x", "rm");
    not_allowed("nice -n 1 rm x", "rm");
    not_allowed("sudo rm -rf /", "rm");
    not_allowed("sudo -u root rm x", "rm");
    not_allowed("nohup rm x", "rm");
    not_allowed("nohup env timeout 3 rm x", "rm");
    not_allowed("env -- rm x", "rm");
    not_allowed("command rm x", "rm");
    not_allowed("exec rm x", "exec"); // exec itself is not allowlisted here
}

#[test]
fn unknown_wrapper_options_are_refused() {
    for line in [
        "env -S 'rm -rf /'",
        "env --split-string='rm x'",
        "env --block-signal ls",
        "timeout --bogus 5 ls",
        "sudo -X ls",
    ] {
        assert!(
            matches!(refused(line), PolicyError::WrapperOption { .. }),
            "{line:?}: {}",
            refused(line)
        );
    }
}

#[test]
fn find_exec_programs_are_checked() {
    let v = ok("find . -name '*.rs' -exec grep -l TODO {} +");
    assert_eq!(v.commands[0].programs, ["find", "grep"]);
    assert!(v.warnings.iter().any(|w| w.program == "find"));
    not_allowed("find . -exec rm {} ';'", "rm");
    not_allowed(r"find . -execdir rm {} \;", "rm");
    not_allowed(r"find . -ok ls {} \; -exec rm {} +", "rm");
    // No -exec: no warning.
    assert!(ok("find . -name x").warnings.is_empty());
}

#[test]
fn launchers_are_allowed_with_a_warning() {
    for (line, program) in [
        ("bash -c 'rm -rf /'", "bash"),
        ("python3 -c 'import os'", "python3"),
        ("xargs rm < list", "xargs"),
        ("env ls", "env"),
        ("timeout 1 ls", "timeout"),
        ("nice ls", "nice"),
        ("sudo ls", "sudo"),
        ("nohup ls", "nohup"),
        ("ls | xargs cat", "xargs"),
    ] {
        let v = ok(line);
        assert!(
            v.warnings
                .iter()
                .any(|w| w.program == program && matches!(w.kind, WarningKind::Launcher(_))),
            "{line:?}: {:?}",
            v.warnings
        );
    }
    assert_eq!(launcher("python3.12"), launcher("python"));
    assert!(launcher("perl5.36").is_some());
    assert!(launcher("pythonista").is_none());
    assert!(launcher("eval").is_some());
    assert!(launcher("ls").is_none());
}

#[test]
fn background_and_file_writes_are_warnings() {
    let v = ok("cargo build > build.log 2>&1 & ls >> listing; cat < in");
    let shown: Vec<_> = v.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "`cargo` runs in the background (`&`)",
            "`cargo` writes its output to the file `build.log`",
            "`ls` writes its output to the file `listing`",
        ]
    );
    assert_eq!(v.warnings[2].command, 1);
    // A bare redirection truncates a file; it has no program but is still reported.
    let v = ok("> out");
    assert_eq!(
        v.warnings[0].to_string(),
        "`(no program)` writes its output to the file `out`"
    );
}

#[test]
fn empty_lines_are_refused() {
    assert_eq!(refused(""), PolicyError::Empty);
    assert_eq!(refused("  # just a comment\n"), PolicyError::Empty);
}

#[test]
fn errors_name_what_and_where() {
    assert_eq!(
        refused("ls && rm -rf /").to_string(),
        "program `rm` (byte 6) is not on the allowlist"
    );
    assert_eq!(
        refused("echo \"$(id)\"").to_string(),
        "the command line cannot be checked: command substitution `$(...)` at byte 6"
    );
    assert_eq!(
        refused("rm${IFS}x").to_string(),
        "`rm${IFS}x` (byte 0) has a parameter expansion, so the program it runs is unknown until run time"
    );
}

#[test]
fn long_wrapper_chains_do_not_overflow() {
    let line = format!("{}ls", "nohup ".repeat(20_000));
    assert_eq!(ok(&line).commands[0].programs.len(), 20_001);
    let line = format!("find{}", " -exec find".repeat(20_000));
    let _ = policy().check(&line);
}

proptest::proptest! {
    #[test]
    fn check_never_panics(input in proptest::prelude::any::<String>()) {
        let _ = policy().check(&input);
    }
}
