//! RFC 3501 §6.3.11 APPEND with RFC 4315 APPENDUID. Authenticated or selected state.

use crate::error::{CmdError, CmdResult, Done};
use crate::proto::response::Code;
use crate::proto::types::{DateTime, Flag, MailboxName, SeqSet};
use crate::store::StoreError;
use crate::store::blob;
use crate::store::message::NewMessage;
use crate::store::schema::split_flags;

use super::super::access;
use super::super::session::Session;
use super::selected::try_create;
use crate::store::acl;

/// Needs `i` on the target; flags without the matching right are dropped (RFC 4314 §4).
pub async fn append(
    s: &mut Session,
    mailbox: MailboxName,
    flags: Vec<Flag>,
    date: Option<DateTime>,
    message: Vec<u8>,
) -> CmdResult {
    let user = s.state.account()?.user.clone();
    if message.is_empty() {
        return Err(CmdError::no("Empty message"));
    }
    let t = access::locate(&user, &mailbox)?;
    let target = access::open(&s.ctx.store, &user, &t)
        .await
        .map_err(try_create)?;
    access::need(target.rights, "i")?;
    let (flags, mut keywords) = split_flags(&flags);
    let flags = acl::allowed_flags(flags, &mut keywords, target.rights);
    let coming = s.ctx.store.coming();
    let content = smol::unblock(move || blob::prepare(message)).await;
    let m = NewMessage {
        flags,
        keywords,
        date: date.unwrap_or_else(DateTime::now),
    };
    drop(coming);
    match s.ctx.store.append(t.owner, t.name, content, m, user).await {
        Ok(placed) => {
            let code = Code::AppendUid {
                validity: placed.uidvalidity,
                uids: SeqSet::from_sorted(&placed.uids),
            };
            Done::ok_code(code, "completed")
        }
        // RFC 3501 §6.3.11: TRYCREATE when the target does not exist.
        Err(StoreError::NoSuchMailbox) => {
            Err(CmdError::no_code(Code::TryCreate, "Mailbox does not exist"))
        }
        Err(e) => Err(e.into()),
    }
}
