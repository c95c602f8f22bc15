"""kill -9 during a load of signed webhooks: after a restart, every event
that was answered 200 is in the store, and redelivering it is a duplicate."""

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import Daemon, Tap, envelope  # noqa: E402

t = Tap()
d = Daemon()
acked = []
lock = threading.Lock()
stop = threading.Event()


def sender(worker):
    n = 0
    while not stop.is_set():
        try:
            c = d.conn(timeout=5)
            while not stop.is_set():
                env = envelope(id_="crash-%d-%d" % (worker, n))
                n += 1
                st, _, _ = d.post_nylas(env, conn=c)
                if st == 200:
                    with lock:
                        acked.append(env["id"])
        except Exception:
            time.sleep(0.01)  # the daemon died under us: expected


try:
    for round_ in range(3):
        d.start()
        stop.clear()
        threads = [threading.Thread(target=sender, args=(round_ * 100 + i,)) for i in range(8)]
        for th in threads:
            th.start()
        time.sleep(1.5)
        d.kill9()
        stop.set()
        for th in threads:
            th.join()
        with lock:
            ids = list(acked)
        stored = set(r["event_id"] for r in d.events())
        missing = [i for i in ids if i not in stored]
        t.ok(len(ids) > 50, "round %d: load ran (%d acked so far)" % (round_, len(ids)))
        t.eq(missing[:5], [], "round %d: every acked event survived kill -9" % round_)

    d.start()
    st, _, _ = d.request("GET", "/readyz")
    t.eq(st, 200, "restarted daemon is ready")
    st, _, body = d.post_nylas(envelope(id_=acked[0]))
    t.eq((st, body.strip()), (200, b"duplicate"), "an acked event redelivered after the crash is a duplicate")
    t.eq(len(d.events("event_id = ?", (acked[0],))), 1, "and stored once")
    t.eq(d.stop(), 0, "clean stop after the crashes")
finally:
    stop.set()
    d.cleanup()
t.done()
