"""Mail through http_client_send_mail (libcurl SMTP on the daemon's event
loop), driven by tests/integration/outbound_driver.c against the SMTP sink
(tests/fakes/sinks.js): STARTTLS on smtp://, implicit TLS on smtps://, AUTH,
several recipients, dot-stuffing, 4xx retried, 5xx not, a lost reply to the
end of data retried (so delivered twice, as SMTP allows), certificates no CA
signed refused.  And how long libcurl 7.88 holds the event loop: it waits for
the reply to the end of the message and to QUIT blocking, so a server slow to
give those holds the whole daemon, bounded by the attempt timeout (plus a
second for QUIT).  The sink cannot serve another certificate or be slow at
those two points, so a few lines here do (MiniSmtp)."""

import json
import os
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import REKEY_BIN, Daemon, Tap, write_secret  # noqa: E402
from sinks import Sinks  # noqa: E402

DRIVER = os.path.join(os.path.dirname(REKEY_BIN), "tests", "outbound_driver")
TIMEOUT_MS = 2000
FROM = "rekey@example.com"
TO = "owner@contoso.com"
MESSAGE = ("From: rekey <rekey@example.com>\r\n"
           "To: owner@contoso.com\r\n"
           "Subject: rekey test\r\n"
           "Message-ID: <test-1@example.com>\r\n"
           "\r\n"
           "first line\r\n"
           ".a line that starts with a dot\r\n"
           ".\r\n"
           "last line\r\n")


class MiniSmtp:
    """Just enough SMTP on 127.0.0.1 for what the sink cannot do: serve
    certificate cert_name (TLS from the start, or after STARTTLS) and wait
    data_delay seconds before answering the end of the message, quit_delay
    before answering QUIT.  Records the commands it read."""

    def __init__(self, certs, cert_name, starttls, data_delay=0.0, quit_delay=0.0):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(os.path.join(certs, cert_name + ".crt"),
                                 os.path.join(certs, cert_name + ".key"))
        self.starttls = starttls
        self.data_delay = data_delay
        self.quit_delay = quit_delay
        self.commands = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.url = "%s://127.0.0.1:%d" % ("smtp" if starttls else "smtps", self.port)
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.session, args=(conn,), daemon=True).start()

    def session(self, conn):
        conn.settimeout(30)
        try:
            if not self.starttls:
                conn = self.ctx.wrap_socket(conn, server_side=True)
            self.talk(conn)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def talk(self, conn):
        f = conn.makefile("rwb")

        def say(line):
            f.write(line.encode() + b"\r\n")
            f.flush()

        say("220 mini ESMTP")
        while True:
            line = f.readline()
            if not line:
                return
            cmd = line.decode("utf-8", "replace").strip()
            verb = cmd.split(" ")[0].split(":")[0].upper()
            self.commands.append(cmd)
            if verb == "EHLO":
                say("250-mini")
                say("250 STARTTLS" if self.starttls and not isinstance(conn, ssl.SSLSocket)
                    else "250 SIZE 1000000")
            elif verb == "STARTTLS":
                say("220 go ahead")
                conn = self.ctx.wrap_socket(conn, server_side=True)
                f = conn.makefile("rwb")
            elif verb == "DATA":
                say("354 go ahead")
                while f.readline() not in (b".\r\n", b""):
                    pass
                time.sleep(self.data_delay)
                say("250 2.0.0 queued as MINI")
            elif verb == "QUIT":
                time.sleep(self.quit_delay)
                say("221 bye")
                return
            else:
                say("250 ok")

    def close(self):
        self.sock.close()


t = Tap()
d = Daemon()
sinks = Sinks()
minis = []
try:
    secrets = os.path.join(d.dir, "secrets")
    d.write_config(more="\n".join(["[outbound]", "ca_file = %s/ca.crt" % d.certs,
                                   "timeout_ms = %d" % TIMEOUT_MS, ""]))
    msg_path = os.path.join(d.dir, "message.eml")
    with open(msg_path, "w", newline="") as f:
        f.write(MESSAGE)
    write_secret(os.path.join(secrets, "smtp_pass"), "s3cret-pass\n")
    write_secret(os.path.join(secrets, "smtp_wrong"), "not-the-pass\n")
    sinks.start(d.certs)

    driver_failures = []

    def mail(url, to=TO, auth=None):
        """Runs the driver; its JSON line plus the elapsed seconds."""
        args = [DRIVER, "-c", d.conf_path, "prod", "mail", url, FROM, to, msg_path]
        if auth is not None:
            args += [auth[0], os.path.join(secrets, auth[1])]
        start = time.time()
        p = subprocess.run(args, capture_output=True, text=True, timeout=60)
        try:
            r = json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            r = {"driver_rc": p.returncode}
        r["stderr"] = p.stderr[-1500:]
        r["seconds"] = time.time() - start
        if p.returncode != 0 or "Sanitizer" in p.stderr:
            driver_failures.append((args[5:], p.returncode, p.stderr[-1500:]))
        return r

    def short(r):
        return dict((k, v) for k, v in r.items() if k != "stderr")

    # --- STARTTLS on smtp://: delivered, and nothing but EHLO and STARTTLS in clear
    r = mail(sinks.smtp_url)
    t.ok(r.get("outcome") == "ok" and r.get("status") == 250 and r.get("attempts") == 1,
         "smtp:// with STARTTLS delivers in one attempt", r)
    t.ok((r.get("reply") or "").startswith("250"), "the reply is the end-of-data 250", short(r))
    mails = sinks.wait_mails(1)
    m = mails[0] if mails else {}
    t.ok(m.get("tls") is True and m.get("port_kind") == "starttls",
         "the sink got it over TLS after STARTTLS", m)
    t.eq((m.get("from"), m.get("to")), (FROM, [TO]), "envelope sender and recipient")
    t.eq(m.get("headers", {}).get("subject"), "rekey test", "the message's headers arrive")
    t.eq(m.get("body"), "first line\r\n.a line that starts with a dot\r\n.\r\nlast line\r\n",
         "lines starting with a dot survive (curl dot-stuffs, the sink unstuffs)")
    t.ok(m.get("bare_lf") is False, "no bare LF in what arrived", m)
    # The sink logs the connection itself as "(CONNECT)".
    clear = [e["cmd"].split(" ")[0].upper() for e in sinks.smtp_log()
             if not e.get("tls") and not e["cmd"].startswith("(")]
    t.ok(set(clear) <= {"EHLO", "STARTTLS"} and "STARTTLS" in clear,
         "only EHLO and STARTTLS were sent in clear", clear)
    t.ok(r.get("max_loop_gap_ms", 1e9) < 1000,
         "a prompt server does not hold the loop (%s ms)" % r.get("max_loop_gap_ms"))

    # --- implicit TLS, several recipients
    sinks.reset()
    r = mail(sinks.smtps_url, to="a@contoso.com,b@contoso.com")
    t.ok(r.get("outcome") == "ok" and r.get("attempts") == 1, "smtps:// delivers", short(r))
    mails = sinks.wait_mails(1)
    m = mails[0] if mails else {}
    t.ok(m.get("port_kind") == "implicit" and m.get("tls") is True, "over implicit TLS", m)
    t.eq(m.get("to"), ["a@contoso.com", "b@contoso.com"], "to every recipient, in one message")

    # --- AUTH
    sinks.reset()
    sinks.configure(smtp_auth=("notifier", "s3cret-pass"))
    r = mail(sinks.smtp_url, auth=("notifier", "smtp_pass"))
    t.ok(r.get("outcome") == "ok", "AUTH with the right password delivers", short(r))
    mails = sinks.wait_mails(1)
    t.eq(mails[0].get("auth_user") if mails else None, "notifier", "as the authenticated user")
    t.ok("s3cret-pass" not in r["stderr"], "the password is not in the log")
    r = mail(sinks.smtps_url, auth=("notifier", "smtp_wrong"))
    t.ok(r.get("outcome") == "permanent" and r.get("status") == 535 and
         r.get("attempts") == 1, "a wrong password is permanent, not retried", short(r))
    t.ok("535" in (r.get("error") or ""), "and the error carries the server's reply", short(r))
    r = mail(sinks.smtp_url)
    t.ok(r.get("outcome") == "permanent" and r.get("status") == 530,
         "no AUTH where the server requires it: permanent 530", short(r))
    t.eq(len(sinks.mails()), 1, "neither of those was delivered")
    sinks.configure(smtp_auth=None)

    # --- 4xx is retried, 5xx is not
    sinks.reset()
    sinks.script("smtp", [{"at": "RCPT", "reply": "451 4.3.0 try later", "times": 1}])
    r = mail(sinks.smtp_url)
    t.ok(r.get("outcome") == "ok" and r.get("attempts") == 2,
         "a 451 at RCPT is retried and then delivered", short(r))
    t.ok("451 4.3.0 try later" in r["stderr"], "the retry is logged with the server's reply")
    t.eq(len(sinks.wait_mails(1)), 1, "delivered once")
    sinks.reset()
    sinks.script("smtp", [{"at": "RCPT", "reply": "550 5.1.1 no such user", "times": 0}])
    r = mail(sinks.smtp_url)
    t.ok(r.get("outcome") == "permanent" and r.get("status") == 550 and
         r.get("attempts") == 1, "a 550 at RCPT is permanent, not retried", short(r))
    t.eq(r.get("error"), "SMTP 550 5.1.1 no such user", "the error is the server's reply")
    sinks.reset()
    sinks.script("smtp", [{"at": "DATA_END", "reply": "554 5.7.1 rejected as spam"}])
    r = mail(sinks.smtp_url)
    t.ok(r.get("outcome") == "permanent" and r.get("status") == 554,
         "a 554 after the message is permanent", short(r))
    t.eq(len(sinks.mails()), 0, "nothing recorded as delivered")

    # --- a lost reply to the end of data: retried, so the server has it twice
    sinks.reset()
    sinks.script("smtp", [{"at": "DATA_END", "action": "drop"}])
    r = mail(sinks.smtp_url)
    t.ok(r.get("outcome") == "ok" and r.get("attempts") == 2,
         "a connection dropped after the message is retried", short(r))
    mails = sinks.wait_mails(2)
    t.eq([bool(x.get("unanswered")) for x in mails], [True, False],
         "the server got it twice, the first unacknowledged (RFC 5321 4.1.1.4)")

    # --- certificates no CA signed: permanent at once, no mail command sent
    for starttls in (False, True):
        mini = MiniSmtp(d.certs, "untrusted", starttls)
        minis.append(mini)
        r = mail(mini.url, auth=("notifier", "smtp_pass"))
        name = "STARTTLS" if starttls else "smtps://"
        t.ok(r.get("outcome") == "permanent" and r.get("attempts") == 1 and
             "not trusted" in (r.get("error") or ""),
             "%s to an untrusted certificate: permanent, not retried" % name, short(r))
        verbs = [c.split(" ")[0].upper() for c in mini.commands]
        t.ok(not set(verbs) - {"EHLO", "STARTTLS"},
             "%s: no AUTH, MAIL or data reached it" % name, mini.commands)

    # --- how long a slow server holds the loop: the end-of-data and QUIT waits block
    limit_ms = TIMEOUT_MS + 1000 + 1000
    mini = MiniSmtp(d.certs, "server", False, data_delay=1.0)
    minis.append(mini)
    r = mail(mini.url)
    t.ok(r.get("outcome") == "ok" and r.get("max_loop_gap_ms", 1e9) < limit_ms,
         "a server 1 s slow to answer the message holds the loop that long (%s ms)"
         % r.get("max_loop_gap_ms"), short(r))
    mini = MiniSmtp(d.certs, "server", False, quit_delay=30)
    minis.append(mini)
    r = mail(mini.url)
    t.ok(r.get("outcome") == "ok", "a mail whose QUIT is never answered is delivered", short(r))
    t.ok(r.get("max_loop_gap_ms", 1e9) < limit_ms and r["seconds"] < limit_ms / 1000.0 + 2,
         "the loop is held for QUIT about timeout_ms + 1 s at most (%s ms)"
         % r.get("max_loop_gap_ms"), short(r))
    sinks.reset()
    sinks.script("smtp", [{"at": "DATA_END", "action": "hang"}])
    r = mail(sinks.smtp_url)
    t.ok(r.get("outcome") == "ok" and r.get("attempts") == 2,
         "a server silent after the message: retried, delivered", short(r))
    t.ok(r.get("max_loop_gap_ms", 1e9) < TIMEOUT_MS + limit_ms,
         "the loop is held for the reply and then QUIT, 2 x timeout_ms + 1 s at most (%s ms)"
         % r.get("max_loop_gap_ms"), short(r))
    t.eq(driver_failures, [], "the driver exited 0 every time, without a sanitizer report")
finally:
    for mini in minis:
        mini.close()
    sinks.stop()
    d.cleanup()
t.done()
