//! One realistic sample and one look-alike non-secret per pattern, plus the table's rules.

use std::sync::Arc;

use proptest::prelude::*;

use super::*;
use crate::secrets::censor::redact;
use crate::secrets::patterns::PATTERNS;
use std::sync::atomic::Ordering;

/// `n` characters of a fixed, random-looking alphanumeric run (fake, but shaped like a token).
fn tok(n: usize) -> String {
    const ALPHABET: &[u8] = b"aB3dE5gH7jK9mN1pQ2rS4tU6vW8xY0zLcFiOqZ";
    (0..n)
        .map(|i| ALPHABET[(i * 7 + i / 5) % ALPHABET.len()] as char)
        .collect()
}

fn hex(n: usize) -> String {
    (0..n)
        .map(|i| b"0123456789abcdef"[(i * 7 + 3) % 16] as char)
        .collect()
}

/// (pattern, a line holding a realistic sample, a look-alike line holding no secret)
fn samples() -> Vec<(&'static str, String, String)> {
    let age: String = (0..58)
        .map(|i| b"QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"[(i * 5) % 32] as char)
        .collect();
    vec![
        ("aws-access-key-id", "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE".into(), "the AKIA prefix, as in AKIAEXAMPLE".into()),
        ("aws-secret-access-key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(), "aws_secret_access_key = ${AWS_SECRET}".into()),
        ("aws-session-token", format!("session FwoGZXIvYXdzE{}", tok(150)), "FwoGZXIvYXdzE is how they start".into()),
        ("google-api-key", format!("key: AIzaSy{}", tok(33)), format!("AIza{}", tok(10))),
        ("google-oauth-client-secret", format!("GOCSPX-{}", tok(28)), "GOCSPX-short".into()),
        ("google-oauth-access-token", format!("ya29.{}", tok(60)), "ya29.short".into()),
        ("azure-storage-account-key", format!("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={}==;EndpointSuffix=core.windows.net", tok(86)), "AccountKey=<your key>".into()),
        ("azure-sas-signature", format!("https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sig={}%3D", tok(43)), "https://x/?sig=abc".into()),
        ("azure-ad-client-secret", format!("Xy.8Q~{}", tok(34)), "Q~ is not a secret".into()),
        ("digitalocean-token", format!("dop_v1_{}", hex(64)), format!("dop_v1_{}", hex(10))),
        ("heroku-api-key", format!("HRKU-{}", tok(60)), format!("HRKU-{}", tok(10))),
        ("heroku-api-key-legacy", "HEROKU_API_KEY=01234567-89ab-cdef-0123-456789abcdef".into(), "heroku app id 01234567-89ab-cdef-0123-456789abcdef".into()),
        ("hashicorp-vault-token", format!("hvs.{}", tok(90)), "hvs.short".into()),
        ("terraform-cloud-token", format!("{}.atlasv1.{}", tok(14), tok(67)), "x.atlasv1.y".into()),
        ("databricks-token", format!("dapi{}", hex(32)), "the dapi docs".into()),
        ("github-pat-classic", format!("ghp_{}", tok(36)), format!("ghp_{}", tok(10))),
        ("github-oauth-token", format!("gho_{}", tok(36)), format!("gho_{}", tok(35))),
        ("github-user-token", format!("ghu_{}", tok(36)), "ghu_ prefix".into()),
        ("github-server-token", format!("ghs_{}", tok(36)), "ghs_something".into()),
        ("github-refresh-token", format!("ghr_{}", tok(36)), "ghr_x".into()),
        ("github-fine-grained-pat", format!("github_pat_{}_{}", tok(22), tok(59)), "github_pat_example".into()),
        ("gitlab-pat", format!("glpat-{}", tok(20)), "glpat-short".into()),
        ("gitlab-token", format!("glrt-{}", tok(20)), "glrt-x".into()),
        ("npm-token", format!("//registry.npmjs.org/:_authToken=npm_{}", tok(36)), "npm_config_cache=/tmp/npm".into()),
        ("pypi-token", format!("pypi-AgEIcHlwaS5vcmc{}", tok(70)), "pypi-AgEIcHlwaS5vcmc".into()),
        ("dockerhub-pat", format!("dckr_pat_{}", tok(27)), "dckr_pat_x".into()),
        ("huggingface-token", format!("hf_{}", tok(34)), "hf_hub_download".into()),
        ("atlassian-api-token", format!("ATATT3{}", tok(186)), "ATATT3xyz".into()),
        ("slack-token", format!("xoxb-1234567890-1234567890123-{}", tok(24)), "xoxb-1".into()),
        ("slack-webhook", format!("https://hooks.slack.com/services/T00000000/B00000000/{}", tok(24)), "https://hooks.slack.com/services/".into()),
        ("stripe-secret-key", format!("sk_live_{}", tok(24)), "sk_live_short".into()),
        ("stripe-webhook-secret", format!("whsec_{}", tok(32)), "whsec_x".into()),
        ("openai-api-key", format!("sk-proj-{}", tok(48)), "sk-proj-short".into()),
        ("anthropic-api-key", format!("sk-ant-api03-{}", tok(95)), "sk-ant-api03-short".into()),
        ("twilio-api-key", format!("SK{}", hex(32)), format!("SKU SK{}", hex(10))),
        ("sendgrid-api-key", format!("SG.{}.{}", tok(22), tok(43)), "SG.short.x".into()),
        ("mailgun-api-key", format!("key-{}", hex(32)), "a key-value store".into()),
        ("discord-webhook", format!("https://discord.com/api/webhooks/123456789012345678/{}", tok(68)), "https://discord.com/api/webhooks/".into()),
        ("discord-bot-token", format!("DISCORD_TOKEN=M{}.{}.{}", tok(25), tok(6), tok(38)), "discord_channel = general".into()),
        ("telegram-bot-token", format!("123456789:AA{}", tok(33)), "12:AA".into()),
        ("shopify-token", format!("shpat_{}", hex(32)), "shpat_x".into()),
        ("square-token", format!("sq0atp-{}", tok(22)), "sq0atp-x".into()),
        ("linear-api-key", format!("lin_api_{}", tok(40)), "lin_api_x".into()),
        ("grafana-token", format!("glsa_{}_{}", tok(32), hex(8)), "glsa_x".into()),
        ("age-secret-key", format!("AGE-SECRET-KEY-1{age}"), "AGE-SECRET-KEY-1".into()),
        ("mapbox-secret-token", format!("sk.eyJ{}.{}", tok(60), tok(22)), "sk.eyJ".into()),
        ("jwt", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U".into(), "eyJhbGciOiJIUzI1NiJ9".into()),
        ("pem-private-key", "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----".into(), "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0B\n-----END PUBLIC KEY-----".into()),
        ("openssh-private-key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAA\n-----END OPENSSH PRIVATE KEY-----".into(), "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI user@host".into()),
        ("authorization-header", "Authorization: Basic dXNlcjpwYXNzd29yZA==".into(), "the Authorization header is missing".into()),
        ("bearer-token", format!("using bearer {}", tok(40)), "Bearer token required".into()),
        ("api-key-header", format!("X-Api-Key: {}", tok(32)), "X-Api-Key header not set".into()),
        ("cookie-header", format!("Cookie: session={}", tok(32)), "set cookie policy: strict".into()),
        ("url-credentials", format!("git clone https://user:{}@github.com/org/repo", tok(20)), "see https://example.com:8080/path and git@github.com:org/repo.git".into()),
        ("database-url", format!("DATABASE_URL=postgres://app:{}@db.internal:5432/app", tok(16)), "postgres://db.internal:5432/app".into()),
        ("connection-string-password", format!("Server=tcp:db,1433;Database=app;User Id=sa;Password={};", tok(16)), "set password= to disable".into()),
        ("netrc-password", format!("machine api.example.com login bot password {}", tok(20)), "the machine you login to asks for a password".into()),
        ("generic-secret-assignment", format!("client_secret = \"{}\"", tok(32)), "secret_name = my-app-secret-name".into()),
    ]
}

fn detector() -> Arc<Detector> {
    Arc::new(Detector::new(&[]).expect("detector"))
}

/// The same detector twice: scanning with its NFA, and with its DFA (as after a megabyte).
fn both_automata(known: &[Vec<u8>]) -> [(&'static str, Arc<Detector>); 2] {
    let nfa = Detector::new(known).expect("detector");
    let dfa = Detector::new(known).expect("detector");
    dfa.scanned.store(DFA_AFTER, Ordering::Relaxed);
    assert!(dfa.dfa().is_some(), "the DFA builds");
    [("nfa", Arc::new(nfa)), ("dfa", Arc::new(dfa))]
}

#[test]
fn there_are_at_least_40_named_patterns_each_with_a_sample() {
    assert!(PATTERNS.len() >= 40, "{} patterns", PATTERNS.len());
    let samples = samples();
    for p in PATTERNS {
        assert!(
            samples.iter().any(|(n, _, _)| *n == p.name),
            "no sample for {}",
            p.name
        );
    }
    let mut names: Vec<_> = PATTERNS.iter().map(|p| p.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), PATTERNS.len(), "pattern names are unique");
}

#[test]
fn every_pattern_compiles_and_is_bounded() {
    for p in PATTERNS {
        let re = format!("(?-u){}", p.regex);
        assert!(regex::bytes::Regex::new(&re).is_ok(), "{}", p.name);
        let hir = regex_syntax::ParserBuilder::new()
            .utf8(false)
            .build()
            .parse(&re)
            .expect("parses");
        let max = hir.properties().maximum_len();
        assert!(
            max.is_some_and(|m| m + 2 <= MAX_MATCH),
            "{}: longest match {max:?} must be bounded below MAX_MATCH",
            p.name
        );
    }
}

#[test]
fn each_pattern_finds_its_sample() {
    let mut failures = Vec::new();
    for (automaton, d) in both_automata(&[]) {
        for (name, positive, _) in samples() {
            let found = d.matching_patterns(positive.as_bytes());
            if !found.contains(&name) {
                failures.push(format!(
                    "{automaton} {name}: not found in {positive:?} (found {found:?})"
                ));
            }
            let out = redact(&d, positive.as_bytes());
            if !out.windows(3).any(|w| w == b"***") {
                failures.push(format!("{automaton} {name}: not censored: {positive:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn no_pattern_touches_the_look_alikes() {
    let mut failures = Vec::new();
    for (automaton, d) in both_automata(&[]) {
        for (name, _, negative) in samples() {
            let out = redact(&d, negative.as_bytes());
            if out != negative.as_bytes() {
                failures.push(format!(
                    "{automaton} {name}: {negative:?} became {:?} ({:?})",
                    String::from_utf8_lossy(&out),
                    d.matching_patterns(negative.as_bytes())
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_secret_is_found_at_every_offset_by_both_walks() {
    // `scan` walks the two halves of the text at once: a secret on either side of the middle,
    // or across it, must be found.
    let known = b"vault-value-4242".to_vec();
    for (automaton, d) in both_automata(std::slice::from_ref(&known)) {
        for secret in ["AKIAIOSFODNN7EXAMPLE", "vault-value-4242"] {
            for len in [24, 40, 63, 100] {
                for at in 0..=len - secret.len() - 2 {
                    let mut text = vec![b'.'; len];
                    text[at] = b' ';
                    text[at + 1..at + 1 + secret.len()].copy_from_slice(secret.as_bytes());
                    let mut hits = Vec::new();
                    d.find(&text, 0, &mut hits);
                    assert!(
                        hits.iter()
                            .any(|h| h.censor == (at + 1..at + 1 + secret.len())),
                        "{automaton}: {secret} at {at} of {len}: {hits:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn folded_triggers_match_any_case_and_exact_ones_only_theirs() {
    for (automaton, d) in both_automata(&[b"Vault-Value-4242".to_vec()]) {
        let mixed = "AuThOrIzAtIoN: BeArEr q8Zr2LkP0aVx7mWcT5yN3bJ6";
        assert!(
            d.matching_patterns(mixed.as_bytes())
                .contains(&"authorization-header"),
            "{automaton}"
        );
        // `SK` + 32 hex is a Twilio key; `sk` is not, nor is a known value in another case.
        let lower = format!("sk{}", hex(32));
        assert_eq!(
            redact(&d, lower.as_bytes()),
            lower.as_bytes(),
            "{automaton}"
        );
        assert_eq!(
            redact(&d, b"vault-value-4242"),
            b"vault-value-4242",
            "{automaton}"
        );
        assert_eq!(redact(&d, b"Vault-Value-4242"), b"***", "{automaton}");
    }
}

/// `key = value` lines: a credential-named key (or not), every assignment form, a value that
/// may or may not look random.
fn assignment_line() -> impl Strategy<Value = String> {
    (
        "[a-zA-Z_]{0,6}",
        prop::sample::select(vec![
            "key",
            "SECRET",
            "Token",
            "passwd",
            "api_key",
            "name",
            "credentials",
        ]),
        "[a-z_]{0,4}",
        prop::sample::select(vec!["", "\"", "'"]),
        "[ \t]{0,5}",
        prop::sample::select(vec!["=", ":=", "=>", ": ", ":\"", "==", ":", " "]),
        "[ \t\"']{0,6}",
        "[a-zA-Z0-9/+=._-]{0,40}",
        "[ ;,]{0,1}[a-z]{0,5}",
    )
        .prop_map(|(pre, key, suf, q, b1, op, b2, value, tail)| {
            format!("{pre}{key}{suf}{q}{b1}{op}{b2}{value}{tail}")
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The randomness test the detector runs before the generic rule's regex decides exactly
    /// what running the regex and then the test would.
    #[test]
    fn the_generic_rule_shortcut_loses_nothing(line in assignment_line()) {
        let generic = PATTERNS.iter().position(|p| p.name == "generic-secret-assignment").unwrap();
        let re = regex::bytes::Regex::new(&format!("(?-u){}", PATTERNS[generic].regex)).unwrap();
        let expected = re.captures_iter(line.as_bytes()).any(|c| looks_random(c.name("s").unwrap().as_bytes()));
        let d = detector();
        let mut hits = Vec::new();
        d.find(line.as_bytes(), 0, &mut hits);
        let found = hits.iter().any(|h| h.pattern == Some(generic));
        prop_assert_eq!(found, expected, "{:?}", line);
    }
}

#[test]
fn every_match_holds_a_trigger_and_no_line_break() {
    // The prefilter and the line-release rule depend on it: check it on every sample.
    let d = detector();
    for (name, positive, _) in samples() {
        let mut hits = Vec::new();
        d.find(positive.as_bytes(), 0, &mut hits);
        for h in hits.iter().filter(|h| h.pattern.is_some()) {
            let text = &positive.as_bytes()[h.full.clone()];
            assert!(!text.contains(&b'\n') && !text.contains(&b'\r'), "{name}");
        }
    }
}

#[test]
fn known_values_are_found_exactly() {
    let d = Detector::new(&[b"correct-horse-battery".to_vec()]).expect("detector");
    let d = Arc::new(d);
    assert_eq!(
        redact(&d, b"pw=correct-horse-battery!"),
        b"pw=***!".to_vec()
    );
    assert_eq!(redact(&d, b"correct-horse"), b"correct-horse".to_vec());
}

#[test]
fn known_values_longer_than_the_limit_are_refused() {
    assert!(Detector::new(&[vec![b'x'; MAX_MATCH + 1]]).is_err());
}

#[test]
fn randomness_check_keeps_words_and_references() {
    assert!(looks_random(b"q8Zr2LkP0aVx7mWc"));
    assert!(!looks_random(b"${GITHUB_TOKEN}"));
    assert!(!looks_random(b"my-app-secret-name"));
    assert!(!looks_random(b"111111111111"));
}

#[test]
fn every_sample_holds_a_trigger_for_the_plain_search() {
    for (name, positive, _) in samples() {
        assert!(
            super::may_hold_pattern(positive.as_bytes()),
            "{name}: its sample holds no trigger word"
        );
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]
    /// Without a trigger word the detector finds nothing: the plain search may skip building it.
    #[test]
    fn text_without_a_trigger_holds_nothing_the_detector_finds(
        text in "[ -~]{0,200}|(ghp|AKIA|key|token|Bearer|://|-----BEGIN)[ -~]{0,80}"
    ) {
        if !super::may_hold_pattern(text.as_bytes()) {
            let detector = Detector::new(&[]).unwrap();
            let mut hits = Vec::new();
            detector.find(text.as_bytes(), 0, &mut hits);
            proptest::prop_assert!(hits.is_empty(), "{text:?}: {hits:?}");
        }
    }
}
