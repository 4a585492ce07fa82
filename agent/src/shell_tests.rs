use proptest::prelude::*;

use super::*;

fn words(input: &str) -> Vec<Vec<String>> {
    parse(input)
        .unwrap_or_else(|e| panic!("{input:?}: {e}"))
        .into_iter()
        .map(|c| c.words.into_iter().map(|w| w.value).collect())
        .collect()
}

fn refused(input: &str) -> ParseErrorKind {
    match parse(input) {
        Err(e) => e.kind,
        Ok(c) => panic!("{input:?} parsed: {c:?}"),
    }
}

#[test]
fn quotes_and_escapes_are_removed_as_sh_does() {
    assert_eq!(words("r''m -rf x"), [["rm", "-rf", "x"]]);
    assert_eq!(words(r#""r"m"#), [["rm"]]);
    assert_eq!(words(r"r\m"), [["rm"]]);
    assert_eq!(
        words(r#"echo "a \"b\" \$c \d""#),
        [["echo", r#"a "b" $c \d"#]]
    );
    assert_eq!(words("echo 'a \\ b'"), [["echo", "a \\ b"]]);
    assert_eq!(words("echo ''"), [["echo", ""]]);
}

#[test]
fn ansi_c_quoting_is_decoded() {
    assert_eq!(words(r"$'\x72m' -rf /"), [["rm", "-rf", "/"]]);
    assert_eq!(words(r"$'\162\155'"), [["rm"]]);
    assert_eq!(words(r"$'\u0072m'"), [["rm"]]);
    assert_eq!(words(r"$'a\tb\'c'"), [["a\tb'c"]]);
    assert_eq!(words(r"$'\cA'"), [["\u{1}"]]);
    assert_eq!(words(r"$'\q'"), [[r"\q"]]);
    // Bytes that form UTF-8 become the character: Cyrillic р (U+0440).
    assert_eq!(words(r"$'\xd1\x80m'"), [["рm"]]);
    assert_eq!(refused(r"$'rm\x00 x'"), ParseErrorKind::Nul);
    assert_eq!(refused(r"$'\0'"), ParseErrorKind::Nul);
    // Inside double quotes `$'` is literal.
    assert_eq!(words(r#""$'x'""#), [["$'x'"]]);
}

#[test]
fn escaped_newlines_join_lines() {
    assert_eq!(words("r\\\nm -rf x"), [["rm", "-rf", "x"]]);
    assert_eq!(words("ls \\\n -l"), [["ls", "-l"]]);
    assert_eq!(words("\"r\\\nm\""), [["rm"]]);
    // Inside single quotes it stays.
    assert_eq!(words("'a\\\nb'"), [["a\\\nb"]]);
}

#[test]
fn compound_commands_split_on_every_operator() {
    let cmds = parse("a && b || c; d | e & f\ng |& h").unwrap();
    let names: Vec<_> = cmds.iter().map(|c| c.words[0].value.as_str()).collect();
    assert_eq!(names, ["a", "b", "c", "d", "e", "f", "g", "h"]);
    let connectors: Vec<_> = cmds.iter().map(|c| c.connector).collect();
    use Connector::*;
    assert_eq!(
        connectors,
        [
            Some(And),
            Some(Or),
            Some(Sequence),
            Some(Pipe),
            Some(Background),
            Some(Sequence),
            Some(Pipe),
            None
        ]
    );
}

#[test]
fn operators_inside_quotes_do_not_split() {
    assert_eq!(words("echo 'a; rm -rf /'"), [["echo", "a; rm -rf /"]]);
    assert_eq!(words("echo \"a && b | c\""), [["echo", "a && b | c"]]);
    assert_eq!(words(r"echo a\;rm"), [["echo", "a;rm"]]);
    assert_eq!(
        words(r"find . -exec rm {} \;"),
        [["find", ".", "-exec", "rm", "{}", ";"]]
    );
}

#[test]
fn comments_and_blank_lines() {
    assert_eq!(words("ls # ; rm -rf /"), [["ls"]]);
    assert_eq!(words("echo a#b"), [["echo", "a#b"]]);
    assert_eq!(words("\n\nls\n\n# only\npwd\n"), [["ls"], ["pwd"]]);
    assert_eq!(words("ls;#x\npwd"), [["ls"], ["pwd"]]);
    assert!(parse("").unwrap().is_empty());
    assert!(parse("   # nothing").unwrap().is_empty());
}

#[test]
fn line_breaks_may_follow_and_or_pipe() {
    assert_eq!(words("a &&\n\n b"), [["a"], ["b"]]);
    assert_eq!(refused("a &&"), ParseErrorKind::IncompleteCommand("&&"));
    assert_eq!(refused("a |"), ParseErrorKind::IncompleteCommand("|"));
    assert_eq!(refused("&& a"), ParseErrorKind::MissingCommand("&&"));
    assert_eq!(refused("a ;; b"), ParseErrorKind::UnsupportedOperator(";;"));
    assert_eq!(refused("; a"), ParseErrorKind::MissingCommand(";"));
    assert_eq!(refused("a\n&& b"), ParseErrorKind::MissingCommand("&&"));
}

#[test]
fn hidden_commands_are_refused_with_their_position() {
    use ParseErrorKind::*;
    let cases: &[(&str, ParseErrorKind, usize)] = &[
        ("echo $(rm -rf /)", CommandSubstitution, 5),
        ("echo \"x $(rm -rf /) y\"", CommandSubstitution, 8),
        ("echo \"$(echo \"$(id)\")\"", CommandSubstitution, 6),
        ("echo `id`", Backquote, 5),
        ("echo \"`id`\"", Backquote, 6),
        ("echo $((1+2))", ArithmeticExpansion, 5),
        ("echo $[1+2]", ArithmeticExpansion, 5),
        ("diff <(ls a) <(ls b)", ProcessSubstitution, 5),
        ("tee >(sh)", ProcessSubstitution, 4),
        ("(rm -rf /)", Subshell, 0),
        ("ls; (cd x && rm y)", Subshell, 4),
        ("{ rm -rf /; }", BraceGroup, 0),
        ("if true; then rm x; fi", CompoundCommand("if".into()), 0),
        (
            "for f in *; do rm $f; done",
            CompoundCommand("for".into()),
            0,
        ),
        ("while :; do :; done", CompoundCommand("while".into()), 0),
        ("f() { rm x; }", Subshell, 1),
        ("cat <<EOF\nrm -rf /\nEOF", HereDocument, 4),
        ("sh <<-EOF\nid\nEOF", HereDocument, 3),
        ("bash <<< 'rm -rf /'", HereString, 5),
        ("echo ${x:-$(id)}", ParameterOperator, 5),
        ("echo ${x/a/b}", ParameterOperator, 5),
        ("echo ${x", Unterminated("`${`"), 5),
        ("echo 'abc", Unterminated("single quote"), 5),
        ("echo \"abc", Unterminated("double quote"), 5),
        ("echo $'abc", Unterminated("`$'` string"), 5),
        ("ls\0rm", Nul, 2),
        ("ls >", MissingRedirectTarget, 3),
        ("ls > ; x", MissingRedirectTarget, 3),
    ];
    for (input, kind, offset) in cases {
        let e = parse(input).expect_err(input);
        assert_eq!((&e.kind, e.offset), (kind, *offset), "{input:?}: {e}");
    }
}

#[test]
fn reserved_words_only_count_unquoted_and_first() {
    assert_eq!(words("echo if then {"), [["echo", "if", "then", "{"]]);
    assert_eq!(words("'if' x"), [["if", "x"]]);
}

#[test]
fn expansions_are_marked_dynamic() {
    let cmd = &parse("rm${IFS}-rf ~/x *.rs {a,b} 'q*' \"$HOME\" a[0] [").unwrap()[0];
    let dynamic: Vec<_> = cmd.words.iter().map(|w| w.dynamic).collect();
    use Dynamic::*;
    assert_eq!(
        dynamic,
        [
            Some(Parameter),
            Some(Tilde),
            Some(Glob),
            Some(Brace),
            None,
            Some(Parameter),
            Some(Glob),
            None
        ]
    );
    assert_eq!(cmd.words[0].value, "rm${IFS}-rf");
}

#[test]
fn assignments_need_an_unquoted_name_and_equals() {
    let cmd = &parse(r#"FOO=1 B_2="x y" "C=3" D\=4 5E=6 F=$x cmd"#).unwrap()[0];
    let a: Vec<_> = cmd.words.iter().map(Word::assignment).collect();
    assert_eq!(
        a,
        [
            Some(("FOO", "1")),
            Some(("B_2", "x y")),
            None,
            None,
            None,
            Some(("F", "$x")),
            None
        ]
    );
}

#[test]
fn redirections_are_parsed_with_their_descriptor() {
    let cmd = &parse("cmd 2>&1 >out.txt <in 2>>log &>both >&file >&- 3<>rw").unwrap()[0];
    assert_eq!(cmd.words.len(), 1);
    let r: Vec<_> = cmd
        .redirects
        .iter()
        .map(|r| (r.fd, r.op, r.target.value.as_str(), r.writes_file()))
        .collect();
    use RedirectOp::*;
    assert_eq!(
        r,
        [
            (Some(2), DupOutput, "1", false),
            (None, Write, "out.txt", true),
            (None, Read, "in", false),
            (Some(2), Append, "log", true),
            (None, WriteBoth, "both", true),
            (None, DupOutput, "file", true),
            (None, DupOutput, "-", false),
            (Some(3), ReadWrite, "rw", true),
        ]
    );
    // A quoted number is a word, not a descriptor.
    assert_eq!(words("echo '2'>x"), [["echo", "2"]]);
}

#[test]
fn unicode_blanks_are_word_characters_like_in_sh() {
    // Only space and tab separate words; NBSP and ideographic space do not.
    assert_eq!(words("rm\u{a0}-rf"), [["rm\u{a0}-rf"]]);
    assert_eq!(words("ls\u{3000}x"), [["ls\u{3000}x"]]);
}

#[test]
fn spans_point_into_the_input() {
    let input = "  ls -l && 'r'm x";
    let cmds = parse(input).unwrap();
    assert_eq!(&input[cmds[0].span.clone()], "ls -l");
    assert_eq!(&input[cmds[1].span.clone()], "'r'm x");
    assert_eq!(&input[cmds[1].words[0].span.clone()], "'r'm");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parse_never_panics(input in any::<String>()) {
        let _ = parse(&input);
    }

    #[test]
    fn parse_never_panics_on_shell_alphabet(input in "[a-z $'\"\\\\`(){}<>|&;#\n\t~*?=\\[\\]0-9xu\u{430}\u{0}-]{0,60}") {
        if let Ok(cmds) = parse(&input) {
            for c in cmds {
                prop_assert!(c.span.end <= input.len());
                for w in c.words {
                    prop_assert!(input.get(w.span.clone()).is_some());
                }
            }
        }
    }
}
