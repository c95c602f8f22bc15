"""kill -9 at each step of a Nylas webhook secret rotation, then a restart.

- during the rotate-secret call (Nylas has rotated, its answer held back):
  the store shows the rotation "calling"; after the restart the outcome is
  recorded unknown and the operator told (log, status), deliveries with the
  secret rekey does not know are answered 503 (Nylas retries them) only for
  the grace, then 401: never 503 for good; running the rotation again
  brings the app back.
- right after the answer was stored: the new secret survives the restart.
- nylas_webhook_secret_rotate_every: the daemon rotates by itself through
  the same path.
"""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import REKEY_BIN, Tap, wait_for  # noqa: E402
from webhooklib import GRACE_S, cli, deliver, make_rig, webhooks  # noqa: E402

t = Tap()
rig = make_rig()


def rotation():
    v = rig.value("nylas_webhook.rotation")
    return json.loads(v) if v else {}


def status_webhook():
    p = subprocess.run([REKEY_BIN, "status", "-c", rig.d.conf_path, "--json"],
                       capture_output=True, text=True, timeout=60)
    return json.loads(p.stdout)["apps"][0].get("webhook") or {}


try:
    base_lines = list(rig.app_lines)
    rig.configure(base_lines + ["nylas_webhook_manage = yes"])
    rig.d.start()
    t.ok(wait_for(lambda: len(webhooks(rig)) == 1 and rig.value("nylas_webhook.secret"), 20),
         "with nylas_webhook_manage the daemon registers the destination at start")
    rc, out, err = cli(rig, "register", "prod")
    t.ok(rc == 0 and out.startswith("unchanged:"), "and register then finds it unchanged",
         out + err)
    wid = next(iter(webhooks(rig)))
    rig.configure(base_lines)

    # --- kill -9 during the call ---
    rig.fakes.seed({"nylas": {"rotate_delay_ms": 5000}})
    p = subprocess.Popen([REKEY_BIN, "nylas", "rotate-webhook-secret", "-c", rig.d.conf_path,
                          "prod"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t.ok(wait_for(lambda: rotation().get("state") == "calling", 20),
         "the store shows the rotation calling before the answer", rotation())
    r = deliver(rig, wid)
    t.eq(r.get("status"), 503, "meanwhile a delivery signed with Nylas's new secret is 503", r)
    t.eq((r.get("headers") or {}).get("retry-after"), "5", "with Retry-After")
    rig.d.kill9()
    _, err = p.communicate(timeout=60)
    t.ok(p.returncode == 1 and "no daemon answered" in err, "the CLI says the daemon went away",
         err)
    rig.fakes.seed({"nylas": {"rotate_delay_ms": 0}})
    rig.d.start()
    # The webhook manager is an engine: it runs once this process leads, just after the
    # listener opens (meanwhile the "calling" window answers 503 all the same).
    wait_for(lambda: rotation().get("state") != "calling", 10)
    t.eq(rotation().get("state"), "unknown", "after the restart the outcome is recorded unknown")
    log = wait_for(lambda: "whether Nylas rotated the secret is unknown" in rig.d.log_text() and
                   rig.d.log_text(), 10) or rig.d.log_text()
    t.ok("whether Nylas rotated the secret is unknown" in log and
         "rotate-webhook-secret" in log, "and the operator is told to run it again")
    wh = status_webhook()
    t.ok((wh.get("last_rotation") or {}).get("state") == "unknown" and
         "run rekey nylas rotate-webhook-secret" in (wh["last_rotation"].get("error") or ""),
         "status says so too", wh)
    r = deliver(rig, wid)
    t.eq(r.get("status"), 503, "the window is reopened: Nylas's new secret gets 503, not 401", r)
    time.sleep(GRACE_S + 0.5)
    r = deliver(rig, wid)
    t.eq(r.get("status"), 401, "and it ends with the grace: the app is not stuck in 503", r)
    rc, out, err = cli(rig, "rotate-webhook-secret", "prod")
    t.eq(rc, 0, "running the rotation again works", err)
    r = deliver(rig, wid)
    t.eq(r.get("status"), 200, "and deliveries are accepted again", r)

    # --- kill -9 right after the answer was stored ---
    rc, out, err = cli(rig, "rotate-webhook-secret", "prod")
    t.eq(rc, 0, "another rotation", err)
    rig.d.kill9()
    rig.d.start()
    t.eq(rotation().get("state"), "done", "after kill -9 and a restart it is done")
    r = deliver(rig, wid)
    t.eq(r.get("status"), 200, "and the stored secret is the one Nylas signs with", r)
    t.ok("unknown" not in rig.d.log_text()[rig.d.log_start:], "and nothing is reported unknown")

    # --- scheduled ---
    rig.d.stop()
    rig.configure(rig.app_lines + ["nylas_webhook_secret_rotate_every = 2s", "",
                                   "[notify]", "slack_webhook_url = https://127.0.0.1:9/slack"])
    before = webhooks(rig)[wid]["webhook_secret"]
    rig.d.start()
    t.ok(wait_for(lambda: rotation().get("reason") == "scheduled" and
                  rotation().get("state") == "done", 30),
         "with nylas_webhook_secret_rotate_every the daemon rotates by itself", rotation())
    t.ok(webhooks(rig)[wid]["webhook_secret"] != before, "Nylas holds a new secret")
    r = deliver(rig, wid)
    t.eq(r.get("status"), 200, "and deliveries signed with it are accepted", r)
    with rig.d.db() as c:
        told = [dict(x) for x in c.execute("SELECT channel, payload FROM outbox WHERE app = 'prod'"
                                           " AND kind = 'webhook_secret_rotated'")]
    t.ok(len(told) >= 1 and all(x["channel"] == "slack" for x in told) and
         any(b"nylas_webhook_secret_rotate_every" in bytes(x["payload"]) for x in told) and
         all(wid.encode() in bytes(x["payload"]) for x in told), "the owners are told after the rotation",
         told[:1])
finally:
    rig.stop()
t.done()
