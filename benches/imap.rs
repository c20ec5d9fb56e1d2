//! IMAP benchmark: postfach side by side with Dovecot, or any IMAP4rev1 server on loopback.
//!
//! ```text
//! cargo bench --bench imap [-- SCENARIO... [--messages N] [TARGET]]
//!   SCENARIO  idle | append | fetch | size | all (default)
//!   TARGET    --postfach [BIN]  (default) the postfach binary cargo builds along with this bench
//!             --dovecot         a private Dovecot started by benches/dovecot.sh (installs it)
//!             --addr HOST:PORT --user U --pass P [--pid PID] [--data DIR]   a running server
//! ```
//!
//! It prints figures and asserts nothing (behaviour is tested elsewhere):
//! - `idle`: server RSS with no connection, then its growth for 100 logged-in idle connections.
//! - `append`: the corpus into INBOX from 1 client, then into `bench-parallel` from 10 clients
//!   (`{n+}` literals when LITERAL+ is advertised, else synchronizing ones): msg/s and MB/s.
//! - `fetch`: `FETCH 1:* BODY.PEEK[]` of INBOX, checked byte for byte against the corpus: MB/s,
//!   RSS growth and peak (sampled every 20 ms, and VmHWM reset just before).
//! - `size`: `du -sb` of the server's data directory against a Maildir of the same messages.
//!
//! postfach is run as `BIN user add benchuser --data TMP` (password on stdin), then
//! `BIN serve --data TMP --imap 127.0.0.1:0`, whose stdout line `listening imap ADDR` gives the
//! port; it is killed at the end. Memory is summed over the server's process tree from /proc
//! (Dovecot forks an `imap` process per connection), with PSS beside RSS since RSS counts shared
//! pages once per process. With `--addr` use a fresh account; RSS needs `--pid`, size `--data`.
//!
//! The corpus (`--messages`, default 1000) comes from a fixed seed: notes, replies, multipart
//! newsletters, ISO-8859-1 quoted-printable mail, notifications and ~10% base64 attachments of
//! 20 KB-2 MB, with Received/DKIM/Message-ID headers, RFC 2047 subjects and CRLF line ends.
//!
//! To add a scenario, write `fn name(b: &mut Bench) -> io::Result<()>` with [`Client`] and
//! [`Bench::figure`], and list it in [`SCENARIOS`]. Every socket read and write times out after
//! [`TIMEOUT`], so a stuck server fails its scenario instead of hanging the run.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Barrier, mpsc};
use std::time::{Duration, Instant, SystemTime};
use std::{env, fs, thread};

const USER: &str = "benchuser";
const PASS: &str = "benchpass";
/// Limit on every socket read and write, and on a server's start.
const TIMEOUT: Duration = Duration::from_secs(60);
const IDLE_CONNS: usize = 100;
const PARALLEL: usize = 10;
const MBOX2: &str = "bench-parallel";

type Scenario = fn(&mut Bench) -> io::Result<()>;
/// The scenarios, in the order `all` runs them.
const SCENARIOS: &[(&str, Scenario)] = &[
    ("idle", idle),
    ("append", append),
    ("fetch", fetch),
    ("size", size),
];

fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

// ---------------------------------------------------------------------------------------------
// IMAP client

/// A minimal blocking IMAP client: one command at a time, tags `a1`, `a2`, ...
pub struct Client {
    rd: BufReader<TcpStream>,
    wr: TcpStream,
    tag: u32,
    /// The server advertised LITERAL+, so APPEND sends `{n+}` without waiting for `+`.
    pub literal_plus: bool,
}

/// One server response: its text with each literal left as `{n}`, and the literals' bytes.
#[derive(Default)]
pub struct Response {
    pub text: String,
    pub literals: Vec<Vec<u8>>,
}

fn quote(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The size of a literal announced at the end of a line: `{n}`, `{n+}` or `~{n}`.
fn literal_len(line: &str) -> Option<usize> {
    let open = line.strip_suffix('}')?.rfind('{')?;
    let n = &line[open + 1..line.len() - 1];
    n.trim_end_matches('+').parse().ok()
}

impl Client {
    /// Connects and reads the greeting.
    pub fn connect(addr: &str) -> io::Result<Client> {
        let sa = addr.to_socket_addrs()?.next();
        let s = TcpStream::connect_timeout(&sa.ok_or_else(|| err("bad address"))?, TIMEOUT)?;
        s.set_read_timeout(Some(TIMEOUT))?;
        s.set_write_timeout(Some(TIMEOUT))?;
        s.set_nodelay(true)?;
        let rd = BufReader::with_capacity(1 << 16, s.try_clone()?);
        let (wr, tag, literal_plus) = (s, 0, false);
        let mut c = Client {
            rd,
            wr,
            tag,
            literal_plus,
        };
        let greeting = c.read_response()?.text;
        if !greeting.starts_with("* OK") {
            return Err(err(format!("greeting: {greeting}")));
        }
        Ok(c)
    }

    /// LOGIN, then CAPABILITY to learn whether LITERAL+ may be used.
    pub fn login(&mut self, user: &str, pass: &str) -> io::Result<()> {
        self.command(&format!("LOGIN {} {}", quote(user), quote(pass)))?;
        let caps = self.command("CAPABILITY")?;
        let mut caps = caps.iter().filter(|r| r.text.starts_with("* CAPABILITY "));
        self.literal_plus = caps.any(|r| r.text.split(' ').any(|c| c == "LITERAL+"));
        Ok(())
    }

    /// Reads one complete response, taking literals by byte count.
    pub fn read_response(&mut self) -> io::Result<Response> {
        let mut r = Response::default();
        loop {
            let mut line = Vec::new();
            if self.rd.read_until(b'\n', &mut line)? == 0 {
                return Err(err("connection closed"));
            }
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\r', '\n']);
            r.text.push_str(line);
            let Some(n) = literal_len(line) else {
                return Ok(r);
            };
            let mut lit = vec![0; n];
            self.rd.read_exact(&mut lit)?;
            r.literals.push(lit);
        }
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("a{}", self.tag)
    }

    /// Reads up to the tagged response: the untagged ones if it is OK, else an error.
    fn finish(&mut self, tag: &str) -> io::Result<Vec<Response>> {
        let mut untagged = Vec::new();
        loop {
            let r = self.read_response()?;
            match r.text.strip_prefix(tag).and_then(|t| t.strip_prefix(' ')) {
                Some(status) if status.starts_with("OK") => return Ok(untagged),
                Some(_) => return Err(err(r.text)),
                None => untagged.push(r),
            }
        }
    }

    /// Sends `TAG cmd`; returns the untagged responses, or an error unless the server says OK.
    pub fn command(&mut self, cmd: &str) -> io::Result<Vec<Response>> {
        let tag = self.next_tag();
        self.wr.write_all(format!("{tag} {cmd}\r\n").as_bytes())?;
        self.finish(&tag)
    }

    /// `APPEND mailbox (flags) {n}`, waiting for `+` unless LITERAL+ was advertised.
    pub fn append(&mut self, mailbox: &str, flags: &str, msg: &[u8]) -> io::Result<()> {
        let (tag, mbox, n) = (self.next_tag(), quote(mailbox), msg.len());
        let plus = if self.literal_plus { "+" } else { "" };
        let mut buf = format!("{tag} APPEND {mbox} ({flags}) {{{n}{plus}}}\r\n").into_bytes();
        if !self.literal_plus {
            self.wr.write_all(&buf)?;
            buf.clear();
            let mut r = self.read_response()?;
            while r.text.starts_with("* ") {
                r = self.read_response()?;
            }
            if !r.text.starts_with('+') {
                return Err(err(r.text));
            }
        }
        buf.extend_from_slice(msg);
        buf.extend_from_slice(b"\r\n");
        self.wr.write_all(&buf)?;
        self.finish(&tag).map(drop)
    }

    /// SELECT; returns the EXISTS count.
    pub fn select(&mut self, mailbox: &str) -> io::Result<usize> {
        let resp = self.command(&format!("SELECT {}", quote(mailbox)))?;
        let exists = resp.iter().find_map(|r| {
            let n = r.text.strip_prefix("* ")?.strip_suffix(" EXISTS")?;
            n.parse().ok()
        });
        exists.ok_or_else(|| err("SELECT gave no EXISTS"))
    }
}

// ---------------------------------------------------------------------------------------------
// Processes and memory, from /proc

/// A field of /proc/PID/stat after the command name: 0 is the state, 1 the parent pid.
fn stat_field(pid: u32, n: usize) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields = stat.rsplit_once(')')?.1;
    fields.split_whitespace().nth(n).map(String::from)
}

fn proc_tree(root: u32) -> Vec<u32> {
    let entries = fs::read_dir("/proc").into_iter().flatten().flatten();
    let pids = entries.filter_map(|e| e.file_name().to_str()?.parse().ok());
    let ppid = |p: u32| Some((p, stat_field(p, 1)?.parse::<u32>().ok()?));
    let parents: Vec<(u32, u32)> = pids.filter_map(ppid).collect();
    let mut tree = vec![root];
    let mut i = 0;
    while let Some(&p) = tree.get(i) {
        let children = parents.iter().filter(|&&(_, pp)| pp == p);
        tree.extend(children.map(|&(c, _)| c));
        i += 1;
    }
    tree
}

fn kib(path: &str, key: &str) -> Option<u64> {
    let s = fs::read_to_string(path).ok()?;
    let line = s.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Memory in KiB, summed over a process tree.
#[derive(Clone, Copy, Default)]
pub struct Mem {
    rss: u64,
    hwm: u64,
    pss: u64,
    procs: usize,
}

fn mem(root: u32) -> Mem {
    let mut m = Mem::default();
    for pid in proc_tree(root) {
        let status = format!("/proc/{pid}/status");
        let Some(rss) = kib(&status, "VmRSS:") else {
            continue;
        };
        m.rss += rss;
        m.hwm += kib(&status, "VmHWM:").unwrap_or(0);
        m.pss += kib(&format!("/proc/{pid}/smaps_rollup"), "Pss:").unwrap_or(0);
        m.procs += 1;
    }
    m
}

/// Resets VmHWM over the tree; false if the kernel or permissions refuse.
fn reset_hwm(root: u32) -> bool {
    let reset = |pid| fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();
    proc_tree(root).into_iter().all(reset)
}

fn du(path: &Path) -> io::Result<u64> {
    let out = Command::new("du").arg("-sb").arg(path).output()?;
    let out = String::from_utf8_lossy(&out.stdout);
    let bytes = out.split_whitespace().next().and_then(|n| n.parse().ok());
    bytes.ok_or_else(|| err("du failed"))
}

// ---------------------------------------------------------------------------------------------
// Servers under test

/// Stops what the bench started, once dropped: its child, or Dovecot's master, and temp files.
#[derive(Default)]
struct Guard {
    child: Option<Child>,
    pid: Option<u32>,
    tmp: Option<PathBuf>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(pid) = self.pid {
            let _ = Command::new("kill").arg(pid.to_string()).status();
            let t = Instant::now();
            let running = || stat_field(pid, 0).is_some_and(|s| s != "Z");
            while running() && t.elapsed() < Duration::from_secs(10) {
                thread::sleep(Duration::from_millis(50));
            }
        }
        if let Some(tmp) = &self.tmp {
            let _ = fs::remove_dir_all(tmp);
        }
    }
}

/// The server under test: how to reach it, measure it, and (through the guard) stop it.
#[derive(Default)]
pub struct Server {
    name: String,
    addr: String,
    user: String,
    pass: String,
    pid: Option<u32>,
    /// The directory holding the server's mail data, for `size`.
    data: Option<PathBuf>,
    guard: Guard,
}

impl Server {
    fn new(name: String, addr: String, pid: Option<u32>, data: Option<PathBuf>) -> Server {
        let (user, pass) = (USER.into(), PASS.into());
        Server {
            name,
            addr,
            user,
            pass,
            pid,
            data,
            guard: Guard::default(),
        }
    }
}

/// Runs `cmd` with `input` on stdin, killing it after [`TIMEOUT`].
fn run_with_input(cmd: &mut Command, input: &str) -> io::Result<()> {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::null()).spawn()?;
    let stdin = child.stdin.take();
    stdin
        .map(|mut i| i.write_all(input.as_bytes()))
        .transpose()?;
    let t = Instant::now();
    while t.elapsed() < TIMEOUT {
        match child.try_wait()? {
            Some(st) if st.success() => return Ok(()),
            Some(st) => return Err(err(format!("{cmd:?} failed: {st}"))),
            None => thread::sleep(Duration::from_millis(20)),
        }
    }
    let _ = child.kill();
    Err(err(format!("{cmd:?} timed out")))
}

/// Starts postfach on a fresh data directory, with `benchuser` created first.
fn start_postfach(bin: Option<&str>) -> io::Result<Server> {
    // Cargo builds the package's binaries before its benches, and says where.
    let built = option_env!("CARGO_BIN_EXE_postfach").unwrap_or("target/release/postfach");
    let bin = bin.filter(|b| !b.is_empty()).unwrap_or(built);
    if !Path::new(bin).is_file() {
        let msg = format!("no postfach at {bin}: run `cargo build --release` first");
        return Err(err(msg));
    }
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH);
    let name = format!("postfach-bench.{}", now.unwrap_or_default().as_nanos());
    let tmp = env::temp_dir().join(name);
    let data = tmp.join("data");
    fs::create_dir_all(&data)?;
    let mut guard = Guard::default();
    guard.tmp = Some(tmp.clone());
    let mut add = Command::new(bin);
    add.args(["user", "add", USER, "--data"]).arg(&data);
    run_with_input(&mut add, &format!("{PASS}\n"))?;

    let log = tmp.join("stderr.log");
    let mut serve = Command::new(bin);
    serve
        .args(["serve", "--data"])
        .arg(&data)
        .args(["--imap", "127.0.0.1:0"]);
    serve.stdout(Stdio::piped()).stderr(fs::File::create(&log)?);
    let mut child = serve.spawn()?;
    let (pid, stdout) = (child.id(), child.stdout.take());
    guard.child = Some(child);
    // Watch stdout for the address, and keep draining it so the server never blocks on it.
    let (tx, rx) = mpsc::channel();
    let mut sink = fs::File::create(tmp.join("stdout.log"))?;
    let lines = stdout.into_iter().flat_map(|s| BufReader::new(s).lines());
    thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            if let Some(addr) = line.strip_prefix("listening imap ") {
                let _ = tx.send(addr.trim().to_string());
            }
            let _ = writeln!(sink, "{line}");
        }
    });
    let Ok(addr) = rx.recv_timeout(TIMEOUT) else {
        let stderr = fs::read_to_string(&log).unwrap_or_default();
        let msg = format!("postfach printed no `listening imap ADDR`; stderr:\n{stderr}");
        return Err(err(msg));
    };
    let mut srv = Server::new(format!("postfach {bin}"), addr, Some(pid), Some(data));
    srv.guard = guard;
    Ok(srv)
}

/// Starts a private Dovecot with benches/dovecot.sh, which prints `PORT PID MAILDIR`.
fn start_dovecot() -> io::Result<Server> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/dovecot.sh");
    let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let out = Command::new("bash")
        .arg(&script)
        .arg(port.to_string())
        .output()?;
    let out = String::from_utf8_lossy(&out.stdout);
    let last = out.lines().last().unwrap_or("");
    let [port, pid, maildir] = last.split_whitespace().collect::<Vec<_>>()[..] else {
        return Err(err(format!("{} failed: {out:?}", script.display())));
    };
    let pid: u32 = pid
        .parse()
        .map_err(|_| err("dovecot.sh printed a bad PID"))?;
    let version = Command::new("dovecot").arg("--version").output();
    let version = version.map(|o| o.stdout).unwrap_or_default();
    let name = format!("dovecot {}", String::from_utf8_lossy(&version).trim());
    let addr = format!("127.0.0.1:{port}");
    let mut srv = Server::new(name, addr, Some(pid), Some(maildir.into()));
    srv.guard.pid = Some(pid);
    // Only ever delete the temp dir that dovecot.sh made.
    let tmp = Path::new(maildir).parent();
    srv.guard.tmp = tmp
        .filter(|p| p.to_string_lossy().contains("/postfach-dovecot."))
        .map(Into::into);
    Ok(srv)
}

/// Starts the target named by the flags, or finds it with `--addr`.
fn start(f: &HashMap<String, String>) -> io::Result<Server> {
    let targets = ["--postfach", "--dovecot", "--addr"];
    if targets.iter().filter(|t| f.contains_key(**t)).count() > 1 {
        return Err(err("choose one of --postfach, --dovecot, --addr"));
    }
    if f.contains_key("--dovecot") {
        return start_dovecot();
    }
    let Some(addr) = f.get("--addr") else {
        return start_postfach(f.get("--postfach").map(String::as_str));
    };
    let need = |k: &str| {
        f.get(k)
            .cloned()
            .ok_or_else(|| err(format!("--addr needs {k}")))
    };
    let pid = f
        .get("--pid")
        .map(|p| p.parse().map_err(|_| err("bad --pid")));
    let data = f.get("--data").map(PathBuf::from);
    let mut srv = Server::new(
        format!("server at {addr}"),
        addr.clone(),
        pid.transpose()?,
        data,
    );
    (srv.user, srv.pass) = (need("--user")?, need("--pass")?);
    Ok(srv)
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// What the scenarios of one run share.
pub struct Bench {
    srv: Server,
    corpus: Vec<Vec<u8>>,
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
    let mut c = b.client()?;
    let exists = c.select("INBOX")?;
    let hwm_reset = b.srv.pid.is_some_and(reset_hwm);
    let (before, stop, peak) = (b.mem(), &AtomicBool::new(false), &AtomicU64::new(0));
    let (res, time) = thread::scope(|s| {
        if let Some(pid) = b.srv.pid {
            s.spawn(move || {
                while !stop.load(Relaxed) {
                    peak.fetch_max(mem(pid).rss, Relaxed);
                    thread::sleep(Duration::from_millis(20));
                }
            });
        }
        let t = Instant::now();
        let res = c.command("FETCH 1:* BODY.PEEK[]");
        stop.store(true, Relaxed);
        (res, t.elapsed())
    });
    let (mut count, mut bytes, mut differ) = (0, 0, 0);
    for r in res?.iter().filter(|r| r.text.contains(" FETCH ")) {
        let seq = r
            .text
            .split(' ')
            .nth(1)
            .and_then(|n| n.parse::<usize>().ok());
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
    b.rate("fetch_all", count, bytes, time);
    if let (Some(m0), Some(m1)) = (before, b.mem()) {
        let p = peak.load(Relaxed).max(m1.rss);
        let since = if hwm_reset {
            "reset before"
        } else {
            "since start"
        };
        let grow = m1.rss as i64 - m0.rss as i64;
        let detail = format!("RSS {} -> {} KiB ({grow:+}), peak {p} KiB", m0.rss, m1.rss);
        let detail = format!("{detail}, VmHWM {} KiB ({since})", m1.hwm);
        b.figure("fetch_rss", format!("{grow:+} KiB, peak {p} KiB"), detail);
    }
    Ok(())
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
    b.figure(
        "size",
        short.clone(),
        format!("{detail}, server data {short}"),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Corpus: deterministic, realistic mail

/// xorshift64*: small, seeded, the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// A random word of a space-separated list.
    fn pick<'a>(&mut self, list: &'a str) -> &'a str {
        let n = self.below(list.split(' ').count());
        list.split(' ').nth(n).unwrap_or("")
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let words = (0..n.div_ceil(8)).flat_map(|_| self.next().to_le_bytes());
        words.take(n).collect()
    }
    fn hex(&mut self, n: usize) -> String {
        let digit = |r: &mut Rng| b"0123456789abcdef"[r.below(16)] as char;
        (0..n).map(|_| digit(self)).collect()
    }
}

const WORDS: &str = "the project meeting schedule budget report update quarter team review please \
    note attached draft proposal client server release deadline and feedback invoice weekend \
    travel dinner thanks question version change to issue design data backup network price offer \
    order delivery account we summary agenda minutes coffee lunch tomorrow morning office is";
/// All in ISO-8859-1.
const WORDS_LATIN1: &str = "Grüße aus München über die schöne Straße für Käse Bücher und \
    Öffnungszeiten Frühstück Größe heißt Bahnhof Rechnung Lieferung Termin Besprechung nächste \
    Woche café été garçon déjà très bientôt wir";
const FIRST: &str = "Anna Ben Clara David Eva Frank Greta Hugo Ines Jonas Karin Lukas";
const LAST: &str = "Meyer Schmidt Novak Garcia Dubois Rossi Jensen Kowalski Smith Tanaka";
const DOMAINS: &str = "example.com example.org mail.example.net lists.example.com shop.example";

/// Base64, with CRLF after every `line_len` output chars and at the end (none if 0).
fn base64(data: &[u8], line_len: usize) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() / 3 * 4 + data.len() / 28 + 8);
    for (i, ch) in data.chunks(3).enumerate() {
        let b = |k: usize| *ch.get(k).unwrap_or(&0) as u32;
        let v = b(0) << 16 | b(1) << 8 | b(2);
        for k in 0..4 {
            let c = A[(v >> (18 - 6 * k)) as usize & 63] as char;
            out.push(if k <= ch.len() { c } else { '=' });
        }
        let end = (i + 1) * 3 >= data.len();
        if line_len > 0 && ((i + 1) * 4 % line_len == 0 || end) {
            out.push_str("\r\n");
        }
    }
    out
}

/// Quoted-printable of text whose chars are all ISO-8859-1 (code points below 256).
fn quoted_printable(text: &str) -> String {
    let mut out = String::new();
    for line in text.split_inclusive("\r\n") {
        let mut col = 0;
        for ch in line.trim_end_matches("\r\n").chars() {
            let plain = ch == ' ' || ch.is_ascii_graphic() && ch != '=';
            let enc = if plain {
                ch.to_string()
            } else {
                format!("={:02X}", ch as u32)
            };
            if col + enc.len() > 75 {
                out.push_str("=\r\n");
                col = 0;
            }
            col += enc.len();
            out.push_str(&enc);
        }
        out.push_str("\r\n");
    }
    out
}

fn sentence(r: &mut Rng, words: &str) -> String {
    let words: Vec<&str> = (0..4 + r.below(12)).map(|_| r.pick(words)).collect();
    let s = words.join(" ");
    let mut chars = s.chars();
    let first = chars.next().into_iter().flat_map(char::to_uppercase);
    first.chain(chars).chain(['.']).collect()
}

/// `count` paragraphs wrapped at 72 columns, each line starting with `prefix`.
fn paragraphs(r: &mut Rng, words: &str, count: usize, prefix: &str) -> String {
    let mut out = String::new();
    for _ in 0..count {
        let text: Vec<String> = (0..2 + r.below(5)).map(|_| sentence(r, words)).collect();
        let mut line = String::from(prefix);
        for w in text.join(" ").split(' ') {
            if line.chars().count() + w.chars().count() > 72 {
                out += &format!("{}\r\n", line.trim_end());
                line = String::from(prefix);
            }
            line += &format!("{w} ");
        }
        out += &format!("{}\r\n{}\r\n", line.trim_end(), prefix.trim_end());
    }
    out
}

/// An RFC 5322 date in 2024, a year that began on a Monday.
fn date(r: &mut Rng) -> String {
    const DAYS: [usize; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let (doy, secs) = (r.below(366), r.below(86_400));
    let zone = r.pick("+0000 +0100 +0200 -0500");
    let weekday = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][doy % 7];
    let (mut day, mut month) = (doy, 0);
    while day >= DAYS[month] {
        (day, month) = (day - DAYS[month], month + 1);
    }
    let month = &"JanFebMarAprMayJunJulAugSepOctNovDec"[month * 3..month * 3 + 3];
    let (h, m, s, day) = (secs / 3600, secs / 60 % 60, secs % 60, day + 1);
    format!("{weekday}, {day:02} {month} 2024 {h:02}:{m:02}:{s:02} {zone}")
}

/// A MIME part: boundary line, headers, blank line, body.
fn part(boundary: &str, headers: &str, body: &str) -> String {
    format!("--{boundary}\r\n{headers}\r\n\r\n{body}\r\n")
}

/// RFC 2047 subjects for one message in four: UTF-8 base64 or ISO-8859-1 Q-encoding.
fn encode_subject(r: &mut Rng, subject: String) -> String {
    match r.below(8) {
        0 => {
            let utf8 = format!("{subject} – Grüße");
            format!("=?UTF-8?B?{}?=", base64(utf8.as_bytes(), 0))
        }
        1 => {
            let latin1 = format!("Über {subject}");
            let q = latin1.chars().map(|c| match c {
                ' ' => "_".to_string(),
                c if c.is_ascii_alphanumeric() => c.to_string(),
                c => format!("={:02X}", c as u32),
            });
            format!("=?ISO-8859-1?Q?{}?=", q.collect::<String>())
        }
        _ => subject,
    }
}

/// Received lines, a DKIM signature and the usual headers, without the MIME ones.
fn headers(r: &mut Rng, i: usize, from: &str, date: &str, subject: &str) -> String {
    let mut h = String::new();
    let dom = from
        .rsplit_once('@')
        .map_or("", |(_, d)| d.trim_end_matches('>'));
    for _ in 0..1 + r.below(4) {
        let (host, ip, id) = (r.hex(6), 1 + r.below(250), r.hex(12).to_uppercase());
        h += &format!("Received: from m{host}.{dom} (m{host}.{dom} [198.51.100.{ip}])\r\n");
        h += &format!("\tby mx.example.org (Postfix) with ESMTPS id {id}\r\n");
        h += &format!("\tfor <me@example.org>; {date}\r\n");
    }
    let (bh, sig) = (base64(&r.bytes(32), 0), base64(&r.bytes(256), 0));
    let sig: Vec<&str> = sig
        .as_bytes()
        .chunks(70)
        .flat_map(std::str::from_utf8)
        .collect();
    let sig = sig.join("\r\n\t ");
    h += &format!("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={dom}; s=s1;\r\n");
    h += &format!("\th=from:to:subject:date:message-id;\r\n\tbh={bh};\r\n\tb={sig}\r\n");
    let id = r.hex(16);
    h += &format!("Message-ID: <{id}.{i}@{dom}>\r\nDate: {date}\r\nFrom: {from}\r\n");
    h + &format!("To: Me <me@example.org>\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n")
}

const PLAIN: &str = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit";
const NEWS_HEAD: &str = "<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"><style>\
    body{font-family:Arial,sans-serif;color:#333}</style></head>\r\n<body><table width=\"600\" \
    cellpadding=\"0\" cellspacing=\"0\" align=\"center\">\r\n";

/// multipart/alternative of `text` and its HTML rendering: a newsletter layout with tracked
/// links when `news`, else the plain `<div>`s mail clients write.
fn alternative(r: &mut Rng, boundary: &str, text: &str, news: bool) -> String {
    let mut html = String::from(if news { NEWS_HEAD } else { "<html><body>\r\n" });
    for p in text.split("\r\n\r\n").filter(|p| !p.is_empty()) {
        if news {
            let link = format!(
                "<a href=\"https://news.example.com/t/{}\">More</a>",
                r.hex(32)
            );
            html += &format!("<tr><td style=\"padding:12px\">\r\n{p}\r\n{link}</td></tr>\r\n");
        } else {
            html += &format!("<div dir=\"ltr\">{p}</div><br>\r\n");
        }
    }
    html += if news {
        "</table></body></html>"
    } else {
        "</body></html>"
    };
    let ct = format!("Content-Type: multipart/alternative; boundary=\"{boundary}\"");
    let text = part(boundary, PLAIN, text);
    let html = part(boundary, &PLAIN.replace("plain", "html"), &html);
    format!("{ct}\r\n\r\n{text}{html}--{boundary}--\r\n")
}

/// One message of the corpus, with CRLF line ends.
fn message(r: &mut Rng, i: usize) -> String {
    let (dom, first, last) = (r.pick(DOMAINS), r.pick(FIRST), r.pick(LAST));
    let (date, kind, sign) = (date(r), r.below(100), format!("-- \r\n{first} {last}\r\n"));
    let from = format!("\"{first} {last}\" <{}@{dom}>", first.to_lowercase());
    let (start, len) = (r.below(44), 2 + r.below(5));
    let topic: Vec<&str> = WORDS.split(' ').skip(start).take(len).collect();
    let topic = topic.join(" ");
    let topic = topic[..1].to_uppercase() + &topic[1..];
    let subject = if kind < 20 {
        format!("Re: {topic}")
    } else {
        topic
    };
    let subject = encode_subject(r, subject);
    let mut h = headers(r, i, &from, &date, &subject);
    let boundary = format!("=_Part_{i}_{}", r.hex(12));
    // Half the personal mail comes as text plus HTML, as most clients send it.
    let personal = |r: &mut Rng, text: String| match r.below(2) {
        0 => alternative(r, &boundary, &text, false),
        _ => format!("{PLAIN}\r\n\r\n{text}"),
    };
    let body = match kind {
        // Replies, quoting the previous mail.
        0..20 => {
            let id = r.hex(20);
            h += &format!("In-Reply-To: <{id}@example.org>\r\nReferences: <{id}@example.org>\r\n");
            let (n, q, qq) = (1 + r.below(3), 1 + r.below(5), r.below(4));
            let text = paragraphs(r, WORDS, n, "");
            let quoted = paragraphs(r, WORDS, q, "> ") + &paragraphs(r, WORDS, qq, ">> ");
            personal(
                r,
                format!("{text}On {date}, {first} wrote:\r\n{quoted}{sign}"),
            )
        }
        // Newsletters.
        20..35 => {
            let unsub = format!("List-Unsubscribe: <https://{dom}/u/{}>", r.hex(24));
            h += &format!("List-Id: <news.{dom}>\r\n{unsub}\r\n");
            let n = 5 + r.below(30);
            let text = paragraphs(r, WORDS, n, "");
            alternative(r, &boundary, &text, true)
        }
        // ISO-8859-1, quoted-printable.
        35..47 => {
            let n = 1 + r.below(6);
            let text = quoted_printable(&(paragraphs(r, WORDS_LATIN1, n, "") + &sign));
            let cte = "Content-Transfer-Encoding: quoted-printable";
            format!("Content-Type: text/plain; charset=ISO-8859-1\r\n{cte}\r\n\r\n{text}")
        }
        // Automated notifications, HTML-heavy.
        47..57 => {
            let (order, track, n) = (r.hex(8), r.hex(24), 1 + r.below(4));
            h += "Auto-Submitted: auto-generated\r\n";
            let track = format!("Order {order} has shipped: https://{dom}/track/{track}\r\n\r\n");
            let text = track + &paragraphs(r, WORDS, n, "");
            alternative(r, &boundary, &text, true)
        }
        // Attachments: a note plus a PDF or JPEG of 20 KB-2 MB (log-uniform), base64.
        57..67 => {
            let len = 20_000.0 * 100f64.powf(r.next() as f64 / u64::MAX as f64);
            let pdf = r.below(2) == 0;
            let (ct, name) = if pdf {
                ("application/pdf", "a.pdf")
            } else {
                ("image/jpeg", "a.jpg")
            };
            let magic: &[u8] = if pdf {
                b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
            } else {
                b"\xff\xd8\xff\xe0"
            };
            let data = [magic, &r.bytes(len as usize)].concat();
            let n = 1 + r.below(3);
            let note = part(&boundary, PLAIN, &(paragraphs(r, WORDS, n, "") + &sign));
            let att = format!(
                "Content-Type: {ct}; name=\"{name}\"\r\nContent-Disposition: \
                attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64"
            );
            let att = part(&boundary, &att, base64(&data, 76).trim_end());
            let ct = format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"");
            format!("{ct}\r\n\r\n{note}{att}--{boundary}--\r\n")
        }
        // Short notes.
        _ => {
            let n = 1 + r.below(5);
            let text = paragraphs(r, WORDS, n, "") + &sign;
            personal(r, text)
        }
    };
    h + &body
}

// ---------------------------------------------------------------------------------------------
// Command line

const USAGE: &str = "usage: cargo bench --bench imap -- [idle|append|fetch|size|all]... \
    [--messages N] [--postfach [BIN] | --dovecot | --addr HOST:PORT --user U --pass P \
    [--pid PID] [--data DIR]]";

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
            "--bench" | "--dovecot" => String::new(),
            "--postfach" => {
                let bin = it.next_if(|v| !v.starts_with("--") && !is_scenario(v));
                bin.unwrap_or_default()
            }
            "--addr" | "--user" | "--pass" | "--pid" | "--data" | "--messages" => {
                it.next().ok_or(format!("{a} needs a value"))?
            }
            _ => return Err(format!("unknown argument {a:?}")),
        };
        flags.insert(a, value);
    }
    Ok((scenarios, flags))
}

/// The corpus, and a line describing it.
fn corpus(n: usize) -> (Vec<Vec<u8>>, String) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let corpus: Vec<Vec<u8>> = (0..n).map(|i| message(&mut rng, i).into_bytes()).collect();
    let mut sizes: Vec<usize> = corpus.iter().map(Vec::len).collect();
    sizes.sort_unstable();
    let total = mb(sizes.iter().sum::<usize>() as u64);
    let kib = |q: usize| sizes[q * (n - 1) / 100] as f64 / 1024.0;
    let (med, p90, max) = (kib(50), kib(90), kib(100));
    let line = format!("{n} msgs, {total:.1} MB, median {med:.1} KiB, p90 {p90:.1} KiB");
    (corpus, format!("{line}, max {max:.0} KiB"))
}

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let has = |f: &str| args.iter().any(|a| a == f);
    if has("-h") || has("--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    // `cargo test --benches` runs this without `--bench`: stay out of the test run then.
    if !["--bench", "--postfach", "--dovecot", "--addr"]
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
    let (corpus, about) = corpus(n);
    println!("corpus: {about}");
    let srv = match start(&flags) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("could not start the server: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("server: {} at {}, pid {:?}", srv.name, srv.addr, srv.pid);
    let corpus_bytes = corpus.iter().map(|m| m.len() as u64).sum();
    let (filled, summary) = (Vec::new(), Vec::new());
    let mut b = Bench {
        srv,
        corpus,
        corpus_bytes,
        filled,
        summary,
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
    let width = b.summary.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    println!("\n=== summary: {}, {n} messages ===", b.srv.name);
    for (k, v) in &b.summary {
        println!("{k:<width$}  {v}");
    }
    drop(b); // stops the server and removes its temp dir
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
