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
    Acl(Acl),
    Mailbox(Mailbox),
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
    /// IMAP listen address with STARTTLS, repeatable (default, when neither --imap nor --imaps
    /// is given: 127.0.0.1:1143)
    #[argh(option)]
    pub imap: Vec<String>,
    /// IMAPS (implicit TLS) listen address, repeatable (default, when neither --imap nor --imaps
    /// is given: 127.0.0.1:1993)
    #[argh(option)]
    pub imaps: Vec<String>,
    /// TLS certificate chain, PEM (default: a self-signed certificate generated into the data
    /// directory at first start); reloaded on SIGHUP
    #[argh(option)]
    pub cert: Option<PathBuf>,
    /// TLS private key, PEM (with --cert)
    #[argh(option)]
    pub key: Option<PathBuf>,
    /// redb page cache in MiB (default: 6)
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
    /// most simultaneous connections from one address, IPv6 by /64 (default: 50)
    #[argh(option, default = "config::DEFAULT_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: usize,
    /// most simultaneous logged-in sessions of one user (default: 32)
    #[argh(option, default = "config::DEFAULT_MAX_SESSIONS_PER_USER")]
    pub max_sessions_per_user: usize,
    /// seconds a client may take to log in (default: 60)
    #[argh(option, default = "config::DEFAULT_PREAUTH_TIMEOUT_SECS")]
    pub preauth_timeout: u64,
    /// seconds of inactivity before autologout (default: 1800, the RFC 3501 minimum)
    #[argh(option, default = "config::DEFAULT_IDLE_TIMEOUT_SECS")]
    pub idle_timeout: u64,
    /// seconds between keep-alive lines during IDLE (default: 120)
    #[argh(option, default = "config::DEFAULT_IDLE_KEEPALIVE_SECS")]
    pub idle_keepalive: u64,
    /// seconds from the first byte of a command line to its end; each further KiB received
    /// adds a second (default: 60)
    #[argh(option, default = "config::DEFAULT_COMMAND_TIMEOUT_SECS")]
    pub command_timeout: u64,
    /// milliseconds before answering a failed login; doubles with each failure from the same
    /// address, up to 16 times (default: 1000)
    #[argh(option, default = "config::DEFAULT_AUTH_FAIL_DELAY_MS")]
    pub auth_fail_delay_ms: u64,
    /// failed logins from one address before it is locked out, 0 for never (default: 10)
    #[argh(option, default = "config::DEFAULT_AUTH_LOCKOUT_AFTER")]
    pub auth_lockout_after: u32,
    /// seconds an address stays locked out; failures older than this are forgotten (default: 600)
    #[argh(option, default = "config::DEFAULT_AUTH_LOCKOUT_SECS")]
    pub auth_lockout_secs: u64,
    /// seconds in-flight commands get to finish after SIGTERM/SIGINT (default: 10)
    #[argh(option, default = "config::DEFAULT_SHUTDOWN_TIMEOUT_SECS")]
    pub shutdown_timeout: u64,
    /// allow passwords without TLS from non-loopback clients
    #[argh(switch)]
    pub allow_plaintext: bool,
    /// who may send passwords before TLS: `loopback` (loopback clients and TLS) or `remote`
    /// (treat every client as remote; for tests)
    #[argh(option, default = "String::from(\"loopback\")", hidden_help)]
    pub plaintext_policy: String,
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

/// Manage access rights (RFC 4314) of a mailbox (works whether or not the server is running).
/// MAILBOX is `Shared/NAME` for the public namespace, or a user's own name with --owner.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "acl")]
pub struct Acl {
    #[argh(subcommand)]
    pub action: AclAction,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum AclAction {
    Get(AclGet),
    Set(AclSet),
    Delete(AclDelete),
}

/// Show a mailbox's access list.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "get")]
pub struct AclGet {
    /// mailbox (`Shared/NAME`, or NAME with --owner)
    #[argh(positional)]
    pub mailbox: String,
    /// the user owning the mailbox (omit for the public namespace)
    #[argh(option)]
    pub owner: Option<String>,
    /// data directory (default: $POSTFACH_DATA or ./postfach-data)
    #[argh(option, default = "default_data()")]
    pub data: PathBuf,
}

/// Grant rights: IDENTIFIER is a user, `anyone`, `authenticated` or `-user`; RIGHTS letters of
/// `lrswipkxtea`, or `+letters` / `-letters` to add or remove.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "set")]
pub struct AclSet {
    /// mailbox (`Shared/NAME`, or NAME with --owner)
    #[argh(positional)]
    pub mailbox: String,
    /// who gets the rights
    #[argh(positional)]
    pub identifier: String,
    /// the rights
    #[argh(positional)]
    pub rights: String,
    /// the user owning the mailbox (omit for the public namespace)
    #[argh(option)]
    pub owner: Option<String>,
    /// data directory (default: $POSTFACH_DATA or ./postfach-data)
    #[argh(option, default = "default_data()")]
    pub data: PathBuf,
}

/// Remove an identifier's entry.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "delete")]
pub struct AclDelete {
    /// mailbox (`Shared/NAME`, or NAME with --owner)
    #[argh(positional)]
    pub mailbox: String,
    /// whose entry to remove
    #[argh(positional)]
    pub identifier: String,
    /// the user owning the mailbox (omit for the public namespace)
    #[argh(option)]
    pub owner: Option<String>,
    /// data directory (default: $POSTFACH_DATA or ./postfach-data)
    #[argh(option, default = "default_data()")]
    pub data: PathBuf,
}

/// Manage mailboxes of the public namespace.
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "mailbox")]
pub struct Mailbox {
    #[argh(subcommand)]
    pub action: MailboxAction,
}

#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum MailboxAction {
    CreateShared(MailboxCreateShared),
}

/// Create a public folder `Shared/NAME` (owned by no user; grant access with `acl set`).
#[derive(FromArgs, Debug)]
#[argh(subcommand, name = "create-shared")]
pub struct MailboxCreateShared {
    /// folder name below `Shared/`
    #[argh(positional)]
    pub name: String,
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
