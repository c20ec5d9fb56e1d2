//! RFC 3501 §6.4.4 SEARCH and UID SEARCH, with RFC 4731 ESEARCH results and RFC 5182 SEARCHRES.
//! Selected state.
//!
//! Evaluation runs on the blocking pool against one read snapshot. Flag, size, date and set keys
//! use the message rows only; text keys load and parse one message at a time (mail-parser), so
//! memory stays bounded whatever the mailbox size.

use std::sync::Arc;

use crate::error::{CmdError, CmdResult, Done};
use crate::mime::{
    EnvelopeField, MessageMeta, SearchField, Sparse, contains_ci, envelope_text, search_ranges,
    search_text,
};
use crate::proto::command::Sequence;
use crate::proto::response::{Code, Data};
use crate::proto::search::{ReturnOpt, SearchKey, SearchProgram};
use crate::proto::types::SeqSet;
use crate::store::message::rows_with_blobs;
use crate::store::schema::{BlobRecord, MessageRecord, flagbits};
use crate::store::{Result as StoreResult, blob};

use super::super::session::Session;

/// Charsets accepted for search strings (RFC 3501 §6.4.4).
const CHARSETS: [&str; 2] = ["UTF-8", "US-ASCII"];

pub async fn search(s: &mut Session, tag: &str, program: SearchProgram, uid: bool) -> CmdResult {
    // RFC 5182 §2.1: a SEARCH with SAVE that fails with NO leaves `$` empty; success replaces
    // it. The search itself may use the old value.
    let saving = program
        .ret
        .as_ref()
        .is_some_and(|o| o.contains(&ReturnOpt::Save));
    let saved = if saving {
        std::mem::take(&mut s.saved)
    } else {
        s.saved.clone()
    };
    if let Some(cs) = &program.charset {
        if !CHARSETS.contains(&cs.as_str()) {
            return Err(CmdError::no_code(
                Code::BadCharset(CHARSETS.iter().map(|c| c.to_string()).collect()),
                "Unsupported charset",
            ));
        }
    }
    let (_, sel) = s.state.selected()?;
    let uids: Vec<u32> = (1..=sel.view.exists())
        .filter_map(|q| sel.view.uid_of(q))
        .collect();
    let recent: Vec<bool> = uids.iter().map(|&u| sel.view.is_recent(u)).collect();
    let snap = s.ctx.store.snapshot_txn().await?;
    let mailbox = sel.id;
    let seen_of = sel.seen_of.clone();
    let key = Arc::new(program.key.clone());
    let (uids, recent, saved) = (Arc::new(uids), Arc::new(recent), Arc::new(saved));
    // Text keys read and decode every message: split the mailbox between the cores.
    let workers = if needs_content(&key) && uids.len() >= 512 {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
    } else {
        1
    };
    let per = uids.len().div_ceil(workers).max(1);
    let tasks: Vec<_> = (0..uids.len())
        .step_by(per)
        .map(|start| {
            let (snap, key, uids, recent, saved, seen_of) = (
                snap.clone(),
                key.clone(),
                uids.clone(),
                recent.clone(),
                saved.clone(),
                seen_of.clone(),
            );
            let range = start..(start + per).min(uids.len());
            smol::unblock(move || {
                let scan = Scan {
                    snap: &snap,
                    mailbox,
                    uids: &uids,
                    recent: &recent,
                    saved: &saved,
                };
                scan.run(range, &key, seen_of.as_deref())
            })
        })
        .collect();
    let mut found = Vec::new();
    for t in tasks {
        found.extend(t.await?);
    }
    // RFC 7162 §3.1.5: a MODSEQ key adds the highest modseq of the matches to the answer.
    let modseq = uses_modseq(&program.key)
        .then(|| found.iter().map(|f| f.1).max())
        .flatten();
    if uses_modseq(&program.key) {
        s.enabled.condstore = true;
    }
    let matched: Vec<u32> = found.into_iter().map(|f| f.0).collect();
    let (_, sel) = s.state.selected()?;
    let nums: Vec<u32> = if uid {
        matched.clone()
    } else {
        matched.iter().filter_map(|&u| sel.view.seq_of(u)).collect()
    };
    match &program.ret {
        None => s.conn.queue(Data::Search { nums, modseq }),
        Some(opts) => {
            if opts.contains(&ReturnOpt::Save) {
                s.saved = saved_result(opts, matched);
            }
            // RFC 5182 §2.1: SAVE alone produces no ESEARCH response.
            if opts.iter().any(|o| *o != ReturnOpt::Save) {
                let has = |o| opts.contains(&o);
                s.conn.queue(Data::ESearch {
                    tag: tag.to_string(),
                    uid,
                    min: has(ReturnOpt::Min).then(|| nums.first().copied()).flatten(),
                    max: has(ReturnOpt::Max).then(|| nums.last().copied()).flatten(),
                    count: has(ReturnOpt::Count).then_some(nums.len() as u32),
                    all: (has(ReturnOpt::All) && !nums.is_empty())
                        .then(|| SeqSet::from_sorted(&nums)),
                    modseq,
                });
            }
        }
    }
    Done::ok("completed")
}

/// What SAVE keeps (RFC 5182 §2.4): with MIN and/or MAX but neither ALL nor COUNT, only the
/// first and/or last match; otherwise every match. `matched` is in mailbox order.
fn saved_result(opts: &[ReturnOpt], mut matched: Vec<u32>) -> Vec<u32> {
    let has = |o| opts.contains(&o);
    let (min, max) = (has(ReturnOpt::Min), has(ReturnOpt::Max));
    if !(min || max) || has(ReturnOpt::All) || has(ReturnOpt::Count) || matched.is_empty() {
        return matched;
    }
    let last = matched.len() - 1;
    let keep = |i: usize| (min && i == 0) || (max && i == last);
    let mut i = 0;
    matched.retain(|_| {
        i += 1;
        keep(i - 1)
    });
    matched
}

/// True when the query contains a MODSEQ key.
fn uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq(_) => true,
        SearchKey::Not(k) => uses_modseq(k),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::And(keys) => keys.iter().any(uses_modseq),
        _ => false,
    }
}

/// True when evaluating `key` may need message content (text keys).
fn needs_content(key: &SearchKey) -> bool {
    use SearchKey::*;
    match key {
        Body(_) | Text(_) | Header(..) | SentBefore(_) | SentOn(_) | SentSince(_) => true,
        Not(k) => needs_content(k),
        Or(a, b) => needs_content(a) || needs_content(b),
        And(keys) => keys.iter().any(needs_content),
        _ => false,
    }
}

/// One worker's view of a SEARCH: the snapshot and the session's sequence-number map.
struct Scan<'a> {
    snap: &'a redb::ReadTransaction,
    mailbox: u64,
    /// The view's UIDs in sequence order.
    uids: &'a [u32],
    recent: &'a [bool],
    saved: &'a [u32],
}

impl Scan<'_> {
    /// Evaluates `key` on the messages at sequence positions `range`; matching (uid, modseq).
    fn run(
        &self,
        range: std::ops::Range<usize>,
        key: &SearchKey,
        seen_of: Option<&str>,
    ) -> StoreResult<Vec<(u32, u64)>> {
        let ctx = Ctx {
            uids: self.uids,
            saved: self.saved,
        };
        let mut out = Vec::new();
        let mut reader = blob::Reader::new(self.snap)?;
        let part = &self.uids[range.clone()];
        for (i, chunk) in part.chunks(256).enumerate() {
            let chunk_start = range.start + i * 256;
            let rows = rows_with_blobs(self.snap, self.mailbox, chunk, seen_of)?;
            for (uid, row, b) in rows {
                let seq = chunk_start + chunk.iter().position(|&u| u == uid).unwrap_or(0) + 1;
                let mut m = Msg {
                    seq: seq as u32,
                    uid,
                    row: &row,
                    recent: self.recent[seq - 1],
                    blob: &b,
                    meta: None,
                    raw: None,
                    reader: &mut reader,
                };
                if eval(key, &mut m, &ctx)? {
                    out.push((uid, row.modseq));
                }
            }
        }
        Ok(out)
    }
}

struct Ctx<'a> {
    /// The view's UIDs in sequence order.
    uids: &'a [u32],
    saved: &'a [u32],
}

/// One message under evaluation; metadata and content are loaded only when a key needs them.
struct Msg<'a> {
    seq: u32,
    uid: u32,
    row: &'a MessageRecord,
    recent: bool,
    blob: &'a BlobRecord,
    meta: Option<MessageMeta>,
    /// Loaded content: the header only, or also the text parts.
    raw: Option<(Sparse, bool)>,
    reader: &'a mut blob::Reader,
}

impl Msg<'_> {
    fn meta(&mut self) -> &MessageMeta {
        let bytes = &self.blob.meta;
        self.meta.get_or_insert_with(|| {
            MessageMeta::decode(bytes).unwrap_or_else(|| crate::mime::analyze(b""))
        })
    }

    /// Does an envelope field (decoded) contain `t`?
    fn envelope(&mut self, field: EnvelopeField, t: &str) -> bool {
        envelope_text(self.meta(), field).is_some_and(|v| contains_ci(&v, t))
    }

    /// Does `field` (decoded) contain `t`? Header fields need only the header bytes, BODY and
    /// TEXT only the text parts: attachments are never read.
    /// An empty `t` matches when the field exists (RFC 3501 §6.4.4 HEADER).
    fn field(&mut self, field: SearchField<'_>, t: &str) -> StoreResult<bool> {
        let whole = matches!(field, SearchField::Body | SearchField::Text);
        let have = matches!(&self.raw, Some((_, w)) if *w || !whole);
        if !have {
            // Whatever BODY or TEXT reads covers what a header key reads.
            let want = if whole { SearchField::Text } else { field };
            let ranges = search_ranges(self.meta(), want);
            let mut sparse = Sparse::default();
            for (start, end) in ranges {
                let end = end.min(self.blob.size);
                let at = sparse.data.len();
                let len = end.saturating_sub(start);
                self.reader
                    .read_into(self.row.blob, start, len, &mut sparse.data)?;
                if (sparse.data.len() - at) as u64 != len {
                    return Err(crate::store::StoreError::Internal(
                        "stored message shorter than recorded".into(),
                    ));
                }
                sparse.spans.push((start, start + len, at));
            }
            self.raw = Some((sparse, whole));
        }
        self.meta();
        let (Some((raw, _)), Some(meta)) = (&self.raw, &self.meta) else {
            return Ok(false);
        };
        Ok(search_text(raw, meta, field).is_some_and(|v| contains_ci(&v, t)))
    }
}

/// Sequence-number set membership; `$` is the saved result (UIDs).
fn in_set(set: &Sequence, n: u32, largest: u32, saved: &[u32], uid: u32) -> bool {
    match set {
        Sequence::Saved => saved.contains(&uid),
        Sequence::Set(s) => s
            .resolve(largest)
            .iter()
            .any(|&(lo, hi)| (lo..=hi).contains(&n)),
    }
}

/// Day number (days since epoch) of a unix time in a zone.
fn day_of(unix: i64, zone_minutes: i64) -> i64 {
    (unix + zone_minutes * 60).div_euclid(86400)
}

fn eval(key: &SearchKey, m: &mut Msg<'_>, ctx: &Ctx<'_>) -> StoreResult<bool> {
    use SearchKey::*;
    let f = |bit| m.row.flags & bit != 0;
    let has_kw = |k: &str| m.row.keywords.iter().any(|x| x.eq_ignore_ascii_case(k));
    let internal_day = day_of(
        m.row.internal_date.unix,
        m.row.internal_date.zone_minutes.into(),
    );
    Ok(match key {
        All => true,
        Answered => f(flagbits::ANSWERED),
        Deleted => f(flagbits::DELETED),
        Draft => f(flagbits::DRAFT),
        Flagged => f(flagbits::FLAGGED),
        Seen => f(flagbits::SEEN),
        Unanswered => !f(flagbits::ANSWERED),
        Undeleted => !f(flagbits::DELETED),
        Undraft => !f(flagbits::DRAFT),
        Unflagged => !f(flagbits::FLAGGED),
        Unseen => !f(flagbits::SEEN),
        Recent => m.recent,
        Old => !m.recent,
        New => m.recent && !f(flagbits::SEEN),
        Keyword(k) => has_kw(k),
        Unkeyword(k) => !has_kw(k),
        Larger(n) => m.blob.size > *n,
        Smaller(n) => m.blob.size < *n,
        Before(d) => internal_day < d.div_euclid(86400),
        On(d) => internal_day == d.div_euclid(86400),
        Since(d) => internal_day >= d.div_euclid(86400),
        ModSeq(n) => m.row.modseq >= *n,
        Seq(set) => in_set(set, m.seq, ctx.uids.len() as u32, ctx.saved, m.uid),
        Uid(set) => match set {
            Sequence::Saved => ctx.saved.contains(&m.uid),
            Sequence::Set(s) => {
                let largest = ctx.uids.last().copied().unwrap_or(0);
                s.resolve(largest)
                    .iter()
                    .any(|&(lo, hi)| (lo..=hi).contains(&m.uid))
            }
        },
        Not(k) => !eval(k, m, ctx)?,
        Or(a, b) => eval(a, m, ctx)? || eval(b, m, ctx)?,
        And(keys) => {
            for k in keys {
                if !eval(k, m, ctx)? {
                    return Ok(false);
                }
            }
            true
        }
        SentBefore(x) | SentOn(x) | SentSince(x) => {
            let Some(day) = m.meta().sent_day() else {
                return Ok(false);
            };
            let x = x.div_euclid(86400);
            match key {
                SentBefore(_) => day < x,
                SentOn(_) => day == x,
                _ => day >= x,
            }
        }
        // From the stored envelope: no message bytes needed.
        From(t) => m.envelope(EnvelopeField::From, t),
        To(t) => m.envelope(EnvelopeField::To, t),
        Cc(t) => m.envelope(EnvelopeField::Cc, t),
        Bcc(t) => m.envelope(EnvelopeField::Bcc, t),
        Subject(t) => m.envelope(EnvelopeField::Subject, t),
        Header(name, t) => m.field(SearchField::Header(name.as_bytes()), t)?,
        Body(t) => m.field(SearchField::Body, t)?,
        Text(t) => m.field(SearchField::Text, t)?,
    })
}
