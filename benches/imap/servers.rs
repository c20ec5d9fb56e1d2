//! The servers under test: postfach, a private Dovecot, or one given by address.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};
use std::{env, fs, thread};

use crate::procfs::stat_field;
use crate::{PASS, TIMEOUT, USER, err};

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
    pub name: String,
    pub addr: String,
    pub user: String,
    pub pass: String,
    pub pid: Option<u32>,
    /// The directory holding the server's mail data, for `size`.
    pub data: Option<PathBuf>,
    /// The LMTP address (`HOST:PORT`), for `lmtp`.
    pub lmtp: Option<String>,
    /// Where `lmtp`'s Sieve script goes, if the bench can install one.
    pub sieve: Option<SieveTarget>,
    guard: Guard,
}

/// How a Sieve script is made the active one for the bench user.
pub enum SieveTarget {
    /// `BIN sieve set benchuser FILE --data DIR` (works while the server runs).
    Postfach { bin: String, data: PathBuf },
    /// A file Dovecot's Pigeonhole reads (`sieve = file:PATH`).
    File(PathBuf),
    /// The server was set up without Sieve (why, for the warning).
    Unavailable(String),
}

impl Server {
    /// Makes `script` the bench user's active Sieve script.
    pub fn install_sieve(&self, script: &str) -> io::Result<()> {
        match &self.sieve {
            Some(SieveTarget::Postfach { bin, data }) => {
                let file = data.with_file_name("bench.sieve");
                fs::write(&file, script)?;
                let mut set = Command::new(bin);
                set.args(["sieve", "set", USER])
                    .arg(&file)
                    .arg("--data")
                    .arg(data);
                run_with_input(&mut set, "")
            }
            Some(SieveTarget::File(path)) => {
                fs::write(path, script)?;
                // Readable by the mail user (nobody), as fs::write may leave it 0600 under umask.
                Command::new("chmod")
                    .arg("644")
                    .arg(path)
                    .status()
                    .map(drop)
            }
            Some(SieveTarget::Unavailable(why)) => Err(err(why.clone())),
            None => Err(err("no way to install a Sieve script on this server")),
        }
    }
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
            lmtp: None,
            sieve: None,
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
        .args(["--imap", "127.0.0.1:0", "--lmtp", "127.0.0.1:0"])
        // One benchmark user holds up to 1,000 connections from one address (idlemem); the
        // defaults (32 sessions per user, 50 connections per address) protect a real server.
        .args([
            "--max-sessions-per-user",
            "5000",
            "--max-connections-per-ip",
            "5000",
        ])
        .args(["--max-connections", "5000", "--auth-fail-delay-ms", "0"]);
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
            for kind in ["imap", "lmtp"] {
                if let Some(addr) = line.strip_prefix(&format!("listening {kind} ")) {
                    let _ = tx.send((kind, addr.trim().to_string()));
                }
            }
            let _ = writeln!(sink, "{line}");
        }
    });
    let (mut addr, mut lmtp) = (None, None);
    let t = Instant::now();
    while addr.is_none() || lmtp.is_none() {
        let left = TIMEOUT.saturating_sub(t.elapsed());
        match rx.recv_timeout(left) {
            Ok(("imap", a)) => addr = Some(a),
            Ok((_, a)) => lmtp = Some(a),
            Err(_) => break,
        }
    }
    let Some(addr) = addr else {
        let stderr = fs::read_to_string(&log).unwrap_or_default();
        let msg = format!("postfach printed no `listening imap ADDR`; stderr:\n{stderr}");
        return Err(err(msg));
    };
    if lmtp.is_none() {
        println!("WARNING: postfach printed no `listening lmtp ADDR`");
    }
    let sieve = SieveTarget::Postfach {
        bin: bin.to_string(),
        data: data.clone(),
    };
    let mut srv = Server::new(format!("postfach {bin}"), addr, Some(pid), Some(data));
    (srv.lmtp, srv.sieve, srv.guard) = (lmtp, Some(sieve), guard);
    Ok(srv)
}

/// Starts a private Dovecot with benches/dovecot.sh, which prints
/// `PORT PID MAILDIR lmtp=LMTP_PORT sieve=yes|no`.
fn start_dovecot() -> io::Result<Server> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/dovecot.sh");
    let free = || -> io::Result<u16> { Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port()) };
    let (port, lmtp_port) = (free()?, free()?);
    let out = Command::new("bash")
        .arg(&script)
        .args([port.to_string(), lmtp_port.to_string()])
        .output()?;
    let out = String::from_utf8_lossy(&out.stdout);
    let last = out.lines().last().unwrap_or("");
    let words: Vec<&str> = last.split_whitespace().collect();
    let [port, pid, maildir, ..] = words[..] else {
        return Err(err(format!("{} failed: {out:?}", script.display())));
    };
    let field = |k: &str| words.iter().find_map(|w| w.strip_prefix(&format!("{k}=")));
    let lmtp = field("lmtp")
        .filter(|p| *p != "0")
        .map(|p| format!("127.0.0.1:{p}"));
    let home = Path::new(maildir).with_file_name("home");
    let sieve = match field("sieve") {
        Some("yes") => SieveTarget::File(home.join(".dovecot.sieve")),
        _ => SieveTarget::Unavailable("Dovecot runs without Pigeonhole Sieve".into()),
    };
    let pid: u32 = pid
        .parse()
        .map_err(|_| err("dovecot.sh printed a bad PID"))?;
    let version = Command::new("dovecot").arg("--version").output();
    let version = version.map(|o| o.stdout).unwrap_or_default();
    let name = format!("dovecot {}", String::from_utf8_lossy(&version).trim());
    let addr = format!("127.0.0.1:{port}");
    let mut srv = Server::new(name, addr, Some(pid), Some(maildir.into()));
    (srv.lmtp, srv.sieve) = (lmtp, Some(sieve));
    srv.guard.pid = Some(pid);
    // Only ever delete the temp dir that dovecot.sh made.
    let tmp = Path::new(maildir).parent();
    srv.guard.tmp = tmp
        .filter(|p| p.to_string_lossy().contains("/postfach-dovecot."))
        .map(Into::into);
    Ok(srv)
}

/// Starts the target named by the flags, or finds it with `--addr`.
pub fn start(f: &HashMap<String, String>) -> io::Result<Server> {
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
    srv.lmtp = f.get("--lmtp").cloned();
    Ok(srv)
}
