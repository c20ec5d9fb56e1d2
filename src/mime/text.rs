//! Content decoding: transfer encodings for FETCH BINARY (RFC 3516), and
//! decoded UTF-8 text for SEARCH (RFC 2047 headers, charset-converted
//! text parts).

use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::decoders::html::html_to_text;
use mail_parser::{HeaderValue, parsers::MessageStream};

use super::address::{MISSING_DOMAIN, MISSING_MAILBOX, parse_address_list};
use super::header::{self, trim};
use super::meta::{Body, MessageMeta, Part};
use super::section::find_part;

/// A part's `Content-Transfer-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferEncoding {
    SevenBit,
    EightBit,
    Binary,
    Base64,
    QuotedPrintable,
    /// Anything else (x-uuencode, typos, ...): cannot be decoded.
    Unknown,
}

impl TransferEncoding {
    /// Parses a header token; `None` (no header) means 7bit.
    pub fn parse(name: Option<&[u8]>) -> Self {
        let Some(name) = name else {
            return Self::SevenBit;
        };
        let name = trim(name);
        [
            (&b"7bit"[..], Self::SevenBit),
            (b"8bit", Self::EightBit),
            (b"binary", Self::Binary),
            (b"base64", Self::Base64),
            (b"quoted-printable", Self::QuotedPrintable),
        ]
        .into_iter()
        .find(|(n, _)| name.eq_ignore_ascii_case(n))
        .map_or(Self::Unknown, |(_, e)| e)
    }

    /// Whether the encoded bytes are the content itself.
    pub fn is_identity(self) -> bool {
        matches!(self, Self::SevenBit | Self::EightBit | Self::Binary)
    }
}

/// Why [`decode_transfer`] failed: the server answers
/// `NO [UNKNOWN-CTE]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    UnknownEncoding,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("unknown content-transfer-encoding")
    }
}

impl std::error::Error for DecodeError {}

/// The transfer encoding of the part `BINARY[part]` decodes. The whole
/// message (empty path) and multipart parts are never decoded. `None`
/// when the part does not exist.
pub fn part_encoding(meta: &MessageMeta, part: &[u32]) -> Option<TransferEncoding> {
    if part.is_empty() {
        return Some(TransferEncoding::Binary);
    }
    let p = find_part(meta, part)?;
    Some(match p.body {
        Body::Multipart(_) => TransferEncoding::Binary,
        _ => TransferEncoding::parse(p.encoding.as_deref()),
    })
}

/// Body ranges `(start, end)` of the leaf parts sent base64-encoded, in message order: the
/// store keeps such runs decoded (they shrink by a quarter and re-encode far faster than they
/// inflate).
pub fn base64_bodies(meta: &MessageMeta) -> Vec<(u64, u64)> {
    fn walk(p: &Part, out: &mut Vec<(u64, u64)>) {
        match &p.body {
            Body::Multipart(children) => children.iter().for_each(|c| walk(c, out)),
            Body::Message(m) => walk(&m.root, out),
            Body::Basic | Body::Text => {
                if TransferEncoding::parse(p.encoding.as_deref()) == TransferEncoding::Base64
                    && p.body_end > p.body_start
                {
                    out.push((p.body_start, p.body_end));
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(&meta.root, &mut out);
    out
}

/// Decodes a part body. Decoding is lenient as RFC 2045 asks: base64
/// ignores characters outside its alphabet, quoted-printable keeps a
/// malformed `=` literally and drops trailing blanks on lines.
pub fn decode_transfer(enc: TransferEncoding, body: &[u8]) -> Result<Vec<u8>, DecodeError> {
    match enc {
        TransferEncoding::SevenBit | TransferEncoding::EightBit | TransferEncoding::Binary => {
            Ok(body.to_vec())
        }
        TransferEncoding::Base64 => Ok(base64(body)),
        TransferEncoding::QuotedPrintable => Ok(quoted_printable(body)),
        TransferEncoding::Unknown => Err(DecodeError::UnknownEncoding),
    }
}

fn base64(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 3);
    let (mut acc, mut n) = (0u32, 0u8);
    let flush = |out: &mut Vec<u8>, acc: u32, n: u8| match n {
        2 => out.push((acc >> 4) as u8),
        3 => out.extend_from_slice(&[(acc >> 10) as u8, (acc >> 2) as u8]),
        _ => {}
    };
    for &b in body {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                // Padding ends a quantum; keep going in case blocks were
                // concatenated.
                flush(&mut out, acc, n);
                (acc, n) = (0, 0);
                continue;
            }
            _ => continue,
        };
        acc = (acc << 6) | u32::from(v);
        n += 1;
        if n == 4 {
            out.extend_from_slice(&[(acc >> 16) as u8, (acc >> 8) as u8, acc as u8]);
            (acc, n) = (0, 0);
        }
    }
    flush(&mut out, acc, n);
    out
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

fn quoted_printable(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    for line in body.split_inclusive(|&b| b == b'\n') {
        let (content, eol): (&[u8], &[u8]) = if let Some(c) = line.strip_suffix(b"\r\n") {
            (c, b"\r\n")
        } else if let Some(c) = line.strip_suffix(b"\n") {
            (c, b"\n")
        } else {
            (line, b"")
        };
        let keep = content
            .iter()
            .rposition(|&b| b != b' ' && b != b'\t')
            .map_or(0, |i| i + 1);
        let content = &content[..keep];
        let mut soft = false;
        let mut i = 0;
        while i < content.len() {
            let b = content[i];
            if b != b'=' {
                out.push(b);
                i += 1;
            } else if i + 1 == content.len() {
                soft = true;
                i += 1;
            } else if let (Some(h), Some(l)) = (
                content.get(i + 1).copied().and_then(hex),
                content.get(i + 2).copied().and_then(hex),
            ) {
                out.push((h << 4) | l);
                i += 3;
            } else {
                out.push(b'=');
                i += 1;
            }
        }
        if !soft {
            out.extend_from_slice(eol);
        }
    }
    out
}

/// Converts text in `charset` to UTF-8 with mail-parser's decoders.
/// Unknown charsets and UTF-8 are decoded as (lossy) UTF-8; text labelled
/// US-ASCII (or unlabelled) that is valid UTF-8 stays UTF-8, otherwise it
/// is read as windows-1252.
pub fn decode_charset(charset: Option<&[u8]>, bytes: &[u8]) -> String {
    let cs = charset.map(trim).unwrap_or(b"us-ascii");
    let ascii_label = [&b"us-ascii"[..], b"ascii", b""]
        .iter()
        .any(|n| cs.eq_ignore_ascii_case(n));
    if ascii_label || cs.eq_ignore_ascii_case(b"utf-8") || cs.eq_ignore_ascii_case(b"utf8") {
        return match std::str::from_utf8(bytes) {
            Ok(s) => s.to_owned(),
            Err(_) if ascii_label => charset_decoder(b"windows-1252")
                .map_or_else(|| String::from_utf8_lossy(bytes).into_owned(), |f| f(bytes)),
            Err(_) => String::from_utf8_lossy(bytes).into_owned(),
        };
    }
    match charset_decoder(cs) {
        Some(f) => f(bytes),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Decodes RFC 2047 encoded words in an (unfolded or folded) header value.
pub fn decode_header_value(value: &[u8]) -> String {
    let mut buf = Vec::with_capacity(value.len() + 2);
    buf.extend_from_slice(value);
    buf.extend_from_slice(b"\r\n");
    match MessageStream::new(&buf).parse_unstructured() {
        HeaderValue::Text(t) => t.into_owned(),
        _ => String::new(),
    }
}

/// What a SEARCH key looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchField<'a> {
    /// BODY: decoded text of every `text/*` part (also inside attached
    /// messages, whose headers count as body text too).
    Body,
    /// TEXT: the decoded top-level header followed by [`SearchField::Body`].
    Text,
    /// HEADER name / SUBJECT: RFC 2047-decoded values of every field with
    /// this name in the top-level header.
    Header(&'a [u8]),
    /// FROM / TO / CC / BCC: `Decoded Name <mailbox@host>` for every
    /// address (and group name) in every field with this name.
    #[cfg_attr(not(test), allow(dead_code))]
    Address(&'a [u8]),
}

fn slice(raw: &[u8], start: u64, end: u64) -> &[u8] {
    let (Ok(s), Ok(e)) = (usize::try_from(start), usize::try_from(end)) else {
        return &[];
    };
    raw.get(s..e).unwrap_or(&[])
}

/// Message bytes as SEARCH sees them: the whole message, or only the ranges it needs.
pub trait Content {
    /// Octets `[start, end)`; empty when they are not at hand.
    fn range(&self, start: u64, end: u64) -> &[u8];
}

impl Content for [u8] {
    fn range(&self, start: u64, end: u64) -> &[u8] {
        slice(self, start, end)
    }
}

impl Content for Vec<u8> {
    fn range(&self, start: u64, end: u64) -> &[u8] {
        self.as_slice().range(start, end)
    }
}

/// Some ranges of a message, as listed by [`search_ranges`], so SEARCH never reads (or
/// decodes from storage) attachments it does not look at.
#[derive(Default)]
pub struct Sparse {
    pub data: Vec<u8>,
    /// `(start, end, offset in data)`, in message order.
    pub spans: Vec<(u64, u64, usize)>,
}

impl Content for Sparse {
    fn range(&self, start: u64, end: u64) -> &[u8] {
        let i = self.spans.partition_point(|&(_, e, _)| e < end);
        match self.spans.get(i) {
            Some(&(s, e, at)) if s <= start && end <= e && start <= end => {
                let from = at + (start - s) as usize;
                &self.data[from..from + (end - start) as usize]
            }
            _ => &[],
        }
    }
}

/// The ranges of the message that [`search_text`] reads for `what`, in message order.
pub fn search_ranges(meta: &MessageMeta, what: SearchField<'_>) -> Vec<(u64, u64)> {
    fn body(p: &Part, out: &mut Vec<(u64, u64)>) {
        match &p.body {
            Body::Basic => {}
            Body::Multipart(children) => children.iter().for_each(|c| body(c, out)),
            Body::Message(m) => {
                out.push((m.root.header_start, m.root.body_start));
                body(&m.root, out);
            }
            Body::Text => out.push((p.body_start, p.body_end)),
        }
    }
    let mut out = Vec::new();
    if !matches!(what, SearchField::Body) {
        out.push((meta.root.header_start, meta.root.body_start));
    }
    if matches!(what, SearchField::Body | SearchField::Text) {
        body(&meta.root, &mut out);
    }
    out
}

/// Decoded text for SEARCH, separated by newlines; `None` when a header
/// or address field is not present at all (so `HEADER x ""` can tell).
pub fn search_text(
    raw: &(impl Content + ?Sized),
    meta: &MessageMeta,
    what: SearchField<'_>,
) -> Option<String> {
    let head = raw.range(meta.root.header_start, meta.root.body_start);
    let mut out = String::new();
    match what {
        SearchField::Body => body_text(raw, &meta.root, &mut out),
        SearchField::Text => {
            header_text(head, &mut out);
            body_text(raw, &meta.root, &mut out);
        }
        SearchField::Header(name) => {
            let mut found = false;
            for f in header::fields(head).filter(|f| f.name.eq_ignore_ascii_case(name)) {
                if found {
                    out.push('\n');
                }
                found = true;
                out.push_str(&decode_header_value(f.value));
            }
            if !found {
                return None;
            }
        }
        SearchField::Address(name) => {
            let mut found = false;
            for f in header::fields(head).filter(|f| f.name.eq_ignore_ascii_case(name)) {
                found = true;
                address_text(f.value, &mut out);
            }
            if !found {
                return None;
            }
        }
    }
    Some(out)
}

fn address_text(value: &[u8], out: &mut String) {
    addresses_text(&parse_address_list(value), out);
}

/// Address fields kept in the stored envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvelopeField {
    From,
    To,
    Cc,
    Bcc,
    Subject,
}

/// SEARCH FROM/TO/CC/BCC/SUBJECT text from the envelope stored at append, so these keys need no
/// message bytes: the same text as [`search_text`] gives for the field's first occurrence.
/// `None` when the message has no such field.
pub fn envelope_text(meta: &MessageMeta, what: EnvelopeField) -> Option<String> {
    let env = &meta.envelope;
    let list = match what {
        EnvelopeField::Subject => return env.subject.as_deref().map(decode_header_value),
        EnvelopeField::From => &env.from,
        EnvelopeField::To => &env.to,
        EnvelopeField::Cc => &env.cc,
        EnvelopeField::Bcc => &env.bcc,
    };
    if list.is_empty() {
        return None;
    }
    let mut out = String::new();
    addresses_text(list, &mut out);
    Some(out)
}

fn addresses_text(list: &[super::meta::Address], out: &mut String) {
    for a in list {
        let name = a.name.as_deref().map(decode_header_value);
        let (Some(mailbox), Some(host)) = (a.mailbox.as_deref(), a.host.as_deref()) else {
            // Group start (name in `mailbox`) or group end.
            if let Some(group) = a.mailbox.as_deref() {
                push_sep(out, ", ");
                out.push_str(&decode_header_value(group));
                out.push(':');
            }
            continue;
        };
        push_sep(out, ", ");
        let mut addr = String::new();
        if mailbox != MISSING_MAILBOX {
            addr.push_str(&String::from_utf8_lossy(mailbox));
            if host != MISSING_DOMAIN {
                addr.push('@');
                addr.push_str(&String::from_utf8_lossy(host));
            }
        }
        match name {
            Some(n) if addr.is_empty() => out.push_str(&n),
            Some(n) => {
                out.push_str(&n);
                out.push_str(" <");
                out.push_str(&addr);
                out.push('>');
            }
            None => out.push_str(&addr),
        }
    }
}

fn push_sep(out: &mut String, sep: &str) {
    if !out.is_empty() && !out.ends_with('\n') {
        out.push_str(sep);
    }
}

fn header_text(head: &[u8], out: &mut String) {
    for f in header::fields(head) {
        out.push_str(&String::from_utf8_lossy(f.name));
        out.push_str(": ");
        out.push_str(&decode_header_value(f.value));
        out.push('\n');
    }
}

fn body_text(raw: &(impl Content + ?Sized), part: &Part, out: &mut String) {
    match &part.body {
        Body::Basic => {}
        Body::Multipart(children) => {
            for c in children {
                body_text(raw, c, out);
            }
        }
        Body::Message(m) => {
            header_text(raw.range(m.root.header_start, m.root.body_start), out);
            body_text(raw, &m.root, out);
        }
        Body::Text => {
            let body = raw.range(part.body_start, part.body_end);
            let enc = TransferEncoding::parse(part.encoding.as_deref());
            let decoded = decode_transfer(enc, body).unwrap_or_else(|_| body.to_vec());
            let text = decode_charset(part.param(b"charset"), &decoded);
            if part.media_subtype.eq_ignore_ascii_case(b"html") {
                out.push_str(&html_to_text(&text));
            } else {
                out.push_str(&text);
            }
            out.push('\n');
        }
    }
}

/// Case-insensitive substring test (Unicode lowercase; ASCII fast path).
pub fn contains_ci(haystack: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    if needle.is_ascii() && haystack.is_ascii() {
        let (h, n) = (haystack.as_bytes(), needle.as_bytes());
        return h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_encoding_names() {
        assert_eq!(TransferEncoding::parse(None), TransferEncoding::SevenBit);
        assert_eq!(
            TransferEncoding::parse(Some(b" Base64 ")),
            TransferEncoding::Base64
        );
        assert_eq!(
            TransferEncoding::parse(Some(b"QUOTED-PRINTABLE")),
            TransferEncoding::QuotedPrintable
        );
        assert_eq!(
            TransferEncoding::parse(Some(b"8BIT")),
            TransferEncoding::EightBit
        );
        assert_eq!(
            TransferEncoding::parse(Some(b"binary")),
            TransferEncoding::Binary
        );
        assert_eq!(
            TransferEncoding::parse(Some(b"x-uuencode")),
            TransferEncoding::Unknown
        );
        assert!(TransferEncoding::Binary.is_identity() && !TransferEncoding::Base64.is_identity());
    }

    #[test]
    fn base64_decoding() {
        let d = |s: &[u8]| decode_transfer(TransferEncoding::Base64, s).unwrap();
        assert_eq!(d(b"SGVsbG8sIFdvcmxkIQ=="), b"Hello, World!");
        assert_eq!(
            d(b"SGVs\r\nbG8s\r\n IFdv cmxk\r\nIQ==\r\n"),
            b"Hello, World!"
        );
        assert_eq!(d(b"SGk=SGk="), b"HiHi");
        assert_eq!(d(b"SGk"), b"Hi");
        assert_eq!(d(b"!!SG*k=\x00"), b"Hi");
        assert_eq!(d(b""), b"");
        assert_eq!(d(b"S"), b"");
    }

    #[test]
    fn quoted_printable_decoding() {
        let d = |s: &[u8]| decode_transfer(TransferEncoding::QuotedPrintable, s).unwrap();
        assert_eq!(d(b"Caf=E9 =C3=a9\r\nnext"), b"Caf\xe9 \xc3\xa9\r\nnext");
        assert_eq!(d(b"soft=\r\nbreak=  \r\nend"), b"softbreakend");
        assert_eq!(d(b"trailing   \r\nx\t\r\n"), b"trailing\r\nx\r\n");
        assert_eq!(d(b"a=ZZb=3"), b"a=ZZb=3");
        assert_eq!(d(b"="), b"");
        assert_eq!(d(b"x=\n=41\n"), b"xA\n");
        assert_eq!(
            decode_transfer(TransferEncoding::EightBit, b"\xff=41").unwrap(),
            b"\xff=41"
        );
    }

    #[test]
    fn charsets() {
        assert_eq!(decode_charset(Some(b"ISO-8859-1"), b"K\xf6ln"), "Köln");
        assert_eq!(
            decode_charset(Some(b"iso-8859-2"), b"\xb3\xf3d\xbc"),
            "łódź"
        );
        assert_eq!(
            decode_charset(Some(b"windows-1251"), b"\xcf\xf0\xe8"),
            "При"
        );
        assert_eq!(decode_charset(Some(b"windows-1252"), b"\x80"), "€");
        assert_eq!(decode_charset(Some(b" UTF-8 "), "ü".as_bytes()), "ü");
        assert_eq!(decode_charset(Some(b"utf-8"), b"a\xffb"), "a\u{fffd}b");
        // Mislabelled or unlabelled 8-bit text.
        assert_eq!(decode_charset(Some(b"us-ascii"), "ü".as_bytes()), "ü");
        assert_eq!(decode_charset(None, b"\xfc"), "ü");
        assert_eq!(decode_charset(Some(b"x-unknown"), b"abc"), "abc");
    }

    #[test]
    fn header_decoding() {
        assert_eq!(
            decode_header_value(b" =?UTF-8?B?SGVsbG8gV8O2cmxk?="),
            "Hello Wörld"
        );
        assert_eq!(
            decode_header_value(b" =?ISO-8859-1?Q?Keld_J=F8rn?=\r\n =?ISO-8859-1?Q?_Simonsen?= x"),
            "Keld Jørn Simonsen x"
        );
        assert_eq!(decode_header_value(b" plain  text "), "plain  text");
        assert_eq!(decode_header_value(b""), "");
        assert_eq!(decode_header_value(b"=?broken"), "=?broken");
    }

    #[test]
    fn case_insensitive_contains() {
        assert!(contains_ci("Hello World", "o w"));
        assert!(contains_ci("Hello World", ""));
        assert!(!contains_ci("Hello", "hello!"));
        assert!(contains_ci("Grüße aus KÖLN", "köln"));
        assert!(contains_ci("ΣΊΣΥΦΟΣ", "σίσυφ"));
        assert!(!contains_ci("abc", "ü"));
    }
}
