//! Command-line interface (argh). The doc comments are the `--help` text.

use argh::FromArgs;
use std::path::PathBuf;

use crate::config;

/// postfach: a small IMAP server on one redb file.
#[derive(FromArgs, Debug)]
pub struct Cli {
    /// print the version and target, then exit
    #[argh(switch)]
    pub version: bool,
    #[argh(subcommand)]
    pub command: Option<Command>,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    Serve(Serve),
    User(User),
    Deliver(Deliver),
    Sieve(Sieve),
}

fn default_data() -> PathBuf {
    config::default_data_dir()
}

/// Run the server.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "serve")]
pub struct Serve {
    /// data directory (default: $POSTFACH_DATA or ./postfach-data)
    #[argh(option, default = "default_data()")]
    pub data: PathBuf,
    /// IMAP listen address, repeatable (default: 127.0.0.1:1143)
    #[argh(option)]
    pub imap: Vec<String>,
    /// redb page cache in MiB (default: 16)
    #[argh(option, default = "config::DEFAULT_CACHE_MB")]
    pub cache_mb: usize,
    /// largest message accepted, in MiB (default: 50)
    #[argh(option, default = "config::DEFAULT_MAX_MESSAGE_MB")]
    pub max_message_mb: u64,
    /// longest command line in bytes (default: 65536)
    #[argh(option, default = "config::DEFAULT_MAX_LINE")]
    pub max_line: usize,
    /// most simultaneous connections (default: 2000)
    #[argh(option, default = "config::DEFAULT_MAX_CONNECTIONS")]
    pub max_connections: usize,
    /// seconds a client may take to log in (default: 60)
    #[argh(option, default = "config::DEFAULT_PREAUTH_TIMEOUT_SECS")]
    pub preauth_timeout: u64,
    /// seconds of inactivity before autologout (default: 1800, the RFC 3501 minimum)
    #[argh(option, default = "config::DEFAULT_IDLE_TIMEOUT_SECS")]
    pub idle_timeout: u64,
    /// seconds between keep-alive lines during IDLE (default: 120)
    #[argh(option, default = "config::DEFAULT_IDLE_KEEPALIVE_SECS")]
    pub idle_keepalive: u64,
    /// milliseconds to wait before answering a failed login (default: 1000)
    #[argh(option, default = "config::DEFAULT_AUTH_FAIL_DELAY_MS")]
    pub auth_fail_delay_ms: u64,
    /// allow passwords without TLS from non-loopback clients
    #[argh(switch)]
    pub allow_plaintext: bool,
    /// LMTP listen address for mail delivery, repeatable (default: none)
    #[argh(option)]
    pub lmtp: Vec<String>,
    /// LMTP on a unix socket at PATH (mode 0660), e.g. for Postfix
    #[argh(option)]
    pub lmtp_socket: Option<PathBuf>,
    /// do not file X-Spam-Flag: YES messages into Junk for users without a Sieve script
    #[argh(switch)]
    pub no_spam_junk: bool,
}

/// Manage accounts (works whether or not the server is running).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "user")]
pub struct User {
    #[argh(subcommand)]
    pub action: UserAction,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum UserAction {
    Add(UserAdd),
    Passwd(UserPasswd),
    Del(UserDel),
    List(UserList),
    Quota(UserQuota),
}

/// Create an account with INBOX, Drafts, Sent, Trash, Junk and Archive; the password is read
/// from stdin (one line) or prompted for.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "add")]
pub struct UserAdd {
    /// user name
    #[argh(positional)]
    pub name: String,
    /// data directory (default: $POSTFACH_DATA or ./postfach-data)
    #[argh(option, default = "default_data()")]
    pub data: PathBuf,
}

/// Change an account's password (read from stdin or prompted for).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "passwd")]
pub struct UserPasswd {
    /// user name
    #[argh(positional)]
    pub name: String,
    /// data directory (default: $POSTFACH_DATA or ./postfach-data)
    #[argh(option, default = "default_data()")]
    pub data: PathBuf,
}

/// Delete an account and all its mail.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "del")]
pub struct UserDel {
    /// user name
    #[argh(positional)]
    pub name: String,
    /// data directory (default: $POSTFACH_DATA or ./postfach-data)
    #[argh(option, default = "default_data()")]
    pub data: PathBuf,
}

/// List accounts.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "list")]
pub struct UserList {
    /// data directory (default: $POSTFACH_DATA or ./postfach-data)
    #[argh(option, default = "default_data()")]
    pub data: PathBuf,
}

/// Show or set an account's quota (RFC 9208 STORAGE and MESSAGE limits).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "quota")]
pub struct UserQuota {
    /// user name
    #[argh(positional)]
    pub name: String,
    /// storage limit in MiB, or "none"
    #[argh(option)]
    pub storage_mb: Option<String>,
    /// message-count limit, or "none"
    #[argh(option)]
    pub messages: Option<String>,
    /// data directory (default: $POSTFACH_DATA or ./postfach-data)
    #[argh(option, default = "default_data()")]
    pub data: PathBuf,
}

/// Deliver one message from stdin (for Postfix mailbox_command, fetchmail --mda, procmail).
/// Exit codes (sysexits): 0 delivered, 64 usage, 65 message too big or empty, 67 unknown
/// user, 73 over quota, 75 temporary failure (retry later).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "deliver")]
pub struct Deliver {
    /// recipient account
    #[argh(option)]
    pub user: String,
    /// mailbox to deliver to instead of INBOX (INBOX if it does not exist; Sieve still runs)
    #[argh(option)]
    pub mailbox: Option<String>,
    /// envelope sender, added as Return-Path
    #[argh(option)]
    pub from: Option<String>,
    /// largest message read from stdin, in MiB (default: 50)
    #[argh(option, default = "config::DEFAULT_MAX_MESSAGE_MB")]
    pub max_message_mb: u64,
    /// when no server runs: do not file X-Spam-Flag: YES messages into Junk
    #[argh(switch)]
    pub no_spam_junk: bool,
    /// data directory (default: $POSTFACH_DATA or ./postfach-data)
    #[argh(option, default = "default_data()")]
    pub data: PathBuf,
}

/// Manage a user's Sieve filter (RFC 5228), run when mail is delivered.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "sieve")]
pub struct Sieve {
    #[argh(subcommand)]
    pub action: SieveAction,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum SieveAction {
    Set(SieveSet),
    Get(SieveGet),
    Del(SieveDel),
    Check(SieveCheck),
}

/// Install a script from FILE (or stdin); a syntax error is reported with line and column.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "set")]
pub struct SieveSet {
    /// user name
    #[argh(positional)]
    pub user: String,
    /// script file (default: stdin)
    #[argh(positional)]
    pub file: Option<PathBuf>,
    /// data directory (default: $POSTFACH_DATA or ./postfach-data)
    #[argh(option, default = "default_data()")]
    pub data: PathBuf,
}

/// Print a user's script.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "get")]
pub struct SieveGet {
    /// user name
    #[argh(positional)]
    pub user: String,
    /// data directory (default: $POSTFACH_DATA or ./postfach-data)
    #[argh(option, default = "default_data()")]
    pub data: PathBuf,
}

/// Remove a user's script (mail then goes to INBOX, spam to Junk).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "del")]
pub struct SieveDel {
    /// user name
    #[argh(positional)]
    pub user: String,
    /// data directory (default: $POSTFACH_DATA or ./postfach-data)
    #[argh(option, default = "default_data()")]
    pub data: PathBuf,
}

/// Check a script file without installing it.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "check")]
pub struct SieveCheck {
    /// script file
    #[argh(positional)]
    pub file: PathBuf,
}
