//! Builds [`MessageMeta`] from a raw message: the MIME tree walk (header
//! ends, boundaries, offsets, line counts) is done here so the offsets are
//! exactly what IMAP sections need; `mail-parser` is used for the `Date:`
//! header.

use mail_parser::{HeaderValue, parsers::MessageStream};

use super::address::parse_address_list;
use super::header::{self, Field};
use super::meta::{Body, Disposition, Envelope, MessageMeta, Param, Part};

/// Deepest multipart/message nesting analysed; deeper containers become
/// empty placeholders (bounds recursion in analysis, rendering and
/// encoding).
pub(super) const MAX_DEPTH: usize = 64;
/// Maximum number of parts per message; later containers become
/// placeholders.
pub(super) const MAX_PARTS: usize = 10_000;

struct Ctx<'a> {
    raw: &'a [u8],
    parts: usize,
}

/// Analyses a raw (CRLF) message. Never panics, whatever the input.
pub fn analyze(raw: &[u8]) -> MessageMeta {
    let mut ctx = Ctx { raw, parts: 0 };
    parse_message(&mut ctx, 0, raw.len(), 0)
}

fn parse_message(ctx: &mut Ctx<'_>, start: usize, end: usize, depth: usize) -> MessageMeta {
    let hend = header::header_end(ctx.raw, start, end);
    let head = &ctx.raw[start..hend];
    let (sent_date, sent_tz_minutes) = header::first_value(head, b"date")
        .and_then(parse_date)
        .map_or((None, 0), |(t, tz)| (Some(t), tz));
    MessageMeta {
        envelope: envelope(head),
        sent_date,
        sent_tz_minutes,
        root: parse_part(ctx, start, end, false, depth),
    }
}

fn envelope(head: &[u8]) -> Envelope {
    let mut env = Envelope::default();
    let mut seen = [false; 10];
    for Field { name, value, .. } in header::fields(head) {
        const NAMES: [&[u8]; 10] = [
            b"date",
            b"subject",
            b"from",
            b"sender",
            b"reply-to",
            b"to",
            b"cc",
            b"bcc",
            b"in-reply-to",
            b"message-id",
        ];
        let Some(i) = NAMES.iter().position(|n| name.eq_ignore_ascii_case(n)) else {
            continue;
        };
        if std::mem::replace(&mut seen[i], true) {
            continue; // the first occurrence wins
        }
        let text = || Some(header::unfold(value));
        match i {
            0 => env.date = text(),
            1 => env.subject = text(),
            2 => env.from = parse_address_list(value),
            3 => env.sender = parse_address_list(value),
            4 => env.reply_to = parse_address_list(value),
            5 => env.to = parse_address_list(value),
            6 => env.cc = parse_address_list(value),
            7 => env.bcc = parse_address_list(value),
            8 => env.in_reply_to = text(),
            _ => env.message_id = text(),
        }
    }
    env
}

/// `Date:` value to (unix seconds UTC, zone offset in minutes east).
fn parse_date(value: &[u8]) -> Option<(i64, i16)> {
    let mut buf = header::unfold(value);
    buf.extend_from_slice(b"\r\n");
    match MessageStream::new(&buf).parse_date() {
        HeaderValue::DateTime(dt) if dt.is_valid() => {
            let tz = i16::from(dt.tz_hour) * 60 + i16::from(dt.tz_minute);
            Some((dt.to_timestamp(), if dt.tz_before_gmt { -tz } else { tz }))
        }
        _ => None,
    }
}

fn count_lf(s: &[u8]) -> u64 {
    s.iter().filter(|&&b| b == b'\n').count() as u64
}

/// The MIME fields of one part, with RFC 2045/2046 defaults applied.
fn mime_fields(head: &[u8], in_digest: bool, part: &mut Part) {
    let mut ctype = None;
    let mut seen = [false; 8];
    for Field { name, value, .. } in header::fields(head) {
        const NAMES: [&[u8]; 8] = [
            b"content-type",
            b"content-transfer-encoding",
            b"content-id",
            b"content-description",
            b"content-disposition",
            b"content-language",
            b"content-location",
            b"content-md5",
        ];
        let Some(i) = NAMES.iter().position(|n| name.eq_ignore_ascii_case(n)) else {
            continue;
        };
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        let text = || Some(header::unfold(value));
        match i {
            0 => ctype = header::content_type(value),
            1 => part.encoding = header::single_token(value),
            2 => part.id = text(),
            3 => part.description = text(),
            4 => {
                part.disposition =
                    header::disposition(value).map(|(kind, params)| Disposition { kind, params })
            }
            5 => part.language = header::language_list(value),
            6 => part.location = text(),
            _ => part.md5 = text(),
        }
    }
    let (ty, sub, params) = match ctype {
        Some(t) => t,
        None if in_digest => (b"message".to_vec(), b"rfc822".to_vec(), Vec::new()),
        None => (b"text".to_vec(), b"plain".to_vec(), Vec::new()),
    };
    part.media_type = ty;
    part.media_subtype = sub;
    part.params = params;
    if part.media_type.eq_ignore_ascii_case(b"text") && part.param(b"charset").is_none() {
        part.params.push(Param {
            name: b"charset".to_vec(),
            value: b"us-ascii".to_vec(),
        });
    }
}

/// An empty `text/plain` part at `at`, used for multiparts without any
/// body part (missing boundary, no delimiter, or analysis limits).
fn placeholder(at: usize) -> Part {
    let at = at as u64;
    Part {
        header_start: at,
        body_start: at,
        body_end: at,
        media_type: b"text".to_vec(),
        media_subtype: b"plain".to_vec(),
        params: vec![Param {
            name: b"charset".to_vec(),
            value: b"us-ascii".to_vec(),
        }],
        body: Body::Text,
        ..Part::default()
    }
}

fn parse_part(ctx: &mut Ctx<'_>, start: usize, end: usize, in_digest: bool, depth: usize) -> Part {
    ctx.parts += 1;
    let raw = ctx.raw;
    let hend = header::header_end(raw, start, end);
    let mut part = Part {
        header_start: start as u64,
        body_start: hend as u64,
        body_end: end as u64,
        ..Part::default()
    };
    mime_fields(&raw[start..hend], in_digest, &mut part);
    let body = &raw[hend..end];
    let over_limit = depth >= MAX_DEPTH || ctx.parts >= MAX_PARTS;
    let is_type = |p: &Part, t: &[u8]| p.media_type.eq_ignore_ascii_case(t);
    let is_sub = |p: &Part, s: &[u8]| p.media_subtype.eq_ignore_ascii_case(s);
    part.body = if is_type(&part, b"multipart") {
        let digest = is_sub(&part, b"digest");
        let ranges = match part.param(b"boundary") {
            Some(b) if !b.is_empty() && !over_limit => split_multipart(raw, hend, end, b),
            _ => Vec::new(),
        };
        let mut children = Vec::with_capacity(ranges.len());
        for (s, e) in ranges {
            if ctx.parts >= MAX_PARTS {
                break;
            }
            children.push(parse_part(ctx, s, e, digest, depth + 1));
        }
        if children.is_empty() {
            children.push(placeholder(hend));
        }
        Body::Multipart(children)
    } else if is_type(&part, b"message") && is_sub(&part, b"rfc822") {
        part.lines = count_lf(body);
        if over_limit {
            let mut root = placeholder(hend);
            root.body_end = end as u64;
            root.lines = part.lines;
            Body::Message(Box::new(MessageMeta {
                root,
                ..MessageMeta::default()
            }))
        } else {
            Body::Message(Box::new(parse_message(ctx, hend, end, depth + 1)))
        }
    } else if is_type(&part, b"text") {
        part.lines = count_lf(body);
        Body::Text
    } else {
        Body::Basic
    };
    part
}

/// Whether `line` (without its line break) is a delimiter line for
/// `boundary`: `Some(false)` for `--boundary`, `Some(true)` for the close
/// delimiter `--boundary--`. Trailing blanks are allowed (RFC 2046
/// transport padding); any other trailing text makes it an ordinary line.
fn delimiter(line: &[u8], boundary: &[u8]) -> Option<bool> {
    let rest = line.strip_prefix(b"--")?.strip_prefix(boundary)?;
    if rest.starts_with(b"--") {
        return Some(true);
    }
    rest.iter()
        .all(|&b| matches!(b, b' ' | b'\t' | b'\r'))
        .then_some(false)
}

/// Splits a multipart body into its body parts' byte ranges. The line
/// break before each delimiter belongs to the delimiter (RFC 2046). A
/// missing close delimiter ends the last part at `end`.
fn split_multipart(raw: &[u8], start: usize, end: usize, boundary: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut current: Option<usize> = None;
    let mut pos = start;
    while pos < end {
        let next = memchr::memchr(b'\n', &raw[pos..end]).map_or(end, |i| pos + i + 1);
        if raw[pos] == b'-' {
            let line = raw[pos..next]
                .strip_suffix(b"\n")
                .unwrap_or(&raw[pos..next]);
            if let Some(close) = delimiter(line, boundary) {
                if let Some(s) = current.take() {
                    let mut e = pos;
                    if e > s && raw[e - 1] == b'\n' {
                        e -= 1;
                        if e > s && raw[e - 1] == b'\r' {
                            e -= 1;
                        }
                    }
                    out.push((s, e));
                }
                if close {
                    return out;
                }
                current = Some(next);
            }
        }
        pos = next;
    }
    if let Some(s) = current {
        out.push((s, end));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiter_lines() {
        assert_eq!(delimiter(b"--abc", b"abc"), Some(false));
        assert_eq!(delimiter(b"--abc \t\r", b"abc"), Some(false));
        assert_eq!(delimiter(b"--abc--", b"abc"), Some(true));
        assert_eq!(delimiter(b"--abc--junk", b"abc"), Some(true));
        assert_eq!(delimiter(b"--abcd", b"abc"), None);
        assert_eq!(delimiter(b"-abc", b"abc"), None);
        assert_eq!(delimiter(b"abc", b"abc"), None);
    }

    #[test]
    fn split_ranges() {
        let body = b"pre\r\n--b\r\nA\r\n--b\r\n--b\r\n\r\nB\r\n\r\n--b--\r\nepi";
        let r = split_multipart(body, 0, body.len(), b"b");
        let parts: Vec<&[u8]> = r.iter().map(|&(s, e)| &body[s..e]).collect();
        assert_eq!(parts, vec![&b"A"[..], b"", b"\r\nB\r\n"]);
        // No close delimiter: the last part runs to the end.
        let body = b"--b\r\nA\r\n--b\r\nB\r\n";
        let r = split_multipart(body, 0, body.len(), b"b");
        let parts: Vec<&[u8]> = r.iter().map(|&(s, e)| &body[s..e]).collect();
        assert_eq!(parts, vec![&b"A"[..], b"B\r\n"]);
        assert!(split_multipart(b"no delimiters\r\n", 0, 15, b"b").is_empty());
    }

    #[test]
    fn date_parsing() {
        // 1994-02-08T05:52:25Z
        assert_eq!(
            parse_date(b" Mon, 7 Feb 1994 21:52:25 -0800 (PST)"),
            Some((760_686_745, -480))
        );
        assert_eq!(parse_date(b" garbage"), None);
        assert_eq!(parse_date(b""), None);
    }
}
