//! Rules about who users are within an organization: no two users share an
//! e-mail address or a username (explicit or derived from the e-mail), and the
//! super admin is an active user. A backend would otherwise merge two
//! accounts, refuse one mid-apply, or leave nobody able to administer.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use super::{DesiredObject, DesiredOrg, Reporter};
use crate::model::{Kind, Name, Spec, UserStatus};

/// Users of `org` whose username was written in the files (the others got
/// theirs from their e-mail when they were normalized).
pub(crate) type ExplicitUsernames = BTreeSet<Name>;

/// One user's claim on an identifier, in the order the files were given.
struct Claim<'a> {
    name: &'a Name,
    obj: &'a DesiredObject,
}

/// Reports each user whose e-mail or username an earlier user already holds,
/// at the field that collides: the e-mail, the explicit username, or (for a
/// username derived from the e-mail) the e-mail it comes from.
pub(crate) fn check_unique_users(r: &mut Reporter, org: &DesiredOrg, explicit: &ExplicitUsernames) {
    let mut users: Vec<Claim> = org
        .of_kind(Kind::User)
        .map(|(name, obj)| Claim { name, obj })
        .collect();
    users.sort_by_key(|c| (c.obj.origin.source, c.obj.origin.index));
    // Keys borrow from the specs: this runs over every user of a large
    // organization, so no copy is made unless a username has capitals.
    let mut emails: BTreeMap<&str, &Claim> = BTreeMap::new();
    // Usernames compare case-insensitively, as sign-in does.
    let mut usernames: BTreeMap<Cow<str>, &Claim> = BTreeMap::new();
    for claim in &users {
        let Spec::User(u) = &claim.obj.spec else { continue };
        if let Some(email) = &u.email {
            match emails.get(email.as_str()) {
                Some(first) => {
                    let at = r.locate(&first.obj.origin, "spec.email");
                    r.at(
                        &claim.obj.origin,
                        "spec.email",
                        format!(
                            "e-mail {:?} is already the e-mail of user {:?} (at {at}); e-mails compare case-insensitively",
                            email.as_str(),
                            first.name.as_str(),
                        ),
                    );
                }
                None => {
                    emails.insert(email.as_str(), claim);
                }
            }
        }
        let Some(username) = u.username.get() else {
            continue;
        };
        let key: Cow<str> = if username.chars().any(char::is_uppercase) {
            Cow::Owned(username.to_lowercase())
        } else {
            Cow::Borrowed(username)
        };
        match usernames.get(&key) {
            Some(first) => {
                let (theirs, field) = if explicit.contains(first.name) {
                    ("", "spec.username")
                } else {
                    (", derived from its e-mail", "spec.email")
                };
                let first_at = r.locate(&first.obj.origin, field);
                if explicit.contains(claim.name) {
                    r.at(
                        &claim.obj.origin,
                        "spec.username",
                        format!(
                            "username {username:?} is already the username of user {:?} (at {first_at}{theirs})",
                            first.name.as_str(),
                        ),
                    );
                } else {
                    r.at(
                        &claim.obj.origin,
                        "spec.email",
                        format!(
                            "this e-mail gives the username {username:?}, already the username of user {:?} (at {first_at}{theirs}); set spec.username",
                            first.name.as_str(),
                        ),
                    );
                }
            }
            None => {
                usernames.insert(key, claim);
            }
        }
    }
}

/// The super admin must be able to sign in: a `closed` or `deactivated`
/// super admin would leave the organization without anyone who can fix it,
/// on a first apply as much as on a later one.
pub(crate) fn check_super_admin_status(r: &mut Reporter, org_obj: &DesiredObject, org: &DesiredOrg) {
    let Spec::Organization(o) = &org_obj.spec else {
        return;
    };
    let Some(admin) = &o.super_admin else { return };
    let Some(user) = org.get(Kind::User, admin.as_str()) else {
        return;
    };
    let Spec::User(u) = &user.spec else { return };
    let status = match u.status.get() {
        Some(UserStatus::Closed) => "closed",
        Some(UserStatus::Deactivated) => "deactivated",
        Some(UserStatus::Active) | None => return,
    };
    let at = r.locate(&user.origin, "spec.status");
    r.at(
        &org_obj.origin,
        "spec.superAdmin",
        format!(
            "super admin {:?} is {status} (at {at}); the super admin must be an active user: reactivate them or name another superAdmin",
            admin.as_str(),
        ),
    );
}
