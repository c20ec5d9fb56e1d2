//! The corpus: deterministic, realistic mail.

use crate::mb;

/// The corpus, and a line describing it.
pub fn corpus(n: usize) -> (Vec<Vec<u8>>, String) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let corpus: Vec<Vec<u8>> = (0..n).map(|i| message(&mut rng, i).into_bytes()).collect();
    let mut sizes: Vec<usize> = corpus.iter().map(Vec::len).collect();
    sizes.sort_unstable();
    let total = mb(sizes.iter().sum::<usize>() as u64);
    let kib = |q: usize| sizes[q * (n - 1) / 100] as f64 / 1024.0;
    let (med, p90, max) = (kib(50), kib(90), kib(100));
    let line = format!("{n} msgs, {total:.1} MB, median {med:.1} KiB, p90 {p90:.1} KiB");
    (corpus, format!("{line}, max {max:.0} KiB"))
}

/// `n` small plain-text notes of a few hundred bytes each (for mailboxes where count matters
/// and size does not), from their own fixed seed.
pub fn small_messages(n: usize) -> Vec<Vec<u8>> {
    let mut r = Rng(0x2545_F491_4F6C_DD1D);
    let msg = |i: usize, r: &mut Rng| {
        let (dom, first, last) = (r.pick(DOMAINS), r.pick(FIRST), r.pick(LAST));
        let from = format!("\"{first} {last}\" <{}@{dom}>", first.to_lowercase());
        let (date, subject, text) = (date(r), sentence(r, WORDS), paragraphs(r, WORDS, 1, ""));
        let id = r.hex(16);
        let h = format!("From: {from}\r\nTo: Me <me@example.org>\r\nSubject: {subject}\r\n");
        let h = format!("{h}Date: {date}\r\nMessage-ID: <{id}.{i}@{dom}>\r\n{PLAIN}\r\n");
        format!("{h}\r\n{text}").into_bytes()
    };
    (0..n).map(|i| msg(i, &mut r)).collect()
}

/// xorshift64*: small, seeded, the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// A random word of a space-separated list.
    fn pick<'a>(&mut self, list: &'a str) -> &'a str {
        let n = self.below(list.split(' ').count());
        list.split(' ').nth(n).unwrap_or("")
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        let words = (0..n.div_ceil(8)).flat_map(|_| self.next().to_le_bytes());
        words.take(n).collect()
    }
    fn hex(&mut self, n: usize) -> String {
        let digit = |r: &mut Rng| b"0123456789abcdef"[r.below(16)] as char;
        (0..n).map(|_| digit(self)).collect()
    }
}

const WORDS: &str = "the project meeting schedule budget report update quarter team review please \
    note attached draft proposal client server release deadline and feedback invoice weekend \
    travel dinner thanks question version change to issue design data backup network price offer \
    order delivery account we summary agenda minutes coffee lunch tomorrow morning office is";
/// All in ISO-8859-1.
const WORDS_LATIN1: &str = "Grüße aus München über die schöne Straße für Käse Bücher und \
    Öffnungszeiten Frühstück Größe heißt Bahnhof Rechnung Lieferung Termin Besprechung nächste \
    Woche café été garçon déjà très bientôt wir";
const FIRST: &str = "Anna Ben Clara David Eva Frank Greta Hugo Ines Jonas Karin Lukas";
const LAST: &str = "Meyer Schmidt Novak Garcia Dubois Rossi Jensen Kowalski Smith Tanaka";
const DOMAINS: &str = "example.com example.org mail.example.net lists.example.com shop.example";

/// Base64, with CRLF after every `line_len` output chars and at the end (none if 0).
fn base64(data: &[u8], line_len: usize) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len() / 3 * 4 + data.len() / 28 + 8);
    for (i, ch) in data.chunks(3).enumerate() {
        let b = |k: usize| *ch.get(k).unwrap_or(&0) as u32;
        let v = b(0) << 16 | b(1) << 8 | b(2);
        for k in 0..4 {
            let c = A[(v >> (18 - 6 * k)) as usize & 63] as char;
            out.push(if k <= ch.len() { c } else { '=' });
        }
        let end = (i + 1) * 3 >= data.len();
        if line_len > 0 && ((i + 1) * 4 % line_len == 0 || end) {
            out.push_str("\r\n");
        }
    }
    out
}

/// Quoted-printable of text whose chars are all ISO-8859-1 (code points below 256).
fn quoted_printable(text: &str) -> String {
    let mut out = String::new();
    for line in text.split_inclusive("\r\n") {
        let mut col = 0;
        for ch in line.trim_end_matches("\r\n").chars() {
            let plain = ch == ' ' || ch.is_ascii_graphic() && ch != '=';
            let enc = if plain {
                ch.to_string()
            } else {
                format!("={:02X}", ch as u32)
            };
            if col + enc.len() > 75 {
                out.push_str("=\r\n");
                col = 0;
            }
            col += enc.len();
            out.push_str(&enc);
        }
        out.push_str("\r\n");
    }
    out
}

fn sentence(r: &mut Rng, words: &str) -> String {
    let words: Vec<&str> = (0..4 + r.below(12)).map(|_| r.pick(words)).collect();
    let s = words.join(" ");
    let mut chars = s.chars();
    let first = chars.next().into_iter().flat_map(char::to_uppercase);
    first.chain(chars).chain(['.']).collect()
}

/// `count` paragraphs wrapped at 72 columns, each line starting with `prefix`.
fn paragraphs(r: &mut Rng, words: &str, count: usize, prefix: &str) -> String {
    let mut out = String::new();
    for _ in 0..count {
        let text: Vec<String> = (0..2 + r.below(5)).map(|_| sentence(r, words)).collect();
        let mut line = String::from(prefix);
        for w in text.join(" ").split(' ') {
            if line.chars().count() + w.chars().count() > 72 {
                out += &format!("{}\r\n", line.trim_end());
                line = String::from(prefix);
            }
            line += &format!("{w} ");
        }
        out += &format!("{}\r\n{}\r\n", line.trim_end(), prefix.trim_end());
    }
    out
}

/// An RFC 5322 date in 2024, a year that began on a Monday.
fn date(r: &mut Rng) -> String {
    const DAYS: [usize; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let (doy, secs) = (r.below(366), r.below(86_400));
    let zone = r.pick("+0000 +0100 +0200 -0500");
    let weekday = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][doy % 7];
    let (mut day, mut month) = (doy, 0);
    while day >= DAYS[month] {
        (day, month) = (day - DAYS[month], month + 1);
    }
    let month = &"JanFebMarAprMayJunJulAugSepOctNovDec"[month * 3..month * 3 + 3];
    let (h, m, s, day) = (secs / 3600, secs / 60 % 60, secs % 60, day + 1);
    format!("{weekday}, {day:02} {month} 2024 {h:02}:{m:02}:{s:02} {zone}")
}

/// A MIME part: boundary line, headers, blank line, body.
fn part(boundary: &str, headers: &str, body: &str) -> String {
    format!("--{boundary}\r\n{headers}\r\n\r\n{body}\r\n")
}

/// RFC 2047 subjects for one message in four: UTF-8 base64 or ISO-8859-1 Q-encoding.
fn encode_subject(r: &mut Rng, subject: String) -> String {
    match r.below(8) {
        0 => {
            let utf8 = format!("{subject} – Grüße");
            format!("=?UTF-8?B?{}?=", base64(utf8.as_bytes(), 0))
        }
        1 => {
            let latin1 = format!("Über {subject}");
            let q = latin1.chars().map(|c| match c {
                ' ' => "_".to_string(),
                c if c.is_ascii_alphanumeric() => c.to_string(),
                c => format!("={:02X}", c as u32),
            });
            format!("=?ISO-8859-1?Q?{}?=", q.collect::<String>())
        }
        _ => subject,
    }
}

/// Received lines, a DKIM signature and the usual headers, without the MIME ones.
fn headers(r: &mut Rng, i: usize, from: &str, date: &str, subject: &str) -> String {
    let mut h = String::new();
    let dom = from
        .rsplit_once('@')
        .map_or("", |(_, d)| d.trim_end_matches('>'));
    for _ in 0..1 + r.below(4) {
        let (host, ip, id) = (r.hex(6), 1 + r.below(250), r.hex(12).to_uppercase());
        h += &format!("Received: from m{host}.{dom} (m{host}.{dom} [198.51.100.{ip}])\r\n");
        h += &format!("\tby mx.example.org (Postfix) with ESMTPS id {id}\r\n");
        h += &format!("\tfor <me@example.org>; {date}\r\n");
    }
    let (bh, sig) = (base64(&r.bytes(32), 0), base64(&r.bytes(256), 0));
    let sig: Vec<&str> = sig
        .as_bytes()
        .chunks(70)
        .flat_map(std::str::from_utf8)
        .collect();
    let sig = sig.join("\r\n\t ");
    h += &format!("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={dom}; s=s1;\r\n");
    h += &format!("\th=from:to:subject:date:message-id;\r\n\tbh={bh};\r\n\tb={sig}\r\n");
    let id = r.hex(16);
    h += &format!("Message-ID: <{id}.{i}@{dom}>\r\nDate: {date}\r\nFrom: {from}\r\n");
    h + &format!("To: Me <me@example.org>\r\nSubject: {subject}\r\nMIME-Version: 1.0\r\n")
}

const PLAIN: &str = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit";
const NEWS_HEAD: &str = "<!DOCTYPE html>\r\n<html><head><meta charset=\"utf-8\"><style>\
    body{font-family:Arial,sans-serif;color:#333}</style></head>\r\n<body><table width=\"600\" \
    cellpadding=\"0\" cellspacing=\"0\" align=\"center\">\r\n";

/// multipart/alternative of `text` and its HTML rendering: a newsletter layout with tracked
/// links when `news`, else the plain `<div>`s mail clients write.
fn alternative(r: &mut Rng, boundary: &str, text: &str, news: bool) -> String {
    let mut html = String::from(if news { NEWS_HEAD } else { "<html><body>\r\n" });
    for p in text.split("\r\n\r\n").filter(|p| !p.is_empty()) {
        if news {
            let link = format!(
                "<a href=\"https://news.example.com/t/{}\">More</a>",
                r.hex(32)
            );
            html += &format!("<tr><td style=\"padding:12px\">\r\n{p}\r\n{link}</td></tr>\r\n");
        } else {
            html += &format!("<div dir=\"ltr\">{p}</div><br>\r\n");
        }
    }
    html += if news {
        "</table></body></html>"
    } else {
        "</body></html>"
    };
    let ct = format!("Content-Type: multipart/alternative; boundary=\"{boundary}\"");
    let text = part(boundary, PLAIN, text);
    let html = part(boundary, &PLAIN.replace("plain", "html"), &html);
    format!("{ct}\r\n\r\n{text}{html}--{boundary}--\r\n")
}

/// One message of the corpus, with CRLF line ends.
fn message(r: &mut Rng, i: usize) -> String {
    let (dom, first, last) = (r.pick(DOMAINS), r.pick(FIRST), r.pick(LAST));
    let (date, kind, sign) = (date(r), r.below(100), format!("-- \r\n{first} {last}\r\n"));
    let from = format!("\"{first} {last}\" <{}@{dom}>", first.to_lowercase());
    let (start, len) = (r.below(44), 2 + r.below(5));
    let topic: Vec<&str> = WORDS.split(' ').skip(start).take(len).collect();
    let topic = topic.join(" ");
    let topic = topic[..1].to_uppercase() + &topic[1..];
    let subject = if kind < 20 {
        format!("Re: {topic}")
    } else {
        topic
    };
    let subject = encode_subject(r, subject);
    let mut h = headers(r, i, &from, &date, &subject);
    let boundary = format!("=_Part_{i}_{}", r.hex(12));
    // Half the personal mail comes as text plus HTML, as most clients send it.
    let personal = |r: &mut Rng, text: String| match r.below(2) {
        0 => alternative(r, &boundary, &text, false),
        _ => format!("{PLAIN}\r\n\r\n{text}"),
    };
    let body = match kind {
        // Replies, quoting the previous mail.
        0..20 => {
            let id = r.hex(20);
            h += &format!("In-Reply-To: <{id}@example.org>\r\nReferences: <{id}@example.org>\r\n");
            let (n, q, qq) = (1 + r.below(3), 1 + r.below(5), r.below(4));
            let text = paragraphs(r, WORDS, n, "");
            let quoted = paragraphs(r, WORDS, q, "> ") + &paragraphs(r, WORDS, qq, ">> ");
            personal(
                r,
                format!("{text}On {date}, {first} wrote:\r\n{quoted}{sign}"),
            )
        }
        // Newsletters.
        20..35 => {
            let unsub = format!("List-Unsubscribe: <https://{dom}/u/{}>", r.hex(24));
            h += &format!("List-Id: <news.{dom}>\r\n{unsub}\r\n");
            let n = 5 + r.below(30);
            let text = paragraphs(r, WORDS, n, "");
            alternative(r, &boundary, &text, true)
        }
        // ISO-8859-1, quoted-printable.
        35..47 => {
            let n = 1 + r.below(6);
            let text = quoted_printable(&(paragraphs(r, WORDS_LATIN1, n, "") + &sign));
            let cte = "Content-Transfer-Encoding: quoted-printable";
            format!("Content-Type: text/plain; charset=ISO-8859-1\r\n{cte}\r\n\r\n{text}")
        }
        // Automated notifications, HTML-heavy.
        47..57 => {
            let (order, track, n) = (r.hex(8), r.hex(24), 1 + r.below(4));
            h += "Auto-Submitted: auto-generated\r\n";
            let track = format!("Order {order} has shipped: https://{dom}/track/{track}\r\n\r\n");
            let text = track + &paragraphs(r, WORDS, n, "");
            alternative(r, &boundary, &text, true)
        }
        // Attachments: a note plus a PDF or JPEG of 20 KB-2 MB (log-uniform), base64.
        57..67 => {
            let len = 20_000.0 * 100f64.powf(r.next() as f64 / u64::MAX as f64);
            let pdf = r.below(2) == 0;
            let (ct, name) = if pdf {
                ("application/pdf", "a.pdf")
            } else {
                ("image/jpeg", "a.jpg")
            };
            let magic: &[u8] = if pdf {
                b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
            } else {
                b"\xff\xd8\xff\xe0"
            };
            let data = [magic, &r.bytes(len as usize)].concat();
            let n = 1 + r.below(3);
            let note = part(&boundary, PLAIN, &(paragraphs(r, WORDS, n, "") + &sign));
            let att = format!(
                "Content-Type: {ct}; name=\"{name}\"\r\nContent-Disposition: \
                attachment; filename=\"{name}\"\r\nContent-Transfer-Encoding: base64"
            );
            let att = part(&boundary, &att, base64(&data, 76).trim_end());
            let ct = format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"");
            format!("{ct}\r\n\r\n{note}{att}--{boundary}--\r\n")
        }
        // Short notes.
        _ => {
            let n = 1 + r.below(5);
            let text = paragraphs(r, WORDS, n, "") + &sign;
            personal(r, text)
        }
    };
    h + &body
}
