//! Server configuration: listen addresses, paths, limits and timeouts, with documented defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Default IMAP (+STARTTLS) listener for the embedded setup: loopback, unprivileged port.
pub const DEFAULT_IMAP: &str = "127.0.0.1:1143";
/// Default IMAPS (implicit TLS, RFC 8314) listener: loopback, unprivileged port.
pub const DEFAULT_IMAPS: &str = "127.0.0.1:1993";
/// Default redb page cache (redb's own default is 1 GiB, far too much for a Pi Zero). Message
/// chunks pass through it too, so it is what a large FETCH adds to RSS; metadata for 10,000
/// messages is ~6 MB.
pub const DEFAULT_CACHE_MB: usize = 6;
/// Largest message accepted by APPEND (and later LMTP).
pub const DEFAULT_MAX_MESSAGE_MB: u64 = 50;
/// Longest command line between literals (RFC 7162 §4 recommends at least 8192).
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;
/// Largest literal before authentication (LOGIN arguments only).
pub const PREAUTH_MAX_LITERAL: u64 = 8 * 1024;
/// Simultaneous connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 2000;
/// Simultaneous connections from one address (IPv6: one /64). A household behind one NAT with a
/// few devices, each keeping several connections per account, stays well below it.
pub const DEFAULT_MAX_CONNECTIONS_PER_IP: usize = 50;
/// Simultaneous authenticated sessions of one user (desktop clients keep about five each).
pub const DEFAULT_MAX_SESSIONS_PER_USER: usize = 32;
/// Time a client may take to log in (RFC 3501 §5.4 only bounds authenticated idleness).
pub const DEFAULT_PREAUTH_TIMEOUT_SECS: u64 = 60;
/// Authenticated inactivity autologout; RFC 3501 §5.4 requires at least 30 minutes.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 30 * 60;
/// Interval of `* OK Still here` during IDLE, so NAT routers keep the connection.
pub const DEFAULT_IDLE_KEEPALIVE_SECS: u64 = 120;
/// Time from the first byte of a command line to its end, before the rate allowance below.
pub const DEFAULT_COMMAND_TIMEOUT_SECS: u64 = 60;
/// Each byte received buys this much time on top of the command timeout (1 KiB/s), so large
/// APPENDs over slow links pass while a client trickling a byte a minute is cut off.
pub const MIN_COMMAND_RATE: u64 = 1024;
/// Delay before answering the first failed login from an address; it doubles with each further
/// failure from that address, up to [`AUTH_FAIL_DELAY_MAX_FACTOR`] times this.
pub const DEFAULT_AUTH_FAIL_DELAY_MS: u64 = 1000;
/// Cap of the growing failure delay, as a multiple of the base delay.
pub const AUTH_FAIL_DELAY_MAX_FACTOR: u32 = 16;
/// Failed logins from one address before it is locked out (0: never).
pub const DEFAULT_AUTH_LOCKOUT_AFTER: u32 = 10;
/// Length of a lockout; failures older than this are forgotten.
pub const DEFAULT_AUTH_LOCKOUT_SECS: u64 = 600;
/// How long in-flight commands may take to finish after SIGTERM/SIGINT.
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 10;
/// Self-signed certificate and key generated at first start when no --cert/--key is given.
pub const SELF_SIGNED_CERT: &str = "tls-cert.pem";
pub const SELF_SIGNED_KEY: &str = "tls-key.pem";

/// Who may send a password before TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlaintextPolicy {
    /// Loopback clients may (the connection never leaves the machine); others need TLS.
    LoopbackExempt,
    /// Every client is treated as remote (tests, or a proxy on the same host).
    Remote,
}

/// Where the TLS certificate comes from.
#[derive(Clone, Debug)]
pub enum CertSource {
    /// PEM files given by the operator: full chain, and the private key.
    Files { cert: PathBuf, key: PathBuf },
    /// A self-signed certificate in the data directory, generated at first start.
    SelfSigned { dir: PathBuf },
}

/// Everything `serve` needs.
#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    /// Plain IMAP listeners, offering STARTTLS.
    pub imap: Vec<SocketAddr>,
    /// Implicit-TLS listeners.
    pub imaps: Vec<SocketAddr>,
    pub cert: CertSource,
    pub cache_bytes: usize,
    pub max_message: u64,
    pub max_line: usize,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    pub max_sessions_per_user: usize,
    pub preauth_timeout: Duration,
    pub idle_timeout: Duration,
    pub idle_keepalive: Duration,
    /// Deadline for one command line (plus [`MIN_COMMAND_RATE`] allowance).
    pub command_timeout: Duration,
    /// Base of the growing failed-login delay.
    pub auth_fail_delay: Duration,
    /// Failures before an address is locked out; 0 disables lockout.
    pub auth_lockout_after: u32,
    pub auth_lockout: Duration,
    /// Allow LOGIN/AUTHENTICATE without TLS on non-loopback connections.
    pub allow_plaintext: bool,
    pub plaintext_policy: PlaintextPolicy,
    pub shutdown_timeout: Duration,
    /// LMTP listeners (RFC 2033), TCP.
    pub lmtp: Vec<SocketAddr>,
    /// LMTP on a unix socket (the usual Postfix setup).
    pub lmtp_socket: Option<PathBuf>,
    /// Without a Sieve script, file `X-Spam-Flag: YES` messages into Junk.
    pub spam_junk: bool,
}

impl Config {
    /// The database file inside the data directory.
    pub fn db_path(&self) -> PathBuf {
        db_path(&self.data_dir)
    }

    /// Checks the combination of values.
    pub fn validate(&self) -> Result<(), String> {
        if self.imap.is_empty() && self.imaps.is_empty() {
            return Err("at least one --imap or --imaps address is needed".into());
        }
        if self.idle_timeout < Duration::from_secs(1)
            || self.preauth_timeout < Duration::from_secs(1)
            || self.command_timeout < Duration::from_secs(1)
        {
            return Err("timeouts must be at least one second".into());
        }
        if self.max_connections_per_ip == 0 || self.max_sessions_per_user == 0 {
            return Err("connection and session limits must be at least 1".into());
        }
        if self.max_line < 1024 {
            return Err("--max-line must be at least 1024".into());
        }
        Ok(())
    }
}

/// `DIR/postfach.redb`.
pub fn db_path(dir: &std::path::Path) -> PathBuf {
    dir.join("postfach.redb")
}

/// `DIR/control.sock`: the admin socket of a running server.
pub fn control_path(dir: &std::path::Path) -> PathBuf {
    dir.join("control.sock")
}

/// `--data` default: `$POSTFACH_DATA` or `./postfach-data`.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("POSTFACH_DATA").map_or_else(|| PathBuf::from("postfach-data"), PathBuf::from)
}
