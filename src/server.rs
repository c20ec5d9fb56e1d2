//! Listeners, the accept loop and the connection limit.
//!
//! One task per connection on smol's executor; a panic inside a connection is caught and ends
//! only that connection. The first start with no users prints what to run next.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use log::{error, info, warn};
use smol::Async;
use smol::future::FutureExt;
use smol::io::AsyncWriteExt;

use crate::admin;
use crate::cli::Serve;
use crate::config::{self, Config};
use crate::imap;
use crate::notify::Hub;
use crate::store::{Store, StoreError};

/// What every session shares.
pub struct Ctx {
    pub store: Store,
    pub config: Config,
    /// Bounds concurrent argon2 verifications (each uses ~19 MiB and a core for ~50 ms).
    pub auth_slots: smol::lock::Semaphore,
    connections: AtomicUsize,
}

impl Ctx {
    pub fn new(store: Store, config: Config) -> Arc<Ctx> {
        Arc::new(Ctx {
            store,
            config,
            auth_slots: smol::lock::Semaphore::new(2),
            connections: AtomicUsize::new(0),
        })
    }
}

fn build_config(s: Serve) -> Result<Config, String> {
    let addrs = if s.imap.is_empty() {
        vec![config::DEFAULT_IMAP.to_string()]
    } else {
        s.imap
    };
    let imap = addrs
        .iter()
        .map(|a| {
            a.parse::<SocketAddr>()
                .map_err(|e| format!("bad --imap address {a}: {e}"))
        })
        .collect::<Result<_, _>>()?;
    let c = Config {
        data_dir: s.data,
        imap,
        cache_bytes: s.cache_mb << 20,
        max_message: s.max_message_mb << 20,
        max_line: s.max_line,
        max_connections: s.max_connections,
        preauth_timeout: Duration::from_secs(s.preauth_timeout),
        idle_timeout: Duration::from_secs(s.idle_timeout),
        idle_keepalive: Duration::from_secs(s.idle_keepalive.max(1)),
        auth_fail_delay: Duration::from_millis(s.auth_fail_delay_ms),
        allow_plaintext: s.allow_plaintext,
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
    for addr in &config.imap {
        let l = TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        let local = l.local_addr().map_err(|e| e.to_string())?;
        listeners.push(Async::new(l).map_err(|e| e.to_string())?);
        // Tests and scripts read this line to find the port.
        println!("listening imap {local}");
        info!("IMAP listening on {local}");
    }
    let lmtp = crate::lmtp::bind(&config.lmtp, config.lmtp_socket.as_ref())?;
    let users = smol::block_on(store.user_list()).map_err(|e| e.to_string())?;
    if users.is_empty() {
        println!(
            "No users yet. Add one (works while the server runs):\n  postfach user add NAME --data {}\n\
             then point a mail client at {} (IMAP, user NAME).",
            config.data_dir.display(),
            config.imap[0]
        );
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let ctx = Ctx::new(store.clone(), config);
    smol::block_on(async {
        let settings = crate::lmtp::settings(&ctx.config);
        smol::spawn(admin::serve_control(control, store, settings)).detach();
        crate::lmtp::spawn(lmtp, ctx.clone());
        let loops: Vec<_> = listeners
            .into_iter()
            .map(|l| smol::spawn(accept_loop(l, ctx.clone())))
            .collect();
        for l in loops {
            l.await;
        }
    });
    Ok(())
}

async fn accept_loop(listener: Async<TcpListener>, ctx: Arc<Ctx>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                warn!("accept failed: {e}");
                smol::Timer::after(Duration::from_millis(100)).await;
                continue;
            }
        };
        let ctx = ctx.clone();
        smol::spawn(async move { connection(stream, peer, ctx).await }).detach();
    }
}

async fn connection(mut stream: Async<TcpStream>, peer: SocketAddr, ctx: Arc<Ctx>) {
    let n = ctx.connections.fetch_add(1, Ordering::SeqCst) + 1;
    if n > ctx.config.max_connections {
        warn!("connection from {peer} refused: {n} connections");
        let _ = stream
            .write_all(b"* BYE Too many connections, try again later\r\n")
            .await;
        ctx.connections.fetch_sub(1, Ordering::SeqCst);
        return;
    }
    let _ = stream.get_ref().set_nodelay(true);
    let session = imap::serve(Box::new(stream), peer, ctx.clone());
    if let Err(panic) = std::panic::AssertUnwindSafe(session).catch_unwind().await {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned());
        error!("session of {peer} panicked: {}", what.unwrap_or_default());
    }
    ctx.connections.fetch_sub(1, Ordering::SeqCst);
}
