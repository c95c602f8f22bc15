"""App management policies before addPassword (issue 23, "lifetime policies").
The fake Graph serves the tenant default and the app's assigned policy and
enforces them on addPassword as Graph documents it.

1. cap: the tenant caps client secrets at 30 days (passwordLifetime P30D):
   a rotation asking for 180 days sends one addPassword whose endDateTime is
   within 30 days (no refusal first), status and the log say so, the owners
   get the shortened-lifetime notice.
2. ban: the tenant forbids client secrets (passwordAddition) for apps created
   after 2020: nothing is sent to addPassword over 7 polls, RotationPossible
   is false (critical) naming the policy and the fix (an exemption;
   certificates are no way out), the owner gets one notice and no
   rotation_failed; doctor fails app_policy.
3. exempt: the same ban, but the app has its own policy assigned (without
   the ban): the rotation is done.
4. ban not for this app: the ban starts after the app's createdDateTime.
5. unreadable: the rotator lacks Policy.Read.All (403): the rotation is done
   as before; status says the policy was not readable; doctor warns with the
   fix.
6. unreadable and banned: Graph refuses addPassword with
   CredentialTypeNotAllowedAsPerAppPolicy: RotationPossible is false with the
   fix, one notice, no rotation_failed."""

import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import REKEY_BIN, Tap  # noqa: E402
from rotationlib import (DAY, ROTATOR, TARGET, TENANT, Rig, app_status, passwords,  # noqa: E402
                         run_case, state, wait_for)

t = Tap()

NOTIFY = ["owners = ops@example.com", "", "[notify]", "smtp_url = smtp://127.0.0.1:9",
          "smtp_from = rekey@example.com"]
NO_POLICY_READ = ["Application.ReadWrite.OwnedBy", "User.Read.All"]


def soon(days):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + days * DAY))


def tenant_policy(rules, enabled=True):
    return {"id": "00000000-0000-0000-0000-000000000000",
            "displayName": "Default app management tenant policy", "isEnabled": enabled,
            "applicationRestrictions": {"passwordCredentials": rules, "keyCredentials": []},
            "servicePrincipalRestrictions": {"passwordCredentials": [], "keyCredentials": []}}


CAP_30 = {"restrictionType": "passwordLifetime", "state": "enabled", "maxLifetime": "P30D",
          "restrictForAppsCreatedAfterDateTime": "2015-01-01T00:00:00Z"}
BAN_2020 = {"restrictionType": "passwordAddition", "state": "enabled", "maxLifetime": None,
            "restrictForAppsCreatedAfterDateTime": "2020-01-01T00:00:00Z"}
EXEMPTION = {"id": "db9d4b58-3488-4da4-9994-49773c454e33", "displayName": "Nylas exemption",
             "isEnabled": True, "restrictions": {"passwordCredentials": [], "keyCredentials": []}}


def seed(rules=None, pw=None, app_extra=None, rotator=None):
    s = state(pw)
    tenant = s["tenants"][TENANT]
    if rules is not None:
        tenant["app_management_policy"] = tenant_policy(rules)
    tenant["apps"][TARGET].update(app_extra or {})
    if rotator is not None:
        tenant["apps"][ROTATOR]["permissions"] = rotator
    return s


def run(name, body, seed=None, app_lines=()):
    run_case(t, name, body, seed, app_lines)


def status(rig):
    return app_status(rig)


def conditions(app):
    return dict((c.get("type"), c) for c in app.get("conditions") or [])


def outbox(rig, kind):
    with rig.d.db() as c:
        return [dict(r) for r in c.execute("SELECT ref, channel, recipient FROM outbox"
                                           " WHERE kind = ?", (kind,))]


def doctor_line(rig, check):
    """The doctor's line of check for the app: (level, seen, fix), or None."""
    p = subprocess.run([REKEY_BIN, "doctor", "-c", rig.d.conf_path, "prod"],
                       capture_output=True, text=True, timeout=120)
    lines = p.stdout.splitlines()
    for i, raw in enumerate(lines):
        m = re.match(r"^(ok|warn|FAIL)\s+prod %s: (.*)$" % check, raw)
        if m:
            fix = lines[i + 1][len("      fix: "):] if i + 1 < len(lines) and \
                lines[i + 1].startswith("      fix: ") else None
            return m.group(1), m.group(2), fix
    return None


def add_ends(rig):
    """The endDateTime of every addPassword sent, as Unix seconds, with the send time."""
    out = []
    for q in rig.fakes.requests("graph", "addPassword"):
        end = json.loads(q["body"])["passwordCredential"]["endDateTime"]
        out.append(time.mktime(time.strptime(end[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone)
    return out


def cap(rig):
    rig.d.start()
    rid = rig.plan(lifetime=180 * DAY)
    r = rig.wait_state(rid)
    t.eq(r and r["state"], "done", "cap: the rotation is done", rig.d.log_text()[-3000:])
    ends = add_ends(rig)
    now = time.time()
    t.ok(len(ends) == 1 and now + 29 * DAY < ends[0] <= now + 30 * DAY,
         "cap: one addPassword, its endDateTime capped to the policy's 30 days (no refusal "
         "first)", [(e - now) / DAY for e in ends])
    made = rig.made_by(rid)
    t.ok(made and made[0]["secretText"] == rig.connector_secret(), "cap: Nylas holds the new secret")
    app, text = status(rig)
    lp = app.get("lifetime_policy") or {}
    t.ok(lp.get("state") == "cap" and lp.get("max_s") == 30 * DAY and
         lp.get("requested_s") == 180 * DAY and lp.get("granted_s", 0) < 30 * DAY and
         lp.get("policy") == "Default app management tenant policy",
         "cap: status JSON shows the policy and the cap", lp)
    t.ok("caps client secrets at 30 days" in text and "(capped)" in text,
         "cap: status text says so", text[-1500:])
    t.ok("caps client secrets at 30 days" in rig.d.log_text(), "cap: the log says so")
    v = json.loads(rig.value("lifetime_shortened") or "{}")
    t.ok(v.get("rotation") == rid and v.get("from_s") == 180 * DAY and v.get("to_s", 0) < 30 * DAY,
         "cap: recorded as a shortened lifetime (the owners' notice)", v)
    d = doctor_line(rig, "app_policy")
    t.ok(d and d[0] == "ok" and "caps client secrets at 30 days" in d[1],
         "cap: doctor tells the cap", d)


def ban(rig):
    rig.d.start()
    time.sleep(7)
    t.eq(rig.fakes.requests("graph", "addPassword"), [],
         "ban: nothing sent to addPassword over 7 polls")
    rows = rig.rotations()
    t.ok(1 <= len(rows) <= 2 and all(r["state"] == "failed" for r in rows),
         "ban: the rotation stops, and is not planned again at each poll",
         [(r["state"], r["last_error"]) for r in rows])
    app, text = status(rig)
    c = conditions(app).get("RotationPossible") or {}
    msg = c.get("message") or ""
    t.ok(c.get("status") == "false" and c.get("level") == "critical" and
         c.get("reason") == "SecretsForbidden" and
         "Default app management tenant policy" in msg and "passwordAddition" in msg and
         "exempt this app" in msg and "certificate is no way out" in msg and
         "nothing was sent to addPassword" in msg,
         "ban: RotationPossible is false (critical), names the policy and the fix", c)
    t.ok((app.get("lifetime_policy") or {}).get("state") == "ban" and
         "forbids client secrets" in text, "ban: status shows the ban", text[-1500:])
    wait_for(lambda: outbox(rig, "condition_failed"), 10, 0.2)
    time.sleep(1)
    told = [o for o in outbox(rig, "condition_failed") if o["ref"].startswith("RotationPossible")]
    t.eq(len(told), 1, "ban: the owner is told once", outbox(rig, "condition_failed"))
    t.eq(outbox(rig, "rotation_failed"), [], "ban: and not a second time as a failed rotation")
    d = doctor_line(rig, "app_policy")
    t.ok(d and d[0] == "FAIL" and "forbids client secrets" in d[1] and d[2] and
         "exempt this app" in d[2], "ban: doctor fails app_policy with the fix", d)


def exempt(rig):
    rig.d.start()
    rid = rig.plan()
    r = rig.wait_state(rid)
    t.eq(r and r["state"], "done", "exempt: the app's own policy replaces the tenant's ban",
         rig.d.log_text()[-3000:])
    app, _ = status(rig)
    t.eq((conditions(app).get("RotationPossible") or {}).get("status"), "true",
         "exempt: RotationPossible is true")


def not_this_app(rig):
    rig.d.start()
    rid = rig.plan()
    r = rig.wait_state(rid)
    t.eq(r and r["state"], "done", "ban for newer apps: an app created before it rotates",
         rig.d.log_text()[-3000:])


def unreadable(rig):
    rig.d.start()
    rid = rig.plan()
    r = rig.wait_state(rid)
    t.eq(r and r["state"], "done", "unreadable: the rotation is done as before",
         rig.d.log_text()[-3000:])
    denied = [q for q in rig.fakes.requests("graph", "defaultAppManagementPolicy")]
    t.ok(denied and all(q.get("status") in (403, None) for q in denied),
         "unreadable: the policy read was tried (and refused)", denied[:1])
    app, text = status(rig)
    t.ok((app.get("lifetime_policy") or {}).get("state") == "unreadable" and
         "not readable" in text and "Policy.Read.All" in text,
         "unreadable: status says the policies were not readable", text[-1500:])
    d = doctor_line(rig, "app_policy")
    t.ok(d and d[0] == "warn" and "403" in d[1] and d[2] and "Policy.Read.All" in d[2] and
         "nothing to do if the tenant has no app management policies" in d[2],
         "unreadable: doctor warns with the fix", d)


def refused(rig):
    rig.d.start()
    time.sleep(7)
    adds = rig.fakes.requests("graph", "addPassword")
    rows = rig.rotations()
    t.ok(1 <= len(adds) <= 2 and len(adds) == len(rows),
         "refused: one addPassword per rotation (the policy could not be read first)",
         (len(adds), len(rows)))
    app, _ = status(rig)
    c = conditions(app).get("RotationPossible") or {}
    msg = c.get("message") or ""
    t.ok(c.get("status") == "false" and c.get("level") == "critical" and
         "CredentialTypeNotAllowedAsPerAppPolicy" in msg and "exempt this app" in msg,
         "refused: RotationPossible is false with Graph's code and the fix", c)
    wait_for(lambda: outbox(rig, "condition_failed"), 10, 0.2)
    time.sleep(1)
    told = [o for o in outbox(rig, "condition_failed") if o["ref"].startswith("RotationPossible")]
    t.eq(len(told), 1, "refused: the owner is told once", outbox(rig, "condition_failed"))
    t.eq(outbox(rig, "rotation_failed"), [], "refused: and not as a failed rotation")


SOON = passwords(current_end=soon(10))
run("cap", cap, seed=seed([CAP_30]), app_lines=["rotate_before = 7d"])
run("ban", ban, seed=seed([BAN_2020], pw=SOON, app_extra={"created": "2024-05-01T00:00:00Z"}),
    app_lines=["expiry_poll = 1s"] + NOTIFY)
run("exempt", exempt, seed=seed([BAN_2020], app_extra={"app_management_policy": EXEMPTION}))
run("ban for newer apps", not_this_app,
    seed=seed([BAN_2020], app_extra={"created": "2019-05-01T00:00:00Z"}))
run("unreadable", unreadable, seed=seed([CAP_30 | {"maxLifetime": "P400D"}],
                                        rotator=NO_POLICY_READ))
run("refused", refused, seed=seed([BAN_2020], pw=SOON, rotator=NO_POLICY_READ),
    app_lines=["expiry_poll = 1s"] + NOTIFY)
t.done()
