//! RFC 9208 QUOTA: GETQUOTA, GETQUOTAROOT (and SETQUOTA, refused). Authenticated or selected
//! state.
//!
//! Each user has one quota root, `""`, covering all their mailboxes, with the resources the
//! administrator limited (`postfach user quota`): STORAGE (KiB, RFC 9208 §5.1) and MESSAGE.
//! Usage is summed from the user's mailbox records, which every append, copy and expunge keeps
//! exact in its own transaction.

use crate::error::{CmdError, CmdResult, Done};
use crate::proto::response::{Code, Data, QuotaResource};
use crate::proto::types::MailboxName;
use crate::store::schema::{Usage, UserRecord};

use super::super::session::Session;

/// The one quota root name.
const ROOT: &str = "";

/// The limited resources of a user; empty when no limit is set.
fn resources(u: &UserRecord, used: Usage) -> Vec<QuotaResource> {
    let mut out = Vec::new();
    if let Some(limit) = u.quota_storage {
        out.push(QuotaResource {
            name: "STORAGE",
            usage: used.storage.div_ceil(1024),
            limit: limit / 1024,
        });
    }
    if let Some(limit) = u.quota_messages {
        out.push(QuotaResource {
            name: "MESSAGE",
            usage: used.messages,
            limit,
        });
    }
    out
}

async fn user_resources(s: &mut Session) -> Result<Vec<QuotaResource>, CmdError> {
    let user = s.state.account()?.user.clone();
    let (rec, used) = s
        .ctx
        .store
        .user_quota(user)
        .await?
        .ok_or_else(|| CmdError::Internal("logged-in user has no record".into()))?;
    Ok(resources(&rec, used))
}

/// RFC 9208 §4.2 GETQUOTA: the user's root only.
pub async fn get_quota(s: &mut Session, root: String) -> CmdResult {
    let res = user_resources(s).await?;
    if root != ROOT || res.is_empty() {
        return Err(CmdError::no_code(Code::NonExistent, "No such quota root"));
    }
    s.conn.queue(Data::Quota {
        root: ROOT.into(),
        resources: res,
    });
    Done::ok("completed")
}

/// RFC 9208 §4.3 GETQUOTAROOT: the mailbox's roots (none when no limit is set), then a QUOTA
/// response for each.
pub async fn get_quota_root(s: &mut Session, mailbox: MailboxName) -> CmdResult {
    let user = s.state.account()?.user.clone();
    s.ctx.store.mailbox_get(user, mailbox.to_string()).await?;
    let res = user_resources(s).await?;
    let roots = if res.is_empty() {
        vec![]
    } else {
        vec![ROOT.to_string()]
    };
    s.conn.queue(Data::QuotaRoot {
        mailbox: mailbox.to_string(),
        roots,
    });
    if !res.is_empty() {
        s.conn.queue(Data::Quota {
            root: ROOT.into(),
            resources: res,
        });
    }
    Done::ok("completed")
}

/// RFC 9208 §4.1 SETQUOTA: limits are the administrator's (`postfach user quota`).
pub fn set_quota() -> CmdResult {
    Err(CmdError::no_code(
        Code::NoPerm,
        "Quotas are set by the administrator",
    ))
}
