//! Delivery of one incoming message (LMTP, `postfach deliver`): what the filter needs to know
//! about the recipient, and one transaction that files the message into every target mailbox.
//!
//! The content is stored once and shared by all target rows (like COPY); quota counts every
//! row, as IMAP COPY does, so usage stays the sum of RFC822.SIZE over the user's messages.

use std::cell::OnceCell;

use log::warn;
use redb::{ReadOnlyTable, ReadableTable};

use super::blob::{self, Prepared};
use super::mailbox::{create_in, get_w, lookup, put};
use super::message::{NewMessage, add_row, check_quota, register_keywords};
use super::schema::{
    MAILBOX_NAMES, MAILBOXES, MailboxRecord, SIEVE, SUBSCRIPTIONS, USERS, Usage, UserRecord,
};
use super::user::usage_in;
use super::{Pending, Result, Store, StoreError};

/// What delivery decisions read, from one snapshot (kept open while the recipient lives).
pub struct Recipient {
    pub user: String,
    pub record: UserRecord,
    /// Usage, summed only when the user has a limit (else zero).
    pub usage: Usage,
    /// The Sieve script source, if the user has one.
    pub script: Option<String>,
    names: ReadOnlyTable<(&'static str, &'static str), u64>,
    boxes: ReadOnlyTable<u64, &'static [u8]>,
    /// The selectable mailbox names, read on first use only.
    all: OnceCell<Vec<String>>,
}

impl Recipient {
    /// True if the user's mailbox `name` exists and is selectable (one lookup; a storage
    /// error counts as "no", and the message goes to INBOX instead).
    pub fn exists(&self, name: &str) -> bool {
        match lookup(&self.names, &self.boxes, &self.user, name) {
            Ok(m) => m.is_some_and(|m| !m.rec.noselect),
            Err(e) => {
                warn!("delivery to {}: looking up {name}: {e}", self.user);
                false
            }
        }
    }

    /// Names of the user's selectable mailboxes, read on first use (only a `+detail` that
    /// matches no mailbox exactly needs them, for a match in any case).
    pub fn mailboxes(&self) -> &[String] {
        self.all.get_or_init(|| {
            let mut out = Vec::new();
            let range = match self.names.range((self.user.as_str(), "")..) {
                Ok(r) => r,
                Err(e) => {
                    warn!("delivery to {}: listing mailboxes: {e}", self.user);
                    return out;
                }
            };
            for r in range {
                let Ok((k, id)) = r else { break };
                let (owner, name) = k.value();
                if owner != self.user {
                    break;
                }
                let rec = self.boxes.get(id.value()).ok().flatten();
                let rec = rec.and_then(|v| MailboxRecord::decode(v.value()).ok());
                if rec.is_some_and(|r| !r.noselect) {
                    out.push(name.to_string());
                }
            }
            out
        })
    }
}

/// The recipient's record, script and mailboxes; `None` for an unknown user. Delivery reads
/// it in the same blocking call that prepares the message.
pub fn recipient_in(rtx: &redb::ReadTransaction, user: String) -> Result<Option<Recipient>> {
    let Some(record) = rtx
        .open_table(USERS)?
        .get(user.as_str())?
        .map(|v| UserRecord::decode(v.value()))
        .transpose()?
    else {
        return Ok(None);
    };
    let script = rtx
        .open_table(SIEVE)?
        .get(user.as_str())?
        .map(|v| v.value().to_string());
    let names = rtx.open_table(MAILBOX_NAMES)?;
    let boxes = rtx.open_table(MAILBOXES)?;
    let usage = limited_usage(&record, &names, &boxes, &user)?;
    Ok(Some(Recipient {
        user,
        record,
        usage,
        script,
        names,
        boxes,
        all: OnceCell::new(),
    }))
}

/// The user's usage if a limit is set, else zero (nothing to compare with).
fn limited_usage(
    record: &UserRecord,
    names: &impl ReadableTable<(&'static str, &'static str), u64>,
    boxes: &impl ReadableTable<u64, &'static [u8]>,
    user: &str,
) -> Result<Usage> {
    if record.quota_storage.is_none() && record.quota_messages.is_none() {
        return Ok(Usage::default());
    }
    usage_in(names, boxes, user)
}

/// One copy to store.
pub struct Target {
    /// A validated mailbox name.
    pub mailbox: String,
    /// Create (and subscribe) the mailbox if it does not exist (Sieve `fileinto :create`).
    pub create: bool,
    pub message: NewMessage,
}

/// Where the copies went: `(mailbox name, uid)` in target order, duplicates merged.
pub type Filed = Vec<(String, u32)>;

impl Store {
    /// The first of `names` that is an account, with its record and (if it has a limit) its
    /// usage, in one read.
    pub async fn first_user(
        &self,
        names: Vec<String>,
    ) -> Result<Option<(usize, UserRecord, Usage)>> {
        self.read(move |rtx| {
            let users = rtx.open_table(USERS)?;
            for (i, name) in names.iter().enumerate() {
                if let Some(v) = users.get(name.as_str())? {
                    let rec = UserRecord::decode(v.value())?;
                    let (n, b) = (rtx.open_table(MAILBOX_NAMES)?, rtx.open_table(MAILBOXES)?);
                    let usage = limited_usage(&rec, &n, &b, name)?;
                    return Ok(Some((i, rec, usage)));
                }
            }
            Ok(None)
        })
        .await
    }

    /// Queues one durable transaction that files `content` into every target of `owner` (from
    /// a blocking-pool thread, see [`Store::submit_here`]; await [`Pending::committed`]). A
    /// target that does not exist (and is not to be created) or is `\Noselect` becomes INBOX;
    /// keywords beyond a mailbox's limit are dropped rather than failing the delivery. Refuses
    /// with `NoSuchUser` or `OverQuota` before writing anything.
    pub fn deliver(
        &self,
        owner: String,
        targets: Vec<Target>,
        content: Prepared,
    ) -> Result<Pending<Filed>> {
        self.submit_here(move |tx| {
            if tx.txn.open_table(USERS)?.get(owner.as_str())?.is_none() {
                return Err(StoreError::NoSuchUser);
            }
            // Check everything first: a job that fails must not have written.
            let mut plan: Vec<(String, bool, NewMessage)> = Vec::new();
            for t in targets {
                let existing = get_w(tx.txn, &owner, &t.mailbox)?;
                let (name, create) = match existing {
                    Some(m) if !m.rec.noselect && m.rec.uidnext < u32::MAX - 1 => {
                        (t.mailbox, false)
                    }
                    None if t.create => (t.mailbox, true),
                    _ => ("INBOX".to_string(), false),
                };
                match plan.iter_mut().find(|(n, _, _)| *n == name) {
                    Some((_, _, m)) => {
                        m.flags |= t.message.flags;
                        for k in t.message.keywords {
                            if !m.keywords.iter().any(|x| x.eq_ignore_ascii_case(&k)) {
                                m.keywords.push(k);
                            }
                        }
                    }
                    None => plan.push((name, create, t.message)),
                }
            }
            if plan.is_empty() {
                return Ok(Vec::new());
            }
            if get_w(tx.txn, &owner, "INBOX")?.is_none() {
                return Err(StoreError::Internal(format!("{owner} has no INBOX")));
            }
            let n = plan.len() as u64;
            check_quota(tx.txn, &owner, content.size * n, n)?;
            let blob = blob::insert(tx.txn, &content)?;
            if n > 1 {
                blob::incref(tx.txn, blob, (n - 1) as u32)?;
            }
            let mut filed = Vec::with_capacity(plan.len());
            for (name, create, mut m) in plan {
                if create {
                    create_in(tx, &owner, &name, "")?;
                    tx.txn
                        .open_table(SUBSCRIPTIONS)?
                        .insert((owner.as_str(), name.as_str()), ())?;
                }
                let info = get_w(tx.txn, &owner, &name)?
                    .ok_or_else(|| StoreError::Internal(format!("{name} vanished")))?;
                let mut rec = info.rec;
                if !register_keywords(&mut rec, &m.keywords) {
                    m.keywords.clear();
                }
                let uid = add_row(tx.txn, info.id, &mut rec, blob, content.size, &m)?;
                put(tx.txn, info.id, &rec)?;
                tx.touch(info.id);
                filed.push((name, uid));
            }
            Ok(filed)
        })
    }
}
