//! Framed I/O over any byte stream (plain TCP now, TLS later): reads whole commands through the
//! [`Framer`], writes encoded responses, and streams stored message bytes into FETCH literals.
//!
//! Read buffers live in the struct, so a `read_command` future dropped by a race (IDLE) loses
//! nothing. Output is buffered and flushed at least every [`FLUSH_AT`] bytes, so memory per
//! connection stays bounded whatever a command returns.

use std::io;
use std::sync::Arc;

use redb::ReadTransaction;
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::proto::framer::{Frame, Framer, Limits};
use crate::proto::response::{Output, Response};
use crate::store::blob;
use crate::store::schema::CHUNK;

/// Anything a session can run over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// Buffered output is written out once it reaches this size.
pub const FLUSH_AT: usize = 64 * 1024;
/// Bytes read per call.
const READ_CHUNK: usize = 16 * 1024;
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
}

pub struct Connection {
    stream: Box<dyn Io>,
    rbuf: Vec<u8>,
    framer: Framer,
    out: Output,
}

impl Connection {
    pub fn new(stream: Box<dyn Io>, limits: Limits) -> Self {
        Connection {
            stream,
            rbuf: Vec::new(),
            framer: Framer::new(limits),
            out: Output::default(),
        }
    }

    pub fn set_limits(&mut self, limits: Limits) {
        self.framer.set_limits(limits);
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
                }
                Frame::Command { len } => {
                    let rest = self.rbuf.split_off(len);
                    let line = std::mem::replace(&mut self.rbuf, rest);
                    self.framer.reset();
                    self.shrink();
                    return Ok(Input::Line(line));
                }
                Frame::LiteralTooBig { tag, consumed } => {
                    self.rbuf.drain(..consumed);
                    self.framer.reset();
                    return Ok(Input::TooBig { tag });
                }
                Frame::Fatal { tag, reason } => {
                    self.rbuf.clear();
                    return Ok(Input::Fatal { tag, reason });
                }
            }
            let want = self
                .framer
                .literal_missing(self.rbuf.len())
                .clamp(READ_CHUNK, 256 * 1024);
            // Read into a scratch buffer: if this future is dropped while waiting (IDLE races
            // it against change events), `rbuf` must not keep unfilled bytes.
            let mut chunk = vec![0; want];
            let n = self.stream.read(&mut chunk).await?;
            self.rbuf.extend_from_slice(&chunk[..n]);
            if n == 0 {
                return Ok(Input::Eof);
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
        if self.out.bytes.len() >= FLUSH_AT || !self.out.splices.is_empty() {
            self.flush(snap).await?;
        }
        Ok(())
    }

    /// Queues a response without flushing (it never references message bytes).
    pub fn queue(&mut self, r: impl Into<Response>) {
        r.into().encode(&mut self.out);
    }

    /// Writes everything queued, streaming message bytes from `snap`.
    pub async fn flush(&mut self, snap: Option<&Arc<ReadTransaction>>) -> io::Result<()> {
        let mut out = std::mem::take(&mut self.out);
        let mut pos = 0;
        for (offset, slice) in &out.splices {
            self.stream.write_all(&out.bytes[pos..*offset]).await?;
            pos = *offset;
            let Some(snap) = snap else {
                return Err(io::Error::other("message bytes queued without a snapshot"));
            };
            let mut at = slice.start;
            let end = slice.start + slice.len;
            while at < end {
                // Up to four chunks per blocking call.
                let n = (end - at).min(4 * CHUNK as u64);
                let (snap, id) = (snap.clone(), slice.blob);
                let data = smol::unblock(move || blob::read_range(&snap, id, at, n))
                    .await
                    .map_err(|e| io::Error::other(e.to_string()))?;
                if data.len() as u64 != n {
                    // The literal length is already on the wire; the stream cannot continue.
                    return Err(io::Error::other("stored message shorter than recorded"));
                }
                self.stream.write_all(&data).await?;
                at += n;
            }
        }
        self.stream.write_all(&out.bytes[pos..]).await?;
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
