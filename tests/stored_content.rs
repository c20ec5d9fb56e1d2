//! Message content through storage and back, over a real socket: base64 runs are stored decoded
//! and re-encoded on FETCH (docs/design.md, "Message content"), so every octet must come back
//! exactly — whole, in partial ranges cut anywhere, decoded by BINARY, after a restart — also
//! for base64 that does not re-encode canonically (odd line lengths, bad padding bits), which is
//! kept as received. SEARCH reads only the header and text parts: a word inside a binary
//! attachment's base64 never matches, one in a base64 text part does.

mod common;

use common::*;

/// Pseudo-random octets (xorshift), the same on every run.
fn noise(n: usize, seed: u32) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Standard base64 in lines of `line` characters, CRLF after each.
fn base64_lines(data: &[u8], line: usize) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut flat = String::new();
    for q in data.chunks(3) {
        let n = (u32::from(q[0]) << 16)
            | (u32::from(*q.get(1).unwrap_or(&0)) << 8)
            | u32::from(*q.get(2).unwrap_or(&0));
        for k in 0..4 {
            if k <= q.len() {
                flat.push(A[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                flat.push('=');
            }
        }
    }
    let mut out = String::new();
    for l in flat.as_bytes().chunks(line) {
        out.push_str(std::str::from_utf8(l).unwrap());
        out.push_str("\r\n");
    }
    out
}

struct Sample {
    raw: Vec<u8>,
    pdf: Vec<u8>,
}

/// A text part, a base64 text part, a large regular base64 attachment with a padded last
/// line, and an irregular one (a short line in the middle, non-canonical padding bits).
fn sample() -> Sample {
    let pdf = noise(300_001, 7);
    let zip = noise(9_000, 11);
    let mut irregular = base64_lines(&zip, 76);
    let cut = irregular.len() / 2;
    let cut = cut + irregular[cut..].find("\r\n").unwrap() + 2 + 40;
    irregular.insert_str(cut, "\r\n");
    irregular.push_str("QUJDRB==\r\n");
    let greeting = "Grüße vom Zürichsee, wir treffen uns am Bahnhofsplatz.\r\n".repeat(40);
    let m = format!(
        "From: Ann <ann@example.org>\r\nSubject: stored\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n--XX\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\r\nSee the attachments.\r\n\r\n--XX\r\n\
         Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {}--XX\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {}--XX\r\nContent-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {irregular}\r\n--XX--\r\n",
        base64_lines(greeting.as_bytes(), 76),
        base64_lines(&pdf, 76),
    );
    Sample {
        raw: m.into_bytes(),
        pdf,
    }
}

/// The literal of a one-item FETCH answer.
fn literal(lines: &[Vec<u8>]) -> Vec<u8> {
    let first = &lines[0];
    let open = first.iter().position(|&b| b == b'{').expect("a literal");
    let close = open + first[open..].iter().position(|&b| b == b'}').unwrap();
    let n: usize = std::str::from_utf8(&first[open + 1..close])
        .unwrap()
        .parse()
        .unwrap();
    first[close + 3..close + 3 + n].to_vec()
}

fn check_content(c: &mut Client, s: &Sample) {
    let whole = c.cmd_raw("FETCH 1 BODY.PEEK[]");
    assert!(
        literal(&whole) == s.raw,
        "BODY[] differs from what was appended"
    );
    let n = s.raw.len();
    for (start, len) in [
        (0, 1),
        (1000, 70_000),
        (n / 3, 100_003),
        (n - 77, 200),
        (65_000, 1),
        (n / 2, 5),
    ] {
        let got = literal(&c.cmd_raw(&format!("FETCH 1 BODY.PEEK[]<{start}.{len}>")));
        let end = (start + len).min(n);
        assert!(got == s.raw[start..end], "BODY[]<{start}.{len}> differs");
    }
    let binary = literal(&c.cmd_raw("FETCH 1 BINARY.PEEK[3]"));
    assert!(binary == s.pdf, "BINARY[3] is not the attachment");
}

#[test]
fn base64_content_comes_back_exact_and_only_text_is_searched() {
    let mut server = Server::start();
    let s = sample();
    let mut c = server.login("alice");
    c.append("INBOX", "", &s.raw);
    c.select("INBOX");
    check_content(&mut c, &s);

    // Text parts count, decoded: plain, and UTF-8 sent as base64.
    c.check("SEARCH TEXT attachments", &["* SEARCH 1", "OK …"]);
    c.check(
        "SEARCH CHARSET UTF-8 BODY {7+}\r\ngrüße",
        &["* SEARCH 1", "OK …"],
    );
    c.check("SEARCH BODY bahnhofsplatz", &["* SEARCH 1", "OK …"]);
    // A run of characters from the PDF's base64 (a binary attachment): no match.
    let b64 = base64_lines(&s.pdf, 76);
    let inside = &b64[5000..5012];
    c.check(&format!("SEARCH TEXT \"{inside}\""), &["* SEARCH", "OK …"]);
    c.check("SEARCH HEADER Subject stored", &["* SEARCH 1", "OK …"]);

    // Content survives a restart unchanged.
    drop(c);
    server.restart();
    let mut c = server.login("alice");
    c.select("INBOX");
    check_content(&mut c, &s);
}
