//! Durations in config: a number is milliseconds (Janee 0.16's `timeout: 30000`), a string is
//! `500ms`, `30s`, `5m`, `1h` or `7d`.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration as written in config, kept in its original form so that rewriting the file
/// does not change how it reads.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ConfigDuration {
    value: Duration,
    millis_form: bool,
}

impl ConfigDuration {
    pub fn from_duration(value: Duration) -> Self {
        Self {
            value,
            millis_form: false,
        }
    }

    pub fn get(self) -> Duration {
        self.value
    }
}

impl fmt::Debug for ConfigDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.value))
    }
}

/// Parse `30s`, `5m`, `1h`, `7d`, `250ms`, or a bare number of milliseconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "invalid duration {t:?}: use a number of milliseconds or a number with a unit, like 500ms, 30s, 5m, 1h, 7d"
        )
    };
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let ms = match unit {
        "" | "ms" => Some(n),
        "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "d" => n.checked_mul(86_400_000),
        _ => None,
    }
    .ok_or_else(bad)?;
    Ok(Duration::from_millis(ms))
}

/// The shortest exact form: `90s` → `90s`, 3600000 ms → `1h`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, size) in [
        ("d", 86_400_000u128),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
    ] {
        if ms >= size && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

impl Serialize for ConfigDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.millis_form {
            s.serialize_u64(u64::try_from(self.value.as_millis()).unwrap_or(u64::MAX))
        } else {
            s.serialize_str(&format_duration(self.value))
        }
    }
}

impl<'de> Deserialize<'de> for ConfigDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = ConfigDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration: milliseconds, or a string like 30s, 5m, 1h, 7d")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(ConfigDuration {
                    value: Duration::from_millis(v),
                    millis_form: true,
                })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v)
                    .map_err(|_| E::custom("a duration cannot be negative"))
                    .and_then(|v| self.visit_u64(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                parse_duration(v)
                    .map(ConfigDuration::from_duration)
                    .map_err(E::custom)
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_millis() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(
            parse_duration("7d").unwrap(),
            Duration::from_secs(7 * 86_400)
        );
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("30000").unwrap(), Duration::from_secs(30));
        for bad in ["", "1x", "h", "-1s", "1.5h", "99999999999999999999d"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn formats_shortest_exact_form() {
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(format_duration(Duration::from_secs(90)), "90s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn yaml_number_is_millis_and_round_trips() {
        let d: ConfigDuration = serde_yaml_ng::from_str("30000").unwrap();
        assert_eq!(d.get(), Duration::from_secs(30));
        assert_eq!(serde_yaml_ng::to_string(&d).unwrap().trim(), "30000");
        let d: ConfigDuration = serde_yaml_ng::from_str("1h").unwrap();
        assert_eq!(serde_yaml_ng::to_string(&d).unwrap().trim(), "1h");
    }
}
