#!/usr/bin/python3
"""Scripted SMTP responder for the SMTP transport's unit tests.

A real SMTP peer on 127.0.0.1 that answers every command from a script of canned replies (in the
spirit of curl's test servers driven by data files) and logs what the client sent, so a test can
check reply handling (multi-line replies, 4xx/5xx at each stage, closed connections, silence,
enhanced codes, STARTTLS) without a mail system. Not a mail server: it stores nothing.

Script: one `KEY: reply line` per line; `#` comments and blank lines are ignored. Several lines
with the same KEY make one multi-line reply, sent in order (write the `250-`/`250 ` prefixes
yourself). A KEY that is not in the script gets the default reply below.

  KEYS     greeting EHLO HELO STARTTLS AUTH AUTH2 AUTH3 ... (replies to the SASL response lines
           that follow a 334) MAIL RCPT
           DATA (reply to the DATA command) END (reply to the end of the message, also to
           BDAT ... LAST) BDAT (reply to a BDAT chunk that is not the last) RSET QUIT NOOP
  VALUES   !close   close the connection instead of replying
           !hang    never reply (the connection stays open until the responder is killed)
           !tls     (STARTTLS only) reply "220 2.0.0 Ready to start TLS" and start TLS with a
                    self-signed certificate made at startup in --dir (cert.pem, key.pem)
           !raw X   send X (\r and \n written as such) without adding a line end, then close
  TLS-SAN: subjectAltName of that certificate (default IP:127.0.0.1)

Log (--log): one line per event: `C: <command line>`, `R: <SASL response line>` (what the
client answered to a 334), `D: <message line>` (DATA and BDAT content, dot-stuffing undone),
`SNI <name>` (server name the client sent), `TLS`, `CLOSE`.

Usage: smtp_responder.py --script FILE --log FILE --dir DIR [--idle SECONDS]
Prints `PORT <n>` on stdout when it listens; serves connections one after the other until it is
killed, or exits after --idle seconds without a connection (default 60).
"""

import argparse
import os
import socket
import ssl
import subprocess
import sys
import time

DEFAULTS = {
    "greeting": ["220 mx.test ESMTP responder"],
    "EHLO": ["250-mx.test", "250-PIPELINING", "250-SIZE 10240000", "250-ENHANCEDSTATUSCODES",
             "250-8BITMIME", "250 DSN"],
    "HELO": ["250 mx.test"],
    "STARTTLS": ["454 4.7.0 TLS not available due to local problem"],
    "AUTH": ["535 5.7.8 Error: authentication failed: authentication failure"],
    "AUTH2": ["535 5.7.8 Error: authentication failed: authentication failure"],
    "MAIL": ["250 2.1.0 Ok"],
    "RCPT": ["250 2.1.5 Ok"],
    "DATA": ["354 End data with <CR><LF>.<CR><LF>"],
    "END": ["250 2.0.0 Ok: queued as 4ABC123"],
    "BDAT": ["250 2.0.0 Ok: chunk received"],
    "RSET": ["250 2.0.0 Ok"],
    "QUIT": ["221 2.0.0 Bye"],
    "NOOP": ["250 2.0.0 Ok"],
}
UNKNOWN = ["502 5.5.2 Error: command not recognized"]
MAX_LINE = 64 * 1024


class Closed(Exception):
    pass


def load_script(path):
    replies, san = {}, "IP:127.0.0.1"
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\r\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            key, sep, value = line.partition(":")
            if not sep:
                sys.exit(f"smtp_responder: {path}: no KEY: in {line!r}")
            key, value = key.strip(), value[1:] if value.startswith(" ") else value
            if key == "TLS-SAN":
                san = value.strip()
                continue
            replies.setdefault(key, []).append(value)
    return replies, san


def make_certificate(directory, san):
    cert, key = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=mailbisect responder", "-addext", f"subjectAltName={san}",
                    "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


class Connection:
    def __init__(self, sock, log):
        self.sock, self.log, self.buf = sock, log, b""

    def note(self, text):
        self.log.write(text + "\n")
        self.log.flush()

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise Closed()
        self.buf += data

    def readline(self):
        while b"\n" not in self.buf:
            if len(self.buf) > MAX_LINE:
                raise Closed()
            self.fill()
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r").decode("utf-8", "replace")

    def read(self, n):
        while len(self.buf) < n:
            self.fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def send_lines(self, lines):
        self.sock.sendall("".join(line + "\r\n" for line in lines).encode("utf-8"))


def reply(conn, replies, key):
    """Sends the scripted reply for key; returns False when the connection must end."""
    default = DEFAULTS["AUTH2"] if key.startswith("AUTH") else UNKNOWN
    lines = replies.get(key, DEFAULTS.get(key, default))
    first = lines[0] if lines else ""
    if first == "!close":
        conn.note("CLOSE")
        return False
    if first == "!hang":
        time.sleep(3600)
        return False
    if first.startswith("!raw "):
        conn.sock.sendall(first[5:].replace("\\r", "\r").replace("\\n", "\n").encode("utf-8"))
        conn.note("CLOSE")
        return False
    conn.send_lines(lines)
    return True


def read_data(conn):
    while True:
        line = conn.readline()
        if line == ".":
            return
        conn.note("D: " + (line[1:] if line.startswith(".") else line))


def read_bdat(conn, size):
    for line in conn.read(size).decode("utf-8", "replace").split("\r\n"):
        if line:
            conn.note("D: " + line)


def serve(conn, replies, tls_ctx):
    if not reply(conn, replies, "greeting"):
        return
    while True:
        line = conn.readline()
        conn.note("C: " + line)
        verb = line.split(" ", 1)[0].upper()
        if verb == "STARTTLS" and replies.get("STARTTLS", [""])[0] == "!tls":
            conn.send_lines(["220 2.0.0 Ready to start TLS"])
            tls_ctx.sni_callback = lambda _sock, name, _ctx: conn.note(f"SNI {name}")
            conn.sock = tls_ctx.wrap_socket(conn.sock, server_side=True)
            conn.buf = b""
            conn.note("TLS")
            continue
        if verb == "AUTH":
            step = 1
            while True:
                key = "AUTH" if step == 1 else f"AUTH{step}"
                if not reply(conn, replies, key):
                    return
                if not replies.get(key, DEFAULTS["AUTH2"])[-1].startswith("334"):
                    break
                conn.note("R: " + conn.readline())  # SASL response
                step += 1
            continue
        if verb == "BDAT":
            words = line.split()
            size = int(words[1]) if len(words) > 1 and words[1].isdigit() else 0
            read_bdat(conn, size)
            last = len(words) > 2 and words[2].upper() == "LAST"
            if not reply(conn, replies, "END" if last else "BDAT"):
                return
            continue
        key = verb if verb in DEFAULTS and verb not in ("greeting", "END") else "?"
        if not reply(conn, replies, key):
            return
        if verb == "DATA" and replies.get("DATA", DEFAULTS["DATA"])[-1].startswith("354"):
            read_data(conn)
            if not reply(conn, replies, "END"):
                return
        if verb == "QUIT":
            return


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--script", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--idle", type=float, default=60)
    args = ap.parse_args()

    replies, san = load_script(args.script)
    tls_ctx = None
    if replies.get("STARTTLS", [""])[0] == "!tls":
        tls_ctx = make_certificate(args.dir, san)

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(args.idle)
    print(f"PORT {listener.getsockname()[1]}", flush=True)

    with open(args.log, "a", encoding="utf-8") as log:
        while True:
            try:
                sock, _ = listener.accept()
            except socket.timeout:
                return
            sock.settimeout(None)
            conn = Connection(sock, log)
            try:
                serve(conn, replies, tls_ctx)
            except (Closed, ConnectionError, ssl.SSLError, OSError) as e:
                conn.note(f"CLOSE {type(e).__name__}")
            finally:
                try:
                    conn.sock.close()
                except OSError:
                    pass


if __name__ == "__main__":
    main()
