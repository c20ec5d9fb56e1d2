//! Every redb table and stored record, with its key → value encoding and invariants.
//! docs/design.md repeats this as prose; keep the two in step.

use redb::TableDefinition;

use super::codec::{Corrupt, Reader, Writer};
use crate::proto::types::{DateTime, Flag};

/// Schema version stored under `META["schema"]`; bumped on incompatible changes.
pub const SCHEMA_VERSION: u64 = 3;

/// `name → u64`: `schema`, `next_mailbox_id`, `last_uidvalidity`. (Schema 2 and older also
/// kept `next_blob_id`; blob ids now follow the last BLOBS key, so a delivery writes no META.)
pub const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// `user name (lower case) → UserRecord`.
pub const USERS: TableDefinition<&str, &[u8]> = TableDefinition::new("users");
/// `mailbox id → MailboxRecord`. Ids are never reused.
pub const MAILBOXES: TableDefinition<u64, &[u8]> = TableDefinition::new("mailboxes");
/// `(owner, UTF-8 name) → mailbox id`. Exactly one entry per MAILBOXES row.
pub const MAILBOX_NAMES: TableDefinition<(&str, &str), u64> = TableDefinition::new("mailbox_names");
/// `(user, UTF-8 name) → ()`: subscriptions; may name mailboxes that do not exist (RFC 3501 §6.3.6).
pub const SUBSCRIPTIONS: TableDefinition<(&str, &str), ()> = TableDefinition::new("subscriptions");
/// `(mailbox id, uid) → MessageRecord`. UIDs ascend in append order and are never reused
/// within one UIDVALIDITY.
pub const MESSAGES: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("messages");
/// `(mailbox id, modseq) → uid`: the latest change of each message changed or expunged since it
/// was added. A uid with no MESSAGES row is an expunge tombstone. Each uid appears at most once
/// (its latest modseq); a message not changed since it was added has no row (its modseq, the one
/// it was added with, ascends with the uid: `message::changes_since` finds it in MESSAGES).
pub const CHANGES: TableDefinition<(u64, u64), u32> = TableDefinition::new("changes");
/// `blob id → BlobRecord`: one stored message content, shared by COPY (refcounted).
pub const BLOBS: TableDefinition<u64, &[u8]> = TableDefinition::new("blobs");
/// `(blob id, chunk index) → chunk`: the content in 64 KiB pieces, each raw, base64 stored
/// decoded, or LZ4 (deflate in older files); see `blob`.
pub const CHUNKS: TableDefinition<(u64, u32), &[u8]> = TableDefinition::new("chunks");
/// `user name (lower case) → Sieve script source (UTF-8)`: the user's active delivery filter
/// (RFC 5228). Only scripts that compile are stored; the row goes with the account.
pub const SIEVE: TableDefinition<&str, &str> = TableDefinition::new("sieve");

/// Largest stored chunk: redb gives each large value a page of a power-of-two size, so chunks
/// are cut to fit one 64 KiB page with its leaf header (see `blob::prepare`).
pub const CHUNK: usize = 64 * 1024 - 512;

/// An account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    /// PHC string of an argon2id hash (salted).
    pub password_hash: String,
    /// Storage quota in bytes, if any.
    pub quota_storage: Option<u64>,
    /// Message-count quota, if any.
    pub quota_messages: Option<u64>,
}

impl UserRecord {
    /// Version 2; version 1 also held the usage, which is now summed from the user's mailbox
    /// records ([`Usage`]), so that a delivery does not rewrite the account too.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(2);
        w.str(&self.password_hash)
            .opt_u64(self.quota_storage)
            .opt_u64(self.quota_messages);
        w.finish()
    }
    pub fn decode(b: &[u8]) -> Result<Self, Corrupt> {
        // Version 1 carried two usage counters after these fields; they are ignored.
        let mut r = match b.first() {
            Some(1) => Reader::new(b, 1)?,
            _ => Reader::new(b, 2)?,
        };
        Ok(UserRecord {
            password_hash: r.str()?,
            quota_storage: r.opt_u64()?,
            quota_messages: r.opt_u64()?,
        })
    }
}

/// What a user's messages take (RFC 9208 usage): the sums of the `size` and `messages`
/// counters of the mailbox records they own, which every change keeps exact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Sum of RFC822.SIZE.
    pub storage: u64,
    pub messages: u64,
}

/// A mailbox. Counters are kept exact in every transaction that changes messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxRecord {
    pub owner: String,
    pub name: String,
    /// Changes whenever a mailbox with this name is (re)created (RFC 3501 §2.3.1.1).
    pub uidvalidity: u32,
    /// Next UID to assign; strictly increasing.
    pub uidnext: u32,
    /// Highest modseq assigned in this mailbox; strictly increasing (RFC 7162).
    pub highest_modseq: u64,
    /// Messages with uid >= this have not been reported as \Recent to any session yet.
    pub first_recent_uid: u32,
    /// RFC 6154 attribute (`\Sent`, …) or empty.
    pub special_use: String,
    /// True for a placeholder kept because it has children (DELETE with inferiors).
    pub noselect: bool,
    /// Keywords used in this mailbox (for FLAGS / PERMANENTFLAGS).
    pub keywords: Vec<String>,
    /// RFC 4314 access list: (identifier, rights).
    pub acl: Vec<(String, String)>,
    pub messages: u32,
    pub unseen: u32,
    pub size: u64,
    /// Tombstones (CHANGES rows of expunged uids) with modseq <= this were compacted away.
    pub tombstone_floor: u64,
    /// Number of tombstones kept (compacted beyond `MAX_TOMBSTONES`).
    pub tombstones: u64,
}

impl MailboxRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(1);
        w.str(&self.owner)
            .str(&self.name)
            .u64(self.uidvalidity.into())
            .u64(self.uidnext.into())
            .u64(self.highest_modseq)
            .u64(self.first_recent_uid.into())
            .str(&self.special_use)
            .u64(self.noselect.into())
            .strs(&self.keywords)
            .u64(self.acl.len() as u64);
        for (id, rights) in &self.acl {
            w.str(id).str(rights);
        }
        w.u64(self.messages.into())
            .u64(self.unseen.into())
            .u64(self.size)
            .u64(self.tombstone_floor)
            .u64(self.tombstones);
        w.finish()
    }
    pub fn decode(b: &[u8]) -> Result<Self, Corrupt> {
        let mut r = Reader::new(b, 1)?;
        Ok(MailboxRecord {
            owner: r.str()?,
            name: r.str()?,
            uidvalidity: r.u32()?,
            uidnext: r.u32()?,
            highest_modseq: r.u64()?,
            first_recent_uid: r.u32()?,
            special_use: r.str()?,
            noselect: r.u64()? != 0,
            keywords: r.strs()?,
            acl: {
                let n = r.u64()?;
                (0..n.min(10_000))
                    .map(|_| Ok((r.str()?, r.str()?)))
                    .collect::<Result<_, _>>()?
            },
            messages: r.u32()?,
            unseen: r.u32()?,
            size: r.u64()?,
            tombstone_floor: r.u64()?,
            tombstones: r.u64()?,
        })
    }
}

/// System flags as bits.
pub mod flagbits {
    pub const SEEN: u8 = 1;
    pub const ANSWERED: u8 = 2;
    pub const FLAGGED: u8 = 4;
    pub const DELETED: u8 = 8;
    pub const DRAFT: u8 = 16;
}

/// One message in one mailbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRecord {
    pub blob: u64,
    /// [`flagbits`].
    pub flags: u8,
    pub keywords: Vec<String>,
    pub internal_date: DateTime,
    /// RFC822.SIZE: octets of the stored (CRLF-normalised) message.
    pub size: u64,
    /// Modseq of the latest change (append, flags); equals this uid's CHANGES key once it has
    /// one (from its first change after the append).
    pub modseq: u64,
}

impl MessageRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(1);
        w.u64(self.blob)
            .u64(self.flags.into())
            .strs(&self.keywords)
            .i64(self.internal_date.unix)
            .i64(self.internal_date.zone_minutes.into())
            .u64(self.size)
            .u64(self.modseq);
        w.finish()
    }
    pub fn decode(b: &[u8]) -> Result<Self, Corrupt> {
        let mut r = Reader::new(b, 1)?;
        Ok(MessageRecord {
            blob: r.u64()?,
            flags: u8::try_from(r.u64()?).map_err(|_| Corrupt)?,
            keywords: r.strs()?,
            internal_date: DateTime {
                unix: r.i64()?,
                zone_minutes: i16::try_from(r.i64()?).map_err(|_| Corrupt)?,
            },
            size: r.u64()?,
            modseq: r.u64()?,
        })
    }

    pub fn has(&self, bit: u8) -> bool {
        self.flags & bit != 0
    }

    /// The flags in wire order: system flags, then keywords.
    pub fn flag_list(&self) -> Vec<Flag> {
        let mut out = Vec::with_capacity(2 + self.keywords.len());
        for (bit, f) in [
            (flagbits::SEEN, Flag::Seen),
            (flagbits::ANSWERED, Flag::Answered),
            (flagbits::FLAGGED, Flag::Flagged),
            (flagbits::DELETED, Flag::Deleted),
            (flagbits::DRAFT, Flag::Draft),
        ] {
            if self.has(bit) {
                out.push(f);
            }
        }
        out.extend(self.keywords.iter().cloned().map(Flag::Keyword));
        out
    }
}

/// Splits wire flags into system bits and keywords (`\Recent` is ignored).
pub fn split_flags(flags: &[Flag]) -> (u8, Vec<String>) {
    let mut bits = 0;
    let mut kws: Vec<String> = Vec::new();
    for f in flags {
        match f {
            Flag::Seen => bits |= flagbits::SEEN,
            Flag::Answered => bits |= flagbits::ANSWERED,
            Flag::Flagged => bits |= flagbits::FLAGGED,
            Flag::Deleted => bits |= flagbits::DELETED,
            Flag::Draft => bits |= flagbits::DRAFT,
            Flag::Recent => {}
            Flag::Keyword(k) => {
                if !kws.iter().any(|x| x.eq_ignore_ascii_case(k)) {
                    kws.push(k.clone());
                }
            }
        }
    }
    (bits, kws)
}

/// A stored message content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobRecord {
    /// Number of MESSAGES rows pointing here; the blob and its chunks go at zero.
    pub refcount: u32,
    /// Raw size in octets.
    pub size: u64,
    /// Encoded `mime::MessageMeta` computed once at append.
    pub meta: Vec<u8>,
    /// Content octets held by each chunk, in order (they sum to `size`).
    pub chunks: Vec<u32>,
}

impl BlobRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer::new(1);
        w.u64(self.refcount.into()).u64(self.size).bytes(&self.meta);
        w.u64(self.chunks.len() as u64);
        for &c in &self.chunks {
            w.u64(c.into());
        }
        w.finish()
    }
    pub fn decode(b: &[u8]) -> Result<Self, Corrupt> {
        let mut r = Reader::new(b, 1)?;
        let (refcount, size, meta) = (r.u32()?, r.u64()?, r.bytes()?.to_vec());
        let n = r.u64()?;
        if n > size + 1 {
            return Err(Corrupt);
        }
        let chunks = (0..n).map(|_| r.u32()).collect::<Result<Vec<_>, _>>()?;
        Ok(BlobRecord {
            refcount,
            size,
            meta,
            chunks,
        })
    }
    pub fn chunk_count(&self) -> u32 {
        self.chunks.len() as u32
    }

    /// The chunks covering `[start, start + len)`: `(index, offset of the chunk's first octet)`.
    pub fn chunks_for(&self, start: u64, len: u64) -> Vec<(u32, u64)> {
        let end = start.saturating_add(len);
        let mut out = Vec::new();
        let mut at = 0u64;
        for (i, &n) in self.chunks.iter().enumerate() {
            let next = at + u64::from(n);
            if next > start && at < end {
                out.push((i as u32, at));
            }
            if next >= end {
                break;
            }
            at = next;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_roundtrip() {
        let m = MailboxRecord {
            owner: "alice".into(),
            name: "INBOX".into(),
            uidvalidity: 7,
            uidnext: 3,
            highest_modseq: 9,
            first_recent_uid: 2,
            special_use: "\\Sent".into(),
            noselect: false,
            keywords: vec!["$Forwarded".into()],
            acl: vec![("bob".into(), "lr".into())],
            messages: 2,
            unseen: 1,
            size: 1234,
            tombstone_floor: 0,
            tombstones: 3,
        };
        assert_eq!(MailboxRecord::decode(&m.encode()).unwrap(), m);
        let msg = MessageRecord {
            blob: 5,
            flags: flagbits::SEEN | flagbits::DRAFT,
            keywords: vec!["Junk".into()],
            internal_date: DateTime {
                unix: -5,
                zone_minutes: -480,
            },
            size: 77,
            modseq: 4,
        };
        assert_eq!(MessageRecord::decode(&msg.encode()).unwrap(), msg);
        assert_eq!(
            msg.flag_list(),
            vec![Flag::Seen, Flag::Draft, Flag::Keyword("Junk".into())]
        );
        let u = UserRecord {
            password_hash: "$argon2id$x".into(),
            quota_storage: Some(0),
            quota_messages: None,
        };
        assert_eq!(UserRecord::decode(&u.encode()).unwrap(), u);
        // A version 1 record (with usage counters, now summed from the mailboxes) still reads.
        let mut w = Writer::new(1);
        w.str("$argon2id$x")
            .opt_u64(Some(0))
            .opt_u64(None)
            .u64(3)
            .u64(1);
        assert_eq!(UserRecord::decode(&w.finish()).unwrap(), u);
        assert!(MessageRecord::decode(&[1, 2]).is_err());
    }
}
