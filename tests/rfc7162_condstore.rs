//! RFC 7162 CONDSTORE and QRESYNC through a real socket.

mod common;
use common::*;

/// The number after `key` in a response line, e.g. `HIGHESTMODSEQ 17`.
fn number_after(lines: &[String], key: &str) -> u64 {
    lines
        .iter()
        .find_map(|l| l.split(key).nth(1))
        .and_then(|r| {
            r.trim_start()
                .split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no {key} in {lines:#?}"))
}

/// The UIDs of the untagged FETCH responses among `lines`, sorted.
fn fetched_uids(lines: &[String]) -> Vec<u64> {
    let mut uids: Vec<u64> = lines
        .iter()
        .filter(|l| l.starts_with("* ") && l.contains(" FETCH ("))
        .map(|l| number_after(std::slice::from_ref(l), "UID "))
        .collect();
    uids.sort_unstable();
    uids
}

fn setup(s: &Server, mailbox: &str, n: usize) -> Client {
    let mut c = s.login("alice");
    c.ok(&format!("CREATE {mailbox}"));
    for i in 0..n {
        assert!(
            c.append(mailbox, "()", &message(&format!("m{i}"), "body"))
                .contains("OK")
        );
    }
    c
}

#[test]
fn condstore_select_fetch_store_search_status() {
    let s = Server::start();
    let mut c = setup(&s, "cs", 3);
    let sel = c.ok("SELECT cs (CONDSTORE)");
    let highest = number_after(&sel, "HIGHESTMODSEQ");
    // FETCH MODSEQ and CHANGEDSINCE.
    let f = c.ok("FETCH 1:* (MODSEQ)");
    assert_eq!(f.iter().filter(|l| l.contains("MODSEQ (")).count(), 3);
    let none = c.ok(&format!("FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})"));
    assert_eq!(none.len(), 1, "{none:#?}");
    let st = c.ok("STORE 2 +FLAGS (\\Flagged)");
    assert!(
        st[0].starts_with("* 2 FETCH (FLAGS (\\Flagged") && st[0].contains("MODSEQ ("),
        "{st:#?}"
    );
    let m2 = number_after(&st, "MODSEQ (");
    assert!(m2 > highest);
    let changed = c.ok(&format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {highest})"));
    assert_eq!(changed.len(), 2, "{changed:#?}");
    assert!(changed[0].contains("UID 2") && changed[0].contains(&format!("MODSEQ ({m2})")));
    // UNCHANGEDSINCE: message 2 changed after `highest`, so it is refused; 1 is stored.
    let cond = c.cmd(&format!(
        "STORE 1:2 (UNCHANGEDSINCE {highest}) +FLAGS.SILENT (\\Seen)"
    ));
    let tagged = cond.last().unwrap();
    assert!(tagged.contains("OK [MODIFIED 2]"), "{cond:#?}");
    assert!(
        cond.iter()
            .any(|l| l.starts_with("* 1 FETCH") && l.contains("MODSEQ")),
        "{cond:#?}"
    );
    assert!(
        !cond.iter().any(|l| l.starts_with("* 2 FETCH")),
        "{cond:#?}"
    );
    // SEARCH MODSEQ returns the highest modseq of the matches.
    let sr = c.ok(&format!("SEARCH MODSEQ {m2}"));
    assert!(
        sr[0].starts_with("* SEARCH ") && sr[0].contains("(MODSEQ "),
        "{sr:#?}"
    );
    // STATUS HIGHESTMODSEQ grows.
    let stat = c.ok("STATUS cs (HIGHESTMODSEQ)");
    assert!(number_after(&stat, "HIGHESTMODSEQ") > m2);
}

#[test]
fn modseqs_never_repeat_across_sessions_and_restart() {
    let mut s = Server::start();
    let mut a = setup(&s, "seq", 2);
    let mut b = s.login("alice");
    a.ok("SELECT seq");
    b.ok("SELECT seq");
    let mut seen = Vec::new();
    for i in 0..10 {
        let c = if i % 2 == 0 { &mut a } else { &mut b };
        c.ok(&format!("STORE {} FLAGS (k{i})", 1 + i % 2));
        let m = c.ok("FETCH 1:2 (MODSEQ)");
        let highest = m
            .iter()
            .filter(|l| l.contains("MODSEQ ("))
            .map(|l| number_after(std::slice::from_ref(l), "MODSEQ ("))
            .max();
        seen.push(highest.expect("MODSEQ in FETCH"));
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    let before = *seen.last().unwrap();
    drop((a, b));
    s.restart();
    let mut c = s.login("alice");
    c.ok("SELECT seq");
    c.ok("STORE 1 +FLAGS (after)");
    let m = c.ok("FETCH 1 (MODSEQ)");
    assert!(
        number_after(&m, "MODSEQ (") > before,
        "modseq went backwards after restart: {m:#?}"
    );
}

#[test]
fn qresync_reconnect_gets_exactly_the_difference() {
    let s = Server::start();
    let mut c = setup(&s, "qr", 5);
    c.ok("ENABLE QRESYNC");
    let sel = c.ok("SELECT qr");
    let validity = number_after(&sel, "UIDVALIDITY");
    let modseq = number_after(&sel, "HIGHESTMODSEQ");
    c.ok("LOGOUT");
    // Another session changes things while the first is away.
    let mut o = s.login("alice");
    o.ok("SELECT qr");
    o.ok("STORE 2 +FLAGS (\\Seen)");
    o.ok("STORE 4 +FLAGS (\\Deleted)");
    o.ok("EXPUNGE");
    assert!(o.append("qr", "()", &message("new", "x")).contains("OK"));
    o.ok("LOGOUT");
    // Reconnect with QRESYNC.
    let mut c = s.login("alice");
    let en = c.ok("ENABLE QRESYNC");
    assert!(
        en[0].starts_with("* ENABLED") && en[0].contains("QRESYNC"),
        "{en:#?}"
    );
    let sel = c.ok(&format!("SELECT qr (QRESYNC ({validity} {modseq} 1:5))"));
    assert!(
        sel.iter().any(|l| l == "* VANISHED (EARLIER) 4"),
        "{sel:#?}"
    );
    let fetches: Vec<&String> = sel.iter().filter(|l| l.contains(" FETCH ")).collect();
    assert!(
        fetches
            .iter()
            .any(|l| l.contains("UID 2 ") && l.contains("\\Seen")),
        "{sel:#?}"
    );
    assert!(
        fetches.iter().any(|l| l.contains("UID 6 ")),
        "new message reported: {sel:#?}"
    );
    assert_eq!(fetches.len(), 2, "only the changed messages: {sel:#?}");
    // While selected, an expunge by another session arrives as VANISHED, not EXPUNGE.
    let mut o = s.login("alice");
    o.ok("SELECT qr");
    o.ok("UID STORE 1 +FLAGS (\\Deleted)");
    o.ok("UID EXPUNGE 1");
    let n = c.ok("NOOP");
    assert!(n.iter().any(|l| l == "* VANISHED 1"), "{n:#?}");
    assert!(!n.iter().any(|l| l.contains("EXPUNGE")), "{n:#?}");
    // UID FETCH ... (CHANGEDSINCE m VANISHED).
    let f = c.ok(&format!(
        "UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq} VANISHED)"
    ));
    assert!(f[0] == "* VANISHED (EARLIER) 1,4", "{f:#?}");
    // Switching mailboxes sends CLOSED.
    let sw = c.ok("SELECT INBOX");
    assert!(sw[0].contains("[CLOSED]"), "{sw:#?}");
    // QRESYNC without ENABLE is a BAD.
    let mut d = s.login("alice");
    let (st, _) = d.status(&format!("SELECT qr (QRESYNC ({validity} {modseq}))"));
    assert_eq!(st, "BAD");
}

/// A message added after the client's modseq and changed since is reported once, with its
/// latest flags and modseq; one added before it and changed, and one added after it, are too.
#[test]
fn qresync_reports_a_new_then_changed_message_once() {
    let s = Server::start();
    let mut c = setup(&s, "nc", 2);
    c.ok("ENABLE QRESYNC");
    let sel = c.ok("SELECT nc");
    let validity = number_after(&sel, "UIDVALIDITY");
    let modseq = number_after(&sel, "HIGHESTMODSEQ");
    c.ok("LOGOUT");
    let mut o = s.login("alice");
    o.ok("SELECT nc");
    for i in 0..3 {
        assert!(
            o.append("nc", "()", &message(&format!("n{i}"), "x"))
                .contains("OK")
        );
    }
    o.ok("UID STORE 4 +FLAGS (\\Flagged)"); // added after `modseq`, then changed
    o.ok("UID STORE 1 +FLAGS (\\Seen)"); // added before, changed after
    let last = number_after(&o.ok("UID FETCH 1 (MODSEQ)"), "MODSEQ (");
    o.ok("LOGOUT");
    let mut c = s.login("alice");
    c.ok("ENABLE QRESYNC");
    let sel = c.ok(&format!("SELECT nc (QRESYNC ({validity} {modseq}))"));
    assert_eq!(fetched_uids(&sel), [1, 3, 4, 5], "{sel:#?}");
    let four = sel.iter().find(|l| l.contains("UID 4 ")).unwrap();
    assert!(four.contains("\\Flagged"), "{four}");
    assert_eq!(number_after(&sel, "HIGHESTMODSEQ"), last, "{sel:#?}");
    // From the modseq of the first new message on: the two after it, and uid 1.
    let mut d = s.login("alice");
    d.ok("SELECT nc");
    let third = number_after(&d.ok("UID FETCH 3 (MODSEQ)"), "MODSEQ (");
    let f = d.ok(&format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {third})"));
    assert_eq!(fetched_uids(&f), [1, 4, 5], "{f:#?}");
}
