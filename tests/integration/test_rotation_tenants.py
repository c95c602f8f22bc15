"""Rotation against tenants that behave as real ones do (issue 23).

1. gating: a new secret is accepted, then refused every other request for a
   while (replicas catching up, hashicorp/vault#27593): nothing is published
   inside that window, the rotation publishes after it, and status shows the
   progress of testing ("N of M consecutive").
2. backoff: addPassword is refused for good (403) and the expiry poll runs
   every second: rotations are planned again only after rotation_backoff,
   doubling; the owners hear once of the cause (one rotation_failed per
   recipient and channel, not one per failure); status says it backs off;
   `rekey rotate` does not wait for the backoff.
3. the two-secret limit (an app that also signs in personal Microsoft
   accounts; the fake Graph refuses a third secret, TooManyAppPasswords):
   - a secret of a finished rekey rotation is removed first, then the new one
     added, and the rotation completes;
   - with the in-use secret and a secret made in the portal, nothing is
     added: RotationPossible is false and names the portal secret and the
     fix, the owner gets one notice (the condition's, no rotation_failed),
     and polls every second make no addPassword at all;
   - retire_foreign_secrets = yes: the portal secret is removed instead.
4. read-back: while Nylas answers the settings update, someone makes a
   connector credential the active one: the read-back after the update sees
   that Nylas does not sign users in with what was updated, the publish
   fails, and the old secret is kept.
5. rollback: once published, the new secret is refused while the old one
   still works: the old one is published again (exactly two connector
   updates: new, then old), the rotation fails as rolled back, the owner is
   told, the old secret is not retired, and the backoff holds the retry.
   A clean watch, by contrast, goes on to retire the old secret (the other
   tests).  And rolling back survives a kill -9 with the old secret's update
   applied but not recorded: the restart puts the old one back again.
   When an earlier rotation was done, "the old one" is that rotation's secret
   (unsealed from the store), not current_secret_file's, which it replaced.
6. inventory: the service principal's secrets (hashicorp/vault#16610) are
   read with each expiry poll and listed in status (JSON and text) apart
   from the app's; one ending within warn_before is told to the owners once
   (one notice for its mark however many polls) and never rotated (no
   addPassword, no rotation); a 403 on the service principal leaves them
   "unknown", logged once, while the app's secrets and the connector are
   still read every poll.
7. a burst of grant.expired while watching: the identity platform accepts
   the new secret, but Nylas reports 5 grants expired within minutes, stamped
   after the publish, while the old secret still works: rolled back (the new
   secret, then the old one), the owner told.  The same burst outside
   watching (before the rotation, stamped before the publish while it
   watches, after it is done) changes nothing in the rotation.
8. recovered: a failed rotation, then one that is done: one
   rotation_recovered notice that names the failure it ends, no
   rotation_done; a done rotation with no failure before: rotation_done only."""

import json
import os
import re
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import REKEY_BIN, Tap, envelope  # noqa: E402
from rotationlib import (CURRENT, CURRENT_KEY, DAY, PORTAL_KEY, TARGET, TENANT, Rig,  # noqa: E402
                         app_status, passwords, run_case, state, wait_for)

t = Tap()


def soon(days):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + days * DAY))


def run(name, body, seed=None, app_lines=()):
    run_case(t, name, body, seed, app_lines)


def status(rig):
    return app_status(rig)


PROPAGATION_MS = 500
FLAKY_MS = 4000


def gating(rig):
    rig.fakes.seed({"propagation_ms": PROPAGATION_MS, "propagation_flaky_ms": FLAKY_MS})
    rig.d.start()
    rid = rig.plan()
    seen = wait_for(lambda: (rig.rotation(rid) or {}).get("test_ok", 0) >= 1, 20, 0.05)
    t.ok(seen, "gating: an acceptance is counted while testing")
    app, text = status(rig)
    rot = (app.get("rotations") or [{}])[0]
    t.ok(rot.get("test_needed") == 4 and "of 4 consecutive" in (rot.get("testing") or "")
         and "testing: " in text and " of 4 consecutive, " in text,
         "gating: status shows the progress of testing", (rot.get("testing"), text[-800:]))
    r = rig.wait_state(rid)
    t.eq(r and r["state"], "done", "gating: the rotation is done", rig.d.log_text()[-3000:])
    made = rig.made_by(rid)
    adds = rig.fakes.requests("graph", "addPassword")
    patches = rig.nylas_writes()
    t.eq(len(patches), 1, "gating: one connector update")
    window_end = (made[0]["created_ms"] if made else 0) + PROPAGATION_MS + FLAKY_MS
    t.ok(patches and made and patches[0]["time_ms"] >= window_end,
         "gating: nothing published while the secret was refused now and then (%d ms after "
         "the window)" % ((patches[0]["time_ms"] - window_end) if patches and made else 0))
    t.eq(len(adds), 1, "gating: one secret made")
    t.eq(rig.connector_secret(), made[0]["secretText"] if made else None,
         "gating: Nylas holds the new secret")
    probes = [q for q in rig.fakes.requests("identity") if "client_secret=" in q.get("body", "")]
    t.ok(len(probes) >= 6, "gating: probed again after refusals (%d probes)" % len(probes))


def outbox(rig, kind):
    with rig.d.db() as c:
        return [dict(r) for r in c.execute("SELECT ref, channel, recipient FROM outbox"
                                           " WHERE kind = ?", (kind,))]


def backoff(rig):
    rig.fakes.script("graph", [{"method": "POST", "path": "addPassword", "times": 1000,
                                "action": {"graph_error": "Authorization_RequestDenied"}}])
    rig.d.start()
    time.sleep(9)
    rows = [r for r in rig.rotations() if r["reason"] == "proactive"]
    adds = rig.fakes.requests("graph", "addPassword")
    t.ok(2 <= len(rows) <= 4 and all(r["state"] == "failed" for r in rows),
         "backoff: %d proactive rotations in 9 s with expiry_poll = 1s, all failed" % len(rows),
         [(r["state"], r["created_at"]) for r in rows])
    t.eq(len(adds), len(rows), "backoff: one addPassword per rotation")
    gaps = [rows[i + 1]["created_at"] - rows[i]["updated_at"] for i in range(len(rows) - 1)]
    t.ok(gaps and gaps[0] >= 1900 and (len(gaps) < 2 or gaps[1] >= 3900),
         "backoff: the next rotation waits rotation_backoff (2 s), then twice that", gaps)
    told = wait_for(lambda: outbox(rig, "rotation_failed"), 10, 0.2) or []
    time.sleep(1)
    told = outbox(rig, "rotation_failed")
    t.eq(len(told), 1, "backoff: the owner is told once of the cause, not once per failure",
         told)
    app, text = status(rig)
    b = app.get("rotation_backoff") or {}
    t.ok(b.get("failed_in_a_row", 0) >= 2 and b.get("until") and "backing off:" in text,
         "backoff: status says when the next rotation may come", (b, text[-800:]))
    before = len(rig.rotations())
    r = subprocess.run([REKEY_BIN, "rotate", "-c", rig.d.conf_path, "prod"],
                       capture_output=True, text=True, timeout=30)
    t.eq(r.returncode, 0, "backoff: rekey rotate plans at once", r.stderr)
    manual = wait_for(lambda: [x for x in rig.rotations() if x["reason"] == "manual" and
                               x["state"] == "failed"], 10, 0.1)
    t.ok(manual and len(rig.rotations()) == before + 1,
         "backoff: the manual rotation ran without waiting (and failed of the same cause)")
    time.sleep(1)
    t.eq(len(outbox(rig, "rotation_failed")), 1,
         "backoff: the same cause on the same day is not told again")


PERSONAL = "AzureADandPersonalMicrosoftAccount"
OLD_KEY = "5e0e5e0e-1111-2222-3333-444444444444"
OLD_RID = "0ld0ld00-0000-4000-8000-000000000001"
NOTIFY = ["owners = ops@example.com", "", "[notify]", "smtp_url = smtp://127.0.0.1:9",
          "smtp_from = rekey@example.com"]


def personal(pw):
    s = state(pw)
    s["tenants"][TENANT]["apps"][TARGET]["sign_in_audience"] = PERSONAL
    return s


def finished_pair():
    """The in-use secret and the new secret of an earlier rotation that rekey finished."""
    pw = passwords()[:1]
    pw.append({"keyId": OLD_KEY, "displayName": "rekey-" + OLD_RID, "secretText": "old8Q~" + "o" * 34,
               "startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2027-03-01T00:00:00Z"})
    return pw


def limit_finished(rig):
    rig.d.start()
    wait_for(lambda: os.path.exists(rig.d.db_path), 10)
    long_ago = int((time.time() - 30 * DAY) * 1000)
    with rig.d.db() as c:
        c.execute("INSERT INTO rotations (id, app, state, reason, dry_run, approved, lifetime,"
                  " new_key_id, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                  (OLD_RID, "prod", "done", "manual", 0, 1, 180 * DAY, OLD_KEY, long_ago,
                   long_ago))
    rid = rig.plan()
    r = rig.wait_state(rid)
    t.eq(r and r["state"], "done", "limit, rekey's finished secret: the rotation is done",
         rig.d.log_text()[-3000:])
    writes = [(q["path"].split("/")[-1], json.loads(q["body"] or "{}").get("keyId"))
              for q in rig.graph_writes()]
    t.eq(writes[:2], [("removePassword", OLD_KEY), ("addPassword", None)],
         "limit, rekey's finished secret: removed first, then the new one added", writes)
    t.ok(all(k != CURRENT_KEY for _, k in writes[:2]), "limit: the in-use secret is not removed "
         "to make room")
    made = rig.made_by(rid)
    t.eq(rig.connector_secret(), made[0]["secretText"] if made else None,
         "limit, rekey's finished secret: Nylas holds the new secret")


def conditions(app):
    return dict((c.get("type"), c) for c in app.get("conditions") or [])


def limit_foreign(rig):
    rig.d.start()
    time.sleep(7)
    adds = rig.fakes.requests("graph", "addPassword")
    t.eq(len(adds), 0, "limit, a foreign secret: no addPassword over 7 polls (nothing to "
         "remove, so nothing sent that Graph would refuse)")
    rows = rig.rotations()
    t.ok(1 <= len(rows) <= 2 and all(r["state"] == "failed" for r in rows),
         "limit, a foreign secret: the rotation stops, and is not planned again at each poll",
         [(r["state"], r["last_error"]) for r in rows])
    app, text = status(rig)
    c = conditions(app).get("RotationPossible") or {}
    msg = c.get("message") or ""
    t.ok(c.get("status") == "false" and c.get("level") == "critical" and PORTAL_KEY in msg and
         "Portal secret" in msg and "ends 2027-09-01" in msg and "retire_foreign_secrets" in msg
         and "hint prt" in msg and CURRENT_KEY in msg and "Nylas uses it" in msg,
         "limit, a foreign secret: RotationPossible is false, names the blocking secret and "
         "the fix", c)
    wait_for(lambda: outbox(rig, "condition_failed"), 10, 0.2)
    time.sleep(1)
    told = [o for o in outbox(rig, "condition_failed") if o["ref"].startswith("RotationPossible")]
    t.eq(len(told), 1, "limit, a foreign secret: the owner is told once", outbox(rig, "condition_failed"))
    t.eq(outbox(rig, "rotation_failed"), [], "limit: and not a second time as a failed rotation")
    t.eq([p["keyId"] for p in rig.app()["passwords"]], [CURRENT_KEY, PORTAL_KEY],
         "limit, a foreign secret: both secrets kept")


def limit_foreign_allowed(rig):
    rig.d.start()
    rid = rig.plan()
    r = rig.wait_state(rid)
    t.eq(r and r["state"], "done", "limit, retire_foreign_secrets = yes: done",
         rig.d.log_text()[-3000:])
    removed = [json.loads(q["body"]).get("keyId") for q in rig.fakes.requests("graph", "removePassword")]
    t.eq(removed[:1], [PORTAL_KEY], "limit, retire_foreign_secrets = yes: the portal secret made room")
    app, _ = status(rig)
    t.eq((conditions(app).get("RotationPossible") or {}).get("status"), "true",
         "limit, retire_foreign_secrets = yes: RotationPossible is true")


def read_back(rig):
    rig.fakes.script("nylas", [{"method": "PATCH", "path": "connectors/microsoft$", "times": 1,
                                "action": {"hang_after": True}}])
    rig.d.start()
    rid = rig.plan()
    hung = wait_for(lambda: rig.fakes.hung("nylas") == 1, 20, 0.02)
    rig.fakes.seed({"nylas": {"connector": {"active_credential_id": "cred-1"}}})
    rig.fakes.release("nylas")
    t.ok(hung, "read-back: the settings update was applied, its answer held")
    r = rig.wait_state(rid)
    t.eq(r and r["state"], "failed", "read-back: the publish fails", rig.d.log_text()[-2000:])
    t.ok(r and "read back after publishing" in (r["last_error"] or "") and
         "cred-1" in r["last_error"], "read-back: and says why", r and r["last_error"])
    reads = [q for q in rig.fakes.requests("nylas", "/v3/connectors/microsoft$")
             if q["method"] == "GET"]
    patch = rig.nylas_writes()
    t.ok(patch and reads and reads[-1]["time_ms"] >= patch[0]["time_ms"],
         "read-back: the connector was read after the update")
    time.sleep(4)   # old_secret_grace = 3s: a publish taken for done would retire it by now
    t.ok(CURRENT_KEY in [p["keyId"] for p in rig.app()["passwords"]],
         "read-back: the old secret is kept")


def refuse(secret):
    """Scripts the identity platform to refuse this client secret (AADSTS7000215)."""
    body = {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client "
            "secret provided. Ensure the secret being sent in the request is the client secret "
            "value, not the client secret ID.", "error_codes": [7000215]}
    rig_secret = urllib.parse.quote(secret, safe="")
    return [{"method": "POST", "body": "client_secret=" + re.escape(rig_secret), "times": 100000,
             "action": {"status": 401, "body": body}}]


def rollback(rig):
    rig.d.start()
    rid = rig.plan()
    watching = rig.wait_state(rid, ("watching", "done", "failed"), 30)
    t.eq(watching and watching["state"], "watching", "rollback: the published secret is watched",
         rig.d.log_text()[-2000:])
    made = rig.made_by(rid)
    new = made[0]["secretText"] if made else "?"
    rig.fakes.script("identity", refuse(new))
    r = rig.wait_state(rid, ("done", "failed"), 30)
    t.eq(r and r["state"], "failed", "rollback: the rotation ends failed", rig.d.log_text()[-2000:])
    t.ok(r and (r["last_error"] or "").startswith("rolled back"), "rollback: as rolled back",
         r and r["last_error"])
    t.eq(rig.published_secrets(), [new, CURRENT], "rollback: two connector updates: the new "
         "secret, then the old one again")
    t.eq(rig.connector_secret(), CURRENT, "rollback: Nylas holds the old secret")
    t.eq(r and r["published_at"], 0, "rollback: the rotation no longer counts as published")
    time.sleep(4)   # old_secret_grace = 3s
    t.ok(CURRENT_KEY in [p["keyId"] for p in rig.app()["passwords"]],
         "rollback: the old secret is not retired")
    told = wait_for(lambda: outbox(rig, "rotation_failed"), 10, 0.2)
    t.ok(told and not outbox(rig, "rotation_done"), "rollback: the owner is told it failed "
         "(and never that it was done)", (outbox(rig, "rotation_failed"), outbox(rig, "rotation_done")))
    app, text = status(rig)
    t.ok(app.get("rotation_backoff"), "rollback: the retry waits for the backoff")


def rollback_to_previous(rig):
    """A second rotation rolled back puts back the first one's secret (sealed in the store
    under the app, the rotation and its key), not current_secret_file's: that one was
    replaced and retired."""
    rig.d.start()
    first = rig.plan()
    r1 = rig.wait_state(first, ("done", "failed"), 40)
    t.eq(r1 and r1["state"], "done", "rollback to the previous: the first rotation is done",
         rig.d.log_text()[-2000:])
    made = rig.made_by(first)
    s1 = made[0]["secretText"] if made else "?"
    second = rig.plan()
    watching = rig.wait_state(second, ("watching", "done", "failed"), 30)
    t.eq(watching and watching["state"], "watching", "rollback to the previous: the second "
         "rotation's secret is watched", rig.d.log_text()[-2000:])
    made = rig.made_by(second)
    s2 = made[0]["secretText"] if made else "?"
    rig.fakes.script("identity", refuse(s2))
    r2 = rig.wait_state(second, ("done", "failed"), 30)
    t.ok(r2 and r2["state"] == "failed" and (r2["last_error"] or "").startswith("rolled back"),
         "rollback to the previous: the second rotation is rolled back", r2 and r2["last_error"])
    t.eq(rig.published_secrets(), [s1, s2, s1], "rollback to the previous: Nylas gets the first "
         "rotation's secret back, not current_secret_file's")
    t.eq(rig.connector_secret(), s1, "rollback to the previous: Nylas holds the first rotation's "
         "secret")


def rollback_crash(rig):
    rig.d.start()
    rid = rig.plan()
    rig.wait_state(rid, ("watching", "done", "failed"), 30)
    made = rig.made_by(rid)
    new = made[0]["secretText"] if made else "?"
    rig.fakes.script("nylas", [{"method": "PATCH", "path": "/v3/connectors", "times": 1,
                                "action": {"hang_after": True}}])
    rig.fakes.script("identity", refuse(new))
    held = wait_for(lambda: rig.fakes.hung("nylas") >= 1, 20, 0.05)
    row = rig.rotation(rid)
    t.ok(held and row["state"] == "rolling_back", "rollback, kill -9: killed in rolling_back",
         row["state"])
    rig.d.kill9()
    rig.fakes.release("nylas")
    time.sleep(0.3)
    rig.d.start()
    r = rig.wait_state(rid, ("done", "failed"), 30)
    t.ok(r and r["state"] == "failed" and (r["last_error"] or "").startswith("rolled back"),
         "rollback, kill -9: resumed and rolled back", r and (r["state"], r["last_error"]))
    t.eq(rig.connector_secret(), CURRENT, "rollback, kill -9: Nylas holds the old secret")
    t.eq(set(rig.published_secrets()[1:]), {CURRENT}, "rollback, kill -9: only the old secret "
         "was sent after the new one")


SP_SOON = "5b3e0000-1111-2222-3333-444444444444"
SP_LATER = "5b3e1111-1111-2222-3333-444444444444"


def sp_seed():
    s = state()
    s["tenants"][TENANT]["apps"][TARGET]["sp_passwords"] = [
        {"keyId": SP_SOON, "displayName": "Terraform CI", "hint": "tfc",
         "startDateTime": "2026-01-01T00:00:00Z", "endDateTime": soon(10)},
        {"keyId": SP_LATER, "displayName": None, "hint": "old",
         "startDateTime": "2026-01-01T00:00:00Z", "endDateTime": soon(300)}]
    return s


def sp_listed(rig):
    app, _ = status(rig)
    return app if len(app.get("service_principal_secrets") or []) == 2 else None


def inventory(rig):
    rig.d.start()
    app = wait_for(lambda: sp_listed(rig), 20, 0.2)
    t.ok(app, "inventory: status lists the service principal's secrets", status(rig)[1][-1500:])
    sps = dict((x.get("key_id"), x) for x in (app or {}).get("service_principal_secrets", []))
    soon_one = sps.get(SP_SOON, {})
    t.ok(soon_one.get("hint") == "tfc" and soon_one.get("display_name") == "Terraform CI" and
         soon_one.get("days_left") in (9, 10) and soon_one.get("end", "").endswith("Z") and
         sps.get(SP_LATER, {}).get("display_name", "x") is None,
         "inventory: JSON: key_id, hint, display_name, end, days_left", sps)
    t.ok(app and app.get("service_principal_secrets_why") is None and
         app.get("service_principal_secrets_read_at"), "inventory: JSON: read, no why")
    t.eq(sorted(x["key_id"] for x in (app or {}).get("secrets", [])),
         sorted([CURRENT_KEY, PORTAL_KEY]), "inventory: the app's secrets stay a list of their own")
    _, text = status(rig)
    t.ok("service principal secrets (read from Graph" in text and SP_SOON in text and
         "Terraform CI" in text and "rekey never rotates these" in text,
         "inventory: text lists them", text[-1500:])
    wait_for(lambda: outbox(rig, "sp_secret_expiry_warning"), 20, 0.2)
    time.sleep(4)  # several polls and sweeps more
    rows = outbox(rig, "sp_secret_expiry_warning")
    t.eq([(r["ref"], r["recipient"]) for r in rows],
         [("sp:%s:%d" % (SP_SOON, 14 * DAY), "ops@example.com")],
         "inventory: one warning for the secret within warn_before (its 14-day mark), once")
    t.eq(rig.fakes.requests("graph", "addPassword"), [], "inventory: no addPassword")
    t.eq(rig.rotations(), [], "inventory: no rotation planned")
    polls = rig.fakes.requests("graph", r"servicePrincipals\(appId=")
    t.ok(len(polls) >= 3, "inventory: read with each poll (%d reads)" % len(polls))


def inventory_forbidden(rig):
    rig.fakes.script("graph", [{"method": "GET", "path": r"servicePrincipals\(appId=",
                                "times": 1000,
                                "action": {"graph_error": "Authorization_RequestDenied"}}])
    rig.d.start()
    # The app's secrets are recorded before the service principal is read: wait for its 403.
    app = wait_for(lambda: (lambda a: a if "403" in (a.get("service_principal_secrets_why") or "")
                            and a.get("secrets") else None)(status(rig)[0]), 20, 0.2)
    t.ok(app and app.get("service_principal_secrets") is None and
         "403" in app.get("service_principal_secrets_why", ""),
         "403: status shows the service principal's secrets as unknown, and why", app)
    time.sleep(4)
    app, text = status(rig)
    t.ok("service principal secrets: unknown (Graph answered 403" in text,
         "403: the text says unknown", text[-1500:])
    t.eq(len(app.get("secrets") or []), 2, "403: the app's secrets are listed")
    conds = dict((c.get("type"), c.get("status")) for c in app.get("conditions") or [])
    t.eq((conds.get("SecretsRead"), conds.get("ConnectorReady")), ("true", "true"),
         "403: SecretsRead and ConnectorReady hold", app.get("conditions"))
    reads = rig.fakes.requests("graph", r"servicePrincipals\(appId=")
    connectors = rig.fakes.requests("nylas", "/v3/connectors")
    t.ok(len(reads) >= 3 and len(connectors) >= 3,
         "403: every poll goes on (%d reads, %d connector reads)" % (len(reads), len(connectors)))
    logged = [ln for ln in rig.d.log_text().splitlines()
              if "cannot read the service principal's secrets" in ln]
    t.eq(len(logged), 1, "403: logged once", logged)
    t.eq(outbox(rig, "sp_secret_expiry_warning"), [], "403: nothing warned")


def burst(rig, prefix, stamped=None):
    """Five distinct grants of the app expire (Nylas stamps them `stamped`, now by default)."""
    when = int(stamped if stamped is not None else time.time())
    for i in range(5):
        st, _, _ = rig.d.post_nylas(envelope(id_="%s-%d" % (prefix, i), grant_id="%s-g%d" % (prefix, i),
                                             email="%s%d@example.com" % (prefix, i), time_=when))
        t.ok(st == 200, "%s: grant.expired %d accepted" % (prefix, i))


def processed(rig, prefix):
    return wait_for(lambda: len(rig.d.events("event_id LIKE ? AND processed_at IS NOT NULL",
                                             (prefix + "-%",))) == 5, 20, 0.1)


def burst_rollback(rig):
    rig.d.start()
    rid = rig.plan()
    watching = rig.wait_state(rid, ("watching", "done", "failed"), 30)
    t.eq(watching and watching["state"], "watching", "burst: the published secret is watched",
         rig.d.log_text()[-2000:])
    made = rig.made_by(rid)
    new = made[0]["secretText"] if made else "?"
    burst(rig, "burst")
    r = rig.wait_state(rid, ("done", "failed"), 30)
    t.eq(r and r["state"], "failed", "burst: the rotation ends failed", rig.d.log_text()[-3000:])
    t.ok(r and (r["last_error"] or "").startswith("rolled back: grants expired in a burst"),
         "burst: rolled back, and says it was the burst", r and r["last_error"])
    t.ok(rig.token_ok(new), "burst: although the identity platform accepts the new secret")
    t.eq(rig.published_secrets(), [new, CURRENT], "burst: two connector updates: the new "
         "secret, then the old one again")
    t.eq(rig.connector_secret(), CURRENT, "burst: Nylas holds the old secret")
    told = wait_for(lambda: outbox(rig, "rotation_failed"), 10, 0.2)
    t.ok(told and not outbox(rig, "rotation_done"), "burst: the owner is told it failed (and "
         "never that it was done)", (outbox(rig, "rotation_failed"), outbox(rig, "rotation_done")))
    time.sleep(4)   # old_secret_grace = 3s
    t.ok(CURRENT_KEY in [p["keyId"] for p in rig.app()["passwords"]],
         "burst: the old secret is not retired")


def burst_outside(rig):
    rig.d.start()
    burst(rig, "before")
    t.ok(processed(rig, "before"), "burst outside watching: a burst before the rotation is "
         "classified")
    rid = rig.plan()
    watching = rig.wait_state(rid, ("watching", "done", "failed"), 30)
    t.eq(watching and watching["state"], "watching", "burst outside watching: watched",
         rig.d.log_text()[-2000:])
    # Late deliveries of expiries Nylas stamped before the publish: not the new secret's doing.
    burst(rig, "late", stamped=watching["published_at"] / 1000 - 120)
    t.ok(processed(rig, "late"), "burst outside watching: the late ones are classified")
    r = rig.wait_state(rid, ("done", "failed"), 40)
    t.eq(r and r["state"], "done", "burst outside watching: the rotation is done",
         r and r["last_error"])
    made = rig.made_by(rid)
    t.eq(rig.published_secrets(), [made[0]["secretText"] if made else "?"],
         "burst outside watching: one connector update, the new secret")
    t.eq(rig.value("watch_burst"), None, "burst outside watching: no burst recorded")
    burst(rig, "after")
    t.ok(processed(rig, "after"), "burst outside watching: a burst after it is done is "
         "classified")
    time.sleep(1)
    t.eq(rig.rotation(rid), r, "burst outside watching: the done rotation is unchanged")
    t.eq(len(rig.nylas_writes()), 1, "burst outside watching: and Nylas is not written again")


def notices(rig, kind):
    with rig.d.db() as c:
        return [dict(r) for r in c.execute("SELECT ref, subject, payload FROM outbox"
                                           " WHERE kind = ?", (kind,))]


def recovered(rig):
    rig.fakes.script("graph", [{"method": "POST", "path": "addPassword", "times": 1,
                                "action": {"graph_error": "Authorization_RequestDenied"}}])
    rig.d.start()
    first = rig.plan()
    r1 = rig.wait_state(first)
    t.eq(r1 and r1["state"], "failed", "recovered: the first rotation fails",
         r1 and r1["last_error"])
    second = rig.plan()
    r2 = rig.wait_state(second)
    t.eq(r2 and r2["state"], "done", "recovered: the second is done", rig.d.log_text()[-2000:])
    got = wait_for(lambda: notices(rig, "rotation_recovered"), 15, 0.2) or []
    time.sleep(2.5)  # a sweep more: nothing else comes
    got = notices(rig, "rotation_recovered")
    t.eq([n["ref"] for n in got], [second], "recovered: one rotation_recovered notice, about "
         "the second rotation", got)
    text = " ".join(bytes(got[0]["payload"] or b"").decode("utf-8", "replace").split()) if got else ""
    t.ok(got and "after 1 failed" in got[0]["subject"] and
         "after 1 rotation of app prod failed in a row" in text,
         "recovered: it names how many failures it ends", got and got[0]["subject"])
    t.eq(notices(rig, "rotation_done"), [], "recovered: and no rotation_done besides")
    t.eq(len(notices(rig, "rotation_failed")), 1, "recovered: the failure was told before")


def done_only(rig):
    rig.d.start()
    rid = rig.plan()
    r = rig.wait_state(rid)
    t.eq(r and r["state"], "done", "done, no failure before: done", rig.d.log_text()[-2000:])
    got = wait_for(lambda: notices(rig, "rotation_done"), 15, 0.2) or []
    time.sleep(2.5)
    t.eq([n["ref"] for n in notices(rig, "rotation_done")], [rid],
         "done, no failure before: the usual rotation_done notice", got)
    t.eq(notices(rig, "rotation_recovered"), [], "done, no failure before: no recovered notice")


run("gating", gating, app_lines=["secret_test_successes = 4", "secret_test_spacing_ms = 100"])
run("backoff", backoff, seed=state(passwords(current_end=soon(10))),
    app_lines=["expiry_poll = 1s", "rotation_backoff = 2s", "owners = ops@example.com", "",
               "[notify]", "smtp_url = smtp://127.0.0.1:9", "smtp_from = rekey@example.com"])
run("limit, rekey's finished secret", limit_finished, seed=personal(finished_pair()))
run("limit, a foreign secret", limit_foreign, seed=personal(passwords(current_end=soon(10))),
    app_lines=["expiry_poll = 1s"] + NOTIFY)
run("limit, retire_foreign_secrets", limit_foreign_allowed, seed=personal(passwords()),
    app_lines=["retire_foreign_secrets = yes"])
run("read-back", read_back)
run("rollback, kill -9", rollback_crash, app_lines=["secret_watch_period = 20s",
                                                   "secret_watch_interval_ms = 100"])
run("rollback", rollback, app_lines=["secret_watch_period = 20s", "secret_watch_interval_ms = 100"]
    + NOTIFY)
run("rollback to the previous", rollback_to_previous,
    app_lines=["secret_watch_period = 3s", "secret_watch_interval_ms = 100"])
run("inventory", inventory, seed=sp_seed(), app_lines=["expiry_poll = 1s"] + NOTIFY)
run("inventory, 403", inventory_forbidden, seed=sp_seed(), app_lines=["expiry_poll = 1s"])
run("burst", burst_rollback, app_lines=["secret_watch_period = 30s",
                                        "secret_watch_interval_ms = 100"] + NOTIFY)
run("burst outside watching", burst_outside,
    app_lines=["secret_watch_period = 6s", "secret_watch_interval_ms = 100"])
run("recovered", recovered, app_lines=NOTIFY)
run("done, no failure before", done_only, app_lines=NOTIFY)
t.done()
