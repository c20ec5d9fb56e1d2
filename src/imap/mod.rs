//! The IMAP engine: sessions and commands over the `proto` types and the `store`.
//!
//! # Layout
//! - `connection`: framed reads, buffered writes, message bytes streamed from a snapshot.
//! - `session`: the per-connection loop; `state`: RFC 3501 states owning their data.
//! - `view`: the selected mailbox as one session sees it (seq ↔ UID, pending changes).
//! - `commands`: the command table and one file per command group.
//!
//! # Implementation notes
//! - One command at a time per connection; responses are written in order.
//! - Handlers never format bytes: they queue typed responses (`proto::response`).
//! - Storage calls never run on the executor threads (`Store::read`/`write` hop to blocking
//!   threads); a tagged OK after a write means the write is durable.
//! - Other sessions' changes arrive as wake-ups from the hub and are pulled from the store's
//!   change log after each command and during IDLE; EXPUNGE is held back while a sequence-number
//!   FETCH/STORE/SEARCH/COPY runs (RFC 3501 §7.4.1).

pub mod access;
pub mod commands;
pub mod connection;
pub mod session;
pub mod state;
pub mod view;

pub use session::serve;
