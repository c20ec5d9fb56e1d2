//! End-to-end tests: RFC examples (5228, 5232, 5233, 5490) and robustness.

use super::*;

fn run_env(script: &str, msg: &[u8], size: Option<u64>, env: &EnvelopeInfo) -> Outcome {
    let script = compile(script).unwrap_or_else(|e| panic!("{e}"));
    let mut view = MessageView::parse(msg);
    if let Some(s) = size {
        view = view.with_size(s);
    }
    execute(&script, &view, env, &|name: &str| {
        name != "Fishing-messages"
    })
    .unwrap()
}

fn run(script: &str, msg: &str) -> Outcome {
    let env = EnvelopeInfo {
        from: "tim@example.com".into(),
        to: "me@example.com".into(),
    };
    run_env(script, msg.as_bytes(), None, &env)
}

fn boxes(o: &Outcome) -> Vec<&str> {
    o.deliveries.iter().map(|d| d.mailbox.as_str()).collect()
}

fn flags(o: &Outcome, mailbox: &str) -> Vec<String> {
    o.deliveries
        .iter()
        .find(|d| d.mailbox == mailbox)
        .map(|d| d.flags.clone())
        .unwrap_or_default()
}

const RFC5228_SECTION_9: &str = r#"#
# Example Sieve Filter
# Declare any optional features or extension used by the script
#
require ["fileinto", "reject"];

#
# Reject any large messages (note that the four leading dots get
# "stuffed" to three)
#
if size :over 1M
        {
        reject text:
Please do not send me large attachments.
Put your file on a server and send me the URL.
Thank you.
.... Fred
.
;
        stop;
        }
#
# Handle messages from known mailing lists
# Move messages from IETF filter discussion list to filter mailbox
#
if header :is "Sender" "owner-ietf-mta-filters@imc.org"
        {
        fileinto "filter";  # move to "filter" mailbox
        }
#
# Keep all messages to or from people in my company
#
elsif address :DOMAIN :is ["From", "To"] "example.com"
        {
        keep;               # keep in "In" mailbox
        }

#
# Try and catch unsolicited email.  If a message is not to me,
# or it contains a subject known to be spam, file it away.
#
elsif anyof (NOT address :all :contains
               ["To", "Cc", "Bcc"] "me@example.com",
             header :matches "subject"
               ["*make*money*fast*", "*university*dipl*mas*"])
        {
        fileinto "spam";   # move to "spam" mailbox
        }
else
        {
        # Move all other (non-company) mail to "personal"
        # mailbox.
        fileinto "personal";
        }
"#;

#[test]
fn rfc5228_section_9_reject_is_unsupported() {
    let e = compile(RFC5228_SECTION_9).unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 5, column 22: unsupported extension \"reject\""
    );
}

#[test]
fn rfc5228_section_9_without_reject() {
    // Same script with the reject action replaced by discard.
    let script = RFC5228_SECTION_9.replace(", \"reject\"", "").replace(
        "reject text:\nPlease do not send me large attachments.\nPut your file on a server and send me the URL.\nThank you.\n.... Fred\n.\n;",
        "discard;",
    );
    assert!(!script.contains("reject"));
    let env = EnvelopeInfo {
        from: "x@y.org".into(),
        to: "me@example.com".into(),
    };
    let go = |msg: &str, size: Option<u64>| run_env(&script, msg.as_bytes(), size, &env);

    let big = go("From: a@b.org\r\nTo: me@example.com\r\n\r\n", Some(2 << 20));
    assert!(big.discarded && big.deliveries.is_empty());
    let list = go(
        "Sender: owner-ietf-mta-filters@imc.org\r\nFrom: x@y.org\r\n\r\n",
        None,
    );
    assert_eq!(boxes(&list), ["filter"]);
    let company = go(
        "From: Boss <boss@Example.COM>\r\nTo: someone@else.org\r\n\r\n",
        None,
    );
    assert_eq!(boxes(&company), ["INBOX"]);
    let not_to_me = go(
        "From: x@y.org\r\nTo: other@else.org\r\nSubject: hello\r\n\r\n",
        None,
    );
    assert_eq!(boxes(&not_to_me), ["spam"]);
    let to_me = go(
        "From: x@y.org\r\nTo: me@example.com\r\nSubject: Make MONEY fast!!!\r\n\r\n",
        None,
    );
    assert_eq!(boxes(&to_me), ["INBOX"], "To: is in the company domain");
    let spam = go(
        "From: x@y.org\r\nTo: l@list.org\r\nCc: me@example.com\r\nSubject: Make MONEY fast!!!\r\n\r\n",
        None,
    );
    assert_eq!(boxes(&spam), ["spam"]);
    let diploma = go(
        "From: x@y.org\r\nCc: me@example.com\r\nSubject: University Diplomas\r\n\r\n",
        None,
    );
    assert_eq!(boxes(&diploma), ["spam"]);
    let personal = go(
        "From: friend@y.org\r\nTo: l@list.org\r\nBcc: Me <me@example.com>\r\nSubject: dinner?\r\n\r\n",
        None,
    );
    assert_eq!(boxes(&personal), ["personal"]);
}

#[test]
fn rfc5228_if_elsif_else() {
    let script = "require \"fileinto\";\n\
        if header :contains \"from\" \"coyote\" {\n    discard;\n\
        } elsif header :contains [\"subject\"] [\"$$$\"] {\n    discard;\n\
        } else {\n    fileinto \"INBOX\";\n}";
    assert!(run(script, "From: Wile E. Coyote <wile@acme.example>\r\n\r\n").discarded);
    assert!(run(script, "From: x@y\r\nSubject: win $$$ now\r\n\r\n").discarded);
    let o = run(script, "From: x@y\r\nSubject: hello\r\n\r\n");
    assert_eq!(boxes(&o), ["INBOX"]);
    assert!(!o.discarded);
}

#[test]
fn rfc5228_tests() {
    let holds = |cond: &str, msg: &str| {
        run(
            &format!("require \"envelope\";\nif {cond} {{ discard; }}"),
            msg,
        )
        .discarded
    };
    let m = "From: Tim <tim@example.com>\r\nSubject: MAKE MONEY FAST\r\nX-Caffeine: \r\nDate: today\r\n\r\n";
    // §2.7.3 comparators
    assert!(holds(
        "header :contains :comparator \"i;octet\" \"Subject\" \"MAKE MONEY FAST\"",
        m
    ));
    assert!(!holds(
        "header :contains :comparator \"i;octet\" \"Subject\" \"make money fast\"",
        m
    ));
    assert!(holds("header :contains \"Subject\" \"make money fast\"", m));
    // §5.1 address, §5.4 envelope
    assert!(holds("address :is :all \"from\" \"tim@example.com\"", m));
    assert!(holds("envelope :all :is \"from\" \"tim@example.com\"", m));
    assert!(!holds("envelope :all :is \"to\" \"tim@example.com\"", m));
    // §5.5 exists (all must exist)
    assert!(!holds("not exists [\"From\", \"Date\"]", m));
    assert!(holds("not exists [\"From\", \"Date\", \"X-Missing\"]", m));
    // §5.7 header: "" matches any existing header with :contains, empty value with :is
    assert!(holds("header :contains [\"X-Caffeine\"] [\"\"]", m));
    assert!(holds("header :is \"X-Caffeine\" \"\"", m));
    assert!(!holds("header :is \"Subject\" \"\"", m));
    assert!(!holds("header :contains \"X-Missing\" \"\"", m));
    // :matches, with escapes
    assert!(holds("header :matches \"subject\" \"make*fast\"", m));
    assert!(!holds("header :matches \"subject\" \"make\"", m));
    assert!(holds("header :matches \"subject\" \"MAKE?MONEY FAST\"", m));
    assert!(!holds(
        "header :matches \"subject\" \"MAKE\\\\?MONEY FAST\"",
        m
    ));
    // allof / anyof / not / true / false
    assert!(holds("allof (true, not false, exists \"from\")", m));
    assert!(!holds("allof (true, false)", m));
    assert!(holds("anyof (false, true)", m));
    assert!(!holds("anyof (false, not true)", m));
}

#[test]
fn rfc5228_size() {
    let env = EnvelopeInfo::default();
    let go = |cond: &str, size: u64| {
        run_env(&format!("if {cond} {{ discard; }}"), b"", Some(size), &env).discarded
    };
    assert!(go("size :over 500K", 500 * 1024 + 1));
    assert!(!go("size :over 500K", 500 * 1024));
    assert!(!go("size :under 500K", 500 * 1024));
    assert!(go("size :under 500K", 500 * 1024 - 1));
    assert!(go("size :over 1G", 1 << 31));
    assert!(!go("size :under 0", 0));
    // Without an override the size is the raw message length.
    assert!(run("if size :under 20 { discard; }", "Subject: short\r\n\r\n").discarded);
}

#[test]
fn rfc5228_message_uniqueness() {
    // §2.10.3: fileinto "INBOX" and keep give a single copy.
    let o = run(
        "require \"fileinto\"; fileinto \"inbox\"; keep; fileinto \"a\"; fileinto \"a\";",
        "",
    );
    assert_eq!(boxes(&o), ["INBOX", "a"]);
}

#[test]
fn rfc2047_decoded_header_match() {
    let msg = "Subject: =?ISO-8859-1?Q?Gr=FC=DFe?=\r\n\r\n";
    assert!(
        run(
            "if header :contains \"subject\" \"Grüße\" { discard; }",
            msg
        )
        .discarded
    );
    assert!(run("if header :is \"subject\" \"GRüßE\" { discard; }", msg).discarded);
    let from = "From: =?utf-8?B?SsO2cmc=?= <joerg@example.de>\r\n\r\n";
    assert!(
        run(
            "if address :domain \"from\" \"example.de\" { discard; }",
            from
        )
        .discarded
    );
    assert!(run("if header :contains \"from\" \"Jörg\" { discard; }", from).discarded);
}

#[test]
fn rfc5233_subaddress_example() {
    let script = "require [\"envelope\", \"subaddress\", \"fileinto\"];\n\
        if envelope :user \"to\" \"postmaster\" {\n    fileinto \"inbox.postmaster\";\n    stop;\n}\n\
        if envelope :detail \"to\" \"mta-filters\" {\n    fileinto \"inbox.ietf-mta-filters\";\n}\n\
        if envelope :detail \"to\" \"foo\" {\n    fileinto \"foo\";\n}\n\
        if envelope :detail \"to\" \"\" {\n    fileinto \"empty-detail\";\n}";
    let go = |to: &str| {
        let env = EnvelopeInfo {
            from: String::new(),
            to: to.into(),
        };
        boxes(&run_env(script, b"", None, &env))
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(go("postmaster@example.com"), ["inbox.postmaster"]);
    assert_eq!(go("postmaster+foo@example.com"), ["inbox.postmaster"]);
    assert_eq!(
        go("<ken+mta-filters@example.com>"),
        ["inbox.ietf-mta-filters"]
    );
    assert_eq!(go("ken+foo@example.com"), ["foo"]);
    assert_eq!(go("ken+@example.com"), ["empty-detail"]);
    assert_eq!(go("ken@example.com"), ["INBOX"]);
}

#[test]
fn rfc5232_examples() {
    let script = "require \"imap4flags\";\nrequire \"fileinto\";\n\
        if header :contains \"from\" \"boss@frobnitzm.example.edu\" {\n    setflag \"\\\\Flagged\";\n    fileinto \"From Boss\";\n}\n\
        if header :contains \"Disposition-Notification-To\" \"mel@example.com\" {\n    addflag \"$MDNRequired\";\n}\n\
        if header :contains \"from\" \"imap@cac.washington.example.edu\" {\n    removeflag \"$MDNRequired\";\n    fileinto \"imap-list\";\n}";
    let boss = run(
        script,
        "From: boss@frobnitzm.example.edu\r\nDisposition-Notification-To: mel@example.com\r\n\r\n",
    );
    assert_eq!(boxes(&boss), ["From Boss"]);
    assert_eq!(flags(&boss, "From Boss"), ["\\Flagged"]);
    let mdn = run(
        script,
        "From: x@y\r\nDisposition-Notification-To: mel@example.com\r\n\r\n",
    );
    assert_eq!(boxes(&mdn), ["INBOX"]);
    assert_eq!(flags(&mdn, "INBOX"), ["$MDNRequired"]);
    let list = run(
        script,
        "From: imap@cac.washington.example.edu\r\nDisposition-Notification-To: mel@example.com\r\n\r\n",
    );
    assert_eq!(boxes(&list), ["imap-list"]);
    assert!(flags(&list, "imap-list").is_empty());

    // §3.2: these three addflag forms all give "\Deleted \Answered".
    for add in [
        "addflag \"\\\\Deleted\"; addflag \"\\\\Answered\";",
        "addflag [\"\\\\Deleted\", \"\\\\Answered\"];",
        "addflag \"\\\\Deleted \\\\Answered\";",
    ] {
        let o = run(&format!("require \"imap4flags\"; {add}"), "");
        assert_eq!(flags(&o, "INBOX"), ["\\Deleted", "\\Answered"], "{add}");
    }
    // §3.3 removeflag
    let o = run(
        "require \"imap4flags\"; addflag [\"\\\\Deleted\", \"\\\\Answered\", \"\\\\Flagged\"]; removeflag \"\\\\Deleted\";",
        "",
    );
    assert_eq!(flags(&o, "INBOX"), ["\\Answered", "\\Flagged"]);
    // §5 :flags replaces the variable for that action only.
    let o = run(
        "require [\"imap4flags\", \"fileinto\"]; setflag \"\\\\Seen\"; fileinto :flags \"\\\\Deleted\" \"Trash\"; keep;",
        "",
    );
    assert_eq!(flags(&o, "Trash"), ["\\Deleted"]);
    assert_eq!(flags(&o, "INBOX"), ["\\Seen"]);
}

#[test]
fn rfc5232_hasflag_examples() {
    let base = "require \"imap4flags\";\n\
        setflag \"NonJunk Junk gnus-forward $Forwarded NotJunk JunkRecorded $Junk $NotJunk\";\n";
    let holds = |cond: &str| run(&format!("{base}if {cond} {{ discard; }}"), "").discarded;
    assert!(holds("hasflag :contains \"Junk\""));
    assert!(holds("hasflag :contains \"forward\""));
    assert!(holds("hasflag :contains [\"label\", \"forward\"]"));
    assert!(holds("hasflag :contains [\"junk\", \"forward\"]"));
    assert!(holds("hasflag :contains \"junk forward\""));
    assert!(!holds("hasflag :contains \"label\""));
    assert!(!holds("hasflag :contains [\"label\", \"logic\"]"));
    assert!(holds("hasflag \"$junk\""));
    assert!(holds("hasflag :matches \"*Rec*\""));
}

#[test]
fn rfc5490_mailbox() {
    let script = "require [\"fileinto\", \"mailbox\"];\n\
        if mailboxexists \"Fishing-messages\" {\n    fileinto \"Fishing-messages\";\n} else {\n    fileinto :create \"Fishing\";\n}";
    let o = run(script, "");
    assert_eq!(boxes(&o), ["Fishing"]);
    assert!(o.deliveries[0].create);
    let o = run(
        "require [\"fileinto\", \"mailbox\"]; if mailboxexists \"Other\" { fileinto \"Other\"; }",
        "",
    );
    assert_eq!(boxes(&o), ["Other"]);
    assert!(!o.deliveries[0].create);
}

/// Small deterministic generator for the robustness tests.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn garbage_scripts_never_panic() {
    const PIECES: &[&str] = &[
        "if",
        "elsif",
        "else",
        "require",
        "keep",
        "discard",
        "stop",
        "fileinto",
        "setflag",
        "addflag",
        "removeflag",
        "header",
        "address",
        "envelope",
        "exists",
        "size",
        "allof",
        "anyof",
        "not",
        "true",
        "false",
        "hasflag",
        "mailboxexists",
        ":is",
        ":contains",
        ":matches",
        ":comparator",
        ":over",
        ":under",
        ":flags",
        ":create",
        ":user",
        ":detail",
        ":domain",
        "\"fileinto\"",
        "\"imap4flags\"",
        "\"mailbox\"",
        "\"envelope\"",
        "\"subaddress\"",
        "\"i;octet\"",
        "\"subject\"",
        "\"from\"",
        "\"*a?\\\\\"",
        "\"x\"",
        "[",
        "]",
        "(",
        ")",
        "{",
        "}",
        ",",
        ";",
        "1K",
        "99999999999",
        "text:\n..x\n.\n",
        "#c\n",
        "/*",
        "*/",
        " ",
        "\n",
        "\"",
        ":",
        "ü",
        "\\",
    ];
    let msg = MessageView::parse(b"From: a@b\r\nSubject: x\r\n\r\n");
    let env = EnvelopeInfo {
        from: "a@b".into(),
        to: "c+d@e".into(),
    };
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut compiled = 0;
    for _ in 0..3000 {
        let len = rng.next(40);
        let src: String = (0..len)
            .map(|_| PIECES[rng.next(PIECES.len())])
            .collect::<Vec<_>>()
            .join(" ");
        // Prefix a full require sometimes so deeper code paths are reached.
        let src = if rng.next(2) == 0 {
            format!(
                "require [\"fileinto\",\"imap4flags\",\"mailbox\",\"envelope\",\"subaddress\"];{src}"
            )
        } else {
            src
        };
        if let Ok(script) = compile(&src) {
            compiled += 1;
            let out = execute(&script, &msg, &env, &|_: &str| false);
            assert!(out.is_err() || out.is_ok_and(|o| o.discarded || !o.deliveries.is_empty()));
        }
    }
    assert!(compiled > 0);
    // Raw bytes, read as (lossy) text.
    for _ in 0..500 {
        let bytes: Vec<u8> = (0..rng.next(200)).map(|_| rng.next(256) as u8).collect();
        let _ = compile(&String::from_utf8_lossy(&bytes));
    }
}

#[test]
fn garbage_messages_never_panic() {
    let script = compile(
        "require [\"envelope\", \"subaddress\"];\n\
         if anyof (address :detail [\"from\", \"to\", \"cc\"] \"x\", header :matches \"subject\" \"*?*\",\n\
                   envelope :user \"to\" \"a\", exists \"date\") { keep; }",
    )
    .unwrap();
    let env = EnvelopeInfo {
        from: "<@>".into(),
        to: "+@".into(),
    };
    let mut rng = XorShift(42);
    let alphabet = b"From:To:Cc:Subject: =?utf-8?q?B?<>@,;:\"()\\\r\n\t\xff\xfe\xc3";
    for _ in 0..1000 {
        let bytes: Vec<u8> = (0..rng.next(300))
            .map(|_| alphabet[rng.next(alphabet.len())])
            .collect();
        let out = execute(&script, &MessageView::parse(&bytes), &env, &|_: &str| true).unwrap();
        assert!(!out.deliveries.is_empty());
    }
}
