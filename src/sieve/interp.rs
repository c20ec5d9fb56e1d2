//! Evaluation of a compiled [`Script`] against one message.
//!
//! Recursion follows the AST, whose depth the parser bounds by
//! [`super::MAX_NESTING`]; all work is charged to a step budget.

use super::matching::Budget;
use super::message::MessageView;
use super::parser::{AddressPart, Command, EnvelopeField, Script, Test};
use super::{MAX_DELIVERIES, MAX_FLAGS, RuntimeError};

/// SMTP/LMTP envelope of the delivery (RFC 5228 §5.4 `envelope` test).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvelopeInfo {
    /// MAIL FROM reverse-path, with or without `<>`; empty for the null path.
    pub from: String,
    /// The RCPT TO address this delivery is for, with or without `<>`.
    pub to: String,
}

/// Answers whether a mailbox exists for the user (for `fileinto` and
/// `mailboxexists`). Closures `Fn(&str) -> bool` implement it.
pub trait MailboxExists {
    /// True if the user's mailbox `name` exists and can be delivered to.
    fn exists(&self, name: &str) -> bool;
}

impl<F: Fn(&str) -> bool> MailboxExists for F {
    fn exists(&self, name: &str) -> bool {
        self(name)
    }
}

/// One copy of the message to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Target mailbox as written in the script; `"INBOX"` for keep.
    pub mailbox: String,
    /// IMAP flags to set: system flags canonically capitalized (`\Seen`),
    /// keywords as written, no duplicates.
    pub flags: Vec<String>,
    /// `fileinto :create`: create the mailbox first if it does not exist.
    pub create: bool,
}

/// Result of running a script: where the message goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Distinct target mailboxes in the order the actions ran (implicit
    /// keep last). Empty only if the message was discarded.
    pub deliveries: Vec<Delivery>,
    /// A `discard` action ran (it cancels the implicit keep; explicit
    /// `keep`/`fileinto` deliveries still happen).
    pub discarded: bool,
}

impl Outcome {
    /// Plain delivery to `INBOX` without flags: what the caller must do when
    /// [`execute`] fails or the script cannot be compiled.
    pub fn fallback() -> Outcome {
        Outcome {
            deliveries: vec![Delivery {
                mailbox: "INBOX".into(),
                flags: Vec::new(),
                create: false,
            }],
            discarded: false,
        }
    }
}

/// Runs `script` for one message and recipient.
///
/// On `Err`, nothing of the script's decisions is kept: **deliver the
/// message to `INBOX`** ([`Outcome::fallback`]).
pub fn execute(
    script: &Script,
    msg: &MessageView<'_>,
    env: &EnvelopeInfo,
    mailboxes: &dyn MailboxExists,
) -> Result<Outcome, RuntimeError> {
    let mut run = Run {
        msg,
        env,
        mailboxes,
        budget: Budget::new(),
        flags: Vec::new(),
        deliveries: Vec::new(),
        implicit_keep: true,
        discarded: false,
    };
    run.block(&script.commands)?;
    if run.implicit_keep && !run.deliveries.iter().any(|d| d.mailbox == "INBOX") {
        let flags = std::mem::take(&mut run.flags);
        run.deliveries.push(Delivery {
            mailbox: "INBOX".into(),
            flags,
            create: false,
        });
    }
    Ok(Outcome {
        deliveries: run.deliveries,
        discarded: run.discarded,
    })
}

struct Run<'r, 'm> {
    msg: &'r MessageView<'m>,
    env: &'r EnvelopeInfo,
    mailboxes: &'r dyn MailboxExists,
    budget: Budget,
    /// The imap4flags internal variable.
    flags: Vec<String>,
    deliveries: Vec<Delivery>,
    implicit_keep: bool,
    discarded: bool,
}

enum Flow {
    Continue,
    Stop,
}

fn contains_flag(list: &[String], flag: &str) -> bool {
    list.iter().any(|f| f.eq_ignore_ascii_case(flag))
}

/// The part of `addr` ("local@domain") a test looks at; `None` when the
/// address has no such part (no `@`, or no `+` for `:detail`).
fn address_part(addr: &str, part: AddressPart) -> Option<&str> {
    let split = addr.rsplit_once('@');
    let local = split.map(|(l, _)| l);
    match part {
        AddressPart::All => Some(addr),
        AddressPart::LocalPart => local,
        AddressPart::Domain => split.map(|(_, d)| d),
        AddressPart::User => local.map(|l| l.split_once('+').map_or(l, |(u, _)| u)),
        AddressPart::Detail => local.and_then(|l| l.split_once('+')).map(|(_, d)| d),
    }
}

impl Run<'_, '_> {
    fn block(&mut self, commands: &[Command]) -> Result<Flow, RuntimeError> {
        for cmd in commands {
            self.budget.charge(1)?;
            match cmd {
                Command::If(branches, otherwise) => {
                    let mut chosen = otherwise;
                    for (test, block) in branches {
                        if self.test(test)? {
                            chosen = block;
                            break;
                        }
                    }
                    if let Flow::Stop = self.block(chosen)? {
                        return Ok(Flow::Stop);
                    }
                }
                Command::Stop => return Ok(Flow::Stop),
                Command::Keep(flags) => {
                    let flags = flags.clone().unwrap_or_else(|| self.flags.clone());
                    self.deliver("INBOX".into(), flags, false)?;
                }
                Command::Discard => {
                    self.implicit_keep = false;
                    self.discarded = true;
                }
                Command::FileInto {
                    mailbox,
                    flags,
                    create,
                } => {
                    self.implicit_keep = false;
                    let flags = flags.clone().unwrap_or_else(|| self.flags.clone());
                    // Without :create, a missing mailbox means the default one
                    // (RFC 5228 §4.1 lets the implementation choose).
                    if mailbox == "INBOX" || *create || self.mailboxes.exists(mailbox) {
                        self.deliver(mailbox.clone(), flags, *create && mailbox != "INBOX")?;
                    } else {
                        self.deliver("INBOX".into(), flags, false)?;
                    }
                }
                Command::SetFlag(list) => {
                    self.budget.charge(list.len())?;
                    self.flags = list.clone();
                }
                Command::AddFlag(list) => {
                    self.budget.charge(list.len() * (self.flags.len() + 1))?;
                    for f in list {
                        if !contains_flag(&self.flags, f) {
                            self.flags.push(f.clone());
                        }
                    }
                    if self.flags.len() > MAX_FLAGS {
                        return Err(RuntimeError::TooManyFlags);
                    }
                }
                Command::RemoveFlag(list) => {
                    self.budget.charge(list.len() * (self.flags.len() + 1))?;
                    self.flags.retain(|f| !contains_flag(list, f));
                }
            }
        }
        Ok(Flow::Continue)
    }

    /// Adds a delivery, merging with an earlier one to the same mailbox.
    fn deliver(
        &mut self,
        mailbox: String,
        flags: Vec<String>,
        create: bool,
    ) -> Result<(), RuntimeError> {
        self.budget
            .charge(self.deliveries.len() + flags.len() * (MAX_FLAGS + 1))?;
        if let Some(d) = self.deliveries.iter_mut().find(|d| d.mailbox == mailbox) {
            for f in flags {
                if !contains_flag(&d.flags, &f) {
                    d.flags.push(f);
                }
            }
            d.create |= create;
            if d.flags.len() > MAX_FLAGS {
                return Err(RuntimeError::TooManyFlags);
            }
            return Ok(());
        }
        if self.deliveries.len() >= MAX_DELIVERIES {
            return Err(RuntimeError::TooManyActions);
        }
        self.deliveries.push(Delivery {
            mailbox,
            flags,
            create,
        });
        Ok(())
    }

    fn test(&mut self, test: &Test) -> Result<bool, RuntimeError> {
        self.budget.charge(1)?;
        Ok(match test {
            Test::True => true,
            Test::False => false,
            Test::Not(t) => !self.test(t)?,
            Test::AllOf(tests) => {
                for t in tests {
                    if !self.test(t)? {
                        return Ok(false);
                    }
                }
                true
            }
            Test::AnyOf(tests) => {
                for t in tests {
                    if self.test(t)? {
                        return Ok(true);
                    }
                }
                false
            }
            Test::Header { names, matcher } => {
                for name in names {
                    self.budget.charge(self.msg.lookup_cost(name))?;
                    for value in self.msg.header(name) {
                        if matcher.matches(value, &mut self.budget)? {
                            return Ok(true);
                        }
                    }
                }
                false
            }
            Test::Address {
                part,
                headers,
                matcher,
            } => {
                for name in headers {
                    self.budget.charge(self.msg.lookup_cost(name))?;
                    for (_, addr) in self.msg.addresses(name) {
                        if let Some(value) = address_part(&addr, *part)
                            && matcher.matches(value, &mut self.budget)?
                        {
                            return Ok(true);
                        }
                    }
                }
                false
            }
            Test::Envelope {
                part,
                fields,
                matcher,
            } => {
                for field in fields {
                    let raw = match field {
                        EnvelopeField::From => &self.env.from,
                        EnvelopeField::To => &self.env.to,
                    };
                    let raw = raw.trim();
                    let addr = raw
                        .strip_prefix('<')
                        .and_then(|r| r.strip_suffix('>'))
                        .unwrap_or(raw);
                    // The null reverse-path matches as "" whatever the part.
                    let value = if addr.is_empty() {
                        Some("")
                    } else {
                        address_part(addr, *part)
                    };
                    if let Some(value) = value
                        && matcher.matches(value, &mut self.budget)?
                    {
                        return Ok(true);
                    }
                }
                false
            }
            Test::Exists(names) => {
                for name in names {
                    self.budget.charge(self.msg.lookup_cost(name))?;
                    if self.msg.header(name).is_empty() {
                        return Ok(false);
                    }
                }
                true
            }
            Test::SizeOver(limit) => self.msg.size() > *limit,
            Test::SizeUnder(limit) => self.msg.size() < *limit,
            Test::HasFlag(matcher) => {
                for flag in &self.flags {
                    if matcher.matches(flag, &mut self.budget)? {
                        return Ok(true);
                    }
                }
                false
            }
            Test::MailboxExists(names) => {
                for name in names {
                    self.budget.charge(1)?;
                    if !name.eq_ignore_ascii_case("INBOX") && !self.mailboxes.exists(name) {
                        return Ok(false);
                    }
                }
                true
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::compile;
    use super::*;

    const MSG: &[u8] = b"From: Alice <alice+lists@example.com>\r\nTo: bob@example.org\r\nSubject: hi\r\n\r\nbody\r\n";

    fn run_with(script: &str, exists: &dyn MailboxExists) -> Result<Outcome, RuntimeError> {
        let script = compile(script).unwrap_or_else(|e| panic!("{e}"));
        let env = EnvelopeInfo {
            from: "<sender@example.net>".into(),
            to: "bob+tag@example.org".into(),
        };
        execute(&script, &MessageView::parse(MSG), &env, exists)
    }

    fn run(script: &str) -> Outcome {
        run_with(script, &|name: &str| name != "Missing").unwrap()
    }

    fn targets(o: &Outcome) -> Vec<(&str, Vec<&str>, bool)> {
        o.deliveries
            .iter()
            .map(|d| {
                (
                    d.mailbox.as_str(),
                    d.flags.iter().map(String::as_str).collect(),
                    d.create,
                )
            })
            .collect()
    }

    const F: &str =
        "require [\"fileinto\", \"imap4flags\", \"mailbox\", \"envelope\", \"subaddress\"];\n";

    #[test]
    fn implicit_keep_rules() {
        assert_eq!(targets(&run("")), vec![("INBOX", vec![], false)]);
        assert_eq!(targets(&run("keep;")), vec![("INBOX", vec![], false)]);
        assert_eq!(targets(&run("keep; keep;")), vec![("INBOX", vec![], false)]);
        let o = run("discard;");
        assert!(o.deliveries.is_empty() && o.discarded);
        // keep does not cancel implicit keep, discard does; explicit keep survives discard.
        let o = run("keep; discard;");
        assert_eq!(targets(&o), vec![("INBOX", vec![], false)]);
        assert!(o.discarded);
        assert_eq!(
            targets(&run(&format!("{F}fileinto \"A\";"))),
            vec![("A", vec![], false)]
        );
        assert_eq!(
            targets(&run(&format!("{F}fileinto \"A\"; keep;"))),
            vec![("A", vec![], false), ("INBOX", vec![], false)]
        );
        // stop still performs the implicit keep.
        assert_eq!(
            targets(&run("stop; discard;")),
            vec![("INBOX", vec![], false)]
        );
        assert_eq!(
            targets(&run(&format!("{F}if true {{ stop; }} fileinto \"A\";"))),
            vec![("INBOX", vec![], false)]
        );
    }

    #[test]
    fn duplicate_deliveries_merge() {
        assert_eq!(
            targets(&run(&format!(
                "{F}fileinto \"A\"; fileinto \"A\"; fileinto \"inbox\"; keep;"
            ))),
            vec![("A", vec![], false), ("INBOX", vec![], false)]
        );
        assert_eq!(
            targets(&run(&format!(
                "{F}fileinto :flags \"\\\\Seen\" \"A\"; fileinto :create :flags [\"\\\\seen\", \"$x\"] \"A\";"
            ))),
            vec![("A", vec!["\\Seen", "$x"], true)]
        );
    }

    #[test]
    fn fileinto_missing_mailbox_and_create() {
        assert_eq!(
            targets(&run(&format!("{F}fileinto \"Missing\";"))),
            vec![("INBOX", vec![], false)]
        );
        assert_eq!(
            targets(&run(&format!("{F}fileinto :create \"Missing\";"))),
            vec![("Missing", vec![], true)]
        );
        assert_eq!(
            targets(&run(&format!("{F}fileinto :create \"INBOX\";"))),
            vec![("INBOX", vec![], false)]
        );
        assert_eq!(
            targets(&run(&format!(
                "{F}if mailboxexists [\"A\", \"inbox\"] {{ fileinto \"A\"; }}"
            ))),
            vec![("A", vec![], false)]
        );
        assert_eq!(
            targets(&run(&format!(
                "{F}if mailboxexists [\"A\", \"Missing\"] {{ fileinto \"A\"; }}"
            ))),
            vec![("INBOX", vec![], false)]
        );
    }

    #[test]
    fn flags_follow_the_internal_variable() {
        let o = run(&format!(
            "{F}setflag \"\\\\Seen\"; fileinto \"A\"; addflag [\"$Work\", \"\\\\flagged\"]; fileinto \"B\";\n\
             removeflag \"\\\\seen\"; keep; fileinto :flags \"\" \"C\";"
        ));
        assert_eq!(
            targets(&o),
            vec![
                ("A", vec!["\\Seen"], false),
                ("B", vec!["\\Seen", "$Work", "\\Flagged"], false),
                ("INBOX", vec!["$Work", "\\Flagged"], false),
                ("C", vec![], false),
            ]
        );
        // Implicit keep takes the variable's final value.
        assert_eq!(
            targets(&run(&format!(
                "{F}addflag \"a\"; addflag \"b a\"; removeflag \"A\";"
            ))),
            vec![("INBOX", vec!["b"], false)]
        );
        assert_eq!(
            targets(&run(&format!(
                "{F}setflag \"x\"; keep :flags \"\\\\Answered\";"
            ))),
            vec![("INBOX", vec!["\\Answered"], false)]
        );
    }

    #[test]
    fn hasflag() {
        let holds =
            |cond: &str| run(&format!("{F}setflag \"A B\"; if {cond} {{ discard; }}")).discarded;
        assert!(holds("hasflag [\"b\", \"A\"]"));
        assert!(holds("hasflag :is \"b A\""));
        assert!(holds("hasflag \"a\""));
        assert!(!holds("hasflag :comparator \"i;octet\" \"a\""));
        assert!(!holds("hasflag \"C\""));
        assert!(holds("hasflag :matches \"?\""));
        assert!(!holds("hasflag :contains \"\""));
        assert!(!run(&format!("{F}if hasflag :contains \"x\" {{ discard; }}")).discarded);
    }

    #[test]
    fn address_and_envelope_parts() {
        let holds = |cond: &str| run(&format!("{F}if {cond} {{ discard; }}")).discarded;
        assert!(holds("address :localpart \"from\" \"alice+lists\""));
        assert!(holds("address :user \"from\" \"alice\""));
        assert!(holds("address :detail \"from\" \"lists\""));
        assert!(holds("address :domain \"from\" \"EXAMPLE.COM\""));
        assert!(holds("address \"from\" \"alice+lists@example.com\""));
        assert!(!holds("address :detail \"to\" \"\""));
        assert!(!holds("address :all \"cc\" \"\""));
        assert!(holds("envelope :all \"from\" \"sender@example.net\""));
        assert!(holds("envelope :detail \"to\" \"tag\""));
        assert!(holds("envelope :user \"to\" \"bob\""));
        assert!(holds("envelope :domain [\"from\", \"to\"] \"example.org\""));
        assert!(!holds("envelope :domain \"from\" \"example.org\""));
    }

    #[test]
    fn null_reverse_path_is_empty_string() {
        let script =
            compile("require \"envelope\"; if envelope :domain \"from\" \"\" { discard; }")
                .unwrap();
        let env = EnvelopeInfo {
            from: "<>".into(),
            to: "x@y".into(),
        };
        let o = execute(&script, &MessageView::parse(MSG), &env, &|_: &str| true).unwrap();
        assert!(o.discarded);
    }

    #[test]
    fn address_part_helper() {
        assert_eq!(address_part("a+b+c@d", AddressPart::User), Some("a"));
        assert_eq!(address_part("a+b+c@d", AddressPart::Detail), Some("b+c"));
        assert_eq!(address_part("a+@d", AddressPart::Detail), Some(""));
        assert_eq!(address_part("a@d", AddressPart::Detail), None);
        assert_eq!(address_part("root", AddressPart::LocalPart), None);
        assert_eq!(address_part("root", AddressPart::All), Some("root"));
        assert_eq!(address_part("\"x@y\"@d", AddressPart::Domain), Some("d"));
    }

    #[test]
    fn runtime_limits() {
        let many: String = (0..=MAX_DELIVERIES)
            .map(|i| format!("fileinto \"box{i}\";"))
            .collect();
        assert_eq!(
            run_with(&format!("{F}{many}"), &|_: &str| true),
            Err(RuntimeError::TooManyActions)
        );
        let flags: String = (0..=MAX_FLAGS)
            .map(|i| format!("addflag \"k{i}\";"))
            .collect();
        assert_eq!(
            run_with(&format!("{F}{flags}"), &|_: &str| true),
            Err(RuntimeError::TooManyFlags)
        );
        // A costly :matches repeated many times runs out of budget.
        let slow = format!(
            "if header :matches \"x\" \"*{}b\" {{ keep; }}\n",
            "a".repeat(500)
        )
        .repeat(100);
        let script = compile(&slow).unwrap();
        let msg = format!("X: {}\r\n\r\n", "a".repeat(30_000));
        let env = EnvelopeInfo::default();
        let r = execute(
            &script,
            &MessageView::parse(msg.as_bytes()),
            &env,
            &|_: &str| true,
        );
        assert_eq!(r, Err(RuntimeError::EvaluationLimit));
        assert_eq!(Outcome::fallback().deliveries[0].mailbox, "INBOX");
    }
}
