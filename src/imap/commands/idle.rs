//! RFC 2177 IDLE: a sub-loop racing the client's DONE, change wake-ups, a keep-alive tick and
//! the autologout deadline. Authenticated or selected state.

use std::time::Instant;

use smol::future::FutureExt;

use crate::error::{CmdError, CmdResult, Done};
use crate::proto::response::{Response, Status};

use super::super::connection::Input;
use super::super::session::{MAILBOX_GONE, Session};
use super::super::state::State;

enum Event {
    Input(std::io::Result<Input>),
    Changed,
    Tick,
}

pub async fn idle(s: &mut Session) -> CmdResult {
    s.conn.queue(Response::Continue("idling".into()));
    if !s.sync(true, true).await? {
        return Err(CmdError::Bye(MAILBOX_GONE.into()));
    }
    s.conn.flush_plain().await?;
    let deadline = Instant::now() + s.ctx.config.idle_timeout;
    let keepalive = s.ctx.config.idle_keepalive;
    loop {
        let wait = keepalive.min(deadline.saturating_duration_since(Instant::now()));
        let event = {
            let Session { conn, state, .. } = s;
            let changed = async {
                match state {
                    State::Selected(_, sel) => sel.sub.changed().await,
                    _ => std::future::pending::<()>().await,
                }
                Event::Changed
            };
            let input = async { Event::Input(conn.read_command().await) };
            let tick = async {
                smol::Timer::after(wait).await;
                Event::Tick
            };
            input.or(changed).or(tick).await
        };
        match event {
            Event::Input(r) => {
                return match r? {
                    Input::Line(l) if l.trim_ascii().eq_ignore_ascii_case(b"DONE") => {
                        Done::ok("completed")
                    }
                    Input::Eof => Err(CmdError::Bye("Connection closed".into())),
                    // The stream cannot be resynchronised: close, as the session loop does.
                    Input::Fatal { reason, .. } => Err(CmdError::Bye(reason.into())),
                    Input::Bye(text) => Err(CmdError::Bye(text.into())),
                    Input::Line(_) | Input::TooBig { .. } => {
                        Err(CmdError::Bad("Expected DONE".into()))
                    }
                };
            }
            Event::Changed => {
                if !s.sync(true, true).await? {
                    return Err(CmdError::Bye(MAILBOX_GONE.into()));
                }
                s.conn.flush_plain().await?;
            }
            Event::Tick => {
                if Instant::now() >= deadline {
                    return Err(CmdError::Bye("Autologout; idle for too long".into()));
                }
                // Keep NAT mappings alive.
                s.conn.queue(Status::ok("Still here"));
                s.conn.flush_plain().await?;
            }
        }
    }
}
