"""PostgreSQL stopped for a few seconds under a load of signed webhooks: the
deliveries it cannot commit are answered 503 with Retry-After (never 200
without a commit), /readyz says not ready, the daemon stays up and, once the
server is back, connects again by itself and answers 200; every event
answered 200 is in the store (the server is stopped in immediate mode, as a
crash of it, and comes back with fsync on: what it acknowledged was on
disk).  Always against PostgreSQL (REKEY_TEST_STORE=pg is set here)."""

import os
import sys
import threading
import time

os.environ["REKEY_TEST_STORE"] = "pg"
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import Daemon, Tap, envelope, wait_for  # noqa: E402

OUTAGE_S = 4
WORKERS = 8

t = Tap()
d = Daemon()
answers = []		# (event id, status, Retry-After header, time)
lock = threading.Lock()
stop = threading.Event()


def sender(worker):
    n = 0
    while not stop.is_set():
        try:
            c = d.conn(timeout=10)
            while not stop.is_set():
                env = envelope(id_="outage-%d-%d" % (worker, n))
                n += 1
                st, h, _ = d.post_nylas(env, conn=c)
                with lock:
                    answers.append((env["id"], st, h.get("retry-after"), time.time()))
        except Exception as e:
            with lock:
                answers.append((None, "error: %s" % e, None, time.time()))
            time.sleep(0.05)


def statuses(since=0.0, until=None):
    with lock:
        return [a[1] for a in answers if a[3] >= since and (until is None or a[3] < until)]


try:
    d.start()
    st, _, _ = d.request("GET", "/readyz")
    t.eq(st, 200, "ready with PostgreSQL up")
    threads = [threading.Thread(target=sender, args=(i,)) for i in range(WORKERS)]
    for th in threads:
        th.start()
    time.sleep(1.5)
    t.ok(statuses().count(200) > 50, "load runs: %d answered 200 before the outage" %
         statuses().count(200))

    down_at = time.time()
    d.pg.stop("immediate")
    time.sleep(1.0)
    st, _, _ = d.request("GET", "/readyz")
    t.eq(st, 503, "readyz: not ready while PostgreSQL is down")
    time.sleep(OUTAGE_S - 1.0)
    up_at = time.time()
    during = statuses(down_at + 0.5, up_at)
    t.ok(during.count(503) > 10, "deliveries during the outage are answered 503 (%d)" %
         during.count(503))
    t.eq(during.count(200), 0, "none is answered 200 while the server is down")
    with lock:
        retry = [a[2] for a in answers if a[1] == 503]
    t.ok(retry and all(r == "5" for r in retry), "every 503 carries Retry-After: 5",
         set(retry))
    t.ok(d.proc.poll() is None, "the daemon stays up through the outage")

    d.pg.start()
    back = wait_for(lambda: 200 in statuses(up_at), 20)
    t.ok(back, "after PostgreSQL is back, deliveries are answered 200 again")
    t.ok(wait_for(lambda: d.request("GET", "/readyz")[0] == 200, 10),
         "readyz: ready again")
    time.sleep(1.0)
    stop.set()
    for th in threads:
        th.join()

    with lock:
        acked = [a[0] for a in answers if a[1] == 200]
        others = sorted(set(str(a[1]) for a in answers if a[1] not in (200, 503)))
    t.eq(others, [], "every answer was 200 or 503 (no other status, no dropped connection)")
    stored = set(r["event_id"] for r in d.events())
    missing = [i for i in acked if i not in stored]
    t.eq(missing[:5], [], "every one of the %d events answered 200 is in the store" % len(acked))
    t.ok(statuses(up_at).count(200) > 20, "the load goes on after the outage (%d answered 200)"
         % statuses(up_at).count(200))
    log = d.log_text()
    t.ok("is lost" in log and "connected to" in log and "again" in log,
         "the log says the connection was lost and made again",
         [l for l in log.splitlines() if "store" in l][-6:])
    t.ok("pw-" not in log, "the log holds no password")
    redeliver = [a for a in answers if a[1] == 503 and a[0] is not None][:20]
    for a in redeliver:
        st, _, body = d.post_nylas(envelope(id_=a[0]))
    t.ok(all(i[0] in set(r["event_id"] for r in d.events()) for i in redeliver),
         "deliveries answered 503, delivered again, are stored")
    d.stop()
except Exception as e:
    t.ok(False, "test ran to the end", "%s\n%s" % (e, d.log_text()[-3000:]))
finally:
    stop.set()
    d.cleanup()
t.done()
