//! RFC 4314 access control commands: SETACL, DELETEACL, GETACL, LISTRIGHTS, MYRIGHTS.
//! Authenticated or selected state. All but MYRIGHTS need the `a` right; MYRIGHTS needs any.

use crate::error::{CmdError, CmdResult, Done};
use crate::proto::response::{Code, Data};
use crate::proto::types::MailboxName;
use crate::store::acl::{ALL_RIGHTS, Rights, SHARED_OWNER, canonical_identifier};

use super::super::access;
use super::super::session::Session;

/// `identifier` (RFC 4314 §2), canonical; a malformed one is a BAD.
fn identifier(raw: &str) -> Result<String, CmdError> {
    canonical_identifier(raw).map_err(|_| CmdError::Bad(format!("Invalid identifier {raw}")))
}

/// SETACL (with `+`/`-` modifiers) and DELETEACL (`rights: None`).
pub async fn set(
    s: &mut Session,
    mailbox: MailboxName,
    raw_id: String,
    rights: Option<String>,
) -> CmdResult {
    let user = s.state.account()?.user.clone();
    let t = access::locate(&user, &mailbox)?;
    let a = access::open(&s.ctx.store, &user, &t).await?;
    access::need(a.rights, "a")?;
    let id = identifier(&raw_id)?;
    if id == a.info.rec.owner {
        return Err(CmdError::no_code(
            Code::Cannot,
            "The owner's rights cannot be changed",
        ));
    }
    let current = a
        .info
        .rec
        .acl
        .iter()
        .find(|(i, _)| *i == id)
        .map(|(_, r)| r.clone());
    let current = Rights::parse(current.as_deref().unwrap_or("")).unwrap_or_default();
    let new = match rights.as_deref() {
        None => None,
        Some(r) => Some(current.modify(r).map_err(|c| {
            CmdError::Bad(format!("Unknown right '{c}' (supported: {ALL_RIGHTS})"))
        })?),
    };
    s.ctx
        .store
        .set_acl(a.info.rec.owner, a.info.rec.name, id, new)
        .await?;
    Done::ok("completed")
}

/// GETACL: the owner's implicit entry first (personal mailboxes), then the stored ones.
pub async fn get(s: &mut Session, mailbox: MailboxName) -> CmdResult {
    let user = s.state.account()?.user.clone();
    let t = access::locate(&user, &mailbox)?;
    let a = access::open(&s.ctx.store, &user, &t).await?;
    access::need(a.rights, "a")?;
    let mut entries = Vec::new();
    if a.info.rec.owner != SHARED_OWNER {
        entries.push((a.info.rec.owner.clone(), Rights::ALL.to_wire()));
    }
    for (id, r) in &a.info.rec.acl {
        entries.push((id.clone(), Rights::parse(r).unwrap_or_default().to_wire()));
    }
    s.conn.queue(Data::Acl {
        mailbox: mailbox.to_string(),
        entries,
    });
    Done::ok("completed")
}

/// LISTRIGHTS: the owner always holds everything; anyone else may be granted each right alone.
pub async fn list_rights(s: &mut Session, mailbox: MailboxName, raw_id: String) -> CmdResult {
    let user = s.state.account()?.user.clone();
    let t = access::locate(&user, &mailbox)?;
    let a = access::open(&s.ctx.store, &user, &t).await?;
    access::need(a.rights, "a")?;
    let id = identifier(&raw_id)?;
    let (required, optional) = if id == a.info.rec.owner {
        (ALL_RIGHTS.to_string(), vec![])
    } else {
        let mut opt: Vec<String> = ALL_RIGHTS.chars().map(String::from).collect();
        opt.extend(["c".to_string(), "d".to_string()]);
        (String::new(), opt)
    };
    s.conn.queue(Data::ListRights {
        mailbox: mailbox.to_string(),
        identifier: raw_id,
        required,
        optional,
    });
    Done::ok("completed")
}

/// MYRIGHTS: needs any right at all (the same non-leaking NO otherwise).
pub async fn my_rights(s: &mut Session, mailbox: MailboxName) -> CmdResult {
    let user = s.state.account()?.user.clone();
    let t = access::locate(&user, &mailbox)?;
    let a = access::open(&s.ctx.store, &user, &t).await?;
    s.conn.queue(Data::MyRights {
        mailbox: mailbox.to_string(),
        rights: a.rights.to_wire(),
    });
    Done::ok("completed")
}
