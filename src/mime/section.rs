//! BODY[section] resolution (RFC 3501 §6.4.5) to byte ranges of the raw
//! message, and HEADER.FIELDS filtering.

use std::ops::Range;

use super::header;
use super::meta::{Body, MessageMeta, Part};

/// The part of a section after the part number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionText {
    /// No text specifier: the whole message, or the part body.
    Full,
    Header,
    HeaderFields {
        not: bool,
        fields: Vec<Vec<u8>>,
    },
    Text,
    Mime,
}

/// `BODY[1.2.HEADER.FIELDS (A B)]` is
/// `Section { part: vec![1, 2], text: HeaderFields { not: false, .. } }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub part: Vec<u32>,
    pub text: SectionText,
}

/// Where a section's data comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionData {
    /// These bytes of the raw message, verbatim.
    Range(Range<u64>),
    /// These header bytes, passed through [`filter_header`].
    FilterHeader {
        range: Range<u64>,
        not: bool,
        fields: Vec<Vec<u8>>,
    },
    /// The part exists but the specifier does not apply to it (HEADER or
    /// TEXT of a part that is not `message/rfc822`): an empty string.
    Empty,
}

/// Resolves a section against the stored structure. `None` when the part
/// number does not exist (the server answers with an empty string or NIL).
///
/// Numbering: part 1 of a non-multipart message is its body; the parts of
/// a multipart are numbered from 1; a `message/rfc822` part's numbers
/// continue into the encapsulated message the same way. HEADER and TEXT
/// after a part number need a `message/rfc822` part and refer to the
/// encapsulated message; MIME is the part's own MIME header (for the body
/// of a non-multipart message, that message's header); a multipart part's
/// number gives its whole body including delimiters.
pub fn resolve_section(meta: &MessageMeta, section: &Section) -> Option<SectionData> {
    let (msg, part) = if section.part.is_empty() {
        (Some(meta), None)
    } else {
        let p = find_part(meta, &section.part)?;
        let msg = match &p.body {
            Body::Message(m) => Some(&**m),
            _ => None,
        };
        (msg, Some(p))
    };
    let header_of = |m: &MessageMeta| m.root.header_start..m.root.body_start;
    Some(match &section.text {
        SectionText::Full => match part {
            Some(p) => SectionData::Range(p.body_start..p.body_end),
            None => SectionData::Range(meta.root.header_start..meta.root.body_end),
        },
        SectionText::Mime => {
            let p = part?;
            SectionData::Range(p.header_start..p.body_start)
        }
        SectionText::Header => match msg {
            Some(m) => SectionData::Range(header_of(m)),
            None => SectionData::Empty,
        },
        SectionText::HeaderFields { not, fields } => match msg {
            Some(m) => SectionData::FilterHeader {
                range: header_of(m),
                not: *not,
                fields: fields.clone(),
            },
            None => SectionData::Empty,
        },
        SectionText::Text => match msg {
            Some(m) => SectionData::Range(m.root.body_start..m.root.body_end),
            None => SectionData::Empty,
        },
    })
}

/// Finds the part addressed by a non-empty part number path.
pub(super) fn find_part<'a>(meta: &'a MessageMeta, path: &[u32]) -> Option<&'a Part> {
    let (&first, rest) = path.split_first()?;
    let mut cur = child(meta, first)?;
    for &n in rest {
        cur = match &cur.body {
            Body::Multipart(children) => children.get(index(n)?)?,
            Body::Message(m) => child(m, n)?,
            Body::Basic | Body::Text => return None,
        };
    }
    Some(cur)
}

/// Part `n` of a message: a child of its multipart root, or (n == 1) the
/// non-multipart root itself.
fn child(m: &MessageMeta, n: u32) -> Option<&Part> {
    match &m.root.body {
        Body::Multipart(children) => children.get(index(n)?),
        _ => (n == 1).then_some(&m.root),
    }
}

fn index(n: u32) -> Option<usize> {
    usize::try_from(n.checked_sub(1)?).ok()
}

/// Writes the fields of `header` whose names are (`not == false`) or are
/// not (`not == true`) in `fields` (case-insensitive), keeping folded
/// continuation lines (each written field ends with CRLF), then the blank
/// line if `header` has one (RFC 3501: it is omitted only for a message
/// with no body and no blank line).
pub fn filter_header(header: &[u8], fields: &[Vec<u8>], not: bool, out: &mut Vec<u8>) {
    for f in header::fields(header) {
        let listed = fields.iter().any(|n| n.eq_ignore_ascii_case(f.name));
        if listed != not {
            out.extend_from_slice(f.raw);
            if !f.raw.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    if header::has_blank_line(header) {
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(header: &[u8], names: &[&str], not: bool) -> Vec<u8> {
        let names: Vec<Vec<u8>> = names.iter().map(|n| n.as_bytes().to_vec()).collect();
        let mut out = Vec::new();
        filter_header(header, &names, not, &mut out);
        out
    }

    #[test]
    fn header_field_filtering() {
        let h =
            b"Subject: a\r\n b\r\nFROM: x@y\r\nX-Long: 1\r\n\t2\r\n\t3\r\nsubject: again\r\n\r\n";
        assert_eq!(
            filter(h, &["subject"], false),
            b"Subject: a\r\n b\r\nsubject: again\r\n\r\n"
        );
        assert_eq!(
            filter(h, &["From", "x-long"], false),
            b"FROM: x@y\r\nX-Long: 1\r\n\t2\r\n\t3\r\n\r\n"
        );
        assert_eq!(
            filter(h, &["SUBJECT", "from"], true),
            b"X-Long: 1\r\n\t2\r\n\t3\r\n\r\n"
        );
        assert_eq!(filter(h, &["none"], false), b"\r\n");
        assert_eq!(filter(h, &[], true), h);
        // Field-name prefix must not match.
        assert_eq!(filter(h, &["X-Lon"], false), b"\r\n");
        // Obsolete "Name :" syntax.
        assert_eq!(filter(b"To : a\r\n\r\n", &["to"], false), b"To : a\r\n\r\n");
        // No blank line, no final CRLF.
        assert_eq!(filter(b"A: 1\r\nB: 2", &["b"], false), b"B: 2\r\n");
        assert_eq!(filter(b"", &["b"], true), b"");
    }
}
