//! Names of services, capabilities and agents: separate types, validated once.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid {kind} name {shown:?}: use 1-64 characters from letters, digits, '.', '_' and '-', starting with a letter or digit"
)]
pub struct NameError {
    kind: &'static str,
    shown: String,
}

fn validate(kind: &'static str, s: &str) -> Result<(), NameError> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(NameError {
            kind,
            shown: s.chars().take(80).collect(),
        })
    }
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Result<Self, NameError> {
                let s = s.into();
                validate($kind, &s)?;
                Ok(Self(s))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, NameError> {
                Self::new(s)
            }
        }
        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&self.0, f)
            }
        }
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

name_type!(
    /// The name of a service (an upstream API or tool account).
    ServiceName,
    "service"
);
name_type!(
    /// The name of a capability (what an agent may ask for).
    CapabilityName,
    "capability"
);
name_type!(
    /// The name of an agent.
    AgentName,
    "agent"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names_and_refuses_the_rest() {
        for ok in ["stripe", "gh-issues", "a", "x.y_z-1", "A1"] {
            assert!(ServiceName::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", ".x", "a b", "a/b", "ü", "a\nb", &"x".repeat(65)] {
            assert!(AgentName::new(bad).is_err(), "{bad:?}");
        }
        let e = CapabilityName::new("a/b").unwrap_err().to_string();
        assert!(e.contains("capability"), "{e}");
    }
}
