//! IMAP benchmark: postfach side by side with Dovecot, or any IMAP4rev1 server on loopback.
//!
//! ```text
//! cargo bench --bench imap [-- SCENARIO... [--messages N] [TARGET]]
//!   SCENARIO  idle | append | fetch | size | headers | qresync | push | idlemem | lmtp
//!             | all (default)
//!   TARGET    --postfach [BIN]  (default) the postfach binary cargo builds along with this bench
//!             --dovecot         a private Dovecot started by benches/dovecot.sh (installs it)
//!             --addr HOST:PORT --user U --pass P [--pid PID] [--data DIR] [--lmtp HOST:PORT]
//!                               a running server
//!             --compare [--postfach BIN] [--rounds N]
//!                               postfach, then Dovecot, N rounds (default 3), each on a fresh
//!                               server; then every figure per round side by side, with
//!                               postfach's factor and the median factor
//! ```
//!
//! It prints figures and asserts nothing (behaviour is tested elsewhere):
//! - `idle`: server RSS with no connection, then its growth for 100 logged-in idle connections.
//! - `append`: the corpus into INBOX from 1 client, then into `bench-parallel` from 10 clients
//!   (`{n+}` literals when LITERAL+ is advertised, else synchronizing ones): msg/s and MB/s.
//! - `fetch`: `FETCH 1:* BODY.PEEK[]` of INBOX, checked byte for byte against the corpus: MB/s,
//!   RSS growth and peak (sampled every 20 ms, and VmHWM reset just before).
//! - `size`: `du -sb` of the server's data directory against a Maildir of the same messages.
//! - `headers`: on the corpus in INBOX, the time of `FETCH 1:* (FLAGS ENVELOPE BODYSTRUCTURE
//!   RFC822.SIZE INTERNALDATE UID)`, of `fetch`'s `BODY.PEEK[]`, of `SEARCH TEXT "Bahnhof"` (only
//!   in the quoted-printable ISO-8859-1 mail) and `SEARCH FROM "Kowalski"` (hits checked against
//!   the corpus), each with the server's peak RSS growth (VmHWM reset before, RSS sampled).
//! - `qresync`: 10,000 small messages in `bench-qresync`; client 1 SELECTs with CONDSTORE and
//!   leaves; client 2 flags 7 messages and expunges 3; client 1 comes back, from a fresh login,
//!   (a) `ENABLE QRESYNC` + `SELECT box (QRESYNC (uidvalidity modseq))`, or (b) `SELECT box` +
//!   `FETCH 1:* (UID FLAGS)`: bytes received and time from the first command to the last OK,
//!   median of 5 runs each. postfach's target for (a): under 2000 bytes and 10 ms.
//! - `push`: connection A SELECTs `bench-push` and IDLEs; B APPENDs 1,000 small messages one at
//!   a time; for each, the time from just before B sends APPEND to A reading `* N EXISTS`
//!   (median, p99, max). Dovecot delays IDLE notifications by design (~0.5 s each: ~9 minutes).
//! - `idlemem`: server RSS (and PSS, for Dovecot's process tree) with 0, 100 and 1,000
//!   connections logged in, with `bench-idle` (200 corpus messages) SELECTed, in IDLE: KiB per
//!   connection. The open-file limits of the bench and the server are raised towards 8192 with
//!   `prlimit --pid` first (each connection costs the bench two descriptors, the server one); if
//!   they stay too low the count is capped, with a warning.
//! - `lmtp`: LMTP deliveries per second of the corpus to `benchuser@example.org`, with a 10-rule
//!   Sieve script active for it (`lmtp::SCRIPT`: header/address/size tests, `fileinto :create`,
//!   `addflag`, a final `keep`), over 1 connection, then over 4 in parallel (messages dealt out
//!   round-robin); MAIL/RCPT/DATA pipelined when PIPELINING is advertised, one recipient each.
//!   Both servers are durable: postfach commits before each 250, Dovecot fsyncs by default.
//!   After each run, STATUS (MESSAGES) of INBOX and every folder the script files into must have
//!   grown by the corpus size in all (else a warning), and the split is printed. postfach gets
//!   the script with `BIN sieve set benchuser FILE --data DIR` while it runs; Dovecot (through
//!   benches/dovecot.sh, with dovecot-lmtpd and dovecot-sieve) reads it from its home. Without
//!   Pigeonhole it runs unfiltered, with a loud warning.
//!
//! `push` and `idlemem` use mailboxes of their own rather than INBOX, so that their figures do not
//! depend on which other scenarios ran before (INBOX holds the corpus for `fetch` and `headers`).
//!
//! postfach is run as `BIN user add benchuser --data TMP` (password on stdin), then
//! `BIN serve --data TMP --imap 127.0.0.1:0 --lmtp 127.0.0.1:0`, whose stdout lines
//! `listening imap ADDR` and `listening lmtp ADDR` give the ports; it is killed at the end. Memory is summed over the server's process tree from /proc
//! (Dovecot forks an `imap` process per connection), with PSS beside RSS since RSS counts shared
//! pages once per process. With `--addr` use a fresh account; RSS needs `--pid`, size `--data`.
//!
//! Before the server starts, the kernel's page, dentry and inode caches are dropped (as root),
//! so runs one after the other start alike (Dovecot's Maildir delivery slows down as they fill).
//!
//! The corpus (`--messages`, default 1000) comes from a fixed seed: notes, replies, multipart
//! newsletters, ISO-8859-1 quoted-printable mail, notifications and ~10% base64 attachments of
//! 20 KB-2 MB, with Received/DKIM/Message-ID headers, RFC 2047 subjects and CRLF line ends.
//!
//! Helpers live in `benches/imap/`: the IMAP client (`client.rs`, which counts the bytes it
//! reads), the corpus (`corpus.rs`), /proc memory and limits (`procfs.rs`), the servers
//! (`servers.rs`), and the longer scenarios (`headers.rs`, `qresync.rs`, `push.rs`, `lmtp.rs`).
//!
//! To add a scenario, write `fn name(b: &mut Bench) -> io::Result<()>` with [`Client`] and
//! [`Bench::figure`], and list it in [`SCENARIOS`]. Every socket read and write times out after
//! [`TIMEOUT`], so a stuck server fails its scenario instead of hanging the run.

use std::collections::HashMap;
use std::io;
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};
use std::{env, fs, thread};

#[path = "imap/client.rs"]
mod client;
#[path = "imap/corpus.rs"]
mod corpus;
#[path = "imap/headers.rs"]
mod headers;
#[path = "imap/lmtp.rs"]
mod lmtp;
#[path = "imap/procfs.rs"]
mod procfs;
#[path = "imap/push.rs"]
mod push;
#[path = "imap/qresync.rs"]
mod qresync;
#[path = "imap/servers.rs"]
mod servers;

use client::{Client, quote, untagged_num};
use procfs::{Mem, Span, du, du_blocks, mem, watch};
use servers::{Server, start};

const USER: &str = "benchuser";
const PASS: &str = "benchpass";
/// Limit on every socket read and write, and on a server's start.
const TIMEOUT: Duration = Duration::from_secs(60);
const IDLE_CONNS: usize = 100;
const PARALLEL: usize = 10;
const MBOX2: &str = "bench-parallel";

type Scenario = fn(&mut Bench) -> io::Result<()>;
/// The scenarios, in the order `all` runs them: `size` before those that add mailboxes of their
/// own (it compares the server's data with a Maildir of the corpus mailboxes only).
const SCENARIOS: &[(&str, Scenario)] = &[
    ("idle", idle),
    ("append", append),
    ("fetch", fetch),
    ("size", size),
    ("headers", headers::headers),
    ("qresync", qresync::qresync),
    ("push", push::push),
    ("idlemem", push::idlemem),
    ("lmtp", lmtp::lmtp),
];

fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// What the scenarios of one run share.
pub struct Bench {
    srv: Server,
    corpus: Arc<Vec<Vec<u8>>>,
    corpus_bytes: u64,
    /// Mailboxes known to hold the whole corpus.
    filled: Vec<&'static str>,
    summary: Vec<(String, String)>,
}

impl Bench {
    /// A new connection, logged in.
    pub fn client(&self) -> io::Result<Client> {
        let mut c = Client::connect(&self.srv.addr)?;
        c.login(&self.srv.user, &self.srv.pass)?;
        Ok(c)
    }

    fn mem(&self) -> Option<Mem> {
        self.srv.pid.map(mem)
    }

    /// Prints `key: detail` now, and keeps `key  short` for the summary table.
    pub fn figure(&mut self, key: &str, short: String, detail: String) {
        println!("{key}: {detail}");
        self.summary.push((key.to_string(), short));
    }

    fn rate(&mut self, key: &str, msgs: usize, bytes: u64, time: Duration) {
        let s = time.as_secs_f64();
        let short = format!("{:.0} msg/s, {:.1} MB/s", msgs as f64 / s, mb(bytes) / s);
        let detail = format!("{msgs} msgs, {:.1} MB in {s:.2} s = {short}", mb(bytes));
        self.figure(key, short, detail);
    }

    /// Makes sure INBOX holds the corpus (appended untimed), for runs without `append`.
    fn ensure_inbox(&mut self) -> io::Result<()> {
        if self.filled.contains(&"INBOX") {
            return Ok(());
        }
        let mut c = self.client()?;
        match c.select("INBOX")? {
            0 => {
                println!("setup: appending {} messages to INBOX", self.corpus.len());
                let mut msgs = self.corpus.iter();
                msgs.try_for_each(|m| c.append("INBOX", "\\Seen", m))?;
            }
            n if n != self.corpus.len() => println!("WARNING: INBOX already holds {n} messages"),
            _ => {}
        }
        self.filled.push("INBOX");
        Ok(())
    }

    /// Makes sure mailbox `name` exists and, if empty, fills it with `msgs` (untimed, pipelined
    /// with LITERAL+); returns its message count.
    fn ensure_mailbox(&self, name: &str, msgs: &[Vec<u8>]) -> io::Result<usize> {
        let mut c = self.client()?;
        if name != "INBOX" && c.command(&format!("LIST \"\" {}", quote(name)))?.is_empty() {
            c.command(&format!("CREATE {}", quote(name)))?;
        }
        let mut n = c.select(name)?;
        if n == 0 && !msgs.is_empty() {
            let t = Instant::now();
            c.append_pipelined(name, "\\Seen", msgs)?;
            let s = t.elapsed().as_secs_f64();
            println!(
                "setup: appended {} messages to {name} in {s:.1} s",
                msgs.len()
            );
            n = c.select(name)?;
        } else if n != msgs.len() {
            println!(
                "WARNING: {name} already holds {n} messages, not {}",
                msgs.len()
            );
        }
        c.command("LOGOUT")?;
        Ok(n)
    }
}

fn idle(b: &mut Bench) -> io::Result<()> {
    let m0 = b.mem();
    if let Some(m) = m0 {
        let detail = format!(
            "RSS {} KiB, PSS {} KiB, {} process(es)",
            m.rss, m.pss, m.procs
        );
        b.figure("idle_rss", format!("{} KiB", m.rss), detail);
    }
    let t = Instant::now();
    let conns: Vec<Client> = (0..IDLE_CONNS)
        .map(|_| b.client())
        .collect::<Result<_, _>>()?;
    let s = t.elapsed().as_secs_f64();
    let rate = IDLE_CONNS as f64 / s;
    let detail = format!("{IDLE_CONNS} connect+LOGIN in {s:.2} s = {rate:.0}/s");
    b.figure("idle_logins", format!("{rate:.0}/s"), detail);
    thread::sleep(Duration::from_millis(500));
    if let (Some(m0), Some(m1)) = (m0, b.mem()) {
        let rss = m1.rss as i64 - m0.rss as i64;
        let pss = m1.pss as i64 - m0.pss as i64;
        let short = format!(
            "{rss:+} KiB = {:.0} KiB/conn",
            rss as f64 / IDLE_CONNS as f64
        );
        let detail = format!("{short} (PSS {pss:+} KiB), {} process(es)", m1.procs);
        b.figure("idle_rss_100_conns", short, detail);
    }
    drop(conns);
    Ok(())
}

fn append(b: &mut Bench) -> io::Result<()> {
    let mut c = b.client()?;
    println!("LITERAL+: {}", c.literal_plus);
    let t = Instant::now();
    let mut msgs = b.corpus.iter();
    msgs.try_for_each(|m| c.append("INBOX", "\\Seen", m))?;
    b.rate(
        "append_1client",
        b.corpus.len(),
        b.corpus_bytes,
        t.elapsed(),
    );
    b.filled.push("INBOX");

    if let Err(e) = c.command(&format!("CREATE {MBOX2}")) {
        println!("WARNING: CREATE {MBOX2}: {e}");
    }
    let (bench, barrier) = (&*b, &Barrier::new(PARALLEL + 1));
    let worker = move |k: usize| {
        let c = bench.client();
        barrier.wait(); // reached even when login failed, so nobody waits forever
        let (mut c, mut msgs) = (c?, bench.corpus.iter().skip(k).step_by(PARALLEL));
        msgs.try_for_each(|m| c.append(MBOX2, "\\Seen", m))
    };
    let (res, time) = thread::scope(|s| {
        let workers: Vec<_> = (0..PARALLEL).map(|k| s.spawn(move || worker(k))).collect();
        barrier.wait();
        let t = Instant::now();
        let join = |w: thread::ScopedJoinHandle<'_, _>| w.join().unwrap_or(Err(err("panic")));
        let res = workers.into_iter().try_for_each(join);
        (res, t.elapsed())
    });
    res?;
    let (n, bytes) = (b.corpus.len(), b.corpus_bytes);
    b.rate(&format!("append_{PARALLEL}clients"), n, bytes, time);
    b.filled.push(MBOX2);
    Ok(())
}

fn fetch(b: &mut Bench) -> io::Result<()> {
    b.ensure_inbox()?;
    let f = fetch_bodies(b)?;
    b.rate("fetch_all", f.count, f.bytes, f.time);
    if let Some(span) = f.span {
        let short = format!("{:+} KiB, peak {} KiB", span.growth(), span.sampled_peak);
        b.figure("fetch_rss", short, span.detail());
    }
    Ok(())
}

/// What `FETCH 1:* BODY.PEEK[]` of INBOX gave.
struct Fetched {
    count: usize,
    bytes: u64,
    time: Duration,
    span: Option<Span>,
}

/// `FETCH 1:* BODY.PEEK[]` of INBOX, timed with the server's memory watched, and checked byte
/// for byte against the corpus (a mismatch is printed as a warning).
fn fetch_bodies(b: &Bench) -> io::Result<Fetched> {
    let mut c = b.client()?;
    let exists = c.select("INBOX")?;
    let (res, time, span) = watch(b.srv.pid, || c.command("FETCH 1:* BODY.PEEK[]"));
    let (mut count, mut bytes, mut differ) = (0, 0, 0);
    for r in res?.iter().filter(|r| r.text.contains(" FETCH ")) {
        let seq = untagged_num(&r.text, "FETCH");
        let want = seq.and_then(|n| b.corpus.get(n.checked_sub(1)?));
        for lit in &r.literals {
            (count, bytes) = (count + 1, bytes + lit.len() as u64);
            differ += usize::from(want != Some(lit));
        }
    }
    if count != b.corpus.len() || bytes != b.corpus_bytes || differ > 0 {
        let (n, total) = (b.corpus.len(), b.corpus_bytes);
        println!("WARNING: {exists} EXISTS, fetched {count} msgs, {bytes} bytes, {differ} differ");
        println!("WARNING: the corpus has {n} msgs, {total} bytes");
    }
    Ok(Fetched {
        count,
        bytes,
        time,
        span,
    })
}

/// Writes the corpus as a Maildir (one copy per filled mailbox) and returns its `du -sb`.
fn write_maildir(b: &Bench, dir: &Path) -> io::Result<u64> {
    for mbox in &b.filled {
        let sub = if *mbox == "INBOX" {
            dir.to_path_buf()
        } else {
            dir.join(format!(".{mbox}"))
        };
        for d in ["cur", "new", "tmp"] {
            fs::create_dir_all(sub.join(d))?;
        }
        for (i, m) in b.corpus.iter().enumerate() {
            // LF line ends, as MTAs deliver into Maildirs and Dovecot stores them.
            let lf = String::from_utf8_lossy(m).replace("\r\n", "\n");
            let name = format!("{}.M{i}P1.bench,S={}:2,S", 1_700_000_000 + i, lf.len());
            fs::write(sub.join("cur").join(name), lf)?;
        }
    }
    du(dir)
}

fn size(b: &mut Bench) -> io::Result<()> {
    b.ensure_inbox()?;
    let dir = env::temp_dir().join(format!("postfach-bench-maildir.{}", std::process::id()));
    let maildir = write_maildir(b, &dir);
    let _ = fs::remove_dir_all(&dir);
    let maildir = maildir?;
    let server = b.srv.data.as_deref().map(du).transpose()?;
    let blocks = b.srv.data.as_deref().map(du_blocks).transpose()?;
    let (n, boxes) = (b.corpus.len(), b.filled.len());
    let corpus = mb(b.corpus_bytes * boxes as u64);
    let detail = format!("{n} msgs x {boxes} mailbox(es): corpus {corpus:.1} MB (CRLF)");
    let detail = format!("{detail}, Maildir {:.1} MB (LF)", mb(maildir));
    let Some(server) = server else {
        println!("size: {detail}; no server figure without --data");
        return Ok(());
    };
    let ratio = server as f64 / maildir as f64;
    let short = format!("{:.1} MB = {ratio:.2}x Maildir", mb(server));
    let blocks = blocks.map_or(String::new(), |k| {
        let r = k as f64 / maildir as f64;
        format!(" ({:.1} MB of disk blocks = {r:.2}x)", mb(k))
    });
    b.figure(
        "size",
        short.clone(),
        format!("{detail}, server data {short}{blocks}"),
    );
    Ok(())
}
// ---------------------------------------------------------------------------------------------
// Command line

const USAGE: &str = "usage: cargo bench --bench imap -- \
    [idle|append|fetch|size|headers|qresync|push|idlemem|lmtp|all]... \
    [--messages N] [--postfach [BIN] | --dovecot | --addr HOST:PORT --user U --pass P \
    [--pid PID] [--data DIR] [--lmtp HOST:PORT] | --compare [--postfach BIN] [--rounds N]]";

/// Splits the arguments into scenario names and `--flag value` pairs.
fn parse(args: Vec<String>) -> Result<(Vec<String>, HashMap<String, String>), String> {
    let is_scenario = |s: &str| s == "all" || SCENARIOS.iter().any(|(n, _)| *n == s);
    let (mut scenarios, mut flags) = (Vec::new(), HashMap::new());
    let mut it = args.into_iter().peekable();
    while let Some(a) = it.next() {
        let value = match a.as_str() {
            s if is_scenario(s) => {
                scenarios.push(a);
                continue;
            }
            "--bench" | "--dovecot" | "--compare" => String::new(),
            "--postfach" => {
                let bin = it.next_if(|v| !v.starts_with("--") && !is_scenario(v));
                bin.unwrap_or_default()
            }
            "--addr" | "--user" | "--pass" | "--pid" | "--data" | "--messages" | "--lmtp"
            | "--rounds" => it.next().ok_or(format!("{a} needs a value"))?,
            _ => return Err(format!("unknown argument {a:?}")),
        };
        flags.insert(a, value);
    }
    Ok((scenarios, flags))
}
/// Empties the kernel's page, dentry and inode caches (root only), so that every run starts
/// from the same state. Dovecot's LMTP delivery slows down as earlier runs' created and deleted
/// Maildir files pile up there: 411 msg/s after a drop, 204 after five runs without one, with
/// its CPU per message doubling.
fn drop_caches() {
    let dropped = std::process::Command::new("sync")
        .status()
        .is_ok_and(|s| s.success())
        && fs::write("/proc/sys/vm/drop_caches", "3").is_ok();
    if dropped {
        println!("setup: kernel page, dentry and inode caches dropped");
    } else {
        println!(
            "setup: could not drop the kernel caches (needs root): figures depend on earlier runs"
        );
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let has = |f: &str| args.iter().any(|a| a == f);
    if has("-h") || has("--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    // `cargo test --benches` runs this without `--bench`: stay out of the test run then.
    if !["--bench", "--postfach", "--dovecot", "--addr", "--compare"]
        .iter()
        .any(|f| has(f))
    {
        println!("imap bench: run it with `cargo bench --bench imap` (skipped)");
        return ExitCode::SUCCESS;
    }
    let (scenarios, flags) = match parse(args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}\n{USAGE}");
            return ExitCode::FAILURE;
        }
    };
    let n = flags.get("--messages").and_then(|n| n.parse().ok());
    let n = n.unwrap_or(1000usize).max(1);
    let (corpus, about) = corpus::corpus(n);
    println!("corpus: {about}");
    let corpus = Arc::new(corpus);
    if flags.contains_key("--compare") {
        return compare(&scenarios, &flags, &corpus, n);
    }
    drop_caches();
    let Some(Run {
        summary,
        name,
        failed,
    }) = run_on(&flags, &scenarios, &corpus)
    else {
        return ExitCode::FAILURE;
    };
    let width = summary.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    println!("\n=== summary: {name}, {n} messages ===");
    for (k, v) in &summary {
        println!("{k:<width$}  {v}");
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// What one server's run printed in its summary.
struct Run {
    summary: Vec<(String, String)>,
    name: String,
    /// A scenario failed.
    failed: bool,
}

/// Starts the server `flags` name, runs the scenarios on it, stops it; `None` if it did not
/// start.
fn run_on(
    flags: &HashMap<String, String>,
    scenarios: &[String],
    corpus: &Arc<Vec<Vec<u8>>>,
) -> Option<Run> {
    let srv = match start(flags) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("could not start the server: {e}");
            return None;
        }
    };
    println!("server: {} at {}, pid {:?}", srv.name, srv.addr, srv.pid);
    let corpus_bytes = corpus.iter().map(|m| m.len() as u64).sum();
    let mut b = Bench {
        srv,
        corpus: corpus.clone(),
        corpus_bytes,
        filled: Vec::new(),
        summary: Vec::new(),
    };
    let all = scenarios.is_empty() || scenarios.iter().any(|s| s == "all");
    let mut failed = false;
    for (name, run) in SCENARIOS {
        if !all && !scenarios.iter().any(|s| s == name) {
            continue;
        }
        println!("--- {name}");
        if let Err(e) = run(&mut b) {
            println!("{name}: FAILED: {e}");
            b.summary.push((name.to_string(), format!("FAILED: {e}")));
            failed = true;
        }
    }
    let (summary, name) = (std::mem::take(&mut b.summary), b.srv.name.clone());
    Some(Run {
        summary,
        name,
        failed,
    }) // dropping `b` stops the server
}

/// The leading number of a summary value and whether more is better (`msg/s`, `MB/s`) or
/// less (`s`, `ms`, sizes); `None` for anything else.
fn figure_value(v: &str) -> Option<(f64, bool)> {
    let mut words = v.split_whitespace();
    let x: f64 = words.next()?.trim_end_matches(',').parse().ok()?;
    match words.next()? {
        u if u.ends_with("/s") || u.ends_with("/s,") => Some((x, true)),
        "s" | "s," | "ms" | "ms," | "KiB" | "MiB" | "MB" | "B" | "bytes" => Some((x, false)),
        _ => None,
    }
}

/// `--compare`: the scenarios on postfach, then on Dovecot, `--rounds` times (default 3), each
/// run on a freshly started server after the kernel caches were dropped; then every figure of
/// every round side by side with postfach's factor (how many times better), and the median
/// factor. Runs alternate so that slow phases of the machine hit both servers alike.
fn compare(
    scenarios: &[String],
    flags: &HashMap<String, String>,
    corpus: &Arc<Vec<Vec<u8>>>,
    n: usize,
) -> ExitCode {
    let rounds: usize = flags
        .get("--rounds")
        .and_then(|r| r.parse().ok())
        .unwrap_or(3)
        .max(1);
    let mut targets = Vec::new();
    for t in ["--postfach", "--dovecot"] {
        let mut f = flags.clone();
        f.remove("--compare");
        f.remove("--rounds");
        if t == "--dovecot" {
            f.remove("--postfach");
        }
        f.entry(t.to_string()).or_default();
        targets.push(f);
    }
    // results[round][target]: the summary lines.
    let mut results: Vec<Vec<Vec<(String, String)>>> = Vec::new();
    let mut failed = false;
    for r in 1..=rounds {
        let mut round = Vec::new();
        for f in &targets {
            println!("\n=== round {r} of {rounds}");
            drop_caches();
            let Some(run) = run_on(f, scenarios, corpus) else {
                return ExitCode::FAILURE;
            };
            failed |= run.failed;
            round.push(run.summary);
        }
        results.push(round);
    }
    println!(
        "\n=== postfach vs Dovecot, {n} messages, {rounds} rounds (factor: how many times better postfach is)"
    );
    let keys: Vec<String> = results[0][0].iter().map(|(k, _)| k.clone()).collect();
    let width = keys.iter().map(String::len).max().unwrap_or(0);
    for key in keys {
        let mut factors = Vec::new();
        for (r, round) in results.iter().enumerate() {
            let get = |i: usize| {
                round[i]
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map_or("-", |(_, v)| v.as_str())
            };
            let (p, d) = (get(0), get(1));
            let factor = match (figure_value(p), figure_value(d)) {
                (Some((p, true)), Some((d, _))) if d > 0.0 => Some(p / d),
                (Some((p, false)), Some((d, _))) if p > 0.0 => Some(d / p),
                _ => None,
            };
            let shown = factor.map_or(String::new(), |f| format!("  {f:.2}x"));
            println!(
                "{key:<width$}  round {}: postfach {p} | Dovecot {d}{shown}",
                r + 1
            );
            factors.extend(factor);
        }
        if !factors.is_empty() {
            factors.sort_by(f64::total_cmp);
            let median = factors[factors.len() / 2];
            let (lo, hi) = (factors[0], factors[factors.len() - 1]);
            println!(
                "{key:<width$}  median factor {median:.2}x (lowest {lo:.2}x, highest {hi:.2}x)"
            );
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
