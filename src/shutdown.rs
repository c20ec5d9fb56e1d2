//! The shutdown signal shared by the accept loops and every session.
//!
//! [`Shutdown::trigger`] is called once (SIGTERM/SIGINT); [`Shutdown::wait`] resolves in every
//! clone from then on and is cancel-safe, so it can be raced against reads. Sessions waiting for a
//! command say `* BYE` at once; a command already running or partly received may finish until
//! [`Shutdown::deadline`].

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use smol::channel::{Receiver, Sender};

/// A cheap-to-clone handle; see the module docs.
#[derive(Clone)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

struct Inner {
    /// Never carries a message: closing it wakes every waiter.
    tx: Sender<()>,
    rx: Receiver<()>,
    deadline: OnceLock<Instant>,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        let (tx, rx) = smol::channel::bounded(1);
        Shutdown {
            inner: Arc::new(Inner {
                tx,
                rx,
                deadline: OnceLock::new(),
            }),
        }
    }

    /// Starts the shutdown; in-flight work has `grace` to finish. Later calls change nothing.
    pub fn trigger(&self, grace: Duration) {
        let _ = self.inner.deadline.set(Instant::now() + grace);
        self.inner.tx.close();
    }

    pub fn is_triggered(&self) -> bool {
        self.inner.deadline.get().is_some()
    }

    /// When in-flight work must be done by, once triggered.
    pub fn deadline(&self) -> Option<Instant> {
        self.inner.deadline.get().copied()
    }

    /// Resolves once the shutdown is triggered. Cancel-safe.
    pub async fn wait(&self) {
        // The channel never holds a message, so this returns only when it is closed.
        let _ = self.inner.rx.recv().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_every_clone() {
        let s = Shutdown::new();
        let c = s.clone();
        assert!(!c.is_triggered());
        let waiter = std::thread::spawn(move || smol::block_on(c.wait()));
        s.trigger(Duration::from_secs(1));
        waiter.join().unwrap();
        assert!(s.is_triggered());
        assert!(s.deadline().unwrap() > Instant::now());
        smol::block_on(s.wait());
    }
}
