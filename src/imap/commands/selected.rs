//! Selected state: CHECK, CLOSE, UNSELECT, EXPUNGE, UID EXPUNGE, COPY, MOVE (RFC 3501 §6.4,
//! RFC 3691, RFC 4315, RFC 6851).

use crate::error::{CmdError, CmdResult, Done};
use crate::proto::command::Sequence;
use crate::proto::response::{Code, Status};
use crate::proto::types::{MailboxName, SeqSet};
use crate::store::StoreError;
use crate::store::message::uid_ranges;

use super::super::access;
use super::super::session::Session;
use super::resolve;

/// RFC 3501 §6.4.2 CLOSE: expunge silently (unless read-only), then deselect.
/// RFC 3691 UNSELECT: deselect without expunging.
pub async fn close(s: &mut Session, expunge: bool) -> CmdResult {
    let (_, sel) = s.state.selected()?;
    // Without `e` (RFC 4314 §4) CLOSE just closes.
    if expunge && !sel.read_only && sel.rights.has('e') {
        s.ctx.store.expunge(sel.id, None).await?;
    }
    s.state.deselect();
    Done::ok("completed")
}

/// RFC 3501 §6.4.3 EXPUNGE and RFC 4315 §2.1 UID EXPUNGE.
pub async fn expunge(s: &mut Session, uids: Option<Sequence>) -> CmdResult {
    let saved = s.saved.clone();
    let (_, sel) = s.state.selected()?;
    access::need(sel.rights, "e")?;
    if sel.read_only {
        return Err(CmdError::no("Mailbox is read-only"));
    }
    let only = match &uids {
        Some(set) => Some(uid_ranges(&resolve(sel, set, true, &saved)?)),
        None => None,
    };
    if only.as_ref().is_some_and(Vec::is_empty) {
        return Done::ok("completed");
    }
    let (gone, _) = s.ctx.store.expunge(sel.id, only).await?;
    for r in sel.view.expunged(&gone, s.enabled.qresync) {
        s.conn.queue(r);
    }
    Done::ok("completed")
}

/// A missing target is `NO [TRYCREATE]` (RFC 3501 §6.4.7, §6.3.11).
pub fn try_create(e: CmdError) -> CmdError {
    match e {
        CmdError::No(Some(Code::NonExistent), _) => {
            CmdError::no_code(Code::TryCreate, "Target mailbox does not exist")
        }
        e => e,
    }
}

/// RFC 3501 §6.4.7 COPY / RFC 6851 MOVE, with RFC 4315 COPYUID.
pub async fn copy(
    s: &mut Session,
    set: Sequence,
    target: MailboxName,
    uid: bool,
    is_move: bool,
) -> CmdResult {
    let saved = s.saved.clone();
    let user = s.state.account()?.user.clone();
    // RFC 4314 §4: `i` on the target; MOVE also expunges, so `t` and `e` on the source.
    let t = access::locate(&user, &target)?;
    let dst = access::open(&s.ctx.store, &user, &t)
        .await
        .map_err(try_create)?;
    access::need(dst.rights, "i")?;
    let (_, sel) = s.state.selected()?;
    if is_move && sel.read_only {
        return Err(CmdError::no("Mailbox is read-only"));
    }
    if is_move {
        access::need(sel.rights, "te")?;
    }
    let uids = resolve(sel, &set, uid, &saved)?;
    if uids.is_empty() {
        return Done::ok("completed, no messages");
    }
    let placed = s
        .ctx
        .store
        .copy(
            sel.id,
            uid_ranges(&uids),
            t.owner,
            t.name,
            is_move,
            user,
            dst.rights,
        )
        .await;
    let (placed, _) = match placed {
        Err(StoreError::NoSuchMailbox) => {
            return Err(CmdError::no_code(
                Code::TryCreate,
                "Target mailbox does not exist",
            ));
        }
        r => r?,
    };
    if placed.uids.is_empty() {
        return Done::ok("completed, no messages");
    }
    let code = Code::CopyUid {
        validity: placed.uidvalidity,
        src: SeqSet::from_sorted(&placed.src_uids),
        dst: SeqSet::from_sorted(&placed.uids),
    };
    if !is_move {
        return Done::ok_code(code, "completed");
    }
    // RFC 6851 §4.3: COPYUID in an untagged OK before the expunges.
    s.conn.queue(Status::ok("Moved").code(code));
    for r in sel.view.expunged(&placed.src_uids, s.enabled.qresync) {
        s.conn.queue(r);
    }
    Done::ok("completed")
}
