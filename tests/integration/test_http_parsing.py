"""Strict request heads against the real daemon (plain HTTP, as behind a
proxy): a duplicate or signed Content-Length, bare LF line ends, folded
header lines and Transfer-Encoding beside Content-Length are answered 400
and the connection is closed, even with a valid signature; nothing is stored.
Then the rest of HTTP/1.1 that rekey's own connection code (intake/conn.c)
must get right: chunked bodies, Expect: 100-continue, HTTP/1.0 keep-alive,
pipelining, a half-closed client, absolute-form targets, 431 and 501."""

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

    # --- rekey's own HTTP/1.1 (intake/conn.c) ---
    def delivery_head(body, sig, extra=b""):
        return (b"POST /webhooks/nylas/prod HTTP/1.1\r\nHost: x\r\nX-Nylas-Signature: " + sig +
                b"\r\n" + extra)

    before = len(d.events())
    body, sig = delivery()
    chunks = b"%x\r\n" % 10 + body[:10] + b"\r\n" + b"%x;ext=1\r\n" % (len(body) - 10) + \
        body[10:] + b"\r\n0\r\nX-Trailer: t\r\n\r\n"
    answer = raw(d, delivery_head(body, sig, b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                 + chunks)
    t.eq(status(answer), 200, "a chunked delivery (extension, trailer) is 200", answer[:200])
    t.eq(len(d.events()), before + 1, "and stored")

    body, sig = delivery()
    answer = raw(d, delivery_head(body, sig, b"Transfer-Encoding: chunked\r\n\r\n") +
                 b"zz\r\n" + body + b"\r\n0\r\n\r\n")
    t.eq(status(answer), 400, "a chunk size that is not hex is 400", answer[:200])
    t.ok(b"\r\nconnection: close\r\n" in answer.lower(), "and the connection closes")

    # Expect: 100-continue: the interim answer comes before the body is sent.
    body, sig = delivery()
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    s.sendall(delivery_head(body, sig, b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n"
                            % len(body)))
    interim = s.recv(4096)
    t.ok(interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), "Expect: 100-continue gets 100 first",
         interim[:80])
    s.sendall(body)
    final = s.recv(4096)
    t.eq(status(final), 200, "then the delivery's 200", final[:120])
    s.close()

    # HTTP/1.0: closed after the answer unless it asks for keep-alive.
    answer = raw(d, b"GET /healthz HTTP/1.0\r\n\r\n")
    t.ok(answer.startswith(b"HTTP/1.1 200") and b"connection: close" in answer.lower(),
         "HTTP/1.0: answered, Connection: close, and closed", answer[:200])
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    s.sendall(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    first = s.recv(4096)
    s.sendall(b"GET /readyz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    second = s.recv(4096)
    t.ok(b"connection: keep-alive" in first.lower() and status(second) == 200,
         "HTTP/1.0 keep-alive: two requests on one connection", (first[:120], second[:60]))
    s.close()

    # A hundred pipelined requests in one segment: a hundred answers, in order.
    answer = raw(d, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 99 +
                 b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    t.eq(answer.count(b"HTTP/1.1 200"), 100, "100 pipelined requests, 100 answers")

    # A client that shuts its sending side after the request still gets the answer.
    body, sig = delivery()
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    s.sendall(delivery_head(body, sig, b"Content-Length: %d\r\n\r\n" % len(body)) + body)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        part = s.recv(4096)
        if not part:
            break
        got += part
    s.close()
    t.eq(status(got), 200, "a half-closed client gets its answer", got[:120])

    answer = raw(d, b"GET http://rekey.example/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    t.eq(status(answer), 200, "an absolute-form target is routed by its path", answer[:120])
    answer = raw(d, b"PUT /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    t.ok(status(answer) == 501 and b"connection: close" in answer.lower(),
         "PUT: 501 and the connection closes", answer[:200])
    answer = raw(d, b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n")
    t.eq(status(answer), 400, "HTTP/2.0 in a request line: 400", answer[:120])
    answer = raw(d, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 20000 + b"\r\n\r\n")
    t.ok(status(answer) == 431 and b"connection: close" in answer.lower(),
         "a head over max_header_size: 431 and the connection closes", answer[:200])
    answer = raw(d, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    t.ok(b"\r\ndate: " in answer.lower() and b"\r\ncontent-length: 3\r\n" in answer.lower(),
         "answers carry Date and Content-Length", answer[:300])
    t.eq(len(d.events()), before + 3, "the chunked, 100-continue and half-closed deliveries stored")
    t.eq(d.stop(), 0, "SIGTERM exits 0")
finally:
    d.cleanup()
t.done()
