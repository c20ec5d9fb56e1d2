//! The per-message metadata stored at APPEND time, and its compact,
//! versioned binary encoding.
//!
//! All byte offsets are absolute offsets into the raw (CRLF-normalised)
//! message that was given to [`super::analyze`].

/// First byte of every encoded [`MessageMeta`].
pub const FORMAT_VERSION: u8 = 1;

/// Deepest part nesting [`MessageMeta::decode`] accepts (analysis stops
/// nesting well before this, see `analyze::MAX_DEPTH`).
const MAX_DECODE_DEPTH: usize = 200;

/// Everything FETCH and SEARCH need about one message (or one encapsulated
/// `message/rfc822` message).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageMeta {
    /// Raw envelope fields of this message's header.
    pub envelope: Envelope,
    /// `Date:` as unix seconds (UTC), if present and parseable.
    pub sent_date: Option<i64>,
    /// Zone offset of the `Date:` header in minutes east of UTC.
    pub sent_tz_minutes: i16,
    /// The part whose header is this message's header: for a multipart
    /// message the multipart, otherwise the single body part.
    pub root: Part,
}

/// The ENVELOPE fields, raw (not RFC 2047-decoded), unfolded and trimmed.
/// Empty address lists mean "absent"; `sender` and `reply_to` are
/// defaulted to `from` when rendered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    pub date: Option<Vec<u8>>,
    pub subject: Option<Vec<u8>>,
    pub from: Vec<Address>,
    pub sender: Vec<Address>,
    pub reply_to: Vec<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    pub in_reply_to: Option<Vec<u8>>,
    pub message_id: Option<Vec<u8>>,
}

/// One IMAP address structure. Group start: `host == None` and
/// `mailbox == Some(group name)`; group end: all four `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    pub name: Option<Vec<u8>>,
    pub adl: Option<Vec<u8>>,
    pub mailbox: Option<Vec<u8>>,
    pub host: Option<Vec<u8>>,
}

/// A `Content-Type`/`Content-Disposition` parameter (RFC 2231
/// continuations already merged).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Param {
    pub name: Vec<u8>,
    pub value: Vec<u8>,
}

/// `Content-Disposition` type and parameters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Disposition {
    pub kind: Vec<u8>,
    pub params: Vec<Param>,
}

/// What a part contains, as far as IMAP cares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Body {
    /// Any non-text leaf part.
    #[default]
    Basic,
    /// A `text/*` leaf part (has a line count).
    Text,
    /// `message/rfc822`: the encapsulated message spans the part body.
    Message(Box<MessageMeta>),
    /// `multipart/*`: always at least one child.
    Multipart(Vec<Part>),
}

/// One MIME part. `header_start..body_start` is the part's MIME header
/// including the blank line (when there is one); `body_start..body_end`
/// its body, without the CRLF that precedes a following boundary.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Part {
    pub header_start: u64,
    pub body_start: u64,
    pub body_end: u64,
    /// Number of LF characters in the body (text and message parts only).
    pub lines: u64,
    /// Media type and subtype as written in the header, or the default.
    pub media_type: Vec<u8>,
    pub media_subtype: Vec<u8>,
    pub params: Vec<Param>,
    pub id: Option<Vec<u8>>,
    pub description: Option<Vec<u8>>,
    /// `Content-Transfer-Encoding` as written (`None` renders as "7bit").
    pub encoding: Option<Vec<u8>>,
    pub md5: Option<Vec<u8>>,
    pub disposition: Option<Disposition>,
    pub language: Vec<Vec<u8>>,
    pub location: Option<Vec<u8>>,
    pub body: Body,
}

impl Part {
    /// Body size in octets.
    pub fn body_len(&self) -> u64 {
        self.body_end.saturating_sub(self.body_start)
    }

    /// Looks up a parameter case-insensitively.
    pub fn param(&self, name: &[u8]) -> Option<&[u8]> {
        self.params
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
            .map(|p| p.value.as_slice())
    }
}

impl MessageMeta {
    /// Appends the versioned binary form to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(FORMAT_VERSION);
        enc_message(self, 0, out);
    }

    /// Parses what [`MessageMeta::encode`] wrote. `None` for an unknown
    /// version or any inconsistency; never panics.
    pub fn decode(bytes: &[u8]) -> Option<MessageMeta> {
        let (&version, rest) = bytes.split_first()?;
        if version != FORMAT_VERSION {
            return None;
        }
        let mut r = Reader { buf: rest };
        let meta = dec_message(&mut r, 0, 0)?;
        r.buf.is_empty().then_some(meta)
    }

    /// Length of the top-level header, including the blank line.
    pub fn header_len(&self) -> u64 {
        self.root.body_start.saturating_sub(self.root.header_start)
    }

    /// Total length of the analysed message.
    #[cfg(test)]
    pub fn message_len(&self) -> u64 {
        self.root.body_end
    }

    /// `Date:` header as unix seconds UTC.
    #[cfg(test)]
    pub fn sent_date(&self) -> Option<i64> {
        self.sent_date
    }

    /// Days since 1970-01-01 of the `Date:` header's calendar date in its
    /// own zone, which is what RFC 3501 SENTBEFORE/SENTON/SENTSINCE
    /// compare ("disregarding time and timezone").
    pub fn sent_day(&self) -> Option<i64> {
        self.sent_date
            .map(|t| (t + i64::from(self.sent_tz_minutes) * 60).div_euclid(86_400))
    }
}

// ---------------------------------------------------------------- encoding

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s);
}

fn put_nstr(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        None => put_varint(out, 0),
        Some(s) => {
            put_varint(out, s.len() as u64 + 1);
            out.extend_from_slice(s);
        }
    }
}

/// Frequent MIME tokens, stored as one-byte codes. Part of format
/// version 1: never reorder or remove entries (append only with a new
/// version).
#[rustfmt::skip]
const COMMON: [&[u8]; 48] = [
    b"text", b"plain", b"html", b"charset", b"us-ascii", b"utf-8", b"UTF-8", b"iso-8859-1",
    b"ISO-8859-1", b"multipart", b"mixed", b"alternative", b"related", b"boundary", b"message",
    b"rfc822", b"application", b"octet-stream", b"pdf", b"image", b"jpeg", b"png", b"gif",
    b"name", b"filename", b"attachment", b"inline", b"7bit", b"8bit", b"base64",
    b"quoted-printable", b"format", b"flowed", b"delsp", b"yes", b"no", b"TEXT", b"PLAIN",
    b"HTML", b"CHARSET", b"US-ASCII", b"BASE64", b"7BIT", b"8BIT", b"QUOTED-PRINTABLE",
    b"signed", b"protocol", b"report",
];

/// A token's code: `idx << 1 | 1` for an entry of [`COMMON`], else
/// `len << 1` followed by the bytes.
fn tok_code(s: &[u8]) -> (u64, &[u8]) {
    match COMMON.iter().position(|c| *c == s) {
        Some(i) => ((i as u64) << 1 | 1, &[]),
        None => ((s.len() as u64) << 1, s),
    }
}

fn put_tok(out: &mut Vec<u8>, s: &[u8]) {
    let (code, bytes) = tok_code(s);
    put_varint(out, code);
    out.extend_from_slice(bytes);
}

/// An optional token: 0 for `None`, else the token code plus one.
fn put_ntok(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        None => put_varint(out, 0),
        Some(s) => {
            let (code, bytes) = tok_code(s);
            put_varint(out, code + 1);
            out.extend_from_slice(bytes);
        }
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn enc_addrs(list: &[Address], out: &mut Vec<u8>) {
    put_varint(out, list.len() as u64);
    for a in list {
        put_nstr(out, a.name.as_deref());
        put_nstr(out, a.adl.as_deref());
        put_nstr(out, a.mailbox.as_deref());
        put_nstr(out, a.host.as_deref());
    }
}

fn enc_params(list: &[Param], out: &mut Vec<u8>) {
    put_varint(out, list.len() as u64);
    for p in list {
        put_tok(out, &p.name);
        put_tok(out, &p.value);
    }
}

fn enc_message(m: &MessageMeta, base: u64, out: &mut Vec<u8>) {
    let e = &m.envelope;
    put_nstr(out, e.date.as_deref());
    put_nstr(out, e.subject.as_deref());
    for list in [&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc] {
        enc_addrs(list, out);
    }
    put_nstr(out, e.in_reply_to.as_deref());
    put_nstr(out, e.message_id.as_deref());
    match m.sent_date {
        None => out.push(0),
        Some(t) => {
            out.push(1);
            put_varint(out, zigzag(t));
            put_varint(out, zigzag(i64::from(m.sent_tz_minutes)));
        }
    }
    enc_part(&m.root, base, out);
}

fn enc_part(p: &Part, base: u64, out: &mut Vec<u8>) {
    put_varint(out, p.header_start.saturating_sub(base));
    put_varint(out, p.body_start.saturating_sub(p.header_start));
    put_varint(out, p.body_end.saturating_sub(p.body_start));
    out.push(match p.body {
        Body::Basic => 0,
        Body::Text => 1,
        Body::Message(_) => 2,
        Body::Multipart(_) => 3,
    });
    put_tok(out, &p.media_type);
    put_tok(out, &p.media_subtype);
    enc_params(&p.params, out);
    put_nstr(out, p.id.as_deref());
    put_nstr(out, p.description.as_deref());
    put_ntok(out, p.encoding.as_deref());
    put_nstr(out, p.md5.as_deref());
    put_nstr(out, p.location.as_deref());
    match &p.disposition {
        None => out.push(0),
        Some(d) => {
            out.push(1);
            put_tok(out, &d.kind);
            enc_params(&d.params, out);
        }
    }
    put_varint(out, p.language.len() as u64);
    for l in &p.language {
        put_str(out, l);
    }
    match &p.body {
        Body::Basic => {}
        Body::Text => put_varint(out, p.lines),
        Body::Message(m) => {
            put_varint(out, p.lines);
            enc_message(m, p.body_start, out);
        }
        Body::Multipart(children) => {
            put_varint(out, children.len() as u64);
            let mut base = p.body_start;
            for c in children {
                enc_part(c, base, out);
                base = c.body_end;
            }
        }
    }
}

// ---------------------------------------------------------------- decoding

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.buf.split_first()?;
        self.buf = rest;
        Some(b)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return None;
            }
            v |= bits << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    /// A count of items that each take at least one byte.
    fn count(&mut self) -> Option<usize> {
        let n = usize::try_from(self.varint()?).ok()?;
        (n <= self.buf.len()).then_some(n)
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.buf.len() {
            return None;
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Some(head)
    }

    fn str(&mut self) -> Option<Vec<u8>> {
        let n = self.count()?;
        self.take(n).map(<[u8]>::to_vec)
    }

    fn nstr(&mut self) -> Option<Option<Vec<u8>>> {
        match self.varint()? {
            0 => Some(None),
            n => {
                let n = usize::try_from(n - 1).ok()?;
                Some(Some(self.take(n)?.to_vec()))
            }
        }
    }

    fn tok_code(&mut self, code: u64) -> Option<Vec<u8>> {
        let v = usize::try_from(code >> 1).ok()?;
        if code & 1 == 1 {
            COMMON.get(v).map(|c| c.to_vec())
        } else {
            self.take(v).map(<[u8]>::to_vec)
        }
    }

    fn tok(&mut self) -> Option<Vec<u8>> {
        let code = self.varint()?;
        self.tok_code(code)
    }

    fn ntok(&mut self) -> Option<Option<Vec<u8>>> {
        match self.varint()? {
            0 => Some(None),
            code => self.tok_code(code - 1).map(Some),
        }
    }

    fn addrs(&mut self) -> Option<Vec<Address>> {
        let n = self.count()?;
        let mut list = Vec::with_capacity(n);
        for _ in 0..n {
            list.push(Address {
                name: self.nstr()?,
                adl: self.nstr()?,
                mailbox: self.nstr()?,
                host: self.nstr()?,
            });
        }
        Some(list)
    }

    fn params(&mut self) -> Option<Vec<Param>> {
        let n = self.count()?;
        let mut list = Vec::with_capacity(n);
        for _ in 0..n {
            list.push(Param {
                name: self.tok()?,
                value: self.tok()?,
            });
        }
        Some(list)
    }
}

fn dec_message(r: &mut Reader<'_>, base: u64, depth: usize) -> Option<MessageMeta> {
    if depth > MAX_DECODE_DEPTH {
        return None;
    }
    let envelope = Envelope {
        date: r.nstr()?,
        subject: r.nstr()?,
        from: r.addrs()?,
        sender: r.addrs()?,
        reply_to: r.addrs()?,
        to: r.addrs()?,
        cc: r.addrs()?,
        bcc: r.addrs()?,
        in_reply_to: r.nstr()?,
        message_id: r.nstr()?,
    };
    let (sent_date, sent_tz_minutes) = match r.byte()? {
        0 => (None, 0),
        1 => {
            let t = unzigzag(r.varint()?);
            let tz = i16::try_from(unzigzag(r.varint()?)).ok()?;
            (Some(t), tz)
        }
        _ => return None,
    };
    let root = dec_part(r, base, depth + 1)?;
    Some(MessageMeta {
        envelope,
        sent_date,
        sent_tz_minutes,
        root,
    })
}

fn dec_part(r: &mut Reader<'_>, base: u64, depth: usize) -> Option<Part> {
    if depth > MAX_DECODE_DEPTH {
        return None;
    }
    let header_start = base.checked_add(r.varint()?)?;
    let body_start = header_start.checked_add(r.varint()?)?;
    let body_end = body_start.checked_add(r.varint()?)?;
    let kind = r.byte()?;
    let mut part = Part {
        header_start,
        body_start,
        body_end,
        lines: 0,
        media_type: r.tok()?,
        media_subtype: r.tok()?,
        params: r.params()?,
        id: r.nstr()?,
        description: r.nstr()?,
        encoding: r.ntok()?,
        md5: r.nstr()?,
        location: r.nstr()?,
        disposition: match r.byte()? {
            0 => None,
            1 => Some(Disposition {
                kind: r.tok()?,
                params: r.params()?,
            }),
            _ => return None,
        },
        language: {
            let n = r.count()?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(r.str()?);
            }
            v
        },
        body: Body::Basic,
    };
    part.body = match kind {
        0 => Body::Basic,
        1 => {
            part.lines = r.varint()?;
            Body::Text
        }
        2 => {
            part.lines = r.varint()?;
            let m = dec_message(r, body_start, depth + 1)?;
            if m.root.header_start != body_start || m.root.body_end != body_end {
                return None;
            }
            Body::Message(Box::new(m))
        }
        3 => {
            let n = r.count()?;
            if n == 0 {
                return None;
            }
            let mut children = Vec::with_capacity(n);
            let mut child_base = body_start;
            for _ in 0..n {
                let c = dec_part(r, child_base, depth + 1)?;
                if c.body_end > body_end {
                    return None;
                }
                child_base = c.body_end;
                children.push(c);
            }
            Body::Multipart(children)
        }
        _ => return None,
    };
    Some(part)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_roundtrip_and_overflow() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut r = Reader { buf: &out };
            assert_eq!(r.varint(), Some(v));
            assert!(r.buf.is_empty());
        }
        let mut r = Reader { buf: &[0xff; 11] };
        assert_eq!(r.varint(), None);
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, -28_800] {
            assert_eq!(unzigzag(zigzag(v)), v);
        }
    }

    #[test]
    fn decode_rejects_bad_input() {
        assert_eq!(MessageMeta::decode(&[]), None);
        assert_eq!(MessageMeta::decode(&[2]), None);
        assert_eq!(MessageMeta::decode(&[FORMAT_VERSION]), None);
        let mut good = Vec::new();
        MessageMeta::default().encode(&mut good);
        assert!(MessageMeta::decode(&good).is_some());
        let mut trailing = good.clone();
        trailing.push(0);
        assert_eq!(MessageMeta::decode(&trailing), None);
        for cut in 0..good.len() {
            assert_eq!(MessageMeta::decode(&good[..cut]), None);
        }
        // A huge claimed length must not allocate or panic.
        let mut huge = vec![FORMAT_VERSION];
        put_varint(&mut huge, u64::MAX);
        assert_eq!(MessageMeta::decode(&huge), None);
    }

    #[test]
    fn format_v1_bytes_are_stable() {
        let m = super::super::analyze(b"Subject: hi\r\n\r\nx");
        let mut out = Vec::new();
        m.encode(&mut out);
        #[rustfmt::skip]
        let expected = [
            FORMAT_VERSION,
            0, 3, b'h', b'i',       // date NIL, subject "hi"
            0, 0, 0, 0, 0, 0,       // six empty address lists
            0, 0,                   // in-reply-to, message-id
            0,                      // no parseable Date
            0, 15, 1,               // header at +0, 15 header bytes, 1 body byte
            1,                      // text part
            1, 3,                   // COMMON "text", "plain"
            1, 7, 9,                // one param: "charset" "us-ascii"
            0, 0, 0, 0, 0,          // id, description, encoding, md5, location
            0, 0,                   // no disposition, no languages
            0,                      // lines
        ];
        assert_eq!(out, expected);
    }

    #[test]
    fn sent_day_uses_header_zone() {
        // 1994-02-07 21:52:25 -0800 is 1994-02-08 05:52:25 UTC.
        let m = MessageMeta {
            sent_date: Some(760_686_745),
            sent_tz_minutes: -480,
            ..Default::default()
        };
        assert_eq!(m.sent_day(), Some(760_686_745_i64.div_euclid(86_400) - 1));
    }
}
