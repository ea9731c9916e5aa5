//! The access side of a plan, added after the object diff: the app
//! assignments to materialize, the access impact (who gains or loses what)
//! and the lockout guards. Effective access is evaluated over the live
//! organization and over the organization as the plan leaves it
//! ([`super::after`]); when the plan changes no object the two are one
//! evaluation.

use std::collections::BTreeMap;

use super::after::After;
use super::guards::{self, GuardInput};
use super::impact::{self, Sides};
use super::{assignments, OrgPlan, Plan, PlanError, PlanOptions};
use crate::access::{full_admin_mask, AccessModel, EffectiveAccess};
use crate::backend::LiveOrg;
use crate::model::{Kind, Name, SecurityPolicySpec, Spec};

/// Policy specs by name, from `(kind, name, spec)` objects.
fn policies<'m>(
    objects: impl Iterator<Item = (Kind, &'m Name, &'m Spec)>,
) -> BTreeMap<&'m Name, &'m SecurityPolicySpec> {
    objects
        .filter_map(|(_, n, s)| match s {
            Spec::SecurityPolicy(p) => Some((n, p.as_ref())),
            _ => None,
        })
        .collect()
}

/// The super admin an Organization spec names.
fn super_admin_of(spec: Option<&Spec>) -> Option<&Name> {
    match spec? {
        Spec::Organization(o) => o.super_admin.as_ref(),
        _ => None,
    }
}

/// The findings the plan introduces and resolves: posture of the live
/// organization and of the organization as the plan leaves it (the backend's
/// hand-made grants are the same on both sides: plans never write them).
fn posture_delta(
    live: &LiveOrg,
    before: &EffectiveAccess<'_>,
    after: &EffectiveAccess<'_>,
    after_objects: &After<'_>,
) -> crate::posture::PostureDelta {
    let settings = crate::posture::Settings::default();
    let live_objects: Vec<(Kind, &Name, &Spec)> =
        live.objects.iter().map(|((k, n), o)| (*k, n, &o.spec)).collect();
    let planned: Vec<(Kind, &Name, &Spec)> = after_objects.objects().collect();
    let side = |access, objects| crate::posture::Input {
        access,
        objects,
        grants: Some(&live.grants),
        gaps: &[],
        settings: &settings,
    };
    let (found_before, found_after) =
        crate::posture::check_pair(&side(before, &live_objects), &side(after, &planned));
    crate::posture::delta(&found_before, &found_after)
}

/// Adds assignments, impact and guard results to every organization of
/// `plan`. Guard failures are errors unless `options.guard.force`.
pub fn add_access_effects(
    plan: &mut Plan,
    live: &BTreeMap<Name, LiveOrg>,
    options: &PlanOptions,
) -> Result<(), Vec<PlanError>> {
    let empty = LiveOrg::default();
    let mut errors = Vec::new();
    let mut applier_found = false;
    for org in &mut plan.organizations {
        let live_org = live.get(&org.organization).unwrap_or(&empty);
        match org_effects(org, live_org, options, &mut applier_found) {
            Ok(tripped) if options.guard.force => org.forced = tripped,
            Ok(tripped) => errors.extend(tripped.into_iter().map(|message| PlanError::Lockout { message })),
            Err(e) => errors.push(e),
        }
    }
    // `--as` must name a user of some organization planned (a typo would
    // silently disable the guard).
    if let (Some(applier), false) = (&options.guard.applier, applier_found) {
        let organizations: Vec<&str> = plan
            .organizations
            .iter()
            .map(|o| o.organization.as_str())
            .collect();
        errors.push(PlanError::UnknownApplier {
            user: applier.to_string(),
            organizations: organizations.join(", "),
        });
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}

/// Fills one organization's assignments and impact; returns the guards it trips.
fn org_effects(
    org: &mut OrgPlan,
    live: &LiveOrg,
    options: &PlanOptions,
    applier_found: &mut bool,
) -> Result<Vec<String>, PlanError> {
    let after = After::new(live, org)?;
    let live_model = AccessModel::from_live(live).with_policy_combination(options.policies);
    let live_eval = live_model.evaluate();
    let after_model;
    let after_eval_owned;
    let after_eval: &EffectiveAccess<'_> = if after.unchanged() {
        &live_eval
    } else {
        after_model = AccessModel::from_specs(after.objects().map(|(_, n, s)| (n, s)))
            .with_policy_combination(options.policies);
        after_eval_owned = after_model.evaluate();
        &after_eval_owned
    };
    org.assignments = assignments::plan(after_eval, &live.grants);

    let policies_before = policies(live.objects.iter().map(|((k, n), o)| (*k, n, &o.spec)));
    let policies_after = policies(after.objects());
    org.impact = impact::impact(&Sides {
        before: &live_eval,
        after: after_eval,
        grants: &live.grants,
        policies_before: &policies_before,
        policies_after: &policies_after,
        detail: options.impact_detail,
    });

    let org_name = org.organization.clone();
    let super_before = super_admin_of(live.get(Kind::Organization, &org_name).map(|o| &o.spec));
    let super_after = super_admin_of(after.get(Kind::Organization, &org_name));
    if let (Some(old), Some(new)) = (super_before, super_after) {
        if old != new {
            let keeps_admin = after_eval
                .model()
                .user(old.as_str())
                .map(|(u, _)| after_eval.admin_mask_at(u).1 == full_admin_mask())
                .unwrap_or(false);
            let fate = if keeps_admin {
                format!("{:?} is demoted to admin", old.as_str())
            } else {
                format!(
                    "{:?} is demoted and keeps no admin role (no binding to the admin role reaches them)",
                    old.as_str()
                )
            };
            org.impact.notices.push(format!(
                "super admin moves from {:?} to {:?}: {fate}",
                old.as_str(),
                new.as_str()
            ));
        }
    }

    if let Some(applier) = &options.guard.applier {
        let known = |e: &EffectiveAccess<'_>| e.model().user(applier.as_str()).is_some();
        *applier_found |= known(&live_eval) || known(after_eval);
    }
    if after.unchanged() {
        // The same evaluation on both sides: the posture cannot change.
        return Ok(Vec::new());
    }
    org.impact.posture = posture_delta(live, &live_eval, after_eval, &after);
    Ok(guards::check(
        &GuardInput {
            organization: &org_name,
            before: &live_eval,
            after: after_eval,
            super_admin_after: super_after,
            policies_before: &policies_before,
            policies_after: &policies_after,
        },
        &options.guard,
    ))
}
