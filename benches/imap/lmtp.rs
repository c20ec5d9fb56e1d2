//! `lmtp`: LMTP deliveries per second of the corpus, with a 10-rule Sieve script active for the
//! recipient, over 1 connection and over [`CONNS`] in parallel; then IMAP STATUS on every folder
//! the script files into checks that each message arrived exactly once.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use crate::client::quote;
use crate::procfs::{proc_tree, stat_field};
use crate::{Bench, TIMEOUT, USER, err, mb};

/// Parallel connections of the second run.
const CONNS: usize = 4;
/// Envelope recipient: postfach and Dovecot (userdb by local part) both map it to `USER`.
const DOMAIN: &str = "example.org";

/// A family setup's filter, 10 rules: lists, shops, robots and big mail each to a folder, the
/// family's mail flagged and filed, replies marked, and a final keep. Every `fileinto` is
/// followed by `stop`, so each message lands in exactly one folder (checked by [`FOLDERS`]).
/// On the corpus (benches/imap/corpus.rs) most rules match some messages: List-Id on the
/// newsletters, `shop.example` on a fifth of the senders, Auto-Submitted on the notifications,
/// the 500K size on the larger attachments, Kowalski and Novak among the senders' names,
/// `lists.example.com` as a sender domain, and "invoice", "Re:", "travel"/"weekend" in subjects.
pub const SCRIPT: &str = r#"require ["fileinto", "mailbox", "imap4flags"];

# 1. Mailing lists and newsletters
if header :contains "List-Id" "news." {
    fileinto :create "Newsletters";
    stop;
}
# 2. Online shops
if address :domain :is "from" "shop.example" {
    fileinto :create "Shopping";
    stop;
}
# 3. Machines talking
if header :contains "Auto-Submitted" "auto-generated" {
    fileinto :create "Notifications";
    stop;
}
# 4. Big attachments, flagged so they get cleaned up
if size :over 500K {
    addflag "\\Flagged";
    fileinto :create "Large";
    stop;
}
# 5. Family, flagged
if anyof (header :contains "From" "Kowalski", header :contains "From" "Novak") {
    addflag "\\Flagged";
    fileinto :create "Family";
    stop;
}
# 6. The school's list server
if address :domain :is "from" "lists.example.com" {
    fileinto :create "School";
    stop;
}
# 7. Bills
if header :contains "Subject" ["invoice", "price", "order"] {
    fileinto :create "Bills";
    stop;
}
# 8. Replies to our mail are marked
if header :contains "Subject" "Re:" {
    addflag "$Reply";
}
# 9. Holidays
if header :contains "Subject" ["travel", "weekend"] {
    fileinto :create "Travel";
    stop;
}
# 10. Everything else stays in INBOX
keep;
"#;

/// Where [`SCRIPT`] files messages.
const FOLDERS: [&str; 9] = [
    "INBOX",
    "Newsletters",
    "Shopping",
    "Notifications",
    "Large",
    "Family",
    "School",
    "Bills",
    "Travel",
];

/// A minimal LMTP client (RFC 2033): LHLO once, then transactions of one recipient each,
/// MAIL/RCPT/DATA pipelined (RFC 2920) when the server advertises PIPELINING.
struct Lmtp {
    rd: BufReader<TcpStream>,
    wr: TcpStream,
    pipelining: bool,
    size: bool,
}

impl Lmtp {
    fn connect(addr: &str) -> io::Result<Lmtp> {
        let sa = addr.to_socket_addrs()?.next();
        let s = TcpStream::connect_timeout(&sa.ok_or_else(|| err("bad address"))?, TIMEOUT)?;
        s.set_read_timeout(Some(TIMEOUT))?;
        s.set_write_timeout(Some(TIMEOUT))?;
        s.set_nodelay(true)?;
        let rd = BufReader::new(s.try_clone()?);
        let mut c = Lmtp {
            rd,
            wr: s,
            pipelining: false,
            size: false,
        };
        c.expect(220, "greeting")?;
        c.wr.write_all(b"LHLO bench.example.org\r\n")?;
        let caps = c.expect(250, "LHLO")?;
        let has = |cap: &str| {
            caps.iter().any(|l| {
                let word = l.get(4..).unwrap_or("").split(' ').next().unwrap_or("");
                word.eq_ignore_ascii_case(cap)
            })
        };
        (c.pipelining, c.size) = (has("PIPELINING"), has("SIZE"));
        Ok(c)
    }

    /// Reads one reply (all its `NNN-` lines and the final `NNN `); returns code and lines.
    fn reply(&mut self) -> io::Result<(u16, Vec<String>)> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            if self.rd.read_line(&mut line)? == 0 {
                return Err(err("LMTP connection closed"));
            }
            let line = line.trim_end().to_string();
            let code = line.get(..3).and_then(|c| c.parse().ok());
            let Some(code) = code else {
                return Err(err(format!("bad LMTP reply {line:?}")));
            };
            let last = line.as_bytes().get(3) != Some(&b'-');
            lines.push(line);
            if last {
                return Ok((code, lines));
            }
        }
    }

    /// Reads one reply and fails unless its code is `want`.
    fn expect(&mut self, want: u16, what: &str) -> io::Result<Vec<String>> {
        let (code, lines) = self.reply()?;
        if code != want {
            return Err(err(format!("{what}: {}", lines.join(" / "))));
        }
        Ok(lines)
    }

    /// Delivers a message of `size` octets to `rcpt`: MAIL FROM, RCPT TO, DATA with `data`
    /// (the message dot-stuffed, see [`dot_stuff`]), one reply for the one recipient. A refusal
    /// is reported after RSET, leaving the connection usable.
    fn deliver(&mut self, from: &str, rcpt: &str, size: usize, data: &[u8]) -> io::Result<()> {
        let size = if self.size {
            format!(" SIZE={size}")
        } else {
            String::new()
        };
        let cmds = [
            format!("MAIL FROM:<{from}>{size}\r\n"),
            format!("RCPT TO:<{rcpt}>\r\n"),
            "DATA\r\n".to_string(),
        ];
        let mut codes = Vec::new();
        if self.pipelining {
            self.wr.write_all(cmds.concat().as_bytes())?;
            for _ in &cmds {
                codes.push(self.reply()?);
            }
        } else {
            for c in &cmds {
                self.wr.write_all(c.as_bytes())?;
                let r = self.reply()?;
                let refused = r.0 >= 400;
                codes.push(r);
                if refused {
                    break;
                }
            }
        }
        let want = [250, 250, 354];
        if let Some((_, lines)) = codes.iter().zip(want).find(|(r, w)| r.0 != *w).map(|x| x.0) {
            let why = lines.join(" / ");
            // DATA was refused (no 354): no content is expected, the transaction is reset.
            self.wr.write_all(b"RSET\r\n")?;
            self.expect(250, "RSET")?;
            return Err(err(format!("LMTP transaction refused: {why}")));
        }
        self.wr.write_all(data)?;
        self.expect(250, "delivery").map(drop)
    }

    fn quit(mut self) -> io::Result<()> {
        self.wr.write_all(b"QUIT\r\n")?;
        self.expect(221, "QUIT").map(drop)
    }
}

/// The DATA content: lines starting with `.` get another `.`, a CRLF is ensured at the end,
/// then the terminating `.` line.
fn dot_stuff(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(msg.len() + msg.len() / 64 + 8);
    let mut line_start = true;
    for &b in msg {
        if line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        if out.ends_with(b"\n") {
            out.pop();
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// CPU seconds of the server's process tree so far: its live processes' user+system time plus
/// what its root reaped (Dovecot's LMTP processes come and go), at 100 ticks per second.
fn cpu(root: u32) -> f64 {
    let field = |p: u32, n: usize| stat_field(p, n).and_then(|v| v.parse::<u64>().ok());
    let own: u64 = proc_tree(root)
        .into_iter()
        .map(|p| field(p, 11).unwrap_or(0) + field(p, 12).unwrap_or(0))
        .sum();
    let reaped = field(root, 13).unwrap_or(0) + field(root, 14).unwrap_or(0);
    (own + reaped) as f64 / 100.0
}

/// Messages in each of [`FOLDERS`], 0 for one that does not exist (yet).
fn counts(b: &Bench) -> io::Result<Vec<usize>> {
    let mut c = b.client()?;
    let mut out = Vec::new();
    for f in FOLDERS {
        let n = c
            .command(&format!("STATUS {} (MESSAGES)", quote(f)))
            .ok()
            .and_then(|rs| {
                rs.iter().find_map(|r| {
                    let rest = r.text.split_once("(MESSAGES ")?.1;
                    rest.split(')').next()?.trim().parse().ok()
                })
            });
        out.push(n.unwrap_or(0));
    }
    c.command("LOGOUT")?;
    Ok(out)
}

/// Delivers the corpus over `conns` connections (message k on connection k mod conns), all
/// starting together; returns the wall time. `data` is the corpus dot-stuffed beforehand, so
/// the client's own work stays out of the timing.
fn run(b: &Bench, data: &[Vec<u8>], addr: &str, conns: usize) -> io::Result<Duration> {
    let barrier = &Barrier::new(conns + 1);
    let rcpt = format!("{USER}@{DOMAIN}");
    let (rcpt, corpus) = (rcpt.as_str(), &b.corpus);
    let worker = move |k: usize| -> io::Result<()> {
        let c = Lmtp::connect(addr);
        barrier.wait(); // reached even when the connection failed, so nobody waits forever
        let mut c = c?;
        for (i, m) in corpus.iter().enumerate().skip(k).step_by(conns) {
            let from = format!("sender{i}@bounce.example.net");
            c.deliver(&from, rcpt, m.len(), &data[i])
                .map_err(|e| err(format!("message {i}: {e}")))?;
        }
        c.quit()
    };
    thread::scope(|s| {
        let workers: Vec<_> = (0..conns).map(|k| s.spawn(move || worker(k))).collect();
        barrier.wait();
        let t = Instant::now();
        let join = |w: thread::ScopedJoinHandle<'_, _>| w.join().unwrap_or(Err(err("panic")));
        let res = workers.into_iter().try_for_each(join);
        res.map(|()| t.elapsed())
    })
}

pub fn lmtp(b: &mut Bench) -> io::Result<()> {
    let why = "no LMTP address (postfach prints `listening lmtp`, Dovecot needs dovecot-lmtpd, \
        --addr needs --lmtp HOST:PORT)";
    let addr = b.srv.lmtp.clone().ok_or_else(|| err(why))?;
    match b.srv.install_sieve(SCRIPT) {
        Ok(()) => println!("sieve: 10-rule script active for {USER}"),
        Err(e) => {
            let line = "!".repeat(78);
            println!("{line}\nWARNING: NO SIEVE: {e}");
            println!("WARNING: the figures below are for plain delivery to INBOX, not comparable");
            println!("{line}");
            b.summary.push(("lmtp_sieve".into(), format!("NONE ({e})")));
        }
    }
    let (n, bytes) = (b.corpus.len(), b.corpus_bytes);
    let data: Vec<Vec<u8>> = b.corpus.iter().map(|m| dot_stuff(m)).collect();
    for conns in [1, CONNS] {
        let before = counts(b)?;
        let cpu0 = b.srv.pid.map(cpu);
        let time = run(b, &data, &addr, conns)?;
        let cpu = b.srv.pid.map(cpu).zip(cpu0).map(|(c1, c0)| c1 - c0);
        let mut after = counts(b)?;
        let gained = |after: &[usize]| after.iter().sum::<usize>() - before.iter().sum::<usize>();
        // Every 250 was sent after a durable commit, so the count should be final now; if it
        // is not, say so, and look again once a second (up to 5 s) to tell lag from loss.
        let mut waited = 0;
        while gained(&after) != n && waited < 5 {
            let got = gained(&after);
            println!("WARNING: STATUS counts {got} new messages, not {n}; looking again in 1 s");
            thread::sleep(Duration::from_secs(1));
            (waited, after) = (waited + 1, counts(b)?);
        }
        let key = match conns {
            1 => "lmtp_1conn".to_string(),
            c => format!("lmtp_{c}conns"),
        };
        let s = time.as_secs_f64();
        let rate = n as f64 / s;
        let short = format!("{rate:.0} msg/s");
        let mut detail = format!(
            "{n} msgs in {s:.2} s = {rate:.0} msg/s, {:.1} MB/s",
            mb(bytes) / s
        );
        if let Some(cpu) = cpu {
            detail += &format!(", server CPU {cpu:.2} s");
        }
        b.figure(&key, short, detail);
        let delta: Vec<usize> = after
            .iter()
            .zip(&before)
            .map(|(a, b)| a.saturating_sub(*b))
            .collect();
        let filed: Vec<String> = FOLDERS
            .iter()
            .zip(&delta)
            .filter(|(_, d)| **d > 0)
            .map(|(f, d)| format!("{f} {d}"))
            .collect();
        println!("{key}: filed {}", filed.join(", "));
        let total: usize = delta.iter().sum();
        if total != n {
            println!("WARNING: {key}: the folders gained {total} messages, not {n}");
        } else if waited > 0 {
            println!("{key}: all {n} counted by STATUS after {waited} s more");
        }
    }
    Ok(())
}
