//! The credential patterns: data only. The detector (`detector.rs`) compiles them.
//!
//! Rules every entry keeps, because the streaming censor relies on them (tests check each):
//! - a match never contains `\n` or `\r` (classes exclude them; no `\s`), so a complete line
//!   can be released as soon as it ends;
//! - a match is at most [`super::MAX_MATCH`] bytes long (every repetition is bounded);
//! - every match contains one of the entry's trigger literals, exactly as written (or, with
//!   `fold`, in lower, UPPER or Capitalised form). The literals drive the prefilter: a line with
//!   no trigger is never run through any regular expression.
//!
//! A named group `s` marks the part to censor (the value after `password=`); without it the
//! whole match is censored.

/// Extra test a regex match must pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    None,
    /// The censored part must look random: mixed character classes and enough entropy.
    HighEntropy,
}

#[derive(Debug)]
pub struct Pattern {
    pub name: &'static str,
    pub triggers: &'static [&'static str],
    /// Add lower, UPPER and Capitalised forms of each trigger.
    pub fold: bool,
    pub regex: &'static str,
    pub check: Check,
    /// When not empty, one of these bytes must follow the trigger on its line, or the regex is
    /// not run (credentials in a URL need `@`). `ASSIGNMENT` asks for the shape of `assign!`
    /// after the key name instead.
    pub needs: &'static [u8],
    /// Most bytes a match can start before its trigger (0 when the trigger begins the match).
    pub lead: usize,
    /// The match opens a block (a PEM private key) censored through its END line, or to the
    /// end of the stream when that never comes.
    pub block: bool,
}

const fn p(name: &'static str, triggers: &'static [&'static str], regex: &'static str) -> Pattern {
    Pattern {
        name,
        triggers,
        fold: false,
        regex,
        check: Check::None,
        needs: b"",
        lead: 0,
        block: false,
    }
}

/// Same, for patterns introduced by a case-insensitive keyword.
const fn pf(name: &'static str, triggers: &'static [&'static str], regex: &'static str) -> Pattern {
    Pattern {
        fold: true,
        ..p(name, triggers, regex)
    }
}

/// Characters of a value after `key =`: anything but whitespace, quotes and separators.
macro_rules! value {
    ($min:literal, $max:literal) => {
        concat!("[^ \\t\\r\\n\"'`;,<>]{", $min, ",", $max, "}")
    };
}

/// `key = value`, `key: value`, `"key": "value"`, `key := value`, `key => value`.
macro_rules! assign {
    () => {
        "[\"']?[ \\t]{0,4}(?::=|=>|=|:[ \\t\"'])[ \\t]{0,4}[\"']?"
    };
}

/// `needs` value: the trigger must be followed by the rest of a key name and an assignment.
pub const ASSIGNMENT: &[u8] = b"\0assignment";

/// Cheap check for `assign!` after a key name starting at `at`: name characters, an optional
/// quote, blanks, then `=`, `:=`, `=>` or `:` followed by a blank or quote. Returns where the
/// value starts: after the operator and the blanks and quote `assign!` allows there.
pub fn assignment_value(line: &[u8], at: usize) -> Option<usize> {
    let mut i = at;
    let name_end = (at + 64).min(line.len());
    while i < name_end && (line[i].is_ascii_alphanumeric() || b"_.-".contains(&line[i])) {
        i += 1;
    }
    if i < line.len() && (line[i] == b'"' || line[i] == b'\'') {
        i += 1;
    }
    let mut blanks = 0;
    while i < line.len() && (line[i] == b' ' || line[i] == b'\t') && blanks < 4 {
        i += 1;
        blanks += 1;
    }
    i += match (line.get(i), line.get(i + 1)) {
        (Some(b'='), Some(b'>')) => 2,
        (Some(b'='), _) => 1,
        (Some(b':'), Some(b'=' | b' ' | b'\t' | b'"' | b'\'')) => 2,
        _ => return None,
    };
    // `[ \t]{0,4}["']?`: a value byte is neither, so skipping up to five of them lands on
    // the value's first byte whenever `assign!` can match.
    let skip = line[i.min(line.len())..]
        .iter()
        .take(5)
        .take_while(|b| b" \t\"'".contains(b))
        .count();
    Some(i + skip)
}

/// A byte `value!` accepts.
pub fn is_value_byte(b: u8) -> bool {
    !b" \t\r\n\"'`;,<>".contains(&b)
}

/// Longest value `value!` takes in the generic rule (its censored group).
pub const GENERIC_VALUE_MAX: usize = 256;

/// The END line that closes a block opened by a `block` pattern.
pub const BLOCK_END: &str = r"-----END[ A-Z0-9]{0,40} PRIVATE KEY(?: BLOCK)?-----";
/// Longest END line [`BLOCK_END`] can match.
pub const BLOCK_END_MAX: usize = 8 + 40 + 12 + 6 + 5;

pub static PATTERNS: &[Pattern] = &[
    // Cloud providers.
    p(
        "aws-access-key-id",
        &["AKIA", "ASIA", "ABIA", "ACCA", "A3T"],
        r"\b(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}\b",
    ),
    Pattern {
        needs: ASSIGNMENT,
        ..pf(
            "aws-secret-access-key",
            &["aws"],
            concat!(
                r"(?i)\baws_?(?:secret|private)_?(?:access_?)?key",
                assign!(),
                r"(?P<s>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+\r\n]|$)"
            ),
        )
    },
    p(
        "aws-session-token",
        &["FwoGZXIvYXdzE", "IQoJb3JpZ2luX2Vj"],
        r"(?:FwoGZXIvYXdzE|IQoJb3JpZ2luX2Vj)[A-Za-z0-9/+=]{100,1500}",
    ),
    p("google-api-key", &["AIza"], r"\bAIza[0-9A-Za-z_\-]{35}\b"),
    p(
        "google-oauth-client-secret",
        &["GOCSPX-"],
        r"\bGOCSPX-[A-Za-z0-9_\-]{28}\b",
    ),
    p(
        "google-oauth-access-token",
        &["ya29."],
        r"\bya29\.[A-Za-z0-9_\-]{30,2000}",
    ),
    pf(
        "azure-storage-account-key",
        &["AccountKey"],
        r"(?i)\bAccountKey=(?P<s>[A-Za-z0-9+/]{86}==)",
    ),
    Pattern {
        lead: 1,
        ..p(
            "azure-sas-signature",
            &["sig="],
            r"[?&]sig=(?P<s>[A-Za-z0-9%+/]{40,120}(?:%3D|%3d|=){0,2})",
        )
    },
    Pattern {
        lead: 4,
        ..p(
            "azure-ad-client-secret",
            &["Q~"],
            r"\b[A-Za-z0-9_~.\-]{3}[0-9]Q~[A-Za-z0-9_~.\-]{31,34}\b",
        )
    },
    p(
        "digitalocean-token",
        &["dop_v1_", "doo_v1_", "dor_v1_"],
        r"\bdo[opr]_v1_[a-f0-9]{64}\b",
    ),
    p("heroku-api-key", &["HRKU-"], r"\bHRKU-[A-Za-z0-9_\-]{60}\b"),
    Pattern {
        needs: ASSIGNMENT,
        ..pf(
            "heroku-api-key-legacy",
            &["heroku"],
            concat!(
                r"(?i)\bheroku[a-z_]{0,20}",
                assign!(),
                r"(?P<s>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b"
            ),
        )
    },
    p(
        "hashicorp-vault-token",
        &["hvs.", "hvb.", "hvr."],
        r"\bhv[sbr]\.[A-Za-z0-9_\-]{24,250}",
    ),
    Pattern {
        lead: 14,
        ..p(
            "terraform-cloud-token",
            &[".atlasv1."],
            r"\b[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_\-=]{60,70}",
        )
    },
    p(
        "databricks-token",
        &["dapi"],
        r"\bdapi[a-f0-9]{32}(?:-[0-9])?\b",
    ),
    // Source forges and package registries.
    p("github-pat-classic", &["ghp_"], r"\bghp_[A-Za-z0-9]{36}\b"),
    p("github-oauth-token", &["gho_"], r"\bgho_[A-Za-z0-9]{36}\b"),
    p("github-user-token", &["ghu_"], r"\bghu_[A-Za-z0-9]{36}\b"),
    p("github-server-token", &["ghs_"], r"\bghs_[A-Za-z0-9]{36}\b"),
    p(
        "github-refresh-token",
        &["ghr_"],
        r"\bghr_[A-Za-z0-9]{36,76}\b",
    ),
    p(
        "github-fine-grained-pat",
        &["github_pat_"],
        r"\bgithub_pat_[A-Za-z0-9_]{60,255}\b",
    ),
    p(
        "gitlab-pat",
        &["glpat-"],
        r"\bglpat-[A-Za-z0-9_\-]{20,64}(?:\.[A-Za-z0-9_\-]{2,20})?\b",
    ),
    p(
        "gitlab-token",
        &[
            "glptt-", "glrt-", "gldt-", "glcbt-", "glsoat-", "glft-", "glimt-",
        ],
        r"\bgl(?:ptt|rt|dt|cbt|soat|ft|imt)-[A-Za-z0-9_\-]{20,64}\b",
    ),
    p("npm-token", &["npm_"], r"\bnpm_[A-Za-z0-9]{36}\b"),
    p(
        "pypi-token",
        &["pypi-AgEIcHlwaS5vcmc"],
        r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,1000}",
    ),
    p(
        "dockerhub-pat",
        &["dckr_pat_"],
        r"\bdckr_pat_[A-Za-z0-9_\-]{27,60}\b",
    ),
    p("huggingface-token", &["hf_"], r"\bhf_[A-Za-z0-9]{34}\b"),
    p(
        "atlassian-api-token",
        &["ATATT3"],
        r"\bATATT3[A-Za-z0-9_\-=]{180,200}",
    ),
    // Messaging, payments, AI and SaaS APIs.
    p(
        "slack-token",
        &[
            "xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-", "xoxe", "xapp-",
        ],
        r"\b(?:xox[abposr]|xoxe(?:\.xox[bp])?|xapp)-[A-Za-z0-9\-]{10,250}",
    ),
    p(
        "slack-webhook",
        &["hooks.slack.com"],
        r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/]{20,120}",
    ),
    p(
        "stripe-secret-key",
        &["sk_live_", "sk_test_", "rk_live_", "rk_test_"],
        r"\b[rs]k_(?:live|test)_[A-Za-z0-9]{20,247}\b",
    ),
    p(
        "stripe-webhook-secret",
        &["whsec_"],
        r"\bwhsec_[A-Za-z0-9+/=]{32,100}",
    ),
    Pattern {
        lead: 23,
        ..p(
            "openai-api-key",
            &["sk-proj-", "sk-svcacct-", "sk-admin-", "T3BlbkFJ"],
            r"\bsk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{40,250}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})",
        )
    },
    p(
        "anthropic-api-key",
        &["sk-ant-"],
        r"\bsk-ant-(?:api|admin|oat)[0-9]{2}-[A-Za-z0-9_\-]{80,120}",
    ),
    p("twilio-api-key", &["SK"], r"\bSK[0-9a-fA-F]{32}\b"),
    p(
        "sendgrid-api-key",
        &["SG."],
        r"\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}\b",
    ),
    p("mailgun-api-key", &["key-"], r"\bkey-[0-9a-f]{32}\b"),
    p(
        "discord-webhook",
        &["discord.com/api/webhooks/", "discordapp.com/api/webhooks/"],
        r"discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_\-]{60,68}",
    ),
    Pattern {
        needs: ASSIGNMENT,
        ..pf(
            "discord-bot-token",
            &["discord"],
            concat!(
                r"(?i)\bdiscord[a-z_]{0,20}",
                assign!(),
                r"(?P<s>[MNO][A-Za-z0-9_\-]{23,25}\.[A-Za-z0-9_\-]{6}\.[A-Za-z0-9_\-]{27,38})\b"
            ),
        )
    },
    Pattern {
        lead: 10,
        ..p(
            "telegram-bot-token",
            &[":AA"],
            r"\b[0-9]{8,10}:AA[A-Za-z0-9_\-]{33}\b",
        )
    },
    p(
        "shopify-token",
        &["shpat_", "shpca_", "shppa_", "shpss_"],
        r"\bshp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}\b",
    ),
    p(
        "square-token",
        &["sq0atp-", "sq0csp-", "EAAA"],
        r"\b(?:sq0(?:atp|csp)-[A-Za-z0-9_\-]{22,43}|EAAA[A-Za-z0-9_\-]{60})\b",
    ),
    p(
        "linear-api-key",
        &["lin_api_"],
        r"\blin_api_[A-Za-z0-9]{40}\b",
    ),
    p(
        "grafana-token",
        &["glsa_", "glc_eyJ"],
        r"\b(?:glsa_[A-Za-z0-9]{32}_[a-f0-9]{8}|glc_eyJ[A-Za-z0-9+/=_\-]{32,400})",
    ),
    p(
        "age-secret-key",
        &["AGE-SECRET-KEY-1"],
        r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
    ),
    // Structured credentials.
    p(
        "jwt",
        &["eyJ"],
        r"\beyJ[A-Za-z0-9_\-]{8,2000}\.eyJ[A-Za-z0-9_\-]{4,4000}\.[A-Za-z0-9_\-]{8,1000}",
    ),
    Pattern {
        block: true,
        ..p(
            "pem-private-key",
            &["-----BEGIN"],
            r"-----BEGIN[ A-Z0-9]{0,40} PRIVATE KEY(?: BLOCK)?-----",
        )
    },
    Pattern {
        block: true,
        ..p(
            "openssh-private-key",
            &["-----BEGIN OPENSSH PRIVATE KEY-----"],
            r"-----BEGIN OPENSSH PRIVATE KEY-----",
        )
    },
    p(
        "mapbox-secret-token",
        &["sk.eyJ"],
        r"\bsk\.eyJ[A-Za-z0-9_\-]{50,400}\.[A-Za-z0-9_\-]{20,100}",
    ),
    // HTTP authentication.
    Pattern {
        needs: ASSIGNMENT,
        ..pf(
            "authorization-header",
            &["authorization"],
            r#"(?i)\b(?:proxy-)?authorization["']?[ \t]{0,4}[:=][ \t]{0,4}["']?(?:bearer|basic|token|bot|digest|negotiate|ntlm|aws4-hmac-sha256|sharedkey|apikey|key|otp)[ \t]{1,4}(?P<s>[^ \t\r\n"']{6,4096})"#,
        )
    },
    pf(
        "bearer-token",
        &["bearer"],
        r"(?i)\bbearer[ \t]{1,4}(?P<s>[A-Za-z0-9._~+/\-]{16,4000}={0,2})",
    ),
    Pattern {
        lead: 2,
        needs: b":",
        ..pf(
            "api-key-header",
            &[
                "x-api-key",
                "x-auth-token",
                "x-access-token",
                "x-amz-security-token",
                "api-key",
                "apikey",
                "private-token",
                "x-vault-token",
                "x-goog-api-key",
                "x-functions-key",
                "ocp-apim-subscription-key",
                "x-session-token",
                "x-auth-key",
            ],
            r#"(?i)\b(?:x-api-key|x-auth-token|x-access-token|x-amz-security-token|api-key|apikey|private-token|x-vault-token|x-goog-api-key|x-functions-key|ocp-apim-subscription-key|x-session-token|x-auth-key)["']?[ \t]{0,4}:[ \t]{0,4}["']?(?P<s>[^ \t\r\n"']{8,4096})"#,
        )
    },
    Pattern {
        lead: 4,
        ..pf(
            "cookie-header",
            &["cookie:"],
            r"(?i)\b(?:set-)?cookie:[ \t]{0,4}(?P<s>[^ \t\r\n][^\r\n]{7,4095})",
        )
    },
    // Credentials in URLs and connection strings.
    Pattern {
        lead: 31,
        needs: b"@",
        ..p(
            "url-credentials",
            &["://"],
            r#"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,30}://[^:@/ \t\r\n"'<>]{0,256}:(?P<s>[^@/ \t\r\n"'<>]{1,256})@[A-Za-z0-9.\-\[_]"#,
        )
    },
    Pattern {
        lead: 5,
        needs: b"@",
        ..pf(
            "database-url",
            &[
                "postgres",
                "mysql",
                "mariadb",
                "mongodb",
                "redis",
                "rediss",
                "amqp",
                "amqps",
                "mssql",
                "sqlserver",
                "jdbc",
            ],
            r#"(?i)\b(?:jdbc:)?(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver)://[^:@/ \t\r\n"'<>]{0,256}:(?P<s>[^@/ \t\r\n"'<>]{1,256})@"#,
        )
    },
    pf(
        "connection-string-password",
        &["password=", "pwd="],
        r#"(?i)\b(?:password|pwd)=(?P<s>[^;&'" \t\r\n]{1,256})"#,
    ),
    pf(
        "netrc-password",
        &["machine"],
        r"(?i)\bmachine[ \t]{1,16}[^ \t\r\n]{1,256}[ \t]{1,16}login[ \t]{1,16}[^ \t\r\n]{1,256}[ \t]{1,16}password[ \t]{1,16}(?P<s>[^ \t\r\n]{1,256})",
    ),
    // Anything else that is assigned to a credential-named key and looks random.
    Pattern {
        lead: 41,
        check: Check::HighEntropy,
        needs: ASSIGNMENT,
        ..pf(
            "generic-secret-assignment",
            &[
                "key",
                "secret",
                "token",
                "passw",
                "pwd",
                "auth",
                "credential",
                "private",
            ],
            concat!(
                r"(?i)\b[a-z0-9_.\-]{0,40}(?:key|secret|token|passwd|password|pwd|auth|credentials?|private)[a-z0-9_\-]{0,20}",
                assign!(),
                "(?P<s>",
                value!(12, 256), // GENERIC_VALUE_MAX
                ")"
            ),
        )
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_value_byte_test_mirrors_the_value_class() {
        let class = regex::bytes::Regex::new(concat!("(?-u)^", value!(1, 1), "$")).unwrap();
        for b in 0..=255u8 {
            assert_eq!(class.is_match(&[b]), is_value_byte(b), "byte {b:#04x}");
        }
    }
}
