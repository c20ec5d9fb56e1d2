//! Edge-case and robustness tests: broken MIME, missing bodies and blank
//! lines, garbage, nesting and part-count limits, invariants of the stored
//! offsets, and randomly mutated messages and metadata.

use super::tests::{
    ALTERNATIVE, ENVELOPE_HEAVY, MIXED, NESTED, bodystructure, crlf, envelope, fetch, fields,
    roundtrip,
};
use super::*;

#[test]
fn broken_mime_headers() {
    let raw = crlf(
        "Subject: broken\nContent-Type: text\nContent-Transfer-Encoding: x-uuencode\n\
         Content-Disposition: ;\nContent-Language: (none)\n\nbegin 644 x\nend\n",
    );
    let m = analyze(&raw);
    assert_eq!(
        bodystructure(&m, true),
        "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"x-uuencode\" 18 2 NIL NIL NIL NIL)"
    );
    assert_eq!(part_encoding(&m, &[1]), Some(TransferEncoding::Unknown));
    assert_eq!(
        decode_transfer(TransferEncoding::Unknown, b"x"),
        Err(DecodeError::UnknownEncoding)
    );

    // Multipart without boundary, and with a boundary that never occurs.
    for ct in ["multipart/mixed", "multipart/mixed; boundary=zz"] {
        let raw = crlf(&format!("Content-Type: {ct}\n\nhello\n"));
        let m = analyze(&raw);
        let params = if ct.contains("zz") {
            "(\"boundary\" \"zz\")"
        } else {
            "NIL"
        };
        assert_eq!(
            bodystructure(&m, true),
            format!(
                "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) \
                 \"mixed\" {params} NIL NIL NIL)"
            )
        );
        assert_eq!(fetch(&raw, &m, &[1], SectionText::Full).unwrap(), b"");
        assert_eq!(
            fetch(&raw, &m, &[], SectionText::Text).unwrap(),
            b"hello\r\n"
        );
        roundtrip(&m);
    }

    // Unterminated multipart, part header without blank line, digest
    // default type, bare "--boundary" prefix lines that are not delimiters.
    let raw = crlf(
        "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: m1\n\nb1\n--d\n\
         Content-Type: text/plain\n--d\nContent-Type: text/plain\n\n--dx\nlast\n",
    );
    let m = analyze(&raw);
    assert_eq!(
        bodystructure(&m, false),
        "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 17 (NIL \"m1\" NIL NIL NIL NIL NIL NIL NIL NIL) \
         (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 2 0) 2)\
         (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)\
         (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 12 2) \"digest\")"
    );
    // The CRLF before the delimiter belongs to the delimiter (RFC 2046).
    assert_eq!(
        fetch(&raw, &m, &[2], SectionText::Mime).unwrap(),
        b"Content-Type: text/plain"
    );
    assert_eq!(
        fetch(&raw, &m, &[3], SectionText::Full).unwrap(),
        b"--dx\r\nlast\r\n"
    );
    roundtrip(&m);
}

#[test]
fn no_body_and_no_blank_line() {
    // Header, blank line, nothing else.
    let raw = crlf("Subject: x\n\n");
    let m = analyze(&raw);
    assert_eq!(m.header_len(), 14);
    assert_eq!(
        bodystructure(&m, true),
        "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)"
    );
    assert_eq!(fetch(&raw, &m, &[1], SectionText::Full).unwrap(), b"");
    assert_eq!(fetch(&raw, &m, &[1], SectionText::Mime).unwrap(), raw);

    // Only header lines, no blank line (with and without final CRLF).
    for raw in [
        &b"Subject: x\r\nFrom: a@b\r\n"[..],
        b"Subject: x\r\nFrom: a@b",
    ] {
        let m = analyze(raw);
        assert_eq!(m.header_len(), raw.len() as u64);
        assert_eq!(
            envelope(&m),
            "(NIL \"x\" ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) ((NIL NIL \"a\" \"b\")) NIL NIL NIL NIL NIL)"
        );
        assert_eq!(fetch(raw, &m, &[], SectionText::Header).unwrap(), raw);
        assert_eq!(fetch(raw, &m, &[], SectionText::Text).unwrap(), b"");
        // No blank line is added when the message has none.
        let from = SectionText::HeaderFields {
            not: false,
            fields: fields(&["from"]),
        };
        assert_eq!(fetch(raw, &m, &[], from).unwrap(), b"From: a@b\r\n");
        assert_eq!(search_text(raw, &m, SearchField::Body).unwrap(), "\n");
        roundtrip(&m);
    }

    // Empty input and a body without any header.
    let m = analyze(b"");
    assert_eq!(m.header_len(), 0);
    assert_eq!(envelope(&m), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    assert_eq!(
        bodystructure(&m, false),
        "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)"
    );
    roundtrip(&m);
    let m = analyze(b"\r\njust a body\r\n");
    assert_eq!(
        (m.header_len(), m.root.body_len(), m.root.lines),
        (2, 13, 1)
    );
}

#[test]
fn garbage_does_not_panic() {
    let raw = b"\x00\xff\xfe garbage\r\n\x01:\r\n\t\r\n--\r\n=?x?q?";
    let m = analyze(raw);
    assert_eq!(envelope(&m), "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
    assert_eq!(m.header_len(), raw.len() as u64);
    roundtrip(&m);
    let _ = search_text(&raw[..], &m, SearchField::Text);
}

#[test]
fn base64_message_rfc822_is_still_a_message() {
    // Like Dovecot: the structure of an encoded message/rfc822 part is that
    // of its (undecoded) body, so clients can still parse the grammar.
    let raw = crlf(
        "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeAoKeQo=\n",
    );
    let m = analyze(&raw);
    assert_eq!(
        bodystructure(&m, true),
        "(\"message\" \"rfc822\" NIL NIL NIL \"base64\" 22 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) \
         (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL) 1 NIL NIL NIL NIL)"
    );
    let body = fetch(&raw, &m, &[1], SectionText::Full).unwrap();
    assert_eq!(
        decode_transfer(part_encoding(&m, &[1]).unwrap(), &body).unwrap(),
        b"Subject: x\n\ny\n"
    );
    roundtrip(&m);
}

#[test]
fn deep_nesting_and_many_parts_are_bounded() {
    // 500 nested multiparts and 500 nested messages: no stack overflow.
    let mut raw = Vec::new();
    for i in 0..500 {
        raw.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n").as_bytes(),
        );
    }
    raw.extend_from_slice(b"\r\nleaf\r\n");
    let m = analyze(&raw);
    let mut out = Vec::new();
    write_bodystructure(&m, true, &mut out);
    roundtrip(&m);
    let raw = "Content-Type: message/rfc822\r\n\r\n"
        .repeat(500)
        .into_bytes();
    let m = analyze(&raw);
    write_bodystructure(&m, true, &mut out);
    roundtrip(&m);
    let _ = search_text(&raw, &m, SearchField::Text);
    assert!(
        resolve_section(
            &m,
            &Section {
                part: vec![1; 60],
                text: SectionText::Header
            }
        )
        .is_some()
    );

    // Far more parts than the limit.
    let mut raw = b"Content-Type: multipart/mixed; boundary=x\r\n\r\n".to_vec();
    for _ in 0..(analyze::MAX_PARTS + 50) {
        raw.extend_from_slice(b"--x\r\n\r\np\r\n");
    }
    let m = analyze(&raw);
    match &m.root.body {
        Body::Multipart(children) => assert_eq!(children.len(), analyze::MAX_PARTS - 1),
        other => panic!("{other:?}"),
    }
}

/// Checks the structural invariants the server relies on.
fn check_invariants(p: &Part, lo: u64, hi: u64) {
    assert!(lo <= p.header_start && p.header_start <= p.body_start);
    assert!(
        p.body_start <= p.body_end && p.body_end <= hi,
        "{p:?} not within {lo}..{hi}"
    );
    match &p.body {
        Body::Multipart(children) => {
            assert!(!children.is_empty());
            let mut at = p.body_start;
            for c in children {
                check_invariants(c, at, p.body_end);
                at = c.body_end;
            }
        }
        Body::Message(m) => {
            assert_eq!(
                (m.root.header_start, m.root.body_end),
                (p.body_start, p.body_end)
            );
            check_invariants(&m.root, p.body_start, p.body_end);
        }
        Body::Basic | Body::Text => {}
    }
}

#[test]
fn mutated_messages_never_panic() {
    let seeds: Vec<Vec<u8>> = [ALTERNATIVE, MIXED, NESTED, ENVELOPE_HEAVY]
        .iter()
        .map(|s| crlf(s))
        .collect();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut rand = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n.max(1) as u64) as usize
    };
    let inserts: [&[u8]; 11] = [
        b"\r\n",
        b"--o\r\n",
        b"--b1--",
        b"\r\n\r\n",
        b"=?utf-8?b?",
        b"\"",
        b"(\\",
        b"Content-Type: message/rfc822\r\n",
        b"Content-Type: multipart/mixed; boundary=o\r\n",
        b"; filename*1*=%",
        b"Content-Transfer-Encoding: base64\r\n",
    ];
    for round in 0..1500 {
        let mut raw = seeds[round % seeds.len()].clone();
        for _ in 0..1 + rand(6) {
            let at = rand(raw.len() + 1);
            match rand(4) {
                0 => raw.truncate(at),
                1 => {
                    let end = (at + rand(40)).min(raw.len());
                    raw.drain(at..end);
                }
                2 => {
                    let ins = inserts[rand(inserts.len())];
                    raw.splice(at..at, ins.iter().copied());
                }
                _ if at < raw.len() => raw[at] = rand(256) as u8,
                _ => {}
            }
        }
        let m = analyze(&raw);
        check_invariants(&m.root, 0, raw.len() as u64);
        assert_eq!(m.root.body_end, raw.len() as u64);
        roundtrip(&m);
        let mut out = Vec::new();
        write_envelope(&m, &mut out);
        write_bodystructure(&m, true, &mut out);
        write_bodystructure(&m, false, &mut out);
        for part in [&[][..], &[1], &[2], &[2, 1], &[2, 2], &[2, 2, 1], &[3]] {
            for text in [
                SectionText::Full,
                SectionText::Header,
                SectionText::Text,
                SectionText::Mime,
                SectionText::HeaderFields {
                    not: true,
                    fields: fields(&["subject"]),
                },
            ] {
                let _ = fetch(&raw, &m, part, text);
            }
            if let Some(enc) = part_encoding(&m, part)
                && let Some(body) = fetch(&raw, &m, part, SectionText::Full)
            {
                let _ = decode_transfer(enc, &body);
            }
        }
        for what in [
            SearchField::Text,
            SearchField::Header(b"subject"),
            SearchField::Address(b"to"),
        ] {
            let _ = search_text(&raw, &m, what);
        }
        // Corrupting the stored form must not panic either.
        let mut buf = Vec::new();
        m.encode(&mut buf);
        let at = rand(buf.len());
        buf[at] = rand(256) as u8;
        let _ = MessageMeta::decode(&buf);
        buf.truncate(rand(buf.len()));
        let _ = MessageMeta::decode(&buf);
    }
}
