#!/usr/bin/env python3
"""Smoke test of one postfach binary, usually a cross build run under qemu-user.

Usage: smoke.py --target TRIPLE --bin PATH [--qemu qemu-aarch64-static]

Starts the real server on loopback with ephemeral ports in a fresh data directory, adds a user
through the CLI, then checks with real protocol traffic (standard library only):

  version    `--version` names TRIPLE
  imaps      login over implicit TLS (certificate not verified: self-signed at first start)
  starttls   STARTTLS on the plain port, then login
  append     APPEND answers OK [APPENDUID ...]
  fetch      FETCH BODY.PEEK[] returns the appended bytes exactly
  idle       a second connection APPENDs; the first, in IDLE, sees `* N EXISTS`
  lmtp       LMTP delivery (smtplib.LMTP) is accepted for the user
  lmtp-seen  the delivered message is in INBOX, found by SEARCH and fetched
  shutdown   SIGTERM ends the server with exit status 0 and the database closed cleanly

Prints one line per check and `smoke ARCH: N passed, M failed`; exits 1 when a check failed.
Every socket operation and wait is bounded, so a hung server fails instead of blocking CI.
"""

import argparse
import os
import re
import select
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time

USER = "smoke"
PASS = "smoke-pass-1"
# qemu-user runs argon2 and TLS handshakes 5-20x slower than native.
TIMEOUT = 60


class Failure(Exception):
    pass


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Imap:
    """A minimal IMAP client: tags a1, a2, ...; literals read into the response text."""

    def __init__(self, sock):
        sock.settimeout(TIMEOUT)
        self.sock = sock
        self.buf = b""
        self.tag = 0
        greeting = self.line()
        if not greeting.startswith(b"* OK"):
            raise Failure(f"greeting {greeting!r}")

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Failure("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Failure("connection closed in a literal")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def send(self, data):
        self.sock.sendall(data)

    def command(self, text, literal=None):
        """Sends a command (with one synchronizing literal), returns (untagged, tagged status)."""
        self.tag += 1
        tag = f"a{self.tag}".encode()
        if literal is None:
            self.send(tag + b" " + text.encode() + b"\r\n")
        else:
            self.send(tag + b" " + text.encode() + b" {%d}\r\n" % len(literal))
            cont = self.line()
            if not cont.startswith(b"+"):
                raise Failure(f"no continuation for the literal: {cont!r}")
            self.send(literal + b"\r\n")
        untagged = []
        while True:
            line = self.line()
            m = re.search(rb"\{(\d+)\}$", line)
            if m:  # a literal: keep it inline so callers see whole responses
                line += b"\r\n" + self.read_exact(int(m.group(1))) + self.line()
            if line.startswith(tag + b" "):
                status = line[len(tag) + 1 :]
                return untagged, status
            untagged.append(line)

    def ok(self, text, literal=None):
        untagged, status = self.command(text, literal)
        if not status.startswith(b"OK"):
            raise Failure(f"{text.split()[0]}: {status!r}")
        return untagged, status

    def login(self):
        self.ok(f'LOGIN {USER} "{PASS}"')


def connect_tls(port):
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    return Imap(tls_context().wrap_socket(raw))


class Server:
    def __init__(self, cmd, data, log_path):
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            cmd + ["serve", "--data", data, "--imap", "127.0.0.1:0", "--imaps", "127.0.0.1:0",
                   "--lmtp", "127.0.0.1:0", "--auth-fail-delay-ms", "0"],
            stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL,
        )
        self.ports = {}
        deadline = time.monotonic() + TIMEOUT
        out = b""
        while len(self.ports) < 3:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise Failure(f"server did not start; stdout so far {out!r}")
            ready, _, _ = select.select([self.proc.stdout], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            out += chunk
            for m in re.finditer(rb"listening (imap|imaps|lmtp) 127\.0\.0\.1:(\d+)\n", out):
                self.ports[m.group(1).decode()] = int(m.group(2))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--qemu")
    args = ap.parse_args()
    cmd = ([args.qemu] if args.qemu else []) + [os.path.abspath(args.bin)]
    arch = args.target.split("-")[0]

    tmp = tempfile.mkdtemp(prefix=f"postfach-smoke-{arch}-")
    data = os.path.join(tmp, "data")
    log_path = os.path.join(tmp, "server.log")
    results = []
    state = {}

    def check(name, fn):
        t0 = time.monotonic()
        try:
            detail = fn() or ""
            results.append(True)
            print(f"ok   {name:<10} {time.monotonic() - t0:5.1f}s {detail}", flush=True)
        except Exception as e:  # every failure is reported, then the next check runs
            results.append(False)
            print(f"FAIL {name:<10} {time.monotonic() - t0:5.1f}s {type(e).__name__}: {e}",
                  flush=True)

    def version():
        out = subprocess.run(cmd + ["--version"], capture_output=True, timeout=TIMEOUT)
        text = out.stdout.decode().strip()
        if out.returncode != 0 or args.target not in text:
            raise Failure(f"--version printed {text!r}, want the triple {args.target}")
        return text

    check("version", version)

    add = subprocess.run(cmd + ["user", "add", USER, "--data", data],
                         input=(PASS + "\n").encode(), capture_output=True, timeout=TIMEOUT)
    if add.returncode != 0:
        print(f"user add failed: {add.stderr.decode()}", file=sys.stderr)
        print(f"smoke {arch}: 0 passed, 1 failed")
        return 1

    server = None
    try:
        server = Server(cmd, data, log_path)
        ports = server.ports
        print(f"server up: {ports}", flush=True)

        def imaps():
            c = connect_tls(ports["imaps"])
            c.login()
            state["a"] = c
            return f"{c.sock.version()} {c.sock.cipher()[0]}"

        def starttls():
            raw = socket.create_connection(("127.0.0.1", ports["imap"]), timeout=TIMEOUT)
            c = Imap(raw)
            c.ok("STARTTLS")
            if c.buf:
                raise Failure("bytes after the STARTTLS reply (injection)")
            c.sock = tls_context().wrap_socket(raw)
            c.sock.settimeout(TIMEOUT)
            untagged, _ = c.ok("CAPABILITY")
            if not any(b"IMAP4rev1" in u for u in untagged):
                raise Failure(f"CAPABILITY after STARTTLS: {untagged!r}")
            c.login()
            state["b"] = c
            return c.sock.version()

        msg = (b"From: Alice <alice@example.org>\r\nTo: smoke@example.org\r\n"
               b"Subject: smoke append\r\nMessage-ID: <smoke-1@example.org>\r\n\r\n"
               b"Hello from " + arch.encode() + b".\r\n")

        def append():
            _, status = state["a"].ok('APPEND INBOX (\\Seen) "01-Jan-2025 10:00:00 +0000"', msg)
            if b"APPENDUID" not in status:
                raise Failure(f"no APPENDUID: {status!r}")
            return status.decode()

        def fetch():
            c = state["a"]
            untagged, _ = c.ok("SELECT INBOX")
            if b"* 1 EXISTS" not in untagged:
                raise Failure(f"SELECT: {untagged!r}")
            untagged, _ = c.ok("FETCH 1 (FLAGS BODY.PEEK[])")
            body = b"\r\n".join(untagged)
            if msg not in body or b"\\Seen" not in body:
                raise Failure(f"FETCH returned {body[:200]!r}")
            return f"{len(msg)} bytes"

        def idle():
            a, b = state["a"], state["b"]
            a.tag += 1
            tag = f"a{a.tag}".encode()
            a.send(tag + b" IDLE\r\n")
            cont = a.line()
            if not cont.startswith(b"+"):
                raise Failure(f"IDLE: {cont!r}")
            b.ok("APPEND INBOX", msg.replace(b"smoke-1@", b"smoke-2@"))
            t0 = time.monotonic()
            while True:
                line = a.line()
                if line == b"* 2 EXISTS":
                    break
            pushed = time.monotonic() - t0
            a.send(b"DONE\r\n")
            while True:
                line = a.line()
                if line.startswith(tag + b" "):
                    if not line[len(tag) + 1 :].startswith(b"OK"):
                        raise Failure(f"IDLE ended with {line!r}")
                    break
            return f"* 2 EXISTS after {pushed:.2f}s"

        lmtp_subject = f"smoke lmtp {arch} {os.getpid()}"

        def lmtp():
            with smtplib.LMTP("127.0.0.1", ports["lmtp"], timeout=TIMEOUT) as s:
                refused = s.sendmail(
                    "sender@example.net", [f"{USER}@example.org"],
                    f"From: sender@example.net\r\nTo: {USER}@example.org\r\n"
                    f"Subject: {lmtp_subject}\r\n\r\nDelivered over LMTP.\r\n",
                )
            if refused:
                raise Failure(f"refused: {refused!r}")
            return "250 for 1 recipient"

        def lmtp_seen():
            c = state["a"]
            untagged, _ = c.ok("NOOP")
            untagged, _ = c.ok(f'SEARCH SUBJECT "{lmtp_subject}"')
            hits = [u for u in untagged if u.startswith(b"* SEARCH")]
            nums = hits[0].split()[2:] if hits else []
            if len(nums) != 1:
                raise Failure(f"SEARCH: {untagged!r}")
            untagged, _ = c.ok(f"FETCH {nums[0].decode()} BODY.PEEK[TEXT]")
            if b"Delivered over LMTP." not in b"\r\n".join(untagged):
                raise Failure(f"FETCH: {untagged!r}")
            return f"message {nums[0].decode()}"

        def shutdown():
            for c in (state.get("a"), state.get("b")):
                if c:
                    try:
                        c.ok("LOGOUT")
                    except Exception:
                        pass
                    c.sock.close()
            server.proc.send_signal(signal.SIGTERM)
            code = server.proc.wait(timeout=TIMEOUT)
            if code != 0:
                raise Failure(f"exit status {code}")
            server.log.flush()
            with open(log_path, "rb") as f:
                log = f.read()
            if b"still in use" in log or b"still open" in log:
                raise Failure("unclean shutdown (see the server log)")
            return "exit 0, database closed cleanly"

        for name, fn in [("imaps", imaps), ("starttls", starttls), ("append", append),
                         ("fetch", fetch), ("idle", idle), ("lmtp", lmtp),
                         ("lmtp-seen", lmtp_seen), ("shutdown", shutdown)]:
            check(name, fn)
    except Exception as e:
        results.append(False)
        print(f"FAIL server    {type(e).__name__}: {e}", flush=True)
    finally:
        if server:
            server.stop()

    passed, failed = results.count(True), results.count(False)
    if failed:
        print(f"--- server log ({log_path}), last 40 lines:")
        with open(log_path, "rb") as f:
            for line in f.read().decode(errors="replace").splitlines()[-40:]:
                print(f"    {line}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"smoke {arch}: {passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
