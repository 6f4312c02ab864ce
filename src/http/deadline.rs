//! One deadline timer per connection (issue 7), for the phase deadlines of `conn` (RFC 8555
//! §10.3, security catalog #8).
//!
//! A fresh `async_io::Timer` per read or write registers with the reactor whenever the I/O has
//! to wait, and deregisters when it is dropped: on a keep-alive connection that is a timer
//! insertion and removal (and a reactor wake-up) per request. Here the connection keeps one
//! timer; moving the deadline later only records the new instant, and the timer is re-armed
//! when it fires early (at most once per timeout period) or when the deadline moves earlier.

use std::future::Future;
use std::io;
use std::time::Instant;

use async_io::Timer;
use futures_lite::FutureExt;

/// The deadline in force for a connection's current phase.
///
/// Invariant: whenever the timer is armed (`armed` is Some), it fires no later than `at`; after
/// it fires, [`Deadline::run`] ends with `TimedOut` only once `at` has really passed.
pub(crate) struct Deadline {
    timer: Timer,
    /// When the timer will fire; None once it has fired and was not re-armed.
    armed: Option<Instant>,
    at: Instant,
}

impl Deadline {
    pub(crate) fn new(at: Instant) -> Deadline {
        Deadline {
            timer: Timer::at(at),
            armed: Some(at),
            at,
        }
    }

    /// Makes `at` the deadline; touches the timer only if it would otherwise fire too late.
    pub(crate) fn set(&mut self, at: Instant) {
        self.at = at;
        if self.armed.is_none_or(|armed| at < armed) {
            self.timer.set_at(at);
            self.armed = Some(at);
        }
    }

    /// Runs `fut` until the deadline; then gives up with `ErrorKind::TimedOut`.
    pub(crate) async fn run<T, F>(&mut self, fut: F) -> io::Result<T>
    where
        F: Future<Output = io::Result<T>>,
    {
        let Deadline { timer, armed, at } = self;
        fut.or(async move {
            loop {
                (&mut *timer).await;
                if Instant::now() >= *at {
                    *armed = None;
                    return Err(io::ErrorKind::TimedOut.into());
                }
                // It fired for a deadline that has since moved later: wait for the current one.
                timer.set_at(*at);
                *armed = Some(*at);
            }
        })
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)] // tests may unwrap and panic
mod tests {
    use std::time::Duration;

    use super::*;

    fn pending_ok() -> impl Future<Output = io::Result<()>> {
        futures_lite::future::pending()
    }

    // Catalog #8: a deadline moved later is honoured (the early firing is not a timeout), and
    // one moved earlier fires on time.
    #[test]
    fn catalog_8_deadline_moves_later_and_earlier() {
        smol::block_on(async {
            let start = Instant::now();
            let mut d = Deadline::new(start + Duration::from_millis(20));
            d.set(start + Duration::from_millis(120));
            let err = d.run(pending_ok()).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::TimedOut);
            assert!(start.elapsed() >= Duration::from_millis(120));

            // After a timeout the deadline can be set again, earlier or later.
            let start = Instant::now();
            d.set(start + Duration::from_millis(300));
            d.set(start + Duration::from_millis(30));
            let err = d.run(pending_ok()).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::TimedOut);
            let took = start.elapsed();
            assert!(took >= Duration::from_millis(30), "{took:?}");
            assert!(took < Duration::from_millis(300), "{took:?}");
        });
    }

    // A future that finishes first is returned as is.
    #[test]
    fn ready_future_wins() {
        smol::block_on(async {
            let mut d = Deadline::new(Instant::now() + Duration::from_secs(5));
            assert_eq!(d.run(async { Ok(7) }).await.unwrap(), 7);
            d.set(Instant::now() + Duration::from_secs(10));
            assert_eq!(d.run(async { Ok(8) }).await.unwrap(), 8);
        });
    }
}
