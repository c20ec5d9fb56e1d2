//! Sieve mail filtering (RFC 5228) for delivery-time sorting.
//!
//! A user's script is compiled once with [`compile`] (syntax and semantic
//! checks, all errors carry a line and column) and run per message with
//! [`execute`], which returns an [`Outcome`]: the mailboxes to deliver to,
//! each with its IMAP flags.
//!
//! # Supported language
//!
//! * Core RFC 5228: `require`, `if`/`elsif`/`else`, `stop`, `keep`,
//!   `discard`; tests `allof`, `anyof`, `not`, `true`, `false`, `header`,
//!   `address`, `exists`, `size`; match types `:is`, `:contains`,
//!   `:matches`; comparators `i;ascii-casemap` (default) and `i;octet`;
//!   address parts `:all`, `:localpart`, `:domain`.
//! * Extensions (must be named in `require`): `fileinto`, `envelope`,
//!   `subaddress` (RFC 5233, `:user`/`:detail`, separator `+`),
//!   `mailbox` (RFC 5490, `fileinto :create`, `mailboxexists`),
//!   `imap4flags` (RFC 5232, `setflag`/`addflag`/`removeflag` on the
//!   internal variable, `hasflag`, `:flags` on `keep`/`fileinto`),
//!   `comparator-i;octet` and `comparator-i;ascii-casemap` (also implicit).
//!
//! Anything else (other extensions, `redirect`, `reject`, variables, ...)
//! is rejected by [`compile`] with a [`CompileError`].
//!
//! Details: strings are compared per Unicode character (`?` matches one
//! character, `i;ascii-casemap` folds only ASCII letters); `address` only
//! accepts address headers (From, To, Cc, Bcc, Sender, Reply-To, Resent-*,
//! Delivered-To, ...); flags are split on whitespace, system flags are
//! canonically capitalized and invalid flags (`\Recent`, non-atoms) are
//! silently dropped (RFC 5232 §2).
//!
//! # Usage
//!
//! ```ignore
//! let script = sieve::compile(&source)?; // at upload time, and when loading
//! let msg = sieve::MessageView::parse(&raw_message);
//! let env = sieve::EnvelopeInfo { from: mail_from, to: rcpt_to };
//! let outcome = sieve::execute(&script, &msg, &env, &|name: &str| store.has_mailbox(user, name))
//!     .unwrap_or_else(|_| sieve::Outcome::fallback()); // errors => INBOX
//! for d in outcome.deliveries { /* create if d.create, append with d.flags */ }
//! ```
//!
//! # Results and failure handling
//!
//! * Implicit keep (RFC 5228 §2.10.2): unless `fileinto` or `discard` ran,
//!   the message is delivered to `INBOX` with the flags of the internal
//!   imap4flags variable. An explicit `keep` does not cancel it; several
//!   deliveries to the same mailbox are merged into one.
//! * `fileinto` without `:create` to a mailbox for which
//!   [`MailboxExists::exists`] says no is turned into a delivery to
//!   `INBOX` (RFC 5228 §4.1 allows saving to the default mailbox).
//!   With `:create`, [`Delivery::create`] is set and the caller must create
//!   the mailbox if it is missing.
//! * Mailbox names are passed through as written in the script (except that
//!   any case of `INBOX` becomes `INBOX`); **the caller must validate them**
//!   and deliver to `INBOX` instead when a name is unacceptable.
//! * **If [`execute`] returns a [`RuntimeError`], the caller must keep the
//!   message in `INBOX`** ([`Outcome::fallback`] builds exactly that
//!   outcome). The same applies when the stored script no longer compiles.
//!
//! # Limits (hostile scripts and messages)
//!
//! * [`MAX_SCRIPT_SIZE`] bytes of script source, checked by [`compile`].
//! * [`MAX_NESTING`] levels of blocks and nested tests, checked while
//!   parsing; parser and interpreter recursion is bounded by it.
//! * [`MAX_STEPS`] units of work per execution (roughly one per character
//!   compared); exceeding it is [`RuntimeError::EvaluationLimit`].
//!   `:matches` runs in `O(len(value) * len(pattern))` without exponential
//!   backtracking.
//! * [`MAX_DELIVERIES`] distinct target mailboxes per execution; more is
//!   [`RuntimeError::TooManyActions`].
//! * [`MAX_FLAGS`] flags per flag list (compile error), in the internal
//!   variable or one delivery ([`RuntimeError::TooManyFlags`]).
//! * [`MessageView::parse`] never panics, whatever the bytes.

mod args;
mod interp;
mod lexer;
mod matching;
mod message;
mod parser;
#[cfg(test)]
mod tests;
mod validate;

use std::fmt;

pub use interp::{EnvelopeInfo, Outcome, execute};
pub use message::MessageView;
pub use parser::Script;

/// Maximum script source size in bytes accepted by [`compile`].
pub const MAX_SCRIPT_SIZE: usize = 64 * 1024;
/// Maximum nesting depth of blocks and tests (`not`, `allof`, `anyof`).
pub const MAX_NESTING: usize = 32;
/// Maximum evaluation work units per [`execute`] call.
pub const MAX_STEPS: u64 = 20_000_000;
/// Maximum number of distinct mailboxes one execution may deliver to.
pub const MAX_DELIVERIES: usize = 32;
/// Maximum number of flags in one flag list, the internal imap4flags
/// variable, or one delivery.
pub const MAX_FLAGS: usize = 64;

/// Compiles a Sieve script into a [`Script`] ready for [`execute`].
///
/// Errors carry the 1-based line and column (in characters) of the
/// offending token, e.g. `line 3, column 5: unsupported extension "vacation"`.
pub fn compile(source: &str) -> Result<Script, CompileError> {
    if source.len() > MAX_SCRIPT_SIZE {
        return Err(CompileError::new(
            1,
            1,
            format!(
                "script is {} bytes, larger than the limit of {MAX_SCRIPT_SIZE} bytes",
                source.len()
            ),
        ));
    }
    let (tokens, end) = lexer::tokenize(source)?;
    parser::parse(&tokens, end)
}

/// A script that does not compile: position (1-based) and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    /// Line number, starting at 1.
    pub line: u32,
    /// Column in characters, starting at 1.
    pub column: u32,
    /// What is wrong.
    pub message: String,
}

impl CompileError {
    fn new(line: u32, column: u32, message: impl Into<String>) -> Self {
        CompileError {
            line,
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for CompileError {}

/// Failure while running a script. **The caller must then keep the message
/// in `INBOX`** (see [`Outcome::fallback`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeError {
    /// The script used more than [`MAX_STEPS`] work units.
    EvaluationLimit,
    /// The script tried to deliver to more than [`MAX_DELIVERIES`] mailboxes.
    TooManyActions,
    /// More than [`MAX_FLAGS`] flags accumulated.
    TooManyFlags,
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuntimeError::EvaluationLimit => {
                write!(f, "sieve evaluation limit of {MAX_STEPS} steps exceeded")
            }
            RuntimeError::TooManyActions => {
                write!(
                    f,
                    "sieve script delivers to more than {MAX_DELIVERIES} mailboxes"
                )
            }
            RuntimeError::TooManyFlags => {
                write!(f, "sieve script sets more than {MAX_FLAGS} flags")
            }
        }
    }
}

impl std::error::Error for RuntimeError {}

#[cfg(test)]
mod api_tests {
    use super::*;

    #[test]
    fn display_format() {
        let e = CompileError::new(3, 5, "unsupported extension \"vacation\"");
        assert_eq!(
            e.to_string(),
            "line 3, column 5: unsupported extension \"vacation\""
        );
    }

    #[test]
    fn size_limit_checked_in_compile() {
        let big = format!("keep;{}", " ".repeat(MAX_SCRIPT_SIZE));
        let e = compile(&big).unwrap_err();
        assert_eq!((e.line, e.column), (1, 1));
        assert!(e.message.contains("larger than the limit"));
        // Just under the limit is fine.
        let ok = format!("keep;{}", " ".repeat(MAX_SCRIPT_SIZE - 5));
        assert!(compile(&ok).is_ok());
    }

    #[test]
    fn end_to_end() {
        let script = compile(
            "require [\"fileinto\", \"imap4flags\"];\n\
             if header :contains \"subject\" \"[list]\" { fileinto :flags \"\\\\Seen\" \"Lists\"; }",
        )
        .unwrap();
        let msg = MessageView::parse(b"Subject: [list] hello\r\n\r\nbody");
        let env = EnvelopeInfo {
            from: "a@b.c".into(),
            to: "me@example.com".into(),
        };
        let out = execute(&script, &msg, &env, &|_: &str| true).unwrap();
        assert_eq!(out.deliveries.len(), 1);
        assert_eq!(out.deliveries[0].mailbox, "Lists");
        assert_eq!(out.deliveries[0].flags, vec!["\\Seen".to_string()]);
        assert!(!out.discarded);
    }
}
