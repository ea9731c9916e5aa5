//! YAML as Helm and kubectl read and write it, through Go's
//! `sigs.k8s.io/yaml` (goyaml.v2): reading types plain scalars by YAML 1.1
//! (`yes`, `on`, `0777`, `0x1F` are not strings there) and writing is
//! goyaml.v2's block style (keys in its sort order, sequences not indented
//! under their key, strings quoted exactly when they would read back as
//! something else). Parsing itself goes through orgctl's YAML module.
//!
//! Not emulated: goyaml.v2 folds strings longer than 80 columns onto
//! several lines (the value read back is the same), and writes multi-line
//! strings that need an indentation indicator; those are refused.

use std::fmt::Write as _;
use std::sync::LazyLock;

use regex::Regex;

use orgctl::load::tree::{parse_stream, Node, NodeValue};
use serde_json::{json, Map, Value as J};

// ------------------------------------------------------------------ YAML in

/// The one document of a YAML text, typed as goyaml.v2 types it (see
/// [`resolve`]).
pub fn yaml_document(text: &str) -> Result<J, String> {
    let mut docs = yaml_documents(text)?;
    match docs.len() {
        0 => Ok(J::Null),
        1 => Ok(docs.remove(0)),
        n => Err(format!("expected one YAML document, found {n}")),
    }
}

/// Every document of a YAML stream, typed as goyaml.v2 types it.
pub fn yaml_documents(text: &str) -> Result<Vec<J>, String> {
    let (docs, errors) = parse_stream(text);
    if let Some(e) = errors.first() {
        return Err(format!("YAML error at {}:{}: {}", e.line, e.col, e.message));
    }
    docs.iter().map(|d| node_to_json(&d.root)).collect()
}

fn node_to_json(node: &Node) -> Result<J, String> {
    Ok(match &node.value {
        NodeValue::Scalar { text, plain: false } => J::String(text.clone()),
        NodeValue::Scalar { text, plain: true } => match resolve(text) {
            Resolved::Null => J::Null,
            Resolved::Bool(b) => J::Bool(b),
            Resolved::Int(i) => json!(i),
            Resolved::Uint(u) => json!(u),
            Resolved::Float(f) => json!(f),
            Resolved::Str | Resolved::Timestamp | Resolved::Base60 => J::String(text.clone()),
            Resolved::Other(tag) => {
                return Err(format!(
                    "{}:{}: the plain scalar {text:?} is a {tag} in YAML 1.1 (Go reads it so); quote it",
                    node.line, node.col
                ))
            }
        },
        NodeValue::Seq(items) => J::Array(items.iter().map(node_to_json).collect::<Result<_, _>>()?),
        NodeValue::Map(entries) => {
            let mut m = Map::new();
            for (k, v) in entries {
                let key = match &k.value {
                    NodeValue::Scalar { text, .. } => text.clone(),
                    _ => return Err(format!("{}:{}: a non-scalar key", k.line, k.col)),
                };
                m.insert(key, node_to_json(v)?);
            }
            J::Object(m)
        }
    })
}

/// What goyaml.v2 reads a plain scalar as.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolved {
    Null,
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str,
    /// Read into a Go `interface{}` as the string itself, but quoted when
    /// written (it would resolve to a timestamp).
    Timestamp,
    /// Read as a string, but quoted when written (goyaml.v2's `isBase60Float`).
    Base60,
    /// Infinity, NaN or a merge key: not representable in JSON, refused.
    Other(&'static str),
}

/// goyaml.v2's `resolve` for an untagged plain scalar (YAML 1.1 types).
pub fn resolve(s: &str) -> Resolved {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Resolved::Null,
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" | "true" | "True" | "TRUE" => {
            return Resolved::Bool(true)
        }
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" | "false" | "False" | "FALSE" => {
            return Resolved::Bool(false)
        }
        ".nan" | ".NaN" | ".NAN" | ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf"
        | "-.Inf" | "-.INF" => return Resolved::Other("float (infinity or NaN)"),
        "<<" => return Resolved::Other("merge key"),
        _ => {}
    }
    let first = s.chars().next().unwrap_or(' ');
    if !(first.is_ascii_digit() || first == '+' || first == '-' || first == '.') {
        return Resolved::Str;
    }
    let plain = s.replace('_', "");
    if let Some(i) = go_parse_int(&plain) {
        return Resolved::Int(i);
    }
    if let Some(u) = plain
        .strip_prefix('+')
        .map_or_else(|| go_parse_uint(&plain), go_parse_uint)
    {
        return Resolved::Uint(u);
    }
    static FLOAT: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$").expect("regex")
    });
    static TIMESTAMP: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ]|$)").expect("regex"));
    static BASE60: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$").expect("regex"));
    if FLOAT.is_match(&plain) {
        if let Ok(f) = plain.parse::<f64>() {
            return Resolved::Float(f);
        }
    }
    if let Some(digits) = plain.strip_prefix("-0b") {
        if let Ok(u) = i64::from_str_radix(digits, 2) {
            return Resolved::Int(-u);
        }
    }
    if TIMESTAMP.is_match(s) {
        return Resolved::Timestamp;
    }
    if BASE60.is_match(s) {
        return Resolved::Base60;
    }
    Resolved::Str
}

/// Go's `strconv.ParseInt(s, 0, 64)`: sign, then 0x/0o/0b/0 prefixes.
pub fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let u = go_parse_uint(body)?;
    if neg {
        if u <= i64::MAX as u64 + 1 {
            Some((u as i128).wrapping_neg() as i64)
        } else {
            None
        }
    } else {
        i64::try_from(u).ok()
    }
}

/// Go's `strconv.ParseUint(s, 0, 64)`.
fn go_parse_uint(s: &str) -> Option<u64> {
    let lower = s.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}

// ------------------------------------------------------------------ YAML out

/// Helm's `toYaml`: `sigs.k8s.io/yaml.Marshal` (JSON, then goyaml.v2) with
/// the trailing newline trimmed.
pub fn to_yaml(v: &J) -> Result<String, String> {
    let mut out = String::new();
    match v {
        J::Object(m) if !m.is_empty() => emit_map(m, 0, &mut out)?,
        J::Array(a) if !a.is_empty() => emit_seq(a, 0, &mut out)?,
        scalar => {
            out.push_str(&scalar_text(scalar, 0)?);
            out.push('\n');
        }
    }
    Ok(out.strip_suffix('\n').unwrap_or(&out).to_string())
}

fn emit_map(m: &Map<String, J>, indent: usize, out: &mut String) -> Result<(), String> {
    let mut keys: Vec<&String> = m.keys().collect();
    keys.sort_by(|a, b| yaml_v2_key_order(a, b));
    for k in keys {
        let v = &m[k];
        if k.contains('\n') {
            return Err(format!("toYaml: a multi-line key ({k:?}) is not emulated"));
        }
        out.push_str(&" ".repeat(indent));
        out.push_str(&string_text(k, indent)?);
        out.push(':');
        match v {
            J::Object(child) if !child.is_empty() => {
                out.push('\n');
                emit_map(child, indent + 2, out)?;
            }
            J::Array(items) if !items.is_empty() => {
                out.push('\n');
                emit_seq(items, indent, out)?;
            }
            scalar => {
                out.push(' ');
                out.push_str(&scalar_text(scalar, indent + 2)?);
                out.push('\n');
            }
        }
    }
    Ok(())
}

fn emit_seq(items: &[J], indent: usize, out: &mut String) -> Result<(), String> {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match item {
            J::Object(child) if !child.is_empty() => {
                let mut inner = String::new();
                emit_map(child, indent + 2, &mut inner)?;
                out.push(' ');
                out.push_str(&inner[indent + 2..]);
            }
            J::Array(child) if !child.is_empty() => {
                let mut inner = String::new();
                emit_seq(child, indent + 2, &mut inner)?;
                out.push(' ');
                out.push_str(&inner[indent + 2..]);
            }
            scalar => {
                out.push(' ');
                out.push_str(&scalar_text(scalar, indent + 2)?);
                out.push('\n');
            }
        }
    }
    Ok(())
}

/// A scalar (or an empty collection, written in flow style) as goyaml.v2
/// writes it; `indent` is where a literal block's lines start.
fn scalar_text(v: &J, indent: usize) -> Result<String, String> {
    Ok(match v {
        J::Null => "null".into(),
        J::Bool(b) => b.to_string(),
        J::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => i.to_string(),
            (_, Some(u), _) => u.to_string(),
            (_, _, Some(f)) => go_float(f),
            _ => n.to_string(),
        },
        J::String(s) => string_text(s, indent)?,
        J::Object(_) => "{}".into(),
        J::Array(_) => "[]".into(),
    })
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)`.
pub fn go_float(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if f.is_nan() {
        return "NaN".into();
    }
    // Shortest digits; Go switches to an exponent below 1e-4 and from 1e6
    // ("if precision was the shortest possible, use precision 6").
    let sci = format!("{f:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

/// goyaml.v2's map key order (`keyList.Less`): letters after other
/// characters, runs of digits compared as numbers.
fn yaml_v2_key_order(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let less = |x: &[char], y: &[char]| -> bool {
        let mut i = 0;
        while i < x.len() && i < y.len() {
            if x[i] == y[i] {
                i += 1;
                continue;
            }
            let al = x[i].is_alphabetic();
            let bl = y[i].is_alphabetic();
            if al && bl {
                return x[i] < y[i];
            }
            if al || bl {
                return bl;
            }
            let (mut an, mut bn) = (0i64, 0i64);
            if x[i] == '0' || y[i] == '0' {
                let mut j = i;
                while j > 0 && x[j - 1].is_ascii_digit() {
                    j -= 1;
                    if x[j] != '0' {
                        an = 1;
                        bn = 1;
                        break;
                    }
                }
            }
            let mut ai = i;
            while ai < x.len() && x[ai].is_ascii_digit() {
                an = an.wrapping_mul(10).wrapping_add(x[ai] as i64 - '0' as i64);
                ai += 1;
            }
            let mut bi = i;
            while bi < y.len() && y[bi].is_ascii_digit() {
                bn = bn.wrapping_mul(10).wrapping_add(y[bi] as i64 - '0' as i64);
                bi += 1;
            }
            if an != bn {
                return an < bn;
            }
            if ai != bi {
                return ai < bi;
            }
            return x[i] < y[i];
        }
        x.len() < y.len()
    };
    if less(&ar, &br) {
        Ordering::Less
    } else if less(&br, &ar) {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0A
        || (0x20..=0x7E).contains(&u)
        || u == 0x85
        || (0xA0..=0xD7FF).contains(&u)
        || ((0xE000..=0xFFFD).contains(&u) && u != 0xFEFF)
        || (0x10000..=0x10FFFF).contains(&u)
}

/// A string as goyaml.v2 writes it in block context: plain when it reads
/// back as the same string and libyaml's analysis allows it, else
/// single-quoted, else double-quoted; multi-line strings as literal blocks.
fn string_text(s: &str, indent: usize) -> Result<String, String> {
    // encode.go: quote what would resolve to another type (or base-60).
    let can_use_plain = matches!(resolve(s), Resolved::Str);
    if s.contains('\n') {
        return literal_block(s, indent);
    }
    if !can_use_plain {
        return Ok(double_quoted(s));
    }
    // emitterc.go yaml_emitter_analyze_scalar, block context.
    let chars: Vec<char> = s.chars().collect();
    let mut block_indicators = false;
    let mut special = false;
    if s.starts_with("---") || s.starts_with("...") {
        block_indicators = true;
    }
    let is_space = |c: char| c == ' ';
    let is_blankz = |i: usize| i >= chars.len() || matches!(chars[i], ' ' | '\t' | '\n' | '\r');
    let mut preceded_by_whitespace = true;
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_whitespace = is_blankz(i + 1);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"' | '%' | '@'
                | '`' => block_indicators = true,
                '?' | ':' | '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) || c == '\u{FEFF}' {
            special = true;
        }
        preceded_by_whitespace = matches!(c, ' ' | '\t' | '\n' | '\r');
    }
    let leading_space = chars.first().copied().is_some_and(is_space);
    let trailing_space = chars.last().copied().is_some_and(is_space);
    if special {
        return Ok(double_quoted(s));
    }
    if leading_space || trailing_space || block_indicators {
        return Ok(format!("'{}'", s.replace('\'', "''")));
    }
    Ok(s.to_string())
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{B}' => out.push_str("\\v"),
            '\u{C}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1B}' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{A0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if !is_printable(c) || c == '\u{FEFF}' => {
                let u = c as u32;
                if u <= 0xFF {
                    write!(out, "\\x{u:02X}").expect("write to string");
                } else if u <= 0xFFFF {
                    write!(out, "\\u{u:04X}").expect("write to string");
                } else {
                    write!(out, "\\U{u:08X}").expect("write to string");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A multi-line string as a literal block (`|`, `|-` or `|+`).
fn literal_block(s: &str, indent: usize) -> Result<String, String> {
    if s.starts_with([' ', '\n']) || s.chars().any(|c| !is_printable(c) || c == '\t') || s.contains(" \n") {
        return Err(format!("toYaml: the multi-line string {s:?} is not emulated (goyaml.v2 would need an indentation indicator or quoting)"));
    }
    let chomp = if !s.ends_with('\n') {
        "-"
    } else if s.ends_with("\n\n") {
        "+"
    } else {
        ""
    };
    let pad = " ".repeat(indent);
    let body = s.strip_suffix('\n').unwrap_or(s);
    let mut out = format!("|{chomp}");
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    Ok(out)
}

/// Go's `strconv.Quote`.
pub fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{C}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{B}' => out.push_str("\\v"),
            c if c.is_control() || c == '\u{FEFF}' => {
                let u = c as u32;
                if u < 0x80 {
                    write!(out, "\\x{u:02x}").expect("write to string");
                } else if u <= 0xFFFF {
                    write!(out, "\\u{u:04x}").expect("write to string");
                } else {
                    write!(out, "\\U{u:08x}").expect("write to string");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
