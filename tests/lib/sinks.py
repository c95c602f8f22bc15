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

import os
import ssl
import time
import urllib.parse

from nodeproc import ROOT, NodeProcess, http_call

SINKS_JS = os.path.join(ROOT, "tests", "fakes", "sinks.js")
PORTS = ("smtp", "smtps", "hooks")
HOOK_KINDS = ("slack", "teams", "webhook")
_KEEP = object()


class SinkError(RuntimeError):
    pass


class Sinks(NodeProcess):
    """One sinks.js process with its three listeners."""

    SCRIPT = SINKS_JS
    PORTS = PORTS
    DIR_PREFIX = "rekey-sinks-"
    LOG_NAME = "sinks.log"
    ERROR = SinkError

    def __init__(self, node=None):
        super().__init__(node)
        self.ctx = None

    # --- life cycle ---
    def start(self, certs_dir, smtp_auth=None, webhook_secret=None, timeout=15):
        """Starts the sinks; smtp_auth is None or (user, password), webhook_secret
        None or "whsec_<base64>".  Both go through the control API, never on a
        command line.  Fails loudly (with the sink's log) if it does not come up."""
        self._open(certs_dir)
        self._launch([], timeout)
        try:
            self.ctx = ssl.create_default_context(cafile=self.ca_file)
            self.configure(smtp_auth=smtp_auth, webhook_secret=webhook_secret)
        except Exception:
            self.stop()
            raise
        return self

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

    def notify_config(self, webhook_secret_file, digest_interval="1s",
                      smtp_from="rekey@example.com"):
        """The lines of a daemon config's [notify] section (the header first)
        that send to every sink: mail, Slack, Teams and the signed webhook,
        whose secret the daemon reads from webhook_secret_file."""
        lines = [
            "[notify]",
            "smtp_url = %s" % self.smtp_url,
            "smtp_from = %s" % smtp_from,
            "slack_webhook_url = %s" % self.slack_url,
            "teams_webhook_url = %s" % self.teams_url,
            "digest_interval = %s" % digest_interval,
        ]
        if webhook_secret_file is not None:  # None: no webhook channel
            lines += ["webhook_url = %s" % self.webhook_url,
                      "webhook_secret_file = %s" % webhook_secret_file]
        return lines

    # --- raw HTTP on the hooks server ---
    def call(self, method, path, body=None, headers=None, timeout=30):
        """Sends one request to the hooks server; body may be bytes, str or
        JSON-able.  Returns a Response for every HTTP status; network errors raise."""
        url = "https://127.0.0.1:%d%s" % (self.ports["hooks"], path)
        return http_call(url, method, body, headers, timeout, self.ctx)

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

