//! Authenticated state: SELECT/EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE,
//! LIST/LSUB, STATUS (RFC 3501 §6.3), NAMESPACE (RFC 2342), ENABLE (RFC 5161).

use crate::error::{CmdError, CmdResult, Done};
use crate::proto::command::{QResync, SelectParams};
use crate::proto::response::FetchItem;
use crate::proto::response::{Code, Data, Status};
use crate::proto::types::{Flag, MailboxName, SeqSet, StatusItem};
use crate::store::acl::{Rights, seen_is_private};

use super::super::access;
use crate::store::mailbox::MailboxInfo;

use super::super::session::Session;
use super::super::state::{Selected, State};
use super::super::view::{View, flags_with};

/// RFC 3501 §6.3.1 SELECT / §6.3.2 EXAMINE. Authenticated or selected state; a failed SELECT
/// still leaves the previous mailbox deselected.
///
/// RFC 7162: `(CONDSTORE)` enables CONDSTORE; `(QRESYNC (...))` (QRESYNC enabled first, else BAD)
/// adds `VANISHED (EARLIER)` and `FETCH (UID FLAGS MODSEQ)` for what changed since the client's
/// modseq. With QRESYNC, leaving a selected mailbox this way sends `[CLOSED]` (§3.2.11).
pub async fn select(
    s: &mut Session,
    name: MailboxName,
    read_only: bool,
    params: SelectParams,
) -> CmdResult {
    if params.qresync.is_some() && !s.enabled.qresync {
        return Err(CmdError::Bad(
            "QRESYNC parameter needs ENABLE QRESYNC".into(),
        ));
    }
    if params.condstore {
        s.enabled.condstore = true;
    }
    // RFC 7162 §3.2.11; sent once QRESYNC is enabled, as Dovecot does.
    if s.enabled.qresync && matches!(s.state, State::Selected(..)) {
        s.conn
            .queue(Status::ok("Previous mailbox is now closed").code(Code::Closed));
    }
    s.state.deselect();
    // RFC 5182 §2.1: SELECT and EXAMINE reset `$` (its UIDs belong to the old mailbox).
    s.saved.clear();
    let user = s.state.account()?.user.clone();
    let store = s.ctx.store.clone();
    let target = access::locate(&user, &name)?;
    let acc = access::open(&store, &user, &target).await?;
    access::need(acc.rights, "r")?;
    // RFC 4314 §4: without any right to change state, the mailbox opens read-only.
    let rights = acc.rights;
    let read_only = read_only || !"stwe".chars().any(|c| rights.has(c));
    let seen_of = seen_is_private(&user, &target.owner).then(|| user.clone());
    // Watch before the snapshot, so no change can fall between the two.
    let sub = store.hub().subscribe(acc.info.id);
    let snap = store
        .snapshot(target.owner.clone(), target.name.clone(), seen_of.clone())
        .await?;
    let info = acc.info;
    if snap.id != info.id {
        return Err(CmdError::no("Mailbox changed during SELECT, try again"));
    }
    let rec = &snap.rec;
    let recent_from =
        store
            .hub()
            .recent_from(snap.id, rec.first_recent_uid, rec.uidnext, !read_only);
    if !read_only && rec.first_recent_uid < rec.uidnext {
        store.claim_recent(snap.id, rec.uidnext).await?;
    }
    let view = View::new(
        snap.uids,
        rec.highest_modseq,
        recent_from,
        rec.keywords.clone(),
    )
    .read_only(read_only);
    let flags = flags_with(&rec.keywords);
    s.conn.queue(Data::Flags(flags.clone()));
    let permanent = if read_only {
        vec![]
    } else {
        settable(&flags, rights)
    };
    s.conn
        .queue(Status::ok("Flags permitted").code(Code::PermanentFlags(
            permanent,
            !read_only && rights.has('w'),
        )));
    s.conn.queue(Data::Exists(view.exists()));
    s.conn.queue(Data::Recent(view.recent_count()));
    if let Some(seq) = snap.first_unseen {
        s.conn
            .queue(Status::ok(format!("First unseen: {seq}")).code(Code::Unseen(seq)));
    }
    s.conn
        .queue(Status::ok("UIDs valid").code(Code::UidValidity(rec.uidvalidity)));
    s.conn
        .queue(Status::ok("Predicted next UID").code(Code::UidNext(rec.uidnext)));
    s.conn
        .queue(Status::ok("Highest").code(Code::HighestModSeq(rec.highest_modseq)));
    let mut view = view;
    if let Some(q) = params.qresync.filter(|q| q.uidvalidity == rec.uidvalidity) {
        resync(s, snap.id, &mut view, &q, seen_of.clone()).await?;
    }
    let account = s.state.account()?.clone();
    let sel = Selected {
        id: snap.id,
        seen_of,
        rights,
        read_only,
        view,
        sub,
    };
    s.state = State::Selected(account, sel);
    Done::ok_code(
        if read_only {
            Code::ReadOnly
        } else {
            Code::ReadWrite
        },
        "completed",
    )
}

/// The flags `rights` allow to set (RFC 4314 §4: `s` for \Seen, `t` for \Deleted, `w` for the
/// rest).
pub fn settable(flags: &[Flag], rights: Rights) -> Vec<Flag> {
    flags
        .iter()
        .filter(|f| rights.has(right_for(f)))
        .cloned()
        .collect()
}

/// The right needed to set or clear a flag.
pub fn right_for(flag: &Flag) -> char {
    match flag {
        Flag::Seen => 's',
        Flag::Deleted => 't',
        _ => 'w',
    }
}

/// RFC 7162 §3.2.5.2: what changed since the client's modseq, as VANISHED (EARLIER) then FETCH.
async fn resync(
    s: &mut Session,
    id: u64,
    view: &mut View,
    q: &QResync,
    seen_of: Option<String>,
) -> CmdResult<()> {
    let store = s.ctx.store.clone();
    let gone = store.vanished_since(id, q.modseq).await?;
    let known = q.known_uids.as_ref().map(|k| k.resolve(u32::MAX));
    let in_known = |u: &u32| {
        known
            .as_ref()
            .is_none_or(|k| k.iter().any(|&(lo, hi)| (lo..=hi).contains(u)))
    };
    let vanished: Vec<u32> = gone
        .uids
        .into_iter()
        .filter(|u| in_known(u) && view.seq_of(*u).is_none())
        .collect();
    if !vanished.is_empty() {
        s.conn.queue(Data::Vanished {
            earlier: true,
            uids: SeqSet::from_sorted(&vanished),
        });
    }
    let changes = store.changes_since(id, q.modseq, seen_of).await?;
    for c in changes.changes {
        let (Some(m), Some(seq)) = (c.msg, view.seq_of(c.uid)) else {
            continue;
        };
        if c.modseq > view.modseq {
            continue; // newer than this SELECT's snapshot: the next sync reports it
        }
        let items = vec![
            FetchItem::Uid(c.uid),
            FetchItem::Flags(view.flags_of(c.uid, &m)),
            FetchItem::ModSeq(m.modseq),
        ];
        s.conn.queue(Data::Fetch { seq, items });
    }
    Ok(())
}

/// RFC 3501 §6.3.3 CREATE. Creating INBOX is an error; in another user's or the public
/// namespace it needs `k` on the parent (RFC 4314 §4).
pub async fn create(s: &mut Session, name: MailboxName) -> CmdResult {
    if name.is_inbox() {
        return Err(CmdError::no_code(
            Code::AlreadyExists,
            "INBOX always exists",
        ));
    }
    let user = s.state.account()?.user.clone();
    let t = access::locate(&user, &name)?;
    access::can_create_in(&s.ctx.store, &user, &t).await?;
    s.ctx.store.mailbox_create(t.owner, t.name).await?;
    Done::ok("completed")
}

/// RFC 3501 §6.3.4 DELETE; needs `x` (RFC 4314 §4).
pub async fn delete(s: &mut Session, name: MailboxName) -> CmdResult {
    let user = s.state.account()?.user.clone();
    let t = access::locate(&user, &name)?;
    let a = access::open(&s.ctx.store, &user, &t).await?;
    access::need(a.rights, "x")?;
    s.ctx.store.mailbox_delete(t.owner, t.name).await?;
    Done::ok("completed")
}

/// RFC 3501 §6.3.5 RENAME; needs `x` on the source and `k` on the new parent (RFC 4314 §4).
/// Both names must be in the same owner's tree.
pub async fn rename(s: &mut Session, from: MailboxName, to: MailboxName) -> CmdResult {
    let user = s.state.account()?.user.clone();
    let (src, dst) = (access::locate(&user, &from)?, access::locate(&user, &to)?);
    let a = access::open(&s.ctx.store, &user, &src).await?;
    access::need(a.rights, "x")?;
    if src.owner != dst.owner {
        return Err(CmdError::no_code(
            Code::Cannot,
            "Cannot move a mailbox to another namespace",
        ));
    }
    access::can_create_in(&s.ctx.store, &user, &dst).await?;
    s.ctx
        .store
        .mailbox_rename(src.owner, src.name, dst.name)
        .await?;
    Done::ok("completed")
}

/// RFC 3501 §6.3.6 SUBSCRIBE / §6.3.7 UNSUBSCRIBE. Subscribing needs a mailbox the user can
/// see; unsubscribing works for any subscribed name.
pub async fn subscribe(s: &mut Session, name: MailboxName, on: bool) -> CmdResult {
    let user = s.state.account()?.user.clone();
    if on {
        let t = access::locate(&user, &name)?;
        access::open(&s.ctx.store, &user, &t).await?;
    }
    s.ctx.store.subscribe(user, name.to_string(), on).await?;
    Done::ok("completed")
}

/// One LIST candidate: a visible name and its mailbox (None for namespace nodes).
struct Entry<'a> {
    name: String,
    mailbox: Option<&'a MailboxInfo>,
}

/// Every name `user` can see: personal mailboxes, shared ones with `l`, and the namespace and
/// hierarchy nodes above shared ones (as `\Noselect`).
fn visible_entries<'a>(
    user: &str,
    own: &'a [MailboxInfo],
    shared: &'a [MailboxInfo],
) -> Vec<Entry<'a>> {
    let mut out: Vec<Entry<'a>> = own
        .iter()
        .map(|m| Entry {
            name: m.rec.name.clone(),
            mailbox: Some(m),
        })
        .collect();
    let mut names: std::collections::BTreeSet<String> =
        out.iter().map(|e| e.name.clone()).collect();
    for m in shared {
        let name = access::visible(user, &m.rec.owner, &m.rec.name);
        names.insert(name.clone());
        out.push(Entry {
            name,
            mailbox: Some(m),
        });
    }
    let mut nodes = Vec::new();
    for e in out
        .iter()
        .filter(|e| e.mailbox.is_some_and(|m| m.rec.owner != user))
    {
        for (i, _) in e.name.match_indices('/') {
            let parent = &e.name[..i];
            if names.insert(parent.to_string()) {
                nodes.push(Entry {
                    name: parent.to_string(),
                    mailbox: None,
                });
            }
        }
    }
    out.extend(nodes);
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// RFC 3501 §6.3.8 LIST and §6.3.9 LSUB, with RFC 3348 CHILDREN and RFC 6154 SPECIAL-USE
/// attributes, across the three namespaces.
pub async fn list(s: &mut Session, reference: String, pattern: String, lsub: bool) -> CmdResult {
    let user = s.state.account()?.user.clone();
    if pattern.is_empty() && !lsub {
        // RFC 3501 §6.3.8: the hierarchy delimiter and root name.
        s.conn.queue(Data::List {
            lsub,
            attrs: vec!["\\Noselect".into()],
            name: String::new(),
        });
        return Done::ok("completed");
    }
    let pattern = canonical_pattern(&format!("{reference}{pattern}"));
    let own = s.ctx.store.mailbox_list(user.clone()).await?;
    let shared = s.ctx.store.mailboxes_shared_with(user.clone()).await?;
    let entries = visible_entries(&user, &own, &shared);
    if lsub {
        let subs = s.ctx.store.subscriptions(user).await?;
        for (name, attrs) in lsub_entries(&subs, &entries, &pattern) {
            s.conn.queue(Data::List { lsub, attrs, name });
        }
        return Done::ok("completed");
    }
    for e in &entries {
        if wildcard_match(&pattern, &e.name) {
            s.conn.queue(Data::List {
                lsub,
                attrs: attributes(e, &entries),
                name: e.name.clone(),
            });
        }
    }
    Done::ok("completed")
}

/// `INBOX` is case-insensitive in patterns too.
fn canonical_pattern(p: &str) -> String {
    let (first, rest) = p.split_once('/').map_or((p, None), |(a, b)| (a, Some(b)));
    if first.eq_ignore_ascii_case("INBOX") {
        return rest.map_or_else(|| "INBOX".into(), |r| format!("INBOX/{r}"));
    }
    p.to_string()
}

/// LIST attributes of one entry.
fn attributes(e: &Entry<'_>, all: &[Entry<'_>]) -> Vec<String> {
    let mut attrs = Vec::new();
    if e.mailbox.is_none_or(|m| m.rec.noselect) {
        attrs.push("\\Noselect".to_string());
    }
    let prefix = format!("{}/", e.name);
    let children = all.iter().any(|c| c.name.starts_with(&prefix));
    attrs.push(
        if children {
            "\\HasChildren"
        } else {
            "\\HasNoChildren"
        }
        .into(),
    );
    if let Some(m) = e.mailbox.filter(|m| !m.rec.special_use.is_empty()) {
        attrs.push(m.rec.special_use.clone());
    }
    attrs
}

/// LSUB answers: subscribed names matching the pattern; with `%`, unsubscribed parents of
/// subscribed names show as `\Noselect` (RFC 3501 §6.3.9).
fn lsub_entries(subs: &[String], all: &[Entry<'_>], pattern: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for name in subs {
        if wildcard_match(pattern, name) {
            let noselect = all
                .iter()
                .find(|e| &e.name == name)
                .is_some_and(|e| e.mailbox.is_none_or(|m| m.rec.noselect));
            out.push((
                name.clone(),
                if noselect {
                    vec!["\\Noselect".into()]
                } else {
                    vec![]
                },
            ));
        }
    }
    if pattern.contains('%') {
        for name in subs {
            for (i, _) in name.match_indices('/') {
                let parent = &name[..i];
                if wildcard_match(pattern, parent) && !out.iter().any(|(n, _)| n == parent) {
                    out.push((parent.to_string(), vec!["\\Noselect".into()]));
                }
            }
        }
    }
    out.sort();
    out
}

/// RFC 3501 §6.3.8 wildcards: `*` matches anything, `%` anything but the delimiter.
/// Dynamic programming, so no pattern can make it exponential.
pub fn wildcard_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // row[j]: pattern prefix matches name prefix of length j.
    let mut row = vec![false; n.len() + 1];
    row[0] = true;
    for &pc in &p {
        let mut next = vec![false; n.len() + 1];
        match pc {
            '*' | '%' => {
                let mut reach = false;
                for j in 0..=n.len() {
                    if pc == '%' && j > 0 && n[j - 1] == '/' {
                        reach = false;
                    }
                    reach |= row[j];
                    next[j] = reach;
                }
            }
            c => {
                for j in 1..=n.len() {
                    next[j] = row[j - 1] && n[j - 1] == c;
                }
            }
        }
        row = next;
    }
    row[n.len()]
}

/// RFC 3501 §6.3.10 STATUS (+ RFC 8438 SIZE, RFC 7162 HIGHESTMODSEQ); needs `r`. UNSEEN
/// counts the caller's own `\Seen` on shared mailboxes.
pub async fn status(s: &mut Session, name: MailboxName, items: Vec<StatusItem>) -> CmdResult {
    let user = s.state.account()?.user.clone();
    let t = access::locate(&user, &name)?;
    let a = access::open(&s.ctx.store, &user, &t).await?;
    access::need(a.rights, "r")?;
    let info = a.info;
    if info.rec.noselect {
        return Err(CmdError::no_code(
            Code::NonExistent,
            "Mailbox is \\Noselect",
        ));
    }
    let mut values = Vec::with_capacity(items.len());
    for item in items {
        let v = match item {
            StatusItem::Messages => u64::from(info.rec.messages),
            StatusItem::UidNext => u64::from(info.rec.uidnext),
            StatusItem::UidValidity => u64::from(info.rec.uidvalidity),
            StatusItem::Unseen if seen_is_private(&user, &info.rec.owner) => {
                let seen = s.ctx.store.seen_count(info.id, user.clone()).await?;
                u64::from(info.rec.messages.saturating_sub(seen))
            }
            StatusItem::Unseen => u64::from(info.rec.unseen),
            StatusItem::Size => info.rec.size,
            StatusItem::HighestModSeq => info.rec.highest_modseq,
            StatusItem::Recent => {
                let hub = s.ctx.store.hub();
                let from = hub.recent_from(info.id, info.rec.first_recent_uid, 0, false);
                u64::from(s.ctx.store.count_from(info.id, from).await?)
            }
        };
        values.push((item, v));
    }
    s.conn.queue(Data::Status {
        mailbox: name.to_string(),
        items: values,
    });
    Done::ok("completed")
}

/// RFC 2342 NAMESPACE: personal `""`, other users `Other Users/`, public `Shared/`.
pub fn namespace(s: &mut Session) -> CmdResult {
    s.conn.queue(Data::Namespace {
        personal: vec![String::new()],
        other: vec![format!("{}/", access::OTHER_USERS)],
        shared: vec![format!("{}/", access::SHARED)],
    });
    Done::ok("completed")
}

/// RFC 5161 ENABLE: CONDSTORE and QRESYNC (RFC 7162 §3.2.3; QRESYNC implies CONDSTORE).
/// Unknown names are ignored; `ENABLED` lists what this command newly enabled.
pub fn enable(s: &mut Session, caps: Vec<String>) -> CmdResult {
    let mut newly = Vec::new();
    for c in caps {
        match c.as_str() {
            "CONDSTORE" if !s.enabled.condstore => {
                s.enabled.condstore = true;
                newly.push(c);
            }
            "QRESYNC" if !s.enabled.qresync => {
                s.enabled.qresync = true;
                s.enabled.condstore = true;
                newly.push(c);
            }
            _ => {}
        }
    }
    s.conn.queue(Data::Enabled(newly));
    Done::ok("completed")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "a/b/c"));
        assert!(wildcard_match("%", "INBOX"));
        assert!(!wildcard_match("%", "a/b"));
        assert!(wildcard_match("a/%", "a/b"));
        assert!(!wildcard_match("a/%", "a/b/c"));
        assert!(wildcard_match("a*c", "a/b/c"));
        assert!(wildcard_match("a%c", "abc"));
        assert!(!wildcard_match("a%c", "a/c"));
        assert!(!wildcard_match("INBOX", "INBOX/x"));
        assert!(wildcard_match("%/%", "a/b"));
        let long = "*a".repeat(30);
        assert!(!wildcard_match(&long, &"b".repeat(500)));
        assert_eq!(canonical_pattern("inbox/%"), "INBOX/%");
    }
}
