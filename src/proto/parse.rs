//! A cursor over one framed command with typed getters for the RFC 3501 §9 grammar rules.
//!
//! The framer has already checked that every literal is complete, so the getters only have to
//! follow the grammar. Every failure is a [`ParseError`], answered with `BAD`.

use super::types::{DateTime, Flag, MailboxName, SeqNum, SeqSet};
use super::utf7;

/// A syntax error; the text is safe to send to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub String);

impl ParseError {
    pub fn new(msg: impl Into<String>) -> Self {
        ParseError(msg.into())
    }
}

pub type PResult<T> = Result<T, ParseError>;

/// Cursor over the bytes of one command (lines and literals, final CRLF included).
pub struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Parser<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Parser { buf, pos: 0 }
    }

    pub fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// True when the next bytes are CRLF (or LF) or the end.
    pub fn at_end(&self) -> bool {
        matches!(&self.buf[self.pos..], [] | [b'\n'] | [b'\r', b'\n'])
    }

    /// Consumes `c` if it is next.
    pub fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    pub fn expect(&mut self, c: u8) -> PResult<()> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(ParseError::new(format!("Expected '{}'", c as char)))
        }
    }

    /// `SP`.
    pub fn sp(&mut self) -> PResult<()> {
        self.expect(b' ')
            .map_err(|_| ParseError::new("Missing argument"))
    }

    /// Ends the command: nothing but CRLF may follow.
    pub fn finish(&self) -> PResult<()> {
        if self.at_end() {
            Ok(())
        } else {
            Err(ParseError::new("Unexpected extra arguments"))
        }
    }

    /// Takes bytes while `f` holds (at least one).
    fn take_while(&mut self, f: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
        &self.buf[start..self.pos]
    }

    /// `atom = 1*ATOM-CHAR`.
    pub fn atom(&mut self) -> PResult<&'a str> {
        let a = self.take_while(super::encode::is_atom_char);
        if a.is_empty() {
            return Err(ParseError::new("Expected an atom"));
        }
        Ok(std::str::from_utf8(a).expect("atom chars are ASCII"))
    }

    /// `number = 1*DIGIT` (fits u32).
    pub fn number(&mut self) -> PResult<u32> {
        self.number64()?
            .try_into()
            .map_err(|_| ParseError::new("Number too large"))
    }

    /// `number64` (RFC 9051) for sizes and mod-sequences.
    pub fn number64(&mut self) -> PResult<u64> {
        let d = self.take_while(|b| b.is_ascii_digit());
        if d.is_empty() || d.len() > 19 {
            return Err(ParseError::new("Expected a number"));
        }
        std::str::from_utf8(d)
            .expect("digits")
            .parse()
            .map_err(|_| ParseError::new("Number too large"))
    }

    /// `nz-number`.
    pub fn nz_number(&mut self) -> PResult<u32> {
        match self.number()? {
            0 => Err(ParseError::new("Zero is not a valid number here")),
            n => Ok(n),
        }
    }

    /// `literal = "{" number ["+"] "}" CRLF *CHAR8`.
    fn literal(&mut self) -> PResult<&'a [u8]> {
        self.expect(b'{')?;
        let n = self.number64()? as usize;
        self.eat(b'+');
        self.expect(b'}')?;
        self.eat(b'\r');
        self.expect(b'\n')?;
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| ParseError::new("Literal truncated"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// `quoted = DQUOTE *QUOTED-CHAR DQUOTE`.
    fn quoted(&mut self) -> PResult<Vec<u8>> {
        self.expect(b'"')?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r' | b'\n') => return Err(ParseError::new("Unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => out.push(c),
                        _ => return Err(ParseError::new("Invalid escape in quoted string")),
                    }
                    self.pos += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// `string = quoted / literal`.
    pub fn string(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => Ok(self.literal()?.to_vec()),
            _ => Err(ParseError::new("Expected a string")),
        }
    }

    /// `astring = 1*ASTRING-CHAR / string`.
    pub fn astring(&mut self) -> PResult<Vec<u8>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(),
            _ => {
                let a = self.take_while(|b| super::encode::is_atom_char(b) || b == b']');
                if a.is_empty() {
                    return Err(ParseError::new("Expected a string"));
                }
                Ok(a.to_vec())
            }
        }
    }

    /// An astring that must be UTF-8.
    pub fn astring_utf8(&mut self) -> PResult<String> {
        String::from_utf8(self.astring()?).map_err(|_| ParseError::new("Invalid UTF-8"))
    }

    /// `nstring = string / nil`.
    pub fn nstring(&mut self) -> PResult<Option<Vec<u8>>> {
        if self.peek_word_ci("NIL") {
            self.pos += 3;
            return Ok(None);
        }
        self.string().map(Some)
    }

    /// True when the next bytes are `w` (case-insensitive) followed by a delimiter.
    pub fn peek_word_ci(&self, w: &str) -> bool {
        let rest = &self.buf[self.pos..];
        rest.len() >= w.len()
            && rest[..w.len()].eq_ignore_ascii_case(w.as_bytes())
            && rest
                .get(w.len())
                .is_none_or(|&b| !super::encode::is_atom_char(b))
    }

    /// `mailbox = "INBOX" / astring`, decoded from modified UTF-7 and validated.
    pub fn mailbox(&mut self) -> PResult<MailboxName> {
        let raw = self.astring()?;
        let s = std::str::from_utf8(&raw).map_err(|_| ParseError::new("Mailbox name not 7-bit"))?;
        let utf8 = utf7::decode(s).map_err(|()| ParseError::new("Invalid modified UTF-7 name"))?;
        MailboxName::new(&utf8).map_err(ParseError::new)
    }

    /// `list-mailbox = 1*list-char / string` (wildcards allowed), decoded from modified UTF-7.
    pub fn list_mailbox(&mut self) -> PResult<String> {
        let raw = match self.peek() {
            Some(b'"' | b'{') => self.string()?,
            _ => {
                let a = self.take_while(|b| {
                    super::encode::is_atom_char(b) || matches!(b, b'%' | b'*' | b']')
                });
                if a.is_empty() {
                    return Err(ParseError::new("Expected a mailbox pattern"));
                }
                a.to_vec()
            }
        };
        let s = std::str::from_utf8(&raw).map_err(|_| ParseError::new("Pattern not 7-bit"))?;
        utf7::decode(s).map_err(|()| ParseError::new("Invalid modified UTF-7 pattern"))
    }

    /// `sequence-set` (RFC 3501 §9); `$` (RFC 5182) is reported as `None`.
    pub fn seq_set(&mut self) -> PResult<Option<SeqSet>> {
        if self.eat(b'$') {
            return Ok(None);
        }
        let mut ranges = Vec::new();
        loop {
            let a = self.seq_num()?;
            let b = if self.eat(b':') { self.seq_num()? } else { a };
            ranges.push((a, b));
            if ranges.len() > 100_000 {
                return Err(ParseError::new("Sequence set too long"));
            }
            if !self.eat(b',') {
                break;
            }
        }
        Ok(Some(SeqSet(ranges)))
    }

    fn seq_num(&mut self) -> PResult<SeqNum> {
        if self.eat(b'*') {
            Ok(SeqNum::Star)
        } else {
            self.nz_number()
                .map(SeqNum::Value)
                .map_err(|_| ParseError::new("Invalid sequence set"))
        }
    }

    /// `flag-list = "(" [flag *(SP flag)] ")"`.
    pub fn flag_list(&mut self) -> PResult<Vec<Flag>> {
        self.expect(b'(')?;
        let mut flags = Vec::new();
        if self.eat(b')') {
            return Ok(flags);
        }
        loop {
            flags.push(self.flag()?);
            if self.eat(b')') {
                return Ok(flags);
            }
            self.sp()?;
        }
    }

    /// `flag`: `\Seen` … or a keyword atom.
    pub fn flag(&mut self) -> PResult<Flag> {
        let backslash = self.eat(b'\\');
        let a = self.atom()?;
        let s = if backslash {
            format!("\\{a}")
        } else {
            a.to_string()
        };
        Flag::parse(&s).ok_or_else(|| ParseError::new(format!("Invalid flag {s}")))
    }

    /// `date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE`.
    pub fn date_time(&mut self) -> PResult<DateTime> {
        let raw = self.quoted()?;
        let s = std::str::from_utf8(&raw).map_err(|_| ParseError::new("Invalid date-time"))?;
        DateTime::parse(s).ok_or_else(|| ParseError::new("Invalid date-time"))
    }

    /// `date = date-text / DQUOTE date-text DQUOTE` → unix seconds at 00:00 UTC.
    pub fn date(&mut self) -> PResult<i64> {
        let raw = if self.peek() == Some(b'"') {
            self.quoted()?
        } else {
            self.take_while(|b| b.is_ascii_alphanumeric() || b == b'-')
                .to_vec()
        };
        std::str::from_utf8(&raw)
            .ok()
            .and_then(super::types::parse_date)
            .ok_or_else(|| ParseError::new("Invalid date"))
    }

    /// A parenthesised list of items parsed by `item`, separated by SP.
    pub fn paren_list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> PResult<T>,
    ) -> PResult<Vec<T>> {
        self.expect(b'(')?;
        let mut out = Vec::new();
        if self.eat(b')') {
            return Ok(out);
        }
        loop {
            out.push(item(self)?);
            if self.eat(b')') {
                return Ok(out);
            }
            self.sp()?;
        }
    }

    /// A grammar keyword (`BODY.PEEK`, `RFC822.SIZE`, `UNCHANGEDSINCE`), upper-cased: letters,
    /// digits, `.` and `-`, stopping before `[`, `(`, `<` and SP.
    pub fn keyword(&mut self) -> PResult<String> {
        let k = self.take_while(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if k.is_empty() {
            return Err(ParseError::new("Expected a keyword"));
        }
        Ok(String::from_utf8_lossy(k).to_ascii_uppercase())
    }

    /// The rest of the line before CRLF (for SASL responses).
    pub fn rest_of_line(&mut self) -> &'a [u8] {
        let line = self.take_while(|b| b != b'\r' && b != b'\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings() {
        let mut p = Parser::new(b"\"a\\\"b\" {3}\r\nx y atom NIL\r\n");
        assert_eq!(p.string().unwrap(), b"a\"b");
        p.sp().unwrap();
        assert_eq!(p.astring().unwrap(), b"x y");
        p.sp().unwrap();
        assert_eq!(p.astring().unwrap(), b"atom");
        p.sp().unwrap();
        assert_eq!(p.nstring().unwrap(), None);
        p.finish().unwrap();
    }

    #[test]
    fn sets_flags_mailboxes() {
        let mut p = Parser::new(b"1:3,5,7:* (\\Seen $Label1) Entw&APw-rfe\r\n");
        assert_eq!(p.seq_set().unwrap().unwrap().to_string(), "1:3,5,7:*");
        p.sp().unwrap();
        assert_eq!(
            p.flag_list().unwrap(),
            vec![Flag::Seen, Flag::Keyword("$Label1".into())]
        );
        p.sp().unwrap();
        assert_eq!(p.mailbox().unwrap().as_str(), "Entwürfe");
        assert!(Parser::new(b"0:3").seq_set().is_err());
        assert!(Parser::new(b"(\\Bogus)").flag_list().is_err());
        assert!(Parser::new(b"\"unterminated").string().is_err());
    }
}
