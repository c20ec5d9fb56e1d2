//! Hostile and broken input: overlong lines, oversized literals, binary garbage, floods of bad
//! commands. Every case checks that the stream stays in sync (the next command works) or that
//! the server ends the connection cleanly, and that other clients are served throughout.

mod common;

use std::sync::Arc;

use common::*;

/// `--max-line 2048`, `--max-message-mb 1` for every test in this file.
fn server() -> Arc<Server> {
    Server::shared(&["--max-line", "2048", "--max-message-mb", "1"])
}

/// Another client is unaffected: it can log in and work.
fn others_still_served(s: &Server) {
    let mut c = s.login("bob");
    c.check("NOOP", &["OK …"]);
    c.check(
        "STATUS INBOX (UIDNEXT)",
        &["* STATUS INBOX (UIDNEXT #)", "OK …"],
    );
    c.check("LOGOUT", &["* BYE …", "OK …"]);
}

/// Tiny deterministic PRNG (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn overlong_line_gets_bye_and_close() {
    let s = server();
    let mut bystander = s.login("bob");
    bystander.ok("SELECT INBOX");
    for authenticated in [false, true] {
        let mut c = if authenticated {
            s.login("alice")
        } else {
            s.connect()
        };
        let mut line = b"L1 NOOP ".to_vec();
        line.extend(std::iter::repeat_n(b'x', 3000));
        line.extend_from_slice(b"\r\n");
        c.send_raw(&line);
        let lines = c.expect_closed();
        assert!(
            lines.iter().any(|l| matches("* BYE …", l)),
            "no BYE before close: {lines:#?}"
        );
        bystander.check("NOOP", &["OK …"]);
    }
    // No line end at all: the server must not buffer without bound.
    let mut c = s.connect();
    c.send_raw(&[b'y'; 3000]);
    let lines = c.expect_closed();
    assert!(lines.iter().any(|l| matches("* BYE …", l)), "{lines:#?}");
    // Over the limit on a line that follows a literal.
    let mut c = s.login("alice");
    let mut cmd = b"L3 APPEND Trash {5+}\r\nhello ".to_vec();
    cmd.extend(std::iter::repeat_n(b'z', 3000));
    cmd.extend_from_slice(b"\r\n");
    c.send_raw(&cmd);
    let lines = c.expect_closed();
    assert!(lines.iter().any(|l| matches("* BYE …", l)), "{lines:#?}");
    bystander.check("NOOP", &["OK …"]);
    // A line just under the limit is fine (and merely a bad command).
    let mut c = s.login("alice");
    let mut line = b"L2 NOOP ".to_vec();
    line.extend(std::iter::repeat_n(b'x', 2000));
    line.extend_from_slice(b"\r\n");
    c.send_raw(&line);
    assert!(matches("L2 BAD …", &c.read_line()));
    c.check("NOOP", &["OK …"]);
    others_still_served(&s);
}

#[test]
fn oversize_synchronising_literal_is_refused_in_sync() {
    let s = server();
    let mut c = s.login("alice");
    // Over --max-message-mb 1: refused before any data is sent, so nothing needs skipping.
    c.send_raw(b"A1 APPEND INBOX {2000000}\r\n");
    let l = c.read_line();
    assert!(matches("A1 NO [TOOBIG] …", &l), "{l}");
    c.check("NOOP", &["OK …"]);
    // Twice, and with flags, still in sync.
    c.send_raw(b"A2 APPEND INBOX (\\Seen) {1048577}\r\n");
    let l = c.read_line();
    assert!(matches("A2 NO [TOOBIG] …", &l), "{l}");
    c.check("NOOP", &["OK …"]);
    // A message just under the limit is stored.
    let mut big = message("big", "");
    big.resize(1_000_000, b'a');
    big.extend_from_slice(b"\r\n");
    let t = c.append("Trash", "", &big);
    assert!(matches("t# OK [APPENDUID # #] …", &t), "{t}");
    others_still_served(&s);
}

#[test]
fn oversize_literal_plus_gets_bye() {
    let s = server();
    let mut c = s.login("alice");
    // LITERAL+ data follows unasked: the server cannot skip it safely, so it closes.
    c.send_raw(b"A1 APPEND INBOX {2000000+}\r\n");
    let lines = c.expect_closed();
    assert!(
        lines.iter().any(|l| matches("* BYE …", l)),
        "no BYE before close: {lines:#?}"
    );
    // Several literals that are each allowed but together exceed the command limit.
    let mut c = s.connect();
    // Send nothing past the second marker: unread data would turn the close into a reset.
    let mut cmd = b"A2 LOGIN {8000+}\r\n".to_vec();
    cmd.extend(std::iter::repeat_n(b'p', 8000));
    cmd.extend_from_slice(b" {8000+}\r\n");
    c.send_raw(&cmd);
    let lines = c.expect_closed();
    assert!(lines.iter().any(|l| matches("* BYE …", l)), "{lines:#?}");
    others_still_served(&s);
}

#[test]
fn literal_over_8k_before_login_is_toobig() {
    let s = server();
    let mut c = s.connect();
    c.send_raw(b"A1 LOGIN {9000}\r\n");
    let l = c.read_line();
    assert!(matches("A1 NO [TOOBIG] …", &l), "{l}");
    c.check("NOOP", &["OK …"]);
    // Small literals are fine before login.
    c.send_raw(b"A2 LOGIN {5}\r\n");
    assert!(c.read_line().starts_with("+ "));
    c.send_raw(b"alice secret\r\n");
    let lines = c.read_until_tag("A2");
    assert_lines(&lines, &["A2 OK …".into()], "LOGIN after TOOBIG");
    // After login the bigger limit applies.
    c.send_raw(b"A3 APPEND Trash {9000}\r\n");
    assert!(c.read_line().starts_with("+ "));
    let mut m = message("nine", "");
    m.resize(9000, b'n');
    c.send_raw(&m);
    c.send_raw(b"\r\n");
    let lines = c.read_until_tag("A3");
    assert!(matches("A3 OK [APPENDUID # #] …", &lines[0]), "{lines:#?}");
}

#[test]
fn garbage_gets_bad_without_desync() {
    let s = server();
    let mut bystander = s.login("bob");
    for authenticated in [false, true] {
        let mut c = if authenticated {
            s.login("alice")
        } else {
            s.connect()
        };
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        // Random binary (NUL included, no line ends), one line each: one BAD each.
        for round in 0..20 {
            let len = 1 + (rng.next() % 200) as usize;
            let mut junk: Vec<u8> = (0..len)
                .map(|_| rng.next() as u8)
                .filter(|b| *b != b'\n' && *b != b'\r')
                .collect();
            if round == 0 {
                junk.insert(0, 0);
            }
            // Avoid a trailing literal marker, which would (rightly) wait for data.
            junk.push(b'.');
            junk.extend_from_slice(b"\r\n");
            c.send_raw(&junk);
            let l = c.read_line();
            assert!(
                matches("* BAD …", &l) || matches("… BAD …", &l),
                "round {round}: {l:?}"
            );
            c.check("NOOP", &["OK …"]);
        }
        // An empty line, a bare LF, a tag alone, a tag and a space.
        c.send_raw(b"\r\n");
        assert!(matches("* BAD …", &c.read_line()));
        c.send_raw(b"\n");
        assert!(matches("* BAD …", &c.read_line()));
        c.send_raw(b"T1\r\n");
        assert!(matches("T1 BAD …", &c.read_line()));
        c.send_raw(b"T2 \r\n");
        assert!(matches("T2 BAD …", &c.read_line()));
        c.send_raw(b"+ NOOP\r\n");
        assert!(matches("* BAD …", &c.read_line()));
        // NUL inside an otherwise valid command.
        c.send_raw(b"T3 NO\0OP\r\n");
        assert!(matches("T3 BAD …", &c.read_line()));
        // A literal in a command that turns out to be bad: the literal is consumed with it.
        c.send_raw(b"T4 FROB {5}\r\n");
        assert!(c.read_line().starts_with("+ "));
        c.send_raw(b"hello\r\n");
        assert!(matches("T4 BAD …", &c.read_line()));
        c.send_raw(b"T5 FROB {5+}\r\nT6 NOOP\r\n");
        assert!(matches("T5 BAD …", &c.read_line()));
        c.check("NOOP", &["OK …"]);
        bystander.check("NOOP", &["OK …"]);
    }
    others_still_served(&s);
}

#[test]
fn a_hundred_bad_commands_keep_the_connection_usable() {
    let s = server();
    let mut c = s.login("alice");
    let mut burst = Vec::new();
    for i in 0..100 {
        burst.extend_from_slice(format!("B{i} FROB{i} x\r\n").as_bytes());
    }
    c.send_raw(&burst);
    for i in 0..100 {
        let l = c.read_line();
        assert!(l.starts_with(&format!("B{i} BAD ")), "{i}: {l}");
    }
    c.check("NOOP", &["OK …"]);
    c.ok("EXAMINE INBOX");
    // And a mixture, pipelined: bad, good, bad, good...
    let mut burst = Vec::new();
    for i in 0..50 {
        burst.extend_from_slice(format!("M{i} FETCH 0 FLAGS\r\nN{i} NOOP\r\n").as_bytes());
    }
    c.send_raw(&burst);
    for i in 0..50 {
        assert!(c.read_line().starts_with(&format!("M{i} BAD ")));
        assert!(c.read_line().starts_with(&format!("N{i} OK ")));
    }
    others_still_served(&s);
}
