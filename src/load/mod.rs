//! Load: turns source texts into typed objects that remember where they came
//! from. Pure: callers pass the bytes (see `cli::sources` for reading files).
//! Every problem of every document is collected; a document with a problem is
//! left out of the result but its identity is kept, so later checks do not
//! report cascades.

mod de;
pub mod emit;
pub mod recover;
pub mod tree;

use serde::Deserialize;

use crate::diagnostic::{did_you_mean, Diagnostic, Location};
use crate::model::{
    AppAssignmentSpec, ApplicationSpec, GroupSpec, IdentityProviderSpec, Kind, Metadata, Name, Object,
    OrganizationSpec, RoleBindingSpec, RoleSpec, SecurityPolicySpec, Spec, UserSpec, API_VERSION,
};
use tree::{parse_stream, Node};

/// One input: a file path (or `<stdin>`) and its text.
#[derive(Debug, Clone)]
pub struct Source {
    /// Path as the user gave it.
    pub name: String,
    /// The whole text.
    pub text: String,
}

/// An object and where it was written.
#[derive(Debug, Clone)]
pub struct Document {
    /// Index into the sources passed to [`load`].
    pub source: usize,
    /// Index of the document within its source.
    pub index: usize,
    /// Location of the document's start.
    pub location: Location,
    /// The object.
    pub object: Object,
}

/// What could be learnt of a document that did not load: enough for the
/// checks across objects to count it (references to it, the organization's
/// default policy), so its mistakes are reported once, where they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedDocument {
    /// Its kind, when readable.
    pub kind: Option<Kind>,
    /// Its name, when readable.
    pub name: Option<String>,
    /// Its `spec.organization` (for an Organization, its name), when readable.
    pub organization: Option<String>,
    /// It has a `spec.default` that is not `false`: a security policy that
    /// may be its organization's default.
    pub may_be_default: bool,
    /// Index of its source.
    pub source: usize,
    /// Index of the document in its source.
    pub index: usize,
    /// Where the document starts.
    pub location: Location,
}

impl FailedDocument {
    /// Reads what it can of a document's tree.
    fn of(root: &Node) -> Self {
        let text = |n: Option<&Node>| n.and_then(Node::as_str).map(str::to_string);
        let kind = root
            .get("kind")
            .and_then(|k| k.as_str())
            .and_then(|k| k.parse().ok());
        let name = text(root.get("metadata").and_then(|m| m.get("name")));
        let spec = root.get("spec");
        let organization = if kind == Some(Kind::Organization) {
            name.clone()
        } else {
            text(spec.and_then(|s| s.get("organization")))
        };
        let may_be_default = spec
            .and_then(|s| s.get("default"))
            .is_some_and(|d| d.as_str().and_then(tree::parse_bool) != Some(false));
        FailedDocument {
            kind,
            name,
            organization,
            may_be_default,
            // Where it is comes from `load`, which knows the source.
            source: 0,
            index: 0,
            location: Location {
                file: String::new(),
                line: root.line,
                col: root.col,
            },
        }
    }

    /// True when this document may be an object of `kind` in `organization`.
    pub fn may_be(&self, kind: Kind, organization: &str) -> bool {
        self.kind.is_none_or(|k| k == kind) && self.organization.as_deref().is_none_or(|o| o == organization)
    }
}

/// The result of loading: good documents, and what failed.
#[derive(Debug, Default)]
pub struct Loaded {
    /// Documents that parsed into objects.
    pub documents: Vec<Document>,
    /// Documents that did not (their problems are in the diagnostics).
    pub failed: Vec<FailedDocument>,
    /// True when a syntax error hid the rest of a file: references cannot be
    /// checked for completeness.
    pub incomplete: bool,
}

const ENVELOPE: [&str; 4] = ["apiVersion", "kind", "metadata", "spec"];

/// Loads every document of every source, collecting all problems.
pub fn load(sources: &[Source]) -> (Loaded, Vec<Diagnostic>) {
    let mut loaded = Loaded::default();
    let mut diags = Vec::new();
    let mut pieces: Vec<(usize, &str, usize)> = Vec::new();
    for (si, source) in sources.iter().enumerate() {
        if source.text.len() > tree::MAX_SOURCE_BYTES {
            // parse_stream reports the size problem without parsing.
            let (_, errors) = parse_stream(&source.text);
            loaded.incomplete = true;
            diags.extend(errors.into_iter().map(|e| syntax_diagnostic(&source.name, e)));
            continue;
        }
        pieces.extend(
            tree::split_documents(&source.text)
                .into_iter()
                .map(|(t, off)| (si, t, off)),
        );
    }
    let results = parallel_map(&pieces, |(_, text, offset)| load_piece(text, *offset));
    let mut next_index = vec![0usize; sources.len()];
    for ((si, _, _), piece) in pieces.iter().zip(results) {
        let name = &sources[*si].name;
        if let Some(e) = piece.error {
            loaded.incomplete = true;
            diags.push(syntax_diagnostic(name, e));
        }
        for doc in piece.documents {
            let index = next_index[*si];
            next_index[*si] += 1;
            match doc {
                PieceDoc::Loaded { object, line, col } => loaded.documents.push(Document {
                    source: *si,
                    index,
                    location: Location {
                        file: name.clone(),
                        line,
                        col,
                    },
                    object: *object,
                }),
                PieceDoc::Failed {
                    mut identity,
                    problems,
                } => {
                    identity.source = *si;
                    identity.index = index;
                    identity.location.file = name.clone();
                    loaded.failed.push(identity);
                    diags.extend(problems.into_iter().map(|r| Diagnostic {
                        location: Some(Location {
                            file: name.clone(),
                            line: r.line,
                            col: r.col,
                        }),
                        path: r.path,
                        message: r.message,
                    }));
                }
            }
        }
    }
    (loaded, diags)
}

fn syntax_diagnostic(file: &str, e: tree::ParseError) -> Diagnostic {
    Diagnostic {
        location: Some(Location {
            file: file.to_string(),
            line: e.line,
            col: e.col,
        }),
        path: String::new(),
        message: e.message,
    }
}

/// What one piece of a source yielded, documents in order.
struct PieceResult {
    documents: Vec<PieceDoc>,
    error: Option<tree::ParseError>,
}

enum PieceDoc {
    Loaded {
        object: Box<Object>,
        line: usize,
        col: usize,
    },
    Failed {
        identity: FailedDocument,
        problems: Vec<recover::Recorded>,
    },
}

fn load_piece(text: &str, line_offset: usize) -> PieceResult {
    let (docs, error) = tree::parse_piece(text, line_offset);
    let documents = docs
        .into_iter()
        .map(|doc| match load_document(&doc.root) {
            Ok(object) => PieceDoc::Loaded {
                object: Box::new(object),
                line: doc.root.line,
                col: doc.root.col,
            },
            Err(problems) => PieceDoc::Failed {
                identity: FailedDocument::of(&doc.root),
                problems,
            },
        })
        .collect();
    PieceResult { documents, error }
}

/// Below this many bytes, loading stays on one thread.
const PARALLEL_THRESHOLD: usize = 256 * 1024;

/// Maps pieces on the machine's cores, keeping order: each thread takes a
/// contiguous run of pieces of about equal size.
fn parallel_map<R: Send>(
    pieces: &[(usize, &str, usize)],
    f: impl Fn(&(usize, &str, usize)) -> R + Sync,
) -> Vec<R> {
    let total: usize = pieces.iter().map(|p| p.1.len()).sum();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads < 2 || total < PARALLEL_THRESHOLD || pieces.len() < 2 {
        return pieces.iter().map(&f).collect();
    }
    let mut runs: Vec<&[(usize, &str, usize)]> = Vec::new();
    let (mut start, mut acc) = (0, 0);
    for (i, p) in pieces.iter().enumerate() {
        acc += p.1.len();
        if acc * threads >= total * (runs.len() + 1) && runs.len() + 1 < threads {
            runs.push(&pieces[start..=i]);
            start = i + 1;
        }
    }
    runs.push(&pieces[start..]);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .into_iter()
            .map(|run| scope.spawn(move || run.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

fn problem(node: &Node, path: &str, message: impl Into<String>) -> recover::Recorded {
    recover::Recorded {
        line: node.line,
        col: node.col,
        path: path.to_string(),
        message: message.into(),
    }
}

fn load_document(root: &Node) -> Result<Object, Vec<recover::Recorded>> {
    let mut problems = Vec::new();
    let tree::NodeValue::Map(entries) = &root.value else {
        return Err(vec![problem(
            root,
            "",
            format!(
                "expected an object with apiVersion, kind, metadata and spec, found {}",
                root.describe()
            ),
        )]);
    };
    // Envelope fields a misspelt key was taken for: their absence is that
    // key's problem, not reported a second time.
    let mut suggested = Vec::new();
    for (k, _) in entries {
        let key = k.as_str().unwrap_or_default();
        if !ENVELOPE.contains(&key) {
            let message = match did_you_mean(key, ENVELOPE) {
                Some(s) => {
                    suggested.push(s);
                    format!("unknown field {key:?}, did you mean {s:?}?")
                }
                None => format!("unknown field {key:?}; expected one of: {}", ENVELOPE.join(", ")),
            };
            problems.push(problem(k, key, message));
        }
    }
    let explained = |field: &str| suggested.contains(&field);
    match root.get("apiVersion") {
        None if explained("apiVersion") => {}
        None => problems.push(problem(
            root,
            "apiVersion",
            format!("missing required field \"apiVersion\" (expected {API_VERSION:?})"),
        )),
        Some(v) if v.as_str() != Some(API_VERSION) => problems.push(problem(
            v,
            "apiVersion",
            format!(
                "unknown apiVersion {:?}; expected {API_VERSION:?}",
                v.as_str().unwrap_or_default()
            ),
        )),
        Some(_) => {}
    }
    let kind = match root.get("kind") {
        None if explained("kind") => None,
        None => {
            problems.push(problem(root, "kind", "missing required field \"kind\""));
            None
        }
        Some(k) => {
            let text = k.as_str().unwrap_or_default();
            match text.parse::<Kind>() {
                Ok(kind) => Some(kind),
                Err(_) => {
                    let names = Kind::ALL.map(Kind::as_str);
                    let message = match did_you_mean(text, names) {
                        Some(s) => format!("unknown kind {text:?}, did you mean {s:?}?"),
                        None => format!("unknown kind {text:?}; expected one of: {}", names.join(", ")),
                    };
                    problems.push(problem(k, "kind", message));
                    None
                }
            }
        }
    };
    let metadata = match root.get("metadata") {
        None if explained("metadata") => None,
        None => {
            problems.push(problem(root, "metadata", "missing required field \"metadata\""));
            None
        }
        Some(node) => {
            let (r, recorded) = recover::with_sink("metadata", || Metadata::deserialize(de::NodeDe(node)));
            problems.extend(recorded);
            r.ok()
        }
    };
    let spec = match (root.get("spec"), kind) {
        (None, _) if explained("spec") => None,
        (None, _) => {
            problems.push(problem(root, "spec", "missing required field \"spec\""));
            None
        }
        (Some(_), None) => None,
        (Some(node), Some(kind)) => {
            let (r, recorded) = recover::with_sink("spec", || spec_from_node(kind, node));
            problems.extend(recorded);
            r.ok()
        }
    };
    match (metadata, spec) {
        (Some(metadata), Some(spec)) if problems.is_empty() => Ok(Object { metadata, spec }),
        _ => Err(problems),
    }
}

fn spec_from_node(kind: Kind, node: &Node) -> Result<Spec, de::DeError> {
    let d = || de::NodeDe(node);
    Ok(match kind {
        Kind::Organization => Spec::Organization(Box::new(OrganizationSpec::deserialize(d())?)),
        Kind::User => Spec::User(Box::new(UserSpec::deserialize(d())?)),
        Kind::Group => Spec::Group(Box::new(GroupSpec::deserialize(d())?)),
        Kind::Application => Spec::Application(Box::new(ApplicationSpec::deserialize(d())?)),
        Kind::IdentityProvider => Spec::IdentityProvider(Box::new(IdentityProviderSpec::deserialize(d())?)),
        Kind::Role => Spec::Role(Box::new(RoleSpec::deserialize(d())?)),
        Kind::RoleBinding => Spec::RoleBinding(Box::new(RoleBindingSpec::deserialize(d())?)),
        Kind::SecurityPolicy => Spec::SecurityPolicy(Box::new(SecurityPolicySpec::deserialize(d())?)),
        Kind::AppAssignment => Spec::AppAssignment(Box::new(AppAssignmentSpec::deserialize(d())?)),
    })
}

/// Deserializes one node as `T` with the loader's error recovery (every
/// unknown field with a did-you-mean, wrong type and bad scalar, located),
/// for documents that are not objects of the model (posture exceptions).
/// `path` is the node's field path, the prefix of the problems' paths. The
/// value read is returned beside the problems (with stand-ins where a
/// problem was), so callers can check its fields too.
pub fn typed<T: serde::de::DeserializeOwned>(node: &Node, path: &str) -> (Option<T>, Vec<recover::Recorded>) {
    let (r, mut recorded) = recover::with_sink(path, || T::deserialize(de::NodeDe(node)));
    match r {
        Ok(v) => (Some(v), recorded),
        Err(e) => {
            if recorded.is_empty() {
                recorded.push(problem(node, path, e.to_string()));
            }
            (None, recorded)
        }
    }
}

/// Finds the line and column of a field path (`spec.members.users[2]`) in
/// document `index` of `text`: the deepest node of the path that exists.
pub fn locate(text: &str, index: usize, path: &str) -> Option<(usize, usize)> {
    let (docs, _) = parse_stream(text);
    Some(locate_in(&docs.get(index)?.root, path))
}

/// Finds the line and column of a field path below `root`: the deepest node
/// of the path that exists.
pub fn locate_in(root: &Node, path: &str) -> (usize, usize) {
    let node = walk(root, path).0;
    (node.line, node.col)
}

/// The node at exactly `path`, if it exists.
pub fn node_at<'a>(root: &'a Node, path: &str) -> Option<&'a Node> {
    match walk(root, path) {
        (node, true) => Some(node),
        (_, false) => None,
    }
}

/// Walks `path` from `root`: the deepest node reached and whether the walk was complete.
fn walk<'a>(root: &'a Node, path: &str) -> (&'a Node, bool) {
    let mut node = root;
    for seg in split_path(path) {
        let next = match seg {
            PathSeg::Key(k) => node.get(k),
            PathSeg::Index(i) => match &node.value {
                tree::NodeValue::Seq(items) => items.get(i),
                tree::NodeValue::Map(_) => node.get("items").and_then(|n| match &n.value {
                    tree::NodeValue::Seq(items) => items.get(i),
                    _ => None,
                }),
                tree::NodeValue::Scalar { .. } => None,
            },
        };
        match next {
            Some(n) => node = n,
            None => return (node, false),
        }
    }
    (node, true)
}

enum PathSeg<'a> {
    Key(&'a str),
    Index(usize),
}

fn split_path(path: &str) -> Vec<PathSeg<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, rest) = part.split_once('[').map_or((part, ""), |(k, r)| (k, r));
        if !key.is_empty() {
            out.push(PathSeg::Key(key));
        }
        for idx in rest.split('[') {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(PathSeg::Index(i));
            }
        }
    }
    out
}

/// Names of objects of `kind` that failed to load (for cascade suppression).
pub fn failed_names(loaded: &Loaded, kind: Kind) -> impl Iterator<Item = &str> {
    loaded
        .failed
        .iter()
        .filter(move |f| f.kind.is_none() || f.kind == Some(kind))
        .filter_map(|f| f.name.as_deref())
}

/// Parses a name, for callers that hold raw text.
pub fn parse_name(s: &str) -> Option<Name> {
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (Loaded, Vec<String>) {
        let (l, d) = load(&[Source {
            name: "t.yaml".into(),
            text: text.into(),
        }]);
        (l, d.iter().map(|d| d.to_string()).collect())
    }

    #[test]
    fn reports_every_problem_of_a_document() {
        let (l, d) = run(
            "apiVersion: orgctl.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: p}\nspec:\n  organization: acme\n  pasword: {}\n  session:\n    lifetime: 3 days\n    concurrentSessions: many\n  mfa:\n    modes: [totp, fax]\n",
        );
        assert!(l.documents.is_empty());
        assert_eq!(
            d,
            vec![
                "t.yaml:6:3: spec.pasword: unknown field \"pasword\", did you mean \"password\"?",
                "t.yaml:8:15: spec.session.lifetime: invalid duration \"3 days\": expected a number and a unit (s, m, h, d, w), e.g. 30m, 12h, 45d",
                "t.yaml:9:25: spec.session.concurrentSessions: expected a non-negative integer, found string \"many\"",
                "t.yaml:11:19: spec.mfa.modes[1]: unknown value \"fax\"; expected one of: push-app, sms, totp, security-key",
            ]
        );
    }

    #[test]
    fn loads_a_valid_user_with_three_valued_fields() {
        let (l, d) = run(
            "apiVersion: orgctl.io/v1alpha1\nkind: User\nmetadata: {name: alice}\nspec:\n  organization: acme\n  email: Alice@Acme.example\n  department: null\n",
        );
        assert!(d.is_empty(), "{d:?}");
        let crate::model::Spec::User(u) = &l.documents[0].object.spec else {
            panic!()
        };
        assert_eq!(u.email.as_ref().unwrap().as_str(), "alice@acme.example");
        assert_eq!(u.department, crate::model::Field::Clear);
        assert_eq!(u.location, crate::model::Field::Unset);
    }

    #[test]
    fn locate_finds_nested_paths() {
        let text = "a: 1\n---\nspec:\n  members:\n    users: [x, y]\n";
        assert_eq!(locate(text, 1, "spec.members.users[1]"), Some((5, 16)));
    }
}
