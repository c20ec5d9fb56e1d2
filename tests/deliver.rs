//! `postfach deliver` (exit codes per sysexits), `postfach sieve`, and Sieve filtering at
//! delivery (RFC 5228, RFC 5232 imap4flags, RFC 5490 :create, RFC 5233 subaddress).

mod common;

use common::lmtp::{deliver, postfach, postfach_ok};
use common::{Server, TempDir, add_user, message};

fn status(s: &Server, user: &str, mailbox: &str) -> String {
    let mut c = s.login(user);
    c.ok(&format!("STATUS \"{mailbox}\" (MESSAGES)"))[0].clone()
}

fn code(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

#[test]
fn deliver_exit_codes_while_the_server_runs() {
    let s = Server::start();
    let msg = message("cli", "via stdin");
    let ok = postfach(
        &s.data,
        &["deliver", "--user", "Alice", "--from", "x@y"],
        &msg,
    );
    assert_eq!(code(&ok), 0, "{}", String::from_utf8_lossy(&ok.stderr));
    // EX_NOUSER.
    assert_eq!(
        code(&postfach(&s.data, &["deliver", "--user", "nobody"], &msg)),
        67
    );
    // EX_DATAERR: empty input, or larger than --max-message-mb.
    assert_eq!(
        code(&postfach(&s.data, &["deliver", "--user", "alice"], b"")),
        65
    );
    let big = vec![b'x'; (1 << 20) + 1];
    let args = ["deliver", "--user", "alice", "--max-message-mb", "1"];
    assert_eq!(code(&postfach(&s.data, &args, &big)), 65);
    // EX_CANTCREAT when over quota.
    postfach_ok(&s.data, &["user", "quota", "bob", "--messages", "1"], b"");
    assert_eq!(
        code(&postfach(&s.data, &["deliver", "--user", "bob"], &msg)),
        0
    );
    let over = postfach(&s.data, &["deliver", "--user", "bob"], &msg);
    assert_eq!(code(&over), 73);
    assert!(String::from_utf8_lossy(&over.stderr).contains("over quota"));
    // --mailbox, and INBOX when it does not exist.
    let args = ["deliver", "--user", "alice", "--mailbox", "Archive"];
    assert_eq!(code(&postfach(&s.data, &args, &msg)), 0);
    let args = ["deliver", "--user", "alice", "--mailbox", "Nope"];
    assert_eq!(code(&postfach(&s.data, &args, &msg)), 0);

    assert_eq!(status(&s, "alice", "INBOX"), "* STATUS INBOX (MESSAGES 2)");
    assert_eq!(
        status(&s, "alice", "Archive"),
        "* STATUS Archive (MESSAGES 1)"
    );
    let mut c = s.login("alice");
    c.ok("SELECT INBOX");
    let m = c.ok("FETCH 1 BODY.PEEK[HEADER.FIELDS (RETURN-PATH)]")[0].clone();
    assert!(m.contains("Return-Path: <x@y>"), "{m}");
}

#[test]
fn deliver_without_a_server() {
    let dir = TempDir::new();
    let data = dir.path().join("data");
    add_user(&data, "carol", "pw");
    // A leading mbox "From " line (procmail, fetchmail) is dropped.
    let msg = b"From someone@example.org Mon Jan  1 00:00:00 2024\nSubject: offline\n\nhi\n";
    postfach_ok(&data, &["deliver", "--user", "carol"], msg);
    assert_eq!(
        code(&postfach(&data, &["deliver", "--user", "dave"], msg)),
        67
    );
    // EX_TEMPFAIL when the store cannot be opened.
    let broken = dir.path().join("broken");
    std::fs::create_dir_all(broken.join("postfach.redb")).unwrap();
    assert_eq!(
        code(&postfach(&broken, &["deliver", "--user", "carol"], msg)),
        75
    );
    let s = Server::spawn(&data, &[]);
    let mut c = s.connect();
    c.ok("LOGIN carol pw");
    c.ok("SELECT INBOX");
    let m = c.ok("FETCH 1 BODY.PEEK[]")[0].clone();
    assert!(
        m.ends_with("{24}\r\nSubject: offline\r\n\r\nhi\r\n)"),
        "{m}"
    );
}

#[test]
fn sieve_set_get_del_and_syntax_errors() {
    let s = Server::start();
    let dir = TempDir::new();
    let bad = dir.path().join("bad.sieve");
    std::fs::write(
        &bad,
        "require \"fileinto\";\nif header :is \"subject\" {\n  keep;\n}\n",
    )
    .unwrap();
    let out = postfach(
        &s.data,
        &["sieve", "set", "alice", bad.to_str().unwrap()],
        b"",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 2, column"), "{err}");
    let vacation = b"require \"vacation\";\nvacation \"away\";\n";
    let out = postfach(&s.data, &["sieve", "set", "alice"], vacation);
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 1, column"));

    let script = "require [\"fileinto\"];\r\n# tabs\tand CRLF survive\r\nkeep;\r\n";
    postfach_ok(&s.data, &["sieve", "set", "alice"], script.as_bytes());
    assert_eq!(
        postfach_ok(&s.data, &["sieve", "get", "alice"], b""),
        script
    );
    postfach_ok(&s.data, &["sieve", "del", "alice"], b"");
    assert!(
        !postfach(&s.data, &["sieve", "get", "alice"], b"")
            .status
            .success()
    );
    assert!(
        !postfach(&s.data, &["sieve", "set", "nobody"], b"keep;")
            .status
            .success()
    );
    let good = dir.path().join("good.sieve");
    std::fs::write(&good, "keep;\n").unwrap();
    let out = std::process::Command::new(common::BIN)
        .args(["sieve", "check", good.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
}

const SCRIPT: &str = r#"require ["fileinto", "mailbox", "imap4flags", "envelope", "subaddress"];
if header :contains "List-Id" "rust-users" {
    fileinto :create :flags ["\\Seen", "$List"] "Lists/rust";
    stop;
}
if envelope :detail "to" "shop" {
    addflag "$Shopping";
    fileinto "Archive";
}
if address :domain :is "from" "spam.example" {
    discard;
    stop;
}
if header :is "X-Spam-Flag" "YES" {
    fileinto "Junk";
}
"#;

#[test]
fn sieve_files_flags_creates_and_discards() {
    let s = Server::start_with(&["--lmtp", "127.0.0.1:0"]);
    let addr = s.lmtp.clone().unwrap();
    postfach_ok(&s.data, &["sieve", "set", "alice"], SCRIPT.as_bytes());
    let list =
        b"From: a@lists.example\r\nList-Id: <rust-users.lists.example>\r\nSubject: l\r\n\r\nx\r\n";
    assert_eq!(deliver(&addr, "a@b", &["alice"], list)[0].code, 250);
    let shop = b"From: shop@example.com\r\nSubject: order\r\n\r\nx\r\n";
    assert_eq!(
        deliver(&addr, "a@b", &["alice+shop@example.org"], shop)[0].code,
        250
    );
    let junk = b"From: x@spam.example\r\nSubject: buy\r\n\r\nx\r\n";
    assert_eq!(deliver(&addr, "a@b", &["alice"], junk)[0].code, 250);
    // With a script, X-Spam-Flag is the script's business: here it files into Junk.
    let spam = b"From: y@example.com\r\nX-Spam-Flag: YES\r\n\r\nx\r\n";
    assert_eq!(deliver(&addr, "a@b", &["alice"], spam)[0].code, 250);

    let mut c = s.login("alice");
    // :create made the mailbox (and its parent) and subscribed it.
    let lsub = c.ok("LSUB \"\" \"Lists/*\"");
    assert!(lsub[0].ends_with("Lists/rust"), "{lsub:?}");
    c.ok("SELECT Lists/rust");
    let f = c.ok("FETCH 1 FLAGS")[0].clone();
    assert!(f.contains("\\Seen") && f.contains("$List"), "{f}");
    c.ok("SELECT Archive");
    let f = c.ok("FETCH 1 FLAGS")[0].clone();
    assert!(f.contains("$Shopping"), "{f}");
    // fileinto cancels the implicit keep: the shop mail is in Archive only.
    for (mbox, n) in [("INBOX", 0), ("Archive", 1), ("Junk", 1), ("Lists/rust", 1)] {
        assert_eq!(
            c.ok(&format!("STATUS {mbox} (MESSAGES)"))[0],
            format!("* STATUS {mbox} (MESSAGES {n})")
        );
    }
}

#[test]
fn sieve_runtime_failure_keeps_the_message_in_inbox() {
    let s = Server::start_with(&["--lmtp", "127.0.0.1:0"]);
    // 40 distinct :create targets exceed the per-message action limit: a runtime error.
    let mut script = String::from("require [\"fileinto\", \"mailbox\"];\n");
    for i in 0..40 {
        script.push_str(&format!("fileinto :create \"F{i}\";\n"));
    }
    postfach_ok(&s.data, &["sieve", "set", "bob"], script.as_bytes());
    let d = deliver(
        s.lmtp.as_deref().unwrap(),
        "a@b",
        &["bob"],
        &message("m", "x"),
    );
    assert_eq!(d[0].code, 250);
    assert_eq!(status(&s, "bob", "INBOX"), "* STATUS INBOX (MESSAGES 1)");
    let mut c = s.login("bob");
    let list = c.ok("LIST \"\" \"F*\"");
    assert_eq!(list.len(), 1, "no mailbox was created: {list:?}");
    // A fileinto without :create to a missing mailbox also ends in INBOX.
    postfach_ok(
        &s.data,
        &["sieve", "set", "bob"],
        b"require \"fileinto\"; fileinto \"Missing\";",
    );
    let d = deliver(
        s.lmtp.as_deref().unwrap(),
        "a@b",
        &["bob"],
        &message("n", "x"),
    );
    assert_eq!(d[0].code, 250);
    assert_eq!(status(&s, "bob", "INBOX"), "* STATUS INBOX (MESSAGES 2)");
}
