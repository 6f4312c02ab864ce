//! The retry state of running validations (RFC 8555 §8.2).
//!
//! RFC 8555 §8.2: while the server retries a failed validation the challenge stays
//! `processing`, "the server MUST provide information about its retry state to the client via
//! the "error" field in the challenge and the Retry-After HTTP header field", and "clients can
//! explicitly request a retry by re-sending their response to a challenge"; "servers SHOULD
//! retry a request immediately on receiving such a POST request".
//!
//! [`RetryBoard`] is the in-memory part of that: which challenges have a validation task, when
//! each one's next attempt is due (for `Retry-After`), and a way to wake a waiting task so it
//! attempts at once. The task still counts every attempt against its bound, so a client that
//! re-POSTs in a loop only brings the final `invalid` closer (the rate limit §8.2 asks for).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_io::Timer;
use futures_lite::FutureExt;

/// The longest a challenge can stay `processing` before it is settled: `attempts` attempts of
/// at most `attempt_timeout` each (every validator races its whole attempt against it), with
/// `retry_delay` between two of them (a client re-POST only shortens a pause). Store commits
/// come on top (milliseconds).
pub(crate) fn retry_window(
    attempts: u32,
    attempt_timeout: Duration,
    retry_delay: Duration,
) -> Duration {
    let attempts = attempts.max(1);
    attempt_timeout
        .saturating_mul(attempts)
        .saturating_add(retry_delay.saturating_mul(attempts - 1))
}

/// One running validation.
struct Entry {
    wake: async_channel::Sender<()>,
    next_attempt: Option<Instant>,
}

/// Running validations by challenge id.
///
/// Invariant: at most one entry (one validation task) per challenge id; an entry exists from
/// [`RetryBoard::start`] until [`RetryBoard::finish`].
#[derive(Default)]
pub(crate) struct RetryBoard {
    running: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for RetryBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryBoard").finish_non_exhaustive()
    }
}

/// Held by the validation task of one challenge; waits between attempts.
#[derive(Debug)]
pub(crate) struct Ticket {
    id: String,
    woken: async_channel::Receiver<()>,
}

impl RetryBoard {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts and
        // removes), so a poisoned lock is used as is.
        self.running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers the validation task of `challenge_id`; `None` if one is already running.
    pub(crate) fn start(&self, challenge_id: &str) -> Option<Ticket> {
        let mut map = self.lock();
        if map.contains_key(challenge_id) {
            return None;
        }
        let (wake, woken) = async_channel::bounded(1);
        map.insert(
            challenge_id.to_owned(),
            Entry {
                wake,
                next_attempt: None,
            },
        );
        Some(Ticket {
            id: challenge_id.to_owned(),
            woken,
        })
    }

    /// Sets the next attempt of `ticket`'s challenge to `delay` from now (what `Retry-After`
    /// reports until [`RetryBoard::wait`] ends).
    pub(crate) fn schedule(&self, ticket: &Ticket, delay: Duration) {
        if let Some(e) = self.lock().get_mut(&ticket.id) {
            e.next_attempt = Some(Instant::now() + delay);
        }
    }

    /// Waits until the scheduled next attempt ([`RetryBoard::schedule`]; now if none), or less
    /// if the client asks for a retry ([`RetryBoard::retry_now`]). Returns true when woken early.
    pub(crate) async fn wait(&self, ticket: &Ticket) -> bool {
        let delay = self
            .lock()
            .get(&ticket.id)
            .and_then(|e| e.next_attempt)
            .map_or(Duration::ZERO, |at| {
                at.saturating_duration_since(Instant::now())
            });
        // A wake-up sent during the attempt that just ended is consumed here and counts.
        let woken = async {
            let _ = ticket.woken.recv().await;
            true
        };
        let slept = async {
            Timer::after(delay).await;
            false
        };
        let early = woken.or(slept).await;
        if let Some(e) = self.lock().get_mut(&ticket.id) {
            e.next_attempt = None;
        }
        early
    }

    /// RFC 8555 §8.2: a client re-POST; wakes the waiting task. False if no task runs.
    pub(crate) fn retry_now(&self, challenge_id: &str) -> bool {
        match self.lock().get(challenge_id) {
            Some(e) => {
                // A full channel means a wake-up is already pending: nothing more to do.
                let _ = e.wake.try_send(());
                true
            }
            None => false,
        }
    }

    /// Seconds until the next attempt of `challenge_id` (at least 1), if one is scheduled.
    pub(crate) fn retry_after(&self, challenge_id: &str) -> Option<u64> {
        let next = self.lock().get(challenge_id)?.next_attempt?;
        let left = next.saturating_duration_since(Instant::now());
        Some((left.as_secs() + u64::from(left.subsec_nanos() > 0)).max(1))
    }

    /// The task of `ticket` ended (its outcome is recorded).
    pub(crate) fn finish(&self, ticket: Ticket) {
        self.lock().remove(&ticket.id);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // One task per challenge; a re-POST wakes it before the delay ends (RFC 8555 §8.2).
    #[test]
    fn s8_2_retry_now_wakes_waiting_task() {
        let board = RetryBoard::default();
        let ticket = board.start("c1").unwrap();
        assert!(board.start("c1").is_none(), "two tasks for one challenge");
        assert!(!board.retry_now("other"));
        let started = Instant::now();
        let early = smol::block_on(async {
            // Scheduled before the wait starts: Retry-After is right from the first moment.
            board.schedule(&ticket, Duration::from_secs(30));
            assert!(
                board
                    .retry_after("c1")
                    .is_some_and(|s| (29..=31).contains(&s))
            );
            let waiter = board.wait(&ticket);
            let poke = async {
                Timer::after(Duration::from_millis(50)).await;
                assert!(
                    board
                        .retry_after("c1")
                        .is_some_and(|s| (29..=31).contains(&s))
                );
                assert!(board.retry_now("c1"));
                // Never completes: the waiter finishes first.
                futures_lite::future::pending::<bool>().await
            };
            waiter.or(poke).await
        });
        assert!(early);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(board.retry_after("c1"), None);
        board.finish(ticket);
        assert!(board.start("c1").is_some());
    }

    // The schedule arithmetic (pure): n attempts, n − 1 pauses, at least one attempt.
    #[test]
    fn s8_2_retry_window_arithmetic() {
        let s = Duration::from_secs;
        assert_eq!(retry_window(3, s(10), s(5)), s(40));
        assert_eq!(retry_window(3, s(8), s(3)), s(30));
        assert_eq!(retry_window(1, s(8), s(3)), s(8));
        assert_eq!(retry_window(0, s(8), s(3)), s(8));
        assert_eq!(retry_window(u32::MAX, Duration::MAX, s(1)), Duration::MAX);
    }

    // Without a re-POST the task sleeps the whole delay.
    #[test]
    fn s8_2_wait_sleeps_full_delay() {
        let board = RetryBoard::default();
        let ticket = board.start("c").unwrap();
        let started = Instant::now();
        board.schedule(&ticket, Duration::from_millis(200));
        assert!(!smol::block_on(board.wait(&ticket)));
        assert!(started.elapsed() >= Duration::from_millis(200));
    }
}
