//! Serde mirror of a profile file. No logic beyond parsing: every field is optional so that a
//! profile can extend another and override only what it names. Unknown keys are errors.
//!
//! Values that validation looks at later keep their place in the file ([`Located`]), so that a
//! validation error points at the entry that caused it, not just at its key. Types whose derived
//! deserialisation would accept the wrong shape (a section written as an array) or describe
//! itself in Rust's terms (`struct RawLimits`, `u64`) have their own visitors here.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Unexpected, Visitor};

use super::units::{ByteSize, Duration};
use crate::audit::OnFailure;

/// A value and the byte range it came from in its file.
pub type Located<T> = toml::Spanned<T>;

/// `extends = "base"` or `extends = ["base", "extra"]`.
#[derive(Debug, Clone)]
pub enum OneOrMany {
    One(String),
    Many(Vec<Located<String>>),
}

impl OneOrMany {
    /// The names, each with where it is written (`whole` is the span of the `extends` value,
    /// used for the single-string form).
    pub fn entries(&self, whole: std::ops::Range<usize>) -> Vec<(String, std::ops::Range<usize>)> {
        match self {
            OneOrMany::One(s) => vec![(s.clone(), whole)],
            OneOrMany::Many(v) => v.iter().map(|s| (s.get_ref().clone(), s.span())).collect(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    pub extends: Option<Located<OneOrMany>>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "section")]
    pub filesystem: Option<RawFilesystem>,
    #[serde(default, deserialize_with = "section")]
    pub network: Option<RawNetwork>,
    #[serde(default, deserialize_with = "section")]
    pub limits: Option<RawLimits>,
    #[serde(default, deserialize_with = "section")]
    pub env: Option<RawEnv>,
    #[serde(default, deserialize_with = "section")]
    pub kernel: Option<RawKernel>,
    #[serde(default, deserialize_with = "section")]
    pub audit: Option<RawAudit>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFilesystem {
    pub read: Option<Vec<Located<String>>>,
    pub exec: Option<Vec<Located<String>>>,
    pub write: Option<Vec<Located<String>>>,
    pub mask: Option<Vec<Located<String>>>,
    pub protect: Option<Vec<Located<String>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkMode {
    None,
    Proxy,
    Host,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    pub mode: Option<Located<NetworkMode>>,
    pub allow: Option<Vec<Located<String>>>,
    pub allow_cidrs: Option<Vec<Located<String>>>,
    /// Static name → address pins, answered before (and instead of) DNS.
    #[serde(default, deserialize_with = "string_table")]
    pub hosts: Option<BTreeMap<Located<String>, Located<String>>>,
    pub fetch_max_size: Option<Located<ByteSize>>,
}

/// A whole number of things (processes, descriptors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count(pub u64);

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub processes: Option<Located<Count>>,
    pub memory: Option<Located<ByteSize>>,
    pub wall_time: Option<Located<Duration>>,
    pub cpu_time: Option<Located<Duration>>,
    pub open_files: Option<Located<Count>>,
    pub file_size: Option<Located<ByteSize>>,
    pub tmp_size: Option<Located<ByteSize>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnv {
    pub pass: Option<Vec<Located<String>>>,
    #[serde(default, deserialize_with = "string_table")]
    pub set: Option<BTreeMap<Located<String>, Located<String>>>,
    /// `NAME = "vault://KEY"`: the only way a secret reaches the sandbox.
    #[serde(default, deserialize_with = "string_table")]
    pub secrets: Option<BTreeMap<Located<String>, Located<String>>>,
    /// `NAME = "value"`: set only when neither the host (through `pass`) nor `set` gives one.
    #[serde(default, deserialize_with = "string_table")]
    pub default: Option<BTreeMap<Located<String>, Located<String>>>,
    /// Directories appended to PATH when they exist and PATH lacks them.
    pub path: Option<Vec<Located<String>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Require {
    Strict,
    BestEffort,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKernel {
    pub require: Option<Require>,
    /// Controls a strict profile may run without (`plan::enforcement::CONTROL_IDS`).
    pub optional: Option<Vec<Located<String>>>,
}

/// `[audit]`: where this profile's runs are recorded and what a failed record means.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAudit {
    pub path: Option<Located<String>>,
    pub on_failure: Option<OnFailure>,
    pub max_size: Option<Located<ByteSize>>,
    pub keep: Option<Located<Count>>,
}

/// A TOML type in TOML's words, for `invalid type` errors from the visitors here.
fn array() -> Unexpected<'static> {
    Unexpected::Other("array")
}

fn table() -> Unexpected<'static> {
    Unexpected::Other("table")
}

/// A section (`[limits]`, or `limits = { ... }`) must be a table. The derived `Deserialize` of a
/// struct also takes an array and fills the fields by position (`limits = [1, 2, 3]`); this
/// refuses that, and says "expected a table" rather than naming the Rust struct.
fn section<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct SectionVisitor<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for SectionVisitor<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a table")
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(de::value::MapAccessDeserializer::new(map))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<T, A::Error> {
            Err(de::Error::invalid_type(array(), &self))
        }
    }

    d.deserialize_any(SectionVisitor(PhantomData)).map(Some)
}

/// `[env] set` and `[network] hosts`: a table of names to strings.
#[allow(clippy::type_complexity)] // the field's own type
fn string_table<'de, D>(
    d: D,
) -> Result<Option<BTreeMap<Located<String>, Located<String>>>, D::Error>
where
    D: Deserializer<'de>,
{
    struct SetVisitor;

    impl<'de> Visitor<'de> for SetVisitor {
        type Value = BTreeMap<Located<String>, Located<String>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a table of names to strings")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((k, v)) = map.next_entry()? {
                out.insert(k, v);
            }
            Ok(out)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Self::Value, A::Error> {
            Err(de::Error::invalid_type(array(), &self))
        }
    }

    d.deserialize_any(SetVisitor).map(Some)
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ExtendsVisitor;

        impl<'de> Visitor<'de> for ExtendsVisitor {
            type Value = OneOrMany;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a profile name or a list of names")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany::One(v.to_string()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut names = Vec::new();
                while let Some(name) = seq.next_element::<Located<Name>>()? {
                    let span = name.span();
                    names.push(Located::new(span, name.into_inner().0));
                }
                Ok(OneOrMany::Many(names))
            }

            fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<OneOrMany, A::Error> {
                Err(de::Error::invalid_type(table(), &self))
            }
        }

        d.deserialize_any(ExtendsVisitor)
    }
}

/// One entry of an `extends` list.
struct Name(String);

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct NameVisitor;

        impl<'de> Visitor<'de> for NameVisitor {
            type Value = Name;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a profile name or path (a string)")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Name, E> {
                Ok(Name(v.to_string()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Name, A::Error> {
                Err(de::Error::invalid_type(array(), &self))
            }

            fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<Name, A::Error> {
                Err(de::Error::invalid_type(table(), &self))
            }
        }

        d.deserialize_any(NameVisitor)
    }
}

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CountVisitor;

        impl<'de> Visitor<'de> for CountVisitor {
            type Value = Count;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a whole number such as 64")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Count, E> {
                u64::try_from(v)
                    .map(Count)
                    .map_err(|_| E::invalid_value(Unexpected::Signed(v), &self))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Count, E> {
                Ok(Count(v))
            }

            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Count, E> {
                match u64::try_from(v) {
                    Ok(v) => Ok(Count(v)),
                    Err(_) if v < 0 => Err(E::custom(format!(
                        "invalid value: integer `{v}`, expected a whole number such as 64"
                    ))),
                    Err(_) => Err(E::custom(format!("`{v}` is too large"))),
                }
            }

            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Count, E> {
                u64::try_from(v)
                    .map(Count)
                    .map_err(|_| E::custom(format!("`{v}` is too large")))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Count, A::Error> {
                Err(de::Error::invalid_type(array(), &self))
            }

            fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<Count, A::Error> {
                Err(de::Error::invalid_type(table(), &self))
            }
        }

        d.deserialize_any(CountVisitor)
    }
}

/// Deserialise a unit-only enum from its kebab-case name, listing the names when it is wrong.
fn named<'de, D, T: Copy>(d: D, values: &'static [(&'static str, T)]) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct NamedVisitor<T: 'static>(&'static [(&'static str, T)]);

    impl<T: 'static> NamedVisitor<T> {
        fn list(&self) -> String {
            let names: Vec<&str> = self.0.iter().map(|(n, _)| *n).collect();
            names.join(", ")
        }
    }

    impl<'de, T: Copy + 'static> Visitor<'de> for NamedVisitor<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "one of: {}", self.list())
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            self.0
                .iter()
                .find(|(n, _)| *n == v)
                .map(|(_, value)| *value)
                .ok_or_else(|| E::invalid_value(Unexpected::Str(v), &self))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<T, A::Error> {
            Err(de::Error::invalid_type(array(), &self))
        }

        fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<T, A::Error> {
            Err(de::Error::invalid_type(table(), &self))
        }
    }

    d.deserialize_any(NamedVisitor(values))
}

impl<'de> Deserialize<'de> for NetworkMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        named(
            d,
            &[
                ("none", NetworkMode::None),
                ("proxy", NetworkMode::Proxy),
                ("host", NetworkMode::Host),
            ],
        )
    }
}

impl<'de> Deserialize<'de> for Require {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        named(
            d,
            &[
                ("strict", Require::Strict),
                ("best-effort", Require::BestEffort),
            ],
        )
    }
}

impl<'de> Deserialize<'de> for OnFailure {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        named(
            d,
            &[("refuse", OnFailure::Refuse), ("warn", OnFailure::Warn)],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RawProfile, String> {
        toml::from_str(text).map_err(|e| e.message().to_string())
    }

    #[test]
    fn sections_must_be_tables() {
        for text in [
            "kernel = [\"best-effort\"]\n",
            "limits = [1, 2, 3, 4, 5, 6, 7]\n",
            "filesystem = [[\"/usr\"]]\n",
            "network = []\n",
            "env = [[\"PATH\"], {}]\n",
            "[[limits]]\nprocesses = 4\n",
        ] {
            let err = parse(text).unwrap_err();
            assert!(err.contains("expected a table"), "{text}: {err}");
        }
        assert!(parse("limits = { processes = 4 }\n[kernel]\nrequire = \"strict\"\n").is_ok());
    }

    #[test]
    fn messages_use_the_profile_words() {
        let err = parse("[limits]\nprocesses = \"64\"\n").unwrap_err();
        assert!(err.ends_with("expected a whole number such as 64"), "{err}");
        let err = parse("[limits]\nprocesses = -1\n").unwrap_err();
        assert!(
            err.contains("`-1`") && err.contains("whole number"),
            "{err}"
        );
        let err = parse("extends = 3\n").unwrap_err();
        assert!(
            err.contains("expected a profile name or a list of names"),
            "{err}"
        );
        let err = parse("[network]\nmode = 0\n").unwrap_err();
        assert!(err.contains("expected one of: none, proxy, host"), "{err}");
        let err = parse("[network]\nmode = \"bridge\"\n").unwrap_err();
        assert!(
            err.contains("\"bridge\", expected one of: none, proxy, host"),
            "{err}"
        );
        let err = parse("[kernel]\nrequire = true\n").unwrap_err();
        assert!(
            err.contains("expected one of: strict, best-effort"),
            "{err}"
        );
    }
}
