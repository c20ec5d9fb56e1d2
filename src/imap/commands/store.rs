//! RFC 3501 §6.4.6 STORE and UID STORE. Selected state, read-write.

use crate::error::{CmdError, CmdResult, Done};
use crate::proto::command::{Sequence, StoreMode};
use crate::proto::response::{Data, FetchItem};
use crate::proto::types::Flag;
use crate::store::message::{FlagOp, uid_ranges};
use crate::store::schema::split_flags;

use super::super::session::Session;
use super::resolve;

pub async fn store(
    s: &mut Session,
    set: Sequence,
    mode: StoreMode,
    silent: bool,
    flags: Vec<Flag>,
    uid: bool,
) -> CmdResult {
    let saved = s.saved.clone();
    let (_, sel) = s.state.selected()?;
    if sel.read_only {
        return Err(CmdError::no("Mailbox is read-only"));
    }
    let uids = resolve(sel, &set, uid, &saved)?;
    if uids.is_empty() {
        return Done::ok("completed");
    }
    let (bits, keywords) = split_flags(&flags);
    let op = match mode {
        StoreMode::Add => FlagOp::Add,
        StoreMode::Remove => FlagOp::Remove,
        StoreMode::Replace => FlagOp::Replace,
    };
    let stored = s
        .ctx
        .store
        .store_flags_replacing(sel.id, uid_ranges(&uids), op, bits, keywords)
        .await?;
    // Our own changes are not echoed by the next sync, except after .SILENT on a message whose
    // change by another session we have not reported yet: that change is folded into ours, so
    // the sync must still send the flags (RFC 3501 §7.4.2).
    let known = sel.view.modseq;
    let own: Vec<u64> = stored
        .assigned
        .iter()
        .zip(&stored.replaced)
        .filter(|&(_, &before)| !silent || before <= known)
        .map(|(&m, _)| m)
        .collect();
    sel.view.own_changes(&own);
    if !silent {
        for (u, row) in stored.rows {
            let Some(seq) = sel.view.seq_of(u) else {
                continue;
            };
            let mut items = Vec::with_capacity(2);
            items.push(FetchItem::Flags(sel.view.flags_of(u, &row)));
            if uid {
                items.push(FetchItem::Uid(u));
            }
            s.conn.queue(Data::Fetch { seq, items });
        }
    }
    Done::ok("completed")
}
