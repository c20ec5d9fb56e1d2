//! Typed server responses (RFC 3501 §7) and their encoder.
//!
//! Handlers build these values; only [`Response::encode`] produces bytes. Message content is not
//! copied into responses: a [`BlobSlice`] names a byte range of a stored message and the encoder
//! leaves a *splice* where the connection streams it, so a 50 MB FETCH never sits in memory.

use super::encode::{astring, literal_header, nstring, number, string};
use super::types::{DateTime, Flag, SeqSet, StatusItem};
use super::utf7;

/// A byte range of a stored message, resolved by the connection when writing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobSlice {
    pub blob: u64,
    pub start: u64,
    pub len: u64,
}

/// Encoded bytes plus the places where stored message bytes are to be streamed in.
#[derive(Default, Debug)]
pub struct Output {
    pub bytes: Vec<u8>,
    /// `(offset in bytes, slice)`: stream the slice before `bytes[offset..]`. Sorted by offset.
    pub splices: Vec<(usize, BlobSlice)>,
}

impl Output {
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.splices.clear();
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusKind {
    Ok,
    No,
    Bad,
    Bye,
}

/// `resp-text-code` (RFC 3501 §7.1, RFC 4315 UIDPLUS, RFC 5530, RFC 7162, RFC 3516, RFC 9208).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Code {
    BadCharset(Vec<String>),
    Capability(Vec<String>),
    /// The flags plus `\*` (keywords may be created); empty means read-only: `()`.
    /// The flags a client may store; `true` adds `\*` (new keywords allowed).
    PermanentFlags(Vec<Flag>, bool),
    ReadOnly,
    ReadWrite,
    TryCreate,
    UidNext(u32),
    UidValidity(u32),
    Unseen(u32),
    AppendUid {
        validity: u32,
        uids: SeqSet,
    },
    CopyUid {
        validity: u32,
        src: SeqSet,
        dst: SeqSet,
    },
    Unavailable,
    AuthenticationFailed,
    AuthorizationFailed,
    PrivacyRequired,
    NoPerm,
    ServerBug,
    Cannot,
    Limit,
    OverQuota,
    AlreadyExists,
    NonExistent,
    TooBig,
    UnknownCte,
    HighestModSeq(u64),
    Modified(SeqSet),
    Closed,
}

/// A status response: tagged (`a1 OK ...`) or untagged (`* BYE ...`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub tag: Option<String>,
    pub kind: StatusKind,
    pub code: Option<Code>,
    pub text: String,
}

impl Status {
    fn new(kind: StatusKind, text: impl Into<String>) -> Self {
        Status {
            tag: None,
            kind,
            code: None,
            text: text.into(),
        }
    }
    pub fn ok(text: impl Into<String>) -> Self {
        Self::new(StatusKind::Ok, text)
    }
    pub fn no(text: impl Into<String>) -> Self {
        Self::new(StatusKind::No, text)
    }
    pub fn bad(text: impl Into<String>) -> Self {
        Self::new(StatusKind::Bad, text)
    }
    pub fn bye(text: impl Into<String>) -> Self {
        Self::new(StatusKind::Bye, text)
    }
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }
    pub fn code(mut self, code: Code) -> Self {
        self.code = Some(code);
        self
    }
}

/// Where FETCH body data comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyData {
    Nil,
    Bytes(Vec<u8>),
    Blob(BlobSlice),
}

/// One `msg-att` item of a FETCH response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchItem {
    Flags(Vec<Flag>),
    Uid(u32),
    InternalDate(DateTime),
    Rfc822Size(u64),
    ModSeq(u64),
    /// Pre-rendered wire form of ENVELOPE / BODY / BODYSTRUCTURE.
    Rendered {
        name: &'static str,
        wire: Vec<u8>,
    },
    /// `RFC822`, `BODY[...]<origin>`, `BINARY[...]<origin>`: `name` is the full item name without
    /// the origin (e.g. `BODY[1.MIME]`); `binary` sends the data as an RFC 3516 literal8.
    Section {
        name: String,
        origin: Option<u32>,
        data: BodyData,
        binary: bool,
    },
    BinarySize {
        part: String,
        size: u64,
    },
}

/// Untagged data responses (RFC 3501 §7.2–7.4 and extensions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    Capability(Vec<String>),
    List {
        lsub: bool,
        attrs: Vec<String>,
        name: String,
    },
    Status {
        mailbox: String,
        items: Vec<(StatusItem, u64)>,
    },
    Exists(u32),
    Recent(u32),
    Expunge(u32),
    Flags(Vec<Flag>),
    Fetch {
        seq: u32,
        items: Vec<FetchItem>,
    },
    Search {
        nums: Vec<u32>,
        modseq: Option<u64>,
    },
    /// RFC 4731 `ESEARCH`.
    ESearch {
        tag: String,
        uid: bool,
        min: Option<u32>,
        max: Option<u32>,
        count: Option<u32>,
        all: Option<SeqSet>,
        modseq: Option<u64>,
    },
    /// RFC 2342: each namespace is a list of (prefix, delimiter); empty = NIL.
    Namespace {
        personal: Vec<String>,
        other: Vec<String>,
        shared: Vec<String>,
    },
    Enabled(Vec<String>),
    Id(Vec<(String, String)>),
    /// RFC 4314 §3.6 `ACL mailbox *(SP identifier SP rights)`.
    Acl {
        mailbox: String,
        entries: Vec<(String, String)>,
    },
    /// RFC 4314 §3.7 `LISTRIGHTS mailbox identifier required *(SP optional)`.
    ListRights {
        mailbox: String,
        identifier: String,
        required: String,
        optional: Vec<String>,
    },
    /// RFC 4314 §3.8 `MYRIGHTS mailbox rights`.
    MyRights {
        mailbox: String,
        rights: String,
    },
    /// RFC 7162 `VANISHED [(EARLIER)] uids`.
    Vanished {
        earlier: bool,
        uids: SeqSet,
    },
    /// RFC 9208 §5.1 `QUOTA root (resource usage limit ...)`.
    Quota {
        root: String,
        resources: Vec<QuotaResource>,
    },
    /// RFC 9208 §5.2 `QUOTAROOT mailbox root ...`.
    QuotaRoot {
        mailbox: String,
        roots: Vec<String>,
    },
}

/// One resource of a QUOTA response (RFC 9208 §5.1): usage and limit in the resource's unit
/// (STORAGE in KiB, MESSAGE in messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuotaResource {
    /// `STORAGE`, `MESSAGE`.
    pub name: &'static str,
    pub usage: u64,
    pub limit: u64,
}

/// Anything the server sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    Status(Status),
    Data(Data),
    /// `continue-req = "+" SP (resp-text / base64) CRLF`.
    Continue(String),
}

impl From<Status> for Response {
    fn from(s: Status) -> Self {
        Response::Status(s)
    }
}

impl From<Data> for Response {
    fn from(d: Data) -> Self {
        Response::Data(d)
    }
}

fn flag_list(out: &mut Vec<u8>, flags: &[Flag]) {
    out.push(b'(');
    for (i, f) in flags.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(f.as_str().as_bytes());
    }
    out.push(b')');
}

/// A mailbox name on the wire: modified UTF-7 as an astring.
pub fn mailbox(out: &mut Vec<u8>, name: &str) {
    astring(out, utf7::encode(name).as_bytes());
}

impl Code {
    fn encode(&self, out: &mut Vec<u8>) {
        use Code::*;
        let simple = match self {
            ReadOnly => "READ-ONLY",
            ReadWrite => "READ-WRITE",
            TryCreate => "TRYCREATE",
            Unavailable => "UNAVAILABLE",
            AuthenticationFailed => "AUTHENTICATIONFAILED",
            AuthorizationFailed => "AUTHORIZATIONFAILED",
            PrivacyRequired => "PRIVACYREQUIRED",
            NoPerm => "NOPERM",
            ServerBug => "SERVERBUG",
            Cannot => "CANNOT",
            Limit => "LIMIT",
            OverQuota => "OVERQUOTA",
            AlreadyExists => "ALREADYEXISTS",
            NonExistent => "NONEXISTENT",
            TooBig => "TOOBIG",
            UnknownCte => "UNKNOWN-CTE",
            Closed => "CLOSED",
            _ => "",
        };
        out.push(b'[');
        if !simple.is_empty() {
            out.extend_from_slice(simple.as_bytes());
        }
        match self {
            BadCharset(list) => {
                out.extend_from_slice(b"BADCHARSET (");
                out.extend_from_slice(list.join(" ").as_bytes());
                out.push(b')');
            }
            Capability(caps) => {
                out.extend_from_slice(b"CAPABILITY ");
                out.extend_from_slice(caps.join(" ").as_bytes());
            }
            PermanentFlags(flags, keywords) => {
                out.extend_from_slice(b"PERMANENTFLAGS ");
                flag_list(out, flags);
                // `\*`: clients may create keywords (RFC 3501 §7.1).
                if *keywords {
                    out.pop();
                    if !flags.is_empty() {
                        out.push(b' ');
                    }
                    out.extend_from_slice(b"\\*)");
                }
            }
            UidNext(n) => out.extend_from_slice(format!("UIDNEXT {n}").as_bytes()),
            UidValidity(n) => out.extend_from_slice(format!("UIDVALIDITY {n}").as_bytes()),
            Unseen(n) => out.extend_from_slice(format!("UNSEEN {n}").as_bytes()),
            AppendUid { validity, uids } => {
                out.extend_from_slice(format!("APPENDUID {validity} {uids}").as_bytes());
            }
            CopyUid { validity, src, dst } => {
                out.extend_from_slice(format!("COPYUID {validity} {src} {dst}").as_bytes());
            }
            HighestModSeq(m) => out.extend_from_slice(format!("HIGHESTMODSEQ {m}").as_bytes()),
            Modified(set) => out.extend_from_slice(format!("MODIFIED {set}").as_bytes()),
            _ => {}
        }
        out.extend_from_slice(b"] ");
    }
}

impl Status {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.tag.as_deref().unwrap_or("*").as_bytes());
        out.extend_from_slice(match self.kind {
            StatusKind::Ok => b" OK ",
            StatusKind::No => b" NO ",
            StatusKind::Bad => b" BAD ",
            StatusKind::Bye => b" BYE ",
        });
        if let Some(code) = &self.code {
            code.encode(out);
        }
        // resp-text must not be empty and must not contain CR/LF.
        let text: String = self
            .text
            .chars()
            .filter(|c| *c != '\r' && *c != '\n')
            .collect();
        out.extend_from_slice(if text.is_empty() { "done" } else { &text }.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

impl FetchItem {
    fn encode(&self, o: &mut Output) {
        let out = &mut o.bytes;
        match self {
            FetchItem::Flags(f) => {
                out.extend_from_slice(b"FLAGS ");
                flag_list(out, f);
            }
            FetchItem::Uid(u) => out.extend_from_slice(format!("UID {u}").as_bytes()),
            FetchItem::InternalDate(d) => {
                out.extend_from_slice(format!("INTERNALDATE \"{}\"", d.format()).as_bytes());
            }
            FetchItem::Rfc822Size(s) => {
                out.extend_from_slice(format!("RFC822.SIZE {s}").as_bytes())
            }
            FetchItem::ModSeq(m) => out.extend_from_slice(format!("MODSEQ ({m})").as_bytes()),
            FetchItem::Rendered { name, wire } => {
                out.extend_from_slice(name.as_bytes());
                out.push(b' ');
                out.extend_from_slice(wire);
            }
            FetchItem::BinarySize { part, size } => {
                out.extend_from_slice(format!("BINARY.SIZE[{part}] {size}").as_bytes());
            }
            FetchItem::Section {
                name,
                origin,
                data,
                binary,
            } => {
                out.extend_from_slice(name.as_bytes());
                if let Some(o) = origin {
                    out.extend_from_slice(format!("<{o}>").as_bytes());
                }
                out.push(b' ');
                match data {
                    BodyData::Nil => out.extend_from_slice(b"NIL"),
                    BodyData::Bytes(b) if *binary => {
                        // RFC 3516 literal8.
                        out.push(b'~');
                        literal_header(out, b.len() as u64);
                        out.extend_from_slice(b);
                    }
                    BodyData::Bytes(b) => {
                        literal_header(out, b.len() as u64);
                        out.extend_from_slice(b);
                    }
                    BodyData::Blob(slice) => {
                        if *binary {
                            out.push(b'~');
                        }
                        literal_header(out, slice.len);
                        if slice.len > 0 {
                            o.splices.push((o.bytes.len(), *slice));
                        }
                    }
                }
            }
        }
    }
}

impl Data {
    fn encode(&self, o: &mut Output) {
        o.bytes.extend_from_slice(b"* ");
        let out = &mut o.bytes;
        match self {
            Data::Capability(caps) => {
                out.extend_from_slice(b"CAPABILITY ");
                out.extend_from_slice(caps.join(" ").as_bytes());
            }
            Data::List { lsub, attrs, name } => {
                out.extend_from_slice(if *lsub { b"LSUB (" } else { b"LIST (" });
                out.extend_from_slice(attrs.join(" ").as_bytes());
                out.extend_from_slice(b") \"/\" ");
                mailbox(out, name);
            }
            Data::Status {
                mailbox: name,
                items,
            } => {
                out.extend_from_slice(b"STATUS ");
                mailbox(out, name);
                out.extend_from_slice(b" (");
                for (i, (item, v)) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    out.extend_from_slice(format!("{} {v}", item.name()).as_bytes());
                }
                out.push(b')');
            }
            Data::Exists(n) => out.extend_from_slice(format!("{n} EXISTS").as_bytes()),
            Data::Recent(n) => out.extend_from_slice(format!("{n} RECENT").as_bytes()),
            Data::Expunge(n) => out.extend_from_slice(format!("{n} EXPUNGE").as_bytes()),
            Data::Flags(f) => {
                out.extend_from_slice(b"FLAGS ");
                flag_list(out, f);
            }
            Data::Fetch { seq, items } => {
                out.extend_from_slice(format!("{seq} FETCH (").as_bytes());
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        o.bytes.push(b' ');
                    }
                    item.encode(o);
                }
                o.bytes.push(b')');
            }
            Data::Search { nums, modseq } => {
                out.extend_from_slice(b"SEARCH");
                for n in nums {
                    out.push(b' ');
                    number(out, *n);
                }
                if let Some(m) = modseq {
                    out.extend_from_slice(format!(" (MODSEQ {m})").as_bytes());
                }
            }
            Data::ESearch {
                tag,
                uid,
                min,
                max,
                count,
                all,
                modseq,
            } => {
                out.extend_from_slice(b"ESEARCH (TAG ");
                string(out, tag.as_bytes());
                out.push(b')');
                if *uid {
                    out.extend_from_slice(b" UID");
                }
                if let Some(v) = min {
                    out.extend_from_slice(format!(" MIN {v}").as_bytes());
                }
                if let Some(v) = max {
                    out.extend_from_slice(format!(" MAX {v}").as_bytes());
                }
                if let Some(v) = count {
                    out.extend_from_slice(format!(" COUNT {v}").as_bytes());
                }
                if let Some(v) = all {
                    out.extend_from_slice(format!(" ALL {v}").as_bytes());
                }
                if let Some(v) = modseq {
                    out.extend_from_slice(format!(" MODSEQ {v}").as_bytes());
                }
            }
            Data::Namespace {
                personal,
                other,
                shared,
            } => {
                out.extend_from_slice(b"NAMESPACE");
                for ns in [personal, other, shared] {
                    out.push(b' ');
                    if ns.is_empty() {
                        out.extend_from_slice(b"NIL");
                        continue;
                    }
                    out.push(b'(');
                    for prefix in ns {
                        out.push(b'(');
                        string(out, utf7::encode(prefix).as_bytes());
                        out.extend_from_slice(b" \"/\")");
                    }
                    out.push(b')');
                }
            }
            Data::Enabled(caps) => {
                out.extend_from_slice(b"ENABLED");
                for c in caps {
                    out.push(b' ');
                    out.extend_from_slice(c.as_bytes());
                }
            }
            Data::Id(pairs) => {
                out.extend_from_slice(b"ID (");
                for (i, (k, v)) in pairs.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    string(out, k.as_bytes());
                    out.push(b' ');
                    nstring(out, Some(v.as_bytes()));
                }
                out.push(b')');
            }
            Data::Acl {
                mailbox: name,
                entries,
            } => {
                out.extend_from_slice(b"ACL ");
                mailbox(out, name);
                for (id, rights) in entries {
                    out.push(b' ');
                    astring(out, id.as_bytes());
                    out.push(b' ');
                    astring(out, rights.as_bytes());
                }
            }
            Data::ListRights {
                mailbox: name,
                identifier,
                required,
                optional,
            } => {
                out.extend_from_slice(b"LISTRIGHTS ");
                mailbox(out, name);
                out.push(b' ');
                astring(out, identifier.as_bytes());
                out.push(b' ');
                astring(out, required.as_bytes());
                for o in optional {
                    out.push(b' ');
                    astring(out, o.as_bytes());
                }
            }
            Data::MyRights {
                mailbox: name,
                rights,
            } => {
                out.extend_from_slice(b"MYRIGHTS ");
                mailbox(out, name);
                out.push(b' ');
                astring(out, rights.as_bytes());
            }
            Data::Vanished { earlier, uids } => {
                out.extend_from_slice(if *earlier {
                    b"VANISHED (EARLIER) "
                } else {
                    b"VANISHED "
                });
                out.extend_from_slice(uids.to_string().as_bytes());
            }
            Data::Quota { root, resources } => {
                out.extend_from_slice(b"QUOTA ");
                astring(out, root.as_bytes());
                out.extend_from_slice(b" (");
                for (i, r) in resources.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    out.extend_from_slice(format!("{} {} {}", r.name, r.usage, r.limit).as_bytes());
                }
                out.push(b')');
            }
            Data::QuotaRoot {
                mailbox: name,
                roots,
            } => {
                out.extend_from_slice(b"QUOTAROOT ");
                mailbox(out, name);
                for r in roots {
                    out.push(b' ');
                    astring(out, r.as_bytes());
                }
            }
        }
        o.bytes.extend_from_slice(b"\r\n");
    }
}

impl Response {
    /// Appends the wire form to `out`.
    pub fn encode(&self, out: &mut Output) {
        match self {
            Response::Status(s) => s.encode(&mut out.bytes),
            Response::Data(d) => d.encode(out),
            Response::Continue(text) => {
                out.bytes.extend_from_slice(b"+ ");
                out.bytes.extend_from_slice(text.as_bytes());
                out.bytes.extend_from_slice(b"\r\n");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::types::SeqNum;

    fn enc(r: impl Into<Response>) -> String {
        let mut o = Output::default();
        r.into().encode(&mut o);
        String::from_utf8(o.bytes).unwrap()
    }

    #[test]
    fn rfc_examples() {
        // RFC 3501 §6.3.1 SELECT example lines.
        assert_eq!(enc(Data::Exists(172)), "* 172 EXISTS\r\n");
        assert_eq!(
            enc(Data::Flags(vec![
                Flag::Answered,
                Flag::Flagged,
                Flag::Deleted,
                Flag::Seen,
                Flag::Draft
            ])),
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
        );
        assert_eq!(
            enc(Status::ok("UIDs valid").code(Code::UidValidity(3857529045))),
            "* OK [UIDVALIDITY 3857529045] UIDs valid\r\n"
        );
        assert_eq!(
            enc(Status::ok("Limited")
                .code(Code::PermanentFlags(vec![Flag::Deleted, Flag::Seen], true))),
            "* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] Limited\r\n"
        );
        // RFC 3501 §6.3.2 EXAMINE example: read-only, nothing permanent, no `\*`.
        assert_eq!(
            enc(Status::ok("No permanent flags permitted")
                .code(Code::PermanentFlags(vec![], false))),
            "* OK [PERMANENTFLAGS ()] No permanent flags permitted\r\n"
        );
        assert_eq!(
            enc(Status::ok("SELECT completed")
                .tag("A142")
                .code(Code::ReadWrite)),
            "A142 OK [READ-WRITE] SELECT completed\r\n"
        );
        // RFC 4315 §3 APPENDUID.
        let uids = SeqSet(vec![(SeqNum::Value(4392), SeqNum::Value(4392))]);
        assert_eq!(
            enc(Status::ok("APPEND completed")
                .tag("A003")
                .code(Code::AppendUid {
                    validity: 38505,
                    uids
                })),
            "A003 OK [APPENDUID 38505 4392] APPEND completed\r\n"
        );
        assert_eq!(
            enc(Data::List {
                lsub: false,
                attrs: vec!["\\Noselect".into()],
                name: "foo/bär".into()
            }),
            "* LIST (\\Noselect) \"/\" foo/b&AOQ-r\r\n"
        );
        assert_eq!(
            enc(Data::Namespace {
                personal: vec![String::new()],
                other: vec![],
                shared: vec![]
            }),
            "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n"
        );
        // RFC 9208 §4.3 GETQUOTAROOT example.
        assert_eq!(
            enc(Data::QuotaRoot {
                mailbox: "INBOX".into(),
                roots: vec![String::new()]
            }),
            "* QUOTAROOT INBOX \"\"\r\n"
        );
        assert_eq!(
            enc(Data::Quota {
                root: String::new(),
                resources: vec![QuotaResource {
                    name: "STORAGE",
                    usage: 10,
                    limit: 512
                }]
            }),
            "* QUOTA \"\" (STORAGE 10 512)\r\n"
        );
    }

    #[test]
    fn fetch_with_blob_splice() {
        let mut o = Output::default();
        let slice = BlobSlice {
            blob: 7,
            start: 0,
            len: 5,
        };
        Response::from(Data::Fetch {
            seq: 12,
            items: vec![
                FetchItem::Uid(4),
                FetchItem::Section {
                    name: "BODY[]".into(),
                    origin: None,
                    data: BodyData::Blob(slice),
                    binary: false,
                },
            ],
        })
        .encode(&mut o);
        let head = "* 12 FETCH (UID 4 BODY[] {5}\r\n";
        assert_eq!(String::from_utf8_lossy(&o.bytes), format!("{head})\r\n"));
        assert_eq!(o.splices, vec![(head.len(), slice)]);
    }
}
