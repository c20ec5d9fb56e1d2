//! Not-authenticated state: LOGIN and AUTHENTICATE PLAIN with SASL-IR (RFC 3501 §6.2,
//! RFC 4959, RFC 4616).

use log::{info, warn};

use crate::auth;
use crate::error::{CmdError, CmdResult, Done};
use crate::proto::response::{Code, Response};
use crate::store::user::canonical_name;

use super::super::connection::Input;
use super::super::session::{Session, auth_limits};
use super::super::state::{Account, State};

/// RFC 3501 §6.2.3 LOGIN. Not-authenticated state.
pub async fn login(s: &mut Session, user: String, password: Vec<u8>) -> CmdResult {
    authenticate_as(s, &user, password).await
}

/// RFC 3501 §6.2.2 AUTHENTICATE, mechanism PLAIN only; the initial response may come with the
/// command (SASL-IR) or after a `+` continuation. `*` cancels (→ BAD).
pub async fn authenticate(s: &mut Session, mechanism: &str, initial: Option<Vec<u8>>) -> CmdResult {
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
    authenticate_as(s, &plain.user, plain.password).await
}

/// Verifies the password off the executor, with a bounded number running at once.
async fn authenticate_as(s: &mut Session, user: &str, password: Vec<u8>) -> CmdResult {
    let name = canonical_name(user).unwrap_or_default();
    let record = if name.is_empty() {
        None
    } else {
        s.ctx.store.user_get(name.clone()).await?
    };
    let hash = record.map_or_else(|| auth::dummy_hash().to_string(), |r| r.password_hash);
    let ok = {
        let _slot = s.ctx.auth_slots.acquire().await;
        smol::unblock(move || auth::verify_password(&password, &hash)).await
    } && !name.is_empty()
        && s.ctx.store.user_get(name.clone()).await?.is_some();
    if !ok {
        // One line per failure, stable format for fail2ban: see README.
        warn!("auth failed: user={} rip={}", sanitize(user), s.peer.ip());
        smol::Timer::after(s.ctx.config.auth_fail_delay).await;
        return Err(CmdError::no_code(
            Code::AuthenticationFailed,
            "Invalid credentials",
        ));
    }
    info!("login: user={name} rip={}", s.peer.ip());
    s.state = State::Authenticated(Account { user: name });
    s.conn.set_limits(auth_limits(&s.ctx));
    let caps = super::any::capabilities(s);
    Done::ok_code(Code::Capability(caps), "completed")
}

/// A user name safe to log: printable ASCII only, bounded.
fn sanitize(user: &str) -> String {
    user.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect()
}
