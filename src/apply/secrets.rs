//! Resolves the secret references of the desired state into values, from the
//! environment or from files (paths relative to the YAML file that names them).
//! Values stay inside `SecretValue`, which never prints itself.

use std::collections::BTreeMap;
use std::path::Path;

use crate::model::{secret_paths, Kind, Name, SecretRef, SecretValue};
use crate::plan::SecretKey;
use crate::validate::DesiredState;

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
            let path = base_dir.join(file);
            return std::fs::read_to_string(&path)
                .map(|s| SecretValue::new(s.trim_end_matches(['\n', '\r'])))
                .map_err(|e| format!("cannot read {}: {e}", path.display()));
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

/// Secret values by object and path.
#[derive(Debug, Default, Clone)]
pub struct ResolvedSecrets {
    /// The values.
    pub values: BTreeMap<SecretKey, SecretValue>,
}

impl ResolvedSecrets {
    /// Digests for planning (values never leave this struct).
    pub fn digests(&self) -> BTreeMap<SecretKey, String> {
        self.values.iter().map(|(k, v)| (k.clone(), v.digest())).collect()
    }
}

/// A secret that could not be read: the object, the field, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {object}: spec.{path}: {reason}")]
pub struct SecretError {
    /// The YAML file naming the secret.
    pub file: String,
    /// The object.
    pub object: String,
    /// Dotted spec path.
    pub path: String,
    /// Why.
    pub reason: String,
}

/// Where an object's secrets are resolved from, for messages and keys.
struct Owner<'a> {
    org: &'a Name,
    kind: Kind,
    name: &'a Name,
    /// The file naming the secrets (or "saved plan").
    file: &'a str,
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
        let pointer = format!("/{}", path.replace('.', "/"));
        let Some(reference) = spec
            .pointer(&pointer)
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
                file: owner.file.to_string(),
                object: format!("{} {:?}", owner.kind.noun(), owner.name.as_str()),
                path: path.to_string(),
                reason,
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
                file,
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
                file: "saved plan",
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
