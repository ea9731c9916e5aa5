//! The `kanidm+https://HOST[:PORT]` backend: an organization is the Kanidm
//! server's domain (one organization per server). Kanidm is a system orgctl
//! does not own, so it is the source of truth: reads map its persons, groups
//! and OAuth2 clients onto the model in four list requests (`read.rs`),
//! writes change single attributes through the `_attr` endpoints
//! (`write.rs`), and what Kanidm cannot hold is a plan error with the reason
//! (`mapping.rs`).
//!
//! Kanidm entries have no free-form labels, so orgctl keeps its facts in
//! groups of its own, all named `orgctl_…` (a name no orgctl object can
//! have, since orgctl names hold no `_`): the tracking group
//! `orgctl_managed` (ownership by membership, the organization's record in
//! its description), one group per app role (scope-mapped to the app), per
//! rule grant, per role binding, per targeted security policy and per
//! AppAssignment rule.

pub mod client;
pub mod mapping;
mod read;
mod write;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::backend::{
    AuditEntry, Backend, BackendError, Capabilities, LiveOrg, PolicyCombination, Preconditions, WriteOutcome,
    WriteRequest,
};
use crate::model::{Name, SecretValue};
pub use client::Settings;

/// An entry's attributes, references stripped of `@domain`.
type Attrs = BTreeMap<String, Vec<String>>;

/// What the tracking group's description records: the organization's name
/// and the fields of its spec Kanidm has no attribute for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct OrgRecord {
    /// The organization this server holds.
    organization: Name,
    /// The Organization spec without `displayName` (that is the domain's).
    #[serde(default)]
    spec: serde_json::Value,
    /// The name of the default security policy (on `idm_all_persons`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy: Option<Name>,
}

/// The raw entries of the last snapshot, kept up to date as writes go.
#[derive(Debug, Clone, Default)]
struct Index {
    /// `domain_display_name`.
    display_name: Option<String>,
    /// True once the tracking group exists.
    tracking: bool,
    /// The organization record, once written.
    record: Option<OrgRecord>,
    /// Names of the entries orgctl manages.
    tracked: BTreeSet<String>,
    persons: BTreeMap<String, Attrs>,
    groups: BTreeMap<String, Attrs>,
    apps: BTreeMap<String, Attrs>,
}

/// A Kanidm server reached through its v1 REST API.
pub struct KanidmBackend {
    client: client::Client,
    address: String,
    indexes: crate::backend::remote::IndexCache<Index>,
}

impl KanidmBackend {
    /// Opens `kanidm+https://HOST[:PORT]` with the token from the environment.
    pub fn open(address: &str) -> Result<KanidmBackend, BackendError> {
        let base = base_of(address)?;
        KanidmBackend::open_at(address, base, Settings::from_env()?)
    }

    /// Opens `address` with explicit settings.
    pub fn open_with(address: &str, settings: Settings) -> Result<KanidmBackend, BackendError> {
        let base = base_of(address)?;
        KanidmBackend::open_at(address, base, settings)
    }

    fn open_at(address: &str, base: &str, settings: Settings) -> Result<KanidmBackend, BackendError> {
        Ok(KanidmBackend {
            client: client::Client::new(base, settings)?,
            address: address.trim_end_matches('/').to_string(),
            indexes: Default::default(),
        })
    }

    /// Requests sent to Kanidm so far (for benchmarks and tests).
    pub fn requests(&self) -> usize {
        self.client.requests()
    }
}

/// The server's base URL: `https://HOST[:PORT]`, or `http://` on loopback only
/// (Kanidm itself serves TLS only; plain HTTP is for test simulators).
fn base_of(address: &str) -> Result<&str, BackendError> {
    let bad = || BackendError::InvalidAddress(address.to_string());
    let base = address
        .strip_prefix("kanidm+")
        .ok_or_else(bad)?
        .trim_end_matches('/');
    let (scheme, host) = base.split_once("://").ok_or_else(bad)?;
    if host.is_empty() || host.contains('/') {
        return Err(bad());
    }
    let loopback = ["127.0.0.1", "localhost", "[::1]"]
        .iter()
        .any(|h| host == *h || host.starts_with(&format!("{h}:")));
    match scheme {
        "https" => Ok(base),
        "http" if loopback => Ok(base),
        "http" => Err(BackendError::Config(format!(
            "{address}: Kanidm is reached over https; plain http is only accepted on loopback (test servers)"
        ))),
        _ => Err(bad()),
    }
}

impl Backend for KanidmBackend {
    fn describe(&self) -> String {
        self.address.clone()
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            gaps: mapping::GAPS.to_vec(),
            check: Some(crate::backend::DesiredCheck::new(mapping::check)),
            transactional: false,
            revisions: false,
            preconditions: Preconditions::None,
            no_history: Some(
                "Kanidm keeps no audit log of orgctl's writes; its own server log records each change (with an operation id)",
            ),
            policies: PolicyCombination::Strictest,
        }
    }

    fn organizations(&self) -> Result<Vec<Name>, BackendError> {
        let index = read::index(&self.client)?;
        Ok(index.record.map(|r| vec![r.organization]).unwrap_or_default())
    }

    fn snapshot(&self, organization: &Name) -> Result<LiveOrg, BackendError> {
        let index = read::index(&self.client)?;
        let live = read::snapshot(&index, organization)?;
        self.indexes.keep(organization, index);
        Ok(live)
    }

    fn write(
        &mut self,
        request: WriteRequest,
        progress: &mut dyn FnMut(usize),
    ) -> Result<WriteOutcome, BackendError> {
        let cached = self.indexes.take(&request.organization);
        let index = match cached {
            Some(i) => i,
            None => read::index(&self.client)?,
        };
        let mut writer = write::Writer::new(&self.client, request.organization.clone(), index);
        let results = writer.run(&request.writes, progress);
        // The index is not trusted past an apply: the next write reads again.
        Ok(WriteOutcome { revision: 0, results })
    }

    fn history(&self, _organization: Option<&Name>, _limit: usize) -> Result<Vec<AuditEntry>, BackendError> {
        Ok(Vec::new())
    }

    /// Kanidm holds no secret orgctl writes (both secret fields are gaps),
    /// so no snapshot carries a digest: this process's key serves.
    fn secret_digests(
        &self,
        _organization: &Name,
        values: &[&SecretValue],
    ) -> Result<Vec<String>, BackendError> {
        let key = crate::backend::process_digest_key();
        Ok(values.iter().map(|v| key.digest(v)).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            token: crate::model::SecretValue::new("t"),
            ca_pem: None,
        }
    }

    #[test]
    fn addresses_take_https_and_loopback_http_only() {
        let b = KanidmBackend::open_with("kanidm+https://idm.example.com/", settings()).expect("open");
        assert_eq!(b.describe(), "kanidm+https://idm.example.com");
        assert_eq!(b.client.base(), "https://idm.example.com");
        let b = KanidmBackend::open_with("kanidm+http://127.0.0.1:8080", settings()).expect("loopback");
        assert_eq!(b.client.base(), "http://127.0.0.1:8080");
        let e = KanidmBackend::open_with("kanidm+http://idm.example.com", settings())
            .err()
            .expect("plain http elsewhere");
        assert_eq!(
            e.to_string(),
            "kanidm+http://idm.example.com: Kanidm is reached over https; plain http is only accepted on loopback (test servers)"
        );
        for bad in [
            "kanidm+ftp://x",
            "kanidm+https://",
            "kanidm:x",
            "kanidm+https://h/path",
        ] {
            assert!(
                matches!(
                    KanidmBackend::open_with(bad, settings()),
                    Err(BackendError::InvalidAddress(_))
                ),
                "{bad}"
            );
        }
    }
}
