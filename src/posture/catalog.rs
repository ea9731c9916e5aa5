//! The checks: each one's stable id, severity and one-line rationale. The
//! ids are a public contract (SARIF rule ids, exception files, `--fail-on`
//! scripts): an id never changes meaning and is never reused.

use serde::{Deserialize, Serialize};

/// How much a finding weakens the organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    /// Worth fixing when convenient.
    Low,
    /// A real weakness; fix it soon.
    Medium,
    /// An account takeover away from an incident; fix it now.
    High,
}

impl Severity {
    /// `low`, `medium`, `high`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One posture check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum CheckId {
    /// An admin's effective policy does not require MFA.
    #[serde(rename = "ADMIN-MFA-NOT-REQUIRED")]
    AdminMfaNotRequired,
    /// An admin's effective policy allows only weak second factors.
    #[serde(rename = "ADMIN-MFA-WEAK-MODES")]
    AdminMfaWeakModes,
    /// An admin may trust a browser for long.
    #[serde(rename = "ADMIN-TRUSTED-BROWSER-LONG")]
    AdminTrustedBrowserLong,
    /// An admin may use backup codes while others may not.
    #[serde(rename = "ADMIN-BACKUP-CODES")]
    AdminBackupCodes,
    /// An admin may sign in from any address.
    #[serde(rename = "ADMIN-ANY-ADDRESS")]
    AdminAnyAddress,
    /// An admin is on the same policy as ordinary users.
    #[serde(rename = "ADMIN-NO-RISK-TIER")]
    AdminNoRiskTier,
    /// One policy for everyone in an organization with admins and sensitive groups.
    #[serde(rename = "ORG-SINGLE-POLICY")]
    OrgSinglePolicy,
    /// An app a rule gives to (nearly) every user.
    #[serde(rename = "APP-TO-NEARLY-EVERYONE")]
    AppToNearlyEveryone,
    /// A rule that reaches every user.
    #[serde(rename = "RULE-MATCHES-EVERYONE")]
    RuleMatchesEveryone,
    /// More full admins than the threshold.
    #[serde(rename = "TOO-MANY-FULL-ADMINS")]
    TooManyFullAdmins,
    /// The super admin is the only admin.
    #[serde(rename = "SUPER-ADMIN-NO-DELEGATION")]
    SuperAdminNoDelegation,
    /// An SSO app's users are not held to SSO.
    #[serde(rename = "SSO-APP-NOT-ENFORCED")]
    SsoAppNotEnforced,
    /// An admin may sign in through a social or OIDC provider.
    #[serde(rename = "ADMIN-FEDERATED-SIGNIN")]
    AdminFederatedSignin,
    /// An admin's password may be shorter than 12 characters.
    #[serde(rename = "ADMIN-PASSWORD-SHORT")]
    AdminPasswordShort,
    /// An admin may reuse old passwords.
    #[serde(rename = "ADMIN-PASSWORD-NO-HISTORY")]
    AdminPasswordNoHistory,
    /// A deactivated or closed user still holds admin rights.
    #[serde(rename = "ORPHANED-ADMIN")]
    OrphanedAdmin,
    /// A deactivated or closed user still holds hand-made app grants.
    #[serde(rename = "ORPHANED-GRANT")]
    OrphanedGrant,
    /// The files ask for something the backend cannot enforce.
    #[serde(rename = "BACKEND-CANNOT-ENFORCE")]
    BackendCannotEnforce,
}

impl CheckId {
    /// Every check, in the order reports list them.
    pub const ALL: [CheckId; 18] = [
        CheckId::AdminMfaNotRequired,
        CheckId::AdminMfaWeakModes,
        CheckId::AdminTrustedBrowserLong,
        CheckId::AdminBackupCodes,
        CheckId::AdminAnyAddress,
        CheckId::AdminNoRiskTier,
        CheckId::OrgSinglePolicy,
        CheckId::AppToNearlyEveryone,
        CheckId::RuleMatchesEveryone,
        CheckId::TooManyFullAdmins,
        CheckId::SuperAdminNoDelegation,
        CheckId::SsoAppNotEnforced,
        CheckId::AdminFederatedSignin,
        CheckId::AdminPasswordShort,
        CheckId::AdminPasswordNoHistory,
        CheckId::OrphanedAdmin,
        CheckId::OrphanedGrant,
        CheckId::BackendCannotEnforce,
    ];

    /// The stable id (`ADMIN-MFA-NOT-REQUIRED`).
    pub fn as_str(self) -> &'static str {
        self.info().0
    }

    /// The check's severity.
    pub fn severity(self) -> Severity {
        self.info().1
    }

    /// Why the check matters, in one line.
    pub fn rationale(self) -> &'static str {
        self.info().2
    }

    fn info(self) -> (&'static str, Severity, &'static str) {
        use Severity::{High, Low, Medium};
        match self {
            CheckId::AdminMfaNotRequired => (
                "ADMIN-MFA-NOT-REQUIRED",
                High,
                "an admin account controls everyone else's; a phished or guessed password alone must not open it",
            ),
            CheckId::AdminMfaWeakModes => (
                "ADMIN-MFA-WEAK-MODES",
                Medium,
                "SMS codes can be intercepted or SIM-swapped; admins need an app, TOTP or a security key",
            ),
            CheckId::AdminTrustedBrowserLong => (
                "ADMIN-TRUSTED-BROWSER-LONG",
                Medium,
                "a browser trusted for more than 7 days skips the second factor for admins on a stolen laptop",
            ),
            CheckId::AdminBackupCodes => (
                "ADMIN-BACKUP-CODES",
                Low,
                "backup codes are a weaker factor; admins should not keep one that ordinary users do not get",
            ),
            CheckId::AdminAnyAddress => (
                "ADMIN-ANY-ADDRESS",
                Medium,
                "admin sign-in restricted to trusted addresses stops stolen credentials used from elsewhere",
            ),
            CheckId::AdminNoRiskTier => (
                "ADMIN-NO-RISK-TIER",
                Medium,
                "risk-based policies keep admins on stricter rules than everyone else",
            ),
            CheckId::OrgSinglePolicy => (
                "ORG-SINGLE-POLICY",
                Medium,
                "one policy for everyone cannot be strict for admins and sensitive groups without burdening all",
            ),
            CheckId::AppToNearlyEveryone => (
                "APP-TO-NEARLY-EVERYONE",
                Low,
                "giving an app to (nearly) everyone widens its exposure; assign apps to the people who need them",
            ),
            CheckId::RuleMatchesEveryone => (
                "RULE-MATCHES-EVERYONE",
                Low,
                "a rule that reaches every user is a blanket grant; its condition should select someone",
            ),
            CheckId::TooManyFullAdmins => (
                "TOO-MANY-FULL-ADMINS",
                Medium,
                "every full admin is a full takeover when compromised; delegate through narrower custom roles",
            ),
            CheckId::SuperAdminNoDelegation => (
                "SUPER-ADMIN-NO-DELEGATION",
                Medium,
                "with nobody else holding an admin role, daily admin work runs on the super admin's credentials",
            ),
            CheckId::SsoAppNotEnforced => (
                "SSO-APP-NOT-ENFORCED",
                Medium,
                "an SSO app is only as strong as its users' sign-in; enforce SSO for the people who use it",
            ),
            CheckId::AdminFederatedSignin => (
                "ADMIN-FEDERATED-SIGNIN",
                Medium,
                "a personal social or OIDC account outside the organization's control must not open an admin account",
            ),
            CheckId::AdminPasswordShort => (
                "ADMIN-PASSWORD-SHORT",
                Medium,
                "admin passwords of fewer than 12 characters fall to offline guessing",
            ),
            CheckId::AdminPasswordNoHistory => (
                "ADMIN-PASSWORD-NO-HISTORY",
                Low,
                "without a password history an admin can rotate back to a password that leaked",
            ),
            CheckId::OrphanedAdmin => (
                "ORPHANED-ADMIN",
                High,
                "admin rights of a deactivated or closed account come back with it or are used by whoever holds it",
            ),
            CheckId::OrphanedGrant => (
                "ORPHANED-GRANT",
                Medium,
                "hand-made app grants of a departed user are forgotten access that nobody reviews",
            ),
            CheckId::BackendCannotEnforce => (
                "BACKEND-CANNOT-ENFORCE",
                High,
                "a setting the backend cannot hold is not enforced, however strict the files look",
            ),
        }
    }
}

impl std::fmt::Display for CheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for CheckId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        CheckId::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| {
            let hint = crate::diagnostic::did_you_mean(s, CheckId::ALL.map(CheckId::as_str))
                .map(|h| format!(", did you mean {h:?}?"))
                .unwrap_or_default();
            format!("unknown posture check {s:?}{hint}")
        })
    }
}
