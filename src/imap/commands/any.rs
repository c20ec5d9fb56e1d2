//! Commands valid in any state: CAPABILITY, NOOP, LOGOUT (RFC 3501 §6.1), ID (RFC 2971).

use crate::error::{CmdResult, Done};
use crate::proto::response::Data;

use super::super::session::Session;
use super::super::state::State;

/// The capability list for the session's current state (RFC 3501 §6.1.1): only what works.
/// Before TLS it offers STARTTLS; where passwords need TLS first it says LOGINDISABLED and lists
/// no AUTH= mechanism (RFC 3501 §6.2.3, §7.2.1).
pub fn capabilities(s: &Session) -> Vec<String> {
    let mut caps: Vec<&str> = vec![
        "IMAP4rev1",
        "LITERAL+",
        "SASL-IR",
        "ID",
        "ENABLE",
        "IDLE",
        "NAMESPACE",
        "UIDPLUS",
        "MOVE",
        "UNSELECT",
        "CHILDREN",
        "SPECIAL-USE",
        "ESEARCH",
        "CONDSTORE",
        "QRESYNC",
        "ACL",
        "RIGHTS=texk",
        "SEARCHRES",
        "QUOTA",
        "QUOTA=RES-STORAGE",
        "QUOTA=RES-MESSAGE",
        "STATUS=SIZE",
        "BINARY",
    ];
    if !s.tls && !s.state.is_authenticated() {
        caps.push("STARTTLS");
    }
    if !s.state.is_authenticated() {
        caps.push(if s.plaintext_auth_ok() {
            "AUTH=PLAIN"
        } else {
            "LOGINDISABLED"
        });
    }
    caps.into_iter().map(String::from).collect()
}

/// RFC 3501 §6.1.1 CAPABILITY. Any state.
pub fn capability(s: &mut Session) -> CmdResult {
    let caps = capabilities(s);
    s.conn.queue(Data::Capability(caps));
    Done::ok("completed")
}

/// RFC 3501 §6.1.2 NOOP (and §6.4.1 CHECK): pending changes go out after any command.
pub fn noop() -> CmdResult {
    Done::ok("completed")
}

/// RFC 3501 §6.1.3 LOGOUT: BYE, tagged OK, close.
pub fn logout(s: &mut Session) -> CmdResult {
    s.conn
        .queue(crate::proto::response::Status::bye("Logging out"));
    s.state = State::Logout;
    Done::ok("completed")
}

/// RFC 2971 ID: logs what the client says about itself, answers with the server's name.
pub fn id(s: &mut Session, params: Option<Vec<(String, Option<String>)>>) -> CmdResult {
    if let Some(p) = params {
        let desc: Vec<String> = p
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("NIL")))
            .collect();
        log::info!("{} client id: {}", s.peer, desc.join(", "));
    }
    s.conn.queue(Data::Id(vec![
        ("name".into(), "postfach".into()),
        ("version".into(), env!("CARGO_PKG_VERSION").into()),
    ]));
    Done::ok("completed")
}
