//! Mailboxes: create, delete, rename, list, subscriptions; UIDVALIDITY allocation.

use redb::{ReadTransaction, ReadableTable, WriteTransaction};

use super::message::remove_all_messages;
use super::schema::{MAILBOX_NAMES, MAILBOXES, META, MailboxRecord, SUBSCRIPTIONS};
use super::{Result, Store, StoreError, Tx, next_counter};

/// A mailbox row with its id.
#[derive(Clone, Debug)]
pub struct MailboxInfo {
    pub id: u64,
    pub rec: MailboxRecord,
}

/// Looks a mailbox up by owner and name inside any transaction.
pub fn lookup(
    names: &impl ReadableTable<(&'static str, &'static str), u64>,
    mailboxes: &impl ReadableTable<u64, &'static [u8]>,
    owner: &str,
    name: &str,
) -> Result<Option<MailboxInfo>> {
    let Some(id) = names.get((owner, name))?.map(|v| v.value()) else {
        return Ok(None);
    };
    let rec = mailboxes
        .get(id)?
        .ok_or(StoreError::Internal(format!("dangling name {name}")))?;
    Ok(Some(MailboxInfo {
        id,
        rec: MailboxRecord::decode(rec.value())?,
    }))
}

/// Looks up a mailbox for writing.
pub fn get_w(txn: &WriteTransaction, owner: &str, name: &str) -> Result<Option<MailboxInfo>> {
    lookup(
        &txn.open_table(MAILBOX_NAMES)?,
        &txn.open_table(MAILBOXES)?,
        owner,
        name,
    )
}

/// Reads a mailbox by id for writing.
pub fn get_by_id_w(txn: &WriteTransaction, id: u64) -> Result<Option<MailboxRecord>> {
    let t = txn.open_table(MAILBOXES)?;
    Ok(t.get(id)?
        .map(|v| MailboxRecord::decode(v.value()))
        .transpose()?)
}

/// Reads a mailbox by id.
pub fn get_by_id(rtx: &ReadTransaction, id: u64) -> Result<Option<MailboxRecord>> {
    let t = rtx.open_table(MAILBOXES)?;
    Ok(t.get(id)?
        .map(|v| MailboxRecord::decode(v.value()))
        .transpose()?)
}

/// Writes a mailbox record back.
pub fn put(txn: &WriteTransaction, id: u64, rec: &MailboxRecord) -> Result<()> {
    txn.open_table(MAILBOXES)?
        .insert(id, rec.encode().as_slice())?;
    Ok(())
}

/// All mailboxes of `owner`, sorted by name.
fn list_of(
    names: &impl ReadableTable<(&'static str, &'static str), u64>,
    mailboxes: &impl ReadableTable<u64, &'static [u8]>,
    owner: &str,
) -> Result<Vec<MailboxInfo>> {
    let mut out = Vec::new();
    for r in names.range((owner, "")..)? {
        let (k, v) = r?;
        if k.value().0 != owner {
            break;
        }
        let id = v.value();
        let rec = mailboxes
            .get(id)?
            .ok_or(StoreError::Internal("dangling name".into()))?;
        out.push(MailboxInfo {
            id,
            rec: MailboxRecord::decode(rec.value())?,
        });
    }
    Ok(out)
}

/// A fresh UIDVALIDITY: strictly greater than every one handed out before.
fn next_uidvalidity(txn: &WriteTransaction) -> Result<u32> {
    let mut meta = txn.open_table(META)?;
    let last = meta.get("last_uidvalidity")?.map_or(0, |v| v.value());
    let v = last + 1;
    meta.insert("last_uidvalidity", v)?;
    u32::try_from(v).map_err(|_| StoreError::Internal("UIDVALIDITY space exhausted".into()))
}

fn new_record(
    txn: &WriteTransaction,
    owner: &str,
    name: &str,
    special_use: &str,
) -> Result<MailboxRecord> {
    Ok(MailboxRecord {
        owner: owner.to_string(),
        name: name.to_string(),
        uidvalidity: next_uidvalidity(txn)?,
        uidnext: 1,
        highest_modseq: 1,
        first_recent_uid: 1,
        special_use: special_use.to_string(),
        noselect: false,
        keywords: Vec::new(),
        acl: Vec::new(),
        messages: 0,
        unseen: 0,
        size: 0,
        tombstone_floor: 0,
        tombstones: 0,
    })
}

/// Creates `name` (and any missing parents, RFC 3501 §6.3.3). A `\Noselect` placeholder of the
/// same name becomes a real mailbox again. Fails if `name` already exists.
pub fn create_in(tx: &mut Tx<'_>, owner: &str, name: &str, special_use: &str) -> Result<u64> {
    let mut levels: Vec<&str> = name.match_indices('/').map(|(i, _)| &name[..i]).collect();
    levels.push(name);
    let last = levels.len() - 1;
    let mut id = 0;
    for (i, level) in levels.into_iter().enumerate() {
        match get_w(tx.txn, owner, level)? {
            Some(mut existing) if i == last => {
                if !existing.rec.noselect {
                    return Err(StoreError::MailboxExists);
                }
                existing.rec.noselect = false;
                existing.rec.uidvalidity = next_uidvalidity(tx.txn)?;
                put(tx.txn, existing.id, &existing.rec)?;
                id = existing.id;
            }
            Some(_) => {}
            None => {
                let special = if i == last { special_use } else { "" };
                let rec = new_record(tx.txn, owner, level, special)?;
                id = next_counter(tx.txn, "next_mailbox_id")?;
                put(tx.txn, id, &rec)?;
                tx.txn
                    .open_table(MAILBOX_NAMES)?
                    .insert((owner, level), id)?;
            }
        }
    }
    Ok(id)
}

/// Removes a mailbox row, its name and its messages.
fn remove_mailbox(tx: &mut Tx<'_>, info: &MailboxInfo) -> Result<()> {
    let mut rec = info.rec.clone();
    remove_all_messages(tx, info.id, &mut rec)?;
    tx.txn
        .open_table(MAILBOX_NAMES)?
        .remove((rec.owner.as_str(), rec.name.as_str()))?;
    tx.txn.open_table(MAILBOXES)?.remove(info.id)?;
    tx.touch(info.id);
    Ok(())
}

/// Deletes every mailbox of `owner` (account deletion).
pub fn delete_all_of(tx: &mut Tx<'_>, owner: &str) -> Result<()> {
    let all = list_of(
        &tx.txn.open_table(MAILBOX_NAMES)?,
        &tx.txn.open_table(MAILBOXES)?,
        owner,
    )?;
    for info in &all {
        remove_mailbox(tx, info)?;
    }
    Ok(())
}

/// True if `name` has inferior names.
fn has_children(all: &[MailboxInfo], name: &str) -> bool {
    all.iter().any(|m| {
        m.rec.name.len() > name.len() + 1
            && m.rec.name.starts_with(name)
            && m.rec.name.as_bytes()[name.len()] == b'/'
    })
}

impl Store {
    /// One mailbox by name.
    pub async fn mailbox_get(&self, owner: String, name: String) -> Result<MailboxInfo> {
        self.read(move |rtx| {
            lookup(
                &rtx.open_table(MAILBOX_NAMES)?,
                &rtx.open_table(MAILBOXES)?,
                &owner,
                &name,
            )?
            .ok_or(StoreError::NoSuchMailbox)
        })
        .await
    }

    /// All mailboxes of `owner`, sorted by name.
    pub async fn mailbox_list(&self, owner: String) -> Result<Vec<MailboxInfo>> {
        self.read(move |rtx| {
            list_of(
                &rtx.open_table(MAILBOX_NAMES)?,
                &rtx.open_table(MAILBOXES)?,
                &owner,
            )
        })
        .await
    }

    /// The names `user` subscribed to, sorted.
    pub async fn subscriptions(&self, user: String) -> Result<Vec<String>> {
        self.read(move |rtx| {
            let subs = rtx.open_table(SUBSCRIPTIONS)?;
            let mut out = Vec::new();
            for r in subs.range((user.as_str(), "")..)? {
                let (k, _) = r?;
                let (u, m) = k.value();
                if u != user {
                    break;
                }
                out.push(m.to_string());
            }
            Ok(out)
        })
        .await
    }

    /// RFC 3501 §6.3.3 CREATE.
    pub async fn mailbox_create(&self, owner: String, name: String) -> Result<u64> {
        self.write(move |tx| create_in(tx, &owner, &name, "")).await
    }

    /// RFC 3501 §6.3.4 DELETE: a mailbox with inferiors keeps its name as `\Noselect`.
    pub async fn mailbox_delete(&self, owner: String, name: String) -> Result<()> {
        self.write(move |tx| {
            if name == "INBOX" {
                return Err(StoreError::Cannot("INBOX cannot be deleted"));
            }
            let all = list_of(
                &tx.txn.open_table(MAILBOX_NAMES)?,
                &tx.txn.open_table(MAILBOXES)?,
                &owner,
            )?;
            let info = all
                .iter()
                .find(|m| m.rec.name == name)
                .ok_or(StoreError::NoSuchMailbox)?;
            if !has_children(&all, &name) {
                return remove_mailbox(tx, info);
            }
            if info.rec.noselect {
                return Err(StoreError::Cannot(
                    "Mailbox has children and is already \\Noselect",
                ));
            }
            let mut rec = info.rec.clone();
            remove_all_messages(tx, info.id, &mut rec)?;
            rec.noselect = true;
            put(tx.txn, info.id, &rec)?;
            tx.touch(info.id);
            Ok(())
        })
        .await
    }

    /// RFC 3501 §6.3.5 RENAME, children included; renaming INBOX moves its messages to a new
    /// mailbox and leaves an empty INBOX behind.
    pub async fn mailbox_rename(&self, owner: String, from: String, to: String) -> Result<()> {
        self.write(move |tx| {
            let all = list_of(
                &tx.txn.open_table(MAILBOX_NAMES)?,
                &tx.txn.open_table(MAILBOXES)?,
                &owner,
            )?;
            if !all.iter().any(|m| m.rec.name == from) {
                return Err(StoreError::NoSuchMailbox);
            }
            if all.iter().any(|m| m.rec.name == to) {
                return Err(StoreError::MailboxExists);
            }
            if to.starts_with(&format!("{from}/")) {
                return Err(StoreError::Cannot("Cannot rename a mailbox into itself"));
            }
            if to == "INBOX" || to.starts_with("INBOX/") && from == "INBOX" {
                return Err(StoreError::Cannot("Invalid target name"));
            }
            // Parents of the new name.
            if let Some((parent, _)) = to.rsplit_once('/') {
                if !all.iter().any(|m| m.rec.name == parent) {
                    create_in(tx, &owner, parent, "")?;
                }
            }
            let moving: Vec<&MailboxInfo> = if from == "INBOX" {
                all.iter().filter(|m| m.rec.name == "INBOX").collect()
            } else {
                let prefix = format!("{from}/");
                all.iter()
                    .filter(|m| m.rec.name == from || m.rec.name.starts_with(&prefix))
                    .collect()
            };
            let mut names = tx.txn.open_table(MAILBOX_NAMES)?;
            let mut subs = tx.txn.open_table(SUBSCRIPTIONS)?;
            for m in &moving {
                let new_name = format!("{to}{}", &m.rec.name[from.len()..]);
                names.remove((owner.as_str(), m.rec.name.as_str()))?;
                names.insert((owner.as_str(), new_name.as_str()), m.id)?;
                if from != "INBOX"
                    && subs
                        .remove((owner.as_str(), m.rec.name.as_str()))?
                        .is_some()
                {
                    subs.insert((owner.as_str(), new_name.as_str()), ())?;
                }
                let mut rec = m.rec.clone();
                rec.name = new_name;
                put(tx.txn, m.id, &rec)?;
                tx.touch(m.id);
            }
            drop((names, subs));
            if from == "INBOX" {
                create_in(tx, &owner, "INBOX", "")?;
            }
            Ok(())
        })
        .await
    }

    /// RFC 3501 §6.3.6/§6.3.7 SUBSCRIBE / UNSUBSCRIBE of a name as `user` sees it (the caller
    /// checks that it may be subscribed); unsubscribing a name that is not subscribed is an error.
    pub async fn subscribe(&self, user: String, name: String, on: bool) -> Result<()> {
        self.write(move |tx| {
            let mut subs = tx.txn.open_table(SUBSCRIPTIONS)?;
            if on {
                subs.insert((user.as_str(), name.as_str()), ())?;
            } else if subs.remove((user.as_str(), name.as_str()))?.is_none() {
                return Err(StoreError::Cannot("Not subscribed"));
            }
            Ok(())
        })
        .await
    }
}
