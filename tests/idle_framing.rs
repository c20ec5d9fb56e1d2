//! RFC 2177 IDLE meets the framer's limits: a line too long while idling ends the connection
//! with BYE (the stream cannot be resynchronised), as it does outside IDLE.

mod common;

use std::io::BufRead;

use common::Server;

#[test]
fn overlong_line_during_idle_is_bye() {
    let server = Server::start_with(&["--max-line", "1024"]);
    let mut c = server.login("alice");
    c.ok("SELECT INBOX");
    let tag = c.tag();
    c.send_raw(format!("{tag} IDLE\r\n").as_bytes());
    assert!(c.read_line().starts_with("+ "), "IDLE continuation");
    // One byte over the framer's limit (max-line + CRLF), and no more: the server reads all of
    // it, so closing the socket sends FIN and the BYE is not lost to a reset.
    c.send_raw(&[b'x'; 1024 + 3]);
    assert_eq!(c.read_line(), "* BYE Line too long");
    let mut rest = String::new();
    let n = c.reader.read_line(&mut rest).expect("read after BYE");
    assert_eq!((n, rest.as_str()), (0, ""), "connection closed after BYE");
    // The server still serves others.
    server.login("bob").ok("NOOP");
}
