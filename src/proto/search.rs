//! SEARCH grammar (RFC 3501 §6.4.4, RFC 4731 ESEARCH `RETURN`, RFC 5182 SEARCHRES `$`,
//! RFC 7162 `MODSEQ`).

use super::command::Sequence;
use super::parse::{PResult, ParseError, Parser};

/// Deepest nesting of NOT/OR/parentheses accepted, so a hostile query cannot exhaust the stack.
const MAX_DEPTH: u32 = 32;

/// `search-key` (RFC 3501 §9). Dates are unix seconds at 00:00 UTC of the given day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchKey {
    All,
    Answered,
    Deleted,
    Draft,
    Flagged,
    New,
    Old,
    Recent,
    Seen,
    Unanswered,
    Undeleted,
    Undraft,
    Unflagged,
    Unseen,
    Keyword(String),
    Unkeyword(String),
    Bcc(String),
    Cc(String),
    From(String),
    To(String),
    Subject(String),
    Body(String),
    Text(String),
    /// `HEADER field-name string`; an empty string matches every message with the field.
    Header(String, String),
    Before(i64),
    On(i64),
    Since(i64),
    SentBefore(i64),
    SentOn(i64),
    SentSince(i64),
    Larger(u64),
    Smaller(u64),
    Uid(Sequence),
    Seq(Sequence),
    ModSeq(u64),
    Not(Box<SearchKey>),
    Or(Box<SearchKey>, Box<SearchKey>),
    And(Vec<SearchKey>),
}

/// RFC 4731 `search-return-opt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnOpt {
    Min,
    Max,
    All,
    Count,
    /// RFC 5182: remember the result as `$`.
    Save,
}

/// A whole SEARCH command's arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchProgram {
    /// `None` when no CHARSET was given.
    pub charset: Option<String>,
    /// `Some` when `RETURN (...)` was given (ESEARCH form of the answer).
    pub ret: Option<Vec<ReturnOpt>>,
    pub key: SearchKey,
}

/// `search = "SEARCH" [SP "RETURN" SP "(" [search-return-opts] ")"] [SP "CHARSET" SP astring]
///  1*(SP search-key)`.
pub fn parse_search(p: &mut Parser<'_>) -> PResult<SearchProgram> {
    let mut prog = SearchProgram {
        charset: None,
        ret: None,
        key: SearchKey::All,
    };
    p.sp()?;
    if p.peek_word_ci("RETURN") {
        p.keyword()?;
        p.sp()?;
        let opts = p.paren_list(|p| {
            Ok(match p.keyword()?.as_str() {
                "MIN" => ReturnOpt::Min,
                "MAX" => ReturnOpt::Max,
                "ALL" => ReturnOpt::All,
                "COUNT" => ReturnOpt::Count,
                "SAVE" => ReturnOpt::Save,
                o => return Err(ParseError::new(format!("Unknown RETURN option {o}"))),
            })
        })?;
        // RFC 4731 §3.1: an empty list means ALL.
        prog.ret = Some(if opts.is_empty() {
            vec![ReturnOpt::All]
        } else {
            opts
        });
        p.sp()?;
    }
    if p.peek_word_ci("CHARSET") {
        p.keyword()?;
        p.sp()?;
        prog.charset = Some(String::from_utf8_lossy(&p.astring()?).to_ascii_uppercase());
        p.sp()?;
    }
    let mut keys = vec![search_key(p, 0)?];
    while p.eat(b' ') {
        keys.push(search_key(p, 0)?);
    }
    prog.key = if keys.len() == 1 {
        keys.pop().expect("one key")
    } else {
        SearchKey::And(keys)
    };
    Ok(prog)
}

fn text(p: &mut Parser<'_>) -> PResult<String> {
    p.sp()?;
    String::from_utf8(p.astring()?).map_err(|_| ParseError::new("Search string is not UTF-8"))
}

fn date(p: &mut Parser<'_>) -> PResult<i64> {
    p.sp()?;
    p.date()
}

fn search_key(p: &mut Parser<'_>, depth: u32) -> PResult<SearchKey> {
    use SearchKey::*;
    if depth > MAX_DEPTH {
        return Err(ParseError::new("Search nested too deeply"));
    }
    if p.peek() == Some(b'(') {
        let mut keys = p.paren_list(|p| search_key(p, depth + 1))?;
        return match keys.len() {
            0 => Err(ParseError::new("Empty search list")),
            1 => Ok(keys.pop().expect("one key")),
            _ => Ok(And(keys)),
        };
    }
    if p.peek()
        .is_some_and(|b| b.is_ascii_digit() || b == b'*' || b == b'$')
    {
        return Ok(Seq(match p.seq_set()? {
            Some(s) => Sequence::Set(s),
            None => Sequence::Saved,
        }));
    }
    let kw = p.keyword()?;
    Ok(match kw.as_str() {
        "ALL" => All,
        "ANSWERED" => Answered,
        "DELETED" => Deleted,
        "DRAFT" => Draft,
        "FLAGGED" => Flagged,
        "NEW" => New,
        "OLD" => Old,
        "RECENT" => Recent,
        "SEEN" => Seen,
        "UNANSWERED" => Unanswered,
        "UNDELETED" => Undeleted,
        "UNDRAFT" => Undraft,
        "UNFLAGGED" => Unflagged,
        "UNSEEN" => Unseen,
        "KEYWORD" | "UNKEYWORD" => {
            p.sp()?;
            let k = p.atom()?.to_string();
            if kw == "KEYWORD" {
                Keyword(k)
            } else {
                Unkeyword(k)
            }
        }
        "BCC" => Bcc(text(p)?),
        "CC" => Cc(text(p)?),
        "FROM" => From(text(p)?),
        "TO" => To(text(p)?),
        "SUBJECT" => Subject(text(p)?),
        "BODY" => Body(text(p)?),
        "TEXT" => Text(text(p)?),
        "HEADER" => {
            let name = text(p)?;
            Header(name, text(p)?)
        }
        "BEFORE" => Before(date(p)?),
        "ON" => On(date(p)?),
        "SINCE" => Since(date(p)?),
        "SENTBEFORE" => SentBefore(date(p)?),
        "SENTON" => SentOn(date(p)?),
        "SENTSINCE" => SentSince(date(p)?),
        "LARGER" => {
            p.sp()?;
            Larger(p.number64()?)
        }
        "SMALLER" => {
            p.sp()?;
            Smaller(p.number64()?)
        }
        "UID" => {
            p.sp()?;
            Uid(match p.seq_set()? {
                Some(s) => Sequence::Set(s),
                None => Sequence::Saved,
            })
        }
        "NOT" => {
            p.sp()?;
            Not(Box::new(search_key(p, depth + 1)?))
        }
        "OR" => {
            p.sp()?;
            let a = search_key(p, depth + 1)?;
            p.sp()?;
            Or(Box::new(a), Box::new(search_key(p, depth + 1)?))
        }
        // RFC 7162 §3.1.5: "MODSEQ" [SP entry-name SP entry-type-req] SP mod-sequence-valzer
        "MODSEQ" => {
            p.sp()?;
            if p.peek() == Some(b'"') {
                p.string()?;
                p.sp()?;
                p.keyword()?;
                p.sp()?;
            }
            ModSeq(p.number64()?)
        }
        other => return Err(ParseError::new(format!("Unknown search key {other}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> PResult<SearchProgram> {
        parse_search(&mut Parser::new(s.as_bytes()))
    }

    #[test]
    fn keys() {
        let p = parse(" CHARSET utf-8 OR FROM alice NOT (SEEN LARGER 100) 1:5 UID $").unwrap();
        assert_eq!(p.charset.as_deref(), Some("UTF-8"));
        let SearchKey::And(keys) = p.key else {
            panic!()
        };
        assert_eq!(keys.len(), 3);
        assert!(matches!(keys[0], SearchKey::Or(..)));
        assert_eq!(keys[2], SearchKey::Uid(Sequence::Saved));
        let p = parse(" RETURN () SINCE 1-Feb-1994").unwrap();
        assert_eq!(p.ret, Some(vec![ReturnOpt::All]));
        assert_eq!(p.key, SearchKey::Since(760_060_800));
        assert_eq!(
            parse(" HEADER X-Foo \"\"").unwrap().key,
            SearchKey::Header("X-Foo".into(), String::new())
        );
        assert!(parse(" FROB").is_err());
        assert!(parse(" ()").is_err());
        let deep = format!(" {}ALL", "NOT ".repeat(40));
        assert!(parse(&deep).is_err());
    }
}
