//! RFC 3501 base commands over a real socket, transcript style: each test sends commands and
//! matches the answers line by line (`…` = any text, `#` = a number, see `common::matches`).
//!
//! All tests share one server; each takes a fresh account so mailbox contents never interfere.

mod common;

use std::sync::Arc;

use common::*;

fn server() -> Arc<Server> {
    Server::shared(&[])
}

/// A logged-in client of a fresh account (keep the server handle alive alongside).
fn fresh() -> (Arc<Server>, Client) {
    let s = server();
    let user = s.new_user();
    let c = s.login(&user);
    (s, c)
}

/// Appends `n` messages `m1..mn` to `mailbox`; returns the UIDVALIDITY from APPENDUID.
fn fill(c: &mut Client, mailbox: &str, n: usize) -> u32 {
    let mut validity = 0;
    for i in 1..=n {
        let ok = c.append(mailbox, "", &message(&format!("m{i}"), "body"));
        validity = appenduid(&ok).0;
    }
    validity
}

/// The capability names of a `* CAPABILITY ...` line or a `[CAPABILITY ...]` code.
fn caps_of(line: &str) -> Vec<String> {
    let start = line.find("CAPABILITY ").expect("capabilities") + "CAPABILITY ".len();
    let rest = &line[start..];
    let end = rest.find(']').unwrap_or(rest.len());
    rest[..end].split(' ').map(String::from).collect()
}

/// Lines sorted, for answers whose order the RFC leaves open (LIST, LSUB).
fn sorted<S: ToString>(lines: impl IntoIterator<Item = S>) -> Vec<String> {
    let mut v: Vec<String> = lines.into_iter().map(|l| l.to_string()).collect();
    v.sort();
    v
}

#[test]
fn capability_in_greeting_and_after_login() {
    let s = server();
    let mut c = s.connect();
    assert!(
        matches("* OK [CAPABILITY IMAP4rev1 …] …", &c.greeting),
        "{}",
        c.greeting
    );
    let lines = c.check("CAPABILITY", &["* CAPABILITY IMAP4rev1 …", "OK …"]);
    let before = caps_of(&lines[0]);
    assert_eq!(
        before,
        caps_of(&c.greeting),
        "greeting and CAPABILITY agree"
    );
    for cap in [
        "LITERAL+",
        "SASL-IR",
        "ID",
        "ENABLE",
        "IDLE",
        "NAMESPACE",
        "UIDPLUS",
        "MOVE",
        "UNSELECT",
        "CHILDREN",
        "SPECIAL-USE",
        "AUTH=PLAIN",
    ] {
        assert!(
            before.iter().any(|c| c == cap),
            "{cap} missing in {before:?}"
        );
    }
    let login = c.check("LOGIN alice secret", &["OK [CAPABILITY IMAP4rev1 …] …"]);
    let after = caps_of(&login[0]);
    assert!(!after.iter().any(|c| c.starts_with("AUTH=")), "{after:?}");
    let lines = c.check("CAPABILITY", &["* CAPABILITY IMAP4rev1 …", "OK …"]);
    assert_eq!(
        caps_of(&lines[0]),
        after,
        "LOGIN's code and CAPABILITY agree"
    );
}

#[test]
fn noop_in_every_state() {
    let s = server();
    let mut c = s.connect();
    c.check("NOOP", &["OK …"]);
    c.ok("LOGIN alice secret");
    c.check("NOOP", &["OK …"]);
    c.ok("EXAMINE Sent");
    c.check("NOOP", &["OK …"]);
    // Command names are case-insensitive.
    c.check("noop", &["OK …"]);
}

#[test]
fn logout_says_bye_then_closes() {
    let s = server();
    let mut c = s.connect();
    c.check("LOGOUT", &["* BYE …", "OK …"]);
    assert_eq!(c.expect_closed(), Vec::<String>::new());
    let mut c = s.login("alice");
    c.ok("EXAMINE INBOX");
    c.check("LOGOUT", &["* BYE …", "OK …"]);
    assert_eq!(c.expect_closed(), Vec::<String>::new());
}

#[test]
fn login_good_and_bad_passwords() {
    let s = server();
    let mut c = s.connect();
    c.check("LOGIN alice wrong", &["NO [AUTHENTICATIONFAILED] …"]);
    c.check("LOGIN nobody secret", &["NO [AUTHENTICATIONFAILED] …"]);
    c.check("LOGIN \"\" secret", &["NO [AUTHENTICATIONFAILED] …"]);
    // Still not authenticated after failures.
    c.check("SELECT INBOX", &["BAD …"]);
    // Quoted strings; user names are case-insensitive.
    c.check("LOGIN \"Alice\" \"secret\"", &["OK [CAPABILITY …] …"]);
    c.check("LOGIN alice secret", &["BAD …"]);
}

#[test]
fn login_with_synchronising_literals() {
    let s = server();
    let mut c = s.connect();
    c.send_raw(b"L1 LOGIN {5}\r\n");
    assert!(c.read_line().starts_with("+ "));
    c.send_raw(b"alice {6}\r\n");
    assert!(c.read_line().starts_with("+ "));
    c.send_raw(b"secret\r\n");
    let lines = c.read_until_tag("L1");
    assert_lines(&lines, &["L1 OK [CAPABILITY …] …".into()], "LOGIN literals");
}

#[test]
fn authenticate_plain_with_initial_response() {
    let s = server();
    let mut c = s.connect();
    // base64("\0alice\0wrong")
    c.check(
        "AUTHENTICATE PLAIN AGFsaWNlAHdyb25n",
        &["NO [AUTHENTICATIONFAILED] …"],
    );
    // base64("bob\0alice\0secret"): acting as another user is refused.
    c.check(
        "AUTHENTICATE PLAIN Ym9iAGFsaWNlAHNlY3JldA==",
        &["NO [AUTHORIZATIONFAILED] …"],
    );
    c.check("AUTHENTICATE CRAM-MD5", &["NO …"]);
    // base64("\0alice\0secret")
    c.check(
        "AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==",
        &["OK [CAPABILITY IMAP4rev1 …] …"],
    );
    c.check(
        "EXAMINE INBOX",
        &[
            "* …",
            "* …",
            "* …",
            "* …",
            "* …",
            "* …",
            "* …",
            "OK [READ-ONLY] …",
        ],
    );
}

#[test]
fn authenticate_plain_with_continuation_and_cancel() {
    let s = server();
    let mut c = s.connect();
    // Cancel with `*` (RFC 3501 §6.2.2): BAD, and the connection stays usable.
    c.send_raw(b"A1 AUTHENTICATE PLAIN\r\n");
    assert_eq!(c.read_line(), "+ ");
    c.send_raw(b"*\r\n");
    assert!(c.read_line().starts_with("A1 BAD "));
    c.check("NOOP", &["OK …"]);
    c.check("SELECT INBOX", &["BAD …"]);
    // Garbage instead of base64.
    c.send_raw(b"A2 AUTHENTICATE PLAIN\r\n");
    assert_eq!(c.read_line(), "+ ");
    c.send_raw(b"!!!\r\n");
    assert!(c.read_line().starts_with("A2 BAD "));
    // The real thing.
    c.send_raw(b"A3 AUTHENTICATE PLAIN\r\n");
    assert_eq!(c.read_line(), "+ ");
    c.send_raw(b"AGFsaWNlAHNlY3JldA==\r\n");
    let lines = c.read_until_tag("A3");
    assert_lines(&lines, &["A3 OK [CAPABILITY …] …".into()], "AUTHENTICATE");
    c.check("AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==", &["BAD …"]);
}

#[test]
fn select_and_examine_transcripts() {
    let (_s, mut c) = fresh();
    let v = appenduid(&c.append("INBOX", "(\\Seen)", &message("a", "1"))).0;
    c.append("INBOX", "", &message("b", "2"));
    c.append("INBOX", "(\\Flagged)", &message("c", "3"));
    let vline = format!("* OK [UIDVALIDITY {v}] …");
    c.check(
        "SELECT INBOX",
        &[
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] …",
            "* 3 EXISTS",
            "* 3 RECENT",
            "* OK [UNSEEN 2] …",
            &vline,
            "* OK [UIDNEXT 4] …",
            "* OK [HIGHESTMODSEQ …",
            "OK [READ-WRITE] …",
        ],
    );
    // The SELECT above claimed \Recent; EXAMINE is read-only: no permanent flags.
    let mut e = _s.login(&user_of(&mut c));
    e.check(
        "EXAMINE INBOX",
        &[
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
            "* OK [PERMANENTFLAGS ()] …",
            "* 3 EXISTS",
            "* 0 RECENT",
            "* OK [UNSEEN 2] …",
            &vline,
            "* OK [UIDNEXT 4] …",
            "* OK [HIGHESTMODSEQ …",
            "OK [READ-ONLY] …",
        ],
    );
    e.check("STORE 1 +FLAGS (\\Deleted)", &["NO …"]);
    e.check("EXPUNGE", &["NO …"]);
    // A keyword shows up in FLAGS and PERMANENTFLAGS of the next SELECT.
    c.ok("STORE 2 +FLAGS.SILENT ($Work)");
    c.check(
        "SELECT Sent",
        &[
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] …",
            "* 0 EXISTS",
            "* 0 RECENT",
            "* OK [UIDVALIDITY #] …",
            "* OK [UIDNEXT 1] …",
            "* OK [HIGHESTMODSEQ …",
            "OK [READ-WRITE] …",
        ],
    );
    c.check(
        "SELECT INBOX",
        &[
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)",
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work \\*)] …",
            "* 3 EXISTS",
            "* 0 RECENT",
            "* OK [UNSEEN 2] …",
            &vline,
            "* OK [UIDNEXT 4] …",
            "* OK [HIGHESTMODSEQ …",
            "OK [READ-WRITE] …",
        ],
    );
    // A failed SELECT leaves the session deselected (RFC 3501 §6.3.1).
    c.check("SELECT Nope", &["NO [NONEXISTENT] …"]);
    c.check("FETCH 1 FLAGS", &["BAD …"]);
}

/// The account a client logged in as through `Server::login`.
fn user_of(c: &mut Client) -> String {
    c.user
        .clone()
        .expect("client logged in through Server::login")
}

#[test]
fn create_makes_parents_and_refuses_duplicates() {
    let (_s, mut c) = fresh();
    c.check("CREATE a/b/c", &["OK …"]);
    let lines = c.untagged("LIST \"\" a*");
    assert_eq!(
        sorted(lines),
        [
            "* LIST (\\HasChildren) \"/\" a",
            "* LIST (\\HasChildren) \"/\" a/b",
            "* LIST (\\HasNoChildren) \"/\" a/b/c",
        ]
    );
    c.check("CREATE a/b/c", &["NO [ALREADYEXISTS] …"]);
    c.check("CREATE a", &["NO [ALREADYEXISTS] …"]);
    c.check("CREATE INBOX", &["NO [ALREADYEXISTS] …"]);
    c.check("CREATE inbox", &["NO [ALREADYEXISTS] …"]);
    // A trailing delimiter names the mailbox itself (RFC 3501 §6.3.3).
    c.check("CREATE x/", &["OK …"]);
    c.check("LIST \"\" x", &["* LIST (\\HasNoChildren) \"/\" x", "OK …"]);
    c.check(
        "SELECT a/b/c",
        &[
            "* …",
            "* …",
            "* 0 EXISTS",
            "* …",
            "* …",
            "* …",
            "* …",
            "OK [READ-WRITE] …",
        ],
    );
}

#[test]
fn delete_leaves_noselect_parents_and_keeps_inbox() {
    let (_s, mut c) = fresh();
    c.ok("CREATE foo/bar");
    c.append("foo", "", &message("x", "y"));
    c.check("DELETE foo", &["OK …"]);
    c.check(
        "LIST \"\" foo",
        &["* LIST (\\Noselect \\HasChildren) \"/\" foo", "OK …"],
    );
    c.check("SELECT foo", &["NO …"]);
    c.check("STATUS foo (MESSAGES)", &["NO …"]);
    c.check("DELETE foo", &["NO …"]);
    c.check("DELETE foo/bar", &["OK …"]);
    c.check(
        "LIST \"\" foo*",
        &["* LIST (\\Noselect \\HasNoChildren) \"/\" foo", "OK …"],
    );
    c.check("DELETE foo", &["OK …"]);
    c.check("LIST \"\" foo*", &["OK …"]);
    c.check("DELETE INBOX", &["NO …"]);
    c.check("DELETE inbox", &["NO …"]);
    c.check("DELETE nope", &["NO [NONEXISTENT] …"]);
    // Re-creating a deleted name starts afresh.
    c.ok("CREATE foo");
    c.check(
        "STATUS foo (MESSAGES)",
        &["* STATUS foo (MESSAGES 0)", "OK …"],
    );
}

#[test]
fn rename_moves_children() {
    let (_s, mut c) = fresh();
    c.ok("CREATE a/b/c");
    c.append("a/b", "", &message("x", "y"));
    c.check("RENAME a z", &["OK …"]);
    assert_eq!(
        sorted(c.untagged("LIST \"\" *"))
            .into_iter()
            .filter(|l| l.ends_with(" a") || l.contains(" a/") || l.contains(" z"))
            .collect::<Vec<_>>(),
        [
            "* LIST (\\HasChildren) \"/\" z",
            "* LIST (\\HasChildren) \"/\" z/b",
            "* LIST (\\HasNoChildren) \"/\" z/b/c",
        ]
    );
    c.check(
        "STATUS z/b (MESSAGES)",
        &["* STATUS z/b (MESSAGES 1)", "OK …"],
    );
    c.check("RENAME z Sent", &["NO [ALREADYEXISTS] …"]);
    c.check("RENAME nope q", &["NO [NONEXISTENT] …"]);
    // Missing parents of the new name are created.
    c.check("RENAME z/b/c p/q/r", &["OK …"]);
    c.check(
        "LIST \"\" p/q",
        &["* LIST (\\HasChildren) \"/\" p/q", "OK …"],
    );
}

#[test]
fn rename_inbox_moves_messages_and_leaves_empty_inbox() {
    let (_s, mut c) = fresh();
    fill(&mut c, "INBOX", 2);
    c.check("RENAME INBOX Old", &["OK …"]);
    c.check(
        "STATUS Old (MESSAGES)",
        &["* STATUS Old (MESSAGES 2)", "OK …"],
    );
    c.check(
        "STATUS INBOX (MESSAGES)",
        &["* STATUS INBOX (MESSAGES 0)", "OK …"],
    );
    c.check(
        "LIST \"\" INBOX",
        &["* LIST (\\HasNoChildren) \"/\" INBOX", "OK …"],
    );
    let lines = c.select("INBOX");
    assert!(lines.contains(&"* 0 EXISTS".to_string()), "{lines:#?}");
    c.select("Old");
    c.check(
        "FETCH 1:* (UID BODY.PEEK[HEADER])",
        &[
            "* 1 FETCH (UID 1 …Subject: m1\r\n…)",
            "* 2 FETCH (UID 2 …Subject: m2\r\n…)",
            "OK …",
        ],
    );
}

#[test]
fn subscribe_unsubscribe_and_lsub() {
    let (_s, mut c) = fresh();
    c.check("SUBSCRIBE nope", &["NO …"]);
    c.ok("CREATE p/q");
    c.check("SUBSCRIBE p/q", &["OK …"]);
    assert_eq!(
        sorted(c.untagged("LSUB \"\" *")),
        [
            "* LSUB () \"/\" Archive",
            "* LSUB () \"/\" Drafts",
            "* LSUB () \"/\" INBOX",
            "* LSUB () \"/\" Junk",
            "* LSUB () \"/\" Sent",
            "* LSUB () \"/\" Trash",
            "* LSUB () \"/\" p/q",
        ]
    );
    // `%`: the unsubscribed parent of a subscribed name shows as \Noselect (RFC 3501 §6.3.9).
    c.check("LSUB \"\" p%", &["* LSUB (\\Noselect) \"/\" p", "OK …"]);
    c.check("LSUB \"\" p/%", &["* LSUB () \"/\" p/q", "OK …"]);
    // Subscriptions survive the mailbox's deletion (RFC 3501 §6.3.6).
    c.ok("DELETE p/q");
    c.check("LSUB \"\" p/*", &["* LSUB () \"/\" p/q", "OK …"]);
    c.check("UNSUBSCRIBE p/q", &["OK …"]);
    c.check("LSUB \"\" p*", &["OK …"]);
    c.check("UNSUBSCRIBE p/q", &["NO …"]);
}

#[test]
fn list_wildcards_and_attributes() {
    let (_s, mut c) = fresh();
    let top = [
        "* LIST (\\HasNoChildren \\Archive) \"/\" Archive",
        "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts",
        "* LIST (\\HasNoChildren) \"/\" INBOX",
        "* LIST (\\HasNoChildren \\Junk) \"/\" Junk",
        "* LIST (\\HasNoChildren \\Sent) \"/\" Sent",
        "* LIST (\\HasNoChildren \\Trash) \"/\" Trash",
    ];
    assert_eq!(sorted(c.untagged("LIST \"\" %")), sorted(top));
    assert_eq!(sorted(c.untagged("LIST \"\" *")), sorted(top));
    c.check(
        "LIST \"\" \"\"",
        &["* LIST (\\Noselect) \"/\" \"\"", "OK …"],
    );
    c.ok("CREATE Work/Reports/2024");
    c.check(
        "LIST \"\" W%",
        &["* LIST (\\HasChildren) \"/\" Work", "OK …"],
    );
    c.check(
        "LIST \"\" Work/%",
        &["* LIST (\\HasChildren) \"/\" Work/Reports", "OK …"],
    );
    // The reference is prefixed to the pattern.
    c.check(
        "LIST Work/ %",
        &["* LIST (\\HasChildren) \"/\" Work/Reports", "OK …"],
    );
    assert_eq!(
        sorted(c.untagged("LIST \"\" Work*")),
        [
            "* LIST (\\HasChildren) \"/\" Work",
            "* LIST (\\HasChildren) \"/\" Work/Reports",
            "* LIST (\\HasNoChildren) \"/\" Work/Reports/2024",
        ]
    );
    c.check(
        "LIST \"\" *2024",
        &["* LIST (\\HasNoChildren) \"/\" Work/Reports/2024", "OK …"],
    );
    // INBOX matches case-insensitively.
    c.check(
        "LIST \"\" inbox",
        &["* LIST (\\HasNoChildren) \"/\" INBOX", "OK …"],
    );
    c.check("LIST \"\" nothing%", &["OK …"]);
}

#[test]
fn status_all_items() {
    let (_s, mut c) = fresh();
    let m1 = message("s1", "first");
    let m2 = message("s2", "second message");
    let v = appenduid(&c.append("INBOX", "(\\Seen)", &m1)).0;
    c.append("INBOX", "", &m2);
    let size = m1.len() + m2.len();
    c.check(
        "STATUS INBOX (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN SIZE)",
        &[
            &format!(
                "* STATUS INBOX (MESSAGES 2 RECENT 2 UIDNEXT 3 UIDVALIDITY {v} UNSEEN 1 SIZE {size})"
            ),
            "OK …",
        ],
    );
    c.check(
        "STATUS inbox (UNSEEN)",
        &["* STATUS INBOX (UNSEEN 1)", "OK …"],
    );
    c.check(
        "STATUS Trash (MESSAGES SIZE)",
        &["* STATUS Trash (MESSAGES 0 SIZE 0)", "OK …"],
    );
    c.check("STATUS nope (MESSAGES)", &["NO [NONEXISTENT] …"]);
    c.check("STATUS INBOX ()", &["BAD …"]);
    c.check("STATUS INBOX (BOGUS)", &["BAD …"]);
}

#[test]
fn append_flags_date_appenduid_trycreate() {
    let (_s, mut c) = fresh();
    let m = message("dated", "hello");
    let tagged = c.append(
        "INBOX",
        "(\\Seen \\Flagged $Label) \"07-Feb-1994 21:52:25 -0800\"",
        &m,
    );
    assert!(matches("t# OK [APPENDUID # 1] …", &tagged), "{tagged}");
    // A synchronising literal, no flags, no date.
    let m2 = message("plain", "world");
    c.send_raw(format!("S1 APPEND INBOX {{{}}}\r\n", m2.len()).as_bytes());
    assert!(c.read_line().starts_with("+ "));
    c.send_raw(&m2);
    c.send_raw(b"\r\n");
    let lines = c.read_until_tag("S1");
    assert_lines(
        &lines,
        &["S1 OK [APPENDUID # 2] …".into()],
        "APPEND sync literal",
    );
    c.select("INBOX");
    c.check(
        "FETCH 1:2 (FLAGS INTERNALDATE RFC822.SIZE)",
        &[
            &format!(
                "* 1 FETCH (FLAGS (\\Seen \\Flagged $Label \\Recent) \
                 INTERNALDATE \"07-Feb-1994 21:52:25 -0800\" RFC822.SIZE {})",
                m.len()
            ),
            &format!(
                "* 2 FETCH (FLAGS (\\Recent) INTERNALDATE \"…\" RFC822.SIZE {})",
                m2.len()
            ),
            "OK …",
        ],
    );
    c.check(
        "UID FETCH 1 BODY.PEEK[]",
        &[
            &format!(
                "* 1 FETCH (UID 1 BODY[] {{{}}}\r\n{})",
                m.len(),
                String::from_utf8_lossy(&m)
            ),
            "OK …",
        ],
    );
    let t = c.append("Nope", "", &m);
    assert!(matches("t# NO [TRYCREATE] …", &t), "{t}");
    let t = c.append("INBOX", "(\\Recent)", &m);
    assert!(matches("t# BAD …", &t), "{t}");
    let t = c.append("INBOX", "\"31-Foo-2024 00:00:00 +0000\"", &m);
    assert!(matches("t# BAD …", &t), "{t}");
}

#[test]
fn check_close_unselect() {
    let (_s, mut c) = fresh();
    c.check("CHECK", &["BAD …"]);
    c.check("CLOSE", &["BAD …"]);
    c.check("UNSELECT", &["BAD …"]);
    fill(&mut c, "INBOX", 3);
    c.select("INBOX");
    c.check("CHECK", &["OK …"]);
    c.ok("STORE 2 +FLAGS.SILENT (\\Deleted)");
    // UNSELECT does not expunge.
    c.check("UNSELECT", &["OK …"]);
    c.check("FETCH 1 FLAGS", &["BAD …"]);
    assert!(c.select("INBOX").contains(&"* 3 EXISTS".to_string()));
    // EXAMINE + CLOSE does not expunge either.
    c.ok("EXAMINE INBOX");
    c.check("CLOSE", &["OK …"]);
    assert!(c.select("INBOX").contains(&"* 3 EXISTS".to_string()));
    // CLOSE expunges silently.
    c.check("CLOSE", &["OK …"]);
    c.check("FETCH 1 FLAGS", &["BAD …"]);
    assert!(c.select("INBOX").contains(&"* 2 EXISTS".to_string()));
    c.check(
        "UID FETCH 1:* UID",
        &["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)", "OK …"],
    );
}

#[test]
fn expunge_and_uid_expunge() {
    let (_s, mut c) = fresh();
    fill(&mut c, "INBOX", 7);
    c.select("INBOX");
    c.ok("STORE 1,3,4 +FLAGS.SILENT (\\Deleted)");
    // Each EXPUNGE carries the sequence number valid when it is sent.
    c.check(
        "EXPUNGE",
        &["* 1 EXPUNGE", "* 2 EXPUNGE", "* 2 EXPUNGE", "OK …"],
    );
    c.check(
        "FETCH 1:* UID",
        &[
            "* 1 FETCH (UID 2)",
            "* 2 FETCH (UID 5)",
            "* 3 FETCH (UID 6)",
            "* 4 FETCH (UID 7)",
            "OK …",
        ],
    );
    c.check("EXPUNGE", &["OK …"]);
    // UID EXPUNGE removes only the named \Deleted messages (RFC 4315 §2.1).
    c.ok("STORE 1:* +FLAGS.SILENT (\\Deleted)");
    c.check("UID EXPUNGE 5", &["* 2 EXPUNGE", "OK …"]);
    c.check("UID EXPUNGE 6:*", &["* 2 EXPUNGE", "* 2 EXPUNGE", "OK …"]);
    c.check("FETCH 1:* UID", &["* 1 FETCH (UID 2)", "OK …"]);
    c.check("UID EXPUNGE 100", &["OK …"]);
}

#[test]
fn copy_and_uid_copy_with_copyuid() {
    let (_s, mut c) = fresh();
    fill(&mut c, "INBOX", 3);
    c.ok("CREATE Dest");
    let st = c.untagged("STATUS Dest (UIDVALIDITY)");
    let v: u32 = st[0]
        .trim_end_matches(')')
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    c.select("INBOX");
    c.ok("STORE 2 +FLAGS.SILENT (\\Flagged)");
    c.check("COPY 2:3 Dest", &[&format!("OK [COPYUID {v} 2:3 1:2] …")]);
    c.check("UID COPY 1 Dest", &[&format!("OK [COPYUID {v} 1 3] …")]);
    c.check("COPY 1 Nope", &["NO [TRYCREATE] …"]);
    c.check("COPY 4 Dest", &["BAD …"]);
    c.check("UID COPY 99 Dest", &["OK …"]);
    // The source is untouched; the copies keep their flags.
    c.check(
        "FETCH 1:* UID",
        &[
            "* 1 FETCH (UID 1)",
            "* 2 FETCH (UID 2)",
            "* 3 FETCH (UID 3)",
            "OK …",
        ],
    );
    // EXAMINE sees \Recent without claiming it (RFC 3501 §2.3.2).
    c.ok("EXAMINE Dest");
    c.check(
        "FETCH 1:* (UID FLAGS)",
        &[
            "* 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent))",
            "* 2 FETCH (UID 2 FLAGS (\\Recent))",
            "* 3 FETCH (UID 3 FLAGS (\\Recent))",
            "OK …",
        ],
    );
}

#[test]
fn move_and_uid_move() {
    let (_s, mut c) = fresh();
    fill(&mut c, "INBOX", 3);
    c.ok("CREATE Dest");
    c.select("INBOX");
    // RFC 6851 §4.3: COPYUID in an untagged OK, then the EXPUNGEs.
    c.check(
        "MOVE 2 Dest",
        &["* OK [COPYUID # 2 1] …", "* 2 EXPUNGE", "OK …"],
    );
    c.check(
        "UID MOVE 3 Dest",
        &["* OK [COPYUID # 3 2] …", "* 2 EXPUNGE", "OK …"],
    );
    c.check("MOVE 1 Nope", &["NO [TRYCREATE] …"]);
    c.check("UID MOVE 42 Dest", &["OK …"]);
    c.check("FETCH 1:* UID", &["* 1 FETCH (UID 1)", "OK …"]);
    c.check(
        "STATUS Dest (MESSAGES)",
        &["* STATUS Dest (MESSAGES 2)", "OK …"],
    );
    c.ok("EXAMINE Dest");
    c.check(
        "FETCH 1:* (UID BODY.PEEK[HEADER])",
        &[
            "* 1 FETCH (UID 1 …Subject: m2\r\n…)",
            "* 2 FETCH (UID 2 …Subject: m3\r\n…)",
            "OK …",
        ],
    );
    c.check("MOVE 1 INBOX", &["NO …"]);
}

#[test]
fn store_flags_silent_and_uid_store() {
    let (_s, mut c) = fresh();
    fill(&mut c, "INBOX", 2);
    c.select("INBOX");
    c.check(
        "STORE 1 +FLAGS (\\Flagged)",
        &["* 1 FETCH (FLAGS (\\Flagged \\Recent))", "OK …"],
    );
    c.check(
        "STORE 1 +FLAGS \\Answered",
        &["* 1 FETCH (FLAGS (\\Answered \\Flagged \\Recent))", "OK …"],
    );
    c.check(
        "STORE 1 -FLAGS (\\Flagged \\Answered)",
        &["* 1 FETCH (FLAGS (\\Recent))", "OK …"],
    );
    c.check(
        "STORE 1:2 FLAGS (\\Seen \\Draft)",
        &[
            "* 1 FETCH (FLAGS (\\Seen \\Draft \\Recent))",
            "* 2 FETCH (FLAGS (\\Seen \\Draft \\Recent))",
            "OK …",
        ],
    );
    c.check("STORE 2 +FLAGS.SILENT (\\Deleted)", &["OK …"]);
    c.check("STORE 2 -FLAGS.SILENT (\\Draft)", &["OK …"]);
    c.check(
        "UID STORE 2 -FLAGS (\\Deleted)",
        &["* 2 FETCH (FLAGS (\\Seen \\Recent) UID 2)", "OK …"],
    );
    c.check("UID STORE 2 FLAGS.SILENT ()", &["OK …"]);
    c.check(
        "FETCH 1:2 FLAGS",
        &[
            "* 1 FETCH (FLAGS (\\Seen \\Draft \\Recent))",
            "* 2 FETCH (FLAGS (\\Recent))",
            "OK …",
        ],
    );
    // \Recent cannot be stored; unknown system flags are a syntax error.
    c.check("STORE 1 +FLAGS (\\Bogus)", &["BAD …"]);
    c.check("STORE 1 +FLAGZ (\\Seen)", &["BAD …"]);
    c.check("UID STORE 99 +FLAGS (\\Seen)", &["OK …"]);
}

#[test]
fn fetch_items_and_partial() {
    let (_s, mut c) = fresh();
    let m = message("fetch", "Hello body");
    let text = String::from_utf8_lossy(&m).into_owned();
    let split = text.find("\r\n\r\n").unwrap() + 4;
    let (header, body) = text.split_at(split);
    for _ in 0..4 {
        c.append("INBOX", "", &m);
    }
    c.select("INBOX");
    let n = m.len();
    c.check(
        "FETCH 1 (FLAGS UID INTERNALDATE RFC822.SIZE)",
        &[
            &format!("* 1 FETCH (FLAGS (\\Recent) UID 1 INTERNALDATE \"…\" RFC822.SIZE {n})"),
            "OK …",
        ],
    );
    c.check(
        "FETCH 1 FAST",
        &[
            &format!("* 1 FETCH (FLAGS (\\Recent) INTERNALDATE \"…\" RFC822.SIZE {n})"),
            "OK …",
        ],
    );
    let lit = |name: &str, s: &str| format!("* 1 FETCH ({name} {{{}}}\r\n{s})", s.len());
    c.check(
        "FETCH 1 RFC822.HEADER",
        &[&lit("RFC822.HEADER", header), "OK …"],
    );
    c.check(
        "FETCH 1 BODY.PEEK[HEADER]",
        &[&lit("BODY[HEADER]", header), "OK …"],
    );
    c.check(
        "FETCH 1 BODY.PEEK[TEXT]",
        &[&lit("BODY[TEXT]", body), "OK …"],
    );
    c.check("FETCH 1 BODY.PEEK[]", &[&lit("BODY[]", &text), "OK …"]);
    c.check(
        "FETCH 1 BODY.PEEK[]<0.10>",
        &[&lit("BODY[]<0>", &text[..10]), "OK …"],
    );
    c.check(
        "FETCH 1 BODY.PEEK[TEXT]<6.100>",
        &[&lit("BODY[TEXT]<6>", &body[6..]), "OK …"],
    );
    c.check(
        "FETCH 1 BODY.PEEK[]<5000.10>",
        &[&lit("BODY[]<5000>", ""), "OK …"],
    );
    // None of these set \Seen.
    c.check("FETCH 1 FLAGS", &["* 1 FETCH (FLAGS (\\Recent))", "OK …"]);
    // RFC822.TEXT, BODY[] and RFC822 set \Seen, and the changed FLAGS come with the data.
    c.check(
        "FETCH 1 RFC822.TEXT",
        &[
            &format!(
                "* 1 FETCH (RFC822.TEXT {{{}}}\r\n{body} FLAGS (\\Seen \\Recent))",
                body.len()
            ),
            "OK …",
        ],
    );
    c.check(
        "FETCH 2 BODY[]",
        &[
            &format!("* 2 FETCH (BODY[] {{{n}}}\r\n{text} FLAGS (\\Seen \\Recent))"),
            "OK …",
        ],
    );
    c.check(
        "FETCH 3 (FLAGS RFC822)",
        &[
            &format!("* 3 FETCH (FLAGS (\\Seen \\Recent) RFC822 {{{n}}}\r\n{text})"),
            "OK …",
        ],
    );
    c.check(
        "FETCH 1:4 FLAGS",
        &[
            "* 1 FETCH (FLAGS (\\Seen \\Recent))",
            "* 2 FETCH (FLAGS (\\Seen \\Recent))",
            "* 3 FETCH (FLAGS (\\Seen \\Recent))",
            "* 4 FETCH (FLAGS (\\Recent))",
            "OK …",
        ],
    );
    // UID FETCH always includes UID.
    c.check(
        "UID FETCH 4 FLAGS",
        &["* 4 FETCH (UID 4 FLAGS (\\Recent))", "OK …"],
    );
    c.check(
        "UID FETCH 2:3 UID",
        &["* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)", "OK …"],
    );
    c.check("UID FETCH 10:20 UID", &["OK …"]);
    c.check("FETCH 1 (BOGUS)", &["BAD …"]);
}

#[test]
fn implicit_seen_not_in_examine() {
    let (s, mut c) = fresh();
    c.append("INBOX", "", &message("x", "y"));
    let mut e = s.login(&user_of(&mut c));
    e.ok("EXAMINE INBOX");
    e.check(
        "FETCH 1 BODY[TEXT]",
        &["* 1 FETCH (BODY[TEXT] {3}\r\ny\r\n)", "OK …"],
    );
    e.check("FETCH 1 FLAGS", &["* 1 FETCH (FLAGS (\\Recent))", "OK …"]);
}

#[test]
fn namespace_enable_id() {
    let s = server();
    let mut c = s.connect();
    c.check("NAMESPACE", &["BAD …"]);
    c.check("ENABLE X-NOTHING", &["BAD …"]);
    c.check(
        "ID (\"name\" \"test\")",
        &["* ID (\"name\" \"postfach\" \"version\" \"…\")", "OK …"],
    );
    c.ok("LOGIN alice secret");
    c.check(
        "NAMESPACE",
        &[
            "* NAMESPACE ((\"\" \"/\")) ((\"Other Users/\" \"/\")) ((\"Shared/\" \"/\"))",
            "OK …",
        ],
    );
    // Nothing this server supports needs enabling; unknown names are ignored (RFC 5161 §3.1).
    c.check("ENABLE X-NOTHING", &["* ENABLED", "OK …"]);
    c.check("ENABLE", &["BAD …"]);
    c.check(
        "ID NIL",
        &["* ID (\"name\" \"postfach\" \"version\" \"…\")", "OK …"],
    );
    c.check("ID (\"name\")", &["BAD …"]);
}

#[test]
fn modified_utf7_names_round_trip() {
    let (_s, mut c) = fresh();
    c.check("CREATE \"Entw&APw-rfe\"", &["OK …"]);
    c.check(
        "LIST \"\" Entw*",
        &["* LIST (\\HasNoChildren) \"/\" Entw&APw-rfe", "OK …"],
    );
    c.check("CREATE Entw&APw-rfe/&ZeVnLIqe-", &["OK …"]);
    c.check(
        "LIST \"\" Entw&APw-rfe/%",
        &[
            "* LIST (\\HasNoChildren) \"/\" Entw&APw-rfe/&ZeVnLIqe-",
            "OK …",
        ],
    );
    c.check(
        "STATUS Entw&APw-rfe (MESSAGES)",
        &["* STATUS Entw&APw-rfe (MESSAGES 0)", "OK …"],
    );
    c.check(
        "SELECT Entw&APw-rfe",
        &[
            "* …",
            "* …",
            "* …",
            "* …",
            "* …",
            "* …",
            "* …",
            "OK [READ-WRITE] …",
        ],
    );
    // A literal `&` is `&-`.
    c.check("CREATE \"R&-D\"", &["OK …"]);
    c.check(
        "LIST \"\" R*",
        &["* LIST (\\HasNoChildren) \"/\" R&-D", "OK …"],
    );
    // Broken modified UTF-7 is a syntax error.
    c.check("CREATE &Jjo", &["BAD …"]);
    c.check("CREATE \"a&\"", &["BAD …"]);
}

#[test]
fn commands_in_the_wrong_state_are_bad() {
    let s = server();
    let mut c = s.connect();
    for cmd in [
        "SELECT INBOX",
        "EXAMINE INBOX",
        "CREATE x",
        "LIST \"\" *",
        "STATUS INBOX (MESSAGES)",
        "APPEND INBOX {1+}\r\nx",
        "IDLE",
        "FETCH 1 FLAGS",
        "STORE 1 +FLAGS (\\Seen)",
        "EXPUNGE",
        "CLOSE",
        "UID FETCH 1 FLAGS",
    ] {
        c.check(cmd, &["BAD …"]);
    }
    c.ok("LOGIN alice secret");
    for cmd in [
        "LOGIN alice secret",
        "AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA==",
        "FETCH 1 FLAGS",
        "STORE 1 +FLAGS (\\Seen)",
        "COPY 1 INBOX",
        "MOVE 1 INBOX",
        "EXPUNGE",
        "UID EXPUNGE 1",
        "SEARCH ALL",
        "CHECK",
        "UNSELECT",
    ] {
        c.check(cmd, &["BAD …"]);
    }
    c.check("NOOP", &["OK …"]);
}

#[test]
fn unknown_commands_and_bad_syntax_are_bad() {
    let s = server();
    let mut c = s.login("alice");
    c.check("FROBNICATE", &["BAD …"]);
    c.check("UID FROB 1", &["BAD …"]);
    c.check("NOOP extra", &["BAD …"]);
    c.check("SELECT", &["BAD …"]);
    c.check("SELECT INBOX extra", &["BAD …"]);
    c.check("LOGOUT now", &["BAD …"]);
    c.check("NOOP", &["OK …"]);
}

#[test]
fn sequence_numbers_out_of_range_are_bad() {
    let (_s, mut c) = fresh();
    fill(&mut c, "INBOX", 2);
    c.select("INBOX");
    c.check("FETCH 3 FLAGS", &["BAD …"]);
    c.check("FETCH 1:3 FLAGS", &["BAD …"]);
    c.check("FETCH 0 FLAGS", &["BAD …"]);
    c.check("STORE 5 +FLAGS (\\Seen)", &["BAD …"]);
    c.check("COPY 3 Trash", &["BAD …"]);
    c.check("MOVE 3 Trash", &["BAD …"]);
    // `*` is the last message; UIDs that do not exist are simply skipped.
    c.check("FETCH * UID", &["* 2 FETCH (UID 2)", "OK …"]);
    c.check("FETCH 2:* UID", &["* 2 FETCH (UID 2)", "OK …"]);
    c.check("UID FETCH 3:9 UID", &["OK …"]);
    c.check("FETCH 1 FLAGS", &["* 1 FETCH (FLAGS (\\Recent))", "OK …"]);
}

#[test]
fn restart_keeps_messages_flags_uids_and_uidvalidity() {
    let mut s = Server::start();
    let mut c = s.login("alice");
    let m1 = message("keep1", "first");
    let m2 = message("keep2", "second");
    let m3 = message("keep3", "third");
    let v = appenduid(&c.append("INBOX", "(\\Flagged) \"01-Jan-2020 10:00:00 +0100\"", &m1)).0;
    c.append("INBOX", "", &m2);
    c.append("INBOX", "(\\Deleted)", &m3);
    c.ok("CREATE Keep/Sub");
    c.ok("SUBSCRIBE Keep/Sub");
    c.select("INBOX");
    c.ok("STORE 2 +FLAGS.SILENT (\\Answered $Done)");
    c.ok("EXPUNGE");
    let fetch = "UID FETCH 1:* (FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])";
    let before: Vec<String> = c
        .ok(fetch)
        .iter()
        .map(|l| l.replace(" \\Recent", ""))
        .collect();
    s.restart();
    let mut c = s.login("alice");
    let vline = format!("* OK [UIDVALIDITY {v}] …");
    c.check(
        "SELECT INBOX",
        &[
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Done)",
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Done \\*)] …",
            "* 2 EXISTS",
            "* 0 RECENT",
            "* OK [UNSEEN 1] …",
            &vline,
            "* OK [UIDNEXT 4] …",
            "* OK [HIGHESTMODSEQ …",
            "OK [READ-WRITE] …",
        ],
    );
    let after = c.ok(fetch);
    assert_eq!(after.len(), 3);
    for (a, b) in before.iter().zip(&after).take(2) {
        assert_eq!(sort_flags(a), sort_flags(b));
    }
    assert!(after[0].contains("INTERNALDATE \"01-Jan-2020 10:00:00 +0100\""));
    c.check("LSUB \"\" Keep/*", &["* LSUB () \"/\" Keep/Sub", "OK …"]);
    // UIDs are never reused: the expunged UID 3 stays taken.
    let t = c.append("INBOX", "", &message("keep4", "fourth"));
    assert!(matches(&format!("t# OK [APPENDUID {v} 4] …"), &t), "{t}");
}

#[test]
fn store_of_a_new_keyword_announces_flags_too() {
    let (_s, mut c) = fresh();
    fill(&mut c, "INBOX", 1);
    c.select("INBOX");
    let lines = c.ok("STORE 1 +FLAGS ($Important)");
    let flags = "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Important)";
    let fetch = "* 1 FETCH (FLAGS ($Important \\Recent))";
    let at = |want: &str| lines.iter().position(|l| matches(want, l));
    assert!(at(flags).is_some() && at(fetch).is_some(), "{lines:#?}");
    assert_eq!(
        lines.len(),
        4,
        "FLAGS, PERMANENTFLAGS, FETCH, tagged: {lines:#?}"
    );
    c.check(
        "FETCH 1 FLAGS",
        &["* 1 FETCH (FLAGS ($Important \\Recent))", "OK …"],
    );
}

#[test]
fn copy_and_move_into_the_selected_mailbox() {
    let (_s, mut c) = fresh();
    fill(&mut c, "INBOX", 2);
    c.select("INBOX");
    // The copy shows up in the same answer.
    c.check(
        "COPY 1 INBOX",
        &["* 3 EXISTS", "* 3 RECENT", "OK [COPYUID # 1 3] …"],
    );
    c.check(
        "MOVE 1 INBOX",
        &[
            "* OK [COPYUID # 1 4] …",
            "* 1 EXPUNGE",
            "* 3 EXISTS",
            "* 3 RECENT",
            "OK …",
        ],
    );
    c.check(
        "FETCH 1:* UID",
        &[
            "* 1 FETCH (UID 2)",
            "* 2 FETCH (UID 3)",
            "* 3 FETCH (UID 4)",
            "OK …",
        ],
    );
}

#[test]
fn sequence_set_forms() {
    let (_s, mut c) = fresh();
    fill(&mut c, "INBOX", 4);
    c.select("INBOX");
    c.check(
        "FETCH 3:2 UID",
        &["* 2 FETCH (UID 2)", "* 3 FETCH (UID 3)", "OK …"],
    );
    c.check(
        "FETCH 4,1:2,2 (UID)",
        &[
            "* 1 FETCH (UID 1)",
            "* 2 FETCH (UID 2)",
            "* 4 FETCH (UID 4)",
            "OK …",
        ],
    );
    c.check(
        "FETCH *:3 UID",
        &["* 3 FETCH (UID 3)", "* 4 FETCH (UID 4)", "OK …"],
    );
    // `N:*` with N past the largest UID still includes the largest (RFC 3501 §6.4.8).
    c.check("UID FETCH 10:* UID", &["* 4 FETCH (UID 4)", "OK …"]);
    c.check("FETCH 1:x UID", &["BAD …"]);
    c.check("FETCH 1, UID", &["BAD …"]);
    c.ok("SELECT Trash");
    c.check("UID FETCH 1:* UID", &["OK …"]);
}

#[test]
fn inbox_children_and_subscriptions_are_case_insensitive() {
    let (_s, mut c) = fresh();
    c.ok("CREATE inbox/Sub");
    c.check(
        "LIST \"\" INBOX*",
        &[
            "* LIST (\\HasChildren) \"/\" INBOX",
            "* LIST (\\HasNoChildren) \"/\" INBOX/Sub",
            "OK …",
        ],
    );
    c.ok("UNSUBSCRIBE INBOX");
    c.check("LSUB \"\" INBOX", &["OK …"]);
    c.ok("SUBSCRIBE inbox");
    c.check("LSUB \"\" INBOX", &["* LSUB () \"/\" INBOX", "OK …"]);
    // Renaming INBOX leaves its children where they are (RFC 3501 §6.3.5).
    c.ok("RENAME INBOX Before");
    c.check(
        "LIST \"\" INBOX*",
        &[
            "* LIST (\\HasChildren) \"/\" INBOX",
            "* LIST (\\HasNoChildren) \"/\" INBOX/Sub",
            "OK …",
        ],
    );
    c.check(
        "LIST \"\" Before*",
        &["* LIST (\\HasNoChildren) \"/\" Before", "OK …"],
    );
}

#[test]
fn literals_in_arguments() {
    let s = server();
    let mut c = s.connect();
    // LITERAL+ before login, a quoted string with an escaped quote in a mailbox name.
    c.send_raw(b"L1 LOGIN alice {6+}\r\nsecret\r\n");
    let lines = c.read_until_tag("L1");
    assert_lines(&lines, &["L1 OK …".into()], "LOGIN LITERAL+");
    let user = s.new_user();
    let mut c = s.login(&user);
    c.check("CREATE \"say \\\"hi\\\"\"", &["OK …"]);
    c.check(
        "LIST \"\" say*",
        &["* LIST (\\HasNoChildren) \"/\" \"say \\\"hi\\\"\"", "OK …"],
    );
    c.send_raw(b"L2 SELECT {8+}\r\nsay \"hi\"\r\n");
    let lines = c.read_until_tag("L2");
    assert!(
        matches("L2 OK [READ-WRITE] …", lines.last().unwrap()),
        "{lines:#?}"
    );
    // An empty message is refused; the stream stays in sync.
    let t = c.append("INBOX", "", b"");
    assert!(matches("t# NO …", &t), "{t}");
    c.check("NOOP", &["OK …"]);
}

#[test]
fn literal_data_sent_before_the_continuation() {
    // A client that does not wait for "+" (RFC 3501 §7.5 says it should): the literal is
    // already buffered when the continuation goes out; the command must still run at once.
    let (_s, mut c) = fresh();
    c.send_raw(b"E1 CREATE {5}\r\nearly\r\nE2 SELECT {5}\r\nearly\r\n");
    assert_eq!(c.read_line(), "+ Ready for literal data");
    assert!(matches("E1 OK …", &c.read_line()));
    assert_eq!(c.read_line(), "+ Ready for literal data");
    let lines = c.read_until_tag("E2");
    assert!(
        matches("E2 OK [READ-WRITE] …", lines.last().unwrap()),
        "{lines:#?}"
    );
}

#[test]
fn partial_fetch_of_header_and_empty_range() {
    let (_s, mut c) = fresh();
    let m = message("p", "body");
    c.append("INBOX", "", &m);
    c.select("INBOX");
    let text = String::from_utf8(m).unwrap();
    c.check(
        "FETCH 1 BODY.PEEK[HEADER]<6.5>",
        &[
            &format!("* 1 FETCH (BODY[HEADER]<6> {{5}}\r\n{})", &text[6..11]),
            "OK …",
        ],
    );
    // section-partial = "<" number "." nz-number ">": a zero count is a syntax error.
    c.check("FETCH 1 BODY.PEEK[]<3.0>", &["BAD …"]);
    c.check(
        "FETCH 1 BODY.PEEK[]<300.5>",
        &["* 1 FETCH (BODY[]<300> {0}\r\n)", "OK …"],
    );
    c.check("FETCH 1 FLAGS", &["* 1 FETCH (FLAGS (\\Recent))", "OK …"]);
}

/// RFC 3516 §4.4: APPEND takes a `literal8`; the NUL octets come back byte-exact through
/// BINARY.PEEK[1] (as a literal8, since they are outside the 8bit domain) and BINARY.SIZE.
#[test]
fn append_literal8_and_fetch_binary() {
    let (_s, mut c) = fresh();
    let body: &[u8] = b"bin\0ary\0";
    let mut msg = b"Subject: raw\r\nContent-Type: application/octet-stream\r\n\
        Content-Transfer-Encoding: binary\r\n\r\n"
        .to_vec();
    msg.extend_from_slice(body);
    let tag = c.tag();
    let mut buf = format!("{tag} APPEND INBOX ~{{{}+}}\r\n", msg.len()).into_bytes();
    buf.extend_from_slice(&msg);
    buf.extend_from_slice(b"\r\n");
    c.send_raw(&buf);
    let tagged = c.read_until_tag(&tag).pop().unwrap();
    assert!(tagged.contains("OK [APPENDUID"), "{tagged}");
    c.ok("SELECT INBOX");
    let lines = c.cmd_raw("FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1])");
    let first = &lines[0];
    let mut want = b"* 1 FETCH (BINARY.SIZE[1] 8 BINARY[1] ~{8}\r\n".to_vec();
    want.extend_from_slice(body);
    want.extend_from_slice(b")\r\n");
    assert_eq!(
        String::from_utf8_lossy(first),
        String::from_utf8_lossy(&want)
    );
    let caps = c.ok("CAPABILITY");
    assert!(caps[0].split(' ').any(|w| w == "BINARY"), "{caps:?}");
}
