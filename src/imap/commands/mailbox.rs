//! Authenticated state: SELECT/EXAMINE, CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE,
//! LIST/LSUB, STATUS (RFC 3501 §6.3), NAMESPACE (RFC 2342), ENABLE (RFC 5161).

use crate::error::{CmdError, CmdResult, Done};
use crate::proto::response::{Code, Data, Status};
use crate::proto::types::{MailboxName, StatusItem};
use crate::store::mailbox::MailboxInfo;

use super::super::session::Session;
use super::super::state::{Selected, State};
use super::super::view::{View, flags_with};

/// RFC 3501 §6.3.1 SELECT / §6.3.2 EXAMINE. Authenticated or selected state; a failed SELECT
/// still leaves the previous mailbox deselected.
pub async fn select(s: &mut Session, name: MailboxName, read_only: bool) -> CmdResult {
    s.state.deselect();
    let user = s.state.account()?.user.clone();
    let store = s.ctx.store.clone();
    let info = store.mailbox_get(user.clone(), name.to_string()).await?;
    // Watch before the snapshot, so no change can fall between the two.
    let sub = store.hub().subscribe(info.id);
    let snap = store.snapshot(user, name.to_string()).await?;
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
    let permanent = if read_only { vec![] } else { flags };
    s.conn
        .queue(Status::ok("Flags permitted").code(Code::PermanentFlags(permanent)));
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
    let account = s.state.account()?.clone();
    let sel = Selected {
        id: snap.id,
        name: name.to_string(),
        read_only,
        uidvalidity: rec.uidvalidity,
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

/// RFC 3501 §6.3.3 CREATE. Creating INBOX is an error.
pub async fn create(s: &mut Session, name: MailboxName) -> CmdResult {
    if name.is_inbox() {
        return Err(CmdError::no_code(
            Code::AlreadyExists,
            "INBOX always exists",
        ));
    }
    let user = s.state.account()?.user.clone();
    s.ctx.store.mailbox_create(user, name.to_string()).await?;
    Done::ok("completed")
}

/// RFC 3501 §6.3.4 DELETE.
pub async fn delete(s: &mut Session, name: MailboxName) -> CmdResult {
    let user = s.state.account()?.user.clone();
    s.ctx.store.mailbox_delete(user, name.to_string()).await?;
    Done::ok("completed")
}

/// RFC 3501 §6.3.5 RENAME.
pub async fn rename(s: &mut Session, from: MailboxName, to: MailboxName) -> CmdResult {
    let user = s.state.account()?.user.clone();
    s.ctx
        .store
        .mailbox_rename(user, from.to_string(), to.to_string())
        .await?;
    Done::ok("completed")
}

/// RFC 3501 §6.3.6 SUBSCRIBE / §6.3.7 UNSUBSCRIBE.
pub async fn subscribe(s: &mut Session, name: MailboxName, on: bool) -> CmdResult {
    let user = s.state.account()?.user.clone();
    s.ctx.store.subscribe(user, name.to_string(), on).await?;
    Done::ok("completed")
}

/// RFC 3501 §6.3.8 LIST and §6.3.9 LSUB, with RFC 3348 CHILDREN and RFC 6154 SPECIAL-USE
/// attributes.
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
    let all = s.ctx.store.mailbox_list(user.clone()).await?;
    if lsub {
        let subs = s.ctx.store.subscriptions(user).await?;
        for (name, attrs) in lsub_entries(&subs, &all, &pattern) {
            s.conn.queue(Data::List { lsub, attrs, name });
        }
        return Done::ok("completed");
    }
    for m in &all {
        if wildcard_match(&pattern, &m.rec.name) {
            s.conn.queue(Data::List {
                lsub,
                attrs: attributes(m, &all),
                name: m.rec.name.clone(),
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

/// LIST attributes of one mailbox.
fn attributes(m: &MailboxInfo, all: &[MailboxInfo]) -> Vec<String> {
    let mut attrs = Vec::new();
    if m.rec.noselect {
        attrs.push("\\Noselect".to_string());
    }
    let prefix = format!("{}/", m.rec.name);
    let children = all.iter().any(|c| c.rec.name.starts_with(&prefix));
    attrs.push(
        if children {
            "\\HasChildren"
        } else {
            "\\HasNoChildren"
        }
        .into(),
    );
    if !m.rec.special_use.is_empty() {
        attrs.push(m.rec.special_use.clone());
    }
    attrs
}

/// LSUB answers: subscribed names matching the pattern; with `%`, unsubscribed parents of
/// subscribed names show as `\Noselect` (RFC 3501 §6.3.9).
fn lsub_entries(subs: &[String], all: &[MailboxInfo], pattern: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for name in subs {
        if wildcard_match(pattern, name) {
            let noselect = all
                .iter()
                .find(|m| &m.rec.name == name)
                .is_some_and(|m| m.rec.noselect);
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

/// RFC 3501 §6.3.10 STATUS (+ RFC 8438 SIZE).
pub async fn status(s: &mut Session, name: MailboxName, items: Vec<StatusItem>) -> CmdResult {
    let user = s.state.account()?.user.clone();
    let info = s.ctx.store.mailbox_get(user, name.to_string()).await?;
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
            StatusItem::Unseen => u64::from(info.rec.unseen),
            StatusItem::Size => info.rec.size,
            StatusItem::Recent => {
                let from =
                    s.ctx
                        .store
                        .hub()
                        .recent_from(info.id, info.rec.first_recent_uid, 0, false);
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

/// RFC 2342 NAMESPACE: one personal namespace, no others yet.
pub fn namespace(s: &mut Session) -> CmdResult {
    s.conn.queue(Data::Namespace {
        personal: vec![String::new()],
        other: vec![],
        shared: vec![],
    });
    Done::ok("completed")
}

/// RFC 5161 ENABLE: no extension in this server needs enabling yet, so none is enabled.
pub fn enable(s: &mut Session, _caps: Vec<String>) -> CmdResult {
    s.conn.queue(Data::Enabled(vec![]));
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
