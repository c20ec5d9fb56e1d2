//! Scenarios of connections that wait: `push` (how soon IDLE reports new mail) and `idlemem`
//! (what 100 and 1,000 selected, idling connections cost the server).

use std::io;
use std::net::Shutdown;
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use std::{fs, thread};

use crate::client::{Client, untagged_num};
use crate::corpus::small_messages;
use crate::procfs::{Mem, nofile, raise_nofile};
use crate::{Bench, TIMEOUT, err};

/// Messages appended one at a time in `push`.
const PUSH_MSGS: usize = 1000;
const PUSH_MBOX: &str = "bench-push";
/// Connection counts of `idlemem` (besides 0).
const IDLE_STEPS: [usize; 2] = [100, 1000];
/// Messages in the mailbox the `idlemem` connections select.
const IDLE_MSGS: usize = 200;
const IDLE_MBOX: &str = "bench-idle";
/// The open-file limit asked for: the connections, plus room for the process's other files.
const NOFILE: u64 = 8192;
const FD_SPARE: u64 = 64;
/// Time given to the server to settle before memory is read.
const SETTLE: Duration = Duration::from_secs(1);

/// `q`-quantile of sorted durations, in ms (nearest rank).
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1].as_secs_f64() * 1e3
}

/// Connection A idles on [`PUSH_MBOX`] while B appends [`PUSH_MSGS`] small messages one at a
/// time; for each, the time from just before B sends APPEND to A reading `* N EXISTS`.
pub fn push(b: &mut Bench) -> io::Result<()> {
    let msgs = small_messages(PUSH_MSGS);
    let exists0 = b.ensure_mailbox(PUSH_MBOX, &[])?;
    let last = exists0 + PUSH_MSGS;
    let mut a = b.client()?;
    a.select(PUSH_MBOX)?;
    let tag = a.idle()?;
    let hangup = a.hangup_handle()?;
    // A reads in its own thread and stamps each EXISTS as it arrives.
    let (tx, rx) = mpsc::channel::<(usize, Instant)>();
    let reader = thread::spawn(move || -> io::Result<()> {
        let mut seen = String::from("(none)");
        loop {
            let r = a
                .read_response()
                .map_err(|e| err(format!("{e}; last response {seen:?}")))?;
            seen = r.text;
            let Some(n) = untagged_num(&seen, "EXISTS") else {
                continue;
            };
            let _ = tx.send((n, Instant::now()));
            if n >= last {
                a.done(&tag)?;
                return a.command("LOGOUT").map(drop);
            }
        }
    });
    let mut c = b.client()?;
    let (mut push, mut rtt, mut before_ok) = (Vec::new(), Vec::new(), 0);
    let mut run = || -> io::Result<()> {
        for (i, m) in msgs.iter().enumerate() {
            let t0 = Instant::now();
            c.append(PUSH_MBOX, "", m)?;
            let ok = Instant::now();
            let want = exists0 + i + 1;
            loop {
                let (n, at) = rx
                    .recv_timeout(TIMEOUT)
                    .map_err(|e| err(format!("no EXISTS {want} on the idling connection: {e}")))?;
                if n >= want {
                    push.push(at - t0);
                    rtt.push(ok - t0);
                    before_ok += usize::from(at < ok);
                    break;
                }
            }
        }
        Ok(())
    };
    let res = run();
    if res.is_err() {
        let _ = hangup.shutdown(Shutdown::Both); // so the reader stops waiting
    }
    let joined = reader
        .join()
        .unwrap_or_else(|_| Err(err("reader panicked")));
    // The reader's error, if any, is the cause of the writer's.
    let done = push.len();
    let res = joined
        .map_err(|e| err(format!("idling connection: {e}")))
        .and(res);
    res.map_err(|e| err(format!("after {done} of {PUSH_MSGS} APPENDs: {e}")))?;
    push.sort_unstable();
    rtt.sort_unstable();
    let (med, p99, max) = (
        quantile_ms(&push, 0.5),
        quantile_ms(&push, 0.99),
        quantile_ms(&push, 1.0),
    );
    let n = push.len();
    let short = format!("median {med:.2} ms, p99 {p99:.2} ms ({n} msgs)");
    let detail = format!(
        "{n} APPENDs, APPEND -> EXISTS on the idling connection: {short}, max {max:.2} ms; \
        APPEND round trip median {:.2} ms; EXISTS before the APPEND's OK: {before_ok}/{n}",
        quantile_ms(&rtt, 0.5)
    );
    b.figure("push", short, detail);
    Ok(())
}

/// Opens connections until there are `to`: each logs in, SELECTs [`IDLE_MBOX`] and enters IDLE.
fn open_idlers(b: &Bench, conns: &mut Vec<Client>, to: usize) -> io::Result<Duration> {
    let t = Instant::now();
    while conns.len() < to {
        let mut c = b.client()?;
        c.select(IDLE_MBOX)?;
        c.idle()?;
        conns.push(c);
    }
    Ok(t.elapsed())
}

/// Server memory with 0, 100 and 1,000 logged-in connections idling on a 200-message mailbox.
pub fn idlemem(b: &mut Bench) -> io::Result<()> {
    let Some(pid) = b.srv.pid else {
        println!("idlemem: no server pid (--pid), so no memory figures");
        return Ok(());
    };
    let corpus = b.corpus.iter().cycle().take(IDLE_MSGS).cloned();
    b.ensure_mailbox(IDLE_MBOX, &corpus.collect::<Vec<_>>())?;

    // Every connection is two file descriptors in the bench (a reader and a writer) and one in
    // the server (Dovecot: in its own process).
    let mut cap = IDLE_STEPS[IDLE_STEPS.len() - 1];
    let me = std::process::id();
    for (who, p, per_conn) in [("bench", me, 2), ("server", pid, 1)] {
        let (limit, failed) = raise_nofile(p, NOFILE);
        let hard = nofile(p).map_or(0, |l| l.1);
        let refused = failed.map_or(String::new(), |f| format!("; {NOFILE} refused: {f}"));
        println!("open files: {who} (pid {p}) limit {limit} (hard {hard}){refused}");
        let fits = (limit.saturating_sub(FD_SPARE) / per_conn) as usize;
        if fits < cap {
            cap = fits;
            println!("WARNING: {who}'s open-file limit {limit}: capping at {cap} connections");
        }
    }

    thread::sleep(SETTLE);
    let m0 = b.mem().unwrap_or_default();
    let detail = format!(
        "RSS {} KiB, PSS {} KiB, {} process(es)",
        m0.rss, m0.pss, m0.procs
    );
    b.figure("idlemem_0", format!("{} KiB", m0.rss), detail);
    let mut conns = Vec::new();
    let mut prev = (0, m0);
    for step in IDLE_STEPS.map(|s| s.min(cap)) {
        if step <= conns.len() {
            continue;
        }
        let time = open_idlers(b, &mut conns, step)?;
        thread::sleep(SETTLE);
        let m = b.mem().unwrap_or_default();
        let per = |a: u64, z: u64, n: usize| (a as f64 - z as f64) / n as f64;
        let (rss, pss) = (per(m.rss, m0.rss, step), per(m.pss, m0.pss, step));
        let grow = m.rss as i64 - m0.rss as i64;
        let short = format!("{grow:+} KiB = {rss:.1} KiB/conn (PSS {pss:.1} KiB/conn)");
        let (n0, p): (usize, Mem) = prev;
        let step_rss = per(m.rss, p.rss, step - n0);
        let detail = format!(
            "RSS {} KiB ({grow:+} KiB = {rss:.1} KiB/conn), PSS {} KiB ({pss:.1} KiB/conn), \
            {} process(es); \
            connections {n0}->{step}: {step_rss:.1} KiB/conn RSS, opened in {:.1} s",
            m.rss,
            m.pss,
            m.procs,
            time.as_secs_f64()
        );
        b.figure(&format!("idlemem_{step}"), short, detail);
        prev = (step, m);
    }
    inotify_note(b);
    // Hang up, and give the server (Dovecot: its 1,000 processes) time to wind down.
    drop(conns);
    let t = Instant::now();
    while b.mem().is_some_and(|m| m.procs > m0.procs) && t.elapsed() < 10 * SETTLE {
        thread::sleep(SETTLE / 10);
    }
    Ok(())
}

/// Dovecot watches a mailbox in IDLE with one inotify instance per process, and falls back to
/// polling once the per-user limit (fs.inotify.max_user_instances) is reached: says so.
fn inotify_note(b: &Bench) {
    if !b.srv.name.starts_with("dovecot") {
        return;
    }
    let log = b.srv.data.as_deref().and_then(Path::parent);
    let log = log.and_then(|d| fs::read_to_string(d.join("dovecot.log")).ok());
    let n = log
        .unwrap_or_default()
        .matches("Inotify instance limit")
        .count();
    if n > 0 {
        let max = fs::read_to_string("/proc/sys/fs/inotify/max_user_instances");
        let max = max.unwrap_or_default();
        println!(
            "note: {n} Dovecot imap processes logged \"Inotify instance limit ... exceeded\" \
            (fs.inotify.max_user_instances = {}): they poll instead",
            max.trim()
        );
    }
}
