//! RFC 4314 ACL and RFC 2342 NAMESPACE through a real socket: the rights matrix (each right
//! held and not held), non-leaking answers, per-user \Seen, pushes between users, and ACL
//! changes reaching a selected session.

mod common;
use common::*;

/// Owner and grantee on a shared server, with a fresh mailbox `Box` holding one message, shared
/// with the grantee with `rights`. Returns (owner client, grantee client, grantee's name for it).
fn shared_box(s: &Server, rights: &str) -> (Client, Client, String) {
    let (owner, guest) = (s.new_user(), s.new_user());
    let mut o = s.login(&owner);
    o.ok("CREATE Box");
    assert!(
        o.append("Box", "()", &message("hello", "shared body"))
            .contains("OK")
    );
    o.ok(&format!("SETACL Box {guest} {rights}"));
    let g = s.login(&guest);
    (o, g, format!("\"Other Users/{owner}/Box\""))
}

fn status_word(c: &mut Client, cmd: &str) -> String {
    let (st, lines) = c.status(cmd);
    let tagged = lines.last().unwrap().clone();
    if st == "NO" {
        // Keep the response code: NO [NOPERM] vs NO [NONEXISTENT].
        let code = tagged
            .split('[')
            .nth(1)
            .and_then(|r| r.split(']').next())
            .unwrap_or("");
        return format!("NO [{code}]");
    }
    st
}

#[test]
fn rights_matrix() {
    let s = Server::shared(&[]);
    // (right, granted set without it, command run by the guest after SELECT/EXAMINE or not)
    type Case = (&'static str, &'static str, fn(&mut Client, &str) -> String);
    let cases: Vec<Case> = vec![
        ("r select", "lr", |c, b| {
            status_word(c, &format!("SELECT {b}"))
        }),
        ("r status", "lr", |c, b| {
            status_word(c, &format!("STATUS {b} (MESSAGES)"))
        }),
        ("s store", "lrs", |c, b| {
            c.ok(&format!("SELECT {b}"));
            status_word(c, "STORE 1 +FLAGS (\\Seen)")
        }),
        ("t store", "lrt", |c, b| {
            c.ok(&format!("SELECT {b}"));
            status_word(c, "STORE 1 +FLAGS (\\Deleted)")
        }),
        ("w store", "lrw", |c, b| {
            c.ok(&format!("SELECT {b}"));
            status_word(c, "STORE 1 +FLAGS (\\Flagged)")
        }),
        ("i append", "lri", |c, b| {
            let tag = c.append(b, "()", &message("from guest", "x"));
            tag.split(' ').nth(1).unwrap().to_string()
                + &if tag.contains("NOPERM") {
                    " [NOPERM]".to_string()
                } else {
                    String::new()
                }
        }),
        ("e expunge", "lrte", |c, b| {
            c.ok(&format!("SELECT {b}"));
            c.ok("STORE 1 +FLAGS.SILENT (\\Deleted)");
            status_word(c, "EXPUNGE")
        }),
        ("k create", "lrk", |c, b| {
            status_word(c, &format!("CREATE \"{}/Sub\"", b.trim_matches('"')))
        }),
        ("x delete", "lrx", |c, b| {
            status_word(c, &format!("DELETE {b}"))
        }),
        ("a getacl", "lra", |c, b| {
            status_word(c, &format!("GETACL {b}"))
        }),
        ("a setacl", "lra", |c, b| {
            status_word(c, &format!("SETACL {b} anyone l"))
        }),
        ("a listrights", "lra", |c, b| {
            status_word(c, &format!("LISTRIGHTS {b} anyone"))
        }),
    ];
    for (what, with, run) in cases {
        let right = what.chars().next().unwrap().to_string();
        // Held.
        let (_o, mut g, name) = shared_box(&s, with);
        assert_eq!(run(&mut g, &name), "OK", "{what} with rights {with}");
        // Not held (every right of `with` except this one; `l` kept so existence is known).
        let without: String = with.chars().filter(|c| c.to_string() != right).collect();
        let (_o, mut g, name) = shared_box(&s, &without);
        let got = run(&mut g, &name);
        if right == "r" && !without.contains('r') {
            assert_eq!(got, "NO [NOPERM]", "{what} with rights {without}");
        } else {
            assert!(
                got.starts_with("NO [NOPERM]"),
                "{what} with rights {without}: {got}"
            );
        }
    }
}

#[test]
fn no_leak_without_l_and_r() {
    let s = Server::shared(&[]);
    let (_o, mut g, name) = shared_box(&s, "i");
    let owner = name.split('/').nth(1).unwrap().to_string();
    let missing = format!("\"Other Users/{owner}/Nope\"");
    for cmd in [
        "SELECT {}",
        "STATUS {} (MESSAGES)",
        "MYRIGHTS {}",
        "GETACL {}",
        "DELETE {}",
    ] {
        let a = status_word(&mut g, &cmd.replace("{}", &name));
        let b = status_word(&mut g, &cmd.replace("{}", &missing));
        assert_eq!(a, b, "{cmd}: existing-but-hidden vs missing");
        assert_eq!(a, "NO [NONEXISTENT]");
    }
    // Not listed either.
    let list = g.ok("LIST \"\" \"Other Users/*\"");
    assert_eq!(list.len(), 1, "{list:#?}");
}

#[test]
fn list_myrights_getacl_readonly_and_per_user_seen() {
    let s = Server::shared(&[]);
    let (mut o, mut g, name) = shared_box(&s, "lrs");
    let owner = name.split('/').nth(1).unwrap().to_string();
    let guest = g.user.clone().unwrap();
    let list = g.ok("LIST \"\" *");
    assert!(
        list.iter()
            .any(|l| l
                == &format!("* LIST (\\Noselect \\HasChildren) \"/\" \"Other Users/{owner}\"")),
        "{list:#?}"
    );
    assert!(
        list.iter()
            .any(|l| l == &format!("* LIST (\\HasNoChildren) \"/\" \"Other Users/{owner}/Box\"")),
        "{list:#?}"
    );
    let my = g.ok(&format!("MYRIGHTS {name}"));
    assert_eq!(my[0], format!("* MYRIGHTS {name} lrs"));
    let acl = o.ok("GETACL Box");
    assert_eq!(
        acl[0],
        format!("* ACL Box {owner} lrswipkxteacd {guest} lrs")
    );
    let lr = o.ok(&format!("LISTRIGHTS Box {guest}"));
    assert_eq!(
        lr[0],
        format!("* LISTRIGHTS Box {guest} \"\" l r s w i p k x t e a c d")
    );
    // With only l r s the guest's SELECT is read-only... no: `s` lets it keep \Seen, so
    // read-write; with l r alone it is read-only.
    let sel = g.ok(&format!("SELECT {name}"));
    assert!(sel.last().unwrap().contains("[READ-WRITE]"), "{sel:#?}");
    assert!(
        sel.iter().any(|l| l.contains("[PERMANENTFLAGS (\\Seen)]")),
        "{sel:#?}"
    );
    // Per-user \Seen: the guest reads the message; the owner still sees it unseen.
    let f = g.ok("FETCH 1 (BODY[TEXT])");
    assert!(
        f[0].contains("FLAGS (\\Seen)") || f.iter().any(|l| l.contains("\\Seen")),
        "{f:#?}"
    );
    let of = o.ok("EXAMINE Box");
    assert!(
        of.iter().any(|l| l.contains("[UNSEEN 1]")),
        "owner's own \\Seen untouched: {of:#?}"
    );
    let st = g.ok(&format!("STATUS {name} (UNSEEN)"));
    assert!(st[0].ends_with("(UNSEEN 0)"), "{st:#?}");
    let st = o.ok("STATUS Box (UNSEEN)");
    assert!(st[0].ends_with("(UNSEEN 1)"), "{st:#?}");
    // Revoke s: a new SELECT is read-only.
    o.ok(&format!("SETACL Box {guest} -s"));
    let sel = g.ok(&format!("SELECT {name}"));
    assert!(sel.last().unwrap().contains("[READ-ONLY]"), "{sel:#?}");
}

#[test]
fn pushes_between_users_and_acl_changes_reach_selected_sessions() {
    let s = Server::shared(&[]);
    let (mut o, mut g, name) = shared_box(&s, "lrsi");
    let guest = g.user.clone().unwrap();
    o.ok("SELECT Box");
    let tag = o.idle();
    assert!(
        g.append(&name, "()", &message("from guest", "hi"))
            .contains("OK [APPENDUID")
    );
    assert_eq!(o.read_line(), "* 2 EXISTS");
    o.done(&tag);
    // Revoking r while the guest has the mailbox selected ends its session on the next command.
    g.ok(&format!("SELECT {name}"));
    o.ok(&format!("DELETEACL Box {guest}"));
    g.send_raw(b"n1 NOOP\r\n");
    let lines = g.expect_closed();
    assert!(lines.iter().any(|l| l.starts_with("* BYE")), "{lines:#?}");
}

#[test]
fn shared_namespace_and_negative_rights() {
    let s = Server::shared(&[]);
    let (mut o, mut g, name) = shared_box(&s, "lr");
    let guest = g.user.clone().unwrap();
    // `anyone` grants, a negative entry takes away.
    o.ok("SETACL Box anyone lrw");
    o.ok(&format!("SETACL Box -{guest} w"));
    let my = g.ok(&format!("MYRIGHTS {name}"));
    assert_eq!(my[0], format!("* MYRIGHTS {name} lr"));
    // Unknown rights are a BAD; the owner's own rights cannot change.
    let (st, _) = o.status(&format!("SETACL Box {guest} lz"));
    assert_eq!(st, "BAD");
    let owner = name.split('/').nth(1).unwrap();
    let (st, _) = o.status(&format!("SETACL Box {owner} l"));
    assert_eq!(st, "NO");
    // Clients cannot create top-level public folders.
    let (st, _) = g.status("CREATE Shared/Mine");
    assert_eq!(st, "NO");
}

/// Runs the `postfach` CLI against the running server's data directory.
fn cli(s: &Server, args: &[&str]) -> String {
    let out = std::process::Command::new(BIN)
        .args(args)
        .arg("--data")
        .arg(&s.data)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn operator_shares_a_public_folder_while_the_server_runs() {
    let s = Server::shared(&[]);
    let (a, b) = (s.new_user(), s.new_user());
    let folder = format!("Family{a}");
    cli(&s, &["mailbox", "create-shared", &folder]);
    cli(
        &s,
        &["acl", "set", &format!("Shared/{folder}"), &a, "lrswite"],
    );
    cli(
        &s,
        &["acl", "set", &format!("Shared/{folder}"), &b, "lrswite"],
    );
    let listed = cli(&s, &["acl", "get", &format!("Shared/{folder}")]);
    assert!(listed.contains(&format!("{a} lrswite")), "{listed}");
    let mut ca = s.login(&a);
    let mut cb = s.login(&b);
    let name = format!("Shared/{folder}");
    let list = ca.ok("LIST \"\" \"Shared/*\"");
    assert!(
        list.iter().any(|l| l.ends_with(&format!("\"/\" {name}"))),
        "{list:#?}"
    );
    ca.ok(&format!("SELECT {name}"));
    let tag = ca.idle();
    assert!(
        cb.append(&name, "(\\Seen)", &message("for the family", "x"))
            .contains("OK")
    );
    assert_eq!(ca.read_line(), "* 1 EXISTS");
    ca.done(&tag);
    // b appended with \Seen: seen for b only.
    let fa = ca.ok("FETCH 1 (FLAGS)");
    assert!(
        fa[0].contains("FLAGS (\\Recent)") || fa[0].contains("FLAGS ()"),
        "{fa:#?}"
    );
    cb.ok(&format!("SELECT {name}"));
    let fb = cb.ok("FETCH 1 (FLAGS)");
    assert!(fb[0].contains("\\Seen"), "{fb:#?}");
    // Removing b's entry from the CLI ends b's access.
    cli(&s, &["acl", "delete", &name, &b]);
    cb.send_raw(b"n1 NOOP\r\n");
    let lines = cb.expect_closed();
    assert!(lines.iter().any(|l| l.starts_with("* BYE")), "{lines:#?}");
}
