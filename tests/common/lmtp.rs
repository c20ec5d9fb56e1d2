//! A raw LMTP client (RFC 2033) over TCP or a unix socket, and `postfach` CLI helpers for
//! delivery tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use super::BIN;

/// One reply: code and the text lines (without `CODE-`/`CODE `).
#[derive(Debug)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    /// `CODE TEXT` of the last line, e.g. `250 2.1.5 <a@b> Recipient ok`.
    pub fn text(&self) -> String {
        format!(
            "{} {}",
            self.code,
            self.lines.last().map_or("", String::as_str)
        )
    }
}

pub struct Lmtp {
    reader: BufReader<Box<dyn Read + Send>>,
    writer: Box<dyn Write + Send>,
    pub greeting: Reply,
}

impl Lmtp {
    /// Connects to `127.0.0.1:PORT` or a socket path, as printed by `listening lmtp`.
    pub fn connect(addr: &str) -> Lmtp {
        let (r, w): (Box<dyn Read + Send>, Box<dyn Write + Send>) = if addr.starts_with('/') {
            let s = UnixStream::connect(addr).expect("connect lmtp socket");
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            (Box::new(s.try_clone().unwrap()), Box::new(s))
        } else {
            let s = TcpStream::connect(addr).expect("connect lmtp");
            s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
            (Box::new(s.try_clone().unwrap()), Box::new(s))
        };
        let mut c = Lmtp {
            reader: BufReader::new(r),
            writer: w,
            greeting: Reply {
                code: 0,
                lines: vec![],
            },
        };
        c.greeting = c.reply();
        c
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
        self.writer.flush().unwrap();
    }

    /// Reads one (possibly multi-line) reply.
    pub fn reply(&mut self) -> Reply {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            let n = self.reader.read_line(&mut line).expect("read reply");
            assert!(n > 0, "LMTP connection closed after {lines:?}");
            let line = line.trim_end_matches(['\r', '\n']);
            let code: u16 = line[..3].parse().expect("reply code");
            lines.push(line.get(4..).unwrap_or("").to_string());
            if line.as_bytes().get(3) != Some(&b'-') {
                return Reply { code, lines };
            }
        }
    }

    /// Sends one command line and reads its reply.
    pub fn cmd(&mut self, line: &str) -> Reply {
        self.send(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// A whole transaction, one command at a time: returns the RCPT replies and the DATA
    /// replies (one per accepted recipient; empty if DATA was refused).
    pub fn transaction(
        &mut self,
        from: &str,
        rcpts: &[&str],
        msg: &[u8],
    ) -> (Vec<Reply>, Vec<Reply>) {
        assert_eq!(self.cmd(&format!("MAIL FROM:<{from}>")).code, 250);
        let rr: Vec<Reply> = rcpts
            .iter()
            .map(|r| self.cmd(&format!("RCPT TO:<{r}>")))
            .collect();
        let accepted = rr.iter().filter(|r| r.code == 250).count();
        let d = self.cmd("DATA");
        if d.code != 354 {
            return (rr, vec![]);
        }
        self.send(&dot_stuff(msg));
        self.send(b".\r\n");
        let dr = (0..accepted).map(|_| self.reply()).collect();
        (rr, dr)
    }
}

/// Connects, says LHLO, delivers one message to `rcpts`; the DATA replies.
pub fn deliver(addr: &str, from: &str, rcpts: &[&str], msg: &[u8]) -> Vec<Reply> {
    let mut c = Lmtp::connect(addr);
    assert_eq!(c.cmd("LHLO test.example").code, 250);
    let (_, d) = c.transaction(from, rcpts, msg);
    c.cmd("QUIT");
    d
}

/// Dot-stuffs a message with CRLF line ends (RFC 5321 §4.5.2); adds a final CRLF if missing.
pub fn dot_stuff(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + 16);
    let mut start = true;
    for &b in msg {
        if start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        start = b == b'\n';
    }
    if !out.ends_with(b"\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Runs `postfach ARGS --data DATA` with `stdin`; returns its output.
pub fn postfach(data: &Path, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("RUST_LOG", "warn")
        .spawn()
        .expect("spawn postfach");
    let mut input = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out
}

/// Like [`postfach`], asserting success; returns stdout.
pub fn postfach_ok(data: &Path, args: &[&str], stdin: &[u8]) -> String {
    let out = postfach(data, args, stdin);
    assert!(
        out.status.success(),
        "postfach {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
