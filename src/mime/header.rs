//! Header-block helpers: finding the end of a header, iterating fields,
//! unfolding, and parsing MIME structured fields (`Content-Type`,
//! `Content-Disposition` with RFC 2231 parameter continuations).

use super::meta::Param;

/// Offset just past the blank line ending the header that starts at
/// `start`, or `end` when there is no blank line (then everything up to
/// `end` is header and the body is empty).
pub(super) fn header_end(raw: &[u8], start: usize, end: usize) -> usize {
    let end = end.min(raw.len());
    let mut pos = start;
    while pos < end {
        match raw[pos] {
            b'\n' => return pos + 1,
            b'\r' if raw.get(pos + 1) == Some(&b'\n') && pos + 1 < end => return pos + 2,
            _ => {}
        }
        match memchr::memchr(b'\n', &raw[pos..end]) {
            Some(i) => pos += i + 1,
            None => return end,
        }
    }
    end
}

/// Whether `header` (as returned by a header range) ends with the blank
/// line separating it from the body.
pub(super) fn has_blank_line(header: &[u8]) -> bool {
    header == b"\r\n" || header == b"\n" || header.ends_with(b"\n\r\n") || header.ends_with(b"\n\n")
}

/// One header field: its name (without the colon, trailing blanks
/// removed), its raw value (after the colon, folding kept, final line
/// break removed) and the full raw bytes including the final line break.
pub(super) struct Field<'a> {
    pub name: &'a [u8],
    pub value: &'a [u8],
    pub raw: &'a [u8],
}

/// Iterates the fields of a header block, stopping at the blank line.
/// A line without a colon becomes a field whose name is the whole line.
pub(super) fn fields(header: &[u8]) -> impl Iterator<Item = Field<'_>> {
    let mut pos = 0;
    std::iter::from_fn(move || {
        let rest = header.get(pos..)?;
        if rest.is_empty() || rest.starts_with(b"\r\n") || rest.starts_with(b"\n") {
            return None;
        }
        // The field runs until a line break followed by a non-blank.
        let mut len = 0;
        loop {
            match memchr::memchr(b'\n', &rest[len..]) {
                None => {
                    len = rest.len();
                    break;
                }
                Some(i) => {
                    len += i + 1;
                    if !matches!(rest.get(len), Some(b' ' | b'\t')) {
                        break;
                    }
                }
            }
        }
        let raw = &rest[..len];
        pos += len;
        let line = trim_line_end(raw);
        let (name, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => (trim_end(&line[..i]), &line[i + 1..]),
            None => (line, &line[line.len()..]),
        };
        Some(Field { name, value, raw })
    })
}

/// The raw value of the first field called `name` (case-insensitive).
pub(super) fn first_value<'a>(header: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    fields(header)
        .find(|f| f.name.eq_ignore_ascii_case(name))
        .map(|f| f.value)
}

fn trim_line_end(s: &[u8]) -> &[u8] {
    let s = s.strip_suffix(b"\n").unwrap_or(s);
    s.strip_suffix(b"\r").unwrap_or(s)
}

fn is_blank(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

fn trim_end(s: &[u8]) -> &[u8] {
    let n = s.iter().rposition(|&b| !is_blank(b)).map_or(0, |i| i + 1);
    &s[..n]
}

pub(super) fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_blank(b)).unwrap_or(s.len());
    trim_end(&s[start..])
}

/// RFC 5322 unfolding (every CR and LF removed, the following blanks
/// kept) plus trimming of leading and trailing blanks.
pub(super) fn unfold(value: &[u8]) -> Vec<u8> {
    trim(value)
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect()
}

// ------------------------------------------------------ structured fields

/// Cursor over an RFC 2045 structured field value.
struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
}

fn is_tspecial(b: u8) -> bool {
    matches!(
        b,
        b'(' | b')'
            | b'<'
            | b'>'
            | b'@'
            | b','
            | b';'
            | b':'
            | b'\\'
            | b'"'
            | b'/'
            | b'['
            | b']'
            | b'?'
            | b'='
    )
}

impl<'a> Lexer<'a> {
    fn new(s: &'a [u8]) -> Self {
        Lexer { s, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.pos).copied()
    }

    /// Skips blanks, line breaks and (nested) comments.
    fn skip_cfws(&mut self) {
        while let Some(b) = self.peek() {
            if is_blank(b) {
                self.pos += 1;
            } else if b == b'(' {
                let mut depth = 0usize;
                while let Some(b) = self.peek() {
                    self.pos += 1;
                    match b {
                        b'\\' if self.peek().is_some() => self.pos += 1,
                        b'(' => depth += 1,
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            } else {
                break;
            }
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_cfws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// An RFC 2045 token (may be empty).
    fn token(&mut self) -> &'a [u8] {
        self.skip_cfws();
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b <= b' ' || b == 0x7f || is_tspecial(b) {
                break;
            }
            self.pos += 1;
        }
        &self.s[start..self.pos]
    }

    /// A parameter value: a quoted string (unescaped) or, leniently,
    /// anything up to the next `;` or blank.
    fn value(&mut self) -> Vec<u8> {
        self.skip_cfws();
        if self.peek() == Some(b'"') {
            self.pos += 1;
            let mut v = Vec::new();
            while let Some(b) = self.peek() {
                self.pos += 1;
                match b {
                    b'"' => break,
                    b'\\' => {
                        if let Some(n) = self.peek() {
                            v.push(n);
                            self.pos += 1;
                        }
                    }
                    b'\r' | b'\n' => {}
                    _ => v.push(b),
                }
            }
            v
        } else {
            let start = self.pos;
            while let Some(b) = self.peek() {
                if b == b';' || is_blank(b) {
                    break;
                }
                self.pos += 1;
            }
            self.s[start..self.pos].to_vec()
        }
    }

    /// `*(";" attribute "=" value)`, skipping malformed entries.
    fn params(&mut self) -> Vec<Param> {
        let mut out = Vec::new();
        loop {
            self.skip_cfws();
            match self.peek() {
                None => break,
                Some(b';') => {
                    self.pos += 1;
                    continue;
                }
                _ => {}
            }
            let name = self.token();
            if name.is_empty() || !self.eat(b'=') {
                // Malformed: skip to the next parameter.
                while let Some(b) = self.peek() {
                    self.pos += 1;
                    if b == b';' {
                        break;
                    }
                }
                continue;
            }
            let value = self.value();
            out.push(Param {
                name: name.to_vec(),
                value,
            });
        }
        merge_rfc2231(out)
    }
}

/// Parses a `Content-Type` value into type, subtype and parameters.
/// `None` when the type/subtype is syntactically invalid.
pub(super) fn content_type(value: &[u8]) -> Option<(Vec<u8>, Vec<u8>, Vec<Param>)> {
    let mut lx = Lexer::new(value);
    let ty = lx.token();
    if ty.is_empty() || !lx.eat(b'/') {
        return None;
    }
    let sub = lx.token();
    if sub.is_empty() {
        return None;
    }
    Some((ty.to_vec(), sub.to_vec(), lx.params()))
}

/// Parses a `Content-Disposition` value. `None` when there is no type.
pub(super) fn disposition(value: &[u8]) -> Option<(Vec<u8>, Vec<Param>)> {
    let mut lx = Lexer::new(value);
    let kind = lx.token();
    if kind.is_empty() {
        return None;
    }
    Some((kind.to_vec(), lx.params()))
}

/// The first token of a field (used for `Content-Transfer-Encoding`).
pub(super) fn single_token(value: &[u8]) -> Option<Vec<u8>> {
    let t = Lexer::new(value).token();
    (!t.is_empty()).then(|| t.to_vec())
}

/// `Content-Language`: comma-separated language tags.
pub(super) fn language_list(value: &[u8]) -> Vec<Vec<u8>> {
    let mut lx = Lexer::new(value);
    let mut out = Vec::new();
    loop {
        lx.skip_cfws();
        let start = lx.pos;
        while let Some(b) = lx.peek() {
            if b == b',' || b == b'(' || is_blank(b) {
                break;
            }
            lx.pos += 1;
        }
        if lx.pos > start {
            out.push(value[start..lx.pos].to_vec());
        }
        lx.skip_cfws();
        match lx.peek() {
            None => break,
            Some(b',') => lx.pos += 1,
            Some(_) if lx.pos == start => lx.pos += 1,
            Some(_) => {}
        }
    }
    out
}

// ------------------------------------------------------------ RFC 2231

/// Splits `name*N` / `name*N*` into (base, N, encoded).
fn section_of(name: &[u8]) -> Option<(&[u8], u32, bool)> {
    let star = name.iter().position(|&b| b == b'*')?;
    let (base, rest) = (&name[..star], &name[star + 1..]);
    let (digits, encoded) = match rest.strip_suffix(b"*") {
        Some(d) => (d, true),
        None => (rest, false),
    };
    if base.is_empty() || digits.is_empty() || digits.len() > 4 {
        return None;
    }
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((base, n, encoded))
}

/// RFC 2231 attribute-char: may stand unencoded in an extended value.
fn is_attribute_char(b: u8) -> bool {
    b > b' ' && b < 0x7f && !is_tspecial(b) && !matches!(b, b'*' | b'\'' | b'%')
}

fn percent_encode(out: &mut Vec<u8>, s: &[u8]) {
    for &b in s {
        if is_attribute_char(b) {
            out.push(b);
        } else {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    }
}

/// Merges RFC 2231 continuations (`name*0`, `name*1*`, ...) into one
/// parameter at the position of the first section. Values stay 7-bit: if
/// any section is extended the result is `name*` with an extended
/// (`charset'lang'%XX`) value, otherwise plain `name` with the
/// concatenation. Single `name*` parameters are kept as they are.
fn merge_rfc2231(params: Vec<Param>) -> Vec<Param> {
    if !params.iter().any(|p| section_of(&p.name).is_some()) {
        return params;
    }
    // (position in output, lowercase base, sections)
    type Sections = Vec<(u32, bool, Vec<u8>)>;
    let mut groups: Vec<(usize, Vec<u8>, Sections)> = Vec::new();
    let mut out: Vec<Param> = Vec::new();
    for p in params {
        let Some((base, n, encoded)) = section_of(&p.name) else {
            out.push(p);
            continue;
        };
        let key = base.to_ascii_lowercase();
        match groups.iter_mut().find(|g| g.1 == key) {
            Some(g) => {
                if !g.2.iter().any(|s| s.0 == n) {
                    g.2.push((n, encoded, p.value));
                }
            }
            None => {
                out.push(Param {
                    name: base.to_vec(),
                    value: Vec::new(),
                });
                groups.push((out.len() - 1, key, vec![(n, encoded, p.value)]));
            }
        }
    }
    for (idx, _, mut sections) in groups {
        sections.sort_by_key(|s| s.0);
        let any_encoded = sections.iter().any(|s| s.1);
        let mut value = Vec::new();
        if any_encoded {
            for (i, (_, encoded, v)) in sections.iter().enumerate() {
                match (i, encoded) {
                    (_, true) => value.extend_from_slice(v),
                    // First section unencoded: no charset/language given.
                    (0, false) => {
                        value.extend_from_slice(b"''");
                        percent_encode(&mut value, v);
                    }
                    (_, false) => percent_encode(&mut value, v),
                }
            }
            out[idx].name.push(b'*');
        } else {
            for (_, _, v) in &sections {
                value.extend_from_slice(v);
            }
        }
        out[idx].value = value;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, value: &str) -> Param {
        Param {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn header_end_variants() {
        assert_eq!(header_end(b"A: b\r\n\r\nbody", 0, 12), 8);
        assert_eq!(header_end(b"\r\nbody", 0, 6), 2);
        assert_eq!(header_end(b"A: b\r\nC: d", 0, 10), 10);
        assert_eq!(header_end(b"A: b\r\n", 0, 6), 6);
        assert_eq!(header_end(b"", 0, 0), 0);
        assert_eq!(header_end(b"A: b\n\nx", 0, 7), 6);
        // Bounded by `end`, not by the slice.
        assert_eq!(header_end(b"A: b\r\n\r\n", 0, 4), 4);
        assert!(has_blank_line(b"A: b\r\n\r\n"));
        assert!(has_blank_line(b"\r\n"));
        assert!(!has_blank_line(b"A: b\r\n"));
        assert!(!has_blank_line(b""));
    }

    #[test]
    fn field_iteration_and_unfolding() {
        let h = b"Subject: a\r\n\tb\r\nX-Y : z\r\nbogus line\r\nTo: q\r\n\r\nbody: no\r\n";
        let f: Vec<_> = fields(h)
            .map(|f| (f.name.to_vec(), f.value.to_vec()))
            .collect();
        assert_eq!(
            f,
            vec![
                (b"Subject".to_vec(), b" a\r\n\tb".to_vec()),
                (b"X-Y".to_vec(), b" z".to_vec()),
                (b"bogus line".to_vec(), b"".to_vec()),
                (b"To".to_vec(), b" q".to_vec()),
            ]
        );
        assert_eq!(unfold(b" a\r\n\tb  "), b"a\tb");
        assert_eq!(first_value(h, b"subject"), Some(&b" a\r\n\tb"[..]));
        assert_eq!(first_value(h, b"cc"), None);
        // A final field without line break.
        let f: Vec<_> = fields(b"A: 1\r\nB: 2").map(|f| f.raw.to_vec()).collect();
        assert_eq!(f, vec![b"A: 1\r\n".to_vec(), b"B: 2".to_vec()]);
    }

    #[test]
    fn content_type_parsing() {
        let (t, s, ps) =
            content_type(b" TEXT/Plain (comment) ; CHARSET=\"ISO-8859-1\";format=flowed").unwrap();
        assert_eq!((t.as_slice(), s.as_slice()), (&b"TEXT"[..], &b"Plain"[..]));
        assert_eq!(ps, vec![p("CHARSET", "ISO-8859-1"), p("format", "flowed")]);
        assert_eq!(content_type(b"text"), None);
        assert_eq!(content_type(b"text/"), None);
        assert_eq!(content_type(b""), None);
        let (_, _, ps) =
            content_type(b"multipart/mixed; boundary=----=_Part_1_2.3; bad; x=\"a\\\"b\"").unwrap();
        assert_eq!(ps, vec![p("boundary", "----=_Part_1_2.3"), p("x", "a\"b")]);
        let (_, _, ps) = content_type(b"multipart/mixed;\r\n\tboundary=\"abc\"").unwrap();
        assert_eq!(ps, vec![p("boundary", "abc")]);
    }

    #[test]
    fn rfc2231_merging() {
        let (_, ps) = disposition(
            b"attachment; filename*0*=UTF-8''r%C3%A9; filename*1*=sum%C3%A9; filename*2=\".p f\"",
        )
        .unwrap();
        assert_eq!(ps, vec![p("filename*", "UTF-8''r%C3%A9sum%C3%A9.p%20f")]);
        let (_, _, ps) =
            content_type(b"text/plain; title*1=\"title\"; charset=us-ascii; title*0=\"A long \"")
                .unwrap();
        assert_eq!(
            ps,
            vec![p("title", "A long title"), p("charset", "us-ascii")]
        );
        let (_, _, ps) =
            content_type(b"text/plain; name*=utf-8'en'%E2%82%AC.txt; a*0=x; a*1*=%41").unwrap();
        assert_eq!(
            ps,
            vec![p("name*", "utf-8'en'%E2%82%AC.txt"), p("a*", "''x%41")]
        );
    }

    #[test]
    fn random_field_values_never_panic() {
        const ALPHABET: &[u8] = b"()\"\\;=/*'%<>@,:[] aZ0\r\n\t\xc3";
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        for _ in 0..20_000 {
            let len = next(14);
            let v: Vec<u8> = (0..len).map(|_| ALPHABET[next(ALPHABET.len())]).collect();
            let _ = content_type(&v);
            let _ = disposition(&v);
            let _ = language_list(&v);
            let _ = single_token(&v);
            let _ = unfold(&v);
            let _ = super::super::address::parse_address_list(&v);
            let _ = super::super::text::decode_header_value(&v);
            let _ = fields(&v).count();
        }
        assert_eq!(
            content_type(b"a/b (\\"),
            Some((b"a".to_vec(), b"b".to_vec(), vec![]))
        );
    }

    #[test]
    fn language_and_token() {
        assert_eq!(
            language_list(b" en, de (German)\r\n , ,fr"),
            vec![b"en".to_vec(), b"de".to_vec(), b"fr".to_vec()]
        );
        assert_eq!(
            single_token(b" Quoted-Printable (x)"),
            Some(b"Quoted-Printable".to_vec())
        );
        assert_eq!(single_token(b"  "), None);
    }
}
