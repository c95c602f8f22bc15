"""Two rekey replicas on one PostgreSQL store (tests/lib/pg.py): one leader
runs the engines, every replica takes webhooks and answers status.

- leadership: rekey_leader 1 on one replica and 0 on the other; rekey status
  and /api/v1/status name the leader (and the follower says it is not one).
- a storm split across both (half the webhooks to each, some ids sent to
  both): every id stored once, one incident, one rotation, one addPassword,
  one connector update.
- kill -9 of the leader at each rotation state (held at a fake, as
  test_rotation_crash.py does): the other replica takes over and finishes;
  the killed one comes back as a follower.  One rekey-made credential live
  at the end, the connector holds it, the identity platform accepts it, no
  second secret ever published.  Prints kill -> new leader active.
- a stale leader: SIGSTOP the leader mid-rotation, the other takes over and
  finishes, SIGCONT: the old leader steps down, its late write is refused by
  the store's fence (or its call by the lease), and the fakes saw no second
  addPassword or connector update."""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

os.environ["REKEY_TEST_STORE"] = "pg"
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import REKEY_BIN, Daemon, Tap, envelope  # noqa: E402
from rotationlib import (CURRENT, CURRENT_KEY, PORTAL_KEY, TARGET_OID, Rig,  # noqa: E402
                         passwords, state, wait_for)
from stormlib import PAST_END, connector_writes, written_secret  # noqa: E402

t = Tap()
GET_APP = "/applications/%s(\\?|$)" % TARGET_OID


class Pair:
    """A Rig (the fakes, node-a) and node-b: the same config, secrets and store."""

    def __init__(self, seed=None, app_lines=()):
        self.rig = Rig(seed=seed, app_lines=app_lines)
        a = self.rig.d
        b = Daemon(certs=a.certs)
        for name in os.listdir(os.path.join(a.dir, "secrets")):
            shutil.copy2(os.path.join(a.dir, "secrets", name), os.path.join(b.dir, "secrets", name))
        b.store_url, b.pg_dbname = a.store_url, a.pg_dbname
        b.pg_password_file = os.path.join(b.dir, "secrets", os.path.basename(a.pg_password_file))
        with open(a.conf_path) as f:
            conf = f.read()
        for d, node in ((a, "node-a"), (b, "node-b")):
            text = conf.replace(os.path.join(a.dir, "secrets"), os.path.join(d.dir, "secrets"))
            with open(d.conf_path, "w") as f:
                f.write(text.replace("[server]\n", "[server]\nnode_name = %s\n" % node, 1))
        self.nodes = {"node-a": a, "node-b": b}

    def running(self):
        return [(n, d) for n, d in self.nodes.items() if d.proc is not None]

    def leading(self):
        """The names of the running replicas whose rekey_leader is 1 (None: unreadable)."""
        out = []
        for n, d in self.running():
            try:
                if d.metric("rekey_leader") == 1:
                    out.append(n)
            except Exception:
                return None
        return out

    def wait_leader(self, timeout=20, not_=None):
        def one():
            got = self.leading()
            return got[0] if got and len(got) == 1 and got[0] != not_ else None
        return wait_for(one, timeout, 0.05)

    def stop(self):
        try:
            for d in self.nodes.values():
                if d.proc is not None:
                    d.signal(signal.SIGCONT)
            self.nodes["node-b"].cleanup()
        finally:
            self.rig.stop()


def post_all(jobs):
    """Posts (daemon, envelope) pairs on 8 threads; the statuses."""
    out = []
    lock = threading.Lock()

    def work(part):
        got = []
        for d, env in part:
            got.append(d.post_nylas(env)[0])
        with lock:
            out.extend(got)
    ths = [threading.Thread(target=work, args=(jobs[k::8],)) for k in range(8)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    return out


def leadership_case():
    p = Pair()
    try:
        a, b = p.nodes["node-a"], p.nodes["node-b"]
        a.start()
        first = p.wait_leader()
        b.start()
        time.sleep(1.5)
        t.eq(p.leading(), [first], "one replica leads (rekey_leader 1), the other follows (0)")
        t.eq(b.metric("rekey_leader"), 0, "the follower exports rekey_leader 0")
        r = subprocess.run([REKEY_BIN, "status", "--json", "-c", b.conf_path],
                           capture_output=True, text=True, timeout=30)
        doc = json.loads(r.stdout) if r.stdout.strip().startswith("{") else {}
        t.eq((doc.get("leader") or {}).get("node"), "node-a", "rekey status --json names the leader",
             r.stderr[-800:])
        t.ok((doc.get("leader") or {}).get("epoch", 0) >= 1 and
             (doc.get("leader") or {}).get("since", "").endswith("Z"),
             "with its epoch and since when", doc.get("leader"))
        r = subprocess.run([REKEY_BIN, "status", "-c", b.conf_path], capture_output=True,
                           text=True, timeout=30)
        t.ok("leader: node-a since " in r.stdout, "rekey status says 'leader: node-a since ...'",
             r.stdout[-800:])
        token = open(os.path.join(b.dir, "secrets", "admin_token")).read().strip()
        st, _, body = b.request("GET", "/api/v1/status", headers={"Authorization": "Bearer " + token})
        doc = json.loads(body) if st == 200 else {}
        t.ok(st == 200 and (doc.get("leader") or {}).get("node") == "node-a" and
             doc.get("this_node") == "node-b" and doc.get("this_is_leader") is False,
             "the follower's /api/v1/status names the leader and itself", (st, body[:400]))
        st, _, body = b.request("POST", "/api/v1/apps/prod/webhook/register",
                                headers={"Authorization": "Bearer " + token})
        t.ok(st == 503 and b"not the leader" in body,
             "the follower's webhook register says it is not the leader", (st, body[:300]))
        st, _, _ = b.request("GET", "/readyz")
        t.eq(st, 200, "the follower is ready (/readyz is about the store, not leadership)")
        t.eq(a.stop(), 0, "the leader stops cleanly")
        t.ok(p.wait_leader(10) == "node-b", "and the follower takes over at once")
    finally:
        p.stop()


def storm_case():
    seed = state(passwords(current_end=PAST_END))
    p = Pair(seed=seed, app_lines=["rotation_mode = auto", "owners = ops@example.com",
                                   "owners_from_graph = no"])
    rig = p.rig
    try:
        a, b = p.nodes["node-a"], p.nodes["node-b"]
        a.start()
        b.start()
        t.ok(p.wait_leader() is not None, "storm: one leader")
        n, both = 200, 30
        jobs = []
        for i in range(n):
            env = envelope(id_="split-%d" % i, grant_id="grant-%04d" % i,
                           email="user%04d@example.com" % i)
            jobs.append(((a, b)[i % 2], env))
            if i < both:
                jobs.append(((b, a)[i % 2], env))
        statuses = post_all(jobs)
        t.eq((statuses.count(200), len(statuses)), (len(jobs), len(jobs)),
             "storm: all %d webhooks (%d ids, %d sent to both) answered 200" % (len(jobs), n, both))
        rows = rig.d.db().execute("SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM events"
                                  " WHERE source = 'nylas'").fetchone()
        t.eq((rows["n"], rows["d"]), (n, n), "storm: every id stored once")
        done = wait_for(lambda: rig.d.db().execute(
            "SELECT count(*) AS n FROM events WHERE processed_at IS NULL").fetchone()["n"] == 0, 60)
        t.ok(done, "storm: the leader processed the events that both replicas took")
        incs = rig.d.db().execute("SELECT * FROM incidents").fetchall()
        t.eq(len(incs), 1, "storm: ONE incident", [dict(i) for i in incs][:3])
        t.eq(incs[0]["cause"] if incs else None, "secret_expired", "storm: secret_expired")
        got = rig.d.db().execute("SELECT count(*) AS n FROM incident_grants").fetchone()["n"]
        t.eq(got, n, "storm: it lists all %d grants" % n)
        rots = rig.rotations()
        t.eq(len(rots), 1, "storm: ONE rotation")
        r = rig.wait_state(rots[0]["id"], timeout=40) if rots else None
        t.eq(r and r["state"], "done", "storm: it reaches done", r and r["last_error"])
        t.eq(len(rig.fakes.requests("graph", "addPassword")), 1, "storm: ONE addPassword")
        writes = connector_writes(rig.fakes)
        t.eq(len(writes), 1, "storm: ONE connector update")
        made = rig.made_by(r["id"]) if r else []
        t.ok(len(made) == 1 and rig.connector_secret() == made[0]["secretText"] and
             [written_secret(w) for w in writes] == [made[0]["secretText"]] and
             rig.token_ok(made[0]["secretText"]),
             "storm: the connector holds the one new secret, which works")
        for name, d in p.running():
            t.eq(d.stop(), 0, "storm: %s stops cleanly" % name)
    finally:
        p.stop()


def crash_case():
    p = Pair(app_lines=["azure_app_object_id = %s" % TARGET_OID, "secret_test_spacing_ms = 1000"])
    rig = p.rig
    takeovers = []
    try:
        for d in p.nodes.values():
            d.start()
        leader = p.wait_leader()
        rid = rig.plan()
        steps = [
            ("planned", "graph", {"method": "GET", "path": GET_APP, "action": {"hang": True}}),
            ("creating", "graph", {"method": "POST", "path": "addPassword", "action": {"hang": True}}),
            ("creating", "graph", {"method": "POST", "path": "addPassword",
                                   "action": {"hang_after": True}}),
            ("testing", "identity", {"method": "POST", "body": "client_secret=",
                                     "action": {"hang": True}}),
            ("publishing", "nylas", {"method": "PATCH", "path": "/v3/connectors",
                                     "action": {"hang_after": True}}),
            ("retiring", "graph", {"method": "POST", "path": "removePassword",
                                   "action": {"hang_after": True}}),
        ]
        rig.fakes.script(steps[0][1], [steps[0][2]])
        for k, (want, service, rule) in enumerate(steps):
            label = "%s (%s %s)" % (want, rule["method"], list(rule["action"])[0])
            held = wait_for(lambda: rig.fakes.hung(service) >= 1 and
                            (rig.rotation(rid) or {}).get("state") == want, 40)
            row = rig.rotation(rid)
            t.ok(held, "kill -9 of the leader in %s: held there" % label,
                 (row and row["state"], p.nodes[leader].log_text()[-2000:]))
            t0 = time.time()
            p.nodes[leader].kill9()
            rig.fakes.clear_script()
            for svc in ("graph", "nylas", "identity"):
                rig.fakes.release(svc)
            # The next step's hold is armed before the other replica takes over and resumes.
            if k + 1 < len(steps):
                rig.fakes.script(steps[k + 1][1], [steps[k + 1][2]])
            new = p.wait_leader(20, not_=leader)
            took = time.time() - t0
            takeovers.append(took)
            print("# kill -9 in %s: %s -> %s leads after %.2f s" % (label, leader, new, took))
            t.ok(new is not None and new != leader, "%s: the other replica took over (%.2f s)"
                 % (label, took))
            p.nodes[leader].start()
            leader = new
        r = rig.wait_state(rid, ("done", "failed"), 60)
        t.eq(r and r["state"], "done", "after six failovers the rotation is done",
             (r and r["last_error"], p.nodes[leader].log_text()[-2500:]))
        made = rig.made_by(rid)
        t.eq(len(made), 1, "one rekey-made credential for the rotation is live")
        new_secret = made[0]["secretText"] if made else None
        t.eq(rig.connector_secret(), new_secret, "the connector holds it")
        t.ok(new_secret and rig.token_ok(new_secret), "the identity platform accepts it")
        t.eq(set(rig.published_secrets()), {new_secret},
             "no second, different secret was ever published (%d updates)"
             % len(rig.published_secrets()))
        keys = [x["keyId"] for x in rig.app()["passwords"]]
        t.ok(CURRENT_KEY not in keys and PORTAL_KEY in keys,
             "the old rekey-made secret is retired, the portal's kept")
        if takeovers:
            print("# kill -9 -> new leader active: min %.2f s, max %.2f s, mean %.2f s over %d"
                  % (min(takeovers), max(takeovers), sum(takeovers) / len(takeovers),
                     len(takeovers)))
        for name, d in p.running():
            t.eq(d.stop(), 0, "%s stops cleanly" % name)
    finally:
        p.stop()


def stale_case():
    p = Pair(app_lines=["azure_app_object_id = %s" % TARGET_OID, "secret_test_spacing_ms = 1000"])
    rig = p.rig
    try:
        for d in p.nodes.values():
            d.start()
        old = p.wait_leader()
        rid = rig.plan()
        rig.fakes.script("identity", [{"method": "POST", "body": "client_secret=",
                                       "action": {"hang": True}}])
        held = wait_for(lambda: rig.fakes.hung("identity") >= 1 and
                        (rig.rotation(rid) or {}).get("state") == "testing", 40)
        t.ok(held, "stale: the leader is testing the new secret, its probe held")
        adds = len(rig.fakes.requests("graph", "addPassword"))
        t0 = time.time()
        p.nodes[old].signal(signal.SIGSTOP)
        rig.fakes.clear_script()
        other = [n for n in p.nodes if n != old][0]
        new = wait_for(lambda: p.nodes[other].metric("rekey_leader") == 1, 20, 0.1)
        took = time.time() - t0
        print("# SIGSTOP of the leader -> %s leads after %.2f s" % (other, took))
        t.ok(new, "stale: SIGSTOP of %s: %s takes over (%.2f s)" % (old, other, took))
        r = rig.wait_state(rid, ("done", "failed"), 60)
        t.eq(r and r["state"], "done", "stale: the new leader finishes the rotation",
             r and r["last_error"])
        patches = len(connector_writes(rig.fakes))
        t.eq((len(rig.fakes.requests("graph", "addPassword")), patches), (adds, 1),
             "stale: one addPassword and one connector update so far")
        # The old leader's probe is answered while it is stopped; it reads the answer first thing.
        rig.fakes.release("identity")
        time.sleep(0.3)
        p.nodes[old].signal(signal.SIGCONT)
        log = p.nodes[old]
        stepped = wait_for(lambda: "lost leadership" in log.log_text(), 10)
        t.ok(stepped, "stale: woken, %s says it lost leadership" % old, log.log_text()[-1500:])
        time.sleep(3)
        text = log.log_text()
        refused = [ln for ln in text.splitlines()
                   if "stale leader" in ln or "refused before sending" in ln]
        for ln in refused[:3]:
            print("# %s: %s" % (old, ln[:300]))
        t.ok(refused, "stale: its late write (or call) is refused, and the log says so",
             text[-2500:])
        t.eq(log.metric("rekey_leader"), 0, "stale: it exports rekey_leader 0")
        # What it last saw as leader is dropped, not exported beside the new leader's (an aging
        # expiry poll would fire RekeyExpiryPollStale for a replica that watches nothing).
        gone = {g: log.metric(g) for g in ("rekey_app_condition", "rekey_app_health",
                                           "rekey_expiry_poll_last_success_timestamp_seconds")}
        t.eq(gone, {g: None for g in gone}, "stale: the engines' gauges are gone from its /metrics")
        t.ok(p.nodes[other].metric("rekey_app_condition") is not None,
             "stale: the new leader exports the conditions")
        # The fence itself, as the old leader's connections meet it: a write with its epoch.
        epoch = int(rig.d.db().execute("SELECT epoch FROM leadership").fetchone()["epoch"])
        try:
            rig.d.pg.query("SELECT set_config('rekey.epoch', '%d', false); UPDATE rotations SET "
                           "last_error = 'late' WHERE id = '%s'" % (epoch - 1, rid), rig.d.pg_dbname)
            fenced = ""
        except RuntimeError as e:
            fenced = str(e)
        t.ok("stale leader: epoch %d < %d" % (epoch - 1, epoch) in fenced,
             "stale: the store refuses a write made with the previous epoch", fenced[:300])
        # What the intake writes through that same journal connection is never fenced.
        try:
            rig.d.pg.query("SELECT set_config('rekey.epoch', '%d', false); INSERT INTO graph_tokens"
                           " (digest, tokens, created_ms) VALUES ('stale-d', '\\x5b5d', 1)"
                           % (epoch - 1), rig.d.pg_dbname)
            intake = ""
        except RuntimeError as e:
            intake = str(e)
        t.eq(intake, "", "stale: the intake's writes (events, Graph tokens) are not fenced")
        t.eq((len(rig.fakes.requests("graph", "addPassword")), len(connector_writes(rig.fakes))),
             (adds, patches), "stale: no second addPassword or connector update at the fakes")
        made = rig.made_by(rid)
        t.ok(len(made) == 1 and rig.connector_secret() == made[0]["secretText"],
             "stale: one rekey-made credential, and the connector holds it")
        for name, d in p.running():
            t.eq(d.stop(), 0, "stale: %s stops cleanly" % name)
    finally:
        p.stop()


def main():
    for case in (leadership_case, storm_case, crash_case, stale_case):
        try:
            case()
        except Exception as e:  # a crash of the test is a failure
            import traceback
            t.ok(False, "%s: %r" % (case.__name__, e), traceback.format_exc())
    t.done()


if __name__ == "__main__":
    main()
