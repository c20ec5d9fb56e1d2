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
    let (rows, assigned) = s
        .ctx
        .store
        .store_flags(sel.id, uid_ranges(&uids), op, bits, keywords)
        .await?;
    sel.view.own_changes(&assigned);
    if !silent {
        for (u, row) in rows {
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
