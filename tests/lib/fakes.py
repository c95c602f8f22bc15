"""Drives the fake Microsoft identity platform, Microsoft Graph and Nylas
API (tests/fakes/fake.js) from Python integration tests.

    with Fakes().start(certs_dir, state={...}) as f:
        f.login_base, f.graph_base, f.nylas_base   # for a daemon's config
        f.script("graph", [{"method": "POST", "path": "addPassword",
                            "action": {"status": 429, "headers": {"Retry-After": "1"}}}])
        f.requests("graph", path_re="addPassword")

Only the standard library is used; every call trusts certs_dir/ca.crt and
nothing else.  The state schema and the control API are documented at the top
of tests/fakes/fake.js."""

import json
import os
import ssl
import urllib.parse

from nodeproc import ROOT, NodeProcess, http_call

FAKE_JS = os.path.join(ROOT, "tests", "fakes", "fake.js")
SERVICES = ("identity", "graph", "nylas", "untrusted")


class FakeError(RuntimeError):
    pass


class Fakes(NodeProcess):
    """One fake.js process with its four servers."""

    SCRIPT = FAKE_JS
    PORTS = SERVICES
    DIR_PREFIX = "rekey-fakes-"
    LOG_NAME = "fake.log"
    ERROR = FakeError

    # --- life cycle ---
    def start(self, certs_dir, state=None, timeout=15):
        """Starts the fakes; fails loudly (with their stderr) if they do not come up."""
        self._open(certs_dir)
        args = []
        if state is not None:
            path = os.path.join(self.dir, "state.json")
            with open(path, "w") as f:
                json.dump(state, f)
            args += ["--state", path]
        self._launch(args, timeout)
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.crt"))
        # Only the control API of the untrusted server is reached without
        # verification; call() keeps verifying, which is the point of it.
        self.untrusted_ctx = ssl.create_default_context()
        self.untrusted_ctx.check_hostname = False
        self.untrusted_ctx.verify_mode = ssl.CERT_NONE
        return self

    # --- addresses ---
    def url(self, service, path=""):
        return "https://127.0.0.1:%d%s" % (self.ports[service], path)

    @property
    def login_base(self):
        """azure_login_base: token URLs are login_base/{tenant}/oauth2/v2.0/token."""
        return self.url("identity")

    identity_url = login_base

    def token_url(self, tenant):
        return self.url("identity", "/%s/oauth2/v2.0/token" % tenant)

    @property
    def graph_base(self):
        return self.url("graph", "/v1.0")

    @property
    def graph_scope(self):
        """The client-credentials scope of this Graph: its origin + /.default (like
        https://graph.microsoft.us/.default in a national cloud)."""
        return self.url("graph", "/.default")

    @property
    def nylas_base(self):
        return self.url("nylas")

    @property
    def untrusted_url(self):
        return self.url("untrusted")

    # --- raw HTTP ---
    def call(self, service, method, path, body=None, headers=None, timeout=30, context=None):
        """Sends one request to a fake; body may be bytes, str or JSON-able.
        Returns a Response for every HTTP status; network errors raise."""
        return http_call(self.url(service, path), method, body, headers, timeout,
                         context or self.ctx)

    def _control(self, service, method, path, body=None):
        ctx = self.untrusted_ctx if service == "untrusted" else None
        r = self.call(service, method, "/_fake/" + path, body, context=ctx)
        if r.status != 200:
            raise FakeError("%s %s /_fake/%s: %d %s" % (service, method, path, r.status, r.text))
        return r.json()

    # --- state and scripts ---
    def seed(self, state):
        """Merge-patches the shared state (RFC 7386); returns the new state."""
        return self._control("graph", "POST", "state", state)

    def state(self):
        return self._control("graph", "GET", "state")

    def script(self, service, rules):
        return self._control(service, "POST", "script", {"rules": rules})["rules"]

    def clear_script(self, service=None):
        for s in [service] if service else SERVICES[:3]:
            self._control(s, "DELETE", "script")

    def release(self, service):
        return self._control(service, "POST", "release")["released"]

    def hung(self, service):
        return self._control(service, "GET", "hung")["count"]

    def requests(self, service, path_re=None):
        q = "requests"
        if path_re:
            q += "?path=" + urllib.parse.quote(path_re, safe="")
        return self._control(service, "GET", q)["requests"]

    def clear_requests(self, service=None):
        for s in [service] if service else SERVICES:
            self._control(s, "DELETE", "requests")

    # --- service-specific control ---
    def deliver_nylas(self, webhook_id=None, type_="grant.expired", object_=None, **kw):
        """Delivers a signed Nylas notification; kw: url, secret, compressed,
        grant_id, id, attempt, time, raw, signature, header_name, headers."""
        body = dict(kw, type=type_)
        if webhook_id:
            body["webhook_id"] = webhook_id
        if object_ is not None:
            body["object"] = object_
        return self._control("nylas", "POST", "deliver", body)

    def stream_nylas(self, webhook_id, count, concurrency=8, retry_base_ms=200):
        """Starts a stream of count signed grant events to the destination,
        retried as Nylas retries (see nylas.js, /_fake/stream)."""
        return self._control("nylas", "POST", "stream", {
            "webhook_id": webhook_id, "count": count, "concurrency": concurrency,
            "retry_base_ms": retry_base_ms})

    def stream_report(self):
        return self._control("nylas", "GET", "stream")

    def nylas_effective(self):
        """What Nylas signs users in with: {"source": "active_credential" |
        "settings", "credential_id", "data": {client_id, client_secret, tenant?}}."""
        return self._control("nylas", "GET", "connector/effective")

    def add_grants(self, grants=None, generate=None, delete=None):
        body = {}
        if grants:
            body["grants"] = grants
        if generate:
            body["generate"] = generate
        if delete:
            body["delete"] = delete
        return self._control("nylas", "POST", "grants", body)["count"]

    def notify_graph(self, subscription_id, items=None, token=None, token_version=None, **kw):
        """Delivers a Graph change notification batch, basic as Graph sends
        them for users; returns what the daemon answered: {status, headers,
        body, latency_ms, url, payload}. items: [{changeType, user_id |
        resource, id?, clientState?, subscription_id?, extra? (fields merged
        into the item: forgeries only)}]. token: "valid" | "expired" |
        "not_yet_valid" | "forged" | "unknown_kid" | "wrong_aud" |
        "wrong_iss" | "wrong_appid" | "none" adds validationTokens (which
        Graph sends only with rich notifications, never for users).
        token_version: 1 or 2 (default). kw: client_state_override, url."""
        body = dict(kw, subscription_id=subscription_id, items=items or [{}])
        for k, v in (("token", token), ("token_version", token_version)):
            if v is not None:
                body[k] = v
        return self._control("graph", "POST", "notify", body)

    def lifecycle_graph(self, subscription_id, event="reauthorizationRequired", **kw):
        return self._control("graph", "POST", "lifecycle",
                             dict(kw, subscription_id=subscription_id, lifecycleEvent=event))

    def validations(self):
        return self._control("graph", "GET", "validations")["validations"]

    def expire_tokens(self):
        return self._control("identity", "POST", "expire_tokens")

    # --- the identity platform's signing keys (validationTokens) ---
    def jwks_url(self, tenant="common"):
        """Where the token signing keys are published (a daemon's JWKS URL)."""
        return self.url("identity", "/%s/discovery/v2.0/keys" % tenant)

    def jwks(self, tenant="common"):
        """Fetches the JWKS as a client would (counts in jwks_requests())."""
        r = self.call("identity", "GET", "/%s/discovery/v2.0/keys" % tenant)
        if r.status != 200:
            raise FakeError("GET JWKS: %d %s" % (r.status, r.text))
        return r.json()

    def rotate_jwks(self, keep_old=True):
        """A new signing key signs from now on; keep_old=False unpublishes the
        others.  Returns {"kid": new kid, "kids": [published kids]}."""
        return self._control("identity", "POST", "jwks/rotate", {"keep_old": bool(keep_old)})

    def jwks_requests(self):
        """How many times the JWKS has been fetched (GET, either path)."""
        return self._control("identity", "GET", "jwks/requests")["count"]

