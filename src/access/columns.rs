//! Columns: the values of one condition field for every user, read in one
//! pass over the users per thread (each user's spec is visited once for all
//! fields). Fields most users share values of are interned (a value id per
//! user, the distinct values once), so a leaf is evaluated once per distinct
//! value; e-mail and username, unique per user, are kept as they are.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::index::par_map;
use super::model::{AccessModel, UserRef};
use crate::validate::ConditionField;

/// No value: the user lacks the field.
pub(crate) const NONE: u32 = u32::MAX;

/// A hash map with the Fx hash.
pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// One field over every user.
#[derive(Debug)]
pub(crate) enum Column<'a> {
    /// Interned: a value id per user (`NONE` when absent) and the distinct
    /// values once, for fields most users share values of.
    Interned {
        /// Value id per user.
        values: Vec<u32>,
        /// The distinct values, by id.
        distinct: Vec<&'a str>,
    },
    /// The value per user, for fields unique per user (e-mail, username),
    /// where interning would only cost a hash per user.
    Direct(Vec<Option<&'a str>>),
}

/// The Fx hash (as in rustc): fast on short keys; what is hashed is the
/// organization's own data.
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(<[u8; 8]>::try_from(c).map_or(0, u64::from_le_bytes));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }

    fn write_u8(&mut self, b: u8) {
        self.add(u64::from(b));
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// Whether a field is stored per user rather than interned: e-mail and
/// username are unique per user, so interning would only cost a hash each.
fn direct(field: &ConditionField) -> bool {
    matches!(field, ConditionField::Email | ConditionField::Username)
}

/// Gives each distinct value an id, in order of first sight.
#[derive(Default)]
struct Interner<'a> {
    ids: FxMap<&'a str, u32>,
    distinct: Vec<&'a str>,
}

impl<'a> Interner<'a> {
    fn id(&mut self, v: &'a str) -> u32 {
        let distinct = &mut self.distinct;
        *self.ids.entry(v).or_insert_with(|| {
            distinct.push(v);
            (distinct.len() - 1) as u32
        })
    }
}

/// One field's values over a chunk of users: its interner and value ids, or
/// its direct values.
type LocalColumn<'a> = (Interner<'a>, Vec<u32>, Vec<Option<&'a str>>);

/// Every column some condition reads, and who is closed, in one pass over
/// the users per thread (each user's spec is visited once for all fields),
/// then merged.
pub(crate) fn columns<'a>(model: &AccessModel<'a>) -> (Vec<Column<'a>>, Vec<bool>) {
    let fields = &model.columns;
    let threads = std::thread::available_parallelism().map_or(1, |t| t.get());
    let per = model.users.len().div_ceil(threads.max(1)).max(1);
    let chunks: Vec<&[UserRef<'a>]> = model.users.chunks(per).collect();
    let locals: Vec<(Vec<LocalColumn<'a>>, Vec<bool>)> = par_map(&chunks, |users| {
        let mut local: Vec<LocalColumn<'a>> = fields
            .iter()
            .map(|field| {
                let (ids, direct_values) = if direct(field) {
                    (Vec::new(), Vec::with_capacity(users.len()))
                } else {
                    (Vec::with_capacity(users.len()), Vec::new())
                };
                (Interner::default(), ids, direct_values)
            })
            .collect();
        let mut closed = Vec::with_capacity(users.len());
        for user in users.iter() {
            closed.push(user.closed());
            for (field, (interner, ids, direct_values)) in fields.iter().zip(local.iter_mut()) {
                let v = user.value(field);
                if direct(field) {
                    direct_values.push(v);
                } else {
                    ids.push(v.map_or(NONE, |v| interner.id(v)));
                }
            }
        }
        (local, closed)
    });
    let mut closed = Vec::with_capacity(model.users.len());
    let mut parts: Vec<std::vec::IntoIter<LocalColumn<'a>>> = Vec::with_capacity(locals.len());
    for (local, c) in locals {
        closed.extend(c);
        parts.push(local.into_iter());
    }
    let columns = fields
        .iter()
        .map(|field| {
            let parts: Vec<LocalColumn<'a>> = parts.iter_mut().filter_map(Iterator::next).collect();
            if direct(field) {
                return Column::Direct(parts.into_iter().flat_map(|(_, _, d)| d).collect());
            }
            let mut global = Interner::default();
            let mut values = Vec::with_capacity(model.users.len());
            for (interner, ids, _) in parts {
                let remap: Vec<u32> = interner.distinct.iter().map(|v| global.id(v)).collect();
                values.extend(
                    ids.iter()
                        .map(|&i| remap.get(i as usize).copied().unwrap_or(NONE)),
                );
            }
            Column::Interned {
                values,
                distinct: global.distinct,
            }
        })
        .collect();
    (columns, closed)
}
