//! `headers`: what a client does on opening a big mailbox, and searching it, on the corpus in
//! INBOX: time and the server's peak memory growth for each command.

use std::io;
use std::time::Duration;

use crate::client::{Response, quote};
use crate::procfs::{Span, watch};
use crate::{Bench, fetch_bodies, mb};

/// The message list of a client: everything but the bodies.
const META: &str = "FETCH 1:* (FLAGS ENVELOPE BODYSTRUCTURE RFC822.SIZE INTERNALDATE UID)";
/// Only in the ISO-8859-1 quoted-printable part of the corpus, so SEARCH must decode.
const TEXT_WORD: &str = "Bahnhof";
/// A last name: about one sender in ten.
const FROM_NAME: &str = "Kowalski";

/// Case-insensitive substring test on bytes.
fn contains_ci(hay: &[u8], needle: &str) -> bool {
    let needle = needle.as_bytes();
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// The header section of a message.
fn header(m: &[u8]) -> &[u8] {
    let end = m.windows(4).position(|w| w == b"\r\n\r\n");
    &m[..end.map_or(m.len(), |e| e + 2)]
}

/// Corpus messages that should match `TEXT word`: the word anywhere once quoted-printable soft
/// line breaks are joined (base64 attachments are random and match nothing).
fn expect_text(corpus: &[Vec<u8>], word: &str) -> usize {
    let joined = |m: &Vec<u8>| String::from_utf8_lossy(m).replace("=\r\n", "");
    corpus
        .iter()
        .filter(|m| contains_ci(joined(m).as_bytes(), word))
        .count()
}

/// Corpus messages whose From header holds `name`.
fn expect_from(corpus: &[Vec<u8>], name: &str) -> usize {
    let from = |m: &&Vec<u8>| {
        let h = String::from_utf8_lossy(header(m)).into_owned();
        let line = h
            .split("\r\n")
            .find(|l| l.starts_with("From: "))
            .map(String::from);
        line.is_some_and(|l| contains_ci(l.as_bytes(), name))
    };
    corpus.iter().filter(from).count()
}

/// Numbers of a `* SEARCH ...` answer.
fn search_hits(resps: &[Response]) -> usize {
    let line = resps.iter().find_map(|r| r.text.strip_prefix("* SEARCH"));
    line.map_or(0, |l| l.split_whitespace().count())
}

/// Prints one figure: the time and, with a pid, the server's RSS growth and peak growth.
fn report(b: &mut Bench, key: &str, what: String, time: Duration, span: Option<Span>) {
    let s = time.as_secs_f64();
    let (short, detail) = match span {
        Some(m) => {
            let peak = m.peak_growth();
            let short = format!("{s:.3} s, peak RSS {peak:+} KiB");
            (
                short,
                format!("{what} in {s:.3} s; peak RSS {peak:+} KiB, {}", m.detail()),
            )
        }
        None => (format!("{s:.3} s"), format!("{what} in {s:.3} s")),
    };
    b.figure(key, short, detail);
}

pub fn headers(b: &mut Bench) -> io::Result<()> {
    b.ensure_inbox()?;
    let n = b.corpus.len();
    let mut c = b.client()?;
    c.select("INBOX")?;

    c.received = 0;
    let (res, time, span) = watch(b.srv.pid, || c.command(META));
    let fetched = res?.iter().filter(|r| r.text.contains(" FETCH (")).count();
    let what = format!("{fetched}/{n} msgs, {:.2} MB received", mb(c.received));
    report(b, "headers_meta", what, time, span);

    // The same as `fetch`.
    let f = fetch_bodies(b)?;
    let rate = mb(f.bytes) / f.time.as_secs_f64();
    let what = format!(
        "BODY.PEEK[] {}/{n} msgs, {:.1} MB ({rate:.1} MB/s)",
        f.count,
        mb(f.bytes)
    );
    report(b, "headers_body", what, f.time, f.span);

    let searches = [
        (
            "headers_search_text",
            "TEXT",
            TEXT_WORD,
            expect_text(&b.corpus, TEXT_WORD),
        ),
        (
            "headers_search_from",
            "FROM",
            FROM_NAME,
            expect_from(&b.corpus, FROM_NAME),
        ),
    ];
    for (key, what, arg, expect) in searches {
        let cmd = format!("SEARCH {what} {}", quote(arg));
        let (res, time, span) = watch(b.srv.pid, || c.command(&cmd));
        let hits = search_hits(&res?);
        let mut what = format!("{cmd}: {hits} hits");
        if hits != expect {
            what += &format!(" (WARNING: the corpus has {expect})");
        }
        report(b, key, what, time, span);
    }
    c.command("LOGOUT")?;
    Ok(())
}
