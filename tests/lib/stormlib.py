"""A storm of grant.expired against a daemon set up to rotate (rotationlib's
Rig), and the timeline of what followed, for tests/integration/test_storm.py
and tests/bench/storm.py.

The daemon's JSON log, the fakes' request logs and the client all use the
machine's wall clock, so their times are put on one axis: milliseconds after
the first webhook of the storm was sent."""

import json
import os
import sqlite3
import subprocess
import threading
import time
import urllib.parse

from rekeytest import ROOT, envelope
from rotationlib import TARGET, TENANT, passwords

# The sanitizer build is several times slower: a smaller storm keeps it in time.
ASAN = "asan" in os.environ.get("REKEY_BUILD", "")
PAST_END = "2026-06-01T00:00:00Z"


def default_storm():
    return 2000 if ASAN else 10000


def now_ms():
    return time.time() * 1000.0


def expire_current(fakes, end=PAST_END):
    """The in-use secret's endDateTime passes: the identity fake answers AADSTS7000222 for it."""
    fakes.seed({"tenants": {TENANT: {"apps": {TARGET: {"passwords": passwords(current_end=end)}}}}})


class Storm:
    """n signed grant.expired (distinct ids, grants and emails) posted on
    `threads` keep-alive connections.  After run(): statuses, latencies (s),
    first_ms (the first send), last_ms (the last answer)."""

    def __init__(self, d, n, threads=8, prefix="storm"):
        self.d, self.n, self.threads, self.prefix = d, n, threads, prefix
        self.statuses, self.latencies = [], []
        self.first_ms = self.last_ms = None
        self.errors = []
        self._lock = threading.Lock()
        self._go = threading.Event()

    def _worker(self, k):
        conn = self.d.conn(timeout=30)
        conn.connect()  # the TLS handshake is not part of the storm's timing
        mine, lat = [], []
        self._go.wait()
        for i in range(k, self.n, self.threads):
            env = envelope(id_="%s-%d" % (self.prefix, i), grant_id="grant-%06d" % i,
                           email="user%06d@example.com" % i)
            t0 = time.time()
            with self._lock:
                if self.first_ms is None:
                    self.first_ms = t0 * 1000.0
            try:
                status = self.d.post_nylas(env, conn=conn)[0]
            except Exception as e:  # a dropped keep-alive connection: once more on a new one
                self.errors.append(repr(e))
                conn.close()
                conn = self.d.conn(timeout=30)
                status = self.d.post_nylas(env, conn=conn)[0]
            lat.append(time.time() - t0)
            mine.append(status)
        conn.close()
        with self._lock:
            self.statuses.extend(mine)
            self.latencies.extend(lat)

    def run(self):
        ths = [threading.Thread(target=self._worker, args=(k,)) for k in range(self.threads)]
        for th in ths:
            th.start()
        time.sleep(0.2)  # every connection is up
        self._go.set()
        for th in ths:
            th.join()
        self.last_ms = now_ms()
        return self

    @property
    def seconds(self):
        return (self.last_ms - self.first_ms) / 1000.0

    @property
    def rate(self):
        return self.n / self.seconds if self.seconds > 0 else 0.0

    def p(self, q):
        s = sorted(self.latencies)
        return s[min(len(s) - 1, int(q * len(s)))] if s else None



class LoadgenStorm:
    """The same storm sent by the benchmarks' C load generator
    (tests/bench/loadgen.c: signed ~1 KB grant.expired bodies, distinct ids,
    grants and emails) on `connections` keep-alive connections, one request
    in flight on each, as the intake benchmark loads rekey.  Unlike Storm's
    Python threads, which wait for the interpreter lock between a reply's
    arrival and its timestamp, its latencies are the server's.  Same
    results as Storm, except that there is no per-request latency list (p()
    reads the p50, p99 or max it prints) and statuses holds 200 for each ok
    answer and None for each other."""

    def __init__(self, d, n, connections=32, app="prod"):
        self.d, self.n, self.connections, self.app = d, n, connections, app
        self.first_ms = self.last_ms = None
        self.statuses, self.errors, self.result = [], [], {}

    def run(self):
        tool = subprocess.run([os.path.join(ROOT, "tests", "bench", "build-loadgen.sh")],
                              check=True, capture_output=True, text=True).stdout.strip()
        secret = os.path.join(self.d.dir, "secrets", "webhook")
        out = subprocess.run([tool, "--host", "127.0.0.1", "--port", str(self.d.port),
                              "--ca", os.path.join(self.d.certs, "ca.crt"),
                              "--path", "/webhooks/nylas/" + self.app, "--secret-file", secret,
                              "--connections", str(self.connections),
                              "--requests", str(self.n)],
                             capture_output=True, text=True, timeout=600)
        self.last_ms = now_ms()
        if out.returncode != 0:
            raise RuntimeError("loadgen failed: " + out.stderr[-2000:])
        self.result = dict(kv.split("=", 1) for kv in out.stdout.split())
        self.first_ms = float(self.result["start_ms"])
        self.statuses = [200] * int(self.result["ok"]) + \
            [None] * (int(self.result["requests"]) - int(self.result["ok"]))
        self.errors = [ln for ln in out.stderr.splitlines() if "cpu user" not in ln]
        return self

    @property
    def seconds(self):
        return float(self.result["seconds"])

    @property
    def rate(self):
        return float(self.result["rps"])

    def p(self, q):
        key = {0.5: "p50_ms", 0.99: "p99_ms", 1.0: "max_ms"}[q]
        return float(self.result[key]) / 1000.0


# --- the store ---

def q(d, sql, args=()):
    """A query that tolerates the daemon holding the write lock a moment (None then)."""
    try:
        with d.db() as c:
            return [dict(r) for r in c.execute(sql, args)]
    except sqlite3.OperationalError:
        return None


def unprocessed(d):
    r = q(d, "SELECT count(*) AS n FROM events WHERE source = 'nylas' AND processed_at IS NULL")
    return -1 if r is None else r[0]["n"]


# --- the fakes ---

def secret_of(req):
    return urllib.parse.parse_qs(req.get("body") or "").get("client_secret", [None])[0]


def connector_writes(fakes):
    return [r for r in fakes.requests("nylas", "/v3/connectors")
            if r["method"] in ("PATCH", "PUT")]


def written_secret(req):
    try:
        b = json.loads(req["body"])
    except ValueError:
        return None
    return (b.get("settings") or b.get("credential_data") or {}).get("client_secret")


# --- the timeline ---

def log_events(text):
    """The daemon's JSON log lines above debug: [(epoch ms, level, msg)]."""
    out = []
    for ln in text.splitlines():
        try:
            o = json.loads(ln)
        except ValueError:
            continue
        if o.get("level") == "debug" or "time" not in o:
            continue
        t = time.strptime(o["time"][:19], "%Y-%m-%dT%H:%M:%S")
        ms = (time.mktime(t) - time.timezone) * 1000.0 + float(o["time"][20:23])
        out.append((ms, o["level"], o.get("msg", "")))
    return out


def fake_events(fakes):
    """What the fakes received that matters to a rotation: [(epoch ms, text)]."""
    out = []
    for r in fakes.requests("identity", "oauth2/v2.0/token"):
        s = secret_of(r)
        who = ("certificate assertion (rotator)" if s is None else
               "client secret, hint %s" % s[:3])
        out.append((r["time_ms"], "identity: token request, %s" % who))
    for r in fakes.requests("graph"):
        if r["path"].startswith("/_fake"):
            continue
        out.append((r["time_ms"], "graph: %s %s" % (r["method"], r["path"].split("?")[0][:70])))
    for r in fakes.requests("nylas", "/v3/connectors"):
        out.append((r["time_ms"], "nylas: %s %s" % (r["method"], r["path"])))
    return out


def timeline(d, fakes, t0_ms, interesting=("incident", "rotation", "probe", "planned")):
    """Daemon log lines and fake requests, sorted, as (ms after t0, source, text)."""
    rows = [(ms - t0_ms, "rekey", "%s: %s" % (lvl, msg)) for ms, lvl, msg in log_events(d.log_text())
            if any(w in msg for w in interesting)]
    rows += [(ms - t0_ms, "fake", text) for ms, text in fake_events(fakes)]
    rows.sort(key=lambda r: r[0])
    return rows


def print_timeline(rows, out=print, prefix=""):
    for ms, src, text in rows:
        out("%s%+9.0f ms  %-5s %s" % (prefix, ms, src, text[:150]))
