//! Sieve grammar (RFC 5228 §8.2) and the typed AST.
//!
//! Parsing happens in two steps: the token stream is turned into a generic
//! tree of commands, arguments and tests (bounded by [`MAX_NESTING`]), then
//! [`super::validate`] checks every command against the supported subset
//! and builds the typed [`Command`]/[`Test`] tree the interpreter runs.

use super::lexer::{Pos, Tok, Token};
use super::matching::Matcher;
use super::{CompileError, MAX_NESTING};

/// A compiled Sieve script, produced by [`super::compile`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub(super) commands: Vec<Command>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Command {
    /// `if`/`elsif` branches in order, then the `else` block (maybe empty).
    If(Vec<(Test, Vec<Command>)>, Vec<Command>),
    Stop,
    /// `keep`, with the `:flags` argument if given (already normalized).
    Keep(Option<Vec<String>>),
    Discard,
    FileInto {
        mailbox: String,
        flags: Option<Vec<String>>,
        create: bool,
    },
    SetFlag(Vec<String>),
    AddFlag(Vec<String>),
    RemoveFlag(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Test {
    True,
    False,
    Not(Box<Test>),
    AllOf(Vec<Test>),
    AnyOf(Vec<Test>),
    Header {
        names: Vec<String>,
        matcher: Matcher,
    },
    Address {
        part: AddressPart,
        headers: Vec<String>,
        matcher: Matcher,
    },
    Envelope {
        part: AddressPart,
        fields: Vec<EnvelopeField>,
        matcher: Matcher,
    },
    Exists(Vec<String>),
    SizeOver(u64),
    SizeUnder(u64),
    /// `hasflag` on the internal variable; keys are split into single flags.
    HasFlag(Matcher),
    MailboxExists(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AddressPart {
    All,
    LocalPart,
    Domain,
    User,
    Detail,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EnvelopeField {
    From,
    To,
}

// ---------------------------------------------------------------------------
// Generic syntax tree.

#[derive(Debug)]
pub(super) enum ArgKind {
    /// A string (`list == false`, exactly one item) or a string list.
    Strings {
        list: bool,
        items: Vec<(String, Pos)>,
    },
    Number(u64),
    Tag(String),
}

#[derive(Debug)]
pub(super) struct RawArg {
    pub pos: Pos,
    pub kind: ArgKind,
}

#[derive(Debug)]
pub(super) struct RawTest {
    pub name: String,
    pub pos: Pos,
    pub args: Vec<RawArg>,
    pub tests: Vec<RawTest>,
    /// Whether the tests were given as a parenthesized test list.
    pub test_list: bool,
}

#[derive(Debug)]
pub(super) struct RawCommand {
    pub name: String,
    pub pos: Pos,
    pub args: Vec<RawArg>,
    pub tests: Vec<RawTest>,
    pub test_list: bool,
    pub block: Option<Vec<RawCommand>>,
}

struct Parser<'t> {
    toks: &'t [Token],
    i: usize,
    end: Pos,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("identifier \"{s}\""),
        Tok::Tag(s) => format!("tag \":{s}\""),
        Tok::Number(_) => "number".into(),
        Tok::Str(_) => "string".into(),
        Tok::LBracket => "'['".into(),
        Tok::RBracket => "']'".into(),
        Tok::LParen => "'('".into(),
        Tok::RParen => "')'".into(),
        Tok::LBrace => "'{'".into(),
        Tok::RBrace => "'}'".into(),
        Tok::Comma => "','".into(),
        Tok::Semicolon => "';'".into(),
    }
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.tok)
    }

    fn pos(&self) -> Pos {
        self.toks.get(self.i).map_or(self.end, |t| t.pos)
    }

    /// Error "expected X, found Y" at the current token.
    fn unexpected(&self, expected: &str) -> CompileError {
        let found = self
            .peek()
            .map_or_else(|| "end of script".to_string(), describe);
        self.pos()
            .error(format!("expected {expected}, found {found}"))
    }

    fn check_depth(&self, depth: usize) -> Result<(), CompileError> {
        if depth > MAX_NESTING {
            Err(self
                .pos()
                .error(format!("nesting deeper than {MAX_NESTING} levels")))
        } else {
            Ok(())
        }
    }

    fn commands(&mut self, depth: usize, in_block: bool) -> Result<Vec<RawCommand>, CompileError> {
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None if !in_block => return Ok(out),
                Some(Tok::RBrace) if in_block => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(Tok::Ident(_)) => out.push(self.command(depth)?),
                _ if in_block => return Err(self.unexpected("a command or '}'")),
                _ => return Err(self.unexpected("a command")),
            }
        }
    }

    fn identifier(&mut self) -> (String, Pos) {
        let pos = self.pos();
        let name = match self.peek() {
            Some(Tok::Ident(s)) => s.clone(),
            _ => String::new(),
        };
        self.i += 1;
        (name, pos)
    }

    fn command(&mut self, depth: usize) -> Result<RawCommand, CompileError> {
        let (name, pos) = self.identifier();
        let args = self.arguments()?;
        let (tests, test_list) = self.tests(depth + 1)?;
        let block = match self.peek() {
            Some(Tok::Semicolon) => {
                self.i += 1;
                None
            }
            Some(Tok::LBrace) => {
                self.check_depth(depth + 1)?;
                self.i += 1;
                Some(self.commands(depth + 1, true)?)
            }
            _ => return Err(self.unexpected(&format!("';' or '{{' after \"{name}\""))),
        };
        Ok(RawCommand {
            name,
            pos,
            args,
            tests,
            test_list,
            block,
        })
    }

    fn arguments(&mut self) -> Result<Vec<RawArg>, CompileError> {
        let mut out = Vec::new();
        loop {
            let pos = self.pos();
            let kind = match self.peek() {
                Some(Tok::Str(s)) => ArgKind::Strings {
                    list: false,
                    items: vec![(s.clone(), pos)],
                },
                Some(Tok::Number(n)) => ArgKind::Number(*n),
                Some(Tok::Tag(t)) => ArgKind::Tag(t.clone()),
                Some(Tok::LBracket) => {
                    self.i += 1;
                    let mut items = Vec::new();
                    loop {
                        match self.peek() {
                            Some(Tok::Str(s)) => items.push((s.clone(), self.pos())),
                            _ => return Err(self.unexpected("a string")),
                        }
                        self.i += 1;
                        match self.peek() {
                            Some(Tok::Comma) => self.i += 1,
                            Some(Tok::RBracket) => break,
                            _ => return Err(self.unexpected("',' or ']'")),
                        }
                    }
                    ArgKind::Strings { list: true, items }
                }
                _ => return Ok(out),
            };
            self.i += 1;
            out.push(RawArg { pos, kind });
        }
    }

    /// Parses an optional test or parenthesized test list at `depth`.
    fn tests(&mut self, depth: usize) -> Result<(Vec<RawTest>, bool), CompileError> {
        match self.peek() {
            Some(Tok::Ident(_)) => Ok((vec![self.test(depth)?], false)),
            Some(Tok::LParen) => {
                self.check_depth(depth)?;
                self.i += 1;
                let mut out = Vec::new();
                loop {
                    match self.peek() {
                        Some(Tok::Ident(_)) => out.push(self.test(depth)?),
                        _ => return Err(self.unexpected("a test")),
                    }
                    match self.peek() {
                        Some(Tok::Comma) => self.i += 1,
                        Some(Tok::RParen) => {
                            self.i += 1;
                            return Ok((out, true));
                        }
                        _ => return Err(self.unexpected("',' or ')'")),
                    }
                }
            }
            _ => Ok((Vec::new(), false)),
        }
    }

    fn test(&mut self, depth: usize) -> Result<RawTest, CompileError> {
        self.check_depth(depth)?;
        let (name, pos) = self.identifier();
        let args = self.arguments()?;
        let (tests, test_list) = self.tests(depth + 1)?;
        Ok(RawTest {
            name,
            pos,
            args,
            tests,
            test_list,
        })
    }
}

/// Parses and validates a token stream; `end` is the end-of-input position.
pub(super) fn parse(tokens: &[Token], end: Pos) -> Result<Script, CompileError> {
    let mut p = Parser {
        toks: tokens,
        i: 0,
        end,
    };
    let raw = p.commands(0, false)?;
    let commands = super::validate::validate(raw)?;
    Ok(Script { commands })
}

#[cfg(test)]
mod tests {
    use super::super::compile;
    use super::*;

    fn err(src: &str) -> String {
        compile(src).unwrap_err().to_string()
    }

    #[test]
    fn grammar_errors_have_positions() {
        assert_eq!(
            err("keep"),
            "line 1, column 5: expected ';' or '{' after \"keep\", found end of script"
        );
        assert_eq!(
            err("if true {\n  keep;\n"),
            "line 3, column 1: expected a command or '}', found end of script"
        );
        assert_eq!(
            err("keep;\n}"),
            "line 2, column 1: expected a command, found '}'"
        );
        assert_eq!(
            err("if header [\"a\" \"b\"] \"x\" {}"),
            "line 1, column 16: expected ',' or ']', found string"
        );
        assert_eq!(
            err("if anyof (true; false) {}"),
            "line 1, column 15: expected ',' or ')', found ';'"
        );
        // `true false` is `true` with a nested test, which the validator rejects.
        assert_eq!(
            err("if anyof (true false) {}"),
            "line 1, column 16: \"true\" does not take a test"
        );
        assert_eq!(
            err("if anyof () {}"),
            "line 1, column 11: expected a test, found ')'"
        );
        assert_eq!(
            err("\"x\";"),
            "line 1, column 1: expected a command, found string"
        );
        assert_eq!(
            err("if header [] \"x\" {}"),
            "line 1, column 12: expected a string, found ']'"
        );
    }

    #[test]
    fn nesting_limit() {
        let ok = format!(
            "{}keep;{}",
            "if true {".repeat(MAX_NESTING),
            "}".repeat(MAX_NESTING)
        );
        assert!(compile(&ok).is_ok());
        let deep = format!(
            "{}keep;{}",
            "if true {".repeat(MAX_NESTING + 1),
            "}".repeat(MAX_NESTING + 1)
        );
        let e = compile(&deep).unwrap_err();
        assert_eq!(
            e.message,
            format!("nesting deeper than {MAX_NESTING} levels")
        );
        // The innermost `if` sits at depth 32, so its test is the first thing too deep.
        assert_eq!((e.line, e.column), (1, 9 * MAX_NESTING as u32 + 4));
        let nots = format!("if {}true {{ keep; }}", "not ".repeat(MAX_NESTING + 5));
        assert!(
            compile(&nots)
                .unwrap_err()
                .message
                .starts_with("nesting deeper")
        );
        let parens = format!(
            "if {}true{} {{ keep; }}",
            "anyof(".repeat(1000),
            ")".repeat(1000)
        );
        assert!(
            compile(&parens)
                .unwrap_err()
                .message
                .starts_with("nesting deeper")
        );
        let nots_ok = format!("if {}true {{ keep; }}", "not ".repeat(MAX_NESTING - 1));
        assert!(compile(&nots_ok).is_ok());
    }

    #[test]
    fn generic_tree_shape() {
        let (toks, end) =
            super::super::lexer::tokenize("if anyof(true, not false) { stop; }").unwrap();
        let mut p = Parser {
            toks: &toks,
            i: 0,
            end,
        };
        let raw = p.commands(0, false).unwrap();
        assert_eq!(raw.len(), 1);
        assert_eq!(raw[0].name, "if");
        assert_eq!(raw[0].tests[0].name, "anyof");
        assert!(raw[0].tests[0].test_list);
        assert_eq!(raw[0].tests[0].tests.len(), 2);
        assert_eq!(raw[0].tests[0].tests[1].tests[0].name, "false");
        assert_eq!(raw[0].block.as_ref().map(Vec::len), Some(1));
    }
}
