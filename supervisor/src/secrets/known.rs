//! Exact values the supervisor knows to be secret in a run (the vault values it injects), and
//! the forms of each the censor looks for: the value itself, its base64 (standard and URL-safe
//! alphabets, without the padding, which depends on what follows) and its URL encoding.
//!
//! A value containing line breaks (a PEM key stored in the vault) is registered line by line,
//! because the censor never matches across a line break.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use zeroize::Zeroizing;

/// Values (or lines of values) shorter than this are not censored as exact values: a
/// three-letter value would censor every occurrence of those letters in the output.
pub const MIN_KNOWN_LEN: usize = 6;

/// Every form of `value` the censor must catch, each at least [`MIN_KNOWN_LEN`] bytes.
pub fn forms(value: &[u8]) -> Vec<Zeroizing<Vec<u8>>> {
    let mut out: Vec<Zeroizing<Vec<u8>>> = Vec::new();
    let mut add = |form: Vec<u8>| {
        let form = Zeroizing::new(form);
        if form.len() >= MIN_KNOWN_LEN && !out.iter().any(|f| **f == *form) {
            out.push(form);
        }
    };
    add(STANDARD_NO_PAD.encode(value).into_bytes());
    add(URL_SAFE_NO_PAD.encode(value).into_bytes());
    for line in value.split(|&b| b == b'\n' || b == b'\r') {
        add(line.to_vec());
        add(url_encode(line).into_bytes());
    }
    out
}

/// Percent-encoding of everything but RFC 3986 unreserved characters.
fn url_encode(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(forms: &[Zeroizing<Vec<u8>>], s: &str) -> bool {
        forms.iter().any(|f| f.as_slice() == s.as_bytes())
    }

    #[test]
    fn a_value_is_caught_plain_base64_and_url_encoded() {
        let f = forms(b"s3cr3t/value+x?");
        assert!(has(&f, "s3cr3t/value+x?"));
        assert!(has(&f, "czNjcjN0L3ZhbHVlK3g/"));
        assert!(has(&f, "czNjcjN0L3ZhbHVlK3g_"));
        assert!(has(&f, "s3cr3t%2Fvalue%2Bx%3F"));
    }

    #[test]
    fn multi_line_values_are_registered_per_line_and_short_ones_skipped() {
        let f = forms(b"first-line-secret\nab\nthird-line-secret");
        assert!(has(&f, "first-line-secret"));
        assert!(has(&f, "third-line-secret"));
        assert!(!has(&f, "ab"));
        assert!(!f.iter().any(|v| v.contains(&b'\n')));
    }
}
