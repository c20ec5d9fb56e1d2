//! A minimal blocking IMAP client for the benchmark.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};

use crate::{TIMEOUT, err};

/// APPENDs in flight at once in [`Client::append_pipelined`].
const PIPELINE: usize = 64;

/// A minimal blocking IMAP client: one command at a time (APPEND may be pipelined), tags `a1`,
/// `a2`, ...
pub struct Client {
    rd: BufReader<TcpStream>,
    wr: TcpStream,
    tag: u32,
    /// The server advertised LITERAL+, so APPEND sends `{n+}` without waiting for `+`.
    pub literal_plus: bool,
    /// Bytes of responses read from the server: lines with their CRLF, and literals.
    pub received: u64,
}

/// One server response: its text with each literal left as `{n}`, and the literals' bytes.
#[derive(Default)]
pub struct Response {
    pub text: String,
    pub literals: Vec<Vec<u8>>,
}

pub fn quote(s: &str) -> String {
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
        let (wr, tag, literal_plus, received) = (s, 0, false, 0);
        let mut c = Client {
            rd,
            wr,
            tag,
            literal_plus,
            received,
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
            self.received += line.len() as u64;
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\r', '\n']);
            r.text.push_str(line);
            let Some(n) = literal_len(line) else {
                return Ok(r);
            };
            let mut lit = vec![0; n];
            self.rd.read_exact(&mut lit)?;
            self.received += n as u64;
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
        let tag = self.send_append(mailbox, flags, msg)?;
        self.finish(&tag).map(drop)
    }

    /// APPENDs `msgs` in order, [`PIPELINE`] at a time without waiting for each tagged answer,
    /// when LITERAL+ allows; else one after the other.
    pub fn append_pipelined(
        &mut self,
        mailbox: &str,
        flags: &str,
        msgs: &[Vec<u8>],
    ) -> io::Result<()> {
        if !self.literal_plus {
            return msgs.iter().try_for_each(|m| self.append(mailbox, flags, m));
        }
        for batch in msgs.chunks(PIPELINE) {
            let tags: Vec<String> = batch
                .iter()
                .map(|m| self.send_append(mailbox, flags, m))
                .collect::<Result<_, _>>()?;
            tags.iter().try_for_each(|t| self.finish(t).map(drop))?;
        }
        Ok(())
    }

    /// Sends an APPEND (with LITERAL+ in one write) and returns its tag, for [`Client::finish`].
    fn send_append(&mut self, mailbox: &str, flags: &str, msg: &[u8]) -> io::Result<String> {
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
        Ok(tag)
    }

    /// Sends IDLE and reads up to the server's `+`; returns the tag for [`Client::done`].
    pub fn idle(&mut self) -> io::Result<String> {
        let tag = self.next_tag();
        self.wr.write_all(format!("{tag} IDLE\r\n").as_bytes())?;
        loop {
            let r = self.read_response()?;
            if r.text.starts_with('+') {
                return Ok(tag);
            }
            if r.text.starts_with(&format!("{tag} ")) {
                return Err(err(r.text));
            }
        }
    }

    /// The socket, to shut down from another thread.
    pub fn hangup_handle(&self) -> io::Result<TcpStream> {
        self.wr.try_clone()
    }

    /// Ends IDLE with DONE; returns the untagged responses that came before the tagged OK.
    pub fn done(&mut self, tag: &str) -> io::Result<Vec<Response>> {
        self.wr.write_all(b"DONE\r\n")?;
        self.finish(tag)
    }

    /// SELECT; returns the EXISTS count.
    pub fn select(&mut self, mailbox: &str) -> io::Result<usize> {
        let resp = self.command(&format!("SELECT {}", quote(mailbox)))?;
        let exists = resp.iter().find_map(|r| untagged_num(&r.text, "EXISTS"));
        exists.ok_or_else(|| err("SELECT gave no EXISTS"))
    }
}

/// N of `* N KEYWORD` (`* 5 EXISTS`, `* 5 FETCH (...)`).
pub fn untagged_num(text: &str, keyword: &str) -> Option<usize> {
    let (n, rest) = text.strip_prefix("* ")?.split_once(' ')?;
    let word = rest.split(' ').next()?;
    (word == keyword).then(|| n.parse().ok()).flatten()
}

/// The argument of a response code, e.g. `123` of `* OK [UIDVALIDITY 123] ...`.
pub fn code<'a>(resps: &'a [Response], name: &str) -> Option<&'a str> {
    resps.iter().find_map(|r| {
        let rest = r.text.split_once(&format!("[{name} "))?.1;
        rest.split(']').next()
    })
}

/// How many numbers a sequence set such as `3,7:9` holds.
pub fn set_len(set: &str) -> usize {
    let range = |r: &str| match r.split_once(':') {
        Some((a, b)) => {
            let (a, b) = (a.parse().unwrap_or(0usize), b.parse().unwrap_or(0usize));
            a.abs_diff(b) + 1
        }
        None => 1,
    };
    set.split(',').filter(|r| !r.is_empty()).map(range).sum()
}
