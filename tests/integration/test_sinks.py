"""Self-test of the notification sinks (tests/fakes/sinks.js through
tests/lib/sinks.py): the SMTP conversation on the STARTTLS and the
implicit-TLS ports (AUTH, ordering, pipelining, split packets, the refusal of
mail in clear, the STARTTLS injection guard, scripted failures, MIME
decoding), driven by Python's smtplib, by raw sockets and by curl (rekey
sends with libcurl); the Slack and Teams payload checks; Standard Webhooks
verification, including the specification's test vector; scripted HTTP
failures; the control API.  The daemon is not involved."""

import base64
import email.message
import hashlib
import hmac
import json
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import Tap, make_certs  # noqa: E402
from sinks import SinkError, Sinks  # noqa: E402

t = Tap()

USER = "rekey@example.test"
PASSWORD = "p@ss word:with colon"
SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()
# The test vector of the Standard Webhooks reference libraries
# (standard-webhooks / svix-webhooks test suites).
VECTOR = {
    "secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "timestamp": "1614265330",
    "body": b'{"test": 2432232314}',
    "signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
}


# --- helpers -------------------------------------------------------------------

def b64(text):
    return base64.b64encode(text.encode()).decode()


def plain_auth(user=USER, password=PASSWORD):
    return b64("\0%s\0%s" % (user, password))


class RawSmtp:
    """A byte-level SMTP client: what smtplib will not do (pipelining, split
    packets, bare LF, data behind STARTTLS)."""

    def __init__(self, port, ctx=None, timeout=5):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if ctx is not None:
            self.sock = ctx.wrap_socket(self.sock, server_hostname="127.0.0.1")
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def reply(self):
        """(code, [lines]) of one possibly multi-line reply."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise EOFError("connection closed; got %r" % lines)
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode())
            if line[3:4] != b"-":
                return int(line[:3]), lines

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.reply()

    def starttls(self, ctx):
        if self.buf:
            raise RuntimeError("data after 220: %r" % self.buf)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="127.0.0.1")

    def close(self):
        self.sock.close()


def message(subject="Secret expires soon", body="Hello.\r\n", to="owner@example.test"):
    return ("From: rekey <rekey@example.test>\r\nTo: %s\r\nSubject: %s\r\n"
            "Message-ID: <%s@rekey.test>\r\n\r\n%s" % (to, subject, uuid.uuid4().hex, body))


def smtp_plain(s):
    return smtplib.SMTP("127.0.0.1", s.smtp_port, timeout=10)


def smtp_tls(s, ctx, login=True):
    c = smtplib.SMTP_SSL("127.0.0.1", s.smtps_port, timeout=10, context=ctx)
    if login:
        c.login(USER, PASSWORD)
    return c


def raises(fn, exc):
    """The exception fn raises if it is an exc, None if it returns, else re-raised."""
    try:
        fn()
    except exc as e:
        return e
    return None


def post(url, body, headers=None, ctx=None, timeout=10, method="POST"):
    """(status, headers, text) of one HTTPS request; body bytes, str or JSON-able."""
    h = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    if isinstance(body, str):
        body = body.encode()
    req = urllib.request.Request(url, data=body, headers=h, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=ctx) as r:
            return r.status, dict((k.lower(), v) for k, v in r.headers.items()), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict((k.lower(), v) for k, v in e.headers.items()), e.read().decode()


def sign(secret, msg_id, ts, body):
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, ("%s.%s." % (msg_id, ts)).encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def webhook_headers(body, secret=SECRET, msg_id=None, ts=None, signature=None):
    msg_id = msg_id or "msg_" + uuid.uuid4().hex
    ts = str(int(time.time())) if ts is None else str(ts)
    return {"Content-Type": "application/json", "webhook-id": msg_id, "webhook-timestamp": ts,
            "webhook-signature": signature or sign(secret, msg_id, ts, body)}


def last_log(s, pred):
    entries = [e for e in s.smtp_log() if pred(e)]
    return entries[-1] if entries else None


def curl(args, timeout=30):
    return subprocess.run(["curl", "-sS", "--max-time", "10"] + args, capture_output=True,
                          timeout=timeout)


# --- SMTP ----------------------------------------------------------------------

def test_plain_port(s, ctx):
    c = smtp_plain(s)
    try:
        code, _ = c.ehlo("client.test")
        t.ok(code == 250 and "starttls" in c.esmtp_features and "auth" not in c.esmtp_features,
             "plain port: EHLO offers STARTTLS, no AUTH before TLS", c.esmtp_features)
        code, msg = c.mail("rekey@example.test")
        t.ok(code == 530 and b"STARTTLS" in msg, "plain port: MAIL before STARTTLS is refused with 530",
             (code, msg))
        e = last_log(s, lambda e: e["cmd"].lower().startswith("mail"))
        t.ok(e and e["tls"] is False and e["reply"].startswith("530") and e["port_kind"] == "starttls",
             "the refused clear-text MAIL shows in smtp_log", e)
        code, _ = c.docmd("AUTH", "PLAIN " + plain_auth())
        t.ok(code in (530, 538), "plain port: AUTH before TLS is refused (%d)" % code)
        e = last_log(s, lambda e: e["cmd"].upper().startswith("AUTH"))
        t.ok(e and PASSWORD not in json.dumps(e) and plain_auth() not in json.dumps(e),
             "smtp_log masks AUTH data", e)
        code, _ = c.starttls(context=ctx)
        t.eq(code, 220, "STARTTLS answers 220 and the handshake verifies against ca.crt")
        code, _ = c.ehlo("client.test")
        t.ok(code == 250 and "starttls" not in c.esmtp_features and
             c.esmtp_features.get("auth", "").split() == ["PLAIN", "LOGIN"] and
             "size" in c.esmtp_features and "8bitmime" in c.esmtp_features,
             "after STARTTLS, EHLO offers AUTH PLAIN LOGIN, SIZE, 8BITMIME and no STARTTLS",
             c.esmtp_features)
        code, msg = c.mail("rekey@example.test")
        t.ok(code == 530 and b"Authentication required" in msg, "MAIL before AUTH gets 530", (code, msg))
        e = raises(lambda: c.login(USER, "wrong"), smtplib.SMTPAuthenticationError)
        t.ok(e is not None and e.smtp_code == 535, "wrong credentials get 535", e)
        code, _ = c.login(USER, PASSWORD)
        t.eq(code, 235, "AUTH PLAIN with an initial response succeeds")
        body = ("Line one.\r\n.leading dot\r\n..two dots\r\n.\r\nlast\r\n")
        msg = message(subject="Secret of app \"prod\"\r\n expires in 7 days", body=body)
        refused = c.sendmail("rekey@example.test", ["a@example.test", "b@example.test"], msg)
        t.eq(refused, {}, "a message to two recipients is accepted over STARTTLS")
        c.quit()
    finally:
        c.close()
    mails = s.wait_mails(1)
    m = mails[-1] if mails else {}
    t.ok(m.get("from") == "rekey@example.test" and m.get("to") == ["a@example.test", "b@example.test"] and
         m.get("tls") is True and m.get("port_kind") == "starttls" and m.get("auth_user") == USER and
         m.get("ehlo") == "client.test" and isinstance(m.get("received_ms"), int),
         "the record holds envelope, TLS, port kind and AUTH user", m)
    t.eq(m.get("headers", {}).get("subject"), 'Secret of app "prod" expires in 7 days',
         "headers are lower-case and unfolded")
    t.eq(m.get("body"), body, "the body is dot-unstuffed (including a lone \".\" line)")
    t.ok(m.get("data", "").startswith("From: rekey") and m.get("data", "").endswith(body) and
         m.get("bare_lf") is False, "data is the whole message, without bare LF", m.get("data"))


def test_implicit_port(s, ctx):
    c = smtplib.SMTP_SSL("127.0.0.1", s.smtps_port, timeout=10, context=ctx)
    try:
        c.ehlo("tls.test")
        t.ok("starttls" not in c.esmtp_features and "auth" in c.esmtp_features,
             "implicit port: EHLO offers AUTH and no STARTTLS", c.esmtp_features)
        code, _ = c.docmd("STARTTLS")
        t.eq(code, 503, "STARTTLS inside TLS gets 503")
        c.user, c.password = USER, PASSWORD
        code, _ = c.auth("LOGIN", c.auth_login, initial_response_ok=False)
        t.eq(code, 235, "AUTH LOGIN (334 Username:/Password:) succeeds")
        code, _ = c.docmd("AUTH", "PLAIN " + plain_auth())
        t.eq(code, 503, "a second AUTH gets 503")
        c.sendmail("rekey@example.test", ["c@example.test"], message())
        c.quit()
    finally:
        c.close()
    m = s.wait_mails(1)[-1]
    t.ok(m["port_kind"] == "implicit" and m["tls"] is True and m["auth_user"] == USER,
         "implicit port: the record says port_kind implicit", m)

    c = smtplib.SMTP_SSL("127.0.0.1", s.smtps_port, timeout=10, context=ctx)
    try:
        c.ehlo("tls.test")
        code, msg = c.docmd("AUTH", "PLAIN")
        t.ok(code == 334, "AUTH PLAIN without initial response answers 334", (code, msg))
        code, _ = c.docmd(plain_auth())
        t.eq(code, 235, "AUTH PLAIN in the 334 continuation form succeeds")
    finally:
        c.close()
    c = smtplib.SMTP_SSL("127.0.0.1", s.smtps_port, timeout=10, context=ctx)
    try:
        c.ehlo("tls.test")
        c.docmd("AUTH", "LOGIN")
        code, _ = c.docmd("*")
        t.eq(code, 501, "\"*\" cancels an AUTH exchange with 501")
        c.docmd("AUTH", "LOGIN " + b64(USER))
        code, _ = c.docmd(b64("bad password"))
        t.eq(code, 535, "AUTH LOGIN with a wrong password gets 535")
        code, _ = c.docmd("AUTH", "CRAM-MD5")
        t.eq(code, 504, "an unknown mechanism gets 504")
        code, _ = c.docmd("AUTH", "PLAIN not-base64!")
        t.eq(code, 501, "undecodable AUTH data gets 501")
    finally:
        c.close()


def test_order(s, ctx):
    r = RawSmtp(s.smtps_port, ctx)
    try:
        t.eq(r.reply()[0], 220, "implicit port greets with 220 after the handshake")
        t.eq(r.cmd("MAIL FROM:<a@x.test>")[0], 503, "MAIL before EHLO gets 503")
        t.eq(r.cmd("EHLO")[0], 501, "EHLO without a name gets 501")
        code, lines = r.cmd("EHLO raw.test")
        t.ok(code == 250 and len(lines) > 1 and all(x.startswith("250-") for x in lines[:-1]) and
             lines[-1].startswith("250 "), "EHLO answers 250- continuation lines and a final 250", lines)
        t.eq(r.cmd("RCPT TO:<b@y.test>")[0], 503, "RCPT before MAIL gets 503")
        t.eq(r.cmd("DATA")[0], 503, "DATA before MAIL gets 503")
        t.eq(r.cmd("FROB x")[0], 500, "an unknown command gets 500")
        t.eq(r.cmd("VRFY root")[0], 502, "VRFY gets 502")
        t.eq(r.cmd("AUTH PLAIN " + plain_auth())[0], 235, "AUTH")
        t.eq(r.cmd("MAIL FROM:<a@x.test> SIZE=99999999999")[0], 552, "MAIL with a SIZE over the limit gets 552")
        t.eq(r.cmd("MAIL FROM:a@x.test")[0], 501, "MAIL without angle brackets gets 501")
        t.eq(r.cmd("MAIL FROM:<a@x.test> SIZE=100 BODY=8BITMIME")[0], 250, "MAIL with SIZE and BODY")
        t.eq(r.cmd("MAIL FROM:<a@x.test>")[0], 503, "a nested MAIL gets 503")
        t.eq(r.cmd("DATA")[0], 503, "DATA before any RCPT gets 503")
        t.eq(r.cmd("RCPT TO:<not an address>")[0], 501, "a bad recipient address gets 501")
        t.eq(r.cmd("RCPT TO:<b@y.test>")[0], 250, "RCPT")
        t.eq(r.cmd("RSET")[0], 250, "RSET")
        t.eq(r.cmd("DATA")[0], 503, "RSET ends the transaction: DATA gets 503")
        t.eq(r.cmd("NOOP")[0], 250, "NOOP")
        r.send("NOOP\n")
        t.eq(r.reply()[0], 500, "a command ending in a bare LF gets 500")
        t.eq(r.cmd("QUIT")[0], 221, "QUIT gets 221")
    finally:
        r.close()
    t.eq(len(s.mails()), 0, "nothing was recorded by the ordering checks")


def test_pipelining(s, ctx):
    r = RawSmtp(s.smtps_port, ctx)
    try:
        r.reply()
        r.send("EHLO pipe.test\r\nAUTH PLAIN %s\r\nMAIL FROM:<p@x.test>\r\nRCPT TO:<q@y.test>\r\n"
               "RCPT TO:<r@y.test>\r\nDATA\r\n" % plain_auth())
        codes = [r.reply()[0] for _ in range(6)]
        t.eq(codes, [250, 235, 250, 250, 250, 354], "pipelined commands are answered in order")
        data = (b"Subject: split\r\n\r\nfirst line\r\n.dotted\r\n"
                b"a bare\nLF inside\r\n.\r\nNOOP\r\nQU")
        for i in range(0, len(data), 3):      # every CRLF and the final dot get split
            r.send(data[i:i + 3])
            time.sleep(0.002)
        code, lines = r.reply()
        t.ok(code == 250 and "queued as" in lines[0], "a message sent in 3-byte pieces is accepted", lines)
        t.eq(r.reply()[0], 250, "a NOOP in the same packet as the final dot is answered")
        r.send("IT\r\n")
        t.eq(r.reply()[0], 221, "a QUIT split across packets is answered")
    finally:
        r.close()
    m = s.wait_mails(1)[-1]
    t.ok(m["to"] == ["q@y.test", "r@y.test"] and m["body"] == "first line\r\ndotted\r\na bare\nLF inside\r\n",
         "the split message is recorded whole and unstuffed", m)
    t.ok(m["bare_lf"] is True, "a bare LF inside the message is flagged", m)


def test_starttls_injection(s, ctx):
    r = RawSmtp(s.smtp_port)
    try:
        r.reply()
        r.cmd("EHLO inject.test")
        r.send("STARTTLS\r\nMAIL FROM:<evil@x.test>\r\n")
        t.eq(r.reply()[0], 220, "STARTTLS with a command pipelined behind it: 220")
        r.starttls(ctx)
        code, lines = r.cmd("EHLO inject.test")
        t.ok(code == 250 and len(lines) > 1, "the command sent in clear behind STARTTLS is discarded", lines)
        t.eq(r.cmd("RCPT TO:<b@y.test>")[0], 503, "no transaction was started by the injected MAIL")
    finally:
        r.close()
    e = last_log(s, lambda e: e.get("injected"))
    t.ok(e is not None and "evil" in e["cmd"], "the discarded command shows in smtp_log", e)


def test_smtp_scripts(s, ctx):
    c = smtp_tls(s, ctx)
    try:
        s.script("smtp", [{"at": "RCPT", "reply": "451 4.3.0 try later", "times": 1}])
        e = raises(lambda: c.sendmail("a@x.test", ["b@y.test"], message()), smtplib.SMTPRecipientsRefused)
        t.ok(e is not None and e.recipients["b@y.test"][0] == 451, "scripted 451 at RCPT", e)
        c.sendmail("a@x.test", ["b@y.test"], message(subject="after rcpt"))
        t.eq(s.mails()[-1]["headers"]["subject"], "after rcpt", "the next transaction goes through")

        s.script("smtp", [{"at": "MAIL", "reply": "452 4.3.1 insufficient storage", "times": 2}])
        e1 = raises(lambda: c.sendmail("a@x.test", ["b@y.test"], message()), smtplib.SMTPSenderRefused)
        e2 = raises(lambda: c.sendmail("a@x.test", ["b@y.test"], message()), smtplib.SMTPSenderRefused)
        t.ok(e1 is not None and e2 is not None and e1.smtp_code == 452 and e2.smtp_code == 452,
             "scripted 452 at MAIL, times 2, fails two transactions", (e1, e2))
        t.eq(s.pending("smtp"), [], "the script is used up")

        s.script("smtp", [{"at": "DATA", "reply": "554 5.7.1 no thanks"},
                          {"at": "DATA_END", "reply": "550 5.7.1 rejected for policy reasons"}])
        e = raises(lambda: c.sendmail("a@x.test", ["b@y.test"], message()), smtplib.SMTPDataError)
        t.ok(e is not None and e.smtp_code == 554, "scripted 554 at DATA", e)
        c.rset()
        n = len(s.mails())
        e = raises(lambda: c.sendmail("a@x.test", ["b@y.test"], message()), smtplib.SMTPDataError)
        t.ok(e is not None and e.smtp_code == 550 and len(s.mails()) == n,
             "scripted 550 at DATA_END: refused and not recorded", e)
        c.sendmail("a@x.test", ["b@y.test"], message(subject="after data_end"))
        t.eq(s.mails()[-1]["headers"]["subject"], "after data_end", "then the queue is empty again")

        s.script("smtp", [{"at": "DATA_END", "action": "drop"}])
        e = raises(lambda: c.sendmail("a@x.test", ["b@y.test"], message(subject="dropped")),
                   smtplib.SMTPServerDisconnected)
        t.ok(e is not None, "drop at DATA_END: the client sees the connection close unanswered", e)
    finally:
        c.close()
    m = s.mails()[-1]
    t.ok(m["headers"]["subject"] == "dropped" and m.get("unanswered") is True,
         "the dropped message is recorded with unanswered: true", m)

    s.script("smtp", [{"at": "DATA_END", "action": "hang"}])
    c = smtp_tls(s, ctx)
    c.timeout = 1
    c.sock.settimeout(1)
    try:
        e = raises(lambda: c.sendmail("a@x.test", ["b@y.test"], message(subject="hung")),
                   (socket.timeout, smtplib.SMTPServerDisconnected))
        t.ok(e is not None and s.mails()[-1].get("unanswered") is True and
             s.mails()[-1]["headers"]["subject"] == "hung",
             "hang at DATA_END: no answer, the message is recorded unanswered", e)
    finally:
        c.close()

    s.script("smtp", [{"at": "CONNECT", "reply": "421 4.3.2 service shutting down"}])
    e = raises(lambda: smtplib.SMTP_SSL("127.0.0.1", s.smtps_port, timeout=5, context=ctx),
               smtplib.SMTPConnectError)
    t.ok(e is not None and e.smtp_code == 421, "scripted 421 greeting", e)
    e = raises(lambda: s.script("smtp", [{"at": "RCPT", "reply": "250 fine"}]), SinkError)
    t.ok(e is not None and "4NN" in str(e), "a script that is not a failure is refused", e)
    e = raises(lambda: s.script("smtp", [{"at": "QUIT", "reply": "451 x"}]), SinkError)
    t.ok(e is not None, "an unknown stage is refused", e)


def test_mime(s, ctx):
    text = "Grüße: the secret of “prod” expires on 2026-01-01. " + "x" * 100
    msg = email.message.EmailMessage()
    msg["From"] = "rekey@example.test"
    msg["To"] = "owner@example.test"
    msg["Subject"] = "Schlüssel läuft ab"
    msg.set_content(text, cte="quoted-printable")
    b = email.message.EmailMessage()
    b["From"], b["To"], b["Subject"] = "rekey@example.test", "owner@example.test", "b64"
    b.set_content(text, cte="base64")
    alt = email.message.EmailMessage()
    alt["From"], alt["To"], alt["Subject"] = "rekey@example.test", "owner@example.test", "alt"
    alt.set_content(text, cte="quoted-printable")
    alt.add_alternative("<p>%s</p>" % text, subtype="html", cte="base64")
    c = smtp_tls(s, ctx)
    try:
        for m in (msg, b, alt):
            c.send_message(m)
    finally:
        c.close()
    qp, bb, aa = s.wait_mails(3)[-3:]
    t.ok("=" in qp["body"] and qp["body_decoded"].rstrip("\r\n") == text,
         "quoted-printable: body_decoded is the text", qp)
    t.ok(qp["headers"]["subject"].startswith("=?utf-8?") and
         qp["headers_decoded"]["subject"] == "Schlüssel läuft ab",
         "RFC 2047 subject: raw in headers, decoded in headers_decoded", qp["headers"])
    t.eq(bb.get("body_decoded", "").rstrip("\r\n"), text, "base64: body_decoded is the text")
    parts = aa.get("parts") or []
    t.ok(len(parts) == 2 and parts[0]["body_decoded"].rstrip("\r\n") == text and
         parts[1]["headers"]["content-type"].startswith("text/html") and
         parts[1]["body_decoded"].rstrip("\r\n") == "<p>%s</p>" % text,
         "multipart/alternative: parts are parsed and decoded", parts)


def test_curl(s, work, ca):
    path = os.path.join(work, "msg.txt")
    body = "Sent by curl.\r\n.dot line\r\n"
    with open(path, "w", newline="") as f:
        f.write(message(subject="curl", body=body))
    base = ["--mail-from", "rekey@example.test", "--mail-rcpt", "owner@example.test",
            "--upload-file", path, "--cacert", ca]
    creds = ["--user", "%s:%s" % (USER, PASSWORD)]
    n = len(s.mails())
    r = curl(base + creds + ["--ssl-reqd", "--login-options", "AUTH=PLAIN", s.smtp_url])
    m = s.mails()[-1] if len(s.mails()) > n else {}
    t.ok(r.returncode == 0 and m.get("port_kind") == "starttls" and m.get("auth_user") == USER and
         m.get("body") == body, "curl --ssl-reqd smtp:// (STARTTLS, AUTH PLAIN) delivers",
         (r.returncode, r.stderr, m))
    r = curl(base + creds + ["--login-options", "AUTH=LOGIN", s.smtps_url])
    m = s.mails()[-1]
    t.ok(r.returncode == 0 and m.get("port_kind") == "implicit" and m.get("auth_user") == USER,
         "curl smtps:// (implicit TLS, AUTH LOGIN) delivers", (r.returncode, r.stderr, m))
    plain = [e for e in s.smtp_log() if e["cmd"].upper().startswith("AUTH PLAIN")]
    t.ok(plain and plain[-1]["cmd"].upper() == "AUTH PLAIN",
         "curl's AUTH PLAIN used the 334 continuation form", plain[-1:] if plain else None)

    n = len(s.mails())
    r = curl(base + [s.smtp_url])
    refused = last_log(s, lambda e: e["cmd"].upper().startswith("MAIL") and not e["tls"])
    t.ok(r.returncode != 0 and len(s.mails()) == n and refused and refused["reply"].startswith("530"),
         "curl without --ssl-reqd would send in clear: the sink refuses MAIL (530) and records nothing",
         (r.returncode, r.stderr, refused))
    r = curl(base + ["--user", USER + ":wrong", "--ssl-reqd", s.smtp_url])
    t.eq(r.returncode, 67, "curl with a wrong password fails with CURLE_LOGIN_DENIED", r.stderr)

    s.script("smtp", [{"at": "RCPT", "reply": "451 4.3.0 try later"}])
    r = curl(base + creds + [s.smtps_url])
    t.ok(r.returncode != 0 and b"451" in r.stderr, "curl sees a scripted 451 at RCPT", (r.returncode, r.stderr))
    n = len(s.mails())
    s.script("smtp", [{"at": "DATA_END", "action": "drop"}])
    r = curl(base + creds + [s.smtps_url])
    m = s.mails()[-1] if len(s.mails()) > n else {}
    t.ok(r.returncode != 0 and m.get("unanswered") is True and m.get("body") == body,
         "curl sees a drop at DATA_END as a failure; the sink has the message unanswered",
         (r.returncode, r.stderr, m))
    r = curl(base + creds + ["--ssl-reqd", s.smtp_url.replace("127.0.0.1", "localhost"),
                             "--cacert", os.path.join(work, "certs", "untrusted.crt")])
    t.ok(r.returncode != 0, "curl refuses the sink when it does not trust the CA", r.returncode)


# --- hooks ---------------------------------------------------------------------

def test_slack(s, ctx):
    st, h, text = post(s.slack_url, {"text": "Secret of *prod* expires"}, ctx=ctx)
    t.ok(st == 200 and text == "ok" and h["content-type"].startswith("text/plain"),
         "slack: text -> 200 ok text/plain", (st, h, text))
    st, _, text = post(s.hook_url("slack", "T1/B2/other"), {"blocks": [{"type": "section"}]}, ctx=ctx)
    t.eq((st, text), (200, "ok"), "slack: blocks on another URL -> 200 ok")
    st, _, text = post(s.slack_url, {"username": "rekey"}, ctx=ctx)
    t.eq((st, text), (400, "no_text"), "slack: neither text nor blocks -> 400 no_text")
    st, _, text = post(s.slack_url, {"text": ""}, ctx=ctx)
    t.eq((st, text), (400, "no_text"), "slack: empty text -> 400 no_text")
    st, _, text = post(s.slack_url, "{not json", {"Content-Type": "application/json"}, ctx=ctx)
    t.eq((st, text), (400, "invalid_payload"), "slack: malformed JSON -> 400 invalid_payload")
    st, _, text = post(s.slack_url, {"text": 5}, ctx=ctx)
    t.eq((st, text), (400, "invalid_payload"), "slack: text not a string -> 400 invalid_payload")
    st, _, _ = post(s.slack_url, '{"text":"x"}', {"Content-Type": "text/plain"}, ctx=ctx)
    t.eq(st, 400, "slack: not application/json -> 400")
    posts = s.posts("slack")
    t.ok(len(posts) == 7 and posts[0]["json"] == {"text": "Secret of *prod* expires"} and
         posts[0]["status"] == 200 and posts[0]["valid"] is True and
         posts[1]["path"] == "/slack/T1/B2/other" and posts[4]["json"] is None and
         posts[4]["reason"] == "invalid_payload" and
         posts[0]["headers"]["content-type"] == "application/json",
         "slack: every request is recorded with path, headers, json, status and reason", posts)


def test_teams(s, ctx):
    card = {"@type": "MessageCard", "@context": "https://schema.org/extensions", "text": "Secret expires"}
    st, _, text = post(s.teams_url, card, ctx=ctx)
    t.eq((st, text), (200, "1"), "teams: MessageCard with text -> 200 1")
    st, _, _ = post(s.teams_url, {"@type": "MessageCard", "sections": [{"activityTitle": "x"}]}, ctx=ctx)
    t.eq(st, 200, "teams: MessageCard with sections -> 200")
    adaptive = {"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
        "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard", "version": "1.4",
                    "body": [{"type": "TextBlock", "text": "Secret expires"}]}}]}
    st, _, text = post(s.teams_url, adaptive, ctx=ctx)
    t.eq((st, text), (200, "1"), "teams: Adaptive Card message -> 200 1")
    st, _, _ = post(s.teams_url, {"@type": "MessageCard", "title": "no text"}, ctx=ctx)
    t.eq(st, 400, "teams: MessageCard without text or sections -> 400")
    bad = json.loads(json.dumps(adaptive))
    bad["attachments"][0]["contentType"] = "application/json"
    st, _, _ = post(s.teams_url, bad, ctx=ctx)
    t.eq(st, 400, "teams: attachment of the wrong contentType -> 400")
    bad = json.loads(json.dumps(adaptive))
    del bad["attachments"][0]["content"]["body"]
    st, _, _ = post(s.teams_url, bad, ctx=ctx)
    t.eq(st, 400, "teams: AdaptiveCard without body -> 400")
    st, _, _ = post(s.teams_url, {"text": "plain"}, ctx=ctx)
    t.eq(st, 400, "teams: neither card form -> 400")
    posts = s.posts("teams")
    t.ok(len(posts) == 7 and [p["valid"] for p in posts] == [True] * 3 + [False] * 4 and
         all(p["reason"] for p in posts[3:]), "teams: requests recorded with valid and reason", posts)


def test_webhook(s, ctx):
    t.eq(sign(VECTOR["secret"], VECTOR["id"], VECTOR["timestamp"], VECTOR["body"]), VECTOR["signature"],
         "the test's signer reproduces the Standard Webhooks test vector")
    s.configure(webhook_secret=VECTOR["secret"], webhook_tolerance_s=None)
    h = {"Content-Type": "application/json", "webhook-id": VECTOR["id"],
         "webhook-timestamp": VECTOR["timestamp"], "webhook-signature": VECTOR["signature"]}
    st, _, _ = post(s.webhook_url, VECTOR["body"], h, ctx=ctx)
    t.eq(st, 200, "the sink verifies the Standard Webhooks test vector (no timestamp check)")
    s.configure(webhook_tolerance_s=300)
    st, _, _ = post(s.webhook_url, VECTOR["body"], h, ctx=ctx)
    p = s.posts("webhook")[-1]
    t.ok(st == 401 and p["reason"] == "webhook-timestamp too old", "the same vector in 2021 is too old", p)
    s.configure(webhook_secret=SECRET)

    body = json.dumps({"type": "secret.expiring", "data": {"app": "prod"}}).encode()
    h = webhook_headers(body, msg_id="msg_fixed_1")
    st, _, _ = post(s.webhook_url, body, h, ctx=ctx)
    st2, _, _ = post(s.webhook_url, body, h, ctx=ctx)
    p = s.posts("webhook")[-2:]
    t.ok(st == 200 and st2 == 200 and all(x["verified"] is True for x in p) and
         [x["webhook_id"] for x in p] == ["msg_fixed_1"] * 2 and p[0]["json"]["data"] == {"app": "prod"},
         "a signed webhook is verified (200), a redelivery shows the same webhook_id", p)

    def check(name, headers, want_reason, data=body):
        st, _, text = post(s.webhook_url, data, headers, ctx=ctx)
        p = s.posts("webhook")[-1]
        t.ok(st == 401 and p["verified"] is False and p["status"] == 401 and want_reason in p["reason"],
             name, (st, text, p.get("reason")))

    now = int(time.time())
    check("wrong signature -> 401", webhook_headers(body, signature="v1," + base64.b64encode(b"x" * 32).decode()),
          "no matching v1 signature")
    other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    check("signed with another secret -> 401", webhook_headers(body, secret=other), "no matching")
    check("tampered body -> 401", webhook_headers(body), "no matching", data=body + b" ")
    check("timestamp 10 minutes old -> 401", webhook_headers(body, ts=now - 600), "too old")
    check("timestamp 10 minutes ahead -> 401", webhook_headers(body, ts=now + 600), "too new")
    check("timestamp in milliseconds -> 401", webhook_headers(body, ts=now * 1000), "too new")
    check("timestamp not an integer -> 401", webhook_headers(body, ts="%d.5" % now), "integer")
    h = webhook_headers(body)
    del h["webhook-signature"]
    check("missing webhook-signature -> 401", h, "missing header webhook-signature")
    h = webhook_headers(body)
    h["webhook-signature"] = h["webhook-signature"].replace("v1,", "v1a,")
    check("only a v1a signature -> 401", h, "no v1 signature")
    h = webhook_headers(body)
    h["webhook-signature"] = "v1,%s %s v2,abc" % (base64.b64encode(b"y" * 32).decode(), h["webhook-signature"])
    st, _, _ = post(s.webhook_url, body, h, ctx=ctx)
    t.eq(st, 200, "several signatures, one valid -> 200")
    s.configure(webhook_secret=None)
    check("no secret configured -> 401", webhook_headers(body), "no webhook secret")
    s.configure(webhook_secret=SECRET)
    e = raises(lambda: s.configure(webhook_secret="whsec_not base64!"), SinkError)
    t.ok(e is not None, "a malformed secret is refused by the control API", e)


def test_hook_scripts(s, ctx):
    s.script("slack", [{"status": 500, "times": 2}, {"status": 429, "headers": {"Retry-After": "1"}, "times": 1},
                       {"action": "hang", "times": 1}])
    got = [post(s.slack_url, {"text": "x"}, ctx=ctx)[0] for _ in range(2)]
    st, h, _ = post(s.slack_url, {"text": "x"}, ctx=ctx)
    t.ok(got == [500, 500] and st == 429 and h.get("retry-after") == "1",
         "slack script: 500 twice, then 429 with Retry-After", (got, st, h))
    e = raises(lambda: post(s.slack_url, {"text": "x"}, ctx=ctx, timeout=1), (socket.timeout, urllib.error.URLError))
    t.ok(e is not None, "slack script: then a hang (the client times out)", e)
    p = s.posts("slack")[-1]
    t.ok(p["hung"] is True and p["status"] is None and p["valid"] is True,
         "the hung request is recorded, valid, never answered", p)
    st, _, text = post(s.slack_url, {"text": "x"}, ctx=ctx)
    t.eq((st, text, s.pending("slack")), (200, "ok", []), "then the script is used up and slack answers ok")

    s.script("teams", [{"action": "hang"}])
    result = {}
    th = threading.Thread(target=lambda: result.setdefault("r", post(s.teams_url, {"@type": "MessageCard",
                                                                                   "text": "x"}, ctx=ctx)))
    th.start()
    s.wait_posts("teams", len(s.posts("teams")) + 1, timeout=5)
    time.sleep(0.1)
    released = s.release()
    th.join(10)
    t.ok(released == 1 and result.get("r", (0,))[0] == 200 and result["r"][2] == "1",
         "release() answers a hung request normally", (released, result))

    s.script("webhook", [{"status": 503, "body": "busy"}])
    body = b'{"type":"x"}'
    st, _, text = post(s.webhook_url, body, webhook_headers(body), ctx=ctx)
    p = s.posts("webhook")[-1]
    t.ok(st == 503 and text == "busy" and p["verified"] is True and p["status"] == 503,
         "a scripted 503 on the webhook is still verified and recorded", p)
    s.script("webhook", [{"action": "drop"}])
    e = raises(lambda: post(s.webhook_url, body, webhook_headers(body), ctx=ctx), Exception)
    p = s.posts("webhook")[-1]
    t.ok(e is not None and p.get("unanswered") is True and p["status"] is None,
         "drop closes the connection without an answer", (e, p))
    s.script("teams", [{"delay_ms": 300}])
    start = time.time()
    st, _, _ = post(s.teams_url, {"@type": "MessageCard", "text": "x"}, ctx=ctx)
    t.ok(st == 200 and time.time() - start >= 0.3, "delay_ms answers late but normally")
    e = raises(lambda: s.script("slack", [{"statuss": 500}]), SinkError)
    t.ok(e is not None, "a misspelt script field is refused", e)


def test_paths(s, ctx):
    st, _, _ = post(s.hook_url("slack", "_sink/mails"), {"text": "x"}, ctx=ctx)
    t.ok(st == 200 and s.posts("slack")[-1]["path"] == "/slack/_sink/mails",
         "a hook path that contains _sink is a hook, not the control API")
    base = "https://127.0.0.1:%d" % s.ports["hooks"]
    st, _, _ = post(base + "/slackx", {"text": "x"}, ctx=ctx)
    st2, _, _ = post(base + "/", {"text": "x"}, ctx=ctx)
    other = s.posts("other")
    t.ok(st == 404 and st2 == 404 and [p["path"] for p in other[-2:]] == ["/slackx", "/"],
         "unknown paths get 404 and are recorded as kind other", other)
    r = s.call("GET", "/_sink/nothing")
    t.eq(r.status, 404, "an unknown control route gets 404")


def test_reset(s):
    s.script("smtp", [{"at": "MAIL", "reply": "451 x"}])
    s.script("webhook", [{"status": 500}])
    s.reset()
    t.ok(s.mails() == [] and s.posts() == [] and s.smtp_log() == [] and
         all(s.pending(k) == [] for k in ("smtp", "slack", "teams", "webhook")),
         "reset() clears records, log and scripts")
    t.ok(s.configure()["smtp_auth"] == USER, "reset() keeps the configuration")


def test_no_auth(s, ctx):
    s.configure(smtp_auth=None)
    c = smtplib.SMTP_SSL("127.0.0.1", s.smtps_port, timeout=10, context=ctx)
    try:
        c.ehlo("noauth.test")
        t.ok("auth" not in c.esmtp_features, "without smtp_auth, EHLO offers no AUTH", c.esmtp_features)
        code, _ = c.docmd("AUTH", "PLAIN " + plain_auth())
        t.eq(code, 503, "without smtp_auth, AUTH gets 503")
        c.sendmail("a@x.test", ["b@y.test"], message(subject="no auth"))
    finally:
        c.close()
    m = s.mails()[-1]
    t.ok(m["auth_user"] is None and m["headers"]["subject"] == "no auth",
         "without smtp_auth, TLS alone is enough and auth_user is null", m)
    c = smtp_plain(s)
    try:
        c.ehlo("noauth.test")
        code, _ = c.mail("a@x.test")
        t.eq(code, 530, "without smtp_auth, MAIL in clear is still refused")
    finally:
        c.close()
    s.configure(smtp_auth=(USER, PASSWORD))


def main():
    work = tempfile.mkdtemp(prefix="rekey-sinks-test-")
    certs = make_certs(os.path.join(work, "certs"))
    ca = os.path.join(certs, "ca.crt")
    ctx = ssl.create_default_context(cafile=ca)
    s = Sinks()
    try:
        s.start(certs, smtp_auth=(USER, PASSWORD), webhook_secret=SECRET)
        t.ok(s.smtp_url.startswith("smtp://127.0.0.1:") and s.smtps_url.startswith("smtps://127.0.0.1:") and
             s.slack_url.startswith("https://127.0.0.1:") and "/teams/" in s.teams_url and
             "/webhook/" in s.webhook_url, "sinks.js starts and reports its URLs")
        test_plain_port(s, ctx)
        s.reset()
        test_implicit_port(s, ctx)
        s.reset()
        test_order(s, ctx)
        test_pipelining(s, ctx)
        test_starttls_injection(s, ctx)
        test_smtp_scripts(s, ctx)
        s.reset()
        test_mime(s, ctx)
        test_no_auth(s, ctx)
        if shutil.which("curl"):
            test_curl(s, work, ca)
        else:
            print("# curl not found: curl checks skipped")
        test_slack(s, ctx)
        test_teams(s, ctx)
        test_webhook(s, ctx)
        test_hook_scripts(s, ctx)
        test_paths(s, ctx)
        test_reset(s)
    except Exception:
        print("# sinks.js log:\n" + "\n".join("#   " + line for line in s.log_text().splitlines()[-40:]))
        raise
    finally:
        proc = s.proc
        s.stop()
        t.ok(proc is None or proc.poll() is not None, "stop() leaves no sink process running")
        shutil.rmtree(work, ignore_errors=True)
    t.done()


main()
