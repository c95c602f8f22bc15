"""The reverse-proxy deployment, for real: Debian's nginx runs the very
handler/nginx.conf that docker-compose.yml mounts, in front of rekey in
plain-HTTP mode.  Signed webhooks pass through, rekey sees the client's
address through X-Forwarded-For, and a forged X-Forwarded-For is ignored
(from the client through nginx, and from an untrusted peer directly)."""

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import ROOT, Daemon, Tap, envelope, free_port, sign  # noqa: E402

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
t = Tap()
d = Daemon(tls=False, extra_server="trusted_proxies = 127.0.0.1/32")
prefix = tempfile.mkdtemp(prefix="rekey-nginx-")
nginx = None
try:
    d.start()
    os.chmod(prefix, 0o755)
    os.makedirs(os.path.join(prefix, "tmp"))
    os.chmod(os.path.join(prefix, "tmp"), 0o777)
    port = free_port()
    with open(os.path.join(ROOT, "handler", "nginx.conf")) as f:
        conf = f.read()
    for k, v in {"LISTEN": "127.0.0.1:%d" % port, "CERT": os.path.join(d.certs, "server.crt"),
                 "KEY": os.path.join(d.certs, "server.key"),
                 "UPSTREAM_SERVERS": "server 127.0.0.1:%d;" % d.port, "PIDFILE": os.path.join(prefix, "nginx.pid"),
                 "TMPDIR": os.path.join(prefix, "tmp"),
                 "ERROR_LOG": os.path.join(prefix, "error.log"),
                 "ACCESS_LOG": os.path.join(prefix, "access.log")}.items():
        conf = conf.replace("@%s@" % k, v)
    t.ok("@" not in "".join(l.split("#")[0] for l in conf.splitlines()), "every placeholder filled")
    conf_path = os.path.join(prefix, "nginx.conf")
    with open(conf_path, "w") as f:
        f.write(conf)
    nginx = subprocess.Popen([NGINX, "-c", conf_path, "-p", prefix + "/", "-e",
                              os.path.join(prefix, "error.log"), "-g", "daemon off;"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def via_nginx(env, source="127.0.0.2", headers=None):
        body = json.dumps(env).encode()
        h = {"Content-Type": "application/json",
             "X-Nylas-Signature": sign(body, Daemon.WEBHOOK_SECRETS[0])}
        h.update(headers or {})
        c = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=d.ssl_context(),
                                        source_address=(source, 0))
        c.request("POST", "/webhooks/nylas/prod", body, h)
        r = c.getresponse()
        r.read()
        c.close()
        return r.status

    deadline = time.time() + 10
    while True:
        try:
            c = http.client.HTTPSConnection("127.0.0.1", port, timeout=2, context=d.ssl_context())
            c.request("GET", "/healthz")
            ready = c.getresponse().status == 200
            c.close()
            break
        except OSError:
            if time.time() > deadline or nginx.poll() is not None:
                ready = False
                break
            time.sleep(0.1)
    t.ok(ready, "nginx is up in front of rekey", nginx.poll() is not None and nginx.stderr.read())

    e1 = envelope()
    t.eq(via_nginx(e1), 200, "a signed webhook through nginx is stored")
    rows = d.events("event_id = ?", (e1["id"],))
    t.eq(rows[0]["remote_addr"] if rows else None, "127.0.0.2",
         "rekey records the client's address seen by nginx (X-Forwarded-For)")

    e2 = envelope()
    t.eq(via_nginx(e2, source="127.0.0.3", headers={"X-Forwarded-For": "6.6.6.6"}), 200,
         "a webhook with a forged X-Forwarded-For is still served")
    rows = d.events("event_id = ?", (e2["id"],))
    t.eq(rows[0]["remote_addr"] if rows else None, "127.0.0.3",
         "a client's forged X-Forwarded-For does not survive nginx")

    e3 = envelope()
    body = json.dumps(e3).encode()
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10, source_address=("127.0.0.4", 0))
    c.request("POST", "/webhooks/nylas/prod", body,
              {"X-Nylas-Signature": sign(body, Daemon.WEBHOOK_SECRETS[0]),
               "X-Forwarded-For": "6.6.6.6"})
    st = c.getresponse().status
    c.close()
    rows = d.events("event_id = ?", (e3["id"],))
    t.eq((st, rows[0]["remote_addr"] if rows else None), (200, "127.0.0.4"),
         "X-Forwarded-For from an untrusted peer (direct) is ignored")

    e4 = envelope()
    t.eq(via_nginx(e4, headers={"X-Nylas-Signature": "00" * 32}), 401,
         "a bad signature through nginx is 401")
    t.eq(d.events("event_id = ?", (e4["id"],)), [], "and nothing is stored")

    big = envelope(extra_object={"pad": "x" * 1100000})
    t.eq(via_nginx(big), 413, "over max_body through nginx: rekey's 413 reaches the client")

    st = via_nginx(envelope(), headers={})
    t.eq(st, 200, "keep-alive upstream still healthy after a 413")

    def get_via_nginx(path, source):
        c = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=d.ssl_context(),
                                        source_address=(source, 0))
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        c.close()
        return r.status

    # The shipped config keeps /metrics and the admin API to loopback (add your networks).
    t.eq(get_via_nginx("/metrics", "127.0.0.1"), 200, "/metrics through nginx from loopback")
    t.eq(get_via_nginx("/metrics", "127.0.0.2"), 403, "/metrics from another address: 403")
    t.eq(get_via_nginx("/api/v1/status", "127.0.0.2"), 403,
         "the admin API from another address: 403 (nginx, before rekey's token)")
    t.eq(get_via_nginx("/api/v1/status", "127.0.0.1"), 401,
         "the admin API from loopback reaches rekey (its 401 without a token)")
    t.eq(get_via_nginx("/healthz", "127.0.0.2"), 200, "/healthz stays reachable")
finally:
    if nginx is not None:
        nginx.terminate()
        try:
            nginx.wait(10)
        except subprocess.TimeoutExpired:
            nginx.kill()
    d.cleanup()
    shutil.rmtree(prefix, ignore_errors=True)
t.done()
