//! Whole-module tests: exact ENVELOPE / BODYSTRUCTURE output (expected
//! strings worked out by hand from RFC 3501 §7.4.2), sections, BINARY
//! decoding, SEARCH text, the stored encoding and robustness.

use super::*;

/// The server stores messages with CRLF line endings.
pub(super) fn crlf(s: &str) -> Vec<u8> {
    s.replace("\r\n", "\n").replace('\n', "\r\n").into_bytes()
}

pub(super) fn bodystructure(m: &MessageMeta, ext: bool) -> String {
    let mut out = Vec::new();
    write_bodystructure(m, ext, &mut out);
    String::from_utf8(out).unwrap()
}

pub(super) fn envelope(m: &MessageMeta) -> String {
    let mut out = Vec::new();
    write_envelope(m, &mut out);
    String::from_utf8(out).unwrap()
}

/// FETCH BODY[section] data as the server would produce it.
pub(super) fn fetch(
    raw: &[u8],
    m: &MessageMeta,
    part: &[u32],
    text: SectionText,
) -> Option<Vec<u8>> {
    let section = Section {
        part: part.to_vec(),
        text,
    };
    let get = |r: std::ops::Range<u64>| raw[r.start as usize..r.end as usize].to_vec();
    Some(match resolve_section(m, &section)? {
        SectionData::Range(r) => get(r),
        SectionData::FilterHeader { range, not, fields } => {
            let mut out = Vec::new();
            filter_header(&get(range), &fields, not, &mut out);
            out
        }
        SectionData::Empty => Vec::new(),
    })
}

pub(super) fn fields(names: &[&str]) -> Vec<Vec<u8>> {
    names.iter().map(|n| n.as_bytes().to_vec()).collect()
}

pub(super) fn roundtrip(m: &MessageMeta) {
    let mut buf = Vec::new();
    m.encode(&mut buf);
    assert_eq!(buf[0], FORMAT_VERSION);
    assert_eq!(MessageMeta::decode(&buf).as_ref(), Some(m));
}

pub(super) const ALTERNATIVE: &str = "From: \"Doe, John\" <john@example.com>
To: Mary Smith <mary@example.net>, jane@example.org (Jane Roe)
Subject: Lunch?
Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)
Message-ID: <B27397-0100000@cac.washington.edu>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary=\"XyZ\"

preamble
--XyZ
Content-Type: text/plain; charset=ISO-8859-1
Content-Transfer-Encoding: quoted-printable

Caf=E9 at noon?
See you
--XyZ
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: 8bit

<p>Café at noon?</p>
--XyZ--
epilogue
";

#[test]
fn multipart_alternative() {
    let raw = crlf(ALTERNATIVE);
    let m = analyze(&raw);
    assert_eq!(
        envelope(&m),
        "(\"Mon, 7 Feb 1994 21:52:25 -0800 (PST)\" \"Lunch?\" \
         ((\"Doe, John\" NIL \"john\" \"example.com\")) \
         ((\"Doe, John\" NIL \"john\" \"example.com\")) \
         ((\"Doe, John\" NIL \"john\" \"example.com\")) \
         ((\"Mary Smith\" NIL \"mary\" \"example.net\")(\"Jane Roe\" NIL \"jane\" \"example.org\")) \
         NIL NIL NIL \"<B27397-0100000@cac.washington.edu>\")"
    );
    assert_eq!(
        bodystructure(&m, true),
        "((\"text\" \"plain\" (\"charset\" \"ISO-8859-1\") NIL NIL \"quoted-printable\" 24 1 NIL NIL NIL NIL)\
         (\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"8bit\" 21 0 NIL NIL NIL NIL) \
         \"alternative\" (\"boundary\" \"XyZ\") NIL NIL NIL)"
    );
    assert_eq!(
        bodystructure(&m, false),
        "((\"text\" \"plain\" (\"charset\" \"ISO-8859-1\") NIL NIL \"quoted-printable\" 24 1)\
         (\"text\" \"html\" (\"charset\" \"utf-8\") NIL NIL \"8bit\" 21 0) \"alternative\")"
    );
    assert_eq!(m.sent_date(), Some(760_686_745));
    assert_eq!(m.sent_day(), Some(760_686_745 / 86_400 - 1));
    let header_len = ALTERNATIVE.find("\n\n").unwrap() + 2;
    assert_eq!(m.header_len(), (header_len + 8) as u64); // 8 lines gain a CR
    assert_eq!(m.message_len(), raw.len() as u64);

    assert_eq!(
        fetch(&raw, &m, &[1], SectionText::Full).unwrap(),
        b"Caf=E9 at noon?\r\nSee you"
    );
    assert_eq!(
        fetch(&raw, &m, &[2], SectionText::Mime).unwrap(),
        b"Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
    );
    assert_eq!(
        fetch(&raw, &m, &[], SectionText::Header).unwrap(),
        &raw[..m.header_len() as usize]
    );
    assert_eq!(fetch(&raw, &m, &[], SectionText::Full).unwrap(), raw);
    let text = fetch(&raw, &m, &[], SectionText::Text).unwrap();
    assert!(
        text.starts_with(b"preamble\r\n--XyZ\r\n") && text.ends_with(b"--XyZ--\r\nepilogue\r\n")
    );
    assert_eq!(
        fetch(
            &raw,
            &m,
            &[],
            SectionText::HeaderFields {
                not: false,
                fields: fields(&["SUBJECT", "x-none", "to"])
            }
        )
        .unwrap(),
        crlf("To: Mary Smith <mary@example.net>, jane@example.org (Jane Roe)\nSubject: Lunch?\n\n")
    );
    assert_eq!(fetch(&raw, &m, &[3], SectionText::Full), None);

    // BINARY[1]: quoted-printable ISO-8859-1.
    assert_eq!(
        part_encoding(&m, &[1]),
        Some(TransferEncoding::QuotedPrintable)
    );
    let r = match resolve_section(
        &m,
        &Section {
            part: vec![1],
            text: SectionText::Full,
        },
    ) {
        Some(SectionData::Range(r)) => r,
        other => panic!("{other:?}"),
    };
    let body = &raw[r.start as usize..r.end as usize];
    assert_eq!(
        decode_transfer(TransferEncoding::QuotedPrintable, body).unwrap(),
        b"Caf\xe9 at noon?\r\nSee you"
    );

    // SEARCH BODY finds the non-ASCII term in both parts, case-insensitively.
    let body = search_text(&raw, &m, SearchField::Body).unwrap();
    assert!(body.contains("Café at noon?\r\nSee you"), "{body:?}");
    assert!(contains_ci(&body, "CAFÉ AT NOON"));
    assert!(!body.contains("<p>"), "html is converted to text: {body:?}");
    assert!(!body.contains("preamble") && !body.contains("epilogue"));
    let from = search_text(&raw, &m, SearchField::Address(b"From")).unwrap();
    assert_eq!(from, "Doe, John <john@example.com>");
    let to = search_text(&raw, &m, SearchField::Address(b"to")).unwrap();
    assert_eq!(
        to,
        "Mary Smith <mary@example.net>, Jane Roe <jane@example.org>"
    );
    assert_eq!(search_text(&raw, &m, SearchField::Address(b"cc")), None);
    roundtrip(&m);
}

pub(super) const MIXED: &str = "From: =?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@dkuug.dk>
To: undisclosed-recipients:;
Subject: =?UTF-8?B?SGVsbG8gV8O2cmxk?=
Content-Type: multipart/mixed; boundary=b1

--b1

Text with no MIME header.
--b1
Content-Type: application/pdf; name=\"=?UTF-8?Q?r=C3=A9sum=C3=A9.pdf?=\"
Content-Disposition: attachment;
 filename*0*=UTF-8''r%C3%A9; filename*1*=sum%C3%A9; filename*2=\".pdf\"
Content-Transfer-Encoding: base64
Content-ID: <part2@example>
Content-Description: CV

JVBERi0x
LjQK
--b1--
";

#[test]
fn multipart_mixed_with_encoded_attachment_name() {
    let raw = crlf(MIXED);
    let m = analyze(&raw);
    let keld = "(\"=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=\" NIL \"keld\" \"dkuug.dk\")";
    assert_eq!(
        envelope(&m),
        format!(
            "(NIL \"=?UTF-8?B?SGVsbG8gV8O2cmxk?=\" ({keld}) ({keld}) ({keld}) \
             ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) NIL NIL NIL NIL)"
        )
    );
    assert_eq!(
        bodystructure(&m, true),
        "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 25 0 NIL NIL NIL NIL)\
         (\"application\" \"pdf\" (\"name\" \"=?UTF-8?Q?r=C3=A9sum=C3=A9.pdf?=\") \"<part2@example>\" \"CV\" \
         \"base64\" 14 NIL (\"attachment\" (\"filename*\" \"UTF-8''r%C3%A9sum%C3%A9.pdf\")) NIL NIL) \
         \"mixed\" (\"boundary\" \"b1\") NIL NIL NIL)"
    );
    // A part without MIME header: its MIME header is the bare blank line.
    assert_eq!(fetch(&raw, &m, &[1], SectionText::Mime).unwrap(), b"\r\n");
    assert_eq!(
        fetch(&raw, &m, &[1], SectionText::Full).unwrap(),
        b"Text with no MIME header."
    );
    // HEADER of a part that is not message/rfc822 is empty.
    assert_eq!(
        resolve_section(
            &m,
            &Section {
                part: vec![2],
                text: SectionText::Header
            }
        ),
        Some(SectionData::Empty)
    );

    assert_eq!(part_encoding(&m, &[2]), Some(TransferEncoding::Base64));
    let body = fetch(&raw, &m, &[2], SectionText::Full).unwrap();
    assert_eq!(
        decode_transfer(TransferEncoding::Base64, &body).unwrap(),
        b"%PDF-1.4\n"
    );
    assert_eq!(part_encoding(&m, &[]), Some(TransferEncoding::Binary));
    assert_eq!(part_encoding(&m, &[3]), None);

    let subject = search_text(&raw, &m, SearchField::Header(b"SUBJECT")).unwrap();
    assert_eq!(subject, "Hello Wörld");
    assert!(contains_ci(&subject, "WÖRLD"));
    let from = search_text(&raw, &m, SearchField::Address(b"from")).unwrap();
    assert_eq!(from, "Keld Jørn Simonsen <keld@dkuug.dk>");
    assert_eq!(
        search_text(&raw, &m, SearchField::Address(b"to")).unwrap(),
        "undisclosed-recipients:"
    );
    let body = search_text(&raw, &m, SearchField::Body).unwrap();
    assert!(
        body.contains("Text with no MIME header.") && !body.contains("JVBER"),
        "{body:?}"
    );
    let text = search_text(&raw, &m, SearchField::Text).unwrap();
    assert!(contains_ci(&text, "hello wörld") && contains_ci(&text, "no mime header"));
    roundtrip(&m);
}

pub(super) const NESTED: &str = "From: outer@example.com
Subject: outer
Content-Type: multipart/mixed; boundary=o

--o
Content-Type: text/plain

outer text
--o
Content-Type: message/rfc822

From: middle@example.com
Subject: middle
Content-Type: multipart/mixed; boundary=m

--m
Content-Type: text/plain

middle text
--m
Content-Type: message/rfc822
Content-Disposition: inline

From: inner@example.com
Subject: inner

inner body
--m--
--o--
";

#[test]
fn message_rfc822_nested_twice() {
    let raw = crlf(NESTED);
    let m = analyze(&raw);
    let who = |n: &str| format!("((NIL NIL \"{n}\" \"example.com\"))");
    let env = |s: &str| format!("(NIL \"{s}\" {0} {0} {0} NIL NIL NIL NIL NIL)", who(s));
    let text = |size: u32| {
        format!(
            "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" {size} 0 NIL NIL NIL NIL)"
        )
    };
    let expected = format!(
        "({}(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 260 {} ({}(\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 53 {} {} 3 \
         NIL (\"inline\" NIL) NIL NIL) \"mixed\" (\"boundary\" \"m\") NIL NIL NIL) 16 NIL NIL NIL NIL) \
         \"mixed\" (\"boundary\" \"o\") NIL NIL NIL)",
        text(10),
        env("middle"),
        text(11),
        env("inner"),
        text(10)
    );
    assert_eq!(bodystructure(&m, true), expected);
    assert_eq!(envelope(&m), env("outer"));

    let get = |part: &[u32], t: SectionText| fetch(&raw, &m, part, t);
    let middle_start = NESTED.find("From: middle").unwrap();
    let middle = crlf(&NESTED[middle_start..NESTED.find("\n--o--").unwrap()]);
    assert_eq!(get(&[2], SectionText::Full).unwrap(), middle);
    assert_eq!(get(&[2], SectionText::Header).unwrap(), &middle[..88]);
    assert_eq!(get(&[2], SectionText::Text).unwrap(), &middle[88..]);
    assert_eq!(get(&[2, 1], SectionText::Full).unwrap(), b"middle text");
    let inner = b"From: inner@example.com\r\nSubject: inner\r\n\r\ninner body";
    assert_eq!(get(&[2, 2], SectionText::Full).unwrap(), inner);
    assert_eq!(get(&[2, 2], SectionText::Header).unwrap(), &inner[..43]);
    assert_eq!(get(&[2, 2], SectionText::Text).unwrap(), b"inner body");
    assert_eq!(get(&[2, 2, 1], SectionText::Full).unwrap(), b"inner body");
    assert_eq!(get(&[2, 2, 1], SectionText::Mime).unwrap(), &inner[..43]);
    assert_eq!(
        get(&[2, 2], SectionText::Mime).unwrap(),
        b"Content-Type: message/rfc822\r\nContent-Disposition: inline\r\n\r\n"
    );
    assert_eq!(
        get(
            &[2],
            SectionText::HeaderFields {
                not: false,
                fields: fields(&["subject"])
            }
        )
        .unwrap(),
        b"Subject: middle\r\n\r\n"
    );
    assert_eq!(
        get(
            &[2, 2],
            SectionText::HeaderFields {
                not: true,
                fields: fields(&["FROM"])
            }
        )
        .unwrap(),
        b"Subject: inner\r\n\r\n"
    );
    assert_eq!(get(&[2, 2, 2], SectionText::Full), None);
    assert_eq!(get(&[2, 2, 1, 1], SectionText::Full), None);
    assert_eq!(get(&[1, 1], SectionText::Full), None);
    assert_eq!(get(&[0], SectionText::Full), None);
    assert_eq!(get(&[3], SectionText::Mime), None);
    assert_eq!(get(&[], SectionText::Mime), None);
    assert_eq!(get(&[2, 1], SectionText::Text).unwrap(), b"");

    // Attached messages' headers and text parts are searchable body text.
    let body = search_text(&raw, &m, SearchField::Body).unwrap();
    for needle in [
        "outer text",
        "middle text",
        "inner body",
        "Subject: inner",
        "From: middle@example.com",
    ] {
        assert!(body.contains(needle), "{needle} in {body:?}");
    }
    assert_eq!(
        search_text(&raw, &m, SearchField::Header(b"subject")).unwrap(),
        "outer"
    );
    roundtrip(&m);
}

pub(super) const ENVELOPE_HEAVY: &str = "From: Pete <pete@silly.example>
Sender: secretary@silly.example
Reply-To: \"Pete (home)\" <pete@home.example>
To: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;
Cc: <@route.example:user@host.example>, Who?
Bcc:
In-Reply-To: <1234@local.machine.example>
Message-ID: <5678.21-Nov-1997@example.com>
Subject: Re: =?ISO-8859-1?Q?a?= 
 folded
Date: Thu, 13 Feb 1969 23:32:54 -0330
Date: Fri, 14 Feb 1969 00:00:00 +0000

body
";

#[test]
fn envelope_groups_routes_defaults() {
    let raw = crlf(ENVELOPE_HEAVY);
    let m = analyze(&raw);
    assert_eq!(
        envelope(&m),
        "(\"Thu, 13 Feb 1969 23:32:54 -0330\" \"Re: =?ISO-8859-1?Q?a?=  folded\" \
         ((\"Pete\" NIL \"pete\" \"silly.example\")) ((NIL NIL \"secretary\" \"silly.example\")) \
         ((\"Pete (home)\" NIL \"pete\" \"home.example\")) \
         ((NIL NIL \"A Group\" NIL)(\"Ed Jones\" NIL \"c\" \"a.test\")(NIL NIL \"joe\" \"where.test\")\
         (\"John\" NIL \"jdoe\" \"one.test\")(NIL NIL NIL NIL)) \
         ((NIL \"@route.example\" \"user\" \"host.example\")(NIL NIL \"Who?\" \"MISSING_DOMAIN\")) \
         NIL \"<1234@local.machine.example>\" \"<5678.21-Nov-1997@example.com>\")"
    );
    assert_eq!(m.sent_date(), Some(-27_723_426));
    assert_eq!(m.sent_day(), Some(-322));
    assert_eq!(
        search_text(&raw, &m, SearchField::Header(b"Subject")).unwrap(),
        "Re: a folded"
    );
    assert_eq!(
        search_text(&raw, &m, SearchField::Header(b"bcc")).unwrap(),
        ""
    );
    assert_eq!(
        search_text(&raw, &m, SearchField::Header(b"x-missing")),
        None
    );
    let date = search_text(&raw, &m, SearchField::Header(b"date")).unwrap();
    assert_eq!(date.lines().count(), 2);
    let to = search_text(&raw, &m, SearchField::Address(b"to")).unwrap();
    assert_eq!(
        to,
        "A Group:, Ed Jones <c@a.test>, joe@where.test, John <jdoe@one.test>"
    );
    assert!(contains_ci(
        &search_text(&raw, &m, SearchField::Address(b"cc")).unwrap(),
        "who?"
    ));
    roundtrip(&m);
}

#[test]
fn eight_bit_and_raw_utf8_header() {
    let mut raw = crlf(
        "Subject: Grüße\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: 8bit\n\n",
    );
    raw.extend_from_slice(b"Gr\xfc\xdfe aus K\xf6ln\r\n\x80 5\r\n");
    let m = analyze(&raw);
    // Raw 8-bit header text cannot be a quoted string: the writer picks a literal.
    assert_eq!(
        envelope(&m),
        "(NIL {7}\r\nGrüße NIL NIL NIL NIL NIL NIL NIL NIL)"
    );
    assert_eq!(
        bodystructure(&m, true),
        "(\"text\" \"plain\" (\"charset\" \"iso-8859-1\") NIL NIL \"8bit\" 21 2 NIL NIL NIL NIL)"
    );
    let body = search_text(&raw, &m, SearchField::Body).unwrap();
    assert!(contains_ci(&body, "GRÜßE"), "{body:?}");
    assert!(contains_ci(&body, "KÖLN"));
    // mail-parser reads ISO-8859-1 as windows-1252, like browsers do.
    assert!(body.contains("€ 5"), "{body:?}");
    assert!(contains_ci(
        &search_text(&raw, &m, SearchField::Header(b"subject")).unwrap(),
        "GRÜẞE"
    ));
    roundtrip(&m);
}

#[test]
fn boundaries_that_prefix_each_other() {
    // Same output as Dovecot 2.3 gives for this message.
    let raw = crlf(
        "Content-Type: multipart/mixed; boundary=ab\n\n--ab\n\
         Content-Type: multipart/alternative; boundary=abc\n\n--abc\nContent-Type: text/plain\n\none\n\
         --abc\nContent-Type: text/html\n\ntwo\n--abc--\n--ab  \nContent-Type: text/plain\n\nthree\n--ab--\n",
    );
    let m = analyze(&raw);
    let text = |sub: &str, size: u32| {
        format!(
            "(\"text\" \"{sub}\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" {size} 0 NIL NIL NIL NIL)"
        )
    };
    assert_eq!(
        bodystructure(&m, true),
        format!(
            "(({}{} \"alternative\" (\"boundary\" \"abc\") NIL NIL NIL){} \"mixed\" (\"boundary\" \"ab\") NIL NIL NIL)",
            text("plain", 3),
            text("html", 3),
            text("plain", 5)
        )
    );
    assert_eq!(fetch(&raw, &m, &[1, 2], SectionText::Full).unwrap(), b"two");
    assert_eq!(fetch(&raw, &m, &[2], SectionText::Full).unwrap(), b"three");
    // BODY[1] of a multipart part: its whole body, delimiters included.
    let one = fetch(&raw, &m, &[1], SectionText::Full).unwrap();
    assert!(
        one.starts_with(b"--abc\r\n") && one.ends_with(b"two\r\n--abc--"),
        "{one:?}"
    );
    roundtrip(&m);
}

#[test]
fn encoding_is_compact() {
    let raw =
        crlf("From: a@b.example\nSubject: hi\nDate: Tue, 1 Jul 2003 10:52:37 +0200\n\nhello\n");
    let m = analyze(&raw);
    let mut buf = Vec::new();
    m.encode(&mut buf);
    assert!(buf.len() < 100, "{} bytes", buf.len());
    let raw = crlf(NESTED);
    let mut buf = Vec::new();
    analyze(&raw).encode(&mut buf);
    // Three envelopes and six parts for 437 bytes of mostly header.
    assert!(
        buf.len() * 5 < raw.len() * 3,
        "{} bytes for {}",
        buf.len(),
        raw.len()
    );
}

#[test]
fn extension_data_as_written() {
    // Same output as Dovecot 2.3 gives: case kept as written, defaults
    // lowercase, charset appended to text parts that lack one.
    let raw = crlf(
        "Content-Type: MULTIPART/alternative; boundary=\"XyZ\"; foo=bar

--XyZ
Content-Type: TEXT/Plain; CHARSET=ISO-8859-1; format=flowed
Content-Transfer-Encoding: Quoted-Printable

caf=E9 line1
line2
--XyZ
Content-Type: text/html
Content-Language: en, de
Content-Location: http://x/y
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==
Content-ID: <id1@x>
Content-Description: some html

<p>hi</p>

--XyZ
Content-Type: text/plain; name*=utf-8'en'%E2%82%AC%20rates.txt; title*0=\"A very \";
 title*1=\"long title\"
Content-Disposition: attachment;
 filename=\"abc.txt\"

x
--XyZ--
",
    );
    let m = analyze(&raw);
    assert_eq!(
        bodystructure(&m, true),
        "((\"TEXT\" \"Plain\" (\"CHARSET\" \"ISO-8859-1\" \"format\" \"flowed\") NIL NIL \
         \"Quoted-Printable\" 19 1 NIL NIL NIL NIL)\
         (\"text\" \"html\" (\"charset\" \"us-ascii\") \"<id1@x>\" \"some html\" \"7bit\" 11 1 \
         \"Q2hlY2sgSW50ZWdyaXR5IQ==\" NIL (\"en\" \"de\") \"http://x/y\")\
         (\"text\" \"plain\" (\"name*\" \"utf-8'en'%E2%82%AC%20rates.txt\" \"title\" \"A very long title\" \
         \"charset\" \"us-ascii\") NIL NIL \"7bit\" 1 0 NIL (\"attachment\" (\"filename\" \"abc.txt\")) NIL NIL) \
         \"alternative\" (\"boundary\" \"XyZ\" \"foo\" \"bar\") NIL NIL NIL)"
    );
    assert_eq!(
        part_encoding(&m, &[1]),
        Some(TransferEncoding::QuotedPrintable)
    );
    let body = search_text(&raw, &m, SearchField::Body).unwrap();
    assert!(body.contains("café line1"), "{body:?}");
    roundtrip(&m);
}

/// SEARCH FROM/TO/CC/BCC/SUBJECT read the stored envelope; it must give the same text as
/// parsing the header again, for every message of the oracle corpus (fields that occur once).
#[test]
fn envelope_text_matches_header_search() {
    use super::{EnvelopeField, envelope_text};
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mime");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "eml") {
            continue;
        }
        let raw = crate::store::blob::normalize_crlf(std::fs::read(&path).unwrap());
        let m = analyze(&raw);
        let head = &raw[..(m.header_len() as usize).min(raw.len())];
        for (field, name) in [
            (EnvelopeField::From, "from"),
            (EnvelopeField::To, "to"),
            (EnvelopeField::Cc, "cc"),
            (EnvelopeField::Bcc, "bcc"),
        ] {
            let count = String::from_utf8_lossy(head)
                .lines()
                .filter(|l| {
                    l.len() > name.len()
                        && l[..name.len() + 1].eq_ignore_ascii_case(&format!("{name}:"))
                })
                .count();
            if count != 1 {
                continue;
            }
            let by_header = search_text(&raw, &m, SearchField::Address(name.as_bytes()));
            assert_eq!(
                envelope_text(&m, field),
                by_header,
                "{} {name}",
                path.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} fields compared");
}
