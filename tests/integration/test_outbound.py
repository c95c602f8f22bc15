"""The outbound clients (identity, Graph, Nylas) against the fakes, through
tests/integration/outbound_driver.c on a real event loop: each call, and the
failure modes the fakes can be scripted into (429 with Retry-After, 5xx until
the budget is spent, AADSTS codes, the lifetime policy, Graph's concurrency
400, an untrusted certificate)."""

import hashlib
import http.server
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from fakes import Fakes  # noqa: E402
from rekeytest import REKEY_BIN, Daemon, Tap, write_secret  # noqa: E402

DRIVER = os.path.join(os.path.dirname(REKEY_BIN), "tests", "outbound_driver")
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TARGET = "11111111-2222-3333-4444-555555555555"
TARGET_OID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
ROTATOR = "99999999-8888-7777-6666-555555555555"
CURRENT = "cur8Q~" + "c" * 34
EXPIRED = "old8Q~" + "o" * 34
API_KEY = "nyk_v0_test_key"


def iso(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def state():
    now = time.time()
    return {
        "tenants": {TENANT: {
            "apps": {
                TARGET: {"object_id": TARGET_OID, "display_name": "Nylas connector",
                         "passwords": [
                             {"keyId": str(uuid.uuid4()), "displayName": "current", "secretText": CURRENT,
                              "startDateTime": iso(now - 86400), "endDateTime": iso(now + 86400 * 200)},
                             {"keyId": str(uuid.uuid4()), "displayName": "old", "secretText": EXPIRED,
                              "startDateTime": "2020-01-01T00:00:00Z", "endDateTime": "2021-01-01T00:00:00Z"}],
                         "owners": [{"type": "user", "id": "u1"}, {"type": "user", "id": "u2"},
                                    {"type": "servicePrincipal", "appId": ROTATOR}]},
                ROTATOR: {"display_name": "rekey", "certificates": ["rotator.crt"]},
            },
            "users": {
                "u1": {"mail": "one@contoso.com", "userPrincipalName": "one@contoso.onmicrosoft.com",
                       "accountEnabled": True},
                "u2": {"mail": None, "userPrincipalName": "two@contoso.onmicrosoft.com",
                       "accountEnabled": False},
            }}},
        "nylas": {"api_key": API_KEY,
                  "connector": {"settings": {"client_id": TARGET, "client_secret": CURRENT,
                                             "tenant": TENANT}, "scope": ["Mail.Read"]},
                  "grants_paging": "offset"},
    }


class Validator(http.server.BaseHTTPRequestHandler):
    """Answers Graph's validation handshake as the notification endpoint must."""

    def do_POST(self):
        q = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
        token = q.get("validationToken", [""])[0].encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(token)))
        self.end_headers()
        self.wfile.write(token)

    def log_message(self, *a):
        pass


def validator(certs):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Validator)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(certs, "server.crt"), os.path.join(certs, "server.key"))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


t = Tap()
d = Daemon()
fakes = Fakes()
try:
    fakes.start(d.certs, state())
    s = os.path.join(d.dir, "secrets")
    write_secret(os.path.join(s, "nylas_api_key"), API_KEY + "\n")
    for name, value in (("current", CURRENT), ("expired", EXPIRED), ("wrong", "nope8Q~" + "n" * 33),
                        ("new", "new8Q~" + "z" * 34)):
        write_secret(os.path.join(s, name), value + "\n")

    def configure(graph_base=None):
        d.write_config(more="\n".join([
            "azure_tenant_id = %s" % TENANT,
            "azure_login_base = %s" % fakes.login_base,
            "graph_base = %s" % (graph_base or fakes.graph_base),
            "rotator_client_id = %s" % ROTATOR,
            "rotator_cert_file = %s/rotator.crt" % d.certs,
            "rotator_key_file = %s/rotator.key" % d.certs,
            "nylas_api_base = %s" % fakes.nylas_base,
            "nylas_api_key_file = %s/nylas_api_key" % s,
            "", "[outbound]", "ca_file = %s/ca.crt" % d.certs, "timeout_ms = 2000", ""]))
        d.azure_override = None

    def drive(*args):
        p = subprocess.run([DRIVER, "-c", d.conf_path, "prod"] + list(args), capture_output=True,
                           text=True, timeout=60)
        try:
            return json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return {"driver_rc": p.returncode, "stderr": p.stderr[-1500:]}

    configure()
    # --- identity
    r = drive("token")
    t.eq(r.get("status"), "ok", "rotator token with a PS256 certificate assertion", r)
    t.ok(r.get("expires_in", 0) > 3000, "token lifetime read", r)
    reqs = fakes.requests("identity")
    t.ok(reqs and "client_assertion" in reqs[-1].get("body", "") and "client_secret" not in reqs[-1].get("body", ""),
         "the rotator signs in with its certificate, never a secret")
    # The scope is this Graph's origin + /.default (a national cloud's Graph is not
    # graph.microsoft.com, and the fake's token endpoint, like those clouds', refuses the
    # global scope with AADSTS500011).
    t.eq(reqs[-1].get("form", {}).get("scope") if reqs else None, fakes.graph_scope,
         "the token's scope is derived from graph_base's origin, not the global Graph", reqs[-1:])
    fakes.clear_requests("identity")
    r = drive("probe", os.path.join(s, "current"))
    t.eq(r.get("status"), "ok", "probe: the in-use secret works", r)
    reqs = fakes.requests("identity")
    t.eq(reqs[-1].get("form", {}).get("scope") if reqs else None, fakes.graph_scope,
         "the probe asks for the same scope as the rotator", reqs[-1:])
    r = drive("probe", os.path.join(s, "expired"))
    t.eq((r.get("status"), r.get("aadsts"), r.get("kind")), ("rejected", 7000222, "secret_expired"),
         "probe: an expired secret is AADSTS7000222", r)
    r = drive("probe", os.path.join(s, "wrong"))
    t.eq((r.get("aadsts"), r.get("kind")), (7000215, "secret_invalid"), "probe: a wrong secret is AADSTS7000215", r)
    fakes.script("identity", [{"method": "POST", "path": "token", "times": 1,
                               "action": {"status": 429, "headers": {"Retry-After": "1"}, "body": {}}}])
    start = time.time()
    r = drive("token")
    took = time.time() - start
    t.ok(r.get("status") == "ok" and took >= 0.95, "a 429 with Retry-After: 1 is waited for, then retried (%.2fs)" % took, r)

    # --- Graph
    # A token endpoint that issues tokens for any resource: the fake Graph refuses one that
    # is not for it (401, invalid audience); rekey's is for it.
    fakes.seed({"unknown_graph_scope": "issue"})
    r = drive("find-app")
    fakes.seed({"unknown_graph_scope": "refuse"})
    t.eq(r.get("outcome"), "ok", "with a token endpoint that issues any scope, Graph accepts "
         "rekey's token (its audience is this Graph)", r)
    r = drive("find-app")
    t.eq(r.get("outcome"), "ok", "find the application by appId", r)
    t.eq(r.get("object_id"), TARGET_OID, "its object id")
    t.eq(sorted(p["hint"] for p in r.get("passwords", [])), ["cur", "old"], "its passwordCredentials with hints")
    r = drive("add-password", TARGET_OID, "rekey-test-1", "180")
    t.eq(r.get("outcome"), "ok", "addPassword", r)
    st = fakes.state()
    made = [p for p in st["tenants"][TENANT]["apps"][TARGET]["passwords"] if p.get("displayName") == "rekey-test-1"]
    t.ok(len(made) == 1 and hashlib.sha256(made[0]["secretText"].encode()).hexdigest() == r.get("secret_sha256"),
         "the secretText returned is the one Graph holds")
    t.ok(made and r.get("hint") == made[0]["secretText"][:3], "hint = first 3 characters")
    key_id = r.get("key_id")
    r = drive("remove-password", TARGET_OID, key_id)
    t.eq(r.get("outcome"), "ok", "removePassword", r)
    fakes.seed({"max_lifetime_days": 90})
    r = drive("add-password", TARGET_OID, "rekey-test-2", "180")
    t.eq((r.get("outcome"), r.get("code")), ("lifetime_policy", "CredentialInvalidLifetimeAsPerAppPolicy"),
         "a lifetime-policy refusal is its own outcome", r)
    fakes.seed({"max_lifetime_days": None})
    fakes.script("graph", [{"method": "POST", "path": "removePassword", "times": 1,
                            "action": {"graph_error": "Directory_ConcurrencyViolation", "status": 400}}])
    r = drive("add-password", TARGET_OID, "rekey-test-3", "30")
    key3 = r.get("key_id")
    r = drive("remove-password", TARGET_OID, key3)
    t.eq(r.get("outcome"), "ok", "the concurrent-update 400 is retried", r)
    t.eq(len(fakes.requests("graph", "removePassword")), 3, "the refused removePassword was sent again (3 in all with the earlier one)")
    fakes.script("graph", [{"method": "GET", "path": "applications", "times": 0,
                            "action": {"status": 503, "body": {"error": {"code": "serviceUnavailable",
                                                                         "message": "busy"}}}}])
    r = drive("find-app")
    t.eq(r.get("outcome"), "retryable", "503 until the budget is spent is reported retryable", r)
    fakes.clear_script("graph")
    r = drive("owners", TARGET_OID)
    t.eq(r.get("owners"), ["one@contoso.com", "two@contoso.onmicrosoft.com"],
         "owners: mail, else userPrincipalName; service principals skipped", r)
    # Only a GUID or a userPrincipalName goes into /users/{id}: u2 by its UPN.
    r = drive("user", "two@contoso.onmicrosoft.com")
    t.eq((r.get("outcome"), r.get("account_enabled")), ("ok", 0), "get a user (disabled)", r)
    r = drive("user", "00000000-0000-0000-0000-00000000dead")
    t.eq(r.get("outcome"), "not_found", "an unknown user is not_found", r)

    # --- Nylas
    r = drive("connector-get")
    t.ok(r.get("outcome") == "ok" and r.get("connector"), "get the Microsoft connector", r)
    r = drive("connector-patch", os.path.join(s, "new"))
    t.eq(r.get("outcome"), "ok", "patch the connector", r)
    settings = fakes.state()["nylas"]["connector"]["settings"]
    t.eq(settings, {"client_id": TARGET, "client_secret": "new8Q~" + "z" * 34, "tenant": TENANT},
         "the connector holds the complete new settings")
    fakes.add_grants(generate={"count": 5, "grant_status": "invalid", "provider": "microsoft"})
    r = drive("grants", "invalid")
    t.eq(len(r.get("grants", [])), 5, "grants: every page of invalid Microsoft grants (limit 2)", r)
    t.ok(len(fakes.requests("nylas", "/v3/grants")) >= 3, "over several pages")
    fakes.script("nylas", [{"method": "GET", "path": "connectors", "times": 1,
                            "action": {"status": 401, "body": {"request_id": "r1", "error": {
                                "type": "api.authentication_error", "message": "bad key"}}}}])
    r = drive("connector-get")
    t.eq((r.get("outcome"), r.get("type")), ("permanent", "api.authentication_error"),
         "a Nylas error envelope is parsed and not retried", r)

    # --- the rest of the calls
    r = drive("get-app", TARGET_OID)
    t.eq((r.get("outcome"), r.get("object_id")), ("ok", TARGET_OID), "get the application by object id", r)
    srv = validator(d.certs)
    url = "https://127.0.0.1:%d/webhooks/graph/prod" % srv.server_address[1]
    write_secret(os.path.join(s, "client_state"), "cs-" + uuid.uuid4().hex + "\n")
    r = drive("sub-create", url, url + "/lifecycle", os.path.join(s, "client_state"))
    t.eq(r.get("outcome"), "ok", "create a /users subscription (after the validation handshake)", r)
    sub = r.get("subscription_id")
    t.ok(sub and len(fakes.validations()) >= 2, "Graph validated both URLs first")
    r = drive("sub-renew", sub)
    t.ok(r.get("outcome") == "ok" and r.get("expiration", 0) > time.time() + 2.5 * 86400, "renew it", r)
    t.eq(drive("sub-reauthorize", sub).get("outcome"), "ok", "reauthorize it")
    t.eq(drive("sub-delete", sub).get("outcome"), "ok", "delete it")
    t.eq(drive("sub-renew", sub).get("outcome"), "not_found", "renewing a deleted one is not_found")
    srv.shutdown()

    fakes.seed({"nylas": {"credentials": {"cred-1": {"name": "second app", "credential_data": {
        "client_id": TARGET, "client_secret": CURRENT, "tenant": TENANT}}}}})
    r = drive("cred-patch", "cred-1", os.path.join(s, "new"))
    t.eq(r.get("outcome"), "ok", "patch a connector credential", r)
    data = fakes.state()["nylas"]["credentials"]["cred-1"]["credential_data"]
    t.eq(data.get("client_secret"), "new8Q~" + "z" * 34, "the credential holds the new secret")
    d.start()
    r = drive("webhook-create", "https://127.0.0.1:%d/webhooks/nylas/prod" % d.port)
    t.ok(r.get("outcome") == "ok" and r.get("has_secret"), "create a webhook destination (the daemon answered the challenge)", r)
    wid = r.get("webhook_id")
    r = drive("webhook-rotate", wid)
    t.ok(r.get("outcome") == "ok" and r.get("has_secret"), "rotate its secret", r)
    d.stop()
    fakes.add_grants(grants=[{"id": "g-mail", "provider": "google", "grant_status": "valid",
                              "email": "ops@example.com"}])
    key = uuid.uuid4().hex
    r1, r2 = drive("send", "g-mail", "owner@example.com", key), drive("send", "g-mail", "owner@example.com", key)
    t.ok(r1.get("outcome") == "ok" and r1.get("message_id") == r2.get("message_id"),
         "send a message; the same Idempotency-Key gives the same answer", (r1, r2))
    t.eq(len(fakes.state()["nylas"].get("sent_messages", [])), 1, "and it is sent once")

    # --- transport failures are retried
    fakes.clear_requests("nylas")
    fakes.script("nylas", [{"method": "GET", "path": "connectors", "times": 1, "action": {"reset": True}}])
    r = drive("connector-get")
    t.eq(r.get("outcome"), "ok", "a connection reset is retried", r)
    fakes.script("nylas", [{"method": "GET", "path": "connectors", "times": 1, "action": {"delay_ms": 3000}}])
    r = drive("connector-get")
    t.eq(r.get("outcome"), "ok", "an answer slower than timeout_ms is abandoned and retried", r)
    t.eq(len(fakes.requests("nylas", "connectors")), 4, "each failure cost exactly one more attempt")

    # --- TLS verification is never off
    configure(graph_base=fakes.untrusted_url + "/v1.0")
    fakes.clear_requests()
    # That Graph's scope is not the fake token endpoint's Graph: let it issue one anyway.
    fakes.seed({"unknown_graph_scope": "issue"})
    r = drive("find-app")
    fakes.seed({"unknown_graph_scope": "refuse"})
    t.eq(r.get("outcome"), "permanent", "a Graph with an untrusted certificate is refused", r)
    t.ok("certificate" in (r.get("detail") or ""), "and the error says why", r)
finally:
    fakes.stop()
    d.cleanup()
t.done()
