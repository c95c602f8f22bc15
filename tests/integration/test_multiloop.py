"""Intake on every core: intake_loops event loops, each with its own
SO_REUSEPORT socket on the same port.  Under parallel load several loops take
requests (rekey_intake_requests_total{loop}); SIGHUP with a new certificate
reaches every loop; SIGTERM under load loses no acknowledged webhook and
stops every loop; the admin API answers from whichever loop a connection
lands on; intake_loops = 1 serves as before; a second daemon cannot take the
port of a running one."""

import json
import os
import signal
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import Daemon, Tap, envelope, wait_for  # noqa: E402

t = Tap()


def listening_sockets(port):
    """Listening TCP sockets on port (IPv4), from /proc/net/tcp."""
    n = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            fields = line.split()
            local, state = fields[1], fields[3]
            if state == "0A" and int(local.split(":")[1], 16) == port:
                n += 1
    return n


def per_loop(d):
    """{loop: requests} from /metrics."""
    _, _, body = d.request("GET", "/metrics")
    out = {}
    for line in body.decode().splitlines():
        if line.startswith('rekey_intake_requests_total{loop="'):
            loop = int(line.split('"')[1])
            out[loop] = float(line.split()[-1])
    return out


def peer_cert_der(d):
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as s:
        with d.ssl_context().wrap_socket(s, server_hostname="localhost") as tls:
            return tls.getpeercert(binary_form=True)


def file_der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def admin_token(d):
    with open(os.path.join(d.dir, "secrets", "admin_token")) as f:
        return f.read().strip()


def parallel_posts(d, prefix, threads=16, per_thread=20, new_conn_every=2):
    """Signed webhooks from several threads, a new connection every few; the ids answered 200."""
    acked, lock = [], threading.Lock()

    def run(w):
        c = None
        for i in range(per_thread):
            if c is None or i % new_conn_every == 0:
                if c is not None:
                    c.close()
                c = d.conn(timeout=10)
            env = envelope(id_="%s-%d-%d" % (prefix, w, i))
            st, _, _ = d.post_nylas(env, conn=c)
            if st == 200:
                with lock:
                    acked.append(env["id"])
        c.close()

    ths = [threading.Thread(target=run, args=(w,)) for w in range(threads)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(60)
    return acked


# --- intake_loops = 4: every loop bound, requests spread, reload and admin from every loop ---
d = Daemon(extra_server="intake_loops = 4")
try:
    d.start()
    t.ok("with 4 intake loops" in d.log_text(), "the start line says 4 intake loops")
    t.eq(listening_sockets(d.port), 4, "four listening sockets share the port (SO_REUSEPORT)")
    t.eq(d.metric("rekey_intake_loops"), 4.0, "rekey_intake_loops is 4")

    acked = parallel_posts(d, "spread")
    t.eq(len(acked), 16 * 20, "every webhook of the parallel load is answered 200")
    stored = set(r["event_id"] for r in d.events())
    t.eq([i for i in acked if i not in stored][:5], [], "and every one is in the store")
    loops = per_loop(d)
    t.eq(sorted(loops), [0, 1, 2, 3], "rekey_intake_requests_total has a series per loop",
         loops)
    busy = [k for k, v in loops.items() if v > 0]
    t.ok(len(busy) >= 2, "more than one loop served requests (%s)" % loops, loops)
    t.ok(sum(loops.values()) >= len(acked), "the loops' counts add up to the requests",
         (sum(loops.values()), len(acked)))

    # The admin API runs on the main loop, whichever loop a connection lands on.
    token = admin_token(d)
    answers = []
    for _ in range(24):
        st, _, body = d.request("GET", "/api/v1/status",
                                headers={"Authorization": "Bearer " + token})
        answers.append((st, b'"apps"' in body))
    t.eq(set(answers), {(200, True)}, "24 admin status requests over new connections: all 200")
    st, h, _ = d.request("GET", "/api/v1/status", headers={"Authorization": "Bearer wrong"})
    t.eq((st, h.get("www-authenticate")), (401, 'Bearer realm="rekey"'),
         "a refused admin request keeps its headers on the way back")
    st, _, body = d.request("POST", "/api/v1/apps/prod/rotate", body=b'{"dry_run":true}',
                            headers={"Authorization": "Bearer " + token,
                                     "Content-Type": "application/json"})
    t.eq(st, 202, "an admin POST with a body is handed over whole", body[:200])
    t.eq(d.request("GET", "/readyz")[0], 200, "/readyz answers (from the main loop)")

    # SIGHUP with another certificate: every loop serves it to new connections.
    port = d.port
    rsa = file_der(os.path.join(d.certs, "server.crt"))
    ec = file_der(os.path.join(d.certs, "server-ec.crt"))
    before = [peer_cert_der(d) for _ in range(32)]
    t.ok(all(c == rsa for c in before), "32 connections before SIGHUP: the RSA certificate")
    held = d.conn()
    held.request("GET", "/healthz")
    held.getresponse().read()
    d.cert_name = "server-ec"
    d.write_config(listen="127.0.0.1:%d" % port)
    d.signal(signal.SIGHUP)
    t.ok(wait_for(lambda: "reload: config and certificate reloaded" in d.log_text(), 10),
         "SIGHUP reload logged")
    # Each loop takes the new config at its next turn: within moments.
    time.sleep(0.3)
    after = [peer_cert_der(d) for _ in range(48)]
    t.eq(sum(1 for c in after if c == ec), 48,
         "48 connections after SIGHUP: every one gets the ECDSA certificate")
    loops = per_loop(d)
    t.ok(len([k for k, v in loops.items() if v > 0]) >= 2, "still more than one loop busy",
         loops)
    held.request("GET", "/healthz")
    t.eq(held.getresponse().status, 200, "a connection opened before SIGHUP still works")
    held.close()
    t.eq(d.post_nylas(envelope(id_="after-reload"))[0], 200, "webhooks after the reload")
    # A certificate that does not load: every loop keeps the one it has.
    d.cert_name = "missing"
    d.write_config(listen="127.0.0.1:%d" % port)
    d.signal(signal.SIGHUP)
    t.ok(wait_for(lambda: "keeping the running config" in d.log_text(), 10),
         "a certificate that does not load is refused on SIGHUP")
    t.ok(all(peer_cert_der(d) == ec for _ in range(16)), "and every loop keeps the ECDSA one")
    d.cert_name = "server-ec"
    d.write_config(listen="127.0.0.1:%d" % port)

    # A second daemon on the same port: refused, though the port allows SO_REUSEPORT.
    d2 = Daemon(extra_server="intake_loops = 2")
    try:
        d2.write_config(listen="127.0.0.1:%d" % port)
        try:
            d2.start()
            started = True
        except RuntimeError:
            started = False
        t.ok(not started and "cannot listen on 127.0.0.1:%d" % port in d2.log_text(),
             "a second rekey on the port of a running one is refused", d2.log_text()[-400:])
    finally:
        d2.cleanup()
    t.eq(d.stop(), 0, "SIGTERM exits 0")
finally:
    d.cleanup()

# --- SIGTERM under load: nothing acknowledged is lost, every loop stops ---
d = Daemon(extra_server="intake_loops = 4")
try:
    d.start()
    acked, lock, stop = [], threading.Lock(), threading.Event()
    refused = []

    def sender(w):
        n = 0
        c = None
        while not stop.is_set():
            try:
                if c is None:
                    c = d.conn(timeout=5)
                env = envelope(id_="term-%d-%d" % (w, n))
                n += 1
                st, _, _ = d.post_nylas(env, conn=c)
                if st == 200:
                    with lock:
                        acked.append(env["id"])
            except Exception:
                c = None
                with lock:
                    refused.append(w)
                time.sleep(0.01)

    ths = [threading.Thread(target=sender, args=(w,)) for w in range(12)]
    for th in ths:
        th.start()
    time.sleep(1.5)
    start = time.time()
    d.signal(signal.SIGTERM)
    try:
        rc = d.proc.wait(20)
    except Exception:
        rc = None
    took = time.time() - start
    stop.set()
    for th in ths:
        th.join(10)
    d.stop()
    t.eq(rc, 0, "SIGTERM under load exits 0 (%.1fs)" % took)
    t.ok(took < 12, "within the drain's bound (%.1fs)" % took)
    with lock:
        ids = list(acked)
    stored = set(r["event_id"] for r in d.events())
    t.ok(len(ids) > 100, "the load ran (%d acknowledged)" % len(ids))
    t.eq([i for i in ids if i not in stored][:5], [], "every webhook answered 200 is in the store")
    t.ok("stopped cleanly" in d.log_text(), "the daemon says it stopped cleanly")
finally:
    d.cleanup()

# --- intake_loops = 1: one socket, one loop, everything as before ---
d = Daemon(extra_server="intake_loops = 1")
try:
    d.start()
    t.ok("with 1 intake loop" in d.log_text(), "the start line says 1 intake loop")
    t.eq(listening_sockets(d.port), 1, "one listening socket")
    acked = parallel_posts(d, "one", threads=4, per_thread=10)
    t.eq(len(acked), 40, "webhooks answered 200")
    t.eq(len(d.events("event_id LIKE 'one-%'")), 40, "and stored")
    loops = per_loop(d)
    t.eq(sorted(loops), [0], "one loop's series", loops)
    t.ok(loops.get(0, 0) >= 40, "which took every request", loops)
    token = admin_token(d)
    t.eq(d.request("GET", "/api/v1/status", headers={"Authorization": "Bearer " + token})[0],
         200, "the admin API answers")
    d.signal(signal.SIGHUP)
    t.ok(wait_for(lambda: "reload: config and certificate reloaded" in d.log_text(), 10),
         "SIGHUP reloads")
    t.eq(d.post_nylas(envelope(id_="one-after"))[0], 200, "webhooks after the reload")
    t.eq(d.stop(), 0, "SIGTERM exits 0")
finally:
    d.cleanup()

# --- the default: one loop per CPU ---
d = Daemon()
try:
    d.start()
    n = os.sysconf("SC_NPROCESSORS_ONLN")
    t.ok("with %d intake loop" % n in d.log_text(), "by default one intake loop per CPU (%d)" % n)
    t.eq(listening_sockets(d.port), n, "as many listening sockets")
    t.eq(d.stop(), 0, "SIGTERM exits 0")
finally:
    d.cleanup()

t.done()
