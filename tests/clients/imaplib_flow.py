#!/usr/bin/env python3
"""Drives every core IMAP command through Python's standard imaplib and checks real values.

Usage: imaplib_flow.py HOST PORT USER PASSWORD [core|idle|all]

`core` runs every command but IDLE with pushed changes, `idle` only that, `all` (the default)
both. `core` expects a fresh account: an empty INBOX and no mailbox named "Flow". Exits 0 when
every check passes; otherwise prints "FAIL: <step>: <what>" to stderr and exits 1. Standard
library only.
"""

import datetime
import imaplib
import re
import socket
import sys

TIMEOUT = 30  # seconds for every socket read; a hung server fails the run instead of blocking

STEP = "start"


class Failure(Exception):
    pass


def step(name):
    global STEP
    STEP = name
    print(f"== {name}", flush=True)


def check(cond, what):
    if not cond:
        raise Failure(what)


def eq(got, want, what):
    if got != want:
        raise Failure(f"{what}: got {got!r}, want {want!r}")


def ok(result, what):
    typ, data = result
    if typ != "OK":
        raise Failure(f"{what}: {typ} {data!r}")
    return data


def no(result, what):
    typ, data = result
    if typ != "NO":
        raise Failure(f"{what}: expected NO, got {typ} {data!r}")
    return data


def expect_error(fn, what):
    """imaplib raises IMAP4.error on a tagged NO/BAD for some commands."""
    try:
        result = fn()
    except imaplib.IMAP4.error as e:
        return str(e)
    if result[0] in ("NO", "BAD"):
        return result[1]
    raise Failure(f"{what}: expected NO/BAD, got {result!r}")


# --- A small parser for the bodies of FETCH responses ---------------------------------------

ATOM_END = b' ()"{}\r\n'


def tokenize(data, literals):
    """IMAP tokens of `data`; `\\0N\\0` stands for literal N."""
    i, out = 0, []
    while i < len(data):
        c = data[i : i + 1]
        if c in (b" ", b"\r", b"\n"):
            i += 1
        elif c in (b"(", b")"):
            out.append(c.decode())
            i += 1
        elif c == b"\0":
            j = data.index(b"\0", i + 1)
            out.append(literals[int(data[i + 1 : j])])
            i = j + 1
        elif c == b'"':
            j, s = i + 1, bytearray()
            while data[j : j + 1] != b'"':
                if data[j : j + 1] == b"\\":
                    j += 1
                s += data[j : j + 1]
                j += 1
            out.append(("str", s.decode()))
            i = j + 1
        else:
            j = i
            while j < len(data) and data[j : j + 1] not in ATOM_END:
                if data[j : j + 1] == b"[":  # BODY[HEADER.FIELDS (A B)]: up to the ']'
                    j = data.index(b"]", j)
                j += 1
            out.append(data[i:j].decode())
            i = j
    return out


def parse_list(tokens, pos):
    """Parses from just after '(' up to the matching ')'."""
    items = []
    while tokens[pos] != ")":
        if tokens[pos] == "(":
            sub, pos = parse_list(tokens, pos + 1)
            items.append(sub)
        else:
            items.append(tokens[pos])
            pos += 1
    return items, pos + 1


def value(v):
    if isinstance(v, tuple):
        return v[1]
    if v == "NIL":
        return None
    return v


def fetch_responses(data):
    """imaplib FETCH data → [(seq, {ITEM: value})], literals as bytes."""
    stream, literals = bytearray(), []
    for part in data:
        if part is None:
            continue
        if isinstance(part, tuple):
            prefix, lit = part
            m = re.search(rb"\{(\d+)\}$", prefix)
            check(m is not None, f"literal prefix without {{n}}: {prefix!r}")
            check(int(m.group(1)) == len(lit), f"literal length mismatch in {prefix!r}")
            stream += prefix[: m.start()] + b"\0%d\0" % len(literals)
            literals.append(lit)
        else:
            stream += part
    tokens = tokenize(bytes(stream), literals)
    out, pos = [], 0
    while pos < len(tokens):
        seq = int(tokens[pos])
        eq(tokens[pos + 1], "(", "FETCH response shape")
        items, pos = parse_list(tokens, pos + 2)
        check(len(items) % 2 == 0, f"odd FETCH item list {items!r}")
        d = {}
        for k in range(0, len(items), 2):
            d[items[k].upper()] = items[k + 1]
        out.append((seq, d))
    return out


def fetch_one(M, seq, items, uid=False):
    res = M.uid("FETCH", seq, items) if uid else M.fetch(seq, items)
    got = fetch_responses(ok(res, f"FETCH {seq} {items}"))
    eq(len(got), 1, f"FETCH {seq} {items}: number of responses")
    return got[0]


def flags_of(M, seq):
    _, d = fetch_one(M, seq, "(FLAGS)")
    return set(d["FLAGS"])


def search(M, *keys, uid=False):
    res = M.uid("SEARCH", *keys) if uid else M.search(None, *keys)
    data = ok(res, f"SEARCH {keys}")
    return [int(x) for x in data[0].split()]


def status(M, mailbox, items):
    data = ok(M.status(mailbox, f"({items})"), f"STATUS {mailbox}")
    m = re.search(rb"\((.*)\)", data[0])
    check(m is not None, f"STATUS answer {data!r}")
    parts = m.group(1).split()
    return {parts[i].decode(): int(parts[i + 1]) for i in range(0, len(parts), 2)}


def list_names(M, ref, pattern, lsub=False):
    ref, pattern = f'"{ref}"', f'"{pattern}"'
    data = ok(M.lsub(ref, pattern) if lsub else M.list(ref, pattern), f"LIST {ref} {pattern}")
    out = {}
    for line in data:
        if line is None:
            continue
        if isinstance(line, tuple):  # name sent as a literal
            line = line[0] + b'"' + line[1] + b'"'
        m = re.match(rb'\(([^)]*)\) (NIL|"[^"]*") (.*)$', line)
        check(m is not None, f"LIST line {line!r}")
        name = m.group(3).decode()
        if name.startswith('"'):
            name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        eq(m.group(2), b'"/"', f"delimiter of {name}")
        out[name] = set(m.group(1).decode().split())
    return out


def response_code(text, code):
    """Numbers of `[CODE a b c]` in a tagged/untagged text."""
    if isinstance(text, list):
        text = b" ".join(t for t in text if isinstance(t, bytes))
    if isinstance(text, bytes):
        text = text.decode()
    m = re.search(r"\[" + code + r" ([^\]]*)\]", text)
    check(m is not None, f"no [{code} ...] in {text!r}")
    return m.group(1).split()


def message(subject, sender, body):
    return (
        f"From: {sender}\r\nTo: Bob <bob@example.org>\r\nSubject: {subject}\r\n"
        f"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <{subject.replace(' ', '.')}@example.org>\r\n"
        f"\r\n{body}\r\n"
    ).encode()


def header_of(msg):
    return msg[: msg.index(b"\r\n\r\n") + 4]


def parse_internaldate(s):
    return datetime.datetime.strptime(s.strip(), "%d-%b-%Y %H:%M:%S %z")


# --- A raw socket for IDLE -------------------------------------------------------------------


class Raw:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.buf = b""
        greeting = self.line()
        check(greeting.startswith("* OK"), f"raw greeting {greeting!r}")

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            check(chunk, f"connection closed; pending {self.buf!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode()

    def send(self, text):
        self.sock.sendall(text.encode() + b"\r\n")

    def cmd(self, tag, text):
        self.send(f"{tag} {text}")
        lines = []
        while True:
            line = self.line()
            lines.append(line)
            if line.startswith(tag + " "):
                check(line.startswith(tag + " OK"), f"{text}: {lines!r}")
                return lines

    def until(self, pattern, what):
        """Reads lines until one matches; returns the match."""
        seen = []
        while True:
            try:
                line = self.line()
            except socket.timeout:
                raise Failure(f"{what}: nothing matching {pattern!r} within {TIMEOUT}s; got {seen!r}")
            except Failure as e:
                raise Failure(f"{what}: {e}; before that: {seen!r}")
            seen.append(line)
            m = re.match(pattern, line)
            if m:
                return m


# --- The flows ---------------------------------------------------------------------------------


def idle_flow(host, port, user, password):
    """IDLE on a raw socket while a second imaplib session appends, flags and expunges."""
    step("IDLE with pushed changes")
    raw = Raw(host, port)
    raw.cmd("i1", f'LOGIN "{user}" "{password}"')
    lines = raw.cmd("i2", "SELECT INBOX")
    exists = [int(m.group(1)) for m in (re.match(r"\* (\d+) EXISTS", l) for l in lines) if m]
    eq(len(exists), 1, "one EXISTS in SELECT")
    n = exists[0]
    before = raw.cmd("i3", "UID SEARCH ALL")[0]
    raw.send("i4 IDLE")
    raw.until(r"\+ ", "IDLE continuation")
    other = imaplib.IMAP4(host, port, timeout=TIMEOUT)
    ok(other.login(user, password), "second LOGIN")
    msg = message("pushed", "Erin <erin@example.org>", "Arrives while idling.")
    data = ok(other.append("INBOX", None, None, msg), "APPEND during IDLE")
    new_uid = int(response_code(data[0], "APPENDUID")[1])
    raw.until(rf"\* {n + 1} EXISTS$", "EXISTS pushed during IDLE")
    ok(other.select("INBOX"), "second SELECT")
    ok(other.uid("STORE", str(new_uid), "+FLAGS", "(\\Flagged)"), "STORE during IDLE")
    m = raw.until(rf"\* {n + 1} FETCH \((.*)\)$", "FETCH FLAGS pushed during IDLE")
    check("\\Flagged" in m.group(1), f"pushed flags {m.group(1)!r}")
    ok(other.uid("STORE", str(new_uid), "+FLAGS.SILENT", "(\\Deleted)"), "STORE \\Deleted")
    ok(other.uid("EXPUNGE", str(new_uid)), "UID EXPUNGE during IDLE")
    raw.until(rf"\* {n + 1} EXPUNGE$", "EXPUNGE pushed during IDLE")
    raw.send("DONE")
    raw.until(r"i4 OK", "tagged OK after DONE")
    eq(raw.cmd("i5", "UID SEARCH ALL")[0], before, "IDLE session's view after the pushes")
    raw.cmd("i6", "LOGOUT")
    raw.sock.close()
    eq(other.logout()[0], "BYE", "second LOGOUT")


def core_flow(host, port, user, password):
    step("connect and CAPABILITY before login")
    M = imaplib.IMAP4(host, port, timeout=TIMEOUT)
    check(M.welcome.startswith(b"* OK"), f"greeting {M.welcome!r}")
    caps = set(M.capabilities)
    for c in ("IMAP4REV1", "IDLE", "UIDPLUS", "MOVE", "NAMESPACE", "AUTH=PLAIN", "LITERAL+"):
        check(c in caps, f"capability {c} missing from {caps}")

    step("LOGIN")
    expect_error(lambda: M.login(user, password + "x"), "LOGIN with a wrong password")
    eq(M.state, "NONAUTH", "imaplib state after a failed LOGIN")
    typ, data = M.login(user, password)
    eq(typ, "OK", "LOGIN")
    eq(M.state, "AUTH", "imaplib state after LOGIN")

    step("CAPABILITY after login")
    data = ok(M.capability(), "CAPABILITY")
    caps = set(data[0].decode().upper().split())
    check("IMAP4REV1" in caps and "IDLE" in caps, f"capabilities after login {caps}")
    check("AUTH=PLAIN" not in caps, f"AUTH=PLAIN still advertised after login: {caps}")

    step("NAMESPACE")
    data = ok(M.namespace(), "NAMESPACE")
    eq(data[0], b'(("" "/")) (("Other Users/" "/")) (("Shared/" "/"))', "NAMESPACE answer")

    step("LIST / LSUB of a fresh account")
    names = list_names(M, "", "*")
    check("INBOX" in names, f"INBOX not listed: {names}")
    check(not any(n.startswith("Flow") for n in names), f"Flow exists already: {names}")
    eq(list_names(M, "", "INBOX"), {"INBOX": {"\\HasNoChildren"}}, "LIST INBOX")
    eq(list_names(M, "", "inbox"), {"INBOX": {"\\HasNoChildren"}}, "LIST inbox (case)")
    data = ok(M.list('""', '""'), "LIST '' ''")
    check(data[0].endswith(b'"/" ""'), f"hierarchy delimiter answer {data!r}")

    step("CREATE")
    ok(M.create("Flow"), "CREATE Flow")
    ok(M.create("Flow/Sub"), "CREATE Flow/Sub")
    ok(M.create('"Flow/With Space"'), "CREATE quoted name")
    ok(M.create("Flow/Entw&APw-rfe"), "CREATE modified UTF-7 name")
    no(M.create("Flow"), "CREATE existing Flow")
    no(M.create("INBOX"), "CREATE INBOX")
    got = list_names(M, "", "Flow*")
    eq(
        set(got),
        {"Flow", "Flow/Sub", "Flow/With Space", "Flow/Entw&APw-rfe"},
        "LIST Flow*",
    )
    check("\\HasChildren" in got["Flow"], f"Flow attributes {got['Flow']}")
    check("\\HasNoChildren" in got["Flow/Sub"], f"Flow/Sub attributes {got['Flow/Sub']}")
    eq(set(list_names(M, "Flow/", "%")), set(got) - {"Flow"}, "LIST Flow/ %")
    eq(set(list_names(M, "", "%")) & set(got), {"Flow"}, "LIST % stops at the delimiter")

    step("RENAME")
    ok(M.rename("Flow/Sub", "Flow/Renamed"), "RENAME")
    got = list_names(M, "", "Flow/*")
    check("Flow/Renamed" in got and "Flow/Sub" not in got, f"after RENAME: {set(got)}")
    no(M.rename("Flow/Nope", "Flow/Other"), "RENAME a missing mailbox")
    no(M.rename("Flow/Renamed", "Flow"), "RENAME onto an existing mailbox")

    step("SUBSCRIBE / LSUB / UNSUBSCRIBE")
    eq(list_names(M, "", "Flow*", lsub=True), {}, "LSUB before SUBSCRIBE")
    ok(M.subscribe("Flow/Renamed"), "SUBSCRIBE")
    got = list_names(M, "", "Flow/*", lsub=True)
    eq(set(got), {"Flow/Renamed"}, "LSUB after SUBSCRIBE")
    ok(M.unsubscribe("Flow/Renamed"), "UNSUBSCRIBE")
    eq(list_names(M, "", "Flow/*", lsub=True), {}, "LSUB after UNSUBSCRIBE")

    step("DELETE")
    ok(M.delete("Flow/Renamed"), "DELETE")
    ok(M.delete('"Flow/With Space"'), "DELETE quoted")
    ok(M.delete("Flow/Entw&APw-rfe"), "DELETE UTF-7")
    eq(set(list_names(M, "", "Flow*")), {"Flow"}, "LIST after DELETE")
    check("\\HasNoChildren" in list_names(M, "", "Flow")["Flow"], "Flow lost its children")
    no(M.delete("Flow/Renamed"), "DELETE a deleted mailbox")
    no(M.select("Flow/Renamed"), "SELECT a deleted mailbox")

    step("APPEND with flags and date")
    msgs = [
        message("first note", "Carol <carol@example.net>", "Tea at five, bring the kettle."),
        message("second report", "Alice <alice@example.org>", "Quarterly numbers attached."),
        message("third memo", "Dave <dave@example.com>", "The kettle is broken again."),
    ]
    dates = [
        '"01-Jan-2021 10:00:00 +0000"',
        '"15-Jun-2022 23:30:00 +0200"',
        '"07-Feb-1994 21:52:25 -0800"',
    ]
    flags = ["(\\Seen)", "(\\Flagged $Important)", "()"]
    appended_uids = []
    uidvalidity = None
    for m, d, f in zip(msgs, dates, flags):
        data = ok(M.append("INBOX", f, d, m), "APPEND")
        v, u = response_code(data[0], "APPENDUID")
        if uidvalidity is None:
            uidvalidity = v
        eq(v, uidvalidity, "APPENDUID validity stays the same")
        appended_uids.append(int(u))
    check(appended_uids == sorted(appended_uids), f"UIDs not ascending: {appended_uids}")
    eq(len(set(appended_uids)), 3, "distinct UIDs")
    data = no(M.append("Flow/Nope", None, None, msgs[0]), "APPEND to a missing mailbox")
    # RFC 3501 §6.3.11: NO [TRYCREATE] when the target does not exist.
    check(data[0].startswith(b"[TRYCREATE]"), f"APPEND to a missing mailbox: {data!r}")

    step("STATUS")
    st = status(M, "INBOX", "MESSAGES UIDNEXT UIDVALIDITY UNSEEN")
    eq(st["MESSAGES"], 3, "STATUS MESSAGES")
    eq(st["UNSEEN"], 2, "STATUS UNSEEN")
    eq(st["UIDVALIDITY"], int(uidvalidity), "STATUS UIDVALIDITY")
    eq(st["UIDNEXT"], appended_uids[-1] + 1, "STATUS UIDNEXT")

    step("EXAMINE is read-only")
    M.untagged_responses.clear()
    typ, data = M.select("INBOX", readonly=True)
    eq((typ, data), ("OK", [b"3"]), "EXAMINE INBOX")
    # imaplib files the tagged line's [READ-ONLY] code under untagged_responses.
    check("READ-ONLY" in M.untagged_responses, "EXAMINE's tagged OK lacks [READ-ONLY]")
    check("READ-WRITE" not in M.untagged_responses, "EXAMINE answered [READ-WRITE]")
    _, d = fetch_one(M, "3", "(BODY[])")
    eq(d["BODY[]"], msgs[2], "BODY[] under EXAMINE")
    check("\\Seen" not in flags_of(M, "3"), "BODY[] under EXAMINE set \\Seen")
    expect_error(lambda: M.store("3", "+FLAGS", "(\\Flagged)"), "STORE under EXAMINE")
    expect_error(lambda: M.expunge(), "EXPUNGE under EXAMINE")
    ok(M.unselect(), "UNSELECT")
    eq(M.state, "AUTH", "state after UNSELECT")

    step("SELECT")
    M.untagged_responses.clear()
    typ, data = M.select("INBOX")
    eq((typ, data), ("OK", [b"3"]), "SELECT INBOX")
    eq(M.untagged_responses.get("UIDVALIDITY"), [uidvalidity.encode()], "UIDVALIDITY")
    eq(M.untagged_responses.get("UIDNEXT"), [str(appended_uids[-1] + 1).encode()], "UIDNEXT")
    eq(M.untagged_responses.get("UNSEEN"), [b"2"], "first unseen")
    pf = M.untagged_responses.get("PERMANENTFLAGS", [b""])[0].decode()
    for f in ("\\Seen", "\\Deleted", "\\*"):
        check(f in pf, f"PERMANENTFLAGS {pf!r} lacks {f}")
    check("READ-WRITE" in M.untagged_responses, "SELECT not READ-WRITE")

    step("FETCH FLAGS UID RFC822.SIZE INTERNALDATE")
    got = fetch_responses(ok(M.fetch("1:*", "(FLAGS UID RFC822.SIZE INTERNALDATE)"), "FETCH"))
    eq([s for s, _ in got], [1, 2, 3], "FETCH 1:* sequence numbers")
    want_flags = [{"\\Seen"}, {"\\Flagged", "$Important"}, set()]
    for (seq, d), m, date, wf, uid in zip(got, msgs, dates, want_flags, appended_uids):
        eq(set(d["FLAGS"]) - {"\\Recent"}, wf, f"FLAGS of {seq}")
        eq(int(d["UID"]), uid, f"UID of {seq}")
        eq(int(d["RFC822.SIZE"]), len(m), f"RFC822.SIZE of {seq}")
        eq(
            parse_internaldate(value(d["INTERNALDATE"])),
            parse_internaldate(date.strip('"')),
            f"INTERNALDATE of {seq}",
        )

    step("FETCH BODY.PEEK[] / BODY[HEADER] / RFC822")
    for i, m in enumerate(msgs, start=1):
        _, d = fetch_one(M, str(i), "(BODY.PEEK[])")
        eq(d["BODY[]"], m, f"BODY.PEEK[] of {i}")
    eq(flags_of(M, "3") - {"\\Recent"}, set(), "BODY.PEEK[] must not set \\Seen")
    _, d = fetch_one(M, "3", "(BODY[HEADER])")
    eq(d["BODY[HEADER]"], header_of(msgs[2]), "BODY[HEADER]")
    check("\\Seen" in set(d.get("FLAGS", [])), f"BODY[HEADER] did not report \\Seen: {d!r}")
    eq(flags_of(M, "3") - {"\\Recent"}, {"\\Seen"}, "BODY[HEADER] sets \\Seen")
    _, d = fetch_one(M, "2", "RFC822")
    eq(d["RFC822"], msgs[1], "RFC822")
    check("\\Seen" in flags_of(M, "2"), "RFC822 sets \\Seen")
    _, d = fetch_one(M, str(appended_uids[0]), "(RFC822.SIZE)", uid=True)
    eq(int(d["UID"]), appended_uids[0], "UID FETCH carries UID")
    eq(int(d["RFC822.SIZE"]), len(msgs[0]), "UID FETCH RFC822.SIZE")
    _, d = fetch_one(M, "1", "(BODY.PEEK[]<6.5>)")
    eq(d["BODY[]<6>"], msgs[0][6:11], "partial BODY.PEEK[]<6.5>")

    step("STORE")
    # Now: 1 \Seen, 2 \Seen \Flagged $Important, 3 \Seen.
    _, data = M.store("2", "-FLAGS", "(\\Seen)")
    got = fetch_responses(data)
    eq(got[0][0], 2, "STORE answer seq")
    eq(set(got[0][1]["FLAGS"]) - {"\\Recent"}, {"\\Flagged", "$Important"}, "-FLAGS \\Seen")
    _, data = M.store("1:2", "+FLAGS", "(\\Answered)")
    got = dict(fetch_responses(data))
    check("\\Answered" in got[1]["FLAGS"] and "\\Answered" in got[2]["FLAGS"], f"+FLAGS: {got}")
    M.untagged_responses.pop("FETCH", None)
    _, data = M.store("3", "+FLAGS.SILENT", "($Later)")
    eq(data, [None], "+FLAGS.SILENT must not answer with FETCH")
    eq(flags_of(M, "3") - {"\\Recent"}, {"\\Seen", "$Later"}, "after +FLAGS.SILENT")
    _, data = M.store("3", "FLAGS", "(\\Draft)")
    eq(set(fetch_responses(data)[0][1]["FLAGS"]) - {"\\Recent"}, {"\\Draft"}, "FLAGS replace")
    data = ok(M.uid("STORE", str(appended_uids[2]), "-FLAGS", "(\\Draft)"), "UID STORE")
    got = fetch_responses(data)
    eq(int(got[0][1]["UID"]), appended_uids[2], "UID STORE answer carries UID")
    eq(set(got[0][1]["FLAGS"]) - {"\\Recent"}, set(), "UID STORE -FLAGS")
    # Now: 1 \Seen \Answered, 2 \Answered \Flagged $Important, 3 (none).

    step("SEARCH")
    eq(search(M, "ALL"), [1, 2, 3], "SEARCH ALL")
    eq(search(M, "UNSEEN"), [2, 3], "SEARCH UNSEEN")
    eq(search(M, "SEEN"), [1], "SEARCH SEEN")
    eq(search(M, "FLAGGED"), [2], "SEARCH FLAGGED")
    eq(search(M, "KEYWORD", "$Important"), [2], "SEARCH KEYWORD")
    eq(search(M, "ANSWERED", "UNFLAGGED"), [1], "SEARCH ANSWERED UNFLAGGED")
    eq(search(M, "FROM", "carol"), [1], "SEARCH FROM carol")
    eq(search(M, "FROM", "EXAMPLE.COM"), [3], "SEARCH FROM domain, case-insensitive")
    eq(search(M, "SUBJECT", '"second report"'), [2], "SEARCH SUBJECT")
    eq(search(M, "SUBJECT", "nothing-like-this"), [], "SEARCH SUBJECT without hits")
    eq(search(M, "TEXT", "kettle"), [1, 3], "SEARCH TEXT (body)")
    eq(search(M, "TEXT", "Dave"), [3], "SEARCH TEXT (header)")
    eq(search(M, "BODY", "quarterly"), [2], "SEARCH BODY")
    eq(search(M, "OR", "FROM", "carol", "FLAGGED"), [1, 2], "SEARCH OR")
    eq(search(M, "NOT", "TEXT", "kettle"), [2], "SEARCH NOT")
    eq(search(M, "SINCE", "1-Jan-2020"), [1, 2], "SEARCH SINCE (internal date)")
    eq(search(M, "SENTBEFORE", "1-Jan-2000"), [1, 2, 3], "SEARCH SENTBEFORE")
    sizes = [len(m) for m in msgs]
    middle = sorted(sizes)[1]
    check(len(set(sizes)) == 3, f"test messages need distinct sizes: {sizes}")
    larger = [i for i, n in enumerate(sizes, start=1) if n > middle]
    smaller = [i for i, n in enumerate(sizes, start=1) if n < middle]
    eq(search(M, "LARGER", str(middle)), larger, "SEARCH LARGER")
    eq(search(M, "SMALLER", str(middle)), smaller, "SEARCH SMALLER")
    u = appended_uids
    eq(search(M, "UID", f"{u[1]}:*"), [2, 3], "SEARCH UID n:*")
    eq(search(M, "UID", f"{u[0]},{u[2]}"), [1, 3], "SEARCH UID list")
    eq(search(M, "ALL", uid=True), u, "UID SEARCH ALL")
    eq(search(M, "UID", f"{u[1]}:*", uid=True), u[1:], "UID SEARCH UID n:*")
    eq(search(M, "2:3", "UNSEEN", uid=True), u[1:], "UID SEARCH seq set + key")
    eq(search(M, "UID", f"{u[2] + 100}:*", uid=True), [u[2]], "UID n:* past the end is the last")
    data = ok(M.search("UTF-8", "SUBJECT", "memo"), "SEARCH CHARSET UTF-8")
    eq(data, [b"3"], "SEARCH CHARSET UTF-8 SUBJECT")
    no(M.search("X-UNKNOWN", "ALL"), "SEARCH with an unknown charset")

    step("COPY")
    M.untagged_responses.clear()
    data = ok(M.copy("1:2", "Flow"), "COPY")
    validity, src, dst = response_code(data[0], "COPYUID")
    eq(src, f"{u[0]}:{u[1]}", "COPYUID source set")
    check(dst in ("1:2", "1,2"), f"COPYUID destination set {dst!r}")
    data = no(M.copy("1", "Flow/Nope"), "COPY to a missing mailbox")
    check(data[0].startswith(b"[TRYCREATE]"), f"COPY to a missing mailbox: {data!r}")
    eq(status(M, "Flow", "MESSAGES UNSEEN")["MESSAGES"], 2, "Flow after COPY")
    eq(status(M, "INBOX", "MESSAGES")["MESSAGES"], 3, "COPY leaves the source")

    step("UID MOVE")
    M.untagged_responses.clear()
    ok(M.uid("MOVE", str(u[2]), "Flow"), "UID MOVE")
    eq(M.untagged_responses.pop("EXPUNGE", None), [b"3"], "EXPUNGE after UID MOVE")
    oks = b" ".join(M.untagged_responses.pop("OK", []))
    _, src, dst = response_code(oks, "COPYUID")
    eq((src, dst), (str(u[2]), "3"), "COPYUID of the MOVE")
    eq(search(M, "ALL"), [1, 2], "INBOX after MOVE")
    st = status(M, "Flow", "MESSAGES UIDNEXT")
    eq((st["MESSAGES"], st["UIDNEXT"]), (3, 4), "Flow after MOVE")

    step("EXPUNGE")
    ok(M.store("1", "+FLAGS.SILENT", "(\\Deleted)"), "STORE \\Deleted")
    typ, data = M.expunge()
    eq((typ, data), ("OK", [b"1"]), "EXPUNGE answer")
    eq(search(M, "ALL", uid=True), [u[1]], "INBOX after EXPUNGE")

    step("UID EXPUNGE")
    ok(M.select("Flow"), "SELECT Flow")
    ok(M.store("1:3", "+FLAGS.SILENT", "(\\Deleted)"), "STORE \\Deleted on all")
    M.untagged_responses.clear()
    ok(M.uid("EXPUNGE", "2"), "UID EXPUNGE 2")
    eq(M.untagged_responses.pop("EXPUNGE", None), [b"2"], "UID EXPUNGE removes only UID 2")
    eq(search(M, "ALL", uid=True), [1, 3], "Flow after UID EXPUNGE")
    eq(search(M, "DELETED", uid=True), [1, 3], "the others keep \\Deleted")
    ok(M.store("1:*", "-FLAGS.SILENT", "(\\Deleted)"), "undelete")
    _, d = fetch_one(M, "2", "(BODY.PEEK[])")
    eq(d["BODY[]"], msgs[2], "moved message's bytes in Flow")
    ok(M.close(), "CLOSE")
    eq(M.state, "AUTH", "state after CLOSE")
    eq(status(M, "Flow", "MESSAGES")["MESSAGES"], 2, "CLOSE without \\Deleted expunges nothing")

    step("IDLE and DONE without changes")
    raw = Raw(host, port)
    raw.cmd("a1", f'LOGIN "{user}" "{password}"')
    raw.cmd("a2", "SELECT INBOX")
    raw.send("a3 IDLE")
    raw.until(r"\+ ", "IDLE continuation")
    raw.send("DONE")
    raw.until(r"a3 OK", "tagged OK after DONE")
    raw.cmd("a4", "LOGOUT")
    raw.sock.close()

    step("cleanup and LOGOUT")
    ok(M.delete("Flow"), "DELETE Flow")
    check(not any(n.startswith("Flow") for n in list_names(M, "", "*")), "Flow still listed")
    typ, data = M.logout()
    eq(typ, "BYE", "LOGOUT answer")


FLOWS = {"core": [core_flow], "idle": [idle_flow], "all": [core_flow, idle_flow]}


def main():
    if len(sys.argv) not in (5, 6) or sys.argv[5:6] and sys.argv[5] not in FLOWS:
        print(__doc__, file=sys.stderr)
        return 2
    host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    flows = FLOWS[sys.argv[5] if len(sys.argv) == 6 else "all"]
    try:
        for flow in flows:
            flow(host, port, user, password)
    except Failure as e:
        print(f"FAIL: {STEP}: {e}", file=sys.stderr)
        return 1
    except (imaplib.IMAP4.error, OSError) as e:
        print(f"FAIL: {STEP}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(f"imaplib flow ({sys.argv[5] if len(sys.argv) == 6 else 'all'}): all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
