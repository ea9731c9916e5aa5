//! The diff's steps: pruning, teardown, capability gaps, order, creates.

use super::*;
use crate::load::Source;
use crate::plan::FieldDiff;

fn desired(yaml: &str) -> DesiredState {
    let base = "apiVersion: orgctl.io/v1alpha1\nkind: Organization\nmetadata: {name: acme}\nspec: {superAdmin: alice}\n---\napiVersion: orgctl.io/v1alpha1\nkind: User\nmetadata: {name: alice}\nspec: {organization: acme, email: alice@acme.example}\n---\napiVersion: orgctl.io/v1alpha1\nkind: RoleBinding\nmetadata: {name: admins}\nspec: {organization: acme, role: admin, subjects: {users: [alice]}}\n---\n";
    let sources = [Source {
        name: "t.yaml".into(),
        text: format!("{base}{yaml}"),
    }];
    crate::validate::run(&sources).expect("valid")
}

#[test]
fn prune_only_deletes_the_objects_named_and_leaves_the_rest_as_candidates() {
    use crate::backend::LiveObject;
    let state = desired(
        "apiVersion: orgctl.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: default}\nspec: {organization: acme, default: true}\n",
    );
    let mut org = LiveOrg::default();
    for ((k, n), object) in &state.organizations[&"acme".parse::<Name>().unwrap()].objects {
        let spec = object.spec.clone();
        org.objects.insert(
            (*k, n.clone()),
            LiveObject {
                spec,
                managed: true,
                fingerprint: "r1".into(),
            },
        );
    }
    for group in ["goes", "stays"] {
        let spec =
            crate::model::Spec::from_json(Kind::Group, serde_json::json!({"organization": "acme"})).unwrap();
        org.objects.insert(
            (Kind::Group, group.parse().unwrap()),
            LiveObject {
                spec,
                managed: true,
                fingerprint: "r1".into(),
            },
        );
    }
    let live = BTreeMap::from([("acme".parse::<Name>().unwrap(), org)]);
    let options = PlanOptions {
        prune: true,
        prune_only: Some([(Kind::Group, "goes".parse().unwrap())].into()),
        ..PlanOptions::default()
    };
    let plan = diff(
        &state,
        &live,
        &BTreeMap::new(),
        &Capabilities::default(),
        &options,
        "sqlite:x",
    )
    .expect("a plan");
    let org = &plan.organizations[0];
    let deleted: Vec<&str> = org
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(deleted, ["goes"]);
    let candidates: Vec<&str> = org.prune_candidates.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(candidates, ["stays"]);
}

#[test]
fn a_teardown_deletes_only_the_managed_objects_named_organization_last() {
    use crate::backend::LiveObject;
    let mut live = LiveOrg {
        revision: 7,
        ..LiveOrg::default()
    };
    let mut put = |kind: Kind, name: &str, spec: Value, managed: bool| {
        let spec = Spec::from_json(kind, spec).unwrap();
        let fingerprint = format!("f-{name}");
        live.objects.insert(
            (kind, name.parse().unwrap()),
            LiveObject {
                spec,
                managed,
                fingerprint,
            },
        );
    };
    put(
        Kind::Organization,
        "acme",
        serde_json::json!({"superAdmin": "alice"}),
        true,
    );
    put(
        Kind::User,
        "alice",
        serde_json::json!({"organization": "acme", "email": "alice@acme.example"}),
        true,
    );
    put(
        Kind::Group,
        "admins",
        serde_json::json!({"organization": "acme"}),
        true,
    );
    put(
        Kind::Group,
        "theirs",
        serde_json::json!({"organization": "acme"}),
        false,
    );
    put(
        Kind::Group,
        "orphaned",
        serde_json::json!({"organization": "acme"}),
        true,
    );
    let key = |kind: Kind, name: &str| (kind, name.parse::<Name>().unwrap());
    let named = BTreeSet::from([
        key(Kind::Organization, "acme"),
        key(Kind::User, "alice"),
        key(Kind::Group, "admins"),
        key(Kind::Group, "theirs"),
        key(Kind::Group, "gone-already"),
    ]);
    let plan = teardown("acme".parse().unwrap(), &live, named, "sqlite:x");
    let org = &plan.organizations[0];
    let deleted: Vec<String> = org
        .changes
        .iter()
        .map(|c| format!("{:?} {}/{}", c.action, c.kind, c.name))
        .collect();
    assert_eq!(
        deleted,
        [
            "Delete Group/admins",
            "Delete User/alice",
            "Delete Organization/acme"
        ]
    );
    assert_eq!(org.unmanaged, 1, "the unmanaged group is counted, never deleted");
    let candidates: Vec<&str> = org.prune_candidates.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(candidates, ["orphaned"], "a managed object not named stays");
    assert_eq!(org.revision, 7);
    assert_eq!(
        org.fingerprints.get("User/alice").map(String::as_str),
        Some("f-alice")
    );
    assert_eq!(plan.summary().destroy, 3);
}

#[test]
fn a_field_the_backend_cannot_hold_is_a_plan_error_naming_field_and_backend() {
    let state = desired(
        "apiVersion: orgctl.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: default}\nspec:\n  organization: acme\n  default: true\n  password: {minLength: 12}\n",
    );
    let caps = Capabilities {
        gaps: vec![
            crate::backend::Gap::field(Kind::SecurityPolicy, "password.minLength", "no such setting"),
            crate::backend::Gap::value(Kind::SecurityPolicy, "mfa.required", "true", "no MFA"),
        ],
        ..Capabilities::default()
    };
    assert_eq!(
        plan_against(&state, &caps).expect_err("refused"),
        vec!["security policy \"default\": field spec.password.minLength cannot be stored by backend realm:x: no such setting"]
    );
    // Not setting the field is fine on the same backend.
    let state = desired(
        "apiVersion: orgctl.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: default}\nspec: {organization: acme, default: true}\n",
    );
    assert!(plan_against(&state, &caps).is_ok());
    // A value gap hits that value only.
    let mfa = |required: bool| {
        desired(&format!(
            "apiVersion: orgctl.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {{name: default}}\nspec: {{organization: acme, default: true, mfa: {{required: {required}, modes: [totp]}}}}\n"
        ))
    };
    assert_eq!(
        plan_against(&mfa(true), &caps).expect_err("refused"),
        vec!["security policy \"default\": field spec.mfa.required cannot be stored by backend realm:x: no MFA"]
    );
    assert!(plan_against(&mfa(false), &caps).is_ok());
}

/// `state` planned against an empty backend `realm:x` with `caps`: the
/// plan, or its errors as text.
fn plan_against(state: &DesiredState, caps: &Capabilities) -> Result<Plan, Vec<String>> {
    diff(
        state,
        &BTreeMap::new(),
        &BTreeMap::new(),
        caps,
        &PlanOptions::default(),
        "realm:x",
    )
    .map_err(|errors| errors.iter().map(ToString::to_string).collect())
}

#[test]
fn plans_are_deterministic_whatever_the_input_order() {
    let a = desired(
        "apiVersion: orgctl.io/v1alpha1\nkind: User\nmetadata: {name: bob}\nspec: {organization: acme, email: bob@acme.example}\n---\napiVersion: orgctl.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: default}\nspec: {organization: acme, default: true}\n",
    );
    let b = desired(
        "apiVersion: orgctl.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: default}\nspec: {organization: acme, default: true}\n---\napiVersion: orgctl.io/v1alpha1\nkind: User\nmetadata: {name: bob}\nspec: {organization: acme, email: bob@acme.example}\n",
    );
    let plan = |s: &DesiredState| {
        diff(
            s,
            &BTreeMap::new(),
            &BTreeMap::new(),
            &Capabilities::default(),
            &PlanOptions::default(),
            "x",
        )
        .expect("plan")
    };
    let (pa, pb) = (plan(&a), plan(&b));
    assert_eq!(pa.organizations[0].changes, pb.organizations[0].changes);
    let kinds: Vec<Kind> = pa.organizations[0].changes.iter().map(|c| c.kind).collect();
    assert_eq!(
        kinds,
        vec![
            Kind::Organization,
            Kind::User,
            Kind::User,
            Kind::RoleBinding,
            Kind::SecurityPolicy
        ],
        "creates in dependency order"
    );
}

#[test]
fn a_create_derives_from_its_spec_the_fields_a_diff_against_nothing_lists() {
    let state = desired(concat!(
        "apiVersion: orgctl.io/v1alpha1\nkind: IdentityProvider\nmetadata: {name: google}\n",
        "spec: {organization: acme, type: google, displayName: '', clientId: abc, clientSecret: {fromEnv: GOOGLE_SECRET}}\n---\n",
        "apiVersion: orgctl.io/v1alpha1\nkind: Group\nmetadata: {name: helpers}\n",
        "spec: {organization: acme, description: Helpers, members: {users: {mode: additive, items: [bob, alice]}}}\n---\n",
        "apiVersion: orgctl.io/v1alpha1\nkind: User\nmetadata: {name: bob}\n",
        "spec: {organization: acme, email: bob@acme.example, department: '', customAttributes: {costCenter: '42'}}\n---\n",
        "apiVersion: orgctl.io/v1alpha1\nkind: SecurityPolicy\nmetadata: {name: default}\n",
        "spec: {organization: acme, default: true, password: {minLength: 12}}\n",
    ));
    let acme: Name = "acme".parse().unwrap();
    let digests = BTreeMap::from([(
        (
            acme.clone(),
            Kind::IdentityProvider,
            "google".parse().unwrap(),
            "clientSecret".to_string(),
        ),
        "sha256:00ff".to_string(),
    )]);
    let plan = diff(
        &state,
        &BTreeMap::new(),
        &digests,
        &Capabilities::default(),
        &PlanOptions::default(),
        "sqlite:x",
    )
    .expect("a plan");
    let objects = &state.organizations[&acme].objects;
    let changes = &plan.organizations[0].changes;
    assert_eq!(changes.len(), objects.len());
    for c in changes {
        assert_eq!(c.action, Action::Create);
        assert!(c.fields.is_empty(), "{c:?}");
        // What the plan derives from the spec it writes (secret
        // references) is what a diff of the desired spec (secret
        // digests) against no live object lists.
        let mut errors = Vec::new();
        let spec = objects[&(c.kind, c.name.clone())].spec.to_json();
        let json = with_digests(&acme, c.kind, &c.name, spec, &digests, &mut errors);
        assert!(errors.is_empty());
        let mut differ = Differ::new(c.kind, secret_paths(c.kind));
        differ.create("", &json);
        assert!(!differ.changes.is_empty());
        assert_eq!(*c.field_changes(), *differ.changes, "{}/{}", c.kind, c.name);
    }
    let google = changes.iter().find(|c| c.kind == Kind::IdentityProvider).unwrap();
    let secret = google
        .field_changes()
        .iter()
        .find(|f| f.path == "clientSecret")
        .cloned();
    assert_eq!(
        secret.map(|f| (f.sensitive, f.diff)),
        Some((
            true,
            FieldDiff::Value {
                before: Value::Null,
                after: Value::from(crate::model::SENSITIVE)
            }
        ))
    );
    // The JSON form lists them; read back, they are kept as stored.
    let text = serde_json::to_string(google).unwrap();
    let back: Change = serde_json::from_str(&text).unwrap();
    assert_eq!(back.fields, *google.field_changes());
    assert_eq!(back.field_changes(), google.field_changes());
}
