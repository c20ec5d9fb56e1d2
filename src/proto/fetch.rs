//! FETCH attribute grammar (RFC 3501 §6.4.5, RFC 3516 BINARY, RFC 7162 MODSEQ).

use super::parse::{PResult, ParseError, Parser};

/// `section-msgtext` / `section-text` (RFC 3501 §9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SectionText {
    Header,
    HeaderFields { not: bool, fields: Vec<String> },
    Text,
    Mime,
}

/// `section-spec`: an optional part path (`1.2.3`) and an optional text specifier.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Section {
    pub part: Vec<u32>,
    pub text: Option<SectionText>,
}

impl Section {
    /// The section as echoed in the response: `1.HEADER.FIELDS (FROM TO)`. Field names are
    /// matched case-insensitively and echoed in upper case, as Dovecot does.
    pub fn spec(&self) -> String {
        let mut s: Vec<String> = self.part.iter().map(u32::to_string).collect();
        match &self.text {
            None => {}
            Some(SectionText::Header) => s.push("HEADER".into()),
            Some(SectionText::Text) => s.push("TEXT".into()),
            Some(SectionText::Mime) => s.push("MIME".into()),
            Some(SectionText::HeaderFields { not, fields }) => {
                let mut quoted = Vec::with_capacity(fields.len());
                for f in fields {
                    let mut v = Vec::new();
                    super::encode::astring(&mut v, f.to_ascii_uppercase().as_bytes());
                    quoted.push(String::from_utf8_lossy(&v).into_owned());
                }
                let name = if *not {
                    "HEADER.FIELDS.NOT"
                } else {
                    "HEADER.FIELDS"
                };
                s.push(format!("{name} ({})", quoted.join(" ")));
            }
        }
        s.join(".")
    }
}

/// Partial fetch `<origin.count>`.
pub type Partial = Option<(u32, u32)>;

/// One `fetch-att`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchAttr {
    Envelope,
    Flags,
    InternalDate,
    Rfc822,
    Rfc822Header,
    Rfc822Size,
    Rfc822Text,
    /// `BODY` (non-extensible BODYSTRUCTURE).
    Body,
    BodyStructure,
    Uid,
    ModSeq,
    BodySection {
        peek: bool,
        section: Section,
        partial: Partial,
    },
    Binary {
        peek: bool,
        part: Vec<u32>,
        partial: Partial,
    },
    BinarySize {
        part: Vec<u32>,
    },
}

impl FetchAttr {
    /// True when fetching this item sets `\Seen` (RFC 3501 §6.4.5).
    pub fn sets_seen(&self) -> bool {
        matches!(
            self,
            FetchAttr::Rfc822
                | FetchAttr::Rfc822Text
                | FetchAttr::BodySection { peek: false, .. }
                | FetchAttr::Binary { peek: false, .. }
        )
    }
}

/// `FETCH` arguments after the sequence set: a macro, one attribute or a list.
pub fn parse_fetch_atts(p: &mut Parser<'_>) -> PResult<Vec<FetchAttr>> {
    if p.peek() == Some(b'(') {
        let atts = p.paren_list(fetch_att)?;
        if atts.is_empty() {
            return Err(ParseError::new("Empty fetch attribute list"));
        }
        return Ok(atts);
    }
    let save = p.keyword()?;
    use FetchAttr::*;
    Ok(match save.as_str() {
        // RFC 3501 §6.4.5 macros.
        "ALL" => vec![Flags, InternalDate, Rfc822Size, Envelope],
        "FAST" => vec![Flags, InternalDate, Rfc822Size],
        "FULL" => vec![Flags, InternalDate, Rfc822Size, Envelope, Body],
        _ => vec![fetch_att_named(p, &save)?],
    })
}

fn fetch_att(p: &mut Parser<'_>) -> PResult<FetchAttr> {
    let name = p.keyword()?;
    fetch_att_named(p, &name)
}

fn fetch_att_named(p: &mut Parser<'_>, name: &str) -> PResult<FetchAttr> {
    use FetchAttr::*;
    Ok(match name {
        "ENVELOPE" => Envelope,
        "FLAGS" => Flags,
        "INTERNALDATE" => InternalDate,
        "RFC822" => Rfc822,
        "RFC822.HEADER" => Rfc822Header,
        "RFC822.SIZE" => Rfc822Size,
        "RFC822.TEXT" => Rfc822Text,
        "BODYSTRUCTURE" => BodyStructure,
        "UID" => Uid,
        "MODSEQ" => ModSeq,
        "BODY" if p.peek() != Some(b'[') => Body,
        "BODY" | "BODY.PEEK" => {
            let section = section(p)?;
            BodySection {
                peek: name == "BODY.PEEK",
                section,
                partial: partial(p)?,
            }
        }
        "BINARY" | "BINARY.PEEK" => {
            let part = section_binary(p)?;
            Binary {
                peek: name == "BINARY.PEEK",
                part,
                partial: partial(p)?,
            }
        }
        "BINARY.SIZE" => BinarySize {
            part: section_binary(p)?,
        },
        _ => return Err(ParseError::new(format!("Unknown fetch attribute {name}"))),
    })
}

/// `section = "[" [section-spec] "]"`.
fn section(p: &mut Parser<'_>) -> PResult<Section> {
    p.expect(b'[')?;
    let mut sec = Section::default();
    if p.eat(b']') {
        return Ok(sec);
    }
    // section-part = nz-number *("." nz-number)
    while p.peek().is_some_and(|b| b.is_ascii_digit()) {
        sec.part.push(p.nz_number()?);
        if !p.eat(b'.') {
            p.expect(b']')?;
            return Ok(sec);
        }
    }
    let kw = p.keyword()?;
    sec.text = Some(match kw.as_str() {
        "HEADER" => SectionText::Header,
        "TEXT" => SectionText::Text,
        "MIME" if !sec.part.is_empty() => SectionText::Mime,
        "HEADER.FIELDS" | "HEADER.FIELDS.NOT" => {
            p.sp()?;
            let fields = p.paren_list(|p| p.astring_utf8())?;
            if fields.is_empty() {
                return Err(ParseError::new("Empty header field list"));
            }
            SectionText::HeaderFields {
                not: kw.ends_with(".NOT"),
                fields,
            }
        }
        _ => return Err(ParseError::new("Invalid section")),
    });
    p.expect(b']')?;
    Ok(sec)
}

/// `section-binary = "[" [section-part] "]"` (RFC 3516).
fn section_binary(p: &mut Parser<'_>) -> PResult<Vec<u32>> {
    p.expect(b'[')?;
    let mut part = Vec::new();
    if p.eat(b']') {
        return Ok(part);
    }
    loop {
        part.push(p.nz_number()?);
        if p.eat(b']') {
            return Ok(part);
        }
        p.expect(b'.')?;
    }
}

/// `partial = "<" number "." nz-number ">"`.
fn partial(p: &mut Parser<'_>) -> PResult<Partial> {
    if !p.eat(b'<') {
        return Ok(None);
    }
    let start = p.number()?;
    p.expect(b'.')?;
    let len = p.nz_number()?;
    p.expect(b'>')?;
    Ok(Some((start, len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> PResult<Vec<FetchAttr>> {
        parse_fetch_atts(&mut Parser::new(s.as_bytes()))
    }

    #[test]
    fn macros_and_lists() {
        assert_eq!(parse("FAST").unwrap().len(), 3);
        assert_eq!(
            parse("(UID FLAGS)").unwrap(),
            vec![FetchAttr::Uid, FetchAttr::Flags]
        );
        assert_eq!(parse("body").unwrap(), vec![FetchAttr::Body]);
    }

    #[test]
    fn sections() {
        let a = parse("(BODY.PEEK[1.2.HEADER.FIELDS (From \"To\")]<0.100> BODY[])").unwrap();
        let FetchAttr::BodySection {
            peek,
            section,
            partial,
        } = &a[0]
        else {
            panic!()
        };
        assert!(*peek);
        assert_eq!(section.part, vec![1, 2]);
        assert_eq!(*partial, Some((0, 100)));
        assert_eq!(section.spec(), "1.2.HEADER.FIELDS (FROM TO)");
        assert_eq!(
            a[1],
            FetchAttr::BodySection {
                peek: false,
                section: Section::default(),
                partial: None
            }
        );
        assert_eq!(
            parse("BODY[3]").unwrap(),
            vec![FetchAttr::BodySection {
                peek: false,
                section: Section {
                    part: vec![3],
                    text: None
                },
                partial: None
            }]
        );
        assert!(parse("BODY[MIME]").is_err());
        assert!(parse("BODY[HEADER.FIELDS ()]").is_err());
        assert!(parse("BODY[0]").is_err());
        assert!(parse("()").is_err());
        assert_eq!(
            parse("BINARY.PEEK[1.2]<5.10>").unwrap(),
            vec![FetchAttr::Binary {
                peek: true,
                part: vec![1, 2],
                partial: Some((5, 10))
            }]
        );
    }
}
