"""The Nylas webhook destination managed by the daemon (issue 19).

register: refused with a clear reason while no daemon answers; creates the
destination once (Nylas's challenge answered by the daemon, the secret kept
sealed in the store and in force at once), a second run changes nothing,
wrong triggers are reported and changed only with --fix.  rotate-webhook-secret
under a continuous stream of signed deliveries (the fake Nylas retries 503
and drops after a 401, as Nylas does): every event is stored exactly once,
some and few 503s, no 401; the old secret is accepted during the grace and
401 after.  Status shows the destination, the secret's age and the rotation.
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import REKEY_BIN, Tap, sign, wait_for  # noqa: E402
from webhooklib import GRACE_S, TRIGGERS, cli, deliver, make_rig, webhooks  # noqa: E402

STREAM_EVENTS = int(os.environ.get("WEBHOOK_STREAM_EVENTS", "3000"))


def creates(rig):
    return [r for r in rig.fakes.requests("nylas", "^/v3/webhooks$") if r["method"] == "POST"]


def post_signed(rig, secret, event_id=None):
    body = json.dumps({"specversion": "1.0", "type": "grant.updated",
                       "id": event_id or os.urandom(8).hex(),
                       "time": int(time.time()), "data": {"application_id": "nylas-app-1",
                       "object": {"grant_id": "g-2"}}}).encode()
    st, _, _ = rig.d.post_nylas(body, signature=sign(body, secret))
    return st


def condition(kind):
    p = subprocess.run([REKEY_BIN, "status", "-c", rig.d.conf_path, "--json"],
                       capture_output=True, text=True, timeout=60)
    for c in json.loads(p.stdout)["apps"][0]["conditions"]:
        if c["type"] == kind:
            return c["status"]
    return None


t = Tap()
rig = make_rig()
try:
    # --- register ---
    rc, out, err = cli(rig, "register", "prod")
    t.eq(rc, 1, "register with no daemon running exits 1")
    t.ok("no daemon answered" in err and "rekey serve" in err and "challenge" in err,
         "and says the daemon is not reachable and must run", err)
    t.eq(webhooks(rig), {}, "and nothing was created")

    rig.d.start()
    rc, out, err = cli(rig, "register", "prod")
    t.eq(rc, 0, "register exits 0", err)
    t.ok(out.startswith("created:"), "it says it created the destination", out)
    hooks = webhooks(rig)
    t.eq(len(hooks), 1, "one destination exists")
    wid, hook = next(iter(hooks.items()))
    t.eq(hook["webhook_url"], rig.url, "for {public_url}/webhooks/nylas/{app}")
    t.eq(sorted(hook["trigger_types"]), sorted(TRIGGERS), "with the grant triggers")
    t.eq(hook["notification_email_addresses"], ["ops@example.com"], "and the owners to notify")
    ch = rig.fakes._control("nylas", "GET", "challenges")["challenges"]
    t.ok(len(ch) == 1 and ch[0]["result"].get("status") == 200 and
         ch[0]["result"].get("body") == ch[0]["value"], "Nylas's challenge was answered", ch)
    sealed = rig.value("nylas_webhook.secret")
    t.ok(sealed is not None and hook["webhook_secret"] not in sealed,
         "the secret is stored, sealed (not in clear)")
    t.eq(rig.value("nylas_webhook.id"), wid, "with the destination's id")
    r = deliver(rig, wid)
    t.eq(r.get("status"), 200, "a delivery signed with the new secret is accepted at once", r)
    t.ok(wait_for(lambda: condition("WebhookRegistered") == "true", 20),
         "WebhookRegistered is true without waiting for the next poll",
         condition("WebhookRegistered"))

    rc, out, err = cli(rig, "register", "prod")
    t.eq(rc, 0, "a second register exits 0", err)
    t.ok(out.startswith("unchanged:") and "nothing changed" in out, "and says nothing changed", out)
    t.eq(len(creates(rig)), 1, "and created nothing")
    t.eq(len(webhooks(rig)), 1, "still one destination")

    rig.fakes.seed({"nylas": {"webhooks": {wid: {"trigger_types": ["grant.created",
                                                                   "message.created"]}}}})
    rc, out, err = cli(rig, "register", "prod")
    t.eq(rc, 1, "register with triggers missing exits 1")
    t.ok("lacks the triggers grant.updated, grant.deleted, grant.expired" in err and "--fix" in err,
         "and says what differs and how to fix it", err)
    t.eq(webhooks(rig)[wid]["trigger_types"], ["grant.created", "message.created"],
         "without --fix nothing is changed")
    rc, out, err = cli(rig, "register", "prod", "--fix")
    t.eq(rc, 0, "register --fix exits 0", err)
    t.ok(out.startswith("fixed:"), "and says it fixed it", out)
    t.eq(sorted(webhooks(rig)[wid]["trigger_types"]), sorted(TRIGGERS + ["message.created"]),
         "the destination has the grant triggers (its others kept)")

    # --- rotate under load ---
    rig.fakes.seed({"nylas": {"rotate_delay_ms": 300}})
    old = webhooks(rig)[wid]["webhook_secret"]
    rig.fakes.stream_nylas(wid, STREAM_EVENTS, concurrency=8, retry_base_ms=300)
    wait_for(lambda: rig.fakes.stream_report()["delivered"] > STREAM_EVENTS // 5, 60)
    before = rig.fakes.stream_report()["delivered"]
    rc, out, err = cli(rig, "rotate-webhook-secret", "prod")
    t.eq(rc, 0, "rotate-webhook-secret exits 0", err)
    t.ok(out.startswith("rotated:"), "and says it rotated", out)
    new = webhooks(rig)[wid]["webhook_secret"]
    t.ok(new != old, "Nylas holds a new secret")
    t.eq(post_signed(rig, old), 200, "the old secret is still accepted within the grace")
    t.ok(before < STREAM_EVENTS, "the rotation ran while the stream was delivering (%d of %d)"
         % (before, STREAM_EVENTS))
    rep = wait_for(lambda: (lambda r: r if r["done"] else None)(rig.fakes.stream_report()), 120)
    rep = rep or rig.fakes.stream_report()
    stored = rig.d.events("event_id LIKE 'stream-%'")
    ids = [e["event_id"] for e in stored]
    w503 = rig.d.metric("rekey_nylas_webhook_window_503_total", {"app": "prod"}) or 0
    figures = "sent %d, stored %d, 503s %d (fake saw %d), 401s %d, dropped %d, attempts %d" % (
        rep["sent"], len(ids), w503, rep["by_status"].get("503", 0),
        rep["by_status"].get("401", 0), rep["dropped"], rep["attempts"])
    print("# load: " + figures)
    t.eq((rep["sent"], rep["dropped"]), (STREAM_EVENTS, 0), "every event sent was delivered "
         "(none dropped after a 401)", figures)
    t.eq(rep["by_status"].get("401", 0), 0, "no delivery was answered 401", figures)
    t.eq((len(ids), len(set(ids))), (STREAM_EVENTS, STREAM_EVENTS),
         "every event is stored exactly once", figures)
    t.ok(0 < w503 <= STREAM_EVENTS // 10, "the window answered some, and few, 503s", figures)
    t.eq(rig.d.metric("rekey_nylas_webhook_secret_rotations_total",
                      {"app": "prod", "result": "done"}), 1.0, "the rotation is counted")
    time.sleep(GRACE_S + 0.5)
    t.eq(post_signed(rig, old, "after-grace"), 401, "after the grace the old secret is answered 401")
    t.eq(rig.d.events("event_id = 'after-grace'"), [], "and nothing is stored")
    st, _, _ = rig.d.request("POST", "/api/v1/apps/prod/webhook/rotate-secret")
    t.eq(st, 401, "the admin API's rotate-secret needs the admin token")
    t.eq(post_signed(rig, new), 200, "and the new one is accepted")

    # --- status ---
    p = subprocess.run([REKEY_BIN, "status", "-c", rig.d.conf_path, "--json"],
                       capture_output=True, text=True, timeout=60)
    app = json.loads(p.stdout)["apps"][0]
    wh = app.get("webhook") or {}
    t.eq((wh.get("id"), wh.get("url"), wh.get("status")), (wid, rig.url, "active"),
         "status shows the destination", wh)
    t.ok("grant.expired" in (wh.get("triggers") or ""), "with its triggers", wh)
    t.ok(isinstance(wh.get("secret_age_s"), int) and wh["secret_age_s"] >= 0 and
         (wh.get("last_rotation") or {}).get("state") == "done",
         "the secret's age and the last rotation", wh)
    text = subprocess.run([REKEY_BIN, "status", "-c", rig.d.conf_path], capture_output=True,
                          text=True, timeout=60).stdout
    t.ok(wid in text and "rotated" in text, "and so does the text", text)
    p = subprocess.run([REKEY_BIN, "doctor", "-c", rig.d.conf_path, "prod"],
                       capture_output=True, text=True, timeout=120)
    line = [x for x in p.stdout.splitlines() if " nylas_webhook: " in x]
    t.ok(len(line) == 1 and wid in line[0] and "managed by rekey" in line[0] and
         "last rotation: done" in line[0], "doctor gives the destination id, the secret's age "
         "and the last rotation", p.stdout)
finally:
    rig.stop()
t.done()
