//! Chunk boundaries, merging, binary data, line release and the one-shot equivalence property.

use std::sync::{Arc, LazyLock};

use proptest::prelude::*;

use super::*;

static DETECTOR: LazyLock<Arc<Detector>> =
    LazyLock::new(|| Arc::new(Detector::new(&[b"vault-value-4242".to_vec()]).expect("detector")));

fn chunked(input: &[u8], cuts: &[usize]) -> Vec<u8> {
    let mut censor = Censor::new(Arc::clone(&DETECTOR));
    let mut out = Vec::new();
    let mut at = 0;
    for &cut in cuts {
        let cut = cut.clamp(at, input.len());
        censor.push(&input[at..cut], &mut out);
        at = cut;
    }
    censor.push(&input[at..], &mut out);
    censor.finish(&mut out);
    out
}

const KEY: &str = "AKIAIOSFODNN7EXAMPLE";

#[test]
fn a_secret_split_across_reads_is_caught() {
    let input = format!("id {KEY} end\n");
    for cut in 0..input.len() {
        assert_eq!(
            chunked(input.as_bytes(), &[cut]),
            b"id *** end\n".to_vec(),
            "cut at {cut}"
        );
    }
}

#[test]
fn complete_lines_are_released_at_once_and_the_partial_line_waits() {
    let mut censor = Censor::new(Arc::clone(&DETECTOR));
    let mut out = Vec::new();
    censor.push(b"line one\nline tw", &mut out);
    assert_eq!(out, b"line one\n");
    censor.push(b"o\r", &mut out);
    assert_eq!(out, b"line one\nline two\r");
    censor.push(b"prompt> ", &mut out);
    assert_eq!(censor.pending(), 8);
    censor.flush(&mut out);
    assert_eq!(out, b"line one\nline two\rprompt> ");
}

#[test]
fn overlapping_and_touching_matches_merge_into_one_placeholder() {
    let input = "vault-value-4242vault-value-4242 x\n";
    assert_eq!(redact(&DETECTOR, input.as_bytes()), b"*** x\n".to_vec());
    // Found by two patterns (the AWS rule and the generic one), censored once.
    let both = "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n";
    assert_eq!(
        redact(&DETECTOR, both.as_bytes()),
        b"aws_secret_access_key = ***\n".to_vec()
    );
    let pem =
        "k: -----BEGIN RSA PRIVATE KEY-----\nAAAA\nBBBB\n-----END RSA PRIVATE KEY----- after\n";
    assert_eq!(
        redact(&DETECTOR, pem.as_bytes()),
        b"k: *** after\n".to_vec()
    );
}

#[test]
fn an_unterminated_private_key_is_censored_to_the_end() {
    let pem = "-----BEGIN PRIVATE KEY-----\nAAAA\nBBBB\n";
    assert_eq!(redact(&DETECTOR, pem.as_bytes()), b"***".to_vec());
}

#[test]
fn binary_and_clean_text_pass_unchanged() {
    let bytes: Vec<u8> = (0..=255u8).cycle().take(200_000).collect();
    assert_eq!(redact(&DETECTOR, &bytes), bytes);
    let text = b"Compiling serde v1.0.200\n   Finished dev [unoptimized] target(s) in 3.2s\n";
    assert_eq!(redact(&DETECTOR, text), text.to_vec());
}

#[test]
fn memory_is_bounded_on_a_line_without_breaks() {
    let mut censor = Censor::new(Arc::clone(&DETECTOR));
    let mut out = Vec::new();
    let chunk = vec![b'a'; 4096];
    for _ in 0..100 {
        censor.push(&chunk, &mut out);
        assert!(censor.pending() <= MAX_HOLD + chunk.len());
    }
    assert!(out.len() >= 100 * 4096 - MAX_HOLD - 4096);
}

#[test]
fn a_secret_in_an_overlong_line_is_caught_wherever_the_cut_falls() {
    let mut input = vec![b'x'; MAX_HOLD + 100];
    input.push(b' ');
    input.extend_from_slice(KEY.as_bytes());
    input.push(b' ');
    input.extend(vec![b'y'; MAX_HOLD]);
    let expected = redact(&DETECTOR, &input);
    assert_eq!(expected.windows(3).filter(|w| *w == b"***").count(), 1);
    for step in [1000, 4096, 65536, 7777] {
        let cuts: Vec<usize> = (1..input.len() / step + 1).map(|i| i * step).collect();
        assert_eq!(chunked(&input, &cuts), expected, "step {step}");
    }
}

/// Lines of realistic output, some holding secrets, a PEM block or the known value.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("   Compiling libc v0.2.150\n".to_string()),
        Just(format!("export AWS_ACCESS_KEY_ID={KEY}\n")),
        Just("token: ghp_aB3dE5gH7jK9mN1pQ2rS4tU6vW8xY0zLcFiO".to_string()),
        Just("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----".to_string()),
        Just("vault-value-4242".to_string()),
        Just("dmF1bHQtdmFsdWUtNDI0Mg".to_string()),
        Just("https://u:p4ssw0rdXYZ@host/x ".to_string()),
        Just("\r\n".to_string()),
        "[ -~]{0,40}",
        "[a-zA-Z0-9_=:. -]{0,30}\n",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_chunking_gives_the_one_shot_result(
        pieces in prop::collection::vec(piece(), 0..24),
        cuts in prop::collection::vec(0usize..2000, 0..12),
    ) {
        let input = pieces.concat();
        let mut cuts = cuts;
        cuts.sort_unstable();
        prop_assert_eq!(chunked(input.as_bytes(), &cuts), redact(&DETECTOR, input.as_bytes()));
    }

    #[test]
    fn byte_at_a_time_gives_the_one_shot_result(pieces in prop::collection::vec(piece(), 0..8)) {
        let input = pieces.concat();
        let cuts: Vec<usize> = (0..input.len()).collect();
        prop_assert_eq!(chunked(input.as_bytes(), &cuts), redact(&DETECTOR, input.as_bytes()));
    }

    #[test]
    fn no_secret_survives(pieces in prop::collection::vec(piece(), 1..16)) {
        let out = redact(&DETECTOR, pieces.concat().as_bytes());
        let out = String::from_utf8_lossy(&out);
        prop_assert!(!out.contains(KEY));
        prop_assert!(!out.contains("vault-value-4242"));
        prop_assert!(!out.contains("MHcCAQEE"));
    }
}
