//! The per-connection loop: greeting → read → parse → gate → dispatch → pending changes →
//! tagged reply, with BYE on timeout, framing errors and fatal command errors.

use std::net::SocketAddr;
use std::sync::Arc;

use log::{debug, error, info};
use smol::future::FutureExt;

use crate::config::PREAUTH_MAX_LITERAL;
use crate::error::CmdError;
use crate::proto::command::{CommandBody, parse_command};
use crate::proto::framer::Limits;
use crate::proto::response::{Code, Status};
use crate::server::Ctx;

use super::commands;
use super::connection::{Connection, Input, Io};
use super::state::State;
use super::view::{Report, Synced};

/// BYE text when the selected mailbox is deleted under a session.
pub const MAILBOX_GONE: &str = "Selected mailbox was deleted, please reconnect";

/// Extensions the client turned on with ENABLE (RFC 5161).
#[derive(Debug, Default, Clone, Copy)]
pub struct Enabled {
    /// RFC 7162 CONDSTORE (also implied by QRESYNC and by any CONDSTORE-using command).
    pub condstore: bool,
    /// RFC 7162 QRESYNC.
    pub qresync: bool,
}

impl Enabled {
    /// How this session reports changes.
    pub fn report(&self, allow_expunge: bool) -> Report {
        Report {
            allow_expunge,
            modseq: self.condstore,
            vanished: self.qresync,
        }
    }
}

/// One client connection.
pub struct Session {
    pub conn: Connection,
    pub ctx: Arc<Ctx>,
    pub peer: SocketAddr,
    pub state: State,
    pub enabled: Enabled,
    /// RFC 5182 saved search result (UIDs), `$`.
    pub saved: Vec<u32>,
}

/// Limits before authentication: small literals only.
pub fn preauth_limits(ctx: &Ctx) -> Limits {
    Limits {
        max_line: ctx.config.max_line,
        max_literal: PREAUTH_MAX_LITERAL,
        max_command: ctx.config.max_line as u64 + PREAUTH_MAX_LITERAL,
    }
}

/// Limits once authenticated: a message may be sent.
pub fn auth_limits(ctx: &Ctx) -> Limits {
    let m = ctx.config.max_message;
    Limits {
        max_line: ctx.config.max_line,
        max_literal: m,
        max_command: m + 2 * ctx.config.max_line as u64,
    }
}

/// Runs one connection to its end.
pub async fn serve(stream: Box<dyn Io>, peer: SocketAddr, ctx: Arc<Ctx>) {
    debug!("connection from {peer}");
    let conn = Connection::new(stream, preauth_limits(&ctx));
    let mut s = Session {
        conn,
        ctx,
        peer,
        state: State::NotAuthenticated,
        enabled: Enabled::default(),
        saved: Vec::new(),
    };
    let caps = commands::any::capabilities(&s);
    s.conn
        .queue(Status::ok("postfach ready").code(Code::Capability(caps)));
    if s.conn.flush_plain().await.is_err() {
        return;
    }
    if let Err(e) = s.run().await {
        debug!("connection from {peer} ended: {e}");
    }
    debug!("connection from {peer} closed");
}

/// Waits for `fut` at most `d`.
pub async fn timeout<T>(
    d: std::time::Duration,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    async { Some(fut.await) }
        .or(async {
            smol::Timer::after(d).await;
            None
        })
        .await
}

impl Session {
    async fn run(&mut self) -> std::io::Result<()> {
        loop {
            let limit = if self.state.is_authenticated() {
                self.ctx.config.idle_timeout
            } else {
                self.ctx.config.preauth_timeout
            };
            let Some(input) = timeout(limit, self.conn.read_command()).await else {
                self.conn
                    .queue(Status::bye("Autologout; idle for too long"));
                return self.conn.flush_plain().await;
            };
            match input? {
                Input::Eof => return Ok(()),
                Input::Fatal { tag, reason } => {
                    if let Some(tag) = tag {
                        self.conn.queue(Status::bad(reason).tag(tag));
                    }
                    self.conn.queue(Status::bye(reason));
                    return self.conn.flush_plain().await;
                }
                Input::TooBig { tag } => {
                    let st = Status::no("Literal too big").code(Code::TooBig);
                    self.conn.queue(match tag {
                        Some(t) => st.tag(t),
                        None => st,
                    });
                    self.conn.flush_plain().await?;
                }
                Input::Line(line) => {
                    if !self.command(&line).await? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Runs one command line; false when the connection is to close.
    async fn command(&mut self, line: &[u8]) -> std::io::Result<bool> {
        let cmd = match parse_command(line) {
            Ok(c) => c,
            Err(e) => {
                let st = Status::bad(e.error.0);
                self.conn.queue(match e.tag {
                    Some(t) => st.tag(t),
                    None => st,
                });
                self.conn.flush_plain().await?;
                return Ok(true);
            }
        };
        let name = cmd.body.name();
        debug!("{} {} {}", self.peer, cmd.tag, name);
        let allow_expunge = allows_expunge(&cmd.body);
        let tag = cmd.tag;
        let result = match commands::check_state(&self.state, &cmd.body) {
            Ok(()) => commands::dispatch(self, &tag, cmd.body).await,
            Err(e) => Err(e),
        };
        let status = match result {
            Ok(done) => {
                let mut st = Status::ok(format!("{name} {}", done.text)).tag(tag.as_str());
                st.code = done.code;
                st
            }
            Err(CmdError::Bye(text)) => {
                self.conn.queue(Status::bye(text));
                self.conn.flush_plain().await?;
                return Ok(false);
            }
            Err(e) => {
                if let CmdError::Internal(detail) = &e {
                    error!("{} {name} failed: {detail}", self.peer);
                }
                e.to_status(&tag)
            }
        };
        if !self.sync(allow_expunge, false).await? {
            self.conn.queue(Status::bye(MAILBOX_GONE));
            self.conn.flush_plain().await?;
            return Ok(false);
        }
        self.conn.queue(status);
        self.conn.flush_plain().await?;
        Ok(!matches!(self.state, State::Logout))
    }

    /// Queues pending changes of the selected mailbox (all of them when `force`, else only if a
    /// wake-up is pending). False when the selected mailbox is gone.
    pub async fn sync(&mut self, allow_expunge: bool, force: bool) -> std::io::Result<bool> {
        let State::Selected(account, sel) = &mut self.state else {
            return Ok(true);
        };
        if !sel.sub.take_pending() && !force {
            if allow_expunge && sel.view.has_pending_expunges() {
                for r in sel.view.take_expunges(self.enabled.qresync) {
                    self.conn.queue(r);
                }
            }
            return Ok(true);
        }
        let set = match self
            .ctx
            .store
            .changes_since(sel.id, sel.view.modseq, sel.seen_of.clone())
            .await
        {
            Ok(set) => set,
            Err(e) => {
                error!("sync of mailbox {} failed: {e}", sel.id);
                return Ok(true);
            }
        };
        let (hub, id, rw) = (self.ctx.store.hub().clone(), sel.id, !sel.read_only);
        // Rights are re-checked on every change (RFC 4314: SETACL reaches selected sessions).
        if let Some(rec) = &set.rec {
            sel.rights = crate::store::acl::effective(&account.user, &rec.owner, &rec.acl);
        }
        if !sel.rights.has('r') {
            info!(
                "{}: read access to the selected mailbox was revoked",
                self.peer
            );
            return Ok(false);
        }
        let how = self.enabled.report(allow_expunge);
        match sel.view.apply(set, how, |uid| rw && hub.claim(id, uid)) {
            Synced::Responses(rs) => {
                for r in rs {
                    self.conn.queue(r);
                }
                Ok(true)
            }
            Synced::MailboxGone => {
                info!("{}: selected mailbox was deleted", self.peer);
                Ok(false)
            }
        }
    }
}

/// RFC 3501 §7.4.1: no EXPUNGE during FETCH, STORE or SEARCH by sequence number (COPY and MOVE
/// by sequence number are treated the same way).
fn allows_expunge(body: &CommandBody) -> bool {
    !matches!(
        body,
        CommandBody::Fetch { uid: false, .. }
            | CommandBody::Store { uid: false, .. }
            | CommandBody::Search { uid: false, .. }
            | CommandBody::Copy { uid: false, .. }
    )
}
