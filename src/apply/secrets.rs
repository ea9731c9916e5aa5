//! Resolves the secret references of the desired state into values, from the
//! environment or from files (paths relative to the YAML file that names them).
//! Values stay inside `SecretValue`, which never prints itself.

use std::collections::BTreeMap;
use std::path::Path;

use crate::backend::{Backend, BackendError, LiveOrg};
use crate::load::Source;
use crate::model::{secret_paths, Kind, Name, SecretRef, SecretValue};
use crate::plan::{Plan, SecretKey, KEPT_SECRET};
use crate::validate::{DesiredState, Origin};

/// Where secret values come from.
pub trait SecretSource {
    /// Reads one secret; the error says what was missing, never a value.
    fn resolve(&self, reference: &SecretRef, base_dir: &Path) -> Result<SecretValue, String>;
}

/// Reads `fromEnv` from the process environment and `fromFile` from disk.
pub struct EnvAndFiles;

impl SecretSource for EnvAndFiles {
    fn resolve(&self, r: &SecretRef, base_dir: &Path) -> Result<SecretValue, String> {
        if let Some(var) = &r.from_env {
            return std::env::var(var)
                .map(SecretValue::new)
                .map_err(|_| format!("environment variable {var} is not set"));
        }
        if let Some(file) = &r.from_file {
            return read_secret_file(&base_dir.join(file))
                .map(|s| SecretValue::new(s.trim_end_matches(['\n', '\r'])));
        }
        if let Some(k) = &r.secret_key_ref {
            return Err(format!(
                "Secret {}/{} can only be read by `orgctl controller`; use fromEnv or fromFile on the command line",
                k.name, k.key
            ));
        }
        Err("the reference names no source".to_string())
    }
}

/// Largest secret file read, in bytes: a PEM private key with its chain is
/// a few KiB; anything near this is not one value.
pub const MAX_SECRET_FILE_BYTES: u64 = 1024 * 1024;

/// Reads a `fromFile` secret: a regular file (symbolic links followed) of at
/// most [`MAX_SECRET_FILE_BYTES`]. A FIFO would block the apply until someone
/// writes to it and a device such as /dev/zero never ends, so anything but a
/// regular file is refused before it is opened; the read is bounded as well,
/// in case the path changes between the check and the read.
fn read_secret_file(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    if !meta.is_file() {
        let what = file_type_word(&meta.file_type());
        return Err(format!(
            "cannot read {shown}: it is {what}, not a regular file; fromFile reads a regular file holding the value"
        ));
    }
    let too_large = || {
        format!(
            "cannot read {shown}: it is larger than {} KiB; fromFile reads a file holding one value",
            MAX_SECRET_FILE_BYTES / 1024
        )
    };
    if meta.len() > MAX_SECRET_FILE_BYTES {
        return Err(too_large());
    }
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    if bytes.len() as u64 > MAX_SECRET_FILE_BYTES {
        return Err(too_large());
    }
    String::from_utf8(bytes).map_err(|_| format!("cannot read {shown}: it is not UTF-8 text"))
}

/// "a directory", "a FIFO"… for a file that is not a regular file.
fn file_type_word(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a regular file"
    }
}

/// Secret values by object and path, and once a backend has digested them
/// ([`ResolvedSecrets::digest_with`]), their keyed digests.
#[derive(Debug, Default, Clone)]
pub struct ResolvedSecrets {
    /// The values.
    pub values: BTreeMap<SecretKey, SecretValue>,
    /// Each value's digest under the backend's key (empty until digested).
    pub digests: BTreeMap<SecretKey, String>,
    /// The live digest of each secret a change keeps (marked
    /// [`KEPT_SECRET`] in the plan), from the snapshot apply runs against.
    pub kept: BTreeMap<SecretKey, String>,
}

impl ResolvedSecrets {
    /// Notes, from `live`, the digest of every secret a change of `plan`
    /// keeps: the plan holds only the [`KEPT_SECRET`] marker, and a backend
    /// keeps a stored value only when a write names its digest.
    pub fn keep_live(&mut self, plan: &Plan, live: &BTreeMap<Name, LiveOrg>) {
        for org in &plan.organizations {
            let Some(live_org) = live.get(&org.organization) else {
                continue;
            };
            // Only kinds with secret fields: parsing every planned spec of a
            // large update (users have none) would cost as much as the diff.
            for change in org.changes.iter().filter(|c| !secret_paths(c.kind).is_empty()) {
                let Some(after) = &change.after else { continue };
                let Some(current) = live_org.get(change.kind, &change.name) else {
                    continue;
                };
                let (after, current) = (after.value(), current.spec.to_json());
                for path in secret_paths(change.kind) {
                    let pointer = format!("{}/digest", crate::model::path::pointer(path));
                    if after.pointer(&pointer).and_then(serde_json::Value::as_str) != Some(KEPT_SECRET) {
                        continue;
                    }
                    if let Some(d) = current.pointer(&pointer).and_then(serde_json::Value::as_str) {
                        let key = (
                            org.organization.clone(),
                            change.kind,
                            change.name.clone(),
                            path.to_string(),
                        );
                        self.kept.insert(key, d.to_string());
                    }
                }
            }
        }
    }

    /// Asks `backend` for the keyed digest of every value, one call per
    /// organization: the plan compares them with the snapshot's, and a write
    /// carries them in place of the value.
    pub fn digest_with(&mut self, backend: &dyn Backend) -> Result<(), BackendError> {
        let mut by_org: BTreeMap<&Name, Vec<(&SecretKey, &SecretValue)>> = BTreeMap::new();
        for (key, value) in &self.values {
            by_org.entry(&key.0).or_default().push((key, value));
        }
        let mut digests = BTreeMap::new();
        for (org, entries) in by_org {
            let values: Vec<&SecretValue> = entries.iter().map(|(_, v)| *v).collect();
            let answer = backend.secret_digests(org, &values)?;
            if answer.len() != values.len() {
                return Err(BackendError::Remote(format!(
                    "{} answered {} secret digests for {} values",
                    backend.describe(),
                    answer.len(),
                    values.len()
                )));
            }
            for ((key, _), digest) in entries.into_iter().zip(answer) {
                digests.insert(key.clone(), digest);
            }
        }
        self.digests = digests;
        Ok(())
    }
}

/// A secret that could not be read: where it is named, the object, the
/// field, and why. Displayed like every problem in the files:
/// `file:line:col: spec.path: reason (object)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{place}: spec.{path}: {reason} ({object})")]
pub struct SecretError {
    /// Where the reference is written: `file:line:col`, or `saved plan`.
    pub place: String,
    /// The object.
    pub object: String,
    /// Dotted spec path.
    pub path: String,
    /// Why.
    pub reason: String,
    /// The document naming the secret, for [`locate`] (none for a saved plan).
    pub origin: Option<Origin>,
}

/// Points each error at the reference itself (the `fromEnv`/`fromFile`
/// value) rather than at the start of its document. Locating re-reads the
/// source, which is only worth it once something failed.
pub fn locate(errors: &mut [SecretError], sources: &[Source]) {
    for e in errors {
        let Some(origin) = &e.origin else { continue };
        let Some(source) = sources.get(origin.source) else {
            continue;
        };
        let (docs, _) = crate::load::tree::parse_stream(&source.text);
        let Some(root) = docs.get(origin.index).map(|d| &d.root) else {
            continue;
        };
        let path = format!("spec.{}", e.path);
        let (line, col) = ["fromEnv", "fromFile", "secretKeyRef"]
            .iter()
            .find_map(|key| crate::load::node_at(root, &format!("{path}.{key}")))
            .map_or_else(|| crate::load::locate_in(root, &path), |n| (n.line, n.col));
        e.place = format!("{}:{line}:{col}", source.name);
    }
}

/// Where an object's secrets are resolved from, for messages and keys.
struct Owner<'a> {
    org: &'a Name,
    kind: Kind,
    name: &'a Name,
    /// Where the document naming the secrets starts (or "saved plan").
    place: String,
    /// That document, when it comes from the files.
    origin: Option<&'a Origin>,
    /// Directory relative `fromFile` paths start from.
    base: &'a Path,
}

/// Resolves every secret reference in one object's spec JSON.
fn resolve_object(
    owner: &Owner,
    spec: &serde_json::Value,
    source: &dyn SecretSource,
    out: &mut ResolvedSecrets,
    errors: &mut Vec<SecretError>,
) {
    for path in secret_paths(owner.kind) {
        let Some(reference) = spec
            .pointer(&crate::model::path::pointer(path))
            .filter(|v| !v.is_null())
            .and_then(|v| serde_json::from_value::<SecretRef>(v.clone()).ok())
            .filter(|r| r.source_count() == 1)
        else {
            continue;
        };
        match source.resolve(&reference, owner.base) {
            Ok(v) => {
                let key = (
                    owner.org.clone(),
                    owner.kind,
                    owner.name.clone(),
                    path.to_string(),
                );
                out.values.insert(key, v);
            }
            Err(reason) => errors.push(SecretError {
                place: owner.place.clone(),
                object: owner.kind.label(owner.name.as_str()).to_string(),
                path: path.to_string(),
                reason,
                origin: owner.origin.cloned(),
            }),
        }
    }
}

fn finish(out: ResolvedSecrets, errors: Vec<SecretError>) -> Result<ResolvedSecrets, Vec<SecretError>> {
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Resolves every secret reference of the desired state, reporting all failures.
pub fn resolve(
    desired: &DesiredState,
    source: &dyn SecretSource,
) -> Result<ResolvedSecrets, Vec<SecretError>> {
    let mut out = ResolvedSecrets::default();
    let mut errors = Vec::new();
    for (org, desired_org) in &desired.organizations {
        for ((kind, name), obj) in &desired_org.objects {
            if secret_paths(*kind).is_empty() {
                continue;
            }
            let file = &obj.origin.location.file;
            let owner = Owner {
                org,
                kind: *kind,
                name,
                place: obj.origin.location.to_string(),
                origin: Some(&obj.origin),
                base: Path::new(file).parent().unwrap_or(Path::new(".")),
            };
            resolve_object(&owner, &obj.spec.to_json(), source, &mut out, &mut errors);
        }
    }
    finish(out, errors)
}

/// Resolves the secret references a saved plan will write (its `fromFile`
/// paths were made absolute when it was planned).
pub fn resolve_plan(
    plan: &crate::plan::Plan,
    source: &dyn SecretSource,
) -> Result<ResolvedSecrets, Vec<SecretError>> {
    let mut out = ResolvedSecrets::default();
    let mut errors = Vec::new();
    for org in &plan.organizations {
        for change in &org.changes {
            let Some(after) = &change.after else { continue };
            let owner = Owner {
                org: &org.organization,
                kind: change.kind,
                name: &change.name,
                place: "saved plan".to_string(),
                origin: None,
                base: Path::new("."),
            };
            resolve_object(&owner, &after.value(), source, &mut out, &mut errors);
        }
    }
    finish(out, errors)
}

/// Makes every `fromFile` path absolute (relative to the YAML file naming it),
/// so a saved plan resolves the same files from any working directory.
pub fn absolutize_files(desired: &mut DesiredState) {
    use crate::model::Spec;
    for org in desired.organizations.values_mut() {
        for obj in org.objects.values_mut() {
            let base = Path::new(&obj.origin.location.file)
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            let base = std::path::absolute(&base).unwrap_or(base);
            let refs: Vec<&mut SecretRef> = match &mut obj.spec {
                Spec::Application(a) => {
                    let mut v = Vec::new();
                    if let Some(s) = a.saml.get_mut().and_then(|s| s.signing_key.as_mut()) {
                        v.push(s);
                    }
                    if let Some(o) = a.oidc.get_mut().and_then(|o| o.client_secret.as_mut()) {
                        v.push(o);
                    }
                    v
                }
                Spec::IdentityProvider(i) => i.client_secret.as_mut().into_iter().collect(),
                _ => Vec::new(),
            };
            for r in refs {
                if let Some(f) = &mut r.from_file {
                    *f = base.join(&*f).display().to_string();
                }
            }
        }
    }
}
