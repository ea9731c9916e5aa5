//! Security-policy resolution: default, targets by user, group and rule,
//! priority, and conflicts of equal priorities.

use super::*;
use crate::access::{PolicyChoice, PolicyConflict, PolicyReason};
use crate::model::Operator::*;

fn targets(users: &[&str], groups: &[&str], rule: Option<Condition>) -> PolicyTargets {
    PolicyTargets {
        users: if users.is_empty() {
            Field::Unset
        } else {
            names(users)
        },
        groups: if groups.is_empty() {
            Field::Unset
        } else {
            names(groups)
        },
        rule: rule.map_or(Field::Unset, Field::Set),
    }
}

fn choice(policy: &str, reason: PolicyReason) -> Option<PolicyChoice> {
    Some(PolicyChoice {
        policy: n(policy),
        reason,
    })
}

/// alice (Berlin, in `admins` through `it`), bob (Austin), carol (Austin).
fn people() -> Org {
    Org::new()
        .user("alice", |u| u.location = Field::Set("Berlin".into()))
        .user("bob", |u| u.location = Field::Set("Austin".into()))
        .user("carol", |u| u.location = Field::Set("Austin".into()))
        .group("it", &["alice"], &[])
        .group("admins", &[], &["it"])
        .default_policy("standard")
}

#[test]
fn everyone_not_targeted_gets_the_default() {
    let map = check(&people().model());
    for user in ["alice", "bob", "carol"] {
        assert_eq!(map[&n(user)].policy, choice("standard", PolicyReason::Default));
    }
}

#[test]
fn targets_match_by_user_by_nested_group_and_by_rule() {
    let org = people()
        .policy("strict", 30, targets(&[], &["admins"], None))
        .policy("travel", 20, targets(&["bob"], &[], None))
        .policy(
            "austin",
            10,
            targets(&[], &[], Some(leaf("location", Equals, "austin"))),
        );
    let model = org.model();
    let map = check(&model);
    assert_eq!(
        map[&n("alice")].policy,
        choice("strict", PolicyReason::Group { group: n("admins") })
    );
    assert_eq!(map[&n("bob")].policy, choice("travel", PolicyReason::User));
    assert_eq!(map[&n("carol")].policy, choice("austin", PolicyReason::Rule));
    // bob also matches `austin` (lower priority) and not `strict` (higher).
    let ex = model.explain_user("bob").expect("bob");
    assert_eq!(ex.policy.priority, Some(20));
    let names_of =
        |v: &[crate::access::PolicyRef]| v.iter().map(|p| p.policy.to_string()).collect::<Vec<_>>();
    assert_eq!(names_of(&ex.policy.higher_not_matched), ["strict"]);
    assert_eq!(names_of(&ex.policy.also_matched), ["austin"]);
    assert!(ex.policy.conflicts.is_empty());
    assert!(model.policy_conflicts().is_empty());
}

#[test]
fn the_highest_priority_match_wins() {
    let org = people().policy("low", 5, targets(&["alice"], &[], None)).policy(
        "high",
        50,
        targets(&[], &["it"], None),
    );
    let map = check(&org.model());
    assert_eq!(
        map[&n("alice")].policy,
        choice("high", PolicyReason::Group { group: n("it") })
    );
}

#[test]
fn a_user_both_listed_and_in_a_group_is_reported_as_listed() {
    let org = people().policy(
        "p",
        5,
        targets(&["alice"], &["it"], Some(leaf("location", Equals, "Berlin"))),
    );
    let map = check(&org.model());
    assert_eq!(map[&n("alice")].policy, choice("p", PolicyReason::User));
}

#[test]
fn equal_priorities_matching_one_user_are_a_conflict_with_an_example_user() {
    let org = people()
        .policy(
            "b-austin",
            10,
            targets(&[], &[], Some(leaf("location", Equals, "Austin"))),
        )
        .policy("a-listed", 10, targets(&["carol", "bob"], &[], None))
        .policy(
            "c-berlin",
            10,
            targets(&[], &[], Some(leaf("location", Equals, "Berlin"))),
        );
    let model = org.model();
    let conflicts = model.policy_conflicts();
    assert_eq!(
        conflicts,
        vec![PolicyConflict {
            first: n("a-listed"),
            second: n("b-austin"),
            priority: 10,
            example_user: n("bob"),
        }]
    );
    // Meanwhile the name that sorts first wins, deterministically.
    let map = check(&model);
    assert_eq!(map[&n("bob")].policy, choice("a-listed", PolicyReason::User));
    assert_eq!(model.evaluate().policy_conflicts(), conflicts.as_slice());
    let ex = model.explain_user("carol").expect("carol");
    assert_eq!(ex.policy.conflicts.len(), 1);
    assert_eq!(ex.policy.conflicts[0].policy, n("b-austin"));
}

#[test]
fn equal_priorities_conflict_even_under_a_higher_winner() {
    let org = people()
        .policy("top", 99, targets(&["bob"], &[], None))
        .policy("x", 10, targets(&["bob"], &[], None))
        .policy(
            "y",
            10,
            targets(&[], &[], Some(leaf("location", Equals, "Austin"))),
        );
    let model = org.model();
    let conflicts = model.policy_conflicts();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(
        (conflicts[0].first.as_str(), conflicts[0].second.as_str()),
        ("x", "y")
    );
    assert_eq!(conflicts[0].example_user, n("bob"));
}

#[test]
fn three_way_ties_report_every_pair() {
    let org = people()
        .policy("p1", 1, targets(&["bob"], &[], None))
        .policy("p2", 1, targets(&["bob"], &[], None))
        .policy("p3", 1, targets(&["bob"], &[], None));
    let pairs: Vec<(String, String)> = org
        .model()
        .policy_conflicts()
        .into_iter()
        .map(|c| (c.first.to_string(), c.second.to_string()))
        .collect();
    let expected = [("p1", "p2"), ("p1", "p3"), ("p2", "p3")].map(|(a, b)| (a.to_string(), b.to_string()));
    assert_eq!(pairs, expected);
}

#[test]
fn without_a_default_untargeted_users_have_no_policy() {
    let org =
        Org::new()
            .user("alice", |_| {})
            .user("bob", |_| {})
            .policy("p", 1, targets(&["alice"], &[], None));
    let map = check(&org.model());
    assert_eq!(map[&n("alice")].policy, choice("p", PolicyReason::User));
    assert_eq!(map[&n("bob")].policy, None);
}

#[test]
fn closed_users_do_not_count_towards_conflicts() {
    let org = people()
        .user("zed", |u| u.status = Field::Set(crate::model::UserStatus::Closed))
        .policy("x", 1, targets(&["zed"], &[], None))
        .policy("y", 1, targets(&["zed"], &[], None));
    assert!(org.model().policy_conflicts().is_empty());
}
