//! Secrets from the Kubernetes API: the backend token an Organization's
//! `connection.tokenSecretRef` names, and the `secretKeyRef` references in
//! specs. The engine's [`SecretSource`] is synchronous and runs on a
//! blocking thread, so the Secrets an organization references are read
//! (asynchronously, once per reconcile) before the engine runs, and the
//! engine resolves from that set.
//!
//! Must not: print, log or return a value anywhere but inside
//! [`SecretValue`]; errors name the Secret and key, never the content.

use std::collections::BTreeMap;
use std::path::Path;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use serde_json::Value;

use super::objects::OrgKey;
use crate::apply::SecretSource;
use crate::model::{secret_paths, Kind, SecretKeyRef, SecretRef, SecretValue};

/// The Secrets each organization's last reconcile read (its backend token
/// and its `secretKeyRef`s), so a change to one of them (created, rotated,
/// deleted) triggers the organizations that use it.
#[derive(Debug, Default)]
pub struct SecretUsers {
    by_org: std::sync::Mutex<std::collections::HashMap<OrgKey, std::collections::BTreeSet<String>>>,
}

impl SecretUsers {
    /// Records the Secrets (names in `org`'s namespace) `org` reads now.
    pub fn record(&self, org: &OrgKey, names: std::collections::BTreeSet<String>) {
        let mut by_org = self.by_org.lock().unwrap_or_else(|e| e.into_inner());
        if names.is_empty() {
            by_org.remove(org);
        } else {
            by_org.insert(org.clone(), names);
        }
    }

    /// The organizations that read Secret `namespace/name`.
    pub fn of(&self, namespace: &str, name: &str) -> Vec<OrgKey> {
        let by_org = self.by_org.lock().unwrap_or_else(|e| e.into_inner());
        by_org
            .iter()
            .filter(|(org, names)| org.namespace == namespace && names.contains(name))
            .map(|(org, _)| org.clone())
            .collect()
    }
}

/// Why a Secret key could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretReadError {
    /// The Secret does not exist.
    #[error("Secret {namespace}/{name} not found")]
    NotFound {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// The Secret has no such key.
    #[error("Secret {namespace}/{name} has no key {key:?}")]
    MissingKey {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The key.
        key: String,
    },
    /// The key's value is not UTF-8 text.
    #[error("Secret {namespace}/{name} key {key:?} is not UTF-8 text")]
    NotText {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The key.
        key: String,
    },
    /// The API server refused or failed the read.
    #[error("failed to read Secret {namespace}/{name}: {reason}")]
    Api {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The API error (never holds the Secret's data).
        reason: String,
    },
}

/// Reads one key of a Secret, trimming a trailing newline.
pub async fn read_key(
    client: &Client,
    namespace: &str,
    r: &SecretKeyRef,
) -> Result<SecretValue, SecretReadError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = match api.get_opt(&r.name).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err(SecretReadError::NotFound {
                namespace: namespace.to_string(),
                name: r.name.clone(),
            })
        }
        Err(e) => {
            return Err(SecretReadError::Api {
                namespace: namespace.to_string(),
                name: r.name.clone(),
                reason: e.to_string(),
            })
        }
    };
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&r.key))
        .map(|b| b.0.clone())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|d| d.get(&r.key))
                .map(|s| s.clone().into_bytes())
        })
        .ok_or_else(|| SecretReadError::MissingKey {
            namespace: namespace.to_string(),
            name: r.name.clone(),
            key: r.key.clone(),
        })?;
    let text = String::from_utf8(bytes).map_err(|_| SecretReadError::NotText {
        namespace: namespace.to_string(),
        name: r.name.clone(),
        key: r.key.clone(),
    })?;
    Ok(SecretValue::new(text.trim_end_matches(['\n', '\r'])))
}

/// The secret references in a spec of `kind` (at the model's secret paths).
pub fn references(kind: Kind, spec: &Value) -> Vec<SecretRef> {
    secret_paths(kind)
        .iter()
        .filter_map(|path| spec.pointer(&crate::model::path::pointer(path)))
        .filter(|v| !v.is_null())
        .filter_map(|v| serde_json::from_value::<SecretRef>(v.clone()).ok())
        .collect()
}

/// The Secret keys an organization references, read before the engine runs.
#[derive(Default)]
pub struct KubeSecrets {
    /// (Secret name, key) → value or why it could not be read.
    values: BTreeMap<(String, String), Result<SecretValue, SecretReadError>>,
}

impl KubeSecrets {
    /// Reads every reference once (each distinct Secret key one GET).
    pub async fn read(
        client: &Client,
        namespace: &str,
        refs: impl IntoIterator<Item = SecretKeyRef>,
    ) -> Self {
        let mut values = BTreeMap::new();
        for r in refs {
            let key = (r.name.clone(), r.key.clone());
            if values.contains_key(&key) {
                continue;
            }
            values.insert(key, read_key(client, namespace, &r).await);
        }
        KubeSecrets { values }
    }

    /// Why a reference cannot be resolved, if it cannot.
    pub fn problem(&self, r: &SecretKeyRef) -> Option<&SecretReadError> {
        match self.values.get(&(r.name.clone(), r.key.clone())) {
            Some(Err(e)) => Some(e),
            Some(Ok(_)) | None => None,
        }
    }
}

impl SecretSource for KubeSecrets {
    fn resolve(&self, reference: &SecretRef, _base_dir: &Path) -> Result<SecretValue, String> {
        if let Some(r) = &reference.secret_key_ref {
            return match self.values.get(&(r.name.clone(), r.key.clone())) {
                Some(Ok(v)) => Ok(v.clone()),
                Some(Err(e)) => Err(e.to_string()),
                None => Err(format!("Secret {}/{} was not read", r.name, r.key)),
            };
        }
        // The controller's pod holds no files or variables of the user's.
        Err(format!(
            "{} cannot be read by the controller; use secretKeyRef",
            reference.describe()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_are_found_at_the_secret_paths() {
        let spec = json!({
            "oidc": {"clientSecret": {"secretKeyRef": {"name": "app", "key": "secret"}}},
            "saml": {"signingKey": {"fromEnv": "X"}}
        });
        let refs = references(Kind::Application, &spec);
        assert_eq!(refs.len(), 2);
        assert_eq!(refs[0].secret_key_ref.as_ref().map(|r| r.name.as_str()), None);
        assert_eq!(
            refs[1].secret_key_ref.as_ref().map(|r| r.name.as_str()),
            Some("app")
        );
    }

    #[test]
    fn errors_never_hold_values() {
        let s = KubeSecrets::default();
        let r = SecretRef {
            from_env: Some("TOKEN".into()),
            ..SecretRef::default()
        };
        let e = s.resolve(&r, Path::new(".")).expect_err("not readable here");
        assert!(e.contains("secretKeyRef"), "{e}");
    }
}
