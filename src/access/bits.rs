//! A fixed-size bit set over user ids, and the evaluation of a condition
//! tree over such sets (one bit per user): `all` is AND, `any` is OR, an
//! invalid node is empty. The same tree is evaluated per user by
//! [`super::condition::Cond::eval`]; the two must agree (tests check it).

use super::condition::Cond;

/// One bit per user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Bits {
    words: Vec<u64>,
}

impl Bits {
    /// `n` clear bits.
    pub fn zeros(n: usize) -> Self {
        Bits {
            words: vec![0; n.div_ceil(64)],
        }
    }

    /// The bits `i` of `0..n` for which `f(i)` holds.
    pub fn from_fn(n: usize, mut f: impl FnMut(u32) -> bool) -> Self {
        let mut b = Bits::zeros(n);
        for (w, word) in b.words.iter_mut().enumerate() {
            let base = w * 64;
            let mut acc = 0u64;
            for k in 0..64.min(n - base) {
                acc |= u64::from(f((base + k) as u32)) << k;
            }
            *word = acc;
        }
        b
    }

    /// Whether bit `i` is set.
    #[cfg(test)]
    pub fn get(&self, i: u32) -> bool {
        self.words
            .get(i as usize / 64)
            .is_some_and(|w| (w >> (i % 64)) & 1 == 1)
    }

    /// Sets bit `i`.
    pub fn set(&mut self, i: u32) {
        if let Some(w) = self.words.get_mut(i as usize / 64) {
            *w |= 1 << (i % 64);
        }
    }

    /// Clears bit `i`.
    pub fn clear(&mut self, i: u32) {
        if let Some(w) = self.words.get_mut(i as usize / 64) {
            *w &= !(1 << (i % 64));
        }
    }

    /// Clears every bit set in `other`.
    pub fn and_not(&mut self, other: &Bits) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= !b;
        }
    }

    /// True when no bit is set.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }
}

/// A bit matrix (sets × users) read per user: for a block of 64 users at a
/// time, each user's row says which sets hold it. Reading sets per user
/// directly would touch one word of every set per user; this touches each
/// word once per 64 users and then only the sets that hold.
#[derive(Debug)]
pub(crate) struct Transposed<'s> {
    sets: &'s [Bits],
    per_user: usize,
    block: Option<usize>,
    words: Vec<u64>,
}

impl<'s> Transposed<'s> {
    /// Reads `sets` per user.
    pub fn new(sets: &'s [Bits]) -> Self {
        let per_user = sets.len().div_ceil(64);
        Transposed {
            sets,
            per_user,
            block: None,
            words: vec![0; per_user * 64],
        }
    }

    /// The row of user `u`: bit `s` is set when set `s` holds the user.
    pub fn row(&mut self, u: u32) -> &[u64] {
        let block = u as usize / 64;
        if self.block != Some(block) {
            self.words.fill(0);
            for (s, set) in self.sets.iter().enumerate() {
                let mut w = set.words.get(block).copied().unwrap_or(0);
                while w != 0 {
                    let k = w.trailing_zeros() as usize;
                    if let Some(word) = self.words.get_mut(k * self.per_user + s / 64) {
                        *word |= 1 << (s % 64);
                    }
                    w &= w - 1;
                }
            }
            self.block = Some(block);
        }
        let at = (u as usize % 64) * self.per_user;
        self.words.get(at..at + self.per_user).unwrap_or(&[])
    }
}

/// The positions of the set bits of `words`, ascending.
pub(crate) fn ones(words: &[u64]) -> impl Iterator<Item = u32> + '_ {
    words.iter().enumerate().flat_map(|(i, &w)| {
        std::iter::successors((w != 0).then_some(w), |w| Some(w & (w - 1)).filter(|w| *w != 0))
            .map(move |w| (i * 64) as u32 + w.trailing_zeros())
    })
}

/// The users for whom `cond` holds, given the users for whom each leaf holds.
pub(crate) fn eval(cond: &Cond, leaves: &[Bits], n: usize) -> Bits {
    match cond {
        Cond::Leaf(id) => leaves
            .get(*id as usize)
            .cloned()
            .unwrap_or_else(|| Bits::zeros(n)),
        Cond::Never(_) => Bits::zeros(n),
        Cond::All(children) => {
            let mut it = children.iter();
            let Some(first) = it.next() else {
                return Bits::zeros(n);
            };
            let mut acc = eval(first, leaves, n);
            for c in it {
                if acc.is_empty() {
                    break;
                }
                let b = eval(c, leaves, n);
                for (a, b) in acc.words.iter_mut().zip(&b.words) {
                    *a &= b;
                }
            }
            acc
        }
        Cond::Any(children) => {
            let mut acc = Bits::zeros(n);
            for c in children {
                let b = eval(c, leaves, n);
                for (a, b) in acc.words.iter_mut().zip(&b.words) {
                    *a |= b;
                }
            }
            acc
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_fn_get_set_clear_and_not() {
        let mut b = Bits::from_fn(130, |i| i % 3 == 0);
        assert!(b.get(0) && !b.get(1) && b.get(129) && !b.get(130));
        b.set(1);
        b.clear(0);
        assert!(b.get(1) && !b.get(0));
        b.and_not(&Bits::from_fn(130, |i| i >= 64));
        assert!(!b.get(129) && b.get(63));
        assert!(Bits::zeros(10).is_empty() && !b.is_empty());
    }

    #[test]
    fn transposed_rows_list_the_sets_holding_each_user() {
        let n = 200;
        let sets: Vec<Bits> = (0..70)
            .map(|s| Bits::from_fn(n, |u| (u as usize + s).is_multiple_of(7)))
            .collect();
        let mut t = Transposed::new(&sets);
        for u in (0..n as u32).rev() {
            let row: Vec<u32> = ones(t.row(u)).collect();
            let direct: Vec<u32> = (0..sets.len() as u32)
                .filter(|s| sets[*s as usize].get(u))
                .collect();
            assert_eq!(row, direct, "user {u}");
        }
    }
}
