//! Not-authenticated state: STARTTLS, LOGIN and AUTHENTICATE PLAIN with SASL-IR (RFC 3501 §6.2,
//! RFC 4959, RFC 4616).
//!
//! Every failed login writes one log line, a stable format for fail2ban (documented in the
//! README):
//!
//! ```text
//! auth failed: user=NAME rip=IP mech=LOGIN|PLAIN reason=credentials|locked
//! ```
//!
//! `NAME` is what the client sent, reduced to printable ASCII without spaces (at most 64
//! characters, possibly empty); `reason=locked` means the address was locked out and the password
//! was not checked.

use std::time::Instant;

use log::{info, warn};

use crate::auth;
use crate::error::{CmdError, CmdResult, Done};
use crate::proto::response::{Code, Response};
use crate::store::user::canonical_name;

use super::super::connection::Input;
use super::super::session::{Session, auth_deadlines, auth_limits};
use super::super::state::{Account, State};

/// RFC 3501 §6.2.1 STARTTLS. Not-authenticated state, before TLS. The session starts the
/// handshake after the tagged OK.
pub fn starttls(s: &mut Session) -> CmdResult {
    if s.tls {
        return Err(CmdError::Bad("TLS is already active".into()));
    }
    // Bytes after the STARTTLS line were sent in plaintext before the handshake: executing them
    // after it would let a man in the middle inject commands (CVE-2011-0411). Discard and close.
    if s.conn.has_buffered_input() {
        warn!(
            "{}: data pipelined after STARTTLS, closing (command injection?)",
            s.peer
        );
        return Err(CmdError::Bye(
            "Commands pipelined after STARTTLS are refused".into(),
        ));
    }
    s.start_tls = true;
    Done::ok("Begin TLS negotiation now")
}

/// RFC 3501 §6.2.3 LOGIN. Not-authenticated state.
pub async fn login(s: &mut Session, user: String, password: Vec<u8>) -> CmdResult {
    if !s.plaintext_auth_ok() {
        return Err(privacy_required());
    }
    authenticate_as(s, &user, password, "LOGIN").await
}

/// RFC 3501 §6.2.3, RFC 5530: no passwords before TLS from a remote client.
fn privacy_required() -> CmdError {
    CmdError::no_code(
        Code::PrivacyRequired,
        "Use STARTTLS or the IMAPS port before logging in",
    )
}

/// RFC 3501 §6.2.2 AUTHENTICATE, mechanism PLAIN only; the initial response may come with the
/// command (SASL-IR) or after a `+` continuation. `*` cancels (→ BAD).
pub async fn authenticate(s: &mut Session, mechanism: &str, initial: Option<Vec<u8>>) -> CmdResult {
    if !s.plaintext_auth_ok() {
        return Err(privacy_required());
    }
    if mechanism != "PLAIN" {
        return Err(CmdError::No(
            None,
            "Unsupported authentication mechanism".into(),
        ));
    }
    let response = match initial {
        // RFC 4959 §3: "=" is an empty initial response.
        Some(r) if r == b"=" => Vec::new(),
        Some(r) => r,
        None => {
            s.conn.queue(Response::Continue(String::new()));
            s.conn.flush_plain().await?;
            match s.conn.read_command().await? {
                Input::Line(mut line) => {
                    while matches!(line.last(), Some(b'\r' | b'\n')) {
                        line.pop();
                    }
                    line
                }
                Input::Eof => return Err(CmdError::Bye("Connection closed".into())),
                Input::Bye(text) => return Err(CmdError::Bye(text.into())),
                _ => return Err(CmdError::Bad("Invalid SASL response".into())),
            }
        }
    };
    if response == b"*" {
        return Err(CmdError::Bad("Authentication cancelled".into()));
    }
    let Some(plain) = auth::decode_plain(&response) else {
        return Err(CmdError::Bad("Invalid SASL PLAIN response".into()));
    };
    if !plain.authzid.is_empty() && !plain.authzid.eq_ignore_ascii_case(&plain.user) {
        return Err(CmdError::no_code(
            Code::AuthorizationFailed,
            "Cannot act as another user",
        ));
    }
    authenticate_as(s, &plain.user, plain.password, "PLAIN").await
}

/// Verifies the password off the executor, with a bounded number running at once; applies the
/// per-address failure delay and lockout, and the per-user session limit.
async fn authenticate_as(s: &mut Session, user: &str, password: Vec<u8>, mech: &str) -> CmdResult {
    let rip = s.peer.ip();
    if s.ctx.auth_failures.locked(rip, Instant::now()).is_some() {
        warn!(
            "auth failed: user={} rip={rip} mech={mech} reason=locked",
            sanitize(user)
        );
        return Err(CmdError::no_code(
            Code::Unavailable,
            "Too many failed logins from your address, try again later",
        ));
    }
    let name = canonical_name(user).unwrap_or_default();
    let record = if name.is_empty() {
        None
    } else {
        s.ctx.store.user_get(name.clone()).await?
    };
    let hash = record.map_or_else(|| auth::dummy_hash().to_string(), |r| r.password_hash);
    let ok = s.ctx.verifier.verify(password, hash).await
        && !name.is_empty()
        && s.ctx.store.user_get(name.clone()).await?.is_some();
    if !ok {
        // One line per failure, stable format for fail2ban: see the module docs.
        warn!(
            "auth failed: user={} rip={rip} mech={mech} reason=credentials",
            sanitize(user)
        );
        let penalty = s.ctx.auth_failures.failed(rip, Instant::now());
        if penalty.locked {
            warn!(
                "{rip} locked out for {} s after repeated failed logins",
                s.ctx.config.auth_lockout.as_secs()
            );
        }
        smol::Timer::after(penalty.delay).await;
        return Err(CmdError::no_code(
            Code::AuthenticationFailed,
            "Invalid credentials",
        ));
    }
    s.ctx.auth_failures.succeeded(rip);
    let Some(slot) = s.ctx.user_sessions.acquire(name.clone()) else {
        warn!("login refused: user={name} rip={rip}: too many sessions");
        return Err(CmdError::no_code(
            Code::Limit,
            "Too many sessions for this user",
        ));
    };
    info!("login: user={name} rip={rip} mech={mech} tls={}", s.tls);
    s.user_slot = Some(slot);
    s.state = State::Authenticated(Account { user: name });
    s.conn.set_limits(auth_limits(&s.ctx));
    s.conn.set_deadlines(auth_deadlines(&s.ctx));
    let caps = super::any::capabilities(s);
    Done::ok_code(Code::Capability(caps), "completed")
}

/// A user name safe to log: printable ASCII without spaces, bounded.
fn sanitize(user: &str) -> String {
    user.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect()
}
