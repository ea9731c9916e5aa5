//! Leader election through a `coordination.k8s.io/v1` Lease, so several
//! replicas are safe: only the holder reconciles. A replica takes the Lease
//! when it is free or expired (no renewal for `duration`), renews it every
//! `renew_every`, and stops when it can no longer prove it holds it. Every
//! write carries the Lease's `resourceVersion`, so two replicas racing for
//! it cannot both win.
//!
//! Caveat (as with every Lease-based election): clocks of the replicas must
//! roughly agree; a holder that stalls longer than `duration` may overlap
//! briefly with its successor, which the backends' revision checks bound.
//!
//! Must not: reconcile anything.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

use super::ControllerError;

/// Where the Lease lives and how it is kept.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// The Lease's name (`--lease-name`).
    pub name: String,
    /// Its namespace (`--lease-namespace`, default `POD_NAMESPACE`).
    pub namespace: String,
    /// How long a Lease not renewed stays held.
    pub duration: Duration,
    /// How often the holder renews it.
    pub renew_every: Duration,
    /// How often a replica standing by tries to take it.
    pub retry_every: Duration,
}

impl LeaseSettings {
    /// The usual timings (15 s lease, renewed every 5 s, tried every 2 s).
    pub fn new(name: impl Into<String>, namespace: impl Into<String>) -> Self {
        LeaseSettings {
            name: name.into(),
            namespace: namespace.into(),
            duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
            retry_every: Duration::from_secs(2),
        }
    }
}

/// A Lease this replica holds.
pub struct Held {
    api: Api<Lease>,
    settings: LeaseSettings,
    identity: String,
}

fn now() -> MicroTime {
    MicroTime(Timestamp::now())
}

fn duration_seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs().max(1)).unwrap_or(i32::MAX)
}

/// True when `lease` is held by someone and was renewed within its duration.
fn live_holder(lease: &Lease) -> Option<&str> {
    let spec = lease.spec.as_ref()?;
    let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty())?;
    let renewed = spec.renew_time.as_ref()?.0;
    let seconds = i64::from(spec.lease_duration_seconds.unwrap_or(15));
    let expires = renewed
        .checked_add(k8s_openapi::jiff::SignedDuration::from_secs(seconds))
        .ok()?;
    (expires > Timestamp::now()).then_some(holder)
}

/// Tries once to take or renew the Lease; `Ok(false)` when another replica holds it.
async fn try_acquire(api: &Api<Lease>, s: &LeaseSettings, identity: &str) -> Result<bool, kube::Error> {
    let spec = |transitions: i32, acquired: Option<MicroTime>| LeaseSpec {
        holder_identity: Some(identity.to_string()),
        lease_duration_seconds: Some(duration_seconds(s.duration)),
        acquire_time: acquired.or_else(|| Some(now())),
        renew_time: Some(now()),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    };
    match api.get_opt(&s.name).await? {
        None => {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(s.name.clone()),
                    namespace: Some(s.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(spec(0, None)),
            };
            match api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
        Some(mut lease) => {
            let current = lease.spec.clone().unwrap_or_default();
            let mine = current.holder_identity.as_deref() == Some(identity);
            if !mine && live_holder(&lease).is_some() {
                return Ok(false);
            }
            let transitions = current.lease_transitions.unwrap_or(0);
            lease.spec = Some(if mine {
                spec(transitions, current.acquire_time.clone())
            } else {
                spec(transitions.saturating_add(1), None)
            });
            // The resourceVersion read above makes this a compare-and-swap.
            match api.replace(&s.name, &PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                Err(e) => Err(e),
            }
        }
    }
}

/// Waits until this replica holds the Lease.
pub async fn acquire(client: &Client, s: &LeaseSettings, identity: &str) -> Result<Held, ControllerError> {
    let api: Api<Lease> = Api::namespaced(client.clone(), &s.namespace);
    loop {
        match try_acquire(&api, s, identity).await {
            Ok(true) => {
                tracing::info!(lease = %s.name, namespace = %s.namespace, "became leader");
                return Ok(Held {
                    api,
                    settings: s.clone(),
                    identity: identity.to_string(),
                });
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "could not read or take the leader Lease"),
        }
        tokio::time::sleep(s.retry_every).await;
    }
}

/// Gives the Lease up (on shutdown), so a standby replica takes over at
/// once instead of after the Lease expires.
pub async fn release(held: &Held) {
    let result = async {
        let Some(mut lease) = held.api.get_opt(&held.settings.name).await? else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(held.identity.as_str()) {
            return Ok(());
        }
        // As client-go does: no holder, and an expiry that has passed.
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now());
        held.api
            .replace(&held.settings.name, &PostParams::default(), &lease)
            .await
            .map(|_| ())
    }
    .await;
    match result {
        Ok(()) => tracing::info!(lease = %held.settings.name, "released the leader Lease"),
        Err(e) => tracing::warn!(error = %e, "could not release the leader Lease; it expires on its own"),
    }
}

/// Renews the Lease until that fails for longer than its duration or
/// another replica holds it; returns why leadership ended.
pub async fn keep(held: &Held) -> ControllerError {
    let mut last_renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(held.settings.renew_every).await;
        match try_acquire(&held.api, &held.settings, &held.identity).await {
            Ok(true) => last_renewed = tokio::time::Instant::now(),
            Ok(false) => return ControllerError::LostLease(held.settings.name.clone()),
            Err(e) => {
                tracing::warn!(error = %e, "could not renew the leader Lease");
                if last_renewed.elapsed() >= held.settings.duration {
                    return ControllerError::LostLease(held.settings.name.clone());
                }
            }
        }
    }
}
