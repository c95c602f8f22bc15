"""The daemon's life: SIGHUP reloads secrets, certificates and the config
without closing the listening socket (a bad config is refused and the old
one kept); SIGTERM drains in-flight requests; slow clients time out; the
connection limit holds; X-Forwarded-For is believed only from trusted
proxies; an ECDSA certificate serves."""

import json
import os
import signal
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import Daemon, Tap, envelope, make_certs, sign, write_secret  # noqa: E402

t = Tap()


def wait_log(d, needle, count=1, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if d.log_text().count(needle) >= count:
            return True
        time.sleep(0.05)
    return False


def peer_cert_der(d):
    ctx = d.ssl_context()
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as tls:
            return tls.getpeercert(binary_form=True)


def file_der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def tls_socket(d, timeout=5):
    s = socket.create_connection(("127.0.0.1", d.port), timeout=timeout)
    return d.ssl_context().wrap_socket(s, server_hostname="localhost")


# --- SIGHUP: secrets, certificate, bad config ---
d = Daemon(extra_server="request_timeout = 2s\nmax_connections = 4")
try:
    secret_file = os.path.join(d.dir, "secrets", "webhook")
    write_secret(secret_file, Daemon.WEBHOOK_SECRETS[0] + "\n")
    d.start()
    port = d.port
    t.eq(d.post_nylas(envelope(), secret=Daemon.WEBHOOK_SECRETS[1])[0], 401,
         "a secret not in the file is refused")
    write_secret(secret_file, "\n".join(Daemon.WEBHOOK_SECRETS) + "\n")
    held = d.conn()
    held.request("GET", "/healthz")
    held.getresponse().read()
    d.signal(signal.SIGHUP)
    t.ok(wait_log(d, "reload: config and certificate reloaded"), "SIGHUP reload logged")
    t.eq(d.post_nylas(envelope(), secret=Daemon.WEBHOOK_SECRETS[1])[0], 200,
         "after SIGHUP the new secret line is accepted")
    held.request("GET", "/healthz")
    t.eq(held.getresponse().status, 200, "a connection opened before SIGHUP still works")
    held.close()

    t.eq(peer_cert_der(d), file_der(os.path.join(d.certs, "server.crt")), "serves the RSA certificate")
    d.cert_name = "server-ec"
    d.write_config(listen="127.0.0.1:%d" % port)
    with open(d.conf_path) as f:
        conf = f.read()
    d.signal(signal.SIGHUP)
    t.ok(wait_log(d, "reload: config and certificate reloaded", 2), "second reload logged")
    t.eq(peer_cert_der(d), file_der(os.path.join(d.certs, "server-ec.crt")),
         "after SIGHUP new connections get the ECDSA certificate on the same port")
    t.eq(d.post_nylas(envelope())[0], 200, "webhooks work over the ECDSA certificate")

    with open(d.conf_path, "a") as f:
        f.write("\n[server]\nbogus_key = 1\n")
    d.signal(signal.SIGHUP)
    t.ok(wait_log(d, "keeping the running config"), "a bad config on SIGHUP is reported")
    t.ok("bogus_key" in d.log_text(), "the report names the problem")
    t.eq(d.post_nylas(envelope())[0], 200, "the old config keeps serving")
    with open(d.conf_path, "w") as f:
        f.write(conf)

    # Slow client: a partial request is cut off after request_timeout (2s).
    s = tls_socket(d)
    s.sendall(b"POST /webhooks/nylas/prod HTTP/1.1\r\nHost: x\r\n")
    s.settimeout(8)
    start = time.time()
    try:
        data = s.recv(1024)
    except (ssl.SSLError, OSError):
        data = b""
    took = time.time() - start
    s.close()
    t.ok(took < 7, "a slow client is disconnected by the timeout (%.1fs)" % took)

    # Connection limit: 4 open, the 5th waits until one closes.
    # The held ones are idle, so request_timeout (2s) closes them: the fifth
    # must be tried well inside that window.
    held = [tls_socket(d) for _ in range(4)]
    time.sleep(0.3)
    raw = socket.create_connection(("127.0.0.1", d.port), timeout=1.0)
    try:
        d.ssl_context().wrap_socket(raw, server_hostname="localhost").close()
        fifth = "served"
    except (socket.timeout, ssl.SSLError, OSError):
        fifth = "waited"
    t.eq(fifth, "waited", "the fifth connection is not served at max_connections = 4")
    raw.close()
    for s in held:
        s.close()
    time.sleep(0.8)
    try:
        t.eq(d.request("GET", "/healthz")[0], 200, "connections are served again once some close")
    except OSError as e:
        t.ok(False, "connections are served again once some close", repr(e))

    # SIGTERM drain: a request half-sent before the signal is still answered.
    body = json.dumps(envelope(email="drain@example.com")).encode()
    s = tls_socket(d, timeout=10)
    s.sendall(("POST /webhooks/nylas/prod HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               "X-Nylas-Signature: %s\r\nContent-Length: %d\r\n\r\n" %
               (sign(body, Daemon.WEBHOOK_SECRETS[0]), len(body))).encode() + body[:10])
    time.sleep(0.3)
    d.signal(signal.SIGTERM)
    time.sleep(0.05)
    s.sendall(body[10:])
    resp = b""
    try:
        while b"\r\n\r\n" not in resp:
            chunk = s.recv(4096)
            if not chunk:
                break
            resp += chunk
    except OSError:
        pass
    s.close()
    t.ok(resp.startswith(b"HTTP/1.1 200"), "a request in flight at SIGTERM is answered 200",
         resp[:200])
    rc = d.proc.wait(15)
    d.log.close()
    d.proc = None
    t.eq(rc, 0, "SIGTERM exits 0 after draining")
    t.eq(len(d.events("email = ?", ("drain@example.com",))), 1, "the drained event is committed")
finally:
    d.cleanup()

# --- X-Forwarded-For: believed only from trusted proxies (plain HTTP mode) ---
d = Daemon(tls=False, extra_server="trusted_proxies = 127.0.0.1/32, ::1/128")
try:
    d.start()
    e1 = envelope()
    d.post_nylas(e1, headers={"X-Forwarded-For": "203.0.113.7"})
    e2 = envelope()
    d.post_nylas(e2, headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9, 127.0.0.1"})
    e3 = envelope()
    d.post_nylas(e3, headers={"X-Forwarded-For": "garbage, 203.0.113.10"})
    got = [d.events("event_id = ?", (e["id"],))[0]["remote_addr"] for e in (e1, e2, e3)]
    t.eq(got, ["203.0.113.7", "203.0.113.9", "203.0.113.10"],
         "from a trusted proxy the rightmost untrusted X-Forwarded-For entry is the client")
    conf = open(d.conf_path).read().replace("trusted_proxies = 127.0.0.1/32, ::1/128",
                                            "trusted_proxies = 10.9.9.9/32")
    with open(d.conf_path, "w") as f:
        f.write(conf)
    d.signal(signal.SIGHUP)
    t.ok(wait_log(d, "reload: config and certificate reloaded"), "reload with other proxies")
    e4 = envelope()
    d.post_nylas(e4, headers={"X-Forwarded-For": "203.0.113.66", "X-Forwarded-Proto": "https"})
    t.eq(d.events("event_id = ?", (e4["id"],))[0]["remote_addr"], "127.0.0.1",
         "a forged X-Forwarded-For from an untrusted peer is ignored")
    t.eq(d.stop(), 0, "plain-HTTP daemon stops cleanly")
finally:
    d.cleanup()
t.done()
