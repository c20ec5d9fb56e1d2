//! A session's view of its selected mailbox: the sequence number ↔ UID map and what has not
//! been told to the client yet. It turns the store's change log into untagged EXISTS, RECENT,
//! EXPUNGE, FETCH and FLAGS responses at the moments RFC 3501 §7.4.1 allows.

use crate::proto::response::{Code, Data, FetchItem, Status};
use crate::proto::types::{Flag, SeqSet};
use crate::store::message::ChangeSet;
use crate::store::schema::MessageRecord;

/// See the module docs.
#[derive(Debug)]
pub struct View {
    /// `uids[seq - 1]`: ascending.
    uids: Vec<u32>,
    /// Every change with modseq <= this is reflected (or deliberately skipped).
    pub modseq: u64,
    /// Modseqs of this session's own flag changes, already answered (not echoed again).
    own: Vec<u64>,
    /// Expunged in storage, not yet announced: still occupy their sequence numbers.
    pending_expunge: Vec<u32>,
    /// UIDs that are \Recent in this session (sorted).
    recent: Vec<u32>,
    /// Keywords announced in FLAGS.
    keywords: Vec<String>,
    /// EXAMINE: nothing can be stored, so a grown FLAGS list brings no PERMANENTFLAGS.
    read_only: bool,
}

/// How a session reports changes (RFC 3501 §7.4.1, RFC 7162 §3.1.6 and §3.2.10).
#[derive(Clone, Copy, Debug, Default)]
pub struct Report {
    /// EXPUNGE may be sent now (not during a sequence-number FETCH/STORE/SEARCH/COPY).
    pub allow_expunge: bool,
    /// CONDSTORE enabled: unsolicited FETCH carries MODSEQ.
    pub modseq: bool,
    /// QRESYNC enabled: VANISHED replaces EXPUNGE.
    pub vanished: bool,
}

/// The result of a sync: responses to send, or the mailbox is gone.
pub enum Synced {
    Responses(Vec<crate::proto::response::Response>),
    MailboxGone,
}

impl View {
    pub fn new(uids: Vec<u32>, modseq: u64, recent_from: u32, keywords: Vec<String>) -> View {
        let recent = uids.iter().copied().filter(|&u| u >= recent_from).collect();
        View {
            uids,
            modseq,
            own: Vec::new(),
            pending_expunge: Vec::new(),
            recent,
            keywords,
            read_only: false,
        }
    }

    /// Marks the view as read-only (EXAMINE).
    #[must_use]
    pub fn read_only(mut self, read_only: bool) -> View {
        self.read_only = read_only;
        self
    }

    pub fn exists(&self) -> u32 {
        self.uids.len() as u32
    }

    pub fn recent_count(&self) -> u32 {
        self.recent.len() as u32
    }

    pub fn is_recent(&self, uid: u32) -> bool {
        self.recent.binary_search(&uid).is_ok()
    }

    pub fn seq_of(&self, uid: u32) -> Option<u32> {
        self.uids.binary_search(&uid).ok().map(|i| i as u32 + 1)
    }

    pub fn uid_of(&self, seq: u32) -> Option<u32> {
        self.uids.get((seq as usize).checked_sub(1)?).copied()
    }

    pub fn max_uid(&self) -> u32 {
        self.uids.last().copied().unwrap_or(0)
    }

    /// Remembers modseqs this session produced and answered itself.
    pub fn own_changes(&mut self, modseqs: &[u64]) {
        self.own.extend_from_slice(modseqs);
    }

    /// Message sequence numbers → UIDs (ascending). Numbers past the end are an error
    /// (RFC 3501 §9 `seq-number`), except through `*`.
    pub fn seqs_to_uids(&self, set: &SeqSet) -> Result<Vec<u32>, String> {
        let n = self.exists();
        let mut out = Vec::new();
        for (lo, hi) in set.resolve(n) {
            if hi > n {
                return Err(format!(
                    "Invalid message sequence number {hi} (only {n} messages)"
                ));
            }
            out.extend_from_slice(&self.uids[lo as usize - 1..hi as usize]);
        }
        Ok(out)
    }

    /// A UID set → the UIDs of the view within it (ascending). `*` is the largest UID in the
    /// view; non-existent UIDs are ignored (RFC 3501 §6.4.8).
    pub fn uid_set(&self, set: &SeqSet) -> Vec<u32> {
        let mut out = Vec::new();
        for (lo, hi) in set.resolve(self.max_uid()) {
            let start = self.uids.partition_point(|&u| u < lo);
            let end = self.uids.partition_point(|&u| u <= hi);
            out.extend_from_slice(&self.uids[start..end]);
        }
        // A `*` range with an empty mailbox, or `N:*` with N above the largest: RFC 3501 says
        // `*` covers the largest UID, so the range includes it.
        if out.is_empty() && self.max_uid() > 0 {
            let star_only = set.0.iter().any(|&(a, b)| {
                use crate::proto::types::SeqNum::Star;
                a == Star || b == Star
            });
            if star_only {
                out.push(self.max_uid());
            }
        }
        out
    }

    /// Flags as shown to this session (adds `\Recent`).
    pub fn flags_of(&self, uid: u32, rec: &MessageRecord) -> Vec<Flag> {
        let mut f = rec.flag_list();
        if self.is_recent(uid) {
            f.push(Flag::Recent);
        }
        f
    }

    /// Removes a message this session expunged itself; returns its sequence number.
    pub fn remove(&mut self, uid: u32) -> Option<u32> {
        let i = self.uids.binary_search(&uid).ok()?;
        self.uids.remove(i);
        self.pending_expunge.retain(|&u| u != uid);
        if let Ok(r) = self.recent.binary_search(&uid) {
            self.recent.remove(r);
        }
        Some(i as u32 + 1)
    }

    /// True when expunges wait to be announced.
    pub fn has_pending_expunges(&self) -> bool {
        !self.pending_expunge.is_empty()
    }

    /// Announces the pending expunges: each EXPUNGE carries the sequence number valid at the
    /// moment it is sent.
    pub fn take_expunges(&mut self, vanished: bool) -> Vec<crate::proto::response::Response> {
        let mut gone = std::mem::take(&mut self.pending_expunge);
        gone.sort_unstable();
        self.expunged(&gone, vanished)
    }

    /// Removes `uids` (ascending) from the view and reports them: one EXPUNGE per message with
    /// the sequence number valid when it is sent, or one `VANISHED` (RFC 7162 §3.2.10).
    pub fn expunged(
        &mut self,
        uids: &[u32],
        vanished: bool,
    ) -> Vec<crate::proto::response::Response> {
        let mut gone = Vec::new();
        let mut out = Vec::new();
        for &uid in uids {
            if let Some(seq) = self.remove(uid) {
                gone.push(uid);
                out.push(Data::Expunge(seq).into());
            }
        }
        if vanished && !gone.is_empty() {
            return vec![
                Data::Vanished {
                    earlier: false,
                    uids: SeqSet::from_sorted(&gone),
                }
                .into(),
            ];
        }
        out
    }

    /// Applies a change scan. Without `how.allow_expunge` (sequence-number FETCH, STORE, SEARCH;
    /// RFC 3501 §7.4.1) expunges stay pending. `claim` decides whether a new
    /// message is \Recent for this session.
    pub fn apply(
        &mut self,
        set: ChangeSet,
        how: Report,
        mut claim: impl FnMut(u32) -> bool,
    ) -> Synced {
        let Some(rec) = set.rec else {
            return Synced::MailboxGone;
        };
        if rec.noselect {
            return Synced::MailboxGone;
        }
        let mut out = Vec::new();
        let mut added = Vec::new();
        let mut flag_changes: Vec<(u32, MessageRecord)> = Vec::new();
        let max = self.max_uid();
        for c in set.changes {
            self.modseq = self.modseq.max(c.modseq);
            match c.msg {
                None => {
                    if self.seq_of(c.uid).is_some() && !self.pending_expunge.contains(&c.uid) {
                        self.pending_expunge.push(c.uid);
                    }
                }
                Some(_) if c.uid > max => {
                    if !added.contains(&c.uid) {
                        added.push(c.uid);
                    }
                }
                Some(m) => {
                    if self.own.contains(&c.modseq) || self.seq_of(c.uid).is_none() {
                        continue;
                    }
                    flag_changes.retain(|(u, _)| *u != c.uid);
                    flag_changes.push((c.uid, m));
                }
            }
        }
        let modseq = self.modseq;
        self.own.retain(|&m| m > modseq);
        if how.allow_expunge {
            out.extend(self.take_expunges(how.vanished));
        }
        if rec.keywords.len() != self.keywords.len() {
            self.keywords = rec.keywords.clone();
            out.push(Data::Flags(flags_with(&self.keywords)).into());
            if !self.read_only {
                out.push(
                    Status::ok("Flags permitted")
                        .code(Code::PermanentFlags(flags_with(&self.keywords), true))
                        .into(),
                );
            }
        }
        for (uid, m) in flag_changes {
            if let Some(seq) = self.seq_of(uid) {
                let mut items = vec![
                    FetchItem::Uid(uid),
                    FetchItem::Flags(self.flags_of(uid, &m)),
                ];
                if how.modseq {
                    items.push(FetchItem::ModSeq(m.modseq));
                }
                out.push(Data::Fetch { seq, items }.into());
            }
        }
        if !added.is_empty() {
            added.sort_unstable();
            for uid in added {
                self.uids.push(uid);
                if claim(uid) {
                    self.recent.push(uid);
                }
            }
            // RECENT accompanies every EXISTS, as after SELECT.
            out.push(Data::Exists(self.exists()).into());
            out.push(Data::Recent(self.recent_count()).into());
        }
        Synced::Responses(out)
    }
}

/// The five system flags plus the mailbox's keywords.
pub fn flags_with(keywords: &[String]) -> Vec<Flag> {
    let mut f = vec![
        Flag::Answered,
        Flag::Flagged,
        Flag::Deleted,
        Flag::Seen,
        Flag::Draft,
    ];
    f.extend(keywords.iter().cloned().map(Flag::Keyword));
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::response::Response;
    use crate::proto::types::SeqNum;
    use crate::store::message::Change;
    use crate::store::schema::MailboxRecord;

    fn rec() -> MailboxRecord {
        MailboxRecord {
            owner: "a".into(),
            name: "INBOX".into(),
            uidvalidity: 1,
            uidnext: 10,
            highest_modseq: 20,
            first_recent_uid: 1,
            special_use: String::new(),
            noselect: false,
            keywords: vec![],
            acl: vec![],
            messages: 0,
            unseen: 0,
            size: 0,
            tombstone_floor: 0,
            tombstones: 0,
        }
    }

    fn msg(modseq: u64, flags: u8) -> MessageRecord {
        MessageRecord {
            blob: 1,
            flags,
            keywords: vec![],
            internal_date: crate::proto::types::DateTime {
                unix: 0,
                zone_minutes: 0,
            },
            size: 1,
            modseq,
        }
    }

    fn set(changes: Vec<Change>) -> ChangeSet {
        ChangeSet {
            rec: Some(rec()),
            changes,
        }
    }

    fn lines(s: Synced) -> Vec<String> {
        let Synced::Responses(r) = s else {
            panic!("gone")
        };
        r.iter()
            .map(|r: &Response| {
                let mut o = crate::proto::response::Output::default();
                r.encode(&mut o);
                String::from_utf8(o.bytes).unwrap().trim_end().to_string()
            })
            .collect()
    }

    #[test]
    fn seq_uid_maps() {
        let v = View::new(vec![3, 5, 9], 1, 100, vec![]);
        let s = |a, b| SeqSet(vec![(a, b)]);
        assert_eq!(
            v.seqs_to_uids(&s(SeqNum::Value(2), SeqNum::Star)).unwrap(),
            vec![5, 9]
        );
        assert!(
            v.seqs_to_uids(&s(SeqNum::Value(4), SeqNum::Value(4)))
                .is_err()
        );
        assert_eq!(
            v.uid_set(&s(SeqNum::Value(4), SeqNum::Value(9))),
            vec![5, 9]
        );
        assert_eq!(v.uid_set(&s(SeqNum::Value(20), SeqNum::Star)), vec![9]);
        assert_eq!(
            v.uid_set(&s(SeqNum::Value(10), SeqNum::Value(12))),
            Vec::<u32>::new()
        );
    }

    #[test]
    fn expunge_is_held_back_then_sent_in_order() {
        let mut v = View::new(vec![1, 2, 3, 4], 10, 100, vec![]);
        let gone = |uid, modseq| Change {
            modseq,
            uid,
            msg: None,
        };
        let hold = Report::default();
        let out = lines(v.apply(set(vec![gone(2, 11), gone(4, 12)]), hold, |_| false));
        assert!(out.is_empty());
        assert_eq!(v.exists(), 4);
        let allow = Report {
            allow_expunge: true,
            ..Report::default()
        };
        let out = lines(v.apply(set(vec![]), allow, |_| false));
        // uid 2 is seq 2; after it, uid 4 is seq 3.
        assert_eq!(out, vec!["* 2 EXPUNGE", "* 3 EXPUNGE"]);
        assert_eq!(v.exists(), 2);
    }

    #[test]
    fn new_messages_flags_and_own_changes() {
        let mut v = View::new(vec![1, 2], 10, 100, vec![]);
        v.own_changes(&[11]);
        let ch = vec![
            Change {
                modseq: 11,
                uid: 1,
                msg: Some(msg(11, 1)),
            },
            Change {
                modseq: 12,
                uid: 2,
                msg: Some(msg(12, 4)),
            },
            Change {
                modseq: 13,
                uid: 5,
                msg: Some(msg(13, 0)),
            },
        ];
        let how = Report {
            allow_expunge: true,
            modseq: true,
            vanished: false,
        };
        let out = lines(v.apply(set(ch), how, |_| true));
        assert_eq!(
            out,
            vec![
                "* 2 FETCH (UID 2 FLAGS (\\Flagged) MODSEQ (12))",
                "* 3 EXISTS",
                "* 1 RECENT"
            ]
        );
        assert_eq!(v.modseq, 13);
        assert!(v.is_recent(5));
    }
}
