//! Per-address and per-user limits: connection slots, session slots, and the failed-login
//! penalty (a delay that grows per source address, then a temporary lockout).
//!
//! All state is in memory behind short `std::sync::Mutex` sections, never held across an
//! `.await`. IPv6 addresses count by /64, the block one subscriber usually gets. The maps are
//! bounded, so an attacker with many addresses cannot grow them without limit.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::config::AUTH_FAIL_DELAY_MAX_FACTOR;

/// Most addresses whose failures are remembered at once.
const MAX_TRACKED: usize = 64 * 1024;

/// The key an address is counted under: itself for IPv4, its /64 for IPv6.
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        },
    }
}

/// True for 127.0.0.0/8, ::1 and their IPv4-mapped forms.
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// At most `max` slots per key; a slot is given back when its [`Slot`] drops.
pub struct Slots<K: Eq + Hash + Clone> {
    max: usize,
    held: Arc<Mutex<HashMap<K, usize>>>,
}

impl<K: Eq + Hash + Clone> Slots<K> {
    pub fn new(max: usize) -> Self {
        Slots {
            max,
            held: Arc::default(),
        }
    }

    /// A slot for `key`, or `None` when it already holds `max`.
    pub fn acquire(&self, key: K) -> Option<Slot<K>> {
        let mut held = lock(&self.held);
        let n = held.entry(key.clone()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Slot {
            key,
            held: self.held.clone(),
        })
    }
}

/// One held slot; see [`Slots`].
pub struct Slot<K: Eq + Hash + Clone> {
    key: K,
    held: Arc<Mutex<HashMap<K, usize>>>,
}

impl<K: Eq + Hash + Clone> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut held = lock(&self.held);
        if let Some(n) = held.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.key);
            }
        }
    }
}

/// Failed logins by source address.
pub struct AuthFailures {
    base_delay: Duration,
    lockout_after: u32,
    lockout: Duration,
    map: Mutex<HashMap<IpAddr, Record>>,
}

struct Record {
    /// Failures since the last lockout (or since the record was created).
    failures: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// What a failure costs the client.
#[derive(Debug, PartialEq, Eq)]
pub struct Penalty {
    /// Wait this long before answering.
    pub delay: Duration,
    /// This failure started a lockout.
    pub locked: bool,
}

impl AuthFailures {
    /// `lockout_after == 0` disables lockout; failures older than `lockout` are forgotten.
    pub fn new(base_delay: Duration, lockout_after: u32, lockout: Duration) -> Self {
        AuthFailures {
            base_delay,
            lockout_after,
            lockout,
            map: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(remaining)` while `ip` is locked out.
    pub fn locked(&self, ip: IpAddr, now: Instant) -> Option<Duration> {
        let map = lock(&self.map);
        let until = map.get(&source_key(ip))?.locked_until?;
        (until > now).then(|| until - now)
    }

    /// Records a failure: the delay doubles with each failure from the address (up to
    /// [`AUTH_FAIL_DELAY_MAX_FACTOR`] times the base), and the `lockout_after`-th one locks it.
    pub fn failed(&self, ip: IpAddr, now: Instant) -> Penalty {
        let mut map = lock(&self.map);
        let key = source_key(ip);
        if map.len() >= MAX_TRACKED && !map.contains_key(&key) {
            let window = self.lockout;
            map.retain(|_, r| !r.expired(now, window));
        }
        if map.len() >= MAX_TRACKED && !map.contains_key(&key) {
            // Too many addresses at once: the base delay still applies.
            return Penalty {
                delay: self.base_delay,
                locked: false,
            };
        }
        let r = map.entry(key).or_insert(Record {
            failures: 0,
            last: now,
            locked_until: None,
        });
        if r.expired(now, self.lockout) {
            r.failures = 0;
            r.locked_until = None;
        }
        r.failures += 1;
        r.last = now;
        let factor = 1u32 << (r.failures - 1).min(AUTH_FAIL_DELAY_MAX_FACTOR.ilog2());
        let delay = self.base_delay * factor;
        let locked = self.lockout_after > 0 && r.failures >= self.lockout_after;
        if locked {
            r.failures = 0;
            r.locked_until = Some(now + self.lockout);
        }
        Penalty { delay, locked }
    }

    /// A successful login forgets the address's failures.
    pub fn succeeded(&self, ip: IpAddr) {
        lock(&self.map).remove(&source_key(ip));
    }
}

impl Record {
    fn expired(&self, now: Instant, window: Duration) -> bool {
        let lock_over = self.locked_until.is_none_or(|u| u <= now);
        lock_over && now.duration_since(self.last) >= window
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let v6: IpAddr = "2001:db8:1:2:3:4:5:6".parse().unwrap();
        assert_eq!(source_key(v6), "2001:db8:1:2::".parse::<IpAddr>().unwrap());
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(source_key(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
        assert!(is_loopback("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!is_loopback("192.0.2.1".parse().unwrap()));
    }

    #[test]
    fn slots_are_per_key_and_returned() {
        let s = Slots::new(2);
        let a1 = s.acquire("a").unwrap();
        let _a2 = s.acquire("a").unwrap();
        assert!(s.acquire("a").is_none());
        let _b = s.acquire("b").unwrap();
        drop(a1);
        assert!(s.acquire("a").is_some());
    }

    #[test]
    fn delay_grows_then_locks_per_address() {
        let ms = Duration::from_millis;
        let f = AuthFailures::new(ms(100), 4, Duration::from_secs(60));
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let t = Instant::now();
        let delays: Vec<_> = (0..3).map(|_| f.failed(a, t).delay).collect();
        assert_eq!(delays, [ms(100), ms(200), ms(400)]);
        assert_eq!(
            f.failed(b, t).delay,
            ms(100),
            "another address is not slowed"
        );
        assert!(f.locked(a, t).is_none());
        assert!(f.failed(a, t).locked);
        assert!(f.locked(a, t + Duration::from_secs(59)).is_some());
        assert!(f.locked(b, t).is_none());
        assert!(f.locked(a, t + Duration::from_secs(61)).is_none());
        // The delay is capped.
        let g = AuthFailures::new(ms(100), 0, Duration::from_secs(60));
        let last = (0..10).map(|_| g.failed(a, t).delay).last().unwrap();
        assert_eq!(last, ms(1600));
        g.succeeded(a);
        assert_eq!(g.failed(a, t).delay, ms(100));
    }
}
