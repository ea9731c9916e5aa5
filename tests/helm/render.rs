//! A small Helm renderer for the chart tests, without a helm binary: Go
//! templates come from the `gtmpl` crate; this module adds what Helm adds
//! around them, each piece as Helm (v3) does it:
//!
//! - values: `values.yaml` coalesced with overrides (maps merge deeply, an
//!   override replaces anything else, an override of `null` deletes the key),
//!   then validated against `values.schema.json` before rendering;
//! - the top-level object: `.Values`, `.Release` (Name, Namespace, Service
//!   "Helm", Revision 1, IsInstall, IsUpgrade), `.Chart` (Chart.yaml's fields
//!   under Helm's Go names: Name, Version, AppVersion, …) and `.Template`
//!   (Name, BasePath);
//! - every file under `templates/` is parsed into one template set (so any
//!   file's `define` is visible everywhere); every file is executed, those
//!   starting with `_` produce no output, `NOTES.txt` is kept apart;
//! - `<no value>` is removed from the output (Helm renders with
//!   `missingkey=zero` and strips it), manifests are split on `---` the way
//!   Helm's `releaseutil.SplitManifests` does and whitespace-only ones dropped;
//! - the functions the chart uses: `include`, `toYaml`, `nindent`, `indent`,
//!   `quote`, `default`, `printf` (`%s`, `%d`, `%%` only: anything else is an
//!   error instead of a guess), `trunc`, `trimSuffix`, `contains`,
//!   `replace`, `int`, `required`, `fail`; and from Go itself `and`, `or`,
//!   `not`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `len`, `index`, `print`.
//!   A template calling any other function fails to parse, so the chart
//!   cannot drift into what this renderer does not implement.
//!
//! YAML is read and `toYaml` written as Go's `sigs.k8s.io/yaml` does
//! (see the `yaml` module).
//!
//! Known differences, none of which the chart relies on:
//! - Go's `and`/`or` stop at the first decisive argument; gtmpl evaluates all.
//! - gtmpl does not tell integers from floats, while Helm reads every number
//!   of values.yaml as a float64 (printing 1e6 as `1e+06`, refusing `gt` of
//!   a float and an int): templates compare numbers only through `int`,
//!   which is right in both, and print only small integers.
//! - `range` over a map iterates in hash order here (Go sorts keys), and a
//!   map or list printed directly is not in Go's `map[k:v]` format: the chart
//!   ranges over lists only and prints maps only through `toYaml`.
//! - Variables declared inside `if`/`with` stay visible after the block here
//!   (Go scopes them to it); the chart declares variables at the top of a
//!   template.
//! - `range … else` runs the else branch after the items too (a gtmpl bug):
//!   the chart does not use it.
//! - An execution error names the template file but not its line and column.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use gtmpl::{Context, Func, Template};
use gtmpl_value::{FuncError, Value as G};
use serde_json::{json, Map, Value as J};

use crate::yaml::{go_float, go_parse_int, go_quote, to_yaml, yaml_document};

// ------------------------------------------------------------------ chart

/// A chart read from its directory.
pub struct Chart {
    /// Chart.yaml.
    pub metadata: J,
    /// values.yaml.
    pub values: J,
    /// values.schema.json, when present.
    pub schema: Option<J>,
    /// Template files: `<chart>/templates/<path>` → text, sorted by name.
    pub templates: BTreeMap<String, String>,
}

/// The release a chart is rendered for.
pub struct Release {
    pub name: String,
    pub namespace: String,
}

impl Release {
    pub fn new(name: &str, namespace: &str) -> Self {
        Release {
            name: name.into(),
            namespace: namespace.into(),
        }
    }
}

/// A rendered chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    /// Output of every manifest template (not partials, not NOTES.txt).
    pub files: BTreeMap<String, String>,
    /// The rendered NOTES.txt.
    pub notes: Option<String>,
    /// The coalesced values the chart was rendered with.
    pub values: J,
}

impl Rendered {
    /// Every manifest: (template name, document text), split on `---` as
    /// Helm's `releaseutil.SplitManifests` does, whitespace-only ones dropped.
    pub fn manifests(&self) -> Vec<(String, String)> {
        // Go's `\s` is ASCII whitespace.
        let sep = regex::Regex::new(r"(?:^|[\t\n\f\r ]*\n)---[\t\n\f\r ]*").expect("separator regex");
        let mut out = Vec::new();
        for (name, text) in &self.files {
            for doc in sep.split(text.trim()) {
                let doc = doc.trim();
                if !doc.is_empty() {
                    out.push((name.clone(), format!("{doc}\n")));
                }
            }
        }
        out
    }
}

impl Chart {
    pub fn load(dir: &Path) -> Result<Chart, String> {
        let read = |p: PathBuf| std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()));
        let metadata = yaml_document(&read(dir.join("Chart.yaml"))?)?;
        let values = yaml_document(&read(dir.join("values.yaml"))?)?;
        let values = if values.is_null() { json!({}) } else { values };
        let schema_path = dir.join("values.schema.json");
        let schema = if schema_path.exists() {
            Some(serde_json::from_str(&read(schema_path)?).map_err(|e| format!("values.schema.json: {e}"))?)
        } else {
            None
        };
        let name = metadata["name"]
            .as_str()
            .ok_or("Chart.yaml has no name")?
            .to_string();
        let mut templates = BTreeMap::new();
        let mut stack = vec![dir.join("templates")];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))? {
                let path = entry.map_err(|e| e.to_string())?.path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let rel = path.strip_prefix(dir).map_err(|e| e.to_string())?;
                let rel = rel.to_string_lossy().replace('\\', "/");
                templates.insert(format!("{name}/{rel}"), read(path)?);
            }
        }
        Ok(Chart {
            metadata,
            values,
            schema,
            templates,
        })
    }

    fn name(&self) -> &str {
        self.metadata["name"].as_str().unwrap_or_default()
    }

    /// Helm's `.Chart`: Chart.yaml under the Go field names of
    /// `chart.Metadata`, every field present (Go structs have no missing
    /// fields), so a misspelt field is an error as in Helm.
    fn chart_object(&self) -> G {
        let m = &self.metadata;
        let s = |k: &str| G::String(m[k].as_str().unwrap_or_default().to_string());
        let list = |k: &str| to_gtmpl(m.get(k).filter(|v| !v.is_null()).unwrap_or(&json!([])));
        let map = |k: &str| to_gtmpl(m.get(k).filter(|v| !v.is_null()).unwrap_or(&json!({})));
        let fields: HashMap<String, G> = [
            ("Name", s("name")),
            ("Home", s("home")),
            ("Sources", list("sources")),
            ("Version", s("version")),
            ("Description", s("description")),
            ("Keywords", list("keywords")),
            ("Maintainers", list("maintainers")),
            ("Icon", s("icon")),
            ("APIVersion", s("apiVersion")),
            ("Condition", s("condition")),
            ("Tags", s("tags")),
            ("AppVersion", s("appVersion")),
            ("Deprecated", G::Bool(m["deprecated"].as_bool().unwrap_or(false))),
            ("Annotations", map("annotations")),
            ("KubeVersion", s("kubeVersion")),
            ("Dependencies", list("dependencies")),
            ("Type", s("type")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        G::Object(fields)
    }

    /// Renders the chart like `helm template` / `helm install` would.
    pub fn render(&self, release: &Release, overrides: &[J]) -> Result<Rendered, String> {
        let mut values = self.values.clone();
        for o in overrides {
            values = coalesce(o.clone(), values);
        }
        if let Some(schema) = &self.schema {
            let problems = schema_problems(schema, &values);
            if !problems.is_empty() {
                return Err(format!(
                    "values don't meet the specifications of the schema(s) in the following chart(s):\n{}:\n{}",
                    self.name(),
                    problems.iter().map(|p| format!("- {p}")).collect::<Vec<_>>().join("\n")
                ));
            }
        }
        let sources: Vec<(String, String)> = self
            .templates
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        // Parsed template sets stay valid while the files stay the same.
        if SOURCES.with(|s| *s.borrow() != sources) {
            SOURCES.with(|s| *s.borrow_mut() = sources);
            CACHE.with(|c| c.borrow_mut().clear());
        }

        let release_obj: HashMap<String, G> = [
            ("Name", G::from(release.name.as_str())),
            ("Namespace", G::from(release.namespace.as_str())),
            ("Service", G::from("Helm")),
            ("Revision", G::from(1u64)),
            ("IsInstall", G::Bool(true)),
            ("IsUpgrade", G::Bool(false)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let base_path = format!("{}/templates", self.name());
        let mut files = BTreeMap::new();
        let mut notes = None;
        for name in self.templates.keys() {
            let mut top: HashMap<String, G> = HashMap::new();
            top.insert("Values".into(), to_gtmpl(&values));
            top.insert("Release".into(), G::Object(release_obj.clone()));
            top.insert("Chart".into(), self.chart_object());
            top.insert(
                "Template".into(),
                G::Object(
                    [
                        ("Name", G::from(name.as_str())),
                        ("BasePath", G::from(base_path.as_str())),
                    ]
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v))
                    .collect(),
                ),
            );
            let out = execute(name, G::Map(top))
                .map_err(|e| format!("execution error at ({name}): {e}"))?
                .replace("<no value>", "");
            let file = name.rsplit('/').next().unwrap_or_default();
            if file == "NOTES.txt" {
                notes = Some(out);
            } else if !file.starts_with('_') && !out.trim().is_empty() {
                files.insert(name.clone(), out);
            }
        }
        Ok(Rendered { files, notes, values })
    }
}

/// Helm's `coalesce`: `over` wins; maps merge key by key; `null` in `over`
/// deletes the key.
pub fn coalesce(over: J, base: J) -> J {
    match (over, base) {
        (J::Object(over), J::Object(mut base)) => {
            for (k, v) in over {
                if v.is_null() {
                    base.remove(&k);
                    continue;
                }
                let merged = match base.remove(&k) {
                    Some(b) => coalesce(v, b),
                    None => v,
                };
                base.insert(k, merged);
            }
            J::Object(base)
        }
        (over, _) => over,
    }
}

/// `--set a.b.c=value` as an override object.
pub fn set(path: &str, value: J) -> J {
    path.rsplit('.').fold(value, |acc, key| {
        let mut m = Map::new();
        m.insert(key.to_string(), acc);
        J::Object(m)
    })
}

/// Problems of `values` against a draft-07 `schema`, with their paths.
pub fn schema_problems(schema: &J, values: &J) -> Vec<String> {
    let validator = match jsonschema::draft7::new(schema) {
        Ok(v) => v,
        Err(e) => return vec![format!("values.schema.json is not a valid schema: {e}")],
    };
    let mut out: Vec<String> = validator
        .iter_errors(values)
        .map(|e| {
            let path = e.instance_path().to_string();
            let path = if path.is_empty() {
                "(root)".to_string()
            } else {
                path
            };
            format!("{path}: {e}")
        })
        .collect();
    out.sort();
    out
}

// ------------------------------------------------------------------ execution

thread_local! {
    /// The template files of the chart being rendered (`include` needs them).
    static SOURCES: RefCell<Vec<(String, String)>> = const { RefCell::new(Vec::new()) };
    /// Parsed template sets by the name they execute.
    static CACHE: RefCell<HashMap<String, Rc<Template>>> = RefCell::new(HashMap::new());
}

/// Every function a template may call besides gtmpl's builtins.
const FUNCS: [(&str, Func); 14] = [
    ("include", include),
    ("toYaml", to_yaml_fn),
    ("nindent", nindent),
    ("indent", indent),
    ("quote", quote),
    ("default", default),
    ("printf", printf),
    ("trunc", trunc),
    ("trimSuffix", trim_suffix),
    ("contains", contains),
    ("replace", replace),
    ("int", int),
    ("required", required),
    ("fail", fail),
];

/// The template set of the chart, executing the template `name` (a file or
/// a `define`d name).
fn template_set(name: &str) -> Result<Rc<Template>, String> {
    if let Some(t) = CACHE.with(|c| c.borrow().get(name).cloned()) {
        return Ok(t);
    }
    let mut t = Template::with_name(name);
    t.add_funcs(&FUNCS);
    for (file, text) in SOURCES.with(|s| s.borrow().clone()) {
        t.add_template(file.as_str(), text.as_str())
            .map_err(|e| format!("parse error in {file}: {e}"))?;
    }
    if !t.tree_set.contains_key(name) {
        return Err(format!(
            "template: no template {name:?} associated with template \"gotpl\""
        ));
    }
    let t = Rc::new(t);
    CACHE.with(|c| c.borrow_mut().insert(name.to_string(), t.clone()));
    Ok(t)
}

fn execute(name: &str, dot: G) -> Result<String, String> {
    let t = template_set(name)?;
    t.render(&Context::from(dot)).map_err(|e| e.to_string())
}

fn err(msg: impl Into<String>) -> FuncError {
    FuncError::Generic(msg.into())
}

fn string_arg(f: &str, v: &G) -> Result<String, FuncError> {
    match v {
        G::String(s) => Ok(s.clone()),
        other => Err(err(format!("{f}: expected a string, got {other}"))),
    }
}

fn int_arg(f: &str, v: &G) -> Result<i64, FuncError> {
    match v {
        G::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| err(format!("{f}: {n} is not an integer"))),
        other => Err(err(format!("{f}: expected an integer, got {other}"))),
    }
}

fn arity(f: &str, args: &[G], n: usize) -> Result<(), FuncError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(err(format!(
            "wrong number of args for {f}: want {n} got {}",
            args.len()
        )))
    }
}

/// Go's `fmt.Sprint("%v")` of a value, as sprig's `strval` does.
fn strval(v: &G) -> String {
    match v {
        G::String(s) => s.clone(),
        G::Number(n) => match n.as_f64() {
            Some(f) => go_float(f),
            None => n.to_string(),
        },
        G::Bool(b) => b.to_string(),
        G::NoValue | G::Nil => "<nil>".into(),
        other => other.to_string(),
    }
}

/// Helm's `include NAME DATA`: the named template's output as a string.
fn include(args: &[G]) -> Result<G, FuncError> {
    arity("include", args, 2)?;
    let name = string_arg("include", &args[0])?;
    execute(&name, args[1].clone()).map(G::String).map_err(err)
}

fn to_yaml_fn(args: &[G]) -> Result<G, FuncError> {
    arity("toYaml", args, 1)?;
    let json = to_json(&args[0])?;
    to_yaml(&json).map(G::String).map_err(err)
}

/// sprig's `indent N S`: every line of S prefixed by N spaces.
fn indent(args: &[G]) -> Result<G, FuncError> {
    arity("indent", args, 2)?;
    let n = int_arg("indent", &args[0])?.max(0) as usize;
    let pad = " ".repeat(n);
    let s = strval(&args[1]);
    Ok(G::String(format!(
        "{pad}{}",
        s.replace('\n', &format!("\n{pad}"))
    )))
}

/// sprig's `nindent N S`: a newline, then `indent N S`.
fn nindent(args: &[G]) -> Result<G, FuncError> {
    match indent(args)? {
        G::String(s) => Ok(G::String(format!("\n{s}"))),
        other => Ok(other),
    }
}

/// sprig's `quote`: each non-nil argument as a Go `%q` string, space-separated.
fn quote(args: &[G]) -> Result<G, FuncError> {
    let parts: Vec<String> = args
        .iter()
        .filter(|a| !matches!(a, G::NoValue | G::Nil))
        .map(|a| go_quote(&strval(a)))
        .collect();
    Ok(G::String(parts.join(" ")))
}

/// sprig's `empty`: nil, false, 0, and empty strings, lists and maps.
pub fn empty(v: &G) -> bool {
    match v {
        G::NoValue | G::Nil => true,
        G::Bool(b) => !b,
        G::String(s) => s.is_empty(),
        G::Array(a) => a.is_empty(),
        G::Map(m) | G::Object(m) => m.is_empty(),
        G::Number(n) => n
            .as_f64()
            .map(|f| f == 0.0)
            .unwrap_or_else(|| n.as_u64() == Some(0)),
        G::Function(_) => false,
    }
}

/// sprig's `default D [V]`: V unless it is empty, else D.
fn default(args: &[G]) -> Result<G, FuncError> {
    match args {
        [d] => Ok(d.clone()),
        [d, given, ..] => Ok(if empty(given) { d.clone() } else { given.clone() }),
        [] => Err(err("wrong number of args for default: want at least 1 got 0")),
    }
}

/// Go's `fmt.Sprintf`, limited to `%s` (strings), `%d` (integers) and `%%`.
fn printf(args: &[G]) -> Result<G, FuncError> {
    let Some((format, rest)) = args.split_first() else {
        return Err(err("wrong number of args for printf: want at least 1 got 0"));
    };
    let format = string_arg("printf", format)?;
    let mut out = String::new();
    let mut rest = rest.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('s') => match rest.next() {
                Some(G::String(s)) => out.push_str(s),
                Some(other) => {
                    return Err(err(format!(
                        "printf: %s of a non-string ({other}) is not emulated"
                    )))
                }
                None => out.push_str("%!s(MISSING)"),
            },
            Some('d') => match rest.next() {
                Some(v @ G::Number(_)) => write!(out, "{}", int_arg("printf", v)?).expect("write to string"),
                Some(other) => {
                    return Err(err(format!(
                        "printf: %d of a non-number ({other}) is not emulated"
                    )))
                }
                None => out.push_str("%!d(MISSING)"),
            },
            other => {
                return Err(err(format!(
                    "printf: verb %{} is not emulated",
                    other.unwrap_or(' ')
                )))
            }
        }
    }
    if rest.next().is_some() {
        return Err(err("printf: extra arguments (Go would print %!(EXTRA …))"));
    }
    Ok(G::String(out))
}

/// sprig's `trunc N S`: the first N bytes (N < 0: the last -N).
fn trunc(args: &[G]) -> Result<G, FuncError> {
    arity("trunc", args, 2)?;
    let n = int_arg("trunc", &args[0])?;
    let s = strval(&args[1]);
    let len = s.len() as i64;
    let out = if n < 0 && len + n > 0 {
        s.get((len + n) as usize..)
    } else if n >= 0 && len > n {
        s.get(..n as usize)
    } else {
        Some(s.as_str())
    };
    out.map(|o| G::String(o.to_string()))
        .ok_or_else(|| err("trunc: would split a UTF-8 character (Go would keep the broken bytes)"))
}

/// sprig's `trimSuffix SUFFIX S`.
fn trim_suffix(args: &[G]) -> Result<G, FuncError> {
    arity("trimSuffix", args, 2)?;
    let suffix = strval(&args[0]);
    let s = strval(&args[1]);
    Ok(G::String(
        s.strip_suffix(suffix.as_str()).unwrap_or(&s).to_string(),
    ))
}

/// sprig's `contains SUBSTR S`.
fn contains(args: &[G]) -> Result<G, FuncError> {
    arity("contains", args, 2)?;
    Ok(G::Bool(strval(&args[1]).contains(&strval(&args[0]))))
}

/// sprig's `replace OLD NEW S`.
fn replace(args: &[G]) -> Result<G, FuncError> {
    arity("replace", args, 3)?;
    Ok(G::String(
        strval(&args[2]).replace(&strval(&args[0]), &strval(&args[1])),
    ))
}

/// sprig's `int` (cast.ToInt): numbers truncate, strings parse (0 when they
/// do not), booleans are 0/1, nil is 0.
fn int(args: &[G]) -> Result<G, FuncError> {
    arity("int", args, 1)?;
    let n: i64 = match &args[0] {
        G::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .or_else(|| n.as_u64().map(|u| u as i64))
            .unwrap_or(0),
        G::String(s) => go_parse_int(s.trim_end_matches(".0")).unwrap_or(0),
        G::Bool(b) => i64::from(*b),
        _ => 0,
    };
    Ok(G::from(n))
}

/// Helm's `required MSG V`: V, unless it is nil or the empty string.
fn required(args: &[G]) -> Result<G, FuncError> {
    arity("required", args, 2)?;
    let msg = string_arg("required", &args[0])?;
    match &args[1] {
        G::NoValue | G::Nil => Err(err(msg)),
        G::String(s) if s.is_empty() => Err(err(msg)),
        v => Ok(v.clone()),
    }
}

/// Helm's `fail MSG`.
fn fail(args: &[G]) -> Result<G, FuncError> {
    arity("fail", args, 1)?;
    Err(err(string_arg("fail", &args[0])?))
}

// ------------------------------------------------------------------ values

/// JSON → template value (maps as Go maps: a missing key is `<no value>`).
pub fn to_gtmpl(v: &J) -> G {
    match v {
        J::Null => G::NoValue,
        J::Bool(b) => G::Bool(*b),
        J::Number(n) => {
            if let Some(u) = n.as_u64() {
                G::from(u)
            } else if let Some(i) = n.as_i64() {
                G::from(i)
            } else {
                G::from(n.as_f64().unwrap_or_default())
            }
        }
        J::String(s) => G::String(s.clone()),
        J::Array(a) => G::Array(a.iter().map(to_gtmpl).collect()),
        J::Object(m) => G::Map(m.iter().map(|(k, v)| (k.clone(), to_gtmpl(v))).collect()),
    }
}

fn to_json(v: &G) -> Result<J, FuncError> {
    Ok(match v {
        G::NoValue | G::Nil => J::Null,
        G::Bool(b) => J::Bool(*b),
        G::String(s) => J::String(s.clone()),
        G::Number(n) => {
            if let Some(u) = n.as_u64() {
                json!(u)
            } else if let Some(i) = n.as_i64() {
                json!(i)
            } else {
                json!(n.as_f64().unwrap_or_default())
            }
        }
        G::Array(a) => J::Array(a.iter().map(to_json).collect::<Result<_, _>>()?),
        G::Map(m) | G::Object(m) => J::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), to_json(v)?)))
                .collect::<Result<_, FuncError>>()?,
        ),
        G::Function(_) => return Err(err("toYaml: cannot marshal a function")),
    })
}
