#!/usr/bin/python3
"""Receiver policy milter of the mailbisect mail lab (python3-milter).

Attached to the lab's receiver Postfix (victim.example). It re-reads the scenario file at every
SMTP connection, so a test can switch scenarios without restarting anything, and answers with
exact reply texts through setreply(), which Postfix returns verbatim.

Scenario file: one rule per line, `#` comments and blank lines ignored; an empty or missing
file accepts everything.

  block_client IP|CIDR       RCPT: 550 5.7.1 Messages from [IP] weren't sent. Part of their
                             network is on our block list (S3150)
  defer_client IP|CIDR       RCPT: 451 4.7.1 Temporarily deferred, try again later
  unknown_user LOCALPART     RCPT: 550 5.1.1 <addr>: Recipient address rejected: User unknown
  reject_link_domain DOMAIN  end of message: 554 5.7.1 Email rejected due to security policies
                             (DOMAIN or a subdomain as the host of an http(s) URL in any decoded
                             text/plain or text/html part, attached messages included)
  reject_from_domain DOMAIN  end of message: 550 5.7.26 Unauthenticated email from DOMAIN ...
                             (header From domain is DOMAIN or a subdomain)
  reject_attachment_type EXT end of message: 552 5.7.0 This message was blocked because its
                             content presents a potential security issue.
  random_reject PERCENT [SEED]  end of message: the S3150 block reply PERCENT % of the time
                             (seeded: default seed 1, the sequence restarts with the milter)
  mailbox_full LOCALPART     accepted, then bounced by the receiver (async DSN, 5.2.2): served
                             to Postfix as a transport_maps socketmap by this same process

Usage: milter.py --socket PATH --scenario FILE [--socketmap PATH] [--pidfile FILE]
"""

import argparse
import email
import email.policy
import email.utils
import html
import ipaddress
import os
import random
import re
import socketserver
import sys
import threading
import time

# This file is named milter.py, like the C extension module that Milter imports: keep this
# script's own directory off the import path, or `import milter` inside Milter finds us.
_here = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _here]
import Milter  # noqa: E402

SCENARIO = None
LOG_LOCK = threading.Lock()
RNG_LOCK = threading.Lock()
RNGS = {}  # seed -> random.Random

BLOCK_TEXT = ("Messages from [{ip}] weren't sent. Part of their network is on our block list "
              "(S3150)")
DEFER_TEXT = "Temporarily deferred, try again later"
UNKNOWN_TEXT = "<{addr}>: Recipient address rejected: User unknown"
LINK_TEXT = "Email rejected due to security policies"
DMARC_TEXT = ("Unauthenticated email from {d} is not accepted due to domain's DMARC policy. "
              "Please contact the administrator of {d} domain if this was a legitimate mail.")
ATTACH_TEXT = "This message was blocked because its content presents a potential security issue."

URL_RE = re.compile(r"https?://([^/\s\"'<>?#\\]+)", re.IGNORECASE)


def log(msg):
    with LOG_LOCK:
        sys.stderr.write("%s milter: %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), msg))
        sys.stderr.flush()


def load_rules(path):
    """Returns a list of (keyword, [args]) in file order; missing file = no rules."""
    rules = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                line = line.split("#", 1)[0].strip()
                if not line:
                    continue
                words = line.split()
                rules.append((words[0].lower(), words[1:]))
    except FileNotFoundError:
        pass
    except OSError as e:
        log("cannot read scenario %s: %s" % (path, e))
    return rules


def ip_matches(client, spec):
    try:
        return ipaddress.ip_address(client) in ipaddress.ip_network(spec, strict=False)
    except ValueError:
        return client == spec


def domain_matches(host, domain):
    host = host.lower().rstrip(".")
    domain = domain.lower().rstrip(".")
    return host == domain or host.endswith("." + domain)


def rng_for(seed):
    with RNG_LOCK:
        if seed not in RNGS:
            RNGS[seed] = random.Random(seed)
        return RNGS[seed]


def part_text(part):
    payload = part.get_payload(decode=True)
    if payload is None:
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("latin-1", errors="replace")


def url_hosts(msg):
    """Hosts of every http(s) URL in the decoded text parts (attached messages included)."""
    hosts = set()
    for part in msg.walk():
        if part.is_multipart():
            continue
        if part.get_content_type() not in ("text/plain", "text/html"):
            continue
        text = part_text(part)
        for candidate in (text, html.unescape(text)):
            for m in URL_RE.finditer(candidate):
                host = m.group(1).rsplit("@", 1)[-1]  # drop userinfo
                host = host.split(":", 1)[0]           # drop port
                hosts.add(host.lower())
    return hosts


def filenames(msg):
    names = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        name = None
        try:
            name = part.get_filename()
        except Exception:  # malformed parameters: treat as no name
            name = None
        if not name:
            name = part.get_param("name")
            if isinstance(name, tuple):
                name = email.utils.collapse_rfc2231_value(name)
        if name:
            names.append(str(name))
    return names


class LabMilter(Milter.Base):
    def __init__(self):
        self.id = Milter.uniqueID()
        self.client = ""
        self.rules = []
        self.reset()

    def reset(self):
        self.headers = []
        self.body_chunks = []
        self.rcpts = []

    def connect(self, hostname, family, hostaddr):
        self.client = hostaddr[0] if isinstance(hostaddr, tuple) and hostaddr else ""
        self.rules = load_rules(SCENARIO)
        return Milter.CONTINUE

    def envfrom(self, mailfrom, *params):
        self.reset()
        self.rules = load_rules(SCENARIO)
        return Milter.CONTINUE

    def envrcpt(self, to, *params):
        addr = to.strip().strip("<>")
        local = addr.rsplit("@", 1)[0].lower()
        for key, args in self.rules:
            if key == "block_client" and args and ip_matches(self.client, args[0]):
                log("%s RCPT %s block_client -> 550 5.7.1" % (self.client, addr))
                self.setreply("550", "5.7.1", BLOCK_TEXT.format(ip=self.client))
                return Milter.REJECT
            if key == "defer_client" and args and ip_matches(self.client, args[0]):
                log("%s RCPT %s defer_client -> 451 4.7.1" % (self.client, addr))
                self.setreply("451", "4.7.1", DEFER_TEXT)
                return Milter.TEMPFAIL
            if key == "unknown_user" and args and (local == args[0].lower()
                                                   or local.split("+", 1)[0] == args[0].lower()):
                log("%s RCPT %s unknown_user -> 550 5.1.1" % (self.client, addr))
                self.setreply("550", "5.1.1", UNKNOWN_TEXT.format(addr=addr))
                return Milter.REJECT
        self.rcpts.append(addr)
        return Milter.CONTINUE

    @Milter.decode("bytes")
    def header(self, name, value):
        self.headers.append((name, value))
        return Milter.CONTINUE

    def body(self, chunk):
        self.body_chunks.append(chunk)
        return Milter.CONTINUE

    def message(self):
        raw = b"".join(n.encode("ascii", "replace") + b": " + v.replace(b"\r\n", b"\n")
                       .replace(b"\n", b"\r\n") + b"\r\n" for n, v in self.headers)
        raw += b"\r\n" + b"".join(self.body_chunks)
        return email.message_from_bytes(raw, policy=email.policy.compat32)

    def eom(self):
        try:
            return self.check_content()
        finally:
            self.reset()

    def check_content(self):
        content_rules = [r for r in self.rules if r[0] in (
            "reject_link_domain", "reject_from_domain", "reject_attachment_type",
            "random_reject")]
        if not content_rules:
            return Milter.ACCEPT
        msg = self.message()
        hosts = None
        for key, args in content_rules:
            if key == "reject_link_domain" and args:
                if hosts is None:
                    hosts = url_hosts(msg)
                if any(domain_matches(h, args[0]) for h in hosts):
                    log("%s EOM link %s -> 554 5.7.1" % (self.client, args[0]))
                    self.setreply("554", "5.7.1", LINK_TEXT)
                    return Milter.REJECT
            elif key == "reject_from_domain" and args:
                for _, addr in email.utils.getaddresses([str(v) for v in msg.get_all("From", [])]):
                    dom = addr.rsplit("@", 1)[-1] if "@" in addr else ""
                    if dom and domain_matches(dom, args[0]):
                        d = args[0].lower()
                        log("%s EOM from %s -> 550 5.7.26" % (self.client, addr))
                        self.setreply("550", "5.7.26", DMARC_TEXT.format(d=d))
                        return Milter.REJECT
            elif key == "reject_attachment_type" and args:
                ext = "." + args[0].lower().lstrip(".")
                for name in filenames(msg):
                    if name.lower().strip().endswith(ext):
                        log("%s EOM attachment %s -> 552 5.7.0" % (self.client, name))
                        self.setreply("552", "5.7.0", ATTACH_TEXT)
                        return Milter.REJECT
            elif key == "random_reject" and args:
                try:
                    pct = float(args[0].rstrip("%"))
                    seed = int(args[1]) if len(args) > 1 else 1
                except ValueError:
                    continue
                if rng_for(seed).random() * 100.0 < pct:
                    log("%s EOM random_reject %s%% -> 550 5.7.1" % (self.client, pct))
                    self.setreply("550", "5.7.1", BLOCK_TEXT.format(ip=self.client))
                    return Milter.REJECT
        return Milter.ACCEPT

    def abort(self):
        self.reset()
        return Milter.CONTINUE

    def close(self):
        return Milter.CONTINUE


# --- socketmap for transport_maps (mailbox_full) -------------------------------------------

def netstring_read(rfile):
    length = b""
    while True:
        c = rfile.read(1)
        if not c:
            return None
        if c == b":":
            break
        if not c.isdigit() or len(length) > 6:
            raise ValueError("bad netstring")
        length += c
    data = rfile.read(int(length))
    if rfile.read(1) != b",":
        raise ValueError("bad netstring")
    return data.decode("utf-8", "replace")


def netstring(s):
    b = s.encode("utf-8")
    return str(len(b)).encode() + b":" + b + b","


class SocketmapHandler(socketserver.StreamRequestHandler):
    def handle(self):
        while True:
            try:
                req = netstring_read(self.rfile)
            except (ValueError, OSError):
                return
            if req is None:
                return
            _, _, key = req.partition(" ")
            key = key.strip().lower()
            reply = "NOTFOUND "
            if "@" in key:
                local, domain = key.rsplit("@", 1)
                local = local.split("+", 1)[0]
                for k, args in load_rules(SCENARIO):
                    if k == "mailbox_full" and args and args[0].lower() == local:
                        # Not error:5.2.2 -- smtpd would then refuse the recipient at RCPT time.
                        # The mailboxfull pipe transport accepts and bounces afterwards.
                        reply = "OK mailboxfull:"
                        log("socketmap %s -> mailbox full" % key)
                        break
            try:
                self.wfile.write(netstring(reply))
                self.wfile.flush()
            except OSError:
                return


class SocketmapServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    global SCENARIO
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--scenario", required=True)
    ap.add_argument("--socketmap")
    ap.add_argument("--pidfile")
    a = ap.parse_args()
    SCENARIO = a.scenario
    os.umask(0o000)  # sockets world-connectable; their directory limits access to postfix
    if a.socketmap:
        try:
            os.unlink(a.socketmap)
        except FileNotFoundError:
            pass
        srv = SocketmapServer(a.socketmap, SocketmapHandler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())
    Milter.factory = LabMilter
    Milter.set_flags(0)
    log("starting on %s, scenario %s" % (a.socket, a.scenario))
    Milter.runmilter("mailbisect-lab", "unix:" + a.socket, timeout=60)
    log("stopped")


if __name__ == "__main__":
    main()
