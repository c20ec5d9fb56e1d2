//! RFC 3501 §6.4.5 FETCH and §6.4.8 UID FETCH. Selected state.
//!
//! Message rows and parsed metadata come from one read snapshot; message bytes are streamed from
//! the same snapshot into the literals, so memory stays bounded and a concurrent expunge cannot
//! cut a literal short.

use crate::error::{CmdError, CmdResult, Done};
use crate::mime::MessageMeta;
use crate::proto::fetch::{FetchAttr, SectionText};
use crate::proto::response::{BlobSlice, BodyData, Data, FetchItem};
use crate::store::message::{FlagOp, rows_with_blobs, uid_ranges};
use crate::store::schema::{BlobRecord, MessageRecord, flagbits};

use super::super::session::Session;
use super::super::state::Selected;
use super::resolve;
use crate::proto::command::Sequence;

/// Messages read from storage per blocking call.
const BATCH: usize = 128;

/// UID FETCH responses always carry UID (RFC 3501 §6.4.8).
pub async fn fetch(
    s: &mut Session,
    set: Sequence,
    atts: Vec<FetchAttr>,
    is_uid: bool,
) -> CmdResult {
    let saved = s.saved.clone();
    let (_, sel) = s.state.selected()?;
    let uids = resolve(sel, &set, is_uid, &saved)?;
    let store = s.ctx.store.clone();
    // Implicit \Seen (RFC 3501 §6.4.5) before reading, so FLAGS show it.
    let mut seen_now: Vec<u32> = Vec::new();
    if !sel.read_only && atts.iter().any(FetchAttr::sets_seen) && !uids.is_empty() {
        let (rows, assigned) = store
            .store_flags(
                sel.id,
                uid_ranges(&uids),
                FlagOp::Add,
                flagbits::SEEN,
                vec![],
            )
            .await?;
        sel.view.own_changes(&assigned);
        seen_now = rows
            .into_iter()
            .filter(|(_, r)| assigned.contains(&r.modseq))
            .map(|(u, _)| u)
            .collect();
    }
    let snap = store.snapshot_txn().await?;
    let mailbox = sel.id;
    for batch in uids.chunks(BATCH) {
        let (snap2, batch_uids) = (snap.clone(), batch.to_vec());
        let rows = smol::unblock(move || rows_with_blobs(&snap2, mailbox, &batch_uids)).await?;
        for (uid, row, blob) in rows {
            let (_, sel) = s.state.selected()?;
            let Some(seq) = sel.view.seq_of(uid) else {
                continue;
            };
            let items = items_for(
                sel,
                uid,
                &row,
                &blob,
                &atts,
                is_uid,
                seen_now.contains(&uid),
            )?;
            s.conn.send(Data::Fetch { seq, items }, Some(&snap)).await?;
        }
    }
    s.conn.flush(Some(&snap)).await?;
    Done::ok("completed")
}

/// Builds the items of one message in the order requested.
fn items_for(
    sel: &Selected,
    uid: u32,
    row: &MessageRecord,
    blob: &BlobRecord,
    atts: &[FetchAttr],
    with_uid: bool,
    seen_changed: bool,
) -> Result<Vec<FetchItem>, CmdError> {
    let meta = MessageMeta::decode(&blob.meta).unwrap_or_default();
    let mut items = Vec::with_capacity(atts.len() + 2);
    if with_uid && !atts.contains(&FetchAttr::Uid) {
        items.push(FetchItem::Uid(uid));
    }
    let whole = |start: u64, len: u64| {
        BodyData::Blob(BlobSlice {
            blob: row.blob,
            start,
            len,
        })
    };
    let header_len = meta.header_len().min(row.size);
    for att in atts {
        let item = match att {
            FetchAttr::Flags => FetchItem::Flags(sel.view.flags_of(uid, row)),
            FetchAttr::Uid => FetchItem::Uid(uid),
            FetchAttr::InternalDate => FetchItem::InternalDate(row.internal_date),
            FetchAttr::Rfc822Size => FetchItem::Rfc822Size(row.size),
            FetchAttr::ModSeq => FetchItem::ModSeq(row.modseq),
            FetchAttr::Rfc822 => section_item("RFC822".into(), None, whole(0, row.size)),
            FetchAttr::Rfc822Header => {
                section_item("RFC822.HEADER".into(), None, whole(0, header_len))
            }
            FetchAttr::Rfc822Text => section_item(
                "RFC822.TEXT".into(),
                None,
                whole(header_len, row.size - header_len),
            ),
            FetchAttr::BodySection {
                section, partial, ..
            } => {
                let (start, len) = match (&section.part[..], &section.text) {
                    ([], None) => (0, row.size),
                    ([], Some(SectionText::Header)) => (0, header_len),
                    ([], Some(SectionText::Text)) => (header_len, row.size - header_len),
                    _ => return Err(CmdError::no("This section form is not supported")),
                };
                let name = format!("BODY[{}]", section.spec());
                let (start, len, origin) = apply_partial(start, len, *partial);
                section_item(name, origin, whole(start, len))
            }
            FetchAttr::Envelope
            | FetchAttr::Body
            | FetchAttr::BodyStructure
            | FetchAttr::Binary { .. }
            | FetchAttr::BinarySize { .. } => {
                return Err(CmdError::no("This fetch item is not supported"));
            }
        };
        items.push(item);
    }
    if seen_changed && !atts.contains(&FetchAttr::Flags) {
        items.push(FetchItem::Flags(sel.view.flags_of(uid, row)));
    }
    Ok(items)
}

fn section_item(name: String, origin: Option<u32>, data: BodyData) -> FetchItem {
    FetchItem::Section {
        name,
        origin,
        data,
        binary: false,
    }
}

/// `<origin.count>` applied to a byte range: RFC 3501 §6.4.5 partial semantics.
pub fn apply_partial(start: u64, len: u64, partial: Option<(u32, u32)>) -> (u64, u64, Option<u32>) {
    match partial {
        None => (start, len, None),
        Some((origin, count)) => {
            let off = u64::from(origin).min(len);
            let n = u64::from(count).min(len - off);
            (start + off, n, Some(origin))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_ranges() {
        assert_eq!(apply_partial(10, 100, None), (10, 100, None));
        assert_eq!(apply_partial(10, 100, Some((0, 20))), (10, 20, Some(0)));
        assert_eq!(apply_partial(10, 100, Some((90, 20))), (100, 10, Some(90)));
        assert_eq!(apply_partial(10, 100, Some((200, 20))), (110, 0, Some(200)));
    }
}
