//! A lenient RFC 5322 address-list parser producing IMAP ENVELOPE address
//! structures. Display names stay raw (RFC 2047 words are not decoded,
//! quoted strings are unquoted); a quoted local-part is unquoted too
//! (RFC 3501 `addr-mailbox`: "local-part after removing quoting").
//! Comments are dropped, except that in the bare `user@host (Name)` form
//! the last comment after the address names it (as Dovecot).

use super::meta::Address;

/// Placeholders for missing address pieces (host NIL would read as a
/// group marker), following Dovecot.
pub(super) const MISSING_MAILBOX: &[u8] = b"MISSING_MAILBOX";
pub(super) const MISSING_DOMAIN: &[u8] = b"MISSING_DOMAIN";

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// An atom (dots included) or a domain literal, raw.
    Atom(Vec<u8>),
    /// A quoted string: (unescaped content, raw text including quotes).
    Quoted(Vec<u8>, Vec<u8>),
    Comment(Vec<u8>),
    /// One of `< > @ , ; :`.
    Sym(u8),
}

fn tokenize(s: &[u8]) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            b'(' => {
                let mut depth = 0usize;
                let mut text = Vec::new();
                while i < s.len() {
                    let b = s[i];
                    i += 1;
                    match b {
                        b'\\' if i < s.len() => {
                            text.push(s[i]);
                            i += 1;
                        }
                        b'(' => {
                            if depth > 0 {
                                text.push(b);
                            }
                            depth += 1;
                        }
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                            text.push(b);
                        }
                        b'\r' | b'\n' => {}
                        _ => text.push(b),
                    }
                }
                out.push(Tok::Comment(text));
            }
            b'"' => {
                let start = i;
                i += 1;
                let mut text = Vec::new();
                while i < s.len() {
                    let b = s[i];
                    i += 1;
                    match b {
                        b'"' => break,
                        b'\\' if i < s.len() => {
                            text.push(s[i]);
                            i += 1;
                        }
                        b'\r' | b'\n' => {}
                        _ => text.push(b),
                    }
                }
                let raw = s[start..i]
                    .iter()
                    .copied()
                    .filter(|&b| b != b'\r' && b != b'\n');
                out.push(Tok::Quoted(text, raw.collect()));
            }
            b'[' => {
                let start = i;
                while i < s.len() && s[i] != b']' {
                    i += 1;
                }
                i = (i + 1).min(s.len());
                out.push(Tok::Atom(s[start..i].to_vec()));
            }
            b @ (b'<' | b'>' | b'@' | b',' | b';' | b':') => {
                out.push(Tok::Sym(b));
                i += 1;
            }
            _ => {
                let start = i;
                while i < s.len()
                    && !matches!(
                        s[i],
                        b' ' | b'\t'
                            | b'\r'
                            | b'\n'
                            | b'('
                            | b'"'
                            | b'['
                            | b'<'
                            | b'>'
                            | b'@'
                            | b','
                            | b';'
                            | b':'
                    )
                {
                    i += 1;
                }
                out.push(Tok::Atom(s[start..i].to_vec()));
            }
        }
    }
    out
}

/// Words of a phrase joined by single spaces; `None` when empty.
fn phrase(toks: &[Tok]) -> Option<Vec<u8>> {
    let mut out: Vec<u8> = Vec::new();
    let mut any = false;
    for t in toks {
        let w: &[u8] = match t {
            Tok::Atom(a) => a,
            Tok::Quoted(q, _) => q,
            Tok::Sym(b'@') => b"@",
            _ => continue,
        };
        if any {
            out.push(b' ');
        }
        out.extend_from_slice(w);
        any = true;
    }
    any.then_some(out)
}

/// The last non-empty comment after the last other token (`user@host (Name)`).
fn trailing_comment(toks: &[Tok]) -> Option<Vec<u8>> {
    toks.iter()
        .rev()
        .take_while(|t| matches!(t, Tok::Comment(_)))
        .find_map(|t| match t {
            Tok::Comment(c) if !c.is_empty() => Some(c.clone()),
            _ => None,
        })
}

/// `local@domain` tokens (no angle brackets) into (mailbox, host), quoted
/// strings unquoted.
fn addr_spec(toks: &[Tok]) -> (Option<Vec<u8>>, Option<Vec<u8>>) {
    let at = toks.iter().position(|t| *t == Tok::Sym(b'@'));
    let join = |ts: &[Tok]| {
        let mut v = Vec::new();
        let mut any = false;
        for t in ts {
            any |= !matches!(t, Tok::Comment(_));
            match t {
                Tok::Atom(a) => v.extend_from_slice(a),
                Tok::Quoted(q, _) => v.extend_from_slice(q),
                Tok::Sym(b) => v.push(*b),
                Tok::Comment(_) => {}
            }
        }
        // `""@host` has an empty (but present) local-part.
        any.then_some(v)
    };
    match at {
        Some(i) => (join(&toks[..i]), join(&toks[i + 1..])),
        None => (join(toks), None),
    }
}

/// Builds one address from the tokens between two separators.
fn mailbox(toks: &[Tok]) -> Option<Address> {
    if toks.iter().all(|t| matches!(t, Tok::Comment(_))) {
        return None;
    }
    let (name, adl, spec) = match toks.iter().position(|t| *t == Tok::Sym(b'<')) {
        Some(lt) => {
            let inner = &toks[lt + 1..];
            let gt = inner
                .iter()
                .position(|t| *t == Tok::Sym(b'>'))
                .unwrap_or(inner.len());
            let inner = &inner[..gt];
            // Obsolete source route: "@a,@b:" before the addr-spec.
            let (adl, spec) = match inner.iter().position(|t| *t == Tok::Sym(b':')) {
                Some(c) if inner.first() == Some(&Tok::Sym(b'@')) => {
                    let mut route = Vec::new();
                    for t in &inner[..c] {
                        match t {
                            Tok::Atom(a) => route.extend_from_slice(a),
                            Tok::Sym(b) => route.push(*b),
                            _ => {}
                        }
                    }
                    (Some(route), &inner[c + 1..])
                }
                _ => (None, inner),
            };
            (phrase(&toks[..lt]), adl, spec)
        }
        None => (trailing_comment(toks), None, toks),
    };
    let (mailbox, host) = addr_spec(spec);
    Some(Address {
        name,
        adl,
        mailbox: Some(mailbox.unwrap_or_else(|| MISSING_MAILBOX.to_vec())),
        host: Some(host.unwrap_or_else(|| MISSING_DOMAIN.to_vec())),
    })
}

fn group_end() -> Address {
    Address::default()
}

/// Parses an address-list header value into ENVELOPE addresses, with
/// group start/end markers.
pub(super) fn parse_address_list(value: &[u8]) -> Vec<Address> {
    let toks = tokenize(value);
    let mut out = Vec::new();
    let mut in_group = false;
    let mut i = 0;
    while i < toks.len() {
        // Collect one item up to a separator outside angle brackets.
        let start = i;
        let mut angle = false;
        let mut seen_at = false;
        let mut stop = None;
        while i < toks.len() {
            match toks[i] {
                Tok::Sym(b'<') => angle = true,
                Tok::Sym(b'>') => angle = false,
                Tok::Sym(b'@') => seen_at = true,
                Tok::Sym(c @ (b',' | b';')) if !angle => {
                    stop = Some(c);
                    break;
                }
                Tok::Sym(b':') if !angle && !seen_at && !in_group => {
                    stop = Some(b':');
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        let item = &toks[start..i];
        i += 1;
        if stop == Some(b':') {
            in_group = true;
            out.push(Address {
                mailbox: Some(phrase(item).unwrap_or_default()),
                ..Address::default()
            });
            continue;
        }
        out.extend(mailbox(item));
        if stop == Some(b';') && in_group {
            out.push(group_end());
            in_group = false;
        }
    }
    if in_group {
        out.push(group_end());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(name: Option<&str>, adl: Option<&str>, mb: Option<&str>, host: Option<&str>) -> Address {
        let f = |s: Option<&str>| s.map(|s| s.as_bytes().to_vec());
        Address {
            name: f(name),
            adl: f(adl),
            mailbox: f(mb),
            host: f(host),
        }
    }

    #[test]
    fn simple_forms() {
        assert_eq!(
            parse_address_list(b" a@b.c"),
            vec![a(None, None, Some("a"), Some("b.c"))]
        );
        assert_eq!(
            parse_address_list(b"\"Doe, John\" <john@example.com>, Mary Smith <m@x.y>"),
            vec![
                a(Some("Doe, John"), None, Some("john"), Some("example.com")),
                a(Some("Mary Smith"), None, Some("m"), Some("x.y")),
            ]
        );
        assert_eq!(
            parse_address_list(b"jane@example.org (Jane Roe)"),
            vec![a(Some("Jane Roe"), None, Some("jane"), Some("example.org"))]
        );
        assert_eq!(
            parse_address_list(b"=?UTF-8?Q?J=C3=B6rg?= <j@x>"),
            vec![a(Some("=?UTF-8?Q?J=C3=B6rg?="), None, Some("j"), Some("x"))]
        );
        assert_eq!(
            parse_address_list(b"\"Joe Q. \\\"Public\\\"\" <john.q.public@example.com>"),
            vec![a(
                Some("Joe Q. \"Public\""),
                None,
                Some("john.q.public"),
                Some("example.com")
            )]
        );
    }

    #[test]
    fn routes_groups_and_broken_addresses() {
        assert_eq!(
            parse_address_list(b"<@r1,@r2:user@host>"),
            vec![a(None, Some("@r1,@r2"), Some("user"), Some("host"))]
        );
        assert_eq!(
            parse_address_list(b"A Group:Chris <c@p.ex>,joe@ex.org;, undisclosed-recipients:;"),
            vec![
                a(None, None, Some("A Group"), None),
                a(Some("Chris"), None, Some("c"), Some("p.ex")),
                a(None, None, Some("joe"), Some("ex.org")),
                a(None, None, None, None),
                a(None, None, Some("undisclosed-recipients"), None),
                a(None, None, None, None),
            ]
        );
        // Unterminated group is closed; stray separators are ignored.
        assert_eq!(
            parse_address_list(b"G: x@y,, ,"),
            vec![
                a(None, None, Some("G"), None),
                a(None, None, Some("x"), Some("y")),
                a(None, None, None, None),
            ]
        );
        assert_eq!(
            parse_address_list(b"Who?, <>, nobody@"),
            vec![
                a(None, None, Some("Who?"), Some("MISSING_DOMAIN")),
                a(None, None, Some("MISSING_MAILBOX"), Some("MISSING_DOMAIN")),
                a(None, None, Some("nobody"), Some("MISSING_DOMAIN")),
            ]
        );
        assert_eq!(
            parse_address_list(b"\"john doe\"@example.com, x@[1.2.3.4], \"a\\\\b\".c@d"),
            vec![
                a(None, None, Some("john doe"), Some("example.com")),
                a(None, None, Some("x"), Some("[1.2.3.4]")),
                a(None, None, Some("a\\b.c"), Some("d")),
            ]
        );
        // Only a comment after a bare address names it (as Dovecot).
        assert_eq!(
            parse_address_list(b"(lead) a@b, <c@d> (after), (c1) e@f (c2)"),
            vec![
                a(None, None, Some("a"), Some("b")),
                a(None, None, Some("c"), Some("d")),
                a(Some("c2"), None, Some("e"), Some("f")),
            ]
        );
        assert_eq!(parse_address_list(b""), vec![]);
        assert_eq!(parse_address_list(b"  (just a comment) "), vec![]);
        // Unterminated everything must not panic.
        for s in [
            &b"\"abc"[..],
            b"(abc",
            b"<a@b",
            b"[abc",
            b"a\\",
            b"(\\",
            b"\"\\",
        ] {
            let _ = parse_address_list(s);
        }
    }
}
