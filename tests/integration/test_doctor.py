"""rekey doctor against the fakes (identity platform, Graph, Nylas) and the
notification sinks: a healthy setup gives only ok lines and exit 0, --json
says the same as the text, and nothing is sent (SMTP authenticates without
MAIL; Slack, Teams and the webhook are not posted to without --send-test).
Then one fault at a time, each checked by its line's level, its fix and the
exit code: a rotator certificate the identity platform does not know
(AADSTS700027), a rotator key of another certificate (offline and at sign-in), Graph 403 on GET /applications, a rotator with only
Application.ReadWrite.OwnedBy that is not an owner (whether or not Graph lists
its service principal to it), an expired in-use secret, no webhook
destination and one lacking a trigger, a connector tenant mismatch, a Nylas
API key refused, an in-use secret rekey cannot tell, an SMTP
server refusing AUTH, a Graph subscription missing or about to end, and
User.Read.All missing while graph_subscribe_users is on."""

import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import REKEY_BIN, Tap, make_certs, write_secret  # noqa: E402
from rotationlib import Rig, ROTATOR, TARGET, TENANT, passwords, state  # noqa: E402
from sinks import Sinks  # noqa: E402

PUBLIC = "https://rekey.example.com"
SMTP_USER = "rekey-mailer"
SMTP_PASS = "smtp-pass-0123456789"
WHSEC = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TRIGGERS = ["grant.created", "grant.updated", "grant.deleted", "grant.expired"]
OTHER_TENANT = "0d9b6c1e-5555-4444-3333-222222222222"
OWNER_SP = [{"type": "servicePrincipal", "appId": ROTATOR}]


def webhook(triggers=None, status="active"):
    return {"wh-1": {"id": "wh-1", "webhook_url": PUBLIC + "/webhooks/nylas/prod",
                     "trigger_types": triggers or TRIGGERS, "status": status,
                     "description": "rekey"}}


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def subscription(ends_in_s):
    return {"sub-1": {"id": "sub-1", "resource": "/users", "applicationId": ROTATOR,
                      "changeType": "updated,deleted", "clientState": "cs",
                      "notificationUrl": PUBLIC + "/webhooks/graph/prod",
                      "lifecycleNotificationUrl": PUBLIC + "/webhooks/graph/prod/lifecycle",
                      "expirationDateTime": iso(time.time() + ends_in_s), "_tenant": TENANT}}


def make_rig(sinks, subscribe=False):
    seed = state()
    seed["nylas"]["webhooks"] = webhook()
    rig = Rig(seed=seed, certs=sinks.certs)
    sd = os.path.join(rig.d.dir, "secrets")
    write_secret(os.path.join(sd, "whsec"), WHSEC + "\n")
    write_secret(os.path.join(sd, "smtp"), SMTP_PASS + "\n")
    write_secret(os.path.join(sd, "client_state"), "client-state-0123456789abcdef\n")
    rig.d.extra_server = "public_url = %s" % PUBLIC
    subs = ["graph_subscribe_users = yes",
            "graph_client_state_file = %s/client_state" % sd] if subscribe else \
        ["graph_subscribe_users = no"]
    rig.configure(app_lines=subs + [""] + sinks.notify_config(os.path.join(sd, "whsec")) + [
        "smtp_user = %s" % SMTP_USER, "smtp_password_file = %s/smtp" % sd])
    return rig


def doctor(rig, *args, env=None):
    p = subprocess.run([REKEY_BIN, "doctor", "-c", rig.d.conf_path] + list(args),
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, **(env or {})))
    return p.returncode, p.stdout, p.stderr


def parse(out):
    """The text's lines as dicts: level, app, check, seen, fix."""
    lines = []
    for raw in out.splitlines():
        if raw.startswith("      fix: ") and lines:
            lines[-1]["fix"] = raw[len("      fix: "):]
            continue
        if raw.startswith("doctor: "):
            continue
        word, rest = raw.split(None, 1)
        head, seen = rest.split(": ", 1)
        parts = head.split(" ")
        app, check = (parts[0], parts[1]) if len(parts) == 2 else (None, parts[0])
        lines.append({"level": {"ok": "ok", "warn": "warn", "FAIL": "fail"}[word], "app": app,
                      "check": check, "seen": seen, "fix": None})
    return lines


def find(lines, check):
    return [line for line in lines if line["check"] == check]


def expect(t, rig, name, check, level, fix=None, seen=None, rc=None, args=(), env=None):
    """Runs doctor; checks that a line of check has level (and fix, seen
    contain the texts) and the exit code.  Returns the parsed lines."""
    code, out, err = doctor(rig, *args, env=env)
    lines = parse(out)
    hits = [x for x in find(lines, check) if x["level"] == level and
            (fix is None or (x["fix"] or "").find(fix) >= 0) and
            (seen is None or x["seen"].find(seen) >= 0)]
    t.ok(len(hits) >= 1, "%s: %s is %s%s" % (name, check, level,
                                            " with fix '%s'" % fix if fix else ""),
         out + err)
    if rc is not None:
        t.eq(code, rc, "%s: exit %d" % (name, rc), out)
    return lines


def run_healthy(t, rig, sinks):
    code, out, err = doctor(rig)
    lines = parse(out)
    t.eq(code, 0, "healthy: exit 0", out + err)
    t.ok(lines and all(x["level"] == "ok" for x in lines), "healthy: every line ok", out)
    want = ["store_url", "rotator_key_matches_certificate", "rotator_signin", "graph_app", "rotator_access", "app_policy", "in_use_secret", "in_use_hint",
            "secret_end", "nylas_api_key", "nylas_connector", "connector_tenant",
            "nylas_webhook", "notify_smtp", "notify_slack", "notify_teams", "notify_webhook"]
    t.eq([c for c in want if not find(lines, c)], [], "healthy: every check has a line", out)
    t.ok("AUTH accepted" in find(lines, "notify_smtp")[0]["seen"], "healthy: SMTP AUTH done", out)
    cmds = [e.get("cmd", "") for e in sinks.smtp_log()]
    t.ok(any(c.upper().startswith("AUTH") for c in cmds) and
         not any(c.upper().startswith("MAIL") for c in cmds),
         "healthy: the SMTP session authenticated and sent no MAIL", cmds)
    t.eq(sinks.mails(), [], "healthy: no mail sent")
    t.ok("not tested (use --send-test)" in find(lines, "notify_slack")[0]["seen"],
         "healthy: Slack not tested without --send-test", out)
    t.eq(sinks.posts(), [], "healthy: nothing posted without --send-test")
    t.eq(rig.fakes.requests("graph", "addPassword|removePassword"), [],
         "healthy: nothing written to Graph")
    t.eq([r for r in rig.fakes.requests("nylas") if r["method"] != "GET"], [],
         "healthy: nothing written to Nylas")

    code, jout, _ = doctor(rig, "--json")
    doc = json.loads(jout)
    t.eq((code, doc["result"]), (0, "ok"), "--json: result ok, exit 0")
    t.eq([(c["app"], c["check"], c["level"], c["seen"], c["fix"]) for c in doc["checks"]],
         [(x["app"], x["check"], x["level"], x["seen"], x["fix"]) for x in lines],
         "--json: the same checks, levels, seen and fixes as the text", jout)
    t.ok(all(c["app"] is None for c in doc["checks"] if c["check"].startswith("notify_")),
         "--json: channel checks have app null", jout)


def run_send_test(t, rig, sinks):
    code, out, _ = doctor(rig, "--send-test")
    t.eq(code, 0, "--send-test: exit 0", out)
    for kind in ("slack", "teams", "webhook"):
        posts = sinks.wait_posts(kind, 1)
        t.eq(len(posts), 1, "--send-test: one %s test message" % kind, out)
    t.ok(sinks.posts("webhook")[0].get("verified"), "--send-test: the webhook is signed",
         sinks.posts("webhook"))
    t.eq(sinks.mails(), [], "--send-test: still no mail")
    sinks.configure(webhook_secret="whsec_" + "QW5vdGhlclNlY3JldEtleTAxMjM0NTY3OA==")
    expect(t, rig, "--send-test, webhook secret differs", "notify_webhook", "fail",
           fix="webhook_secret_file", seen="401", rc=2, args=("--send-test",))
    sinks.configure(webhook_secret=WHSEC)


def run_cert(t, rig):
    rig.fakes.seed({"tenants": {TENANT: {"apps": {ROTATOR: {"certificates": []}}}}})
    expect(t, rig, "unregistered certificate", "rotator_signin", "fail",
           fix="upload rotator_cert_file's certificate there", seen="AADSTS700027", rc=2)
    rig.fakes.seed({"tenants": {TENANT: {"apps": {ROTATOR: {"certificates": ["rotator.crt"]}}}}})


def run_key_mismatch(t, rig):
    # The server's RSA key in place of the rotator's: the offline check says so, and the
    # identity platform refuses the assertion it signs (AADSTS700027).
    env = {"REKEY_APP_PROD_ROTATOR_KEY_FILE": os.path.join(rig.d.certs, "server.key")}
    expect(t, rig, "rotator key of another certificate", "rotator_key_matches_certificate",
           "fail", env=env, rc=2)
    expect(t, rig, "rotator key of another certificate", "rotator_signin", "fail",
           fix="rotator_key_file, its key", seen="does not belong to the certificate",
           env=env)


def run_graph_403(t, rig):
    rig.fakes.script("graph", [{"method": "GET", "path": "^/v1\\.0/applications\\?",
                                "times": 0, "action": {"graph_error": "Authorization_RequestDenied"}}])
    expect(t, rig, "Graph 403", "graph_app", "fail",
           fix="the rotator needs Application.ReadWrite.OwnedBy (admin consent) and its service "
               "principal must be an owner of the app", seen="403", rc=2)
    rig.fakes.clear_script("graph")


def set_rotator(rig, permissions=None, owner=True, owned_only=None):
    rig.fakes.seed({"tenants": {TENANT: {"apps": {
        TARGET: {"owners": OWNER_SP if owner else []},
        # Policy.Read.All too (the fake's default has it): the app_policy check is not the point.
        ROTATOR: {"permissions": permissions + ["Policy.Read.All"] if permissions else None}}}},
        "sp_list_owned_only": owned_only})


def run_not_owner(t, rig):
    for owned_only in (None, True):
        set_rotator(rig, owner=False, owned_only=owned_only)
        name = "OwnedBy, not an owner%s" % (" (SP list owned only)" if owned_only else "")
        expect(t, rig, name, "rotator_access", "fail",
               fix="add the rotator's service principal as an owner of the app", rc=2)
        expect(t, rig, name, "graph_app", "fail", fix="as an owner of the app")
    # With Application.Read.All the rotator sees the app and its own roles.
    set_rotator(rig, ["Application.ReadWrite.OwnedBy", "Application.Read.All"], owner=False)
    expect(t, rig, "OwnedBy + Read.All, not an owner", "rotator_access", "fail",
           fix="add the rotator's service principal as an owner of the app",
           seen="holds Application.ReadWrite.OwnedBy; is not an owner", rc=2)
    set_rotator(rig, ["Application.ReadWrite.OwnedBy", "Application.Read.All"])
    expect(t, rig, "OwnedBy + Read.All, owner", "rotator_access", "ok",
           seen="holds Application.ReadWrite.OwnedBy; is an owner", rc=0)
    set_rotator(rig, ["Application.ReadWrite.All"], owner=False)
    expect(t, rig, "ReadWrite.All, not an owner", "rotator_access", "ok",
           seen="holds Application.ReadWrite.All", rc=0)
    set_rotator(rig, ["Application.Read.All"])
    expect(t, rig, "neither permission", "rotator_access", "fail",
           fix="grant the rotator Application.ReadWrite.OwnedBy", rc=2)
    set_rotator(rig)


def run_expired(t, rig):
    conf = rig.d.conf_path
    rig.fakes.seed({"tenants": {TENANT: {"apps": {TARGET: {"passwords": passwords(
        current_end=iso(time.time() - 86400))}}}}})
    expect(t, rig, "expired in-use secret", "in_use_secret", "fail",
           fix="rotate now: rekey rotate -c %s prod" % conf, seen="AADSTS7000222", rc=2)
    expect(t, rig, "expired in-use secret", "secret_end", "fail",
           fix="rotate now: rekey rotate -c %s prod" % conf, seen="in use")
    rig.fakes.seed({"tenants": {TENANT: {"apps": {TARGET: {"passwords": passwords(
        current_end=iso(time.time() + 5 * 86400))}}}}})
    expect(t, rig, "in-use secret within rotate_before", "secret_end", "warn",
           fix="rekey rotate -c %s prod" % conf, seen="in use", rc=1)
    rig.fakes.seed({"tenants": {TENANT: {"apps": {TARGET: {"passwords": passwords()}}}}})


def run_webhook(t, rig):
    conf = rig.d.conf_path
    rig.fakes.seed({"nylas": {"webhooks": {"wh-1": None}}})
    expect(t, rig, "no webhook destination", "nylas_webhook", "fail",
           fix="rekey nylas register -c %s prod" % conf, rc=2)
    rig.fakes.seed({"nylas": {"webhooks": webhook(TRIGGERS[:3])}})
    expect(t, rig, "destination lacking grant.expired", "nylas_webhook", "fail",
           fix="rekey nylas register -c %s prod" % conf, seen="lacks the triggers grant.expired",
           rc=2)
    rig.fakes.seed({"nylas": {"webhooks": webhook(TRIGGERS + ["message.created"])}})
    expect(t, rig, "destination with another trigger", "nylas_webhook", "warn",
           seen="message.created", rc=1)
    rig.fakes.seed({"nylas": {"webhooks": webhook(status="failed")}})
    expect(t, rig, "destination failed", "nylas_webhook", "fail", seen="status failed", rc=2)
    rig.fakes.seed({"nylas": {"webhooks": webhook()}})


def run_tenant(t, rig):
    rig.fakes.seed({"nylas": {"connector": {"settings": {"tenant": OTHER_TENANT}}}})
    expect(t, rig, "connector tenant mismatch", "connector_tenant", "warn",
           seen="tenant mismatch", rc=1)
    rig.fakes.seed({"nylas": {"connector": {"settings": {"tenant": "common"}}}})
    expect(t, rig, "connector tenant common", "connector_tenant", "ok", seen="common", rc=0)
    rig.fakes.seed({"nylas": {"connector": {"settings": {"tenant": TENANT,
                                                         "client_id": ROTATOR}}}})
    expect(t, rig, "connector of another app", "nylas_connector", "fail",
           fix="set the connector's client_id to azure_client_id", rc=2)
    rig.fakes.seed({"nylas": {"connector": {"settings": {"client_id": TARGET}}}})


def run_nylas_key(t, rig):
    rig.fakes.seed({"nylas": {"api_key": "nyk_v0_another_key"}})
    lines = expect(t, rig, "Nylas refuses the API key", "nylas_api_key", "fail",
                   fix="check nylas_api_key_file and that nylas_api_base is the application's "
                       "region", seen="401 api.authentication_error", rc=2)
    t.eq(find(lines, "nylas_webhook"), [], "Nylas refuses the API key: no webhook line as well")
    rig.fakes.seed({"nylas": {"api_key": "nyk_v0_rotation_test_key"}})


def run_unknown_in_use(t, rig):
    expect(t, rig, "no current_secret_file", "in_use_secret", "warn",
           fix="set current_secret_file", rc=1,
           env={"REKEY_APP_PROD_CURRENT_SECRET_FILE": ""})


def run_smtp(t, rig, sinks):
    sinks.configure(smtp_auth=(SMTP_USER, "another-password"))
    expect(t, rig, "SMTP refuses AUTH", "notify_smtp", "fail",
           fix="check smtp_user and smtp_password_file", seen="535", rc=2)
    sinks.configure(smtp_auth=(SMTP_USER, SMTP_PASS))
    t.eq(sinks.mails(), [], "SMTP refused: still no mail")


def run_unknown_app(t, rig):
    code, out, _ = doctor(rig, "staging")
    t.ok(code == 2 and "[app staging]" in out and "rotator_signin" not in out,
         "unknown app: FAIL, exit 2, no app checked", out)


def run_subscription(t, sinks):
    rig = make_rig(sinks, subscribe=True)
    try:
        rig.fakes.seed({"subscriptions": subscription(3 * 86400)})
        expect(t, rig, "subscription ends in 3 days", "graph_subscription", "ok", rc=0)
        rig.fakes.seed({"subscriptions": {"sub-1": None}})
        rig.fakes.seed({"subscriptions": subscription(3600)})
        expect(t, rig, "subscription ends within a day", "graph_subscription", "warn",
               fix="rekey serve", rc=1)
        rig.fakes.seed({"subscriptions": {"sub-1": None}})
        expect(t, rig, "no subscription", "graph_subscription", "fail", fix="rekey serve",
               rc=2)
        rig.fakes.seed({"subscriptions": subscription(3 * 86400)})
        set_rotator(rig, ["Application.ReadWrite.OwnedBy", "Application.Read.All"])
        expect(t, rig, "User.Read.All missing", "rotator_user_read", "warn",
               fix="grant the rotator User.Read.All", rc=1)
    finally:
        rig.stop()


def main():
    t = Tap()
    sinks = Sinks()
    rig = None
    try:
        certs = make_certs(tempfile.mkdtemp(prefix="rekey-doctor-certs-"))
        sinks.start(certs, smtp_auth=(SMTP_USER, SMTP_PASS), webhook_secret=WHSEC)
        rig = make_rig(sinks)
        run_healthy(t, rig, sinks)
        run_send_test(t, rig, sinks)
        run_cert(t, rig)
        run_key_mismatch(t, rig)
        run_graph_403(t, rig)
        run_not_owner(t, rig)
        run_expired(t, rig)
        run_webhook(t, rig)
        run_tenant(t, rig)
        run_nylas_key(t, rig)
        run_unknown_in_use(t, rig)
        run_smtp(t, rig, sinks)
        run_unknown_app(t, rig)
        code, out, _ = doctor(rig)
        t.eq(code, 0, "healthy again after every fault is undone", out)
        # Beside a running daemon (same store, read only here).
        rig.d.start()
        code, out, _ = doctor(rig)
        t.eq(code, 0, "healthy with the daemon running", out)
        t.eq(rig.d.stop(), 0, "the daemon stops cleanly after doctor ran beside it",
             rig.d.log_text()[-3000:])
        run_subscription(t, sinks)
    finally:
        if rig is not None:
            rig.stop()
        sinks.stop()
    t.done()


if __name__ == "__main__":
    main()
