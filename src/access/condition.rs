//! Rule conditions compiled once into an evaluable form: a tree of `all`/`any`
//! nodes over deduplicated leaves. A leaf knows which user field it reads,
//! holds its operand lower-cased (or its regex compiled with the validator's
//! size limits), and answers for one value or for a set of values (groups).
//!
//! The tree is evaluated through a leaf oracle, so the same `all`/`any`
//! semantics serve the full evaluation (leaves answered from precomputed
//! tables) and `explain` (leaves answered from one user's spec).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};

use regex::Regex;

use crate::model::{Condition, Operator};
use crate::validate::{compile_regex, ConditionField};

/// What a leaf reads from a user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subject {
    /// A single-valued field, by column id (see [`Compiler::columns`]).
    Column(u32),
    /// The user's groups, direct and nested.
    Groups,
}

/// The positive form of a comparison (negated operators flip its result).
#[derive(Debug)]
enum Test {
    /// Equal, case-insensitively.
    Equals(String),
    /// One of a set, case-insensitively.
    In(HashSet<String>),
    /// Prefix, case-insensitively.
    StartsWith(String),
    /// Suffix, case-insensitively.
    EndsWith(String),
    /// Substring, case-insensitively.
    Contains(String),
    /// Regular expression, case-sensitive as written.
    Matches(Regex),
}

/// One compiled comparison.
#[derive(Debug)]
pub(crate) struct Leaf {
    /// The field compared.
    pub field: ConditionField,
    /// Where its values come from.
    pub subject: Subject,
    /// True for `notEquals` and `notIn`: the leaf holds when no value passes.
    pub negated: bool,
    /// The comparison as written, e.g. `department equals "Sales"`.
    pub text: String,
    test: Test,
}

impl Leaf {
    /// Whether one present, non-empty value passes the positive test.
    pub fn passes(&self, value: &str) -> bool {
        match &self.test {
            Test::Matches(re) => re.is_match(value),
            Test::Equals(x) => *lower(value) == **x,
            Test::In(set) => set.contains(lower(value).as_ref()),
            Test::StartsWith(x) => lower(value).starts_with(x.as_str()),
            Test::EndsWith(x) => lower(value).ends_with(x.as_str()),
            Test::Contains(x) => lower(value).contains(x.as_str()),
        }
    }

    /// The leaf over a field's values: one or none for most fields, the
    /// group names for `group`. An absent field has no values, so it never
    /// passes and the negated operators hold.
    pub fn holds<'v>(&self, mut values: impl Iterator<Item = &'v str>) -> bool {
        values.any(|v| self.passes(v)) != self.negated
    }
}

/// Lower-cases for the case-insensitive operators, without allocating when
/// nothing changes.
pub(crate) fn lower(s: &str) -> Cow<'_, str> {
    if s.is_ascii() {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(s.to_ascii_lowercase())
        } else {
            Cow::Borrowed(s)
        }
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

/// A compiled condition tree.
#[derive(Debug)]
pub(crate) enum Cond {
    /// Every child holds.
    All(Vec<Cond>),
    /// At least one child holds.
    Any(Vec<Cond>),
    /// A leaf, by id.
    Leaf(u32),
    /// A condition that could not be compiled: it never holds (fails closed).
    Never(String),
}

/// The first condition that did not hold, for `explain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    /// Path of the node within the rule, e.g. `rule.all[1]`.
    pub path: String,
    /// The leaf that failed, or `None` for an invalid node.
    pub leaf: Option<u32>,
    /// Why an invalid node never holds.
    pub invalid: Option<String>,
}

impl Cond {
    /// Evaluates the tree, asking `leaf` for each leaf reached (short-circuit).
    pub fn eval<F: FnMut(u32) -> bool>(&self, leaf: &mut F) -> bool {
        match self {
            // An empty `all` is invalid (never compiled); it fails closed here too.
            Cond::All(children) => !children.is_empty() && children.iter().all(|c| c.eval(leaf)),
            Cond::Any(children) => children.iter().any(|c| c.eval(leaf)),
            Cond::Leaf(id) => leaf(*id),
            Cond::Never(_) => false,
        }
    }

    /// The first failing node of a tree that does not hold: within `all` the
    /// first child that fails; within `any` (where every child failed) the
    /// first child's failure. `None` when the tree holds.
    pub fn first_failure<F: FnMut(u32) -> bool>(&self, path: &str, leaf: &mut F) -> Option<Failure> {
        match self {
            Cond::All(children) | Cond::Any(children) => {
                if self.eval(leaf) {
                    return None;
                }
                let word = if matches!(self, Cond::All(_)) {
                    "all"
                } else {
                    "any"
                };
                children
                    .iter()
                    .enumerate()
                    .find_map(|(i, c)| c.first_failure(&format!("{path}.{word}[{i}]"), leaf))
            }
            Cond::Leaf(id) => (!leaf(*id)).then(|| Failure {
                path: path.to_string(),
                leaf: Some(*id),
                invalid: None,
            }),
            Cond::Never(why) => Some(Failure {
                path: path.to_string(),
                leaf: None,
                invalid: Some(why.clone()),
            }),
        }
    }
}

/// Identity of a leaf for deduplication: field, operator, operands as written.
type LeafKey = (ConditionField, Operator, Vec<String>);

/// Compiles conditions, sharing identical leaves and registering the fields
/// they read as columns.
#[derive(Debug, Default)]
pub(crate) struct Compiler {
    /// Every leaf compiled, by id.
    pub leaves: Vec<Leaf>,
    /// The single-valued fields read by some leaf, by column id.
    pub columns: Vec<ConditionField>,
    /// Conditions that could not be compiled (they never hold).
    pub problems: Vec<String>,
    keys: BTreeMap<LeafKey, u32>,
    owner: String,
}

impl Compiler {
    /// Compiles `c`; `owner` and `path` name it in problems (`app assignment "x"`, `rule`).
    pub fn compile(&mut self, owner: &str, path: &str, c: &Condition) -> Cond {
        self.owner = owner.to_string();
        self.compile_child(path, c)
    }

    fn node(&mut self, path: &str, c: &Condition) -> Result<Cond, String> {
        let forms =
            usize::from(c.all.is_some()) + usize::from(c.any.is_some()) + usize::from(c.field.is_some());
        if forms != 1 {
            return Err("a condition needs exactly one of `all`, `any`, or `field` with `op`".into());
        }
        for (word, list) in [("all", &c.all), ("any", &c.any)] {
            let Some(list) = list else { continue };
            if list.is_empty() {
                return Err(format!("`{word}` needs at least one condition"));
            }
            let children = list
                .iter()
                .enumerate()
                .map(|(i, sub)| self.compile_child(&format!("{path}.{word}[{i}]"), sub))
                .collect();
            return Ok(if word == "all" {
                Cond::All(children)
            } else {
                Cond::Any(children)
            });
        }
        let field_text = c.field.as_deref().unwrap_or_default();
        let field: ConditionField = field_text.parse()?;
        let op = c.op.ok_or("missing `op`")?;
        let operands: Vec<String> = match op {
            Operator::In | Operator::NotIn => match &c.values {
                Some(v) if !v.is_empty() && c.value.is_none() => v.clone(),
                _ => return Err(format!("`{}` needs a non-empty `values` list", op.as_str())),
            },
            _ => match (&c.value, &c.values) {
                (Some(v), None) => vec![v.clone()],
                _ => return Err(format!("`{}` needs one `value`", op.as_str())),
            },
        };
        let key = (field, op, operands);
        if let Some(id) = self.keys.get(&key) {
            return Ok(Cond::Leaf(*id));
        }
        let leaf = self.leaf(field_text, &key)?;
        let id = u32::try_from(self.leaves.len()).map_err(|_| "too many conditions".to_string())?;
        self.leaves.push(leaf);
        self.keys.insert(key, id);
        Ok(Cond::Leaf(id))
    }

    /// Compiles one node; an invalid node never holds and is reported on its
    /// own, so its siblings within `all`/`any` still count.
    fn compile_child(&mut self, path: &str, c: &Condition) -> Cond {
        match self.node(path, c) {
            Ok(cond) => cond,
            Err(why) => {
                self.problems.push(format!(
                    "{}: {path}: {why}; this condition never holds",
                    self.owner
                ));
                Cond::Never(why)
            }
        }
    }

    fn leaf(&mut self, field_text: &str, (field, op, operands): &LeafKey) -> Result<Leaf, String> {
        let first = || operands.first().cloned().unwrap_or_default();
        let test = match op {
            Operator::Equals | Operator::NotEquals => Test::Equals(lower(&first()).into_owned()),
            Operator::In | Operator::NotIn => {
                Test::In(operands.iter().map(|v| lower(v).into_owned()).collect())
            }
            Operator::StartsWith => Test::StartsWith(lower(&first()).into_owned()),
            Operator::EndsWith => Test::EndsWith(lower(&first()).into_owned()),
            Operator::Contains => Test::Contains(lower(&first()).into_owned()),
            Operator::Matches => Test::Matches(compile_regex(&first())?),
        };
        let subject = match field {
            ConditionField::Group => Subject::Groups,
            other => {
                let pos = match self.columns.iter().position(|c| c == other) {
                    Some(pos) => pos,
                    None => {
                        self.columns.push(other.clone());
                        self.columns.len() - 1
                    }
                };
                Subject::Column(u32::try_from(pos).map_err(|_| "too many fields".to_string())?)
            }
        };
        let operand_text = match op {
            Operator::In | Operator::NotIn => format!("{operands:?}"),
            _ => format!("{:?}", first()),
        };
        Ok(Leaf {
            field: field.clone(),
            subject,
            negated: matches!(op, Operator::NotEquals | Operator::NotIn),
            text: format!("{field_text} {} {operand_text}", op.as_str()),
            test,
        })
    }
}
