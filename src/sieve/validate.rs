//! Semantic checks: turns the generic tree into the typed AST, accepting
//! exactly the supported subset (see the module docs of [`super`]).

use super::CompileError;
use super::args::{Allowed, flag_list, need, no_tests, positional, string, strings, tags, texts};
use super::lexer::Pos;
use super::parser::{AddressPart, Command, EnvelopeField, RawCommand, RawTest, Test};

/// Capabilities accepted by `require`.
const CAPABILITIES: &[&str] = &[
    "fileinto",
    "imap4flags",
    "subaddress",
    "mailbox",
    "envelope",
    "comparator-i;octet",
    "comparator-i;ascii-casemap",
];

/// Headers the `address` test may look at (RFC 5228 §5.1 requires a list).
const ADDRESS_HEADERS: &[&str] = &[
    "from",
    "sender",
    "reply-to",
    "to",
    "cc",
    "bcc",
    "resent-from",
    "resent-sender",
    "resent-to",
    "resent-cc",
    "resent-bcc",
    "resent-reply-to",
    "return-path",
    "delivered-to",
    "x-original-to",
    "envelope-to",
    "x-envelope-to",
    "errors-to",
    "return-receipt-to",
    "disposition-notification-to",
    "mail-followup-to",
    "mail-reply-to",
    "x-sender",
];

fn valid_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| (33..=126).contains(&b) && b != b':')
}

struct Validator {
    caps: Vec<String>,
}

impl Validator {
    fn require(&mut self, cmd: RawCommand) -> Result<(), CompileError> {
        no_tests(&cmd.tests, cmd.test_list, "require")?;
        if cmd.block.is_some() {
            return Err(cmd.pos.error("\"require\" does not take a block"));
        }
        let mut args = positional(cmd.args, cmd.pos, "require", &["a capability list"])?;
        for (cap, pos) in strings(args.remove(0), "capabilities")? {
            let lower = cap.to_ascii_lowercase();
            if !CAPABILITIES.contains(&lower.as_str()) {
                return Err(pos.error(format!("unsupported extension \"{cap}\"")));
            }
            if !self.caps.contains(&lower) {
                self.caps.push(lower);
            }
        }
        Ok(())
    }

    fn commands(&mut self, raw: Vec<RawCommand>, top: bool) -> Result<Vec<Command>, CompileError> {
        let mut out = Vec::new();
        let mut seen_other = false;
        let mut it = raw.into_iter().peekable();
        while let Some(cmd) = it.next() {
            if cmd.name == "require" {
                if !top || seen_other {
                    return Err(cmd
                        .pos
                        .error("\"require\" must come before any other command"));
                }
                self.require(cmd)?;
                continue;
            }
            seen_other = true;
            if cmd.name == "if" {
                let mut branches = vec![self.branch(cmd)?];
                while let Some(next) = it.next_if(|c| c.name == "elsif") {
                    branches.push(self.branch(next)?);
                }
                let otherwise = match it.next_if(|c| c.name == "else") {
                    Some(e) => {
                        let pos = e.pos;
                        if !e.args.is_empty() {
                            return Err(e.args[0].pos.error("\"else\" takes no arguments"));
                        }
                        no_tests(&e.tests, e.test_list, "else")?;
                        let block = e.block.ok_or_else(|| pos.error("\"else\" needs a block"))?;
                        self.commands(block, false)?
                    }
                    None => Vec::new(),
                };
                out.push(Command::If(branches, otherwise));
            } else {
                out.push(self.action(cmd)?);
            }
        }
        Ok(out)
    }

    /// An `if` or `elsif`: one test and a block.
    fn branch(&mut self, cmd: RawCommand) -> Result<(Test, Vec<Command>), CompileError> {
        if let Some(a) = cmd.args.first() {
            return Err(a.pos.error(format!(
                "\"{}\" takes no arguments before its test",
                cmd.name
            )));
        }
        let mut tests = cmd.tests;
        if tests.len() != 1 || cmd.test_list {
            return Err(cmd
                .pos
                .error(format!("\"{}\" needs exactly one test", cmd.name)));
        }
        let test = self.test(tests.remove(0))?;
        let block = cmd
            .block
            .ok_or_else(|| cmd.pos.error(format!("\"{}\" needs a block", cmd.name)))?;
        Ok((test, self.commands(block, false)?))
    }

    fn action(&mut self, cmd: RawCommand) -> Result<Command, CompileError> {
        let RawCommand {
            name,
            pos,
            args,
            tests,
            test_list,
            block,
        } = cmd;
        let allowed = match name.as_str() {
            "elsif" | "else" => {
                return Err(pos.error(format!("\"{name}\" without a preceding \"if\"")));
            }
            "keep" => Allowed {
                flags: true,
                ..Allowed::default()
            },
            "fileinto" => {
                need(&self.caps, "fileinto", pos, "\"fileinto\"")?;
                Allowed {
                    flags: true,
                    create: true,
                    ..Allowed::default()
                }
            }
            "setflag" | "addflag" | "removeflag" => {
                need(&self.caps, "imap4flags", pos, &format!("\"{name}\""))?;
                Allowed::default()
            }
            "stop" | "discard" => Allowed::default(),
            _ => return Err(pos.error(format!("unsupported command \"{name}\""))),
        };
        no_tests(&tests, test_list, &name)?;
        if block.is_some() {
            return Err(pos.error(format!("\"{name}\" does not take a block")));
        }
        let (tags, args) = tags(&self.caps, args, &name, allowed)?;
        Ok(match name.as_str() {
            "keep" => {
                positional(args, pos, &name, &[])?;
                Command::Keep(tags.flags)
            }
            "fileinto" => {
                let mut args = positional(args, pos, &name, &["a mailbox name"])?;
                let (mailbox, mpos) = string(args.remove(0), "mailbox name")?;
                if mailbox.is_empty() {
                    return Err(mpos.error("empty mailbox name"));
                }
                let mailbox = if mailbox.eq_ignore_ascii_case("INBOX") {
                    "INBOX".into()
                } else {
                    mailbox
                };
                Command::FileInto {
                    mailbox,
                    flags: tags.flags,
                    create: tags.create,
                }
            }
            "setflag" | "addflag" | "removeflag" => {
                if args.len() == 2 {
                    return Err(pos.error(format!("\"{name}\" with a variable name needs the unsupported \"variables\" extension")));
                }
                let mut args = positional(args, pos, &name, &["a flag list"])?;
                let flags = flag_list(args.remove(0))?;
                match name.as_str() {
                    "setflag" => Command::SetFlag(flags),
                    "addflag" => Command::AddFlag(flags),
                    _ => Command::RemoveFlag(flags),
                }
            }
            "stop" => {
                positional(args, pos, &name, &[])?;
                Command::Stop
            }
            _ => {
                positional(args, pos, &name, &[])?;
                Command::Discard
            }
        })
    }

    fn test(&mut self, t: RawTest) -> Result<Test, CompileError> {
        let RawTest {
            name,
            pos,
            args,
            tests,
            test_list,
        } = t;
        let matching = Allowed {
            matching: true,
            ..Allowed::default()
        };
        let allowed = match name.as_str() {
            "allof" | "anyof" => {
                if let Some(a) = args.first() {
                    return Err(a.pos.error(format!("\"{name}\" takes no arguments")));
                }
                if !test_list {
                    return Err(pos.error(format!("\"{name}\" needs a test list in parentheses")));
                }
                let subs = tests
                    .into_iter()
                    .map(|t| self.test(t))
                    .collect::<Result<Vec<_>, _>>()?;
                return Ok(if name == "allof" {
                    Test::AllOf(subs)
                } else {
                    Test::AnyOf(subs)
                });
            }
            "not" => {
                if let Some(a) = args.first() {
                    return Err(a.pos.error("\"not\" takes no arguments"));
                }
                let mut tests = tests;
                if tests.len() != 1 || test_list {
                    return Err(pos.error("\"not\" needs exactly one test"));
                }
                return Ok(Test::Not(Box::new(self.test(tests.remove(0))?)));
            }
            "header" | "hasflag" => matching,
            "address" => Allowed {
                part: true,
                ..matching
            },
            "envelope" => {
                need(&self.caps, "envelope", pos, "\"envelope\"")?;
                Allowed {
                    part: true,
                    ..matching
                }
            }
            "size" => Allowed {
                size: true,
                ..Allowed::default()
            },
            "true" | "false" | "exists" | "mailboxexists" => Allowed::default(),
            _ => return Err(pos.error(format!("unsupported test \"{name}\""))),
        };
        match name.as_str() {
            "hasflag" => need(&self.caps, "imap4flags", pos, "\"hasflag\"")?,
            "mailboxexists" => need(&self.caps, "mailbox", pos, "\"mailboxexists\"")?,
            _ => {}
        }
        no_tests(&tests, test_list, &name)?;
        let (tags, args) = tags(&self.caps, args, &name, allowed)?;
        Ok(match name.as_str() {
            "true" | "false" => {
                positional(args, pos, &name, &[])?;
                if name == "true" {
                    Test::True
                } else {
                    Test::False
                }
            }
            "size" => {
                positional(args, pos, &name, &[])?;
                match tags.size {
                    Some((true, n)) => Test::SizeOver(n),
                    Some((false, n)) => Test::SizeUnder(n),
                    None => return Err(pos.error("\"size\" needs :over or :under and a number")),
                }
            }
            "exists" | "mailboxexists" => {
                let mut args = positional(args, pos, &name, &["a name list"])?;
                let list = strings(args.remove(0), "names")?;
                if name == "exists" {
                    Test::Exists(header_names(list)?)
                } else {
                    Test::MailboxExists(texts(list))
                }
            }
            "hasflag" => {
                if args.len() == 2 {
                    return Err(pos.error("\"hasflag\" with variable names needs the unsupported \"variables\" extension"));
                }
                let mut args = positional(args, pos, &name, &["a flag list"])?;
                let keys = texts(strings(args.remove(0), "flag list")?);
                let keys = keys
                    .iter()
                    .flat_map(|k| k.split_whitespace())
                    .map(str::to_string)
                    .collect();
                Test::HasFlag(tags.matcher(keys))
            }
            _ => {
                let what = if name == "envelope" {
                    "envelope parts"
                } else {
                    "header names"
                };
                let mut args = positional(args, pos, &name, &[what, "a key list"])?;
                let list = strings(args.remove(0), what)?;
                let keys = texts(strings(args.remove(0), "keys")?);
                let matcher = tags.matcher(keys);
                let part = tags.part.unwrap_or(AddressPart::All);
                match name.as_str() {
                    "header" => Test::Header {
                        names: header_names(list)?,
                        matcher,
                    },
                    "address" => {
                        let headers = header_names(list.clone())?;
                        for (h, hpos) in list {
                            if !ADDRESS_HEADERS.contains(&h.to_ascii_lowercase().as_str()) {
                                return Err(hpos.error(format!("\"{h}\" is not an address header")));
                            }
                        }
                        Test::Address {
                            part,
                            headers,
                            matcher,
                        }
                    }
                    _ => {
                        let mut fields = Vec::new();
                        for (f, fpos) in list {
                            fields.push(match f.to_ascii_lowercase().as_str() {
                                "from" => EnvelopeField::From,
                                "to" => EnvelopeField::To,
                                _ => {
                                    return Err(
                                        fpos.error(format!("unsupported envelope part \"{f}\""))
                                    );
                                }
                            });
                        }
                        Test::Envelope {
                            part,
                            fields,
                            matcher,
                        }
                    }
                }
            }
        })
    }
}

fn header_names(list: Vec<(String, Pos)>) -> Result<Vec<String>, CompileError> {
    list.into_iter()
        .map(|(h, pos)| {
            if valid_header_name(&h) {
                Ok(h)
            } else {
                Err(pos.error(format!("invalid header name \"{h}\"")))
            }
        })
        .collect()
}

/// Validates top-level commands (comparators `i;octet` and
/// `i;ascii-casemap` are always available).
pub(super) fn validate(raw: Vec<RawCommand>) -> Result<Vec<Command>, CompileError> {
    let mut v = Validator { caps: Vec::new() };
    v.commands(raw, true)
}

#[cfg(test)]
mod tests {
    use super::super::compile;
    use super::*;

    fn err(src: &str) -> String {
        compile(src).unwrap_err().to_string()
    }

    #[test]
    fn unsupported_extensions_and_commands() {
        assert_eq!(
            err("# vacation\nrequire \"fileinto\";\nrequire [\"imap4flags\",\n    \"vacation\"];"),
            "line 4, column 5: unsupported extension \"vacation\""
        );
        assert_eq!(
            err("require \"variables\";"),
            "line 1, column 9: unsupported extension \"variables\""
        );
        assert_eq!(
            err("keep;\nredirect \"a@b.c\";"),
            "line 2, column 1: unsupported command \"redirect\""
        );
        assert_eq!(
            err("if body :contains \"x\" { keep; }"),
            "line 1, column 4: unsupported test \"body\""
        );
        assert_eq!(
            err("if header :regex \"subject\" \"x\" { keep; }"),
            "line 1, column 11: unsupported tagged argument \":regex\" for \"header\""
        );
        assert_eq!(
            err("require \"fileinto\";\nfileinto :copy \"x\";"),
            "line 2, column 10: unsupported tagged argument \":copy\" for \"fileinto\""
        );
        assert_eq!(
            err("if header :comparator \"i;ascii-numeric\" \"x\" \"1\" {}"),
            "line 1, column 23: unsupported comparator \"i;ascii-numeric\""
        );
    }

    #[test]
    fn require_is_enforced() {
        assert_eq!(
            err("if true {\n  fileinto \"x\";\n}"),
            "line 2, column 3: \"fileinto\" requires the \"fileinto\" extension: add require \"fileinto\""
        );
        assert_eq!(
            err("if envelope \"to\" \"a\" {}"),
            "line 1, column 4: \"envelope\" requires the \"envelope\" extension: add require \"envelope\""
        );
        assert_eq!(
            err("if address :user \"to\" \"a\" {}"),
            "line 1, column 12: \":user\" requires the \"subaddress\" extension: add require \"subaddress\""
        );
        assert_eq!(
            err("require \"fileinto\"; fileinto :create \"x\";"),
            "line 1, column 30: \":create\" requires the \"mailbox\" extension: add require \"mailbox\""
        );
        assert_eq!(
            err("keep :flags \"\\\\Seen\";"),
            "line 1, column 6: \":flags\" requires the \"imap4flags\" extension: add require \"imap4flags\""
        );
        assert!(err("setflag \"a\";").contains("\"setflag\" requires the \"imap4flags\""));
        assert!(err("if hasflag \"a\" {}").contains("\"hasflag\" requires the \"imap4flags\""));
        assert!(
            err("if mailboxexists \"a\" {}").contains("\"mailboxexists\" requires the \"mailbox\"")
        );
        // Comparators are implicitly available, and may also be required.
        assert!(compile("if header :comparator \"i;octet\" \"a\" \"b\" {}").is_ok());
        assert!(
            compile("require [\"comparator-i;octet\", \"COMPARATOR-i;ascii-casemap\"];").is_ok()
        );
    }

    #[test]
    fn require_placement() {
        assert_eq!(
            err("keep;\nrequire \"fileinto\";"),
            "line 2, column 1: \"require\" must come before any other command"
        );
        assert_eq!(
            err("if true { require \"fileinto\"; }"),
            "line 1, column 11: \"require\" must come before any other command"
        );
        assert_eq!(
            err("require;"),
            "line 1, column 1: \"require\" takes a capability list, got 0 argument(s)"
        );
        assert_eq!(
            err("require 5;"),
            "line 1, column 9: expected a string or string list (capabilities)"
        );
    }

    #[test]
    fn control_structure_errors() {
        assert_eq!(
            err("elsif true { keep; }"),
            "line 1, column 1: \"elsif\" without a preceding \"if\""
        );
        assert_eq!(
            err("if true { keep; }\nkeep;\nelse { keep; }"),
            "line 3, column 1: \"else\" without a preceding \"if\""
        );
        assert_eq!(err("if true;"), "line 1, column 1: \"if\" needs a block");
        assert_eq!(
            err("if { keep; }"),
            "line 1, column 1: \"if\" needs exactly one test"
        );
        assert_eq!(
            err("if (true, false) { keep; }"),
            "line 1, column 1: \"if\" needs exactly one test"
        );
        assert_eq!(
            err("keep { }"),
            "line 1, column 1: \"keep\" does not take a block"
        );
        assert_eq!(
            err("stop \"x\";"),
            "line 1, column 6: \"stop\" takes no arguments, got 1 argument(s)"
        );
        assert_eq!(
            err("discard true;"),
            "line 1, column 9: \"discard\" does not take a test"
        );
        assert_eq!(
            err("if anyof true {}"),
            "line 1, column 4: \"anyof\" needs a test list in parentheses"
        );
        assert_eq!(
            err("if not (true) {}"),
            "line 1, column 4: \"not\" needs exactly one test"
        );
        assert_eq!(
            err("if true :is {}"),
            "line 1, column 9: unsupported tagged argument \":is\" for \"true\""
        );
    }

    #[test]
    fn typed_ast() {
        let s = compile(
            "require [\"fileinto\", \"mailbox\", \"imap4flags\"];\n\
             if size :over 1K { fileinto :create :flags [\"\\\\seen\", \"x\"] \"inbox\"; }\n\
             elsif true { stop; } else { discard; }",
        )
        .unwrap();
        let Command::If(branches, otherwise) = &s.commands[0] else {
            panic!("not an if")
        };
        assert_eq!(branches[0].0, Test::SizeOver(1024));
        assert_eq!(
            branches[0].1,
            vec![Command::FileInto {
                mailbox: "INBOX".into(),
                flags: Some(vec!["\\Seen".into(), "x".into()]),
                create: true
            }]
        );
        assert_eq!(branches[1], (Test::True, vec![Command::Stop]));
        assert_eq!(otherwise, &vec![Command::Discard]);
    }
}
