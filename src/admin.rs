//! Operator commands (`postfach user …`) and the control socket that lets them work while the
//! server runs.
//!
//! redb locks its file, so a second process cannot open it. When a server runs, it listens on
//! `DATA/control.sock` (mode 0600, in a 0700 directory) for one-line requests; the CLI tries that
//! socket first and opens the file directly only when no server answers. Requests and answers are
//! tab-separated fields on one line: `user-add NAME HASH` → `ok` or `err TEXT`. Passwords are
//! hashed by the CLI, so only the hash crosses the socket.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use log::{info, warn};
use smol::io::{AsyncBufReadExt, AsyncWriteExt};

use crate::cli::{Acl, AclAction, Mailbox, MailboxAction, User, UserAction};
use crate::config;
use crate::notify::Hub;
use crate::store::acl::{Rights, SHARED_OWNER};
use crate::store::user::canonical_name;
use crate::store::{Store, StoreError};

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
}

impl Request {
    fn encode(&self) -> String {
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
        }
    }

    fn decode(line: &str) -> Option<Request> {
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
pub async fn execute(store: &Store, req: Request) -> Result<String, String> {
    let r = match req {
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
                Err(e) => return Err(e.to_string()),
            };
            let new = match rights.as_deref() {
                None => None,
                Some(r) => Some(modify_rights(current.as_deref().unwrap_or(""), r)?),
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
    r.map_err(|e| match e {
        StoreError::Internal(e) => {
            warn!("admin request failed: {e}");
            "internal error, see the server log".into()
        }
        e => e.to_string(),
    })
}

/// Applies `+letters`, `-letters` or `letters` to the current rights (RFC 4314 §3.1).
fn modify_rights(current: &str, change: &str) -> Result<Rights, String> {
    let cur = Rights::parse(current).unwrap_or_default();
    let (op, letters) = match change.as_bytes().first() {
        Some(b'+') => ('+', &change[1..]),
        Some(b'-') => ('-', &change[1..]),
        _ => ('=', change),
    };
    let r = Rights::parse(letters).map_err(|c| format!("unknown right '{c}' (use lrswipkxtea)"))?;
    Ok(match op {
        '+' => cur.union(r),
        '-' => cur.minus(r),
        _ => r,
    })
}

/// Serves the control socket until the listener fails.
pub async fn serve_control(listener: smol::Async<std::os::unix::net::UnixListener>, store: Store) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let store = store.clone();
        smol::spawn(async move {
            let mut reader = smol::io::BufReader::new(&stream);
            let mut line = String::new();
            // One request per connection, bounded in size.
            let n = smol::io::AsyncReadExt::take(&mut reader, 64 * 1024)
                .read_line(&mut line)
                .await;
            let answer = match n.ok().and_then(|_| Request::decode(&line)) {
                Some(req) => match execute(&store, req).await {
                    Ok(text) => format!("ok\t{}\n", text.replace('\n', "\t")),
                    Err(e) => format!("err\t{e}\n"),
                },
                None => "err\tbad request\n".into(),
            };
            let _ = (&stream).write_all(answer.as_bytes()).await;
        })
        .detach();
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
fn via_socket(data_dir: &Path, req: &Request) -> Option<Result<String, String>> {
    let mut stream = UnixStream::connect(config::control_path(data_dir)).ok()?;
    writeln!(stream, "{}", req.encode()).ok()?;
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).ok()?;
    let line = line.trim_end_matches('\n');
    Some(match line.split_once('\t') {
        Some(("ok", text)) => Ok(text.replace('\t', "\n")),
        Some(("err", text)) => Err(text.to_string()),
        _ if line == "ok" => Ok(String::new()),
        _ => Err("unexpected answer from the server".into()),
    })
}

/// Runs a request through the running server, or directly on the file when none runs.
pub fn run_request(data_dir: &Path, req: Request) -> Result<String, String> {
    if let Some(r) = via_socket(data_dir, &req) {
        return r;
    }
    prepare_data_dir(data_dir)?;
    let store =
        Store::open(&config::db_path(data_dir), 4 << 20, Hub::new()).map_err(|e| match e {
            StoreError::Locked => {
                "the database is in use, but the running server's control socket does not answer"
                    .to_string()
            }
            e => e.to_string(),
        })?;
    smol::block_on(execute(&store, req))
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
    let (neg, rest) = id.strip_prefix('-').map_or(("", id), |r| ("-", r));
    let rest = rest.to_lowercase();
    if rest == "anyone" || rest == "authenticated" {
        return Ok(format!("{neg}{rest}"));
    }
    Ok(format!("{neg}{}", canonical_name(&rest)?))
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
    };
    let text = run_request(&dir, req)?;
    if !text.is_empty() {
        println!("{text}");
    }
    Ok(())
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
        ] {
            assert_eq!(Request::decode(&r.encode()), Some(r));
        }
        assert_eq!(Request::decode("user-add\tonly"), None);
    }
}
