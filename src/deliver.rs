//! Local delivery, shared by LMTP (`src/lmtp.rs`) and `postfach deliver`: recipient mapping,
//! trace headers, Sieve filtering (or the X-Spam-Flag → Junk default), quota, one durable store
//! transaction.
//!
//! Rules, in order:
//! 1. The recipient address maps to an account (`map_address`): the whole address, then its
//!    local part, each first as written and then without a `+detail` (RFC 5233); lower case.
//! 2. `Return-Path: <sender>` and `Delivered-To: <recipient>` are prepended (LMTP; `deliver`
//!    adds only Return-Path, and only with `--from`, since the MTA that runs it usually adds
//!    Delivered-To itself). A leading mbox `From ` line is dropped.
//! 3. The default mailbox is `--mailbox` or the `+detail` folder when it exists, else INBOX.
//! 4. With a Sieve script, its outcome decides; its `keep` (and implicit keep) goes to the
//!    default mailbox. A runtime error, or a stored script that no longer compiles, files into
//!    the default mailbox: mail is never lost to a filter. Names that are not valid mailbox
//!    names become INBOX.
//! 5. Without a script, a message with `X-Spam-Flag: YES` goes to Junk (unless the operator
//!    turned that off), everything else to the default mailbox.
//! 6. All copies are stored in one transaction (`Store::deliver`) that checks the quota
//!    first; success means durably committed and announced to IDLE sessions.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use log::{info, warn};

use crate::proto::types::{DateTime, Flag, MailboxName};
use crate::sieve;
use crate::store::delivery::{Filed, Recipient, Target, recipient_in};
use crate::store::message::NewMessage;
use crate::store::schema::{Usage, UserRecord, split_flags};
use crate::store::user::canonical_name;
use crate::store::{Coming, Store, StoreError, blob};

/// Operator settings that shape delivery.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Largest message accepted (octets, trace headers included).
    pub max_message: u64,
    /// File `X-Spam-Flag: YES` messages into Junk when the user has no Sieve script.
    pub spam_junk: bool,
}

/// Why a delivery failed; each maps to an LMTP reply and a sysexits code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    UnknownUser,
    OverQuota,
    TooBig,
    /// Storage failure: the sender should retry; nothing was stored.
    Temporary(String),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoSuchUser => Failure::UnknownUser,
            StoreError::OverQuota => Failure::OverQuota,
            e => Failure::Temporary(e.to_string()),
        }
    }
}

/// A recipient mapped to an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rcpt {
    /// The address as given (for Delivered-To and the Sieve envelope), without `<>`.
    pub address: String,
    pub user: String,
    /// The `+detail` of the address (RFC 5233), when the account was found through it.
    pub detail: Option<String>,
}

/// Candidate `(user, detail)` pairs for an address, in the order they are tried.
pub fn candidates(address: &str) -> Vec<(String, Option<String>)> {
    let a = address.trim().trim_start_matches('<').trim_end_matches('>');
    let (local, domain) = a.rsplit_once('@').map_or((a, None), |(l, d)| (l, Some(d)));
    let mut out = Vec::new();
    let mut push = |name: String, detail: Option<&str>| {
        if let Ok(n) = canonical_name(&name) {
            let d = detail.map(str::to_string);
            if !out.iter().any(|(x, y)| *x == n && *y == d) {
                out.push((n, d));
            }
        }
    };
    let with_domain = |l: &str| domain.map_or_else(|| l.to_string(), |d| format!("{l}@{d}"));
    push(with_domain(local), None);
    push(local.to_string(), None);
    if let Some((user, detail)) = local.split_once('+') {
        push(with_domain(user), Some(detail));
        push(user.to_string(), Some(detail));
    }
    out
}

/// An account's quota limits with its usage.
pub type Limits = (UserRecord, Usage);

/// Maps an LMTP recipient to an account, with its limits and usage if it has any; `None` for
/// an unknown user.
pub async fn map_address(
    store: &Store,
    address: &str,
) -> Result<Option<(Rcpt, Option<Limits>)>, StoreError> {
    let mut cands = candidates(address);
    let names = cands.iter().map(|(u, _)| u.clone()).collect();
    let Some((i, record, usage)) = store.first_user(names).await? else {
        return Ok(None);
    };
    let (user, detail) = cands.swap_remove(i);
    let rcpt = Rcpt {
        address: address.trim_matches(['<', '>']).to_string(),
        user,
        detail,
    };
    let limited = record.quota_storage.is_some() || record.quota_messages.is_some();
    Ok(Some((rcpt, limited.then_some((record, usage)))))
}

/// One delivery request.
pub struct Job<'a> {
    pub rcpt: &'a Rcpt,
    /// MAIL FROM reverse-path without `<>`; empty for the null sender; `None` if unknown.
    pub from: Option<&'a str>,
    /// Add `Delivered-To:` (LMTP).
    pub delivered_to: bool,
    /// `deliver --mailbox`.
    pub mailbox: Option<&'a str>,
}

/// Delivers `body` (as received, dot-unstuffed) for one recipient.
pub async fn deliver(
    store: &Store,
    settings: &Settings,
    job: Job<'_>,
    body: Arc<Vec<u8>>,
    coming: Coming,
) -> Result<Filed, Failure> {
    let head = trace_headers(&job);
    let size = head.len() as u64 + strip_mbox_from(&body).len() as u64;
    if size > settings.max_message {
        return Err(Failure::TooBig);
    }
    let envelope = sieve::EnvelopeInfo {
        from: job.from.unwrap_or("").to_string(),
        to: job.rcpt.address.clone(),
    };
    let spam_junk = settings.spam_junk;
    let (user, detail) = (job.rcpt.user.clone(), job.rcpt.detail.clone());
    let explicit = job.mailbox.map(str::to_string);
    // The recipient's state, the filter and the content preparation in one blocking call,
    // which then queues the write itself: the writer starts without a trip through the executor.
    let st = store.clone();
    let owner = user.clone();
    let pending = smol::unblock(move || {
        let (targets, content) = {
            let rtx = st.begin_read()?;
            let Some(rcpt) = recipient_in(&rtx, user)? else {
                return Err(StoreError::NoSuchUser);
            };
            let (rec, used) = (&rcpt.record, rcpt.usage);
            if rec.quota_storage.is_some_and(|q| used.storage + size > q)
                || rec.quota_messages.is_some_and(|q| used.messages >= q)
            {
                // Early refusal; the store checks again inside the transaction.
                return Err(StoreError::OverQuota);
            }
            let default = default_mailbox(&rcpt, detail.as_deref(), explicit.as_deref());
            let raw = with_trace(head, body);
            // Normalised first, so the Sieve `size` test sees RFC822.SIZE.
            let raw = blob::normalize_crlf(raw);
            let targets = decide(&rcpt, &raw, &envelope, &default, spam_junk);
            (targets, blob::prepare_normalized(raw))
        };
        drop(coming);
        st.deliver(owner, targets, content)
    })
    .await?;
    let filed = pending.committed().await?;
    let names: Vec<&str> = filed.iter().map(|(m, _)| m.as_str()).collect();
    info!("delivered to {}: {}", job.rcpt.user, names.join(", "));
    Ok(filed)
}

/// Return-Path (RFC 5321 §4.4) and Delivered-To.
fn trace_headers(job: &Job<'_>) -> Vec<u8> {
    let mut h = Vec::new();
    if let Some(from) = job.from {
        h.extend_from_slice(format!("Return-Path: <{}>\r\n", clean(from)).as_bytes());
    }
    if job.delivered_to {
        h.extend_from_slice(format!("Delivered-To: {}\r\n", clean(&job.rcpt.address)).as_bytes());
    }
    h
}

/// An address fit for a header line: no line breaks, no brackets.
fn clean(a: &str) -> String {
    a.chars()
        .filter(|c| !c.is_control() && !matches!(c, '<' | '>'))
        .collect()
}

/// The message to store: trace headers, then `body` without an mbox `From ` line. The body's
/// own buffer is reused when this is its only recipient (no copy of a large message into a
/// fresh allocation).
fn with_trace(head: Vec<u8>, body: Arc<Vec<u8>>) -> Vec<u8> {
    match Arc::try_unwrap(body) {
        Ok(mut raw) => {
            let skip = raw.len() - strip_mbox_from(&raw).len();
            raw.splice(..skip, head);
            raw
        }
        Err(shared) => {
            let mut raw = head;
            raw.extend_from_slice(strip_mbox_from(&shared));
            raw
        }
    }
}

/// Drops an mbox `From sender date` first line (procmail/fetchmail pipes may pass one).
fn strip_mbox_from(body: &[u8]) -> &[u8] {
    if body.starts_with(b"From ") {
        match body.iter().position(|&b| b == b'\n') {
            Some(i) => &body[i + 1..],
            None => &body[body.len()..],
        }
    } else {
        body
    }
}

/// `--mailbox` or the `+detail` folder, when it exists (exact name, then any case); else INBOX.
fn default_mailbox(rcpt: &Recipient, detail: Option<&str>, explicit: Option<&str>) -> String {
    let wanted = explicit.or(detail).and_then(|n| MailboxName::new(n).ok());
    if let Some(w) = wanted {
        if rcpt.exists(w.as_str()) {
            return w.as_str().to_string();
        }
        if let Some(m) = rcpt
            .mailboxes()
            .iter()
            .find(|m| m.eq_ignore_ascii_case(w.as_str()))
        {
            return m.clone();
        }
    }
    "INBOX".into()
}

/// Where the message goes (CPU work: run it off the executor).
fn decide(
    rcpt: &Recipient,
    raw: &[u8],
    envelope: &sieve::EnvelopeInfo,
    default: &str,
    spam_junk: bool,
) -> Vec<Target> {
    let view = sieve::MessageView::parse(raw);
    let plain = |mailbox: &str| {
        vec![Target {
            mailbox: mailbox.to_string(),
            create: false,
            message: new_message(&[]),
        }]
    };
    let Some(source) = &rcpt.script else {
        let spam = view
            .header("X-Spam-Flag")
            .iter()
            .any(|v| v.trim().eq_ignore_ascii_case("yes"));
        if spam && spam_junk && rcpt.exists("Junk") {
            return plain("Junk");
        }
        return plain(default);
    };
    let Some(script) = compiled(&rcpt.user, source) else {
        return plain(default);
    };
    let exists = |name: &str| rcpt.exists(name);
    let outcome = sieve::execute(&script, &view, envelope, &exists).unwrap_or_else(|e| {
        warn!(
            "sieve script of {} failed: {e}; filing into {default}",
            rcpt.user
        );
        sieve::Outcome::fallback()
    });
    outcome
        .deliveries
        .into_iter()
        .map(|d| {
            let mailbox = if d.mailbox == "INBOX" {
                default.to_string()
            } else {
                match MailboxName::new(&d.mailbox) {
                    Ok(n) => n.to_string(),
                    Err(_) => "INBOX".to_string(),
                }
            };
            Target {
                mailbox,
                create: d.create,
                message: new_message(&d.flags),
            }
        })
        .collect()
}

fn new_message(flags: &[String]) -> NewMessage {
    let flags: Vec<Flag> = flags
        .iter()
        .filter_map(|f| Flag::parse(f))
        .filter(|f| *f != Flag::Recent)
        .collect();
    let (flags, keywords) = split_flags(&flags);
    NewMessage {
        flags,
        keywords,
        date: DateTime::now(),
    }
}

/// Compiled scripts by user, reused while the source is unchanged.
static SCRIPTS: LazyLock<Mutex<HashMap<String, (String, Arc<sieve::Script>)>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// Most cached scripts; the cache is emptied when it is full.
const MAX_CACHED: usize = 1024;

/// The compiled form of `user`'s script, or `None` (logged) if it no longer compiles.
fn compiled(user: &str, source: &str) -> Option<Arc<sieve::Script>> {
    if let Some((src, s)) = SCRIPTS.lock().ok()?.get(user) {
        if src == source {
            return Some(s.clone());
        }
    }
    match sieve::compile(source) {
        Ok(s) => {
            let s = Arc::new(s);
            let mut cache = SCRIPTS.lock().ok()?;
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(user.to_string(), (source.to_string(), s.clone()));
            Some(s)
        }
        Err(e) => {
            warn!("stored sieve script of {user} does not compile ({e}); not filtering");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_candidates() {
        let c = candidates("<Alice+Lists@Example.org>");
        assert_eq!(
            c,
            vec![
                ("alice+lists@example.org".into(), None),
                ("alice+lists".into(), None),
                ("alice@example.org".into(), Some("Lists".into())),
                ("alice".into(), Some("Lists".into())),
            ]
        );
        assert_eq!(candidates("bob"), vec![("bob".into(), None)]);
        assert!(candidates("<>").is_empty());
    }

    #[test]
    fn mbox_from_line() {
        // The trace headers go in front, in the body's own buffer or a copy when it is shared.
        let body = Arc::new(b"From a@b Mon\nX: y\n".to_vec());
        let shared = body.clone();
        assert_eq!(with_trace(b"R: 1\r\n".to_vec(), shared), b"R: 1\r\nX: y\n");
        assert_eq!(with_trace(b"R: 2\r\n".to_vec(), body), b"R: 2\r\nX: y\n");
        assert_eq!(
            with_trace(b"R: 3\r\n".to_vec(), Arc::new(b"X: z\r\n".to_vec())),
            b"R: 3\r\nX: z\r\n"
        );
        assert_eq!(strip_mbox_from(b"From a@b Mon\nX: y\n"), b"X: y\n");
        assert_eq!(strip_mbox_from(b"From: a@b\n"), b"From: a@b\n");
    }
}
