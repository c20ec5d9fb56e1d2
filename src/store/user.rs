//! Accounts: names, password hashes, quota counters.

use redb::ReadableTable;

use super::mailbox::create_in;
use super::schema::{
    MAILBOX_NAMES, MAILBOXES, MailboxRecord, SIEVE, SUBSCRIPTIONS, USERS, Usage, UserRecord,
};
use super::{Result, Store, StoreError};

/// A user's usage inside any transaction: the sums over the mailbox records they own. Only
/// needed where a limit is set or shown, so a delivery without quota reads nothing for it.
pub fn usage_in(
    names: &impl ReadableTable<(&'static str, &'static str), u64>,
    mailboxes: &impl ReadableTable<u64, &'static [u8]>,
    owner: &str,
) -> Result<Usage> {
    let mut u = Usage::default();
    for r in names.range((owner, "")..)? {
        let (k, id) = r?;
        if k.value().0 != owner {
            break;
        }
        if let Some(rec) = mailboxes.get(id.value())? {
            let rec = MailboxRecord::decode(rec.value())?;
            u.storage += rec.size;
            u.messages += u64::from(rec.messages);
        }
    }
    Ok(u)
}

/// [`usage_in`] for a read snapshot.
pub fn usage_r(rtx: &redb::ReadTransaction, owner: &str) -> Result<Usage> {
    usage_in(
        &rtx.open_table(MAILBOX_NAMES)?,
        &rtx.open_table(MAILBOXES)?,
        owner,
    )
}

/// Mailboxes every new account gets, with their RFC 6154 special-use attribute.
pub const DEFAULT_MAILBOXES: [(&str, &str); 6] = [
    ("INBOX", ""),
    ("Drafts", "\\Drafts"),
    ("Sent", "\\Sent"),
    ("Trash", "\\Trash"),
    ("Junk", "\\Junk"),
    ("Archive", "\\Archive"),
];

/// Canonical form of a user name: lower case; letters, digits and `._-+@`; 1 to 64 chars.
pub fn canonical_name(name: &str) -> std::result::Result<String, &'static str> {
    let n = name.trim().to_lowercase();
    if n.is_empty() || n.len() > 64 {
        return Err("user name must be 1 to 64 characters");
    }
    if !n
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-+@".contains(c))
    {
        return Err("user name may contain only letters, digits and . _ - + @");
    }
    if matches!(n.as_str(), "anyone" | "authenticated") || n.starts_with('-') {
        return Err("user name is reserved");
    }
    Ok(n)
}

impl Store {
    /// Creates an account with its default mailboxes, all subscribed.
    pub async fn user_add(&self, name: String, password_hash: String) -> Result<()> {
        self.write(move |tx| {
            let mut users = tx.txn.open_table(USERS)?;
            if users.get(name.as_str())?.is_some() {
                return Err(StoreError::UserExists);
            }
            let rec = UserRecord {
                password_hash,
                quota_storage: None,
                quota_messages: None,
            };
            users.insert(name.as_str(), rec.encode().as_slice())?;
            drop(users);
            let mut subs = tx.txn.open_table(SUBSCRIPTIONS)?;
            for (mbox, _) in DEFAULT_MAILBOXES {
                subs.insert((name.as_str(), mbox), ())?;
            }
            drop(subs);
            for (mbox, special) in DEFAULT_MAILBOXES {
                create_in(tx, &name, mbox, special)?;
            }
            Ok(())
        })
        .await
    }

    /// Replaces an account's password hash.
    pub async fn user_passwd(&self, name: String, password_hash: String) -> Result<()> {
        self.write(move |tx| {
            let mut users = tx.txn.open_table(USERS)?;
            let mut rec = match users.get(name.as_str())? {
                Some(v) => UserRecord::decode(v.value())?,
                None => return Err(StoreError::NoSuchUser),
            };
            rec.password_hash = password_hash;
            users.insert(name.as_str(), rec.encode().as_slice())?;
            Ok(())
        })
        .await
    }

    /// Deletes an account with all its mailboxes and messages.
    pub async fn user_del(&self, name: String) -> Result<()> {
        self.write(move |tx| {
            if tx.txn.open_table(USERS)?.get(name.as_str())?.is_none() {
                return Err(StoreError::NoSuchUser);
            }
            super::mailbox::delete_all_of(tx, &name)?;
            let mut subs = tx.txn.open_table(SUBSCRIPTIONS)?;
            let keys: Vec<String> = subs
                .range((name.as_str(), "")..)?
                .map_while(|r| r.ok())
                .map(|(k, _)| {
                    let (u, m) = k.value();
                    (u.to_string(), m.to_string())
                })
                .take_while(|(u, _)| *u == name)
                .map(|(_, m)| m)
                .collect();
            for k in keys {
                subs.remove((name.as_str(), k.as_str()))?;
            }
            drop(subs);
            tx.txn.open_table(SIEVE)?.remove(name.as_str())?;
            tx.txn.open_table(USERS)?.remove(name.as_str())?;
            Ok(())
        })
        .await
    }

    /// All account names, sorted.
    pub async fn user_list(&self) -> Result<Vec<String>> {
        self.read(|rtx| {
            let users = rtx.open_table(USERS)?;
            let mut out = Vec::new();
            for r in users.iter()? {
                out.push(r?.0.value().to_string());
            }
            Ok(out)
        })
        .await
    }

    /// One account's record.
    pub async fn user_get(&self, name: String) -> Result<Option<UserRecord>> {
        self.read(move |rtx| {
            let users = rtx.open_table(USERS)?;
            Ok(users
                .get(name.as_str())?
                .map(|v| UserRecord::decode(v.value()))
                .transpose()?)
        })
        .await
    }

    /// One account's record with its usage (GETQUOTA, `postfach user quota`).
    pub async fn user_quota(&self, name: String) -> Result<Option<(UserRecord, Usage)>> {
        self.read(move |rtx| {
            let users = rtx.open_table(USERS)?;
            let Some(v) = users.get(name.as_str())? else {
                return Ok(None);
            };
            Ok(Some((UserRecord::decode(v.value())?, usage_r(rtx, &name)?)))
        })
        .await
    }
}

/// A change to one quota limit (`postfach user quota`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    Keep,
    Unlimited,
    Max(u64),
}

impl Limit {
    fn apply(self, old: Option<u64>) -> Option<u64> {
        match self {
            Limit::Keep => old,
            Limit::Unlimited => None,
            Limit::Max(n) => Some(n),
        }
    }
}

impl Store {
    /// Sets an account's RFC 9208 limits: STORAGE in bytes, MESSAGE in messages. A limit below
    /// the current usage is allowed; it refuses new mail until usage drops.
    pub async fn user_set_quota(
        &self,
        name: String,
        storage: Limit,
        messages: Limit,
    ) -> Result<(UserRecord, Usage)> {
        self.write(move |tx| {
            let mut users = tx.txn.open_table(USERS)?;
            let mut rec = match users.get(name.as_str())? {
                Some(v) => UserRecord::decode(v.value())?,
                None => return Err(StoreError::NoSuchUser),
            };
            rec.quota_storage = storage.apply(rec.quota_storage);
            rec.quota_messages = messages.apply(rec.quota_messages);
            users.insert(name.as_str(), rec.encode().as_slice())?;
            let usage = usage_in(
                &tx.txn.open_table(MAILBOX_NAMES)?,
                &tx.txn.open_table(MAILBOXES)?,
                &name,
            )?;
            Ok((rec, usage))
        })
        .await
    }

    /// Stores (`Some`) or removes (`None`) a user's Sieve script. The caller has compiled it.
    pub async fn sieve_put(&self, name: String, script: Option<String>) -> Result<bool> {
        self.write(move |tx| {
            if tx.txn.open_table(USERS)?.get(name.as_str())?.is_none() {
                return Err(StoreError::NoSuchUser);
            }
            let mut t = tx.txn.open_table(SIEVE)?;
            Ok(match script {
                Some(s) => t.insert(name.as_str(), s.as_str())?.is_some(),
                None => t.remove(name.as_str())?.is_some(),
            })
        })
        .await
    }

    /// A user's Sieve script source, if one is set.
    pub async fn sieve_get(&self, name: String) -> Result<Option<String>> {
        self.read(move |rtx| {
            let t = rtx.open_table(SIEVE)?;
            Ok(t.get(name.as_str())?.map(|v| v.value().to_string()))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(canonical_name(" Alice ").unwrap(), "alice");
        assert_eq!(
            canonical_name("a.b+c@example.org").unwrap(),
            "a.b+c@example.org"
        );
        assert!(canonical_name("a b").is_err());
        assert!(canonical_name("").is_err());
        assert!(canonical_name("anyone").is_err());
        assert!(canonical_name("a/b").is_err());
    }
}
