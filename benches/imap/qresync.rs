//! `qresync`: a client coming back to a 10,000-message mailbox after 10 changes elsewhere,
//! resynchronising with RFC 7162 QRESYNC, or the RFC 3501 way (SELECT, then every UID and FLAGS).

use std::io;
use std::time::{Duration, Instant};

use crate::client::{Client, Response, code, quote, set_len, untagged_num};
use crate::corpus::small_messages;
use crate::{Bench, err};

const MSGS: usize = 10_000;
const MBOX: &str = "bench-qresync";
/// Sequence numbers changed by the second client: flagged, then deleted and expunged.
const FLAG: [usize; 7] = [1, 1500, 3000, 4500, 6000, 7500, 10_000];
const EXPUNGE: [usize; 3] = [2, 5000, 9999];
/// Each way is timed this many times (alternating); the median is reported.
const RUNS: usize = 5;
/// postfach's targets for the QRESYNC way.
const TARGET_BYTES: u64 = 2000;
const TARGET_MS: f64 = 10.0;

/// One resynchronisation: bytes received after login, time, and what it reported.
struct Resync {
    bytes: u64,
    time: Duration,
    fetched: usize,
    vanished: usize,
}

/// Runs `cmds` on a fresh logged-in connection, counting bytes and time from the first command
/// to the last tagged OK.
fn resync(b: &Bench, cmds: &[String]) -> io::Result<Resync> {
    let mut c = b.client()?;
    c.received = 0;
    let t = Instant::now();
    let mut resps: Vec<Response> = Vec::new();
    for cmd in cmds {
        resps.extend(c.command(cmd)?);
    }
    let (time, bytes) = (t.elapsed(), c.received);
    c.command("LOGOUT")?;
    let fetched = resps
        .iter()
        .filter(|r| untagged_num(&r.text, "FETCH").is_some());
    let vanished = resps.iter().filter_map(|r| {
        let set = r.text.strip_prefix("* VANISHED ")?;
        Some(set_len(set.trim_start_matches("(EARLIER) ")))
    });
    Ok(Resync {
        bytes,
        time,
        fetched: fetched.count(),
        vanished: vanished.sum(),
    })
}

/// The second client's 10 changes: 7 flag changes, 3 expunges.
fn change(c: &mut Client) -> io::Result<()> {
    c.select(MBOX)?;
    for seq in FLAG {
        c.command(&format!("STORE {seq} +FLAGS.SILENT (\\Flagged)"))?;
    }
    for seq in EXPUNGE {
        c.command(&format!("STORE {seq} +FLAGS.SILENT (\\Deleted)"))?;
    }
    c.command("EXPUNGE")?;
    c.command("LOGOUT").map(drop)
}

pub fn qresync(b: &mut Bench) -> io::Result<()> {
    let n = b.ensure_mailbox(MBOX, &small_messages(MSGS))?;
    if n != MSGS {
        return Err(err(format!("{MBOX} holds {n} messages, not {MSGS}")));
    }
    let mbox = quote(MBOX);
    // Client 1 knows the mailbox as it is now, then leaves.
    let mut c = b.client()?;
    let state = c.command(&format!("SELECT {mbox} (CONDSTORE)"))?;
    let uidvalidity = code(&state, "UIDVALIDITY").ok_or_else(|| err("no UIDVALIDITY"))?;
    let modseq = code(&state, "HIGHESTMODSEQ").ok_or_else(|| err("no HIGHESTMODSEQ"))?;
    let known = format!("UIDVALIDITY {uidvalidity}, HIGHESTMODSEQ {modseq}");
    let qresync = format!("SELECT {mbox} (QRESYNC ({uidvalidity} {modseq}))");
    c.command("LOGOUT")?;
    change(&mut b.client()?)?;
    println!("setup: client 1 left at {known}; client 2 flagged 7 messages and expunged 3");

    let ways = [
        vec!["ENABLE QRESYNC".to_string(), qresync],
        vec![
            format!("SELECT {mbox}"),
            "FETCH 1:* (UID FLAGS)".to_string(),
        ],
    ];
    let mut runs: [Vec<Resync>; 2] = Default::default();
    for _ in 0..RUNS {
        for (way, cmds) in ways.iter().enumerate() {
            runs[way].push(resync(b, cmds)?);
        }
    }
    for (way, mut runs) in runs.into_iter().enumerate() {
        runs.sort_by_key(|r| r.time);
        let med = &runs[runs.len() / 2];
        let ms = |r: &Resync| r.time.as_secs_f64() * 1e3;
        let bytes: Vec<u64> = runs.iter().map(|r| r.bytes).collect();
        let times: Vec<String> = runs.iter().map(|r| format!("{:.2}", ms(r))).collect();
        let varied = if bytes.iter().all(|&x| x == med.bytes) {
            String::new()
        } else {
            format!(" (bytes varied: {bytes:?})")
        };
        let short = format!("{} B, {:.2} ms", med.bytes, ms(med));
        let (what, key, got) = match way {
            0 => ("ENABLE QRESYNC + SELECT (QRESYNC)", "qresync_a", "reported"),
            _ => ("SELECT + FETCH 1:* (UID FLAGS)", "qresync_b", "fetched"),
        };
        let mut detail = format!(
            "{what}: {} bytes received{varied}, {:.2} ms (median of {RUNS}: {} ms); \
            {got} {} FETCH, {} VANISHED",
            med.bytes,
            ms(med),
            times.join(" "),
            med.fetched,
            med.vanished
        );
        let want = [(FLAG.len(), EXPUNGE.len()), (MSGS - EXPUNGE.len(), 0)][way];
        if (med.fetched, med.vanished) != want {
            detail += &format!(" (WARNING: expected {} FETCH, {} VANISHED)", want.0, want.1);
        }
        if way == 0 && b.srv.name.starts_with("postfach") {
            let met = med.bytes < TARGET_BYTES && ms(med) < TARGET_MS;
            let met = if met { "met" } else { "MISSED" };
            detail += &format!("; postfach target < {TARGET_BYTES} B and < {TARGET_MS} ms: {met}");
        }
        b.figure(key, short, detail);
    }
    Ok(())
}
