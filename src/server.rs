//! Listeners, the accept loop, connection limits, signals and graceful shutdown.
//!
//! One task per connection on smol's executor; a panic inside a connection is caught and ends
//! only that connection. The first start with no users prints what to run next.
//!
//! Signals: SIGHUP reloads the TLS certificate (new connections get it, existing ones keep
//! theirs). SIGTERM/SIGINT stop the accept loops, make every session say `* BYE` (at once when
//! waiting for a command, after the running command otherwise), wait up to
//! `--shutdown-timeout` for them to end, then close the database and exit 0. A second signal
//! stops the wait.

use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_signal::{Signal, Signals};
use log::{debug, error, info, warn};
use smol::Async;
use smol::future::FutureExt;
use smol::io::AsyncWriteExt;
use smol::stream::StreamExt;

use crate::admin;
use crate::auth;
use crate::cli::Serve;
use crate::config::{self, CertSource, Config, PlaintextPolicy};
use crate::imap;
use crate::imap::connection::Io;
use crate::limits::{self, AuthFailures, Slots};
use crate::notify::Hub;
use crate::shutdown::Shutdown;
use crate::store::{Store, StoreError};
use crate::tls::Tls;

/// What every session shares.
pub struct Ctx {
    pub store: Store,
    pub config: Config,
    pub tls: Tls,
    pub shutdown: Shutdown,
    /// Password checks: two at once (each uses ~19 MiB, reused, and a core for ~50 ms).
    pub verifier: auth::Verifier,
    /// Failed logins per source address.
    pub auth_failures: AuthFailures,
    /// Logged-in sessions per user.
    pub user_sessions: Slots<String>,
    /// Connections per source address (IPv6 by /64).
    ip_connections: Slots<IpAddr>,
    connections: AtomicUsize,
    /// A second SIGTERM/SIGINT: stop waiting for sessions.
    hurry: AtomicBool,
    /// Refused connections are logged at most once a second, so a flood cannot fill the log.
    refusal_log: RateLimit,
}

/// Lets one event through per second and counts the others.
struct RateLimit {
    /// (second of the last event let through, events held back since).
    state: std::sync::Mutex<(Option<Instant>, u64)>,
}

impl RateLimit {
    fn new() -> Self {
        RateLimit {
            state: std::sync::Mutex::new((None, 0)),
        }
    }

    /// `Some(held back since the last one)` when this event may be logged.
    fn allow(&self) -> Option<u64> {
        let mut st = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        if st
            .0
            .is_some_and(|last| now.duration_since(last) < Duration::from_secs(1))
        {
            st.1 += 1;
            return None;
        }
        let held = st.1;
        *st = (Some(now), 0);
        Some(held)
    }
}

impl Ctx {
    pub fn new(store: Store, config: Config, tls: Tls) -> Arc<Ctx> {
        Arc::new(Ctx {
            store,
            tls,
            shutdown: Shutdown::new(),
            verifier: auth::Verifier::new(2),
            auth_failures: AuthFailures::new(
                config.auth_fail_delay,
                config.auth_lockout_after,
                config.auth_lockout,
            ),
            user_sessions: Slots::new(config.max_sessions_per_user),
            ip_connections: Slots::new(config.max_connections_per_ip),
            connections: AtomicUsize::new(0),
            hurry: AtomicBool::new(false),
            refusal_log: RateLimit::new(),
            config,
        })
    }
}

/// Which protocol a listener speaks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Plain IMAP with STARTTLS.
    Imap,
    /// Implicit TLS (RFC 8314).
    Imaps,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Imap => "imap",
            Kind::Imaps => "imaps",
        }
    }
}

fn parse_addrs(flag: &str, addrs: &[String]) -> Result<Vec<SocketAddr>, String> {
    addrs
        .iter()
        .map(|a| {
            a.parse::<SocketAddr>()
                .map_err(|e| format!("bad --{flag} address {a}: {e}"))
        })
        .collect()
}

fn build_config(s: Serve) -> Result<Config, String> {
    // The defaults apply only when no listener is given at all.
    let (imap, imaps) = if s.imap.is_empty() && s.imaps.is_empty() {
        (
            vec![config::DEFAULT_IMAP.to_string()],
            vec![config::DEFAULT_IMAPS.to_string()],
        )
    } else {
        (s.imap, s.imaps)
    };
    let cert = match (s.cert, s.key) {
        (Some(cert), Some(key)) => CertSource::Files { cert, key },
        (None, None) => CertSource::SelfSigned {
            dir: s.data.clone(),
        },
        _ => return Err("--cert and --key go together".into()),
    };
    let plaintext_policy = match s.plaintext_policy.as_str() {
        "loopback" => PlaintextPolicy::LoopbackExempt,
        "remote" => PlaintextPolicy::Remote,
        p => return Err(format!("bad --plaintext-policy {p}: loopback or remote")),
    };
    let c = Config {
        data_dir: s.data,
        imap: parse_addrs("imap", &imap)?,
        imaps: parse_addrs("imaps", &imaps)?,
        cert,
        cache_bytes: s.cache_mb << 20,
        max_message: s.max_message_mb << 20,
        max_line: s.max_line,
        max_connections: s.max_connections,
        max_connections_per_ip: s.max_connections_per_ip,
        max_sessions_per_user: s.max_sessions_per_user,
        preauth_timeout: Duration::from_secs(s.preauth_timeout),
        idle_timeout: Duration::from_secs(s.idle_timeout),
        idle_keepalive: Duration::from_secs(s.idle_keepalive.max(1)),
        command_timeout: Duration::from_secs(s.command_timeout),
        auth_fail_delay: Duration::from_millis(s.auth_fail_delay_ms),
        auth_lockout_after: s.auth_lockout_after,
        auth_lockout: Duration::from_secs(s.auth_lockout_secs),
        allow_plaintext: s.allow_plaintext,
        plaintext_policy,
        shutdown_timeout: Duration::from_secs(s.shutdown_timeout),
        lmtp: s
            .lmtp
            .iter()
            .map(|a| {
                a.parse()
                    .map_err(|e| format!("bad --lmtp address {a}: {e}"))
            })
            .collect::<Result<_, String>>()?,
        lmtp_socket: s.lmtp_socket,
        spam_junk: !s.no_spam_junk,
    };
    c.validate()?;
    Ok(c)
}

/// `postfach serve`.
pub fn run(s: Serve) -> Result<(), String> {
    let config = build_config(s)?;
    admin::prepare_data_dir(&config.data_dir)?;
    // Before anything else: SIGHUP's default action would kill the process.
    let signals = Signals::new([Signal::Term, Signal::Int, Signal::Hup])
        .map_err(|e| format!("cannot handle signals: {e}"))?;
    raise_open_files(config.max_connections);
    let tls = Tls::load(config.cert.clone())?;
    let cert = tls.current();
    if cert.generated {
        println!(
            "Generated a self-signed TLS certificate: {}",
            cert.cert_path.display()
        );
    }
    if matches!(config.cert, CertSource::SelfSigned { .. }) {
        // Users compare this with what their mail client shows when it asks to trust the cert.
        println!("tls certificate sha256 {}", cert.fingerprint);
    }
    info!(
        "TLS certificate {} (SHA-256 {})",
        cert.cert_path.display(),
        cert.fingerprint
    );
    let store =
        Store::open(&config.db_path(), config.cache_bytes, Hub::new()).map_err(|e| match e {
            StoreError::Locked => format!(
                "{} is in use by another postfach process",
                config.db_path().display()
            ),
            e => e.to_string(),
        })?;
    let control =
        admin::bind_control(&config.data_dir).map_err(|e| format!("control socket: {e}"))?;
    let mut listeners = Vec::new();
    let kinds = config
        .imap
        .iter()
        .map(|a| (Kind::Imap, a))
        .chain(config.imaps.iter().map(|a| (Kind::Imaps, a)));
    for (kind, addr) in kinds {
        let l = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let local = l.local_addr().map_err(|e| e.to_string())?;
        listeners.push((kind, Async::new(l).map_err(|e| e.to_string())?));
        // Tests and scripts read these lines to find the ports.
        println!("listening {} {local}", kind.name());
        info!("{} listening on {local}", kind.name().to_uppercase());
    }
    let lmtp = crate::lmtp::bind(&config.lmtp, config.lmtp_socket.as_ref())?;
    let users = smol::block_on(store.user_list()).map_err(|e| e.to_string())?;
    if users.is_empty() {
        let at = config.imap.first().or(config.imaps.first());
        println!(
            "No users yet. Add one (works while the server runs):\n  postfach user add NAME --data {}\n\
             then point a mail client at {} (IMAP, user NAME).",
            config.data_dir.display(),
            at.map(ToString::to_string).unwrap_or_default()
        );
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // The last handle to the database: dropped here, after the writer thread let go of it.
    let db = store.db.clone();
    let data_dir = config.data_dir.clone();
    let ctx = Ctx::new(store.clone(), config, tls);
    smol::block_on(async {
        let settings = crate::lmtp::settings(&ctx.config);
        let control = smol::spawn(admin::serve_control(control, store, settings));
        let signals = smol::spawn(handle_signals(signals, ctx.clone()));
        crate::lmtp::spawn(lmtp, ctx.clone());
        let loops: Vec<_> = listeners
            .into_iter()
            .map(|(kind, l)| smol::spawn(accept_loop(l, kind, ctx.clone())))
            .collect();
        for l in loops {
            l.await;
        }
        drain(&ctx).await;
        control.cancel().await;
        signals.cancel().await;
    });
    drop(ctx);
    let _ = std::fs::remove_file(config::control_path(&data_dir));
    close_database(db);
    info!("shut down");
    Ok(())
}

/// Raises the soft open-files limit (often 1024) towards the hard one, so that
/// `--max-connections` sockets plus the database and listeners fit; warns when they cannot.
fn raise_open_files(max_connections: usize) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let want = max_connections as u64 + 64;
    let lim = getrlimit(Resource::Nofile);
    let soft = lim.current.unwrap_or(u64::MAX);
    if soft >= want {
        return;
    }
    let new = lim.maximum.map_or(want, |hard| hard.min(want));
    if new > soft {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: Some(new),
                maximum: lim.maximum,
            },
        );
    }
    let now = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    if now < want {
        warn!(
            "open files limited to {now}: fewer than --max-connections {max_connections} \
             connections fit; raise the hard limit (LimitNOFILE= in systemd)"
        );
    }
}

/// SIGHUP: reload the certificate. SIGTERM/SIGINT: shut down; a second one: hurry.
async fn handle_signals(mut signals: Signals, ctx: Arc<Ctx>) {
    while let Some(signal) = signals.next().await {
        match signal {
            Ok(Signal::Hup) => {
                let c = ctx.clone();
                match smol::unblock(move || c.tls.reload()).await {
                    Ok(l) => info!(
                        "TLS certificate reloaded from {} (SHA-256 {})",
                        l.cert_path.display(),
                        l.fingerprint
                    ),
                    Err(e) => error!("TLS certificate reload failed, keeping the old one: {e}"),
                }
            }
            Ok(_) if ctx.shutdown.is_triggered() => {
                warn!("second signal: not waiting for sessions any longer");
                ctx.hurry.store(true, Ordering::SeqCst);
            }
            Ok(_) => {
                info!(
                    "shutting down: no new connections, sessions get {} s to finish",
                    ctx.config.shutdown_timeout.as_secs()
                );
                ctx.shutdown.trigger(ctx.config.shutdown_timeout);
            }
            Err(e) => warn!("signal handling: {e}"),
        }
    }
}

/// After the accept loops stopped: waits for the sessions to end, bounded.
async fn drain(ctx: &Ctx) {
    // A little beyond the shutdown deadline, for the BYE and the tagged replies to go out.
    let until = Instant::now() + ctx.config.shutdown_timeout + Duration::from_secs(1);
    loop {
        let n = ctx.connections.load(Ordering::SeqCst);
        if n == 0 {
            return;
        }
        if Instant::now() >= until || ctx.hurry.load(Ordering::SeqCst) {
            warn!("{n} connections still open at shutdown, closing them");
            return;
        }
        smol::Timer::after(Duration::from_millis(20)).await;
    }
}

/// Waits (bounded) until only `db` is left, so the database is dropped, and closed cleanly,
/// here. Every acknowledged write is durable already; this only avoids a recovery at next start.
fn close_database(db: Arc<redb::Database>) {
    let until = Instant::now() + Duration::from_secs(5);
    while Arc::strong_count(&db) > 1 {
        if Instant::now() >= until {
            warn!("database still in use at exit");
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(db);
}

async fn accept_loop(listener: Async<TcpListener>, kind: Kind, ctx: Arc<Ctx>) {
    loop {
        let accepted = async { Some(listener.accept().await) }
            .or(async {
                ctx.shutdown.wait().await;
                None
            })
            .await;
        let (stream, peer) = match accepted {
            None => return,
            Some(Ok(x)) => x,
            Some(Err(e)) => {
                // EMFILE and friends: back off instead of spinning.
                warn!("accept failed: {e}");
                smol::Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        let ctx = ctx.clone();
        smol::spawn(async move { connection(stream, peer, kind, ctx).await }).detach();
    }
}

/// Counts a connection for as long as it lives.
struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn connection(mut stream: Async<TcpStream>, peer: SocketAddr, kind: Kind, ctx: Arc<Ctx>) {
    let n = ctx.connections.fetch_add(1, Ordering::SeqCst) + 1;
    let _counted = Counted(&ctx.connections);
    let refusal = if n > ctx.config.max_connections {
        Some("Too many connections, try again later")
    } else {
        None
    };
    let slot = ctx.ip_connections.acquire(limits::source_key(peer.ip()));
    let refusal = refusal.or(slot
        .is_none()
        .then_some("Too many connections from your address"));
    if let Some(text) = refusal {
        if let Some(suppressed) = ctx.refusal_log.allow() {
            warn!("connection from {peer} refused: {text} ({suppressed} more refusals not logged)");
        }
        if kind == Kind::Imap {
            let _ = stream
                .write_all(format!("* BYE {text}\r\n").as_bytes())
                .await;
        }
        return;
    }
    let _ = stream.get_ref().set_nodelay(true);
    let io: Box<dyn Io> = match kind {
        Kind::Imap => Box::new(stream),
        Kind::Imaps => {
            let handshake = ctx.tls.acceptor().accept(stream);
            match imap::session::timeout(ctx.config.preauth_timeout, handshake).await {
                Some(Ok(tls)) => Box::new(tls),
                Some(Err(e)) => {
                    debug!("TLS handshake with {peer} failed: {e}");
                    return;
                }
                None => {
                    debug!("TLS handshake with {peer} timed out");
                    return;
                }
            }
        }
    };
    let session = imap::serve(io, peer, kind == Kind::Imaps, ctx.clone());
    if let Err(panic) = std::panic::AssertUnwindSafe(session).catch_unwind().await {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned());
        error!("session of {peer} panicked: {}", what.unwrap_or_default());
    }
}
