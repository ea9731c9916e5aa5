//! Whole organizations: the synthetic org (validated, evaluated in parallel
//! chunks, checked against explain for every user), live snapshots, cycles,
//! serialization.

use super::*;
use crate::backend::{LiveObject, LiveOrg};
use crate::model::Operator::*;
use crate::synth::{generate, SynthParams};
use crate::validate::DesiredState;

fn synth(params: &SynthParams) -> DesiredState {
    crate::validate::run(&generate(params)).unwrap_or_else(|d| panic!("synthetic org is valid: {d:?}"))
}

#[test]
fn the_synthetic_org_evaluates_like_explain_for_every_user() {
    let state = synth(&SynthParams::benchmark(600));
    let org = state.organizations.values().next().expect("one org");
    let model = AccessModel::from_desired(org);
    assert!(model.problems().is_empty(), "{:?}", model.problems());
    assert_eq!(model.user_count(), 600);
    assert_eq!(model.rule_count(), 200);
    let map = check(&model);
    assert!(
        model.policy_conflicts().is_empty(),
        "synth priorities are distinct"
    );
    // Everyone active has a policy; the super admin has every right; rules give apps.
    let eff = model.evaluate();
    assert!(map.values().filter(|a| a.policy.is_some()).count() >= 590);
    assert!(eff.assignment_count() > 600 * 10);
    let admin = map
        .iter()
        .find(|(_, a)| a.admin.super_admin)
        .expect("a super admin");
    assert_eq!(admin.0.as_str(), "ada.adams-0");
    // The borrowed view agrees with the owned one.
    let apps = eff.apps(admin.0.as_str()).expect("known user");
    assert_eq!(apps.len(), admin.1.apps.len());
    assert!(apps.windows(2).all(|w| w[0].app < w[1].app));
    for a in apps {
        assert_eq!(admin.1.apps[a.app].role, *a.role);
    }
}

#[test]
fn a_live_snapshot_of_the_same_objects_evaluates_the_same() {
    let state = synth(&SynthParams::small(200));
    let org = state.organizations.values().next().expect("one org");
    let live = LiveOrg {
        organization: state.organizations.keys().next().cloned(),
        revision: 1,
        objects: org
            .objects
            .iter()
            .map(|(key, o)| {
                let live = LiveObject {
                    spec: o.spec.clone(),
                    managed: true,
                    fingerprint: String::new(),
                };
                (key.clone(), live)
            })
            .collect(),
        grants: Default::default(),
    };
    let desired = AccessModel::from_desired(org);
    let before = AccessModel::from_live(&live);
    assert_eq!(before.organization(), desired.organization());
    assert_eq!(check(&before), check(&desired));
}

#[test]
fn a_membership_cycle_in_a_snapshot_does_not_hang() {
    let org = Org::new()
        .user("u", |_| {})
        .group("g1", &["u"], &["g2"])
        .group("g2", &[], &["g3"])
        .group("g3", &[], &["g1"])
        .app("app", &["user"])
        .rule("r", 1, leaf("group", Equals, "g3"), &[("app", "user")]);
    let model = org.model();
    let map = check(&model);
    assert!(apps_of(&map, "u").contains_key("app"));
    let ex = model.explain_user("u").expect("u");
    assert_eq!(ex.groups, vec![n("g1"), n("g2"), n("g3")]);
}

#[test]
fn references_to_unknown_users_groups_and_apps_are_ignored() {
    let org = Org::new()
        .user("u", |_| {})
        .group("g", &["ghost", "u"], &["phantom"])
        .rule_with(
            "r",
            1,
            leaf("group", Equals, "g"),
            &[("unlisted-app", "user")],
            members(&["ghost"], &["phantom"]),
        );
    let map = check(&org.model());
    // The app is granted even though no Application declares it (a live
    // snapshot may lag): rules are evaluated as written.
    assert_eq!(apps_of(&map, "u")["unlisted-app"], "user");
}

#[test]
fn explanations_serialize_to_json() {
    let org = Org::new()
        .organization(Some("root"))
        .user("root", |u| u.department = Field::Set("IT".into()))
        .app("app", &["admin", "user"])
        .rule(
            "everyone",
            1,
            leaf("department", NotEquals, "x"),
            &[("app", "user")],
        )
        .rule("it", 5, leaf("department", Equals, "it"), &[("app", "admin")])
        .rule(
            "sales",
            5,
            leaf("department", Equals, "sales"),
            &[("app", "user")],
        )
        .default_policy("standard")
        .binding("org-admins", "admin", &["root"], &[]);
    let model = org.model();
    let ex = model.explain_user("root").expect("root");
    let json = serde_json::to_value(&ex).expect("serializable");
    assert_eq!(json["user"], "root");
    assert_eq!(json["status"], "active");
    assert_eq!(json["apps"][0]["rule"], "it");
    assert_eq!(json["apps"][0]["losers"][0]["reason"], "lowerPriority");
    assert_eq!(json["unmatched"][0]["rule"], "sales");
    assert_eq!(
        json["unmatched"][0]["failed"]["condition"],
        r#"department equals "sales""#
    );
    assert_eq!(json["unmatched"][0]["failed"]["actual"], "IT");
    assert_eq!(json["policy"]["effective"]["policy"], "standard");
    assert_eq!(json["policy"]["effective"]["reason"]["kind"], "default");
    assert_eq!(json["admin"]["superAdmin"], true);
    assert_eq!(json["admin"]["permissions"]["audit"]["view"][0], "superAdmin");
    assert_eq!(
        json["admin"]["permissions"]["audit"]["view"][1]["binding"],
        "org-admins"
    );
    let access = model.evaluate().user("root").expect("root");
    let json = serde_json::to_value(&access).expect("serializable");
    assert_eq!(json["apps"]["app"]["role"], "admin");
}

#[test]
fn objects_of_other_kinds_and_a_missing_organization_are_fine() {
    let empty = Org::new();
    let model = empty.model();
    assert_eq!(model.user_count(), 0);
    assert!(model.evaluate().to_map().is_empty());
    assert!(model.policy_conflicts().is_empty());
    let two = Org::new()
        .organization(None)
        .push("other", Spec::Organization(Box::default()));
    let model = two.model();
    assert_eq!(model.organization().map(Name::as_str), Some("acme"));
    assert_eq!(model.problems().len(), 1);
}

#[test]
fn model_listing_helpers() {
    let org = Org::new()
        .user("b", |_| {})
        .user("a", |_| {})
        .push("x", Spec::IdentityProvider(Box::default()));
    let model = org.model();
    let users: Vec<&str> = model.users().map(Name::as_str).collect();
    assert_eq!(users, ["a", "b"]);
    let eff = model.evaluate();
    assert!(eff.user("zzz").is_none() && eff.apps("zzz").is_none() && eff.policy("zzz").is_none());
    assert_eq!(eff.policy("a"), Some(None));
    assert!(std::ptr::eq(eff.model(), &model));
}
