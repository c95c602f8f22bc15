"""Nylas intake against the real daemon over real TLS: every status of the
contract, the second secret line, gzip, duplicates, metrics, and that the
log never carries a secret."""

import gzip
import json
import os
import socket
import ssl
import sys
import time
import warnings

# The TLS 1.1 refusal check needs the deprecated constant on purpose.
warnings.filterwarnings("ignore", category=DeprecationWarning)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import Daemon, Tap, envelope, sign  # noqa: E402

t = Tap()
d = Daemon(extra_server="max_body = 4096")
try:
    d.start()

    # Challenge: the exact value, as text/plain.
    st, h, body = d.request("GET", "/webhooks/nylas/prod?challenge=abc%2B%20x-123")
    t.eq(st, 200, "challenge answered 200")
    t.eq(body, b"abc+ x-123", "challenge echoes the decoded value exactly")
    t.ok(h.get("content-type", "").startswith("text/plain"), "challenge is text/plain")
    # An echo of the caller's text must never be sniffed into a page on this origin.
    for path in ("/webhooks/nylas/prod?challenge=%3Cscript%3E", "/healthz", "/nothing",
                 "/webhooks/graph/prod?validationToken=%3Chtml%3E", "/api/v1/status"):
        method = "POST" if "graph" in path else "GET"
        _, h, _ = d.request(method, path)
        t.eq((h.get("x-content-type-options"), h.get("content-security-policy")),
             ("nosniff", "default-src 'none'; frame-ancestors 'none'"),
             "nosniff and CSP on " + path)
        t.eq(h.get("referrer-policy"), "no-referrer", "no Referer onwards from " + path)
    st, _, _ = d.request("GET", "/webhooks/nylas/prod")
    t.eq(st, 400, "GET without challenge is 400")

    # A signed grant.expired is stored with its parsed fields.
    env = envelope(email="ann@example.com", grant_id="grant-ann")
    st, h, body = d.post_nylas(env)
    t.eq(st, 200, "signed grant.expired answered 200")
    t.ok("x-request-id" in h, "answer carries X-Request-Id")
    rows = d.events("event_id = ?", (env["id"],))
    t.eq(len(rows), 1, "event is in the store once")
    r = rows[0] if rows else {}
    t.eq((r.get("type"), r.get("grant_id"), r.get("email"), r.get("provider"),
          r.get("integration_id"), r.get("code"), r.get("event_time"),
          r.get("grant_updated_at"), r.get("app"), r.get("source")),
         ("grant.expired", "grant-ann", "ann@example.com", "microsoft", "int-1", 25009,
          1739223251, 1734200000, "prod", "nylas"), "parsed grant fields stored")
    t.eq(json.loads(r.get("body", b"{}")), env, "raw body stored")

    # Duplicate id: 200, stored once.
    st, _, body = d.post_nylas(env)
    t.eq((st, body.strip()), (200, b"duplicate"), "duplicate answered 200 duplicate")
    t.eq(len(d.events("event_id = ?", (env["id"],))), 1, "duplicate not stored twice")

    # Second secret line, header name case, sha256= prefix, whitespace.
    env2 = envelope(type_="grant.updated", code=25027, extra_object={"reauthentication_flag": True})
    st, _, _ = d.post_nylas(env2, secret=Daemon.WEBHOOK_SECRETS[1])
    t.eq(st, 200, "second line of the secret file accepted")
    t.eq(d.events("event_id = ?", (env2["id"],))[0]["reauth_flag"], 1, "reauthentication_flag stored")
    raw = json.dumps(envelope()).encode()
    st, _, _ = d.request("POST", "/webhooks/nylas/prod", raw,
                         {"x-nylas-signature": "  sha256=" + sign(raw, Daemon.WEBHOOK_SECRETS[0]).upper() + " "})
    t.eq(st, 200, "lowercase header name, sha256= prefix, uppercase hex, whitespace accepted")

    # Bad signatures: 401 and nothing stored.
    before = len(d.events())
    env3 = envelope()
    st, _, _ = d.post_nylas(env3, secret="wrong-secret")
    t.eq(st, 401, "wrong secret is 401")
    st, _, _ = d.post_nylas(env3, signature=False)
    t.eq(st, 401, "missing signature is 401")
    st, _, _ = d.post_nylas(env3, signature="zz" * 32)
    t.eq(st, 401, "non-hex signature is 401")
    st, _, _ = d.post_nylas(env3, signature=sign(b"other body", Daemon.WEBHOOK_SECRETS[0]))
    t.eq(st, 401, "signature over other bytes is 401")
    t.eq(len(d.events()), before, "nothing stored for bad signatures")

    # Bad JSON and invalid envelopes: 400.
    st, _, _ = d.post_nylas(b"{not json")
    t.eq(st, 400, "bad JSON is 400")
    bad = envelope()
    del bad["id"]
    st, _, _ = d.post_nylas(bad)
    t.eq(st, 400, "envelope without id is 400")
    bad = envelope()
    bad["data"]["object"]["grant_id"] = 12
    st, _, _ = d.post_nylas(bad)
    t.eq(st, 400, "grant_id of the wrong type is 400")
    st, _, _ = d.post_nylas(b"[" * 100 + b"]" * 100)
    t.eq(st, 400, "deeply nested JSON is 400")
    t.eq(len(d.events()), before, "nothing stored for bad envelopes")

    # Unknown app.
    st, _, _ = d.post_nylas(envelope(), app="nope")
    t.eq(st, 404, "unknown app is 404")
    st, _, _ = d.request("GET", "/nothing/here")
    t.eq(st, 404, "unknown path is 404")

    # Over max_body: a readable 413 while we are still sending.
    big = json.dumps(envelope(extra_object={"pad": "x" * 200000})).encode()
    st, _, _ = d.post_nylas(big)
    t.eq(st, 413, "body over max_body is 413 and the client reads it")

    # gzip delivery: the signature covers the compressed bytes.
    envz = envelope(email="gz@example.com")
    st, _, _ = d.post_nylas(envz, gzip_body=True)
    t.eq(st, 200, "gzip delivery accepted")
    rows = d.events("event_id = ?", (envz["id"],))
    t.ok(rows and json.loads(rows[0]["body"]) == envz, "gzip body stored inflated")
    bomb = gzip.compress(b"{" + b" " * 500000 + b"}")
    st, _, _ = d.request("POST", "/webhooks/nylas/prod", bomb,
                         {"Content-Encoding": "gzip",
                          "X-Nylas-Signature": sign(bomb, Daemon.WEBHOOK_SECRETS[0])})
    t.eq(st, 413, "gzip that inflates over max_body is 413")
    notgz = b"definitely not gzip"
    st, _, _ = d.request("POST", "/webhooks/nylas/prod", notgz,
                         {"Content-Encoding": "gzip",
                          "X-Nylas-Signature": sign(notgz, Daemon.WEBHOOK_SECRETS[0])})
    t.eq(st, 400, "corrupt gzip is 400")

    # Other types are stored raw and counted.
    envm = envelope(type_="message.created")
    envm["data"]["object"] = {"id": "m1"}
    st, _, _ = d.post_nylas(envm)
    t.eq(st, 200, "non-grant event accepted")
    rows = d.events("event_id = ?", (envm["id"],))
    t.ok(rows and rows[0]["grant_id"] is None and rows[0]["type"] == "message.created",
         "non-grant event stored raw")

    # Keep-alive: several deliveries on one connection.
    c = d.conn()
    statuses = [d.post_nylas(envelope(), conn=c)[0] for _ in range(5)]
    c.close()
    t.eq(statuses, [200] * 5, "five deliveries on one keep-alive connection")

    # Operations endpoints.
    t.eq(d.request("GET", "/healthz")[0], 200, "/healthz 200")
    t.eq(d.request("GET", "/readyz")[0], 200, "/readyz 200")
    t.eq(d.metric("rekey_webhooks_total", {"result": "stored", "type": "grant.expired"}) >= 1, True,
         "metrics count stored grant.expired")
    t.eq(d.metric("rekey_webhooks_total", {"result": "duplicate"}), 1.0, "metrics count the duplicate")
    t.eq(d.metric("rekey_webhooks_total", {"result": "bad_signature"}), 4.0, "metrics count bad signatures")
    t.ok((d.metric("rekey_webhooks_total", {"result": "bad_json"}) or 0) >= 4, "metrics count bad JSON")
    t.eq(d.metric("rekey_webhooks_total", {"result": "unknown_app"}), 1.0, "metrics count unknown app")
    t.ok((d.metric("rekey_webhooks_total", {"result": "too_large"}) or 0) >= 2, "metrics count too large")
    t.eq(d.metric("rekey_webhooks_total", {"type": "other", "result": "stored"}), 1.0, "metrics count other types")
    t.ok((d.metric("rekey_webhook_ack_seconds_count") or 0) >= 10, "ack latency histogram fed")
    t.ok((d.metric("rekey_store_commit_batch_size_count") or 0) >= 1, "commit batch histogram fed")
    # Where an ack's time goes: parts of it, so together no more than all of it.
    ack_sum = d.metric("rekey_webhook_ack_seconds_sum") or 0
    queued = d.metric("rekey_journal_queue_seconds_total")
    answered = d.metric("rekey_journal_answer_seconds_total")
    t.ok(queued is not None and answered is not None and answered > 0,
         "the journal's queue and answer waits are counted (%s, %s)" % (queued, answered))
    t.ok(0 < ack_sum and (queued or 0) + (answered or 0) <= ack_sum,
         "they are parts of the ack time (%s + %s <= %s)" % (queued, answered, ack_sum))
    t.ok((d.metric("rekey_http_requests_total", {"route": "nylas", "status": "200"}) or 0) >= 10,
         "requests counted by route and status")

    # TLS: 1.2 and 1.3 work, 1.1 is refused.
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = d.ssl_context()
        ctx.minimum_version = ctx.maximum_version = version
        try:
            with socket.create_connection(("127.0.0.1", d.port), timeout=5) as s:
                with ctx.wrap_socket(s, server_hostname="localhost") as tls:
                    got = tls.version()
        except (ssl.SSLError, OSError) as e:
            got = repr(e)
        t.eq(got, version.name.replace("_", "."), "%s handshake" % version.name)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(os.path.join(d.certs, "ca.crt"))
    try:
        ctx.minimum_version = ssl.TLSVersion.TLSv1_1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        with socket.create_connection(("127.0.0.1", d.port), timeout=5) as s:
            with ctx.wrap_socket(s, server_hostname="localhost"):
                refused = False
    except (ssl.SSLError, OSError, ValueError):
        refused = True
    t.ok(refused, "TLS 1.1 refused")

    # Nothing secret in the log.
    log = d.log_text()
    secrets = list(Daemon.WEBHOOK_SECRETS)
    with open(os.path.join(d.dir, "secrets", "admin_token")) as f:
        secrets.append(f.read().strip())
    with open(os.path.join(d.dir, "secrets", "master_key")) as f:
        secrets.append(f.read().strip())
    secrets.append(sign(json.dumps(env).encode(), Daemon.WEBHOOK_SECRETS[0]))
    secrets.append("ann@example.com")  # webhook bodies never reach the log
    leaked = [s for s in secrets if s in log]
    t.eq(leaked, [], "no secret, signature or body in the log")
    lines = [l for l in log.splitlines() if l.strip()]
    bad_lines = []
    for l in lines:
        try:
            j = json.loads(l)
            if not ("time" in j and "level" in j and "msg" in j):
                bad_lines.append(l)
        except ValueError:
            bad_lines.append(l)
    t.eq(bad_lines, [], "every log line is a JSON object with time, level, msg")

    rc = d.stop()
    t.eq(rc, 0, "SIGTERM exits 0")
finally:
    d.cleanup()
t.done()
