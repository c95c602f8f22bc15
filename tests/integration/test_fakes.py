"""Self-test of the service fakes (tests/fakes/fake.js through
tests/lib/fakes.py): the identity platform's secret and certificate
authentication and its AADSTS errors, Graph's credential, owner, user and
subscription calls with their errors, rich (encrypted) change notifications
with their validationTokens and the JWKS that signs them, the Nylas connector, grants, webhooks
and deliveries, and the scripted faults and request log every fake has.
The daemon is not involved: small local receivers stand in for it."""

import base64
import gzip
import hashlib
import hmac
import http.server
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from fakes import Fakes  # noqa: E402
from rekeytest import Tap, make_certs  # noqa: E402

t = Tap()

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TARGET = "11111111-2222-3333-4444-555555555555"      # the app Nylas signs in as
TARGET_OID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
ROTATOR = "99999999-8888-7777-6666-555555555555"     # rekey's own identity (certificate)
STRANGER = "44444444-3333-2222-1111-000000000000"    # may sign in, owns nothing
GLOBAL_SCOPE = "https://graph.microsoft.com/.default"
CURRENT = "cur8Q~" + "c" * 34
EXPIRED = "old8Q~" + "o" * 34
STRANGER_SECRET = "str8Q~" + "s" * 34
API_KEY = "nyk_v0_test_key"
CONCURRENCY = "Error due to concurrent requests being made to the tenant. Please wait briefly and retry."


def iso(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def seed_state(certs):
    now = time.time()
    return {
        "tenants": {TENANT: {
            "domains": ["contoso.onmicrosoft.com"],
            "apps": {
                TARGET: {
                    "object_id": TARGET_OID, "display_name": "Nylas connector",
                    "passwords": [
                        {"keyId": str(uuid.uuid4()), "displayName": "current", "secretText": CURRENT,
                         "startDateTime": iso(now - 86400 * 100), "endDateTime": iso(now + 86400 * 200)},
                        {"keyId": str(uuid.uuid4()), "displayName": "old", "secretText": EXPIRED,
                         "startDateTime": "2020-01-01T00:00:00Z", "endDateTime": "2021-01-01T00:00:00Z"},
                    ],
                    "owners": [{"type": "user", "id": "u1"}, {"type": "user", "id": "u2"},
                               {"type": "servicePrincipal", "appId": ROTATOR}],
                },
                ROTATOR: {"display_name": "rekey", "certificates": ["rotator.crt"]},
                STRANGER: {"display_name": "stranger", "permissions": ["Application.ReadWrite.OwnedBy"],
                           "passwords": [{"secretText": STRANGER_SECRET, "startDateTime": iso(now - 60),
                                          "endDateTime": iso(now + 86400)}]},
            },
            "users": {
                "u1": {"displayName": "Owner One", "mail": "one@contoso.com",
                       "userPrincipalName": "one@contoso.onmicrosoft.com", "accountEnabled": True,
                       "signInSessionsValidFromDateTime": "2026-01-01T00:00:00Z",
                       "lastPasswordChangeDateTime": "2025-06-01T00:00:00Z"},
                "u2": {"displayName": "Owner Two", "mail": None,
                       "userPrincipalName": "two@contoso.onmicrosoft.com", "accountEnabled": False},
            },
        }},
        "nylas": {
            "api_key": API_KEY,
            "connector": {"settings": {"client_id": TARGET, "client_secret": CURRENT, "tenant": TENANT},
                          "scope": ["Mail.Read", "offline_access"]},
            "credentials": {"cred-1": {"name": "second app", "credential_data": {
                "client_id": TARGET, "client_secret": CURRENT, "tenant": TENANT}}},
        },
    }


# --- helpers -----------------------------------------------------------------

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def assertion(certs, aud, client_id=ROTATOR, alg="PS256", lifetime=300, jti=None,
              saltlen="digest", tamper=False):
    """A client assertion signed with the openssl CLI (Python has no RSA)."""
    with open(os.path.join(certs, "rotator.crt")) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    header = {"alg": alg, "typ": "JWT"}
    if alg == "PS256":
        header["x5t#S256"] = b64u(hashlib.sha256(der).digest())
    else:
        header["x5t"] = b64u(hashlib.sha1(der).digest())
    now = int(time.time())
    claims = {"aud": aud, "iss": client_id, "sub": client_id, "jti": jti or str(uuid.uuid4()),
              "nbf": now, "iat": now, "exp": now + lifetime}
    signing_input = b64u(json.dumps(header).encode()) + "." + b64u(json.dumps(claims).encode())
    cmd = ["openssl", "dgst", "-sha256", "-sign", os.path.join(certs, "rotator.key")]
    if alg == "PS256":
        cmd += ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:" + saltlen]
    sig = subprocess.run(cmd, input=signing_input.encode(), capture_output=True, check=True).stdout
    if tamper:
        sig = bytes([sig[0] ^ 1]) + sig[1:]
    return signing_input + "." + b64u(sig)


def token(f, tenant=TENANT, **form):
    form.setdefault("grant_type", "client_credentials")
    form.setdefault("scope", f.graph_scope)
    return f.call("identity", "POST", "/%s/oauth2/v2.0/token" % tenant, urllib.parse.urlencode(form),
                  {"Content-Type": "application/x-www-form-urlencoded"})


def cert_token(f, certs, **kw):
    return token(f, client_id=ROTATOR,
                 client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                 client_assertion=assertion(certs, f.token_url(TENANT), **kw))


def aad_code(r):
    body = r.json() or {}
    return (r.status, body.get("error_codes"))


def graph(f, bearer, method, path, body=None, headers=None):
    h = {"Authorization": "Bearer " + bearer} if bearer else {}
    h.update(headers or {})
    return f.call("graph", method, "/v1.0" + path, body, h)


def nylas(f, method, path, body=None, key=API_KEY, headers=None):
    h = {"Authorization": "Bearer " + key} if key else {}
    h.update(headers or {})
    return f.call("nylas", method, path, body, h)


def gcode(r):
    return ((r.json() or {}).get("error") or {}).get("code")


class Receiver:
    """A tiny local endpoint standing in for the daemon: echoes Graph
    validation tokens and Nylas challenges (or gets them wrong on purpose)
    and records every other request."""

    def __init__(self, certs=None, status=200):
        self.got = []
        self.echo_ok = True
        self.status = status
        rec = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def answer(self, status, body, ctype="text/plain"):
                data = body.encode() if isinstance(body, str) else body
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                v = q.get("challenge", [""])[0]
                self.answer(200, v if rec.echo_ok else '"%s"' % v)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                if "validationToken" in q:
                    tok = q["validationToken"][0]
                    rec.got.append(("validation", self.path, tok))
                    self.answer(200, tok if rec.echo_ok else tok.replace(" ", "+"))
                    return
                rec.got.append(("post", self.path, dict((k.lower(), v) for k, v in self.headers.items()), body))
                self.answer(rec.status, "")

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if certs:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(os.path.join(certs, "server.crt"), os.path.join(certs, "server.key"))
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path):
        return "%s://127.0.0.1:%d%s" % (self.scheme, self.httpd.server_address[1], path)

    def posts(self):
        return [g for g in self.got if g[0] == "post"]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


# --- identity ----------------------------------------------------------------

def test_secrets(f):
    r = token(f, client_id=TARGET, client_secret=CURRENT)
    body = r.json()
    t.ok(r.status == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 3599
         and body["ext_expires_in"] == 3599 and len(body["access_token"]) > 20,
         "a current client secret gets a bearer token", r)
    r = token(f, client_id=TARGET, client_secret=EXPIRED)
    body = r.json()
    t.eq(aad_code(r), (401, [7000222]), "an expired secret: 401 AADSTS7000222", r)
    t.ok(body["error"] == "invalid_client" and body["error_description"].startswith("AADSTS7000222: ")
         and "\r\nTrace ID: " + body["trace_id"] in body["error_description"]
         and re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$", body["timestamp"])
         and body["correlation_id"] and body["error_uri"].endswith("code=7000222"),
         "the error looks like Azure's (error, description, trace/correlation ids, timestamp, uri)", body)
    r = token(f, client_id=TARGET, client_secret=CURRENT[:-1] + "x")
    t.eq(aad_code(r), (401, [7000215]), "an unknown secret: 401 AADSTS7000215", r)
    r = token(f, tenant="contoso.onmicrosoft.com", client_id=TARGET, client_secret=CURRENT)
    t.eq(r.status, 200, "the tenant's domain name works in the token URL", r)
    t.eq(aad_code(token(f, tenant="no-such-tenant", client_id=TARGET, client_secret=CURRENT)),
         (400, [90002]), "an unknown tenant: 400 AADSTS90002")
    t.eq(aad_code(token(f, client_id=str(uuid.uuid4()), client_secret=CURRENT)),
         (400, [700016]), "an app not in the tenant: 400 AADSTS700016")
    t.eq(aad_code(token(f, client_id=TARGET)), (401, [7000218]), "no credential at all: AADSTS7000218")
    t.eq(aad_code(token(f, client_id=TARGET, client_secret=CURRENT, scope="User.Read")),
         (400, [1002012]), "a scope without /.default: AADSTS1002012")
    r = token(f, client_id=TARGET, client_secret=CURRENT, scope=GLOBAL_SCOPE)
    t.ok(aad_code(r) == (400, [500011]) and r.json()["error"] == "invalid_resource"
         and "https://graph.microsoft.com was not found" in r.json()["error_description"],
         "the global Graph scope at a token endpoint whose Graph is elsewhere: AADSTS500011", r)
    r = token(f, client_id=TARGET, client_secret=CURRENT,
              scope="00000003-0000-0000-c000-000000000000/.default")
    t.eq(r.status, 200, "Graph's appId scope works in any cloud", r)
    f.seed({"unknown_graph_scope": "issue"})
    r = token(f, client_id=TARGET, client_secret=CURRENT, scope=GLOBAL_SCOPE)
    f.seed({"unknown_graph_scope": "refuse"})
    g = graph(f, r.json()["access_token"], "GET", "/applications") if r.status == 200 else None
    t.ok(g is not None and g.status == 401 and gcode(g) == "InvalidAuthenticationToken"
         and "Invalid audience" in g.json()["error"]["message"],
         "unknown_graph_scope issue: a token for another Graph, which this Graph refuses (401)", g)


def test_assertions(f, certs):
    r = cert_token(f, certs)
    t.ok(r.status == 200 and r.json()["access_token"], "a PS256 assertion with x5t#S256 gets a token", r)
    bearer = r.json()["access_token"]
    r = cert_token(f, certs, alg="RS256")
    t.eq(r.status, 200, "an RS256 assertion with x5t (SHA-1) gets a token", r)
    jwt = assertion(certs, f.token_url(TENANT), jti="fixed-jti-1")
    form = dict(client_id=ROTATOR, client_assertion=jwt,
                client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    token(f, **form)
    t.eq(aad_code(token(f, **form)), (401, [50013]), "a replayed jti is refused")
    t.eq(aad_code(cert_token(f, certs, tamper=True)), (401, [700027]),
         "a tampered signature: AADSTS700027")
    t.eq(aad_code(cert_token(f, certs, saltlen="max")), (401, [700027]),
         "PSS with a salt longer than the digest (openssl's default) is refused")
    t.eq(aad_code(cert_token(f, certs, lifetime=601)), (401, [700024]),
         "an assertion valid for more than 10 minutes: AADSTS700024")
    r = token(f, client_id=ROTATOR, client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
              client_assertion=assertion(certs, f.login_base + "/common/oauth2/v2.0/token"))
    t.eq(aad_code(r), (401, [700023]), "an assertion for another audience: AADSTS700023")
    r = token(f, client_id=TARGET, client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
              client_assertion=assertion(certs, f.token_url(TENANT), client_id=TARGET))
    t.eq(aad_code(r), (401, [700027]), "a certificate not registered on the app: AADSTS700027")
    return bearer


# --- graph --------------------------------------------------------------------

def test_graph_auth(f, bearer):
    r = graph(f, None, "GET", "/applications/" + TARGET_OID)
    err = (r.json() or {}).get("error", {})
    t.ok(r.status == 401 and err.get("code") == "InvalidAuthenticationToken"
         and set(err.get("innerError", {})) >= {"date", "request-id", "client-request-id"}
         and r.headers.get("request-id"),
         "Graph without a bearer: 401 InvalidAuthenticationToken with innerError and request-id", r)
    r = graph(f, "not-a-token", "GET", "/applications/" + TARGET_OID)
    t.eq(r.status, 401, "Graph with a bearer the identity fake never issued: 401")
    r = graph(f, bearer, "GET", "/applications/" + TARGET_OID, headers={"client-request-id": "cr-1"})
    t.eq((r.status, r.headers.get("client-request-id")), (200, "cr-1"),
         "Graph echoes client-request-id")


def test_graph_list(f, bearer):
    q = urllib.parse.quote("appId eq '%s'" % TARGET)
    r = graph(f, bearer, "GET", "/applications?$filter=%s&$select=id,appId,displayName,passwordCredentials" % q)
    v = (r.json() or {}).get("value", [])
    ok = r.status == 200 and len(v) == 1 and v[0]["id"] == TARGET_OID and "keyCredentials" not in v[0]
    pcs = v[0]["passwordCredentials"] if ok else []
    t.ok(ok and len(pcs) == 2 and all(p["secretText"] is None for p in pcs)
         and {p["hint"] for p in pcs} == {"cur", "old"},
         "applications?$filter=appId eq: one app, selected fields, hints, never secretText", r)


def test_add_remove(f, bearer):
    r = graph(f, bearer, "POST", "/applications/%s/addPassword" % TARGET_OID,
              {"passwordCredential": {"displayName": "rekey-rot-1"}})
    p = r.json() or {}
    t.ok(r.status == 200 and re.match(r"^[0-9a-f-]{36}$", p.get("keyId", ""))
         and p["hint"] == p["secretText"][:3] and len(p["secretText"]) == 40 and "Q~" in p["secretText"]
         and p["displayName"] == "rekey-rot-1" and p["customKeyIdentifier"] is None,
         "addPassword: keyId, secretText once, hint = its first 3 characters", r)
    t.ok(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{1,7}Z$", p.get("startDateTime", ""))
         and p["endDateTime"][:4] == str(int(p["startDateTime"][:4]) + 2)
         and p["endDateTime"][4:] == p["startDateTime"][4:],
         "addPassword without endDateTime: Graph's time format, end = start + 2 years", p)
    r = graph(f, bearer, "GET", "/applications(appId='%s')" % TARGET)
    listed = [c for c in r.json()["passwordCredentials"] if c["keyId"] == p.get("keyId")]
    t.ok(len(listed) == 1 and listed[0]["secretText"] is None and listed[0]["hint"] == p["hint"],
         "the new password is listed (addressed by appId) without its text", r)
    r = graph(f, bearer, "POST", "/applications/%s/removePassword" % TARGET_OID, {"keyId": p["keyId"]})
    t.eq(r.status, 204, "removePassword: 204", r)
    r = graph(f, bearer, "POST", "/applications/%s/removePassword" % TARGET_OID, {"keyId": p["keyId"]})
    t.eq((r.status, gcode(r)), (404, "Request_ResourceNotFound"), "removePassword of an unknown keyId: 404", r)
    f.seed({"secret_style": "legacy"})
    legacy = []
    for _ in range(5):  # enough draws that a '+' or '/' is all but certain
        legacy.append(graph(f, bearer, "POST", "/applications/%s/addPassword" % TARGET_OID, {}).json())
    f.seed({"secret_style": "modern"})
    oks = [token(f, client_id=TARGET, client_secret=p2["secretText"]).status for p2 in legacy]
    raw = f.call("identity", "POST", "/%s/oauth2/v2.0/token" % TENANT,
                 "grant_type=client_credentials&scope=%s&client_id=%s&client_secret=%s"
                 % (urllib.parse.quote(f.graph_scope), TARGET, legacy[0]["secretText"]),
                 {"Content-Type": "application/x-www-form-urlencoded"})
    t.ok(oks == [200] * 5 and any(c in "".join(p2["secretText"] for p2 in legacy) for c in "+/:@")
         and (raw.status == 200) == ("+" not in legacy[0]["secretText"] and "&" not in legacy[0]["secretText"]),
         "legacy secrets (+ / : @ ...) work form-encoded; a raw '+' decodes to a space", (oks, legacy[0]))
    for p2 in legacy:
        graph(f, bearer, "POST", "/applications/%s/removePassword" % TARGET_OID, {"keyId": p2["keyId"]})
    return p


def test_propagation(f, bearer):
    f.seed({"propagation_ms": 1500})
    r = graph(f, bearer, "POST", "/applications/%s/addPassword" % TARGET_OID,
              {"passwordCredential": {"displayName": "prop", "endDateTime": iso(time.time() + 86400 * 30)}})
    secret = r.json()["secretText"]
    first = token(f, client_id=TARGET, client_secret=secret)
    time.sleep(1.6)
    second = token(f, client_id=TARGET, client_secret=secret)
    t.ok(aad_code(first) == (401, [7000215]) and second.status == 200,
         "a new secret is refused (7000215) until propagation_ms has passed, then accepted",
         "%r then %r" % (first, second))
    f.seed({"propagation_ms": 0})
    return r.json()["keyId"]


def test_concurrency(f, bearer):
    # A wide window, so that a loaded machine cannot make the two miss each other.
    f.seed({"credential_change_ms": 800})
    results = []

    def add():
        results.append(graph(f, bearer, "POST", "/applications/%s/addPassword" % TARGET_OID,
                             {"passwordCredential": {"displayName": "race"}}))
    threads = [threading.Thread(target=add) for _ in range(2)]
    for th in threads:
        th.start()
        time.sleep(0.05)
    for th in threads:
        th.join()
    codes = sorted(r.status for r in results)
    loser = [r for r in results if r.status != 200]
    t.ok(codes == [200, 400] and gcode(loser[0]) == "Directory_ConcurrencyViolation"
         and loser[0].json()["error"]["message"] == CONCURRENCY,
         "overlapping addPassword on one app: one 200, one 400 with the concurrency message", results)
    f.seed({"credential_change_ms": 200})
    for r in results:
        if r.status == 200:
            graph(f, bearer, "POST", "/applications/%s/removePassword" % TARGET_OID, {"keyId": r.json()["keyId"]})


def test_policy_and_permissions(f, bearer):
    f.seed({"max_lifetime_days": 180})
    r = graph(f, bearer, "POST", "/applications/%s/addPassword" % TARGET_OID,
              {"passwordCredential": {"displayName": "long", "endDateTime": iso(time.time() + 86400 * 365)}})
    err = (r.json() or {}).get("error", {})
    t.ok(r.status == 400 and err.get("code") == "CredentialInvalidLifetimeAsPerAppPolicy"
         and err.get("details", [{}])[0].get("code") == "InvalidKeyEndDate",
         "endDateTime beyond the tenant policy: 400 CredentialInvalidLifetimeAsPerAppPolicy / InvalidKeyEndDate", r)
    f.seed({"max_lifetime_days": None})
    stranger = token(f, client_id=STRANGER, client_secret=STRANGER_SECRET).json()["access_token"]
    r = graph(f, stranger, "POST", "/applications/%s/addPassword" % TARGET_OID, {})
    t.eq((r.status, gcode(r)), (403, "Authorization_RequestDenied"),
         "OwnedBy without being an owner: 403 Authorization_RequestDenied", r)


def test_owners_users(f, bearer):
    f.seed({"page_size": 2})
    r = graph(f, bearer, "GET", "/applications/%s/owners" % TARGET_OID)
    page1 = r.json()
    link = page1.get("@odata.nextLink", "")
    page2 = f.call("graph", "GET", link[len(f.url("graph")):], headers={"Authorization": "Bearer " + bearer}).json() \
        if link.startswith(f.url("graph")) else {}
    owners = page1.get("value", []) + page2.get("value", [])
    types = sorted(o["@odata.type"] for o in owners)
    t.ok(len(page1.get("value", [])) == 2 and "$skiptoken=" in link and "@odata.nextLink" not in page2
         and types == ["#microsoft.graph.servicePrincipal", "#microsoft.graph.user", "#microsoft.graph.user"]
         and owners[0]["mail"] == "one@contoso.com" and owners[1]["mail"] is None,
         "owners page by @odata.nextLink; users carry mail (null falls back to UPN)", owners)
    f.seed({"page_size": 100})
    r = graph(f, bearer, "GET", "/users/u1?$select=id,mail,userPrincipalName,accountEnabled,"
                                "signInSessionsValidFromDateTime,lastPasswordChangeDateTime")
    u = r.json()
    t.ok(r.status == 200 and u["accountEnabled"] is True and u["lastPasswordChangeDateTime"] == "2025-06-01T00:00:00Z"
         and "displayName" not in u, "users/{id}?$select returns exactly the selected fields", u)
    r = graph(f, bearer, "GET", "/users/two@contoso.onmicrosoft.com")
    t.ok(r.status == 200 and r.json()["id"] == "u2" and "accountEnabled" not in r.json(),
         "users/{upn} works; without $select only the default fields", r)
    t.eq((graph(f, bearer, "GET", "/users/nobody").status), 404, "an unknown user: 404")


def test_subscriptions(f, bearer, certs):
    rec = Receiver(certs=certs, status=202)
    try:
        sub = {"changeType": "updated,deleted", "resource": "/users",
               "notificationUrl": rec.url("/webhooks/graph/prod"),
               "lifecycleNotificationUrl": rec.url("/webhooks/graph/prod/lifecycle"),
               "expirationDateTime": iso(time.time() + 86400 * 2), "clientState": "cs-" + uuid.uuid4().hex,
               "latestSupportedTlsVersion": "v1_2"}
        r = graph(f, bearer, "POST", "/subscriptions", sub)
        vals = f.validations()
        seen = [g[2] for g in rec.got if g[0] == "validation"]
        t.ok(r.status == 201 and r.json()["id"] and len(vals) == 2 and all(v["failure"] is None for v in vals)
             and seen == [v["token"] for v in vals] and " " in seen[0] and "+" in seen[0],
             "creating a subscription validates both URLs over HTTPS with an opaque token", (r, vals))
        sid = r.json()["id"]
        rec.echo_ok = False
        r = graph(f, bearer, "POST", "/subscriptions", sub)
        t.ok(r.status == 400 and gcode(r) == "ValidationError" and "exactly match" in r.json()["error"]["message"],
             "a wrong validation echo fails the create with 400 ValidationError", r)
        rec.echo_ok = True
        r = graph(f, bearer, "POST", "/subscriptions", dict(sub, expirationDateTime=iso(time.time() + 86400 * 30)))
        t.ok(r.status == 400 and gcode(r) == "ExtensionError" and r.json()["error"]["message"] ==
             "Subscription expiration can only be 41760 minutes in the future.",
             "an expiration beyond 41760 minutes is refused with Graph's words", r)
        near = dict(sub, expirationDateTime=iso(time.time() + 41760 * 60 - 30))
        f.seed({"graph_clock_offset_s": -600})
        r = graph(f, bearer, "POST", "/subscriptions", near)
        f.seed({"graph_clock_offset_s": 0, "subscription_expiry_error": "timespan",
                "subscription_max_minutes": 1440})
        r2 = graph(f, bearer, "POST", "/subscriptions", near)
        r3 = graph(f, bearer, "PATCH", "/subscriptions/" + sid, {"expirationDateTime": near["expirationDateTime"]})
        f.seed({"subscription_expiry_error": "minutes", "subscription_max_minutes": 41760})
        msg = r2.json()["error"]["message"] if r2.status == 400 else ""
        t.ok(r.status == 400 and "41760 minutes" in r.json()["error"]["message"],
             "graph_clock_offset_s -600: just under the maximum by our clock is past it by Graph's", r)
        t.ok(r2.status == 400 and msg.startswith("Operation: Create; Exception: [Status Code: BadRequest; "
                                                 "Reason: Expiration time '")
             and msg.endswith("is beyond allowed max '1.00:00:00'.]") and r3.status == 400
             and "Operation: Update;" in r3.json()["error"]["message"],
             "subscription_expiry_error timespan, on create and renew (subscription_max_minutes 1440)",
             (r2, r3))
        for resource in ("/users", "/groups"):
            r = graph(f, bearer, "POST", "/subscriptions", dict(sub, resource=resource, includeResourceData=True,
                                                                encryptionCertificate="MIIB",
                                                                encryptionCertificateId="notify-2026"))
            t.ok(r.status == 400 and gcode(r) == "ExtensionError" and "rich notifications" in
                 r.json()["error"]["message"], "includeResourceData on %s: 400 (no rich notifications)"
                 % resource, r)
        n = f.notify_graph(sid, [{"changeType": "updated", "user_id": "u1"}])
        got = json.loads(rec.posts()[-1][3]) if rec.posts() else {}
        item = (got.get("value") or [{}])[0]
        t.ok(n["status"] == 202 and item.get("clientState") == sub["clientState"] and item["subscriptionId"] == sid
             and item["resource"] == "Users/u1" and item["resourceData"]["id"] == "u1"
             and item["tenantId"] == TENANT and rec.posts()[-1][1] == "/webhooks/graph/prod",
             "/_fake/notify posts the change batch to notificationUrl and reports the status", (n, got))
        t.ok(set(item) == {"id", "subscriptionId", "subscriptionExpirationDateTime", "clientState", "changeType",
                           "resource", "tenantId", "resourceData"} and "validationTokens" not in got,
             "a basic item: no encryptedContent, and the batch has no validationTokens", got)
        f.notify_graph(sid, [{"changeType": "deleted", "user_id": "u1", "extra": {"encryptedContent": {"data": "x"}}}])
        item = json.loads(rec.posts()[-1][3])["value"][0]
        t.ok(item["changeType"] == "deleted" and item["encryptedContent"] == {"data": "x"},
             "changeType deleted; extra fields (forgeries) are merged into the item", item)
        try:
            f.notify_graph(sid, [{"user_id": "u1"}], encrypted=True)
            refused = ""
        except Exception as e:
            refused = str(e)
        t.ok(" 400 " in refused, "notify refuses encrypted: Graph sends no rich user notifications", refused)
        n = f.lifecycle_graph(sid)
        got = json.loads(rec.posts()[-1][3])
        t.ok(n["status"] == 202 and got["value"][0]["lifecycleEvent"] == "reauthorizationRequired"
             and rec.posts()[-1][1].endswith("/lifecycle"),
             "/_fake/lifecycle posts reauthorizationRequired to lifecycleNotificationUrl", got)
        r = graph(f, bearer, "POST", "/subscriptions", dict(sub, resource="/applications"))
        try:
            f.notify_graph(r.json()["id"])
            delivered = True
        except Exception as e:
            delivered = "never delivers" not in str(e)
        t.ok(r.status == 201 and not delivered,
             "a subscription on /applications is accepted and then never delivers", r)
        r1 = graph(f, bearer, "PATCH", "/subscriptions/" + sid, {"expirationDateTime": iso(time.time() + 86400 * 3)})
        r2 = graph(f, bearer, "POST", "/subscriptions/%s/reauthorize" % sid)
        r3 = graph(f, bearer, "DELETE", "/subscriptions/" + sid)
        r4 = graph(f, bearer, "PATCH", "/subscriptions/" + sid, {"expirationDateTime": iso(time.time() + 86400)})
        t.eq([r1.status, r2.status, r3.status, r4.status], [200, 204, 204, 404],
             "renew 200, reauthorize 204, delete 204, then renew 404")
    finally:
        rec.close()


# --- validation tokens ------------------------------------------------------------
# Signature checks use the openssl CLI (Python has no RSA and the tests use
# nothing beyond the standard library).

CHANGE_TRACKING = "0bf30f3b-4a52-48df-9a82-234910c4a086"


def openssl(args, data):
    """Runs openssl with data on stdin; its stdout, or None when it fails."""
    r = subprocess.run(["openssl"] + args, input=data, capture_output=True)
    return r.stdout if r.returncode == 0 else None


def jwt_parts(jwt):
    h, c, s = jwt.split(".")
    dec = lambda p: base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))  # noqa: E731
    return json.loads(dec(h)), json.loads(dec(c)), (h + "." + c).encode(), dec(s)


def _der(tag, body):
    n = len(body)
    if n < 128:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def jwk_pem(jwk):
    """The PEM (SubjectPublicKeyInfo) of an RSA JWK, from n and e."""
    dec = lambda p: int.from_bytes(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)), "big")  # noqa: E731
    integer = lambda i: _der(0x02, i.to_bytes(i.bit_length() // 8 + 1, "big"))  # noqa: E731
    rsa = _der(0x30, integer(dec(jwk["n"])) + integer(dec(jwk["e"])))
    alg = _der(0x30, _der(0x06, bytes.fromhex("2a864886f70d010101")) + b"\x05\x00")
    spki = base64.b64encode(_der(0x30, alg + _der(0x03, b"\x00" + rsa))).decode()
    return "-----BEGIN PUBLIC KEY-----\n%s\n-----END PUBLIC KEY-----\n" % "\n".join(
        spki[i:i + 64] for i in range(0, len(spki), 64))


def rs256_ok(pem, signing_input, sig, work):
    pub, sigf = os.path.join(work, "jwk.pem"), os.path.join(work, "jwt.sig")
    with open(pub, "w") as f:
        f.write(pem)
    with open(sigf, "wb") as f:
        f.write(sig)
    return openssl(["dgst", "-sha256", "-verify", pub, "-signature", sigf], signing_input) is not None


def token_faults(jwt, jwks, aud, work, version=2):
    """What is wrong with a validationToken, as a set of words: 'kid', 'sig',
    'aud', 'iss', 'app', 'time', 'header'; empty when it is good."""
    header, claims, signing_input, sig = jwt_parts(jwt)
    bad = set()
    if header.get("typ") != "JWT" or header.get("alg") != "RS256" or header.get("x5t") != header.get("kid"):
        bad.add("header")
    key = [k for k in jwks["keys"] if k["kid"] == header.get("kid")]
    if not key:
        bad.add("kid")
    elif not rs256_ok(jwk_pem(key[0]), signing_input, sig, work):
        bad.add("sig")
    if claims.get("aud") != aud:
        bad.add("aud")
    iss = "https://sts.windows.net/%s/" % TENANT if version == 1 else "https://login.microsoftonline.com/%s/v2.0" % TENANT
    if claims.get("iss") != iss or claims.get("tid") != TENANT:
        bad.add("iss")
    if claims.get("appid" if version == 1 else "azp") != CHANGE_TRACKING:
        bad.add("app")
    now = time.time()
    if not (claims.get("nbf", 1e12) <= now < claims.get("exp", 0)):
        bad.add("time")
    return bad


def test_validation_tokens(f, bearer, certs):
    """validationTokens, which Graph sends only with rich notifications: the
    fake can still add them to a batch (token=...) for tests of a daemon
    that checks tokens whenever a batch carries some."""
    work = tempfile.mkdtemp(prefix="rekey-tokens-")
    rec = Receiver(certs=certs, status=202)
    try:
        sub = {"changeType": "updated,deleted", "resource": "/users", "notificationUrl": rec.url("/webhooks/graph/prod"),
               "lifecycleNotificationUrl": rec.url("/webhooks/graph/prod/lifecycle"),
               "expirationDateTime": iso(time.time() + 86400), "clientState": "cs-" + uuid.uuid4().hex}
        sid = graph(f, bearer, "POST", "/subscriptions", sub).json()["id"]
        target = token(f, client_id=TARGET, client_secret=CURRENT).json()["access_token"]
        other_sid = graph(f, target, "POST", "/subscriptions", sub).json()["id"]

        jwks = f.jwks()
        k = jwks["keys"][0] if jwks.get("keys") else {}
        t.ok(len(jwks["keys"]) == 1 and {"kty", "use", "kid", "x5t", "n", "e"} <= set(k) and k["kty"] == "RSA"
             and k["use"] == "sig" and k["e"] == "AQAB" and "=" not in k["n"]
             and len(base64.urlsafe_b64decode(k["n"] + "=" * (-len(k["n"]) % 4))) == 256,
             "the identity fake publishes an RSA-2048 JWKS at /common/discovery/v2.0/keys", jwks)
        t.ok(f.jwks_url() == f.login_base + "/common/discovery/v2.0/keys" and f.jwks(TENANT)["keys"][0]["kid"] == k["kid"]
             and f.jwks("contoso.onmicrosoft.com")["keys"][0]["n"] == k["n"],
             "the same keys at /{tenant}/discovery/v2.0/keys (id or domain)")
        r = f.call("identity", "GET", "/no-such-tenant/discovery/v2.0/keys")
        t.eq(aad_code(r), (400, [90002]), "the JWKS of an unknown tenant: 400 AADSTS90002", r)

        before = f.jwks_requests()
        n = f.notify_graph(sid, [{"changeType": "updated", "user_id": "u1"}], token="valid")
        got = json.loads(rec.posts()[-1][3])
        tokens = got.get("validationTokens", [])
        t.ok(n["status"] == 202 and len(tokens) == 1 and token_faults(tokens[0], f.jwks(), ROTATOR, work) == set(),
             "one validationToken for one app and tenant; it verifies against the JWKS", tokens)
        header, claims, _, _ = jwt_parts(tokens[0])
        now = time.time()
        t.ok(set(header) == {"typ", "alg", "kid", "x5t"} and header["kid"] == k["kid"]
             and claims["aud"] == ROTATOR and claims["iss"] == "https://login.microsoftonline.com/%s/v2.0" % TENANT
             and claims["azp"] == CHANGE_TRACKING and claims["tid"] == TENANT and abs(claims["iat"] - now) < 30
             and claims["nbf"] == claims["iat"] - 300 and claims["exp"] == claims["iat"] + 3600,
             "the token: RS256 with kid/x5t, aud = the subscribing app, v2 iss, azp = Graph Change Tracking",
             (header, claims))
        t.eq(f.jwks_requests(), before + 1, "GET /_fake/jwks/requests counts the JWKS fetches")

        f.notify_graph(sid, [{"user_id": "u1"}], token="valid", token_version=1)
        tok = json.loads(rec.posts()[-1][3])["validationTokens"][0]
        _, claims, _, _ = jwt_parts(tok)
        t.ok(token_faults(tok, jwks, ROTATOR, work, version=1) == set() and "azp" not in claims
             and claims["iss"] == "https://sts.windows.net/%s/" % TENANT,
             "token_version 1: iss sts.windows.net/{tenant}/ and appid", claims)

        f.notify_graph(sid, [{"user_id": "u1", "subscription_id": sid}, {"user_id": "u1", "subscription_id": other_sid},
                             {"user_id": "u2", "subscription_id": sid}], token="valid")
        tokens = json.loads(rec.posts()[-1][3])["validationTokens"]
        t.ok(len(tokens) == 2 and [jwt_parts(x)[1]["aud"] for x in tokens] == [ROTATOR, TARGET]
             and all(token_faults(x, jwks, a, work) == set() for x, a in zip(tokens, [ROTATOR, TARGET])),
             "a batch over two apps' subscriptions carries one token per app", tokens)

        want = {"valid": set(), "expired": {"time"}, "not_yet_valid": {"time"}, "forged": {"sig"},
                "unknown_kid": {"kid"}, "wrong_aud": {"aud"}, "wrong_iss": {"iss"}, "wrong_appid": {"app"}}
        for kind, faults in want.items():
            for version in (2, 1):
                f.notify_graph(sid, [{"user_id": "u1"}], token=kind, token_version=version)
                got = json.loads(rec.posts()[-1][3])
                toks = got.get("validationTokens", [])
                found = token_faults(toks[0], jwks, ROTATOR, work, version) if len(toks) == 1 else None
                t.eq(found, faults, "token %s (v%d) is wrong in exactly that way" % (kind, version), toks)
        f.notify_graph(sid, [{"user_id": "u1"}], token="none")
        got = json.loads(rec.posts()[-1][3])
        t.ok("validationTokens" not in got, "token none: no validationTokens", got)
        for kw in ({"token": "nonsense"}, {"token_version": 3}):
            try:
                f.notify_graph(sid, [{"user_id": "u1"}], token=kw.get("token", "valid"),
                               token_version=kw.get("token_version"))
                refused = ""
            except Exception as e:
                refused = str(e)
            t.ok(" 400 " in refused, "notify refuses an unknown %s" % list(kw)[0], refused)

        old_kid = k["kid"]
        r = f.rotate_jwks()
        keys = f.jwks()
        f.notify_graph(sid, [{"user_id": "u1"}], token="valid")
        tok = json.loads(rec.posts()[-1][3])["validationTokens"][0]
        t.ok(r["kid"] != old_kid and r["kids"] == [old_kid, r["kid"]] and [x["kid"] for x in keys["keys"]] == r["kids"]
             and jwt_parts(tok)[0]["kid"] == r["kid"] and token_faults(tok, keys, ROTATOR, work) == set()
             and "kid" in token_faults(tok, jwks, ROTATOR, work),
             "rotate keep_old: both keys published, the new one signs (a cached old JWKS lacks its kid)", (r, keys))
        r2 = f.rotate_jwks(keep_old=False)
        keys = f.jwks()
        f.notify_graph(sid, [{"user_id": "u1"}], token="valid")
        tok = json.loads(rec.posts()[-1][3])["validationTokens"][0]
        t.ok(r2["kids"] == [r2["kid"]] and [x["kid"] for x in keys["keys"]] == [r2["kid"]]
             and token_faults(tok, keys, ROTATOR, work) == set(),
             "rotate without keep_old: only the new key is published, and it signs", (r2, keys))
        f.script("identity", [{"path": "discovery", "action": {"status": 503}}])
        n0 = f.jwks_requests()
        r = f.call("identity", "GET", "/common/discovery/v2.0/keys")
        t.ok(r.status == 503 and f.jwks_requests() == n0 + 1,
             "JWKS fetches can be scripted to fail, and still count", r)
    finally:
        rec.close()
        shutil.rmtree(work, ignore_errors=True)


# --- nylas --------------------------------------------------------------------

def test_nylas_connector(f):
    r = nylas(f, "GET", "/v3/connectors/microsoft", key=None)
    t.ok(r.status == 401 and r.json()["error"]["type"] == "api.authentication_error"
         and r.json()["request_id"] == r.headers.get("x-request-id"),
         "Nylas without the API key: 401 api.authentication_error, request_id = x-request-id", r)
    r = nylas(f, "GET", "/v3/connectors/microsoft")
    d = r.json()["data"]
    t.ok(r.status == 200 and d["provider"] == "microsoft" and d["settings"] == {"client_id": TARGET, "tenant": TENANT},
         "GET connector: client_id and tenant, never the secret", r)
    r = nylas(f, "PATCH", "/v3/connectors/microsoft", {"settings": {"client_id": TARGET, "tenant": TENANT}})
    t.eq((r.status, r.json()["error"]["type"]), (400, "api.invalid_request_error"),
         "PATCH connector without client_secret: 400 (settings replace the whole object)", r)
    new = "new8Q~" + "n" * 34
    r = nylas(f, "PATCH", "/v3/connectors/microsoft",
              {"settings": {"client_id": TARGET, "client_secret": new, "tenant": TENANT}})
    state = f.state()["nylas"]["connector"]["settings"]
    t.ok(r.status == 200 and "client_secret" not in r.json()["data"]["settings"] and state["client_secret"] == new,
         "PATCH connector with all three: 200 and Nylas now holds the new secret", r)
    r = nylas(f, "PUT", "/v3/connectors/microsoft", {"settings": {"client_id": TARGET, "client_secret": CURRENT,
                                                                  "tenant": TENANT}})
    t.eq(r.status, 200, "PUT (the Node SDK's form) is accepted with the same rules")
    r = nylas(f, "PATCH", "/v3/connectors/microsoft/creds/cred-1",
              {"credential_data": {"client_id": TARGET, "client_secret": new, "tenant": TENANT}})
    t.ok(r.status == 200 and "credential_data" not in r.json()["data"]
         and f.state()["nylas"]["credentials"]["cred-1"]["credential_data"]["client_secret"] == new,
         "PATCH connector credential: 200, data not echoed, secret stored", r)
    t.eq(nylas(f, "PATCH", "/v3/connectors/microsoft/creds/nope", {"credential_data": {}}).status, 404,
         "an unknown connector credential: 404")
    test_nylas_tenant_and_active_credential(f)


def test_nylas_tenant_and_active_credential(f):
    conn = "/v3/connectors/microsoft"
    r = nylas(f, "PATCH", conn, {"settings": {"client_id": TARGET, "client_secret": CURRENT}})
    t.ok(r.status == 200 and f.state()["nylas"]["connector"]["settings"] == {"client_id": TARGET,
                                                                            "client_secret": CURRENT},
         "PATCH connector without tenant: 200, settings replaced whole (no tenant left)", r)
    t.eq(nylas(f, "GET", conn).json()["data"]["settings"], {"client_id": TARGET},
         "GET connector after it: no tenant shown")
    nylas(f, "PATCH", conn, {"settings": {"client_id": TARGET, "client_secret": CURRENT, "tenant": "common"}})
    f.seed({"nylas": {"connector_get_hides_tenant": True}})
    t.eq(nylas(f, "GET", conn).json()["data"]["settings"], {"client_id": TARGET},
         "connector_get_hides_tenant: GET leaves the tenant out")
    t.eq(f.state()["nylas"]["connector"]["settings"]["tenant"], "common", "... which Nylas still holds")
    f.seed({"nylas": {"connector_get_hides_tenant": None}})
    t.eq(f.nylas_effective(), {"source": "settings", "credential_id": None, "data": {
        "client_id": TARGET, "client_secret": CURRENT, "tenant": "common"}},
        "effective sign-in data: settings without active_credential_id")
    f.seed({"nylas": {"connector": {"active_credential_id": "cred-1"}}})
    t.eq(nylas(f, "GET", conn).json()["data"].get("active_credential_id"), "cred-1",
         "GET connector shows active_credential_id")
    cred = f.state()["nylas"]["credentials"]["cred-1"]["credential_data"]
    eff = f.nylas_effective()
    t.eq((eff["source"], eff["credential_id"], eff["data"]), ("active_credential", "cred-1", cred),
         "effective sign-in data: the active credential's")
    other = "oth8Q~" + "o" * 34
    path = conn + "/creds/cred-1"
    r = nylas(f, "PATCH", path, {"credential_data": {"client_id": TARGET, "client_secret": other}})
    t.ok(r.status == 200 and f.nylas_effective()["data"] == {"client_id": TARGET, "client_secret": other},
         "PATCH credential without tenant (replace, documented): the tenant is gone", r)
    t.eq(nylas(f, "PATCH", path, {"credential_data": {"client_id": TARGET}}).status, 400,
         "PATCH credential without client_secret: 400")
    f.seed({"nylas": {"credential_patch": "merge"}})
    nylas(f, "PATCH", path, {"credential_data": {"client_id": TARGET, "client_secret": CURRENT,
                                                 "tenant": TENANT}})
    nylas(f, "PATCH", path, {"credential_data": {"client_id": TARGET, "client_secret": other}})
    t.eq(f.nylas_effective()["data"], {"client_id": TARGET, "client_secret": other, "tenant": TENANT},
         "PATCH credential without tenant (merge): the tenant is kept")
    nylas(f, "PATCH", path, {"credential_data": {"client_id": TARGET, "client_secret": CURRENT,
                                                 "tenant": TENANT}})
    nylas(f, "PATCH", conn, {"settings": {"client_id": TARGET, "client_secret": CURRENT, "tenant": TENANT}})
    f.seed({"nylas": {"credential_patch": None, "connector": {"active_credential_id": None}}})


def test_nylas_grants(f):
    f.add_grants(generate={"count": 25, "grant_status": "invalid", "email_pattern": "bad{i}@contoso.com"})
    f.add_grants(generate={"count": 5, "grant_status": "valid", "email_pattern": "good{i}@contoso.com"})
    seen, offset = [], 0
    while True:
        r = nylas(f, "GET", "/v3/grants?provider=microsoft&grant_status=invalid&limit=10&offset=%d" % offset)
        page = r.json()["data"]
        seen += [g["id"] for g in page]
        if len(page) < 10:
            break
        offset += 10
    t.ok(len(seen) == 25 == len(set(seen)) and "next_cursor" not in r.json(),
         "grants by limit/offset: 25 invalid grants, no duplicates", r)
    f.seed({"nylas": {"grants_paging": "cursor"}})
    seen, path, pages = [], "/v3/grants?provider=microsoft&grant_status=invalid&limit=10", 0
    while path:
        body = nylas(f, "GET", path).json()
        seen += [g["id"] for g in body["data"]]
        pages += 1
        cur = body.get("next_cursor")
        path = "/v3/grants?provider=microsoft&grant_status=invalid&limit=10&page_token=" + cur if cur else None
    t.ok(len(seen) == 25 == len(set(seen)) and pages == 3,
         "grants by next_cursor/page_token: the same 25 in 3 pages", seen)
    g = nylas(f, "GET", "/v3/grants?limit=1").json()["data"][0]
    t.ok(set(g) >= {"id", "provider", "grant_status", "email", "created_at", "updated_at", "credential_id"},
         "a grant carries id, provider, grant_status, email, created_at, updated_at, credential_id", g)
    f.seed({"nylas": {"grants_paging": "offset"}})


def test_nylas_send(f):
    good = [g for g in f.state()["nylas"]["grants"] if g["grant_status"] == "valid"][0]
    msg = {"to": [{"email": "ops@contoso.com"}], "subject": "secret rotated", "body": "done"}
    h = {"Idempotency-Key": "rot-1-mail"}
    r1 = nylas(f, "POST", "/v3/grants/%s/messages/send" % good["id"], msg, headers=h)
    r2 = nylas(f, "POST", "/v3/grants/%s/messages/send" % good["id"], msg, headers=h)
    sent = [m for m in f.state()["nylas"]["sent_messages"] if m["idempotency_key"] == "rot-1-mail"]
    t.ok(r1.status == r2.status == 200 and r1.json()["data"]["id"] == r2.json()["data"]["id"] and len(sent) == 1,
         "messages/send with the same Idempotency-Key: same answer, sent once", (r1, r2, sent))
    f.seed({"nylas": {"connector": {"settings": {"client_secret": EXPIRED}}}})
    r = nylas(f, "POST", "/v3/grants/%s/messages/send" % good["id"], msg)
    t.eq(r.status, 504, "a Microsoft grant cannot send while the connector's secret is expired", r)
    f.seed({"nylas": {"connector": {"settings": {"client_secret": CURRENT}}}})


def verify(secret, body, sig):
    return hmac.compare_digest(hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(), sig)


def test_nylas_webhooks(f):
    rec = Receiver()
    try:
        spec = {"trigger_types": ["grant.expired", "grant.updated"], "webhook_url": rec.url("/webhooks/nylas/prod"),
                "description": "rekey", "notification_email_addresses": ["ops@contoso.com"]}
        r = nylas(f, "POST", "/v3/webhooks", spec)
        w = r.json().get("data", {})
        t.ok(r.status == 200 and w.get("webhook_secret") and w["status"] == "active",
             "creating a webhook destination passes the challenge and returns its secret", r)
        rec.echo_ok = False
        r = nylas(f, "POST", "/v3/webhooks", spec)
        t.eq(r.status, 400, "a quoted challenge echo fails the create", r)
        rec.echo_ok = True
        grant = f.state()["nylas"]["grants"][0]
        d = f.deliver_nylas(w["id"], "grant.expired", grant_id=grant["id"])
        _, path, headers, body = rec.posts()[-1]
        env = json.loads(body)
        t.ok(d["status"] == 200 and verify(w["webhook_secret"], body, headers["x-nylas-signature"])
             and env["type"] == "grant.expired" and env["source"] == "/nylas/system"
             and env["data"]["object"]["grant_id"] == grant["id"] and env["data"]["object"]["code"] == 25009
             and isinstance(env["time"], int),
             "a delivery is the Nylas envelope, HMAC-SHA256 hex over the exact bytes", (d, env))
        d = f.deliver_nylas(w["id"], "grant.expired", object_={"grant_id": "g-1"}, compressed=True)
        _, path, headers, body = rec.posts()[-1]
        t.ok(headers.get("content-encoding") == "gzip" and verify(w["webhook_secret"], body, headers["x-nylas-signature"])
             and json.loads(gzip.decompress(body))["data"]["object"]["grant_id"] == "g-1",
             "a compressed delivery is gzip, signed over the compressed bytes", headers)
        old = w["webhook_secret"]
        new = nylas(f, "POST", "/v3/webhooks/rotate-secret/" + w["id"]).json()["data"]["webhook_secret"]
        f.deliver_nylas(w["id"], "grant.updated", object_={"grant_id": "g-2"})
        _, _, headers, body = rec.posts()[-1]
        t.ok(new != old and verify(new, body, headers["x-nylas-signature"])
             and not verify(old, body, headers["x-nylas-signature"]),
             "after rotate-secret deliveries are signed with the new secret only", (old, new))
    finally:
        rec.close()


# --- faults and the request log ----------------------------------------------------

def test_faults(f, bearer):
    f.script("graph", [{"method": "GET", "path": "/applications", "action": {
        "status": 429, "headers": {"Retry-After": "2"},
        "body": {"error": {"code": "TooManyRequests", "message": "slow down"}}}}])
    r1 = graph(f, bearer, "GET", "/applications/" + TARGET_OID)
    r2 = graph(f, bearer, "GET", "/applications/" + TARGET_OID)
    t.ok(r1.status == 429 and r1.headers.get("retry-after") == "2" and r2.status == 200,
         "a scripted 429 with Retry-After fires once, then the normal answer", (r1, r2))
    f.script("identity", [{"path": "/token", "action": {"aadsts": 7000222}}])
    r = token(f, client_id=TARGET, client_secret=CURRENT)
    t.ok(aad_code(r) == (401, [7000222]) and TARGET in r.json()["error_description"],
         "a scripted {aadsts: 7000222} answers exactly as Azure does", r)
    f.script("graph", [{"path": "addPassword", "action": {"graph_error": "Directory_ConcurrencyViolation", "status": 409}}])
    r = graph(f, bearer, "POST", "/applications/%s/addPassword" % TARGET_OID, {})
    t.ok(r.status == 409 and r.json()["error"]["message"] == CONCURRENCY,
         "a scripted graph_error with a status override", r)
    results = []
    f.script("graph", [{"path": "/users/", "action": {"hang": True}}])
    th = threading.Thread(target=lambda: results.append(graph(f, bearer, "GET", "/users/u1")))
    th.start()
    deadline = time.time() + 5
    while f.hung("graph") < 1 and time.time() < deadline:
        time.sleep(0.02)
    held = f.hung("graph") == 1 and not results
    released = f.release("graph")
    th.join(5)
    t.ok(held and released == 1 and results and results[0].status == 200,
         "a hung request waits for /_fake/release, then gets its normal answer", results)
    results = []
    before = len(graph(f, bearer, "GET", "/applications/" + TARGET_OID).json()["passwordCredentials"])
    f.script("graph", [{"path": "addPassword", "body": "hang-after", "action": {"hang_after": True}}])
    th = threading.Thread(target=lambda: results.append(graph(
        f, bearer, "POST", "/applications/%s/addPassword" % TARGET_OID,
        {"passwordCredential": {"displayName": "hang-after"}})))
    th.start()
    deadline = time.time() + 5
    while f.hung("graph") < 1 and time.time() < deadline:
        time.sleep(0.02)
    app = graph(f, bearer, "GET", "/applications/" + TARGET_OID).json()["passwordCredentials"]
    applied = len(app) == before + 1 and not results
    released = f.release("graph")
    th.join(5)
    t.ok(applied and released == 1 and results and results[0].status == 200 and
         results[0].json()["keyId"] in [p["keyId"] for p in app],
         "hang_after applies the request and holds only its answer until released", results)
    for p in app:
        if p["displayName"] == "hang-after":
            graph(f, bearer, "POST", "/applications/%s/removePassword" % TARGET_OID, {"keyId": p["keyId"]})
    f.script("graph", [{"path": "addPassword", "body": "never-in-a-body", "action": {"status": 500}}])
    r = graph(f, bearer, "POST", "/applications/%s/addPassword" % TARGET_OID,
              {"passwordCredential": {"displayName": "body-rule"}})
    t.ok(r.status == 200, "a rule whose body pattern does not match leaves the request alone", r)
    graph(f, bearer, "POST", "/applications/%s/removePassword" % TARGET_OID, {"keyId": r.json()["keyId"]})
    f.clear_script("graph")
    f.script("nylas", [{"path": "/v3/grants", "action": {"reset": True}}])
    try:
        nylas(f, "GET", "/v3/grants")
        reset = False
    except Exception:
        reset = True
    t.ok(reset, "a scripted reset drops the connection without an answer")
    f.script("graph", [{"path": "/users/", "action": {"delay_ms": 300}}])
    start = time.time()
    r = graph(f, bearer, "GET", "/users/u1")
    t.ok(r.status == 200 and time.time() - start >= 0.3, "a scripted delay, then the normal answer")
    f.script("graph", [{"path": "never-matches", "times": 0, "action": {"status": 500}}])
    f.clear_script()
    t.eq(f.call("graph", "GET", "/_fake/script").json()["rules"], [], "DELETE /_fake/script clears the rules")


def test_recording(f, certs):
    f.clear_requests()
    cert_token(f, certs)
    reqs = f.requests("identity")
    form = reqs[0]["form"] if reqs else {}
    t.ok(len(reqs) == 1 and reqs[0]["method"] == "POST" and reqs[0]["path"] == "/%s/oauth2/v2.0/token" % TENANT
         and form.get("client_assertion_type", "").endswith("jwt-bearer") and form.get("scope") == f.graph_scope
         and reqs[0]["headers"]["content-type"].startswith("application/x-www-form-urlencoded")
         and isinstance(reqs[0]["time_ms"], int),
         "the identity fake records method, path, lower-case headers, body and form fields", reqs)
    f.call("graph", "GET", "/v1.0/users/u1")
    f.call("graph", "GET", "/v1.0/applications")
    t.eq(len(f.requests("graph", path_re="users")), 1, "requests can be filtered by a path regex")
    f.clear_requests("graph")
    t.eq(f.requests("graph"), [], "DELETE /_fake/requests clears the log")


def test_untrusted(f):
    try:
        f.call("untrusted", "GET", "/anything")
        refused = False
    except Exception as e:
        refused = "CERTIFICATE_VERIFY_FAILED" in str(e)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    r = f.call("untrusted", "POST", "/v1.0/anything", {"x": 1}, context=ctx)
    t.ok(refused and r.status == 200, "the untrusted server fails verification against ca.crt and answers anything 200")


def main():
    work = tempfile.mkdtemp(prefix="rekey-fakes-test-")
    certs = make_certs(os.path.join(work, "certs"))
    f = Fakes()
    try:
        f.start(certs, state=seed_state(certs))
        t.ok(all(isinstance(f.ports[s], int) for s in ("identity", "graph", "nylas", "untrusted")),
             "fake.js starts four servers and reports their ports")
        test_secrets(f)
        bearer = test_assertions(f, certs)
        test_graph_auth(f, bearer)
        test_graph_list(f, bearer)
        test_add_remove(f, bearer)
        test_propagation(f, bearer)
        test_concurrency(f, bearer)
        test_policy_and_permissions(f, bearer)
        test_owners_users(f, bearer)
        test_subscriptions(f, bearer, certs)
        test_validation_tokens(f, bearer, certs)
        test_nylas_connector(f)
        test_nylas_grants(f)
        test_nylas_send(f)
        test_nylas_webhooks(f)
        test_faults(f, bearer)
        test_recording(f, certs)
        test_untrusted(f)
    except Exception:
        print("# fake.js log:\n" + "\n".join("#   " + line for line in f.log_text().splitlines()[-40:]))
        raise
    finally:
        proc = f.proc
        f.stop()
        t.ok(proc is None or proc.poll() is not None, "stop() leaves no fake process running")
        shutil.rmtree(work, ignore_errors=True)
    t.done()


main()
