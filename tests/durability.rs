//! Durability: a tagged OK to APPEND means the message is on disk. Several connections append
//! concurrently; the server is SIGKILLed as soon as enough OKs have arrived (others are
//! mid-append); after a restart every acknowledged message must be there, byte-exact, under the
//! UID its APPENDUID named, and nothing else may be there but complete messages that were sent.

mod common;

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use common::*;

const THREADS: usize = 4;
const PER_THREAD: usize = 25;
/// Kill once this many appends (of `THREADS * PER_THREAD`) were acknowledged in a round.
const KILL_AFTER: usize = 40;

/// A distinct message: sizes cycle from tiny to several 64 KiB chunks; the body is
/// pseudo-random text so compression cannot hide a wrong chunk.
fn payload(round: usize, t: usize, j: usize) -> Vec<u8> {
    let size = [300, 5_000, 70_000, 200_000][(t + j) % 4];
    let mut m = message(&format!("r{round}-t{t}-m{j}"), "");
    let mut x = (round * 1_000_003 + t * 1_009 + j + 1) as u64;
    while m.len() < size {
        for _ in 0..76 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            m.push(b'a' + (x % 26) as u8);
        }
        m.extend_from_slice(b"\r\n");
    }
    m
}

/// `(uid, size, body)` of every message in the selected mailbox.
fn fetch_all(c: &mut Client) -> Vec<(u32, usize, Vec<u8>)> {
    let lines = c.ok("UID FETCH 1:* (UID RFC822.SIZE BODY.PEEK[])");
    let mut out = Vec::new();
    for l in &lines[..lines.len() - 1] {
        let num_after = |key: &str| -> usize {
            let i = l.find(key).unwrap_or_else(|| panic!("{key} in {l:.200}")) + key.len();
            l[i..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        let uid = num_after("UID ") as u32;
        let size = num_after("RFC822.SIZE ");
        let len = num_after("BODY[] {");
        let start = l.find("BODY[] {").unwrap();
        let start = start + l[start..].find("}\r\n").unwrap() + 3;
        let body = l.as_bytes()[start..start + len].to_vec();
        assert_eq!(&l[start + len..], ")", "FETCH ends after the literal");
        out.push((uid, size, body));
    }
    out
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    let mut s = Server::start();
    // uid -> message, for every acknowledged append over all rounds.
    let mut acked: HashMap<u32, Vec<u8>> = HashMap::new();
    // Every message ever sent, acknowledged or not.
    let mut sent: Vec<Vec<u8>> = Vec::new();
    for round in 0..2 {
        let (tx, rx) = mpsc::channel::<(u32, Vec<u8>)>();
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let start = Arc::new(Barrier::new(THREADS));
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let mut c = s.login("alice");
                let (tx, attempts, start) = (tx.clone(), attempts.clone(), start.clone());
                thread::spawn(move || {
                    start.wait();
                    for j in 0..PER_THREAD {
                        let m = payload(round, t, j);
                        attempts.lock().unwrap().push(m.clone());
                        match c.try_append("INBOX", &m) {
                            Ok(tagged) => {
                                assert!(matches("t# OK [APPENDUID # #] …", &tagged), "{tagged}");
                                let _ = tx.send((appenduid(&tagged).1, m));
                            }
                            // The server was killed.
                            Err(_) => return,
                        }
                    }
                })
            })
            .collect();
        drop(tx);
        let mut this_round = 0;
        while this_round < KILL_AFTER {
            let (uid, m) = rx.recv().expect("appends stopped before the kill");
            assert!(
                acked.insert(uid, m).is_none(),
                "UID {uid} acknowledged twice"
            );
            this_round += 1;
        }
        s.kill9();
        for w in workers {
            w.join().expect("append worker panicked");
        }
        // OKs that were already on their way when the server died count as well.
        for (uid, m) in rx.try_iter() {
            assert!(
                acked.insert(uid, m).is_none(),
                "UID {uid} acknowledged twice"
            );
        }
        sent.extend(attempts.lock().unwrap().drain(..));
        assert!(
            acked.len() < sent.len(),
            "round {round}: the kill came after every append finished"
        );

        s.restart();
        let mut c = s.login("alice");
        c.select("INBOX");
        let present = fetch_all(&mut c);
        let by_uid: HashMap<u32, &Vec<u8>> = present.iter().map(|(u, _, b)| (*u, b)).collect();
        for (uid, m) in &acked {
            let got = by_uid
                .get(uid)
                .unwrap_or_else(|| panic!("round {round}: acknowledged UID {uid} lost"));
            assert!(
                *got == m,
                "round {round}: UID {uid} differs from what was sent"
            );
        }
        for (uid, size, body) in &present {
            assert_eq!(*size, body.len(), "UID {uid}: RFC822.SIZE");
            assert!(
                sent.contains(body),
                "round {round}: UID {uid} is not a complete message that was sent"
            );
        }
        let distinct: std::collections::HashSet<&Vec<u8>> =
            present.iter().map(|(_, _, b)| b).collect();
        assert_eq!(distinct.len(), present.len(), "a message stored twice");
        let max = present.iter().map(|(u, _, _)| *u).max().unwrap_or(0);
        c.check(
            "STATUS INBOX (MESSAGES)",
            &[
                &format!("* STATUS INBOX (MESSAGES {})", present.len()),
                "OK …",
            ],
        );
        // UIDs keep increasing after the crash.
        let t = c.append("Trash", "", &message("after", "crash"));
        assert!(matches("t# OK [APPENDUID # #] …", &t), "{t}");
        let t = c.append("INBOX", "", &payload(round, 99, 0));
        let (_, uid) = appenduid(&t);
        assert!(uid > max, "UID {uid} reused (max was {max})");
        acked.insert(uid, payload(round, 99, 0));
        sent.push(payload(round, 99, 0));
    }
}
