//! LMTP (RFC 2033): how an MTA (Postfix, Exim, OpenSMTPD) hands mail to postfach, over TCP
//! (`--lmtp ADDR`) or a unix socket (`--lmtp-socket PATH`).
//!
//! Layout: the protocol is sans-I/O — [`parse`] turns a command line into a [`Cmd`],
//! [`Transaction::handle`] decides the reply, [`DotDecoder`] undoes dot-stuffing on the DATA
//! stream — and [`serve`] is the socket loop around them. Delivery itself is `src/deliver.rs`.
//!
//! Implementation notes:
//! - After DATA there is one reply per accepted recipient, in RCPT order (RFC 2033 §4.2); all
//!   recipients' deliveries are queued at once so the store commits them together, and each
//!   250 is sent only after that durable commit.
//! - PIPELINING (RFC 2920): replies are buffered and flushed whenever no more input is
//!   already buffered, i.e. before the server would wait for the client.
//! - Bare LF is accepted as a line end in commands and in DATA (`.` + LF ends it too); stored
//!   content is CRLF-normalised by the store.
//! - A message larger than `--max-message-mb` is read to its end and refused with 552 5.3.4,
//!   without being kept in memory beyond the limit.

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use log::{debug, info, warn};
use smol::Async;
use smol::future::FutureExt;
use smol::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};

use crate::deliver::{self, Failure, Job, Limits, Rcpt, Settings};
use crate::server::Ctx;
use crate::shutdown::Shutdown;
use crate::store::Store;
use crate::store::delivery::Filed;

/// Longest command line (RFC 5321 §4.5.3.1.4 asks for 512; parameters can make it longer).
const MAX_COMMAND_LINE: usize = 4096;
/// Most recipients per transaction (RFC 5321 §4.5.3.1.8 minimum).
const MAX_RCPTS: usize = 100;
/// Wait for a command or a piece of DATA (RFC 5321 §4.5.3.2 suggests 5 and 3 minutes).
const READ_TIMEOUT: Duration = Duration::from_secs(300);

/// One server reply line (or several for LHLO).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    /// RFC 3463 enhanced status code, e.g. `2.1.5`; empty for 220/221 greetings.
    pub status: &'static str,
    pub text: String,
}

impl Reply {
    fn new(code: u16, status: &'static str, text: impl Into<String>) -> Reply {
        Reply {
            code,
            status,
            text: text.into(),
        }
    }

    /// Wire form: `CODE STATUS TEXT CRLF`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let sep = if self.status.is_empty() { "" } else { " " };
        out.extend_from_slice(
            format!("{} {}{sep}{}\r\n", self.code, self.status, self.text).as_bytes(),
        );
    }
}

/// A parsed LMTP command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmd {
    Lhlo(String),
    /// `MAIL FROM:<path> [SIZE=n] [BODY=7BIT|8BITMIME]`.
    Mail {
        from: String,
        size: Option<u64>,
    },
    Rcpt(String),
    Data,
    Rset,
    Noop,
    Quit,
    /// HELO/EHLO: RFC 2033 §4.1 forbids accepting them on an LMTP port.
    Helo,
    Vrfy,
}

/// Parses one command line (CRLF or LF already removed). Errors are the reply to send.
pub fn parse(line: &[u8]) -> Result<Cmd, Reply> {
    let line = std::str::from_utf8(line)
        .map_err(|_| Reply::new(500, "5.5.2", "Command is not UTF-8"))?
        .trim_end_matches('\r');
    let (verb, rest) = line.split_once(' ').unwrap_or((line, ""));
    let syntax = |what: &str| Reply::new(501, "5.5.4", format!("Syntax: {what}"));
    Ok(match verb.to_ascii_uppercase().as_str() {
        "LHLO" if !rest.trim().is_empty() => Cmd::Lhlo(rest.trim().to_string()),
        "LHLO" => return Err(syntax("LHLO domain")),
        "HELO" | "EHLO" => Cmd::Helo,
        "MAIL" => {
            let (path, params) =
                path_after(rest, "FROM:").ok_or_else(|| syntax("MAIL FROM:<address>"))?;
            let mut size = None;
            for p in params.split_ascii_whitespace() {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                match k.to_ascii_uppercase().as_str() {
                    // RFC 1870.
                    "SIZE" => size = Some(v.parse().map_err(|_| syntax("SIZE=number"))?),
                    // RFC 6152: both are stored as they come.
                    "BODY"
                        if v.eq_ignore_ascii_case("7BIT") || v.eq_ignore_ascii_case("8BITMIME") => {
                    }
                    "BODY" => return Err(Reply::new(555, "5.5.4", "Unsupported BODY type")),
                    _ => {
                        return Err(Reply::new(
                            555,
                            "5.5.4",
                            format!("Unsupported parameter {k}"),
                        ));
                    }
                }
            }
            Cmd::Mail { from: path, size }
        }
        "RCPT" => {
            let (path, _) = path_after(rest, "TO:").ok_or_else(|| syntax("RCPT TO:<address>"))?;
            if path.is_empty() {
                return Err(syntax("RCPT TO:<address>"));
            }
            Cmd::Rcpt(path)
        }
        "DATA" => Cmd::Data,
        "RSET" => Cmd::Rset,
        "NOOP" => Cmd::Noop,
        "QUIT" => Cmd::Quit,
        "VRFY" => Cmd::Vrfy,
        _ => return Err(Reply::new(500, "5.5.2", "Unknown command")),
    })
}

/// `FROM:<path> params` → (path without brackets, params). Lenient about spaces and brackets.
fn path_after<'a>(rest: &'a str, keyword: &str) -> Option<(String, &'a str)> {
    let rest = rest.trim_start();
    if rest.len() < keyword.len() || !rest[..keyword.len()].eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = rest[keyword.len()..].trim_start();
    if let Some(r) = rest.strip_prefix('<') {
        let end = r.find('>')?;
        Some((r[..end].to_string(), &r[end + 1..]))
    } else {
        let (p, params) = rest.split_once(' ').unwrap_or((rest, ""));
        Some((p.to_string(), params))
    }
}

/// Undoes dot-stuffing (RFC 5321 §4.5.2) on the DATA stream and finds its end (`.` alone on a
/// line), keeping at most `limit` octets.
#[derive(Debug)]
pub struct DotDecoder {
    state: DotState,
    pub data: Vec<u8>,
    limit: u64,
    /// Octets of content seen, including any beyond the limit.
    pub total: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DotState {
    LineStart,
    Dot,
    DotCr,
    Middle,
    Done,
}

impl DotDecoder {
    pub fn new(limit: u64) -> DotDecoder {
        DotDecoder {
            state: DotState::LineStart,
            data: Vec::new(),
            limit,
            total: 0,
        }
    }

    /// True once the terminating line was seen.
    pub fn done(&self) -> bool {
        self.state == DotState::Done
    }

    /// True if the content exceeded the limit (and was cut).
    pub fn too_big(&self) -> bool {
        self.total > self.limit
    }

    fn push(&mut self, b: u8) {
        self.extend(&[b]);
    }

    /// Content octets; those beyond the limit are only counted.
    fn extend(&mut self, bytes: &[u8]) {
        let room = self.limit.saturating_sub(self.total);
        let keep = bytes.len().min(usize::try_from(room).unwrap_or(usize::MAX));
        self.data.extend_from_slice(&bytes[..keep]);
        self.total += bytes.len() as u64;
    }

    /// Consumes bytes up to and including the terminator; returns how many were used.
    pub fn feed(&mut self, input: &[u8]) -> usize {
        let mut i = 0;
        while i < input.len() {
            if self.state == DotState::Middle {
                // Inside a line: everything up to the next line that starts with a dot is
                // content as it is, whole lines at a time (such lines are rare).
                match memchr::memmem::find(&input[i..], b"\n.") {
                    Some(k) => {
                        self.extend(&input[i..=i + k]);
                        i += k + 1;
                        self.state = DotState::LineStart;
                    }
                    None => {
                        self.extend(&input[i..]);
                        if input.last() == Some(&b'\n') {
                            self.state = DotState::LineStart;
                        }
                        i = input.len();
                    }
                }
                continue;
            }
            if self.state == DotState::LineStart && input[i] != b'.' {
                // An ordinary line: content from its first octet on.
                self.state = DotState::Middle;
                continue;
            }
            let b = input[i];
            i += 1;
            self.state = match (self.state, b) {
                (DotState::Done, _) => return i - 1,
                (DotState::LineStart, b'.') => DotState::Dot,
                (DotState::Dot, b'\r') => DotState::DotCr,
                (DotState::Dot | DotState::DotCr, b'\n') => {
                    self.state = DotState::Done;
                    return i;
                }
                (DotState::DotCr, _) => {
                    // `.` CR x: the dot was stuffing; the CR is content.
                    self.push(b'\r');
                    self.push(b);
                    DotState::Middle
                }
                (_, b'\n') => {
                    self.push(b);
                    DotState::LineStart
                }
                _ => {
                    // A leading dot (state Dot) is dropped: dot-unstuffing.
                    self.push(b);
                    DotState::Middle
                }
            };
        }
        input.len()
    }
}

/// Recipients of this session that mapped to an account without quota limits, for
/// [`KNOWN_FOR`]: an MTA sends one message after the other to the same few addresses, and
/// each RCPT would otherwise wait for a store read. A user deleted or given a limit meanwhile
/// is refused at DATA instead (one reply per recipient, RFC 2033 §4.2), by the delivery itself.
#[derive(Default)]
struct Known(Vec<(String, Rcpt, Instant)>);

/// How long a [`Known`] recipient is trusted.
const KNOWN_FOR: Duration = Duration::from_secs(5);
/// Most recipients a session remembers.
const KNOWN_MAX: usize = 16;

impl Known {
    fn get(&self, addr: &str) -> Option<(Rcpt, Option<Limits>)> {
        let now = Instant::now();
        self.0
            .iter()
            .find(|(a, _, at)| a == addr && now.duration_since(*at) < KNOWN_FOR)
            .map(|(_, r, _)| (r.clone(), None))
    }

    fn put(&mut self, addr: &str, rcpt: &Rcpt) {
        self.0.retain(|(a, _, _)| a != addr);
        if self.0.len() >= KNOWN_MAX {
            self.0.remove(0);
        }
        self.0
            .push((addr.to_string(), rcpt.clone(), Instant::now()));
    }
}

/// The state of one LMTP connection between commands.
#[derive(Debug, Default)]
pub struct Transaction {
    lhlo: bool,
    from: Option<String>,
    size: Option<u64>,
    pub rcpts: Vec<Rcpt>,
}

/// What the socket loop must do after a command.
#[derive(Debug)]
pub enum Next {
    Reply(Vec<Reply>),
    /// Look the recipient up, then answer (needs the store).
    Rcpt(String),
    /// Send 354, read the message, deliver.
    Data,
    Quit,
}

impl Transaction {
    /// The protocol decision for one parsed command.
    pub fn handle(&mut self, cmd: Cmd, settings: &Settings, host: &str) -> Next {
        let one = |code, status, text: &str| Next::Reply(vec![Reply::new(code, status, text)]);
        match cmd {
            Cmd::Lhlo(_) => {
                self.lhlo = true;
                self.reset();
                let max = settings.max_message;
                Next::Reply(
                    [
                        host.to_string(),
                        "PIPELINING".into(),
                        "ENHANCEDSTATUSCODES".into(),
                        "8BITMIME".into(),
                        format!("SIZE {max}"),
                    ]
                    .into_iter()
                    .map(|t| Reply::new(250, "", t))
                    .collect(),
                )
            }
            Cmd::Helo => one(500, "5.5.1", "This is LMTP: use LHLO"),
            _ if !self.lhlo && !matches!(cmd, Cmd::Quit | Cmd::Noop | Cmd::Rset) => {
                one(503, "5.5.1", "Send LHLO first")
            }
            Cmd::Mail { .. } if self.from.is_some() => one(503, "5.5.1", "Nested MAIL command"),
            Cmd::Mail { size: Some(n), .. } if n > settings.max_message => {
                one(552, "5.3.4", "Message too big")
            }
            Cmd::Mail { from, size } => {
                self.from = Some(from);
                self.size = size;
                one(250, "2.1.0", "Sender ok")
            }
            Cmd::Rcpt(_) if self.from.is_none() => one(503, "5.5.1", "Send MAIL first"),
            Cmd::Rcpt(_) if self.rcpts.len() >= MAX_RCPTS => {
                one(452, "4.5.3", "Too many recipients")
            }
            Cmd::Rcpt(addr) => Next::Rcpt(addr),
            Cmd::Data if self.rcpts.is_empty() => one(503, "5.5.1", "No valid recipients"),
            Cmd::Data => Next::Data,
            Cmd::Rset => {
                self.reset();
                one(250, "2.0.0", "Reset")
            }
            Cmd::Noop => one(250, "2.0.0", "Ok"),
            Cmd::Vrfy => one(252, "2.5.0", "Cannot verify, send some mail"),
            Cmd::Quit => Next::Quit,
        }
    }

    fn reset(&mut self) {
        self.from = None;
        self.size = None;
        self.rcpts.clear();
    }

    /// The RCPT reply once the address has been looked up (`None`: unknown user).
    pub fn rcpt_result(&mut self, addr: &str, found: Result<Option<(Rcpt, bool)>, ()>) -> Reply {
        match found {
            Ok(Some((rcpt, full))) => {
                if full {
                    return Reply::new(552, "5.2.2", format!("<{addr}> Mailbox full"));
                }
                self.rcpts.push(rcpt);
                Reply::new(250, "2.1.5", format!("<{addr}> Recipient ok"))
            }
            Ok(None) => Reply::new(550, "5.1.1", format!("<{addr}> No such user")),
            Err(()) => Reply::new(
                451,
                "4.3.0",
                format!("<{addr}> Temporary failure, try again"),
            ),
        }
    }

    /// The per-recipient reply after DATA (RFC 2033 §4.2).
    pub fn data_reply(rcpt: &Rcpt, r: &Result<Filed, Failure>) -> Reply {
        let a = &rcpt.address;
        match r {
            Ok(_) => Reply::new(250, "2.0.0", format!("<{a}> Delivered")),
            Err(Failure::UnknownUser) => Reply::new(550, "5.1.1", format!("<{a}> No such user")),
            Err(Failure::OverQuota) => {
                Reply::new(552, "5.2.2", format!("<{a}> Mailbox full, quota exceeded"))
            }
            Err(Failure::TooBig) => Reply::new(552, "5.3.4", format!("<{a}> Message too big")),
            Err(Failure::Temporary(_)) => Reply::new(
                451,
                "4.3.0",
                format!("<{a}> Temporary storage failure, try again"),
            ),
        }
    }

    /// Ends the transaction after DATA, returning the sender and recipients.
    fn take(&mut self) -> (String, Vec<Rcpt>) {
        let from = self.from.take().unwrap_or_default();
        self.size = None;
        (from, std::mem::take(&mut self.rcpts))
    }
}

/// Encodes a group of replies; all but the last line of a group use `CODE-` (RFC 5321 §4.2.1).
fn encode_group(replies: &[Reply], out: &mut Vec<u8>) {
    for (i, r) in replies.iter().enumerate() {
        let mut line = Vec::new();
        r.encode(&mut line);
        if i + 1 < replies.len() {
            line[3] = b'-';
        }
        out.extend_from_slice(&line);
    }
}

/// The name in the greeting and LHLO reply.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Bound LMTP listeners.
pub struct Listeners {
    tcp: Vec<Async<TcpListener>>,
    unix: Option<Async<std::os::unix::net::UnixListener>>,
}

/// Binds `--lmtp` addresses and the `--lmtp-socket` path (mode 0660); prints
/// `listening lmtp ADDR` for each, as tests and scripts read it.
pub fn bind(tcp: &[SocketAddr], socket: Option<&PathBuf>) -> Result<Listeners, String> {
    let mut out = Listeners {
        tcp: Vec::new(),
        unix: None,
    };
    for addr in tcp {
        let l = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let local = l.local_addr().map_err(|e| e.to_string())?;
        out.tcp.push(Async::new(l).map_err(|e| e.to_string())?);
        println!("listening lmtp {local}");
        info!("LMTP listening on {local}");
    }
    if let Some(path) = socket {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::remove_file(path);
        let l = std::os::unix::net::UnixListener::bind(path)
            .map_err(|e| format!("cannot listen on {}: {e}", path.display()))?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
            .map_err(|e| e.to_string())?;
        out.unix = Some(Async::new(l).map_err(|e| e.to_string())?);
        println!("listening lmtp {}", path.display());
        info!("LMTP listening on {}", path.display());
    }
    Ok(out)
}

/// Connections being served, across all LMTP listeners.
static CONNECTIONS: AtomicUsize = AtomicUsize::new(0);

/// Spawns the accept loops.
pub fn spawn(listeners: Listeners, ctx: Arc<Ctx>) {
    let settings = Arc::new(settings(&ctx.config));
    let host: Arc<str> = host_name().into();
    for l in listeners.tcp {
        let (ctx, settings, host) = (ctx.clone(), settings.clone(), host.clone());
        smol::spawn(async move {
            // Until shutdown: a loop left running would keep `ctx` (and the database) alive.
            while let Some(accepted) = accept_until_shutdown(l.accept(), &ctx).await {
                let Ok((stream, peer)) = accepted else {
                    smol::Timer::after(Duration::from_millis(100)).await;
                    continue;
                };
                let _ = stream.get_ref().set_nodelay(true);
                let (ctx, settings, host) = (ctx.clone(), settings.clone(), host.clone());
                smol::spawn(async move {
                    limited(&ctx, &peer.to_string(), &stream, &settings, &host).await;
                })
                .detach();
            }
        })
        .detach();
    }
    if let Some(l) = listeners.unix {
        smol::spawn(async move {
            while let Some(accepted) = accept_until_shutdown(l.accept(), &ctx).await {
                let Ok((stream, _)) = accepted else {
                    smol::Timer::after(Duration::from_millis(100)).await;
                    continue;
                };
                let (ctx, settings, host) = (ctx.clone(), settings.clone(), host.clone());
                smol::spawn(async move {
                    limited(&ctx, "unix socket", &stream, &settings, &host).await;
                })
                .detach();
            }
        })
        .detach();
    }
}

/// The next accepted connection, or `None` once the server shuts down.
async fn accept_until_shutdown<T>(accept: impl Future<Output = T>, ctx: &Ctx) -> Option<T> {
    async { Some(accept.await) }
        .or(async {
            ctx.shutdown.wait().await;
            None
        })
        .await
}

/// Delivery settings from the server configuration.
pub fn settings(c: &crate::config::Config) -> Settings {
    Settings {
        max_message: c.max_message,
        spam_junk: c.spam_junk,
    }
}

async fn limited<S>(ctx: &Ctx, who: &str, s: &S, settings: &Settings, host: &str)
where
    for<'a> &'a S: AsyncRead + AsyncWrite + Unpin,
{
    let n = CONNECTIONS.fetch_add(1, Ordering::SeqCst) + 1;
    if n > ctx.config.max_connections {
        warn!("LMTP connection from {who} refused: {n} connections");
        let mut w = s;
        let _ = w
            .write_all(b"421 4.3.2 Too many connections, try again later\r\n")
            .await;
    } else if let Err(e) = serve(s, s, &ctx.store, settings, host, &ctx.shutdown).await {
        debug!("LMTP connection from {who} ended: {e}");
    }
    CONNECTIONS.fetch_sub(1, Ordering::SeqCst);
}

/// Waits for `fut` at most [`READ_TIMEOUT`].
async fn timed<T>(fut: impl Future<Output = std::io::Result<T>>) -> std::io::Result<T> {
    crate::imap::session::timeout(READ_TIMEOUT, fut)
        .await
        .unwrap_or_else(|| Err(std::io::ErrorKind::TimedOut.into()))
}

/// Reads one line of at most `max` octets (LF or CRLF). `Ok(None)` at EOF; an overlong line
/// is consumed and returned as `Err(())` inside.
async fn read_line(
    r: &mut (impl AsyncBufRead + Unpin),
    max: usize,
) -> std::io::Result<Option<Result<Vec<u8>, ()>>> {
    let mut line = Vec::new();
    let mut overlong = false;
    loop {
        let buf = timed(r.fill_buf()).await?;
        if buf.is_empty() {
            return Ok(None);
        }
        let (take, end) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        if !overlong {
            line.extend_from_slice(&buf[..take]);
            if line.len() > max + 2 {
                overlong = true;
                line.clear();
            }
        }
        r.consume(take);
        if end {
            if overlong {
                return Ok(Some(Err(())));
            }
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(Some(Ok(line)));
        }
    }
}

/// Runs one LMTP connection.
pub async fn serve(
    reader: impl AsyncRead + Unpin,
    mut writer: impl AsyncWrite + Unpin,
    store: &Store,
    settings: &Settings,
    host: &str,
    shutdown: &Shutdown,
) -> std::io::Result<()> {
    // Message data arrives in large writes: read it in few calls (an MTA keeps few connections).
    let mut r = BufReader::with_capacity(64 * 1024, reader);
    let mut out = Vec::new();
    Reply::new(220, "", format!("{host} postfach LMTP ready")).encode(&mut out);
    let mut t = Transaction::default();
    let mut known = Known::default();
    loop {
        // Pipelining: answer everything before waiting for more input.
        if r.buffer().is_empty() && !out.is_empty() {
            writer.write_all(&out).await?;
            writer.flush().await?;
            out.clear();
        }
        // Between commands a shutdown closes the session (RFC 5321 §3.8); a pipelined group
        // already received is answered first, a message being received is delivered first.
        let stop = shutdown.is_triggered() && r.buffer().is_empty();
        let read = async {
            if stop {
                return None;
            }
            Some(read_line(&mut r, MAX_COMMAND_LINE).await)
        };
        let next = read.or(async {
            shutdown.wait().await;
            None
        });
        let Some(next) = next.await else {
            Reply::new(421, "4.3.2", format!("{host} Service shutting down")).encode(&mut out);
            writer.write_all(&out).await?;
            return writer.flush().await;
        };
        let line = match next? {
            None => return Ok(()),
            Some(Err(())) => {
                Reply::new(500, "5.5.2", "Line too long").encode(&mut out);
                continue;
            }
            Some(Ok(l)) => l,
        };
        let cmd = match parse(&line) {
            Ok(c) => c,
            Err(reply) => {
                reply.encode(&mut out);
                continue;
            }
        };
        match t.handle(cmd, settings, host) {
            Next::Reply(replies) => encode_group(&replies, &mut out),
            Next::Quit => {
                Reply::new(221, "2.0.0", "Bye").encode(&mut out);
                writer.write_all(&out).await?;
                return writer.flush().await;
            }
            Next::Rcpt(addr) => {
                let size = t.size;
                let cached = known.get(&addr);
                let hit = cached.is_some();
                let found = match cached {
                    Some(rcpt) => Ok(Some(rcpt)),
                    None => deliver::map_address(store, &addr).await,
                };
                let found = match found {
                    Ok(Some((rcpt, None))) => {
                        if !hit {
                            known.put(&addr, &rcpt);
                        }
                        Ok(Some((rcpt, false)))
                    }
                    Ok(Some((rcpt, Some((u, used))))) => {
                        // Refuse early when the declared size cannot fit (RFC 1870 §6.2).
                        let full = u.quota_messages.is_some_and(|q| used.messages >= q)
                            || u.quota_storage
                                .is_some_and(|q| used.storage + size.unwrap_or(0) > q);
                        Ok(Some((rcpt, full)))
                    }
                    Ok(None) => Ok(None),
                    Err(e) => {
                        warn!("LMTP recipient lookup failed: {e}");
                        Err(())
                    }
                };
                t.rcpt_result(&addr, found).encode(&mut out);
            }
            Next::Data => {
                Reply::new(354, "", "End data with <CR><LF>.<CR><LF>").encode(&mut out);
                writer.write_all(&out).await?;
                writer.flush().await?;
                out.clear();
                // The writer may hold a commit open for this message (group commit).
                let receiving = store.coming();
                let mut dec = DotDecoder::new(settings.max_message);
                // The declared size (RFC 1870) saves growing the buffer step by step; capped, as
                // nothing has arrived yet.
                let expect = t.size.unwrap_or(0).min(settings.max_message).min(4 << 20);
                // With room for the trace headers delivery puts in front.
                dec.data.reserve(expect as usize + 512);
                while !dec.done() {
                    let buf = timed(r.fill_buf()).await?;
                    if buf.is_empty() {
                        return Ok(());
                    }
                    let n = dec.feed(buf);
                    r.consume(n);
                }
                let (from, rcpts) = t.take();
                let too_big = dec.too_big();
                let body = Arc::new(std::mem::take(&mut dec.data));
                // Every recipient's delivery starts at once: one group commit for all. A lone
                // one runs in this task (no spawn, no extra wake-up before its reply).
                let delivery = |rcpt: &Rcpt| {
                    let (store, settings) = (store.clone(), settings.clone());
                    let (rcpt, from, body) = (rcpt.clone(), from.clone(), body.clone());
                    let coming = store.coming();
                    async move {
                        if too_big {
                            return Err(Failure::TooBig);
                        }
                        let job = Job {
                            rcpt: &rcpt,
                            from: Some(&from),
                            delivered_to: true,
                            mailbox: None,
                        };
                        deliver::deliver(&store, &settings, job, body, coming).await
                    }
                };
                let mut results = Vec::with_capacity(rcpts.len());
                if let [rcpt] = rcpts.as_slice() {
                    let only = delivery(rcpt);
                    // The delivery holds its own announcement until it is submitted, and the
                    // only reference to the content (so the buffer is reused).
                    drop((receiving, body));
                    results.push(only.await);
                } else {
                    let tasks: Vec<_> = rcpts.iter().map(|r| smol::spawn(delivery(r))).collect();
                    drop((receiving, body));
                    for task in tasks {
                        results.push(task.await);
                    }
                }
                for (rcpt, result) in rcpts.iter().zip(results) {
                    if let Err(Failure::Temporary(e)) = &result {
                        warn!("LMTP delivery to {} failed: {e}", rcpt.user);
                    }
                    Transaction::data_reply(rcpt, &result).encode(&mut out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(chunks: &[&[u8]], limit: u64) -> (DotDecoder, usize) {
        let mut d = DotDecoder::new(limit);
        let mut used = 0;
        for c in chunks {
            used += d.feed(c);
        }
        (d, used)
    }

    #[test]
    fn dot_unstuffing() {
        let (d, used) = decode(&[b"a\r\n..b\r\n.\r\nNEXT"], 100);
        assert!(d.done());
        assert_eq!(d.data, b"a\r\n.b\r\n");
        assert_eq!(used, 11);
        // One byte at a time gives the same result.
        let input = b"x\r\n.. y\r\n...\r\n.\r\n";
        let mut d = DotDecoder::new(100);
        for b in input {
            d.feed(std::slice::from_ref(b));
        }
        assert!(d.done());
        assert_eq!(d.data, b"x\r\n. y\r\n..\r\n");
    }

    /// Line by line, as RFC 5321 §4.5.2 states it: the line `.` ends the data, any other
    /// line loses a leading dot.
    fn reference(input: &[u8]) -> (Vec<u8>, usize) {
        let (mut out, mut pos) = (Vec::new(), 0);
        loop {
            let end = pos + input[pos..].iter().position(|&b| b == b'\n').unwrap() + 1;
            let line = &input[pos..end];
            let bare = line.strip_suffix(b"\n").unwrap();
            if bare.strip_suffix(b"\r").unwrap_or(bare) == b"." {
                return (out, end);
            }
            out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
            pos = end;
        }
    }

    #[test]
    fn unstuffing_matches_the_line_rule_for_any_cut() {
        let mut x: u32 = 12345;
        let mut next = |n: u32| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x % n
        };
        for _ in 0..300 {
            let mut input = Vec::new();
            for _ in 0..next(30) {
                for _ in 0..next(12) {
                    input.push(b".\r\nab"[next(5) as usize]);
                }
                input.extend_from_slice(if next(3) == 0 { b"\n" } else { b"\r\n" });
            }
            input.extend_from_slice(b".\r\nMAIL FROM:<>\r\n");
            let (want, used_want) = reference(&input);
            let mut cuts: Vec<usize> = (0..next(6))
                .map(|_| next(input.len() as u32) as usize)
                .collect();
            cuts.sort_unstable();
            let mut pieces = Vec::new();
            let mut at = 0;
            for c in cuts {
                pieces.push(&input[at..c]);
                at = c;
            }
            pieces.push(&input[at..]);
            let mut d = DotDecoder::new(1 << 20);
            let mut used = 0;
            for p in pieces {
                if !d.done() {
                    used += d.feed(p);
                }
            }
            assert!(d.done());
            assert_eq!(
                (d.data, used),
                (want, used_want),
                "{:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }

    #[test]
    fn bare_lf_and_limit() {
        let (d, _) = decode(&[b"a\nb\n.\n"], 100);
        assert!(d.done());
        assert_eq!(d.data, b"a\nb\n");
        let (d, _) = decode(&[b"0123456789\r\n", b".\r\n"], 5);
        assert!(d.done() && d.too_big());
        assert_eq!(d.data.len(), 5);
        assert_eq!(d.total, 12);
        // An empty message.
        let (d, _) = decode(&[b".\r\n"], 5);
        assert!(d.done() && d.data.is_empty());
    }

    #[test]
    fn commands() {
        assert_eq!(
            parse(b"lhlo mx.example"),
            Ok(Cmd::Lhlo("mx.example".into()))
        );
        assert_eq!(
            parse(b"MAIL FROM:<a@b.c> SIZE=100 BODY=8BITMIME"),
            Ok(Cmd::Mail {
                from: "a@b.c".into(),
                size: Some(100)
            })
        );
        assert_eq!(
            parse(b"MAIL FROM:<>"),
            Ok(Cmd::Mail {
                from: String::new(),
                size: None
            })
        );
        assert_eq!(parse(b"rcpt to: <Bob@x>"), Ok(Cmd::Rcpt("Bob@x".into())));
        assert_eq!(parse(b"RCPT TO:<>").unwrap_err().code, 501);
        assert_eq!(
            parse(b"MAIL FROM:<a> BODY=BINARYMIME").unwrap_err().code,
            555
        );
        assert_eq!(parse(b"FROB").unwrap_err().code, 500);
        assert_eq!(parse(b"EHLO x"), Ok(Cmd::Helo));
    }

    #[test]
    fn state_machine() {
        let s = Settings {
            max_message: 1000,
            spam_junk: true,
        };
        let mut t = Transaction::default();
        let code = |n: Next| match n {
            Next::Reply(r) => r[0].code,
            _ => 0,
        };
        assert_eq!(code(t.handle(Cmd::Data, &s, "h")), 503);
        let Next::Reply(r) = t.handle(Cmd::Lhlo("x".into()), &s, "h") else {
            panic!()
        };
        let mut out = Vec::new();
        encode_group(&r, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "250-h\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 SIZE 1000\r\n"
        );
        assert_eq!(code(t.handle(Cmd::Rcpt("a".into()), &s, "h")), 503);
        let big = Cmd::Mail {
            from: "a".into(),
            size: Some(1001),
        };
        assert_eq!(code(t.handle(big, &s, "h")), 552);
        let mail = Cmd::Mail {
            from: "a".into(),
            size: None,
        };
        assert_eq!(code(t.handle(mail.clone(), &s, "h")), 250);
        assert_eq!(code(t.handle(mail, &s, "h")), 503);
        assert!(matches!(
            t.handle(Cmd::Rcpt("b".into()), &s, "h"),
            Next::Rcpt(_)
        ));
        assert_eq!(code(t.handle(Cmd::Data, &s, "h")), 503);
        assert_eq!(code(t.handle(Cmd::Rset, &s, "h")), 250);
    }
}
