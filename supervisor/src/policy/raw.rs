//! Serde mirror of a profile file. No logic beyond parsing: every field is optional so that a
//! profile can extend another and override only what it names. Unknown keys are errors.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::units::{ByteSize, Duration};

/// `extends = "base"` or `extends = ["base", "extra"]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    pub extends: Option<OneOrMany>,
    pub description: Option<String>,
    pub filesystem: Option<RawFilesystem>,
    pub network: Option<RawNetwork>,
    pub limits: Option<RawLimits>,
    pub env: Option<RawEnv>,
    pub kernel: Option<RawKernel>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFilesystem {
    pub read: Option<Vec<String>>,
    pub exec: Option<Vec<String>>,
    pub write: Option<Vec<String>>,
    pub mask: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkMode {
    None,
    Proxy,
    Host,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    pub mode: Option<NetworkMode>,
    pub allow: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub processes: Option<u64>,
    pub memory: Option<ByteSize>,
    pub wall_time: Option<Duration>,
    pub cpu_time: Option<Duration>,
    pub open_files: Option<u64>,
    pub file_size: Option<ByteSize>,
    pub tmp_size: Option<ByteSize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnv {
    pub pass: Option<Vec<String>>,
    pub set: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Require {
    Strict,
    BestEffort,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKernel {
    pub require: Option<Require>,
}
