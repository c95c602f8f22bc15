"""The rotation state machine against the fakes: a planned rotation goes
planned -> creating -> ... -> done; Nylas ends up with a new secret that the
identity platform accepts; exactly one credential carries the rotation's
displayName; the old rekey-made secret is removed after old_secret_grace
and a secret made elsewhere is kept.  Then approve mode waits, dry-run
writes nothing, a lifetime policy shortens the lifetime, 429 with
Retry-After on addPassword and on the connector update are waited for, and
the expiry poll plans a proactive rotation (through a connector credential)
and records each crossed warning once.  And a rotation survives reloads
(SIGHUP) every 50-200 ms: each frees the rotator with a call or a row
write in flight, and the next one resumes from the store; one reload
comes while the row "created" waits for the store's write lock."""

import json
import os
import random
import signal
import sqlite3
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import Tap  # noqa: E402
from rotationlib import (CURRENT, CURRENT_KEY, DAY, PORTAL_KEY, SCOPES, TARGET, TENANT,  # noqa: E402
                         Rig, passwords, run_case, state, wait_for)

t = Tap()


def run(name, body, seed=None, app_lines=()):
    run_case(t, name, body, seed, app_lines)


def auto(rig):
    rig.fakes.seed({"propagation_ms": 1500})
    rig.d.start()
    rid = rig.plan()
    r = rig.wait_state(rid)
    t.eq(r and r["state"], "done", "auto: the rotation reaches done", rig.d.log_text()[-3000:])
    made = rig.made_by(rid)
    t.eq(len(made), 1, "auto: exactly one credential named rekey-<id>")
    new = made[0]["secretText"] if made else None
    t.eq(rig.connector_secret(), new, "auto: the Nylas connector holds the new secret")
    t.ok(new and rig.token_ok(new), "auto: the identity platform accepts it")
    conn = rig.fakes.state()["nylas"]["connector"]
    t.eq((conn["settings"]["client_id"], conn["settings"]["tenant"], conn["scope"]),
         (TARGET, TENANT, SCOPES), "auto: client_id, tenant and scopes kept")
    t.eq(r["new_key_id"], made[0]["keyId"] if made else None, "auto: the new keyId is stored")
    t.ok(r["secret_ct"] and new.encode() not in r["secret_ct"], "auto: the secret is stored sealed")
    t.eq(r["old_key_id"], CURRENT_KEY, "auto: the old keyId was the in-use secret's (by hint)")
    t.ok(r["published_at"] > 0 and r["retire_at"] - r["published_at"] == 3000,
         "auto: published_at and retire_at = published + old_secret_grace")
    keys = [p["keyId"] for p in rig.app()["passwords"]]
    t.ok(CURRENT_KEY not in keys, "auto: the old rekey-made secret is removed after the grace")
    t.ok(PORTAL_KEY in keys, "auto: the secret made in the portal is kept")
    removes = rig.fakes.requests("graph", "removePassword")
    t.ok(removes and removes[0]["time_ms"] - r["published_at"] >= 2900,
         "auto: not removed before old_secret_grace")
    t.eq(len(rig.nylas_writes()), 1, "auto: one connector update")
    t.ok(rig.fakes.requests("nylas", "/v3/connectors/microsoft$"),
         "auto: the connector was read before the update")
    probes = [q for q in rig.fakes.requests("identity") if "client_secret=" in q.get("body", "")]
    t.ok(len(probes) >= 2, "auto: testing retried while the secret propagated (%d probes)" % len(probes))
    t.eq(rig.d.metric("rekey_rotations_total", {"app": "prod", "reason": "manual", "result": "done"}),
         1.0, "auto: rekey_rotations_total{result=done}")
    t.ok(rig.d.metric("rekey_rotation_step_duration_seconds", {"app": "prod", "step": "creating"})
         is not None, "auto: step duration metric")


def approve(rig):
    rig.d.start()
    rid = rig.plan(approved=0)
    time.sleep(3)
    r = rig.rotation(rid)
    t.eq(r["state"], "planned", "approve: waits at planned while not approved")
    t.eq(rig.graph_writes(), [], "approve: nothing written to Graph meanwhile")
    with rig.d.db() as c:
        c.execute("UPDATE rotations SET approved = 1 WHERE id = ?", (rid,))
    r = rig.wait_state(rid)
    t.eq(r and r["state"], "done", "approve: done once approved", rig.d.log_text()[-2000:])
    keys = [p["keyId"] for p in rig.app()["passwords"]]
    t.ok(CURRENT_KEY in keys, "approve: an old secret rekey did not make is kept")
    t.ok(r["last_error"] and "not made by rekey" in r["last_error"], "approve: and why is recorded",
         r["last_error"])
    t.eq(rig.connector_secret(), rig.made_by(rid)[0]["secretText"], "approve: Nylas holds the new secret")


def dry_run(rig):
    rig.d.start()
    rid = rig.plan(dry_run=1)
    r = rig.wait_state(rid)
    t.eq(r and r["state"], "done", "dry-run: done")
    t.ok(r["last_error"].startswith("dry-run: would addPassword with displayName rekey-%s, lifetime 180d" % rid)
         and "would publish to Nylas" in r["last_error"]
         and r["last_error"].endswith("would retire %s after 3s" % CURRENT_KEY),
         "dry-run: says what it would do", r["last_error"])
    t.eq(rig.graph_writes(), [], "dry-run: no addPassword or removePassword")
    t.eq(rig.nylas_writes(), [], "dry-run: no connector update")
    t.eq(rig.connector_secret(), CURRENT, "dry-run: Nylas unchanged")
    t.eq(rig.d.metric("rekey_rotations_total", {"result": "dry_run"}), 1.0, "dry-run: counted as dry_run")


def lifetime(rig):
    rig.d.start()
    rid = rig.plan()
    r = rig.wait_state(rid)
    t.eq(r and r["state"], "done", "lifetime: done", rig.d.log_text()[-2000:])
    t.eq(r["lifetime"], 45 * DAY, "lifetime: 180d -> 90d -> 45d under a 60-day policy")
    made = rig.made_by(rid)
    t.eq(len(made), 1, "lifetime: one credential")
    adds = rig.fakes.requests("graph", "addPassword")
    t.eq(len(adds), 3, "lifetime: three addPassword calls")
    v = rig.value("lifetime_shortened")
    t.ok(v and json.loads(v)["to_s"] == 45 * DAY, "lifetime: recorded for the owners", v)
    t.ok('"level":"warn"' in rig.d.log_text() and "lifetime policy" in rig.d.log_text(),
         "lifetime: logged at warn")


def throttled(rig):
    rig.fakes.script("graph", [{"method": "POST", "path": "addPassword", "times": 1,
                                "action": {"graph_error": "TooManyRequests",
                                           "headers": {"Retry-After": "2"}}}])
    rig.fakes.script("nylas", [{"method": "PATCH", "path": "connectors", "times": 1,
                                "action": {"status": 429, "headers": {"Retry-After": "1"},
                                           "body": {"error": {"type": "api.rate_limit_error",
                                                              "message": "slow down"}}}}])
    rig.d.start()
    rid = rig.plan()
    r = rig.wait_state(rid)
    t.eq(r and r["state"], "done", "429: done", rig.d.log_text()[-2000:])
    adds = rig.fakes.requests("graph", "addPassword")
    t.eq(len(adds), 2, "429: addPassword twice")
    t.ok(len(adds) == 2 and adds[1]["time_ms"] - adds[0]["time_ms"] >= 1900,
         "429: Retry-After 2 s waited on addPassword")
    t.eq(len(rig.made_by(rid)), 1, "429: no duplicate credential")
    patches = rig.nylas_writes()
    t.eq(len(patches), 2, "429: the connector update twice")
    t.ok(len(patches) == 2 and patches[1]["time_ms"] - patches[0]["time_ms"] >= 900,
         "429: Retry-After 1 s waited on the connector update")
    t.eq(len(set(rig.published_secrets())), 1, "429: the same secret both times")
    t.eq(rig.connector_secret(), rig.made_by(rid)[0]["secretText"], "429: Nylas holds the new secret")


def proactive(rig):
    rig.d.start()
    r = wait_for(lambda: [x for x in rig.rotations() if x["state"] in ("done", "failed")], 40)
    rows = rig.rotations()
    t.eq(len(rows), 1, "proactive: one rotation planned by the expiry poll")
    row = rows[0] if rows else {}
    t.eq((row.get("reason"), row.get("state")), ("proactive", "done"), "proactive: done",
         rig.d.log_text()[-2000:])
    creds = rig.fakes.state()["nylas"]["credentials"]["cred-1"]["credential_data"]
    made = rig.made_by(row.get("id", ""))
    t.ok(made and creds["client_secret"] == made[0]["secretText"] and creds["tenant"] == TENANT,
         "proactive: the connector credential holds the new secret")
    t.eq(rig.settings()["client_secret"], CURRENT, "proactive: the connector settings are untouched")
    warned = sorted(rig.values("warned:").keys())
    t.eq(warned, ["warned:%s:%d" % (CURRENT_KEY, 14 * DAY), "warned:%s:%d" % (CURRENT_KEY, 30 * DAY)],
         "proactive: the 30d and 14d warnings recorded once each")
    # Once done, the rotator reads the secrets again: status shows the new one in use at once.
    want = sorted([PORTAL_KEY, row.get("new_key_id") or "?"])
    wait_for(lambda: sorted(c["key_id"] for c in json.loads(rig.value("password_credentials")
                                                            or "[]")) == want, 10)
    creds_json = json.loads(rig.value("password_credentials") or "[]")
    t.eq(sorted(c["key_id"] for c in creds_json), want,
         "proactive: the secrets read again after the rotation are stored for status")
    t.eq(rig.value("in_use_key_id"), row.get("new_key_id"), "proactive: and the new in-use keyId")
    del r


def state_of(rig, rid):
    try:
        r = rig.rotation(rid)
    except sqlite3.OperationalError:
        return None
    return r and r["state"]


def reloads(rig):
    rig.fakes.seed({"propagation_ms": 600})
    rig.d.start()
    rid = rig.plan()
    sent = 0
    deadline = time.time() + 60
    while time.time() < deadline and state_of(rig, rid) not in ("done", "failed"):
        rig.d.signal(signal.SIGHUP)
        sent += 1
        # A reload takes 30-40 ms here, several times that under ASan on a busy
        # machine: wait for it to be done, then leave the new rotator time for a
        # step or two.
        wait_for(lambda: rig.d.log_text().count("reload: config") >= sent, 10, 0.01)
        time.sleep(random.uniform(0.05, 0.2))
    r = rig.wait_state(rid)
    t.eq(r and r["state"], "done", "reloads: the rotation reaches done through %d reloads" % sent,
         rig.d.log_text()[-3000:])
    t.ok(sent >= 5, "reloads: the rotation saw reloads (%d)" % sent)
    made = rig.made_by(rid)
    t.eq(len(made), 1, "reloads: exactly one credential named rekey-<id> is left")
    new = made[0]["secretText"] if made else None
    t.eq(rig.connector_secret(), new, "reloads: the Nylas connector holds it")
    t.ok(new and rig.token_ok(new), "reloads: the identity platform accepts it")
    t.eq(len(set(rig.published_secrets())), 1, "reloads: one secret was ever published")


def reload_while_storing(rig):
    # addPassword answers after 1.5 s.  Once it was sent, the store's write lock
    # is held from here, so the row "created" (with the new secret) cannot be
    # committed; a reload comes while that write waits.  The next rotator must
    # go on from "created", not from the "creating" still stored, which would
    # remove the new credential as an orphan and add another.
    rig.fakes.seed({"credential_change_ms": 1500, "propagation_ms": 0})
    rig.d.start()
    rid = rig.plan()
    # The lock is taken once addPassword has reached the fake, not at "creating":
    # creating's policy reads still record conditions, and a store locked that
    # early blocks the daemon's loop (the SQLite busy wait) before it adds.
    t.ok(wait_for(lambda: rig.fakes.requests("graph", "addPassword"), 20, 0.01),
         "reload while storing: the rotation is creating (addPassword sent)")
    lock = sqlite3.connect(rig.d.db_path, timeout=10, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")
    try:
        answered = wait_for(lambda: rig.made_by(rid), 10, 0.02)
        time.sleep(0.3)     # the answer arrives; its write waits for the lock
        rig.d.signal(signal.SIGHUP)
        time.sleep(0.5)     # the reload happens meanwhile
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    t.ok(answered, "reload while storing: addPassword answered while the lock was held")
    r = rig.wait_state(rid)
    t.eq(r and r["state"], "done", "reload while storing: the rotation reaches done",
         rig.d.log_text()[-3000:])
    t.eq(len(rig.fakes.requests("graph", "addPassword")), 1,
         "reload while storing: one addPassword, no orphan removed and added again")
    made = rig.made_by(rid)
    t.eq(len(made), 1, "reload while storing: one credential named rekey-<id>")
    t.eq(rig.connector_secret(), made[0]["secretText"] if made else None,
         "reload while storing: the connector holds it")


def reload_add_on_its_way(rig):
    # The first addPassword takes 2 s before the fake acts on it; a reload comes
    # meanwhile.  The freed rotator's request still lands.  The next rotator
    # must wait for it before its orphan check (else it adds a second
    # credential and the late one lands beside it), then remove it and add.
    rig.fakes.script("graph", [{"method": "POST", "path": "addPassword", "times": 1,
                                "action": {"delay_ms": 2000}}])
    rig.d.start()
    rid = rig.plan()
    t.ok(wait_for(lambda: rig.fakes.requests("graph", "addPassword"), 20, 0.01),
         "add on its way: addPassword sent")
    rig.d.signal(signal.SIGHUP)
    r = rig.wait_state(rid)
    log = rig.d.log_text()
    t.eq(r and r["state"], "done", "add on its way: the rotation reaches done", log[-3000:])
    t.ok("creating waits for an addPassword sent before a reload" in log,
         "add on its way: the next rotator waited for the request still on its way")
    adds = rig.fakes.requests("graph", "addPassword")
    t.ok(len(adds) >= 2 and adds[1]["time_ms"] - adds[0]["time_ms"] >= 1900,
         "add on its way: no second addPassword while the first was on its way")
    made = rig.made_by(rid)
    t.eq(len(made), 1, "add on its way: one credential named rekey-<id>")
    t.eq(rig.connector_secret(), made[0]["secretText"] if made else None,
         "add on its way: the connector holds it")


def late_credential(rig):
    # Another replica's addPassword cut short by a lost lead can land after this
    # rotation's creating looked: a second rekey-<id> credential, put in the
    # fake here once the rotation has published.  Retiring removes it first.
    rig.d.start()
    rid = rig.plan()
    t.ok(wait_for(lambda: state_of(rig, rid) in ("published", "watching", "retiring"), 30,
                  0.02), "late credential: the rotation has published")
    late = {"keyId": str(uuid.uuid4()), "displayName": "rekey-" + rid,
            "secretText": "lat8Q~" + "l" * 34, "startDateTime": "2026-01-01T00:00:00Z",
            "endDateTime": "2027-06-01T00:00:00Z"}
    rig.fakes.seed({"tenants": {TENANT: {"apps": {TARGET: {
        "passwords": rig.app()["passwords"] + [late]}}}}})
    r = rig.wait_state(rid)
    log = rig.d.log_text()
    t.eq(r and r["state"], "done", "late credential: the rotation reaches done", log[-3000:])
    made = rig.made_by(rid)
    t.eq([p["keyId"] for p in made], [r and r["new_key_id"]],
         "late credential: only the published credential of the rotation is left")
    t.ok("removing orphan credential %s" % late["keyId"] in log,
         "late credential: the removal is logged")
    t.eq(rig.connector_secret(), made[0]["secretText"] if made else None,
         "late credential: the connector holds the published one")


def soon(days):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + days * DAY))


run("auto", auto)
run("approve", approve, seed=state(passwords(current_name="Made in the portal")),
    app_lines=["rotation_mode = approve"])
run("dry-run", dry_run, app_lines=["rotation_mode = dry-run"])
run("lifetime", lifetime, seed=state(extra={"max_lifetime_days": 60}))
run("429", throttled)
run("reloads", reloads)
run("reload while storing", reload_while_storing)
run("reload with an addPassword on its way", reload_add_on_its_way)
run("late credential", late_credential)
run("proactive", proactive, seed=state(passwords(current_end=soon(10))),
    app_lines=["nylas_connector_credential_id = cred-1", "nylas_tenant = %s" % TENANT])
t.done()
