"""Expired secret + storm (issue 5, Reliability): the secret Nylas uses
(current_secret_file) has an endDateTime in the past, so the fake identity
platform answers AADSTS7000222 for it; rotation_mode is auto and nothing is
held back.  A storm of grant.expired (10,000 distinct grants; 2,000 in the
sanitizer build, REKEY_STORM overrides) on 8 keep-alive connections must
give: every webhook answered 200; ONE incident, secret_expired with the
7000222 evidence, listing every grant; ONE rotation, which runs to done
(old_secret_grace is rotationlib's 3 s, so the old rekey-made secret is
retired within the test); exactly one addPassword and one connector update;
Nylas ends with a secret the identity platform accepts; `rekey status
--json` shows the incident and the rotation.

The expiry poll at start sees the ended secret too and may plan a
proactive rotation before the first webhook: the incident then joins it.
Either reason is accepted; there must be one rotation only.  Two cases:

- during: the fake models 2 s of propagation, so the proactive rotation is
  still testing its new secret when the storm comes; the storm's probe of
  the in-use secret gets 7000222 and the incident joins that rotation.
- after: no propagation; the proactive rotation has published before the
  first webhook (a smaller storm).  The grants still expired because of the
  old secret, so the cause must still be secret_expired, with the evidence
  that the rotation replaced a secret that had ended (the in-use secret now
  works, so no probe answers 7000222), and the incident must name the
  rotation that fixed it."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import REKEY_BIN, Tap, make_certs  # noqa: E402
from sinks import Sinks  # noqa: E402
from rotationlib import CURRENT, CURRENT_KEY, PORTAL_KEY, Rig, passwords, state, wait_for  # noqa: E402
from stormlib import (PAST_END, Storm, connector_writes, default_storm, print_timeline,  # noqa: E402
                      q, timeline, unprocessed, written_secret)

STORM = int(os.environ.get("REKEY_STORM", default_storm()))
AFTER_STORM = max(1, STORM // 10)
t = Tap()


def check_storm(c, rig, st):
    t.eq(st.statuses.count(200), st.n, "%s: all %d grant.expired answered 200 (%.1f s, %.0f/s, "
         "p99 %.0f ms, slowest %.0f ms)" % (c, st.n, st.seconds, st.rate, st.p(0.99) * 1000,
                                            max(st.latencies) * 1000),
         sorted(set(st.statuses)))
    t.ok(max(st.latencies) < 5.0, "%s: every webhook answered well within Nylas's 10 s" % c)
    done = wait_for(lambda: unprocessed(rig.d) == 0, 60, 0.2)
    t.ok(done, "%s: the correlator processed every event" % c)


EVIDENCE = {"during": "the 7000222 answer for the in-use secret (hint cur)",
            "after": "the rotation that replaced the secret which had ended"}


def evidence_ok(c, e):
    if c == "during":
        return "7000222" in e and "hint cur" in e
    return "replaced by rotation" in e and "ended" in e


def check_incident(c, rig, n):
    d = rig.d
    incidents = q(d, "SELECT * FROM incidents WHERE app = 'prod'") or []
    t.eq(len(incidents), 1, "%s: ONE incident" % c, incidents[:3])
    inc = incidents[0] if incidents else {}
    t.eq(inc.get("cause"), "secret_expired", "%s: its cause is secret_expired" % c,
         inc.get("evidence"))
    evidence = json.loads(inc.get("evidence") or "[]")
    t.ok(any(evidence_ok(c, e) for e in evidence),
         "%s: its evidence is %s" % (c, EVIDENCE[c]), evidence)
    got = (q(d, "SELECT count(*) AS n FROM incident_grants WHERE incident_id = ?",
             (inc.get("id"),)) or [{"n": -1}])[0]["n"]
    t.eq(got, n, "%s: it lists all %d grants" % (c, n))
    return inc


def check_rotation(c, rig, inc):
    rows = rig.rotations()
    t.eq(len(rows), 1, "%s: ONE rotation" % c, rows)
    rot = rows[0] if rows else {}
    t.ok(rot.get("reason") in ("incident", "proactive"),
         "%s: its reason is incident or proactive (%s)" % (c, rot.get("reason")))
    t.eq(inc.get("rotation_id"), rot.get("id"), "%s: the incident names it" % c)
    r = rig.wait_state(rot.get("id"), timeout=30)
    t.eq(r and r["state"], "done", "%s: it reaches done (published, then the old secret "
         "retired)" % c, rig.d.log_text()[-3000:])
    return r or rot


def check_side_effects(c, rig, rot):
    f = rig.fakes
    t.eq(len(f.requests("graph", "addPassword")), 1, "%s: the fake Graph saw exactly ONE "
         "addPassword" % c)
    writes = connector_writes(f)
    t.eq(len(writes), 1, "%s: the fake Nylas saw exactly ONE connector update" % c,
         [(w["method"], w["path"]) for w in writes])
    made = rig.made_by(rot.get("id", ""))
    t.eq(len(made), 1, "%s: one credential named rekey-<rotation id>" % c)
    new = made[0]["secretText"] if made else None
    t.ok(new is not None and rig.connector_secret() == new and
         [written_secret(w) for w in writes] == [new],
         "%s: the connector holds that secret, the only one ever sent to Nylas" % c)
    t.ok(new is not None and rig.token_ok(new), "%s: the identity platform accepts it" % c)
    t.ok(not rig.token_ok(CURRENT), "%s: and refuses the expired one" % c)
    keys = [p["keyId"] for p in rig.app()["passwords"]]
    t.ok(CURRENT_KEY not in keys and PORTAL_KEY in keys,
         "%s: the expired rekey-made secret was retired, the portal's kept" % c)
    t.eq(len(f.requests("graph", "removePassword")), 1, "%s: one removePassword" % c)


def check_status(c, rig, inc, rot, n):
    p = subprocess.run([REKEY_BIN, "status", "--json", "-c", rig.d.conf_path],
                       capture_output=True, text=True, timeout=30)
    try:
        doc = json.loads(p.stdout)
        apps = doc["apps"]
    except (ValueError, KeyError):
        doc, apps = {}, []
    # Handled: nothing critical.  (No public_url here: the webhook destination cannot be
    # checked, a warning.)  The exit code is the health's.
    bad = [(x.get("type"), x.get("reason")) for a in apps for x in a.get("conditions", [])
           if x.get("level") == "critical"]
    t.ok(p.returncode == {"ok": 0, "warning": 1}.get(doc.get("health")) and not bad,
         "%s: rekey status --json: no critical condition after the storm" % c,
         (p.returncode, doc.get("health"), bad, p.stderr[-1000:]))
    app = next((a for a in apps if a.get("name") == "prod"), {})
    incs = app.get("incidents", [])
    t.ok(len(incs) == 1 and incs[0].get("id") == inc.get("id") and
         incs[0].get("cause") == "secret_expired" and incs[0].get("affected") == n and
         any(evidence_ok(c, e) for e in incs[0].get("evidence", [])),
         "%s: status shows the incident: secret_expired, %d affected, with its evidence"
         % (c, n), json.dumps(incs)[:1500])
    rots = app.get("rotations", [])
    t.ok(len(rots) == 1 and rots[0].get("id") == rot.get("id") and rots[0].get("state") == "done"
         and rots[0].get("new_key_id") == rot.get("new_key_id"),
         "%s: status shows the rotation, done, with its new keyId" % c, json.dumps(rots)[:1500])


def check_told(c, sinks):
    """One alert per owner per channel for the whole storm, not one per grant."""
    def kinds(kind):
        return [m for m in sinks.mails() if (m.get("headers") or {}).get("x-rekey-kind") == kind]
    wait_for(lambda: kinds("incident_opened") and kinds("rotation_done"), 30, 0.2)
    time.sleep(1.0)
    t.eq((len(kinds("incident_opened")), len(kinds("rotation_done"))), (1, 1),
         "%s: the owner got ONE incident alert and ONE rotation message by mail" % c,
         [(m.get("headers") or {}).get("subject") for m in sinks.mails()])
    slack = [p for p in sinks.posts("slack") if p.get("status") == 200]
    t.ok(1 <= len(slack) <= 3, "%s: and a few Slack posts in all (%d), not %d" % (c, len(slack), STORM))


def published(rig):
    rows = rig.rotations() if rig.d.store_exists() else []
    return [r for r in rows if r["state"] in ("published", "watching", "retiring", "retired", "done")]


def case(c, n, propagation_ms, after, sinks=None):
    seed = state(passwords(current_end=PAST_END), extra={"propagation_ms": propagation_ms})
    told = ["owners = ops@example.com", "owners_from_graph = no"] + (
        sinks.notify_config(None) if sinks else [])
    rig = Rig(seed=seed, app_lines=["rotation_mode = auto"] + told,
              certs=sinks.certs if sinks else None)
    st = None
    try:
        rig.d.start()
        if after:
            t.ok(wait_for(lambda: published(rig), 20, 0.05),
                 "%s: the start-up poll's proactive rotation published before the storm" % c)
        else:
            t.ok(not published(rig), "%s: nothing published yet when the storm starts" % c)
        st = Storm(rig.d, n, prefix=c).run()
        check_storm(c, rig, st)
        inc = check_incident(c, rig, n)
        rot = check_rotation(c, rig, inc)
        check_side_effects(c, rig, rot)
        check_status(c, rig, inc, rot, n)
        if sinks:
            check_told(c, sinks)
    except Exception as e:  # a crash of the test counts as a failure, with the daemon's log
        t.ok(False, "%s: %r" % (c, e), rig.d.log_text()[-3000:])
    finally:
        if st is not None and st.first_ms and (t.failed or os.environ.get("STORM_TIMELINE")):
            print_timeline(timeline(rig.d, rig.fakes, st.first_ms), out=print,
                           prefix="# %s " % c)
        if rig.d.proc is not None:
            t.eq(rig.d.stop(), 0, "%s: clean stop" % c)
        rig.stop()


def main():
    t0 = time.time()
    certs = make_certs(tempfile.mkdtemp(prefix="rekey-storm-"))
    with Sinks().start(certs) as sinks:
        case("during", STORM, 2000, after=False, sinks=sinks)
    shutil.rmtree(certs, ignore_errors=True)
    case("after", AFTER_STORM, 0, after=True)
    print("# took %.1f s" % (time.time() - t0))
    t.done()


main()
