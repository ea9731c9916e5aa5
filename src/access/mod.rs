//! Effective access: what every user of an organization ends up with —
//! apps with an app role (AppAssignment rules), one security policy
//! (SecurityPolicy targets and priorities), and admin permissions (Roles and
//! RoleBindings) — and why.
//!
//! # Use
//!
//! Build an [`AccessModel`] from a validated [`crate::validate::DesiredOrg`]
//! ("after") or a live [`crate::backend::LiveOrg`] snapshot ("before"), then
//! [`AccessModel::evaluate`] every user into an [`EffectiveAccess`], or
//! [`AccessModel::explain_user`] one user into a [`UserExplanation`], or ask
//! for [`AccessModel::policy_conflicts`] (validation errors to report).
//! The plan compares two evaluations (live "before", desired "after") in
//! [`crate::plan`]'s `impact.rs`, through the crate-internal accessors of
//! [`EffectiveAccess`] and `expand_mask`.
//! [`AccessModel::explain_signin`] (`signin.rs`, with a [`SignInContext`] of
//! the same organization's policies and identity providers) evaluates a
//! sign-in against the policy `explain_user` chooses; its module doc holds
//! the sign-in semantics (defaults of unset fields, methods, MFA, SSO).
//!
//! # How it is computed
//!
//! The model borrows the specs (no user is copied) and compiles everything
//! but the users once: groups and their ancestors (`groups.rs`), conditions
//! with shared leaves, lower-cased operands and regexes compiled by
//! [`crate::validate::compile_regex`] (`condition.rs`), rules in decision
//! order (`rules.rs`), policies (`policy.rs`), role bindings as permission
//! bit masks (`admin.rs`). Building it lists the users and does nothing per
//! user, so `explain` (`explain.rs`) costs the same at any size: it finds
//! the user's groups in one pass over the groups and evaluates every rule,
//! policy and binding against that user's spec.
//!
//! The full evaluation (`evaluate.rs`) builds an org-wide index first
//! (`index.rs`, in parallel): every user's groups; one column per field a
//! condition reads (`columns.rs`), interned (a value id per user, so a leaf is computed once
//! per distinct value and then looked up) or, for e-mail and username, kept
//! per user; and per rule the bit set of users it applies to (`bits.rs`:
//! leaves as bit sets, `all` = AND, `any` = OR, exclusions removed). Users
//! are then walked in parallel chunks. A user's apps depend only on which
//! rules apply to it, so each distinct set of applying rules is resolved once
//! and shared (about a thousand sets for 100,000 synthetic users); policies
//! and bindings are resolved per user. Results are stored by id
//! (`effective.rs`) and turned into names on demand.
//!
//! Both paths answer the same questions through one probe interface
//! (`probe.rs`: the user's groups, listed sets, leaves) and share every
//! decision above the leaves; tests check that `explain` and the full
//! evaluation agree for every user of generated and random organizations.
//!
//! # Semantics (decisions)
//!
//! - **Who is evaluated.** Active and deactivated users alike (a deactivated
//!   account keeps its assignments so reactivating it restores them).
//!   Closed accounts get nothing: no apps, no policy, no admin rights.
//! - **Fields.** `department`, `designation`, `location`, `email`,
//!   `emailDomain` (the part after `@`, exact: `acme.example` does not match
//!   `contractors.acme.example`; use `endsWith`), `username` (the e-mail's
//!   local part when not given), `attributes.<name>`, and `group`: the set
//!   of the user's groups, direct and nested. An empty string is absent.
//! - **Operators.** `equals`, `in`, `startsWith`, `endsWith`, `contains`
//!   compare case-insensitively (both sides lower-cased, Unicode-aware);
//!   `matches` is a regular expression, case-sensitive as written (use
//!   `(?i)`), unanchored (use `^…$`). `notEquals` and `notIn` are the
//!   negations of `equals` and `in`.
//! - **Absent fields** never equal, start, end, contain or match anything, so
//!   every positive operator is false and `notEquals`/`notIn` are true.
//! - **`group`** holds when some group of the user passes (`group equals
//!   x`: member of `x`, directly or nested; `group startsWith team-`: member
//!   of some such group); `notEquals`/`notIn` hold when none does.
//! - **Fail closed.** A condition that cannot be compiled (validation rejects
//!   these; a live snapshot might hold one) never holds, and a rule without a
//!   condition matches no one; each is listed in [`AccessModel::problems`].
//!   An empty `all`/`any` is such an invalid condition.
//! - **Exclusions.** A user listed in `exclude.users`, or a member (direct or
//!   nested) of a group in `exclude.groups`, gets nothing from that rule.
//! - **Priority and tie-break.** Rules are taken in decision order: priority
//!   descending (absent = 0), then rule name ascending (byte order). For each
//!   app the first rule in that order that applies to the user wins; within
//!   one rule granting an app twice, the role name that sorts first wins.
//!   `explain` lists the grants that lost and why (lower priority, tie-break,
//!   same rule).
//! - **Policies.** The first non-default policy in the same decision order
//!   whose targets match (listed user, member of a targeted group, or the
//!   target rule) is the user's; otherwise the default (`default: true`; the
//!   first by name if a snapshot has several). Its reason names the first
//!   target that matched, checked users, then groups (the first by name),
//!   then the rule. Two policies of equal priority that both match a user
//!   are a conflict ([`PolicyConflict`], with the first such user by name),
//!   whether or not a higher policy wins; meanwhile the name that sorts first
//!   wins. A backend that applies every matching policy at once (Kanidm,
//!   [`crate::backend::PolicyCombination::Strictest`], set with
//!   [`AccessModel::with_policy_combination`]) gets the matching policies and
//!   the default combined setting by setting ([`combine::strictest`]):
//!   `explain` lists them all, sign-ins are judged by the combination, and
//!   the impact compares combinations; priorities then decide nothing.
//! - **Admin rights.** Union over the bindings that reach the user directly
//!   or through a group (nested). Built-in `admin`: every module × action;
//!   `member`: nothing; a custom Role: its permissions. The Organization's
//!   `superAdmin` holds every permission and is flagged. Each permission
//!   records every grantor (bindings, super admin).
//! - **Collections.** Member lists are read as listed, whatever their mode
//!   (authoritative or additive); references to unknown users or groups are
//!   ignored.
//! - **Cycles.** Group nesting cycles cannot pass validation; in a snapshot
//!   they end the ancestor walk instead of hanging it.
//! - **Determinism.** Every list is sorted by name when the model is built,
//!   so results do not depend on the order the objects come in.

mod admin;
mod bits;
mod columns;
pub mod combine;
mod condition;
mod effective;
mod evaluate;
mod explain;
mod groups;
mod index;
mod model;
mod policy;
mod probe;
mod rules;
pub mod settings;
mod signin;
mod types;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use admin::{ACTIONS, MODULES};

pub(crate) use model::join_users;

/// Admin permissions as bits (for comparing two evaluations in the crate).
pub(crate) type AdminMask = admin::Mask;

/// The permissions of a mask, per module: the one mask → action list.
pub(crate) fn expand_mask(
    mask: AdminMask,
) -> std::collections::BTreeMap<crate::model::Module, Vec<crate::model::Action>> {
    admin::expand(mask, |_, _| ())
        .into_iter()
        .map(|(m, a)| (m, a.into_keys().collect()))
        .collect()
}

/// Every admin permission (what the built-in `admin` role gives).
pub(crate) fn full_admin_mask() -> AdminMask {
    admin::all()
}
pub use effective::{AppRef, EffectiveAccess};
pub use explain::{
    AppExplanation, ExcludedRule, FailedCondition, LosingGrant, LossReason, PolicyExplanation, PolicyRef,
    UnmatchedRule, UserExplanation,
};
pub use model::AccessModel;
pub use signin::{
    evaluate as evaluate_signin, mode_name, policy_reason, AsOfState, Denial, DenialCode, Note, NoteCode,
    SignInAttempt, SignInContext, SignInError, SignInExplanation, SignInMethod, SignInSettings, Verdict,
    SIGNIN_FORMAT_VERSION,
};
pub use types::{
    AdminRights, AppAccess, BindingGrant, Grantor, PolicyChoice, PolicyConflict, PolicyReason, UserAccess,
    Via,
};
