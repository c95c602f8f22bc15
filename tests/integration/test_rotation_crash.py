"""kill -9 at every rotation state, then a restart: the rotation completes,
Nylas ends with a secret the identity platform accepts, at most one
rekey-made credential is left besides the published one, and no second,
different secret is ever published for the same rotation.

The daemon is stopped at a state by holding the call that state makes at a
fake ("hang": the request waits; "hang_after": it is applied and only its
answer waits: addPassword answered but not yet stored, the connector
updated but not yet recorded, the old secret removed but not yet recorded).
States that make no call (created, tested, published, retired) are each
written back into the row as a crash right after that write would leave it,
then the daemon restarts from there.  Testing's count of acceptances and its
deadline survive a kill -9 (test_ok, test_since in the row); watching resumes
after one (rolling_back's kill -9 is in test_rotation_tenants.py)."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import Tap  # noqa: E402
from rotationlib import CURRENT_KEY, PORTAL_KEY, TARGET_OID, Rig, wait_for  # noqa: E402

t = Tap()
GET_APP = "/applications/%s(\\?|$)" % TARGET_OID
# Two acceptances a second apart: testing lasts long enough to be seen halfway.
rig = Rig(app_lines=["azure_app_object_id = %s" % TARGET_OID, "secret_test_spacing_ms = 1000"])
CONNECTOR = "/v3/connectors/microsoft$"
rid = None


def set_state(state):
    with rig.d.db() as c:
        c.execute("UPDATE rotations SET state = ?, next_at = 0 WHERE id = ?", (state, rid))


def crash_at(label, service, rule, want_state, before=None, late=False):
    """Starts the daemon with rule armed at service (late: after before(),
    once the daemon runs), waits until the call is held, checks the stored
    state, kills -9 and releases what was held."""
    global rid
    if not late:
        rig.fakes.script(service, [rule])
    rig.d.start()
    if before is not None:
        before()
    if late:
        rig.fakes.script(service, [rule])
    # The expiry poll makes some of the same calls (the connector read, for its
    # ConnectorReady condition): wait for the rotation itself to be held there.
    held = wait_for(lambda: rig.fakes.hung(service) >= 1 and rid and rig.rotation(rid) and
                    rig.rotation(rid)["state"] == want_state, 30)
    row = rig.rotation(rid) if rid else None
    t.ok(held and row and row["state"] == want_state, "%s: killed in %s" % (label, want_state),
         (held, row and row["state"], rig.d.log_text()[-2500:]))
    rig.d.kill9()
    rig.fakes.clear_script()
    for s in ("graph", "nylas", "identity"):
        rig.fakes.release(s)
    time.sleep(0.3)	# what a released request applies lands before the restart


def plan():
    global rid
    rid = rig.plan()


try:
    # planned: the application read that comes first.
    crash_at("planned", "graph", {"method": "GET", "path": GET_APP, "action": {"hang": True}},
             "planned", before=plan)
    # creating: addPassword held before Graph applies it (it lands after the kill).
    crash_at("creating (sent)", "graph", {"method": "POST", "path": "addPassword",
                                          "action": {"hang": True}}, "creating")
    # creating: addPassword applied, its answer (the only copy of secretText) lost.
    crash_at("creating (answered, not stored)", "graph",
             {"method": "POST", "path": "addPassword", "action": {"hang_after": True}}, "creating")
    orphans = len(rig.made_by(rid))
    t.ok(orphans >= 1, "the lost addPassword answers left an orphan behind (%d)" % orphans)
    # testing: the token request with the new secret.
    crash_at("testing", "identity", {"method": "POST", "body": "client_secret=",
                                     "action": {"hang": True}}, "testing")
    t.eq(len(rig.made_by(rid)), 1, "the orphans were removed before the add")
    # testing (resumed from): one acceptance counted, then killed; the count and
    # the deadline's start come back from the row.
    since = rig.rotation(rid)["test_since"]
    rig.d.start()
    halfway = wait_for(lambda: rig.rotation(rid)["test_ok"] == 1, 20, 0.05)
    rig.d.kill9()
    row = rig.rotation(rid)
    t.ok(halfway and row["state"] == "testing" and row["test_ok"] == 1 and since > 0 and
         row["test_since"] == since, "testing: one acceptance stored, the deadline's start kept "
         "across the restart", (halfway, row["state"], row["test_ok"], since, row["test_since"]))
    rig.d.start()
    r = rig.wait_state(rid, ("publishing", "published", "retiring"), 20)
    t.ok(r is not None, "testing: resumed from one acceptance to publishing")
    rig.d.kill9()
    # created (resumed from), then publishing: the connector read.  Armed once
    # the expiry poll's own connector read at start is done.
    set_state("created")
    reads = len(rig.fakes.requests("nylas", CONNECTOR))
    crash_at("created -> publishing", "nylas", {"method": "GET", "path": CONNECTOR,
                                                "action": {"hang": True}}, "publishing",
             before=lambda: wait_for(lambda: len(rig.fakes.requests("nylas", CONNECTOR)) > reads,
                                     20, 0.02), late=True)
    # tested (resumed from), then publishing: the update applied, its answer lost.
    set_state("tested")
    crash_at("tested -> publishing (applied)", "nylas",
             {"method": "PATCH", "path": "/v3/connectors", "action": {"hang_after": True}}, "publishing")
    new = rig.made_by(rid)[0]["secretText"]
    t.eq(rig.connector_secret(), new, "the update reached Nylas before the kill")
    # publishing (resumed from), then retiring: killed while waiting for the grace.
    rig.d.start()
    r = rig.wait_state(rid, ("retiring",), 20)
    t.ok(r is not None, "publishing: resumed to retiring")
    rig.d.kill9()
    # retiring (resumed from): removePassword applied, its answer lost.
    crash_at("retiring (applied)", "graph", {"method": "POST", "path": "removePassword",
                                             "action": {"hang_after": True}}, "retiring")
    # published (resumed from): retiring again, held at the application read.
    set_state("published")
    crash_at("published -> retiring", "graph", {"method": "GET", "path": GET_APP,
                                                "action": {"hang": True}}, "retiring")
    # watching (resumed from, just published): killed while its probe is held.  The watch
    # (secret_watch_period = 1s) is made to end 30 s from now, so that a slow start (ASan,
    # a loaded machine) still finds the rotation watching; then to end 1 s after the restart.
    with rig.d.db() as c:
        c.execute("UPDATE rotations SET state = 'watching', next_at = 0, published_at = ?"
                  " WHERE id = ?", (int(time.time() * 1000) + 30000, rid))
    crash_at("watching", "identity", {"method": "POST", "body": "client_secret=",
                                      "action": {"hang": True}}, "watching")
    with rig.d.db() as c:
        c.execute("UPDATE rotations SET published_at = ? WHERE id = ?",
                  (int(time.time() * 1000), rid))
    rig.d.start()
    r = rig.wait_state(rid, ("retiring", "retired", "done", "failed"), 20)
    t.ok(r is not None and r["state"] != "failed", "watching: resumed, and went on to retiring",
         r and (r["state"], r["last_error"]))
    rig.d.kill9()
    # retired (resumed from): done.
    set_state("retired")
    rig.d.start()
    r = rig.wait_state(rid, ("done", "failed"), 20)
    t.eq(r and r["state"], "done", "retired: resumed to done", rig.d.log_text()[-2500:])

    # And from a clean start, a second run finds nothing left to do.
    made = rig.made_by(rid)
    t.eq(len(made), 1, "one rekey-made credential for the rotation: the published one")
    t.eq(rig.connector_secret(), made[0]["secretText"] if made else None, "Nylas holds it")
    t.ok(made and rig.token_ok(made[0]["secretText"]), "the identity platform accepts it")
    t.eq(set(rig.published_secrets()), {made[0]["secretText"]} if made else set(),
         "no second, different secret was ever published (%d updates)" % len(rig.published_secrets()))
    keys = [p["keyId"] for p in rig.app()["passwords"]]
    t.ok(CURRENT_KEY not in keys and PORTAL_KEY in keys,
         "the old rekey-made secret is gone; the portal's is kept")
    t.eq(r and r["new_key_id"], made[0]["keyId"] if made else None, "the store names the published key")
    t.eq(rig.d.stop(), 0, "clean stop")
finally:
    rig.stop()
t.done()
