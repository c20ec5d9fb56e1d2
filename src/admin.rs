//! Operator commands (`postfach user …`) and the control socket that lets them work while the
//! server runs.
//!
//! redb locks its file, so a second process cannot open it. When a server runs, it listens on
//! `DATA/control.sock` (mode 0600, in a 0700 directory) for one-line requests; the CLI tries that
//! socket first and opens the file directly only when no server answers. Requests and answers are
//! tab-separated fields on one line: `user-add NAME HASH` → `ok TEXT`, `err TEXT`,
//! `fail CODE TEXT` (a delivery failure with its sysexits code) or `data LEN` followed by LEN
//! octets (a Sieve script). Requests that carry content (`deliver`, `sieve-set`) end their line
//! with the content's length and the octets follow; the server refuses lengths above its
//! message size limit before reading them. Passwords are hashed by the CLI, so only the hash
//! crosses the socket.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use log::{info, warn};
use smol::io::{AsyncBufReadExt, AsyncWriteExt};

use crate::cli::{
    Acl, AclAction, Deliver, Mailbox, MailboxAction, Sieve, SieveAction, User, UserAction,
};
use crate::config;
use crate::deliver::{self, Failure, Settings};
use crate::notify::Hub;
use crate::store::acl::{Rights, SHARED_OWNER, canonical_identifier};
use crate::store::user::{Limit, canonical_name};
use crate::store::{Store, StoreError};

/// Longest request line.
const MAX_REQUEST_LINE: u64 = 64 * 1024;

/// One administrative request.
#[derive(Debug, PartialEq, Eq)]
pub enum Request {
    UserAdd {
        name: String,
        hash: String,
    },
    UserPasswd {
        name: String,
        hash: String,
    },
    UserDel {
        name: String,
    },
    UserList,
    AclGet {
        owner: String,
        mailbox: String,
    },
    AclSet {
        owner: String,
        mailbox: String,
        identifier: String,
        rights: Option<String>,
    },
    MailboxCreateShared {
        name: String,
    },
    /// Show (both `Keep`) or change an account's limits; storage in bytes.
    UserQuota {
        name: String,
        storage: Limit,
        messages: Limit,
    },
    SieveSet {
        name: String,
        script: String,
    },
    SieveGet {
        name: String,
    },
    SieveDel {
        name: String,
    },
    /// `postfach deliver`: one message for one account.
    Deliver {
        user: String,
        mailbox: Option<String>,
        from: Option<String>,
        message: Vec<u8>,
    },
}

/// A server's answer to a [`Request`].
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    Ok(String),
    Err(String),
    /// A failed delivery: sysexits code and text.
    Fail(u8, String),
    /// Content (a Sieve script).
    Data(Vec<u8>),
}

fn limit_field(l: Limit) -> String {
    match l {
        Limit::Keep => "-".into(),
        Limit::Unlimited => "none".into(),
        Limit::Max(n) => n.to_string(),
    }
}

fn parse_limit(f: &str) -> Option<Limit> {
    Some(match f {
        "-" => Limit::Keep,
        "none" => Limit::Unlimited,
        n => Limit::Max(n.parse().ok()?),
    })
}

impl Request {
    /// The request line (without LF) and the content that follows it.
    fn encode(&self) -> (String, &[u8]) {
        let line = match self {
            Request::UserQuota {
                name,
                storage,
                messages,
            } => format!(
                "user-quota\t{name}\t{}\t{}",
                limit_field(*storage),
                limit_field(*messages)
            ),
            Request::SieveSet { name, script } => {
                return (
                    format!("sieve-set\t{name}\t{}", script.len()),
                    script.as_bytes(),
                );
            }
            Request::SieveGet { name } => format!("sieve-get\t{name}"),
            Request::SieveDel { name } => format!("sieve-del\t{name}"),
            Request::Deliver {
                user,
                mailbox,
                from,
                message,
            } => {
                let from = from.as_ref().map_or("-".to_string(), |f| format!("<{f}>"));
                let line = format!(
                    "deliver\t{user}\t{}\t{from}\t{}",
                    mailbox.as_deref().unwrap_or(""),
                    message.len()
                );
                return (line, message);
            }
            r => r.encode_simple(),
        };
        (line, &[])
    }

    fn encode_simple(&self) -> String {
        match self {
            Request::UserAdd { name, hash } => format!("user-add\t{name}\t{hash}"),
            Request::UserPasswd { name, hash } => format!("user-passwd\t{name}\t{hash}"),
            Request::UserDel { name } => format!("user-del\t{name}"),
            Request::UserList => "user-list".into(),
            Request::AclGet { owner, mailbox } => format!("acl-get\t{owner}\t{mailbox}"),
            Request::AclSet {
                owner,
                mailbox,
                identifier,
                rights: Some(r),
            } => {
                format!("acl-set\t{owner}\t{mailbox}\t{identifier}\t{r}")
            }
            Request::AclSet {
                owner,
                mailbox,
                identifier,
                rights: None,
            } => {
                format!("acl-delete\t{owner}\t{mailbox}\t{identifier}")
            }
            Request::MailboxCreateShared { name } => format!("mailbox-create-shared\t{name}"),
            _ => unreachable!("encoded by Request::encode"),
        }
    }

    /// Decodes a request line; the second value is the length of the content that follows
    /// (attach it with [`Request::attach`]).
    fn decode(line: &str) -> Option<(Request, usize)> {
        let f: Vec<&str> = line.trim_end_matches(['\r', '\n']).split('\t').collect();
        let len = |n: &str| n.parse::<usize>().ok();
        Some(match f.as_slice() {
            ["user-quota", n, s, m] => (
                Request::UserQuota {
                    name: n.to_string(),
                    storage: parse_limit(s)?,
                    messages: parse_limit(m)?,
                },
                0,
            ),
            ["sieve-set", n, l] => (
                Request::SieveSet {
                    name: n.to_string(),
                    script: String::new(),
                },
                len(l)?,
            ),
            ["sieve-get", n] => (
                Request::SieveGet {
                    name: n.to_string(),
                },
                0,
            ),
            ["sieve-del", n] => (
                Request::SieveDel {
                    name: n.to_string(),
                },
                0,
            ),
            ["deliver", u, m, from, l] => (
                Request::Deliver {
                    user: u.to_string(),
                    mailbox: (!m.is_empty()).then(|| m.to_string()),
                    from: match *from {
                        "-" => None,
                        f => Some(f.strip_prefix('<')?.strip_suffix('>')?.to_string()),
                    },
                    message: Vec::new(),
                },
                len(l)?,
            ),
            _ => (Self::decode_simple(line)?, 0),
        })
    }

    /// Sets the content read after the request line.
    fn attach(&mut self, content: Vec<u8>) -> Result<(), String> {
        match self {
            Request::SieveSet { script, .. } => {
                *script = String::from_utf8(content).map_err(|_| "script is not UTF-8")?;
            }
            Request::Deliver { message, .. } => *message = content,
            _ => {}
        }
        Ok(())
    }

    fn decode_simple(line: &str) -> Option<Request> {
        let f: Vec<&str> = line.trim_end_matches(['\r', '\n']).split('\t').collect();
        Some(match f.as_slice() {
            ["user-add", n, h] => Request::UserAdd {
                name: n.to_string(),
                hash: h.to_string(),
            },
            ["user-passwd", n, h] => Request::UserPasswd {
                name: n.to_string(),
                hash: h.to_string(),
            },
            ["user-del", n] => Request::UserDel {
                name: n.to_string(),
            },
            ["user-list"] => Request::UserList,
            ["acl-get", o, m] => Request::AclGet {
                owner: o.to_string(),
                mailbox: m.to_string(),
            },
            ["acl-set", o, m, i, r] => Request::AclSet {
                owner: o.to_string(),
                mailbox: m.to_string(),
                identifier: i.to_string(),
                rights: Some(r.to_string()),
            },
            ["acl-delete", o, m, i] => Request::AclSet {
                owner: o.to_string(),
                mailbox: m.to_string(),
                identifier: i.to_string(),
                rights: None,
            },
            ["mailbox-create-shared", n] => Request::MailboxCreateShared {
                name: n.to_string(),
            },
            _ => return None,
        })
    }
}

/// Runs a request against the store; the answer text is for the operator.
pub async fn execute(store: &Store, req: Request, settings: &Settings) -> Answer {
    let r = match req {
        Request::Deliver {
            user,
            mailbox,
            from,
            message,
        } => return deliver_request(store, settings, user, mailbox, from, message).await,
        Request::SieveGet { name } => {
            return match store.sieve_get(name.clone()).await {
                Ok(Some(s)) => Answer::Data(s.into_bytes()),
                Ok(None) => match store.user_get(name.clone()).await {
                    Ok(Some(_)) => Answer::Err(format!("{name} has no sieve script")),
                    Ok(None) => Answer::Err("No such user".into()),
                    Err(e) => Answer::Err(internal(e)),
                },
                Err(e) => Answer::Err(internal(e)),
            };
        }
        Request::SieveSet { name, script } => {
            if let Err(e) = crate::sieve::compile(&script) {
                return Answer::Err(format!("sieve script not installed: {e}"));
            }
            store
                .sieve_put(name.clone(), Some(script))
                .await
                .map(|_| format!("sieve script of {name} installed"))
        }
        Request::SieveDel { name } => match store.sieve_put(name.clone(), None).await {
            Ok(true) => Ok(format!("sieve script of {name} removed")),
            Ok(false) => Err(StoreError::Cannot("no sieve script to remove")),
            Err(e) => Err(e),
        },
        Request::UserQuota {
            name,
            storage,
            messages,
        } => store
            .user_set_quota(name.clone(), storage, messages)
            .await
            .map(|(u, used)| quota_text(&name, &u, used)),
        Request::UserAdd { name, hash } => store.user_add(name.clone(), hash).await.map(|()| {
            info!("user {name} created");
            format!("user {name} created with INBOX, Drafts, Sent, Trash, Junk, Archive")
        }),
        Request::UserPasswd { name, hash } => store
            .user_passwd(name.clone(), hash)
            .await
            .map(|()| format!("password of {name} changed")),
        Request::UserDel { name } => store.user_del(name.clone()).await.map(|()| {
            info!("user {name} deleted");
            format!("user {name} deleted")
        }),
        Request::UserList => store.user_list().await.map(|l| l.join("\n")),
        Request::AclGet { owner, mailbox } => store.mailbox_get(owner, mailbox).await.map(|m| {
            let mut lines: Vec<String> = m.rec.acl.iter().map(|(i, r)| format!("{i} {r}")).collect();
            if m.rec.owner != SHARED_OWNER {
                lines.insert(0, format!("{} {} (owner)", m.rec.owner, Rights::ALL.letters()));
            }
            lines.join("\n")
        }),
        Request::AclSet { owner, mailbox, identifier, rights } => {
            let current = match store.mailbox_get(owner.clone(), mailbox.clone()).await {
                Ok(m) => m.rec.acl.into_iter().find(|(i, _)| *i == identifier).map(|(_, r)| r),
                Err(e) => return Answer::Err(internal(e)),
            };
            let new = match rights.as_deref() {
                None => None,
                Some(r) => match Rights::parse(current.as_deref().unwrap_or("")).unwrap_or_default().modify(r) {
                    Ok(r) => Some(r),
                    Err(c) => return Answer::Err(format!("unknown right '{c}' (use lrswipkxtea)")),
                },
            };
            store.set_acl(owner, mailbox.clone(), identifier.clone(), new).await.map(|()| {
                format!("rights of {identifier} on {mailbox} updated")
            })
        }
        Request::MailboxCreateShared { name } => store
            .mailbox_create(SHARED_OWNER.to_string(), name.clone())
            .await
            .map(|_| format!("created Shared/{name}; grant access with `postfach acl set Shared/{name} USER RIGHTS`")),
    };
    match r {
        Ok(t) => Answer::Ok(t),
        Err(e) => Answer::Err(internal(e)),
    }
}

/// The operator's text for a store error (internal details go to the log only).
fn internal(e: StoreError) -> String {
    match e {
        StoreError::Internal(e) => {
            warn!("admin request failed: {e}");
            "internal error, see the server log".into()
        }
        e => e.to_string(),
    }
}

/// `user quota` output: usage and limits.
fn quota_text(
    name: &str,
    u: &crate::store::schema::UserRecord,
    used: crate::store::schema::Usage,
) -> String {
    let storage = match u.quota_storage {
        Some(q) => format!("{} of {q} bytes", used.storage),
        None => format!("{} bytes (no limit)", used.storage),
    };
    let messages = match u.quota_messages {
        Some(q) => format!("{} of {q}", used.messages),
        None => format!("{} (no limit)", used.messages),
    };
    format!("{name}: storage {storage}, messages {messages}")
}

/// sysexits(3) codes of `postfach deliver`.
pub mod exit {
    pub const USAGE: u8 = 64;
    /// Message too big or empty.
    pub const DATAERR: u8 = 65;
    pub const NOUSER: u8 = 67;
    /// Over quota (EX_CANTCREAT: the message cannot be stored; the MTA bounces).
    pub const CANTCREAT: u8 = 73;
    /// Try again later (the MTA keeps the message queued).
    pub const TEMPFAIL: u8 = 75;
}

async fn deliver_request(
    store: &Store,
    settings: &Settings,
    user: String,
    mailbox: Option<String>,
    from: Option<String>,
    message: Vec<u8>,
) -> Answer {
    if message.is_empty() {
        return Answer::Fail(exit::DATAERR, "empty message".into());
    }
    let Ok(user) = canonical_name(&user) else {
        return Answer::Fail(exit::NOUSER, "no such user".into());
    };
    let rcpt = deliver::Rcpt {
        address: user.clone(),
        user: user.clone(),
        detail: None,
    };
    let job = deliver::Job {
        rcpt: &rcpt,
        from: from.as_deref(),
        delivered_to: false,
        mailbox: mailbox.as_deref(),
    };
    let coming = store.coming();
    match deliver::deliver(store, settings, job, std::sync::Arc::new(message), coming).await {
        Ok(filed) => {
            let names: Vec<String> = filed
                .iter()
                .map(|(m, u)| format!("{m} (uid {u})"))
                .collect();
            Answer::Ok(format!("delivered to {user}: {}", names.join(", ")))
        }
        Err(Failure::UnknownUser) => Answer::Fail(exit::NOUSER, format!("no such user {user}")),
        Err(Failure::OverQuota) => Answer::Fail(exit::CANTCREAT, format!("{user} is over quota")),
        Err(Failure::TooBig) => Answer::Fail(exit::DATAERR, "message too big".into()),
        Err(Failure::Temporary(e)) => {
            warn!("delivery to {user} failed: {e}");
            Answer::Fail(
                exit::TEMPFAIL,
                "temporary storage failure, try again".into(),
            )
        }
    }
}

/// Serves the control socket until the listener fails.
pub async fn serve_control(
    listener: smol::Async<std::os::unix::net::UnixListener>,
    store: Store,
    settings: Settings,
) {
    let settings = std::sync::Arc::new(settings);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (store, settings) = (store.clone(), settings.clone());
        smol::spawn(async move {
            let answer = match read_request(&stream, settings.max_message).await {
                Ok(req) => execute(&store, req, &settings).await,
                Err(e) => Answer::Err(e),
            };
            let _ = (&stream).write_all(&encode_answer(&answer)).await;
        })
        .detach();
    }
}

/// Reads one request and its content; content longer than `max_content` is refused unread.
async fn read_request(
    stream: &smol::Async<UnixStream>,
    max_content: u64,
) -> Result<Request, String> {
    use smol::io::AsyncReadExt;
    let mut reader = smol::io::BufReader::new(stream);
    let mut line = String::new();
    (&mut reader)
        .take(MAX_REQUEST_LINE)
        .read_line(&mut line)
        .await
        .map_err(|e| e.to_string())?;
    let (mut req, len) = Request::decode(&line).ok_or("bad request")?;
    if len as u64 > max_content {
        return Err("content too big".into());
    }
    if len > 0 {
        let mut content = vec![0; len];
        reader
            .read_exact(&mut content)
            .await
            .map_err(|e| e.to_string())?;
        req.attach(content)?;
    }
    Ok(req)
}

fn encode_answer(a: &Answer) -> Vec<u8> {
    match a {
        Answer::Ok(text) => format!("ok\t{}\n", text.replace('\n', "\t")).into_bytes(),
        Answer::Err(e) => format!("err\t{}\n", e.replace('\n', " ")).into_bytes(),
        Answer::Fail(code, e) => format!("fail\t{code}\t{}\n", e.replace('\n', " ")).into_bytes(),
        Answer::Data(d) => {
            let mut out = format!("data\t{}\n", d.len()).into_bytes();
            out.extend_from_slice(d);
            out
        }
    }
}

/// Binds the control socket with owner-only permissions.
pub fn bind_control(
    data_dir: &Path,
) -> std::io::Result<smol::Async<std::os::unix::net::UnixListener>> {
    use std::os::unix::fs::PermissionsExt;
    let path = config::control_path(data_dir);
    let _ = std::fs::remove_file(&path);
    let listener = std::os::unix::net::UnixListener::bind(&path)?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    smol::Async::new(listener)
}

/// Sends a request to a running server; `None` if none answers.
fn via_socket(data_dir: &Path, req: &Request) -> Option<Answer> {
    use std::io::Read;
    let mut stream = UnixStream::connect(config::control_path(data_dir)).ok()?;
    let (line, content) = req.encode();
    writeln!(stream, "{line}").ok()?;
    stream.write_all(content).ok()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let line = line.trim_end_matches('\n');
    let unexpected = || Answer::Err("unexpected answer from the server".into());
    Some(match line.split_once('\t') {
        Some(("ok", text)) => Answer::Ok(text.replace('\t', "\n")),
        Some(("err", text)) => Answer::Err(text.to_string()),
        Some(("fail", rest)) => match rest.split_once('\t') {
            Some((code, text)) => match code.parse() {
                Ok(code) => Answer::Fail(code, text.to_string()),
                Err(_) => unexpected(),
            },
            None => unexpected(),
        },
        Some(("data", len)) => {
            let mut d = vec![0; len.parse().ok()?];
            reader.read_exact(&mut d).ok()?;
            Answer::Data(d)
        }
        _ if line == "ok" => Answer::Ok(String::new()),
        _ => unexpected(),
    })
}

/// Runs a request through the running server, or directly on the file when none runs.
pub fn run_request(data_dir: &Path, req: Request) -> Result<String, String> {
    let default = Settings {
        max_message: config::DEFAULT_MAX_MESSAGE_MB << 20,
        spam_junk: true,
    };
    match exchange(data_dir, req, &default) {
        Answer::Ok(t) => Ok(t),
        Answer::Err(e) | Answer::Fail(_, e) => Err(e),
        Answer::Data(d) => Ok(String::from_utf8_lossy(&d).into_owned()),
    }
}

/// Runs a request through the running server, or directly on the file (with `settings`) when
/// none runs.
fn exchange(data_dir: &Path, req: Request, settings: &Settings) -> Answer {
    if let Some(a) = via_socket(data_dir, &req) {
        return a;
    }
    match open_direct(data_dir) {
        Ok(store) => smol::block_on(execute(&store, req, settings)),
        Err(e) => Answer::Fail(exit::TEMPFAIL, e),
    }
}

/// Opens the database when no server runs.
fn open_direct(data_dir: &Path) -> Result<Store, String> {
    prepare_data_dir(data_dir)?;
    Store::open(&config::db_path(data_dir), 4 << 20, Hub::new()).map_err(|e| match e {
        StoreError::Locked => {
            "the database is in use, but the running server's control socket does not answer"
                .to_string()
        }
        e => e.to_string(),
    })
}

/// Creates the data directory (mode 0700) if needed.
pub fn prepare_data_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    Ok(())
}

/// Reads a password: one line from stdin when it is not a terminal, else a prompt without echo.
fn read_password() -> Result<Vec<u8>, String> {
    let stdin = std::io::stdin();
    let mut line = String::new();
    if stdin.is_terminal() {
        eprint!("Password: ");
        let _ = std::io::stderr().flush();
        let echo_off = std::process::Command::new("stty")
            .arg("-echo")
            .status()
            .is_ok_and(|s| s.success());
        let r = stdin.lock().read_line(&mut line);
        if echo_off {
            let _ = std::process::Command::new("stty").arg("echo").status();
        }
        eprintln!();
        r.map_err(|e| e.to_string())?;
    } else {
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| e.to_string())?;
    }
    let pw = line.trim_end_matches(['\r', '\n']);
    if pw.is_empty() {
        return Err("empty password".into());
    }
    Ok(pw.as_bytes().to_vec())
}

/// Splits an operator's mailbox argument into (owner, stored name).
fn acl_target(mailbox: &str, owner: Option<String>) -> Result<(String, String), String> {
    match owner {
        Some(o) => Ok((canonical_name(&o)?, mailbox.to_string())),
        None => match mailbox.strip_prefix("Shared/") {
            Some(name) if !name.is_empty() => Ok((SHARED_OWNER.to_string(), name.to_string())),
            _ => Err(
                "MAILBOX must be Shared/NAME, or give --owner USER for a personal mailbox".into(),
            ),
        },
    }
}

/// Validates an ACL identifier: a user, `anyone`, `authenticated`, or one of them negated.
fn acl_identifier(id: &str) -> Result<String, String> {
    canonical_identifier(id).map_err(String::from)
}

/// `postfach acl …`.
pub fn acl_command(a: Acl) -> Result<(), String> {
    let (dir, req) = match a.action {
        AclAction::Get(g) => {
            let (owner, mailbox) = acl_target(&g.mailbox, g.owner)?;
            (g.data, Request::AclGet { owner, mailbox })
        }
        AclAction::Set(s) => {
            let (owner, mailbox) = acl_target(&s.mailbox, s.owner)?;
            let identifier = acl_identifier(&s.identifier)?;
            (
                s.data,
                Request::AclSet {
                    owner,
                    mailbox,
                    identifier,
                    rights: Some(s.rights),
                },
            )
        }
        AclAction::Delete(d) => {
            let (owner, mailbox) = acl_target(&d.mailbox, d.owner)?;
            let identifier = acl_identifier(&d.identifier)?;
            (
                d.data,
                Request::AclSet {
                    owner,
                    mailbox,
                    identifier,
                    rights: None,
                },
            )
        }
    };
    let text = run_request(&dir, req)?;
    if !text.is_empty() {
        println!("{text}");
    }
    Ok(())
}

/// `postfach mailbox …`.
pub fn mailbox_command(m: Mailbox) -> Result<(), String> {
    let MailboxAction::CreateShared(c) = m.action;
    let name = crate::proto::types::MailboxName::new(&c.name).map_err(|e| e.to_string())?;
    let text = run_request(
        &c.data,
        Request::MailboxCreateShared {
            name: name.to_string(),
        },
    )?;
    println!("{text}");
    Ok(())
}

/// `postfach user …`.
pub fn user_command(u: User) -> Result<(), String> {
    let (dir, req) = match u.action {
        UserAction::Add(a) => {
            let name = canonical_name(&a.name)?;
            let hash = crate::auth::hash_password(&read_password()?)?;
            (a.data, Request::UserAdd { name, hash })
        }
        UserAction::Passwd(a) => {
            let name = canonical_name(&a.name)?;
            let hash = crate::auth::hash_password(&read_password()?)?;
            (a.data, Request::UserPasswd { name, hash })
        }
        UserAction::Del(a) => (
            a.data,
            Request::UserDel {
                name: canonical_name(&a.name)?,
            },
        ),
        UserAction::List(a) => (a.data, Request::UserList),
        UserAction::Quota(q) => {
            let storage = match q.storage_mb.as_deref() {
                None => Limit::Keep,
                Some("none") => Limit::Unlimited,
                Some(n) => Limit::Max(
                    n.parse::<u64>()
                        .ok()
                        .and_then(|n| n.checked_mul(1 << 20))
                        .ok_or("--storage-mb needs a number of MiB or \"none\"")?,
                ),
            };
            let messages = match q.messages.as_deref() {
                None => Limit::Keep,
                Some("none") => Limit::Unlimited,
                Some(n) => Limit::Max(
                    n.parse()
                        .map_err(|_| "--messages needs a number or \"none\"")?,
                ),
            };
            let req = Request::UserQuota {
                name: canonical_name(&q.name)?,
                storage,
                messages,
            };
            (q.data, req)
        }
    };
    let text = run_request(&dir, req)?;
    if !text.is_empty() {
        println!("{text}");
    }
    Ok(())
}

/// `postfach sieve …`.
pub fn sieve_command(c: Sieve) -> Result<(), String> {
    let (dir, req) = match c.action {
        SieveAction::Check(a) => {
            let src = std::fs::read_to_string(&a.file)
                .map_err(|e| format!("cannot read {}: {e}", a.file.display()))?;
            crate::sieve::compile(&src).map_err(|e| format!("{}: {e}", a.file.display()))?;
            println!("{}: ok", a.file.display());
            return Ok(());
        }
        SieveAction::Set(a) => {
            let src = match &a.file {
                Some(f) => std::fs::read_to_string(f)
                    .map_err(|e| format!("cannot read {}: {e}", f.display()))?,
                None => {
                    let mut s = String::new();
                    std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                        .map_err(|e| format!("cannot read the script from stdin: {e}"))?;
                    s
                }
            };
            // Checked here for a quick answer, and again by the server.
            let file = a
                .file
                .as_ref()
                .map_or("stdin".into(), |f| f.display().to_string());
            crate::sieve::compile(&src).map_err(|e| format!("{file}: {e}"))?;
            let name = canonical_name(&a.user)?;
            (a.data, Request::SieveSet { name, script: src })
        }
        SieveAction::Get(a) => (
            a.data,
            Request::SieveGet {
                name: canonical_name(&a.user)?,
            },
        ),
        SieveAction::Del(a) => (
            a.data,
            Request::SieveDel {
                name: canonical_name(&a.user)?,
            },
        ),
    };
    let get = matches!(req, Request::SieveGet { .. });
    let text = run_request(&dir, req)?;
    if get {
        print!("{text}");
    } else if !text.is_empty() {
        println!("{text}");
    }
    Ok(())
}

/// `postfach deliver`: exit codes per sysexits(3), see [`exit`].
pub fn deliver_command(d: Deliver) -> std::process::ExitCode {
    use std::io::Read;
    let fail = |code: u8, text: &str| {
        eprintln!("postfach deliver: {text}");
        std::process::ExitCode::from(code)
    };
    let max = d.max_message_mb << 20;
    let mut message = Vec::new();
    if let Err(e) = std::io::stdin().take(max + 1).read_to_end(&mut message) {
        return fail(exit::TEMPFAIL, &format!("cannot read stdin: {e}"));
    }
    if message.len() as u64 > max {
        return fail(exit::DATAERR, "message too big");
    }
    if let Some(m) = &d.mailbox {
        if crate::proto::types::MailboxName::new(m).is_err() {
            return fail(exit::USAGE, "invalid --mailbox name");
        }
    }
    let settings = Settings {
        max_message: max,
        spam_junk: !d.no_spam_junk,
    };
    let req = Request::Deliver {
        user: d.user,
        mailbox: d.mailbox,
        from: d.from.map(|f| f.trim_matches(['<', '>']).to_string()),
        message,
    };
    match exchange(&d.data, req, &settings) {
        Answer::Ok(_) | Answer::Data(_) => std::process::ExitCode::SUCCESS,
        Answer::Fail(code, text) => fail(code, &text),
        Answer::Err(text) => fail(exit::TEMPFAIL, &text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_roundtrip() {
        for r in [
            Request::UserAdd {
                name: "a".into(),
                hash: "$argon2id$v=19$x".into(),
            },
            Request::UserDel { name: "b".into() },
            Request::UserList,
            Request::UserQuota {
                name: "c".into(),
                storage: Limit::Max(1 << 20),
                messages: Limit::Unlimited,
            },
            Request::SieveSet {
                name: "d".into(),
                script: "keep;\n".into(),
            },
            Request::Deliver {
                user: "e".into(),
                mailbox: Some("Lists/rust".into()),
                from: Some(String::new()),
                message: b"Subject: x\r\n\r\nhi\r\n".to_vec(),
            },
        ] {
            let (line, content) = r.encode();
            let (mut back, len) = Request::decode(&line).unwrap();
            assert_eq!(len, content.len());
            back.attach(content.to_vec()).unwrap();
            assert_eq!(back, r);
        }
        assert_eq!(Request::decode("user-add\tonly"), None);
    }
}
