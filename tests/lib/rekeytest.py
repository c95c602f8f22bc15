"""Integration-test helpers: a private rekey daemon on 127.0.0.1 with
certificates made at test time, signed Nylas deliveries, and TAP output.

Only the Python standard library is used, so the tests run on a fresh
Debian machine with nothing but python3."""

import gzip
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import signal
import signal as _sig
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
REKEY_BIN = os.path.abspath(os.environ.get("REKEY_BIN", os.path.join(ROOT, "build", "rekey")))
# REKEY_TEST_STORE=pg: each Daemon gets a database of one PostgreSQL cluster per
# test process (tests/lib/pg.py) instead of a SQLite file; tests/run.sh runs the
# tests that matter a second time so (labelled pg:).
STORE_KIND = os.environ.get("REKEY_TEST_STORE", "sqlite")


class Tap:
    """Prints TAP lines; tests/run.sh counts them."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, detail=None):
        self.n += 1
        if not cond:
            self.failed += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", self.n, name), flush=True)
        if not cond and detail is not None:
            for line in str(detail).splitlines()[:40]:
                print("#   " + line, flush=True)
        return cond

    def eq(self, got, want, name, detail=None):
        msg = "got %r, want %r" % (got, want)
        return self.ok(got == want, name, msg if detail is None else msg + "\n" + str(detail))

    def done(self):
        print("1..%d" % self.n, flush=True)
        sys.exit(1 if self.failed else 0)


def write_secret(path, text):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)


_certs_cache = {}


def make_certs(directory):
    """Runs certs/make-certs.sh into directory; returns it."""
    subprocess.run(["sh", os.path.join(ROOT, "certs", "make-certs.sh"), directory],
                   check=True)
    return directory


def sign(body, secret):
    if isinstance(secret, str):
        secret = secret.encode()
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def envelope(type_="grant.expired", id_=None, email="user@example.com",
             grant_id=None, code=25009, extra_object=None, time_=1739223251):
    obj = {"code": code, "grant_id": grant_id or "g-" + uuid.uuid4().hex[:12],
           "integration_id": "int-1", "provider": "microsoft", "email": email,
           "grant_updated_at": 1734200000}
    if extra_object:
        obj.update(extra_object)
    return {"specversion": "1.0", "type": type_, "source": "/nylas/system",
            "id": id_ or uuid.uuid4().hex, "time": time_, "webhook_delivery_attempt": 1,
            "data": {"application_id": "nylas-app-1", "object": obj}}


class Daemon:
    """A rekey daemon with its own directory, config, secrets and store."""

    WEBHOOK_SECRETS = ["whsec-test-first-0123456789", "whsec-test-second-9876543210"]

    def __init__(self, tls=True, extra_server="", apps=("prod",), certs=None,
                 cert_name="server"):
        self.dir = tempfile.mkdtemp(prefix="rekey-it-")
        self.tls = tls
        self.certs = certs or make_certs(os.path.join(self.dir, "certs"))
        self.cert_name = cert_name
        self.apps = apps
        self.extra_server = extra_server
        self.proc = None
        self.port = None
        self.log_path = os.path.join(self.dir, "rekey.log")
        self.db_path = os.path.join(self.dir, "var", "rekey.db")
        self.conf_path = os.path.join(self.dir, "rekey.conf")
        secrets = os.path.join(self.dir, "secrets")
        os.mkdir(secrets, 0o700)
        write_secret(os.path.join(secrets, "master_key"), os.urandom(32).hex() + "\n")
        write_secret(os.path.join(secrets, "admin_token"), "admin-token-" + uuid.uuid4().hex + "\n")
        write_secret(os.path.join(secrets, "webhook"), "\n".join(self.WEBHOOK_SECRETS) + "\n")
        self.pg = None
        if STORE_KIND == "pg":
            import pg
            self.pg = pg.shared_cluster()
            self.store_url, self.pg_password_file, _ = self.pg.create_db(secrets)
            self.pg_dbname = self.store_url.rsplit("/", 1)[1].split("?")[0]
        else:
            self.store_url = "sqlite:" + self.db_path
        self.write_config()

    def write_config(self, listen="127.0.0.1:0", more=""):
        s = os.path.join(self.dir, "secrets")
        lines = ["[server]", "listen = %s" % listen]
        if self.tls:
            lines += ["tls_cert = %s/%s.crt" % (self.certs, self.cert_name),
                      "tls_key = %s/%s.key" % (self.certs, self.cert_name)]
        lines += ["admin_token_file = %s/admin_token" % s, "log_level = debug",
                  self.extra_server, "", "[store]", "url = %s" % self.store_url,
                  "master_key_file = %s/master_key" % s, ""]
        if self.pg is not None:
            lines.insert(-1, "password_file = %s" % self.pg_password_file)
        for a in self.apps:
            lines += ["[app %s]" % a, "nylas_webhook_secret_file = %s/webhook" % s,
                      "azure_client_id = 11111111-2222-3333-4444-555555555555", ""]
        lines.append(more)
        with open(self.conf_path, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, wait=True):
        # Earlier runs' lines stay in the log: look for the port after them.
        self.log_start = len(self.log_text())
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([REKEY_BIN, "serve", "-c", self.conf_path],
                                     stdout=self.log, stderr=self.log, cwd=self.dir)
        if wait:
            self.port = self.wait_port()
        return self

    def wait_port(self, timeout=20):
        deadline = time.time() + timeout
        start_size = getattr(self, "log_start", 0)
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("rekey exited %d:\n%s" % (self.proc.returncode, self.log_text()))
            # The port is logged before the signal handlers are in place; "rekey
            # serving" comes after them, so a test may signal the daemon at once.
            text = self.log_text()[start_size:]
            m = re.search(r'listening on .* port (\d+)', text)
            if m and "rekey serving" in text:
                return int(m.group(1))
            time.sleep(0.05)
        raise RuntimeError("rekey did not start:\n" + self.log_text())

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, sig=_sig.SIGTERM, timeout=15):
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        self.proc = None
        return rc

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()
        self.proc = None

    def cleanup(self):
        self.stop()
        if os.environ.get("KEEP_TEST_DIRS") is None:
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- client side ---
    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.crt"))
        return ctx

    def conn(self, timeout=10):
        if self.tls:
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout,
                                               context=self.ssl_context())
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, method, path, body=None, headers=None, conn=None):
        c = conn or self.conn()
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        if conn is None:
            c.close()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data

    def post_nylas(self, env_or_bytes, app="prod", secret=None, headers=None,
                   gzip_body=False, conn=None, signature=None):
        body = env_or_bytes if isinstance(env_or_bytes, bytes) else json.dumps(env_or_bytes).encode()
        if gzip_body:
            body = gzip.compress(body)
        h = {"Content-Type": "application/json"}
        if gzip_body:
            h["Content-Encoding"] = "gzip"
        if signature is None:
            signature = sign(body, secret or self.WEBHOOK_SECRETS[0])
        if signature is not False:
            h["X-Nylas-Signature"] = signature
        h.update(headers or {})
        return self.request("POST", "/webhooks/nylas/" + app, body, h, conn=conn)

    def store_exists(self):
        """Whether the daemon has made its store (a SQLite file; PostgreSQL: the schema)."""
        if self.pg is not None:
            return bool(self.pg.query("SELECT to_regclass('public.rotations') IS NOT NULL AS x",
                                      self.pg_dbname)[0]["x"] == "t")
        return os.path.exists(self.db_path)

    def db(self):
        """A connection to the store: sqlite3's, or pg.PgConn (the same calls, over psql)."""
        if self.pg is not None:
            return self.pg.conn(self.pg_dbname)
        c = sqlite3.connect(self.db_path, timeout=10)
        c.row_factory = sqlite3.Row
        return c

    def events(self, where="1=1", args=()):
        if self.pg is not None:
            return [dict(r) for r in self.db().execute("SELECT * FROM events WHERE " + where,
                                                        args)]
        with self.db() as c:
            return [dict(r) for r in c.execute("SELECT * FROM events WHERE " + where, args)]

    def metric(self, name, labels=None):
        status, _, body = self.request("GET", "/metrics")
        total = 0.0
        found = False
        for line in body.decode().splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            m = re.match(r'^([a-zA-Z0-9_:]+)(\{[^}]*\})? (\S+)$', line)
            if not m or m.group(1) != name:
                continue
            if labels and not all('%s="%s"' % kv in (m.group(2) or "") for kv in labels.items()):
                continue
            total += float(m.group(3))
            found = True
        return total if found else None


def wait_for(cond, timeout=30, step=0.1):
    """Polls cond until it returns something true or timeout seconds pass; its last value."""
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port
