//! Lockout guards: a plan must not leave an organization without a super
//! admin, take admin rights from the person applying it (`--as`), or make
//! that person's effective policy refuse the addresses they sign in from
//! (`--my-ip`, or the addresses the backend sees). Each guard only fires on
//! what the plan changes: a state that was already so is not the plan's
//! doing. `--force` turns a failure into a note in the plan.

use std::collections::BTreeMap;
use std::net::IpAddr;

use super::GuardOptions;
use crate::access::settings::allows_address;
use crate::access::EffectiveAccess;
use crate::model::{Name, SecurityPolicySpec};

/// What the guards look at for one organization.
pub(crate) struct GuardInput<'m, 'p> {
    /// The organization.
    pub organization: &'m Name,
    /// Effective access now.
    pub before: &'m EffectiveAccess<'m>,
    /// Effective access after the apply.
    pub after: &'m EffectiveAccess<'m>,
    /// The super admin the Organization names after the apply.
    pub super_admin_after: Option<&'m Name>,
    /// Policy specs by name, live.
    pub policies_before: &'p BTreeMap<&'m Name, &'m SecurityPolicySpec>,
    /// Policy specs by name after the apply.
    pub policies_after: &'p BTreeMap<&'m Name, &'m SecurityPolicySpec>,
}

/// Every guard the plan trips, as sentences.
pub(crate) fn check(input: &GuardInput<'_, '_>, options: &GuardOptions) -> Vec<String> {
    let mut out = Vec::new();
    let org = input.organization.as_str();
    let (before, after) = (input.before, input.after);
    let super_before = before
        .model()
        .super_admin_id()
        .map(|u| before.admin_mask_at(u).0)
        .unwrap_or(false);
    let super_after = after
        .model()
        .super_admin_id()
        .filter(|u| after.admin_mask_at(*u).0);
    if super_before && super_after.is_none() {
        let why = match input.super_admin_after {
            None => "the Organization names no super admin".to_string(),
            Some(n) => match after.model().user(n.as_str()) {
                None => format!("its super admin {:?} would not exist", n.as_str()),
                Some(_) => format!("its super admin {:?} would be closed", n.as_str()),
            },
        };
        out.push(format!(
            "organization {org:?} would be left without a super admin: {why}"
        ));
    }

    if let Some(applier) = &options.applier {
        let b = before.model().user(applier.as_str()).map(|(u, _)| u);
        let a = after.model().user(applier.as_str()).map(|(u, _)| u);
        let mask_b = b.map_or(0, |u| before.admin_mask_at(u).1);
        let mask_a = a.map_or(0, |u| after.admin_mask_at(u).1);
        let lost = mask_b & !mask_a;
        if lost == crate::access::full_admin_mask() {
            out.push(format!(
                "you (--as {:?}) would lose every admin right in organization {org:?}",
                applier.as_str()
            ));
        } else if lost != 0 {
            out.push(format!(
                "you (--as {:?}) would lose admin rights in organization {org:?} ({})",
                applier.as_str(),
                crate::model::describe_permissions(crate::access::expand_mask(lost))
            ));
        }
    }

    // Whose sign-in the address guard protects: the applier, else the super admin.
    let protected = options
        .applier
        .clone()
        .or_else(|| input.super_admin_after.cloned());
    if let (Some(who), false) = (protected, options.addresses.is_empty()) {
        let policy_of = |e: &EffectiveAccess<'_>, specs: &BTreeMap<&Name, &SecurityPolicySpec>| {
            let (u, _) = e.model().user(who.as_str())?;
            specs.get(e.policy_name_at(u)?).map(|p| (*p).clone())
        };
        let p_before = policy_of(before, input.policies_before);
        let p_after = policy_of(after, input.policies_after);
        let refused =
            |p: &Option<SecurityPolicySpec>, ip: &IpAddr| p.as_ref().is_some_and(|p| !allows_address(p, ip));
        for ip in &options.addresses {
            if refused(&p_after, ip) && !refused(&p_before, ip) {
                let policy = after
                    .model()
                    .user(who.as_str())
                    .and_then(|(u, _)| after.policy_name_at(u))
                    .map_or_else(String::new, |p| format!(" policy {:?}", p.as_str()));
                out.push(format!(
                    "user {:?} could no longer sign in from {ip}: the allowed IP ranges of{policy} exclude it",
                    who.as_str()
                ));
            }
        }
    }
    out
}
