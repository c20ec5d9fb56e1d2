//! The change hub: the writer publishes "mailbox M changed" after every commit; sessions that
//! watch M wake up and pull the difference from storage (`Store::changes_since`).
//!
//! Wake-ups are capacity-1 channels, so any number of commits between two looks coalesce into
//! one wake-up and nothing queues without bound. The events carry no data: the change log in
//! storage is the single source of truth, so a slow session can never miss or misorder a change.
//!
//! The hub also decides which session sees a message as `\Recent` (RFC 3501 §2.3.2: exactly one).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use smol::channel::{Receiver, Sender, TrySendError};

/// Registry of watchers per mailbox.
#[derive(Default)]
pub struct Hub {
    watchers: Mutex<HashMap<u64, Vec<(u64, Sender<()>)>>>,
    /// Per mailbox: the lowest uid not yet claimed as \Recent by any session.
    recent: Mutex<HashMap<u64, u32>>,
    next_id: Mutex<u64>,
}

/// A session's registration for one mailbox; unregisters on drop.
pub struct Subscription {
    hub: Arc<Hub>,
    mailbox: u64,
    id: u64,
    wake: Receiver<()>,
}

impl Subscription {
    /// Waits for the next wake-up.
    pub async fn changed(&self) {
        let _ = self.wake.recv().await;
    }

    /// Consumes a pending wake-up without waiting.
    pub fn take_pending(&self) -> bool {
        self.wake.try_recv().is_ok()
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut w = self
            .hub
            .watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(list) = w.get_mut(&self.mailbox) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                w.remove(&self.mailbox);
            }
        }
    }
}

impl Hub {
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub::default())
    }

    /// Starts watching `mailbox`.
    pub fn subscribe(self: &Arc<Self>, mailbox: u64) -> Subscription {
        let (tx, rx) = smol::channel::bounded(1);
        let id = {
            let mut n = self.next_id.lock().unwrap_or_else(PoisonError::into_inner);
            *n += 1;
            *n
        };
        self.watchers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(mailbox)
            .or_default()
            .push((id, tx));
        Subscription {
            hub: self.clone(),
            mailbox,
            id,
            wake: rx,
        }
    }

    /// Wakes every watcher of `mailbox`. Called by the writer after commit.
    pub fn publish(&self, mailbox: u64) {
        let w = self.watchers.lock().unwrap_or_else(PoisonError::into_inner);
        for (_, tx) in w.get(&mailbox).into_iter().flatten() {
            // Full means a wake-up is already pending: coalesced.
            if let Err(TrySendError::Closed(())) = tx.try_send(()) {
                log::debug!("watcher of mailbox {mailbox} gone");
            }
        }
    }

    /// At SELECT: messages with uid >= the returned value are \Recent for this session.
    /// A read-write session claims everything below `uidnext`; EXAMINE claims nothing.
    pub fn recent_from(&self, mailbox: u64, persisted: u32, uidnext: u32, claim: bool) -> u32 {
        let mut r = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = r.entry(mailbox).or_insert(persisted);
        *slot = (*slot).max(persisted);
        let from = *slot;
        if claim {
            *slot = (*slot).max(uidnext);
        }
        from
    }

    /// For a message that arrived while selected: true if this session is the first to see it.
    pub fn claim(&self, mailbox: u64, uid: u32) -> bool {
        let mut r = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = r.entry(mailbox).or_insert(0);
        if *slot <= uid {
            *slot = uid + 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakeups_coalesce_and_unsubscribe() {
        let hub = Hub::new();
        let a = hub.subscribe(1);
        let b = hub.subscribe(2);
        hub.publish(1);
        hub.publish(1);
        assert!(a.take_pending());
        assert!(!a.take_pending());
        assert!(!b.take_pending());
        drop(a);
        drop(b);
        assert!(hub.watchers.lock().unwrap().is_empty());
    }

    #[test]
    fn recent_is_claimed_once() {
        let hub = Hub::new();
        assert_eq!(hub.recent_from(1, 3, 10, false), 3);
        assert_eq!(hub.recent_from(1, 3, 10, true), 3);
        assert_eq!(hub.recent_from(1, 3, 10, true), 10);
        assert!(hub.claim(1, 10));
        assert!(!hub.claim(1, 10));
    }
}
