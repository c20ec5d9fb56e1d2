//! Namespaces (RFC 2342) and access checks (RFC 4314 §4).
//!
//! A name a client sends is located in one of three namespaces: `Other Users/<user>/…` (another
//! user's personal mailboxes), `Shared/…` (the public namespace, owned by no user) or, for
//! everything else, the client's own personal namespace. Access checks never reveal whether a
//! mailbox exists: without `l` or `r`, the answer is the same `NO [NONEXISTENT]` as for a
//! mailbox that does not exist.

use crate::error::CmdError;
use crate::proto::response::Code;
use crate::proto::types::MailboxName;
use crate::store::Store;
use crate::store::acl::{Rights, SHARED_OWNER, effective};
use crate::store::mailbox::MailboxInfo;

/// Prefix of other users' namespace.
pub const OTHER_USERS: &str = "Other Users";
/// Prefix of the public namespace.
pub const SHARED: &str = "Shared";

/// A mailbox name resolved to its owner and stored name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub owner: String,
    pub name: String,
}

fn nonexistent() -> CmdError {
    CmdError::no_code(Code::NonExistent, "Mailbox does not exist")
}

/// Resolves a client name for `user`. Namespace roots themselves (`Shared`, `Other Users/bob`)
/// are not mailboxes.
pub fn locate(user: &str, name: &MailboxName) -> Result<Target, CmdError> {
    let n = name.as_str();
    if let Some(rest) = n.strip_prefix(OTHER_USERS) {
        let rest = rest.strip_prefix('/').ok_or_else(nonexistent)?;
        let (owner, mbox) = rest.split_once('/').ok_or_else(nonexistent)?;
        let mbox = MailboxName::new(mbox).map_err(|_| nonexistent())?;
        return Ok(Target {
            owner: owner.to_string(),
            name: mbox.to_string(),
        });
    }
    if let Some(rest) = n.strip_prefix(SHARED) {
        let rest = rest.strip_prefix('/').ok_or_else(nonexistent)?;
        return Ok(Target {
            owner: SHARED_OWNER.to_string(),
            name: rest.to_string(),
        });
    }
    Ok(Target {
        owner: user.to_string(),
        name: n.to_string(),
    })
}

/// The name `user` sees for a mailbox.
pub fn visible(user: &str, owner: &str, name: &str) -> String {
    if owner == user {
        name.to_string()
    } else if owner == SHARED_OWNER {
        format!("{SHARED}/{name}")
    } else {
        format!("{OTHER_USERS}/{owner}/{name}")
    }
}

/// A mailbox with the caller's rights on it.
pub struct Access {
    pub info: MailboxInfo,
    pub rights: Rights,
}

/// Looks a mailbox up and computes `user`'s rights. Without `l` and `r` the mailbox is
/// reported as nonexistent (RFC 4314 §4 asks not to leak its existence).
pub async fn open(store: &Store, user: &str, t: &Target) -> Result<Access, CmdError> {
    let info = store
        .mailbox_get(t.owner.clone(), t.name.clone())
        .await
        .map_err(CmdError::from)?;
    let rights = effective(user, &info.rec.owner, &info.rec.acl);
    if !rights.has('l') && !rights.has('r') {
        return Err(nonexistent());
    }
    Ok(Access { info, rights })
}

/// Requires every right in `letters`: `NO [NOPERM]` otherwise.
pub fn need(rights: Rights, letters: &str) -> Result<(), CmdError> {
    if letters.chars().all(|c| rights.has(c)) {
        Ok(())
    } else {
        Err(CmdError::no_code(
            Code::NoPerm,
            format!("Permission denied (needs {letters})"),
        ))
    }
}

/// Rights on the parent of `t` for creating it there (`k`), or everything for one's own
/// top level. Top-level names in other namespaces cannot be created by clients.
pub async fn can_create_in(store: &Store, user: &str, t: &Target) -> Result<(), CmdError> {
    if t.owner == user {
        return Ok(());
    }
    let Some((parent, _)) = t.name.rsplit_once('/') else {
        return Err(CmdError::no_code(
            Code::NoPerm,
            "Cannot create mailboxes here",
        ));
    };
    let p = Target {
        owner: t.owner.clone(),
        name: parent.to_string(),
    };
    let a = open(store, user, &p).await?;
    need(a.rights, "k")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> MailboxName {
        MailboxName::new(s).unwrap()
    }

    #[test]
    fn namespaces() {
        assert_eq!(
            locate("a", &name("INBOX")).unwrap(),
            Target {
                owner: "a".into(),
                name: "INBOX".into()
            }
        );
        assert_eq!(
            locate("a", &name("Other Users/bob/Family/Photos")).unwrap(),
            Target {
                owner: "bob".into(),
                name: "Family/Photos".into()
            }
        );
        assert_eq!(
            locate("a", &name("Other Users/bob/inbox")).unwrap(),
            Target {
                owner: "bob".into(),
                name: "INBOX".into()
            }
        );
        assert_eq!(
            locate("a", &name("Shared/Family")).unwrap().owner,
            SHARED_OWNER
        );
        assert!(locate("a", &name("Shared")).is_err());
        assert!(locate("a", &name("Other Users/bob")).is_err());
        assert_eq!(visible("a", "bob", "X"), "Other Users/bob/X");
        assert_eq!(visible("a", SHARED_OWNER, "X"), "Shared/X");
        assert_eq!(visible("a", "a", "X"), "X");
    }
}
