"""Outbound work never blocks intake.  The daemon runs with 100 apps whose
expiry poll (the app's passwordCredentials from Graph) hangs at the fake
Graph; signed webhooks sent meanwhile are all answered before the fake
releases any of the hung requests (an ordering check, not a timing one).
Once released, every poll completes and its secrets' end dates show up in
the log and the metrics."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from fakes import Fakes  # noqa: E402
from rekeytest import Daemon, Tap, envelope, wait_for  # noqa: E402

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TARGET = "11111111-2222-3333-4444-555555555555"
ROTATOR = "99999999-8888-7777-6666-555555555555"
N_APPS = 100




t = Tap()
apps = tuple("app%03d" % i for i in range(N_APPS))
d = Daemon(apps=apps)
fakes = Fakes()
try:
    fakes.start(d.certs, {"tenants": {TENANT: {"apps": {
        TARGET: {"object_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "display_name": "Nylas connector",
                 "passwords": [{"keyId": "6f1c6c1e-1111-2222-3333-444444444444", "displayName": "current",
                                "secretText": "cur8Q~" + "c" * 34, "startDateTime": "2026-01-01T00:00:00Z",
                                "endDateTime": "2027-06-01T00:00:00Z"}],
                 "owners": [{"type": "servicePrincipal", "appId": ROTATOR}]},
        ROTATOR: {"display_name": "rekey", "certificates": ["rotator.crt"]}}}}})
    fakes.script("graph", [{"method": "GET", "path": "applications", "times": 0, "action": {"hang": True}}])
    s = os.path.join(d.dir, "secrets")
    lines = ["[server]", "listen = 127.0.0.1:0", "tls_cert = %s/server.crt" % d.certs,
             "tls_key = %s/server.key" % d.certs, "max_connections = 1000", "",
             "[store]", "url = sqlite:%s" % d.db_path, "master_key_file = %s/master_key" % s, "",
             "[outbound]", "ca_file = %s/ca.crt" % d.certs, "timeout_ms = 60000", ""]
    for a in apps:
        lines += ["[app %s]" % a, "nylas_webhook_secret_file = %s/webhook" % s,
                  "azure_tenant_id = %s" % TENANT, "azure_client_id = %s" % TARGET,
                  "azure_login_base = %s" % fakes.login_base, "graph_base = %s" % fakes.graph_base,
                  "rotator_client_id = %s" % ROTATOR, "rotator_cert_file = %s/rotator.crt" % d.certs,
                  "rotator_key_file = %s/rotator.key" % d.certs,
                  "owners_from_graph = no", ""]
    with open(d.conf_path, "w") as f:
        f.write("\n".join(lines))
    d.start()
    hung = wait_for(lambda: fakes.hung("graph") >= N_APPS, 60)
    t.eq(fakes.hung("graph"), N_APPS, "all %d expiry polls are hanging at the fake Graph" % N_APPS)
    statuses = [d.post_nylas(envelope(id_="during-hang-%d" % i), app=apps[i % N_APPS])[0] for i in range(50)]
    t.eq(statuses, [200] * 50, "50 signed webhooks answered 200 meanwhile")
    t.eq(fakes.hung("graph"), N_APPS, "and the fake released none of the hung requests before that")
    t.eq(len(d.events()), 50, "the 50 events are journaled")
    fakes.clear_script("graph")
    t.eq(fakes.release("graph"), N_APPS, "release the hung polls")
    done = wait_for(lambda: d.log_text().count("expiry poll: 1 secrets") >= N_APPS, 60)
    t.ok(done, "every app's poll completes once released (%d)" % d.log_text().count("expiry poll: 1 secrets"))
    t.eq(d.metric("rekey_secret_expiry_timestamp_seconds", {"app": "app042"}), 1811808000.0,
         "the secret's end date is a metric per app and keyId")
    t.eq(d.stop(), 0, "clean stop")
finally:
    fakes.stop()
    d.cleanup()
t.done()
