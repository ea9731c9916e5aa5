//! A probe answers the questions rules, policies and bindings ask about one
//! user: its name, its groups, whether it is in a listed set of users, and
//! whether a condition leaf holds. The full evaluation answers from the
//! org-wide index (`index::IndexProbe`); `explain` answers from the user's
//! own spec ([`RowProbe`]). Both share every decision above the leaves, so
//! they cannot disagree on `all`/`any`, exclusions, priorities or targets.

use super::condition::Subject;
use super::model::{AccessModel, UserRef};

/// Questions about one user.
pub(crate) trait Probe {
    /// The user's groups, direct and nested, sorted by id.
    fn groups(&self) -> &[u32];
    /// Whether the user is in the listed set `set` (a `user_sets` id).
    fn listed(&self, set: u32) -> bool;
    /// Whether condition leaf `id` holds for the user.
    fn leaf(&self, id: u32) -> bool;
}

/// A probe computed from one user's spec, without any org-wide index.
pub(crate) struct RowProbe<'m, 'a> {
    model: &'m AccessModel<'a>,
    user: UserRef<'a>,
    groups: Vec<u32>,
}

impl<'m, 'a> RowProbe<'m, 'a> {
    /// Finds the user's groups (one pass over the groups) and prepares the probe.
    pub fn new(model: &'m AccessModel<'a>, user: UserRef<'a>) -> Self {
        let groups = model.groups.of_user(user.key);
        RowProbe { model, user, groups }
    }

    /// The field value a leaf reads, for display.
    pub fn value_of(&self, leaf: u32) -> Option<String> {
        let leaf = self.model.leaves.get(leaf as usize)?;
        match leaf.subject {
            Subject::Column(_) => self.user.value(&leaf.field).map(str::to_string),
            Subject::Groups => Some(
                self.groups
                    .iter()
                    .filter_map(|g| self.model.groups.name(*g))
                    .map(|n| n.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
        }
    }
}

impl Probe for RowProbe<'_, '_> {
    fn groups(&self) -> &[u32] {
        &self.groups
    }

    fn listed(&self, set: u32) -> bool {
        self.model
            .user_sets
            .get(set as usize)
            .is_some_and(|s| s.contains(self.user.key))
    }

    fn leaf(&self, id: u32) -> bool {
        let Some(leaf) = self.model.leaves.get(id as usize) else {
            return false;
        };
        match leaf.subject {
            Subject::Column(_) => leaf.holds(self.user.value(&leaf.field).into_iter()),
            Subject::Groups => leaf.holds(
                self.groups
                    .iter()
                    .filter_map(|g| self.model.groups.name(*g))
                    .map(|n| n.as_str()),
            ),
        }
    }
}
