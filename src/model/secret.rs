//! Secret references and secret values. A secret's value never appears in the
//! files, a plan, a log or an error: the files name where it comes from, the
//! backend reports only a digest keyed with a key it keeps ([`DigestKey`]),
//! and `SecretValue` cannot print itself.

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::Kind;

/// What every plan, log, audit record and export shows instead of a secret
/// field's value (or digest).
pub const SENSITIVE: &str = "(sensitive value)";

/// Paths (dotted, within `spec`) that hold secrets, per kind.
pub fn secret_paths(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Application => &["saml.signingKey", "oidc.clientSecret"],
        Kind::IdentityProvider => &["clientSecret"],
        _ => &[],
    }
}

/// `spec` (the JSON of a spec of `kind`) with every set secret field replaced
/// by [`SENSITIVE`]: not even a digest or a reference is shown.
pub fn redact_secrets(kind: Kind, mut spec: serde_json::Value) -> serde_json::Value {
    for path in secret_paths(kind) {
        if let Some(slot) = spec.pointer_mut(&super::path::pointer(path)) {
            if !slot.is_null() {
                *slot = serde_json::Value::from(SENSITIVE);
            }
        }
    }
    spec
}

/// Where a secret comes from (exactly one source), or, when read from a
/// backend, the digest of the value it holds.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(rename = "SecretRef")]
pub struct SecretRef {
    /// Name of an environment variable holding the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_env: Option<String>,
    /// Path of a file holding the value (trailing newline trimmed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_file: Option<String>,
    /// A key of a Kubernetes Secret in the object's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeyRef>,
    /// Set by backends only: a digest of the stored value, never the value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(skip)]
    pub digest: Option<String>,
}

/// A key inside a Kubernetes Secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretKeyRef {
    /// The Secret's name.
    pub name: String,
    /// The key inside the Secret.
    pub key: String,
}

/// The message for a secret written inline; it never repeats the value.
pub const INLINE_SECRET: &str =
    "secrets must not be written inline: use {fromEnv: VAR}, {fromFile: PATH} or {secretKeyRef: {name, key}}";

/// Deserializes a `SecretRef`, refusing inline strings without echoing them.
pub fn deserialize_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretRef>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<SecretRef>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a secret reference")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            if crate::load::recover::report(INLINE_SECRET.to_string()) {
                Ok(None)
            } else {
                Err(E::custom(INLINE_SECRET))
            }
        }
        // Every other scalar is an inline value too, and serde's default
        // message ("invalid type: floating point 31415.92653, …") would
        // repeat it: each one gets the message that does not.
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            self.visit_str("")
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            self.visit_str("")
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            self.visit_str("")
        }
        fn visit_i128<E: de::Error>(self, _: i128) -> Result<Self::Value, E> {
            self.visit_str("")
        }
        fn visit_u128<E: de::Error>(self, _: u128) -> Result<Self::Value, E> {
            self.visit_str("")
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            self.visit_str("")
        }
        fn visit_char<E: de::Error>(self, _: char) -> Result<Self::Value, E> {
            self.visit_str("")
        }
        fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Self::Value, E> {
            self.visit_str("")
        }
        // A list may hold the value as well; it is not read.
        fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            self.visit_str("")
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            SecretRef::deserialize(de::value::MapAccessDeserializer::new(map)).map(Some)
        }
    }
    d.deserialize_any(V)
}

impl SecretRef {
    /// A short description of the source, safe to print (`env FOO`).
    pub fn describe(&self) -> String {
        match (&self.from_env, &self.from_file, &self.secret_key_ref) {
            (Some(v), _, _) => format!("environment variable {v}"),
            (_, Some(p), _) => format!("file {p}"),
            (_, _, Some(r)) => format!("Secret {}/{}", r.name, r.key),
            _ => "backend-held value".to_string(),
        }
    }
    /// How many sources are named (exactly one is valid in files).
    pub fn source_count(&self) -> usize {
        [
            self.from_env.is_some(),
            self.from_file.is_some(),
            self.secret_key_ref.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count()
    }
}

/// A resolved secret. Debug and Display print [`SENSITIVE`].
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    /// Wraps a value read from its source.
    pub fn new(v: impl Into<String>) -> Self {
        SecretValue(v.into())
    }
    /// The value itself, for the one place that writes it to a backend.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// The prefix of every keyed digest (HMAC-SHA256, cut to 128 bits). A stored
/// digest without it (the unkeyed SHA-256 of earlier versions) matches no
/// value, so the next plan rewrites that secret once.
pub const DIGEST_PREFIX: &str = "hmac-sha256:";

/// The key of a backend's secret digests. Without it a digest cannot be
/// tested against guesses, so a weak secret is not recoverable from a
/// snapshot; only the backend holds it, and it never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct DigestKey([u8; DigestKey::LEN]);

impl DigestKey {
    /// Length of a key in bytes.
    pub const LEN: usize = 32;

    /// A key from its stored bytes; `None` unless exactly [`DigestKey::LEN`].
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Option<DigestKey> {
        bytes.try_into().ok().map(DigestKey)
    }

    /// A key from its stored hex text (as [`DigestKey::to_hex`] writes it).
    #[must_use]
    pub fn from_hex(text: &str) -> Option<DigestKey> {
        if text.len() != Self::LEN * 2 || !text.is_ascii() {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
            .collect();
        Self::from_bytes(&bytes?)
    }

    /// The key's bytes, for the backend that stores it.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The key as hex text, for a backend that stores text.
    #[must_use]
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The keyed digest of `value`: identifies it to whoever holds the key,
    /// reveals nothing to anyone else.
    #[must_use]
    pub fn digest(&self, value: &SecretValue) -> String {
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.0);
        let tag = ring::hmac::sign(&key, value.expose().as_bytes());
        let hex: String = tag.as_ref().iter().take(16).map(|b| format!("{b:02x}")).collect();
        format!("{DIGEST_PREFIX}{hex}")
    }
}

impl fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("DigestKey(sensitive value)")
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(SENSITIVE)
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(SENSITIVE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_secrets_of_any_type_are_refused_without_their_value() {
        #[derive(Debug, Deserialize)]
        struct S {
            #[serde(deserialize_with = "deserialize_secret")]
            #[allow(dead_code)]
            s: Option<SecretRef>,
        }
        for value in [
            "\"hunter2\"",
            "31415.92653",
            "31415",
            "-31415",
            "true",
            "[\"hunter2\"]",
        ] {
            let e = serde_json::from_str::<S>(&format!("{{\"s\": {value}}}")).unwrap_err();
            let text = e.to_string();
            assert!(text.starts_with(INLINE_SECRET), "{value}: {text}");
            assert!(
                !text.contains("31415") && !text.contains("hunter2"),
                "{value}: {text}"
            );
        }
    }

    #[test]
    fn secret_values_never_print() {
        let s = SecretValue::new("hunter2");
        assert_eq!(format!("{s} {s:?}"), "(sensitive value) (sensitive value)");
        let key = DigestKey::from_bytes(&[7; DigestKey::LEN]).expect("a key");
        assert!(!key.digest(&s).contains("hunter2"));
        assert!(!format!("{key:?}").contains(&key.to_hex()));
    }

    #[test]
    fn digests_depend_on_the_key() {
        let s = SecretValue::new("hunter2");
        let a = DigestKey::from_bytes(&[1; DigestKey::LEN]).expect("a key");
        let b = DigestKey::from_bytes(&[2; DigestKey::LEN]).expect("a key");
        assert_eq!(a.digest(&s), a.digest(&s));
        assert_ne!(a.digest(&s), b.digest(&s));
        assert!(a.digest(&s).starts_with(DIGEST_PREFIX));
        assert_eq!(DigestKey::from_hex(&a.to_hex()), Some(a.clone()));
        assert_eq!(DigestKey::from_bytes(a.as_bytes()), Some(a));
        assert_eq!(DigestKey::from_hex("00"), None);
    }
}
