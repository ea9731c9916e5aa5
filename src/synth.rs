//! Synthetic organizations for benchmarks and tests. [`generate`] writes the
//! YAML text of a valid organization of any size, one [`Source`] per kind
//! (`synth/users.yaml`, …), as the loader would read it from files.
//!
//! Deterministic: every choice is a hash (splitmix64) of the organization's
//! name and an index, so the same [`SynthParams`] always give the same bytes.
//! Pure and fast: text is written straight into pre-sized strings, with no
//! intermediate objects; it never touches files or a backend.
//!
//! What the generated organization guarantees, at every size:
//! - at least one user (the super admin, bound to the built-in `admin` role);
//! - groups of about 20–50 members; every tenth group nests lower-numbered
//!   groups, so nesting never forms a cycle;
//! - applications with 2–3 app roles (every tenth a SAML app, every tenth an
//!   OIDC app, the others catalog apps), without secret references;
//! - app-assignment rules spread over every operator, with `all`/`any`
//!   nesting and exclusions, each assigning existing apps with existing roles
//!   (at least one app is generated when there are rules);
//! - custom roles with permissions, each bound to a group or users;
//! - exactly one default security policy; the others have distinct
//!   priorities, and none that restricts sign-in by IP targets the super admin
//!   (so applying a generated organization never trips a lockout guard on it).

use std::collections::BTreeSet;
use std::fmt::{self, Write};

use crate::load::Source;

/// Writes formatted text into a `String`; writing to a `String` cannot fail.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

/// How large a synthetic organization to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthParams {
    /// The organization's name (a valid object name).
    pub organization: String,
    /// Number of users (at least one is generated: the super admin).
    pub users: usize,
    /// Number of groups (the first is `admins`).
    pub groups: usize,
    /// Number of applications (at least one when there are rules).
    pub apps: usize,
    /// Number of app-assignment rules.
    pub rules: usize,
    /// Number of custom admin roles (each gets one binding).
    pub roles: usize,
    /// Number of security policies, the default included (at least one).
    pub policies: usize,
}

impl SynthParams {
    /// The benchmark shape: `users` users, 500 groups, 100 apps, 200 rules, 20 roles, 10 policies.
    pub fn benchmark(users: usize) -> Self {
        SynthParams {
            organization: "bench".into(),
            users,
            groups: 500,
            apps: 100,
            rules: 200,
            roles: 20,
            policies: 10,
        }
    }

    /// A small shape for tests: one group per 20 users, 12 apps, 24 rules, 4 roles, 4 policies.
    pub fn small(users: usize) -> Self {
        SynthParams {
            organization: "synth".into(),
            users,
            groups: users / 20 + 1,
            apps: 12,
            rules: 24,
            roles: 4,
            policies: 4,
        }
    }
}

/// The benchmark organization of `users` users with one rule and one policy
/// edited (for plans that change something): `rule-00000` (department
/// equals X) becomes `notEquals`, so most users gain its apps, and the
/// default policy's minimum password length changes for everyone it covers.
pub fn edited_benchmark(users: usize) -> Vec<Source> {
    let mut sources = generate(&SynthParams::benchmark(users));
    for s in &mut sources {
        if s.name.ends_with("app-assignments.yaml") {
            s.text = s.text.replacen("op: equals", "op: notEquals", 1);
        }
        if s.name.ends_with("security-policies.yaml") {
            s.text = s.text.replacen("    minLength: 10\n", "    minLength: 15\n", 1);
        }
    }
    sources
}

/// Generates the organization's YAML, one source per kind, named `synth/<kind>.yaml`.
pub fn generate(p: &SynthParams) -> Vec<Source> {
    let g = Gen::new(p);
    vec![
        source("organization", g.organization()),
        source("users", g.users()),
        source("groups", g.groups()),
        source("applications", g.applications()),
        source("identity-providers", g.identity_providers()),
        source("roles", g.roles()),
        source("role-bindings", g.role_bindings()),
        source("security-policies", g.security_policies()),
        source("app-assignments", g.app_assignments()),
    ]
}

fn source(stem: &str, text: String) -> Source {
    Source {
        name: format!("synth/{stem}.yaml"),
        text,
    }
}

const FIRST: [&str; 32] = [
    "ada", "alan", "amara", "anil", "beatriz", "chen", "dmitri", "elena", "farah", "gustavo", "hana",
    "ibrahim", "ines", "jamal", "kenji", "lakshmi", "lucia", "mateo", "mei", "nadia", "oscar", "priya",
    "quentin", "rosa", "sanjay", "sofia", "tariq", "uma", "viktor", "wen", "yusuf", "zoe",
];

const LAST: [&str; 32] = [
    "adams", "bauer", "castro", "dubois", "eriksen", "fischer", "garcia", "hoffmann", "iyer", "jensen",
    "kowalski", "lopez", "mehta", "novak", "okafor", "petrov", "quinn", "rao", "schmidt", "tanaka", "umar",
    "varga", "weber", "xu", "yamamoto", "zhang", "nair", "costa", "murphy", "kim", "silva", "brown",
];

/// Departments, their share of users (percent) and their designations.
const DEPARTMENTS: [(&str, u64, &[&str]); 8] = [
    (
        "Engineering",
        35,
        &[
            "Software Engineer",
            "Senior Software Engineer",
            "Staff Engineer",
            "Engineering Manager",
            "QA Engineer",
            "Site Reliability Engineer",
        ],
    ),
    (
        "Sales",
        15,
        &[
            "Account Executive",
            "Senior Account Executive",
            "Sales Development Representative",
            "Sales Engineer",
            "Sales Manager",
        ],
    ),
    (
        "Finance",
        8,
        &[
            "Accountant",
            "Senior Accountant",
            "Financial Analyst",
            "Payroll Specialist",
            "Finance Manager",
        ],
    ),
    (
        "People",
        7,
        &[
            "HR Business Partner",
            "Recruiter",
            "People Operations Specialist",
            "HR Manager",
        ],
    ),
    (
        "Support",
        15,
        &[
            "Support Engineer",
            "Senior Support Engineer",
            "Support Team Lead",
            "Support Manager",
        ],
    ),
    (
        "Marketing",
        8,
        &[
            "Marketing Specialist",
            "Content Writer",
            "Product Marketing Manager",
            "Designer",
        ],
    ),
    (
        "Operations",
        6,
        &["Operations Analyst", "Office Manager", "Procurement Specialist"],
    ),
    (
        "IT",
        6,
        &[
            "IT Administrator",
            "Helpdesk Engineer",
            "Security Analyst",
            "IT Manager",
        ],
    ),
];

/// Index of the IT department in [`DEPARTMENTS`].
const IT: usize = 7;

const LOCATIONS: [&str; 6] = ["Berlin", "Chennai", "Austin", "London", "Singapore", "Toronto"];

const APP_ROLES: [&[&str]; 3] = [
    &["user", "admin"],
    &["viewer", "editor", "admin"],
    &["member", "manager"],
];

const MODULES: [&str; 9] = [
    "organization",
    "domain",
    "user",
    "group",
    "department",
    "application",
    "policy",
    "audit",
    "role",
];

const ACTIONS: [&str; 5] = ["view", "create", "update", "delete", "download"];

const MFA_MODES: [&str; 4] = ["push-app", "sms", "totp", "security-key"];

const EMPLOYMENT: [&str; 3] = ["full-time", "contractor", "intern"];

/// splitmix64's finalizer over a seed and an index: a cheap, well-mixed hash.
fn mix(seed: u64, i: u64) -> u64 {
    let mut z = seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a of the organization's name, so different organizations differ.
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xCBF2_9CE4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
    })
}

/// Picks an index below `n` (which must be non-zero) from a hash.
fn pick(h: u64, n: usize) -> usize {
    (h % n as u64) as usize
}

/// Everything a user's document says, derived from its index.
#[derive(Clone, Copy)]
struct Person {
    first: usize,
    last: usize,
    department: usize,
    designation: usize,
    location: usize,
    employment: usize,
    cost_center: u64,
    deactivated: bool,
}

/// Index into [`FIRST`] of user `i`'s given name.
fn first_of(i: usize) -> usize {
    i % FIRST.len()
}

/// Index into [`LAST`] of user `i`'s family name (varies independently of the given name).
fn last_of(i: usize) -> usize {
    (i / FIRST.len() + i * 7) % LAST.len()
}

/// A user's object name, e.g. `ada.adams-0`.
struct UserName(usize);

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let i = self.0;
        write!(f, "{}.{}-{i}", FIRST[first_of(i)], LAST[last_of(i)])
    }
}

/// A name from the tables with its first letter in upper case.
struct Capitalized(&'static str);

impl fmt::Display for Capitalized {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let mut chars = self.0.chars();
        if let Some(c) = chars.next() {
            f.write_char(c.to_ascii_uppercase())?;
        }
        f.write_str(chars.as_str())
    }
}

/// A group's object name: `admins` for the first, `team-00001` for the others.
struct GroupName(usize);

impl fmt::Display for GroupName {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self.0 {
            0 => f.write_str("admins"),
            j => write!(f, "team-{j:05}"),
        }
    }
}

struct Gen<'a> {
    org: &'a str,
    domain: String,
    seed: u64,
    users: usize,
    groups: usize,
    apps: usize,
    rules: usize,
    roles: usize,
    policies: usize,
}

impl<'a> Gen<'a> {
    fn new(p: &'a SynthParams) -> Self {
        Gen {
            org: &p.organization,
            domain: format!("{}.example", p.organization),
            seed: fnv(&p.organization),
            users: p.users.max(1),
            groups: p.groups,
            apps: if p.rules > 0 { p.apps.max(1) } else { p.apps },
            rules: p.rules,
            roles: p.roles,
            policies: p.policies.max(1),
        }
    }

    /// A hash of `(stream, i)`: independent streams for independent choices.
    fn h(&self, stream: u64, i: usize) -> u64 {
        mix(self.seed ^ stream.wrapping_mul(0xD6E8_FEB8_6659_FD93), i as u64)
    }

    fn person(&self, i: usize) -> Person {
        let h = self.h(1, i);
        if i == 0 {
            // The super admin: an IT manager, always active.
            return Person {
                first: 0,
                last: 0,
                department: IT,
                designation: 3,
                location: 0,
                employment: 0,
                cost_center: 800,
                deactivated: false,
            };
        }
        let mut roll = h % 100;
        let mut department = DEPARTMENTS.len() - 1;
        for (d, (_, share, _)) in DEPARTMENTS.iter().enumerate() {
            if roll < *share {
                department = d;
                break;
            }
            roll -= share;
        }
        let employment = match (h >> 8) % 100 {
            0..=7 => 1,
            8..=10 => 2,
            _ => 0,
        };
        Person {
            first: first_of(i),
            last: last_of(i),
            department,
            designation: pick(h >> 16, DEPARTMENTS[department].2.len()),
            location: pick(h >> 24, LOCATIONS.len()),
            employment,
            cost_center: (department as u64 + 1) * 100 + ((h >> 32) % 4) * 10,
            deactivated: (h >> 40).is_multiple_of(50),
        }
    }

    /// Writes the envelope of a document of `kind` up to `spec.organization`.
    fn header(&self, out: &mut String, kind: &str, name: impl fmt::Display) {
        w!(
            out,
            "---\napiVersion: orgctl.io/v1alpha1\nkind: {kind}\nmetadata:\n  name: {name}\nspec:\n  organization: {}\n",
            self.org
        );
    }

    fn organization(&self) -> String {
        let mut out = String::with_capacity(512);
        w!(
            out,
            "# Generated by orgctl's synth module.\n---\napiVersion: orgctl.io/v1alpha1\nkind: Organization\nmetadata:\n  name: {org}\nspec:\n  displayName: Synthetic organization {org}\n  contact:\n    email: it@{d}\n  domains: [{d}, contractors.{d}]\n  displayNameFormat: FirstLast\n  emailFormat: \"{{first}}.{{last}}@{d}\"\n  superAdmin: {admin}\n",
            org = self.org,
            d = self.domain,
            admin = UserName(0),
        );
        out
    }

    fn users(&self) -> String {
        let mut out = String::with_capacity(64 + self.users * 480);
        out.push_str("# Generated by orgctl's synth module.\n");
        for i in 0..self.users {
            let p = self.person(i);
            let name = UserName(i);
            self.header(&mut out, "User", &name);
            let sub = if p.employment == 1 { "contractors." } else { "" };
            let (department, _, designations) = DEPARTMENTS[p.department];
            w!(
                out,
                "  email: {name}@{sub}{d}\n  firstName: {first}\n  lastName: {last}\n  department: {department}\n  designation: {designation}\n  location: {location}\n  customAttributes:\n    costCenter: CC-{cc}\n    employmentType: {emp}\n",
                d = self.domain,
                first = Capitalized(FIRST[p.first]),
                last = Capitalized(LAST[p.last]),
                designation = designations[p.designation],
                location = LOCATIONS[p.location],
                cc = p.cost_center,
                emp = EMPLOYMENT[p.employment],
            );
            if p.deactivated {
                out.push_str("  status: deactivated\n");
            }
        }
        out
    }

    /// Writes `[a, b, c]` of user names.
    fn user_list(&self, out: &mut String, users: impl Iterator<Item = usize>) {
        out.push('[');
        for (k, u) in users.enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            w!(out, "{}", UserName(u));
        }
        out.push_str("]\n");
    }

    /// Users `a` and `b` distinct when there are two or more users.
    fn two_users(&self, h: u64) -> Vec<usize> {
        let a = pick(h, self.users);
        let b = (a + 1 + pick(h >> 20, self.users.saturating_sub(1).max(1))) % self.users;
        if a == b {
            vec![a]
        } else {
            vec![a, b]
        }
    }

    /// A non-admin group by hash, when there is one.
    fn some_team(&self, h: u64) -> Option<usize> {
        (self.groups > 1).then(|| 1 + pick(h, self.groups - 1))
    }

    fn groups(&self) -> String {
        let mut out = String::with_capacity(64 + self.groups * 900);
        out.push_str("# Generated by orgctl's synth module.\n");
        for j in 0..self.groups {
            self.header(&mut out, "Group", GroupName(j));
            if j == 0 {
                // admins: the super admin and the first IT people.
                let it = (1..self.users.min(2000))
                    .filter(|&i| self.person(i).department == IT)
                    .take(12);
                out.push_str("  description: Administrators\n  members:\n    users: ");
                self.user_list(&mut out, std::iter::once(0).chain(it));
                continue;
            }
            let h = self.h(2, j);
            let size = (20 + pick(h, 31)).min(self.users);
            let start = pick(h >> 8, self.users);
            w!(
                out,
                "  description: Team {j} ({})\n  members:\n    users: ",
                DEPARTMENTS[pick(h >> 40, DEPARTMENTS.len())].0
            );
            self.user_list(&mut out, (0..size).map(|k| (start + k) % self.users));
            // Every tenth group nests lower-numbered teams: a DAG, never a cycle.
            if j % 10 == 0 {
                out.push_str("    groups: [");
                let mut nested: Vec<usize> = vec![j - 1, j - 3, j - 7];
                if j % 100 == 0 {
                    nested.extend([j - 10, j - 50]);
                }
                for (k, g) in nested.into_iter().enumerate() {
                    if k > 0 {
                        out.push_str(", ");
                    }
                    w!(out, "{}", GroupName(g));
                }
                out.push_str("]\n");
            }
        }
        out
    }

    fn applications(&self) -> String {
        let mut out = String::with_capacity(64 + self.apps * 400);
        out.push_str("# Generated by orgctl's synth module.\n");
        for k in 0..self.apps {
            self.header(&mut out, "Application", format_args!("app-{k:04}"));
            match k % 10 {
                7 => w!(
                    out,
                    "  type: saml\n  displayName: SAML App {k}\n  saml:\n    entityId: https://app-{k:04}.saas.example/saml/metadata\n    acsUrl: https://app-{k:04}.saas.example/saml/acs\n"
                ),
                8 => w!(
                    out,
                    "  type: oidc\n  displayName: OIDC App {k}\n  oidc:\n    redirectUris: [https://app-{k:04}.{d}/oauth2/callback]\n",
                    d = self.domain
                ),
                _ => w!(
                    out,
                    "  type: catalog\n  displayName: Catalog App {k}\n  catalogId: catalog-{:02}\n",
                    k % 40
                ),
            }
            out.push_str("  roles: [");
            out.push_str(&APP_ROLES[k % APP_ROLES.len()].join(", "));
            out.push_str("]\n");
        }
        out
    }

    fn identity_providers(&self) -> String {
        let mut out = String::with_capacity(1024);
        out.push_str("# Generated by orgctl's synth module.\n");
        self.header(&mut out, "IdentityProvider", "google");
        out.push_str("  type: google\n  displayName: Sign in with Google\n  enabled: true\n");
        self.header(&mut out, "IdentityProvider", "corp-sso");
        w!(
            out,
            "  type: saml\n  displayName: Corporate SSO\n  saml:\n    ssoUrl: https://sso.{d}/saml2/sso\n    entityId: https://sso.{d}/saml2/metadata\n    certificate: |\n      -----BEGIN CERTIFICATE-----\n      PLACEHOLDER-NOT-A-REAL-CERTIFICATE\n      -----END CERTIFICATE-----\n",
            d = self.domain
        );
        out
    }

    fn roles(&self) -> String {
        let mut out = String::with_capacity(64 + self.roles * 400);
        out.push_str("# Generated by orgctl's synth module.\n");
        for k in 0..self.roles {
            self.header(&mut out, "Role", format_args!("role-{k:03}"));
            w!(out, "  description: Custom admin role {k}\n  permissions:\n");
            let h = self.h(3, k);
            // At least one module: the one picked by the hash is always in.
            let always = pick(h, MODULES.len());
            for (m, module) in MODULES.iter().enumerate() {
                let bits = h >> (8 + 5 * m);
                if m != always && bits & 1 == 0 {
                    continue;
                }
                w!(out, "    {module}: [view");
                for (a, action) in ACTIONS.iter().enumerate().skip(1) {
                    if (bits >> a) & 1 == 1 {
                        w!(out, ", {action}");
                    }
                }
                out.push_str("]\n");
            }
        }
        out
    }

    fn role_bindings(&self) -> String {
        let mut out = String::with_capacity(256 + self.roles * 250);
        out.push_str("# Generated by orgctl's synth module.\n");
        self.header(&mut out, "RoleBinding", "org-admins");
        w!(out, "  role: admin\n  subjects:\n    users: [{}]\n", UserName(0));
        for k in 0..self.roles {
            self.header(&mut out, "RoleBinding", format_args!("role-{k:03}-holders"));
            w!(out, "  role: role-{k:03}\n  subjects:\n");
            let h = self.h(4, k);
            match self.some_team(h) {
                Some(g) if k % 2 == 0 => w!(out, "    groups: [{}]\n", GroupName(g)),
                _ => {
                    out.push_str("    users: ");
                    self.user_list(&mut out, self.two_users(h >> 8).into_iter());
                }
            }
        }
        out
    }

    fn security_policies(&self) -> String {
        let mut out = String::with_capacity(64 + self.policies * 700);
        out.push_str("# Generated by orgctl's synth module.\n");
        self.header(&mut out, "SecurityPolicy", "standard");
        out.push_str(
            "  default: true\n  password:\n    minLength: 10\n    historyCount: 3\n    mixedCase: true\n  mfa:\n    required: true\n    modes: [push-app, totp, security-key, sms]\n    trustedBrowser: 30d\n    backupCodes: true\n  session:\n    lifetime: 14d\n    idleTimeout: 8h\n    concurrentSessions: 10\n  federatedSignIn:\n    allowed: true\n    providers: [google]\n",
        );
        for k in 1..self.policies {
            let h = self.h(5, k);
            self.header(&mut out, "SecurityPolicy", format_args!("policy-{k:03}"));
            // Distinct priorities: no two policies tie on any user.
            w!(out, "  priority: {}\n  targets:\n", k * 10);
            match k % 3 {
                1 if self.groups > 0 => {
                    out.push_str("    groups: [admins");
                    if let Some(g) = self.some_team(h) {
                        w!(out, ", {}", GroupName(g));
                    }
                    out.push_str("]\n");
                }
                // Users and locations other than the super admin's, so no IP
                // allowlist below ever applies to the super admin.
                2 => {
                    out.push_str("    users: ");
                    let others = self.two_users(h).into_iter().map(|u| u.max(1) % self.users);
                    self.user_list(&mut out, others.collect::<BTreeSet<_>>().into_iter());
                }
                _ => w!(
                    out,
                    "    rule:\n      field: location\n      op: equals\n      value: {}\n",
                    LOCATIONS[1 + pick(h, LOCATIONS.len() - 1)]
                ),
            }
            w!(
                out,
                "  password:\n    minLength: {}\n    historyCount: {}\n    minDigits: 1\n    mixedCase: true\n    maxAge: {}d\n",
                8 + k % 9,
                k % 12,
                30 + (k % 6) * 30
            );
            out.push_str("  mfa:\n    required: true\n    modes: [");
            if k == 1 {
                // The admins' policy: phishing-resistant factors only.
                out.push_str("security-key, totp");
            } else {
                let first = pick(h >> 8, MFA_MODES.len());
                let count = 1 + pick(h >> 12, MFA_MODES.len());
                for m in 0..count {
                    if m > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(MFA_MODES[(first + m) % MFA_MODES.len()]);
                }
            }
            out.push_str("]\n");
            match k % 4 {
                0 => out.push_str("    trustedBrowser: never\n"),
                _ => w!(out, "    trustedBrowser: {}d\n", 1 + (k * 7) % 30),
            }
            w!(
                out,
                "    backupCodes: {}\n  session:\n    lifetime: {}d\n",
                k % 2 == 0,
                1 + k % 30
            );
            match k % 4 {
                0 => out.push_str("    idleTimeout: 30m\n"),
                _ => w!(out, "    idleTimeout: {}h\n", 1 + k % 12),
            }
            w!(out, "    concurrentSessions: {}\n", 1 + k % 50);
            if k % 3 != 1 && k % 2 == 1 && self.users > 1 {
                w!(
                    out,
                    "  network:\n    allowedIps: [10.{o}.0.0/16, 203.0.113.{o}, 192.0.2.10-192.0.2.20]\n",
                    o = k % 256
                );
            }
            if k == 1 {
                out.push_str("  federatedSignIn:\n    allowed: false\n  sso:\n    enforced: true\n    provider: corp-sso\n");
            } else {
                out.push_str("  federatedSignIn:\n    allowed: true\n    providers: [google]\n");
            }
        }
        out
    }

    /// Writes one comparison of a rule at `indent`, its first line prefixed by
    /// `lead` (`""` for a rule's root, `"- "` for an item of `all`/`any`).
    fn comparison(&self, out: &mut String, indent: &str, lead: &str, field: &str, op: &str, value: &str) {
        let pad = if lead.is_empty() { "" } else { "  " };
        w!(
            out,
            "{indent}{lead}field: {field}\n{indent}{pad}op: {op}\n{indent}{pad}value: {value}\n"
        );
    }

    fn rule(&self, out: &mut String, m: usize, h: u64) {
        let dept = DEPARTMENTS[pick(h, DEPARTMENTS.len())].0;
        let loc = |s: u64| LOCATIONS[pick(h >> s, LOCATIONS.len())];
        match m % 13 {
            0 => self.comparison(out, "    ", "", "department", "equals", dept),
            1 => w!(
                out,
                "    field: location\n    op: in\n    values: [{}, {}]\n",
                loc(8),
                LOCATIONS[(pick(h >> 8, LOCATIONS.len()) + 1) % LOCATIONS.len()]
            ),
            2 => self.comparison(out, "    ", "", "designation", "startsWith", "Senior"),
            3 => self.comparison(out, "    ", "", "designation", "endsWith", "Engineer"),
            4 => self.comparison(out, "    ", "", "designation", "contains", "Manager"),
            5 => self.comparison(out, "    ", "", "emailDomain", "equals", &self.domain),
            6 => match self.some_team(h >> 16) {
                Some(g) => self.comparison(out, "    ", "", "group", "equals", &GroupName(g).to_string()),
                None => self.comparison(
                    out,
                    "    ",
                    "",
                    "username",
                    "startsWith",
                    FIRST[pick(h >> 16, FIRST.len())],
                ),
            },
            7 => out.push_str(
                "    field: attributes.employmentType\n    op: notIn\n    values: [contractor, intern]\n",
            ),
            8 => self.comparison(out, "    ", "", "designation", "matches", "'^(Senior|Staff) '"),
            9 => self.comparison(out, "    ", "", "location", "notEquals", loc(8)),
            10 => {
                out.push_str("    all:\n");
                self.comparison(out, "      ", "- ", "department", "equals", dept);
                w!(
                    out,
                    "      - field: location\n        op: in\n        values: [{}, {}, {}]\n",
                    LOCATIONS[0],
                    LOCATIONS[1],
                    LOCATIONS[2 + pick(h >> 8, LOCATIONS.len() - 2)]
                );
            }
            11 => {
                out.push_str("    any:\n      - all:\n");
                self.comparison(out, "          ", "- ", "department", "equals", dept);
                self.comparison(out, "          ", "- ", "designation", "contains", "Manager");
                let cc = format!("CC-{}", 1 + pick(h >> 24, DEPARTMENTS.len()));
                self.comparison(out, "      ", "- ", "attributes.costCenter", "startsWith", &cc);
            }
            _ => {
                let suffix = format!("\"@contractors.{}\"", self.domain);
                self.comparison(out, "    ", "", "email", "endsWith", &suffix);
            }
        }
    }

    fn app_assignments(&self) -> String {
        let mut out = String::with_capacity(64 + self.rules * 600);
        out.push_str("# Generated by orgctl's synth module.\n");
        if self.apps == 0 {
            return out;
        }
        for m in 0..self.rules {
            let h = self.h(6, m);
            self.header(&mut out, "AppAssignment", format_args!("rule-{m:05}"));
            let priority = 10 + m;
            w!(
                out,
                "  description: Synthetic rule {m}\n  priority: {priority}\n  rule:\n"
            );
            self.rule(&mut out, m, h);
            if m % 5 == 4 {
                out.push_str("  exclude:\n    users: ");
                self.user_list(&mut out, self.two_users(h >> 4).into_iter());
                if let Some(g) = self.some_team(h >> 28) {
                    w!(out, "    groups: [{}]\n", GroupName(g));
                }
            }
            out.push_str("  assign:\n");
            let first = pick(h >> 32, self.apps);
            let count = (1 + pick(h >> 36, 3)).min(self.apps);
            for a in 0..count {
                let app = (first + a) % self.apps;
                let roles = APP_ROLES[app % APP_ROLES.len()];
                let role = roles[pick(h >> (40 + 4 * a), roles.len())];
                w!(out, "    - {{app: app-{app:04}, role: {role}}}\n");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;
    use crate::load::{self, Loaded};
    use crate::model::{Condition, Field, Kind, Members, Spec};

    fn load_clean(sources: &[Source]) -> Loaded {
        let (loaded, diags) = load::load(sources);
        let text: Vec<String> = diags.iter().map(ToString::to_string).collect();
        assert!(text.is_empty(), "load diagnostics:\n{}", text.join("\n"));
        loaded
    }

    fn counts(loaded: &Loaded) -> BTreeMap<Kind, usize> {
        let mut c = BTreeMap::new();
        for d in &loaded.documents {
            *c.entry(d.object.spec.kind()).or_insert(0) += 1;
        }
        c
    }

    fn names(m: &Field<Members>) -> (Vec<String>, Vec<String>) {
        let list = |f: Option<&crate::model::Collection<crate::model::Name>>| {
            f.map(|c| c.items.iter().map(|n| n.to_string()).collect())
                .unwrap_or_default()
        };
        match m.get() {
            Some(m) => (list(m.users.get()), list(m.groups.get())),
            None => (Vec::new(), Vec::new()),
        }
    }

    /// Loads and validates, failing with every problem found.
    fn assert_valid(sources: &[Source]) {
        if let Err(diags) = crate::validate::run(sources) {
            let text: Vec<String> = diags.iter().map(ToString::to_string).collect();
            panic!("validation problems:\n{}", text.join("\n"));
        }
    }

    #[test]
    fn small_org_loads_cleanly_and_is_valid() {
        let sources = generate(&SynthParams::small(200));
        assert_valid(&sources);
    }

    #[test]
    fn benchmark_org_loads_cleanly_and_is_valid() {
        let sources = generate(&SynthParams::benchmark(1000));
        assert_valid(&sources);
    }

    #[test]
    fn degenerate_sizes_still_give_a_valid_org() {
        for (users, groups, apps, rules, roles, policies) in [
            (0, 0, 0, 0, 0, 0),
            (1, 1, 0, 3, 1, 1),
            (2, 3, 1, 30, 2, 5),
            (5, 120, 3, 13, 3, 12),
        ] {
            let p = SynthParams {
                organization: "tiny".into(),
                users,
                groups,
                apps,
                rules,
                roles,
                policies,
            };
            let sources = generate(&p);
            assert_valid(&sources);
        }
    }

    #[test]
    fn generation_is_deterministic() {
        let p = SynthParams::benchmark(500);
        let a: Vec<(String, String)> = generate(&p).into_iter().map(|s| (s.name, s.text)).collect();
        let b: Vec<(String, String)> = generate(&p).into_iter().map(|s| (s.name, s.text)).collect();
        assert_eq!(a, b);
        let other = SynthParams {
            organization: "other".into(),
            ..p
        };
        assert_ne!(
            generate(&other)[1].text,
            a[1].1,
            "the organization's name seeds the choices"
        );
    }

    #[test]
    fn document_counts_match_params() {
        let p = SynthParams::benchmark(1234);
        let loaded = load_clean(&generate(&p));
        let c = counts(&loaded);
        let expected = BTreeMap::from([
            (Kind::Organization, 1),
            (Kind::User, p.users),
            (Kind::Group, p.groups),
            (Kind::Application, p.apps),
            (Kind::IdentityProvider, 2),
            (Kind::Role, p.roles),
            (Kind::RoleBinding, p.roles + 1),
            (Kind::SecurityPolicy, p.policies),
            (Kind::AppAssignment, p.rules),
        ]);
        assert_eq!(c, expected);
        let names: Vec<String> = generate(&p).into_iter().map(|s| s.name).collect();
        assert_eq!(names[0], "synth/organization.yaml");
        assert_eq!(names[1], "synth/users.yaml");
    }

    #[test]
    fn generated_shape_is_realistic() {
        let loaded = load_clean(&generate(&SynthParams::benchmark(2000)));
        let mut sizes = Vec::new();
        let mut nested = 0;
        let mut ops = BTreeSet::new();
        fn collect_ops(c: &Condition, ops: &mut BTreeSet<String>) {
            if let Some(op) = c.op {
                ops.insert(format!("{op:?}"));
            }
            for sub in c.all.iter().chain(c.any.iter()).flatten() {
                collect_ops(sub, ops);
            }
        }
        for d in &loaded.documents {
            match &d.object.spec {
                Spec::Group(g) if d.object.metadata.name.as_str() != "admins" => {
                    let (us, gs) = names(&g.members);
                    sizes.push(us.len());
                    nested += usize::from(!gs.is_empty());
                }
                Spec::AppAssignment(a) => {
                    if let Some(r) = a.rule.get() {
                        collect_ops(r, &mut ops);
                    }
                }
                _ => {}
            }
        }
        assert!(
            sizes.iter().all(|s| (20..=50).contains(s)),
            "group sizes {sizes:?}"
        );
        assert!(nested >= 40, "nested groups: {nested}");
        assert_eq!(ops.len(), 8, "every operator is used: {ops:?}");
    }

    #[test]
    fn acme_example_loads_cleanly() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/acme");
        let mut paths: Vec<_> = std::fs::read_dir(&dir)
            .expect("examples/acme exists")
            .map(|e| e.expect("readable entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
            .collect();
        paths.sort();
        let sources: Vec<Source> = paths
            .iter()
            .map(|p| {
                let text = std::fs::read_to_string(p).expect("readable example");
                // yaml-language-server reads a modeline per document: every
                // document of a multi-document file carries it.
                let modeline = "# yaml-language-server: $schema=../orgctl.schema.json\n";
                assert!(
                    text.starts_with(modeline),
                    "{} starts with the schema modeline",
                    p.display()
                );
                let documents = text.matches("\n---\n").count() + 1;
                assert_eq!(
                    text.matches(modeline).count(),
                    documents,
                    "{}: every document starts with the schema modeline",
                    p.display()
                );
                Source {
                    name: format!(
                        "examples/acme/{}",
                        p.file_name().unwrap_or_default().to_string_lossy()
                    ),
                    text,
                }
            })
            .collect();
        assert_eq!(sources.len(), 9, "one file per kind");
        let loaded = load_clean(&sources);
        assert_valid(&sources);
        let c = counts(&loaded);
        assert!(c[&Kind::User] >= 25 && c[&Kind::Application] >= 6 && c[&Kind::AppAssignment] >= 4);
        assert!(c[&Kind::Role] >= 2 && c[&Kind::IdentityProvider] >= 2 && c[&Kind::SecurityPolicy] >= 2);
    }
}
