//! Low-level IMAP string encoders (RFC 3501 §4.3): atom, quoted, literal, nstring.
//!
//! Every place that writes a string to the wire goes through these functions so the choice between
//! quoted and literal form is made in one place.

/// True for bytes allowed in an RFC 3501 `ATOM-CHAR`.
pub fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// True when `s` may be sent as a quoted string: 7-bit, no CR/LF/NUL.
fn quotable(s: &[u8]) -> bool {
    s.len() < 1024 && s.iter().all(|&b| (0x20..0x7f).contains(&b) || b == b'\t')
}

/// `string = quoted / literal`: quoted when possible, a literal otherwise.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    if quotable(s) {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        literal(out, s);
    }
}

/// `literal = "{" number "}" CRLF *CHAR8`.
pub fn literal(out: &mut Vec<u8>, s: &[u8]) {
    literal_header(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Writes only `{n}\r\n`: the caller streams `n` bytes after it.
pub fn literal_header(out: &mut Vec<u8>, n: u64) {
    out.push(b'{');
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"}\r\n");
}

/// `nstring = string / nil`.
pub fn nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// `astring = 1*ASTRING-CHAR / string`: an atom when every byte allows it (and it is not the
/// word NIL, which a client would read as nil in nstring positions), else a string.
pub fn astring(out: &mut Vec<u8>, s: &[u8]) {
    if !s.is_empty()
        && !s.eq_ignore_ascii_case(b"NIL")
        && s.iter().all(|&b| is_atom_char(b) || b == b']')
    {
        out.extend_from_slice(s);
    } else {
        string(out, s);
    }
}

/// Writes a decimal number.
pub fn number(out: &mut Vec<u8>, n: impl Into<u64>) {
    out.extend_from_slice(n.into().to_string().as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn strings_pick_the_right_form() {
        assert_eq!(enc(|o| string(o, b"hello world")), "\"hello world\"");
        assert_eq!(enc(|o| string(o, b"a\"b\\c")), "\"a\\\"b\\\\c\"");
        assert_eq!(enc(|o| string(o, b"a\r\nb")), "{4}\r\na\r\nb");
        assert_eq!(enc(|o| string(o, "grüße".as_bytes())), "{7}\r\ngrüße");
        assert_eq!(enc(|o| nstring(o, None)), "NIL");
        assert_eq!(enc(|o| astring(o, b"INBOX")), "INBOX");
        assert_eq!(enc(|o| astring(o, b"a b")), "\"a b\"");
        assert_eq!(enc(|o| astring(o, b"nil")), "\"nil\"");
        assert_eq!(enc(|o| astring(o, b"")), "\"\"");
    }
}
