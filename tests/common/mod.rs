//! Test harness: runs the real `postfach` binary on 127.0.0.1:0 with a private data directory
//! and talks IMAP to it over TCP.
#![allow(dead_code)]

pub mod lmtp;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_postfach");
pub const PASSWORD: &str = "secret";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A private directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("postfach-test-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `postfach user add NAME` (password on stdin) against `data`.
pub fn add_user(data: &Path, name: &str, password: &str) {
    let mut child = Command::new(BIN)
        .args(["user", "add", name, "--data"])
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn postfach user add");
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "user add failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A running server process.
pub struct Server {
    pub child: Child,
    pub port: u16,
    /// The IMAPS port when `--imaps` was passed, else 0.
    pub imaps_port: u16,
    /// The LMTP address (`127.0.0.1:PORT`) or socket path, when started with `--lmtp…`.
    pub lmtp: Option<String>,
    pub data: PathBuf,
    pub extra: Vec<String>,
    _dir: Option<TempDir>,
}

impl Server {
    /// Fresh data dir with users `alice` and `bob` (password [`PASSWORD`]).
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Server {
        let dir = TempDir::new();
        let data = dir.path().join("data");
        add_user(&data, "alice", PASSWORD);
        add_user(&data, "bob", PASSWORD);
        let mut s = Self::spawn(&data, extra);
        s._dir = Some(dir);
        s
    }

    /// Starts a server on an existing data dir (which the caller keeps alive).
    pub fn spawn(data: &Path, extra: &[&str]) -> Server {
        let mut args: Vec<String> =
            vec!["serve".into(), "--data".into(), data.display().to_string()];
        args.extend(["--imap".into(), "127.0.0.1:0".into()]);
        if !extra.contains(&"--auth-fail-delay-ms") {
            args.extend(["--auth-fail-delay-ms".into(), "0".into()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut child = Command::new(BIN)
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .env("RUST_LOG", "warn")
            .spawn()
            .expect("spawn postfach serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let (lmtp_tx, lmtp_rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening lmtp ") {
                    let _ = lmtp_tx.send(addr.to_string());
                }
                for (kind, prefix) in [(0, "listening imap "), (1, "listening imaps ")] {
                    if let Some(addr) = line.strip_prefix(prefix) {
                        let port: u16 = addr.rsplit(':').next().unwrap().parse().unwrap();
                        let _ = tx.send((kind, port));
                    }
                }
            }
        });
        let (mut port, mut imaps_port) = (0, 0);
        while port == 0 || (imaps_port == 0 && extra.contains(&"--imaps")) {
            let (kind, p) = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("server did not start");
            if kind == 0 && port == 0 {
                port = p;
            } else if kind == 1 && imaps_port == 0 {
                imaps_port = p;
            }
        }
        Server {
            child,
            port,
            imaps_port,
            lmtp: extra.iter().any(|a| a.starts_with("--lmtp")).then(|| {
                // `--lmtp ADDR` / `--lmtp-socket PATH`: the first one's bound address or path.
                lmtp_rx
                    .recv_timeout(Duration::from_secs(30))
                    .expect("no LMTP listener")
            }),
            data: data.to_path_buf(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            _dir: None,
        }
    }

    /// The test binary's shared server, started with `extra` by the first caller. It lives as
    /// long as some test holds the handle, so a test file pays for one start (argon2 for two
    /// users) instead of one per test. Tests sharing it isolate themselves with [`Server::new_user`].
    pub fn shared(extra: &[&str]) -> Arc<Server> {
        static SHARED: Mutex<Weak<Server>> = Mutex::new(Weak::new());
        let mut slot = SHARED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(s) = slot.upgrade() {
            assert_eq!(
                s.extra, extra,
                "one test file, one shared server configuration"
            );
            return s;
        }
        let s = Arc::new(Server::start_with(extra));
        *slot = Arc::downgrade(&s);
        s
    }

    /// Adds a fresh account (password [`PASSWORD`]) through the running server and returns its
    /// name: a private set of mailboxes for one test.
    pub fn new_user(&self) -> String {
        let name = format!("user{}", COUNTER.fetch_add(1, Ordering::SeqCst));
        add_user(&self.data, &name, PASSWORD);
        name
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.port)
    }

    /// A logged-in client.
    pub fn login(&self, user: &str) -> Client {
        let mut c = self.connect();
        c.ok(&format!("LOGIN {user} {PASSWORD}"));
        c.user = Some(user.to_string());
        c
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills and starts again on the same data dir.
    pub fn restart(&mut self) {
        self.kill9();
        let extra: Vec<String> = self.extra.clone();
        let refs: Vec<&str> = extra.iter().map(String::as_str).collect();
        let mut new = Server::spawn(&self.data, &refs);
        std::mem::swap(&mut self.child, &mut new.child);
        self.port = new.port;
        self.imaps_port = new.imaps_port;
        self.lmtp = new.lmtp.take();
        // `new` now holds the dead child; dropping it kills nothing alive.
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw IMAP client: sends lines, reads responses (literals included) until the tagged line.
pub struct Client {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
    next_tag: usize,
    pub greeting: String,
    /// The account, when logged in through [`Server::login`].
    pub user: Option<String>,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut c = Client {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
            next_tag: 0,
            greeting: String::new(),
            user: None,
        };
        c.greeting = c.read_line();
        c
    }

    /// One response line including any literals it announces (CRLF kept inside, stripped at end).
    /// Panics on close or timeout.
    pub fn read_line(&mut self) -> String {
        match self.next_line() {
            Ok(l) => l,
            Err(e) => panic!("no response line: {e}"),
        }
    }

    /// Like [`Client::read_line`], but close (`UnexpectedEof`) and timeouts are errors.
    pub fn next_line(&mut self) -> std::io::Result<String> {
        let out = self.next_raw()?;
        let s = String::from_utf8_lossy(&out).into_owned();
        Ok(s.strip_suffix("\r\n").unwrap_or(&s).to_string())
    }

    /// One response line with the literals it announces (`{n}` or `~{n}`), byte for byte,
    /// final CRLF included.
    pub fn next_raw(&mut self) -> std::io::Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = self.reader.read_until(b'\n', &mut line)?;
            if n == 0 {
                let got = String::from_utf8_lossy(&out).into_owned();
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!("connection closed; got so far: {got:?}"),
                ));
            }
            out.extend_from_slice(&line);
            let trimmed = line.strip_suffix(b"\r\n").unwrap_or(&line);
            if let Some(open) = trimmed.iter().rposition(|&b| b == b'{') {
                if trimmed.ends_with(b"}") {
                    if let Ok(n) = std::str::from_utf8(&trimmed[open + 1..trimmed.len() - 1])
                        .unwrap_or("x")
                        .parse::<usize>()
                    {
                        let mut lit = vec![0; n];
                        self.reader.read_exact(&mut lit)?;
                        out.extend_from_slice(&lit);
                        continue;
                    }
                }
            }
            break;
        }
        Ok(out)
    }

    /// Sends `TAG cmd` and returns the raw answer lines ([`Client::next_raw`]) up to and
    /// including the tagged one.
    pub fn cmd_raw(&mut self, cmd: &str) -> Vec<Vec<u8>> {
        let tag = self.tag();
        self.send_raw(format!("{tag} {cmd}\r\n").as_bytes());
        let mut lines = Vec::new();
        loop {
            let l = self.next_raw().unwrap_or_else(|e| panic!("{cmd}: {e}"));
            let done = l.starts_with(format!("{tag} ").as_bytes());
            lines.push(l);
            if done {
                return lines;
            }
        }
    }

    /// Tries to read a line; None on timeout/close.
    pub fn try_read_line(&mut self, timeout: Duration) -> Option<String> {
        self.writer.set_read_timeout(Some(timeout)).unwrap();
        let mut line = String::new();
        let r = self.reader.read_line(&mut line);
        self.writer
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        match r {
            Ok(n) if n > 0 => Some(line.trim_end_matches("\r\n").to_string()),
            _ => None,
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    pub fn tag(&mut self) -> String {
        self.next_tag += 1;
        format!("t{}", self.next_tag)
    }

    /// Sends `TAG cmd` and returns all lines up to and including the tagged one.
    pub fn cmd(&mut self, cmd: &str) -> Vec<String> {
        let tag = self.tag();
        self.send_raw(format!("{tag} {cmd}\r\n").as_bytes());
        self.read_until_tag(&tag)
    }

    pub fn read_until_tag(&mut self, tag: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let l = self.read_line();
            let done = l.starts_with(&format!("{tag} "));
            lines.push(l);
            if done {
                return lines;
            }
        }
    }

    /// Like [`cmd`], asserting a tagged OK.
    pub fn ok(&mut self, cmd: &str) -> Vec<String> {
        let lines = self.cmd(cmd);
        let last = lines.last().unwrap();
        assert!(
            last.split(' ').nth(1) == Some("OK"),
            "{cmd} failed: {lines:#?}"
        );
        lines
    }

    /// The tagged line's status word (OK/NO/BAD) and the whole answer.
    pub fn status(&mut self, cmd: &str) -> (String, Vec<String>) {
        let lines = self.cmd(cmd);
        let st = lines
            .last()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap_or("")
            .to_string();
        (st, lines)
    }

    /// APPEND with a LITERAL+ literal; `flags` is put before the literal as is (a flag list, a
    /// date-time, both or nothing). Returns the tagged line.
    pub fn append(&mut self, mailbox: &str, flags: &str, msg: &[u8]) -> String {
        let tag = self.tag();
        // `flags` may hold a flag list and/or a date-time, or nothing.
        let sp = if flags.is_empty() { "" } else { " " };
        let mut buf =
            format!("{tag} APPEND {mailbox}{sp}{flags} {{{}+}}\r\n", msg.len()).into_bytes();
        buf.extend_from_slice(msg);
        buf.extend_from_slice(b"\r\n");
        self.send_raw(&buf);
        self.read_until_tag(&tag).pop().unwrap()
    }

    /// [`Client::append`] that reports a closed connection instead of panicking.
    pub fn try_append(&mut self, mailbox: &str, msg: &[u8]) -> std::io::Result<String> {
        let tag = self.tag();
        let mut buf = format!("{tag} APPEND {mailbox} {{{}+}}\r\n", msg.len()).into_bytes();
        buf.extend_from_slice(msg);
        buf.extend_from_slice(b"\r\n");
        self.writer.write_all(&buf)?;
        loop {
            let l = self.next_line()?;
            if l.starts_with(&format!("{tag} ")) {
                return Ok(l);
            }
        }
    }

    /// Transcript check: sends `cmd` and matches the answer line by line against `expected`
    /// (see [`matches`]). The last expected line is the tagged one, written without its tag
    /// (`"OK [READ-WRITE] …"`). Returns the lines.
    pub fn check(&mut self, cmd: &str, expected: &[&str]) -> Vec<String> {
        let tag = self.tag();
        self.send_raw(format!("{tag} {cmd}\r\n").as_bytes());
        let lines = self.read_until_tag(&tag);
        assert_lines(&lines, &tagged(&tag, expected), cmd);
        lines
    }

    /// The untagged lines of a command that must succeed.
    pub fn untagged(&mut self, cmd: &str) -> Vec<String> {
        let mut lines = self.ok(cmd);
        lines.pop();
        lines
    }

    /// `SELECT mailbox`, asserting OK; returns the untagged lines.
    pub fn select(&mut self, mailbox: &str) -> Vec<String> {
        self.untagged(&format!("SELECT {mailbox}"))
    }

    /// Starts IDLE and waits for the continuation request; returns the tag.
    pub fn idle(&mut self) -> String {
        let tag = self.tag();
        self.send_raw(format!("{tag} IDLE\r\n").as_bytes());
        let cont = self.read_line();
        assert_eq!(cont, "+ idling");
        tag
    }

    /// Ends IDLE: sends DONE, returns the lines up to the tagged OK.
    pub fn done(&mut self, tag: &str) -> Vec<String> {
        self.send_raw(b"DONE\r\n");
        let lines = self.read_until_tag(tag);
        assert!(
            lines.last().unwrap().starts_with(&format!("{tag} OK ")),
            "{lines:#?}"
        );
        lines
    }

    /// Asserts that the server closes the connection (within the read timeout), possibly after
    /// more lines; returns those lines.
    pub fn expect_closed(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            match self.next_line() {
                Ok(l) => lines.push(l),
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return lines,
                // A reset after the close is a close too; a timeout is not.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return lines,
                Err(e) => {
                    panic!("expected the server to close the connection: {e}; got {lines:#?}")
                }
            }
        }
    }
}

/// Prefixes the last expected line with `tag`.
fn tagged(tag: &str, expected: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = expected.iter().map(|s| s.to_string()).collect();
    if let Some(last) = v.last_mut() {
        *last = format!("{tag} {last}");
    }
    v
}

/// Asserts that `lines` match `expected` one to one (see [`matches`]).
pub fn assert_lines(lines: &[String], expected: &[String], what: &str) {
    let ok =
        lines.len() == expected.len() && lines.iter().zip(expected).all(|(l, e)| matches(e, l));
    assert!(ok, "{what}: expected\n{expected:#?}\ngot\n{lines:#?}");
}

/// Transcript pattern match: `…` stands for any text, `#` for a number; the contents of every
/// `FLAGS (...)` list are compared as a set (RFC 3501 fixes no order).
pub fn matches(pattern: &str, line: &str) -> bool {
    fn m(p: &[char], s: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('…', rest)) => (0..=s.len()).any(|i| m(rest, &s[i..])),
            Some(('#', rest)) => {
                let n = s.iter().take_while(|c| c.is_ascii_digit()).count();
                n > 0 && m(rest, &s[n..])
            }
            Some((c, rest)) => s.first() == Some(c) && m(rest, &s[1..]),
        }
    }
    let p: Vec<char> = sort_flags(pattern).chars().collect();
    let s: Vec<char> = sort_flags(line).chars().collect();
    m(&p, &s)
}

/// Sorts the members of every `FLAGS (...)` list.
pub fn sort_flags(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("FLAGS (") {
        let (head, tail) = rest.split_at(i + "FLAGS (".len());
        out.push_str(head);
        let end = tail.find(')').unwrap_or(tail.len());
        let mut flags: Vec<&str> = tail[..end].split(' ').filter(|f| !f.is_empty()).collect();
        flags.sort_unstable();
        out.push_str(&flags.join(" "));
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// The `[APPENDUID validity uid]` of a tagged APPEND answer.
pub fn appenduid(tagged: &str) -> (u32, u32) {
    let code = tagged
        .split("[APPENDUID ")
        .nth(1)
        .unwrap_or_else(|| panic!("no APPENDUID in {tagged:?}"));
    let mut it = code.split([' ', ']']);
    let v = it.next().unwrap().parse().unwrap();
    let u = it.next().unwrap().parse().unwrap();
    (v, u)
}

/// A small message with a subject and body.
pub fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: {subject}\r\n\
         Date: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <{subject}@example.org>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}
