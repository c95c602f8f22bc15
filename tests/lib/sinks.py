"""Drives the notification test sinks (tests/fakes/sinks.js) from Python
integration tests: an SMTP server (STARTTLS port and implicit-TLS port) and
an HTTPS server standing in for Slack, Teams and a Standard Webhooks
receiver.

    with Sinks().start(certs_dir, smtp_auth=("user", "pass"),
                       webhook_secret="whsec_...") as s:
        s.smtp_url, s.smtps_url                    # smtp://127.0.0.1:P, smtps://...
        s.slack_url, s.teams_url, s.webhook_url    # https://127.0.0.1:P/slack/hook, ...
        s.script("smtp", [{"at": "RCPT", "reply": "451 4.3.0 try later"}])
        s.script("slack", [{"status": 429, "headers": {"Retry-After": "1"}}])
        s.wait_mails(1)[0]["headers"]["subject"]
        s.wait_posts("webhook", 1)[0]["verified"]

Only the standard library is used; every call trusts certs_dir/ca.crt and
nothing else.  The record fields, the script actions and the control API are
documented at the top of tests/fakes/sinks.js."""

import json
import os
import select
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SINKS_JS = os.path.join(ROOT, "tests", "fakes", "sinks.js")
PORTS = ("smtp", "smtps", "hooks")
HOOK_KINDS = ("slack", "teams", "webhook")
_KEEP = object()


class SinkError(RuntimeError):
    pass


class Response:
    """One HTTP answer: status, headers (lower-case names), body bytes."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8")) if self.body else None

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<Response %d %s>" % (self.status, self.body[:300])


class Sinks:
    """One sinks.js process with its three listeners."""

    def __init__(self, node=None):
        self.node = node or shutil.which("node") or "node"
        self.proc = None
        self.ports = None
        self.certs = None
        self.dir = None
        self.log_path = None
        self._log = None
        self.ctx = None

    # --- life cycle ---
    def start(self, certs_dir, smtp_auth=None, webhook_secret=None, timeout=15):
        """Starts the sinks; smtp_auth is None or (user, password), webhook_secret
        None or "whsec_<base64>".  Both go through the control API, never on a
        command line.  Fails loudly (with the sink's log) if it does not come up."""
        self.certs = os.path.abspath(certs_dir)
        self.dir = tempfile.mkdtemp(prefix="rekey-sinks-")
        self.log_path = os.path.join(self.dir, "sinks.log")
        self._log = open(self.log_path, "wb")
        args = [self.node, SINKS_JS, "--certs", self.certs, "--watch-stdin"]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log)
        try:
            self.ports = self._read_ports(timeout)
            self.ctx = ssl.create_default_context(cafile=self.ca_file)
            self.configure(smtp_auth=smtp_auth, webhook_secret=webhook_secret)
        except Exception:
            self.stop()
            raise
        return self

    def _read_ports(self, timeout):
        deadline = time.time() + timeout
        line = b""
        while not line.endswith(b"\n"):
            if self.proc.poll() is not None:
                raise SinkError("sinks.js exited %d:\n%s" % (self.proc.returncode, self.log_text()))
            left = deadline - time.time()
            if left <= 0:
                raise SinkError("sinks.js did not start within %ds:\n%s" % (timeout, self.log_text()))
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 0.2))
            if ready:
                line += os.read(self.proc.stdout.fileno(), 4096)
        ports = json.loads(line.decode())
        if set(ports) != set(PORTS):
            raise SinkError("unexpected ports line: %r" % line)
        return ports

    def stop(self):
        """Stops the process and waits for it; safe to call twice."""
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            if self.proc.poll() is None:
                self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.dir and os.environ.get("KEEP_TEST_DIRS") is None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""

    # --- addresses ---
    @property
    def ca_file(self):
        return os.path.join(self.certs, "ca.crt")

    @property
    def smtp_port(self):
        return self.ports["smtp"]

    @property
    def smtps_port(self):
        return self.ports["smtps"]

    @property
    def smtp_url(self):
        """Plain port: the client must STARTTLS before MAIL (530 otherwise)."""
        return "smtp://127.0.0.1:%d" % self.ports["smtp"]

    @property
    def smtps_url(self):
        """Implicit TLS port."""
        return "smtps://127.0.0.1:%d" % self.ports["smtps"]

    def hook_url(self, kind, suffix="hook"):
        """https://127.0.0.1:P/KIND/SUFFIX; any suffix reaches the same sink."""
        if kind not in HOOK_KINDS:
            raise ValueError("kind must be one of %s" % (HOOK_KINDS,))
        return "https://127.0.0.1:%d/%s/%s" % (self.ports["hooks"], kind, suffix.lstrip("/"))

    @property
    def slack_url(self):
        return self.hook_url("slack")

    @property
    def teams_url(self):
        return self.hook_url("teams")

    @property
    def webhook_url(self):
        return self.hook_url("webhook")

    # --- raw HTTP on the hooks server ---
    def call(self, method, path, body=None, headers=None, timeout=30):
        """Sends one request to the hooks server; body may be bytes, str or
        JSON-able.  Returns a Response for every HTTP status; network errors raise."""
        data = body
        h = dict(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            data = json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        if isinstance(data, str):
            data = data.encode("utf-8")
        url = "https://127.0.0.1:%d%s" % (self.ports["hooks"], path)
        req = urllib.request.Request(url, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.ctx) as r:
                return Response(r.status, _lower(r.headers), r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, _lower(e.headers), e.read())

    def _control(self, method, path, body=None):
        r = self.call(method, "/_sink/" + path, body)
        if r.status != 200:
            raise SinkError("%s /_sink/%s: %d %s" % (method, path, r.status, r.text))
        return r.json()

    # --- configuration ---
    def configure(self, smtp_auth=_KEEP, webhook_secret=_KEEP, webhook_tolerance_s=_KEEP):
        """Changes what the sinks accept; arguments left out are kept.
        smtp_auth: None (no AUTH; MAIL needs TLS only) or (user, password);
        webhook_secret: None or "whsec_<base64>"; webhook_tolerance_s: seconds
        (default 300) or None for no timestamp check.  Returns the view
        {"smtp_auth": user|None, "webhook_secret": bool, "webhook_tolerance_s"}."""
        body = {}
        if smtp_auth is not _KEEP:
            body["smtp_auth"] = None if smtp_auth is None else {"user": smtp_auth[0],
                                                                "pass": smtp_auth[1]}
        if webhook_secret is not _KEEP:
            body["webhook_secret"] = webhook_secret
        if webhook_tolerance_s is not _KEEP:
            body["webhook_tolerance_s"] = webhook_tolerance_s
        return self._control("POST", "config", body)

    # --- records ---
    def mails(self):
        """Every accepted message (and those dropped unanswered), oldest first."""
        return self._control("GET", "mails")["mails"]

    def posts(self, kind=None):
        """Every request to the hooks server ("slack", "teams", "webhook",
        "other" or None for all), oldest first, valid or not."""
        q = "posts"
        if kind:
            q += "?kind=" + urllib.parse.quote(kind)
        return self._control("GET", q)["posts"]

    def smtp_log(self):
        """Every SMTP command and its reply: [{conn, port_kind, tls, cmd, reply, ...}]."""
        return self._control("GET", "smtp_log")["log"]

    def wait_mails(self, n=1, timeout=10):
        """Polls until at least n mails are recorded; returns the mails (fewer
        than n when timeout seconds passed first)."""
        return _poll(self.mails, n, timeout)

    def wait_posts(self, kind, n=1, timeout=10):
        """Polls until at least n requests of kind are recorded; returns them."""
        return _poll(lambda: self.posts(kind), n, timeout)

    # --- scripts ---
    def script(self, kind, actions):
        """Appends actions to kind's queue ("smtp", "slack", "teams", "webhook");
        returns what is left in the queue."""
        return self._control("POST", "script", {"kind": kind, "actions": actions})["script"]

    def pending(self, kind):
        """The actions still queued for kind."""
        return self._control("GET", "script?kind=" + urllib.parse.quote(kind))["script"]

    def release(self):
        """Answers every hung HTTP request normally; returns how many."""
        return self._control("POST", "release")["released"]

    def reset(self):
        """Releases hung requests, closes hung SMTP sessions, clears records,
        log and scripts; the configuration stays."""
        return self._control("POST", "reset")["released"]


def _poll(fetch, n, timeout):
    deadline = time.time() + timeout
    got = fetch()
    while len(got) < n and time.time() < deadline:
        time.sleep(0.05)
        got = fetch()
    return got


def _lower(headers):
    return dict((k.lower(), v) for k, v in headers.items())
