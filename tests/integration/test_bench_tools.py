"""The benchmarks' measuring tools work and measure what they say, so that
tests/bench/intake.sh's breakdown of the ratio target cannot rot unseen:
store_floor (rekey's own store alone) commits exactly the events it reports
and removes its store afterwards; fsync.py reports its syncs.  Both with
small counts: this checks the tools, it does not benchmark."""

import os
import re
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import REKEY_BIN, Tap  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STORE_FLOOR = os.path.join(os.path.dirname(REKEY_BIN), "bench", "store_floor")
FSYNC = os.path.join(ROOT, "tests", "bench", "fsync.py")


def fields(line):
    return dict(kv.split("=", 1) for kv in line.split())


t = Tap()
with tempfile.TemporaryDirectory(prefix="rekey-bench-tools.") as d:
    db = os.path.join(d, "floor.db")
    # A leftover store of another run is removed first, not added to.
    open(db, "w").write("not a database")
    r = subprocess.run([STORE_FLOOR, db, "500", "7"], capture_output=True, text=True, timeout=120)
    t.eq(r.returncode, 0, "store_floor runs", r.stderr[-2000:])
    f = fields(r.stdout.strip()) if r.returncode == 0 else {}
    t.eq((f.get("events"), f.get("batch")), ("500", "7"), "store_floor reports its events and batch",
         r.stdout)
    t.ok(all(re.fullmatch(r"[0-9]+\.[0-9]", f.get(k, "")) and float(f[k]) > 0
             for k in ("cpu_us", "wall_us")), "store_floor reports CPU and wall time per event",
         r.stdout)
    t.eq(sorted(os.listdir(d)), [], "store_floor removes its store, log and shared memory")

    # What it reports is what it committed, each event once.
    r = subprocess.run([STORE_FLOOR, db, "300", "32", "keep"], capture_output=True, text=True,
                       timeout=120)
    t.eq(r.returncode, 0, "store_floor keeps its store when asked", r.stderr[-2000:])
    with sqlite3.connect(db) as c:
        got = c.execute("SELECT count(*), count(DISTINCT event_id), min(length(body)),"
                        " max(length(body)) FROM events WHERE type = 'grant.expired'").fetchone()
    t.eq(got, (300, 300, 1024, 1024), "the store holds its 300 distinct 1 KB events")
    with sqlite3.connect(db) as c:
        listed = c.execute("SELECT count(*), count(DISTINCT grant_id), count(DISTINCT email)"
                           " FROM incident_grants").fetchone()
        counted = c.execute("SELECT affected_grants FROM incidents").fetchall()
        settled = c.execute("SELECT count(*) FROM events WHERE result = 'incident'"
                            " AND processed_at IS NOT NULL").fetchone()[0]
    t.eq(listed, (300, 300, 300), "and each event's grant listed once in the incident, as a storm's")
    t.eq(counted, [(300,)], "the incident counts its 300 grants")
    t.eq(settled, 300, "and the events are stored settled, as the writer stores a storm's")
    for name in os.listdir(d):
        os.unlink(os.path.join(d, name))

    r = subprocess.run([STORE_FLOOR, db, "0", "1"], capture_output=True, text=True, timeout=60)
    t.ok(r.returncode != 0 and "usage" in r.stderr, "store_floor refuses a count of 0", r.stderr)

    r = subprocess.run([sys.executable, FSYNC, d, "--syncs", "20", "--kib", "4"],
                       capture_output=True, text=True, timeout=60)
    t.eq(r.returncode, 0, "fsync.py runs", r.stderr)
    f = fields(r.stdout.strip()) if r.returncode == 0 else {}
    t.ok(f.get("syncs") == "20" and 0 < float(f.get("p50_ms", "0")) <= float(f.get("p99_ms", "0")),
         "fsync.py reports 20 syncs, p50 <= p99", r.stdout)
    t.eq(sorted(os.listdir(d)), [], "fsync.py removes its file")
t.done()
