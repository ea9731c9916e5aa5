//! What the checks share about one organization, gathered in one pass over
//! its users: each user's status, admin mask and effective policy, how many
//! ordinary users each policy has, and the objects by kind.

use std::collections::BTreeMap;

use super::{Input, Settings};
use crate::access::{full_admin_mask, AdminMask, EffectiveAccess};
use crate::backend::LiveGrants;
use crate::model::{
    ApplicationSpec, GroupSpec, IdentityProviderSpec, Kind, Name, OrganizationSpec, RoleBindingSpec,
    SecurityPolicySpec, Spec, UserStatus,
};

/// One user holding admin rights.
#[derive(Debug, Clone)]
pub(super) struct Admin<'m> {
    /// The user.
    pub name: &'m Name,
    /// The user's status.
    pub status: UserStatus,
    /// The organization's super admin.
    pub super_admin: bool,
    /// Every admin permission (the built-in `admin` role or the super admin).
    pub full: bool,
    /// The effective policy's name.
    pub policy: Option<&'m Name>,
}

/// An organization's facts for the checks.
pub(super) struct Facts<'a, 'm> {
    pub access: &'a EffectiveAccess<'m>,
    pub settings: &'a Settings,
    pub grants: Option<&'a LiveGrants>,
    pub organization: Option<(&'a Name, &'a OrganizationSpec)>,
    pub policies: BTreeMap<&'a Name, &'a SecurityPolicySpec>,
    /// The default policy's name.
    pub default_policy: Option<&'a Name>,
    pub apps: BTreeMap<&'a Name, &'a ApplicationSpec>,
    pub groups: BTreeMap<&'a Name, &'a GroupSpec>,
    pub bindings: BTreeMap<&'a Name, &'a RoleBindingSpec>,
    pub providers: BTreeMap<&'a Name, &'a IdentityProviderSpec>,
    /// Users holding admin rights (any status but closed, which holds none), by id.
    pub admins: Vec<Admin<'m>>,
    /// Per effective policy (`None`: no policy): active users without admin rights.
    pub ordinary: BTreeMap<Option<&'m Name>, usize>,
    /// Users that are not closed (the ones rules and policies apply to).
    pub evaluated: usize,
}

impl<'a, 'm> Facts<'a, 'm> {
    pub fn new(input: &Input<'a, 'm>) -> Self {
        let access = input.access;
        let mut f = Facts {
            access,
            settings: input.settings,
            grants: input.grants,
            organization: None,
            policies: BTreeMap::new(),
            default_policy: None,
            apps: BTreeMap::new(),
            groups: BTreeMap::new(),
            bindings: BTreeMap::new(),
            providers: BTreeMap::new(),
            admins: Vec::new(),
            ordinary: BTreeMap::new(),
            evaluated: 0,
        };
        for (_, name, spec) in input.objects {
            match spec {
                Spec::Organization(o) => {
                    // Several Organization objects: the access engine uses the first by name.
                    if f.organization.is_none_or(|(n, _)| *name < n) {
                        f.organization = Some((name, o));
                    }
                }
                Spec::SecurityPolicy(p) => {
                    if p.default.get() == Some(&true) && f.default_policy.is_none_or(|d| *name < d) {
                        f.default_policy = Some(name);
                    }
                    f.policies.insert(name, p);
                }
                Spec::Application(a) => {
                    f.apps.insert(name, a);
                }
                Spec::Group(g) => {
                    f.groups.insert(name, g);
                }
                Spec::RoleBinding(b) => {
                    f.bindings.insert(name, b);
                }
                Spec::IdentityProvider(p) => {
                    f.providers.insert(name, p);
                }
                Spec::User(_) | Spec::Role(_) | Spec::AppAssignment(_) => {}
            }
        }
        let model = access.model();
        let full = full_admin_mask();
        for (id, user) in model.users.iter().enumerate() {
            let id = id as u32;
            let status = user.status();
            if status == UserStatus::Closed {
                continue;
            }
            f.evaluated += 1;
            let (super_admin, mask): (bool, AdminMask) = access.admin_mask_at(id);
            let policy = access.policy_name_at(id);
            if super_admin || mask != 0 {
                f.admins.push(Admin {
                    name: user.name,
                    status,
                    super_admin,
                    full: super_admin || mask == full,
                    policy,
                });
            } else if status == UserStatus::Active {
                *f.ordinary.entry(policy).or_default() += 1;
            }
        }
        f
    }

    /// The spec of a policy by name.
    pub fn policy(&self, name: Option<&Name>) -> Option<&'a SecurityPolicySpec> {
        self.policies.get(name?).copied()
    }

    /// Active admins.
    pub fn active_admins(&self) -> impl Iterator<Item = &Admin<'m>> {
        self.admins.iter().filter(|a| a.status == UserStatus::Active)
    }

    /// The Organization object's name (for organization-wide findings).
    pub fn organization_ref(&self) -> Option<super::ObjectRef> {
        self.organization.map(|(n, _)| super::obj(Kind::Organization, n))
    }
}
