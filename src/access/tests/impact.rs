//! Plan impact between two evaluations.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::access::{impact, AppRole, RoleChange, UserImpact};
use crate::model::{Action::*, Operator::*};

fn base() -> Org {
    Org::new()
        .organization(Some("root"))
        .user("root", |_| {})
        .user("alice", |u| u.department = Field::Set("Sales".into()))
        .user("bob", |u| u.department = Field::Set("Engineering".into()))
        .app("crm", &["user", "manager"])
        .app("drive", &["viewer", "editor"])
        .rule(
            "sales",
            10,
            leaf("department", Equals, "sales"),
            &[("crm", "user")],
        )
        .rule(
            "staff",
            10,
            leaf("department", NotEquals, "x"),
            &[("drive", "viewer")],
        )
        .default_policy("standard")
        .role("auditor", &[(Module::Audit, &[View])])
        .binding("org-admins", "admin", &["root"], &[])
}

#[test]
fn identical_evaluations_have_no_impact() {
    let (a, b) = (base(), base());
    let (ma, mb) = (a.model(), b.model());
    assert!(impact(&ma.evaluate(), &mb.evaluate()).is_empty());
}

#[test]
fn impact_lists_apps_roles_policies_admin_and_new_or_gone_users() {
    let before = base().user("gone", |_| {});
    let after = base()
        .user("carol", |u| u.department = Field::Set("Sales".into()))
        .rule(
            "managers",
            20,
            leaf("department", Equals, "sales"),
            &[("crm", "manager")],
        )
        .rule(
            "eng",
            10,
            leaf("department", Equals, "engineering"),
            &[("drive", "editor")],
        )
        .policy(
            "strict",
            5,
            PolicyTargets {
                users: names(&["bob"]),
                ..PolicyTargets::default()
            },
        )
        .binding("audit", "auditor", &["alice"], &[]);
    let (mb, ma) = (before.model(), after.model());
    let changes = impact(&mb.evaluate(), &ma.evaluate());
    let by_user: BTreeMap<String, &UserImpact> = changes.iter().map(|c| (c.user.to_string(), c)).collect();
    assert_eq!(
        by_user.keys().map(String::as_str).collect::<Vec<_>>(),
        ["alice", "bob", "carol", "gone"]
    );
    let alice = by_user["alice"];
    assert_eq!(
        alice.roles_changed,
        vec![RoleChange {
            app: n("crm"),
            before: n("user"),
            after: n("manager"),
        }]
    );
    assert_eq!(
        alice.admin_gained,
        BTreeMap::from([(Module::Audit, BTreeSet::from([View]))])
    );
    assert!(alice.policy.is_none() && alice.apps_added.is_empty());
    // bob: drive becomes editor ("eng" sorts before "staff" at equal priority).
    let bob = by_user["bob"];
    assert_eq!(bob.roles_changed[0].after, n("editor"));
    assert_eq!(bob.policy, Some((Some(n("standard")), Some(n("strict")))));
    let carol = by_user["carol"];
    assert_eq!(carol.apps_added.len(), 2);
    assert_eq!(carol.policy, Some((None, Some(n("standard")))));
    let gone = by_user["gone"];
    assert_eq!(
        gone.apps_removed,
        vec![AppRole {
            app: n("drive"),
            role: n("viewer"),
        }]
    );
    assert!(!by_user.contains_key("root"));
    let json = serde_json::to_value(&changes).expect("serializable");
    assert_eq!(json[0]["rolesChanged"][0]["after"], "manager");
}
