//! Argument handling shared by all commands and tests: tagged arguments
//! (`:comparator`, match types, address parts, `:flags`, `:create`,
//! `:over`/`:under`), positional argument checks and flag lists.

use super::lexer::Pos;
use super::matching::{Comparator, MatchType, Matcher};
use super::parser::{AddressPart, ArgKind, RawArg, RawTest};
use super::{CompileError, MAX_FLAGS};

const SYSTEM_FLAGS: &[&str] = &["\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"];

/// Splits flag strings on whitespace, canonicalizes system flags, drops
/// invalid flags (`\Recent`, unknown system flags, keywords that are not
/// IMAP atoms) and case-insensitive duplicates.
pub(super) fn normalize_flags<'a>(strings: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in strings.into_iter().flat_map(str::split_whitespace) {
        let flag = if word.starts_with('\\') {
            match SYSTEM_FLAGS.iter().find(|f| f.eq_ignore_ascii_case(word)) {
                Some(f) => (*f).to_string(),
                None => continue,
            }
        } else if word
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b))
        {
            word.to_string()
        } else {
            continue;
        };
        if !out.iter().any(|f| f.eq_ignore_ascii_case(&flag)) {
            out.push(flag);
        }
    }
    out
}

/// A flag list argument, normalized, at most [`MAX_FLAGS`] flags.
pub(super) fn flag_list(arg: RawArg) -> Result<Vec<String>, CompileError> {
    let pos = arg.pos;
    let list = strings(arg, "flag list")?;
    let flags = normalize_flags(list.iter().map(|(s, _)| s.as_str()));
    if flags.len() > MAX_FLAGS {
        return Err(pos.error(format!("more than {MAX_FLAGS} flags")));
    }
    Ok(flags)
}

/// Tagged arguments collected before the positional ones.
#[derive(Default)]
pub(super) struct Tags {
    pub comparator: Option<Comparator>,
    pub match_type: Option<MatchType>,
    pub part: Option<AddressPart>,
    pub flags: Option<Vec<String>>,
    pub create: bool,
    pub size: Option<(bool, u64)>,
}

impl Tags {
    pub(super) fn matcher(&self, keys: Vec<String>) -> Matcher {
        Matcher::new(
            self.comparator.unwrap_or(Comparator::AsciiCasemap),
            self.match_type.unwrap_or(MatchType::Is),
            keys,
        )
    }
}

/// Which groups of tagged arguments a command or test accepts.
#[derive(Clone, Copy, Default)]
pub(super) struct Allowed {
    pub matching: bool,
    pub part: bool,
    pub flags: bool,
    pub create: bool,
    pub size: bool,
}

/// A string or string list argument.
pub(super) fn strings(arg: RawArg, what: &str) -> Result<Vec<(String, Pos)>, CompileError> {
    match arg.kind {
        ArgKind::Strings { items, .. } => Ok(items),
        _ => Err(arg
            .pos
            .error(format!("expected a string or string list ({what})"))),
    }
}

/// Exactly one string (not a list, not even a one-element list).
pub(super) fn string(arg: RawArg, what: &str) -> Result<(String, Pos), CompileError> {
    match arg.kind {
        ArgKind::Strings {
            list: false,
            mut items,
        } if items.len() == 1 => Ok(items.remove(0)),
        _ => Err(arg.pos.error(format!("expected a single string ({what})"))),
    }
}

pub(super) fn texts(items: Vec<(String, Pos)>) -> Vec<String> {
    items.into_iter().map(|(s, _)| s).collect()
}

/// Checks that exactly `names.len()` positional arguments remain.
pub(super) fn positional(
    args: Vec<RawArg>,
    pos: Pos,
    name: &str,
    names: &[&str],
) -> Result<Vec<RawArg>, CompileError> {
    if args.len() != names.len() {
        let at = args.get(names.len()).map_or(pos, |a| a.pos);
        let expected = if names.is_empty() {
            "no arguments".to_string()
        } else {
            names.join(", ")
        };
        return Err(at.error(format!(
            "\"{name}\" takes {expected}, got {} argument(s)",
            args.len()
        )));
    }
    Ok(args)
}

/// Errors if a command or test that takes no test was given one.
pub(super) fn no_tests(tests: &[RawTest], test_list: bool, name: &str) -> Result<(), CompileError> {
    match tests.first() {
        Some(t) => Err(t.pos.error(format!(
            "\"{name}\" does not take a test{}",
            if test_list { " list" } else { "" }
        ))),
        None => Ok(()),
    }
}

/// RFC 5228 §3.2: an extension must be named in `require` before use.
pub(super) fn need(caps: &[String], cap: &str, pos: Pos, what: &str) -> Result<(), CompileError> {
    if caps.iter().any(|c| c == cap) {
        Ok(())
    } else {
        Err(pos.error(format!(
            "{what} requires the \"{cap}\" extension: add require \"{cap}\""
        )))
    }
}

/// Consumes leading tagged arguments; returns them and the positional rest.
pub(super) fn tags(
    caps: &[String],
    args: Vec<RawArg>,
    name: &str,
    allowed: Allowed,
) -> Result<(Tags, Vec<RawArg>), CompileError> {
    let mut tags = Tags::default();
    let mut it = args.into_iter().peekable();
    while let Some(RawArg {
        pos,
        kind: ArgKind::Tag(tag),
    }) = it.next_if(|a| matches!(a.kind, ArgKind::Tag(_)))
    {
        let dup = || pos.error(format!("duplicate or conflicting \":{tag}\""));
        let mut param = |what: &str| {
            it.next()
                .ok_or_else(|| pos.error(format!("\":{tag}\" needs {what}")))
        };
        match tag.as_str() {
            "comparator" if allowed.matching => {
                let (cname, cpos) = string(param("a comparator name")?, "comparator name")?;
                let c = Comparator::from_name(&cname)
                    .ok_or_else(|| cpos.error(format!("unsupported comparator \"{cname}\"")))?;
                if tags.comparator.replace(c).is_some() {
                    return Err(dup());
                }
            }
            "is" | "contains" | "matches" if allowed.matching => {
                let mt = match tag.as_str() {
                    "is" => MatchType::Is,
                    "contains" => MatchType::Contains,
                    _ => MatchType::Matches,
                };
                if tags.match_type.replace(mt).is_some() {
                    return Err(dup());
                }
            }
            "all" | "localpart" | "domain" | "user" | "detail" if allowed.part => {
                let part = match tag.as_str() {
                    "all" => AddressPart::All,
                    "localpart" => AddressPart::LocalPart,
                    "domain" => AddressPart::Domain,
                    "user" => AddressPart::User,
                    _ => AddressPart::Detail,
                };
                if matches!(part, AddressPart::User | AddressPart::Detail) {
                    need(caps, "subaddress", pos, &format!("\":{tag}\""))?;
                }
                if tags.part.replace(part).is_some() {
                    return Err(dup());
                }
            }
            "flags" if allowed.flags => {
                need(caps, "imap4flags", pos, "\":flags\"")?;
                let flags = flag_list(param("a flag list")?)?;
                if tags.flags.replace(flags).is_some() {
                    return Err(dup());
                }
            }
            "create" if allowed.create => {
                need(caps, "mailbox", pos, "\":create\"")?;
                if std::mem::replace(&mut tags.create, true) {
                    return Err(dup());
                }
            }
            "over" | "under" if allowed.size => {
                let arg = param("a number")?;
                let ArgKind::Number(n) = arg.kind else {
                    return Err(arg.pos.error(format!("\":{tag}\" needs a number")));
                };
                if tags.size.replace((tag == "over", n)).is_some() {
                    return Err(dup());
                }
            }
            _ => {
                return Err(pos.error(format!(
                    "unsupported tagged argument \":{tag}\" for \"{name}\""
                )));
            }
        }
    }
    let rest: Vec<RawArg> = it.collect();
    if let Some(a) = rest.iter().find(|a| matches!(a.kind, ArgKind::Tag(_))) {
        return Err(a
            .pos
            .error("tagged arguments must come before positional arguments"));
    }
    Ok((tags, rest))
}

#[cfg(test)]
mod tests {
    use super::super::compile;
    use super::*;

    fn err(src: &str) -> String {
        compile(src).unwrap_err().to_string()
    }

    #[test]
    fn argument_errors() {
        assert_eq!(
            err("if header :is :contains \"a\" \"b\" {}"),
            "line 1, column 15: duplicate or conflicting \":contains\""
        );
        assert_eq!(
            err("if header \"a\" {}"),
            "line 1, column 4: \"header\" takes header names, a key list, got 1 argument(s)"
        );
        assert_eq!(
            err("if header \"a\" :is \"b\" {}"),
            "line 1, column 15: tagged arguments must come before positional arguments"
        );
        assert_eq!(
            err("if header \"a\" \"b\" \"c\" {}"),
            "line 1, column 19: \"header\" takes header names, a key list, got 3 argument(s)"
        );
        assert_eq!(
            err("if header 1 \"b\" {}"),
            "line 1, column 11: expected a string or string list (header names)"
        );
        assert_eq!(
            err("if header \"bad name\" \"b\" {}"),
            "line 1, column 11: invalid header name \"bad name\""
        );
        assert_eq!(
            err("if exists [\"ok\", \"\"] {}"),
            "line 1, column 18: invalid header name \"\""
        );
        assert_eq!(
            err("if address \"subject\" \"b\" {}"),
            "line 1, column 12: \"subject\" is not an address header"
        );
        assert_eq!(
            err("require \"envelope\";\nif envelope \"auth\" \"b\" {}"),
            "line 2, column 13: unsupported envelope part \"auth\""
        );
        assert_eq!(
            err("if size 100 {}"),
            "line 1, column 9: \"size\" takes no arguments, got 1 argument(s)"
        );
        assert_eq!(
            err("if size :over \"1\" {}"),
            "line 1, column 15: \":over\" needs a number"
        );
        assert_eq!(
            err("if size :over {}"),
            "line 1, column 9: \":over\" needs a number"
        );
        assert_eq!(
            err("if size :over 1 :under 2 {}"),
            "line 1, column 17: duplicate or conflicting \":under\""
        );
        assert_eq!(
            err("if size {}"),
            "line 1, column 4: \"size\" needs :over or :under and a number"
        );
        assert_eq!(
            err("require \"fileinto\"; fileinto [\"a\"];"),
            "line 1, column 30: expected a single string (mailbox name)"
        );
        assert_eq!(
            err("require \"fileinto\"; fileinto \"\";"),
            "line 1, column 30: empty mailbox name"
        );
        assert_eq!(
            err("require \"imap4flags\"; setflag \"var\" \"\\\\Seen\";"),
            "line 1, column 23: \"setflag\" with a variable name needs the unsupported \"variables\" extension"
        );
        assert!(
            err("require \"imap4flags\"; if hasflag \"v\" \"x\" {}")
                .contains("\"variables\" extension")
        );
        let many = (0..=MAX_FLAGS)
            .map(|i| format!("k{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            err(&format!("require \"imap4flags\";\nsetflag \"{many}\";")),
            format!("line 2, column 9: more than {MAX_FLAGS} flags")
        );
    }

    #[test]
    fn flag_normalization() {
        assert_eq!(
            normalize_flags([
                "\\seen  $Junk",
                "\\SEEN",
                "$junk",
                "\\Recent \\Bogus",
                "bad(flag",
                "Ärger",
                "\\answered"
            ]),
            vec!["\\Seen", "$Junk", "\\Answered"]
        );
        assert!(normalize_flags(["", "   "]).is_empty());
    }
}
