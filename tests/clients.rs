//! Real clients against the real binary: Python's `imaplib` (`tests/clients/imaplib_flow.py`),
//! `mbsync` (isync) in a two-way sync with a Maildir, and `curl`'s IMAP support.
//!
//! A missing client makes its test print `SKIPPED: <client> not installed` and pass, except
//! under CI (`CI` set), where it fails: `.ci/run` installs every client.

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::{Client, PASSWORD, Server, TempDir};

/// Longest any one client run may take before the test fails (a hang guard, not a timing check).
const CLIENT_LIMIT: Duration = Duration::from_secs(180);

/// True when `bin` runs. Otherwise says SKIPPED, or panics under CI.
fn have(bin: &str) -> bool {
    let runs = Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success());
    if runs {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    assert!(
        !ci,
        "{bin} is not installed and CI is set: .ci/run must install it"
    );
    eprintln!("\n******** SKIPPED: {bin} not installed ********\n");
    false
}

/// Runs a command to completion with stdin closed, killing it after [`CLIENT_LIMIT`].
fn run(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = r.read_to_end(&mut v);
            v
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > CLIENT_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} still running after {CLIENT_LIMIT:?}; stderr so far:\n{}",
                String::from_utf8_lossy(&err.join().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Like [`run`], asserting success; returns stdout.
fn run_ok(cmd: &mut Command) -> Vec<u8> {
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// One message as the server has it.
#[derive(Debug)]
struct ServerMsg {
    uid: u32,
    flags: Vec<String>,
    body: Vec<u8>,
}

/// Every message of `mailbox`, in UID order, read with EXAMINE (so nothing changes).
fn server_messages(c: &mut Client, mailbox: &str) -> Vec<ServerMsg> {
    c.ok(&format!("EXAMINE {mailbox}"));
    let lines = c.ok("UID FETCH 1:* (UID FLAGS BODY.PEEK[])");
    let mut out = Vec::new();
    for l in lines.iter().filter(|l| l.contains(" FETCH (")) {
        // Item order is the server's choice: find each item in the part before the literal.
        let open = l
            .find("BODY[] {")
            .unwrap_or_else(|| panic!("no BODY[] in {l:?}"));
        let (items, literal) = (&l[..open], &l[open + 8..]);
        let uid = items
            .split_once("UID ")
            .and_then(|(_, r)| r.split(|c: char| !c.is_ascii_digit()).next())
            .unwrap_or_else(|| panic!("no UID in {l:?}"));
        let flags = items
            .split_once("FLAGS (")
            .and_then(|(_, r)| r.split_once(')'))
            .unwrap_or_else(|| panic!("no FLAGS in {l:?}"))
            .0;
        let (size, body) = literal.split_once("}\r\n").unwrap();
        let size: usize = size.parse().unwrap();
        out.push(ServerMsg {
            uid: uid.parse().unwrap(),
            flags: flags.split_whitespace().map(String::from).collect(),
            body: body.as_bytes()[..size].to_vec(),
        });
    }
    c.ok("CLOSE");
    out
}

fn has_flag(m: &ServerMsg, flag: &str) -> bool {
    m.flags.iter().any(|f| f == flag)
}

// ---- imaplib --------------------------------------------------------------------------------

fn imaplib_flow(part: &str) {
    if !have("python3") {
        return;
    }
    let server = Server::start();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/imaplib_flow.py");
    let out = run_ok(Command::new("python3").args([
        script,
        "127.0.0.1",
        &server.port.to_string(),
        "alice",
        PASSWORD,
        part,
    ]));
    let out = String::from_utf8_lossy(&out);
    assert!(
        out.contains("all checks passed"),
        "imaplib flow ended early:\n{out}"
    );
}

/// Every core command through imaplib: see `tests/clients/imaplib_flow.py`.
#[test]
fn imaplib_core() {
    imaplib_flow("core");
}

/// IDLE on a raw socket while a second imaplib session appends, flags and expunges; then DONE.
#[test]
fn imaplib_idle() {
    imaplib_flow("idle");
}

// ---- mbsync ---------------------------------------------------------------------------------

/// A Maildir message as mbsync would store it: LF line ends.
fn maildir_text(subject: &str, body: &str) -> String {
    format!(
        "From: Near <near@example.org>\nTo: alice@example.org\nSubject: {subject}\n\
         Message-ID: <{}@example.org>\n\n{body}\n",
        subject.replace(' ', ".")
    )
}

/// CRLF message as an IMAP client would append it.
fn imap_text(subject: &str, body: &str) -> Vec<u8> {
    maildir_text(subject, body)
        .replace('\n', "\r\n")
        .into_bytes()
}

/// Content without mbsync's `X-TUID` tracking header, with LF line ends: the form in which a
/// message must survive a trip through mbsync.
fn normalised(content: &[u8]) -> String {
    String::from_utf8_lossy(content)
        .replace("\r\n", "\n")
        .lines()
        .filter(|l| !l.starts_with("X-TUID: "))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// One file of a Maildir folder.
#[derive(Debug)]
struct LocalMsg {
    path: PathBuf,
    /// The Maildir info flags after `:2,` (`S`, `FS`, ...).
    flags: String,
    text: String,
}

fn maildir_messages(folder: &Path) -> Vec<LocalMsg> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(folder.join(sub)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let flags = name.split_once(":2,").map_or("", |(_, f)| f).to_string();
            let text = normalised(&std::fs::read(&path).unwrap());
            out.push(LocalMsg { path, flags, text });
        }
    }
    out.sort_by(|a, b| a.text.cmp(&b.text));
    out
}

fn find<'a>(msgs: &'a [LocalMsg], subject: &str) -> Option<&'a LocalMsg> {
    msgs.iter()
        .find(|m| m.text.contains(&format!("\nSubject: {subject}\n")))
}

fn find_server<'a>(msgs: &'a [ServerMsg], subject: &str) -> Option<&'a ServerMsg> {
    msgs.iter()
        .find(|m| normalised(&m.body).contains(&format!("\nSubject: {subject}\n")))
}

/// Sorted subjects, to compare both sides at a glance in failure messages.
fn subjects<'a>(texts: impl Iterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = texts
        .filter_map(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("Subject: ").map(String::from))
        })
        .collect();
    v.sort();
    v
}

fn local_subjects(folder: &Path) -> Vec<String> {
    subjects(maildir_messages(folder).into_iter().map(|m| m.text))
}

fn server_subjects(c: &mut Client, mailbox: &str) -> Vec<String> {
    subjects(
        server_messages(c, mailbox)
            .into_iter()
            .map(|m| normalised(&m.body)),
    )
}

/// A Maildir folder with its three subdirectories.
fn make_maildir(folder: &Path) {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(folder.join(sub)).unwrap();
    }
}

/// Moves directory mtimes into the past: mbsync sleeps a second before reading a Maildir
/// modified in the current second (its guard against same-second races).
fn backdate(root: &Path) {
    let past = SystemTime::now() - Duration::from_secs(30);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        if let Ok(f) = std::fs::File::open(&dir) {
            let _ = f.set_modified(past);
        }
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            }
        }
    }
}

struct Mbsync {
    home: TempDir,
    config: PathBuf,
    maildir: PathBuf,
}

impl Mbsync {
    /// Config with an IMAP store on the server and a Maildir store, one channel per mailbox.
    fn new(port: u16, mailboxes: &[&str]) -> Mbsync {
        let home = TempDir::new();
        let maildir = home.path().join("mail");
        let mut cfg = format!(
            "IMAPAccount test\nHost 127.0.0.1\nPort {port}\nUser alice\nPass {PASSWORD}\n\
             SSLType None\nAuthMechs LOGIN\nTimeout 30\n\n\
             IMAPStore remote\nAccount test\n\n\
             MaildirStore local\nPath {root}/\nInbox {root}/INBOX\nSubFolders Verbatim\n",
            root = maildir.display()
        );
        for (i, mb) in mailboxes.iter().enumerate() {
            cfg += &format!(
                "\nChannel ch{i}\nFar :remote:{mb}\nNear :local:{mb}\n\
                 Create Both\nExpunge Both\nSync All\nSyncState *\n"
            );
        }
        let config = home.path().join("mbsyncrc");
        std::fs::write(&config, cfg).unwrap();
        Mbsync {
            home,
            config,
            maildir,
        }
    }

    fn folder(&self, mailbox: &str) -> PathBuf {
        self.maildir.join(mailbox)
    }

    /// One `mbsync --all` run; fails the test on a non-zero exit.
    fn sync(&self) {
        backdate(&self.maildir);
        run_ok(
            Command::new("mbsync")
                .arg("-c")
                .arg(&self.config)
                .arg("--all")
                .env("HOME", self.home.path())
                .current_dir(self.home.path()),
        );
    }
}

/// Two-way sync of INBOX and a nested folder: new messages both ways, a flag set locally, an
/// expunge on the server, a deletion locally; a final sync changes nothing.
#[test]
fn mbsync_two_way() {
    if !have("mbsync") {
        return;
    }
    let server = Server::start();
    let mut c = server.login("alice");
    let sub = "Lists/Rust";
    let mb = Mbsync::new(server.port, &["INBOX", sub]);
    let (inbox, subdir) = (mb.folder("INBOX"), mb.folder(sub));
    make_maildir(&inbox);
    make_maildir(&subdir);

    // Step 1: messages on each side, the subfolder only locally.
    let near_inbox = maildir_text("near inbox", "Written in the Maildir.");
    let near_sub = maildir_text("near sub", "Filed locally.");
    std::fs::write(inbox.join("new/1000.near1.host"), &near_inbox).unwrap();
    std::fs::write(subdir.join("new/1000.near2.host"), &near_sub).unwrap();
    let far_inbox = imap_text("far inbox", "Delivered to the server.");
    assert!(c.append("INBOX", "(\\Flagged)", &far_inbox).contains("OK"));
    mb.sync();

    let on_server = server_messages(&mut c, "INBOX");
    assert_eq!(
        server_subjects(&mut c, "INBOX"),
        ["far inbox", "near inbox"],
        "server INBOX after the first sync"
    );
    let up = find_server(&on_server, "near inbox").unwrap();
    assert_eq!(normalised(&up.body), near_inbox, "uploaded bytes");
    assert!(
        up.body.windows(2).all(|w| w[1] != b'\n' || w[0] == b'\r'),
        "server stores CRLF line ends"
    );
    assert!(
        up.flags.is_empty(),
        "uploaded message flags: {:?}",
        up.flags
    );
    let list = c.ok(&format!("LIST \"\" \"{sub}\""));
    assert_eq!(
        list.len(),
        2,
        "mbsync created {sub} on the server: {list:?}"
    );
    let on_server = server_messages(&mut c, sub);
    assert_eq!(on_server.len(), 1, "server {sub}: {on_server:?}");
    assert_eq!(normalised(&on_server[0].body), near_sub);

    let local = maildir_messages(&inbox);
    assert_eq!(
        local_subjects(&inbox),
        ["far inbox", "near inbox"],
        "local INBOX"
    );
    let down = find(&local, "far inbox").unwrap();
    assert_eq!(down.text, normalised(&far_inbox), "downloaded bytes");
    assert_eq!(down.flags, "F", "\\Flagged became the F flag");

    // Step 2: a message appended on the server arrives in the subfolder.
    let far_sub = imap_text("far sub", "Posted to the list.");
    assert!(c.append(sub, "()", &far_sub).contains("OK"));
    mb.sync();
    assert_eq!(local_subjects(&subdir), ["far sub", "near sub"]);
    let down = maildir_messages(&subdir);
    assert_eq!(find(&down, "far sub").unwrap().text, normalised(&far_sub));

    // Step 3: mark a message seen locally (Maildir flag S) → \Seen on the server.
    let local = maildir_messages(&inbox);
    let m = find(&local, "far inbox").unwrap();
    let name = m.path.file_name().unwrap().to_string_lossy().into_owned();
    let base = name.split_once(":2,").map_or(name.as_str(), |(b, _)| b);
    std::fs::rename(&m.path, inbox.join("cur").join(format!("{base}:2,FS"))).unwrap();
    mb.sync();
    let msgs = server_messages(&mut c, "INBOX");
    let far = find_server(&msgs, "far inbox").unwrap();
    assert!(
        has_flag(far, "\\Seen") && has_flag(far, "\\Flagged"),
        "flags on the server: {:?}",
        far.flags
    );
    let near = find_server(&msgs, "near inbox").unwrap();
    assert!(!has_flag(near, "\\Seen"), "other message: {:?}", near.flags);

    // Step 4: expunge on the server, delete a file locally → gone on the other side.
    c.ok("SELECT INBOX");
    c.ok(&format!("UID STORE {} +FLAGS.SILENT (\\Deleted)", near.uid));
    c.ok("EXPUNGE");
    c.ok("CLOSE");
    let local_sub = maildir_messages(&subdir);
    std::fs::remove_file(&find(&local_sub, "near sub").unwrap().path).unwrap();
    mb.sync();
    assert_eq!(local_subjects(&inbox), ["far inbox"], "local INBOX");
    assert_eq!(server_subjects(&mut c, sub), ["far sub"], "server {sub}");

    // Step 5: nothing left to do; a sync must not duplicate or drop anything.
    let before: Vec<u32> = server_messages(&mut c, "INBOX")
        .iter()
        .map(|m| m.uid)
        .collect();
    mb.sync();
    let after: Vec<u32> = server_messages(&mut c, "INBOX")
        .iter()
        .map(|m| m.uid)
        .collect();
    assert_eq!(before, after, "server INBOX UIDs across an idle sync");
    assert_eq!(local_subjects(&inbox), ["far inbox"]);
    assert_eq!(local_subjects(&subdir), ["far sub"]);
    assert_eq!(server_subjects(&mut c, sub), ["far sub"]);
    assert_eq!(
        find(&maildir_messages(&inbox), "far inbox").unwrap().flags,
        "FS"
    );
}

// ---- curl -----------------------------------------------------------------------------------

fn curl(port: u16, path: &str, extra: &[&str]) -> Output {
    run(Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "60"])
        .args(["--user", &format!("alice:{PASSWORD}")])
        .args(extra)
        .arg(format!("imap://127.0.0.1:{port}/{path}")))
}

fn curl_ok(port: u16, path: &str, extra: &[&str]) -> String {
    let out = curl(port, path, extra);
    assert!(
        out.status.success(),
        "curl {path} {extra:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// curl's IMAP URLs: LIST, APPEND (`-T`), UID fetch byte-exact, SECTION, SEARCH, a custom
/// command, and a wrong password.
#[test]
fn curl_imap() {
    if !have("curl") {
        return;
    }
    let server = Server::start();
    let port = server.port;

    // LIST: `imap://host/`.
    let list = curl_ok(port, "", &[]);
    let lines: Vec<&str> = list.split_terminator("\r\n").collect();
    assert!(
        lines.contains(&"* LIST (\\HasNoChildren) \"/\" INBOX"),
        "{list}"
    );
    assert!(
        lines.contains(&"* LIST (\\HasNoChildren \\Sent) \"/\" Sent"),
        "{list}"
    );
    assert_eq!(lines.len(), 6, "a new account has six mailboxes: {list}");

    // APPEND: `-T file imap://host/INBOX`.
    let dir = TempDir::new();
    let file = dir.path().join("upload.eml");
    let upload = imap_text("uploaded by curl", "Line one.\n\nLine three, \u{e4}.");
    std::fs::write(&file, &upload).unwrap();
    curl_ok(port, "INBOX", &["--upload-file", file.to_str().unwrap()]);
    let mut c = server.login("alice");
    let msgs = server_messages(&mut c, "INBOX");
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0].body, upload, "appended bytes");
    // curl marks what it uploads as read: `APPEND INBOX (\Seen) {n}`.
    assert!(has_flag(&msgs[0], "\\Seen"), "{:?}", msgs[0].flags);
    let uid = msgs[0].uid;

    // A second message, unseen, for SEARCH.
    let second = imap_text("second", "Nothing to see.");
    assert!(c.append("INBOX", "()", &second).contains("OK"));

    // SEARCH: `imap://host/INBOX?query`.
    assert_eq!(curl_ok(port, "INBOX?ALL", &[]), "* SEARCH 1 2\r\n");
    assert_eq!(curl_ok(port, "INBOX?UNSEEN", &[]), "* SEARCH 2\r\n");
    assert_eq!(
        curl_ok(port, "INBOX?SUBJECT%20second", &[]),
        "* SEARCH 2\r\n"
    );
    assert_eq!(curl_ok(port, "INBOX?TEXT%20three", &[]), "* SEARCH 1\r\n");

    // FETCH: `imap://host/INBOX;UID=n` and `;SECTION=HEADER`.
    let got = curl(port, &format!("INBOX;UID={uid}"), &[]);
    assert!(got.status.success());
    assert_eq!(got.stdout, upload, "fetched bytes");
    let header_end = upload.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let got = curl(port, &format!("INBOX;UID={uid};SECTION=HEADER"), &[]);
    assert_eq!(
        String::from_utf8_lossy(&got.stdout),
        String::from_utf8_lossy(&upload[..header_end])
    );
    // curl fetches with a plain BODY[], which sets \Seen.
    let got = curl(port, "INBOX;UID=2", &[]);
    assert_eq!(got.stdout, second, "second message's bytes");
    assert_eq!(curl_ok(port, "INBOX?UNSEEN", &[]), "* SEARCH\r\n");

    // A custom command: `-X 'STATUS ...'` prints the untagged answer.
    assert_eq!(
        curl_ok(
            port,
            "",
            &["--request", "STATUS INBOX (MESSAGES UIDNEXT UNSEEN)"]
        ),
        "* STATUS INBOX (MESSAGES 2 UIDNEXT 3 UNSEEN 0)\r\n"
    );

    // A wrong password: curl's "login denied" (67), nothing fetched.
    let denied = run(Command::new("curl")
        .args(["--silent", "--max-time", "60", "--user", "alice:wrong"])
        .arg(format!("imap://127.0.0.1:{port}/INBOX;UID={uid}")));
    assert_eq!(denied.status.code(), Some(67), "{denied:?}");
    assert!(denied.stdout.is_empty());
}
