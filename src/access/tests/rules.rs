//! Conditional assignment: operators, case, absent fields, every field,
//! nesting, exclusions, priorities and ties.

use super::*;
use crate::access::{LossReason, Via};
use crate::model::{Attributes, Operator::*, UserStatus};

/// Whether a one-rule org gives `user` the app (checked against explain).
fn holds(cond: Condition, user: impl FnOnce(&mut UserSpec)) -> bool {
    let org = Org::new()
        .user("u", user)
        .group("team", &["u"], &[])
        .group("parent", &[], &["team"])
        .group("other", &[], &[])
        .app("app", &["user"])
        .rule("r", 1, cond, &[("app", "user")]);
    let map = check(&org.model());
    apps_of(&map, "u").contains_key("app")
}

fn dept(v: &str) -> impl FnOnce(&mut UserSpec) + '_ {
    move |u| u.department = Field::Set(v.to_string())
}

#[test]
fn every_operator_compares_case_insensitively_except_matches() {
    let table: Vec<(Condition, &str, bool)> = vec![
        (leaf("department", Equals, "Engineering"), "Engineering", true),
        (leaf("department", Equals, "engineering"), "ENGINEERING", true),
        (
            leaf("department", Equals, "Engineering"),
            "Engineering Ops",
            false,
        ),
        (leaf("department", NotEquals, "engineering"), "Engineering", false),
        (leaf("department", NotEquals, "Sales"), "Engineering", true),
        (
            leaf_in("department", In, &["sales", "ENGINEERING"]),
            "Engineering",
            true,
        ),
        (
            leaf_in("department", In, &["Sales", "Finance"]),
            "Engineering",
            false,
        ),
        (
            leaf_in("department", NotIn, &["sales", "engineering"]),
            "Engineering",
            false,
        ),
        (leaf_in("department", NotIn, &["Sales"]), "Engineering", true),
        (leaf("department", StartsWith, "ENG"), "Engineering", true),
        (leaf("department", StartsWith, "ring"), "Engineering", false),
        (leaf("department", EndsWith, "RING"), "Engineering", true),
        (leaf("department", EndsWith, "Eng"), "Engineering", false),
        (leaf("department", Contains, "GINE"), "Engineering", true),
        (leaf("department", Contains, "xyz"), "Engineering", false),
        (leaf("department", Matches, "^Eng.*ing$"), "Engineering", true),
        (leaf("department", Matches, "^eng"), "Engineering", false),
        (leaf("department", Matches, "(?i)^eng"), "Engineering", true),
        (leaf("department", Matches, "neer"), "Engineering", true),
        (leaf("department", Equals, "Straße"), "STRASSE", false),
        (leaf("department", Equals, "ÉQUIPE"), "équipe", true),
    ];
    for (cond, value, expected) in table {
        let text = format!("{cond:?} on {value:?}");
        assert_eq!(holds(cond, dept(value)), expected, "{text}");
    }
}

#[test]
fn absent_fields_fail_every_positive_operator_and_pass_negations() {
    let table: Vec<(Condition, bool)> = vec![
        (leaf("department", Equals, "Sales"), false),
        (leaf("department", NotEquals, "Sales"), true),
        (leaf_in("department", In, &["Sales"]), false),
        (leaf_in("department", NotIn, &["Sales"]), true),
        (leaf("department", StartsWith, ""), false),
        (leaf("department", EndsWith, ""), false),
        (leaf("department", Contains, ""), false),
        (leaf("department", Matches, ".*"), false),
        (leaf("attributes.costCenter", NotEquals, "CC-1"), true),
        (leaf("attributes.costCenter", Equals, "CC-1"), false),
    ];
    for (cond, expected) in table {
        let text = format!("{cond:?}");
        assert_eq!(holds(cond.clone(), |_| {}), expected, "absent: {text}");
        // An empty string counts as absent; so does a cleared field.
        assert_eq!(holds(cond.clone(), dept("")), expected, "empty: {text}");
        assert_eq!(
            holds(cond, |u| u.department = Field::Clear),
            expected,
            "cleared: {text}"
        );
    }
}

#[test]
fn every_field_is_read() {
    let person = |u: &mut UserSpec| {
        u.email = "Ada.Lovelace@Contractors.Acme.Example".parse().ok();
        u.username = Field::Unset;
        u.department = Field::Set("Engineering".into());
        u.designation = Field::Set("Senior Engineer".into());
        u.location = Field::Set("Berlin".into());
        u.custom_attributes = Field::Set(
            [("costCenter", "CC-410"), ("employmentType", "contractor")]
                .into_iter()
                .collect::<Attributes>(),
        );
    };
    let table: Vec<(Condition, bool)> = vec![
        (leaf("designation", StartsWith, "senior"), true),
        (leaf("location", Equals, "berlin"), true),
        (
            leaf("email", Equals, "ada.lovelace@contractors.acme.example"),
            true,
        ),
        (leaf("email", EndsWith, "@CONTRACTORS.acme.example"), true),
        (leaf("emailDomain", Equals, "contractors.acme.example"), true),
        (leaf("emailDomain", Equals, "acme.example"), false),
        (leaf("emailDomain", EndsWith, "acme.example"), true),
        (leaf("username", Equals, "ada.lovelace"), true),
        (leaf("attributes.costCenter", StartsWith, "cc-4"), true),
        (
            leaf_in("attributes.employmentType", NotIn, &["contractor", "intern"]),
            false,
        ),
        (leaf("attributes.missing", NotEquals, "x"), true),
    ];
    for (cond, expected) in table {
        let text = format!("{cond:?}");
        assert_eq!(holds(cond, person), expected, "{text}");
    }
    // A username given wins over the e-mail's local part.
    assert!(holds(leaf("username", Equals, "ada"), |u| u.username =
        Field::Set("ada".into())));
    assert!(!holds(leaf("username", Equals, "u"), |u| u.username =
        Field::Set("ada".into())));
    // No e-mail: no domain, no derived username.
    assert!(holds(leaf("emailDomain", NotEquals, "acme.example"), |u| u
        .email =
        None));
    assert!(!holds(leaf("username", StartsWith, "u"), |u| u.email = None));
}

#[test]
fn group_conditions_see_direct_and_nested_membership() {
    // u is in `team`, which `parent` nests; `other` has no one.
    let table: Vec<(Condition, bool)> = vec![
        (leaf("group", Equals, "team"), true),
        (leaf("group", Equals, "parent"), true),
        (leaf("group", Equals, "other"), false),
        (leaf("group", NotEquals, "parent"), false),
        (leaf("group", NotEquals, "other"), true),
        (leaf_in("group", In, &["other", "parent"]), true),
        (leaf_in("group", NotIn, &["other", "team"]), false),
        (leaf_in("group", NotIn, &["other"]), true),
        (leaf("group", StartsWith, "PAR"), true),
        (leaf("group", Matches, "^t.a"), true),
        (leaf("group", Contains, "zzz"), false),
    ];
    for (cond, expected) in table {
        let text = format!("{cond:?}");
        assert_eq!(holds(cond, |_| {}), expected, "{text}");
    }
}

#[test]
fn all_and_any_nest() {
    let eng = || leaf("department", Equals, "Engineering");
    let berlin = || leaf("location", Equals, "Berlin");
    let senior = || leaf("designation", StartsWith, "Senior");
    let who = |u: &mut UserSpec| {
        u.department = Field::Set("Engineering".into());
        u.location = Field::Set("Austin".into());
        u.designation = Field::Set("Senior Engineer".into());
    };
    assert!(!holds(all(vec![eng(), berlin()]), who));
    assert!(holds(any(vec![berlin(), eng()]), who));
    assert!(holds(all(vec![eng(), any(vec![berlin(), senior()])]), who));
    assert!(!holds(
        any(vec![all(vec![eng(), berlin()]), all(vec![senior(), berlin()])]),
        who
    ));
    assert!(holds(
        any(vec![all(vec![eng(), berlin()]), all(vec![senior(), eng()])]),
        who
    ));
}

#[test]
fn invalid_conditions_fail_closed_and_are_reported() {
    let bad_regex = leaf("department", Matches, "(unclosed");
    let unknown_field = leaf("departmnet", Equals, "x");
    let no_op = Condition {
        field: Some("department".into()),
        value: Some("x".into()),
        ..Condition::default()
    };
    let empty_all = all(vec![]);
    let in_without_values = leaf("department", In, "x");
    for cond in [bad_regex, unknown_field, no_op, empty_all, in_without_values] {
        let text = format!("{cond:?}");
        assert!(!holds(cond.clone(), dept("x")), "{text}");
        let org =
            Org::new()
                .user("u", dept("x"))
                .app("app", &["user"])
                .rule("r", 1, cond, &[("app", "user")]);
        assert!(!org.model().problems().is_empty(), "{text} is reported");
    }
    // An invalid branch of `any` does not stop a valid one.
    assert!(holds(
        any(vec![leaf("nope", Equals, "x"), leaf("department", Equals, "x")]),
        dept("x")
    ));
    // A rule without a condition matches no one.
    let mut org = Org::new().user("u", |_| {}).app("app", &["user"]);
    org = org.push(
        "r",
        Spec::AppAssignment(Box::new(AppAssignmentSpec {
            priority: Field::Set(1),
            assign: Field::Set(Collection::authoritative([AppGrant {
                app: n("app"),
                role: n("user"),
            }])),
            ..AppAssignmentSpec::default()
        })),
    );
    let model = org.model();
    assert!(apps_of(&check(&model), "u").is_empty());
    assert_eq!(model.problems().len(), 1);
}

#[test]
fn exclusions_remove_listed_users_and_members_of_nested_groups() {
    let everyone = || leaf("department", NotEquals, "nobody");
    let org = Org::new()
        .user("alice", |_| {})
        .user("bob", |_| {})
        .user("carol", |_| {})
        .user("dave", |_| {})
        .group("interns", &["carol"], &[])
        .group("temps", &["dave"], &["interns"])
        .app("app", &["user"])
        .rule_with(
            "r",
            1,
            everyone(),
            &[("app", "user")],
            members(&["bob"], &["temps"]),
        );
    let model = org.model();
    let map = check(&model);
    assert!(apps_of(&map, "alice").contains_key("app"));
    for excluded in ["bob", "carol", "dave"] {
        assert!(apps_of(&map, excluded).is_empty(), "{excluded} is excluded");
    }
    let carol = model.explain_user("carol").expect("carol");
    assert_eq!(carol.excluded.len(), 1);
    assert_eq!(carol.excluded[0].via, Via::Group { group: n("temps") });
    let bob = model.explain_user("bob").expect("bob");
    assert_eq!(bob.excluded[0].via, Via::Direct);
}

fn priority_org(low: i32, high: i32) -> Org {
    Org::new()
        .user("u", dept("Engineering"))
        .app("drive", &["viewer", "editor", "admin"])
        .app("mail", &["user"])
        .rule(
            "a-staff",
            low,
            leaf("department", NotEquals, "x"),
            &[("drive", "viewer"), ("mail", "user")],
        )
        .rule(
            "b-engineering",
            high,
            leaf("department", Equals, "engineering"),
            &[("drive", "editor")],
        )
}

#[test]
fn the_higher_priority_wins_whatever_the_names() {
    let org = priority_org(10, 20);
    let model = org.model();
    let map = check(&model);
    assert_eq!(apps_of(&map, "u")["drive"], "editor");
    assert_eq!(map[&n("u")].apps[&n("drive")].rule, n("b-engineering"));
    assert_eq!(map[&n("u")].apps[&n("mail")].rule, n("a-staff"));
    let ex = model.explain_user("u").expect("u");
    let drive = ex.apps.iter().find(|a| a.app == n("drive")).expect("drive");
    assert_eq!(drive.losers.len(), 1);
    assert_eq!(drive.losers[0].rule, n("a-staff"));
    assert_eq!(drive.losers[0].role, n("viewer"));
    assert_eq!(drive.losers[0].reason, LossReason::LowerPriority);
    // Reversed priorities: the other rule wins.
    let map = check(&priority_org(20, 10).model());
    assert_eq!(apps_of(&map, "u")["drive"], "viewer");
}

#[test]
fn equal_priorities_tie_break_on_the_rule_name_that_sorts_first() {
    let model_org = priority_org(10, 10);
    let model = model_org.model();
    let map = check(&model);
    assert_eq!(
        apps_of(&map, "u")["drive"],
        "viewer",
        "a-staff sorts before b-engineering"
    );
    let ex = model.explain_user("u").expect("u");
    let drive = ex.apps.iter().find(|a| a.app == n("drive")).expect("drive");
    assert_eq!(drive.losers[0].reason, LossReason::TieBreak);
    // The input order of the objects does not matter.
    let mut reversed = model_org.clone();
    reversed.objects.reverse();
    assert_eq!(check(&reversed.model()), map);
}

#[test]
fn one_rule_granting_an_app_twice_gives_the_role_that_sorts_first() {
    let org = Org::new()
        .user("u", |_| {})
        .app("drive", &["admin", "viewer"])
        .rule(
            "r",
            1,
            leaf("department", NotEquals, "x"),
            &[("drive", "viewer"), ("drive", "admin")],
        );
    let model = org.model();
    let map = check(&model);
    assert_eq!(apps_of(&map, "u")["drive"], "admin");
    let ex = model.explain_user("u").expect("u");
    assert_eq!(ex.apps[0].losers[0].reason, LossReason::SameRule);
    assert_eq!(ex.apps[0].losers[0].role, n("viewer"));
}

#[test]
fn closed_accounts_get_nothing_and_deactivated_ones_keep_their_access() {
    let org = Org::new()
        .user("active", |_| {})
        .user("resting", |u| u.status = Field::Set(UserStatus::Deactivated))
        .user("gone", |u| u.status = Field::Set(UserStatus::Closed))
        .app("app", &["user"])
        .rule("r", 1, leaf("department", NotEquals, "x"), &[("app", "user")])
        .default_policy("standard")
        .binding("admins", "admin", &["gone", "active"], &[]);
    let model = org.model();
    let map = check(&model);
    assert!(apps_of(&map, "active").contains_key("app"));
    assert!(apps_of(&map, "resting").contains_key("app"));
    assert_eq!(map[&n("gone")], UserAccess::default());
    assert!(map[&n("resting")].policy.is_some());
    let ex = model.explain_user("gone").expect("gone");
    assert_eq!(ex.status, UserStatus::Closed);
    assert!(ex.apps.is_empty() && ex.policy.effective.is_none() && ex.admin.is_empty());
}

#[test]
fn explain_names_the_first_failing_condition_and_the_users_value() {
    let org = Org::new()
        .user("u", |u| {
            u.department = Field::Set("Sales".into());
            u.location = Field::Set("Austin".into());
        })
        .app("app", &["user"])
        .rule(
            "r",
            1,
            all(vec![
                leaf("department", Equals, "sales"),
                leaf_in("location", In, &["Berlin", "Chennai"]),
            ]),
            &[("app", "user")],
        );
    let model = org.model();
    let ex = model.explain_user("u").expect("u");
    assert_eq!(ex.unmatched.len(), 1);
    let failed = ex.unmatched[0].failed.clone().expect("a failing condition");
    assert_eq!(failed.path, "rule.all[1]");
    assert_eq!(failed.condition, r#"location in ["Berlin", "Chennai"]"#);
    assert_eq!(failed.actual.as_deref(), Some("Austin"));
    assert!(model.explain_user("nobody").is_none());
}
