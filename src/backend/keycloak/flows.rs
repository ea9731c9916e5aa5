//! The authentication flows orgctl keeps in a realm, and why: Keycloak lets
//! every user of a realm sign in to every client, so app access is enforced
//! by a per-client flow override (browser and direct grant) that refuses a
//! user without the app's access role; and "MFA required" is an OTP step
//! every user must pass. Four templates are built once per realm:
//!
//! - `orgctl browser`, `orgctl direct grant`: the realm's sign-in with an OTP
//!   step (conditional on the user having OTP, or required of everyone), bound
//!   as the realm's flows when the policy manages MFA;
//! - `orgctl app browser`, `orgctl app direct grant`: the same plus a
//!   conditional "deny access" step for users without the app's role, copied
//!   per application as `orgctl browser <clientId>` and
//!   `orgctl direct grant <clientId>`.

use std::collections::BTreeSet;

use reqwest::Method;
use serde_json::{json, Value};

use super::client::{seg, Client};
use crate::backend::BackendError;

/// The realm's browser flow when orgctl manages MFA.
pub const REALM_BROWSER: &str = "orgctl browser";
/// The realm's direct-grant flow when orgctl manages MFA.
pub const REALM_DIRECT: &str = "orgctl direct grant";
/// Template of the per-app browser flows.
const APP_BROWSER: &str = "orgctl app browser";
/// Template of the per-app direct-grant flows.
const APP_DIRECT: &str = "orgctl app direct grant";
/// Every OTP sub-flow's alias starts with this (copies keep it inside).
pub const OTP_PREFIX: &str = "orgctl otp";
/// Every flow orgctl made starts with this.
const PREFIX: &str = "orgctl ";
/// The role condition's placeholder in the templates.
const PLACEHOLDER_ROLE: &str = "realm-management.view-realm";

/// One execution to add: an authenticator or a sub-flow with its own steps.
enum Step {
    Auth(&'static str, &'static str),
    Flow(String, &'static str, Vec<Step>),
}

/// The sign-in steps of a browser or direct-grant flow.
fn sign_in(browser: bool, suffix: &str, mfa: bool) -> Vec<Step> {
    let otp_req = if mfa { "REQUIRED" } else { "CONDITIONAL" };
    let cond_req = if mfa { "DISABLED" } else { "REQUIRED" };
    let otp = |form: &'static str| {
        Step::Flow(
            format!("{OTP_PREFIX} {suffix}"),
            otp_req,
            vec![
                Step::Auth("conditional-user-configured", cond_req),
                Step::Auth(form, "REQUIRED"),
            ],
        )
    };
    if browser {
        vec![Step::Flow(
            format!("orgctl sign-in {suffix}"),
            "REQUIRED",
            vec![
                Step::Auth("auth-cookie", "ALTERNATIVE"),
                Step::Auth("identity-provider-redirector", "ALTERNATIVE"),
                Step::Flow(
                    format!("orgctl forms {suffix}"),
                    "ALTERNATIVE",
                    vec![
                        Step::Auth("auth-username-password-form", "REQUIRED"),
                        otp("auth-otp-form"),
                    ],
                ),
            ],
        )]
    } else {
        vec![
            Step::Auth("direct-grant-validate-username", "REQUIRED"),
            Step::Auth("direct-grant-validate-password", "REQUIRED"),
            otp("direct-grant-validate-otp"),
        ]
    }
}

fn access_step(suffix: &str) -> Step {
    Step::Flow(
        format!("orgctl access {suffix}"),
        "CONDITIONAL",
        vec![
            Step::Auth("conditional-user-role", "REQUIRED"),
            Step::Auth("deny-access-authenticator", "REQUIRED"),
        ],
    )
}

/// The flows of one realm.
pub struct Flows<'a> {
    client: &'a Client,
    realm: String,
    /// Aliases of the top-level flows that exist.
    pub existing: BTreeSet<String>,
}

impl<'a> Flows<'a> {
    /// The flows of `realm`, reading which exist.
    pub fn read(client: &'a Client, realm: &str) -> Result<Flows<'a>, BackendError> {
        let list = client.get(
            &format!("/{}/authentication/flows", seg(realm)),
            "authentication flows",
        )?;
        let existing = list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f.get("alias").and_then(Value::as_str))
            .map(str::to_string)
            .collect();
        Ok(Flows {
            client,
            realm: realm.to_string(),
            existing,
        })
    }

    fn path(&self, rest: &str) -> String {
        format!("/{}/authentication{rest}", seg(&self.realm))
    }

    /// Adds `steps` to the flow `parent` at priorities 10, 20, ….
    fn add(&self, parent: &str, steps: &[Step]) -> Result<(), BackendError> {
        for (i, step) in steps.iter().enumerate() {
            let priority = 10 * (i + 1);
            match step {
                Step::Auth(provider, _) => {
                    self.client.send(
                        Method::POST,
                        &self.path(&format!("/flows/{}/executions/execution", seg(parent))),
                        Some(&json!({ "provider": provider, "priority": priority })),
                        &format!("flow {parent:?}"),
                    )?;
                }
                Step::Flow(alias, _, inner) => {
                    self.client.send(
                        Method::POST,
                        &self.path(&format!("/flows/{}/executions/flow", seg(parent))),
                        Some(&json!({
                            "alias": alias,
                            "type": "basic-flow",
                            "provider": "registration-page-form",
                            "description": "managed by orgctl",
                            "priority": priority,
                        })),
                        &format!("flow {parent:?}"),
                    )?;
                    self.add(alias, inner)?;
                }
            }
        }
        Ok(())
    }

    /// The wanted requirement of each execution, in the order Keycloak lists
    /// them (depth first).
    fn requirements(steps: &[Step], out: &mut Vec<&'static str>) {
        for s in steps {
            match s {
                Step::Auth(_, r) => out.push(r),
                Step::Flow(_, r, inner) => {
                    out.push(r);
                    Self::requirements(inner, out);
                }
            }
        }
    }

    fn executions(&self, flow: &str) -> Result<Vec<Value>, BackendError> {
        let v = self.client.get(
            &self.path(&format!("/flows/{}/executions", seg(flow))),
            &format!("flow {flow:?}"),
        )?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// Sets one execution's requirement (the whole execution is sent back:
    /// a partial body resets its priority).
    fn set_requirement(
        &self,
        flow: &str,
        mut execution: Value,
        requirement: &str,
    ) -> Result<(), BackendError> {
        if execution.get("requirement").and_then(Value::as_str) == Some(requirement) {
            return Ok(());
        }
        execution["requirement"] = json!(requirement);
        self.client.send(
            Method::PUT,
            &self.path(&format!("/flows/{}/executions", seg(flow))),
            Some(&execution),
            &format!("flow {flow:?}"),
        )?;
        Ok(())
    }

    /// Builds a top-level flow from steps.
    fn build(&mut self, alias: &str, steps: &[Step]) -> Result<(), BackendError> {
        self.client.send(
            Method::POST,
            &self.path("/flows"),
            Some(&json!({
                "alias": alias,
                "providerId": "basic-flow",
                "topLevel": true,
                "builtIn": false,
                "description": "managed by orgctl",
            })),
            &format!("flow {alias:?}"),
        )?;
        self.add(alias, steps)?;
        let mut wanted = Vec::new();
        Self::requirements(steps, &mut wanted);
        let executions = self.executions(alias)?;
        for (e, r) in executions.into_iter().zip(wanted) {
            self.set_requirement(alias, e, r)?;
        }
        self.existing.insert(alias.to_string());
        Ok(())
    }

    /// Builds the four templates that are missing.
    fn ensure_templates(&mut self, mfa: bool) -> Result<(), BackendError> {
        for (alias, browser, app) in [
            (REALM_BROWSER, true, false),
            (REALM_DIRECT, false, false),
            (APP_BROWSER, true, true),
            (APP_DIRECT, false, true),
        ] {
            if self.existing.contains(alias) {
                continue;
            }
            let suffix = alias.trim_start_matches(PREFIX);
            let mut steps = sign_in(browser, suffix, mfa);
            if app {
                steps.push(access_step(suffix));
            }
            self.build(alias, &steps)?;
            if app {
                self.configure_role(alias, PLACEHOLDER_ROLE)?;
            }
        }
        Ok(())
    }

    /// Points the role condition of `flow` at `role` (`clientId.role`).
    fn configure_role(&self, flow: &str, role: &str) -> Result<(), BackendError> {
        let condition = self
            .executions(flow)?
            .into_iter()
            .find(|e| e.get("providerId").and_then(Value::as_str) == Some("conditional-user-role"))
            .ok_or_else(|| BackendError::Remote(format!("keycloak: flow {flow:?} has no role condition")))?;
        let config = json!({ "condUserRole": role, "negate": "true" });
        match condition.get("authenticationConfig").and_then(Value::as_str) {
            Some(id) => {
                self.client.send(
                    Method::PUT,
                    &self.path(&format!("/config/{}", seg(id))),
                    Some(&json!({ "id": id, "alias": format!("{flow} role"), "config": config })),
                    &format!("flow {flow:?}"),
                )?;
            }
            None => {
                let id = condition.get("id").and_then(Value::as_str).unwrap_or_default();
                self.client.send(
                    Method::POST,
                    &self.path(&format!("/executions/{}/config", seg(id))),
                    Some(&json!({ "alias": format!("{flow} role"), "config": config })),
                    &format!("flow {flow:?}"),
                )?;
            }
        }
        Ok(())
    }

    /// The per-app flows of application `app`: (browser, direct grant) aliases.
    pub fn app_aliases(app: &str) -> (String, String) {
        (
            format!("orgctl browser {app}"),
            format!("orgctl direct grant {app}"),
        )
    }

    /// Makes sure application `app` (client `client_id`) has its two access
    /// flows (refusing users without `access_role`); returns their ids for
    /// the client's overrides.
    pub fn ensure_app(
        &mut self,
        app: &str,
        client_id: &str,
        access_role: &str,
        mfa: bool,
    ) -> Result<(String, String), BackendError> {
        self.ensure_templates(mfa)?;
        let (browser, direct) = Self::app_aliases(app);
        for (alias, template) in [(&browser, APP_BROWSER), (&direct, APP_DIRECT)] {
            if self.existing.contains(alias.as_str()) {
                continue;
            }
            self.client.send(
                Method::POST,
                &self.path(&format!("/flows/{}/copy", seg(template))),
                Some(&json!({ "newName": alias })),
                &format!("flow {alias:?}"),
            )?;
            self.existing.insert(alias.clone());
            self.configure_role(alias, &format!("{client_id}.{access_role}"))?;
            self.set_mfa_in(alias, mfa)?;
        }
        let list = self.client.get(&self.path("/flows"), "authentication flows")?;
        Ok((flow_id(&list, &browser)?, flow_id(&list, &direct)?))
    }

    /// Deletes the per-app flows of application `app` (after its client is gone).
    pub fn delete_app(&mut self, app: &str) -> Result<(), BackendError> {
        let (browser, direct) = Self::app_aliases(app);
        let list = self.client.get(&self.path("/flows"), "authentication flows")?;
        for alias in [browser, direct] {
            let id = list
                .as_array()
                .into_iter()
                .flatten()
                .find(|f| f.get("alias").and_then(Value::as_str) == Some(alias.as_str()))
                .and_then(|f| f.get("id").and_then(Value::as_str));
            if let Some(id) = id {
                let a = self.client.call(
                    Method::DELETE,
                    &self.path(&format!("/flows/{}", seg(id))),
                    None,
                    &alias,
                )?;
                if !a.status.is_success() && a.status.as_u16() != 404 {
                    return Err(self
                        .client
                        .refused(&Method::DELETE, &format!("flow {alias:?}"), &a));
                }
            }
            self.existing.remove(&alias);
        }
        Ok(())
    }

    /// Sets the OTP step of one flow: required of everyone or only of users
    /// who set up OTP.
    fn set_mfa_in(&self, flow: &str, mfa: bool) -> Result<(), BackendError> {
        let executions = self.executions(flow)?;
        for (i, e) in executions.iter().enumerate() {
            let is_otp = e
                .get("displayName")
                .and_then(Value::as_str)
                .is_some_and(|d| d.contains(OTP_PREFIX));
            if !is_otp {
                continue;
            }
            self.set_requirement(flow, e.clone(), if mfa { "REQUIRED" } else { "CONDITIONAL" })?;
            if let Some(cond) = executions.get(i + 1) {
                if cond.get("providerId").and_then(Value::as_str) == Some("conditional-user-configured") {
                    self.set_requirement(flow, cond.clone(), if mfa { "DISABLED" } else { "REQUIRED" })?;
                }
            }
        }
        Ok(())
    }

    /// Requires OTP of everyone (or not) in every flow orgctl made, and binds
    /// the realm flows.
    pub fn set_mfa(&mut self, mfa: bool) -> Result<(), BackendError> {
        self.ensure_templates(mfa)?;
        let ours: Vec<String> = self
            .existing
            .iter()
            .filter(|a| a.starts_with(PREFIX))
            .cloned()
            .collect();
        for alias in ours {
            self.set_mfa_in(&alias, mfa)?;
        }
        Ok(())
    }
}

/// The id of flow `alias` in a flow list (one list read serves both flows of an app).
fn flow_id(list: &Value, alias: &str) -> Result<String, BackendError> {
    list.as_array()
        .into_iter()
        .flatten()
        .find(|f| f.get("alias").and_then(Value::as_str) == Some(alias))
        .and_then(|f| f.get("id").and_then(Value::as_str))
        .map(str::to_string)
        .ok_or_else(|| BackendError::Remote(format!("keycloak: flow {alias:?} is missing after it was made")))
}
