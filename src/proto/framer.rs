//! Resumable command framer: finds where one IMAP command ends in a byte buffer, including its
//! literals (RFC 3501 §4.3 `{n}` and RFC 7888 LITERAL+ `{n+}`), and enforces the size limits.
//!
//! The framer never copies: the connection owns the buffer and calls [`Framer::poll`] after every
//! read. It answers with one of the outcomes of [`Frame`]; scanning resumes where it stopped, so
//! a command fed one byte at a time costs the same as one fed at once.

/// Size limits enforced while framing.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest line between literals, without CRLF.
    pub max_line: usize,
    /// Largest single literal.
    pub max_literal: u64,
    /// Largest whole command (lines and literals).
    pub max_command: u64,
}

/// What the caller should do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// Read more bytes and poll again.
    Incomplete,
    /// A synchronising literal of `size` bytes was announced and accepted: send a continuation
    /// request (`+ ...`), then read more and poll again.
    Continue { size: u64 },
    /// `buf[..len]` holds one complete command. Remove it and call [`Framer::reset`].
    Command { len: usize },
    /// A synchronising literal over the limit: answer `tag NO [TOOBIG]`, drop `buf[..consumed]`
    /// and reset. The client sends no literal data, so the stream stays in sync.
    LiteralTooBig {
        tag: Option<String>,
        consumed: usize,
    },
    /// A line over the limit, or a non-synchronising literal over the limit: the stream cannot be
    /// resynchronised, so answer `BYE` and close.
    Fatal {
        tag: Option<String>,
        reason: &'static str,
    },
}

/// Per-command framing state; see the module docs.
#[derive(Debug)]
pub struct Framer {
    limits: Limits,
    /// Next byte offset to scan for LF.
    scan: usize,
    /// Start of the current line segment (after the last literal).
    line_start: usize,
    /// End offset of the literal being received, if any.
    literal_end: Option<usize>,
}

impl Framer {
    pub fn new(limits: Limits) -> Self {
        Framer {
            limits,
            scan: 0,
            line_start: 0,
            literal_end: None,
        }
    }

    /// Replaces the limits (e.g. larger literals once authenticated).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Forgets the current command; call after removing it from the buffer.
    pub fn reset(&mut self) {
        self.scan = 0;
        self.line_start = 0;
        self.literal_end = None;
    }

    /// Number of bytes of `buf` that belong to the command being framed but are still missing;
    /// lets the reader size its reads for large literals.
    pub fn literal_missing(&self, buf_len: usize) -> usize {
        self.literal_end
            .map_or(0, |end| end.saturating_sub(buf_len))
    }

    /// Scans `buf` (the bytes of the current command received so far, starting at its first byte).
    pub fn poll(&mut self, buf: &[u8]) -> Frame {
        loop {
            if let Some(end) = self.literal_end {
                if buf.len() < end {
                    return Frame::Incomplete;
                }
                self.literal_end = None;
                self.scan = end;
                self.line_start = end;
            }
            let Some(i) = buf[self.scan..].iter().position(|&b| b == b'\n') else {
                self.scan = buf.len();
                if buf.len() - self.line_start > self.limits.max_line + 2 {
                    return Frame::Fatal {
                        tag: tag_of(buf),
                        reason: "Line too long",
                    };
                }
                return Frame::Incomplete;
            };
            let lf = self.scan + i;
            if lf - self.line_start > self.limits.max_line + 1 {
                return Frame::Fatal {
                    tag: tag_of(buf),
                    reason: "Line too long",
                };
            }
            let line = trim_eol(&buf[self.line_start..lf]);
            let Some((size, sync)) = literal_at_end(line) else {
                return Frame::Command { len: lf + 1 };
            };
            let total = (lf + 1) as u64 + size;
            if size > self.limits.max_literal || total > self.limits.max_command {
                let tag = tag_of(buf);
                return if sync {
                    Frame::LiteralTooBig {
                        tag,
                        consumed: lf + 1,
                    }
                } else {
                    Frame::Fatal {
                        tag,
                        reason: "Literal too big",
                    }
                };
            }
            self.literal_end = Some(lf + 1 + size as usize);
            self.scan = lf + 1;
            if sync {
                return Frame::Continue { size };
            }
        }
    }
}

/// Strips a trailing CR (the LF is already excluded).
fn trim_eol(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Recognises `{n}` / `{n+}` at the end of a line: returns `(n, synchronising)`.
pub fn literal_at_end(line: &[u8]) -> Option<(u64, bool)> {
    let body = line.strip_suffix(b"}")?;
    let open = body.iter().rposition(|&b| b == b'{')?;
    let mut digits = &body[open + 1..];
    let sync = match digits.strip_suffix(b"+") {
        Some(d) => {
            digits = d;
            false
        }
        None => true,
    };
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = std::str::from_utf8(digits).ok()?.parse().ok()?;
    // A literal marker must follow a space or another delimiter, e.g. `APPEND x {5}`, `({5}`.
    (open == 0 || matches!(line[open - 1], b' ' | b'(' | b'[' | b'~')).then_some((n, sync))
}

/// The tag of a (possibly partial) command, when it looks like one.
pub fn tag_of(buf: &[u8]) -> Option<String> {
    let end = buf.iter().position(|&b| b == b' ')?;
    let tag = &buf[..end];
    (!tag.is_empty()
        && tag.len() <= 64
        && tag
            .iter()
            .all(|&b| super::encode::is_atom_char(b) && b != b'+'))
    .then(|| String::from_utf8_lossy(tag).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_line: 64,
        max_literal: 100,
        max_command: 200,
    };

    /// Feeds `input` one byte at a time and records each non-Incomplete outcome.
    fn bytewise(input: &[u8]) -> Vec<Frame> {
        let mut f = Framer::new(LIMITS);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        for &b in input {
            buf.push(b);
            match f.poll(&buf) {
                Frame::Incomplete => {}
                Frame::Command { len } => {
                    out.push(Frame::Command { len });
                    buf.drain(..len);
                    f.reset();
                }
                Frame::LiteralTooBig { tag, consumed } => {
                    out.push(Frame::LiteralTooBig { tag, consumed });
                    buf.drain(..consumed);
                    f.reset();
                }
                other => out.push(other),
            }
        }
        out
    }

    #[test]
    fn simple_lines() {
        assert_eq!(
            bytewise(b"a NOOP\r\nb LOGOUT\r\n"),
            vec![Frame::Command { len: 8 }, Frame::Command { len: 10 }]
        );
    }

    #[test]
    fn sync_literal_asks_once_then_completes() {
        let cmd = b"a LOGIN {5}\r\nalice {3}\r\npw!\r\n";
        assert_eq!(
            bytewise(cmd),
            vec![
                Frame::Continue { size: 5 },
                Frame::Continue { size: 3 },
                Frame::Command { len: cmd.len() }
            ]
        );
    }

    #[test]
    fn literal_plus_needs_no_continuation() {
        let cmd = b"a APPEND x {3+}\r\n{}\n\r\n";
        assert_eq!(bytewise(cmd), vec![Frame::Command { len: cmd.len() }]);
    }

    #[test]
    fn literal_bytes_are_not_scanned_for_markers() {
        // The literal content itself ends in "{9}" followed by CRLF: it must not count.
        let cmd = b"a APPEND x {5+}\r\n{9}\r\n\r\n";
        assert_eq!(bytewise(cmd), vec![Frame::Command { len: cmd.len() }]);
    }

    #[test]
    fn limits() {
        assert_eq!(
            bytewise(b"t1 APPEND x {101}\r\na NOOP\r\n"),
            vec![
                Frame::LiteralTooBig {
                    tag: Some("t1".into()),
                    consumed: 19
                },
                Frame::Command { len: 8 }
            ]
        );
        let out = bytewise(b"t2 APPEND x {101+}\r\n");
        assert_eq!(
            out,
            vec![Frame::Fatal {
                tag: Some("t2".into()),
                reason: "Literal too big"
            }]
        );
        let long = [b"t3 ".as_slice(), &[b'x'; 80]].concat();
        assert!(matches!(bytewise(&long).first(), Some(Frame::Fatal { .. })));
    }

    #[test]
    fn marker_detection() {
        assert_eq!(literal_at_end(b"a LOGIN {12}"), Some((12, true)));
        assert_eq!(literal_at_end(b"a LOGIN {12+}"), Some((12, false)));
        assert_eq!(literal_at_end(b"a LOGIN x{12}"), None);
        assert_eq!(literal_at_end(b"a LOGIN {}"), None);
        assert_eq!(literal_at_end(b"a LOGIN {1a}"), None);
    }
}
