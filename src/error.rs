//! Command errors, typed by who is at fault, and their mechanical mapping to the wire
//! (RFC 3501 §7.1): syntax → `BAD`; user or state → `NO [code]`; internal → logged, then
//! `NO [SERVERBUG]` without internals; fatal → `BYE` and close.

use crate::proto::parse::ParseError;
use crate::proto::response::{Code, Status};
use crate::store::StoreError;

/// Why a command failed.
#[derive(Debug)]
pub enum CmdError {
    /// Protocol or syntax error: `BAD`.
    Bad(String),
    /// The command was understood but refused: `NO [code] text`.
    No(Option<Code>, String),
    /// The connection must end: `BYE`.
    Bye(String),
    /// A server fault; the text goes to the log only.
    Internal(String),
}

impl CmdError {
    pub fn no(text: impl Into<String>) -> Self {
        CmdError::No(None, text.into())
    }
    pub fn no_code(code: Code, text: impl Into<String>) -> Self {
        CmdError::No(Some(code), text.into())
    }

    /// The tagged status for this error (the session logs `Internal` before calling this).
    pub fn to_status(&self, tag: &str) -> Status {
        match self {
            CmdError::Bad(t) => Status::bad(t.clone()).tag(tag),
            CmdError::No(code, t) => {
                let s = Status::no(t.clone()).tag(tag);
                match code {
                    Some(c) => s.code(c.clone()),
                    None => s,
                }
            }
            CmdError::Bye(t) => Status::bye(t.clone()),
            CmdError::Internal(_) => Status::no("Internal server error, see the server log")
                .tag(tag)
                .code(Code::ServerBug),
        }
    }
}

impl From<ParseError> for CmdError {
    fn from(e: ParseError) -> Self {
        CmdError::Bad(e.0)
    }
}

impl From<StoreError> for CmdError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NoSuchMailbox => {
                CmdError::no_code(Code::NonExistent, "Mailbox does not exist")
            }
            StoreError::MailboxExists => {
                CmdError::no_code(Code::AlreadyExists, "Mailbox already exists")
            }
            StoreError::Cannot(t) => CmdError::no_code(Code::Cannot, t),
            StoreError::NoSuchUser => CmdError::no("No such user"),
            StoreError::UserExists => CmdError::no_code(Code::AlreadyExists, "User already exists"),
            StoreError::OverQuota => CmdError::no_code(Code::OverQuota, "Quota exceeded"),
            StoreError::Locked | StoreError::Internal(_) => CmdError::Internal(e.to_string()),
        }
    }
}

impl From<std::io::Error> for CmdError {
    fn from(e: std::io::Error) -> Self {
        CmdError::Bye(format!("I/O error: {e}"))
    }
}

pub type CmdResult<T = Done> = Result<T, CmdError>;

/// A successful command: the tagged OK's code and text.
#[derive(Debug)]
pub struct Done {
    pub code: Option<Code>,
    pub text: String,
}

impl Done {
    pub fn ok(text: impl Into<String>) -> CmdResult {
        Ok(Done {
            code: None,
            text: text.into(),
        })
    }
    pub fn ok_code(code: Code, text: impl Into<String>) -> CmdResult {
        Ok(Done {
            code: Some(code),
            text: text.into(),
        })
    }
}
