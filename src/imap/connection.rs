//! Framed I/O over any byte stream (plain TCP or TLS): reads whole commands through the
//! [`Framer`], writes encoded responses, and streams stored message bytes into FETCH literals.
//!
//! Read buffers live in the struct, so a `read_command` future dropped by a race (IDLE) loses
//! nothing. Output is buffered and flushed at least every [`FLUSH_AT`] bytes, so memory per
//! connection stays bounded whatever a command returns.
//!
//! Every read has a deadline ([`Deadlines`]): while no command has begun, the idle timeout
//! counted from when waiting began; once its first byte is in, a deadline for the whole command,
//! not for each read, so a client trickling a byte a minute is cut off (slowloris). Before login
//! there is also a deadline for the whole connection, so NOOPs cannot hold a slot forever. A
//! server shutdown ends the wait between commands at once and a partly received command at the
//! shutdown deadline.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_rustls::TlsAcceptor;
use redb::ReadTransaction;
use smol::future::FutureExt;
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::config::MIN_COMMAND_RATE;
use crate::proto::framer::{Frame, Framer, Limits};
use crate::proto::response::{Output, Response};
use crate::shutdown::Shutdown;
use crate::store::blob;

/// Room for one read at the end of the read buffer. Dropping it (the read lost a race, here or
/// in a caller such as IDLE) cuts the buffer back to what was really read, so no placeholder
/// bytes are taken for input: this is what makes [`Connection::read_command`] cancel-safe.
struct Reserved<'a> {
    buf: &'a mut Vec<u8>,
    keep: usize,
}

impl<'a> Reserved<'a> {
    fn new(buf: &'a mut Vec<u8>, extra: usize) -> Self {
        let keep = buf.len();
        buf.resize(keep + extra, 0);
        Reserved { buf, keep }
    }

    fn spare(&mut self) -> &mut [u8] {
        &mut self.buf[self.keep..]
    }

    /// `n` bytes were read into the spare room.
    fn commit(&mut self, n: usize) {
        self.keep += n;
    }
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        self.buf.truncate(self.keep);
    }
}

/// Anything a session can run over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Message bytes handed from the reading thread to the writer at a time.
const READ_SPAN: usize = 128 * 1024;
/// Spans read ahead of the writer: memory for streaming is at most this many spans plus the one
/// being filled and the one being written.
const READ_AHEAD: usize = 2;
/// Queued message bytes that trigger a flush. The queue holds only references, so this bounds
/// how long one flush streams, not memory.
const STREAM_AT: u64 = 16 * 1024 * 1024;
/// Buffered output is written out once it reaches this size.
pub const FLUSH_AT: usize = 64 * 1024;
/// Bytes read per call.
const READ_CHUNK: usize = 4 * 1024;
/// Buffers larger than this shrink back after use.
const KEEP_CAPACITY: usize = 32 * 1024;

/// What the client sent.
#[derive(Debug)]
pub enum Input {
    /// One complete command (or continuation line), CRLF included.
    Line(Vec<u8>),
    /// A synchronising literal over the limit: answer `tag NO [TOOBIG]`.
    TooBig { tag: Option<String> },
    /// Unrecoverable framing error: answer `BYE` and close.
    Fatal {
        tag: Option<String>,
        reason: &'static str,
    },
    /// The client closed the connection.
    Eof,
    /// The session must end with `* BYE text`: idle too long, a command too slow, or shutdown.
    Bye(&'static str),
}

/// BYE text for the idle (or pre-auth) timeout.
pub const AUTOLOGOUT: &str = "Autologout; idle for too long";
/// BYE text when the pre-auth deadline passes.
pub const LOGIN_TOO_SLOW: &str = "Too long without logging in";
/// BYE text for a command that did not arrive in time.
pub const TOO_SLOW: &str = "Command not received in time";
/// BYE text at server shutdown.
pub const SHUTTING_DOWN: &str = "Server shutting down";

/// How long reads may wait; see the module docs.
#[derive(Clone, Copy, Debug)]
pub struct Deadlines {
    /// No command begun: counted from when waiting began.
    pub idle: Duration,
    /// From a command's first byte to its end, plus one second per [`MIN_COMMAND_RATE`] bytes.
    pub command: Duration,
    /// Nothing may be read after this (the pre-auth deadline).
    pub until: Option<Instant>,
}

pub struct Connection {
    stream: Box<dyn Io>,
    rbuf: Vec<u8>,
    framer: Framer,
    out: Output,
    deadlines: Deadlines,
    shutdown: Shutdown,
    /// When the current wait for a command began (kept across cancelled reads).
    waiting_since: Option<Instant>,
    /// When the first byte of the command being received arrived, and bytes read since.
    command_since: Option<(Instant, u64)>,
}

impl Connection {
    pub fn new(
        stream: Box<dyn Io>,
        limits: Limits,
        deadlines: Deadlines,
        shutdown: Shutdown,
    ) -> Self {
        Connection {
            stream,
            rbuf: Vec::new(),
            framer: Framer::new(limits),
            out: Output::default(),
            deadlines,
            shutdown,
            waiting_since: None,
            command_since: None,
        }
    }

    pub fn set_limits(&mut self, limits: Limits) {
        self.framer.set_limits(limits);
    }

    pub fn set_deadlines(&mut self, deadlines: Deadlines) {
        self.deadlines = deadlines;
    }

    /// True when bytes of a further command are already buffered.
    pub fn has_buffered_input(&self) -> bool {
        !self.rbuf.is_empty()
    }

    /// Replaces the stream with TLS over it (STARTTLS, RFC 3501 §6.2.1). The caller has checked
    /// that nothing is buffered, so no plaintext byte can be taken for a command sent under TLS.
    /// On error the connection is unusable.
    pub async fn start_tls(&mut self, acceptor: TlsAcceptor) -> io::Result<()> {
        debug_assert!(self.rbuf.is_empty() && self.out.bytes.is_empty());
        self.rbuf.clear();
        self.framer.reset();
        let plain = std::mem::replace(
            &mut self.stream,
            Box::new(smol::io::Cursor::new(Vec::new())),
        );
        let tls = acceptor.accept(plain).await?;
        self.stream = Box::new(tls);
        Ok(())
    }

    /// When the current read must have completed by, and the BYE text if it passes: see the
    /// module docs.
    fn deadline(&mut self, now: Instant) -> (Instant, &'static str) {
        let waiting = *self.waiting_since.get_or_insert(now);
        if !self.rbuf.is_empty() && self.command_since.is_none() {
            self.command_since = Some((now, 0));
        }
        let mut d = match self.command_since {
            None => (waiting + self.deadlines.idle, AUTOLOGOUT),
            Some((start, bytes)) => (
                start + self.deadlines.command + Duration::from_secs(bytes / MIN_COMMAND_RATE),
                TOO_SLOW,
            ),
        };
        if let Some(until) = self.deadlines.until.filter(|&u| u < d.0) {
            d = (until, LOGIN_TOO_SLOW);
        }
        if let Some(s) = self.shutdown.deadline().filter(|&s| s < d.0) {
            d = (s, SHUTTING_DOWN);
        }
        d
    }

    /// Reads until one command is complete. Cancel-safe.
    pub async fn read_command(&mut self) -> io::Result<Input> {
        loop {
            match self.framer.poll(&self.rbuf) {
                Frame::Incomplete => {}
                Frame::Continue { .. } => {
                    // RFC 3501 §7.5: go ahead with the literal.
                    self.out
                        .bytes
                        .extend_from_slice(b"+ Ready for literal data\r\n");
                    self.flush_plain().await?;
                    // The literal may already be buffered (a client that did not wait): frame
                    // again before waiting for more input.
                    continue;
                }
                Frame::Command { len } => {
                    let rest = self.rbuf.split_off(len);
                    let line = std::mem::replace(&mut self.rbuf, rest);
                    self.framer.reset();
                    self.shrink();
                    self.waiting_since = None;
                    self.command_since = None;
                    return Ok(Input::Line(line));
                }
                Frame::LiteralTooBig { tag, consumed } => {
                    self.rbuf.drain(..consumed);
                    self.framer.reset();
                    self.waiting_since = None;
                    self.command_since = None;
                    return Ok(Input::TooBig { tag });
                }
                Frame::Fatal { tag, reason } => {
                    self.rbuf.clear();
                    self.framer.reset();
                    return Ok(Input::Fatal { tag, reason });
                }
            }
            let now = Instant::now();
            let (deadline, why) = self.deadline(now);
            let idle = self.rbuf.is_empty();
            if self.shutdown.is_triggered() && (idle || deadline <= now) {
                return Ok(Input::Bye(SHUTTING_DOWN));
            }
            if deadline <= now {
                return Ok(Input::Bye(why));
            }
            let want = self
                .framer
                .literal_missing(self.rbuf.len())
                .clamp(READ_CHUNK, 256 * 1024);
            let Connection {
                stream,
                rbuf,
                shutdown,
                ..
            } = self;
            let mut reserved = Reserved::new(rbuf, want);
            let spare = reserved.spare();
            let read = async { Some(stream.read(spare).await) };
            let timer = async {
                smol::Timer::at(deadline).await;
                None
            };
            // A shutdown ends an idle wait; a partial command then gets the shutdown deadline.
            let triggered = shutdown.is_triggered();
            let stop = async {
                if triggered {
                    std::future::pending::<()>().await;
                } else {
                    shutdown.wait().await;
                }
                None
            };
            let n = match read.or(timer).or(stop).await {
                Some(Ok(n)) => n,
                Some(Err(e)) => return Err(e),
                // Deadline or shutdown: the checks at the top of the loop answer.
                None => continue,
            };
            reserved.commit(n);
            drop(reserved);
            if n == 0 {
                return Ok(Input::Eof);
            }
            if let Some((_, bytes)) = &mut self.command_since {
                *bytes += n as u64;
            }
        }
    }

    fn shrink(&mut self) {
        if self.rbuf.capacity() > KEEP_CAPACITY && self.rbuf.len() < KEEP_CAPACITY {
            self.rbuf.shrink_to(KEEP_CAPACITY);
        }
    }

    /// Queues a response; flushes when the buffer is large or holds message bytes to stream.
    pub async fn send(
        &mut self,
        r: impl Into<Response>,
        snap: Option<&Arc<ReadTransaction>>,
    ) -> io::Result<()> {
        r.into().encode(&mut self.out);
        let pending: u64 = self.out.splices.iter().map(|(_, s)| s.len).sum();
        if self.out.bytes.len() >= FLUSH_AT || pending >= STREAM_AT {
            self.flush(snap).await?;
        }
        Ok(())
    }

    /// Queues a response without flushing (it never references message bytes).
    pub fn queue(&mut self, r: impl Into<Response>) {
        r.into().encode(&mut self.out);
    }

    /// Writes everything queued, streaming message bytes from `snap`.
    ///
    /// A blocking thread reads and decodes the slices in order and lays them, with the response
    /// text around them, into spans of about [`READ_SPAN`] octets, which this task writes while
    /// the next ones are read: decoding and writing overlap, and every write is a large one.
    /// Spans go back to the reader to be refilled, so streaming allocates a few buffers per flush.
    pub async fn flush(&mut self, snap: Option<&Arc<ReadTransaction>>) -> io::Result<()> {
        let mut out = std::mem::take(&mut self.out);
        if out.splices.is_empty() {
            self.stream.write_all(&out.bytes).await?;
        } else {
            let Some(snap) = snap else {
                return Err(io::Error::other("message bytes queued without a snapshot"));
            };
            let (tx, rx) = smol::channel::bounded(READ_AHEAD);
            let (back_tx, back_rx) = smol::channel::bounded(READ_AHEAD + 2);
            let snap = snap.clone();
            let queued = std::mem::take(&mut out);
            let reader = smol::unblock(move || {
                read_spans(&snap, &queued, &tx, &back_rx);
                queued
            });
            let mut complete = false;
            while let Ok(span) = rx.recv().await {
                match span? {
                    Some(data) => {
                        self.stream.write_all(&data).await?;
                        let _ = back_tx.try_send(data);
                    }
                    None => complete = true,
                }
            }
            out = reader.await;
            if !complete {
                return Err(io::Error::other("message stream ended early"));
            }
        }
        self.stream.flush().await?;
        out.clear();
        if out.bytes.capacity() > KEEP_CAPACITY {
            out.bytes.shrink_to(KEEP_CAPACITY);
        }
        self.out = out;
        Ok(())
    }

    /// Flush for output that has no message bytes.
    pub async fn flush_plain(&mut self) -> io::Result<()> {
        self.flush(None).await
    }
}

/// The reading side of [`Connection::flush`] (blocking): lays out `queued` (response text with
/// message slices spliced in) in spans of about [`READ_SPAN`] octets and sends them, then `None`
/// once everything was sent. Stops at the first error (sent on) or when the writer has gone.
fn read_spans(
    snap: &ReadTransaction,
    queued: &Output,
    tx: &smol::channel::Sender<io::Result<Option<Vec<u8>>>>,
    back: &smol::channel::Receiver<Vec<u8>>,
) {
    let fresh = || {
        back.try_recv()
            .map(|mut d| {
                d.clear();
                d
            })
            .unwrap_or_else(|_| Vec::with_capacity(READ_SPAN + READ_SPAN / 4))
    };
    // Sends the span once it is full; false when the writer has gone.
    let ship = |span: &mut Vec<u8>, force: bool| {
        if span.len() >= READ_SPAN || (force && !span.is_empty()) {
            let full = std::mem::replace(span, fresh());
            return tx.send_blocking(Ok(Some(full))).is_ok();
        }
        true
    };
    let fail = |e: io::Error| {
        let _ = tx.send_blocking(Err(e));
    };
    let mut reader = match blob::Reader::new(snap) {
        Ok(r) => r,
        Err(e) => return fail(io::Error::other(e.to_string())),
    };
    let mut span = fresh();
    let mut pos = 0;
    for &(offset, s) in &queued.splices {
        span.extend_from_slice(&queued.bytes[pos..offset]);
        pos = offset;
        if !ship(&mut span, false) {
            return;
        }
        let end = s.start + s.len;
        let mut at = s.start;
        while at < end {
            let take = (end - at).min(READ_SPAN.saturating_sub(span.len()).max(1) as u64);
            let before = span.len();
            if let Err(e) = reader.read_into(s.blob, at, take, &mut span) {
                return fail(io::Error::other(e.to_string()));
            }
            if (span.len() - before) as u64 != take {
                // The literal length is already on the wire; the stream cannot go on.
                return fail(io::Error::other("stored message shorter than recorded"));
            }
            at += take;
            if !ship(&mut span, false) {
                return;
            }
        }
    }
    span.extend_from_slice(&queued.bytes[pos..]);
    if ship(&mut span, true) {
        let _ = tx.send_blocking(Ok(None));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_line: 1024,
            max_literal: 1024,
            max_command: 4096,
        }
    }

    #[test]
    fn read_dropped_by_a_race_leaves_nothing_behind() {
        smol::block_on(async {
            let (ours, mut theirs) = std::os::unix::net::UnixStream::pair().unwrap();
            let deadlines = Deadlines {
                idle: Duration::from_secs(60),
                command: Duration::from_secs(60),
                until: None,
            };
            let stream = smol::Async::new(ours).unwrap();
            let mut conn = Connection::new(Box::new(stream), limits(), deadlines, Shutdown::new());
            // Like IDLE's keep-alive tick: the read loses the race and is dropped.
            let raced = async { Some(conn.read_command().await) }
                .or(async {
                    smol::Timer::after(Duration::from_millis(20)).await;
                    None
                })
                .await;
            assert!(raced.is_none());
            assert!(!conn.has_buffered_input());
            std::io::Write::write_all(&mut theirs, b"DONE\r\n").unwrap();
            match conn.read_command().await.unwrap() {
                Input::Line(l) => assert_eq!(l, b"DONE\r\n"),
                other => panic!("{other:?}"),
            }
        });
    }

    #[test]
    fn shutdown_ends_an_idle_wait() {
        smol::block_on(async {
            let (ours, _theirs) = std::os::unix::net::UnixStream::pair().unwrap();
            let deadlines = Deadlines {
                idle: Duration::from_secs(60),
                command: Duration::from_secs(60),
                until: None,
            };
            let shutdown = Shutdown::new();
            let stream = smol::Async::new(ours).unwrap();
            let mut conn = Connection::new(Box::new(stream), limits(), deadlines, shutdown.clone());
            let trigger = async {
                smol::Timer::after(Duration::from_millis(20)).await;
                shutdown.trigger(Duration::from_secs(5));
                std::future::pending::<io::Result<Input>>().await
            };
            match conn.read_command().or(trigger).await.unwrap() {
                Input::Bye(text) => assert_eq!(text, SHUTTING_DOWN),
                other => panic!("{other:?}"),
            }
        });
    }
}
