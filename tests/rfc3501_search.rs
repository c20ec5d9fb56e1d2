//! SEARCH and UID SEARCH (RFC 3501 §6.4.4) with every search key, CHARSET, ESEARCH (RFC 4731)
//! and SEARCHRES (RFC 5182), asserting exact result sets. Text keys run against the MIME corpus
//! of `tests/fixtures/mime/` (see `tests/dovecot_oracle.rs`): decoded RFC 2047 headers, bodies
//! transfer-decoded and converted to UTF-8, attachments' text parts included, binary ones not.
//!
//! All tests share one server; each takes a fresh account.

mod common;

use std::sync::Arc;

use common::*;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/mime");

fn fresh() -> (Arc<Server>, Client) {
    let s = Server::shared(&[]);
    let user = s.new_user();
    let c = s.login(&user);
    (s, c)
}

/// The numbers of the one `* SEARCH` answer of a successful command.
fn numbers(lines: &[String], cmd: &str) -> Vec<u32> {
    let last = lines.last().unwrap();
    assert!(
        last.split(' ').nth(1) == Some("OK"),
        "{cmd} failed: {lines:#?}"
    );
    let found: Vec<&String> = lines.iter().filter(|l| l.starts_with("* SEARCH")).collect();
    assert_eq!(
        found.len(),
        1,
        "{cmd}: one SEARCH answer expected: {lines:#?}"
    );
    found[0]["* SEARCH".len()..]
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(|w| w.parse().unwrap_or_else(|_| panic!("{cmd}: {}", found[0])))
        .collect()
}

fn search(c: &mut Client, cmd: &str) -> Vec<u32> {
    let lines = c.cmd(cmd);
    numbers(&lines, cmd)
}

/// Sends `head {n}` + `term` as a synchronizing literal (waiting for the continuation), then
/// `tail`; returns the answer lines.
fn with_literal(c: &mut Client, head: &str, term: &str, tail: &str) -> Vec<String> {
    let tag = c.tag();
    c.send_raw(format!("{tag} {head} {{{}}}\r\n", term.len()).as_bytes());
    let cont = c.read_line();
    assert!(cont.starts_with("+"), "{head}: no continuation: {cont}");
    c.send_raw(term.as_bytes());
    c.send_raw(format!("{tail}\r\n").as_bytes());
    c.read_until_tag(&tag)
}

// ------------------------------------------------------------------ flags, dates, sizes, sets

/// UIDs are sequence numbers + 1 here: UID 1 was expunged before these were appended.
const UID_OFFSET: u32 = 1;

/// The six messages of the key tests: (flags and internal date, message).
fn key_messages() -> Vec<(&'static str, String)> {
    let big = "figures ".repeat(250);
    vec![
        (
            r#"(\Seen \Answered) "03-Feb-2020 09:00:00 +0100""#,
            "From: Alice Example <alice@example.org>\r\nTo: Bob <bob@example.org>\r\n\
             Cc: carol@example.net\r\nSubject: Lunch plans\r\n\
             Date: Mon, 3 Feb 2020 09:00:00 +0100\r\nMessage-ID: <k1@example.org>\r\n\r\n\
             Shall we meet at noon?\r\n"
                .to_string(),
        ),
        (
            r#"(\Flagged \Draft) "04-Feb-2020 23:30:00 -0800""#,
            "From: Bob <bob@example.org>\r\nTo: Alice Example <alice@example.org>\r\n\
             Bcc: dave@example.com\r\nSubject: Re: Lunch plans\r\n\
             Date: Tue, 4 Feb 2020 23:30:00 -0800\r\nMessage-ID: <k2@example.org>\r\n\r\n\
             Noon works for me.\r\n"
                .to_string(),
        ),
        (
            r#"(\Deleted $Important) "05-Feb-2020 00:15:00 +0000""#,
            format!(
                "From: \"Eve Example\" <eve@example.com>\r\nTo: list@example.org\r\n\
                 Subject: Quarterly figures\r\nX-Priority: 1\r\n\
                 Date: Wed, 5 Feb 2020 00:15:00 +0000\r\nMessage-ID: <k3@example.com>\r\n\r\n\
                 {big}\r\n"
            ),
        ),
        (
            r#"(custom) "06-Feb-2020 12:00:00 +0000""#,
            "From: mallory@example.net\r\nTo: bob@example.org\r\nSubject: no date header\r\n\
             Message-ID: <k4@example.net>\r\n\r\nUndated message.\r\n"
                .to_string(),
        ),
        (
            r#"() "01-Mar-2020 10:00:00 +0000""#,
            "From: Bob <bob@example.org>\r\nTo: team@example.org\r\n\
             Cc: Alice Example <alice@example.org>\r\nSubject: Status\r\n\
             Date: Sun, 1 Mar 2020 10:00:00 +0000\r\n\r\nAll good.\r\n"
                .to_string(),
        ),
        (
            r#"(\Seen) "31-Dec-2019 22:00:00 -0500""#,
            "From: carol@example.net\r\nTo: bob@example.org\r\nSubject: Old news\r\n\
             Date: Tue, 31 Dec 2019 22:00:00 -0500\r\nX-Priority: 3\r\n\r\n\
             Happy new year.\r\n"
                .to_string(),
        ),
    ]
}

/// Creates and selects mailbox `keys`: messages 1-4 old, 5-6 recent, UID = seq + 1.
fn keys_mailbox(c: &mut Client) {
    c.ok("CREATE keys");
    c.append("keys", "", &message("dummy", "expunged"));
    c.select("keys");
    c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)");
    c.ok("EXPUNGE");
    c.ok("UNSELECT");
    let msgs = key_messages();
    for (i, (flags, raw)) in msgs.iter().enumerate() {
        if i == 4 {
            // 1-4 are seen by a SELECT (so they lose \Recent); 5 and 6 arrive after it.
            c.select("keys");
            c.ok("UNSELECT");
        }
        let ok = c.append("keys", flags, raw.as_bytes());
        assert_eq!(appenduid(&ok).1, i as u32 + 1 + UID_OFFSET, "{ok}");
    }
    c.select("keys");
}

/// `SEARCH key` gives `seqs`, and `UID SEARCH key` their UIDs.
fn check(c: &mut Client, key: &str, seqs: &[u32]) {
    assert_eq!(search(c, &format!("SEARCH {key}")), seqs, "SEARCH {key}");
    let uids: Vec<u32> = seqs.iter().map(|s| s + UID_OFFSET).collect();
    assert_eq!(
        search(c, &format!("UID SEARCH {key}")),
        uids,
        "UID SEARCH {key}"
    );
}

#[test]
fn flag_keys_and_their_negations() {
    let (_s, mut c) = fresh();
    keys_mailbox(&mut c);
    check(&mut c, "ALL", &[1, 2, 3, 4, 5, 6]);
    check(&mut c, "ANSWERED", &[1]);
    check(&mut c, "UNANSWERED", &[2, 3, 4, 5, 6]);
    check(&mut c, "DELETED", &[3]);
    check(&mut c, "UNDELETED", &[1, 2, 4, 5, 6]);
    check(&mut c, "DRAFT", &[2]);
    check(&mut c, "UNDRAFT", &[1, 3, 4, 5, 6]);
    check(&mut c, "FLAGGED", &[2]);
    check(&mut c, "UNFLAGGED", &[1, 3, 4, 5, 6]);
    check(&mut c, "SEEN", &[1, 6]);
    check(&mut c, "UNSEEN", &[2, 3, 4, 5]);
    check(&mut c, "RECENT", &[5, 6]);
    check(&mut c, "OLD", &[1, 2, 3, 4]);
    check(&mut c, "NEW", &[5]);
    check(&mut c, "KEYWORD $Important", &[3]);
    check(&mut c, "KEYWORD custom", &[4]);
    check(&mut c, "KEYWORD nothing", &[]);
    check(&mut c, "UNKEYWORD custom", &[1, 2, 3, 5, 6]);
    check(&mut c, "UNKEYWORD nothing", &[1, 2, 3, 4, 5, 6]);
    // Flags change what matches, in the same session.
    c.ok("STORE 5 +FLAGS.SILENT (\\Seen custom)");
    check(&mut c, "NEW", &[]);
    check(&mut c, "KEYWORD custom", &[4, 5]);
    check(&mut c, "UNSEEN", &[2, 3, 4]);
    // Lower-case keys are the same keys.
    check(&mut c, "unseen", &[2, 3, 4]);
}

#[test]
fn sequence_sets_and_uids() {
    let (_s, mut c) = fresh();
    keys_mailbox(&mut c);
    check(&mut c, "2:3", &[2, 3]);
    check(&mut c, "4:2", &[2, 3, 4]);
    check(&mut c, "*", &[6]);
    check(&mut c, "1,3:*", &[1, 3, 4, 5, 6]);
    check(&mut c, "5:*", &[5, 6]);
    check(&mut c, "NOT 1:5", &[6]);
    check(&mut c, "UID 3:4", &[2, 3]);
    check(&mut c, "UID 2,7", &[1, 6]);
    check(&mut c, "UID *", &[6]);
    check(&mut c, "UID 1", &[]);
    check(&mut c, "UID 100:*", &[6]);
    check(&mut c, "2:5 UNSEEN", &[2, 3, 4, 5]);
    check(&mut c, "UID 4:* 1:4", &[3, 4]);
}

#[test]
fn address_subject_header_body_and_text_keys() {
    let (_s, mut c) = fresh();
    keys_mailbox(&mut c);
    check(&mut c, "FROM alice", &[1]);
    check(&mut c, "FROM BOB", &[2, 5]);
    check(&mut c, "FROM \"Eve Example\"", &[3]);
    check(&mut c, "FROM example.net", &[4, 6]);
    check(&mut c, "FROM eve@example.com", &[3]);
    check(&mut c, "TO alice", &[2]);
    check(&mut c, "TO bob", &[1, 4, 6]);
    check(&mut c, "TO team", &[5]);
    check(&mut c, "CC carol", &[1]);
    check(&mut c, "CC \"Alice Example\"", &[5]);
    check(&mut c, "BCC dave", &[2]);
    check(&mut c, "BCC example", &[2]);
    check(&mut c, "SUBJECT lunch", &[1, 2]);
    check(&mut c, "SUBJECT \"re: LUNCH\"", &[2]);
    check(&mut c, "SUBJECT nothing", &[]);
    // HEADER with an empty string: every message that has the field.
    check(&mut c, "HEADER X-Priority \"\"", &[3, 6]);
    check(&mut c, "HEADER X-Priority 1", &[3]);
    check(&mut c, "HEADER x-priority 3", &[6]);
    check(&mut c, "HEADER X-Priority 2", &[]);
    check(&mut c, "HEADER Date \"\"", &[1, 2, 3, 5, 6]);
    check(&mut c, "HEADER Message-ID example.org", &[1, 2]);
    check(&mut c, "HEADER X-Missing \"\"", &[]);
    // BODY is the body only; TEXT is header and body.
    check(&mut c, "BODY noon", &[1, 2]);
    check(&mut c, "BODY lunch", &[]);
    check(&mut c, "TEXT lunch", &[1, 2]);
    check(&mut c, "TEXT dave@example.com", &[2]);
    check(&mut c, "BODY figures", &[3]);
    check(&mut c, "BODY \"happy NEW\"", &[6]);
    let lines = with_literal(&mut c, "SEARCH BODY", "noon", " NOT FROM bob");
    assert_eq!(numbers(&lines, "SEARCH BODY {4}"), vec![1]);
    let lines = with_literal(&mut c, "UID SEARCH HEADER", "x-priority", " \"\"");
    assert_eq!(numbers(&lines, "UID SEARCH HEADER {10}"), vec![4, 7]);
}

#[test]
fn date_and_size_keys() {
    let (_s, mut c) = fresh();
    keys_mailbox(&mut c);
    // Internal dates, in their own zone (time and zone disregarded).
    check(&mut c, "BEFORE 4-Feb-2020", &[1, 6]);
    check(&mut c, "ON 4-Feb-2020", &[2]);
    check(&mut c, "SINCE 5-Feb-2020", &[3, 4, 5]);
    check(&mut c, "ON 31-Dec-2019", &[6]);
    check(&mut c, "ON 1-Jan-2020", &[]);
    check(&mut c, "SINCE 1-Mar-2020", &[5]);
    check(&mut c, "BEFORE \"3-Feb-2020\"", &[6]);
    // Date: header dates; message 4 has none and never matches.
    check(&mut c, "SENTBEFORE 4-Feb-2020", &[1, 6]);
    check(&mut c, "SENTON 4-Feb-2020", &[2]);
    check(&mut c, "SENTSINCE 5-Feb-2020", &[3, 5]);
    check(&mut c, "SENTON 31-Dec-2019", &[6]);
    check(&mut c, "SENTON 1-Jan-2020", &[]);
    check(&mut c, "NOT SENTBEFORE 1-Jan-2000", &[1, 2, 3, 4, 5, 6]);
    check(&mut c, "NOT SENTON 4-Feb-2020", &[1, 3, 4, 5, 6]);
    // RFC822.SIZE, strictly larger / smaller.
    let lines = c.ok("FETCH 3 RFC822.SIZE");
    let size: u64 = lines[0]
        .trim_end_matches(')')
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(size > 2000, "{lines:?}");
    check(&mut c, "LARGER 1000", &[3]);
    check(&mut c, "SMALLER 1000", &[1, 2, 4, 5, 6]);
    check(&mut c, &format!("LARGER {size}"), &[]);
    check(&mut c, &format!("LARGER {}", size - 1), &[3]);
    check(&mut c, &format!("SMALLER {size}"), &[1, 2, 4, 5, 6]);
    check(
        &mut c,
        &format!("SMALLER {}", size + 1),
        &[1, 2, 3, 4, 5, 6],
    );
}

#[test]
fn not_or_and_parenthesised_lists() {
    let (_s, mut c) = fresh();
    keys_mailbox(&mut c);
    check(&mut c, "NOT SEEN", &[2, 3, 4, 5]);
    check(&mut c, "NOT NOT SEEN", &[1, 6]);
    check(&mut c, "OR FLAGGED DELETED", &[2, 3]);
    check(&mut c, "OR OR SEEN DRAFT DELETED", &[1, 2, 3, 6]);
    check(&mut c, "OR (SEEN ANSWERED) KEYWORD custom", &[1, 4]);
    check(&mut c, "(FROM bob SINCE 1-Mar-2020)", &[5]);
    check(&mut c, "NOT (OR FROM alice FROM bob)", &[3, 4, 6]);
    check(&mut c, "SEEN FROM carol", &[6]);
    check(&mut c, "((SEEN) (NOT ANSWERED))", &[6]);
    check(&mut c, "OR 1 (UID 7)", &[1, 6]);
    check(&mut c, "NOT OR 1:2 5:6", &[3, 4]);
    for bad in [
        "SEARCH",
        "SEARCH ()",
        "SEARCH OR SEEN",
        "SEARCH NOT",
        "SEARCH BOGUS",
    ] {
        let (st, lines) = c.status(bad);
        assert_eq!(st, "BAD", "{bad}: {lines:?}");
    }
}

#[test]
fn charsets() {
    let (_s, mut c) = fresh();
    keys_mailbox(&mut c);
    check(&mut c, "CHARSET UTF-8 SUBJECT lunch", &[1, 2]);
    check(&mut c, "CHARSET US-ASCII SUBJECT lunch", &[1, 2]);
    check(&mut c, "CHARSET utf-8 FROM bob", &[2, 5]);
    check(&mut c, "CHARSET \"us-ascii\" FROM bob", &[2, 5]);
    for cs in ["KOI8-R", "ISO-8859-1", "x-unknown"] {
        for cmd in ["SEARCH", "UID SEARCH"] {
            c.check(
                &format!("{cmd} CHARSET {cs} SUBJECT lunch"),
                &["NO [BADCHARSET (UTF-8 US-ASCII)] …"],
            );
        }
    }
}

#[test]
fn esearch_return_options() {
    let (_s, mut c) = fresh();
    keys_mailbox(&mut c);
    let t = |c: &mut Client| format!("t{}", c.tag()[1..].parse::<u32>().unwrap() + 1);
    let tag = t(&mut c);
    c.check(
        "SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN",
        &[
            &format!("* ESEARCH (TAG \"{tag}\") MIN 2 MAX 5 COUNT 4 ALL 2:5"),
            "OK …",
        ],
    );
    let tag = t(&mut c);
    c.check(
        "UID SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN",
        &[
            &format!("* ESEARCH (TAG \"{tag}\") UID MIN 3 MAX 6 COUNT 4 ALL 3:6"),
            "OK …",
        ],
    );
    let tag = t(&mut c);
    c.check(
        "SEARCH RETURN () OR SEEN 2",
        &[&format!("* ESEARCH (TAG \"{tag}\") ALL 1:2,6"), "OK …"],
    );
    let tag = t(&mut c);
    c.check(
        "SEARCH RETURN (COUNT) KEYWORD nothing",
        &[&format!("* ESEARCH (TAG \"{tag}\") COUNT 0"), "OK …"],
    );
    let tag = t(&mut c);
    c.check(
        "SEARCH RETURN (MIN MAX ALL) KEYWORD nothing",
        &[&format!("* ESEARCH (TAG \"{tag}\")"), "OK …"],
    );
    let tag = t(&mut c);
    c.check(
        "SEARCH RETURN (MAX) CHARSET UTF-8 FROM bob",
        &[&format!("* ESEARCH (TAG \"{tag}\") MAX 5"), "OK …"],
    );
    let (st, _) = c.status("SEARCH RETURN (BOGUS) ALL");
    assert_eq!(st, "BAD");
}

#[test]
fn searchres_saves_and_uses_the_result() {
    let (_s, mut c) = fresh();
    keys_mailbox(&mut c);
    // SAVE alone: no untagged answer.
    c.check("SEARCH RETURN (SAVE) FROM bob", &["OK …"]);
    c.check(
        "FETCH $ (UID)",
        &["* 2 FETCH (UID 3)", "* 5 FETCH (UID 6)", "OK …"],
    );
    check(&mut c, "$", &[2, 5]);
    check(&mut c, "NOT $", &[1, 3, 4, 6]);
    check(&mut c, "OR $ 1", &[1, 2, 5]);
    check(&mut c, "UID $", &[2, 5]);
    c.ok("UID STORE $ +FLAGS.SILENT (\\Answered)");
    check(&mut c, "ANSWERED", &[1, 2, 5]);
    c.ok("STORE $ -FLAGS.SILENT (\\Answered)");
    check(&mut c, "ANSWERED", &[1]);
    // UID SEARCH saves UIDs; `$` in a sequence-number command still means those messages.
    c.check("UID SEARCH RETURN (SAVE) FLAGGED", &["OK …"]);
    c.check("FETCH $ (UID)", &["* 2 FETCH (UID 3)", "OK …"]);
    c.check(
        "UID FETCH $ (FLAGS)",
        &["* 2 FETCH (UID 3 FLAGS (\\Flagged \\Draft))", "OK …"],
    );
    // SAVE with other options saves all matches and answers as asked.
    let tag = format!("t{}", c.tag()[1..].parse::<u32>().unwrap() + 1);
    c.check(
        "SEARCH RETURN (SAVE ALL) UNSEEN",
        &[&format!("* ESEARCH (TAG \"{tag}\") ALL 2:5"), "OK …"],
    );
    check(&mut c, "$", &[2, 3, 4, 5]);
    // A result of nothing: `$` is valid and empty.
    c.check("SEARCH RETURN (SAVE) KEYWORD nothing", &["OK …"]);
    c.check("FETCH $ (UID)", &["OK …"]);
    check(&mut c, "$", &[]);
    // Expunged messages leave the saved result.
    c.check("SEARCH RETURN (SAVE) OR DELETED SEEN", &["OK …"]);
    c.ok("EXPUNGE");
    assert_eq!(search(&mut c, "SEARCH $"), vec![1, 5]);
    assert_eq!(search(&mut c, "UID SEARCH $"), vec![2, 7]);
}

#[test]
fn searchres_is_reset_by_select_and_examine() {
    // RFC 5182 §2.1: the saved UIDs belong to the mailbox they were found in.
    let (_s, mut c) = fresh();
    keys_mailbox(&mut c);
    c.ok("CREATE other");
    for i in 0..7 {
        c.append("other", "", &message(&format!("o{i}"), "other"));
    }
    c.check("SEARCH RETURN (SAVE) FROM bob", &["OK …"]);
    c.select("other");
    c.check("FETCH $ (UID)", &["OK …"]);
    assert_eq!(search(&mut c, "SEARCH $"), Vec::<u32>::new());
    c.check("SEARCH RETURN (SAVE) ALL", &["OK …"]);
    c.ok("EXAMINE keys");
    c.check("FETCH $ (UID)", &["OK …"]);
    c.check("UID FETCH $ (FLAGS)", &["OK …"]);
}

#[test]
fn searchres_is_emptied_by_a_failed_save() {
    // RFC 5182 §2.1: a SEARCH with SAVE answered NO empties `$`; one without SAVE, or a BAD
    // one, leaves it alone.
    let (_s, mut c) = fresh();
    keys_mailbox(&mut c);
    c.check("SEARCH RETURN (SAVE) FROM bob", &["OK …"]);
    c.check(
        "SEARCH CHARSET KOI8-R FROM bob",
        &["NO [BADCHARSET (UTF-8 US-ASCII)] …"],
    );
    c.check("SEARCH RETURN (SAVE) BOGUS", &["BAD …"]);
    check(&mut c, "$", &[2, 5]);
    c.check(
        "SEARCH RETURN (SAVE) CHARSET KOI8-R OR $ 1",
        &["NO [BADCHARSET (UTF-8 US-ASCII)] …"],
    );
    check(&mut c, "$", &[]);
    // A successful SAVE may use the previous value.
    c.check("SEARCH RETURN (SAVE) FROM bob", &["OK …"]);
    c.check("SEARCH RETURN (SAVE) OR $ 1", &["OK …"]);
    check(&mut c, "$", &[1, 2, 5]);
}

#[test]
fn searchres_with_min_max_saves_only_those() {
    // RFC 5182 §2.4: SAVE with MIN and/or MAX (and neither ALL nor COUNT) saves just those.
    let (_s, mut c) = fresh();
    keys_mailbox(&mut c);
    let next = |c: &mut Client| format!("t{}", c.tag()[1..].parse::<u32>().unwrap() + 1);
    for (opts, answer, saved) in [
        ("SAVE MIN", "MIN 2", &[2][..]),
        ("SAVE MAX", "MAX 5", &[5]),
        ("MAX SAVE MIN", "MIN 2 MAX 5", &[2, 5]),
        ("MAX SAVE MIN COUNT", "MIN 2 MAX 5 COUNT 4", &[2, 3, 4, 5]),
        ("ALL SAVE MIN", "MIN 2 ALL 2:5", &[2, 3, 4, 5]),
    ] {
        let tag = next(&mut c);
        c.check(
            &format!("SEARCH RETURN ({opts}) UNSEEN"),
            &[&format!("* ESEARCH (TAG \"{tag}\") {answer}"), "OK …"],
        );
        check(&mut c, "$", saved);
    }
    // One match is both MIN and MAX; no match saves nothing.
    let tag = next(&mut c);
    c.check(
        "SEARCH RETURN (SAVE MIN MAX) FLAGGED",
        &[&format!("* ESEARCH (TAG \"{tag}\") MIN 2 MAX 2"), "OK …"],
    );
    check(&mut c, "$", &[2]);
    let tag = next(&mut c);
    c.check(
        "SEARCH RETURN (SAVE MIN) KEYWORD nothing",
        &[&format!("* ESEARCH (TAG \"{tag}\")"), "OK …"],
    );
    check(&mut c, "$", &[]);
}

// ------------------------------------------------------------------------- corpus text keys

/// The corpus messages in name order: message N of the `corpus` mailbox is `names[N - 1]`.
fn corpus_mailbox(c: &mut Client) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(CORPUS)
        .unwrap()
        .filter_map(|e| {
            let n = e.ok()?.file_name().into_string().ok()?;
            n.strip_suffix(".eml").map(str::to_string)
        })
        .collect();
    names.sort();
    c.ok("CREATE corpus");
    for n in &names {
        let raw = std::fs::read(format!("{CORPUS}/{n}.eml")).unwrap();
        let ok = c.append("corpus", "", &raw);
        assert!(ok.contains(" OK "), "{n}: {ok}");
    }
    c.select("corpus");
    names
}

/// The sequence numbers of the named corpus messages.
fn seqs(names: &[String], want: &[&str]) -> Vec<u32> {
    let mut v: Vec<u32> = want
        .iter()
        .map(|w| {
            let i = names
                .iter()
                .position(|n| n.starts_with(w))
                .unwrap_or_else(|| panic!("no corpus message {w}"));
            i as u32 + 1
        })
        .collect();
    v.sort_unstable();
    v
}

/// `SEARCH [CHARSET UTF-8] KEY {n}\r\nterm` with the term as a literal (UTF-8) gives `want`.
fn literal_check(c: &mut Client, names: &[String], key: &str, term: &str, want: &[&str]) {
    let head = if term.is_ascii() {
        format!("SEARCH {key}")
    } else {
        format!("SEARCH CHARSET UTF-8 {key}")
    };
    let lines = with_literal(c, &head, term, "");
    assert_eq!(
        numbers(&lines, &head),
        seqs(names, want),
        "{head} {term:?}: {lines:?}"
    );
}

#[test]
fn non_ascii_terms_find_latin1_qp_bodies_and_rfc2047_subjects() {
    let (_s, mut c) = fresh();
    let names = corpus_mailbox(&mut c);
    let n = &names;
    // The ISO-8859-1 quoted-printable body and the RFC 2047 base64 subject of 08; 18 has the
    // word in a quoted-printable UTF-8 HTML part.
    literal_check(&mut c, n, "BODY", "Grüße", &["08", "18"]);
    literal_check(&mut c, n, "SUBJECT", "Grüße", &["08"]);
    literal_check(&mut c, n, "TEXT", "Grüße", &["08", "18"]);
    literal_check(&mut c, n, "SUBJECT", "KÖLN", &["08"]);
    literal_check(&mut c, n, "BODY", "köln", &["08"]);
    literal_check(&mut c, n, "BODY", "frühstück war großartig", &["08"]);
    // A quoted-printable soft line break does not split words.
    literal_check(&mut c, n, "BODY", "umbrochen werden", &["08"]);
    // ISO-8859-2 8bit body and Q-encoded subject.
    literal_check(&mut c, n, "BODY", "žluťoučký", &["10"]);
    literal_check(&mut c, n, "SUBJECT", "kůň", &["10"]);
    // Raw UTF-8 body and header.
    literal_check(&mut c, n, "BODY", "FAÇADE", &["09"]);
    literal_check(&mut c, n, "SUBJECT", "ünïcödé", &["09"]);
    // Base64 UTF-8 text part, case-insensitive beyond ASCII.
    literal_check(&mut c, n, "BODY", "ÆRØSKØBING", &["18"]);
    // Two adjacent encoded words (base64, then Q with `_`) make one subject.
    literal_check(&mut c, n, "SUBJECT", "straßen und plätze", &["05"]);
    // Encoded display names.
    literal_check(&mut c, n, "FROM", "Jürgen Müller", &["02"]);
    literal_check(&mut c, n, "FROM", "keld jørn", &["05"]);
    literal_check(&mut c, n, "TO", "Päivi", &["05"]);
    literal_check(&mut c, n, "CC", "André Pirard", &["05"]);
    literal_check(&mut c, n, "FROM", "Jörg Schäfer", &["08"]);
    // The same search without CHARSET (UTF-8 is assumed) and with US-ASCII for ASCII terms.
    let lines = with_literal(&mut c, "SEARCH BODY", "Grüße", "");
    assert_eq!(numbers(&lines, "SEARCH BODY"), seqs(n, &["08", "18"]));
    let lines = with_literal(
        &mut c,
        "UID SEARCH CHARSET UTF-8 SUBJECT",
        "Grüße",
        " UNSEEN",
    );
    assert_eq!(numbers(&lines, "UID SEARCH"), seqs(n, &["08"]));
}

#[test]
fn attachments_text_parts_count_binary_ones_do_not() {
    let (_s, mut c) = fresh();
    let names = corpus_mailbox(&mut c);
    let n = &names;
    // 03: a base64 text/plain attachment counts for BODY and TEXT.
    literal_check(&mut c, n, "BODY", "kingfisher", &["03"]);
    literal_check(&mut c, n, "TEXT", "kingfisher", &["03"]);
    literal_check(&mut c, n, "BODY", "Zürich office", &["03"]);
    // 03 and 18: the word inside base64 application/octet-stream parts does not.
    literal_check(&mut c, n, "BODY", "zebracrossing", &[]);
    literal_check(&mut c, n, "TEXT", "zebracrossing", &[]);
    // 18: an application/octet-stream part in plain ASCII (binary CTE) does not either; 07:
    // image/gif; 19: an x-uuencode application/octet-stream part.
    literal_check(&mut c, n, "BODY", "binary-labelled", &[]);
    literal_check(&mut c, n, "BODY", "GIF89a", &[]);
    literal_check(&mut c, n, "BODY", "begin 644", &[]);
    literal_check(&mut c, n, "BODY", "x-uuencode follows", &["19"]);
    // Messages attached as message/rfc822 count, their headers too.
    literal_check(&mut c, n, "BODY", "innermost body", &["04"]);
    literal_check(&mut c, n, "BODY", "middle@example.net", &["04"]);
    literal_check(&mut c, n, "BODY", "Middle text", &["04"]);
    literal_check(&mut c, n, "BODY", "second post body", &["16"]);
    // text/html is searched as text; text/rfc822-headers is text.
    literal_check(&mut c, n, "BODY", "approved", &["02"]);
    literal_check(&mut c, n, "BODY", "odd params", &["07"]);
    literal_check(&mut c, n, "BODY", "Newsletter body", &["22"]);
    literal_check(&mut c, n, "BODY", "To: nobody@example.net", &["24"]);
    // Preamble and epilogue are not part of any body part.
    literal_check(&mut c, n, "BODY", "epilogue", &[]);
    literal_check(&mut c, n, "BODY", "Today's topics", &[]);
    // Bare LF message and quoted-printable `=3D`.
    literal_check(&mut c, n, "BODY", "with two lines", &["11"]);
    literal_check(&mut c, n, "BODY", "second = part", &["11"]);
    literal_check(&mut c, n, "BODY", "upper case everywhere", &["20"]);
    literal_check(&mut c, n, "BODY", "custom subtype", &["20"]);
}

#[test]
fn corpus_header_and_address_keys() {
    let (_s, mut c) = fresh();
    let names = corpus_mailbox(&mut c);
    let n = &names;
    let mut corpus = |key: &str, want: &[&str]| {
        assert_eq!(
            search(&mut c, &format!("SEARCH {key}")),
            seqs(n, want),
            "SEARCH {key}"
        );
    };
    corpus("CHARSET US-ASCII TEXT quarterly", &["01"]);
    corpus("HEADER Received mx.example.net", &["01"]);
    corpus("HEADER Content-Type multipart/digest", &["16"]);
    corpus("HEADER X-Very-Long \"\"", &["15"]);
    corpus("HEADER x-very-long xxxxxxxxxxxxxxxxxxxx", &["15"]);
    corpus("TO \"Recipient Number 12\"", &["15"]);
    corpus("SUBJECT \"folded several times\"", &["15"]);
    // Groups: group names count as address text.
    corpus("TO undisclosed-recipients", &["14"]);
    corpus("CC Friends", &["14"]);
    corpus("CC q.public@example.net", &["14"]);
    corpus("CC \"john doe@example.com\"", &["14"]);
    corpus("BCC \"Empty Group\"", &["14"]);
    corpus("FROM \"Smith, John\"", &["14"]);
    // `user@host (Name)`: the comment names the address.
    corpus("FROM \"Mail Delivery System\"", &["24"]);
    // RFC 3501 §6.4.4: FROM/TO/CC/BCC/SUBJECT search the envelope's field, which for a
    // duplicated header is the first occurrence; HEADER searches every occurrence.
    corpus("SUBJECT \"second subject\"", &[]);
    corpus("SUBJECT \"first   subject\"", &["26"]);
    corpus("FROM second@example.org", &[]);
    corpus("HEADER Subject \"second subject\"", &["26"]);
    corpus("HEADER From second@example.org", &["26"]);
    // SENT* on the corpus dates.
    corpus("SENTON 7-Feb-1994", &["01"]);
    corpus("SENTSINCE 27-Jul-2003", &["28"]);
    corpus("SENTBEFORE 1-Jul-2003 NOT SENTBEFORE 1-Jan-1990", &["01"]);
    // Every corpus message has a Date: header.
    corpus("NOT HEADER Date \"\"", &[]);
}
