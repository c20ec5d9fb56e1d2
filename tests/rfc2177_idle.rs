//! Cross-session updates (RFC 3501 §7.4.1, §2.3.2) and RFC 2177 IDLE, with two or more
//! connections: what one session changes, the others learn at the moments the RFCs allow,
//! after NOOP or pushed during IDLE.
//!
//! Tests share one server (fresh account each) except those that need shrunken timeouts.

mod common;

use std::sync::Arc;

use common::*;

fn server() -> Arc<Server> {
    Server::shared(&[])
}

/// A fresh account and `n` logged-in clients of it.
fn sessions(n: usize) -> (Arc<Server>, Vec<Client>) {
    let s = server();
    let user = s.new_user();
    let cs = (0..n).map(|_| s.login(&user)).collect();
    (s, cs)
}

fn fill(c: &mut Client, mailbox: &str, n: usize) {
    for i in 1..=n {
        let t = c.append(mailbox, "", &message(&format!("m{i}"), "body"));
        assert!(matches("t# OK …", &t), "{t}");
    }
}

/// Reads `n` lines that arrive without the client sending anything.
fn pushed(c: &mut Client, n: usize) -> Vec<String> {
    (0..n).map(|_| c.read_line()).collect()
}

#[test]
fn append_shows_exists_and_recent_after_noop() {
    let (_s, mut cs) = sessions(2);
    let (a, b) = two(&mut cs);
    b.select("INBOX");
    b.check("NOOP", &["OK …"]);
    fill(a, "INBOX", 1);
    b.check("NOOP", &["* 1 EXISTS", "* 1 RECENT", "OK …"]);
    b.check("NOOP", &["OK …"]);
    fill(a, "INBOX", 2);
    b.check("NOOP", &["* 3 EXISTS", "* 3 RECENT", "OK …"]);
    // Appends elsewhere are not reported.
    fill(a, "Trash", 1);
    b.check("NOOP", &["OK …"]);
    b.check(
        "FETCH 1:* UID",
        &[
            "* 1 FETCH (UID 1)",
            "* 2 FETCH (UID 2)",
            "* 3 FETCH (UID 3)",
            "OK …",
        ],
    );
}

/// The first two clients, mutably.
fn two(cs: &mut [Client]) -> (&mut Client, &mut Client) {
    let (a, rest) = cs.split_first_mut().unwrap();
    (a, &mut rest[0])
}

#[test]
fn store_shows_fetch_in_the_other_session_only() {
    let (_s, mut cs) = sessions(2);
    let (a, b) = two(&mut cs);
    fill(a, "INBOX", 2);
    a.select("INBOX");
    b.select("INBOX");
    a.check(
        "STORE 1 +FLAGS (\\Flagged)",
        &["* 1 FETCH (FLAGS (\\Flagged \\Recent))", "OK …"],
    );
    a.check("NOOP", &["OK …"]);
    b.check("NOOP", &["* 1 FETCH (UID 1 FLAGS (\\Flagged))", "OK …"]);
    // .SILENT: no FETCH for the session itself, now or later (only the new keyword is
    // announced); the other one is told.
    a.check(
        "STORE 2 +FLAGS.SILENT (\\Seen $Later)",
        &[
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Later)",
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Later \\*)] …",
            "OK …",
        ],
    );
    a.check("NOOP", &["OK …"]);
    let lines = b.cmd("NOOP");
    assert_lines(
        &lines,
        &[
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Later)".into(),
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Later \\*)] …"
                .into(),
            "* 2 FETCH (UID 2 FLAGS (\\Seen $Later))".into(),
            format!("{} OK …", lines.last().unwrap().split(' ').next().unwrap()),
        ],
        "keyword and flags",
    );
    // Several changes before a NOOP arrive as one FETCH with the final flags.
    a.ok("STORE 1 -FLAGS.SILENT (\\Flagged)");
    a.ok("STORE 1 +FLAGS.SILENT (\\Answered)");
    a.ok("STORE 1 +FLAGS.SILENT (\\Draft)");
    b.check(
        "NOOP",
        &["* 1 FETCH (UID 1 FLAGS (\\Answered \\Draft))", "OK …"],
    );
    // A STORE that changes nothing is not reported.
    a.ok("STORE 1 +FLAGS.SILENT (\\Draft)");
    b.check("NOOP", &["OK …"]);
}

#[test]
fn new_keyword_is_announced_to_read_only_sessions_without_permanentflags() {
    let (_s, mut cs) = sessions(2);
    let (a, e) = two(&mut cs);
    fill(a, "INBOX", 1);
    a.select("INBOX");
    e.ok("EXAMINE INBOX");
    a.ok("STORE 1 +FLAGS.SILENT ($Urgent)");
    // The FLAGS list grows; a read-only session still may not store anything, so it gets no
    // PERMANENTFLAGS claiming otherwise (or, at most, the same empty one).
    let lines = e.ok("NOOP");
    assert!(
        lines.contains(
            &"* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Urgent)".to_string()
        ),
        "{lines:#?}"
    );
    assert!(
        lines.contains(&"* 1 FETCH (UID 1 FLAGS ($Urgent))".to_string()),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .filter(|l| l.contains("PERMANENTFLAGS"))
            .all(|l| l.starts_with("* OK [PERMANENTFLAGS ()]")),
        "{lines:#?}"
    );
}

#[test]
fn silent_store_does_not_hide_another_sessions_change() {
    let (_s, mut cs) = sessions(2);
    let (a, b) = two(&mut cs);
    fill(a, "INBOX", 1);
    a.select("INBOX");
    b.select("INBOX");
    b.ok("STORE 1 +FLAGS.SILENT (\\Flagged)");
    // A has not been told about \Flagged yet; its own silent STORE must not swallow that
    // (RFC 3501 §7.4.2: flag changes by others are reported with unsolicited FETCH).
    let mut told = a.cmd("STORE 1 +FLAGS.SILENT (\\Seen)");
    told.extend(a.cmd("NOOP"));
    assert!(
        told.iter()
            .any(|l| l.starts_with("* 1 FETCH ") && l.contains("\\Flagged")),
        "the \\Flagged set by the other session was never reported: {told:#?}"
    );
}

#[test]
fn expunge_shows_in_the_other_session_after_noop() {
    let (_s, mut cs) = sessions(2);
    let (a, b) = two(&mut cs);
    fill(a, "INBOX", 3);
    a.select("INBOX");
    b.select("INBOX");
    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)");
    a.check("EXPUNGE", &["* 2 EXPUNGE", "OK …"]);
    a.check("NOOP", &["OK …"]);
    b.check("NOOP", &["* 2 EXPUNGE", "OK …"]);
    b.check(
        "FETCH 1:* UID",
        &["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)", "OK …"],
    );
    // CLOSE expunges silently for itself, but the others are told.
    a.ok("STORE 1:2 +FLAGS.SILENT (\\Deleted)");
    a.check("CLOSE", &["OK …"]);
    b.check("NOOP", &["* 1 EXPUNGE", "* 1 EXPUNGE", "OK …"]);
}

#[test]
fn copy_and_move_show_in_source_and_target_sessions() {
    let (_s, mut cs) = sessions(3);
    let [a, b, t] = &mut cs[..] else {
        unreachable!()
    };
    fill(a, "INBOX", 3);
    a.select("INBOX");
    b.select("INBOX");
    t.select("Archive");
    a.check("COPY 1:2 Archive", &["OK [COPYUID # 1:2 1:2] …"]);
    b.check("NOOP", &["OK …"]);
    t.check("NOOP", &["* 2 EXISTS", "* 2 RECENT", "OK …"]);
    a.check(
        "MOVE 2 Archive",
        &["* OK [COPYUID # 2 3] …", "* 2 EXPUNGE", "OK …"],
    );
    b.check("NOOP", &["* 2 EXPUNGE", "OK …"]);
    t.check("NOOP", &["* 3 EXISTS", "* 3 RECENT", "OK …"]);
    t.check(
        "FETCH 1:* UID",
        &[
            "* 1 FETCH (UID 1)",
            "* 2 FETCH (UID 2)",
            "* 3 FETCH (UID 3)",
            "OK …",
        ],
    );
}

#[test]
fn idle_pushes_exists_fetch_and_expunge() {
    let (_s, mut cs) = sessions(3);
    let [a, b, c] = &mut cs[..] else {
        unreachable!()
    };
    fill(a, "INBOX", 2);
    b.select("INBOX");
    c.select("INBOX");
    b.idle();
    // Lines arrive without B sending anything. A is not selected, and C sends no command
    // before B has seen the message, so B is the session that sees it first.
    fill(a, "INBOX", 1);
    assert_eq!(pushed(b, 2), ["* 3 EXISTS", "* 3 RECENT"]);
    c.ok("STORE 1 +FLAGS.SILENT (\\Flagged \\Deleted)");
    assert_eq!(
        pushed(b, 1),
        ["* 1 FETCH (UID 1 FLAGS (\\Flagged \\Deleted \\Recent))"]
    );
    c.check("EXPUNGE", &["* 1 EXPUNGE", "OK …"]);
    assert_eq!(pushed(b, 1), ["* 1 EXPUNGE"]);
    c.check(
        "MOVE 1 Archive",
        &["* OK [COPYUID # 2 1] …", "* 1 EXPUNGE", "OK …"],
    );
    assert_eq!(pushed(b, 1), ["* 1 EXPUNGE"]);
    // (DONE after pushed lines: see idle_done_after_a_pushed_update.)
}

#[test]
fn idle_done_after_a_pushed_update() {
    let (_s, mut cs) = sessions(2);
    let (a, b) = two(&mut cs);
    b.select("INBOX");
    let tag = b.idle();
    fill(a, "INBOX", 1);
    assert_eq!(pushed(b, 2), ["* 1 EXISTS", "* 1 RECENT"]);
    let done = b.done(&tag);
    assert_eq!(done.len(), 1, "{done:#?}");
    b.check("NOOP", &["OK …"]);
    b.check("FETCH 1:* UID", &["* 1 FETCH (UID 1)", "OK …"]);
}

#[test]
fn idle_reports_changes_made_before_it_started() {
    let (_s, mut cs) = sessions(2);
    let (a, b) = two(&mut cs);
    b.select("INBOX");
    fill(a, "INBOX", 2);
    // Pending changes go out right after the continuation request.
    let tag = b.idle();
    assert_eq!(pushed(b, 2), ["* 2 EXISTS", "* 2 RECENT"]);
    b.done(&tag);
}

#[test]
fn idle_in_authenticated_state_and_bad_termination() {
    let (_s, mut cs) = sessions(1);
    let c = &mut cs[0];
    let tag = c.idle();
    c.done(&tag);
    c.select("INBOX");
    let tag = c.idle();
    c.send_raw(b"NOT DONE\r\n");
    let l = c.read_line();
    assert!(l.starts_with(&format!("{tag} BAD ")), "{l}");
    c.check("NOOP", &["OK …"]);
}

#[test]
fn expunge_is_held_back_during_sequence_number_commands() {
    let (_s, mut cs) = sessions(3);
    let [a, b, n] = &mut cs[..] else {
        unreachable!()
    };
    fill(a, "INBOX", 3);
    a.select("INBOX");
    b.select("INBOX");
    n.select("INBOX");
    a.ok("STORE 2 +FLAGS.SILENT (\\Deleted)");
    a.ok("EXPUNGE");
    // Sequence numbers must stay stable: no EXPUNGE during FETCH, STORE or SEARCH.
    let lines = b.ok("FETCH 1:3 UID");
    assert!(!lines.iter().any(|l| l.ends_with(" EXPUNGE")), "{lines:#?}");
    assert!(
        lines.contains(&"* 3 FETCH (UID 3)".to_string()),
        "{lines:#?}"
    );
    let lines = b.ok("STORE 3 +FLAGS (\\Seen)");
    assert!(!lines.iter().any(|l| l.ends_with(" EXPUNGE")), "{lines:#?}");
    assert!(
        lines.contains(&"* 3 FETCH (FLAGS (\\Seen))".to_string()),
        "{lines:#?}"
    );
    let lines = b.ok("SEARCH ALL");
    assert!(!lines.iter().any(|l| l.ends_with(" EXPUNGE")), "{lines:#?}");
    // UID FETCH may send it (after the data, so sequence numbers in the data are the old ones).
    b.check(
        "UID FETCH 1:* UID",
        &[
            "* 1 FETCH (UID 1)",
            "* 3 FETCH (UID 3)",
            "* 2 EXPUNGE",
            "OK …",
        ],
    );
    b.check(
        "FETCH 1:* UID",
        &["* 1 FETCH (UID 1)", "* 2 FETCH (UID 3)", "OK …"],
    );
    // NOOP sends it (and B's flag change, numbered after the expunge).
    n.check(
        "NOOP",
        &["* 2 EXPUNGE", "* 2 FETCH (UID 3 FLAGS (\\Seen))", "OK …"],
    );
    // And a held-back EXPUNGE still goes out with the next command that allows it.
    a.ok("STORE 1 +FLAGS.SILENT (\\Deleted)");
    a.ok("EXPUNGE");
    let lines = b.ok("FETCH 1 UID");
    assert!(!lines.iter().any(|l| l.ends_with(" EXPUNGE")), "{lines:#?}");
    b.check("CHECK", &["* 1 EXPUNGE", "OK …"]);
}

#[test]
fn recent_goes_to_exactly_one_session() {
    let (_s, mut cs) = sessions(4);
    let [a, b, c, d] = &mut cs[..] else {
        unreachable!()
    };
    a.select("INBOX");
    b.select("INBOX");
    fill(c, "INBOX", 1);
    a.check("NOOP", &["* 1 EXISTS", "* 1 RECENT", "OK …"]);
    b.check("NOOP", &["* 1 EXISTS", "* 0 RECENT", "OK …"]);
    a.check("FETCH 1 FLAGS", &["* 1 FETCH (FLAGS (\\Recent))", "OK …"]);
    b.check("FETCH 1 FLAGS", &["* 1 FETCH (FLAGS ())", "OK …"]);
    // Later sessions do not see it as recent either.
    let lines = d.select("INBOX");
    assert!(lines.contains(&"* 0 RECENT".to_string()), "{lines:#?}");
    let lines = c.untagged("EXAMINE INBOX");
    assert!(lines.contains(&"* 0 RECENT".to_string()), "{lines:#?}");
    // \Recent cannot be stored away.
    a.check(
        "STORE 1 -FLAGS (\\Recent)",
        &["* 1 FETCH (FLAGS (\\Recent))", "OK …"],
    );
}

#[test]
fn delete_of_a_selected_mailbox_ends_the_other_session() {
    let (_s, mut cs) = sessions(3);
    let [a, b, i] = &mut cs[..] else {
        unreachable!()
    };
    a.ok("CREATE Box");
    fill(a, "Box", 1);
    b.select("Box");
    i.select("Box");
    let tag = i.idle();
    a.check("DELETE Box", &["OK …"]);
    // In IDLE: BYE pushed.
    let lines = i.expect_closed();
    assert!(
        lines.len() == 1 && matches("* BYE …", &lines[0]),
        "{tag}: {lines:#?}"
    );
    // Otherwise: BYE on the next command.
    b.send_raw(b"X1 NOOP\r\n");
    let lines = b.expect_closed();
    assert!(lines.iter().any(|l| matches("* BYE …", l)), "{lines:#?}");
    a.check("NOOP", &["OK …"]);
}

#[test]
fn idle_keepalive() {
    let s = Server::start_with(&["--idle-keepalive", "1"]);
    let mut c = s.login("alice");
    c.select("INBOX");
    let tag = c.idle();
    assert_eq!(pushed(&mut c, 2), ["* OK Still here", "* OK Still here"]);
    c.done(&tag);
    c.check("NOOP", &["OK …"]);
}

#[test]
fn autologout_during_idle_and_otherwise() {
    let s = Server::start_with(&["--idle-timeout", "2"]);
    let mut idle = s.login("alice");
    idle.select("INBOX");
    idle.idle();
    let mut quiet = s.login("bob");
    let lines = idle.expect_closed();
    assert!(
        lines.len() == 1 && matches("* BYE …", &lines[0]),
        "{lines:#?}"
    );
    let lines = quiet.expect_closed();
    assert!(
        lines.len() == 1 && matches("* BYE …", &lines[0]),
        "{lines:#?}"
    );
}

/// Tiny deterministic PRNG (xorshift64*), so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A client plus what it has been told: sequence number → UID (when known) and flags (when
/// known, without \Recent).
struct Tracked {
    c: Client,
    uids: Vec<Option<u32>>,
    flags: Vec<Option<Vec<String>>>,
}

/// The number before `word` in `* N WORD...`.
fn seq_of(line: &str, word: &str) -> Option<usize> {
    let rest = line.strip_prefix("* ")?;
    let (n, tail) = rest.split_once(' ')?;
    (tail == word || tail.starts_with(&format!("{word} "))).then(|| n.parse().ok())?
}

/// The flags of a FETCH line, sorted, without \Recent.
fn flags_in(line: &str) -> Option<Vec<String>> {
    let i = line.find("FLAGS (")? + "FLAGS (".len();
    let end = line[i..].find(')')?;
    let mut f: Vec<String> = line[i..i + end]
        .split(' ')
        .filter(|f| !f.is_empty() && *f != "\\Recent")
        .map(String::from)
        .collect();
    f.sort();
    Some(f)
}

fn uid_in(line: &str) -> Option<u32> {
    let i = line.find("(UID ").or_else(|| line.find(" UID "))? + 5;
    line[i..].split([' ', ')']).next()?.parse().ok()
}

impl Tracked {
    /// Runs `cmd`, asserts OK, and checks every untagged line against (and into) the model.
    fn run(&mut self, cmd: &str) -> Vec<String> {
        let mut lines = self.c.ok(cmd);
        lines.pop();
        for l in &lines {
            if let Some(n) = seq_of(l, "EXISTS") {
                assert!(n >= self.uids.len(), "{cmd}: EXISTS shrank: {l}");
                self.uids.resize(n, None);
                self.flags.resize(n, None);
            } else if let Some(n) = seq_of(l, "EXPUNGE") {
                assert!(n >= 1 && n <= self.uids.len(), "{cmd}: {l} out of range");
                self.uids.remove(n - 1);
                self.flags.remove(n - 1);
            } else if let Some(n) = seq_of(l, "FETCH") {
                assert!(n >= 1 && n <= self.uids.len(), "{cmd}: {l} out of range");
                if let Some(u) = uid_in(l) {
                    match self.uids[n - 1] {
                        Some(known) => assert_eq!(known, u, "{cmd}: seq {n} changed UID: {l}"),
                        None => self.uids[n - 1] = Some(u),
                    }
                }
                if let Some(f) = flags_in(l) {
                    self.flags[n - 1] = Some(f);
                }
            }
        }
        let known: Vec<u32> = self.uids.iter().flatten().copied().collect();
        assert!(
            known.windows(2).all(|w| w[0] < w[1]),
            "{cmd}: UIDs not ascending: {known:?}"
        );
        lines
    }

    /// Applies a silent STORE to the flags the client knows (it is not told the result).
    /// `seqs` are the sequence numbers after the STORE's answer.
    fn apply_silent(&mut self, seqs: &[usize], mode: &str, set: &[&str]) {
        for &seq in seqs {
            let Some(f) = self.flags[seq - 1].as_mut() else {
                continue;
            };
            match mode {
                "+" => f.extend(set.iter().map(|s| s.to_string())),
                "-" => f.retain(|x| !set.contains(&x.as_str())),
                _ => *f = set.iter().map(|s| s.to_string()).collect(),
            }
            f.sort();
            f.dedup();
        }
    }
}

/// `(seq, uid, flags without \Recent)` of FETCH lines.
fn summary(lines: &[String]) -> Vec<(usize, Option<u32>, Option<Vec<String>>)> {
    lines
        .iter()
        .filter_map(|l| Some((seq_of(l, "FETCH")?, uid_in(l), flags_in(l))))
        .collect()
}

/// Four sessions on one mailbox run random APPEND/STORE/EXPUNGE/FETCH/NOOP (one at a time, in
/// a seeded order). After each command the acting session's knowledge is checked against an
/// observer; at the end every session's view (sequence numbers, UIDs, flags) must equal what a
/// fresh SELECT sees.
#[test]
fn random_concurrent_sessions_converge_to_the_same_view() {
    const SESSIONS: usize = 4;
    const STEPS: usize = 400;
    const FLAGS: [&str; 5] = ["\\Seen", "\\Flagged", "\\Deleted", "\\Answered", "$Blue"];
    let s = server();
    let user = s.new_user();
    // Fixed seed: a failure replays exactly; change it locally to explore other schedules.
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    // An observer tells the truth after every step: UID -> flags, read from storage.
    let mut observer = s.login(&user);
    observer.select("INBOX");
    let mut truth = move || -> std::collections::HashMap<u32, Vec<String>> {
        observer.ok("NOOP");
        let lines = observer.ok("UID FETCH 1:* (UID FLAGS)");
        lines[..lines.len() - 1]
            .iter()
            .map(|l| (uid_in(l).unwrap(), flags_in(l).unwrap()))
            .collect()
    };
    let mut ts: Vec<Tracked> = (0..SESSIONS)
        .map(|_| Tracked {
            c: s.login(&user),
            uids: vec![],
            flags: vec![],
        })
        .collect();
    for t in &mut ts {
        t.run("SELECT INBOX");
    }
    for step in 0..STEPS {
        let t = &mut ts[rng.below(SESSIONS as u64) as usize];
        let n = t.uids.len();
        let op = rng.below(100);
        if op < 20 || n == 0 {
            let m = String::from_utf8(message(&format!("s{step}"), "x")).unwrap();
            t.run(&format!("APPEND INBOX {{{}+}}\r\n{m}", m.len()));
        } else if op < 50 {
            let lo = 1 + rng.below(n as u64) as usize;
            let hi = (lo + rng.below(3) as usize).min(n);
            let mode = ["+", "-", ""][rng.below(3) as usize];
            let set: Vec<&str> = FLAGS
                .iter()
                .copied()
                .filter(|_| rng.below(3) == 0)
                .collect();
            let silent = rng.below(2) == 0;
            let uid_form = t.uids[lo - 1..hi].iter().all(Option::is_some) && rng.below(2) == 0;
            let range = if uid_form {
                format!("{}:{}", t.uids[lo - 1].unwrap(), t.uids[hi - 1].unwrap())
            } else {
                format!("{lo}:{hi}")
            };
            let cmd = format!(
                "{}STORE {range} {mode}FLAGS{} ({})",
                if uid_form { "UID " } else { "" },
                if silent { ".SILENT" } else { "" },
                set.join(" ")
            );
            // Messages that others expunged meanwhile keep their sequence numbers in this
            // session until it is told, so the range is valid either way.
            let uids: Vec<Option<u32>> = t.uids[lo - 1..hi].to_vec();
            t.run(&cmd);
            if silent {
                // A sequence-number STORE sends no EXPUNGE, so its numbers still hold; a UID
                // STORE may, so find its messages by UID.
                let seqs: Vec<usize> = if uid_form {
                    (1..=t.uids.len())
                        .filter(|&q| uids.contains(&t.uids[q - 1]))
                        .collect()
                } else {
                    (lo..=hi).collect()
                };
                t.apply_silent(&seqs, mode, &set);
            }
        } else if op < 60 {
            if rng.below(2) == 0 {
                t.run("EXPUNGE");
            } else {
                let a = 1 + rng.below(3 * n as u64 + 1);
                t.run(&format!("UID EXPUNGE {a}:{}", a + rng.below(5)));
            }
        } else if op < 85 {
            if rng.below(2) == 0 {
                let lo = 1 + rng.below(n as u64);
                let hi = lo + rng.below(n as u64 - lo + 1);
                t.run(&format!("FETCH {lo}:{hi} (UID FLAGS)"));
            } else {
                t.run("UID FETCH 1:* (UID FLAGS)");
            }
        } else {
            t.run("NOOP");
        }
        // After each of its commands a session has been told every flag change (RFC 3501
        // §7.4.1 holds back only EXPUNGE), so what it knows must be the truth.
        let now = truth();
        for (seq, (uid, flags)) in t.uids.iter().zip(&t.flags).enumerate() {
            if let (Some(uid), Some(flags), Some(real)) =
                (uid, flags, uid.and_then(|u| now.get(&u)))
            {
                assert_eq!(
                    flags,
                    real,
                    "step {step}: seq {} (UID {uid}) is stale",
                    seq + 1
                );
            }
        }
    }
    // Everybody catches up; then each view must be the truth a fresh session sees.
    for t in &mut ts {
        t.run("NOOP");
    }
    let mut fresh = Tracked {
        c: s.login(&user),
        uids: vec![],
        flags: vec![],
    };
    fresh.run("SELECT INBOX");
    let fetched = fresh.run("FETCH 1:* (UID FLAGS)");
    assert!(fresh.uids.iter().all(Option::is_some));
    for (i, t) in ts.iter_mut().enumerate() {
        assert_eq!(t.uids.len(), fresh.uids.len(), "session {i}: message count");
        // Flags the session believes it knows must be the real ones.
        for (seq, (mine, real)) in t.flags.iter().zip(&fresh.flags).enumerate() {
            if let Some(mine) = mine {
                assert_eq!(
                    Some(mine),
                    real.as_ref(),
                    "session {i}: flags of seq {}",
                    seq + 1
                );
            }
        }
        let view = t.run("UID FETCH 1:* (UID FLAGS)");
        assert_eq!(t.uids, fresh.uids, "session {i}: sequence numbers");
        assert_eq!(
            summary(&view),
            summary(&fetched),
            "session {i}: FETCH answers"
        );
    }
}
