"""Request ids: a trusted proxy's X-Request-ID (nginx's $request_id) becomes
rekey's request id, logged and echoed in X-Request-Id, so the proxy's log
and rekey's join; from an untrusted peer, or when it is too long or has
other characters than [A-Za-z0-9._-], it is ignored and rekey's own id is
used."""

import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import Daemon, Tap, wait_for  # noqa: E402

t = Tap()
OWN_ID = re.compile(r"^[0-9a-f]{16}$")


def log_reqs(d):
    reqs = []
    for line in d.log_text().splitlines():
        try:
            reqs.append(json.loads(line).get("req"))
        except ValueError:
            pass
    return reqs


def ask(d, rid):
    status, headers, _ = d.request("GET", "/no-such-path", headers={"X-Request-ID": rid})
    return status, headers.get("x-request-id", "")


NGINX_ID = "0123456789abcdef0123456789abcdef"   # what nginx's $request_id looks like
for trusted in (True, False):
    extra = "trusted_proxies = 127.0.0.1/32, ::1/128" if trusted else ""
    d = Daemon(tls=False, extra_server=extra)
    who = "trusted" if trusted else "untrusted"
    try:
        d.start()
        status, echoed = ask(d, NGINX_ID)
        t.eq(status, 404, "%s: the request is answered" % who)
        if trusted:
            t.eq(echoed, NGINX_ID, "trusted proxy: its X-Request-ID is echoed in X-Request-Id")
            t.ok(wait_for(lambda: NGINX_ID in log_reqs(d), timeout=10),
                 "trusted proxy: its X-Request-ID is the request id in the log")
        else:
            t.ok(OWN_ID.match(echoed), "untrusted peer: rekey's own id is echoed", echoed)
            t.ok(wait_for(lambda: echoed in log_reqs(d), timeout=10),
                 "untrusted peer: rekey's own id is logged")
            t.ok(NGINX_ID not in d.log_text(), "untrusted peer: its X-Request-ID is not logged")
        for bad, why in (("a" * 65, "longer than 64"), ("ab cd", "a space"),
                         ("ab\"}{x", "quote and braces"), ("id/1", "a slash")):
            _, echoed = ask(d, bad)
            t.ok(OWN_ID.match(echoed), "%s: an X-Request-ID with %s is ignored" % (who, why),
                 echoed)
        longest = "A-z_0.9" * 9 + "x"                # 64 characters, every class
        _, echoed = ask(d, longest)
        if trusted:
            t.eq(echoed, longest, "trusted: a 64-character id of the allowed charset is taken")
        else:
            t.ok(OWN_ID.match(echoed), "untrusted: even a well-formed id is ignored", echoed)
        t.eq(d.stop(), 0, "%s: stops cleanly" % who)
    finally:
        d.cleanup()
t.done()
