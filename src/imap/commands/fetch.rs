//! RFC 3501 §6.4.5 FETCH and §6.4.8 UID FETCH, with RFC 3516 BINARY. Selected state.
//!
//! Message rows and parsed metadata come from one read snapshot; ENVELOPE, BODYSTRUCTURE and
//! section offsets are read from the metadata stored at append (never re-parsed). Whole-message
//! and section bytes are streamed from the same snapshot into the literals, so memory stays
//! bounded and a concurrent expunge cannot cut a literal short. Only HEADER.FIELDS, MIME headers
//! and decoded BINARY content are materialised, one message at a time.

use redb::ReadTransaction;

use crate::error::{CmdError, CmdResult, Done};
use crate::mime::{self, MessageMeta, SectionData};
use crate::proto::command::Sequence;
use crate::proto::fetch::{FetchAttr, Partial, Section, SectionText};
use crate::proto::response::{BlobSlice, BodyData, Data, FetchItem};
use crate::proto::types::{Flag, SeqSet};
use crate::store::message::{FlagOp, rows_with_blobs, uid_ranges};
use crate::store::schema::{BlobRecord, MessageRecord, flagbits};
use crate::store::{Result as StoreResult, StoreError, blob};

use super::super::session::Session;
use super::resolve;

/// Messages prepared per blocking call.
const BATCH: usize = 64;

/// UID FETCH responses always carry UID (RFC 3501 §6.4.8). `CHANGEDSINCE` (RFC 7162 §3.1.4)
/// limits the answer to messages changed after that modseq and implies MODSEQ; `VANISHED`
/// (§3.2.6) first reports the UIDs of the set expunged since then.
pub async fn fetch(
    s: &mut Session,
    set: Sequence,
    mut atts: Vec<FetchAttr>,
    is_uid: bool,
    changed_since: Option<u64>,
    vanished: bool,
) -> CmdResult {
    if vanished && !s.enabled.qresync {
        return Err(CmdError::Bad("VANISHED needs ENABLE QRESYNC".into()));
    }
    if changed_since.is_some() {
        s.enabled.condstore = true;
        if !atts.contains(&FetchAttr::ModSeq) {
            atts.push(FetchAttr::ModSeq);
        }
    }
    let saved = s.saved.clone();
    let (_, sel) = s.state.selected()?;
    if let (true, Some(since), Sequence::Set(requested)) = (vanished, changed_since, &set) {
        let gone = s.ctx.store.vanished_since(sel.id, since).await?;
        let ranges = requested.resolve(
            sel.view
                .max_uid()
                .max(gone.uids.last().copied().unwrap_or(0)),
        );
        let uids: Vec<u32> = gone
            .uids
            .into_iter()
            .filter(|u| {
                ranges.iter().any(|&(lo, hi)| (lo..=hi).contains(u))
                    && sel.view.seq_of(*u).is_none()
            })
            .collect();
        if !uids.is_empty() {
            s.conn.queue(Data::Vanished {
                earlier: true,
                uids: SeqSet::from_sorted(&uids),
            });
        }
    }
    let (_, sel) = s.state.selected()?;
    let uids = resolve(sel, &set, is_uid, &saved)?;
    let store = s.ctx.store.clone();
    // Implicit \Seen (RFC 3501 §6.4.5) before reading, so FLAGS show it.
    let mut seen_now: Vec<u32> = Vec::new();
    // Implicit \Seen needs the `s` right (RFC 4314 §4); without it, FETCH just reads.
    if !sel.read_only
        && sel.rights.has('s')
        && atts.iter().any(FetchAttr::sets_seen)
        && !uids.is_empty()
    {
        let r = store
            .store_flags(
                sel.id,
                uid_ranges(&uids),
                FlagOp::Add,
                flagbits::SEEN,
                vec![],
                None,
                sel.seen_of.clone(),
            )
            .await?;
        sel.view.own_changes(&r.assigned);
        seen_now = r
            .rows
            .into_iter()
            .filter(|(_, row)| r.assigned.contains(&row.modseq))
            .map(|(u, _)| u)
            .collect();
    }
    let snap = store.snapshot_txn().await?;
    let mailbox = sel.id;
    let mut want = atts.clone();
    if is_uid && !want.contains(&FetchAttr::Uid) {
        want.insert(0, FetchAttr::Uid);
    }
    let want = std::sync::Arc::new(want);
    // Each batch's items are built on the blocking pool while the previous batch is written
    // (and its message bytes streamed), so building and writing overlap.
    let start = |s: &mut Session, batch: &[u32]| -> Result<smol::Task<_>, CmdError> {
        let (_, sel) = s.state.selected()?;
        let jobs: Vec<Job> = batch
            .iter()
            .map(|&uid| Job {
                uid,
                recent: sel.view.is_recent(uid),
                seen_now: seen_now.contains(&uid),
            })
            .collect();
        let (snap2, want2, seen_of) = (snap.clone(), want.clone(), sel.seen_of.clone());
        Ok(smol::unblock(move || {
            build_batch(
                &snap2,
                mailbox,
                &jobs,
                &want2,
                changed_since,
                seen_of.as_deref(),
            )
        }))
    };
    let batches: Vec<&[u32]> = uids.chunks(BATCH).collect();
    let mut next = batches.first().map(|b| start(s, b)).transpose()?;
    for i in 0..batches.len() {
        let Some(task) = next.take() else { break };
        let built = task.await;
        next = batches.get(i + 1).map(|b| start(s, b)).transpose()?;
        let built = built.map_err(|e| match e {
            BuildError::Store(e) => CmdError::from(e),
            BuildError::UnknownCte => CmdError::no_code(
                crate::proto::response::Code::UnknownCte,
                "Unknown Content-Transfer-Encoding",
            ),
        })?;
        for (uid, items) in built {
            let (_, sel) = s.state.selected()?;
            let Some(seq) = sel.view.seq_of(uid) else {
                continue;
            };
            s.conn.send(Data::Fetch { seq, items }, Some(&snap)).await?;
        }
    }
    s.conn.flush(Some(&snap)).await?;
    Done::ok("completed")
}

/// Per-message input to the blocking builder.
struct Job {
    uid: u32,
    recent: bool,
    seen_now: bool,
}

enum BuildError {
    Store(StoreError),
    UnknownCte,
}

impl From<StoreError> for BuildError {
    fn from(e: StoreError) -> Self {
        BuildError::Store(e)
    }
}

/// Reads rows and metadata for a batch and builds every FETCH item (blocking).
fn build_batch(
    snap: &ReadTransaction,
    mailbox: u64,
    jobs: &[Job],
    atts: &[FetchAttr],
    changed_since: Option<u64>,
    seen_of: Option<&str>,
) -> Result<Vec<(u32, Vec<FetchItem>)>, BuildError> {
    let uids: Vec<u32> = jobs.iter().map(|j| j.uid).collect();
    let rows = rows_with_blobs(snap, mailbox, &uids, seen_of)?;
    let mut out = Vec::with_capacity(rows.len());
    for (uid, row, blob) in rows {
        if changed_since.is_some_and(|c| row.modseq <= c) {
            continue;
        }
        let job = jobs
            .iter()
            .find(|j| j.uid == uid)
            .expect("job for every row");
        let m = Msg {
            snap,
            row: &row,
            blob: &blob,
            meta: None,
            recent: job.recent,
        };
        out.push((uid, items_for(m, uid, atts, job.seen_now)?));
    }
    Ok(out)
}

/// One message being rendered.
struct Msg<'a> {
    snap: &'a ReadTransaction,
    row: &'a MessageRecord,
    blob: &'a BlobRecord,
    meta: Option<MessageMeta>,
    recent: bool,
}

impl Msg<'_> {
    fn meta(&mut self) -> &MessageMeta {
        let blob = self.blob;
        self.meta.get_or_insert_with(|| {
            MessageMeta::decode(&blob.meta).unwrap_or_else(|| mime::analyze(b""))
        })
    }

    fn flags(&self) -> Vec<Flag> {
        let mut f = self.row.flag_list();
        if self.recent {
            f.push(Flag::Recent);
        }
        f
    }

    fn slice(&self, start: u64, len: u64) -> BodyData {
        BodyData::Blob(BlobSlice {
            blob: self.row.blob,
            start,
            len,
        })
    }

    fn read(&self, start: u64, len: u64) -> StoreResult<Vec<u8>> {
        blob::read_range(self.snap, self.row.blob, start, len)
    }
}

/// Builds the items of one message in the order requested.
fn items_for(
    mut m: Msg<'_>,
    uid: u32,
    atts: &[FetchAttr],
    seen_changed: bool,
) -> Result<Vec<FetchItem>, BuildError> {
    let size = m.row.size;
    let mut items = Vec::with_capacity(atts.len() + 1);
    for att in atts {
        let item = match att {
            FetchAttr::Flags => FetchItem::Flags(m.flags()),
            FetchAttr::Uid => FetchItem::Uid(uid),
            FetchAttr::InternalDate => FetchItem::InternalDate(m.row.internal_date),
            FetchAttr::Rfc822Size => FetchItem::Rfc822Size(size),
            FetchAttr::ModSeq => FetchItem::ModSeq(m.row.modseq),
            FetchAttr::Envelope => {
                let mut wire = Vec::new();
                mime::write_envelope(m.meta(), &mut wire);
                FetchItem::Rendered {
                    name: "ENVELOPE",
                    wire,
                }
            }
            FetchAttr::Body | FetchAttr::BodyStructure => {
                let extensible = *att == FetchAttr::BodyStructure;
                let mut wire = Vec::new();
                mime::write_bodystructure(m.meta(), extensible, &mut wire);
                FetchItem::Rendered {
                    name: if extensible { "BODYSTRUCTURE" } else { "BODY" },
                    wire,
                }
            }
            FetchAttr::Rfc822 => section("RFC822".into(), None, m.slice(0, size)),
            FetchAttr::Rfc822Header => {
                let h = m.meta().header_len().min(size);
                section("RFC822.HEADER".into(), None, m.slice(0, h))
            }
            FetchAttr::Rfc822Text => {
                let h = m.meta().header_len().min(size);
                section("RFC822.TEXT".into(), None, m.slice(h, size - h))
            }
            FetchAttr::BodySection {
                section: sec,
                partial,
                ..
            } => {
                let name = format!("BODY[{}]", sec.spec());
                let data = body_section(&mut m, sec, *partial)?;
                section(name, partial.map(|p| p.0), data)
            }
            FetchAttr::Binary { part, partial, .. } => {
                let name = format!("BINARY[{}]", join(part));
                let data = binary(&mut m, part, *partial)?;
                let binary = !is_8bit_domain(&m, &data)?;
                FetchItem::Section {
                    name,
                    origin: partial.map(|p| p.0),
                    data,
                    binary,
                }
            }
            FetchAttr::BinarySize { part } => {
                let n = match binary(&mut m, part, None)? {
                    BodyData::Nil => 0,
                    BodyData::Bytes(b) => b.len() as u64,
                    BodyData::Blob(s) => s.len,
                };
                FetchItem::BinarySize {
                    part: join(part),
                    size: n,
                }
            }
        };
        items.push(item);
    }
    if seen_changed && !atts.contains(&FetchAttr::Flags) {
        items.push(FetchItem::Flags(m.flags()));
    }
    Ok(items)
}

fn section(name: String, origin: Option<u32>, data: BodyData) -> FetchItem {
    FetchItem::Section {
        name,
        origin,
        data,
        binary: false,
    }
}

fn join(part: &[u32]) -> String {
    part.iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

/// The proto layer's section as the mime module's.
fn to_mime(sec: &Section) -> mime::Section {
    let text = match &sec.text {
        None => mime::SectionText::Full,
        Some(SectionText::Header) => mime::SectionText::Header,
        Some(SectionText::Text) => mime::SectionText::Text,
        Some(SectionText::Mime) => mime::SectionText::Mime,
        Some(SectionText::HeaderFields { not, fields }) => mime::SectionText::HeaderFields {
            not: *not,
            fields: fields.iter().map(|f| f.as_bytes().to_vec()).collect(),
        },
    };
    mime::Section {
        part: sec.part.clone(),
        text,
    }
}

/// `BODY[section]<partial>`: a slice of the stored bytes, or filtered header lines.
/// A part that does not exist is NIL (Dovecot sends an empty string; both fit `nstring`).
fn body_section(m: &mut Msg<'_>, sec: &Section, partial: Partial) -> Result<BodyData, BuildError> {
    let size = m.row.size;
    let Some(data) = mime::resolve_section(m.meta(), &to_mime(sec)) else {
        return Ok(BodyData::Nil);
    };
    Ok(match data {
        SectionData::Empty => BodyData::Bytes(Vec::new()),
        SectionData::Range(r) => {
            let (start, len) = (
                r.start.min(size),
                r.end.min(size).saturating_sub(r.start.min(size)),
            );
            let (start, len) = apply_partial(start, len, partial);
            m.slice(start, len)
        }
        SectionData::FilterHeader { range, not, fields } => {
            let raw = m.read(range.start, range.end.saturating_sub(range.start))?;
            let mut out = Vec::new();
            mime::filter_header(&raw, &fields, not, &mut out);
            BodyData::Bytes(cut(out, partial))
        }
    })
}

/// `BINARY[part]<partial>` (RFC 3516): the part body with its transfer encoding undone.
fn binary(m: &mut Msg<'_>, part: &[u32], partial: Partial) -> Result<BodyData, BuildError> {
    let Some(enc) = mime::part_encoding(m.meta(), part) else {
        return Ok(BodyData::Nil);
    };
    let sec = Section {
        part: part.to_vec(),
        text: None,
    };
    let size = m.row.size;
    let range = match mime::resolve_section(m.meta(), &to_mime(&sec)) {
        Some(SectionData::Range(r)) => r.start.min(size)..r.end.min(size),
        Some(_) => 0..0,
        None => return Ok(BodyData::Nil),
    };
    let len = range.end - range.start;
    if enc.is_identity() {
        let (start, len) = apply_partial(range.start, len, partial);
        return Ok(m.slice(start, len));
    }
    let raw = m.read(range.start, len)?;
    let decoded = mime::decode_transfer(enc, &raw).map_err(|_| BuildError::UnknownCte)?;
    Ok(BodyData::Bytes(cut(decoded, partial)))
}

/// Whether BINARY data may go as an ordinary literal: RFC 3516 §4.3 asks for a string instead of
/// a literal8 when the decoded data is in the "8bit" domain (RFC 2045 §2.8: no NUL, CR and LF
/// only as CRLF, lines of at most 998 octets) and has no NUL. Stored bytes are scanned in pieces.
fn is_8bit_domain(m: &Msg<'_>, data: &BodyData) -> Result<bool, BuildError> {
    let mut scan = EightBit::default();
    match data {
        BodyData::Nil => {}
        BodyData::Bytes(b) => scan.feed(b),
        BodyData::Blob(s) => {
            const PIECE: u64 = 256 * 1024;
            let mut at = 0;
            while at < s.len && scan.ok {
                let n = PIECE.min(s.len - at);
                scan.feed(&m.read(s.start + at, n)?);
                at += n;
            }
        }
    }
    Ok(scan.finish())
}

/// Incremental RFC 2045 §2.8 "8bit data" check.
struct EightBit {
    ok: bool,
    line: usize,
    prev_cr: bool,
}

impl Default for EightBit {
    fn default() -> Self {
        EightBit {
            ok: true,
            line: 0,
            prev_cr: false,
        }
    }
}

impl EightBit {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match b {
                0 => self.ok = false,
                b'\n' if self.prev_cr => self.line = 0,
                b'\n' => self.ok = false,
                _ if self.prev_cr => self.ok = false,
                b'\r' => {}
                _ => {
                    self.line += 1;
                    if self.line > 998 {
                        self.ok = false;
                    }
                }
            }
            self.prev_cr = b == b'\r';
            if !self.ok {
                return;
            }
        }
    }

    fn finish(self) -> bool {
        self.ok && !self.prev_cr
    }
}

/// Applies `<origin.count>` to materialised bytes.
fn cut(mut bytes: Vec<u8>, partial: Partial) -> Vec<u8> {
    if let Some((origin, count)) = partial {
        let start = (origin as usize).min(bytes.len());
        let end = start.saturating_add(count as usize).min(bytes.len());
        bytes.truncate(end);
        bytes.drain(..start);
    }
    bytes
}

/// `<origin.count>` applied to a byte range: RFC 3501 §6.4.5 partial semantics.
pub fn apply_partial(start: u64, len: u64, partial: Partial) -> (u64, u64) {
    match partial {
        None => (start, len),
        Some((origin, count)) => {
            let off = u64::from(origin).min(len);
            let n = u64::from(count).min(len - off);
            (start + off, n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_ranges() {
        assert_eq!(apply_partial(10, 100, None), (10, 100));
        assert_eq!(apply_partial(10, 100, Some((0, 20))), (10, 20));
        assert_eq!(apply_partial(10, 100, Some((90, 20))), (100, 10));
        assert_eq!(apply_partial(10, 100, Some((200, 20))), (110, 0));
        assert_eq!(cut(b"hello".to_vec(), Some((1, 3))), b"ell");
        assert_eq!(cut(b"hello".to_vec(), Some((9, 3))), b"");
    }

    #[test]
    fn eight_bit_domain() {
        let check = |b: &[u8]| {
            let mut s = EightBit::default();
            for piece in b.chunks(3) {
                s.feed(piece);
            }
            s.finish()
        };
        assert!(check(b""));
        assert!(check("Gr\u{fc}\u{df}e\r\nline two\r\n".as_bytes()));
        assert!(check(b"no final line break"));
        assert!(!check(b"nul\0inside"));
        assert!(!check(b"bare\nLF"));
        assert!(!check(b"bare\rCR"));
        assert!(!check(b"ends with CR\r"));
        assert!(check(&[b'x'; 998]));
        assert!(!check(&[b'x'; 999]));
        let mut long = vec![b'x'; 998];
        long.extend_from_slice(b"\r\n");
        long.extend_from_slice(&[b'y'; 998]);
        assert!(check(&long));
    }
}
