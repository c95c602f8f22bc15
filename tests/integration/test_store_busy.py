"""When the store cannot commit (here another process holds its write lock
past the busy timeout), the webhook is answered 503 with Retry-After so that
Nylas retries it, nothing is half-stored, and intake recovers by itself."""

import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import Daemon, Tap, envelope  # noqa: E402

t = Tap()
d = Daemon()
try:
    d.start()
    t.eq(d.post_nylas(envelope(id_="before-lock"))[0], 200, "stored while the store is free")
    locker = sqlite3.connect(d.db_path, isolation_level=None, timeout=1)
    locker.execute("BEGIN IMMEDIATE")
    start = time.time()
    st, headers, body = d.post_nylas(envelope(id_="during-lock"))
    t.eq(st, 503, "a webhook that cannot be committed is answered 503")
    t.ok(int(headers.get("retry-after", "0")) > 0, "with a Retry-After", headers)
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
    t.ok("not committed" in d.log_text(), "the failed batch is logged")
    t.eq(d.stop(), 0, "clean stop")
finally:
    d.cleanup()
t.done()
