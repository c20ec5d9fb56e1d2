//! Server configuration: listen addresses, paths, limits and timeouts, with documented defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Default IMAP listener for the embedded setup: loopback, unprivileged port.
pub const DEFAULT_IMAP: &str = "127.0.0.1:1143";
/// Default redb page cache (redb's own default is 1 GiB, far too much for a Pi Zero).
pub const DEFAULT_CACHE_MB: usize = 16;
/// Largest message accepted by APPEND (and later LMTP).
pub const DEFAULT_MAX_MESSAGE_MB: u64 = 50;
/// Longest command line between literals (RFC 7162 §4 recommends at least 8192).
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;
/// Largest literal before authentication (LOGIN arguments only).
pub const PREAUTH_MAX_LITERAL: u64 = 8 * 1024;
/// Simultaneous connections.
pub const DEFAULT_MAX_CONNECTIONS: usize = 2000;
/// Time a client may take to log in (RFC 3501 §5.4 only bounds authenticated idleness).
pub const DEFAULT_PREAUTH_TIMEOUT_SECS: u64 = 60;
/// Authenticated inactivity autologout; RFC 3501 §5.4 requires at least 30 minutes.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 30 * 60;
/// Interval of `* OK Still here` during IDLE, so NAT routers keep the connection.
pub const DEFAULT_IDLE_KEEPALIVE_SECS: u64 = 120;
/// Delay before answering a failed login.
pub const DEFAULT_AUTH_FAIL_DELAY_MS: u64 = 1000;

/// Everything `serve` needs.
#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    pub imap: Vec<SocketAddr>,
    pub cache_bytes: usize,
    pub max_message: u64,
    pub max_line: usize,
    pub max_connections: usize,
    pub preauth_timeout: Duration,
    pub idle_timeout: Duration,
    pub idle_keepalive: Duration,
    pub auth_fail_delay: Duration,
    /// Allow LOGIN/AUTHENTICATE without TLS on non-loopback connections.
    pub allow_plaintext: bool,
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
        if self.imap.is_empty() {
            return Err("at least one --imap address is needed".into());
        }
        if self.idle_timeout < Duration::from_secs(1)
            || self.preauth_timeout < Duration::from_secs(1)
        {
            return Err("timeouts must be at least one second".into());
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
