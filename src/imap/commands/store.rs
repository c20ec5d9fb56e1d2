//! RFC 3501 §6.4.6 STORE and UID STORE. Selected state, read-write.

use crate::error::{CmdError, CmdResult, Done};
use crate::proto::command::{Sequence, StoreMode};
use crate::proto::response::{Code, Data, FetchItem};
use crate::proto::types::{Flag, SeqSet};
use crate::store::message::{FlagOp, uid_ranges};
use crate::store::schema::split_flags;

use super::super::session::Session;
use super::resolve;

/// RFC 7162 §3.1.3: with UNCHANGEDSINCE, messages changed since are left alone and listed in
/// `[MODIFIED]`, and FETCH (with MODSEQ) is sent for the updated ones even with .SILENT.
#[allow(clippy::too_many_arguments)]
pub async fn store(
    s: &mut Session,
    set: Sequence,
    mode: StoreMode,
    silent: bool,
    flags: Vec<Flag>,
    uid: bool,
    unchanged_since: Option<u64>,
) -> CmdResult {
    if unchanged_since.is_some() {
        s.enabled.condstore = true;
    }
    let with_modseq = s.enabled.condstore;
    let saved = s.saved.clone();
    let (_, sel) = s.state.selected()?;
    // RFC 4314 §4: \Seen needs `s`, \Deleted `t`, other flags `w`.
    let needed: String = flags.iter().map(super::mailbox::right_for).collect();
    super::super::access::need(sel.rights, &needed)?;
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
    let r = s
        .ctx
        .store
        .store_flags(
            sel.id,
            uid_ranges(&uids),
            op,
            bits,
            keywords,
            unchanged_since,
            sel.seen_of.clone(),
        )
        .await?;
    // Our own changes are not echoed by the next sync, except after .SILENT on a message whose
    // change by another session we have not reported yet: that change is folded into ours, so
    // the sync must still send the flags (RFC 3501 §7.4.2).
    let known = sel.view.modseq;
    let own: Vec<u64> = r
        .assigned
        .iter()
        .zip(&r.replaced)
        .filter(|&(_, &before)| !silent || before <= known)
        .map(|(&m, _)| m)
        .collect();
    sel.view.own_changes(&own);
    for (u, row) in &r.rows {
        let changed = r.assigned.contains(&row.modseq);
        if silent && !(unchanged_since.is_some() && changed) {
            continue;
        }
        let Some(seq) = sel.view.seq_of(*u) else {
            continue;
        };
        let mut items = vec![FetchItem::Flags(sel.view.flags_of(*u, row))];
        if uid {
            items.push(FetchItem::Uid(*u));
        }
        if with_modseq {
            items.push(FetchItem::ModSeq(row.modseq));
        }
        s.conn.queue(Data::Fetch { seq, items });
    }
    if r.modified.is_empty() {
        return Done::ok("completed");
    }
    let nums: Vec<u32> = if uid {
        r.modified
    } else {
        r.modified
            .iter()
            .filter_map(|&u| sel.view.seq_of(u))
            .collect()
    };
    Done::ok_code(
        Code::Modified(SeqSet::from_sorted(&nums)),
        "conditional STORE failed for some messages",
    )
}
