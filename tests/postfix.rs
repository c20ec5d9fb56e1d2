//! End to end with a real MTA: Debian's Postfix, configured here in a private directory on
//! loopback only (no relay: every non-local destination is an `error:` transport), receives mail
//! over SMTP from Python's smtplib and hands it to postfach over LMTP; a Sieve rule files it and
//! an IDLE-ing IMAP client sees it arrive.
//!
//! Needs root (Postfix's queue must be owned by root and its data directory by `postfix`),
//! `/usr/sbin/postfix` and `python3`; without them the test prints SKIPPED (and fails under
//! `CI`).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::lmtp::postfach_ok;
use common::{Server, TempDir};

/// Skips (or fails under CI) when a requirement is missing.
fn require(what: &str, ok: bool) -> bool {
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} is required under CI"
        );
        eprintln!("SKIPPED: postfix end-to-end test needs {what}");
    }
    ok
}

/// A private Postfix instance; stopped on drop.
struct Postfix {
    conf: PathBuf,
}

impl Postfix {
    fn start(dir: &Path, smtp_port: u16, lmtp: &str) -> Postfix {
        let conf = dir.join("conf");
        let queue = dir.join("queue");
        let data = dir.join("data");
        for d in [&conf, &queue, &data] {
            std::fs::create_dir_all(d).unwrap();
        }
        let ok = Command::new("chown")
            .args(["postfix"])
            .arg(&data)
            .status()
            .unwrap();
        assert!(ok.success());
        // The packaged master.cf, without chroot (the queue has no copy of /etc), with smtpd
        // on a loopback port of our own.
        let master = std::fs::read_to_string("/etc/postfix/master.cf").unwrap();
        let mut out = String::new();
        for line in master.lines() {
            let starts_service = line
                .chars()
                .next()
                .is_some_and(|c| !c.is_whitespace() && c != '#');
            if !starts_service {
                out.push_str(line);
                out.push('\n');
                continue;
            }
            let mut f: Vec<String> = line.split_whitespace().map(String::from).collect();
            if f[0] == "smtp" && f[1] == "inet" {
                f[0] = format!("127.0.0.1:{smtp_port}");
            }
            if f.len() >= 8 {
                f[4] = "n".into();
            }
            out.push_str(&f.join(" "));
            out.push('\n');
        }
        std::fs::write(conf.join("master.cf"), out).unwrap();
        let main = format!(
            "compatibility_level = 3.6\n\
             queue_directory = {queue}\n\
             data_directory = {data}\n\
             mail_owner = postfix\n\
             myhostname = mx.postfach.test\n\
             mydestination =\n\
             inet_interfaces = 127.0.0.1\n\
             inet_protocols = ipv4\n\
             mynetworks = 127.0.0.0/8\n\
             relayhost =\n\
             virtual_mailbox_domains = example.test\n\
             virtual_transport = lmtp:inet:{lmtp}\n\
             smtpd_reject_unlisted_recipient = no\n\
             default_transport = error:tests never relay\n\
             relay_transport = error:tests never relay\n\
             smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination\n\
             alias_maps =\n\
             alias_database =\n\
             maillog_file = {log}\n\
             maillog_file_prefixes = {dir}\n\
             biff = no\n",
            queue = queue.display(),
            data = data.display(),
            log = dir.join("maillog").display(),
            dir = dir.display(),
        );
        std::fs::write(conf.join("main.cf"), main).unwrap();
        let p = Postfix { conf };
        // Output to /dev/null: the master daemon inherits it and outlives the command.
        let st = p.postfix("start");
        assert!(
            st,
            "postfix start failed; see {}",
            dir.join("maillog").display()
        );
        p
    }

    fn postfix(&self, cmd: &str) -> bool {
        Command::new("/usr/sbin/postfix")
            .arg("-c")
            .arg(&self.conf)
            .arg(cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        self.postfix("stop");
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends one message with Python's smtplib.
fn smtp_send(port: u16, to: &str, subject: &str) {
    let script = format!(
        "import smtplib\n\
         from email.message import EmailMessage\n\
         m = EmailMessage()\n\
         m['From'] = 'sender@outside.test'\n\
         m['To'] = '{to}'\n\
         m['Subject'] = '{subject}'\n\
         m.set_content('Grüße over SMTP and LMTP\\n.leading dot\\n')\n\
         with smtplib.SMTP('127.0.0.1', {port}, timeout=30) as s:\n\
         \x20   s.send_message(m)\n"
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "smtplib failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn postfix_delivers_over_lmtp_into_a_sieve_folder_seen_by_idle() {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if !require("root", is_root)
        || !require(
            "/usr/sbin/postfix (apt package postfix)",
            Path::new("/usr/sbin/postfix").exists(),
        )
        || !require(
            "python3",
            Command::new("python3").arg("-V").output().is_ok(),
        )
    {
        return;
    }
    let s = Server::start_with(&["--lmtp", "127.0.0.1:0"]);
    let dir = TempDir::new();
    let smtp_port = free_port();
    let _postfix = Postfix::start(dir.path(), smtp_port, s.lmtp.as_deref().unwrap());

    let rule = "require \"fileinto\";\nif header :contains \"subject\" \"[home]\" { fileinto \"Family\"; }\n";
    postfach_ok(&s.data, &["sieve", "set", "alice"], rule.as_bytes());
    let mut imap = s.login("alice");
    imap.ok("CREATE Family");
    imap.ok("SELECT Family");
    imap.send_raw(b"i1 IDLE\r\n");
    assert!(imap.read_line().starts_with("+ "));

    smtp_send(smtp_port, "Alice@example.test", "[home] dinner");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while Instant::now() < deadline && !seen.iter().any(|l| l == "* 1 EXISTS") {
        if let Some(l) = imap.try_read_line(Duration::from_secs(5)) {
            seen.push(l);
        }
    }
    let log = std::fs::read_to_string(dir.path().join("maillog")).unwrap_or_default();
    assert!(
        seen.iter().any(|l| l == "* 1 EXISTS"),
        "IDLE saw {seen:?}; maillog:\n{log}"
    );
    imap.send_raw(b"DONE\r\n");
    imap.read_until_tag("i1");
    let m = imap.ok("FETCH 1 BODY.PEEK[]")[0].clone();
    assert!(m.contains("Return-Path: <sender@outside.test>\r\n"), "{m}");
    assert!(m.contains("Delivered-To: Alice@example.test\r\n"), "{m}");
    assert!(m.contains("Subject: [home] dinner"), "{m}");
    // Postfix logs the LMTP 250 after postfach has already announced the message.
    let mut log = log;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !log.contains("status=sent") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
        log = std::fs::read_to_string(dir.path().join("maillog")).unwrap_or_default();
    }
    assert!(
        log.contains("relay=127.0.0.1") && log.contains("status=sent"),
        "{log}"
    );
    // Nothing else went to INBOX.
    assert_eq!(
        imap.ok("STATUS INBOX (MESSAGES)")[0],
        "* STATUS INBOX (MESSAGES 0)"
    );
}
