//! A table per check: organizations that trigger it and organizations that
//! do not, written as edits of one organization that has no finding at all.

use super::*;
use crate::access::AccessModel;
use crate::backend::{Capabilities, Gap, LiveGrants};
use crate::load::Source;

/// An organization without findings: admins (the super admin `root` and
/// `ann`, through group `admins`) on a strict policy, everyone else on a
/// default policy that requires MFA.
const CLEAN: &str = r#"
apiVersion: orgctl.io/v1alpha1
kind: Organization
metadata: {name: t}
spec: {displayName: T, superAdmin: root}
---
apiVersion: orgctl.io/v1alpha1
kind: User
metadata: {name: root}
spec: {organization: t, email: root@t.example}
---
apiVersion: orgctl.io/v1alpha1
kind: User
metadata: {name: ann}
spec: {organization: t, email: ann@t.example}
---
apiVersion: orgctl.io/v1alpha1
kind: User
metadata: {name: bob}
spec: {organization: t, email: bob@t.example, department: sales}
---
apiVersion: orgctl.io/v1alpha1
kind: User
metadata: {name: carl}
spec: {organization: t, email: carl@t.example, department: eng}
---
apiVersion: orgctl.io/v1alpha1
kind: Group
metadata: {name: admins}
spec: {organization: t, members: {users: [root, ann]}}
---
apiVersion: orgctl.io/v1alpha1
kind: RoleBinding
metadata: {name: org-admins}
spec: {organization: t, role: admin, subjects: {groups: [admins]}}
---
apiVersion: orgctl.io/v1alpha1
kind: SecurityPolicy
metadata: {name: standard}
spec:
  organization: t
  default: true
  password: {minLength: 12, historyCount: 5}
  mfa: {required: true, modes: [totp, push-app], trustedBrowser: 7d, backupCodes: false}
---
apiVersion: orgctl.io/v1alpha1
kind: SecurityPolicy
metadata: {name: admins}
spec:
  organization: t
  priority: 100
  targets: {groups: [admins]}
  password: {minLength: 14, historyCount: 10}
  mfa: {required: true, modes: [security-key, totp], trustedBrowser: never, backupCodes: false}
  network: {allowedIps: [203.0.113.0/24]}
  federatedSignIn: {allowed: false}
"#;

const DOC: &str = "---\napiVersion: orgctl.io/v1alpha1\n";

fn sources(yaml: &str) -> Vec<Source> {
    vec![Source {
        name: "org.yaml".to_string(),
        text: yaml.to_string(),
    }]
}

fn desired(yaml: &str) -> crate::validate::DesiredOrg {
    let state = crate::validate::run(&sources(yaml)).unwrap_or_else(|d| {
        panic!(
            "invalid test org: {}",
            d.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("; ")
        )
    });
    state
        .organizations
        .into_values()
        .next()
        .expect("one organization")
}

fn run_with(
    yaml: &str,
    settings: &Settings,
    grants: Option<&LiveGrants>,
    caps: Option<&Capabilities>,
) -> Vec<Finding> {
    let org = desired(yaml);
    let model = AccessModel::from_desired(&org);
    let access = model.evaluate();
    let objects: Vec<_> = org.objects.iter().map(|((k, n), o)| (*k, n, &o.spec)).collect();
    let gaps = caps
        .map(|c| crate::plan::unsupported(&org, c))
        .unwrap_or_default();
    let mut findings = check(&Input {
        access: &access,
        objects: &objects,
        grants,
        gaps: &gaps,
        settings,
    });
    locate(&mut findings, &org, &sources(yaml));
    findings
}

fn run(yaml: &str) -> Vec<Finding> {
    run_with(yaml, &Settings::default(), None, None)
}

/// The subjects (`Kind/name`) of the findings of one check.
fn subjects(findings: &[Finding], check: CheckId) -> Vec<String> {
    findings
        .iter()
        .filter(|f| f.check == check)
        .map(|f| format!("{}/{}", f.subject.kind.as_str(), f.subject.name.as_str()))
        .collect()
}

fn edit(from: &str, to: &str) -> String {
    assert!(CLEAN.contains(from), "the clean org has no {from:?}");
    CLEAN.replacen(from, to, 1)
}

#[test]
fn the_clean_organization_has_no_finding() {
    let all: Vec<String> = run(CLEAN).iter().map(|f| f.message.clone()).collect();
    assert_eq!(all, Vec::<String>::new());
}

const ADMIN_MFA: &str =
    "mfa: {required: true, modes: [security-key, totp], trustedBrowser: never, backupCodes: false}";
/// The admins' MFA settings with MFA no longer required.
const NO_ADMIN_MFA: &str =
    "mfa: {required: false, modes: [security-key, totp], trustedBrowser: never, backupCodes: false}";
const ADMIN_PASSWORD: &str = "password: {minLength: 14, historyCount: 10}";

/// (what, organization, check, expected subjects)
fn admin_cases() -> Vec<(&'static str, String, CheckId, Vec<&'static str>)> {
    let both = vec!["User/ann", "User/root"];
    vec![
        (
            "mfa not required",
            edit(ADMIN_MFA, "mfa: {required: false}"),
            CheckId::AdminMfaNotRequired,
            both.clone(),
        ),
        (
            "mfa unset",
            edit(ADMIN_MFA, ""),
            CheckId::AdminMfaNotRequired,
            both.clone(),
        ),
        (
            "mfa required",
            CLEAN.to_string(),
            CheckId::AdminMfaNotRequired,
            vec![],
        ),
        (
            "sms only",
            edit("modes: [security-key, totp]", "modes: [sms]"),
            CheckId::AdminMfaWeakModes,
            both.clone(),
        ),
        (
            "sms among others",
            edit("modes: [security-key, totp]", "modes: [sms, totp]"),
            CheckId::AdminMfaWeakModes,
            vec![],
        ),
        (
            "browser 30d",
            edit("trustedBrowser: never", "trustedBrowser: 30d"),
            CheckId::AdminTrustedBrowserLong,
            both.clone(),
        ),
        (
            "browser 7d",
            edit("trustedBrowser: never", "trustedBrowser: 7d"),
            CheckId::AdminTrustedBrowserLong,
            vec![],
        ),
        (
            "backup codes only for admins",
            edit(
                "trustedBrowser: never, backupCodes: false",
                "trustedBrowser: never, backupCodes: true",
            ),
            CheckId::AdminBackupCodes,
            both.clone(),
        ),
        (
            "backup codes for everyone",
            edit(
                "trustedBrowser: never, backupCodes: false",
                "trustedBrowser: never, backupCodes: true",
            )
            .replacen(
                "trustedBrowser: 7d, backupCodes: false",
                "trustedBrowser: 7d, backupCodes: true",
                1,
            ),
            CheckId::AdminBackupCodes,
            vec![],
        ),
        (
            "no allowed addresses",
            edit("network: {allowedIps: [203.0.113.0/24]}", ""),
            CheckId::AdminAnyAddress,
            both.clone(),
        ),
        (
            "empty allowed addresses",
            edit(
                "network: {allowedIps: [203.0.113.0/24]}",
                "network: {allowedIps: []}",
            ),
            CheckId::AdminAnyAddress,
            both.clone(),
        ),
        (
            "admins on the default policy",
            edit(
                "targets: {groups: [admins]}",
                "targets: {users: [nobody-matches]}",
            )
            .replace("nobody-matches", "bob"),
            CheckId::AdminNoRiskTier,
            both.clone(),
        ),
        (
            "admins on their own policy",
            CLEAN.to_string(),
            CheckId::AdminNoRiskTier,
            vec![],
        ),
        (
            "password of 10",
            edit(ADMIN_PASSWORD, "password: {minLength: 10, historyCount: 10}"),
            CheckId::AdminPasswordShort,
            both.clone(),
        ),
        (
            "password unset",
            edit(ADMIN_PASSWORD, ""),
            CheckId::AdminPasswordShort,
            both.clone(),
        ),
        (
            "password of 12",
            edit(ADMIN_PASSWORD, "password: {minLength: 12, historyCount: 10}"),
            CheckId::AdminPasswordShort,
            vec![],
        ),
        (
            "no history",
            edit(ADMIN_PASSWORD, "password: {minLength: 14, historyCount: 0}"),
            CheckId::AdminPasswordNoHistory,
            both.clone(),
        ),
        (
            "history",
            CLEAN.to_string(),
            CheckId::AdminPasswordNoHistory,
            vec![],
        ),
    ]
}

#[test]
fn admin_policy_checks() {
    for (what, yaml, check, expected) in admin_cases() {
        assert_eq!(subjects(&run(&yaml), check), expected, "{what}: {check}");
    }
}

const GOOGLE: &str = "kind: IdentityProvider
metadata: {name: google}
spec: {organization: t, type: google, enabled: true, clientId: abc.apps.googleusercontent.com}
";

#[test]
fn federated_sign_in_for_admins() {
    let with_google = format!("{CLEAN}{DOC}{GOOGLE}");
    let allowed = with_google.replacen("federatedSignIn: {allowed: false}", "", 1);
    let listed_other = format!(
        "{}{DOC}{}",
        with_google.replacen(
            "federatedSignIn: {allowed: false}",
            "federatedSignIn: {allowed: true, providers: [linkedin]}",
            1,
        ),
        GOOGLE
            .replace("name: google", "name: linkedin")
            .replace("type: google, enabled: true", "type: linkedin, enabled: false")
    );
    let disabled = allowed.replacen("enabled: true", "enabled: false", 1);
    let cases = [
        (
            "allowed, google enabled",
            allowed.as_str(),
            vec!["User/ann", "User/root"],
        ),
        ("not allowed", with_google.as_str(), vec![]),
        ("only another provider", listed_other.as_str(), vec![]),
        ("google disabled", disabled.as_str(), vec![]),
        (
            "no provider at all",
            &CLEAN.replacen("federatedSignIn: {allowed: false}", "", 1),
            vec![],
        ),
    ];
    for (what, yaml, expected) in cases {
        assert_eq!(
            subjects(&run(yaml), CheckId::AdminFederatedSignin),
            expected,
            "{what}"
        );
    }
}

#[test]
fn mfa_required_through_a_nested_group_counts() {
    // ann is an admin through group `ops`, and gets the admins' policy only
    // because `ops` is nested in `admins`.
    let nested =
        format!(
        "{}{DOC}kind: Group\nmetadata: {{name: ops}}\nspec: {{organization: t, members: {{users: [ann]}}}}\n",
        CLEAN
            .replacen("members: {users: [root, ann]}", "members: {users: [root], groups: [ops]}", 1)
            .replacen("subjects: {groups: [admins]}", "subjects: {groups: [ops], users: [root]}", 1)
    );
    let findings = run(&nested);
    assert_eq!(
        subjects(&findings, CheckId::AdminMfaNotRequired),
        Vec::<String>::new()
    );
    // The same admin whose policy targets a group she is not in gets the default.
    let elsewhere = nested.replacen("targets: {groups: [admins]}", "targets: {users: [root]}", 1);
    let findings = run(&elsewhere);
    assert_eq!(subjects(&findings, CheckId::AdminNoRiskTier), vec!["User/ann"]);
    assert_eq!(subjects(&findings, CheckId::AdminAnyAddress), vec!["User/ann"]);
    // The default policy requires MFA, so that check stays quiet.
    assert_eq!(
        subjects(&findings, CheckId::AdminMfaNotRequired),
        Vec::<String>::new()
    );
}

#[test]
fn single_policy_with_admins_and_sensitive_groups() {
    let start =
        CLEAN.find("---\napiVersion: orgctl.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: admins}");
    let one_policy = &CLEAN[..start.expect("admins policy")];
    assert_eq!(
        subjects(&run(one_policy), CheckId::OrgSinglePolicy),
        vec!["Organization/t"]
    );
    // Admins bound one by one: no group is sensitive.
    let by_user = one_policy.replacen(
        "subjects: {groups: [admins]}",
        "subjects: {users: [root, ann]}",
        1,
    );
    assert_eq!(
        subjects(&run(&by_user), CheckId::OrgSinglePolicy),
        Vec::<String>::new()
    );
    // Unless the organization names one.
    let settings = Settings {
        sensitive_groups: vec!["admins".parse().expect("name")],
        ..Settings::default()
    };
    let findings = run_with(&by_user, &settings, None, None);
    assert_eq!(
        subjects(&findings, CheckId::OrgSinglePolicy),
        vec!["Organization/t"]
    );
    assert_eq!(
        subjects(&run(CLEAN), CheckId::OrgSinglePolicy),
        Vec::<String>::new()
    );
}

#[test]
fn full_admins_and_delegation() {
    let strict = Settings {
        max_full_admins: 1,
        ..Settings::default()
    };
    let findings = run_with(CLEAN, &strict, None, None);
    assert_eq!(
        subjects(&findings, CheckId::TooManyFullAdmins),
        vec!["Organization/t"]
    );
    let f = findings
        .iter()
        .find(|f| f.check == CheckId::TooManyFullAdmins)
        .expect("finding");
    assert_eq!(
        f.message,
        "2 users hold every admin permission (more than 1); give custom roles where a narrower one would do"
    );
    assert_eq!(
        subjects(&run(CLEAN), CheckId::TooManyFullAdmins),
        Vec::<String>::new()
    );

    let alone = edit("members: {users: [root, ann]}", "members: {users: [root]}");
    assert_eq!(
        subjects(&run(&alone), CheckId::SuperAdminNoDelegation),
        vec!["Organization/t"]
    );
    // A custom role for someone else is delegation.
    let helpdesk = format!(
        "{alone}{DOC}kind: Role\nmetadata: {{name: helpdesk}}\nspec: {{organization: t, permissions: {{user: [view]}}}}\n{DOC}kind: RoleBinding\nmetadata: {{name: helpdesk}}\nspec: {{organization: t, role: helpdesk, subjects: {{users: [bob]}}}}\n"
    );
    assert_eq!(
        subjects(&run(&helpdesk), CheckId::SuperAdminNoDelegation),
        Vec::<String>::new()
    );
}

fn with_rule(condition: &str, app_type: &str) -> String {
    let app = match app_type {
        "saml" => {
            "type: saml, saml: {entityId: 'https://sp.example/metadata', acsUrl: 'https://sp.example/acs'}"
        }
        _ => "type: catalog",
    };
    format!(
        "{CLEAN}{DOC}kind: Application\nmetadata: {{name: mail}}\nspec: {{organization: t, {app}, roles: [user]}}\n{DOC}kind: AppAssignment\nmetadata: {{name: everyone}}\nspec:\n  organization: t\n  priority: 10\n  rule: {condition}\n  assign: [{{app: mail, role: user}}]\n"
    )
}

#[test]
fn apps_and_rules_for_everyone() {
    let settings = Settings {
        everyone_min_users: 2,
        ..Settings::default()
    };
    let all = with_rule("{field: emailDomain, op: equals, value: t.example}", "catalog");
    let findings = run_with(&all, &settings, None, None);
    assert_eq!(
        subjects(&findings, CheckId::AppToNearlyEveryone),
        vec!["Application/mail"]
    );
    assert_eq!(
        subjects(&findings, CheckId::RuleMatchesEveryone),
        vec!["AppAssignment/everyone"]
    );
    let f = findings
        .iter()
        .find(|f| f.check == CheckId::AppToNearlyEveryone)
        .expect("finding");
    assert_eq!(
        f.message,
        "app \"mail\" is given by rules to 4 of 4 users (100%), most by rule \"everyone\""
    );
    assert_eq!(
        f.location.as_ref().map(|l| l.to_string()).as_deref(),
        Some("org.yaml:70:11")
    );

    let some = with_rule("{field: department, op: equals, value: eng}", "catalog");
    let findings = run_with(&some, &settings, None, None);
    assert_eq!(
        subjects(&findings, CheckId::AppToNearlyEveryone),
        Vec::<String>::new()
    );
    assert_eq!(
        subjects(&findings, CheckId::RuleMatchesEveryone),
        Vec::<String>::new()
    );
    // Too few users to speak of everyone with the default threshold.
    assert_eq!(
        subjects(&run(&all), CheckId::AppToNearlyEveryone),
        Vec::<String>::new()
    );
}

#[test]
fn sso_apps_whose_users_are_not_held_to_sso() {
    let saml = with_rule("{field: emailDomain, op: equals, value: t.example}", "saml");
    let findings = run(&saml);
    assert_eq!(
        subjects(&findings, CheckId::SsoAppNotEnforced),
        vec!["Application/mail"]
    );
    let f = findings
        .iter()
        .find(|f| f.check == CheckId::SsoAppNotEnforced)
        .expect("finding");
    assert_eq!(
        f.message,
        "SSO app \"mail\" has 4 users whose policy does not enforce SSO (\"admins\", \"standard\")"
    );
    let catalog = with_rule("{field: emailDomain, op: equals, value: t.example}", "catalog");
    assert_eq!(
        subjects(&run(&catalog), CheckId::SsoAppNotEnforced),
        Vec::<String>::new()
    );
    let nobody = with_rule("{field: department, op: equals, value: nobody}", "saml");
    assert_eq!(
        subjects(&run(&nobody), CheckId::SsoAppNotEnforced),
        Vec::<String>::new()
    );
}

#[test]
fn orphaned_admins_and_grants() {
    let deactivated = edit(
        "spec: {organization: t, email: ann@t.example}",
        "spec: {organization: t, email: ann@t.example, status: deactivated}",
    );
    assert_eq!(
        subjects(&run(&deactivated), CheckId::OrphanedAdmin),
        vec!["User/ann"]
    );
    let closed = edit(
        "spec: {organization: t, email: ann@t.example}",
        "spec: {organization: t, email: ann@t.example, status: closed}",
    );
    let findings = run(&closed);
    assert_eq!(subjects(&findings, CheckId::OrphanedAdmin), vec!["User/ann"]);
    let f = findings
        .iter()
        .find(|f| f.check == CheckId::OrphanedAdmin)
        .expect("finding");
    assert_eq!(
        f.message,
        "closed user \"ann\" still holds admin rights (through role binding \"org-admins\")"
    );
    // Closed and no longer in the admins group: nothing left to hold.
    let removed = closed.replacen("members: {users: [root, ann]}", "members: {users: [root]}", 1);
    assert_eq!(
        subjects(&run(&removed), CheckId::OrphanedAdmin),
        Vec::<String>::new()
    );
    assert_eq!(
        subjects(&run(CLEAN), CheckId::OrphanedAdmin),
        Vec::<String>::new()
    );

    let bob_closed = edit(
        "spec: {organization: t, email: bob@t.example, department: sales}",
        "spec: {organization: t, email: bob@t.example, status: closed}",
    );
    let mut grants = LiveGrants::default();
    grants.manual.insert(
        "bob".parse().expect("name"),
        [("crm".parse().expect("name"), "user".parse().expect("name"))].into(),
    );
    let findings = run_with(&bob_closed, &Settings::default(), Some(&grants), None);
    assert_eq!(subjects(&findings, CheckId::OrphanedGrant), vec!["User/bob"]);
    let findings = run_with(CLEAN, &Settings::default(), Some(&grants), None);
    assert_eq!(subjects(&findings, CheckId::OrphanedGrant), Vec::<String>::new());
}

#[test]
fn what_the_backend_cannot_enforce_is_a_finding() {
    let caps = Capabilities {
        gaps: vec![Gap::field(
            crate::model::Kind::SecurityPolicy,
            "network.allowedIps",
            "the backend has no address restrictions",
        )],
        ..Capabilities::default()
    };
    let findings = run_with(CLEAN, &Settings::default(), None, Some(&caps));
    assert_eq!(
        subjects(&findings, CheckId::BackendCannotEnforce),
        vec!["SecurityPolicy/admins"]
    );
    let f = &findings[0];
    assert_eq!(f.severity, Severity::High);
    assert_eq!(
        f.message,
        "the backend cannot enforce spec.network.allowedIps of security policy \"admins\": the backend has no address restrictions"
    );
    assert_eq!(
        f.location.as_ref().map(|l| l.to_string()).as_deref(),
        Some("org.yaml:55:25")
    );
    assert_eq!(
        subjects(&run(CLEAN), CheckId::BackendCannotEnforce),
        Vec::<String>::new()
    );
}

#[test]
fn findings_point_at_the_field_that_causes_them() {
    let yaml = edit(ADMIN_MFA, NO_ADMIN_MFA);
    let findings = run(&yaml);
    let f = findings
        .iter()
        .find(|f| f.check == CheckId::AdminMfaNotRequired)
        .expect("finding");
    assert_eq!(
        f.message,
        "admin \"ann\" signs in under policy \"admins\", which does not require MFA"
    );
    assert_eq!(f.field, "spec.mfa.required");
    assert_eq!(
        f.location.as_ref().map(|l| l.to_string()).as_deref(),
        Some("org.yaml:54:19")
    );
    // High first.
    assert_eq!(findings.first().map(|f| f.severity), Some(Severity::High));
}

#[test]
fn delta_lists_introduced_and_resolved_findings() {
    let before = run(CLEAN);
    let after = run(&edit(ADMIN_MFA, NO_ADMIN_MFA));
    let d = delta(&before, &after);
    let intro: Vec<_> = d
        .introduced
        .iter()
        .map(|f| (f.check, f.subject.name.as_str().to_string()))
        .collect();
    assert_eq!(
        intro,
        vec![
            (CheckId::AdminMfaNotRequired, "ann".to_string()),
            (CheckId::AdminMfaNotRequired, "root".to_string()),
        ]
    );
    assert!(d.resolved.is_empty());
    let back = delta(&after, &before);
    assert_eq!(back.resolved.len(), 2);
    assert!(back.introduced.is_empty());
    assert!(delta(&after, &after).is_empty());
}
