//! What Sieve tests need from a message: header values (RFC 5322
//! unfolding, RFC 2047 decoding), parsed address lists and the size.
//!
//! A small, lenient parser of its own: any byte sequence is accepted and
//! nothing panics. Header bytes that are not UTF-8 are read as ISO-8859-1.

/// A message as seen by the Sieve interpreter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageView<'a> {
    headers: Vec<Field<'a>>,
    size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Field<'a> {
    name: &'a str,
    /// Unfolded value with surrounding whitespace removed, not 2047-decoded.
    raw: String,
    /// `raw` with RFC 2047 encoded-words decoded.
    value: String,
}

const WSP: &[char] = &[' ', '\t', '\r', '\n'];

fn bytes_to_string(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(_) => b.iter().map(|&c| char::from(c)).collect(),
    }
}

impl<'a> MessageView<'a> {
    /// Parses the header section of a raw RFC 5322 message (CRLF or LF line
    /// endings). The size is `raw.len()`; see [`MessageView::with_size`].
    pub fn parse(raw: &'a [u8]) -> MessageView<'a> {
        let mut headers = Vec::new();
        let mut current: Option<(&'a str, Vec<u8>)> = None;
        let mut rest = raw;
        while !rest.is_empty() {
            let (line, next) = match memchr::memchr(b'\n', rest) {
                Some(i) => rest.split_at(i + 1),
                None => (rest, &rest[rest.len()..]),
            };
            rest = next;
            let line = line.strip_suffix(b"\n").unwrap_or(line);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            match line.first() {
                None => break, // end of the header section
                Some(b' ' | b'\t') => {
                    // Unfolding: the line break goes, the whitespace stays.
                    if let Some((_, value)) = &mut current {
                        value.extend_from_slice(line);
                    }
                    continue;
                }
                Some(_) => {}
            }
            headers.extend(current.take().map(Field::new));
            if let Some(colon) = line.iter().position(|&b| b == b':') {
                let name = line[..colon].trim_ascii_end();
                let valid = !name.is_empty() && name.iter().all(|&b| (33..=126).contains(&b));
                if let (true, Ok(name)) = (valid, std::str::from_utf8(name)) {
                    current = Some((name, line[colon + 1..].to_vec()));
                }
            }
        }
        headers.extend(current.take().map(Field::new));
        MessageView {
            headers,
            size: u64::try_from(raw.len()).unwrap_or(u64::MAX),
        }
    }

    /// Overrides the size used by the `size` test (octets).
    #[cfg(test)]
    pub fn with_size(mut self, size: u64) -> MessageView<'a> {
        self.size = size;
        self
    }

    /// All values of the header `name` (case-insensitive), unfolded,
    /// trimmed and RFC 2047-decoded, in message order.
    pub fn header(&self, name: &str) -> Vec<&str> {
        self.fields(name).map(|f| f.value.as_str()).collect()
    }

    /// All addresses in the headers called `name`, as
    /// `(display name, "local@domain")`; group names are dropped, group
    /// members included, display names RFC 2047-decoded.
    pub fn addresses(&self, name: &str) -> Vec<(String, String)> {
        self.fields(name)
            .flat_map(|f| parse_addresses(&f.raw))
            .collect()
    }

    /// Message size in octets.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Work units for looking up `name`: scanning plus matching values' length.
    pub(super) fn lookup_cost(&self, name: &str) -> usize {
        self.headers.len()
            + self
                .fields(name)
                .map(|f| f.raw.len() + f.value.len())
                .sum::<usize>()
    }

    fn fields<'s>(&'s self, name: &str) -> impl Iterator<Item = &'s Field<'a>> {
        self.headers
            .iter()
            .filter(move |f| f.name.eq_ignore_ascii_case(name))
    }
}

impl<'a> Field<'a> {
    fn new((name, value): (&'a str, Vec<u8>)) -> Field<'a> {
        let raw = bytes_to_string(&value).trim_matches(WSP).to_string();
        let value = decode_2047(&raw);
        Field { name, raw, value }
    }
}

// ---------------------------------------------------------------------------
// RFC 2047 encoded-words.

fn decode_charset(charset: &str, bytes: &[u8]) -> Option<String> {
    const CP1252: [u16; 32] = [
        0x20AC, 0x81, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
        0x2039, 0x0152, 0x8D, 0x017D, 0x8F, 0x90, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013,
        0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D, 0x017E, 0x0178,
    ];
    let latin9 = |b: u8| -> char {
        let c = match b {
            0xA4 => 0x20AC,
            0xA6 => 0x0160,
            0xA8 => 0x0161,
            0xB4 => 0x017D,
            0xB8 => 0x017E,
            0xBC => 0x0152,
            0xBD => 0x0153,
            0xBE => 0x0178,
            b => u32::from(b),
        };
        char::from_u32(c).unwrap_or('\u{FFFD}')
    };
    let cp1252 = |b: u8| -> char {
        match b {
            0x80..=0x9F => {
                char::from_u32(u32::from(CP1252[usize::from(b - 0x80)])).unwrap_or('\u{FFFD}')
            }
            b => char::from(b),
        }
    };
    match charset.to_ascii_lowercase().as_str() {
        "utf-8" | "utf8" | "us-ascii" | "ascii" => {
            Some(String::from_utf8_lossy(bytes).into_owned())
        }
        "iso-8859-1" | "iso8859-1" | "iso_8859-1" | "latin1" | "l1" | "cp819" => {
            Some(bytes.iter().map(|&b| char::from(b)).collect())
        }
        "iso-8859-15" | "iso8859-15" | "iso_8859-15" | "latin9" | "latin-9" => {
            Some(bytes.iter().map(|&b| latin9(b)).collect())
        }
        "windows-1252" | "cp1252" => Some(bytes.iter().map(|&b| cp1252(b)).collect()),
        _ => None,
    }
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn q_decode(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let hex = |i: usize| b.get(i).and_then(|c| char::from(*c).to_digit(16));
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'_' => out.push(b' '),
            b'=' => match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => {
                    out.push((h * 16 + l) as u8);
                    i += 2;
                }
                _ => out.push(b'='),
            },
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// Parses an encoded-word at the start of `s`: (charset, octets, length).
fn encoded_word(s: &str) -> Option<(&str, Vec<u8>, usize)> {
    let body = s.strip_prefix("=?")?;
    let q1 = body.find('?')?;
    let charset = &body[..q1];
    if charset.is_empty()
        || !charset
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_*+:".contains(&b))
    {
        return None;
    }
    let rest = &body[q1 + 1..];
    let enc = match rest.as_bytes() {
        [e @ (b'b' | b'B' | b'q' | b'Q'), b'?', ..] => e.to_ascii_lowercase(),
        _ => return None,
    };
    let text_all = &rest[2..];
    let end = text_all.find('?')?;
    if !text_all[end..].starts_with("?=") {
        return None;
    }
    let text = &text_all[..end];
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    let bytes = if enc == b'b' {
        base64_decode(text)?
    } else {
        q_decode(text)
    };
    let charset = charset.split('*').next().unwrap_or(charset);
    Some((charset, bytes, 2 + q1 + 1 + 2 + end + 2))
}

/// Decodes RFC 2047 encoded-words anywhere in `s` (leniently, also inside
/// words). Whitespace between adjacent encoded-words is dropped and the
/// octets of adjacent words in the same charset are joined before decoding,
/// so multi-byte characters split across words survive. Words in unknown
/// charsets are left as they are.
pub(super) fn decode_2047(s: &str) -> String {
    struct Run {
        charset: String,
        bytes: Vec<u8>,
        original: String,
    }
    fn flush(out: &mut String, run: Option<Run>) {
        if let Some(r) = run {
            match decode_charset(&r.charset, &r.bytes) {
                Some(text) => out.push_str(&text),
                None => out.push_str(&r.original),
            }
        }
    }
    if !s.contains("=?") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut run: Option<Run> = None;
    let mut rest = s;
    while let Some(idx) = rest.find("=?") {
        let before = &rest[..idx];
        let Some((charset, bytes, len)) = encoded_word(&rest[idx..]) else {
            flush(&mut out, run.take());
            out.push_str(&rest[..idx + 2]);
            rest = &rest[idx + 2..];
            continue;
        };
        let word = &rest[idx..idx + len];
        let adjacent = run.is_some() && before.chars().all(|c| WSP.contains(&c));
        match &mut run {
            Some(r) if adjacent && r.charset.eq_ignore_ascii_case(charset) => {
                r.bytes.extend_from_slice(&bytes);
                r.original.push_str(before);
                r.original.push_str(word);
            }
            _ => {
                flush(&mut out, run.take());
                if !adjacent {
                    out.push_str(before);
                }
                run = Some(Run {
                    charset: charset.to_string(),
                    bytes,
                    original: word.to_string(),
                });
            }
        }
        rest = &rest[idx + len..];
    }
    flush(&mut out, run.take());
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------------------
// RFC 5322 address lists.

#[derive(Debug, Clone, PartialEq, Eq)]
enum AddrTok {
    Word(String),
    Quoted(String),
    Comment(String),
    Special(char),
}

fn address_tokens(s: &str) -> Vec<AddrTok> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '"' => {
                let mut q = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => q.extend(chars.next()),
                        c => q.push(c),
                    }
                }
                out.push(AddrTok::Quoted(q));
            }
            '(' => {
                let (mut depth, mut t) = (1u32, String::new());
                while let Some(c) = chars.next() {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        '\\' => {
                            t.extend(chars.next());
                            continue;
                        }
                        _ => {}
                    }
                    if depth == 0 {
                        break;
                    }
                    t.push(c);
                }
                out.push(AddrTok::Comment(t));
            }
            '<' | '>' | ',' | ':' | ';' => out.push(AddrTok::Special(c)),
            c => {
                let mut w = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || "\"(<>,:;".contains(n) {
                        break;
                    }
                    w.push(n);
                    chars.next();
                }
                out.push(AddrTok::Word(w));
            }
        }
    }
    out
}

/// Parses an address-list leniently: mailboxes, `name <addr>`, groups
/// (`name: a, b;`), routes, comments and quoted strings.
pub(super) fn parse_addresses(raw: &str) -> Vec<(String, String)> {
    #[derive(Default)]
    struct Mailbox {
        words: Vec<String>,
        bare: String,
        comment: Option<String>,
        angle: Option<String>,
    }
    fn finish(out: &mut Vec<(String, String)>, m: Mailbox) {
        let (display, addr) = match m.angle {
            Some(a) => (decode_2047(&m.words.join(" ")), a),
            None if m.bare.contains('@') => (
                m.comment.map(|c| decode_2047(&c)).unwrap_or_default(),
                m.bare,
            ),
            None => (String::new(), m.words.join(" ")),
        };
        if !addr.is_empty() {
            out.push((display.trim_matches(WSP).to_string(), addr));
        }
    }
    let mut out = Vec::new();
    let mut cur = Mailbox::default();
    let mut angle: Option<String> = None; // inside < >
    for tok in address_tokens(raw) {
        if let Some(buf) = &mut angle {
            match tok {
                AddrTok::Word(w) | AddrTok::Quoted(w) => buf.push_str(&w),
                AddrTok::Special('>') => cur.angle = angle.take(),
                AddrTok::Special(':') => buf.clear(), // end of an obsolete route
                _ => {}
            }
            continue;
        }
        match tok {
            AddrTok::Word(w) | AddrTok::Quoted(w) => {
                cur.bare.push_str(&w);
                cur.words.push(w);
            }
            AddrTok::Comment(c) => {
                cur.comment.get_or_insert(c);
            }
            AddrTok::Special('<') => angle = Some(String::new()),
            AddrTok::Special(':') => cur = Mailbox::default(), // group name
            AddrTok::Special(',' | ';') => finish(&mut out, std::mem::take(&mut cur)),
            AddrTok::Special(_) => {}
        }
    }
    if angle.is_some() {
        cur.angle = angle;
    }
    finish(&mut out, cur);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(s: &str) -> Vec<(String, String)> {
        parse_addresses(s)
    }

    fn pair(d: &str, a: &str) -> (String, String) {
        (d.to_string(), a.to_string())
    }

    #[test]
    fn header_parsing_and_unfolding() {
        let raw = b"From MAILER-DAEMON Mon Jan  1 00:00:00 2024\r\nSubject: hello\r\n  folded\r\n\tagain \r\nX-Empty:\r\nbad line\r\nsubject : second\r\n\r\nBody: not a header\r\n";
        let m = MessageView::parse(raw);
        assert_eq!(m.header("SUBJECT"), vec!["hello  folded\tagain", "second"]);
        assert_eq!(m.header("x-empty"), vec![""]);
        assert!(m.header("body").is_empty());
        assert!(m.header("From MAILER-DAEMON Mon Jan  1 00").is_empty());
        assert_eq!(m.size(), raw.len() as u64);
        assert_eq!(m.clone().with_size(7).size(), 7);
        // LF only, no body, no final newline.
        let m = MessageView::parse(b"To: a@b\nCc: c@d");
        assert_eq!(m.header("cc"), vec!["c@d"]);
    }

    #[test]
    fn rfc2047_decoding() {
        assert_eq!(decode_2047("=?ISO-8859-1?Q?Gr=FC=DFe?="), "Grüße");
        assert_eq!(decode_2047("=?utf-8?B?R3LDvMOfZQ==?="), "Grüße");
        assert_eq!(decode_2047("=?US-ASCII?Q?Keith_Moore?="), "Keith Moore");
        // Whitespace between encoded words disappears, around text it stays.
        assert_eq!(
            decode_2047("=?utf-8?q?a?= =?utf-8?q?b?= c =?utf-8?q?d?="),
            "ab c d"
        );
        // A UTF-8 character split across two words.
        assert_eq!(decode_2047("=?UTF-8?B?ww==?= =?UTF-8?B?pA==?="), "ä");
        assert_eq!(decode_2047("=?utf-8?q?=C3?= =?utf-8?q?=A4?="), "ä");
        assert_eq!(
            decode_2047("=?iso-8859-15?q?=A4?= =?windows-1252?q?=80?="),
            "€€"
        );
        assert_eq!(decode_2047("=?utf-8*de?q?ok?="), "ok");
        // Unknown charsets and malformed words are left alone.
        assert_eq!(decode_2047("=?x-unknown?q?abc?="), "=?x-unknown?q?abc?=");
        assert_eq!(decode_2047("=?utf-8?x?abc?="), "=?utf-8?x?abc?=");
        assert_eq!(decode_2047("=?utf-8?b?!!!?="), "=?utf-8?b?!!!?=");
        assert_eq!(decode_2047("a =? b ?= c"), "a =? b ?= c");
        assert_eq!(decode_2047("=?utf-8?q?bad=zz?="), "bad=zz");
        assert_eq!(decode_2047("=?"), "=?");
        assert_eq!(decode_2047("=?é?q?x?="), "=?é?q?x?=");
    }

    #[test]
    fn decoded_header_values() {
        let m = MessageView::parse(
            b"Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= aus\r\n =?utf-8?q?K=C3=B6ln?=\r\n\r\n",
        );
        assert_eq!(m.header("subject"), vec!["Grüße aus Köln"]);
        // 8-bit header that is not UTF-8 is read as Latin-1.
        let m = MessageView::parse(b"Subject: caf\xe9\r\n\r\n");
        assert_eq!(m.header("subject"), vec!["café"]);
    }

    #[test]
    fn address_lists() {
        assert_eq!(addrs("joe@example.com"), vec![pair("", "joe@example.com")]);
        assert_eq!(
            addrs("\"Doe, John\" <john@example.com>, Jane <jane@example.org>"),
            vec![
                pair("Doe, John", "john@example.com"),
                pair("Jane", "jane@example.org")
            ]
        );
        assert_eq!(
            addrs("Team: a@x.org, \"B\" <b@y.org>; , c@z.org"),
            vec![
                pair("", "a@x.org"),
                pair("B", "b@y.org"),
                pair("", "c@z.org")
            ]
        );
        assert_eq!(addrs("undisclosed-recipients:;"), vec![]);
        assert_eq!(
            addrs("joe@example.com (Joe Q. Public)"),
            vec![pair("Joe Q. Public", "joe@example.com")]
        );
        assert_eq!(
            addrs("<@relay.net,@other.net:joe@example.com>"),
            vec![pair("", "joe@example.com")]
        );
        assert_eq!(
            addrs("\"john doe\"@example.com"),
            vec![pair("", "john doe@example.com")]
        );
        assert_eq!(
            addrs("=?utf-8?q?J=C3=B6rg?= =?utf-8?q?_M?= <j@x.de>"),
            vec![pair("Jörg M", "j@x.de")]
        );
        assert_eq!(
            addrs("\"=?utf-8?b?w4Q=?=\" <ae@x.de>"),
            vec![pair("Ä", "ae@x.de")]
        );
        assert_eq!(
            addrs("Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>"),
            vec![
                pair("Mary Smith", "mary@x.test"),
                pair("", "jdoe@example.org"),
                pair("Who?", "one@y.test"),
            ]
        );
        assert_eq!(addrs("<>"), vec![]);
        assert_eq!(addrs("root"), vec![pair("", "root")]);
        assert_eq!(
            addrs("Unterminated <a@b"),
            vec![pair("Unterminated", "a@b")]
        );
        assert_eq!(
            addrs("\"never closed <a@b>"),
            vec![pair("", "never closed <a@b>")]
        );
        assert_eq!(
            addrs("(comment (nested) \\) x) a@b"),
            vec![pair("comment (nested) ) x", "a@b")]
        );
    }

    #[test]
    fn message_addresses() {
        let m = MessageView::parse(b"To: a@x.org,\r\n B <b@y.org>\r\nto: c@z.org\r\n\r\n");
        assert_eq!(
            m.addresses("TO"),
            vec![
                pair("", "a@x.org"),
                pair("B", "b@y.org"),
                pair("", "c@z.org")
            ]
        );
        assert!(m.addresses("cc").is_empty());
    }

    #[test]
    fn garbage_never_panics() {
        let mut seed = 0x2545F4914F6CDD1Du64;
        let alphabet = b"=?QqBb_:;,<>()\"\\@ \t\r\n\x00\xff\xc3\xa4abcXYZ09+/.*";
        for len in 0..400 {
            let mut buf = Vec::with_capacity(len);
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                buf.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let m = MessageView::parse(&buf);
            for f in &m.headers {
                let _ = m.header(f.name);
                let _ = m.addresses(f.name);
            }
            let text = String::from_utf8_lossy(&buf);
            let _ = decode_2047(&text);
            let _ = parse_addresses(&text);
        }
    }
}
