"""Subscription lifetimes against a Graph that holds to its maximum: rekey
asks for the maximum less a margin (41760 - 5 minutes), and when Graph
refuses an expiration as too far ("Subscription expiration can only be N
minutes in the future", or the TimeSpan wording "... is beyond allowed max
'd.hh:mm:ss'") it reads the maximum and asks again, shorter, at once: on
create (a Graph whose maximum is smaller than rekey knew) and on renew (a
smaller maximum again, in the other wording, and a Graph whose clock is
fifteen minutes behind rekey's, which takes the margin doubled twice)."""

import json
import os
import re
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from fakes import Fakes  # noqa: E402
from rekeytest import Daemon, Tap, free_port, write_secret, wait_for  # noqa: E402

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TARGET = "11111111-2222-3333-4444-555555555555"
ROTATOR = "99999999-8888-7777-6666-555555555555"
CLIENT_STATE = "cs-" + uuid.uuid4().hex


def parse_time(s):
    s = re.sub(r"\.\d+", "", s).rstrip("Z")
    return int(time.mktime(time.strptime(s, "%Y-%m-%dT%H:%M:%S")) - time.timezone)


t = Tap()
d = Daemon()
fakes = Fakes()
try:
    fakes.start(d.certs, {"subscription_max_minutes": 41000, "tenants": {TENANT: {
        "apps": {TARGET: {"object_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
                          "display_name": "Nylas connector", "passwords": [],
                          "owners": [{"type": "servicePrincipal", "appId": ROTATOR}]},
                 ROTATOR: {"display_name": "rekey", "certificates": ["rotator.crt"]}},
        "users": {}}}})
    port = free_port()
    s = os.path.join(d.dir, "secrets")
    write_secret(os.path.join(s, "client_state"), CLIENT_STATE + "\n")
    base = "https://127.0.0.1:%d" % port
    lines = ["[server]", "listen = 127.0.0.1:%d" % port, "tls_cert = %s/server.crt" % d.certs,
             "tls_key = %s/server.key" % d.certs, "public_url = %s" % base, "log_level = debug", "",
             "[store]", "url = sqlite:%s" % d.db_path, "master_key_file = %s/master_key" % s, "",
             "[outbound]", "ca_file = %s/ca.crt" % d.certs, "timeout_ms = 5000", "",
             "[app prod]", "nylas_webhook_secret_file = %s/webhook" % s,
             "azure_tenant_id = %s" % TENANT, "azure_client_id = %s" % TARGET,
             "azure_login_base = %s" % fakes.login_base, "graph_base = %s" % fakes.graph_base,
             "rotator_client_id = %s" % ROTATOR, "rotator_cert_file = %s/rotator.crt" % d.certs,
             "rotator_key_file = %s/rotator.key" % d.certs,
             "graph_client_state_file = %s/client_state" % s, "graph_subscribe_users = yes", ""]
    with open(d.conf_path, "w") as f:
        f.write("\n".join(lines))

    def live_subs():
        return list(fakes.state().get("subscriptions", {}).values())

    def calls(method):
        """(asked minutes from when it was sent, HTTP status) of each create or renew."""
        out = []
        for r in fakes.requests("graph", r"/subscriptions"):
            if r["method"] != method or r["path"].endswith("/reauthorize"):
                continue
            body = json.loads(r["body"] or "{}")
            asked = (parse_time(body["expirationDateTime"]) - r["time_ms"] / 1000.0) / 60
            out.append(asked)
        return out

    # --- create: Graph's maximum is 41000 minutes, not the 41760 rekey knows ----------
    d.start()
    subs = wait_for(live_subs, 40)
    t.eq(len(subs or []), 1, "a subscription is created although Graph refused the first expiration",
         d.log_text()[-3000:])
    posts = calls("POST")
    t.ok(len(posts) == 2 and 41753 <= posts[0] <= 41755.1,
         "the first create asks for the maximum less 5 minutes (41755), not 41760", posts)
    t.ok(len(posts) == 2 and 40993 <= posts[1] <= 40995.1,
         "Graph said 41000: the second asks for 41000 less the margin", posts)
    exp = parse_time(subs[0]["expirationDateTime"]) if subs else 0
    t.ok(abs(exp - (time.time() + 40995 * 60)) <= 90, "its expiration is about now + 40995 minutes",
         subs[0]["expirationDateTime"] if subs else None)
    t.ok(re.search(r"graph subscription create refused: 41755 minutes asked, Graph allows 41000 "
                   r"from its clock; asking for 40995 minutes now", d.log_text()),
         "the refusal and the shorter ask are logged", d.log_text()[-3000:])
    t.eq(d.metric("rekey_graph_subscription_operations_total", {"op": "create", "result": "permanent"}),
         1.0, "the refused create is counted")
    sid = subs[0]["id"] if subs else None

    # --- renew: a smaller maximum again, the TimeSpan wording, and Graph's clock
    # fifteen minutes behind rekey's.  A failed reauthorize makes rekey renew now.
    fakes.seed({"subscription_max_minutes": 40000, "subscription_expiry_error": "timespan",
                "graph_clock_offset_s": -900})
    fakes.clear_requests("graph")
    fakes.script("graph", [{"method": "POST", "path": "/reauthorize",
                            "action": {"graph_error": "Authorization_RequestDenied"}}])
    mark = len(d.log_text())
    r = fakes.lifecycle_graph(sid, "reauthorizationRequired")
    t.eq(r.get("status"), 202, "reauthorizationRequired is acked")

    def renewed():
        subs = live_subs()
        return subs and parse_time(subs[0]["expirationDateTime"]) != exp and subs[0]

    sub = wait_for(renewed, 30)
    t.ok(sub and sub["id"] == sid, "the subscription is renewed (same id, a new expiration)",
         d.log_text()[mark:][-3000:])
    patches = calls("PATCH")
    t.ok(len(patches) == 4 and 40993 <= patches[0] <= 40995.1 and 39993 <= patches[1] <= 39995.1
         and 39988 <= patches[2] <= 39990.1 and 39978 <= patches[3] <= 39980.1,
         "renew: 40995 refused (max 40000); 39995 and 39990 refused (Graph's clock is 15 minutes "
         "behind: the margin doubles); 39980 accepted", patches)
    new_exp = parse_time(sub["expirationDateTime"]) if sub else 0
    t.ok(abs(new_exp - (time.time() + 39980 * 60)) <= 90, "the renewed expiration is about now + "
         "39980 minutes", sub and sub["expirationDateTime"])
    log = d.log_text()[mark:]
    t.ok("graph subscription renew refused: 40995 minutes asked, Graph allows 40000 from its "
         "clock; asking for 39995 minutes now" in log and
         "graph subscription renew refused: 39995 minutes asked, Graph allows 40000 from its "
         "clock; asking for 39990 minutes now" in log and
         "graph subscription renew refused: 39990 minutes asked, Graph allows 40000 from its "
         "clock; asking for 39980 minutes now" in log,
         "each renew refusal is logged with the shorter ask", log[-3000:])
    row = wait_for(lambda: [dict(x) for x in d.db().execute(
        "SELECT * FROM subscriptions WHERE app = 'prod'")], 5)
    t.ok(row and row[0]["expiration"] == new_exp, "the store has the renewed expiration", row)
    t.eq(d.stop(), 0, "SIGTERM stops cleanly")
finally:
    if t.failed:
        print("# daemon log (tail):")
        for line in d.log_text()[-6000:].splitlines():
            print("#   " + line)
    d.cleanup()
    fakes.stop()
t.done()
