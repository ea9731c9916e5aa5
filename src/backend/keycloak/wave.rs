//! Independent requests sent a few at a time: the snapshot's per-group and
//! per-role reads, and runs of writes. Keycloak answers each admin request
//! in a few milliseconds of server work, so one request at a time leaves
//! most of the server idle (a 1,000-user apply took 3× Keycloak's own
//! `partialImport` of the same users). Tasks start in index order; after an
//! answer the caller calls fatal no new task starts, so the tasks that never
//! ran are a suffix and are reported as such.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

/// Writes in flight at once: enough to keep a small server's cores busy
/// without queueing behind its worker pool.
pub const WRITERS: usize = 4;

/// Runs `task` over `items` on up to `workers` threads. Each answer is
/// stored at its item's index; `done` is called on this thread with the
/// count of answers so far. An answer for which `fatal` is true stops new
/// tasks from starting: those items (a suffix) answer `None`.
pub fn run<T, R>(
    items: &[T],
    workers: usize,
    task: impl Fn(&T) -> R + Sync,
    fatal: impl Fn(&R) -> bool,
    mut done: impl FnMut(usize),
) -> Vec<Option<R>>
where
    T: Sync,
    R: Send,
{
    let mut answers: Vec<Option<R>> = items.iter().map(|_| None).collect();
    if items.is_empty() {
        return answers;
    }
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, R)>();
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, items.len()) {
            let tx = tx.clone();
            let (next, stop, task) = (&next, &stop, &task);
            scope.spawn(move || loop {
                if stop.load(Ordering::Acquire) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::AcqRel);
                let Some(item) = items.get(i) else {
                    return;
                };
                if tx.send((i, task(item))).is_err() {
                    return;
                }
            });
        }
        drop(tx);
        let mut count = 0;
        for (i, answer) in rx {
            if fatal(&answer) {
                stop.store(true, Ordering::Release);
            }
            answers[i] = Some(answer);
            count += 1;
            done(count);
        }
    });
    answers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_item_answers_at_its_index() {
        let items: Vec<u32> = (0..100).collect();
        let mut seen = 0;
        let answers = run(&items, 4, |x| x * 2, |_| false, |n| seen = n);
        assert_eq!(seen, 100);
        let answers: Vec<u32> = answers.into_iter().map(Option::unwrap).collect();
        assert_eq!(answers, (0..100).map(|x| x * 2).collect::<Vec<_>>());
    }

    #[test]
    fn after_a_fatal_answer_only_a_suffix_is_left_unstarted() {
        let items: Vec<u32> = (0..1000).collect();
        let answers = run(
            &items,
            4,
            |x| {
                std::thread::sleep(std::time::Duration::from_micros(50));
                *x
            },
            |x| *x == 10,
            |_| {},
        );
        let first_none = answers
            .iter()
            .position(Option::is_none)
            .expect("some never started");
        assert!(first_none > 10, "{first_none}");
        assert!(answers[first_none..].iter().all(Option::is_none));
        assert!(answers[..first_none].iter().all(Option::is_some));
    }
}
