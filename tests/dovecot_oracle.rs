//! Dovecot as the correctness oracle for FETCH (issue 3): every message of the MIME corpus
//! `tests/fixtures/mime/NN-name.eml` is APPENDed to postfach and asked the FETCH commands recorded
//! in `NN-name.dovecot`, and every untagged answer and tagged status must equal Dovecot's byte for
//! byte, or be listed in [`EXCEPTIONS`] with the reason (docs/design.md, "Differences from
//! Dovecot", lists the same cases).
//!
//! Re-recording the fixtures (root, Debian's dovecot-imapd installed; runs a private Dovecot on
//! loopback through `benches/dovecot.sh`):
//!
//! ```text
//! python3 tests/fixtures/mime/make_corpus.py          # only when the corpus changed
//! cargo test -j 1 --test dovecot_oracle -- --ignored record_dovecot_fixtures
//! ```
//!
//! Fixture format, one logical line each (a line runs on through the literals it announces):
//! `# comment`, `C <command without tag>`, the untagged answers (`* 1 FETCH ...`) exactly as
//! Dovecot sent them, and `= <status>`: the tagged status word plus its response code, if any
//! (the free text carries timings and is dropped).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Client, Server};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mime");

/// How an excepted answer differs from Dovecot's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Diff {
    /// The same strings in another wire form (quoted string, literal, literal8): checked by
    /// comparing both answers with every string in one canonical form.
    Form,
    /// A different answer.
    Answer,
}

const LITERAL8: &str = "Dovecot sends every transfer-decoded part as literal8 (~{n}); RFC 3516 \
    §4.3: 8bit data without NUL SHOULD be sent as a string, and postfach uses literal8 only for \
    data outside the RFC 2045 §2.8 8bit domain (NUL, bare CR or LF, lines over 998 octets)";
const NO_BLANK_LINE: &str = "message with no body and no blank line: RFC 3501 §6.4.5 includes \
    the blank line in all header fetches except in this case; Dovecot adds it to HEADER.FIELDS \
    (but not to HEADER)";
const NO_SUCH_PART: &str = "a part that does not exist: postfach answers NIL (nstring, RFC \
    3501 §9), Dovecot an empty string";
const GARBAGE_BOUNDARY: &str = "`--g27 trailing garbage` is not a delimiter line (RFC 2046 \
    §5.1.1: only transport padding may follow the boundary), so the multipart has one body \
    part (`two`); Dovecot accepts any text after the boundary and sees two parts";

/// Where postfach deliberately answers differently from Dovecot 2.3: (message, FETCH items as
/// recorded after `FETCH 1 `, kind, reason). Every entry must still differ (a stale entry
/// fails), and docs/design.md "Differences from Dovecot" lists the same cases.
const EXCEPTIONS: &[(&str, &[&str], Diff, &str)] = &[
    (
        "01-plain",
        &[
            "(BODY.PEEK[2])",
            "(BODY.PEEK[1.2])",
            "(BODY.PEEK[2.MIME])",
            "(BINARY.PEEK[2])",
        ],
        Diff::Answer,
        NO_SUCH_PART,
    ),
    (
        "02-alternative",
        &["(BINARY.PEEK[1])", "(BINARY.PEEK[2])"],
        Diff::Form,
        LITERAL8,
    ),
    ("08-latin1-qp", &["(BINARY.PEEK[1])"], Diff::Form, LITERAL8),
    ("11-bare-lf", &["(BINARY.PEEK[2])"], Diff::Form, LITERAL8),
    (
        "18-base64-qp",
        &["(BINARY.PEEK[1])", "(BINARY.PEEK[2])"],
        Diff::Form,
        LITERAL8,
    ),
    ("23-signed", &["(BINARY.PEEK[1])"], Diff::Form, LITERAL8),
    (
        "05-rfc2047-headers",
        &["(ENVELOPE)"],
        Diff::Form,
        "Dovecot sends the 81-octet subject as a literal, postfach as a quoted string",
    ),
    (
        "06-rfc2231-filenames",
        &["(BINARY.SIZE[3])"],
        Diff::Answer,
        "Dovecot bug: BINARY.SIZE[3] is 18446744073709551606 (a wrapped negative number); \
         the 7bit part has 21 octets, as Dovecot's own BINARY[3] shows",
    ),
    (
        "07-broken-mime",
        &["(BODYSTRUCTURE)", "(BODY)"],
        Diff::Answer,
        "an invalid Content-Type (`text/`, `; charset=utf-8`) means text/plain; \
         charset=us-ascii (RFC 2045 §5.2), where Dovecot sends type and subtype \"\" \"\"; an \
         unterminated quoted value runs to the end of the field (Dovecot drops it); a \
         malformed parameter (`= ;`) is skipped, not sent as \"\" \"\"; a Content-Disposition \
         without a type is NIL, not (\"\" ...)",
    ),
    (
        "07-broken-mime",
        &[
            "(BINARY.SIZE[1])",
            "(BINARY.SIZE[2])",
            "(BINARY.SIZE[3])",
            "(BINARY.PEEK[4])",
            "(BINARY.SIZE[4])",
            "(BINARY.SIZE[5])",
        ],
        Diff::Answer,
        "an empty Content-Transfer-Encoding counts as absent, i.e. 7bit (RFC 2045 §6.1); \
         Dovecot answers NO [UNKNOWN-CTE] for that part, and then for the BINARY.SIZE of every \
         part of the message",
    ),
    (
        "13-header-only",
        &["(BODY.PEEK[HEADER.FIELDS (From Subject)])"],
        Diff::Answer,
        NO_BLANK_LINE,
    ),
    (
        "15-long-folded",
        &["(ENVELOPE)"],
        Diff::Answer,
        "unfolding removes CRLF only (RFC 5322 §2.2.3), so the folded subject keeps its TAB; \
         Dovecot turns it into a space (and sends the long subject as a literal)",
    ),
    (
        "17-empty-parts",
        &["(BODY.PEEK[5])"],
        Diff::Answer,
        "the CRLF after a nested close delimiter (`--inner17--`) precedes the outer delimiter \
         and belongs to it (RFC 2046 §5.1.1); Dovecot counts it into part 5",
    ),
    (
        "19-unknown-cte",
        &["(BINARY.SIZE[1])"],
        Diff::Answer,
        "part 1 is 7bit; Dovecot answers NO [UNKNOWN-CTE] for the BINARY.SIZE of every part \
         once one part (2, x-uuencode) has an unknown encoding",
    ),
    (
        "19-unknown-cte",
        &["(BINARY.PEEK[2])", "(BINARY.SIZE[2])"],
        Diff::Answer,
        "both answer NO [UNKNOWN-CTE]; Dovecot also sends an untagged `* 1 FETCH (UID 1)`",
    ),
    (
        "25-encoded-rfc822",
        &["(BODYSTRUCTURE)", "(BODY)", "(BODY.PEEK[1])"],
        Diff::Answer,
        "a base64 message/rfc822 part (its encapsulated header never ends): the CRLF before \
         the next delimiter belongs to the delimiter (RFC 2046 §5.1.1), so the part has 90 \
         octets and 1 line; Dovecot counts the CRLF in (92 octets, 2 lines)",
    ),
    (
        "25-encoded-rfc822",
        &[
            "(BODY.PEEK[1.HEADER.FIELDS (From Subject)])",
            "(BODY.PEEK[3.HEADER.FIELDS (From Subject)])",
            "(BODY.PEEK[3.HEADER.FIELDS.NOT (Received)])",
        ],
        Diff::Answer,
        NO_BLANK_LINE,
    ),
    (
        "25-encoded-rfc822",
        &["(BODY.PEEK[1.HEADER.FIELDS.NOT (Received)])"],
        Diff::Answer,
        "Dovecot bug: the answer runs past the end of part 1 into the next part's delimiter \
         and header (`--w25`, `Content-Type: message/global`)",
    ),
    (
        "26-duplicate-headers",
        &["(ENVELOPE)"],
        Diff::Answer,
        "duplicate Subject and From fields (RFC 5322 §3.6 allows one each): the first one \
         wins; Dovecot takes the last Subject and merges both From fields",
    ),
    (
        "26-duplicate-headers",
        &["(BODYSTRUCTURE)", "(BODY)"],
        Diff::Answer,
        "`Content-Type: text` has no subtype, so it is invalid and means text/plain (RFC 2045 \
         §5.2); Dovecot sends \"text\" \"\"",
    ),
    (
        "27-boundary-garbage",
        &[
            "(BODYSTRUCTURE)",
            "(BODY)",
            "(BODY.PEEK[1])",
            "(BODY.PEEK[1]<0.10>)",
            "(BINARY.PEEK[1])",
            "(BODY.PEEK[2])",
            "(BODY.PEEK[2.MIME])",
            "(BODY.PEEK[2]<0.10>)",
            "(BINARY.PEEK[2])",
            "(BINARY.SIZE[2])",
        ],
        Diff::Answer,
        GARBAGE_BOUNDARY,
    ),
];

/// The corpus messages, sorted by name (without extension).
fn corpus() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(DIR)
        .expect("fixture dir")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".eml").map(str::to_string)
        })
        .collect();
    names.sort();
    assert!(names.len() >= 25, "corpus too small: {names:?}");
    names
}

fn path(name: &str, ext: &str) -> PathBuf {
    Path::new(DIR).join(format!("{name}.{ext}"))
}

/// One recorded exchange.
#[derive(Debug)]
struct Exchange {
    /// The FETCH items, e.g. `(BODY.PEEK[1.MIME])`.
    items: String,
    /// Untagged answers, raw (literals included, final CRLF included).
    untagged: Vec<Vec<u8>>,
    /// The tagged status word and response code, e.g. `OK` or `NO [UNKNOWN-CTE]`.
    status: String,
}

/// Splits `buf` into logical lines: each ends at a CRLF (or LF) that does not end a `{n}` /
/// `~{n}` literal announcement.
fn logical_lines(buf: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let (mut start, mut pos) = (0, 0);
    while pos < buf.len() {
        let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') else {
            out.push(&buf[start..]);
            return out;
        };
        let line_end = pos + nl + 1;
        let body = buf[pos..line_end]
            .strip_suffix(b"\r\n")
            .or_else(|| buf[pos..line_end].strip_suffix(b"\n"))
            .unwrap();
        if let Some(n) = literal_len(body) {
            pos = line_end + n;
            continue;
        }
        out.push(&buf[start..line_end]);
        start = line_end;
        pos = line_end;
    }
    if start < buf.len() {
        out.push(&buf[start..]);
    }
    out
}

/// The length of the literal a line announces at its end.
fn literal_len(line: &[u8]) -> Option<usize> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    std::str::from_utf8(&inner[open + 1..]).ok()?.parse().ok()
}

fn parse_fixture(name: &str) -> Vec<Exchange> {
    let buf = std::fs::read(path(name, "dovecot"))
        .unwrap_or_else(|e| panic!("{name}.dovecot: {e} (record the fixtures, see top of file)"));
    let mut out: Vec<Exchange> = Vec::new();
    for line in logical_lines(&buf) {
        if let Some(cmd) = line.strip_prefix(b"C FETCH 1 ") {
            out.push(Exchange {
                items: String::from_utf8(cmd.trim_ascii_end().to_vec()).unwrap(),
                untagged: Vec::new(),
                status: String::new(),
            });
        } else if line.starts_with(b"* ") {
            out.last_mut()
                .expect("answer before command")
                .untagged
                .push(line.to_vec());
        } else if let Some(st) = line.strip_prefix(b"= ") {
            let st = String::from_utf8(st.trim_ascii_end().to_vec()).unwrap();
            out.last_mut().expect("status before command").status = st;
        } else {
            assert!(
                line.starts_with(b"#") || line.trim_ascii().is_empty(),
                "{name}.dovecot: unexpected line {:?}",
                String::from_utf8_lossy(line)
            );
        }
    }
    out
}

/// The status word and response code of a tagged line (`t3 NO [UNKNOWN-CTE] text` →
/// `NO [UNKNOWN-CTE]`).
fn status_of(tagged: &[u8]) -> String {
    let s = String::from_utf8_lossy(tagged);
    let mut it = s.trim_end().splitn(3, ' ');
    let (_tag, word, rest) = (it.next(), it.next().unwrap_or(""), it.next().unwrap_or(""));
    match rest
        .strip_prefix('[')
        .and_then(|r| r.find(']').map(|i| &r[..i]))
    {
        Some(code) => format!("{word} [{code}]"),
        None => word.to_string(),
    }
}

/// Runs `FETCH 1 items` and splits the answer like a fixture entry.
fn ask(c: &mut Client, items: &str) -> (Vec<Vec<u8>>, String) {
    let mut lines = c.cmd_raw(&format!("FETCH 1 {items}"));
    let tagged = lines.pop().unwrap();
    (lines, status_of(&tagged))
}

/// Creates mailbox `m{name}` with the message as its only one and EXAMINEs it.
fn load(c: &mut Client, name: &str) {
    let raw = std::fs::read(path(name, "eml")).unwrap();
    let mailbox = format!("m{name}");
    c.ok(&format!("CREATE {mailbox}"));
    let tagged = c.append(&mailbox, "", &raw);
    assert!(tagged.contains(" OK "), "{name}: {tagged}");
    c.ok(&format!("EXAMINE {mailbox}"));
}

fn show(lines: &[Vec<u8>]) -> String {
    lines
        .iter()
        .map(|l| format!("    {}", String::from_utf8_lossy(l).escape_debug()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn postfach_matches_dovecot_fixtures() {
    let server = Server::shared(&[]);
    let user = server.new_user();
    let mut c = server.login(&user);
    let mut failures = Vec::new();
    let mut used: BTreeSet<(String, String)> = BTreeSet::new();
    let (mut equal, mut excepted) = (0, 0);
    for name in corpus() {
        let exchanges = parse_fixture(&name);
        assert!(
            exchanges.len() >= 8,
            "{name}: only {} exchanges",
            exchanges.len()
        );
        load(&mut c, &name);
        for ex in &exchanges {
            let (untagged, status) = ask(&mut c, &ex.items);
            let same = untagged == ex.untagged && status == ex.status;
            let exception = EXCEPTIONS
                .iter()
                .find(|(m, items, ..)| *m == name && items.contains(&ex.items.as_str()));
            match (same, exception) {
                (true, None) => equal += 1,
                (false, Some((_, _, Diff::Form, _)))
                    if status != ex.status || canonical(&untagged) != canonical(&ex.untagged) =>
                {
                    failures.push(format!(
                        "{name} FETCH 1 {}: listed as a wire-form difference, but the strings \
                         differ:\n  dovecot ({}):\n{}\n  postfach ({status}):\n{}",
                        ex.items,
                        ex.status,
                        show(&ex.untagged),
                        show(&untagged)
                    ))
                }
                (false, Some(_)) => {
                    excepted += 1;
                    used.insert((name.clone(), ex.items.clone()));
                }
                (true, Some((.., why))) => failures.push(format!(
                    "{name} FETCH 1 {}: now equal to Dovecot, remove the exception ({why})",
                    ex.items
                )),
                (false, None) => failures.push(format!(
                    "{name} FETCH 1 {}:\n  dovecot ({}):\n{}\n  postfach ({status}):\n{}",
                    ex.items,
                    ex.status,
                    show(&ex.untagged),
                    show(&untagged)
                )),
            }
        }
    }
    // Every exception must name a recorded exchange.
    for (m, items, ..) in EXCEPTIONS {
        for it in *items {
            if !used.contains(&(m.to_string(), it.to_string())) {
                let known = failures
                    .iter()
                    .any(|f| f.starts_with(&format!("{m} FETCH 1 {it}:")));
                if !known {
                    failures.push(format!(
                        "exception ({m}, {it}) matches no differing exchange"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences from Dovecot ({equal} equal, {excepted} listed exceptions):\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    eprintln!("dovecot oracle: {equal} answers equal, {excepted} listed exceptions");
}

/// The answer lines with every string (quoted, literal or literal8) in one form, so that
/// answers differing only in how strings are sent compare equal.
fn canonical(lines: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in lines {
        let mut i = 0;
        while i < line.len() {
            let b = line[i];
            let literal = match b {
                b'{' => Some(i),
                b'~' if line.get(i + 1) == Some(&b'{') => Some(i + 1),
                _ => None,
            }
            .and_then(|open| {
                let close = open + line[open..].iter().position(|&c| c == b'}')?;
                let n: usize = std::str::from_utf8(&line[open + 1..close])
                    .ok()?
                    .parse()
                    .ok()?;
                line[close + 1..]
                    .starts_with(b"\r\n")
                    .then_some((close + 3, n))
            });
            if let Some((start, n)) = literal {
                push_string(&mut out, &line[start..(start + n).min(line.len())]);
                i = start + n;
            } else if b == b'"' {
                let mut v = Vec::new();
                i += 1;
                while i < line.len() && line[i] != b'"' {
                    if line[i] == b'\\' {
                        i += 1;
                    }
                    if let Some(&c) = line.get(i) {
                        v.push(c);
                    }
                    i += 1;
                }
                push_string(&mut out, &v);
                i += 1;
            } else {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

fn push_string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend_from_slice(format!("<string {}:", s.len()).as_bytes());
    out.extend_from_slice(s);
    out.push(b'>');
}

#[test]
fn canonical_forms_compare_strings() {
    let c = |s: &[u8]| canonical(&[s.to_vec()]);
    assert_eq!(c(b"(\"a\\\"b\" x)"), c(b"({3}\r\na\"b x)"));
    assert_eq!(c(b"(BINARY[1] ~{2}\r\n\0a)"), c(b"(BINARY[1] {2}\r\n\0a)"));
    assert_ne!(c(b"(\"ab\")"), c(b"(\"a b\")"));
    assert_ne!(c(b"(\"ab\")"), c(b"(ab)"));
}

#[test]
fn fixture_reader_handles_literals() {
    let buf = b"# c\r\nC FETCH 1 (BODY.PEEK[1])\r\n* 1 FETCH (BODY[1] {5}\r\na\r\nb\n)\r\n= OK\r\n";
    let lines = logical_lines(buf);
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[2], b"* 1 FETCH (BODY[1] {5}\r\na\r\nb\n)\r\n");
    assert_eq!(literal_len(b"* 1 FETCH (BINARY[1] ~{12}"), Some(12));
    assert_eq!(
        status_of(b"t9 NO [UNKNOWN-CTE] cannot decode\r\n"),
        "NO [UNKNOWN-CTE]"
    );
    assert_eq!(
        status_of(b"t9 OK Fetch completed (0.001 + 0.000 secs).\r\n"),
        "OK"
    );
}

// ------------------------------------------------------------------------------- recorder

/// A parsed IMAP value (just enough for BODYSTRUCTURE).
#[derive(Debug, Clone)]
enum Val {
    Nil,
    Num,
    Str(Vec<u8>),
    List(Vec<Val>),
}

fn parse_val(s: &[u8], pos: &mut usize) -> Val {
    while s[*pos] == b' ' {
        *pos += 1;
    }
    match s[*pos] {
        b'(' => {
            *pos += 1;
            let mut items = Vec::new();
            loop {
                while s[*pos] == b' ' {
                    *pos += 1;
                }
                if s[*pos] == b')' {
                    *pos += 1;
                    return Val::List(items);
                }
                items.push(parse_val(s, pos));
            }
        }
        b'"' => {
            *pos += 1;
            let mut v = Vec::new();
            while s[*pos] != b'"' {
                if s[*pos] == b'\\' {
                    *pos += 1;
                }
                v.push(s[*pos]);
                *pos += 1;
            }
            *pos += 1;
            Val::Str(v)
        }
        b'{' => {
            let close = *pos + s[*pos..].iter().position(|&b| b == b'}').unwrap();
            let n: usize = std::str::from_utf8(&s[*pos + 1..close])
                .unwrap()
                .parse()
                .unwrap();
            let start = close + 3; // "}\r\n"
            *pos = start + n;
            Val::Str(s[start..start + n].to_vec())
        }
        b'N' => {
            *pos += 3;
            Val::Nil
        }
        _ => {
            while s[*pos].is_ascii_digit() {
                *pos += 1;
            }
            Val::Num
        }
    }
}

fn is(v: &Val, want: &str) -> bool {
    matches!(v, Val::Str(s) if s.eq_ignore_ascii_case(want.as_bytes()))
}

/// Part kinds for choosing the section commands.
enum Kind {
    Multipart,
    Message,
    Leaf,
}

/// Collects (part number, kind) for a body structure, depth first. `prefix` is the number of
/// the enclosing part; a non-multipart body of a message is part `prefix.1`.
fn parts(body: &Val, prefix: &str, out: &mut Vec<(String, Kind)>) {
    let Val::List(items) = body else { return };
    let num = |i: usize| {
        if prefix.is_empty() {
            i.to_string()
        } else {
            format!("{prefix}.{i}")
        }
    };
    if matches!(items.first(), Some(Val::List(_))) {
        for (i, child) in items
            .iter()
            .take_while(|v| matches!(v, Val::List(_)))
            .enumerate()
        {
            let n = num(i + 1);
            walk(child, &n, out);
        }
    } else {
        walk(body, &num(1), out);
    }
}

/// Records part `n` and the parts inside it.
fn walk(body: &Val, n: &str, out: &mut Vec<(String, Kind)>) {
    let Val::List(items) = body else { return };
    if matches!(items.first(), Some(Val::List(_))) {
        out.push((n.to_string(), Kind::Multipart));
        parts(body, n, out);
    } else if is(&items[0], "message") && is(&items[1], "rfc822") && items.len() > 8 {
        out.push((n.to_string(), Kind::Message));
        parts(&items[8], n, out);
    } else {
        out.push((n.to_string(), Kind::Leaf));
    }
}

/// Items asked of one message on top of [`commands_for`]'s: parts that do not exist.
const EXTRA: &[(&str, &[&str])] = &[(
    "01-plain",
    &[
        "(BODY.PEEK[2])",
        "(BODY.PEEK[1.2])",
        "(BODY.PEEK[2.MIME])",
        "(BINARY.PEEK[2])",
        "(BINARY.SIZE[2])",
    ],
)];

/// The FETCH item lists asked for one message, given Dovecot's BODYSTRUCTURE.
fn commands_for(bodystructure: &Val) -> Vec<String> {
    let mut cmds: Vec<String> = [
        "(ENVELOPE)",
        "(BODYSTRUCTURE)",
        "(BODY)",
        "(RFC822.SIZE)",
        "(BODY.PEEK[])",
        "(BODY.PEEK[HEADER])",
        "(BODY.PEEK[TEXT])",
        "(BODY.PEEK[HEADER.FIELDS (From Subject)])",
        "(BODY.PEEK[HEADER.FIELDS.NOT (Received)])",
        "(BODY.PEEK[]<0.10>)",
        "(BODY.PEEK[TEXT]<0.10>)",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut list = Vec::new();
    parts(bodystructure, "", &mut list);
    for (n, kind) in list {
        cmds.push(format!("(BODY.PEEK[{n}])"));
        cmds.push(format!("(BODY.PEEK[{n}.MIME])"));
        match kind {
            Kind::Multipart => {}
            Kind::Message => {
                cmds.push(format!("(BODY.PEEK[{n}.HEADER])"));
                cmds.push(format!("(BODY.PEEK[{n}.TEXT])"));
                cmds.push(format!("(BODY.PEEK[{n}.HEADER.FIELDS (From Subject)])"));
                cmds.push(format!("(BODY.PEEK[{n}.HEADER.FIELDS.NOT (Received)])"));
            }
            Kind::Leaf => {
                cmds.push(format!("(BODY.PEEK[{n}]<0.10>)"));
                cmds.push(format!("(BINARY.PEEK[{n}])"));
                cmds.push(format!("(BINARY.SIZE[{n}])"));
            }
        }
    }
    cmds
}

/// A private Dovecot from `benches/dovecot.sh`, stopped and removed on drop.
struct Dovecot {
    port: u16,
    pid: u32,
    dir: PathBuf,
}

impl Dovecot {
    fn start() -> Dovecot {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/dovecot.sh");
        let out = Command::new("bash")
            .arg(script)
            .output()
            .expect("run dovecot.sh");
        assert!(
            out.status.success(),
            "dovecot.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        let last = stdout.lines().last().expect("PORT PID MAILDIR");
        let mut it = last.split(' ');
        let port = it.next().unwrap().parse().unwrap();
        let pid = it.next().unwrap().parse().unwrap();
        let maildir = PathBuf::from(it.next().unwrap());
        Dovecot {
            port,
            pid,
            dir: maildir.parent().unwrap().to_path_buf(),
        }
    }

    fn version() -> String {
        let out = Command::new("/usr/sbin/dovecot")
            .arg("--version")
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
        std::thread::sleep(std::time::Duration::from_millis(300));
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Records `NN-name.dovecot` for every corpus message from a private Dovecot (see the top of
/// this file for how to run it).
#[test]
#[ignore = "records the fixtures from a real Dovecot; run by hand"]
fn record_dovecot_fixtures() {
    let dovecot = Dovecot::start();
    let version = Dovecot::version();
    let mut c = Client::connect(dovecot.port);
    c.ok("LOGIN benchuser benchpass");
    for name in corpus() {
        load(&mut c, &name);
        let (bs, status) = ask(&mut c, "(BODYSTRUCTURE)");
        assert_eq!(status, "OK", "{name}");
        let line = &bs[0];
        let at = line
            .windows(14)
            .position(|w| w == b"BODYSTRUCTURE ")
            .unwrap()
            + 14;
        let structure = parse_val(line, &mut { at });
        let mut out = format!(
            "# Dovecot {version} answers for {name}.eml, recorded by \
             tests/dovecot_oracle.rs record_dovecot_fixtures\r\n"
        )
        .into_bytes();
        let mut cmds = commands_for(&structure);
        for (m, extra) in EXTRA {
            if *m == name {
                cmds.extend(extra.iter().map(|e| e.to_string()));
            }
        }
        for items in cmds {
            let (untagged, status) = ask(&mut c, &items);
            out.extend_from_slice(format!("C FETCH 1 {items}\r\n").as_bytes());
            for l in untagged {
                out.extend_from_slice(&l);
            }
            out.extend_from_slice(format!("= {status}\r\n").as_bytes());
        }
        std::fs::write(path(&name, "dovecot"), out).unwrap();
    }
    c.cmd("LOGOUT");
}
