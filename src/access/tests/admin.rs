//! Admin rights: direct and group (nested) bindings, unions, built-in
//! roles, the super admin.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::access::{BindingGrant, Grantor, Via, ACTIONS, MODULES};
use crate::model::{Action::*, Module};

fn org() -> Org {
    Org::new()
        .organization(Some("root"))
        .user("root", |_| {})
        .user("alice", |_| {})
        .user("bob", |_| {})
        .user("carol", |_| {})
        .group("helpdesk", &["bob"], &[])
        .group("it", &["carol"], &["helpdesk"])
        .role("user-manager", &[(Module::User, &[View, Create, Update])])
        .role(
            "auditor",
            &[(Module::Audit, &[View, Download]), (Module::User, &[View])],
        )
        .binding("org-admins", "admin", &["root"], &[])
        .binding("managers", "user-manager", &["alice"], &["helpdesk"])
        .binding("auditors", "auditor", &[], &["it"])
        .binding("members", "member", &["alice", "bob"], &[])
}

fn actions(map: &BTreeMap<Name, UserAccess>, user: &str) -> BTreeMap<Module, BTreeSet<crate::model::Action>> {
    map[&n(user)].admin.actions()
}

#[test]
fn a_direct_binding_gives_the_roles_permissions() {
    let map = check(&org().model());
    let alice = &map[&n("alice")].admin;
    assert_eq!(
        alice.actions(),
        BTreeMap::from([(Module::User, BTreeSet::from([View, Create, Update]))])
    );
    assert!(!alice.super_admin);
    assert_eq!(
        alice.bindings,
        vec![
            BindingGrant {
                binding: n("managers"),
                role: n("user-manager"),
                via: Via::Direct,
            },
            BindingGrant {
                binding: n("members"),
                role: n("member"),
                via: Via::Direct,
            },
        ]
    );
}

#[test]
fn bindings_reach_members_of_nested_groups_and_unite() {
    let map = check(&org().model());
    // bob: helpdesk (managers) and, through it, it (auditors); member gives nothing.
    let bob = &map[&n("bob")].admin;
    assert_eq!(
        bob.actions(),
        BTreeMap::from([
            (Module::User, BTreeSet::from([View, Create, Update])),
            (Module::Audit, BTreeSet::from([View, Download])),
        ])
    );
    let user_view = &bob.permissions[&Module::User][&View];
    assert_eq!(
        user_view,
        &BTreeSet::from([Grantor::Binding(n("auditors")), Grantor::Binding(n("managers"))])
    );
    assert_eq!(bob.bindings[0].via, Via::Group { group: n("it") });
    // carol: only it (auditors).
    assert_eq!(
        actions(&map, "carol"),
        BTreeMap::from([
            (Module::Audit, BTreeSet::from([View, Download])),
            (Module::User, BTreeSet::from([View])),
        ])
    );
}

#[test]
fn the_built_in_admin_has_everything_and_the_super_admin_is_flagged() {
    let map = check(&org().model());
    let root = &map[&n("root")].admin;
    assert!(root.super_admin);
    let everything: BTreeMap<Module, BTreeSet<crate::model::Action>> = MODULES
        .iter()
        .map(|m| (*m, ACTIONS.iter().copied().collect()))
        .collect();
    assert_eq!(root.actions(), everything);
    assert_eq!(
        root.permissions[&Module::Role][&Delete],
        BTreeSet::from([Grantor::SuperAdmin, Grantor::Binding(n("org-admins"))])
    );
    // Another user bound to admin has everything but is no super admin.
    let o = org().binding("more-admins", "admin", &["carol"], &[]);
    let map = check(&o.model());
    assert_eq!(map[&n("carol")].admin.actions(), everything);
    assert!(!map[&n("carol")].admin.super_admin);
}

#[test]
fn member_gives_nothing_and_unknown_roles_give_nothing_but_are_reported() {
    let o = Org::new()
        .user("dora", |_| {})
        .binding("plain", "member", &["dora"], &[])
        .binding("typo", "auditr", &["dora"], &[])
        .binding("illegal", "super-admin", &["dora"], &[]);
    let model = o.model();
    let map = check(&model);
    assert!(map[&n("dora")].admin.permissions.is_empty());
    assert_eq!(map[&n("dora")].admin.bindings.len(), 3);
    assert_eq!(model.problems().len(), 2, "{:?}", model.problems());
}

#[test]
fn users_without_bindings_have_no_rights() {
    let o = org().user("eve", |_| {});
    let map = check(&o.model());
    assert!(map[&n("eve")].admin.is_empty());
}
