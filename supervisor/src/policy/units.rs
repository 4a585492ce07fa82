//! Human-friendly units used in profiles and on the command line: byte sizes (`512MiB`, `2GiB`)
//! and durations (`30s`, `10m`, `1h30m`, `500ms`). Parsed during deserialisation so that a bad
//! value is reported with the file, line and key it came from.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

/// A number of bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ByteSize(pub u64);

/// A span of time, stored in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Duration(pub u64);

pub const SIZE_EXPECTED: &str = "a size such as 4096, \"512KiB\", \"64MiB\" or \"2GiB\"";
pub const DURATION_EXPECTED: &str =
    "a duration such as 30 (seconds), \"500ms\", \"30s\", \"10m\" or \"1h30m\"";

impl FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let n: u64 = num
            .parse()
            .map_err(|_| format!("`{s}` is not {SIZE_EXPECTED}"))?;
        let mult: u64 = match unit.trim() {
            "" | "B" => 1,
            "K" | "KB" | "KiB" | "k" => 1 << 10,
            "M" | "MB" | "MiB" => 1 << 20,
            "G" | "GB" | "GiB" => 1 << 30,
            "T" | "TB" | "TiB" => 1 << 40,
            _ => {
                return Err(format!(
                    "`{s}` has an unknown unit; expected {SIZE_EXPECTED}"
                ));
            }
        };
        n.checked_mul(mult)
            .map(ByteSize)
            .ok_or_else(|| format!("`{s}` is too large"))
    }
}

impl FromStr for Duration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.is_empty() {
            return Err(format!("empty duration; expected {DURATION_EXPECTED}"));
        }
        if let Ok(secs) = t.parse::<u64>() {
            return secs
                .checked_mul(1000)
                .map(Duration)
                .ok_or_else(|| format!("`{s}` is too large"));
        }
        let mut total: u64 = 0;
        let mut rest = t;
        while !rest.is_empty() {
            let split = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let (num, after) = rest.split_at(split);
            let n: u64 = num
                .parse()
                .map_err(|_| format!("`{s}` is not {DURATION_EXPECTED}"))?;
            let unit_len = after
                .find(|c: char| c.is_ascii_digit())
                .unwrap_or(after.len());
            let (unit, next) = after.split_at(unit_len);
            let ms: u64 = match unit {
                "ms" => 1,
                "s" => 1000,
                "m" | "min" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                _ => {
                    return Err(format!(
                        "`{s}` has an unknown unit; expected {DURATION_EXPECTED}"
                    ));
                }
            };
            total = n
                .checked_mul(ms)
                .and_then(|v| total.checked_add(v))
                .ok_or_else(|| format!("`{s}` is too large"))?;
            rest = next;
        }
        Ok(Duration(total))
    }
}

impl Duration {
    pub fn as_std(self) -> std::time::Duration {
        std::time::Duration::from_millis(self.0)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let units = [
            (1u64 << 40, "TiB"),
            (1 << 30, "GiB"),
            (1 << 20, "MiB"),
            (1 << 10, "KiB"),
        ];
        for (size, name) in units {
            if self.0 >= size && self.0.is_multiple_of(size) {
                return write!(f, "{}{}", self.0 / size, name);
            }
        }
        write!(f, "{}B", self.0)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0;
        if ms.is_multiple_of(3_600_000) && ms > 0 {
            write!(f, "{}h", ms / 3_600_000)
        } else if ms.is_multiple_of(60_000) && ms > 0 {
            write!(f, "{}m", ms / 60_000)
        } else if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

/// Accepts an integer or a string with a unit, for both unit types.
struct UnitVisitor<T>(std::marker::PhantomData<T>, &'static str);

impl<'de, T: FromStr<Err = String>> Visitor<'de> for UnitVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.1)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        let v = u64::try_from(v)
            .map_err(|_| E::custom(format!("negative value; expected {}", self.1)))?;
        self.visit_u64(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        // A bare integer is in the base unit of the type (bytes, or seconds).
        T::from_str(&v.to_string()).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::from_str(v).map_err(E::custom)
    }

    // Integers beyond 64 bits (TOML allows none, but the parser may hand them on).
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<T, E> {
        if v < 0 {
            return Err(E::custom(format!("negative value; expected {}", self.1)));
        }
        Err(E::custom(format!("`{v}` is too large")))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<T, E> {
        Err(E::custom(format!("`{v}` is too large")))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _seq: A) -> Result<T, A::Error> {
        Err(de::Error::invalid_type(
            de::Unexpected::Other("array"),
            &self,
        ))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _map: A) -> Result<T, A::Error> {
        Err(de::Error::invalid_type(
            de::Unexpected::Other("table"),
            &self,
        ))
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnitVisitor::<ByteSize>(
            std::marker::PhantomData,
            SIZE_EXPECTED,
        ))
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UnitVisitor::<Duration>(
            std::marker::PhantomData,
            DURATION_EXPECTED,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_and_without_units() {
        assert_eq!("4096".parse::<ByteSize>().unwrap().0, 4096);
        assert_eq!("512MiB".parse::<ByteSize>().unwrap().0, 512 << 20);
        assert_eq!("2GiB".parse::<ByteSize>().unwrap().0, 2 << 30);
        assert_eq!("1G".parse::<ByteSize>().unwrap().0, 1 << 30);
        assert!("2XB".parse::<ByteSize>().is_err());
        assert!("".parse::<ByteSize>().is_err());
        assert!("99999999999TiB".parse::<ByteSize>().is_err());
    }

    #[test]
    fn durations_parse_compound_forms() {
        assert_eq!("30".parse::<Duration>().unwrap().0, 30_000);
        assert_eq!("500ms".parse::<Duration>().unwrap().0, 500);
        assert_eq!("1h30m".parse::<Duration>().unwrap().0, 5_400_000);
        assert_eq!("10m".parse::<Duration>().unwrap().to_string(), "10m");
        assert!("10x".parse::<Duration>().is_err());
        assert!("m".parse::<Duration>().is_err());
    }
}
