//! Property tests: for random organizations (random users, nested groups
//! with the odd cycle, rules with random conditions, priorities that often
//! tie, exclusions, policies, roles and bindings), evaluation agrees with
//! `explain` for every user, and shuffling the objects changes nothing.

use proptest::prelude::*;

use super::tests::{all, any as any_of, check, leaf, leaf_in, members, names, Org};
use super::AccessModel;
use crate::model::{Action, Attributes, Condition, Field, Module, Operator, PolicyTargets, UserStatus};

/// splitmix64: a small deterministic generator driven by the proptest seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'v>(&mut self, from: &[&'v str]) -> &'v str {
        from[self.below(from.len())]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    /// Up to `max` distinct picks.
    fn some<'v>(&mut self, from: &[&'v str], max: usize) -> Vec<&'v str> {
        if from.is_empty() {
            return Vec::new();
        }
        let mut out: Vec<&str> = (0..self.below(max + 1)).map(|_| self.pick(from)).collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

const WORDS: [&str; 8] = ["kim", "ada", "zoe", "bo", "lee", "max", "eve", "ian"];
const DEPARTMENTS: [&str; 6] = ["Sales", "sales", "Engineering", "IT", "", "Straße"];
const LOCATIONS: [&str; 4] = ["Berlin", "Austin", "BERLIN", "Chennai"];
const DESIGNATIONS: [&str; 4] = ["Senior Engineer", "Engineer", "Manager", "senior manager"];
const CENTERS: [&str; 3] = ["CC-100", "cc-200", "CC-210"];
const OPERANDS: [&str; 10] = [
    "sales",
    "Berlin",
    "senior",
    "engineer",
    "CC-2",
    "acme.example",
    "ada",
    "g-1",
    "",
    "ee",
];
const FIELDS: [&str; 9] = [
    "department",
    "location",
    "designation",
    "group",
    "emailDomain",
    "email",
    "username",
    "attributes.costCenter",
    "attributes.missing",
];
const OPS: [Operator; 8] = [
    Operator::Equals,
    Operator::NotEquals,
    Operator::In,
    Operator::NotIn,
    Operator::StartsWith,
    Operator::EndsWith,
    Operator::Contains,
    Operator::Matches,
];

fn condition(rng: &mut Rng, groups: &[&str], depth: usize) -> Condition {
    if depth > 0 && rng.chance(30) {
        let children = (0..1 + rng.below(3))
            .map(|_| condition(rng, groups, depth - 1))
            .collect();
        return if rng.chance(50) {
            all(children)
        } else {
            any_of(children)
        };
    }
    let field = rng.pick(&FIELDS);
    let op = OPS[rng.below(OPS.len())];
    let operand = |rng: &mut Rng| {
        if field == "group" && !groups.is_empty() && rng.chance(70) {
            rng.pick(groups)
        } else {
            rng.pick(&OPERANDS)
        }
    };
    match op {
        Operator::In | Operator::NotIn => {
            let values: Vec<&str> = (0..1 + rng.below(3)).map(|_| operand(rng)).collect();
            leaf_in(field, op, &values)
        }
        Operator::Matches => leaf(field, op, if rng.chance(50) { "^[a-m]" } else { "(?i)E" }),
        _ => {
            let v = operand(rng);
            leaf(field, op, v)
        }
    }
}

/// A random organization of `users` users (names in a different order than made).
fn random_org(seed: u64, users: usize, groups: usize, rules: usize, policies: usize) -> Org {
    let mut rng = Rng(seed);
    let user_names: Vec<String> = (0..users).map(|i| format!("{}-{i}", rng.pick(&WORDS))).collect();
    let user_refs: Vec<&str> = user_names.iter().map(String::as_str).collect();
    let group_names: Vec<String> = (0..groups).map(|j| format!("g-{j}")).collect();
    let group_refs: Vec<&str> = group_names.iter().map(String::as_str).collect();
    let mut org = Org::new().organization(user_refs.first().copied());
    for (i, name) in user_refs.iter().enumerate() {
        let dept = rng.pick(&DEPARTMENTS);
        let loc = rng.pick(&LOCATIONS);
        let desig = rng.pick(&DESIGNATIONS);
        let center = rng.pick(&CENTERS);
        let has_center = rng.chance(70);
        let contractor = rng.chance(30);
        let status = match rng.below(10) {
            0 => Field::Set(UserStatus::Closed),
            1 => Field::Set(UserStatus::Deactivated),
            _ => Field::Unset,
        };
        org = org.user(name, |u| {
            if contractor {
                u.email = format!("{name}@contractors.acme.example").parse().ok();
            }
            if i % 7 == 3 {
                u.email = None;
            }
            u.department = Field::Set(dept.to_string());
            u.location = Field::Set(loc.to_string());
            u.designation = if i % 5 == 0 {
                Field::Unset
            } else {
                Field::Set(desig.to_string())
            };
            if has_center {
                u.custom_attributes =
                    Field::Set([("costCenter", center)].into_iter().collect::<Attributes>());
            }
            u.status = status;
        });
    }
    for (j, name) in group_refs.iter().enumerate() {
        let users = rng.some(&user_refs, 4);
        // Nest lower groups (a DAG), and now and then a higher one (a cycle).
        let lower = &group_refs[..j];
        let mut nested = rng.some(lower, 2);
        if rng.chance(5) {
            nested.push(rng.pick(&group_refs));
        }
        org = org.group(name, &users, &nested);
    }
    for k in 0..4 {
        org = org.app(&format!("app-{k}"), &["r1", "r2", "r3"]);
    }
    for m in 0..rules {
        let cond = condition(&mut rng, &group_refs, 2);
        let grants: Vec<(String, &str)> = (0..1 + rng.below(2))
            .map(|_| (format!("app-{}", rng.below(4)), rng.pick(&["r1", "r2", "r3"])))
            .collect();
        let grants: Vec<(&str, &str)> = grants.iter().map(|(a, r)| (a.as_str(), *r)).collect();
        let exclude = if rng.chance(30) {
            members(&rng.some(&user_refs, 2), &rng.some(&group_refs, 1))
        } else {
            Field::Unset
        };
        let name = format!("{}-rule-{m}", rng.pick(&WORDS));
        org = org.rule_with(&name, rng.below(3) as i32, cond, &grants, exclude);
    }
    org = org.default_policy("standard");
    for k in 0..policies {
        let targets = PolicyTargets {
            users: if rng.chance(40) {
                names(&rng.some(&user_refs, 3))
            } else {
                Field::Unset
            },
            groups: if rng.chance(40) {
                names(&rng.some(&group_refs, 2))
            } else {
                Field::Unset
            },
            rule: if rng.chance(50) {
                Field::Set(condition(&mut rng, &group_refs, 1))
            } else {
                Field::Unset
            },
        };
        org = org.policy(
            &format!("p-{}-{k}", rng.pick(&WORDS)),
            rng.below(3) as i32,
            targets,
        );
    }
    org = org
        .role(
            "viewer",
            &[(Module::User, &[Action::View]), (Module::Audit, &[Action::View])],
        )
        .role("editor", &[(Module::User, &[Action::View, Action::Update])]);
    for (k, role) in ["viewer", "editor", "admin", "member"].iter().enumerate() {
        let users = rng.some(&user_refs, 2);
        let groups = rng.some(&group_refs, 2);
        org = org.binding(&format!("b-{k}"), role, &users, &groups);
    }
    org
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn evaluation_is_deterministic_and_independent_of_input_order(
        seed in any::<u64>(),
        users in 1usize..150,
        groups in 0usize..8,
        rules in 0usize..14,
        policies in 0usize..5,
        shuffle_seed in any::<u64>(),
    ) {
        let org = random_org(seed, users, groups, rules, policies);
        let model = org.model();
        let map = check(&model);
        let conflicts = model.policy_conflicts();
        // Same objects, another order.
        let mut shuffled = org.clone();
        let mut rng = Rng(shuffle_seed);
        for i in (1..shuffled.objects.len()).rev() {
            let j = rng.below(i + 1);
            shuffled.objects.swap(i, j);
        }
        let other = AccessModel::from_specs(shuffled.objects.iter().map(|(n, s)| (n, s)));
        prop_assert_eq!(&other.evaluate().to_map(), &map);
        prop_assert_eq!(other.policy_conflicts(), conflicts);
        prop_assert_eq!(other.problems(), model.problems());
        // Evaluating twice gives the same result.
        prop_assert_eq!(model.evaluate().to_map(), map);
        prop_assert!(model.explain_user("no-such-user").is_none());
    }
}
