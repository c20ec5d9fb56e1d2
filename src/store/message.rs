//! Messages: append, flags, expunge, copy/move, the per-mailbox change log, SELECT snapshots.
//!
//! Every change to a message takes the mailbox's next modseq and moves the message's CHANGES row
//! to it (a new message gets its first row with its first change), so "what changed since modseq
//! M" is one range scan of CHANGES plus the newest MESSAGES rows (view sync, CONDSTORE, QRESYNC).

use redb::{ReadTransaction, ReadableDatabase, ReadableTable, WriteTransaction};

use super::acl::{self, SEEN};
use super::blob::{self, Prepared};
use super::mailbox::{MailboxInfo, get_by_id, get_by_id_w, get_w, lookup, put};
use super::schema::{
    CHANGES, MAILBOX_NAMES, MAILBOXES, MESSAGES, MailboxRecord, MessageRecord, USERS, UserRecord,
    flagbits,
};
use super::user::usage_in;
use super::{Result, Store, StoreError, Tx};
use crate::proto::types::DateTime;

/// Most distinct keywords per mailbox.
pub const MAX_KEYWORDS: usize = 128;

/// How STORE combines flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagOp {
    Add,
    Remove,
    Replace,
}

/// What SELECT needs: the mailbox and its UIDs in order.
#[derive(Debug)]
pub struct Snapshot {
    pub id: u64,
    pub rec: MailboxRecord,
    pub uids: Vec<u32>,
    /// Sequence number of the first unseen message.
    pub first_unseen: Option<u32>,
}

/// One entry of a change scan: a message's latest change.
#[derive(Debug)]
pub struct Change {
    pub modseq: u64,
    pub uid: u32,
    /// `None` when the message was expunged.
    pub msg: Option<MessageRecord>,
}

/// What happened in a mailbox since a given modseq.
#[derive(Debug)]
pub struct ChangeSet {
    /// `None` when the mailbox no longer exists (deleted).
    pub rec: Option<MailboxRecord>,
    pub changes: Vec<Change>,
}

/// Where a new message goes, and what it carries.
pub struct NewMessage {
    pub flags: u8,
    pub keywords: Vec<String>,
    pub date: DateTime,
}

/// Replaces a row's `\Seen` with `user`'s private one (SEEN table) when `user` is given.
fn personalize(
    seen_t: &impl ReadableTable<(u64, u32, &'static str), ()>,
    mailbox: u64,
    uid: u32,
    user: Option<&str>,
    row: &mut MessageRecord,
) -> Result<()> {
    if let Some(u) = user {
        row.flags &= !flagbits::SEEN;
        if acl::seen(seen_t, mailbox, uid, u)? {
            row.flags |= flagbits::SEEN;
        }
    }
    Ok(())
}

/// Takes the next modseq of a mailbox.
fn bump(rec: &mut MailboxRecord) -> u64 {
    rec.highest_modseq += 1;
    rec.highest_modseq
}

/// Adds keywords to the mailbox's list; false if the limit would be exceeded.
pub(super) fn register_keywords(rec: &mut MailboxRecord, kws: &[String]) -> bool {
    for k in kws {
        if !rec.keywords.iter().any(|x| x.eq_ignore_ascii_case(k)) {
            if rec.keywords.len() >= MAX_KEYWORDS {
                return false;
            }
            rec.keywords.push(k.clone());
        }
    }
    true
}

/// Checks that `bytes` more in `count` more messages fit the owner's quota (RFC 9208); call
/// it before anything is written. Usage is the sum of the owner's mailbox records (each
/// change keeps them exact), so nothing is charged: removing messages needs no call, and
/// an owner that is not an account (`$shared`) has no limit.
pub(super) fn check_quota(
    txn: &WriteTransaction,
    owner: &str,
    bytes: u64,
    count: u64,
) -> Result<()> {
    let Some(u) = txn
        .open_table(USERS)?
        .get(owner)?
        .map(|v| UserRecord::decode(v.value()))
        .transpose()?
    else {
        return Ok(());
    };
    if u.quota_storage.is_none() && u.quota_messages.is_none() {
        return Ok(());
    }
    let used = usage_in(
        &txn.open_table(MAILBOX_NAMES)?,
        &txn.open_table(MAILBOXES)?,
        owner,
    )?;
    if u.quota_storage
        .is_some_and(|q| used.storage.saturating_add(bytes) > q)
        || u.quota_messages
            .is_some_and(|q| used.messages.saturating_add(count) > q)
    {
        return Err(StoreError::OverQuota);
    }
    Ok(())
}

/// Inserts a message row for existing content; assigns uid and modseq, updates counters.
pub(super) fn add_row(
    txn: &WriteTransaction,
    id: u64,
    rec: &mut MailboxRecord,
    blob: u64,
    size: u64,
    m: &NewMessage,
) -> Result<u32> {
    let uid = rec.uidnext;
    rec.uidnext = uid
        .checked_add(1)
        .ok_or(StoreError::Cannot("UID space exhausted"))?;
    let modseq = bump(rec);
    let row = MessageRecord {
        blob,
        flags: m.flags,
        keywords: m.keywords.clone(),
        internal_date: m.date,
        size,
        modseq,
    };
    // No CHANGES row: until its first change, a new message's modseq is the one it was added
    // with, and those ascend with the uid, so `changes_since` finds it at the end of MESSAGES.
    txn.open_table(MESSAGES)?
        .insert((id, uid), row.encode().as_slice())?;
    rec.messages += 1;
    rec.size += size;
    if m.flags & flagbits::SEEN == 0 {
        rec.unseen += 1;
    }
    Ok(uid)
}

/// Removes a message row, leaving a tombstone in CHANGES; releases its content.
fn remove_row(
    txn: &WriteTransaction,
    id: u64,
    rec: &mut MailboxRecord,
    uid: u32,
    row: &MessageRecord,
) -> Result<()> {
    txn.open_table(MESSAGES)?.remove((id, uid))?;
    let mut changes = txn.open_table(CHANGES)?;
    changes.remove((id, row.modseq))?;
    changes.insert((id, bump(rec)), uid)?;
    rec.tombstones += 1;
    rec.messages -= 1;
    rec.size -= row.size;
    if !row.has(flagbits::SEEN) {
        rec.unseen -= 1;
    }
    acl::forget(txn, id, uid)?;
    blob::decref(txn, row.blob)
}

/// Tombstones kept per mailbox before the oldest half is compacted away (RFC 7162 §3.2.5.2 lets
/// a server forget old expunges; QRESYNC then answers from the UIDs that still exist).
pub const MAX_TOMBSTONES: u64 = 20_000;

/// Drops the oldest half of the tombstones once there are too many; raises `tombstone_floor`.
fn compact_tombstones(txn: &WriteTransaction, id: u64, rec: &mut MailboxRecord) -> Result<()> {
    if rec.tombstones <= MAX_TOMBSTONES {
        return Ok(());
    }
    let target = rec.tombstones / 2;
    let msgs = txn.open_table(MESSAGES)?;
    let mut changes = txn.open_table(CHANGES)?;
    let mut doomed = Vec::new();
    for r in changes.range((id, 0)..=(id, u64::MAX))? {
        let (k, v) = r?;
        if msgs.get((id, v.value()))?.is_none() {
            doomed.push(k.value().1);
            if doomed.len() as u64 >= target {
                break;
            }
        }
    }
    for m in &doomed {
        changes.remove((id, *m))?;
    }
    if let Some(&last) = doomed.last() {
        rec.tombstone_floor = rec.tombstone_floor.max(last);
    }
    rec.tombstones -= doomed.len() as u64;
    Ok(())
}

/// Deletes every message and change row of a mailbox (DELETE); its counters, and so the
/// owner's usage, drop to zero.
pub fn remove_all_messages(tx: &mut Tx<'_>, id: u64, rec: &mut MailboxRecord) -> Result<()> {
    let rows = rows_in(&tx.txn.open_table(MESSAGES)?, id, 1, u32::MAX)?;
    let mut messages = tx.txn.open_table(MESSAGES)?;
    for (uid, row) in &rows {
        messages.remove((id, *uid))?;
        blob::decref(tx.txn, row.blob)?;
    }
    drop(messages);
    let mut changes = tx.txn.open_table(CHANGES)?;
    changes.retain_in((id, 0)..=(id, u64::MAX), |_, _| false)?;
    drop(changes);
    acl::forget_mailbox(tx.txn, id)?;
    rec.messages = 0;
    rec.unseen = 0;
    rec.size = 0;
    rec.tombstone_floor = rec.highest_modseq;
    rec.tombstones = 0;
    Ok(())
}

/// Message rows with `lo <= uid <= hi`.
fn rows_in(
    t: &impl ReadableTable<(u64, u32), &'static [u8]>,
    id: u64,
    lo: u32,
    hi: u32,
) -> Result<Vec<(u32, MessageRecord)>> {
    let mut out = Vec::new();
    for r in t.range((id, lo)..=(id, hi))? {
        let (k, v) = r?;
        out.push((k.value().1, MessageRecord::decode(v.value())?));
    }
    Ok(out)
}

/// Rows for a sorted list of uid ranges.
fn rows_for(
    t: &impl ReadableTable<(u64, u32), &'static [u8]>,
    id: u64,
    ranges: &[(u32, u32)],
) -> Result<Vec<(u32, MessageRecord)>> {
    let mut out = Vec::new();
    for &(lo, hi) in ranges {
        out.extend(rows_in(t, id, lo, hi)?);
    }
    Ok(out)
}

fn selectable(info: Option<MailboxInfo>) -> Result<MailboxInfo> {
    match info {
        None => Err(StoreError::NoSuchMailbox),
        Some(m) if m.rec.noselect => Err(StoreError::Cannot("Mailbox is \\Noselect")),
        Some(m) => Ok(m),
    }
}

/// Turns a sorted uid list into merged ranges.
pub fn uid_ranges(uids: &[u32]) -> Vec<(u32, u32)> {
    let mut out: Vec<(u32, u32)> = Vec::new();
    for &u in uids {
        match out.last_mut() {
            Some(last) if last.1 + 1 == u => last.1 = u,
            _ => out.push((u, u)),
        }
    }
    out
}

/// Result of a flag change.
#[derive(Debug)]
pub struct FlagsResult {
    /// Every row the change applied to, changed or already as requested, after the change.
    pub rows: Vec<(u32, MessageRecord)>,
    /// Modseqs this change assigned.
    pub assigned: Vec<u64>,
    /// `replaced[i]`: the modseq the row had before it got `assigned[i]`.
    pub replaced: Vec<u64>,
    /// UIDs refused by UNCHANGEDSINCE.
    pub modified: Vec<u32>,
}

/// Result of APPEND/COPY/MOVE: the target's UIDVALIDITY and the new UIDs.
#[derive(Debug)]
pub struct Placed {
    pub uidvalidity: u32,
    pub src_uids: Vec<u32>,
    pub uids: Vec<u32>,
}

impl Store {
    /// SELECT/EXAMINE snapshot (RFC 3501 §6.3.1).
    /// `seen_of`: whose `\Seen` counts for UNSEEN (None = the owner's).
    pub async fn snapshot(
        &self,
        owner: String,
        name: String,
        seen_of: Option<String>,
    ) -> Result<Snapshot> {
        self.read(move |rtx| {
            let info = selectable(lookup(
                &rtx.open_table(MAILBOX_NAMES)?,
                &rtx.open_table(MAILBOXES)?,
                &owner,
                &name,
            )?)?;
            let msgs = rtx.open_table(MESSAGES)?;
            let seen_t = rtx.open_table(SEEN)?;
            let mut uids = Vec::with_capacity(info.rec.messages as usize);
            let mut first_unseen = None;
            for r in msgs.range((info.id, 0)..=(info.id, u32::MAX))? {
                let (k, v) = r?;
                let uid = k.value().1;
                uids.push(uid);
                if first_unseen.is_none() {
                    let mut row = MessageRecord::decode(v.value())?;
                    personalize(&seen_t, info.id, uid, seen_of.as_deref(), &mut row)?;
                    if !row.has(flagbits::SEEN) {
                        first_unseen = Some(uids.len() as u32);
                    }
                }
            }
            Ok(Snapshot {
                id: info.id,
                rec: info.rec,
                uids,
                first_unseen,
            })
        })
        .await
    }

    /// Marks every uid below `uid` as no longer \Recent (persisted so a restart keeps it).
    pub async fn claim_recent(&self, mailbox: u64, uid: u32) -> Result<()> {
        self.write(move |tx| {
            if let Some(mut rec) = get_by_id_w(tx.txn, mailbox)? {
                if rec.first_recent_uid < uid {
                    rec.first_recent_uid = uid;
                    put(tx.txn, mailbox, &rec)?;
                }
            }
            Ok(())
        })
        .await
    }

    /// RFC 3501 §6.3.11 APPEND (and delivery): stores prepared content in `owner`'s `name`.
    pub async fn append(
        &self,
        owner: String,
        name: String,
        content: Prepared,
        mut m: NewMessage,
        by: String,
    ) -> Result<Placed> {
        self.write(move |tx| {
            let info = selectable(get_w(tx.txn, &owner, &name)?)?;
            let mut rec = info.rec;
            // A non-owner's \Seen is private to them.
            let private_seen = acl::seen_is_private(&by, &owner) && m.flags & flagbits::SEEN != 0;
            m.flags &= if acl::seen_is_private(&by, &owner) {
                !flagbits::SEEN
            } else {
                !0
            };
            if !register_keywords(&mut rec, &m.keywords) {
                return Err(StoreError::Cannot("Too many keywords in this mailbox"));
            }
            if rec.uidnext == u32::MAX {
                return Err(StoreError::Cannot("UID space exhausted"));
            }
            check_quota(tx.txn, &owner, content.size, 1)?;
            let blob = blob::insert(tx.txn, &content)?;
            let uid = add_row(tx.txn, info.id, &mut rec, blob, content.size, &m)?;
            if private_seen {
                acl::set_seen(tx.txn, info.id, uid, &by, true)?;
            }
            put(tx.txn, info.id, &rec)?;
            tx.touch(info.id);
            Ok(Placed {
                uidvalidity: rec.uidvalidity,
                src_uids: vec![],
                uids: vec![uid],
            })
        })
        .await
    }

    /// Changes with modseq > `since`, oldest first, plus the current mailbox record.
    pub async fn changes_since(
        &self,
        mailbox: u64,
        since: u64,
        seen_of: Option<String>,
    ) -> Result<ChangeSet> {
        self.read(move |rtx| changes_since(rtx, mailbox, since, seen_of.as_deref()))
            .await
    }

    /// RFC 3501 §6.4.6 STORE on the given uids, with RFC 7162 UNCHANGEDSINCE: rows whose
    /// modseq is above it are left alone and reported in `modified`.
    ///
    /// `seen_of`: a user whose `\Seen` is private (not the owner): `\Seen` changes go to the
    /// SEEN table, the rest to the shared flags; the returned rows show that user's view.
    #[allow(clippy::too_many_arguments)]
    pub async fn store_flags(
        &self,
        mailbox: u64,
        uids: Vec<(u32, u32)>,
        op: FlagOp,
        bits: u8,
        keywords: Vec<String>,
        unchanged_since: Option<u64>,
        seen_of: Option<String>,
    ) -> Result<FlagsResult> {
        self.write(move |tx| {
            let mut rec = get_by_id_w(tx.txn, mailbox)?.ok_or(StoreError::NoSuchMailbox)?;
            if op != FlagOp::Remove && !register_keywords(&mut rec, &keywords) {
                return Err(StoreError::Cannot("Too many keywords in this mailbox"));
            }
            let rows = rows_for(&tx.txn.open_table(MESSAGES)?, mailbox, &uids)?;
            let mut msgs = tx.txn.open_table(MESSAGES)?;
            let mut changes = tx.txn.open_table(CHANGES)?;
            let mut seen_t = tx.txn.open_table(SEEN)?;
            let mut out = Vec::with_capacity(rows.len());
            let mut assigned = Vec::new();
            let mut modified = Vec::new();
            let mut replaced = Vec::new();
            for (uid, mut row) in rows {
                if unchanged_since.is_some_and(|u| row.modseq > u) {
                    modified.push(uid);
                    continue;
                }
                let old_seen = match &seen_of {
                    Some(u) => acl::seen(&seen_t, mailbox, uid, u)?,
                    None => row.has(flagbits::SEEN),
                };
                let old_shared = (row.flags & !flagbits::SEEN, row.keywords.clone());
                let mut flags = old_shared.0 | if old_seen { flagbits::SEEN } else { 0 };
                let mut kws = row.keywords.clone();
                match op {
                    FlagOp::Add => {
                        flags |= bits;
                        for k in &keywords {
                            if !kws.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                                kws.push(k.clone());
                            }
                        }
                    }
                    FlagOp::Remove => {
                        flags &= !bits;
                        kws.retain(|x| !keywords.iter().any(|k| k.eq_ignore_ascii_case(x)));
                    }
                    FlagOp::Replace => {
                        flags = bits;
                        kws = keywords.clone();
                    }
                }
                let new_seen = flags & flagbits::SEEN != 0;
                let shared_changed =
                    (flags & !flagbits::SEEN, &kws) != (old_shared.0, &old_shared.1);
                if shared_changed || new_seen != old_seen {
                    match &seen_of {
                        Some(u) => {
                            if new_seen {
                                seen_t.insert((mailbox, uid, u.as_str()), ())?;
                            } else {
                                seen_t.remove((mailbox, uid, u.as_str()))?;
                            }
                            row.flags = (row.flags & flagbits::SEEN) | (flags & !flagbits::SEEN);
                        }
                        None => {
                            match (old_seen, new_seen) {
                                (false, true) => rec.unseen -= 1,
                                (true, false) => rec.unseen += 1,
                                _ => {}
                            }
                            row.flags = flags;
                        }
                    }
                    row.keywords = kws;
                    changes.remove((mailbox, row.modseq))?;
                    replaced.push(row.modseq);
                    row.modseq = bump(&mut rec);
                    changes.insert((mailbox, row.modseq), uid)?;
                    msgs.insert((mailbox, uid), row.encode().as_slice())?;
                    assigned.push(row.modseq);
                }
                // The caller sees its own view of \Seen.
                row.flags =
                    (row.flags & !flagbits::SEEN) | if new_seen { flagbits::SEEN } else { 0 };
                out.push((uid, row));
            }
            drop((msgs, changes, seen_t));
            if !assigned.is_empty() {
                put(tx.txn, mailbox, &rec)?;
                tx.touch(mailbox);
            }
            Ok(FlagsResult {
                rows: out,
                assigned,
                replaced,
                modified,
            })
        })
        .await
    }

    /// RFC 3501 §6.4.3 EXPUNGE / RFC 4315 UID EXPUNGE: removes `\Deleted` messages (only those
    /// in `only`, when given). Returns the removed uids and the modseqs assigned.
    pub async fn expunge(
        &self,
        mailbox: u64,
        only: Option<Vec<(u32, u32)>>,
    ) -> Result<(Vec<u32>, Vec<u64>)> {
        self.write(move |tx| {
            let mut rec = get_by_id_w(tx.txn, mailbox)?.ok_or(StoreError::NoSuchMailbox)?;
            let ranges = only.unwrap_or_else(|| vec![(1, u32::MAX)]);
            let rows = rows_for(&tx.txn.open_table(MESSAGES)?, mailbox, &ranges)?;
            let mut gone = Vec::new();
            let mut assigned = Vec::new();
            for (uid, row) in rows.iter().filter(|(_, r)| r.has(flagbits::DELETED)) {
                remove_row(tx.txn, mailbox, &mut rec, *uid, row)?;
                assigned.push(rec.highest_modseq);
                gone.push(*uid);
            }
            if !gone.is_empty() {
                compact_tombstones(tx.txn, mailbox, &mut rec)?;
                put(tx.txn, mailbox, &rec)?;
                tx.touch(mailbox);
            }
            Ok((gone, assigned))
        })
        .await
    }

    /// RFC 3501 §6.4.7 COPY and RFC 6851 MOVE from `src` (uid ranges) into `owner`'s `dst`.
    /// Content is shared, not duplicated. For MOVE, also returns the modseqs of the source
    /// expunges.
    pub async fn copy(
        &self,
        src: u64,
        uids: Vec<(u32, u32)>,
        owner: String,
        dst: String,
        is_move: bool,
        by: String,
        target_rights: acl::Rights,
    ) -> Result<(Placed, Vec<u64>)> {
        self.write(move |tx| {
            let target = selectable(get_w(tx.txn, &owner, &dst)?)?;
            let mut src_rec = get_by_id_w(tx.txn, src)?.ok_or(StoreError::NoSuchMailbox)?;
            let rows = rows_for(&tx.txn.open_table(MESSAGES)?, src, &uids)?;
            let same = target.id == src;
            let mut trec = if same { src_rec.clone() } else { target.rec };
            let kws: Vec<String> = rows
                .iter()
                .flat_map(|(_, r)| r.keywords.iter().cloned())
                .collect();
            if !register_keywords(&mut trec, &kws) {
                return Err(StoreError::Cannot(
                    "Too many keywords in the target mailbox",
                ));
            }
            if u64::from(trec.uidnext) + rows.len() as u64 >= u64::from(u32::MAX) {
                return Err(StoreError::Cannot("UID space exhausted"));
            }
            let bytes: u64 = rows.iter().map(|(_, r)| r.size).sum();
            // A move within one owner changes no usage; a copy adds.
            let cross_owner = trec.owner != src_rec.owner;
            if !is_move || cross_owner {
                check_quota(tx.txn, &trec.owner, bytes, rows.len() as u64)?;
            }
            let mut placed = Placed {
                uidvalidity: trec.uidvalidity,
                src_uids: vec![],
                uids: vec![],
            };
            // The copy carries the flags as `by` sees them; its \Seen is private unless `by`
            // owns the target.
            let (src_private, dst_private) = (
                acl::seen_is_private(&by, &src_rec.owner),
                acl::seen_is_private(&by, &trec.owner),
            );
            for (uid, row) in &rows {
                blob::incref(tx.txn, row.blob, 1)?;
                let mut shown = row.clone();
                if src_private {
                    personalize(
                        &tx.txn.open_table(SEEN)?,
                        src,
                        *uid,
                        Some(by.as_str()),
                        &mut shown,
                    )?;
                }
                let mut keywords = row.keywords.clone();
                let flags = acl::allowed_flags(shown.flags, &mut keywords, target_rights);
                let seen = flags & flagbits::SEEN != 0;
                let m = NewMessage {
                    flags: if dst_private {
                        flags & !flagbits::SEEN
                    } else {
                        flags
                    },
                    keywords,
                    date: row.internal_date,
                };
                let new_uid = add_row(tx.txn, target.id, &mut trec, row.blob, row.size, &m)?;
                if dst_private && seen {
                    acl::set_seen(tx.txn, target.id, new_uid, &by, true)?;
                }
                placed.src_uids.push(*uid);
                placed.uids.push(new_uid);
            }
            let mut assigned = Vec::new();
            if is_move {
                let srec = if same { &mut trec } else { &mut src_rec };
                for (uid, row) in &rows {
                    remove_row(tx.txn, src, srec, *uid, row)?;
                    assigned.push(srec.highest_modseq);
                }
            }
            put(tx.txn, target.id, &trec)?;
            tx.touch(target.id);
            if is_move && !same {
                compact_tombstones(tx.txn, src, &mut src_rec)?;
                put(tx.txn, src, &src_rec)?;
                tx.touch(src);
            }
            Ok((placed, assigned))
        })
        .await
    }
}

/// See [`Store::changes_since`]. Two sources: CHANGES for messages changed or expunged after
/// `since`, and the end of MESSAGES for messages added after it and not changed since (they
/// have no CHANGES row, see `add_row`). Sorted by modseq.
pub fn changes_since(
    rtx: &ReadTransaction,
    mailbox: u64,
    since: u64,
    seen_of: Option<&str>,
) -> Result<ChangeSet> {
    let mut set = logged_changes(rtx, mailbox, since, seen_of)?;
    if set.rec.is_none() {
        return Ok(set);
    }
    let msgs = rtx.open_table(MESSAGES)?;
    let seen_t = rtx.open_table(SEEN)?;
    let mut added = Vec::new();
    // From the newest uid down: a message added after `since` has a higher added-modseq than
    // every lower uid, so the first row at or below `since` ends the walk (a changed row's
    // modseq is above the one it was added with, so it ends the walk no later).
    for r in msgs.range((mailbox, 0)..=(mailbox, u32::MAX))?.rev() {
        let (k, v) = r?;
        let mut m = MessageRecord::decode(v.value())?;
        if m.modseq <= since {
            break;
        }
        // Changed since: already in the range, whose keys are the rows' modseqs (sorted).
        if set
            .changes
            .binary_search_by_key(&m.modseq, |c| c.modseq)
            .is_ok()
        {
            continue;
        }
        let uid = k.value().1;
        personalize(&seen_t, mailbox, uid, seen_of, &mut m)?;
        added.push(Change {
            modseq: m.modseq,
            uid,
            msg: Some(m),
        });
    }
    if !added.is_empty() {
        set.changes.extend(added);
        set.changes.sort_unstable_by_key(|c| c.modseq);
    }
    Ok(set)
}

/// The CHANGES rows after `since`: every message changed or expunged since (not those only added).
fn logged_changes(
    rtx: &ReadTransaction,
    mailbox: u64,
    since: u64,
    seen_of: Option<&str>,
) -> Result<ChangeSet> {
    let Some(rec) = get_by_id(rtx, mailbox)? else {
        return Ok(ChangeSet {
            rec: None,
            changes: vec![],
        });
    };
    let changes = rtx.open_table(CHANGES)?;
    let msgs = rtx.open_table(MESSAGES)?;
    let seen_t = rtx.open_table(SEEN)?;
    let mut out = Vec::new();
    for r in changes.range((mailbox, since.saturating_add(1))..=(mailbox, u64::MAX))? {
        let (k, v) = r?;
        let uid = v.value();
        let mut msg = msgs
            .get((mailbox, uid))?
            .map(|m| MessageRecord::decode(m.value()))
            .transpose()?;
        if let Some(m) = msg.as_mut() {
            personalize(&seen_t, mailbox, uid, seen_of, m)?;
        }
        out.push(Change {
            modseq: k.value().1,
            uid,
            msg,
        });
    }
    Ok(ChangeSet {
        rec: Some(rec),
        changes: out,
    })
}

impl Store {
    /// Number of messages with uid >= `from` (STATUS RECENT).
    pub async fn count_from(&self, mailbox: u64, from: u32) -> Result<u32> {
        self.read(move |rtx| {
            let t = rtx.open_table(MESSAGES)?;
            let mut n = 0;
            for r in t.range((mailbox, from.max(1))..=(mailbox, u32::MAX))? {
                r?;
                n += 1;
            }
            Ok(n)
        })
        .await
    }

    /// A consistent read snapshot for a whole command (FETCH streams message bytes from it,
    /// so content cannot vanish under a literal whose length is already sent).
    pub async fn snapshot_txn(&self) -> Result<std::sync::Arc<ReadTransaction>> {
        let db = self.db.clone();
        smol::unblock(move || Ok(std::sync::Arc::new(db.begin_read()?))).await
    }
}

/// Rows and content records for the given uids, read from one snapshot.
pub fn rows_with_blobs(
    rtx: &ReadTransaction,
    mailbox: u64,
    uids: &[u32],
    seen_of: Option<&str>,
) -> Result<Vec<(u32, MessageRecord, super::schema::BlobRecord)>> {
    let msgs = rtx.open_table(MESSAGES)?;
    let seen_t = rtx.open_table(SEEN)?;
    let blobs = rtx.open_table(super::schema::BLOBS)?;
    let mut out = Vec::with_capacity(uids.len());
    for &uid in uids {
        let Some(v) = msgs.get((mailbox, uid))? else {
            continue;
        };
        let mut row = MessageRecord::decode(v.value())?;
        personalize(&seen_t, mailbox, uid, seen_of, &mut row)?;
        let b = blobs
            .get(row.blob)?
            .ok_or(StoreError::Internal("missing blob".into()))?;
        let b = super::schema::BlobRecord::decode(b.value())?;
        out.push((uid, row, b));
    }
    Ok(out)
}

/// What QRESYNC needs to answer `VANISHED (EARLIER)`.
#[derive(Debug)]
pub struct Vanished {
    /// UIDs expunged after the given modseq; when tombstones older than it were compacted,
    /// every UID below UIDNEXT that does not exist (RFC 7162 §3.2.5.2 allows reporting more).
    pub uids: Vec<u32>,
}

impl Store {
    /// UIDs expunged since `modseq` (RFC 7162 §3.2.5, §3.2.6).
    pub async fn vanished_since(&self, mailbox: u64, modseq: u64) -> Result<Vanished> {
        self.read(move |rtx| {
            let rec = get_by_id(rtx, mailbox)?.ok_or(StoreError::NoSuchMailbox)?;
            if modseq >= rec.tombstone_floor {
                let set = logged_changes(rtx, mailbox, modseq, None)?;
                let mut uids: Vec<u32> = set
                    .changes
                    .into_iter()
                    .filter(|c| c.msg.is_none())
                    .map(|c| c.uid)
                    .collect();
                uids.sort_unstable();
                return Ok(Vanished { uids });
            }
            let msgs = rtx.open_table(MESSAGES)?;
            let mut present = Vec::new();
            for r in msgs.range((mailbox, 0)..=(mailbox, u32::MAX))? {
                present.push(r?.0.value().1);
            }
            let mut uids = Vec::new();
            let mut next = 1;
            for p in present.into_iter().chain(std::iter::once(rec.uidnext)) {
                uids.extend(next..p);
                next = p + 1;
            }
            Ok(Vanished { uids })
        })
        .await
    }
}
