//! RFC 3501 §6.4.4 SEARCH and UID SEARCH, with RFC 4731 ESEARCH results and RFC 5182 SEARCHRES.
//! Selected state.
//!
//! Evaluation runs on the blocking pool against one read snapshot. Flag, size, date and set keys
//! use the message rows only; text keys load and parse one message at a time (mail-parser), so
//! memory stays bounded whatever the mailbox size.

use mail_parser::{Message, MessageParser, PartType};

use crate::error::{CmdError, CmdResult, Done};
use crate::proto::command::Sequence;
use crate::proto::response::{Code, Data};
use crate::proto::search::{ReturnOpt, SearchKey, SearchProgram};
use crate::proto::types::{SeqSet, days_from_civil};
use crate::store::message::rows_with_blobs;
use crate::store::schema::{MessageRecord, flagbits};
use crate::store::{Result as StoreResult, blob};

use super::super::session::Session;

/// Charsets accepted for search strings (RFC 3501 §6.4.4).
const CHARSETS: [&str; 2] = ["UTF-8", "US-ASCII"];

pub async fn search(s: &mut Session, tag: &str, program: SearchProgram, uid: bool) -> CmdResult {
    if let Some(cs) = &program.charset {
        if !CHARSETS.contains(&cs.as_str()) {
            return Err(CmdError::no_code(
                Code::BadCharset(CHARSETS.iter().map(|c| c.to_string()).collect()),
                "Unsupported charset",
            ));
        }
    }
    let saved = s.saved.clone();
    let (_, sel) = s.state.selected()?;
    let uids: Vec<u32> = (1..=sel.view.exists())
        .filter_map(|q| sel.view.uid_of(q))
        .collect();
    let recent: Vec<bool> = uids.iter().map(|&u| sel.view.is_recent(u)).collect();
    let snap = s.ctx.store.snapshot_txn().await?;
    let mailbox = sel.id;
    let key = program.key.clone();
    let matched = smol::unblock(move || -> StoreResult<Vec<u32>> {
        let ctx = Ctx {
            uids: &uids,
            saved: &saved,
        };
        let mut out = Vec::new();
        for (chunk_start, chunk) in uids.chunks(256).enumerate().map(|(i, c)| (i * 256, c)) {
            let rows = rows_with_blobs(&snap, mailbox, chunk)?;
            for (uid, row, b) in rows {
                let seq = chunk_start + chunk.iter().position(|&u| u == uid).unwrap_or(0) + 1;
                let mut m = Msg {
                    seq: seq as u32,
                    uid,
                    row: &row,
                    recent: recent[seq - 1],
                    size: b.size,
                    raw: None,
                    snap: &snap,
                };
                if eval(&key, &mut m, &ctx)? {
                    out.push(uid);
                }
            }
        }
        Ok(out)
    })
    .await?;
    let (_, sel) = s.state.selected()?;
    let nums: Vec<u32> = if uid {
        matched.clone()
    } else {
        matched.iter().filter_map(|&u| sel.view.seq_of(u)).collect()
    };
    match &program.ret {
        None => s.conn.queue(Data::Search { nums, modseq: None }),
        Some(opts) => {
            if opts.contains(&ReturnOpt::Save) {
                s.saved = matched;
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
                    modseq: None,
                });
            }
        }
    }
    Done::ok("completed")
}

struct Ctx<'a> {
    /// The view's UIDs in sequence order.
    uids: &'a [u32],
    saved: &'a [u32],
}

struct Msg<'a> {
    seq: u32,
    uid: u32,
    row: &'a MessageRecord,
    recent: bool,
    size: u64,
    raw: Option<Vec<u8>>,
    snap: &'a redb::ReadTransaction,
}

impl Msg<'_> {
    fn raw(&mut self) -> StoreResult<&[u8]> {
        if self.raw.is_none() {
            self.raw = Some(blob::read_range(self.snap, self.row.blob, 0, self.size)?);
        }
        Ok(self.raw.as_deref().unwrap_or_default())
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
        Larger(n) => m.size > *n,
        Smaller(n) => m.size < *n,
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
        SentBefore(_) | SentOn(_) | SentSince(_) => {
            let raw = m.raw()?;
            let Some(msg) = MessageParser::default().parse_headers(raw) else {
                return Ok(false);
            };
            let Some(d) = msg.date() else {
                return Ok(false);
            };
            let day = days_from_civil(d.year.into(), d.month.into(), d.day.into());
            match key {
                SentBefore(x) => day < x.div_euclid(86400),
                SentOn(x) => day == x.div_euclid(86400),
                SentSince(x) => day >= x.div_euclid(86400),
                _ => false,
            }
        }
        From(t) | To(t) | Cc(t) | Bcc(t) => {
            let raw = m.raw()?;
            let Some(msg) = MessageParser::default().parse_headers(raw) else {
                return Ok(false);
            };
            let addr = match key {
                From(_) => msg.from(),
                To(_) => msg.to(),
                Cc(_) => msg.cc(),
                _ => msg.bcc(),
            };
            addr.is_some_and(|a| {
                a.iter().any(|x| {
                    x.name().is_some_and(|n| contains_ci(n, t))
                        || x.address().is_some_and(|n| contains_ci(n, t))
                })
            })
        }
        Subject(t) => {
            let raw = m.raw()?;
            MessageParser::default()
                .parse_headers(raw)
                .is_some_and(|msg| msg.subject().is_some_and(|s| contains_ci(s, t)))
        }
        Header(name, t) => {
            let raw = m.raw()?;
            let Some(msg) = MessageParser::default().parse_headers(raw) else {
                return Ok(false);
            };
            header_matches(&msg, name, t)
        }
        Body(t) => {
            let raw = m.raw()?;
            MessageParser::default()
                .parse(raw)
                .is_some_and(|msg| body_contains(&msg, t))
        }
        Text(t) => {
            let raw = m.raw()?;
            let header_hit = {
                let end = raw
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .unwrap_or(raw.len());
                contains_ci(&String::from_utf8_lossy(&raw[..end]), t)
            };
            header_hit
                || MessageParser::default().parse(raw).is_some_and(|msg| {
                    body_contains(&msg, t)
                        || msg
                            .headers()
                            .iter()
                            .any(|h| h.value().as_text().is_some_and(|v| contains_ci(v, t)))
                })
        }
    })
}

/// HEADER name value: raw (unfolded) or decoded value contains the string; empty string =
/// the field exists.
fn header_matches(msg: &Message<'_>, name: &str, t: &str) -> bool {
    msg.headers_raw().any(|(n, v)| {
        n.eq_ignore_ascii_case(name) && (t.is_empty() || contains_ci(&v.replace("\r\n", ""), t))
    }) || msg.headers().iter().any(|h| {
        h.name().eq_ignore_ascii_case(name)
            && h.value().as_text().is_some_and(|v| contains_ci(v, t))
    })
}

/// Any text part (including text parts of attachments and nested messages), decoded.
fn body_contains(msg: &Message<'_>, t: &str) -> bool {
    msg.parts.iter().any(|p| match &p.body {
        PartType::Text(s) | PartType::Html(s) => contains_ci(s, t),
        PartType::Message(inner) => body_contains(inner, t),
        _ => false,
    })
}

/// Case-insensitive substring (Unicode lower case).
pub fn contains_ci(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if haystack.is_ascii() && needle.is_ascii() {
        let (h, n) = (haystack.as_bytes(), needle.as_bytes());
        return h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_insensitive() {
        assert!(contains_ci("Hello World", "wORLD"));
        assert!(contains_ci("Grüße", "GRÜSSE") || contains_ci("Grüße", "grüße"));
        assert!(!contains_ci("abc", "abd"));
    }
}
