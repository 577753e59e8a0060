//! A configuration value that must never be shown: passwords, tokens, API keys, peppers.
//!
//! `Debug`, `Display` and `Serialize` print a mask instead of the value, so that a secret can
//! sit in any configuration struct that is logged or printed (`gateway check-config`) without
//! each printer having to know which keys are secret. It deserializes from a plain string; the
//! value is reached only through [`Secret::expose`], which makes every use easy to find.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a set secret is shown as.
pub const MASK: &str = "***";

/// A secret string. Empty means "not set" and is shown as empty, so that an operator can tell a
/// missing secret from a masked one.
#[derive(Clone, Default, PartialEq, Eq, Hash, schemars::JsonSchema)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the one place that uses it (a login, a signature, a digest).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn shown(&self) -> &'static str {
        if self.0.is_empty() {
            ""
        } else {
            MASK
        }
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_string())
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.shown())
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.shown())
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.shown())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_printed_form_is_masked_and_expose_gives_the_value() {
        let s: Secret = serde_json::from_str("\"0123456\"").unwrap();
        assert_eq!(s.expose(), "0123456");
        assert_eq!(format!("{s}"), MASK);
        assert_eq!(format!("{s:?}"), format!("{MASK:?}"));
        assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{MASK}\""));
        let unset = Secret::default();
        assert_eq!(serde_json::to_string(&unset).unwrap(), "\"\"");
        assert!(unset.is_empty());
    }
}
