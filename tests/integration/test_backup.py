"""rekey backup while the daemon takes webhooks: the copy passes
PRAGMA integrity_check, holds every event acked before it began, is mode
0600, is not written over an existing file without --force, and restored
(copied back, daemon started) shows the same rekey status.  Retention: old
processed events seeded while the daemon was stopped are deleted at start
(event_retention), recent ones stay."""

import json
import os
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import REKEY_BIN, Daemon, Tap, envelope, wait_for  # noqa: E402

t = Tap()
d = Daemon()
acked = []
lock = threading.Lock()
stop = threading.Event()


def rekey(*args):
    return subprocess.run([REKEY_BIN] + list(args), capture_output=True, text=True, timeout=60)


def sender(worker):
    n = 0
    c = d.conn(timeout=5)
    while not stop.is_set():
        env = envelope(id_="bk-%d-%d" % (worker, n), email="u%d@example.com" % n)
        n += 1
        st, _, _ = d.post_nylas(env, conn=c)
        if st == 200:
            with lock:
                acked.append(env["id"])


def event_ids(path, where="1=1"):
    # Closed each time: a connection left open would hold the store file the restore replaces.
    c = sqlite3.connect(path, timeout=10)
    try:
        return set(r[0] for r in c.execute("SELECT event_id FROM events WHERE " + where))
    finally:
        c.close()


def status_json():
    """rekey status's exit code and what a restore must keep (not the time it was made)."""
    r = rekey("status", "-c", d.conf_path, "--json")
    doc = json.loads(r.stdout)
    # An open incident's progress ends with a point read now (the live counters): the time of
    # reading, not what the store holds.
    for a in doc["apps"]:
        for inc in a["incidents"]:
            inc.pop("progress", None)
    apps = [(a["name"], a["health"], a["incidents"], a["rotations"], a["secrets"])
            for a in doc["apps"]]
    return r.returncode, doc["health"], doc["events"], apps


try:
    # event_retention: 1h, so the events seeded below as processed a year ago go.
    with open(d.conf_path) as f:
        conf = f.read()
    with open(d.conf_path, "w") as f:
        f.write(conf.replace("[store]\n", "[store]\nevent_retention = 1h\n", 1))
    d.start()
    threads = [threading.Thread(target=sender, args=(i,)) for i in range(4)]
    for th in threads:
        th.start()
    wait_for(lambda: len(acked) > 100, timeout=20)
    with lock:
        before = list(acked)
    dest = os.path.join(d.dir, "backup.db")
    r = rekey("backup", "-c", d.conf_path, dest)
    with lock:
        during = len(acked) - len(before)
    # The daemon goes on acking after the backup (a copy that small may take only a few ms, so
    # the acks during it can be none on a loaded machine: that alone proves nothing).
    after = wait_for(lambda: len(acked) > len(before) + during + 10, timeout=20)
    stop.set()
    for th in threads:
        th.join()
    t.eq(r.returncode, 0, "rekey backup exits 0 while webhooks are written", r.stderr)
    t.ok("pages" in r.stdout and "events" in r.stdout, "it prints what it copied", r.stdout)
    t.ok(after, "webhooks are still acked once the backup is done (%d during it)" % during)
    c = sqlite3.connect(dest)
    t.eq(c.execute("PRAGMA integrity_check").fetchone()[0], "ok", "the copy passes integrity_check")
    c.close()
    copied = event_ids(dest)
    missing = [i for i in before if i not in copied]
    t.eq(missing[:5], [], "every event acked before the backup is in the copy (%d)" % len(before))
    t.ok(copied <= event_ids(d.db_path), "the copy holds nothing the live store lacks")
    t.eq(os.stat(dest).st_mode & 0o777, 0o600, "the copy is mode 0600")
    t.eq([f for f in os.listdir(d.dir) if ".tmp-" in f], [], "no temporary file is left")

    size = os.path.getsize(dest)
    r = rekey("backup", "-c", d.conf_path, dest)
    t.ok(r.returncode != 0 and "--force" in r.stderr, "an existing DEST is refused", r.stderr)
    t.eq(os.path.getsize(dest), size, "and left as it was")

    # Restore: once the worker is idle, status and a backup; stop, copy back, start.
    wait_for(lambda: not event_ids(d.db_path, "processed_at IS NULL"), timeout=20)
    status_before = status_json()
    r = rekey("backup", "-c", d.conf_path, dest, "--force")
    t.eq(r.returncode, 0, "--force replaces it", r.stderr)
    t.eq(d.stop(), 0, "the daemon stops cleanly")
    for suffix in ("-wal", "-shm"):
        if os.path.exists(d.db_path + suffix):
            os.unlink(d.db_path + suffix)
    with open(dest, "rb") as src, open(d.db_path, "wb") as out:
        out.write(src.read())
    os.chmod(d.db_path, 0o600)
    restored_ids = event_ids(d.db_path)
    d.start()
    t.eq(status_json(), status_before, "after the restore rekey status is the same")
    t.eq(d.stop(), 0, "the restored daemon stops cleanly")

    # Seed old processed events (and one recent) while the daemon is stopped.
    c = sqlite3.connect(d.db_path)
    old_ms = int((time.time() - 365 * 86400) * 1000)
    now_ms = int(time.time() * 1000)
    rows = [("old-%d" % i, old_ms) for i in range(1200)] + [("recent-0", now_ms)]
    c.executemany("INSERT INTO events (source, app, event_id, type, received_ms, body,"
                  " processed_at, result) VALUES ('nylas', 'prod', ?, 'grant.created', ?,"
                  " '{}', ?, 'seeded')", [(i, ms, ms) for i, ms in rows])
    c.commit()
    c.close()

    d.start()
    left = wait_for(lambda: not event_ids(d.db_path, "event_id LIKE 'old-%'") and
                    "retention: deleted" in d.log_text(), timeout=30)
    t.ok(left, "old processed events are deleted at start (event_retention)",
         [l for l in d.log_text().splitlines() if "retention" in l])
    t.eq(event_ids(d.db_path, "event_id = 'recent-0'"), {"recent-0"},
         "a recent processed event stays")
    t.ok(restored_ids <= event_ids(d.db_path), "the restored (recent) events stay")
    t.ok((d.metric("rekey_events_deleted_total") or 0) >= 1200,
         "rekey_events_deleted_total counts them (%s)" % d.metric("rekey_events_deleted_total"))
    t.eq(d.stop(), 0, "clean stop")
finally:
    stop.set()
    d.cleanup()
t.done()
