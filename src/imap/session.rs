//! The per-connection loop: greeting → read → parse → gate → dispatch → pending changes →
//! tagged reply (→ TLS handshake after STARTTLS), with BYE on timeouts, shutdown, framing errors
//! and fatal command errors.

use std::net::SocketAddr;
use std::sync::Arc;

use log::{debug, error, info, warn};
use smol::future::FutureExt;

use crate::config::{PREAUTH_MAX_LITERAL, PlaintextPolicy};
use crate::error::CmdError;
use crate::limits::{self, Slot};
use crate::proto::command::{CommandBody, parse_command};
use crate::proto::framer::Limits;
use crate::proto::response::{Code, Status};
use crate::server::Ctx;

use super::commands;
use super::connection::{Connection, Deadlines, Input, Io};
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
    /// The connection runs over TLS (IMAPS, or after STARTTLS).
    pub tls: bool,
    /// STARTTLS was accepted: the handshake follows its tagged OK.
    pub start_tls: bool,
    /// The logged-in user's session slot (`--max-sessions-per-user`).
    pub user_slot: Option<Slot<String>>,
}

impl Session {
    /// Whether LOGIN/AUTHENTICATE may be used now: under TLS, on loopback (unless the policy
    /// treats every client as remote), or when the operator allowed plaintext.
    pub fn plaintext_auth_ok(&self) -> bool {
        let c = &self.ctx.config;
        self.tls
            || c.allow_plaintext
            || (c.plaintext_policy == PlaintextPolicy::LoopbackExempt
                && limits::is_loopback(self.peer.ip()))
    }
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

/// Read deadlines before authentication: the pre-auth timeout counts from the connection's
/// start, however many commands it sends.
pub fn preauth_deadlines(ctx: &Ctx) -> Deadlines {
    Deadlines {
        idle: ctx.config.preauth_timeout,
        command: ctx.config.command_timeout,
        until: Some(std::time::Instant::now() + ctx.config.preauth_timeout),
    }
}

/// Read deadlines once authenticated (RFC 3501 §5.4 autologout).
pub fn auth_deadlines(ctx: &Ctx) -> Deadlines {
    Deadlines {
        idle: ctx.config.idle_timeout,
        command: ctx.config.command_timeout,
        until: None,
    }
}

/// Runs one connection to its end; `tls` when the stream is already TLS (IMAPS).
pub async fn serve(stream: Box<dyn Io>, peer: SocketAddr, tls: bool, ctx: Arc<Ctx>) {
    debug!("connection from {peer}");
    let conn = Connection::new(
        stream,
        preauth_limits(&ctx),
        preauth_deadlines(&ctx),
        ctx.shutdown.clone(),
    );
    let mut s = Session {
        conn,
        ctx,
        peer,
        state: State::NotAuthenticated,
        enabled: Enabled::default(),
        saved: Vec::new(),
        tls,
        start_tls: false,
        user_slot: None,
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
            match self.conn.read_command().await? {
                Input::Eof => return Ok(()),
                Input::Bye(text) => {
                    self.conn.queue(Status::bye(text));
                    return self.conn.flush_plain().await;
                }
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
                    if std::mem::take(&mut self.start_tls) {
                        self.handshake().await?;
                    }
                }
            }
        }
    }

    /// The TLS handshake after STARTTLS's tagged OK, bounded by the pre-auth timeout.
    async fn handshake(&mut self) -> std::io::Result<()> {
        let acceptor = self.ctx.tls.acceptor();
        let limit = self.ctx.config.preauth_timeout;
        match timeout(limit, self.conn.start_tls(acceptor)).await {
            Some(Ok(())) => {
                debug!("{}: STARTTLS done", self.peer);
                self.tls = true;
                Ok(())
            }
            Some(Err(e)) => {
                warn!("{}: TLS handshake failed: {e}", self.peer);
                Err(e)
            }
            None => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "TLS handshake timed out",
            )),
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
