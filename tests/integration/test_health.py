"""Never blind while green (issue 16): each app's conditions, its health and
`rekey status`'s exit code, /metrics, and the owners' notices, with the real
daemon against the fakes and the local sinks.

1. blind: the rotator key does not belong to its certificate.  Before, the
   daemon logged one line and status exited 0 forever.  Now RotatorReady is
   false (IdentityUnusable) and critical at once, status exits 2, the
   metrics say 0, and the owners are told once.
2. forbidden: Graph answers 403 Authorization_RequestDenied to the expiry
   poll.  RotatorReady and SecretsRead are false with the permission and
   owner fix, critical at once, told once over many polls; once Graph
   answers again both recover and the owners hear it once.
3. transient: Graph answers 503 to every poll.  SecretsRead is false but only
   a warning (status exits 1) and nobody is told, until condition_grace has
   passed: then it is critical and told.
4. unregistered certificate: the fake identity platform does not know the
   rotator's certificate: AADSTS700027, explained.
5. metrics and a short-lived rotator certificate: the expiry series carry
   in_use and disappear when their secret is deleted in Graph; the last
   successful poll and the build are published; a rotator certificate that
   ends in 10 days is a warning (RotatorCertFresh) and the owners get the
   14-day certificate warning, once.
6. connector: the Nylas connector signs in with another client_id
   (ClientIdMismatch), then a wrong API key (Unauthorized): critical.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import REKEY_BIN, Tap, make_certs, wait_for, write_secret  # noqa: E402
from rotationlib import (CURRENT_KEY, PORTAL_KEY, ROTATOR, TARGET, TENANT, Rig,  # noqa: E402
                         passwords, state)
from sinks import Sinks  # noqa: E402

OWNER = "ops@example.com"
WHSEC = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
t = Tap()


def make_rig(sinks, app_lines=(), seed=None):
    rig = Rig(seed=seed or state(), certs=sinks.certs)
    sd = os.path.join(rig.d.dir, "secrets")
    write_secret(os.path.join(sd, "whsec"), WHSEC + "\n")
    base = ["owners = %s" % OWNER, "owners_from_graph = no", "graph_subscribe_users = no",
            "expiry_poll = 2s"]
    given = set(x.split("=")[0].strip() for x in app_lines)
    rig.configure(app_lines=[x for x in base if x.split("=")[0].strip() not in given] +
                  list(app_lines) + [""] + sinks.notify_config(os.path.join(sd, "whsec")))
    return rig


def status(rig):
    p = subprocess.run([REKEY_BIN, "status", "-c", rig.d.conf_path, "--json"],
                       capture_output=True, text=True, timeout=30)
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        doc = {}
    return p.returncode, doc


def conditions(doc):
    app = (doc.get("apps") or [{}])[0]
    return {c.get("type"): c for c in app.get("conditions", [])}


def wait_condition(rig, ctype, pred, timeout=20):
    """Polls `rekey status --json` until ctype's condition satisfies pred; (rc, doc, cond)."""
    last = [None, {}, {}]

    def check():
        rc, doc = status(rig)
        c = conditions(doc).get(ctype, {})
        last[:] = [rc, doc, c]
        return pred(c)
    wait_for(check, timeout, 0.3)
    return last[0], last[1], last[2]


def metrics(rig):
    return rig.d.request("GET", "/metrics")[2].decode()


def metric(text, name, **labels):
    """The value of the series of name whose labels include these, or None."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and line.split(" ")[0] != name:
            continue
        if all('%s="%s"' % (k, v) in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def told(sinks, kind):
    """The mails of kind to the owner."""
    return [m for m in sinks.mails() if not m.get("unanswered") and
            ((m.get("headers") or {}).get("x-rekey-kind") == kind) and OWNER in (m.get("to") or [])]


def run_blind(sinks):
    rig = make_rig(sinks)
    try:
        other = os.path.join(rig.d.dir, "secrets", "other.key")
        subprocess.run(["openssl", "genrsa", "-out", other, "2048"], check=True,
                       capture_output=True)
        os.chmod(other, 0o600)
        with open(rig.d.conf_path) as f:
            text = f.read().replace("rotator_key_file = %s/rotator.key" % rig.d.certs,
                                    "rotator_key_file = %s" % other)
        with open(rig.d.conf_path, "w") as f:
            f.write(text)
        rig.d.start()
        rc, doc, c = wait_condition(rig, "RotatorReady", lambda c: c.get("status") == "false")
        t.ok(c.get("reason") == "IdentityUnusable" and "does not belong" in c.get("message", ""),
             "blind: RotatorReady false, the key does not belong to the certificate", c)
        t.ok(rc == 2 and doc.get("health") == "critical" and c.get("level") == "critical",
             "blind: critical at once, status exits 2", (rc, doc.get("health"), c))
        sr = conditions(doc).get("SecretsRead", {})
        t.eq(sr.get("status"), "false", "blind: SecretsRead false too", sr)
        p = subprocess.run([REKEY_BIN, "status", "-c", rig.d.conf_path], capture_output=True,
                           text=True, timeout=30)
        t.ok(p.returncode == 2 and "FAIL RotatorReady" in p.stdout and "IdentityUnusable" in
             p.stdout, "blind: the table says FAIL RotatorReady", p.stdout)
        ok = wait_for(lambda: metric(metrics(rig), "rekey_app_condition", app="prod",
                                     type="RotatorReady") == 0, 20, 0.5)
        m = metrics(rig)
        t.ok(ok and metric(m, "rekey_app_health", app="prod") == 2,
             "blind: rekey_app_condition{RotatorReady} 0, rekey_app_health 2",
             "\n".join(x for x in m.splitlines() if "rekey_app" in x))
        wait_for(lambda: told(sinks, "condition_failed"), 20, 0.5)
        mails = told(sinks, "condition_failed")
        t.ok(len(mails) >= 1 and "RotatorReady" in json.dumps(mails[0]),
             "blind: the owner is told", [m.get("headers") for m in sinks.mails()])
        slack = [p for p in sinks.posts("slack") if "RotatorReady" in json.dumps(p.get("json"))]
        t.ok(len(slack) >= 1, "blind: Slack is told too")
        time.sleep(4)
        t.eq(len(told(sinks, "condition_failed")), 1,
             "blind: told once (one cause breaks RotatorReady and SecretsRead), not at every poll")
    finally:
        rig.stop()
        sinks.reset()


def run_forbidden(sinks):
    rig = make_rig(sinks)
    try:
        rig.fakes.script("graph", [{"method": "GET", "path": "applications", "times": 0,
                                    "action": {"graph_error": "Authorization_RequestDenied"}}])
        rig.d.start()
        rc, doc, c = wait_condition(rig, "RotatorReady", lambda c: c.get("status") == "false")
        t.ok(c.get("reason") == "Forbidden" and "403" in c.get("message", "") and
             "Authorization_RequestDenied" in c.get("message", "") and
             "Application.ReadWrite.OwnedBy" in c.get("message", "") and
             "owner" in c.get("message", ""),
             "forbidden: RotatorReady says 403 and the permission and owner fix", c)
        t.ok(rc == 2 and c.get("level") == "critical", "forbidden: critical at once, exit 2",
             (rc, c))
        wait_for(lambda: len(rig.fakes.requests("graph", "applications")) >= 3, 20, 0.5)
        wait_for(lambda: told(sinks, "condition_failed"), 20, 0.5)
        time.sleep(3)
        failed = told(sinks, "condition_failed")
        # RotatorReady and SecretsRead fail with the same words: one cause, told once.
        t.ok(len(failed) == 1 and "RotatorReady" in json.dumps(failed[0]),
             "forbidden: told once (one cause, two conditions) over %d polls" %
             len(rig.fakes.requests("graph", "applications")), failed)
        rig.fakes.clear_script("graph")
        rc, doc, c = wait_condition(rig, "RotatorReady", lambda c: c.get("status") == "true")
        t.ok(c.get("status") == "true" and c.get("level") == "ok", "forbidden: recovers", c)
        wait_for(lambda: told(sinks, "condition_recovered"), 25, 0.5)
        time.sleep(3)
        rec = told(sinks, "condition_recovered")
        t.ok(len(rec) == 1 and "RotatorReady" in json.dumps(rec[0]),
             "forbidden: the owner hears the recovery once", [m.get("headers") for m in rec])
    finally:
        rig.stop()
        sinks.reset()


def run_transient(sinks):
    rig = make_rig(sinks, app_lines=["condition_grace = 6s"], )
    try:
        rig.fakes.script("graph", [{"method": "GET", "path": "applications", "times": 0,
                                    "action": {"graph_error": "ServiceUnavailable"}}])
        rig.d.start()
        rc, doc, c = wait_condition(rig, "SecretsRead", lambda c: c.get("status") == "false",
                                    timeout=30)
        t.ok(c.get("reason") == "GraphUnavailable" and c.get("level") == "warning" and rc == 1,
             "transient: SecretsRead false, a warning, status exits 1", (rc, c))
        t.eq(told(sinks, "condition_failed"), [], "transient: nobody told within the grace")
        rc, doc, c = wait_condition(rig, "SecretsRead", lambda c: c.get("level") == "critical",
                                    timeout=20)
        t.ok(c.get("level") == "critical" and rc == 2,
             "transient: critical once condition_grace has passed", (rc, c))
        wait_for(lambda: told(sinks, "condition_failed"), 20, 0.5)
        t.ok(len(told(sinks, "condition_failed")) >= 1, "transient: told after the grace")
    finally:
        rig.stop()
        sinks.reset()


def run_unregistered(sinks):
    seed = state()
    seed["tenants"][TENANT]["apps"][ROTATOR]["certificates"] = []
    rig = make_rig(sinks, seed=seed)
    try:
        rig.d.start()
        rc, doc, c = wait_condition(rig, "RotatorReady", lambda c: c.get("status") == "false")
        t.ok(c.get("reason") == "SignInRefused" and "AADSTS700027" in c.get("message", "") and
             "not registered" in c.get("message", "") and c.get("level") == "critical",
             "unregistered certificate: AADSTS700027 explained, critical", c)
    finally:
        rig.stop()
        sinks.reset()


def short_cert(rig, days):
    path = os.path.join(rig.d.certs, "short.crt")
    subprocess.run(["openssl", "req", "-x509", "-new", "-key",
                    os.path.join(rig.d.certs, "rotator.key"), "-subj", "/CN=rekey rotator short",
                    "-days", str(days), "-out", path], check=True, capture_output=True)
    return path


def run_metrics_and_cert(sinks):
    seed = state()
    seed["tenants"][TENANT]["apps"][ROTATOR]["certificates"] = ["rotator.crt", "short.crt"]
    rig = make_rig(sinks, seed=seed)
    try:
        short = short_cert(rig, 10)
        with open(rig.d.conf_path) as f:
            text = f.read().replace("rotator_cert_file = %s/rotator.crt" % rig.d.certs,
                                    "rotator_cert_file = %s" % short)
        with open(rig.d.conf_path, "w") as f:
            f.write(text)
        rig.d.start()
        wait_for(lambda: metric(metrics(rig), "rekey_secret_expiry_timestamp_seconds",
                                key_id=PORTAL_KEY) is not None, 20, 0.3)
        m = metrics(rig)
        t.ok(metric(m, "rekey_secret_expiry_timestamp_seconds", app="prod", key_id=CURRENT_KEY,
                    in_use="true") is not None and
             metric(m, "rekey_secret_expiry_timestamp_seconds", app="prod", key_id=PORTAL_KEY,
                    in_use="false") is not None,
             "metrics: each secret's end with in_use", [x for x in m.splitlines() if "expiry" in x])
        last = metric(m, "rekey_expiry_poll_last_success_timestamp_seconds", app="prod")
        t.ok(last is not None and abs(last - time.time()) < 60,
             "metrics: the last successful poll's time", last)
        t.ok(re.search(r'^rekey_build_info\{version="[^"]+"\} 1$', m, re.M) is not None,
             "metrics: rekey_build_info{version}")
        # The portal secret is deleted in Graph: its series must go (an alert on
        # min(...) - time() would otherwise fire after the secret is gone).
        s = rig.fakes.state()
        s["tenants"][TENANT]["apps"][TARGET]["passwords"] = [
            p for p in s["tenants"][TENANT]["apps"][TARGET]["passwords"]
            if p["keyId"] != PORTAL_KEY]
        rig.fakes.seed(s)
        gone = wait_for(lambda: metric(metrics(rig), "rekey_secret_expiry_timestamp_seconds",
                                       key_id=PORTAL_KEY) is None, 20, 0.5)
        t.ok(gone and metric(metrics(rig), "rekey_secret_expiry_timestamp_seconds",
                             key_id=CURRENT_KEY) is not None,
             "metrics: a deleted secret's series disappears, the others stay")
        rc, doc, c = wait_condition(rig, "RotatorCertFresh", lambda c: c.get("status") == "false")
        t.ok(c.get("reason") == "ExpiresSoon" and c.get("level") == "warning" and
             "days" in c.get("message", ""),
             "certificate: ending in 10 days is a warning", c)
        rr = conditions(doc).get("RotatorReady", {})
        t.eq(rr.get("status"), "true", "certificate: the short certificate still signs in", rr)
        wait_for(lambda: told(sinks, "cert_expiry_warning"), 20, 0.5)
        time.sleep(3)
        warn = told(sinks, "cert_expiry_warning")
        t.ok(len(warn) == 1 and "14 days" in json.dumps(warn[0]),
             "certificate: the owner gets the 14-day warning once", warn)
    finally:
        rig.stop()
        sinks.reset()


def run_connector(sinks):
    seed = state()
    seed["nylas"]["connector"]["settings"]["client_id"] = "22222222-2222-3333-4444-555555555555"
    rig = make_rig(sinks, seed=seed)
    try:
        rig.d.start()
        rc, doc, c = wait_condition(rig, "ConnectorReady", lambda c: c.get("status") == "false")
        t.ok(c.get("reason") == "ClientIdMismatch" and c.get("level") == "critical" and
             "22222222-2222-3333-4444-555555555555" in c.get("message", ""),
             "connector: another client_id is critical and named", c)
        rig.d.stop()
        # Nylas signs users in with a credential whose tenant it never shows: without
        # nylas_tenant a rotation would stop at planned, so rekey says so beforehand.
        s = rig.fakes.state()
        s["nylas"]["connector"]["settings"]["client_id"] = TARGET
        s["nylas"]["connector"]["active_credential_id"] = "cred-1"
        rig.fakes.seed(s)
        rig.d.start()
        rc, doc, c = wait_condition(rig, "ConnectorReady",
                                    lambda c: c.get("reason") == "TenantUnknown")
        t.ok(c.get("reason") == "TenantUnknown" and "nylas_tenant" in c.get("message", "") and
             "cred-1" in c.get("message", "") and c.get("level") == "critical",
             "connector: an active credential without nylas_tenant is critical, with the fix", c)
        rig.d.stop()
        write_secret(os.path.join(rig.d.dir, "secrets", "nylas_api_key"), "nyk_wrong\n")
        rig.d.start()
        rc, doc, c = wait_condition(rig, "ConnectorReady",
                                    lambda c: c.get("reason") == "Unauthorized")
        t.ok(c.get("reason") == "Unauthorized" and "401" in c.get("message", "") and
             c.get("level") == "critical", "connector: a wrong API key is critical", c)
    finally:
        rig.stop()
        sinks.reset()


PUBLIC = "https://hooks.example.test"
HOOK_URL = PUBLIC + "/webhooks/nylas/prod"
GRANT_TRIGGERS = ["grant.created", "grant.updated", "grant.deleted", "grant.expired"]


def destination(triggers=None, status="active", url=HOOK_URL):
    return {"id": "wh-rekey", "description": "rekey", "webhook_url": url,
            "trigger_types": triggers or GRANT_TRIGGERS, "webhook_secret": "s" * 32,
            "status": status, "notification_email_addresses": [], "compressed_delivery": False,
            "status_updated_at": 1, "created_at": 1, "updated_at": 1}


def with_public_url(rig):
    with open(rig.d.conf_path) as f:
        text = f.read().replace("[server]\n", "[server]\npublic_url = %s\n" % PUBLIC, 1)
    with open(rig.d.conf_path, "w") as f:
        f.write(text)


def run_webhook_and_healthy(sinks):
    """WebhookRegistered from Nylas's destinations; with everything in place, status exits 0."""
    seed = state()
    seed["nylas"]["webhooks"] = {"wh-other": destination(url="https://elsewhere.example/hook")}
    rig = make_rig(sinks, seed=seed)
    try:
        with_public_url(rig)
        rig.d.start()
        rc, doc, c = wait_condition(rig, "WebhookRegistered",
                                    lambda c: c.get("status") == "false")
        t.ok(c.get("reason") == "NotRegistered" and HOOK_URL in c.get("message", "") and
             "rekey nylas register" in c.get("message", "") and c.get("level") == "critical",
             "webhook: no destination for public_url is critical, with the command", c)
        s = rig.fakes.state()
        s["nylas"]["webhooks"]["wh-rekey"] = destination(triggers=GRANT_TRIGGERS[:2])
        rig.fakes.seed(s)
        rc, doc, c = wait_condition(rig, "WebhookRegistered",
                                    lambda c: c.get("reason") == "MissingTriggers")
        t.ok(c.get("reason") == "MissingTriggers" and "grant.deleted, grant.expired" in
             c.get("message", ""), "webhook: missing triggers named", c)
        s["nylas"]["webhooks"]["wh-rekey"] = destination(status="failing")
        rig.fakes.seed(s)
        rc, doc, c = wait_condition(rig, "WebhookRegistered",
                                    lambda c: c.get("reason") == "Inactive")
        t.ok(c.get("reason") == "Inactive" and c.get("level") == "warning",
             "webhook: a failing destination is a warning (Nylas still retries it)", c)
        s["nylas"]["webhooks"]["wh-rekey"] = destination()
        rig.fakes.seed(s)
        rc, doc, c = wait_condition(rig, "WebhookRegistered", lambda c: c.get("status") == "true")
        t.ok(c.get("status") == "true" and "wh-rekey" in c.get("message", ""),
             "webhook: the active destination with the grant triggers", c)
        rc, doc = status(rig)
        bad = {k: (v.get("status"), v.get("reason")) for k, v in conditions(doc).items()
               if v.get("level") != "ok"}
        t.ok(rc == 0 and doc.get("health") == "ok" and not bad,
             "healthy: every condition ok, status exits 0", (rc, bad))
        m = metrics(rig)
        wait_for(lambda: metric(metrics(rig), "rekey_app_health", app="prod") == 0, 20, 0.5)
        t.ok(metric(metrics(rig), "rekey_app_health", app="prod") == 0 and
             metric(metrics(rig), "rekey_app_condition", app="prod",
                    type="WebhookRegistered") == 1,
             "healthy: rekey_app_health 0, conditions 1",
             "\n".join(x for x in m.splitlines() if "rekey_app" in x))
    finally:
        rig.stop()
        sinks.reset()


def run_subscription(sinks):
    """graph_subscribe_users with no way to subscribe: said, but only a warning."""
    rig = make_rig(sinks, app_lines=["graph_subscribe_users = yes"])
    try:
        rig.d.start()
        rc, doc, c = wait_condition(rig, "SubscriptionReady", lambda c: c.get("status") == "false")
        t.ok(c.get("reason") == "NotPossible" and "public_url" in c.get("message", "") and
             c.get("level") == "warning",
             "subscription: none can be made without public_url: said, a warning", c)
    finally:
        rig.stop()
        sinks.reset()


def main():
    cdir = make_certs(tempfile.mkdtemp(prefix="rekey-health-"))
    with Sinks().start(cdir, webhook_secret=WHSEC) as sinks:
        sinks.certs = cdir
        run_blind(sinks)
        run_forbidden(sinks)
        run_transient(sinks)
        run_unregistered(sinks)
        run_metrics_and_cert(sinks)
        run_connector(sinks)
        run_webhook_and_healthy(sinks)
        run_subscription(sinks)
    shutil.rmtree(cdir, ignore_errors=True)
    t.done()


if __name__ == "__main__":
    main()
