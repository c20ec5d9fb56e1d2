//! RFC 9208 QUOTA: GETQUOTA/GETQUOTAROOT, OVERQUOTA on APPEND/COPY/LMTP, and usage that stays
//! exact under concurrent writers, EXPUNGE and DELETE. RFC 8438 STATUS=SIZE.

mod common;

use common::lmtp::{Lmtp, postfach_ok};
use common::{Server, message};

/// `(used, limit)` of one resource in the GETQUOTA answer.
fn getquota(c: &mut common::Client, resource: &str) -> (u64, u64) {
    let lines = c.ok("GETQUOTA \"\"");
    let l = &lines[0];
    let rest = l
        .split(&format!("{resource} "))
        .nth(1)
        .unwrap_or_else(|| panic!("{lines:?}"));
    let mut it = rest.split([' ', ')']).map(|n| n.parse::<u64>().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

/// Sum of STATUS SIZE and MESSAGES over every mailbox of the session's user.
fn totals(c: &mut common::Client) -> (u64, u64) {
    let list = c.ok("LIST \"\" *");
    let mut size = 0;
    let mut msgs = 0;
    for l in &list[..list.len() - 1] {
        if l.contains("\\Noselect") {
            continue;
        }
        let name = l.rsplit(' ').next().unwrap();
        let st = c.ok(&format!("STATUS {name} (MESSAGES SIZE)"))[0].clone();
        let nums: Vec<u64> = st
            .split(['(', ')', ' '])
            .filter_map(|w| w.parse().ok())
            .collect();
        msgs += nums[0];
        size += nums[1];
    }
    (size, msgs)
}

/// The exact byte usage the CLI reports.
fn cli_usage(s: &Server, user: &str) -> String {
    postfach_ok(&s.data, &["user", "quota", user], b"")
}

#[test]
fn capabilities_and_commands_without_limits() {
    let s = Server::start();
    let mut c = s.login("alice");
    let caps = c.ok("CAPABILITY")[0].clone();
    for cap in [
        "QUOTA",
        "QUOTA=RES-STORAGE",
        "QUOTA=RES-MESSAGE",
        "STATUS=SIZE",
    ] {
        assert!(caps.split(' ').any(|w| w == cap), "{cap} missing: {caps}");
    }
    // No limit set: no quota root.
    let r = c.ok("GETQUOTAROOT INBOX");
    assert_eq!((r.len(), r[0].as_str()), (2, "* QUOTAROOT INBOX"));
    assert!(
        c.cmd("GETQUOTA \"\"")
            .last()
            .unwrap()
            .contains("NO [NONEXISTENT]")
    );
    assert!(
        c.cmd("GETQUOTAROOT Nope")
            .last()
            .unwrap()
            .contains("NO [NONEXISTENT]")
    );
    assert!(
        c.cmd("SETQUOTA \"\" (STORAGE 10)")
            .last()
            .unwrap()
            .contains("NO [NOPERM]")
    );
    assert!(c.cmd("GETQUOTA").last().unwrap().contains("BAD"));
    // Limits set while the server runs apply at once.
    let out = postfach_ok(
        &s.data,
        &[
            "user",
            "quota",
            "alice",
            "--storage-mb",
            "2",
            "--messages",
            "10",
        ],
        b"",
    );
    assert_eq!(
        out.trim(),
        "alice: storage 0 of 2097152 bytes, messages 0 of 10"
    );
    assert_eq!(
        c.ok("GETQUOTAROOT INBOX")[..2],
        [
            "* QUOTAROOT INBOX \"\"",
            "* QUOTA \"\" (STORAGE 0 2048 MESSAGE 0 10)"
        ]
    );
    let msg = message("one", "x");
    assert!(c.append("INBOX", "()", &msg).contains("OK"));
    assert_eq!(getquota(&mut c, "STORAGE"), (1, 2048));
    assert_eq!(getquota(&mut c, "MESSAGE"), (1, 10));
    postfach_ok(
        &s.data,
        &["user", "quota", "alice", "--storage-mb", "none"],
        b"",
    );
    assert_eq!(c.ok("GETQUOTA \"\"")[0], "* QUOTA \"\" (MESSAGE 1 10)");
}

#[test]
fn overquota_on_append_copy_and_lmtp() {
    let s = Server::start_with(&["--lmtp", "127.0.0.1:0"]);
    postfach_ok(&s.data, &["user", "quota", "bob", "--messages", "3"], b"");
    let mut c = s.login("bob");
    for i in 0..3 {
        assert!(
            c.append("INBOX", "()", &message(&format!("m{i}"), "x"))
                .contains("OK")
        );
    }
    let r = c.append("INBOX", "()", &message("m3", "x"));
    assert!(r.contains("NO [OVERQUOTA]"), "{r}");
    c.ok("SELECT INBOX");
    assert!(
        c.cmd("COPY 1 Archive")
            .last()
            .unwrap()
            .contains("NO [OVERQUOTA]")
    );
    // MOVE within the account does not change usage, so it is allowed.
    c.ok("MOVE 1 Archive");
    let mut l = Lmtp::connect(s.lmtp.as_deref().unwrap());
    l.cmd("LHLO x");
    l.cmd("MAIL FROM:<a@b>");
    assert_eq!(
        l.cmd("RCPT TO:<bob>").text(),
        "552 5.2.2 <bob> Mailbox full"
    );
    assert_eq!(getquota(&mut c, "MESSAGE"), (3, 3));
    // Raise the limit: delivery works again.
    postfach_ok(
        &s.data,
        &["user", "quota", "bob", "--messages", "none"],
        b"",
    );
    l.cmd("RSET");
    let (_, d) = l.transaction("a@b", &["bob"], &message("late", "x"));
    assert_eq!(d[0].code, 250);
}

#[test]
fn concurrent_appends_and_deliveries_never_exceed_and_never_drift() {
    const LIMIT: u64 = 30;
    let s = Server::start_with(&["--lmtp", "127.0.0.1:0"]);
    postfach_ok(
        &s.data,
        &["user", "quota", "alice", "--messages", &LIMIT.to_string()],
        b"",
    );
    let addr = s.lmtp.clone().unwrap();
    let mut threads = Vec::new();
    for t in 0..4 {
        let addr = addr.clone();
        threads.push(std::thread::spawn(move || {
            let mut l = Lmtp::connect(&addr);
            l.cmd("LHLO x");
            let mut ok = 0;
            for i in 0..12 {
                let body = "z".repeat(100 * (t + 1) + i);
                let (_, d) = l.transaction("a@b", &["alice", "bob"], &message("l", &body));
                // bob has no limit: his copy is always stored.
                assert!(
                    d.iter().any(|r| r.text().contains("<bob> Delivered")),
                    "{d:?}"
                );
                ok += d
                    .iter()
                    .filter(|r| r.text().contains("<alice> Delivered"))
                    .count();
            }
            ok
        }));
    }
    for t in 0..2 {
        let port = s.port;
        threads.push(std::thread::spawn(move || {
            let mut c = common::Client::connect(port);
            c.ok(&format!("LOGIN alice {}", common::PASSWORD));
            let mut ok = 0;
            for i in 0..12 {
                let r = c.append("INBOX", "()", &message("a", &"q".repeat(50 * t + i)));
                assert!(r.contains("OK") || r.contains("NO [OVERQUOTA]"), "{r}");
                ok += usize::from(r.contains(" OK "));
            }
            ok
        }));
    }
    let stored: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(stored as u64, LIMIT);

    let mut c = s.login("alice");
    assert_eq!(getquota(&mut c, "MESSAGE"), (LIMIT, LIMIT));
    let (size, msgs) = totals(&mut c);
    assert_eq!(msgs, LIMIT);
    let usage = cli_usage(&s, "alice");
    assert!(
        usage.contains(&format!("storage {size} bytes")),
        "{usage} vs {size}"
    );

    // EXPUNGE and DELETE give back exactly what they remove.
    c.ok("CREATE Tmp");
    c.ok("SELECT INBOX");
    c.ok("STORE 1:10 +FLAGS.SILENT (\\Deleted)");
    c.ok("EXPUNGE");
    assert_eq!(getquota(&mut c, "MESSAGE"), (LIMIT - 10, LIMIT));
    c.ok("COPY 1:5 Tmp");
    assert_eq!(getquota(&mut c, "MESSAGE"), (LIMIT - 5, LIMIT));
    c.ok("UNSELECT");
    c.ok("DELETE Tmp");
    assert_eq!(getquota(&mut c, "MESSAGE"), (LIMIT - 10, LIMIT));
    let (size, msgs) = totals(&mut c);
    assert_eq!(msgs, LIMIT - 10);
    let usage = cli_usage(&s, "alice");
    assert!(
        usage.contains(&format!(
            "storage {size} bytes (no limit), messages {} of",
            LIMIT - 10
        )),
        "{usage} vs {size}"
    );
}

#[test]
fn storage_limit_under_concurrency() {
    let s = Server::start_with(&["--lmtp", "127.0.0.1:0"]);
    postfach_ok(&s.data, &["user", "quota", "bob", "--storage-mb", "1"], b"");
    let addr = s.lmtp.clone().unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut l = Lmtp::connect(&addr);
                l.cmd("LHLO x");
                for i in 0..15 {
                    let body = "w".repeat(20_000 + 1000 * t + i);
                    let (r, d) = l.transaction("a@b", &["bob"], &message("s", &body));
                    let reply = d.first().unwrap_or(&r[0]).text();
                    assert!(
                        reply.starts_with("250") || reply.starts_with("552 5.2.2"),
                        "{reply}"
                    );
                    if r[0].code != 250 {
                        l.cmd("RSET");
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let mut c = s.login("bob");
    let (size, msgs) = totals(&mut c);
    assert!(size <= 1 << 20 && size > (1 << 20) - 30_000, "{size}");
    let usage = cli_usage(&s, "bob");
    assert_eq!(
        usage.trim(),
        format!("bob: storage {size} of 1048576 bytes, messages {msgs} (no limit)")
    );
}
