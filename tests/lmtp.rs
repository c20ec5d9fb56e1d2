//! RFC 2033 LMTP: transcripts against the real server, delivery into IMAP, IDLE push.

mod common;

use std::time::Duration;

use common::lmtp::{Lmtp, deliver, dot_stuff, postfach_ok};
use common::{Server, TempDir, message};

fn server(extra: &[&str]) -> Server {
    let mut args = vec!["--lmtp", "127.0.0.1:0"];
    args.extend_from_slice(extra);
    Server::start_with(&args)
}

fn lmtp(s: &Server) -> Lmtp {
    Lmtp::connect(s.lmtp.as_deref().unwrap())
}

/// The raw message `uid` of `mailbox` as seen over IMAP.
fn fetch(s: &Server, user: &str, mailbox: &str, uid: u32) -> String {
    let mut c = s.login(user);
    c.ok(&format!("SELECT \"{mailbox}\""));
    let lines = c.ok(&format!("UID FETCH {uid} BODY.PEEK[]"));
    lines[0].clone()
}

#[test]
fn greeting_lhlo_and_one_delivery() {
    let s = server(&["--max-message-mb", "7"]);
    let mut c = lmtp(&s);
    assert_eq!(c.greeting.code, 220);
    assert!(c.greeting.lines[0].contains("LMTP"), "{:?}", c.greeting);
    // RFC 2033 §4.1: HELO/EHLO are not LMTP.
    assert_eq!(c.cmd("EHLO x").code, 500);
    assert_eq!(c.cmd("MAIL FROM:<a@b>").text(), "503 5.5.1 Send LHLO first");
    let r = c.cmd("LHLO mx.example");
    assert_eq!(r.code, 250);
    assert_eq!(
        r.lines[1..],
        [
            "PIPELINING",
            "ENHANCEDSTATUSCODES",
            "8BITMIME",
            &format!("SIZE {}", 7 << 20)
        ]
    );
    assert_eq!(c.cmd("NOOP").text(), "250 2.0.0 Ok");
    assert_eq!(
        c.cmd("MAIL FROM:<sender@example.org> BODY=8BITMIME").text(),
        "250 2.1.0 Sender ok"
    );
    assert_eq!(
        c.cmd("RCPT TO:<Alice@example.org>").text(),
        "250 2.1.5 <Alice@example.org> Recipient ok"
    );
    assert_eq!(c.cmd("DATA").code, 354);
    c.send(&dot_stuff(&message("hello", "first line")));
    c.send(b".\r\n");
    assert_eq!(c.reply().text(), "250 2.0.0 <Alice@example.org> Delivered");
    assert_eq!(c.cmd("QUIT").code, 221);

    let m = fetch(&s, "alice", "INBOX", 1);
    assert!(
        m.contains("{") && m.contains("\r\nReturn-Path: <sender@example.org>\r\nDelivered-To: Alice@example.org\r\nFrom: Alice"),
        "{m}"
    );
    assert!(m.contains("first line"), "{m}");
}

#[test]
fn pipelining_with_mixed_recipients() {
    let s = server(&[]);
    // bob may store at most 1 MiB; the message is larger, so only bob's copy fails.
    postfach_ok(&s.data, &["user", "quota", "bob", "--storage-mb", "1"], b"");
    let mut c = lmtp(&s);
    // RFC 2920: the whole command group in one write.
    c.send(
        b"LHLO mx\r\nMAIL FROM:<> SIZE=1200000\r\nRCPT TO:<alice@x>\r\nRCPT TO:<nobody@x>\r\n\
          RCPT TO:<bob@x>\r\nRCPT TO:<alice+detail@x>\r\nDATA\r\n",
    );
    assert_eq!(c.reply().code, 250);
    assert_eq!(c.reply().text(), "250 2.1.0 Sender ok");
    assert_eq!(c.reply().text(), "250 2.1.5 <alice@x> Recipient ok");
    assert_eq!(c.reply().text(), "550 5.1.1 <nobody@x> No such user");
    // The declared SIZE cannot fit bob's quota: refused at RCPT (RFC 1870 §6.2).
    assert_eq!(c.reply().text(), "552 5.2.2 <bob@x> Mailbox full");
    assert_eq!(c.reply().text(), "250 2.1.5 <alice+detail@x> Recipient ok");
    assert_eq!(c.reply().code, 354);
    let big = message("big", &"x".repeat(1_200_000));
    c.send(&dot_stuff(&big));
    c.send(b".\r\n");
    assert_eq!(c.reply().text(), "250 2.0.0 <alice@x> Delivered");
    assert_eq!(c.reply().text(), "250 2.0.0 <alice+detail@x> Delivered");

    // Without SIZE, bob is accepted at RCPT and refused after DATA; alice still gets hers.
    c.send(b"MAIL FROM:<a@b>\r\nRCPT TO:<bob@x>\r\nRCPT TO:<alice@x>\r\nDATA\r\n");
    for _ in 0..3 {
        assert_eq!(c.reply().code, 250);
    }
    assert_eq!(c.reply().code, 354);
    c.send(&dot_stuff(&big));
    c.send(b".\r\n");
    assert_eq!(
        c.reply().text(),
        "552 5.2.2 <bob@x> Mailbox full, quota exceeded"
    );
    assert_eq!(c.reply().text(), "250 2.0.0 <alice@x> Delivered");
    // The connection goes on; RSET and a nested MAIL behave.
    c.send(b"MAIL FROM:<a@b>\r\nMAIL FROM:<a@b>\r\nRSET\r\nDATA\r\nQUIT\r\n");
    assert_eq!(c.reply().code, 250);
    assert_eq!(c.reply().text(), "503 5.5.1 Nested MAIL command");
    assert_eq!(c.reply().code, 250);
    assert_eq!(c.reply().text(), "503 5.5.1 No valid recipients");
    assert_eq!(c.reply().code, 221);

    let mut a = s.login("alice");
    let st = a.ok("STATUS INBOX (MESSAGES)");
    assert_eq!(st[0], "* STATUS INBOX (MESSAGES 3)");
    let mut b = s.login("bob");
    assert_eq!(
        b.ok("STATUS INBOX (MESSAGES)")[0],
        "* STATUS INBOX (MESSAGES 0)"
    );
}

/// A recipient accepted before in the same session is not looked up again at RCPT; a user
/// deleted in between is still refused, at DATA, and a new session refuses it at RCPT.
#[test]
fn recipient_deleted_between_two_messages_of_a_session() {
    let s = server(&[]);
    common::add_user(&s.data, "carol", "pw");
    let mut c = lmtp(&s);
    c.cmd("LHLO mx");
    let send = |c: &mut Lmtp, rcpt_reply: &str, data_reply: &str| {
        assert_eq!(c.cmd("MAIL FROM:<a@b>").code, 250);
        assert_eq!(c.cmd("RCPT TO:<carol@x>").text(), rcpt_reply);
        assert_eq!(c.cmd("DATA").code, 354);
        c.send(&dot_stuff(&message("m", "x")));
        c.send(b".\r\n");
        assert_eq!(c.reply().text(), data_reply);
    };
    send(
        &mut c,
        "250 2.1.5 <carol@x> Recipient ok",
        "250 2.0.0 <carol@x> Delivered",
    );
    postfach_ok(&s.data, &["user", "del", "carol"], b"");
    send(
        &mut c,
        "250 2.1.5 <carol@x> Recipient ok",
        "550 5.1.1 <carol@x> No such user",
    );
    let mut fresh = lmtp(&s);
    fresh.cmd("LHLO mx");
    assert_eq!(fresh.cmd("MAIL FROM:<a@b>").code, 250);
    assert_eq!(
        fresh.cmd("RCPT TO:<carol@x>").text(),
        "550 5.1.1 <carol@x> No such user"
    );
}

#[test]
fn dot_stuffing_bare_lf_and_8bit() {
    let s = server(&[]);
    let mut c = lmtp(&s);
    c.cmd("LHLO mx");
    c.cmd("MAIL FROM:<a@b> BODY=8BITMIME");
    c.cmd("RCPT TO:<alice>");
    assert_eq!(c.cmd("DATA").code, 354);
    // Bare LF line ends, stuffed dots, UTF-8 and Latin-1 bytes, terminated by ".\n".
    c.send(b"Subject: Gr\xc3\xbc\xc3\x9fe\nX-Latin: \xe9t\xe9\n\n..leading dot\n...\n.. \nend \xff\n.\n");
    assert_eq!(c.reply().code, 250);
    c.cmd("QUIT");
    let m = fetch(&s, "alice", "INBOX", 1);
    let body = m.split("\r\n\r\n").nth(1).unwrap();
    assert_eq!(body, ".leading dot\r\n..\r\n. \r\nend \u{fffd}\r\n)");
    assert!(m.contains("Subject: Grüße\r\n"), "{m}");
}

#[test]
fn oversize_messages_are_refused() {
    let s = server(&["--max-message-mb", "1"]);
    let mut c = lmtp(&s);
    c.cmd("LHLO mx");
    assert_eq!(
        c.cmd("MAIL FROM:<a@b> SIZE=2000000").text(),
        "552 5.3.4 Message too big"
    );
    c.cmd("MAIL FROM:<a@b>");
    c.cmd("RCPT TO:<alice>");
    c.cmd("RCPT TO:<bob>");
    assert_eq!(c.cmd("DATA").code, 354);
    c.send(&dot_stuff(&message("big", &"y\r\n".repeat(600_000))));
    c.send(b".\r\n");
    assert_eq!(c.reply().text(), "552 5.3.4 <alice> Message too big");
    assert_eq!(c.reply().text(), "552 5.3.4 <bob> Message too big");
    // Still in step: the next transaction works.
    let (_, d) = c.transaction("a@b", &["alice"], &message("small", "ok"));
    assert_eq!(d[0].code, 250);
    let mut a = s.login("alice");
    assert_eq!(
        a.ok("STATUS INBOX (MESSAGES)")[0],
        "* STATUS INBOX (MESSAGES 1)"
    );
}

#[test]
fn idle_session_sees_lmtp_delivery() {
    let s = server(&[]);
    let mut imap = s.login("alice");
    imap.ok("SELECT INBOX");
    imap.send_raw(b"i1 IDLE\r\n");
    assert!(imap.read_line().starts_with("+ "));
    let d = deliver(
        s.lmtp.as_deref().unwrap(),
        "a@b",
        &["alice"],
        &message("push", "x"),
    );
    assert_eq!(d[0].code, 250);
    let mut seen = Vec::new();
    while let Some(l) = imap.try_read_line(Duration::from_secs(10)) {
        let done = l == "* 1 EXISTS";
        seen.push(l);
        if done {
            break;
        }
    }
    assert!(seen.contains(&"* 1 EXISTS".to_string()), "{seen:?}");
    imap.send_raw(b"DONE\r\n");
    let tail = imap.read_until_tag("i1");
    assert!(tail.last().unwrap().starts_with("i1 OK"), "{tail:?}");
}

#[test]
fn unix_socket_detail_folder_and_spam() {
    let dir = TempDir::new();
    let sock = dir.path().join("lmtp.sock");
    let sock = sock.to_str().unwrap();
    let s = Server::start_with(&["--lmtp-socket", sock]);
    assert_eq!(s.lmtp.as_deref(), Some(sock));
    let mut a = s.login("alice");
    a.ok("CREATE Lists");
    // user+detail@ → folder "detail" when it exists (any case), else INBOX.
    assert_eq!(
        deliver(
            sock,
            "a@b",
            &["alice+lists@example.org"],
            &message("l", "x")
        )[0]
        .code,
        250
    );
    assert_eq!(
        deliver(
            sock,
            "a@b",
            &["alice+nothere@example.org"],
            &message("n", "x")
        )[0]
        .code,
        250
    );
    // SpamAssassin/rspamd verdict → Junk.
    let spam = b"X-Spam-Flag: YES\r\nSubject: win\r\n\r\nmoney\r\n";
    assert_eq!(deliver(sock, "a@b", &["alice"], spam)[0].code, 250);
    for (mbox, n) in [("Lists", 1), ("INBOX", 1), ("Junk", 1)] {
        assert_eq!(
            a.ok(&format!("STATUS {mbox} (MESSAGES)"))[0],
            format!("* STATUS {mbox} (MESSAGES {n})")
        );
    }
}

#[test]
fn spam_stays_in_inbox_when_turned_off() {
    let s = server(&["--no-spam-junk"]);
    let spam = b"X-Spam-Flag: YES\r\nSubject: win\r\n\r\nmoney\r\n";
    assert_eq!(
        deliver(s.lmtp.as_deref().unwrap(), "a@b", &["bob"], spam)[0].code,
        250
    );
    let mut b = s.login("bob");
    assert_eq!(
        b.ok("STATUS INBOX (MESSAGES)")[0],
        "* STATUS INBOX (MESSAGES 1)"
    );
    assert_eq!(
        b.ok("STATUS Junk (MESSAGES)")[0],
        "* STATUS Junk (MESSAGES 0)"
    );
}

/// Sends SIGTERM to the server; returns when it was sent.
fn sigterm(s: &Server) -> std::time::Instant {
    let st = std::process::Command::new("kill")
        .args(["-TERM", &s.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    std::time::Instant::now()
}

/// The server exits with status 0 within 3 s of `start`.
fn assert_exits_cleanly_within_3s(s: &mut Server, start: std::time::Instant) {
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "server did not exit"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "exit took {:?}",
        start.elapsed()
    );
}

/// SIGTERM ends a server that listens for LMTP as fast as one without: the LMTP accept loop
/// stops on shutdown and so no longer keeps the database open (which cost 5 s and an unclean
/// close, "database still in use at exit").
#[test]
fn sigterm_with_lmtp_listener_exits_promptly() {
    let mut s = server(&[]);
    let addr = s.lmtp.clone().unwrap();
    let d = deliver(
        &addr,
        "a@example.org",
        &["alice@example.org"],
        &message("x", "y"),
    );
    assert_eq!(d[0].code, 250, "{d:?}");
    let start = sigterm(&s);
    assert_exits_cleanly_within_3s(&mut s, start);
}

/// SIGTERM closes an idle LMTP session (an MTA caches its connections) with 421 at once
/// (RFC 5321 §3.8), so the server still exits promptly and cleanly.
#[test]
fn sigterm_answers_an_idle_lmtp_session_with_421() {
    let mut s = server(&[]);
    let mut c = lmtp(&s);
    assert_eq!(c.cmd("LHLO mx.example").code, 250);
    assert_eq!(c.cmd("MAIL FROM:<a@example.org>").code, 250);
    let start = sigterm(&s);
    let r = c.reply();
    assert_eq!(r.code, 421, "{r:?}");
    assert!(r.text().starts_with("421 4.3.2 "), "{r:?}");
    assert_exits_cleanly_within_3s(&mut s, start);
}
