//! The watch caches: every resource of one kind, kept as a compact
//! [`Member`] (not the `DynamicObject` the watch delivers), and the
//! reconcile triggers each watch event makes. One [`Cache`] per kind; the
//! watch task is its only writer, reconciles read snapshots of it. Over
//! them, [`Written`]: the statuses the controller wrote that the watch has
//! not delivered yet.
//!
//! Must not: interpret a spec beyond `spec.organization`, or decide what a
//! reconcile does.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};

use kube::api::DynamicObject;
use kube::runtime::watcher;
use tokio::sync::watch;

use super::objects::{Member, OrgKey};
use crate::crd::ObjectStatus;
use crate::model::Kind;

/// The status last written per resource uid, until the watch delivers it:
/// the controller is the only writer of status, and its caches lag behind
/// its own writes. Kept as JSON text (a first apply writes a status for
/// every resource) and dropped as soon as the cache has the write.
#[derive(Default)]
pub struct Written(Mutex<HashMap<String, WrittenStatus>>);

struct WrittenStatus {
    /// The resource version the write made.
    resource_version: Option<Box<str>>,
    status: Box<str>,
}

impl Written {
    /// Records that `status` was written to the resource `uid`, making
    /// `resource_version`.
    fn remember(&self, uid: &str, resource_version: Option<Box<str>>, status: &ObjectStatus) {
        let Ok(text) = serde_json::to_string(status) else {
            return;
        };
        self.lock().insert(
            uid.to_string(),
            WrittenStatus {
                resource_version,
                status: text.into_boxed_str(),
            },
        );
    }

    /// The status to start from: the last one written, else the cached one.
    pub fn status_of(&self, member: &Member) -> ObjectStatus {
        let cached = member.status();
        let mut written = self.lock();
        let Some(mine) = written
            .get(&*member.uid)
            .and_then(|w| serde_json::from_str::<ObjectStatus>(&w.status).ok())
        else {
            return cached;
        };
        if mine == cached {
            // The cache caught up with the write: it alone holds it now.
            written.remove(&*member.uid);
        }
        mine
    }

    /// How many writes the caches do not show yet.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when the caches show every write.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets the write `member` (just delivered by the watch) carries.
    fn delivered(&self, member: &Member) {
        let mut written = self.lock();
        if written
            .get(&*member.uid)
            .is_some_and(|w| w.resource_version.is_some() && w.resource_version == member.resource_version)
        {
            written.remove(&*member.uid);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, WrittenStatus>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Resources of one kind by (namespace, name), the key sharing the
/// member's own strings.
type Objects = HashMap<(Arc<str>, Arc<str>), Arc<Member>>;

#[derive(Default)]
struct State {
    objects: Objects,
    /// Resources of a (re)list in progress; replace `objects` when it ends.
    listing: Option<Objects>,
    /// Namespace and organization names, one copy each for all members.
    names: HashSet<Arc<str>>,
}

impl State {
    /// `member` with its namespace and organization shared with the
    /// members already cached.
    fn interned(&mut self, mut member: Member) -> Member {
        member.namespace = self.intern(&member.namespace);
        member.organization = member.organization.map(|o| self.intern(&o));
        member
    }

    fn intern(&mut self, name: &Arc<str>) -> Arc<str> {
        if let Some(known) = self.names.get(name) {
            return known.clone();
        }
        self.names.insert(name.clone());
        name.clone()
    }
}

/// The watch cache of one kind.
#[derive(Clone)]
pub struct Cache {
    kind: Kind,
    state: Arc<RwLock<State>>,
    /// True once the first list completed.
    ready: watch::Sender<bool>,
    /// The controller's status writes not delivered yet (shared by kinds).
    written: Arc<Written>,
}

impl Cache {
    /// An empty cache of `kind`, not ready until its first list completes,
    /// that tells `written` of each status write it receives.
    pub fn new(kind: Kind, written: Arc<Written>) -> Cache {
        Cache {
            kind,
            state: Arc::default(),
            ready: watch::Sender::new(false),
            written,
        }
    }

    /// Every cached resource.
    pub fn all(&self) -> Vec<Arc<Member>> {
        self.read().objects.values().cloned().collect()
    }

    /// The cached resources of one organization.
    pub fn of(&self, key: &OrgKey) -> Vec<Arc<Member>> {
        self.read()
            .objects
            .values()
            .filter(|m| {
                *m.namespace == *key.namespace && m.organization.as_deref() == Some(key.organization.as_str())
            })
            .cloned()
            .collect()
    }

    /// How many resources are cached.
    pub fn len(&self) -> usize {
        self.read().objects.len()
    }

    /// True when no resource is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits until the first list completed.
    pub async fn wait_until_ready(&self) {
        let mut ready = self.ready.subscribe();
        // The sender lives in `self`, so the wait cannot fail.
        let _ = ready.wait_for(|r| *r).await;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that the controller wrote `status` to `member`'s resource,
    /// making `resource_version` (unless the watch delivered that already).
    pub fn remember_status(&self, member: &Member, resource_version: Option<String>, status: &ObjectStatus) {
        let resource_version = resource_version.map(String::into_boxed_str);
        // The state lock is held across the check and the record, as in
        // `apply`, so a delivery cannot slip in between.
        let state = self.read();
        let cached = state
            .objects
            .get(&key_of(member))
            .or_else(|| state.listing.as_ref().and_then(|l| l.get(&key_of(member))));
        if resource_version.is_some() && cached.is_some_and(|c| c.resource_version == resource_version) {
            return;
        }
        self.written.remember(&member.uid, resource_version, status);
    }

    /// Applies one watch event; returns the organizations it triggers: a
    /// new resource, a new generation, a deletion request, a deletion, or a
    /// move to another organization (both are triggered). A relist triggers
    /// only what changed meanwhile, including resources gone since.
    pub fn apply(&self, event: watcher::Event<DynamicObject>) -> Vec<OrgKey> {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        let mut triggers = Vec::new();
        match event {
            watcher::Event::Init => state.listing = Some(Objects::new()),
            watcher::Event::InitApply(object) => {
                let Some(member) = Member::from_object(self.kind, object) else {
                    return triggers;
                };
                let member = state.interned(member);
                let previous = state.objects.get(&key_of(&member)).cloned();
                changed(previous.as_deref(), &member, &mut triggers);
                self.written.delivered(&member);
                state
                    .listing
                    .get_or_insert_with(Objects::new)
                    .insert(key_of(&member), Arc::new(member));
            }
            watcher::Event::InitDone => {
                let listed = state.listing.take().unwrap_or_default();
                for (key, gone) in &state.objects {
                    if !listed.contains_key(key) {
                        triggers.extend(gone.org_key());
                    }
                }
                state.objects = listed;
                self.ready.send_replace(true);
            }
            watcher::Event::Apply(object) => {
                let Some(member) = Member::from_object(self.kind, object) else {
                    return triggers;
                };
                let member = state.interned(member);
                self.written.delivered(&member);
                let member = Arc::new(member);
                let previous = state.objects.insert(key_of(&member), member.clone());
                changed(previous.as_deref(), &member, &mut triggers);
            }
            watcher::Event::Delete(object) => {
                if let Some(member) = Member::from_object(self.kind, object) {
                    state.objects.remove(&key_of(&member));
                    triggers.extend(member.org_key());
                }
            }
        }
        triggers
    }
}

fn key_of(member: &Member) -> (Arc<str>, Arc<str>) {
    (member.namespace.clone(), member.name.clone())
}

/// Pushes the organizations a change from `before` to `after` triggers.
fn changed(before: Option<&Member>, after: &Member, triggers: &mut Vec<OrgKey>) {
    match before {
        None => triggers.extend(after.org_key()),
        Some(b) if after.triggers_after(b) => {
            if b.organization != after.organization {
                triggers.extend(b.org_key());
            }
            triggers.extend(after.org_key());
        }
        Some(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::controller::objects::api_resource;

    fn user(name: &str, org: &str, generation: i64) -> DynamicObject {
        let mut o = DynamicObject::new(name, &api_resource(Kind::User)).within("identity");
        o.metadata.uid = Some(format!("uid-{name}"));
        o.metadata.generation = Some(generation);
        o.data = json!({ "spec": { "organization": org } });
        o
    }

    fn names(keys: Vec<OrgKey>) -> Vec<String> {
        keys.into_iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn a_list_fills_the_cache_and_triggers_each_organization_once_per_resource() {
        let cache = Cache::new(Kind::User, Arc::default());
        assert!(names(cache.apply(watcher::Event::Init)).is_empty());
        let t = cache.apply(watcher::Event::InitApply(user("ada", "acme", 1)));
        assert_eq!(names(t), ["identity/acme"]);
        // Not visible before the list ends.
        assert!(cache.is_empty());
        assert!(names(cache.apply(watcher::Event::InitDone)).is_empty());
        assert_eq!(cache.len(), 1);
        let key = OrgKey {
            namespace: "identity".into(),
            organization: "acme".into(),
        };
        assert_eq!(cache.of(&key)[0].name(), "ada");
    }

    #[test]
    fn status_writes_do_not_trigger_and_spec_edits_and_moves_do() {
        let cache = Cache::new(Kind::User, Arc::default());
        cache.apply(watcher::Event::Apply(user("ada", "acme", 1)));
        let mut with_status = user("ada", "acme", 1);
        with_status.data["status"] = json!({ "observedGeneration": 1 });
        assert!(cache.apply(watcher::Event::Apply(with_status)).is_empty());
        assert_eq!(cache.all()[0].status().observed_generation, Some(1));
        assert_eq!(
            names(cache.apply(watcher::Event::Apply(user("ada", "acme", 2)))),
            ["identity/acme"]
        );
        assert_eq!(
            names(cache.apply(watcher::Event::Apply(user("ada", "globex", 3)))),
            ["identity/acme", "identity/globex"]
        );
        assert_eq!(
            names(cache.apply(watcher::Event::Delete(user("ada", "globex", 3)))),
            ["identity/globex"]
        );
        assert!(cache.is_empty());
    }

    #[test]
    fn a_relist_triggers_only_what_changed_and_what_is_gone() {
        let cache = Cache::new(Kind::User, Arc::default());
        cache.apply(watcher::Event::Apply(user("ada", "acme", 1)));
        cache.apply(watcher::Event::Apply(user("bob", "globex", 1)));
        cache.apply(watcher::Event::Init);
        assert!(cache
            .apply(watcher::Event::InitApply(user("ada", "acme", 1)))
            .is_empty());
        // bob went while the watch was down.
        assert_eq!(names(cache.apply(watcher::Event::InitDone)), ["identity/globex"]);
        assert_eq!(cache.len(), 1);
    }

    fn at(mut o: DynamicObject, resource_version: &str) -> DynamicObject {
        o.metadata.resource_version = Some(resource_version.into());
        o
    }

    fn observed(generation: i64) -> ObjectStatus {
        ObjectStatus {
            observed_generation: Some(generation),
            ..ObjectStatus::default()
        }
    }

    /// A cache holding ada at resource version 1, its written-status
    /// record, and ada as cached.
    fn ada_cached() -> (Arc<Written>, Cache, Arc<Member>) {
        let written = Arc::new(Written::default());
        let cache = Cache::new(Kind::User, written.clone());
        cache.apply(watcher::Event::Apply(at(user("ada", "acme", 1), "1")));
        let ada = cache.all()[0].clone();
        (written, cache, ada)
    }

    #[test]
    fn a_status_write_is_kept_until_the_watch_delivers_it() {
        let (written, cache, before) = ada_cached();
        cache.remember_status(&before, Some("2".into()), &observed(1));
        assert_eq!(written.len(), 1);
        // The cache lags: the write is what a reconcile starts from.
        assert_eq!(written.status_of(&before), observed(1));
        assert_eq!(written.len(), 1);
        // Another change than the write leaves it recorded.
        cache.apply(watcher::Event::Apply(at(user("ada", "acme", 1), "3")));
        assert_eq!(written.len(), 1);
        let mut delivered = at(user("ada", "acme", 1), "2");
        delivered.data["status"] = json!({ "observedGeneration": 1 });
        cache.apply(watcher::Event::Apply(delivered));
        assert!(written.is_empty());
        assert_eq!(written.status_of(&cache.all()[0]), observed(1));
    }

    #[test]
    fn a_status_write_the_watch_delivered_first_is_not_recorded() {
        let (written, cache, before) = ada_cached();
        cache.apply(watcher::Event::Apply(at(user("ada", "acme", 1), "2")));
        cache.remember_status(&before, Some("2".into()), &observed(1));
        assert!(written.is_empty());
    }

    #[test]
    fn members_share_one_copy_of_their_namespace_and_organization() {
        let cache = Cache::new(Kind::User, Arc::default());
        cache.apply(watcher::Event::Apply(user("ada", "acme", 1)));
        cache.apply(watcher::Event::Init);
        cache.apply(watcher::Event::InitApply(user("bob", "acme", 1)));
        cache.apply(watcher::Event::InitApply(user("ada", "acme", 1)));
        cache.apply(watcher::Event::InitDone);
        let all = cache.all();
        assert_eq!(all.len(), 2);
        assert!(Arc::ptr_eq(&all[0].namespace, &all[1].namespace));
        let (a, b) = (all[0].organization.as_ref(), all[1].organization.as_ref());
        assert!(a.zip(b).is_some_and(|(a, b)| Arc::ptr_eq(a, b)));
    }
}
