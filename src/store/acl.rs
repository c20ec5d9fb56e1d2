//! Access rights (RFC 4314) and per-user `\Seen` on mailboxes shared with other users.
//!
//! The owner of a personal mailbox always holds every right. Everyone else gets the union of the
//! rights granted to their name, `anyone` and `authenticated`, minus the union of the negative
//! entries (`-name`, …). Mailboxes of the public namespace belong to [`SHARED_OWNER`], which is
//! no user, so their rights come from the ACL alone.
//!
//! `\Seen` is per user on shared mailboxes: the owner's lives in the message flags, every other
//! user's in the SEEN table. Other flags are shared.

use redb::{ReadTransaction, ReadableTable, TableDefinition, WriteTransaction};

use super::Result;

/// Owner of the public ("Shared/") namespace; not a valid user name.
pub const SHARED_OWNER: &str = "$shared";

/// `(mailbox id, uid, user) → ()`: `user` (not the owner) has seen the message.
pub const SEEN: TableDefinition<(u64, u32, &str), ()> = TableDefinition::new("seen");

/// RFC 4314 §2.1 rights, in canonical order.
pub const ALL_RIGHTS: &str = "lrswipkxtea";

/// A set of rights (bit i = `ALL_RIGHTS[i]`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rights(u16);

impl Rights {
    pub const ALL: Rights = Rights((1 << 11) - 1);
    pub const NONE: Rights = Rights(0);

    fn bit(c: char) -> Option<u16> {
        ALL_RIGHTS.find(c).map(|i| 1 << i)
    }

    /// Parses a rights string; obsolete `c` means `k`, `d` means `xte` (RFC 4314 §2.1.1).
    /// Unknown letters are an error.
    pub fn parse(s: &str) -> std::result::Result<Rights, char> {
        let mut r = 0;
        for c in s.chars() {
            r |= match c {
                'c' => Self::bit('k').unwrap_or(0),
                'd' => ['x', 't', 'e'].iter().filter_map(|&c| Self::bit(c)).sum(),
                c => Self::bit(c).ok_or(c)?,
            };
        }
        Ok(Rights(r))
    }

    pub fn has(self, c: char) -> bool {
        Self::bit(c).is_some_and(|b| self.0 & b != 0)
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn union(self, o: Rights) -> Rights {
        Rights(self.0 | o.0)
    }

    pub fn minus(self, o: Rights) -> Rights {
        Rights(self.0 & !o.0)
    }

    /// Letters in canonical order, plus the obsolete `c`/`d` for old clients when implied.
    pub fn to_wire(self) -> String {
        let mut s: String = ALL_RIGHTS.chars().filter(|&c| self.has(c)).collect();
        if self.has('k') {
            s.push('c');
        }
        if self.has('x') && self.has('t') && self.has('e') {
            s.push('d');
        }
        s
    }

    /// Applies an RFC 4314 §3.1 `mod-rights` to these rights: `+letters` adds, `-letters`
    /// removes, plain `letters` replaces. An unknown letter is the error.
    pub fn modify(self, change: &str) -> std::result::Result<Rights, char> {
        let (op, letters) = match change.as_bytes().first() {
            Some(b'+') => ('+', &change[1..]),
            Some(b'-') => ('-', &change[1..]),
            _ => ('=', change),
        };
        let r = Rights::parse(letters)?;
        Ok(match op {
            '+' => self.union(r),
            '-' => self.minus(r),
            _ => r,
        })
    }

    /// Letters in canonical order only (stored form).
    pub fn letters(self) -> String {
        ALL_RIGHTS.chars().filter(|&c| self.has(c)).collect()
    }
}

/// Canonical form of an access-list identifier (RFC 4314 §2): `anyone`, `authenticated` or a
/// user name, optionally negative (`-name`).
pub fn canonical_identifier(raw: &str) -> std::result::Result<String, &'static str> {
    let (neg, id) = raw.strip_prefix('-').map_or(("", raw), |rest| ("-", rest));
    let id = id.to_lowercase();
    if id == "anyone" || id == "authenticated" {
        return Ok(format!("{neg}{id}"));
    }
    Ok(format!("{neg}{}", super::user::canonical_name(&id)?))
}

/// The rights `user` holds on a mailbox owned by `owner` with access list `acl`.
pub fn effective(user: &str, owner: &str, acl: &[(String, String)]) -> Rights {
    if user == owner {
        return Rights::ALL;
    }
    let (mut plus, mut minus) = (Rights::NONE, Rights::NONE);
    for (id, rights) in acl {
        let (neg, id) = match id.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, id.as_str()),
        };
        if id == user || id == "anyone" || id == "authenticated" {
            let r = Rights::parse(rights).unwrap_or_default();
            if neg {
                minus = minus.union(r);
            } else {
                plus = plus.union(r);
            }
        }
    }
    plus.minus(minus)
}

/// True when `user`'s `\Seen` lives in the SEEN table rather than in the message flags.
pub fn seen_is_private(user: &str, owner: &str) -> bool {
    user != owner
}

/// Has `user` seen `uid` (SEEN table)?
pub fn seen(
    t: &impl ReadableTable<(u64, u32, &'static str), ()>,
    mailbox: u64,
    uid: u32,
    user: &str,
) -> Result<bool> {
    Ok(t.get((mailbox, uid, user))?.is_some())
}

/// Sets or clears `user`'s `\Seen` on `uid`; true if it changed.
pub fn set_seen(
    txn: &WriteTransaction,
    mailbox: u64,
    uid: u32,
    user: &str,
    on: bool,
) -> Result<bool> {
    let mut t = txn.open_table(SEEN)?;
    Ok(if on {
        t.insert((mailbox, uid, user), ())?.is_none()
    } else {
        t.remove((mailbox, uid, user))?.is_some()
    })
}

/// Forgets every user's `\Seen` of `uid` (expunge).
pub fn forget(txn: &WriteTransaction, mailbox: u64, uid: u32) -> Result<()> {
    let mut t = txn.open_table(SEEN)?;
    t.retain_in(
        (mailbox, uid, "")..(mailbox, uid.saturating_add(1), ""),
        |_, _| false,
    )?;
    Ok(())
}

/// Forgets all `\Seen` rows of a mailbox (delete).
pub fn forget_mailbox(txn: &WriteTransaction, mailbox: u64) -> Result<()> {
    let mut t = txn.open_table(SEEN)?;
    t.retain_in(
        (mailbox, 0, "")..(mailbox.saturating_add(1), 0, ""),
        |_, _| false,
    )?;
    Ok(())
}

/// How many messages of `mailbox` `user` has seen (SEEN table).
pub fn seen_count(rtx: &ReadTransaction, mailbox: u64, user: &str) -> Result<u32> {
    let t = rtx.open_table(SEEN)?;
    let mut n = 0;
    for r in t.range((mailbox, 0, "")..(mailbox.saturating_add(1), 0, ""))? {
        if r?.0.value().2 == user {
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights_parse_and_effective() {
        assert_eq!(Rights::parse("lr").unwrap().letters(), "lr");
        assert_eq!(Rights::parse("c").unwrap().letters(), "k");
        assert_eq!(Rights::parse("d").unwrap().letters(), "xte");
        assert_eq!(Rights::parse("lz"), Err('z'));
        assert_eq!(Rights::ALL.to_wire(), "lrswipkxteacd");
        let acl = vec![
            ("anyone".to_string(), "l".to_string()),
            ("bob".to_string(), "lrs".to_string()),
            ("-bob".to_string(), "s".to_string()),
        ];
        assert_eq!(effective("bob", "alice", &acl).letters(), "lr");
        assert_eq!(effective("carol", "alice", &acl).letters(), "l");
        assert_eq!(effective("alice", "alice", &[]), Rights::ALL);
        assert!(effective("bob", SHARED_OWNER, &[]).is_empty());
        let lr = Rights::parse("lr").unwrap();
        assert_eq!(lr.modify("+sw").unwrap().letters(), "lrsw");
        assert_eq!(lr.modify("-r").unwrap().letters(), "l");
        assert_eq!(lr.modify("ie").unwrap().letters(), "ie");
        assert_eq!(lr.modify("+q"), Err('q'));
        assert_eq!(canonical_identifier("-Bob").unwrap(), "-bob");
        assert_eq!(canonical_identifier("ANYONE").unwrap(), "anyone");
        assert!(canonical_identifier("a b").is_err());
    }
}

impl super::Store {
    /// Mailboxes of other owners on which `user` has the `l` right, sorted by owner and name.
    pub async fn mailboxes_shared_with(
        &self,
        user: String,
    ) -> Result<Vec<super::mailbox::MailboxInfo>> {
        self.read(move |rtx| {
            let t = rtx.open_table(super::schema::MAILBOXES)?;
            let mut out = Vec::new();
            for r in t.iter()? {
                let (k, v) = r?;
                let rec = super::schema::MailboxRecord::decode(v.value())?;
                if rec.owner != user && effective(&user, &rec.owner, &rec.acl).has('l') {
                    out.push(super::mailbox::MailboxInfo { id: k.value(), rec });
                }
            }
            out.sort_by(|a, b| (&a.rec.owner, &a.rec.name).cmp(&(&b.rec.owner, &b.rec.name)));
            Ok(out)
        })
        .await
    }

    /// How many messages of `mailbox` `user` has seen (private `\Seen`).
    pub async fn seen_count(&self, mailbox: u64, user: String) -> Result<u32> {
        self.read(move |rtx| seen_count(rtx, mailbox, &user)).await
    }

    /// Sets (`Some`) or removes (`None`) one access-list entry (RFC 4314 SETACL/DELETEACL).
    /// Sessions with the mailbox selected are woken and re-read their rights.
    pub async fn set_acl(
        &self,
        owner: String,
        name: String,
        identifier: String,
        rights: Option<Rights>,
    ) -> Result<()> {
        self.write(move |tx| {
            let info = super::mailbox::get_w(tx.txn, &owner, &name)?
                .ok_or(super::StoreError::NoSuchMailbox)?;
            let mut rec = info.rec;
            rec.acl.retain(|(id, _)| *id != identifier);
            if let Some(r) = rights.filter(|r| !r.is_empty()) {
                rec.acl.push((identifier, r.letters()));
                rec.acl.sort();
            }
            super::mailbox::put(tx.txn, info.id, &rec)?;
            tx.touch(info.id);
            Ok(())
        })
        .await
    }
}

/// Drops the flags `rights` do not allow to set (RFC 4314 §4: APPEND/COPY silently drop them):
/// `\Seen` needs `s`, `\Deleted` needs `t`, other flags and keywords need `w`.
pub fn allowed_flags(bits: u8, keywords: &mut Vec<String>, rights: Rights) -> u8 {
    use super::schema::flagbits::{DELETED, SEEN};
    let mut out = bits;
    if !rights.has('s') {
        out &= !SEEN;
    }
    if !rights.has('t') {
        out &= !DELETED;
    }
    if !rights.has('w') {
        out &= SEEN | DELETED;
        keywords.clear();
    }
    out
}
