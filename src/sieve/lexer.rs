//! Tokenizer for the Sieve grammar (RFC 5228 §8.1).
//!
//! Handles `#` and `/* */` comments, quoted strings with `\` escapes,
//! `text:` multi-line strings with dot-stuffing, numbers with `K`/`M`/`G`
//! quantifiers, tags and case-insensitive identifiers (returned lowercased).

use super::CompileError;

/// 1-based source position (column counted in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    pub(super) fn error(self, message: impl Into<String>) -> CompileError {
        CompileError::new(self.line, self.column, message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tok {
    /// Identifier, lowercased.
    Ident(String),
    /// Tagged argument without the colon, lowercased.
    Tag(String),
    Number(u64),
    Str(String),
    LBracket,
    RBracket,
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Semicolon,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Token {
    pub tok: Tok,
    pub pos: Pos,
}

struct Lexer {
    chars: Vec<char>,
    i: usize,
    line: u32,
    column: u32,
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.i).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.i + offset).copied()
    }

    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            column: self.column,
        }
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += 1;
        if c == '\n' {
            self.line = self.line.saturating_add(1);
            self.column = 1;
        } else {
            self.column = self.column.saturating_add(1);
        }
        Some(c)
    }

    /// Skips whitespace and comments.
    fn skip_trivia(&mut self) -> Result<(), CompileError> {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r' | '\n') => {
                    self.bump();
                }
                Some('#') => self.skip_hash_comment(),
                Some('/') if self.peek_at(1) == Some('*') => {
                    let start = self.pos();
                    self.bump();
                    self.bump();
                    loop {
                        match self.bump() {
                            None => return Err(start.error("unterminated comment")),
                            Some('*') if self.peek() == Some('/') => {
                                self.bump();
                                break;
                            }
                            Some(_) => {}
                        }
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    fn skip_hash_comment(&mut self) {
        while let Some(c) = self.bump() {
            if c == '\n' {
                break;
            }
        }
    }

    fn identifier(&mut self) -> String {
        let mut s = String::new();
        while let Some(c) = self.peek() {
            if c.is_ascii_alphanumeric() || c == '_' {
                s.push(c.to_ascii_lowercase());
                self.bump();
            } else {
                break;
            }
        }
        s
    }

    fn number(&mut self, start: Pos) -> Result<u64, CompileError> {
        let mut n: u64 = 0;
        let too_large = || start.error("number too large");
        while let Some(c) = self.peek() {
            let Some(d) = c.to_digit(10) else { break };
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(u64::from(d)))
                .ok_or_else(too_large)?;
            self.bump();
        }
        let shift = match self.peek() {
            Some('k' | 'K') => 10,
            Some('m' | 'M') => 20,
            Some('g' | 'G') => 30,
            _ => 0,
        };
        if shift > 0 {
            self.bump();
            n = n.checked_mul(1u64 << shift).ok_or_else(too_large)?;
        }
        if self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(self.pos().error("invalid number suffix"));
        }
        Ok(n)
    }

    fn quoted_string(&mut self, start: Pos) -> Result<String, CompileError> {
        self.bump(); // opening quote
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return Err(start.error("unterminated string")),
                Some('"') => return Ok(s),
                // RFC 5228 §2.4.2: "\" followed by any character is that character.
                Some('\\') => match self.bump() {
                    Some(c) => s.push(c),
                    None => return Err(start.error("unterminated string")),
                },
                Some(c) => s.push(c),
            }
        }
    }

    /// Called after `text:` has been consumed.
    fn multi_line(&mut self, start: Pos) -> Result<String, CompileError> {
        while matches!(self.peek(), Some(' ' | '\t')) {
            self.bump();
        }
        match self.peek() {
            Some('#') => self.skip_hash_comment(),
            Some('\r') if self.peek_at(1) == Some('\n') => {
                self.bump();
                self.bump();
            }
            Some('\n') => {
                self.bump();
            }
            None => return Err(start.error("unterminated multi-line string")),
            Some(_) => return Err(self.pos().error("expected end of line after \"text:\"")),
        }
        let mut s = String::new();
        loop {
            if self.peek().is_none() {
                return Err(start.error("unterminated multi-line string"));
            }
            let mut line = String::new();
            let mut ending = "";
            while let Some(c) = self.bump() {
                if c == '\n' {
                    ending = "\n";
                    break;
                }
                line.push(c);
            }
            if line.ends_with('\r') {
                line.pop();
                ending = "\r\n";
            }
            if line == "." {
                // A final "." without a line break at end of input is accepted.
                return Ok(s);
            }
            if ending.is_empty() {
                return Err(start.error("unterminated multi-line string"));
            }
            // Dot-stuffing: a leading ".." stands for ".".
            let content = line
                .strip_prefix('.')
                .filter(|l| l.starts_with('.'))
                .unwrap_or(&line);
            s.push_str(content);
            s.push_str(ending);
        }
    }

    fn next_token(&mut self) -> Result<Option<Token>, CompileError> {
        self.skip_trivia()?;
        let pos = self.pos();
        let Some(c) = self.peek() else {
            return Ok(None);
        };
        let single = match c {
            '[' => Some(Tok::LBracket),
            ']' => Some(Tok::RBracket),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            '{' => Some(Tok::LBrace),
            '}' => Some(Tok::RBrace),
            ',' => Some(Tok::Comma),
            ';' => Some(Tok::Semicolon),
            _ => None,
        };
        let tok = if let Some(t) = single {
            self.bump();
            t
        } else if c == '"' {
            Tok::Str(self.quoted_string(pos)?)
        } else if c.is_ascii_digit() {
            Tok::Number(self.number(pos)?)
        } else if c == ':' {
            self.bump();
            match self.peek() {
                Some(c) if c.is_ascii_alphabetic() || c == '_' => Tok::Tag(self.identifier()),
                _ => return Err(pos.error("expected a tag name after ':'")),
            }
        } else if c.is_ascii_alphabetic() || c == '_' {
            let ident = self.identifier();
            if ident == "text" && self.peek() == Some(':') {
                self.bump();
                Tok::Str(self.multi_line(pos)?)
            } else {
                Tok::Ident(ident)
            }
        } else {
            return Err(pos.error(format!("unexpected character {c:?}")));
        };
        Ok(Some(Token { tok, pos }))
    }
}

/// Splits `source` into tokens; also returns the position of the end of input.
pub(super) fn tokenize(source: &str) -> Result<(Vec<Token>, Pos), CompileError> {
    let mut lx = Lexer {
        chars: source.chars().collect(),
        i: 0,
        line: 1,
        column: 1,
    };
    let mut out = Vec::new();
    while let Some(t) = lx.next_token()? {
        out.push(t);
    }
    Ok((out, lx.pos()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().0.into_iter().map(|t| t.tok).collect()
    }

    fn err(s: &str) -> (u32, u32, String) {
        let e = tokenize(s).unwrap_err();
        (e.line, e.column, e.message)
    }

    #[test]
    fn basic_tokens() {
        assert_eq!(
            toks("IF Header :Is [\"a\", \"b\"] { keep; }"),
            vec![
                Tok::Ident("if".into()),
                Tok::Ident("header".into()),
                Tok::Tag("is".into()),
                Tok::LBracket,
                Tok::Str("a".into()),
                Tok::Comma,
                Tok::Str("b".into()),
                Tok::RBracket,
                Tok::LBrace,
                Tok::Ident("keep".into()),
                Tok::Semicolon,
                Tok::RBrace,
            ]
        );
    }

    #[test]
    fn numbers_with_quantifiers() {
        assert_eq!(
            toks("0 100 1k 2K 3M 4g"),
            vec![
                Tok::Number(0),
                Tok::Number(100),
                Tok::Number(1024),
                Tok::Number(2048),
                Tok::Number(3 << 20),
                Tok::Number(4 << 30),
            ]
        );
        assert_eq!(err("99999999999999999999").2, "number too large");
        assert_eq!(err("18014398509481984G").2, "number too large");
        assert_eq!(err("\n 12x"), (2, 4, "invalid number suffix".into()));
    }

    #[test]
    fn string_escapes() {
        assert_eq!(
            toks(
                r#""a\"b\\c\d" "line
break""#
            ),
            vec![Tok::Str("a\"b\\cd".into()), Tok::Str("line\nbreak".into())]
        );
        assert_eq!(err("keep \"abc"), (1, 6, "unterminated string".into()));
    }

    #[test]
    fn comments() {
        assert_eq!(
            toks("# hash \"not a string\"\nkeep /* multi\nline */ ; # end"),
            vec![Tok::Ident("keep".into()), Tok::Semicolon]
        );
        assert_eq!(
            toks("/**/keep/* a * / b */;"),
            vec![Tok::Ident("keep".into()), Tok::Semicolon]
        );
        assert_eq!(
            err("keep;\n  /* never closed"),
            (2, 3, "unterminated comment".into())
        );
    }

    #[test]
    fn multi_line_strings() {
        let src = "text: # comment\r\nPlease\r\n.... Fred\r\n.foo\r\n.\r\n;";
        assert_eq!(
            toks(src),
            vec![
                Tok::Str("Please\r\n... Fred\r\n.foo\r\n".into()),
                Tok::Semicolon
            ]
        );
        assert_eq!(toks("TEXT:  \nx\n.\n"), vec![Tok::Str("x\n".into())]);
        assert_eq!(toks("text:\n.\n"), vec![Tok::Str(String::new())]);
        // No escape processing inside multi-line strings.
        assert_eq!(
            toks("text:\na\\\"b\n.\n"),
            vec![Tok::Str("a\\\"b\n".into())]
        );
        assert_eq!(
            err("\n text:\nabc\n"),
            (2, 2, "unterminated multi-line string".into())
        );
        assert_eq!(
            err("text: x\n.\n"),
            (1, 7, "expected end of line after \"text:\"".into())
        );
    }

    #[test]
    fn positions() {
        let t = tokenize("require \"x\";\n\tkeep;\n  ärger").unwrap_err();
        assert_eq!((t.line, t.column), (3, 3));
        let (t, end) = tokenize("a\n  :b").unwrap();
        assert_eq!(end, Pos { line: 2, column: 5 });
        assert_eq!(t[1].pos, Pos { line: 2, column: 3 });
        assert_eq!(t[1].tok, Tok::Tag("b".into()));
        assert_eq!(err("keep : x").2, "expected a tag name after ':'");
    }
}
