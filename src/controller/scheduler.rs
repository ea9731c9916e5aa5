//! When each organization is reconciled: triggers are debounced, one
//! organization is never reconciled twice at once (a trigger during a
//! reconcile runs it once more afterwards), a finished reconcile names its
//! next run (the resync period, or a backoff after an error), and at most
//! `concurrency` organizations run at the same time.
//!
//! Must not: know what a reconcile does; a panicking reconcile is caught and
//! retried after `retry_after_panic`.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::objects::OrgKey;

/// How the scheduler paces reconciles.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    /// Quiet time after a trigger before the reconcile starts.
    pub debounce: Duration,
    /// Organizations reconciled at the same time.
    pub concurrency: usize,
    /// Delay before retrying a reconcile that panicked.
    pub retry_after_panic: Duration,
}

#[derive(Default)]
struct Entry {
    due: Option<Instant>,
    running: bool,
    dirty: bool,
}

/// Runs reconciles of the organizations `triggers` names until the channel
/// closes and nothing is running. `reconcile` returns when to run the
/// organization again (`None`: only on the next trigger).
pub async fn run<F, Fut>(mut triggers: mpsc::UnboundedReceiver<OrgKey>, pacing: Pacing, reconcile: F)
where
    F: Fn(OrgKey) -> Fut,
    Fut: Future<Output = Option<Duration>> + Send + 'static,
{
    let mut entries: HashMap<OrgKey, Entry> = HashMap::new();
    let mut running: JoinSet<(OrgKey, Option<Option<Duration>>)> = JoinSet::new();
    let mut open = true;
    loop {
        let now = Instant::now();
        // Start what is due, earliest first, while slots are free.
        while running.len() < pacing.concurrency.max(1) {
            let next = entries
                .iter()
                .filter(|(_, e)| !e.running && e.due.is_some_and(|d| d <= now))
                .min_by_key(|(_, e)| e.due)
                .map(|(k, _)| k.clone());
            let Some(key) = next else { break };
            if let Some(e) = entries.get_mut(&key) {
                e.running = true;
                e.due = None;
            }
            let fut = reconcile(key.clone());
            running.spawn(async move {
                let result = AssertUnwindSafe(fut).catch_unwind().await.ok();
                (key, result)
            });
        }
        if !open && running.is_empty() {
            return;
        }
        let next_due = entries
            .values()
            .filter(|e| !e.running)
            .filter_map(|e| e.due)
            .min();
        tokio::select! {
            msg = triggers.recv(), if open => match msg {
                Some(key) => {
                    let e = entries.entry(key).or_default();
                    if e.running {
                        e.dirty = true;
                    } else {
                        let d = Instant::now() + pacing.debounce;
                        e.due = Some(e.due.map_or(d, |x| x.min(d)));
                    }
                }
                None => open = false,
            },
            Some(done) = running.join_next(), if !running.is_empty() => {
                let Ok((key, result)) = done else { continue };
                let now = Instant::now();
                let after = match result {
                    Some(after) => after,
                    None => Some(pacing.retry_after_panic),
                };
                let e = entries.entry(key.clone()).or_default();
                e.running = false;
                let mut due = after.map(|a| now + a);
                if e.dirty {
                    e.dirty = false;
                    let d = now + pacing.debounce;
                    due = Some(due.map_or(d, |x| x.min(d)));
                }
                e.due = due;
                if e.due.is_none() {
                    entries.remove(&key);
                }
            },
            _ = sleep_until(next_due), if next_due.is_some() => {},
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn key(n: &str) -> OrgKey {
        OrgKey {
            namespace: "ns".into(),
            organization: n.into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_triggers_is_one_reconcile_and_never_two_at_once() {
        let (tx, rx) = mpsc::unbounded_channel();
        let runs = Arc::new(AtomicUsize::new(0));
        let active = Arc::new(AtomicUsize::new(0));
        let pacing = Pacing {
            debounce: Duration::from_millis(100),
            concurrency: 4,
            retry_after_panic: Duration::from_secs(1),
        };
        let (r, a) = (runs.clone(), active.clone());
        let task = tokio::spawn(run(rx, pacing, move |_k| {
            let (r, a) = (r.clone(), a.clone());
            async move {
                assert_eq!(
                    a.fetch_add(1, Ordering::SeqCst),
                    0,
                    "two reconciles of one organization at once"
                );
                tokio::time::sleep(Duration::from_millis(500)).await;
                a.fetch_sub(1, Ordering::SeqCst);
                r.fetch_add(1, Ordering::SeqCst);
                None
            }
        }));
        for _ in 0..10 {
            tx.send(key("acme")).ok();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        // A trigger during the reconcile runs it once more afterwards.
        tx.send(key("acme")).ok();
        tx.send(key("acme")).ok();
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        drop(tx);
        task.await.ok();
    }

    #[tokio::test(start_paused = true)]
    async fn a_reconcile_names_its_next_run() {
        let (tx, rx) = mpsc::unbounded_channel();
        let runs = Arc::new(AtomicUsize::new(0));
        let pacing = Pacing {
            debounce: Duration::ZERO,
            concurrency: 1,
            retry_after_panic: Duration::from_secs(1),
        };
        let r = runs.clone();
        let task = tokio::spawn(run(rx, pacing, move |_k| {
            let r = r.clone();
            async move {
                r.fetch_add(1, Ordering::SeqCst);
                Some(Duration::from_secs(60))
            }
        }));
        tx.send(key("acme")).ok();
        tokio::time::sleep(Duration::from_secs(150)).await;
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        task.abort();
    }
}
