//! Snapshot tests of the renderings, one behaviour each, on plans built by hand.

use std::collections::BTreeMap;

use insta::assert_snapshot;
use serde_json::{json as j, Value};

use super::json::redacted;
use super::{json, markdown, render, text, Format, TextOptions};
use crate::model::{Kind, Name};
use crate::plan::{
    Action, Change, FieldChange, FieldDiff, ObjectRef, OrgPlan, Plan, PlanOptions, FORMAT_VERSION,
};

const PLAIN: TextOptions = TextOptions { color: false };
const COLOR: TextOptions = TextOptions { color: true };

fn name(s: &str) -> Name {
    s.parse().expect("test names are valid")
}

fn change(kind: Kind, n: &str, action: Action) -> Change {
    Change {
        kind,
        name: name(n),
        action,
        adopt: false,
        destructive: None,
        replace_reason: None,
        fields: Vec::new(),
        unchanged_fields: 0,
        after: None,
    }
}

fn value(path: &str, before: Value, after: Value) -> FieldChange {
    FieldChange {
        path: path.to_string(),
        sensitive: false,
        diff: FieldDiff::Value { before, after },
    }
}

fn set(path: &str, added: &[&str], removed: &[&str]) -> FieldChange {
    FieldChange {
        path: path.to_string(),
        sensitive: false,
        diff: FieldDiff::Set {
            added: added.iter().map(|s| j!(s)).collect(),
            removed: removed.iter().map(|s| j!(s)).collect(),
        },
    }
}

fn org(n: &str, changes: Vec<Change>) -> OrgPlan {
    OrgPlan {
        organization: name(n),
        revision: 7,
        fingerprints: BTreeMap::new(),
        changes,
        prune_candidates: Vec::new(),
        unmanaged: 0,
        assignments: Default::default(),
        impact: Default::default(),
        forced: Vec::new(),
    }
}

fn plan(organizations: Vec<OrgPlan>) -> Plan {
    Plan {
        format_version: FORMAT_VERSION,
        backend: "sqlite:.orgctl/directory.db".to_string(),
        options: PlanOptions::default(),
        organizations,
    }
}

fn create_alice() -> Change {
    let mut c = change(Kind::User, "alice", Action::Create);
    c.fields = vec![
        value("email", Value::Null, j!("alice@acme.example")),
        value("firstName", Value::Null, j!("Alice")),
        value("lastName", Value::Null, j!("Liddell")),
        value("department", Value::Null, j!("Finance")),
        value(
            "customAttributes",
            Value::Null,
            j!({"costCenter": "F-100", "level": 3}),
        ),
        value("status", Value::Null, j!("active")),
    ];
    c
}

fn update_finance() -> Change {
    let mut c = change(Kind::Group, "finance", Action::Update);
    c.fields = vec![set("members", &["alice", "dave"], &["bob"])];
    c.unchanged_fields = 2;
    c
}

fn update_policy() -> Change {
    let mut c = change(Kind::SecurityPolicy, "default", Action::Update);
    c.fields = vec![
        value("password.minLength", j!(8), j!(12)),
        value("mfa.backupCodes", j!(true), j!(false)),
        value("session.idleTimeout", Value::Null, j!("30m")),
        value("network.allowedIps", j!(["10.0.0.0/8"]), Value::Null),
    ];
    c.unchanged_fields = 4;
    c
}

fn close_dave() -> Change {
    let mut c = change(Kind::User, "dave", Action::Update);
    c.destructive = Some("closing a user deletes the account's data".to_string());
    c.fields = vec![value("status", j!("active"), j!("closed"))];
    c.unchanged_fields = 5;
    c
}

fn delete_group() -> Change {
    let mut c = change(Kind::Group, "contractors", Action::Delete);
    c.destructive = Some("deleting a group removes what its members got through it".to_string());
    c
}

fn replace_crm() -> Change {
    let mut c = change(Kind::Application, "crm", Action::Replace);
    c.replace_reason = Some("type cannot change in place".to_string());
    c.destructive = Some("replacing an application drops its assignments".to_string());
    c.fields = vec![
        value("type", j!("saml"), j!("oidc")),
        value("saml.entityId", j!("https://crm.example/saml"), Value::Null),
        value("oidc.redirectUris", Value::Null, j!(["https://crm.example/cb"])),
    ];
    c.unchanged_fields = 1;
    c
}

fn mixed_plan() -> Plan {
    let mut acme = org(
        "acme",
        vec![
            delete_group(),
            create_alice(),
            replace_crm(),
            update_finance(),
            close_dave(),
        ],
    );
    acme.prune_candidates = vec![ObjectRef {
        kind: Kind::Role,
        name: name("auditor"),
    }];
    acme.unmanaged = 3;
    plan(vec![acme])
}

fn no_escapes(s: &str) {
    assert!(!s.contains('\x1b'), "escape code in:\n{s}");
}

#[test]
fn create_of_a_user_lists_every_field_with_plus() {
    let p = plan(vec![org("acme", vec![create_alice()])]);
    assert_snapshot!(text(&p, &PLAIN));
}

#[test]
fn update_shows_scalar_set_and_cleared_fields_and_hides_unchanged() {
    let p = plan(vec![org("acme", vec![update_policy(), update_finance()])]);
    assert_snapshot!(text(&p, &PLAIN));
}

#[test]
fn replace_names_its_reason_under_the_header() {
    let p = plan(vec![org("acme", vec![replace_crm()])]);
    assert_snapshot!(text(&p, &PLAIN));
}

#[test]
fn deletions_come_first_and_closing_a_user_warns() {
    // The plan's order is display order; the renderer must keep it.
    let p = plan(vec![org(
        "acme",
        vec![delete_group(), create_alice(), close_dave()],
    )]);
    let out = text(&p, &PLAIN);
    let pos = |needle: &str| out.find(needle).unwrap_or(usize::MAX);
    assert!(pos("group \"contractors\" will be destroyed") < pos("user \"alice\" will be created"));
    assert!(pos("user \"alice\" will be created") < pos("user \"dave\" will be updated"));
    assert_snapshot!(out);
}

#[test]
fn adopt_says_adopted_with_or_without_field_changes() {
    let mut bob = change(Kind::User, "bob", Action::Update);
    bob.adopt = true;
    bob.fields = vec![value("department", j!("Sales"), j!("Finance"))];
    bob.unchanged_fields = 1;
    let mut ops = change(Kind::Group, "ops", Action::Update);
    ops.adopt = true;
    ops.unchanged_fields = 3;
    let p = plan(vec![org("acme", vec![bob, ops])]);
    assert_snapshot!(text(&p, &PLAIN));
}

#[test]
fn sensitive_values_never_appear_in_any_format() {
    const OLD_DIGEST: &str = "sha256:0f1e2d3c4b5a69788796a5b4c3d2e1f0aabbccddeeff00112233445566778899";
    const NEW_DIGEST: &str = "sha256:99887766554433221100ffeeddccbbaa0f1e2d3c4b5a69788796a5b4c3d2e1f0";
    let secret = |path: &str, before: Value, after: Value| FieldChange {
        sensitive: true,
        ..value(path, before, after)
    };
    let mut crm = change(Kind::Application, "crm", Action::Update);
    crm.fields = vec![
        secret("oidc.clientSecret", j!(OLD_DIGEST), j!(NEW_DIGEST)),
        value(
            "oidc.redirectUris",
            j!(["https://crm.example/a"]),
            j!(["https://crm.example/b"]),
        ),
    ];
    let mut google = change(Kind::IdentityProvider, "google", Action::Create);
    google.fields = vec![
        value("type", Value::Null, j!("google")),
        secret("clientSecret", Value::Null, j!(NEW_DIGEST)),
    ];
    let mut old = change(Kind::IdentityProvider, "okta", Action::Update);
    old.fields = vec![
        secret("clientSecret", j!(OLD_DIGEST), Value::Null),
        FieldChange {
            path: "signingKeys".into(),
            sensitive: true,
            diff: FieldDiff::Set {
                added: vec![j!(NEW_DIGEST)],
                removed: vec![j!(OLD_DIGEST)],
            },
        },
    ];
    let p = plan(vec![org("acme", vec![crm, google, old])]);

    let renderings = [text(&p, &PLAIN), text(&p, &COLOR), json(&p), markdown(&p)];
    for out in &renderings {
        for digest in [OLD_DIGEST, NEW_DIGEST] {
            assert!(!out.contains(digest), "secret digest leaked:\n{out}");
            assert!(
                !out.contains(&digest[7..20]),
                "part of a secret digest leaked:\n{out}"
            );
        }
        assert!(out.contains("(sensitive value)"));
    }
    assert_snapshot!("sensitive_text", renderings[0]);
    assert_snapshot!("sensitive_json", renderings[2]);
    assert_snapshot!("sensitive_markdown", renderings[3]);
}

#[test]
fn multi_line_value_shows_a_unified_diff() {
    let before = (1..=12).map(|i| format!("line {i}\n")).collect::<String>();
    let after = before
        .replace("line 2\n", "line two\n")
        .replace("line 11\n", "")
        .replace("line 12\n", "line 12\nline 13\n");
    let mut c = change(Kind::Organization, "acme", Action::Update);
    c.fields = vec![
        value("profile.description", j!(before), j!(after)),
        value("profile.displayName", j!("Acme"), j!("Acme Inc.")),
    ];
    let mut created = change(Kind::Application, "wiki", Action::Create);
    created.fields = vec![value("notes", Value::Null, j!("first\nsecond"))];
    let p = plan(vec![org("acme", vec![c, created])]);
    assert_snapshot!(text(&p, &PLAIN));
}

#[test]
fn control_characters_in_values_are_escaped_not_sent_to_the_terminal() {
    let mut c = change(Kind::User, "eve", Action::Update);
    c.fields = vec![
        value("designation", j!("a\u{1b}[2Jb"), j!("c")),
        value("notes", j!("x\n\u{1b}]0;pwned\u{7}\n"), j!("x\ny\n")),
    ];
    let p = plan(vec![org("acme", vec![c])]);
    let out = text(&p, &PLAIN);
    no_escapes(&out);
    no_escapes(&markdown(&p));
    assert_snapshot!(out);
}

#[test]
fn prune_candidates_and_unmanaged_count_follow_the_changes() {
    let mut acme = org("acme", vec![update_finance()]);
    acme.prune_candidates = vec![
        ObjectRef {
            kind: Kind::User,
            name: name("carol"),
        },
        ObjectRef {
            kind: Kind::AppAssignment,
            name: name("sales-crm"),
        },
    ];
    acme.unmanaged = 14;
    let p = plan(vec![acme]);
    assert_snapshot!(text(&p, &PLAIN));
}

#[test]
fn empty_plan_says_no_changes() {
    let p = plan(vec![org("acme", Vec::new())]);
    assert_eq!(
        text(&p, &PLAIN),
        "No changes. The live directory matches the files.\n"
    );
    assert_eq!(
        markdown(&p),
        "### orgctl plan: no changes\n\nThe live directory matches the files.\n"
    );
}

#[test]
fn empty_plan_still_counts_one_unmanaged_object() {
    let mut acme = org("acme", Vec::new());
    acme.unmanaged = 1;
    let p = plan(vec![acme]);
    assert_snapshot!(text(&p, &PLAIN));
}

#[test]
fn two_organizations_get_a_heading_each() {
    let mut globex = org("globex", Vec::new());
    globex.unmanaged = 2;
    let p = plan(vec![
        org("acme", vec![create_alice()]),
        globex,
        org("initech", vec![delete_group()]),
    ]);
    assert_snapshot!(text(&p, &PLAIN));
    assert_snapshot!("two_organizations_markdown", markdown(&p));
}

#[test]
fn markdown_of_a_mixed_plan() {
    assert_snapshot!(markdown(&mixed_plan()));
}

#[test]
fn markdown_escapes_table_cells_and_summaries() {
    let mut c = change(Kind::User, "alice", Action::Update);
    c.destructive = Some("drops <b>everything</b> & more".into());
    c.fields = vec![value("customAttributes.a|b<c", j!("x"), j!("```"))];
    let p = plan(vec![org("acme", vec![c])]);
    let out = markdown(&p);
    assert!(out.contains("customAttributes.a\\|b&lt;c |"), "{out}");
    // A value holding a code fence gets a longer fence around it.
    assert!(out.contains("\n````diff\n"), "{out}");
    assert_snapshot!(out);
}

#[test]
fn markdown_lists_at_most_five_fields_per_row() {
    let p = plan(vec![org("acme", vec![create_alice()])]);
    let out = markdown(&p);
    assert!(
        out.contains(
            "| create | user | alice | email, firstName, lastName, department, customAttributes, +1 more |"
        ),
        "{out}"
    );
}

fn objects(path: &str, added: Vec<Value>, removed: Vec<Value>) -> FieldChange {
    FieldChange {
        path: path.to_string(),
        sensitive: false,
        diff: FieldDiff::Set { added, removed },
    }
}

/// Lines of the `diff` blocks of a Markdown plan.
fn code_lines(out: &str) -> Vec<&str> {
    let mut inside = false;
    out.lines()
        .filter(|l| {
            if l.starts_with("```") {
                inside = !inside;
                return false;
            }
            inside
        })
        .collect()
}

#[test]
fn markdown_shows_rules_and_assignments_as_yaml_lines() {
    let mut edit = change(Kind::AppAssignment, "sales-crm", Action::Update);
    edit.fields = vec![
        objects(
            "assign",
            vec![j!({"app": "crm", "role": "user"})],
            vec![j!({"app": "crm", "role": "viewer"})],
        ),
        value(
            "rule",
            j!({"all": [{"field": "department", "op": "equals", "value": "Sales"},
                        {"field": "location", "op": "notIn", "values": ["Lyon", "Oslo"]}]}),
            j!({"all": [{"field": "department", "op": "in", "values": ["Sales", "Support"]},
                        {"field": "location", "op": "notIn", "values": ["Lyon", "Oslo"]}]}),
        ),
    ];
    edit.unchanged_fields = 1;
    let mut new = change(Kind::AppAssignment, "everyone-wiki", Action::Create);
    new.fields = vec![
        objects("assign", vec![j!({"app": "wiki", "role": "reader"})], vec![]),
        value("priority", Value::Null, j!(5)),
        value(
            "rule",
            Value::Null,
            j!({"field": "email", "op": "endsWith", "value": "@acme.example"}),
        ),
    ];
    let p = plan(vec![org("acme", vec![edit, new])]);
    let out = markdown(&p);
    assert!(!out.contains("{\"field\""), "no one-line JSON:\n{out}");
    let widest = code_lines(&out).iter().map(|l| l.chars().count()).max();
    assert!(widest <= Some(60), "{widest:?}:\n{out}");
    assert_snapshot!(out);
}

#[test]
fn markdown_of_a_plan_too_long_for_a_comment_says_what_it_left_out() {
    let users = (0..3000)
        .map(|i| {
            let mut c = change(Kind::User, &format!("user{i:04}"), Action::Create);
            c.fields = vec![
                value("email", Value::Null, j!(format!("user{i:04}@acme.example"))),
                value("department", Value::Null, j!("Sales")),
            ];
            c
        })
        .collect();
    let mut acme = org("acme", users);
    acme.forced = vec![];
    acme.unmanaged = 2;
    let out = markdown(&plan(vec![acme]));
    let chars = out.chars().count();
    assert!(chars <= super::markdown::COMMENT_LIMIT, "{chars}");
    assert!(
        chars > super::markdown::COMMENT_LIMIT - 1_000,
        "the room is used: {chars}"
    );
    let shown = out.matches("<details>").count();
    assert_eq!(shown, out.matches("</details>").count());
    assert!(out.starts_with(&format!(
        "### orgctl plan: 3000 to add, 0 to change, 0 to destroy\n\n> ✂️ **Too long for one comment:** {shown} of 3000 changes are shown in detail, the table lists the first 50. The full plan is in the saved plan file (`orgctl plan --out`; in CI, the run's artifact).\n\n| Action |"
    )), "{}", &out[..400]);
    assert!(
        out.contains("| create | user | user0049 | email, department |\n\n…and 2950 more."),
        "{}",
        &out[..6000]
    );
    assert!(
        out.ends_with("2 unmanaged objects left alone.\n"),
        "the end is never cut"
    );
}

#[test]
fn markdown_cut_to_a_small_limit() {
    let users = (0..8)
        .map(|i| {
            let mut c = change(Kind::User, &format!("user{i}"), Action::Create);
            c.fields = vec![value("email", Value::Null, j!(format!("user{i}@acme.example")))];
            c
        })
        .collect();
    let out = super::markdown::markdown_within(&plan(vec![org("acme", users)]), 1_200);
    assert!(out.chars().count() <= 1_200, "{}", out.chars().count());
    assert_snapshot!(out);
}

#[test]
fn json_round_trips_to_the_same_plan() {
    let mut p = mixed_plan();
    p.options = PlanOptions {
        prune: false,
        adopt: true,
        max_deletes: Some(5),
        impact_detail: true,
        guard: Default::default(),
        prune_only: None,
        policies: Default::default(),
    };
    p.organizations[0].revision = 42;
    p.organizations[0]
        .fingerprints
        .insert("User/alice".into(), "xxh3:00ff".into());
    p.organizations[0].changes[1].after = Some(j!({"email": "alice@acme.example"}).into());
    let out = json(&p);
    assert!(out.ends_with("}\n"));
    assert!(out.contains("\"formatVersion\": 1"));
    let back: Plan = serde_json::from_str(&out).expect("the JSON rendering parses as a Plan");
    assert_eq!(back, p);
}

#[test]
fn json_of_a_redacted_plan_is_the_redacted_plan() {
    let mut c = change(Kind::IdentityProvider, "google", Action::Update);
    c.fields = vec![FieldChange {
        sensitive: true,
        ..value("clientSecret", j!("sha256:aa"), j!("sha256:bb"))
    }];
    let p = plan(vec![org("acme", vec![c])]);
    let back: Plan = serde_json::from_str(&json(&p)).expect("parses");
    assert_eq!(back, redacted(&p));
    assert_eq!(json(&back), json(&p));
}

#[test]
fn colour_on_styles_symbols_and_headers_and_off_has_no_escape_codes() {
    let p = mixed_plan();
    let plain = text(&p, &PLAIN);
    let coloured = text(&p, &COLOR);
    no_escapes(&plain);
    assert!(coloured.contains('\x1b'));
    // Colour only adds styling: strip it and the plain text is left.
    let ansi = regex::Regex::new("\x1b\\[[0-9;]*m").expect("valid regex");
    assert_eq!(ansi.replace_all(&coloured, ""), plain);
    assert_snapshot!(coloured.replace('\x1b', "\\e"));
}

#[test]
fn render_dispatches_on_format() {
    let p = mixed_plan();
    assert_eq!(render(&p, Format::Text, false), text(&p, &PLAIN));
    assert_eq!(render(&p, Format::Text, true), text(&p, &COLOR));
    assert_eq!(render(&p, Format::Json, true), json(&p));
    assert_eq!(render(&p, Format::Markdown, true), markdown(&p));
}
