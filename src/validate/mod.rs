//! Validate: turns loaded documents into a [`DesiredState`] or the complete
//! list of problems. Checks identity (duplicates), references, membership
//! cycles and the domain rules of every kind. Pure: never touches a backend.
//! Once a `DesiredState` exists nothing downstream reads YAML again.

mod condition;
mod domain;
mod identity;
mod refs;
mod values;

use std::collections::{BTreeMap, HashMap};

use crate::diagnostic::{Diagnostic, Location};
use crate::load::{self, tree::ParsedDoc, Loaded, Source};
use crate::model::{Field, Kind, Name, Spec};

pub use condition::{compile_regex, ConditionField, FIELDS as CONDITION_FIELDS, MAX_REGEX_BYTES};

/// Where a desired object was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// Index of its source.
    pub source: usize,
    /// Index of the document in the source.
    pub index: usize,
    /// Location of the document's start.
    pub location: Location,
}

/// A validated object of the files.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredObject {
    /// Its spec, normalized.
    pub spec: Spec,
    /// Where it was written.
    pub origin: Origin,
}

/// Every declared object of one organization, keyed by kind and name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DesiredOrg {
    /// The objects.
    pub objects: BTreeMap<(Kind, Name), DesiredObject>,
}

impl DesiredOrg {
    /// Looks an object up.
    pub fn get(&self, kind: Kind, name: &str) -> Option<&DesiredObject> {
        let name: Name = name.parse().ok()?;
        self.objects.get(&(kind, name))
    }

    /// Iterates the objects of one kind.
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = (&Name, &DesiredObject)> {
        self.objects
            .iter()
            .filter(move |((k, _), _)| *k == kind)
            .map(|((_, n), o)| (n, o))
    }
}

/// The validated desired state: organizations and their objects.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DesiredState {
    /// Organizations by name.
    pub organizations: BTreeMap<Name, DesiredOrg>,
}

/// Loads and validates sources: the desired state, or every problem found.
pub fn run(sources: &[Source]) -> Result<DesiredState, Vec<Diagnostic>> {
    let (loaded, mut diags) = load::load(sources);
    match validate(loaded, sources) {
        Ok(state) if diags.is_empty() => Ok(state),
        Ok(_) => {
            diags.sort();
            Err(diags)
        }
        Err(more) => {
            diags.extend(more);
            diags.sort();
            diags.dedup();
            Err(diags)
        }
    }
}

/// Collects problems and locates field paths in their sources on demand.
pub(crate) struct Reporter<'a> {
    sources: &'a [Source],
    parsed: HashMap<usize, Vec<ParsedDoc>>,
    pub(crate) diags: Vec<Diagnostic>,
}

impl<'a> Reporter<'a> {
    pub(crate) fn new(sources: &'a [Source]) -> Self {
        Reporter {
            sources,
            parsed: HashMap::new(),
            diags: Vec::new(),
        }
    }

    /// Records a problem at `path` (e.g. `spec.members.users[1]`) of an object.
    pub(crate) fn at(&mut self, origin: &Origin, path: &str, message: impl Into<String>) {
        let location = self.locate(origin, path);
        self.diags.push(Diagnostic {
            location: Some(location),
            path: path.to_string(),
            message: message.into(),
        });
    }

    /// Records a problem at the element `item` of the list at `list_path`
    /// (collections are sets, so the element is found by value).
    pub(crate) fn at_item(
        &mut self,
        origin: &Origin,
        list_path: &str,
        item: &str,
        message: impl Into<String>,
    ) {
        let index = self.doc(origin).and_then(|root| {
            let list = load::node_at(root, list_path)?;
            let items = match &list.value {
                load::tree::NodeValue::Seq(items) => items,
                load::tree::NodeValue::Map(_) => match &list.get("items")?.value {
                    load::tree::NodeValue::Seq(items) => items,
                    _ => return None,
                },
                load::tree::NodeValue::Scalar { .. } => return None,
            };
            items.iter().position(|n| n.as_str() == Some(item))
        });
        let path = match index {
            Some(i) => format!("{list_path}[{i}]"),
            None => list_path.to_string(),
        };
        self.at(origin, &path, message);
    }

    fn doc(&mut self, origin: &Origin) -> Option<&load::tree::Node> {
        let source = self.sources.get(origin.source)?;
        let docs = self
            .parsed
            .entry(origin.source)
            .or_insert_with(|| load::tree::parse_stream(&source.text).0);
        docs.get(origin.index).map(|d| &d.root)
    }

    /// The line and column of `path` in an object's document (the deepest
    /// node of the path that is written).
    pub(crate) fn locate(&mut self, origin: &Origin, path: &str) -> Location {
        let Some(source) = self.sources.get(origin.source) else {
            return origin.location.clone();
        };
        let docs = self
            .parsed
            .entry(origin.source)
            .or_insert_with(|| load::tree::parse_stream(&source.text).0);
        match docs.get(origin.index) {
            Some(doc) => {
                let (line, col) = load::locate_in(&doc.root, path);
                Location {
                    file: source.name.clone(),
                    line,
                    col,
                }
            }
            None => origin.location.clone(),
        }
    }
}

/// Validates loaded documents. Documents that failed to load are known by
/// name so references to them are not reported again.
pub fn validate(loaded: Loaded, sources: &[Source]) -> Result<DesiredState, Vec<Diagnostic>> {
    let mut r = Reporter::new(sources);
    let mut state = DesiredState::default();
    let mut explicit: BTreeMap<Name, identity::ExplicitUsernames> = BTreeMap::new();
    for doc in loaded.documents {
        let origin = Origin {
            source: doc.source,
            index: doc.index,
            location: doc.location,
        };
        let Some(key) = doc.object.key() else {
            r.at(
                &origin,
                "spec.organization",
                "missing required field \"organization\"",
            );
            continue;
        };
        let objects = &mut state
            .organizations
            .entry(key.organization.clone())
            .or_default()
            .objects;
        if let Some(first) = objects.get(&(key.kind, key.name.clone())) {
            let message = format!(
                "duplicate {} {:?} in organization {:?} (first defined at {})",
                key.kind,
                key.name.as_str(),
                key.organization.as_str(),
                first.origin.location
            );
            r.at(&origin, "metadata.name", message);
            continue;
        }
        let mut spec = doc.object.spec;
        if matches!(&spec, Spec::User(u) if !u.username.is_unset()) {
            explicit
                .entry(key.organization.clone())
                .or_default()
                .insert(key.name.clone());
        }
        normalize(&mut spec);
        objects.insert((key.kind, key.name), DesiredObject { spec, origin });
    }
    duplicates_of_failed(&mut r, &state, &loaded.failed);
    let refs = refs::Known {
        failed: &loaded.failed,
        incomplete: loaded.incomplete,
    };
    let declared: Vec<&str> = state
        .organizations
        .iter()
        .filter(|(name, org)| org.get(Kind::Organization, name.as_str()).is_some())
        .map(|(name, _)| name.as_str())
        .collect();
    for (org_name, org) in &state.organizations {
        domain::check_org(&mut r, org_name, org, &refs, &declared);
        for ((kind, name), obj) in &org.objects {
            domain::check_object(&mut r, *kind, name, obj);
            refs::check_object(&mut r, org, obj, &refs);
        }
        refs::check_cycles(&mut r, org);
        let none = identity::ExplicitUsernames::new();
        identity::check_unique_users(&mut r, org, explicit.get(org_name).unwrap_or(&none));
    }
    // Policy ties need every user evaluated: only worth it (and only free of
    // cascades) once everything else holds.
    if r.diags.is_empty() {
        for org in state.organizations.values() {
            domain::check_policy_ties(&mut r, org);
        }
    }
    if r.diags.is_empty() {
        Ok(state)
    } else {
        let mut d = r.diags;
        d.sort();
        d.dedup();
        Err(d)
    }
}

/// A document that failed to load still has its identity: one that repeats
/// a loaded object's kind, organization and name is a duplicate, reported
/// at whichever of the two comes later in the files.
fn duplicates_of_failed(r: &mut Reporter, state: &DesiredState, failed: &[load::FailedDocument]) {
    for f in failed {
        let name = f.name.as_deref().and_then(|n| n.parse::<Name>().ok());
        let org = f.organization.as_deref().and_then(|o| o.parse::<Name>().ok());
        let (Some(kind), Some(name), Some(org)) = (f.kind, name, org) else {
            continue;
        };
        let Some(loaded) = state
            .organizations
            .get(&org)
            .and_then(|o| o.objects.get(&(kind, name.clone())))
        else {
            continue;
        };
        let failed_origin = Origin {
            source: f.source,
            index: f.index,
            location: f.location.clone(),
        };
        let (later, first) = if (f.source, f.index) > (loaded.origin.source, loaded.origin.index) {
            (failed_origin, &loaded.origin.location)
        } else {
            (loaded.origin.clone(), &f.location)
        };
        let message = format!(
            "duplicate {kind} {:?} in organization {:?} (first defined at {first})",
            name.as_str(),
            org.as_str(),
        );
        r.at(&later, "metadata.name", message);
    }
}

/// Normalizations that make equal meanings compare equal: derived usernames,
/// empty strings as clears.
fn normalize(spec: &mut Spec) {
    if let Spec::User(u) = spec {
        if u.username.is_unset() {
            if let Some(email) = &u.email {
                u.username = Field::Set(email.local_part().to_string());
            }
        }
    }
}

/// Checks the domain rules that concern one object alone (required
/// fields, ranges of policy settings, secret references, fields of the wrong
/// application type…) on a spec that does not come from a file, e.g. a write
/// sent to `orgctl serve`. Problems carry the field path and no location.
/// Rules across objects (references, cycles, one super admin, one default
/// policy) need the whole organization and are checked by [`validate`].
pub fn check_spec(kind: Kind, name: &Name, spec: &Spec) -> Vec<Diagnostic> {
    let mut r = Reporter::new(&[]);
    let object = DesiredObject {
        spec: spec.clone(),
        origin: Origin {
            source: 0,
            index: 0,
            location: Location {
                file: String::new(),
                line: 0,
                col: 0,
            },
        },
    };
    domain::check_object(&mut r, kind, name, &object);
    let mut diags = r.diags;
    for d in &mut diags {
        d.location = None;
    }
    diags.sort();
    diags.dedup();
    diags
}
