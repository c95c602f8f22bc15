"""When the store cannot commit (here another process holds its write lock
past the busy timeout), the webhook is answered 503 with Retry-After so that
Nylas retries it, nothing is half-stored, and intake recovers by itself."""

import os
import sqlite3
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import Daemon, Tap, envelope  # noqa: E402

t = Tap()
d = Daemon()
try:
    d.start()
    t.eq(d.post_nylas(envelope(id_="before-lock"))[0], 200, "stored while the store is free")
    t.eq([d.metric("rekey_store_lock_timeouts_total", {"thread": n}) for n in ("rekey", "rk-journal")],
         [0.0, 0.0], "the lock timeouts are exported at 0 before the first (an alert reads them)")
    locker = sqlite3.connect(d.db_path, isolation_level=None, timeout=1)
    locker.execute("BEGIN IMMEDIATE")
    start = time.time()
    st, headers, body = d.post_nylas(envelope(id_="during-lock"))
    t.eq(st, 503, "a webhook that cannot be committed is answered 503")
    t.ok(int(headers.get("retry-after", "0")) > 0, "with a Retry-After", headers)
    # A webhook queued behind a batch that is already waiting for the lock
    # (another webhook, or the correlator's writes) waits 5 s in all, not 5 s
    # more: the first POST holds the writer, the second arrives 1.5 s later.
    first = {}
    th = threading.Thread(target=lambda: first.update(st=d.post_nylas(envelope(id_="lock-a"))[0]))
    th.start()
    time.sleep(1.5)
    start = time.time()
    second = d.post_nylas(envelope(id_="lock-b"))[0]
    waited = time.time() - start
    th.join()
    t.eq((first.get("st"), second), (503, 503), "both webhooks that cannot be committed get 503")
    t.ok(waited < 6.5, "the one queued behind a waiting batch is answered within the 5 s lock "
         "wait (%.1f s)" % waited)
    t.eq(d.request("GET", "/healthz")[0], 200, "healthz still answers (the loop is not stuck)")
    start = time.time()
    t.eq(d.request("GET", "/readyz")[0], 503, "readyz says the store takes no writes")
    t.ok(time.time() - start < 2, "and says it at once, not after the busy timeout")
    locker.execute("ROLLBACK")
    locker.close()
    t.eq(d.events("event_id = ?", ("during-lock",)), [], "nothing of it was stored")
    st, _, body = d.post_nylas(envelope(id_="during-lock"))
    t.eq((st, body.strip()), (200, b"stored"), "the retry after the lock is released is stored")
    t.eq(d.request("GET", "/readyz")[0], 200, "readyz is 200 again")
    t.ok(d.metric('rekey_store_commit_seconds_count') >= 2, "commits are counted")
    t.ok(d.metric("rekey_store_lock_timeouts_total", {"thread": "rk-journal"}) >= 1,
         "the writer's waits that gave up on the lock are counted, not only logged")
    t.ok("not committed" in d.log_text(), "the failed batch is logged")
    t.eq(d.stop(), 0, "clean stop")
finally:
    d.cleanup()
t.done()
