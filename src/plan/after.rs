//! The organization as it will be once a plan is applied: the live objects,
//! with every planned spec put in place of its live one and deleted objects
//! left out. Access is evaluated over this (every user, declared or live
//! only, old or new), so rules reach users created in the backend directly.

use std::collections::BTreeSet;

use super::{Action, OrgPlan, PlanError};
use crate::backend::LiveOrg;
use crate::model::{Kind, Name, Spec};

/// The planned specs of one organization (owned) beside the live snapshot
/// they replace parts of.
#[derive(Debug)]
pub(crate) struct After<'l> {
    live: &'l LiveOrg,
    /// Objects the plan writes, with their planned specs.
    planned: Vec<(Kind, Name, Spec)>,
    /// Objects the plan writes or deletes (their live specs are not used).
    replaced: BTreeSet<(Kind, Name)>,
}

impl<'l> After<'l> {
    /// Builds the state after `org` is applied over `live`.
    pub fn new(live: &'l LiveOrg, org: &OrgPlan) -> Result<Self, PlanError> {
        let mut planned = Vec::new();
        let mut replaced = BTreeSet::new();
        for change in &org.changes {
            replaced.insert((change.kind, change.name.clone()));
            if change.action == Action::Delete {
                continue;
            }
            let Some(after) = &change.after else { continue };
            let spec = Spec::from_json_str(change.kind, after.as_str()).map_err(|e| PlanError::Internal {
                message: format!(
                    "planned spec of {} does not read back: {e}",
                    change.kind.label(change.name.as_str())
                ),
            })?;
            planned.push((change.kind, change.name.clone(), spec));
        }
        Ok(After {
            live,
            planned,
            replaced,
        })
    }

    /// True when the plan changes no object.
    pub fn unchanged(&self) -> bool {
        self.replaced.is_empty()
    }

    /// Every object of the organization after the apply, in no set order.
    pub fn objects(&self) -> impl Iterator<Item = (Kind, &Name, &Spec)> + '_ {
        let kept = self
            .live
            .objects
            .iter()
            .filter(|(key, _)| self.replaced.is_empty() || !self.replaced.contains(*key))
            .map(|((kind, name), o)| (*kind, name, &o.spec));
        kept.chain(self.planned.iter().map(|(k, n, s)| (*k, n, s)))
    }

    /// The spec of one object after the apply.
    pub fn get(&self, kind: Kind, name: &Name) -> Option<&Spec> {
        if let Some((_, _, spec)) = self.planned.iter().find(|(k, n, _)| *k == kind && n == name) {
            return Some(spec);
        }
        if self.replaced.contains(&(kind, name.clone())) {
            return None;
        }
        self.live.get(kind, name).map(|o| &o.spec)
    }
}
