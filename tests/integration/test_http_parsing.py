"""Strict request heads against the real daemon (plain HTTP, as behind a
proxy): a duplicate or signed Content-Length, bare LF line ends, folded
header lines and Transfer-Encoding beside Content-Length are answered 400
and the connection is closed, even with a valid signature; nothing is stored."""

import json
import os
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import Daemon, Tap, envelope, sign  # noqa: E402

t = Tap()


def raw(d, data):
    """Sends data on a fresh connection; the whole answer until the daemon closes."""
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    s.sendall(data)
    got = b""
    try:
        while True:
            part = s.recv(65536)
            if not part:
                break
            got += part
    except OSError as e:
        got += b"\n<" + repr(e).encode() + b">"
    s.close()
    return got


def status(answer):
    try:
        return int(answer.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return answer[:60]


d = Daemon(tls=False)
try:
    d.start()
    secret = Daemon.WEBHOOK_SECRETS[0]

    def delivery():
        body = json.dumps(envelope()).encode()
        return body, sign(body, secret).encode()

    # The control: a well-formed signed delivery over the raw socket is stored.
    body, sig = delivery()
    good = raw(d, b"POST /webhooks/nylas/prod HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               b"X-Nylas-Signature: " + sig + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    t.eq(status(good), 200, "a well-formed delivery is 200")
    stored = len(d.events())

    cases = []
    body, sig = delivery()
    n = b"%d" % len(body)
    cases.append(("duplicate Content-Length",
                  b"POST /webhooks/nylas/prod HTTP/1.1\r\nHost: x\r\nX-Nylas-Signature: " + sig +
                  b"\r\nContent-Length: " + n + b"\r\nContent-Length: " + n + b"\r\n\r\n" + body))
    body, sig = delivery()
    n = b"%d" % len(body)
    cases.append(("Content-Length: +N",
                  b"POST /webhooks/nylas/prod HTTP/1.1\r\nHost: x\r\nX-Nylas-Signature: " + sig +
                  b"\r\nContent-Length: +" + n + b"\r\n\r\n" + body))
    body, sig = delivery()
    n = b"%d" % len(body)
    cases.append(("bare LF line ends",
                  b"POST /webhooks/nylas/prod HTTP/1.1\nHost: x\nX-Nylas-Signature: " + sig +
                  b"\nContent-Length: " + n + b"\n\n" + body))
    body, sig = delivery()
    n = b"%d" % len(body)
    cases.append(("a folded header line",
                  b"POST /webhooks/nylas/prod HTTP/1.1\r\nHost: x\r\nX-Nylas-Signature: " + sig +
                  b"\r\nX-Note: a\r\n b\r\nContent-Length: " + n + b"\r\n\r\n" + body))
    body, sig = delivery()
    chunked = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    cases.append(("Transfer-Encoding beside Content-Length",
                  b"POST /webhooks/nylas/prod HTTP/1.1\r\nHost: x\r\nX-Nylas-Signature: " + sig +
                  b"\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked))
    for name, data in cases:
        answer = raw(d, data)
        t.eq(status(answer), 400, name + " is 400", answer[:200])
        t.ok(b"\r\nconnection: close\r\n" in answer.lower(), name + ": and the connection closes")
    t.eq(len(d.events()), stored, "nothing of them is stored")

    # A request pipelined after a good one is checked too.
    answer = raw(d, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                    b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 0\r\n\r\n")
    t.ok(answer.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 400" in answer,
         "a pipelined second request with a duplicate Content-Length is 400", answer[:300])
    answer = raw(d, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                    b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    t.eq(answer.count(b"HTTP/1.1 200"), 2, "two good pipelined requests are both answered")
    t.eq(d.stop(), 0, "SIGTERM exits 0")
finally:
    d.cleanup()
t.done()
