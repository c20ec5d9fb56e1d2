//! Typed commands and the top-level command parser (RFC 3501 §6, §9).
//!
//! Each parse function carries the ABNF rule it implements. Command names are matched
//! case-insensitively; arguments are validated here so handlers receive only well-formed values.

use super::fetch::{FetchAttr, parse_fetch_atts};
use super::parse::{PResult, ParseError, Parser};
use super::search::{SearchProgram, parse_search};
use super::types::{DateTime, Flag, MailboxName, SeqSet, StatusItem};

/// A parsed command: tag plus body.
#[derive(Debug)]
pub struct Command {
    pub tag: String,
    pub body: CommandBody,
}

/// `+FLAGS`, `-FLAGS` or `FLAGS` in STORE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreMode {
    Add,
    Remove,
    Replace,
}

/// A sequence set as sent: numbers, or `$` (the saved search result, RFC 5182).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sequence {
    Set(SeqSet),
    Saved,
}

/// RFC 7162 §3.2.5 `QRESYNC (uidvalidity mod-sequence [known-uids [seq-match-data]])`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QResync {
    pub uidvalidity: u32,
    pub modseq: u64,
    pub known_uids: Option<SeqSet>,
    /// (known sequence numbers, their UIDs).
    pub seq_match: Option<(SeqSet, SeqSet)>,
}

/// SELECT/EXAMINE parameters (RFC 4466 `select-params`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SelectParams {
    pub condstore: bool,
    pub qresync: Option<QResync>,
}

/// Every command the server understands.
#[derive(Debug)]
pub enum CommandBody {
    Capability,
    Noop,
    Logout,
    /// RFC 2971: `id = "ID" SP id-params-list`.
    Id(Option<Vec<(String, Option<String>)>>),
    StartTls,
    Login {
        user: String,
        password: Vec<u8>,
    },
    /// `authenticate = "AUTHENTICATE" SP auth-type [SP (base64 / "=")]` (RFC 4959 SASL-IR).
    Authenticate {
        mechanism: String,
        initial: Option<Vec<u8>>,
    },
    Select {
        mailbox: MailboxName,
        read_only: bool,
        params: SelectParams,
    },
    Create {
        mailbox: MailboxName,
    },
    Delete {
        mailbox: MailboxName,
    },
    Rename {
        from: MailboxName,
        to: MailboxName,
    },
    Subscribe {
        mailbox: MailboxName,
    },
    Unsubscribe {
        mailbox: MailboxName,
    },
    List {
        reference: String,
        pattern: String,
        lsub: bool,
    },
    Status {
        mailbox: MailboxName,
        items: Vec<StatusItem>,
    },
    Append {
        mailbox: MailboxName,
        flags: Vec<Flag>,
        date: Option<DateTime>,
        message: Vec<u8>,
    },
    Namespace,
    Enable(Vec<String>),
    Idle,
    Check,
    Close,
    Unselect,
    Expunge {
        uids: Option<Sequence>,
    },
    Copy {
        set: Sequence,
        mailbox: MailboxName,
        uid: bool,
        is_move: bool,
    },
    Fetch {
        set: Sequence,
        atts: Vec<FetchAttr>,
        uid: bool,
        /// RFC 7162 §3.1.4 `CHANGEDSINCE`.
        changed_since: Option<u64>,
        /// RFC 7162 §3.2.6 `VANISHED` (UID FETCH only).
        vanished: bool,
    },
    Store {
        set: Sequence,
        mode: StoreMode,
        silent: bool,
        flags: Vec<Flag>,
        uid: bool,
        /// RFC 7162 §3.1.3 `UNCHANGEDSINCE`.
        unchanged_since: Option<u64>,
    },
    /// RFC 4314 §3.1 `SETACL mailbox identifier mod-rights`.
    SetAcl {
        mailbox: MailboxName,
        identifier: String,
        rights: String,
    },
    /// RFC 4314 §3.2 `DELETEACL mailbox identifier`.
    DeleteAcl {
        mailbox: MailboxName,
        identifier: String,
    },
    /// RFC 4314 §3.3 `GETACL mailbox`.
    GetAcl {
        mailbox: MailboxName,
    },
    /// RFC 4314 §3.4 `LISTRIGHTS mailbox identifier`.
    ListRights {
        mailbox: MailboxName,
        identifier: String,
    },
    /// RFC 4314 §3.5 `MYRIGHTS mailbox`.
    MyRights {
        mailbox: MailboxName,
    },
    Search {
        program: SearchProgram,
        uid: bool,
    },
    /// RFC 9208 §4.2: `getquota = "GETQUOTA" SP quota-root-name`.
    GetQuota {
        root: String,
    },
    /// RFC 9208 §4.3: `getquotaroot = "GETQUOTAROOT" SP mailbox`.
    GetQuotaRoot {
        mailbox: MailboxName,
    },
    /// RFC 9208 §4.1: `setquota = "SETQUOTA" SP quota-root-name SP setquota-list`; the
    /// arguments are not kept (limits are set by the administrator).
    SetQuota,
}

impl CommandBody {
    /// The command name as used in responses and logs.
    pub fn name(&self) -> &'static str {
        use CommandBody::*;
        match self {
            Capability => "CAPABILITY",
            Noop => "NOOP",
            Logout => "LOGOUT",
            Id(_) => "ID",
            StartTls => "STARTTLS",
            Login { .. } => "LOGIN",
            Authenticate { .. } => "AUTHENTICATE",
            Select {
                read_only: false, ..
            } => "SELECT",
            Select {
                read_only: true, ..
            } => "EXAMINE",
            Create { .. } => "CREATE",
            Delete { .. } => "DELETE",
            Rename { .. } => "RENAME",
            Subscribe { .. } => "SUBSCRIBE",
            Unsubscribe { .. } => "UNSUBSCRIBE",
            List { lsub: false, .. } => "LIST",
            List { lsub: true, .. } => "LSUB",
            Status { .. } => "STATUS",
            Append { .. } => "APPEND",
            Namespace => "NAMESPACE",
            Enable(_) => "ENABLE",
            Idle => "IDLE",
            Check => "CHECK",
            Close => "CLOSE",
            Unselect => "UNSELECT",
            Expunge { .. } => "EXPUNGE",
            Copy { is_move: false, .. } => "COPY",
            Copy { is_move: true, .. } => "MOVE",
            Fetch { .. } => "FETCH",
            Store { .. } => "STORE",
            Search { .. } => "SEARCH",
            SetAcl { .. } => "SETACL",
            DeleteAcl { .. } => "DELETEACL",
            GetAcl { .. } => "GETACL",
            ListRights { .. } => "LISTRIGHTS",
            MyRights { .. } => "MYRIGHTS",
            GetQuota { .. } => "GETQUOTA",
            GetQuotaRoot { .. } => "GETQUOTAROOT",
            SetQuota => "SETQUOTA",
        }
    }
}

/// A command that failed to parse; `tag` is known when the line started with one.
#[derive(Debug)]
pub struct CommandError {
    pub tag: Option<String>,
    pub error: ParseError,
}

/// `command = tag SP (command-any / command-auth / command-nonauth / command-select) CRLF`.
pub fn parse_command(buf: &[u8]) -> Result<Command, CommandError> {
    let mut p = Parser::new(buf);
    let tag = match p.atom() {
        Ok(t) if !t.contains('+') => t.to_string(),
        _ => {
            return Err(CommandError {
                tag: None,
                error: ParseError::new("Invalid tag"),
            });
        }
    };
    let body = (|| {
        p.sp()?;
        let name = p.keyword()?;
        let body = parse_body(&mut p, &name)?;
        p.finish()?;
        Ok(body)
    })();
    body.map(|body| Command {
        tag: tag.clone(),
        body,
    })
    .map_err(|error| CommandError {
        tag: Some(tag),
        error,
    })
}

fn parse_body(p: &mut Parser<'_>, name: &str) -> PResult<CommandBody> {
    use CommandBody::*;
    Ok(match name {
        "CAPABILITY" => Capability,
        "NOOP" => Noop,
        "LOGOUT" => Logout,
        "ID" => Id(parse_id(p)?),
        "STARTTLS" => StartTls,
        "LOGIN" => {
            // login = "LOGIN" SP userid SP password
            p.sp()?;
            let user = p.astring_utf8()?;
            p.sp()?;
            Login {
                user,
                password: p.astring()?,
            }
        }
        "AUTHENTICATE" => {
            p.sp()?;
            let mechanism = p.atom()?.to_ascii_uppercase();
            let initial = if p.eat(b' ') {
                Some(p.rest_of_line().to_vec())
            } else {
                None
            };
            Authenticate { mechanism, initial }
        }
        "SELECT" | "EXAMINE" => {
            // select = "SELECT" SP mailbox [select-params]
            p.sp()?;
            let mailbox = p.mailbox()?;
            let params = if p.eat(b' ') {
                parse_select_params(p)?
            } else {
                SelectParams::default()
            };
            Select {
                mailbox,
                read_only: name == "EXAMINE",
                params,
            }
        }
        "CREATE" => Create {
            mailbox: sp_mailbox(p)?,
        },
        "DELETE" => Delete {
            mailbox: sp_mailbox(p)?,
        },
        "RENAME" => Rename {
            from: sp_mailbox(p)?,
            to: sp_mailbox(p)?,
        },
        "SUBSCRIBE" => Subscribe {
            mailbox: sp_mailbox(p)?,
        },
        "UNSUBSCRIBE" => Unsubscribe {
            mailbox: sp_mailbox(p)?,
        },
        "LIST" | "LSUB" => {
            // list = "LIST" SP mailbox SP list-mailbox
            p.sp()?;
            let reference = p.list_mailbox().or_else(|_| {
                let r = p.astring()?;
                String::from_utf8(r).map_err(|_| ParseError::new("Invalid reference"))
            })?;
            p.sp()?;
            List {
                reference,
                pattern: p.list_mailbox()?,
                lsub: name == "LSUB",
            }
        }
        "STATUS" => {
            // status = "STATUS" SP mailbox SP "(" status-att *(SP status-att) ")"
            let mailbox = sp_mailbox(p)?;
            p.sp()?;
            let items = p.paren_list(status_att)?;
            if items.is_empty() {
                return Err(ParseError::new("Empty status item list"));
            }
            Status { mailbox, items }
        }
        "APPEND" => parse_append(p)?,
        "NAMESPACE" => Namespace,
        "ENABLE" => {
            // enable = "ENABLE" 1*(SP capability)
            let mut caps = Vec::new();
            while p.eat(b' ') {
                caps.push(p.atom()?.to_ascii_uppercase());
            }
            if caps.is_empty() {
                return Err(ParseError::new("Missing capability"));
            }
            Enable(caps)
        }
        "IDLE" => Idle,
        "SETACL" => {
            let mailbox = sp_mailbox(p)?;
            p.sp()?;
            let identifier = p.astring_utf8()?;
            p.sp()?;
            SetAcl {
                mailbox,
                identifier,
                rights: p.astring_utf8()?,
            }
        }
        "DELETEACL" => {
            let mailbox = sp_mailbox(p)?;
            p.sp()?;
            DeleteAcl {
                mailbox,
                identifier: p.astring_utf8()?,
            }
        }
        "GETACL" => GetAcl {
            mailbox: sp_mailbox(p)?,
        },
        "LISTRIGHTS" => {
            let mailbox = sp_mailbox(p)?;
            p.sp()?;
            ListRights {
                mailbox,
                identifier: p.astring_utf8()?,
            }
        }
        "MYRIGHTS" => MyRights {
            mailbox: sp_mailbox(p)?,
        },
        "GETQUOTA" => {
            p.sp()?;
            GetQuota {
                root: p.astring_utf8()?,
            }
        }
        "GETQUOTAROOT" => GetQuotaRoot {
            mailbox: sp_mailbox(p)?,
        },
        "SETQUOTA" => {
            p.sp()?;
            p.astring()?;
            p.sp()?;
            // setquota-list = "(" [setquota-resource *(SP setquota-resource)] ")"
            p.expect(b'(')?;
            p.rest_of_line();
            SetQuota
        }
        "CHECK" => Check,
        "CLOSE" => Close,
        "UNSELECT" => Unselect,
        "EXPUNGE" => Expunge { uids: None },
        "COPY" | "MOVE" => parse_copy(p, false, name == "MOVE")?,
        "FETCH" => parse_fetch(p, false)?,
        "STORE" => parse_store(p, false)?,
        "SEARCH" => Search {
            program: parse_search(p)?,
            uid: false,
        },
        "UID" => {
            p.sp()?;
            let sub = p.keyword()?;
            match sub.as_str() {
                "COPY" | "MOVE" => parse_copy(p, true, sub == "MOVE")?,
                "FETCH" => parse_fetch(p, true)?,
                "STORE" => parse_store(p, true)?,
                "SEARCH" => Search {
                    program: parse_search(p)?,
                    uid: true,
                },
                // RFC 4315 §2.1: uid-expunge = "UID" SP "EXPUNGE" SP sequence-set
                "EXPUNGE" => {
                    p.sp()?;
                    Expunge {
                        uids: Some(sequence(p)?),
                    }
                }
                _ => return Err(ParseError::new(format!("Unknown UID command {sub}"))),
            }
        }
        _ => return Err(ParseError::new(format!("Unknown command {name}"))),
    })
}

fn sp_mailbox(p: &mut Parser<'_>) -> PResult<MailboxName> {
    p.sp()?;
    p.mailbox()
}

fn sequence(p: &mut Parser<'_>) -> PResult<Sequence> {
    Ok(match p.seq_set()? {
        Some(s) => Sequence::Set(s),
        None => Sequence::Saved,
    })
}

/// `status-att = "MESSAGES" / "RECENT" / "UIDNEXT" / "UIDVALIDITY" / "UNSEEN"` (+ RFC 8438 SIZE).
fn status_att(p: &mut Parser<'_>) -> PResult<StatusItem> {
    Ok(match p.keyword()?.as_str() {
        "MESSAGES" => StatusItem::Messages,
        "RECENT" => StatusItem::Recent,
        "UIDNEXT" => StatusItem::UidNext,
        "UIDVALIDITY" => StatusItem::UidValidity,
        "UNSEEN" => StatusItem::Unseen,
        "SIZE" => StatusItem::Size,
        "HIGHESTMODSEQ" => StatusItem::HighestModSeq,
        other => return Err(ParseError::new(format!("Unknown status item {other}"))),
    })
}

/// `append = "APPEND" SP mailbox [SP flag-list] [SP date-time] SP (literal / literal8)`.
fn parse_append(p: &mut Parser<'_>) -> PResult<CommandBody> {
    let mailbox = sp_mailbox(p)?;
    p.sp()?;
    let mut flags = Vec::new();
    if p.peek() == Some(b'(') {
        flags = p.flag_list()?;
        if flags.contains(&Flag::Recent) {
            return Err(ParseError::new("\\Recent cannot be set"));
        }
        p.sp()?;
    }
    let mut date = None;
    if p.peek() == Some(b'"') {
        date = Some(p.date_time()?);
        p.sp()?;
    }
    // RFC 3516 §4.4: `literal8` (`~{n}`) may carry any octet, NUL included.
    p.eat(b'~');
    if p.peek() != Some(b'{') {
        return Err(ParseError::new("APPEND needs a literal"));
    }
    let message = p.string()?;
    Ok(CommandBody::Append {
        mailbox,
        flags,
        date,
        message,
    })
}

/// `copy = "COPY" SP sequence-set SP mailbox`; RFC 6851 `move` likewise.
fn parse_copy(p: &mut Parser<'_>, uid: bool, is_move: bool) -> PResult<CommandBody> {
    p.sp()?;
    let set = sequence(p)?;
    Ok(CommandBody::Copy {
        set,
        mailbox: sp_mailbox(p)?,
        uid,
        is_move,
    })
}

/// `fetch = "FETCH" SP sequence-set SP ("ALL" / "FULL" / "FAST" / fetch-att /
///  "(" fetch-att *(SP fetch-att) ")")`.
fn parse_fetch(p: &mut Parser<'_>, uid: bool) -> PResult<CommandBody> {
    p.sp()?;
    let set = sequence(p)?;
    p.sp()?;
    let atts = parse_fetch_atts(p)?;
    let (mut changed_since, mut vanished) = (None, false);
    if p.eat(b' ') {
        // fetch-modifiers = SP "(" fetch-modifier *(SP fetch-modifier) ")"  (RFC 4466, 7162)
        for m in p.paren_list(|p| {
            let k = p.keyword()?;
            Ok(match k.as_str() {
                "CHANGEDSINCE" => {
                    p.sp()?;
                    Some(p.number64()?)
                }
                "VANISHED" => None,
                _ => return Err(ParseError::new(format!("Unknown FETCH modifier {k}"))),
            })
        })? {
            match m {
                Some(m) => changed_since = Some(m),
                None => vanished = true,
            }
        }
        if vanished && (!uid || changed_since.is_none()) {
            return Err(ParseError::new(
                "VANISHED needs UID FETCH with CHANGEDSINCE",
            ));
        }
    }
    Ok(CommandBody::Fetch {
        set,
        atts,
        uid,
        changed_since,
        vanished,
    })
}

/// `select-params = SP "(" select-param *(SP select-param) ")"` with RFC 7162's `CONDSTORE` and
/// `QRESYNC (uidvalidity mod-sequence [SP known-uids [SP seq-match-data]])`.
fn parse_select_params(p: &mut Parser<'_>) -> PResult<SelectParams> {
    let mut params = SelectParams::default();
    p.paren_list(|p| {
        match p.keyword()?.as_str() {
            "CONDSTORE" => params.condstore = true,
            "QRESYNC" => {
                p.sp()?;
                p.expect(b'(')?;
                let uidvalidity = p.nz_number()?;
                p.sp()?;
                let modseq = p.number64()?;
                let mut q = QResync {
                    uidvalidity,
                    modseq,
                    known_uids: None,
                    seq_match: None,
                };
                if p.eat(b' ') {
                    if p.peek() == Some(b'(') {
                        q.seq_match = Some(seq_match(p)?);
                    } else {
                        q.known_uids = p.seq_set()?;
                        if p.eat(b' ') {
                            q.seq_match = Some(seq_match(p)?);
                        }
                    }
                }
                p.expect(b')')?;
                params.qresync = Some(q);
            }
            other => return Err(ParseError::new(format!("Unknown SELECT parameter {other}"))),
        }
        Ok(())
    })?;
    Ok(params)
}

/// `seq-match-data = "(" known-sequence-set SP known-uid-set ")"`.
fn seq_match(p: &mut Parser<'_>) -> PResult<(SeqSet, SeqSet)> {
    p.expect(b'(')?;
    let seqs = p
        .seq_set()?
        .ok_or_else(|| ParseError::new("Invalid sequence set"))?;
    p.sp()?;
    let uids = p
        .seq_set()?
        .ok_or_else(|| ParseError::new("Invalid UID set"))?;
    p.expect(b')')?;
    Ok((seqs, uids))
}

/// `store = "STORE" SP sequence-set SP store-att-flags`;
/// `store-att-flags = (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / (flag *(SP flag)))`.
fn parse_store(p: &mut Parser<'_>, uid: bool) -> PResult<CommandBody> {
    p.sp()?;
    let set = sequence(p)?;
    p.sp()?;
    // store-modifiers (RFC 4466): only RFC 7162's UNCHANGEDSINCE.
    let mut unchanged_since = None;
    if p.peek() == Some(b'(') {
        p.expect(b'(')?;
        if p.keyword()? != "UNCHANGEDSINCE" {
            return Err(ParseError::new("Unknown STORE modifier"));
        }
        p.sp()?;
        unchanged_since = Some(p.number64()?);
        p.expect(b')')?;
        p.sp()?;
    }
    let mode = if p.eat(b'+') {
        StoreMode::Add
    } else if p.eat(b'-') {
        StoreMode::Remove
    } else {
        StoreMode::Replace
    };
    let silent = match p.keyword()?.as_str() {
        "FLAGS" => false,
        "FLAGS.SILENT" => true,
        _ => return Err(ParseError::new("Expected FLAGS")),
    };
    p.sp()?;
    let flags = if p.peek() == Some(b'(') {
        p.flag_list()?
    } else {
        let mut f = vec![p.flag()?];
        while p.eat(b' ') {
            f.push(p.flag()?);
        }
        f
    };
    let flags = flags.into_iter().filter(|f| *f != Flag::Recent).collect();
    Ok(CommandBody::Store {
        set,
        mode,
        silent,
        flags,
        uid,
        unchanged_since,
    })
}

/// `id-params-list = "(" *(string SP nstring) ")" / nil` (RFC 2971 §4).
fn parse_id(p: &mut Parser<'_>) -> PResult<Option<Vec<(String, Option<String>)>>> {
    p.sp()?;
    if p.peek_word_ci("NIL") {
        p.nstring()?;
        return Ok(None);
    }
    let mut pairs = Vec::new();
    p.expect(b'(')?;
    while !p.eat(b')') {
        if !pairs.is_empty() {
            p.sp()?;
        }
        let k = String::from_utf8_lossy(&p.string()?).into_owned();
        p.sp()?;
        let v = p
            .nstring()?
            .map(|v| String::from_utf8_lossy(&v).into_owned());
        if pairs.len() < 30 {
            pairs.push((k, v));
        }
    }
    Ok(Some(pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(s: &str) -> CommandBody {
        parse_command(s.as_bytes()).unwrap().body
    }

    #[test]
    fn commands() {
        assert!(matches!(body("a1 noop\r\n"), CommandBody::Noop));
        let CommandBody::Login { user, password } = body("a LOGIN alice \"p w\"\r\n") else {
            panic!()
        };
        assert_eq!(
            (user.as_str(), password.as_slice()),
            ("alice", b"p w".as_slice())
        );
        let CommandBody::Append {
            mailbox,
            flags,
            date,
            message,
        } = body("a APPEND inbox (\\Seen) \"01-Jan-2024 10:00:00 +0100\" {5+}\r\nhello\r\n")
        else {
            panic!()
        };
        assert_eq!(mailbox.as_str(), "INBOX");
        assert_eq!(flags, vec![Flag::Seen]);
        assert_eq!(date.unwrap().zone_minutes, 60);
        assert_eq!(message, b"hello");
        let CommandBody::Store {
            mode,
            silent,
            flags,
            uid,
            ..
        } = body("a UID STORE 1:* -FLAGS.SILENT \\Deleted foo\r\n")
        else {
            panic!()
        };
        assert_eq!(
            (mode, silent, uid, flags.len()),
            (StoreMode::Remove, true, true, 2)
        );
        assert!(matches!(
            body("a UID EXPUNGE 1:3\r\n"),
            CommandBody::Expunge { uids: Some(_) }
        ));
        assert!(matches!(
            body("a LIST \"\" %\r\n"),
            CommandBody::List { lsub: false, .. }
        ));
        assert!(matches!(body("a ID NIL\r\n"), CommandBody::Id(None)));
        // RFC 9208 §4.2, §4.3 examples.
        assert!(
            matches!(body("G0001 GETQUOTA \"!partition/sda4\"\r\n"), CommandBody::GetQuota { root } if root == "!partition/sda4")
        );
        assert!(
            matches!(body("G0002 GETQUOTAROOT INBOX\r\n"), CommandBody::GetQuotaRoot { mailbox } if mailbox.is_inbox())
        );
        assert!(matches!(
            body("S0000 SETQUOTA \"#user/alice\" (STORAGE 510)\r\n"),
            CommandBody::SetQuota
        ));
        assert!(matches!(
            body("a AUTHENTICATE plain AGFsaWNlAHB3\r\n"),
            CommandBody::Authenticate {
                initial: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn errors_keep_the_tag() {
        let e = parse_command(b"x1 FROB\r\n").unwrap_err();
        assert_eq!(e.tag.as_deref(), Some("x1"));
        let e = parse_command(b"x2 NOOP extra\r\n").unwrap_err();
        assert_eq!(e.tag.as_deref(), Some("x2"));
        let e = parse_command(b"x3 SELECT\r\n").unwrap_err();
        assert_eq!(e.tag.as_deref(), Some("x3"));
        assert!(parse_command(b"\r\n").unwrap_err().tag.is_none());
        assert!(parse_command(b"+ NOOP\r\n").is_err());
    }
}
