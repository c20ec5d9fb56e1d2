//! The protocol layer: IMAP bytes ↔ typed values.
//!
//! Pure and synchronous: no I/O, no storage, no clocks. The session layer feeds bytes to the
//! [`framer`], hands complete commands to [`command::parse_command`], and encodes
//! [`response`] values into bytes. Everything here is unit-tested byte by byte.
//!
//! Layout: `framer` (where a command ends, limits), `parse` (grammar cursor), `command`,
//! `fetch` and `search` (typed commands), `response` (typed responses and their encoder),
//! `encode` (string forms), `types` (validated values), `utf7` (mailbox names).

pub mod command;
pub mod encode;
pub mod fetch;
pub mod framer;
pub mod parse;
pub mod response;
pub mod search;
pub mod types;
pub mod utf7;
