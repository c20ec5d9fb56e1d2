//! MIME analysis for IMAP FETCH and SEARCH.
//!
//! At APPEND time the server calls [`analyze`] once on the raw message
//! (already CRLF-normalised) and stores [`MessageMeta::encode`]'s bytes.
//! FETCH then renders ENVELOPE / BODY / BODYSTRUCTURE
//! ([`write_envelope`], [`write_bodystructure`]) and resolves
//! `BODY[section]` to byte ranges of the raw message
//! ([`resolve_section`], [`filter_header`]) from the metadata alone.
//! FETCH BINARY uses [`part_encoding`] and [`decode_transfer`]; SEARCH
//! uses [`search_text`] and [`contains_ci`].
//!
//! `mail-parser` supplies `Date:` parsing, RFC 2047 decoding, charset
//! decoders and HTML-to-text; the MIME tree walk and the address parser
//! are local so that offsets and raw envelope strings are exact.
//!
//! Output conventions (compared with Dovecot 2.3 by `tests/dovecot_oracle.rs`
//! on the corpus `tests/fixtures/mime/`; docs/design.md lists every
//! difference):
//! - Media type, subtype, parameter names and values, disposition and
//!   transfer encoding are sent as written in the message (no case
//!   folding); defaults are lowercase: `"text" "plain" ("charset"
//!   "us-ascii")`, `"7bit"`. A `text/*` part without a charset parameter
//!   gets `"charset" "us-ascii"` appended. An invalid `Content-Type`
//!   (e.g. no subtype) means the default (RFC 2045), where Dovecot keeps
//!   `"text" ""`. In `multipart/digest` the default is `message/rfc822`.
//!   Malformed parameters are skipped, an unterminated quoted value runs to
//!   the end of the field, a `Content-Disposition` without a type is NIL and
//!   an empty `Content-Transfer-Encoding` counts as absent (7bit).
//! - Envelope strings are the raw header values (RFC 2047 words are not
//!   decoded), unfolded per RFC 5322 (CRLFs removed, other whitespace
//!   kept; Dovecot also collapses blank runs) and trimmed. Duplicate
//!   fields: the first occurrence wins (Dovecot takes the last). Empty
//!   Sender/Reply-To default to From. Missing address pieces are
//!   `MISSING_MAILBOX` / `MISSING_DOMAIN`; a quoted local-part is unquoted
//!   (RFC 3501 `addr-mailbox`); in the bare `user@host (Name)` form the
//!   comment after the address names it, other comments are dropped.
//! - RFC 2231 continuations are merged; an extended value stays encoded
//!   as `name*` = `charset'lang'%XX` so strings stay 7-bit (as Dovecot).
//! - Boundaries: a delimiter line is `--boundary` plus optional blanks
//!   (or `--boundary--...` to close); Dovecot also accepts any text after
//!   the boundary. The CRLF before a delimiter belongs to the delimiter
//!   (RFC 2046), also after a nested close delimiter, where Dovecot counts
//!   it into the enclosing part (2 bytes / 1 line more).
//! - Line counts are the number of LFs in the body.
//! - A multipart without a usable boundary or without body parts gets one
//!   empty `text/plain` child, so the grammar's `1*body` holds (as
//!   Dovecot). `message/rfc822` is always rendered with envelope and body,
//!   even when transfer-encoded (as Dovecot); `message/global` is a basic
//!   part (IMAP4rev1).
//! - Sections: part 1 of a non-multipart message is its body and
//!   `1.MIME` its header; HEADER/TEXT on a non-message part give
//!   [`SectionData::Empty`]; a missing part gives `None`.

mod address;
mod analyze;
mod header;
mod meta;
mod render;
mod section;
mod text;
mod wire;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_edge;

pub use analyze::analyze;
pub use meta::MessageMeta;
#[cfg(test)]
pub use meta::{Body, FORMAT_VERSION, Part};
pub use render::{write_bodystructure, write_envelope};
pub use section::{Section, SectionData, SectionText, filter_header, resolve_section};
#[cfg(test)]
pub use text::{DecodeError, TransferEncoding};
pub use text::{
    EnvelopeField, SearchField, Sparse, base64_bodies, contains_ci, decode_transfer, envelope_text,
    part_encoding, search_ranges, search_text,
};
