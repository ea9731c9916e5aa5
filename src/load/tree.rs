//! Parses YAML text into a tree of nodes that remember their line and column.
//! Aliases are expanded under a budget and nesting is bounded, so an alias bomb
//! or a pathological document is a clear error, never a hang.

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Largest source accepted, in bytes.
pub const MAX_SOURCE_BYTES: usize = 64 * 1024 * 1024;
/// Most nodes that alias expansion may add to one source.
pub const MAX_ALIAS_NODES: usize = 100_000;
/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 64;

/// A YAML node with its position.
#[derive(Debug, Clone)]
pub struct Node {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// The content.
    pub value: NodeValue,
}

/// What a node holds. Scalars keep their text; typing happens on demand.
#[derive(Debug, Clone)]
pub enum NodeValue {
    /// A scalar: its text and whether it was plain (unquoted).
    Scalar {
        /// The text.
        text: String,
        /// Unquoted: may be read as null, bool or number.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in source order.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// True for a plain `null`, `~` or empty scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, NodeValue::Scalar { text, plain: true } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// The scalar's text, if this is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            NodeValue::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Looks up a key of a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            NodeValue::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A short description of the node's type for messages.
    pub fn describe(&self) -> String {
        match &self.value {
            NodeValue::Seq(_) => "a list".into(),
            NodeValue::Map(_) => "a map".into(),
            NodeValue::Scalar { .. } if self.is_null() => "null".into(),
            NodeValue::Scalar { text, plain: true } if parse_bool(text).is_some() => {
                format!("boolean {text}")
            }
            NodeValue::Scalar { text, plain: true } if text.parse::<f64>().is_ok() => {
                format!("number {text}")
            }
            NodeValue::Scalar { text, .. } => format!("string {text:?}"),
        }
    }
}

/// YAML 1.2 core-schema booleans.
pub fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// A YAML syntax or limit error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What went wrong.
    pub message: String,
}

/// A parsed document and its starting line.
#[derive(Debug, Clone)]
pub struct ParsedDoc {
    /// The root node.
    pub root: Node,
}

/// Splits a YAML stream at its document markers (`---` at column 0) into
/// pieces that parse independently: `(text, line offset)`. Such a line cannot
/// occur inside any scalar (YAML forbids it there), so the split is exact. A
/// stream with directives (`%YAML`) is kept whole.
pub fn split_documents(text: &str) -> Vec<(&str, usize)> {
    let is_marker =
        |l: &str| l == "---" || l.starts_with("--- ") || l.starts_with("---\t") || l.starts_with("---\r");
    if text.lines().any(|l| l.trim_start_matches(BOM).starts_with('%')) {
        return vec![(text, 0)];
    }
    let mut pieces = Vec::new();
    let (mut start, mut start_line, mut offset) = (0usize, 0usize, 0usize);
    for (line_no, line) in text.split_inclusive('\n').enumerate() {
        if is_marker(line.trim_end_matches('\n')) && offset > start {
            pieces.push((&text[start..offset], start_line));
            start = offset;
            start_line = line_no;
        }
        offset += line.len();
    }
    if start < text.len() || pieces.is_empty() {
        pieces.push((&text[start..], start_line));
    }
    pieces
}

/// Parses every document of a YAML stream. A syntax error loses only the
/// rest of its own piece (see [`split_documents`]); every error is returned.
pub fn parse_stream(text: &str) -> (Vec<ParsedDoc>, Vec<ParseError>) {
    if text.len() > MAX_SOURCE_BYTES {
        let err = ParseError {
            line: 1,
            col: 1,
            message: format!(
                "file is too large ({} bytes); the limit is {} bytes",
                text.len(),
                MAX_SOURCE_BYTES
            ),
        };
        return (Vec::new(), vec![err]);
    }
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for (piece, line_offset) in split_documents(text) {
        let (d, e) = parse_piece(piece, line_offset);
        docs.extend(d);
        errors.extend(e);
    }
    (docs, errors)
}

/// The byte-order mark YAML allows at the start of a stream (and of each
/// document); editors on Windows write it. It is not content: columns on its
/// line are counted without it, as editors show them.
const BOM: char = '\u{feff}';

/// Parses one piece of a stream whose first line is `line_offset + 1`.
pub fn parse_piece(text: &str, line_offset: usize) -> (Vec<ParsedDoc>, Option<ParseError>) {
    let text = text.strip_prefix(BOM).unwrap_or(text);
    let mut b = Builder {
        parser: Parser::new_from_str(text),
        anchors: std::collections::HashMap::new(),
        alias_budget: MAX_ALIAS_NODES,
        line_offset,
    };
    let mut docs = Vec::new();
    loop {
        match b.next() {
            Err(e) => return (docs, Some(e)),
            Ok((Event::StreamEnd, _)) => return (docs, None),
            Ok((Event::DocumentStart, _)) => {
                b.anchors.clear();
                match b.next() {
                    Err(e) => return (docs, Some(e)),
                    Ok((Event::DocumentEnd, _)) => {}
                    Ok((ev, mark)) => match b.node(ev, mark, 0) {
                        Err(e) => return (docs, Some(e)),
                        Ok(root) => {
                            if let Err(e) = b.expect_document_end() {
                                return (docs, Some(e));
                            }
                            if !root.is_null() {
                                docs.push(ParsedDoc { root });
                            }
                        }
                    },
                }
            }
            Ok(_) => {}
        }
    }
}

struct Builder<'a> {
    parser: Parser<std::str::Chars<'a>>,
    anchors: std::collections::HashMap<usize, Node>,
    alias_budget: usize,
    line_offset: usize,
}

/// A likely cause to add to the YAML parser's message, for the common slips.
fn syntax_hint(info: &str) -> Option<&'static str> {
    if info.starts_with("mapping values are not allowed") || info.contains("did not find expected key") {
        Some("check the indentation of this line (a value containing \": \" must be quoted)")
    } else if info.contains("quoted scalar") && !info.contains("escape") {
        Some("is a closing quote missing?")
    } else if info.contains("flow sequence") {
        Some("is a closing ']' missing?")
    } else if info.contains("flow mapping") {
        Some("is a closing '}' missing?")
    } else if info.starts_with("tabs disallowed") {
        Some("indent with spaces, not tabs")
    } else {
        None
    }
}

fn count_nodes(n: &Node) -> usize {
    1 + match &n.value {
        NodeValue::Scalar { .. } => 0,
        NodeValue::Seq(items) => items.iter().map(count_nodes).sum(),
        NodeValue::Map(entries) => entries.iter().map(|(k, v)| count_nodes(k) + count_nodes(v)).sum(),
    }
}

impl Builder<'_> {
    fn err_at(&self, mark: Marker, message: impl Into<String>) -> ParseError {
        ParseError {
            line: mark.line() + self.line_offset,
            col: mark.col() + 1,
            message: message.into(),
        }
    }

    fn next(&mut self) -> Result<(Event, Marker), ParseError> {
        self.parser.next_token().map_err(|e| {
            let m = *e.marker();
            let info = e.info();
            match syntax_hint(info) {
                Some(hint) => self.err_at(m, format!("YAML syntax error: {info}; {hint}")),
                None => self.err_at(m, format!("YAML syntax error: {info}")),
            }
        })
    }

    fn expect_document_end(&mut self) -> Result<(), ParseError> {
        match self.next()? {
            (Event::DocumentEnd, _) => Ok(()),
            (_, m) => Err(self.err_at(m, "YAML syntax error: expected the end of the document")),
        }
    }

    fn node(&mut self, ev: Event, mark: Marker, depth: usize) -> Result<Node, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.err_at(mark, format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let (mut line, mut col) = (mark.line() + self.line_offset, mark.col() + 1);
        let (value, anchor) = match ev {
            Event::Scalar(text, style, anchor, _) => (
                NodeValue::Scalar {
                    text,
                    plain: style == TScalarStyle::Plain,
                },
                anchor,
            ),
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (ev, m) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    items.push(self.node(ev, m, depth + 1)?);
                }
                (NodeValue::Seq(items), anchor)
            }
            Event::MappingStart(anchor, _) => {
                let mut entries: Vec<(Node, Node)> = Vec::new();
                loop {
                    let (ev, m) = self.next()?;
                    if matches!(ev, Event::MappingEnd) {
                        break;
                    }
                    let key = self.node(ev, m, depth + 1)?;
                    let (ev, m) = self.next()?;
                    let mut value = self.node(ev, m, depth + 1)?;
                    // An empty value is marked where the next token starts
                    // (often the next line); place it at its key instead.
                    if matches!(&value.value, NodeValue::Scalar { text, plain: true } if text.is_empty()) {
                        (value.line, value.col) = (key.line, key.col);
                    }
                    if let Some(k) = key.as_str() {
                        if entries.iter().any(|(e, _)| e.as_str() == Some(k)) {
                            return Err(ParseError {
                                line: key.line,
                                col: key.col,
                                message: format!("duplicate key {k:?}"),
                            });
                        }
                    }
                    entries.push((key, value));
                }
                // The parser marks a block mapping at the `:` of its first
                // key; the mapping starts at that key.
                if let Some((k, _)) = entries.first() {
                    (line, col) = (line, col).min((k.line, k.col));
                }
                (NodeValue::Map(entries), anchor)
            }
            Event::Alias(id) => {
                let target = self
                    .anchors
                    .get(&id)
                    .ok_or_else(|| self.err_at(mark, "alias to an unknown anchor"))?;
                let size = count_nodes(target);
                if size > self.alias_budget {
                    return Err(self.err_at(
                        mark,
                        format!("aliases expand to more than {MAX_ALIAS_NODES} nodes (an alias bomb?)"),
                    ));
                }
                self.alias_budget -= size;
                let mut n = target.clone();
                n.line = line;
                n.col = col;
                return Ok(n);
            }
            _ => return Err(self.err_at(mark, "YAML syntax error: unexpected event")),
        };
        let node = Node { line, col, value };
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_bomb_is_refused() {
        let mut y = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let mut prev = 'a';
        for c in 'b'..='k' {
            y.push_str(&format!("{c}: &{c} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"));
            prev = c;
        }
        let (_, err) = parse_stream(&y);
        assert!(err[0].message.contains("alias bomb"));
    }

    #[test]
    fn mappings_and_empty_values_are_placed_at_their_keys() {
        let (docs, err) = parse_stream("kind: User\nspec:\n  name: x\nmeta:\nflow: {a: 1}\n");
        assert!(err.is_empty());
        let root = &docs[0].root;
        assert_eq!((root.line, root.col), (1, 1));
        let spec = root.get("spec").unwrap();
        assert_eq!((spec.line, spec.col), (3, 3));
        let meta = root.get("meta").unwrap();
        assert_eq!((meta.line, meta.col), (4, 1));
        let flow = root.get("flow").unwrap();
        assert_eq!((flow.line, flow.col), (5, 7));
    }

    #[test]
    fn positions_are_one_based() {
        let (docs, err) = parse_stream("a:\n  b: 1\n");
        assert!(err.is_empty());
        let b = docs[0].root.get("a").unwrap().get("b").unwrap();
        assert_eq!((b.line, b.col), (2, 6));
    }
}

#[cfg(test)]
mod split_tests {
    use super::*;

    #[test]
    fn pieces_keep_their_line_numbers() {
        let text = "a: 1\n---\nb: 2\n--- {c: 3}\n---\nd: |\n  ---not a marker\n";
        let pieces = split_documents(text);
        assert_eq!(pieces.len(), 4);
        assert_eq!(pieces[1], ("---\nb: 2\n", 1));
        let (docs, errors) = parse_stream(text);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(docs.len(), 4);
        assert_eq!(
            docs[3].root.get("d").and_then(|n| n.as_str()),
            Some("---not a marker\n")
        );
        assert_eq!(docs[1].root.get("b").map(|n| n.line), Some(3));
    }

    #[test]
    fn a_byte_order_mark_and_crlf_line_ends_are_read_as_yaml_allows() {
        let text = "\u{feff}apiVersion: v1\r\nkind: User\r\n---\r\nspec:\r\n  name: \"a b\"\r\n  list: [x,\r\n    y]\r\n";
        let (docs, errors) = parse_stream(text);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(docs.len(), 2);
        let first = &docs[0].root;
        assert_eq!(first.get("apiVersion").and_then(Node::as_str), Some("v1"));
        assert_eq!(first.get("kind").and_then(Node::as_str), Some("User"));
        assert_eq!((first.line, first.col), (1, 1));
        let spec = docs[1].root.get("spec").unwrap();
        assert_eq!(spec.get("name").and_then(Node::as_str), Some("a b"));
        let list = spec.get("list").unwrap();
        let NodeValue::Seq(items) = &list.value else {
            panic!("{list:?}")
        };
        assert_eq!(items[1].as_str(), Some("y"));
        assert_eq!((items[1].line, items[1].col), (7, 5));
    }

    #[test]
    fn a_syntax_error_loses_only_its_own_document() {
        let (docs, errors) = parse_stream("a: 1\n---\nb: [\n---\nc: 3\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(errors.len(), 1);
        assert_eq!(docs[1].root.get("c").map(|n| n.line), Some(5));
    }
}
