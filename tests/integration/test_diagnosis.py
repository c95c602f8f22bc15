"""Diagnosis (DESIGN.md "Correlation") with the real daemon and the fakes.

1. The secret Nylas uses has expired (the fake identity platform answers
   AADSTS7000222 for it): a storm of grant.expired makes ONE incident,
   secret_expired with the 7000222 evidence, listing every grant; ONE
   rotation is planned for it (approve mode keeps it planned); every webhook
   is answered 200; the secret is probed at most once a minute.
2. The secret is healthy and Graph evidence (a user_events row) says the
   user was disabled: the grant's expiry is a user_disabled incident and
   nothing is rotated.  Re-authentication (grant.updated with the flag, and
   grant.created for the same email) marks the grants recovered, and the
   incident is resolved once all have.
3. The probe answers late (after the batch stopped waiting for it): the
   incident opens as unknown and is upgraded in place to secret_expired,
   its evidence appended, and the rotation is planned then."""

import json
import os
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import Tap, envelope  # noqa: E402
from rotationlib import CURRENT, Rig, passwords, state, wait_for  # noqa: E402

STORM = int(os.environ.get("REKEY_STORM", "10000"))
THREADS = 8


def q(d, sql, args=()):
    with d.db() as c:
        return [dict(r) for r in c.execute(sql, args)]


def unprocessed(d):
    try:
        return q(d, "SELECT count(*) AS n FROM events WHERE source = 'nylas'"
                    " AND processed_at IS NULL")[0]["n"]
    except Exception:  # the daemon may hold the write lock a moment
        return -1


def probes(fakes, secret):
    """Token requests that carried this client secret (the correlator's probes)."""
    return [r for r in fakes.requests("identity", "oauth2/v2.0/token")
            if urllib.parse.parse_qs(r.get("body") or "").get("client_secret") == [secret]]


def storm(d, n):
    """Posts n signed grant.expired on THREADS keep-alive connections; statuses and the slowest answer."""
    statuses, slowest, lock = [], [0.0], threading.Lock()

    def worker(k):
        conn = d.conn(timeout=30)
        mine, worst = [], 0.0
        for i in range(k, n, THREADS):
            env = envelope(id_="storm-%d" % i, grant_id="grant-%05d" % i,
                           email="user%05d@example.com" % i)
            t0 = time.time()
            try:
                status = d.post_nylas(env, conn=conn)[0]
            except Exception:
                conn.close()
                conn = d.conn(timeout=30)
                status = d.post_nylas(env, conn=conn)[0]
            worst = max(worst, time.time() - t0)
            mine.append(status)
        conn.close()
        with lock:
            statuses.extend(mine)
            slowest[0] = max(slowest[0], worst)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return statuses, slowest[0]


def expired_secret_storm(t):
    pw = passwords(current_end="2026-06-01T00:00:00Z")
    rig = Rig(seed=state(pw), app_lines=["rotation_mode = approve"])
    d = rig.d
    # The expiry poll would see the ended secret first and plan a proactive
    # rotation (which the incident then joins): hold it so that the incident plans.
    rig.fakes.script("graph", [{"method": "GET", "path": "applications", "times": 0,
                                "action": {"hang": True}}])
    try:
        d.start()
        t0 = time.time()
        statuses, slowest = storm(d, STORM)
        took = time.time() - t0
        t.eq(statuses.count(200), STORM, "storm: all %d grant.expired answered 200 (%.1f s, "
             "slowest %.2f s)" % (STORM, took, slowest))
        t.ok(slowest < 5.0, "storm: every webhook answered well within Nylas's 10 s (%.2f s)" % slowest)
        done = wait_for(lambda: unprocessed(d) == 0, 120, 0.5)
        t.ok(done, "storm: the correlator processed every event (%.1f s after the first)"
             % (time.time() - t0), "\n".join(ln for ln in d.log_text().splitlines()
                                              if '"level":"debug"' not in ln)[-3000:])
        incidents = q(d, "SELECT * FROM incidents WHERE app = 'prod'")
        t.eq(len(incidents), 1, "storm: ONE incident", incidents[:3])
        inc = incidents[0] if incidents else {}
        t.eq(inc.get("cause"), "secret_expired", "storm: its cause is secret_expired")
        t.eq(inc.get("state"), "open", "storm: it stays open until users re-authenticate")
        evidence = json.loads(inc.get("evidence") or "[]")
        t.ok(any("AADSTS7000222" in e and "hint cur" in e for e in evidence),
             "storm: the evidence names the 7000222 probe of the in-use secret", evidence)
        n = q(d, "SELECT count(*) AS n FROM incident_grants WHERE incident_id = ?",
              (inc.get("id"),))[0]["n"]
        t.eq(n, STORM, "storm: the incident lists all %d affected grants" % STORM)
        rots = q(d, "SELECT * FROM rotations WHERE app = 'prod'")
        t.eq(len(rots), 1, "storm: ONE rotation", rots)
        rot = rots[0] if rots else {}
        t.eq((rot.get("reason"), rot.get("incident_id"), rot.get("state")),
             ("incident", inc.get("id"), "planned"),
             "storm: planned for the incident (approve mode waits)")
        t.eq(inc.get("rotation_id"), rot.get("id"), "storm: the incident names its rotation")
        minutes = int((time.time() - t0) // 60) + 1
        got = len(probes(rig.fakes, CURRENT))
        t.ok(1 <= got <= minutes, "storm: the in-use secret was probed %d time(s) in %d "
             "minute(s) of storm" % (got, minutes))
        log = d.log_text()
        t.ok("opened: secret_expired (AADSTS7000222 for the in-use secret, hint cur" in log and
             "rotation %s planned" % rot.get("id") in log,
             "storm: the operator's log says what happened and what rekey did",
             [ln for ln in log.splitlines() if "incident" in ln][:5])
        t.ok("grants affected so far" in log, "storm: progress lines in the log")
        last = rig.value("last_probe")
        t.ok(last is not None and json.loads(last).get("result") == "secret_expired",
             "storm: the last probe is recorded for status", last)
        t.eq(d.metric("rekey_incidents_open", {"app": "prod", "cause": "secret_expired"}), 1.0,
             "storm: metric of open incidents by cause")
        # Grants the journal's writer settled under a storm permit are counted by the
        # correlator's tick (every second), not one batch at a time.
        wait_for(lambda: d.metric("rekey_incident_affected_grants", {"app": "prod"}) == STORM, 5)
        t.eq(d.metric("rekey_incident_affected_grants", {"app": "prod"}), float(STORM),
             "storm: metric of affected grants (within a second)")
        settled = d.metric("rekey_nylas_events_settled_at_intake_total") or 0
        t.ok(settled > STORM / 2, "storm: most of its grant.expired were settled by the "
             "journal's writer under the permit (%d of %d)" % (settled, STORM))
        t.ok((d.metric("rekey_secret_probes_total", {"app": "prod", "result": "secret_expired"})
              or 0) >= 1, "storm: metric of probes by result")
        # More of the same storm later: joins the incident, nothing new is planned.
        st = [d.post_nylas(envelope(grant_id="late-%d" % i))[0] for i in range(3)]
        t.eq(st, [200] * 3, "storm: three late webhooks answered")
        wait_for(lambda: unprocessed(d) == 0, 30, 0.2)
        t.eq(len(q(d, "SELECT id FROM incidents")), 1, "storm: late grants join the same incident")
        t.eq(len(q(d, "SELECT id FROM rotations")), 1, "storm: and no second rotation")
        rig.fakes.clear_script("graph")
        rig.fakes.release("graph")
        t.eq(d.stop(), 0, "storm: clean stop")
    finally:
        rig.stop()


def user_caused_and_recovery(t):
    rig = Rig()
    d = rig.d
    try:
        d.start()
        now = int(time.time() * 1000)
        wait_for(lambda: os.path.exists(d.db_path), 10)
        with d.db() as c:
            for i, email in enumerate(("alice@example.com", "bob@example.com")):
                c.execute("INSERT INTO user_events (app, user_id, email, kind, observed_ms,"
                          " changed_at, evidence) VALUES ('prod', ?, ?, 'disabled', ?, 0,"
                          " 'accountEnabled is false (GET /users)')",
                          ("user-%d" % i, email, now - 60000))
        for gid, email in (("grant-alice", "alice@example.com"), ("grant-bob", "Bob@Example.com")):
            t.eq(d.post_nylas(envelope(grant_id=gid, email=email))[0], 200,
                 "user: grant.expired for %s answered" % email)
        t.ok(wait_for(lambda: unprocessed(d) == 0, 30, 0.2), "user: processed")
        incs = q(d, "SELECT * FROM incidents")
        t.eq([i["cause"] for i in incs], ["user_disabled"],
             "user: one incident, user_disabled (the email matched case-insensitively)", incs)
        inc = incs[0] if incs else {}
        t.ok(any("alice@example.com: disabled" in e for e in json.loads(inc.get("evidence") or "[]")),
             "user: the evidence names the user event")
        t.eq(q(d, "SELECT count(*) AS n FROM rotations")[0]["n"], 0, "user: NO rotation")
        t.eq(inc.get("rotation_id"), None, "user: the incident names no rotation")
        got = probes(rig.fakes, CURRENT)
        t.eq(len(got), 1, "user: the healthy secret was probed once for both webhooks")
        t.ok("works at the token endpoint" in (rig.value("last_probe") or ""),
             "user: the last probe says the secret works")

        # Re-authentication: bob with grant.updated (flag), alice with a new grant.
        t.eq(d.post_nylas(envelope("grant.updated", grant_id="grant-bob", email="bob@example.com",
                                   code=25027, extra_object={"reauthentication_flag": True}))[0],
             200, "recovery: grant.updated with the re-authentication flag answered")
        wait_for(lambda: unprocessed(d) == 0, 30, 0.2)
        row = q(d, "SELECT state FROM incidents")[0]
        rec = q(d, "SELECT count(*) AS n FROM incident_grants WHERE recovered_ms > 0")[0]["n"]
        t.eq((rec, row["state"]), (1, "open"), "recovery: one of two recovered, still open")
        t.eq(d.post_nylas(envelope("grant.updated", grant_id="grant-other", email="carol@example.com",
                                   code=25014, extra_object={"reauthentication_flag": False}))[0],
             200, "recovery: an ordinary grant.updated answered")
        t.eq(d.post_nylas(envelope("grant.created", grant_id="grant-alice-2",
                                   email="ALICE@example.com", code=25012))[0],
             200, "recovery: grant.created for alice's email answered")
        wait_for(lambda: unprocessed(d) == 0, 30, 0.2)
        row = q(d, "SELECT state, resolved_at FROM incidents")[0]
        rec = q(d, "SELECT count(*) AS n FROM incident_grants WHERE recovered_ms > 0")[0]["n"]
        t.eq((rec, row["state"]), (2, "resolved"), "recovery: both recovered, incident resolved")
        t.ok(row["resolved_at"] > 0, "recovery: resolved_at is set")
        results = dict((r["result"], r["n"]) for r in q(
            d, "SELECT result, count(*) AS n FROM events GROUP BY result"))
        t.eq(results, {"incident": 2, "recovered": 2, "ignored": 1},
             "recovery: each event's result is recorded")
        t.ok("resolved: all 2 grants have re-authenticated" in d.log_text(),
             "recovery: the log says so")
        t.eq(d.metric("rekey_incidents_open", {"app": "prod", "cause": "user_disabled"}), 0.0,
             "recovery: no open incident left in the metrics")
        t.eq(d.stop(), 0, "user: clean stop")
    finally:
        rig.stop()


def slow_probe_upgrade(t):
    pw = passwords(current_end="2026-06-01T00:00:00Z")
    rig = Rig(seed=state(pw), app_lines=["rotation_mode = approve"], timeout_ms=15000)
    d = rig.d
    rig.fakes.script("graph", [{"method": "GET", "path": "applications", "times": 0,
                                "action": {"hang": True}}])
    rig.fakes.script("identity", [{"method": "POST", "path": "oauth2", "body": "client_secret=",
                                   "times": 1, "action": {"delay_ms": 8000}}])
    try:
        d.start()
        st = [d.post_nylas(envelope(grant_id="slow-%d" % i))[0] for i in range(3)]
        t.eq(st, [200] * 3, "slow probe: three grant.expired answered at once")
        first = wait_for(lambda: q(d, "SELECT cause FROM incidents"), 15, 0.2)
        t.eq([r["cause"] for r in first or []], ["unknown"],
             "slow probe: the batch did not wait forever: an unknown incident first")
        up = wait_for(lambda: q(d, "SELECT * FROM incidents WHERE cause = 'secret_expired'"), 20, 0.2)
        t.eq(len(up or []), 1, "slow probe: the same incident is upgraded to secret_expired")
        inc = (up or [{}])[0]
        ev = json.loads(inc.get("evidence") or "[]")
        t.ok(any("had answered yet" in e for e in ev) and any("AADSTS7000222" in e for e in ev),
             "slow probe: the evidence keeps the first line and adds the probe's", ev)
        t.eq(len(q(d, "SELECT id FROM incidents")), 1, "slow probe: still ONE incident")
        rots = q(d, "SELECT reason, incident_id FROM rotations")
        t.eq([(r["reason"], r["incident_id"]) for r in rots], [("incident", inc.get("id"))],
             "slow probe: ONE rotation, planned on the upgrade")
        t.ok("cause unknown is now secret_expired" in d.log_text(), "slow probe: the log says so")
        rig.fakes.clear_script("graph")
        rig.fakes.release("graph")
        t.eq(d.stop(), 0, "slow probe: clean stop")
    finally:
        rig.stop()


t = Tap()
expired_secret_storm(t)
user_caused_and_recovery(t)
slow_probe_upgrade(t)
t.done()
