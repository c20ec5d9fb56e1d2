//! Hardening: failed-login delay and lockout (and the fail2ban log line), connections per
//! address, sessions per user, the command deadline against slowloris, and graceful shutdown on
//! SIGTERM while clients are in the middle of APPENDs.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{BIN, Client, PASSWORD, Server, TempDir, add_user, message};

fn signal(s: &Server, sig: &str) {
    let st = Command::new("kill")
        .args([sig, &s.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

/// Retries `f` for up to ten seconds (the server frees slots when a session task ends).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn failed_logins_are_delayed_then_locked_out() {
    let s = Server::start_with(&[
        "--auth-fail-delay-ms",
        "100",
        "--auth-lockout-after",
        "3",
        "--auth-lockout-secs",
        "2",
    ]);
    let mut c = s.connect();
    let mut took = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let (st, lines) = c.status("LOGIN alice wrong");
        assert_eq!(st, "NO");
        assert!(lines[0].contains("[AUTHENTICATIONFAILED]"), "{lines:?}");
        took.push(t.elapsed());
    }
    // 100 ms, 200 ms, 400 ms: only lower bounds are checked.
    assert!(took[0] >= Duration::from_millis(100), "{took:?}");
    assert!(took[2] >= Duration::from_millis(400), "{took:?}");
    // Locked out: even the right password is refused, without being checked.
    let mut other = s.connect();
    let (st, lines) = other.status(&format!("LOGIN alice {PASSWORD}"));
    assert_eq!(st, "NO");
    assert!(lines[0].contains("[UNAVAILABLE]"), "{lines:?}");
    // The lockout ends.
    std::thread::sleep(Duration::from_millis(2100));
    other.ok(&format!("LOGIN alice {PASSWORD}"));
}

#[test]
fn failed_login_log_line() {
    let dir = TempDir::new();
    let data = dir.path().join("data");
    add_user(&data, "alice", PASSWORD);
    let log = dir.path().join("log");
    let mut child = Command::new(BIN)
        .args(["serve", "--data"])
        .arg(&data)
        .args(["--imap", "127.0.0.1:0", "--auth-fail-delay-ms", "0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let port = loop {
        let mut line = String::new();
        assert!(
            out.read_line(&mut line).unwrap() > 0,
            "server did not start"
        );
        if let Some(a) = line.trim().strip_prefix("listening imap ") {
            break a.rsplit(':').next().unwrap().parse::<u16>().unwrap();
        }
    };
    let mut c = Client::connect(port);
    c.status("LOGIN \"mallory x\" wrong");
    c.status("AUTHENTICATE PLAIN AGFsaWNlAHdyb25n"); // \0alice\0wrong
    let _ = child.kill();
    let _ = child.wait();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("auth failed")).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0]
            .ends_with("auth failed: user=malloryx rip=127.0.0.1 mech=LOGIN reason=credentials"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].ends_with("auth failed: user=alice rip=127.0.0.1 mech=PLAIN reason=credentials"),
        "{}",
        lines[1]
    );
}

#[test]
fn connections_per_address_are_limited() {
    let s = Server::start_with(&["--max-connections-per-ip", "3"]);
    let mut held: Vec<Client> = (0..3).map(|_| s.connect()).collect();
    for c in &held {
        assert!(c.greeting.starts_with("* OK"), "{}", c.greeting);
    }
    let refused = s.connect();
    assert!(
        refused
            .greeting
            .starts_with("* BYE Too many connections from your address"),
        "{}",
        refused.greeting
    );
    held.pop().unwrap().ok("LOGOUT");
    eventually("a slot to free up", || {
        s.connect().greeting.starts_with("* OK")
    });
}

#[test]
fn sessions_per_user_are_limited() {
    let s = Server::start_with(&["--max-sessions-per-user", "2"]);
    let _a = s.login("alice");
    let mut b = s.login("alice");
    let mut c = s.connect();
    let (st, lines) = c.status(&format!("LOGIN alice {PASSWORD}"));
    assert_eq!(st, "NO");
    assert!(lines[0].contains("[LIMIT]"), "{lines:?}");
    // Other users are not affected.
    s.login("bob");
    b.ok("LOGOUT");
    eventually("a session slot to free up", || {
        c.status(&format!("LOGIN alice {PASSWORD}")).0 == "OK"
    });
}

#[test]
fn slowloris_is_cut_off_but_idle_clients_are_not() {
    let s = Server::start_with(&["--command-timeout", "2"]);
    let mut idle = s.login("alice");
    let mut slow = s.login("alice");
    // One byte every 200 ms never finishes a line: the deadline covers the whole command.
    let start = Instant::now();
    let mut bye = None;
    for b in b"a NOOP".iter().chain(std::iter::repeat(&b'x')) {
        if start.elapsed() > Duration::from_secs(15) {
            break;
        }
        if slow.writer.write_all(&[*b]).is_err() {
            break;
        }
        if let Some(line) = slow.try_read_line(Duration::from_millis(200)) {
            bye = Some(line);
            break;
        }
    }
    let bye = bye.expect("slow client was not cut off");
    assert!(bye.starts_with("* BYE"), "{bye}");
    assert!(start.elapsed() >= Duration::from_secs(2));
    // The other session sent nothing for as long and is still fine.
    idle.ok("NOOP");
}

/// Appends in a loop until the server says BYE; returns how many APPENDs were acknowledged.
fn append_until_bye(port: u16, id: usize, acked: Arc<AtomicUsize>) -> usize {
    let mut c = Client::connect(port);
    c.ok(&format!("LOGIN alice {PASSWORD}"));
    let mut mine = 0;
    for i in 0.. {
        let msg = message(&format!("m{id}-{i}"), &"body line\r\n".repeat(50));
        let mut buf = format!("a{i} APPEND INBOX {{{}+}}\r\n", msg.len()).into_bytes();
        buf.extend_from_slice(&msg);
        buf.extend_from_slice(b"\r\n");
        if c.writer.write_all(&buf).is_err() {
            return mine;
        }
        loop {
            match c.try_read_line(Duration::from_secs(10)) {
                Some(l) if l.starts_with(&format!("a{i} OK")) => {
                    mine += 1;
                    acked.fetch_add(1, Ordering::SeqCst);
                    break;
                }
                Some(l) if l.starts_with(&format!("a{i} ")) => panic!("APPEND failed: {l}"),
                Some(l) if l.starts_with("* BYE") => return mine,
                Some(_) => {}
                None => return mine,
            }
        }
    }
    mine
}

#[test]
fn sigterm_during_appends_keeps_acknowledged_messages() {
    let mut s = Server::start_with(&["--shutdown-timeout", "5"]);
    let acked = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|id| {
            let (port, acked) = (s.port, acked.clone());
            std::thread::spawn(move || append_until_bye(port, id, acked))
        })
        .collect();
    // One client is in the middle of a synchronising literal when the signal comes.
    let mut mid = s.login("alice");
    let msg = message("in-flight", &"x".repeat(4000));
    mid.send_raw(format!("m APPEND INBOX {{{}}}\r\n", msg.len()).as_bytes());
    assert!(mid.read_line().starts_with('+'));
    mid.send_raw(&msg[..1000]);
    // An idle client gets its BYE at once.
    let mut idle = s.login("bob");

    eventually("some appends", || acked.load(Ordering::SeqCst) >= 20);
    signal(&s, "-TERM");
    let line = idle.read_line();
    assert!(line.starts_with("* BYE"), "{line}");
    std::thread::sleep(Duration::from_millis(300));
    mid.send_raw(&msg[1000..]);
    mid.send_raw(b"\r\n");
    let lines = mid.read_until_tag("m");
    assert!(lines.last().unwrap().starts_with("m OK"), "{lines:?}");
    let line = mid.read_line();
    assert!(line.starts_with("* BYE"), "{line}");

    let total: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(total, acked.load(Ordering::SeqCst));
    let until = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(Instant::now() < until, "server did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");

    // Every acknowledged message is there after a restart.
    s.restart();
    let mut c = s.login("alice");
    let lines = c.ok("STATUS INBOX (MESSAGES)");
    let n: usize = lines[0]
        .rsplit("MESSAGES ")
        .next()
        .unwrap()
        .trim_end_matches(')')
        .parse()
        .unwrap();
    assert!(n > total, "{n} messages, {total} + 1 acknowledged");
    c.ok("SELECT INBOX");
    let found = c.ok("SEARCH SUBJECT in-flight");
    assert!(found[0].len() > "* SEARCH".len(), "{found:?}");
}

#[test]
fn preauth_deadline_counts_from_connect() {
    let s = Server::start_with(&["--preauth-timeout", "2"]);
    let mut c = s.connect();
    let start = Instant::now();
    // NOOPs do not extend the time a client has to log in.
    let bye = 'outer: loop {
        assert!(start.elapsed() < Duration::from_secs(15), "not cut off");
        let _ = c.writer.write_all(b"n NOOP\r\n");
        while let Some(l) = c.try_read_line(Duration::from_secs(5)) {
            if l.starts_with("* BYE") {
                break 'outer l;
            }
            if l.starts_with("n ") {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(bye.contains("Too long without logging in"), "{bye}");
    assert!(start.elapsed() >= Duration::from_secs(1));
}

#[test]
fn idle_outlives_keepalives_and_the_command_deadline() {
    // Keep-alive ticks cancel pending reads; that must not look like a started command.
    let s = Server::start_with(&["--idle-keepalive", "1", "--command-timeout", "1"]);
    let mut c = s.login("alice");
    c.ok("SELECT INBOX");
    c.send_raw(b"i IDLE\r\n");
    assert!(c.read_line().starts_with('+'));
    let start = Instant::now();
    let mut ticks = 0;
    while start.elapsed() < Duration::from_millis(3500) {
        if let Some(l) = c.try_read_line(Duration::from_millis(500)) {
            assert!(l.starts_with("* OK"), "{l}");
            ticks += 1;
        }
    }
    assert!(ticks >= 2, "{ticks} keep-alives");
    c.send_raw(b"DONE\r\n");
    let lines = c.read_until_tag("i");
    assert!(lines.last().unwrap().starts_with("i OK"), "{lines:?}");
    c.ok("NOOP");
}
