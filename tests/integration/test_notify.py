"""Owners told and users shepherded back (issue 6), with the real daemon,
the fakes, and real local sinks: an SMTP server that insists on STARTTLS,
and HTTPS Slack, Teams and Standard Webhooks receivers (tests/fakes/sinks.js).

1. storm: the secret Nylas uses has expired; a storm of grant.expired
   (N distinct users) plus Nylas's own list of invalid grants (5 more users
   that sent no webhook) make one incident.  The owners are the config's
   one and the app's user owner in Graph (owners_from_graph).  Checks:
   - exactly ONE incident-opened and ONE rotation-done message per owner by
     email, and one per Slack, Teams and webhook (each webhook signature
     verified by the sink), not one per grant;
   - the rotation-done message names the new keyId and hint and never the
     secret;
   - every affected user (storm and Nylas list) gets exactly one email with
     their own reauth link, only after the new secret was published;
   - the users come back (grant.updated with the re-authentication flag,
     grant.created for the same email): progress digests (a handful, not
     one per user), then the incident resolves and ONE resolved message per
     owner per channel goes out;
   - status shows owners (config and Graph), channels and outbox counts;
   - a restart sends nothing again.
2. failure: Slack answers 500 for a while: the message is retried with
   backoff, status shows it pending with the last error, metrics count the
   retry, and it is delivered once Slack recovers (exactly once).
3. kill -9 between sending and recording: the SMTP sink takes a message
   and never answers; rekey is killed -9 while it waits; after the restart
   that one message is sent again (same Message-ID: the one duplicate the
   design allows) and no other message is repeated.
4. resolve: `rekey resolve` closes an open incident by hand; the owners are
   told once that an operator resolved it."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import REKEY_BIN, Tap, envelope, make_certs, write_secret  # noqa: E402
from rotationlib import TARGET, TENANT, Rig, passwords, state, wait_for  # noqa: E402
from sinks import Sinks  # noqa: E402
from stormlib import PAST_END, Storm, q, unprocessed  # noqa: E402

ASAN = "asan" in os.environ.get("REKEY_BUILD", "")
N = 60 if ASAN else 200
EXTRA = 5
OWNER = "ops@example.com"
GRAPH_OWNER = "app-owner@contoso.com"
OWNERS = sorted([OWNER, GRAPH_OWNER])
WHSEC = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
t = Tap()


def seed(expired=True, pw=None):
    s = state(pw=pw if pw is not None else passwords(current_end=PAST_END) if expired else None)
    app = s["tenants"][TENANT]["apps"][TARGET]
    app["owners"].append({"type": "user", "id": "owner-1"})
    s["tenants"][TENANT]["users"] = {"owner-1": {
        "displayName": "App Owner", "mail": GRAPH_OWNER, "userPrincipalName": "owner@contoso.com",
        "accountEnabled": True}}
    now = int(time.time())
    s["nylas"]["grants"] = [{"id": "nylas-only-%d" % i, "provider": "microsoft",
                             "grant_status": "invalid", "email": "quiet%d@example.com" % i,
                             "created_at": now - 86400 * 30, "updated_at": now - 60}
                            for i in range(EXTRA)]
    # An invalid grant from long ago is not this incident's doing.
    s["nylas"]["grants"].append({"id": "ancient", "provider": "microsoft", "grant_status": "invalid",
                                 "email": "ancient@example.com", "created_at": now - 86400 * 400,
                                 "updated_at": now - 86400 * 200})
    return s


def make_rig(sinks, more_app=(), digest="1s", seed_state=None, notify=None):
    # The sinks' certificate is signed by the CA the daemon trusts (one certs dir).
    rig = Rig(seed=seed_state or seed(), app_lines=[], certs=sinks.certs)
    sd = os.path.join(rig.d.dir, "secrets")
    write_secret(os.path.join(sd, "whsec"), WHSEC + "\n")
    mode = [x for x in more_app if x.startswith("rotation_mode")] or ["rotation_mode = auto"]
    more_app = [x for x in more_app if not x.startswith("rotation_mode")]
    rig.configure(app_lines=mode + [
        "owners = %s" % OWNER,
        "owners_from_graph = yes",
        "reauth_url_template = https://app.example.com/login?hint={email}&src=rekey",
    ] + list(more_app) + [""] + (notify(sd) if notify is not None else
                                 sinks.notify_config(os.path.join(sd, "whsec"),
                                                     digest_interval=digest)))
    return rig


# Incoming-webhook URLs are credentials (the secret is their path): each
# channel's with a secret path, Slack's in the config, Teams' and the
# webhook's from *_file keys.
HOOK_SECRETS = {"slack": "services/T0SECRET/B0SECRET/slackPathSecret1",
                "teams": "webhookb2/teamsPathSecret2",
                "webhook": "in/webhookPathSecret3"}


def secret_hooks_notify(sinks):
    def lines(sd):
        for kind in ("teams", "webhook"):
            write_secret(os.path.join(sd, kind + "_url"),
                         sinks.hook_url(kind, HOOK_SECRETS[kind]) + "\n")
        return ["[notify]", "smtp_url = %s" % sinks.smtp_url, "smtp_from = rekey@example.com",
                "slack_webhook_url = %s" % sinks.hook_url("slack", HOOK_SECRETS["slack"]),
                "teams_webhook_url_file = %s" % os.path.join(sd, "teams_url"),
                "webhook_url_file = %s" % os.path.join(sd, "webhook_url"),
                "webhook_secret_file = %s" % os.path.join(sd, "whsec"),
                "digest_interval = 1s"]
    return lines


def leaked(text):
    """The hook secrets (any part of their paths) found in text."""
    parts = [p for s in HOOK_SECRETS.values() for p in s.split("/") if "SECRET" in p.upper()]
    return [p for p in parts if p in text]


def header(m, name):
    return (m.get("headers") or {}).get(name.lower())


def mails_of(sinks, kind=None, to=None):
    out = []
    for m in sinks.mails():
        if m.get("unanswered"):
            continue
        if kind is not None and header(m, "X-Rekey-Kind") != kind:
            continue
        if to is not None and to not in m.get("to", []):
            continue
        out.append(m)
    return out


def posts_of(sinks, channel, event_type=None):
    out = []
    for p in sinks.posts(channel):
        if p.get("status") != 200:
            continue
        if event_type is not None:
            j = p.get("json") or {}
            if channel == "webhook" and j.get("type") != event_type:
                continue
            if channel != "webhook" and event_type.split(".")[-2] not in json.dumps(j).lower() \
                    and event_type.split(".")[-1] not in json.dumps(j).lower():
                continue
        out.append(p)
    return out


def webhook_types(sinks):
    return [(p.get("json") or {}).get("type") for p in sinks.posts("webhook")
            if p.get("status") == 200]


def body(m):
    return m.get("body_decoded") or m.get("body") or ""


def status_json(rig):
    p = subprocess.run([REKEY_BIN, "status", "--json", "-c", rig.d.conf_path],
                       capture_output=True, text=True, timeout=30)
    try:
        return next(a for a in json.loads(p.stdout)["apps"] if a["name"] == "prod")
    except (ValueError, KeyError, StopIteration):
        return {}


def one_each(sinks, kind, event_type, what):
    """ONE message of kind to each owner by email and one per hook channel."""
    ok = wait_for(lambda: all(len(mails_of(sinks, kind, o)) >= 1 for o in OWNERS) and
                  webhook_types(sinks).count(event_type) >= 1, 40, 0.2)
    time.sleep(0.5)  # anything extra would be on its way by now (owners are queued together)
    counts = {o: len(mails_of(sinks, kind, o)) for o in OWNERS}
    t.ok(ok and all(c == 1 for c in counts.values()),
         "%s: exactly one email to each owner (config and Graph)" % what, counts)
    hooks = webhook_types(sinks).count(event_type)
    t.eq(hooks, 1, "%s: exactly one signed webhook (%s)" % (what, event_type),
         webhook_types(sinks))
    return mails_of(sinks, kind)


def come_back(rig, emails_grants):
    """Each affected user re-authenticates; half through grant.updated, the rest grant.created."""
    conn = rig.d.conn(timeout=30)
    for i, (email, grant) in enumerate(emails_grants):
        if i % 2 == 0:
            env = envelope(type_="grant.updated", id_="back-%d" % i, grant_id=grant, email=email,
                           code=25027, extra_object={"reauthentication_flag": True})
        else:
            env = envelope(type_="grant.created", id_="back-%d" % i, grant_id="new-" + grant,
                           email=email, code=25001)
        rig.d.post_nylas(env, conn=conn)
        if i % 10 == 9:
            # Spread over about 4 s whatever the count: the 2 s sweeps see progress.
            time.sleep(4.0 * 10 / len(emails_grants))
    conn.close()


def run_storm(sinks):
    rig = make_rig(sinks)
    try:
        rig.d.start()
        st = Storm(rig.d, N, threads=4, prefix="nstorm").run()
        t.eq(st.statuses.count(200), N, "storm: all %d grant.expired answered 200" % N)
        wait_for(lambda: unprocessed(rig.d) == 0, 60, 0.2)
        incs = wait_for(lambda: q(rig.d, "SELECT * FROM incidents WHERE app = 'prod'"), 20, 0.2) or []
        t.eq(len(incs), 1, "storm: one incident", incs)
        inc = incs[0] if incs else {}
        t.eq(inc.get("cause"), "secret_expired", "storm: secret_expired")

        opened = one_each(sinks, "incident_opened", "rekey.incident.opened", "incident opened")
        # The expiry poll at start may have rotated already: then the evidence is the end date.
        t.ok(opened and "secret expired" in body(opened[0]).lower() and
             ("7000222" in body(opened[0]) or "ended 2026-06-01" in body(opened[0])),
             "incident opened: the mail says the secret expired, with the evidence",
             body(opened[0])[:1500] if opened else None)
        for ch in ("slack", "teams"):
            got = [p for p in sinks.posts(ch) if p.get("status") == 200]
            t.ok(1 <= len(got) <= 4, "%s: a handful of posts, not one per grant (%d)" % (ch, len(got)))

        rot = wait_for(lambda: (q(rig.d, "SELECT * FROM rotations WHERE state IN ('published',"
                                         " 'watching', 'retiring', 'retired', 'done')") or [None])[0], 40, 0.2)
        t.ok(rot is not None, "storm: the rotation published the new secret")
        done = one_each(sinks, "rotation_done", "rekey.rotation.done", "rotation done")
        new_secret = rig.connector_secret()
        t.ok(done and rot and rot["new_key_id"] in body(done[0]) and
             (rot["new_hint"] or "") in body(done[0]),
             "rotation done: the mail names the new keyId and hint", body(done[0])[:1500] if done else None)
        every = json.dumps(sinks.mails()) + json.dumps([sinks.posts(c) for c in
                                                          ("slack", "teams", "webhook")])
        t.ok(new_secret and new_secret not in every and "cur8Q~" + "c" * 34 not in every,
             "no message anywhere holds a secret (new or old)")
        bad = [p for p in sinks.posts("webhook") if not p.get("verified")]
        t.eq(bad, [], "every webhook carried a valid Standard Webhooks signature")

        # The users: one email each with their own link, after publishing.
        users = ["user%06d@example.com" % i for i in range(N)] + \
            ["quiet%d@example.com" % i for i in range(EXTRA)]
        ok = wait_for(lambda: len(mails_of(sinks, "user_reauth")) >= len(users), 60, 0.3)
        got = mails_of(sinks, "user_reauth")
        per = {}
        for m in got:
            for to in m["to"]:
                per[to] = per.get(to, 0) + 1
        t.ok(ok and sorted(per) == sorted(users) and set(per.values()) == {1},
             "every affected user (%d from webhooks, %d only in Nylas's list) got exactly one "
             "re-auth email" % (N, EXTRA), (len(got), sorted(per)[:5]))
        t.ok("ancient@example.com" not in per, "a grant invalid for months is not this incident's")
        m0 = next((m for m in got if "user000007@example.com" in m["to"]), None)
        link = "https://app.example.com/login?hint=user000007%40example.com&src=rekey"
        t.ok(m0 is not None and link in body(m0).replace("=\r\n", "").replace("=\n", ""),
             "the re-auth email holds the user's own link", body(m0)[:800] if m0 else None)
        pub = rot["published_at"] if rot else 0
        t.ok(all(m["received_ms"] >= pub for m in got),
             "no re-auth email went out before the new secret was in Nylas")

        app = status_json(rig)
        ow = app.get("owners", {})
        t.ok(ow.get("configured") == [OWNER] and ow.get("from_graph") == [GRAPH_OWNER],
             "status: owners from the config and from Graph", ow)
        nt = app.get("notifications", {})
        t.ok(sorted(nt.get("channels", [])) == ["email", "slack", "teams", "webhook"] and
             nt.get("sent", 0) > 0, "status: channels and sent count", nt)
        aff = (app.get("incidents") or [{}])[0]
        t.eq(aff.get("affected"), N + EXTRA, "status: %d affected (storm + Nylas's list)" % (N + EXTRA))

        # They come back.
        pairs = [("user%06d@example.com" % i, "grant-%06d" % i) for i in range(N)] + \
            [("quiet%d@example.com" % i, "nylas-only-%d" % i) for i in range(EXTRA)]
        come_back(rig, pairs)
        res = wait_for(lambda: (q(rig.d, "SELECT state FROM incidents WHERE id = ?",
                                  (inc.get("id"),)) or [{}])[0].get("state") == "resolved", 60, 0.3)
        t.ok(res, "the incident resolves when every user has re-authenticated")
        one_each(sinks, "incident_resolved", "rekey.incident.resolved", "incident resolved")
        digests = mails_of(sinks, "reauth_digest", OWNER)
        t.ok(1 <= len(digests) <= 30, "re-auth progress came as %d digests to an owner, not %d "
             "messages" % (len(digests), N + EXTRA))
        reauth_again = len(mails_of(sinks, "user_reauth"))
        t.eq(reauth_again, len(users), "no user was asked twice")

        # A restart sends nothing again.
        before = (len(sinks.mails()), sum(len(sinks.posts(c)) for c in ("slack", "teams", "webhook")))
        rig.d.stop()
        rig.d.start()
        time.sleep(4.5)  # two sweeps and more
        after = (len(sinks.mails()), sum(len(sinks.posts(c)) for c in ("slack", "teams", "webhook")))
        t.eq(after, before, "a restart sends nothing twice")
    finally:
        rig.stop()


def run_failure(sinks):
    sinks.reset()
    for ch in ("slack", "teams", "webhook"):
        sinks.script(ch, [{"status": 500, "times": 2}])
    sinks.script("smtp", [{"at": "RCPT", "reply": "451 4.3.0 try later", "times": 2}])
    rig = make_rig(sinks, seed_state=seed(expired=False), notify=secret_hooks_notify(sinks))
    try:
        rig.d.start()
        r = subprocess.run([REKEY_BIN, "rotate", "-c", rig.d.conf_path, "prod"],
                           capture_output=True, text=True, timeout=30)
        t.eq(r.returncode, 0, "failure: rekey rotate plans a manual rotation", r.stderr)
        # Every channel fails at first: the last error shown is one of theirs.
        pending = wait_for(lambda: (status_json(rig).get("notifications", {}).get("last_error")
                                    or None), 40, 0.3)
        t.ok(pending is not None and ("500" in pending or "451" in pending),
             "failure: status shows a message's last error (%s)" % pending)
        m = wait_for(lambda: rig.d.metric("rekey_notifications_total",
                                          {"channel": "slack", "result": "retry"}), 20, 0.2)
        t.ok(m is not None and m >= 1, "failure: the metrics count the retry", m)
        g = wait_for(lambda: (rig.d.metric("rekey_outbox_messages", {"app": "prod",
                                                                     "state": "pending"}) or 0) >= 1, 5)
        t.ok(g, "failure: and the outbox gauge shows it pending")
        ok = wait_for(lambda: len([p for p in sinks.posts("slack") if p.get("status") == 200]) >= 1,
                      30, 0.3)
        time.sleep(1)
        got = [p for p in sinks.posts("slack") if p.get("status") == 200]
        t.ok(ok and len(got) == 1, "failure: once Slack answers again the message is delivered, "
             "once (%d attempts seen)" % len(sinks.posts("slack")))
        ok = wait_for(lambda: all(any(p.get("status") == 200 for p in sinks.posts(ch))
                                  for ch in ("teams", "webhook")), 30, 0.3)
        t.ok(ok, "failure: Teams and the webhook, their URLs read from *_file keys, deliver too")
        fails = {ch: len([p for p in sinks.posts(ch) if p.get("status") == 500])
                 for ch in ("slack", "teams", "webhook")}
        t.ok(all(n >= 1 for n in fails.values()), "failure: every channel failed first", fails)
        # Secrets never in logs: every channel's failure path, status and doctor.
        log = rig.d.log_text()
        t.ok(all("%s POST https://127.0.0.1:%d: attempt 1 of 2 failed" % (ch, sinks.ports["hooks"])
                 in log for ch in ("slack", "teams", "webhook")),
             "failure: each channel's failed attempt is logged with scheme and host only",
             [l for l in log.splitlines() if "attempt 1 of 2" in l][:6])
        t.eq(leaked(log), [], "failure: no hook URL's path in the log")
        st = subprocess.run([REKEY_BIN, "status", "-c", rig.d.conf_path], capture_output=True,
                            text=True, timeout=30)
        t.eq(leaked(json.dumps(status_json(rig)) + st.stdout + st.stderr), [],
             "failure: nor in rekey status (text and JSON)")
        for ch in ("slack", "teams", "webhook"):
            sinks.script(ch, [{"status": 404, "times": 1}])
        doc = subprocess.run([REKEY_BIN, "doctor", "-c", rig.d.conf_path, "prod", "--send-test"],
                             capture_output=True, text=True, timeout=60)
        fails = [l for l in doc.stdout.splitlines() if l.strip().startswith("FAIL") and "notify_" in l]
        t.ok(len(fails) >= 3, "failure: doctor --send-test reports the refused channels", doc.stdout)
        t.eq(leaked(doc.stdout + doc.stderr), [], "failure: nor in doctor's output or log")
    finally:
        rig.stop()


def run_kill9(sinks):
    sinks.reset()
    sinks.script("smtp", [{"action": "hang", "at": "DATA_END", "times": 1}])
    rig = make_rig(sinks, seed_state=seed(expired=False))
    try:
        rig.d.start()
        subprocess.run([REKEY_BIN, "rotate", "-c", rig.d.conf_path, "prod"],
                       capture_output=True, text=True, timeout=30)
        hung = wait_for(lambda: [m for m in sinks.mails() if m.get("unanswered")], 40, 0.1)
        t.ok(hung, "kill -9: the sink holds a message it never acknowledged")
        # libcurl waits for that reply without returning: only the mail thread may wait.
        t0 = time.time()
        st = rig.d.post_nylas(envelope(id_="while-smtp-hangs"))[0]
        took = time.time() - t0
        t.ok(st == 200 and took < 1.0, "a webhook is answered at once while the mail server "
             "hangs (%.0f ms)" % (took * 1000))
        rig.d.kill9()
        victim = header(hung[0], "Message-ID") if hung else None
        rig.d.start()
        wait_for(lambda: len([m for m in sinks.mails() if header(m, "Message-ID") == victim]) >= 2,
                 40, 0.2)
        time.sleep(3)
        ids = [header(m, "Message-ID") for m in sinks.mails()]
        dups = sorted(set(i for i in ids if ids.count(i) > 1))
        t.eq(dups, [victim], "kill -9: exactly one message arrived twice, the one in flight "
             "(same Message-ID %s)" % victim, ids)
        t.ok(ids.count(victim) == 2, "kill -9: and only twice")
    finally:
        rig.stop()


def run_resolve(sinks):
    sinks.reset()
    rig = make_rig(sinks, seed_state=seed(expired=False))
    try:
        rig.d.start()
        # A user-side incident: Graph evidence says she was disabled just before.
        now = int(time.time() * 1000)
        wait_for(lambda: rig.d.store_exists(), 10)
        with rig.d.db() as c:
            c.execute("INSERT INTO user_events (app, user_id, email, kind, observed_ms, changed_at,"
                      " evidence) VALUES ('prod', 'u1', 'gone@example.com', 'disabled', ?, 0,"
                      " 'Graph: accountEnabled false for gone@example.com')", (now,))
        rig.d.post_nylas(envelope(id_="gone-1", grant_id="g-gone", email="gone@example.com"))
        inc = wait_for(lambda: (q(rig.d, "SELECT * FROM incidents") or [None])[0], 20, 0.2)
        t.eq(inc and inc["cause"], "user_disabled", "resolve: a user_disabled incident")
        one_each(sinks, "incident_opened", "rekey.incident.opened", "user incident opened")
        opened = mails_of(sinks, "incident_opened", OWNER)
        t.ok(opened and "no client secret was rotated" in body(opened[0]).lower(),
             "the user-cause alert says no secret was rotated", body(opened[0])[:1200] if opened else None)
        t.eq(mails_of(sinks, "user_reauth"), [], "a disabled user is not asked to sign in")
        r = subprocess.run([REKEY_BIN, "resolve", "-c", rig.d.conf_path, inc["id"]],
                           capture_output=True, text=True, timeout=30)
        t.eq(r.returncode, 0, "rekey resolve exits 0", r.stderr)
        t.ok("resolved incident" in r.stdout, "and says so", r.stdout)
        st = (q(rig.d, "SELECT state, resolved_by FROM incidents WHERE id = ?", (inc["id"],)) or [{}])[0]
        t.eq((st.get("state"), st.get("resolved_by")), ("resolved", "operator"),
             "the store says resolved by the operator")
        one_each(sinks, "incident_resolved", "rekey.incident.resolved", "operator resolved")
        m = mails_of(sinks, "incident_resolved", OWNER)
        t.ok(m and "operator" in body(m[0]).lower(), "the message says an operator resolved it",
             body(m[0])[:800] if m else None)
        r = subprocess.run([REKEY_BIN, "resolve", "-c", rig.d.conf_path, "no-such-incident"],
                           capture_output=True, text=True, timeout=30)
        t.ok(r.returncode == 1 and "no incident" in r.stderr, "an unknown id is refused clearly",
             r.stderr)
        # A new expiry after the resolution opens a new incident, not the closed one.
        rig.d.post_nylas(envelope(id_="gone-2", grant_id="g-gone", email="gone@example.com"))
        two = wait_for(lambda: len(q(rig.d, "SELECT * FROM incidents") or []) == 2, 20, 0.2)
        t.ok(two, "a later expiry opens a new incident")
    finally:
        rig.stop()


def run_warning(sinks):
    """The in-use secret ends in 10 days, approve mode: one warning (the 14-day threshold, not
    also the 30-day one), a rotation waiting for approval with the command, then done."""
    sinks.reset()
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 10 * 86400 + 3600))
    rig = make_rig(sinks, more_app=["rotation_mode = approve"],
                   seed_state=seed(pw=passwords(current_end=end)))
    try:
        rig.d.start()
        warn = one_each(sinks, "expiry_warning", "rekey.secret.expiring", "expiry warning")
        text = body(warn[0]) if warn else ""
        t.ok("10 days" in text and end in text, "the warning says 10 days left and the end date",
             text[:1500])
        t.eq(len(mails_of(sinks, "expiry_warning", OWNER)), 1,
             "one warning for the nearest threshold crossed, not one per threshold")
        waiting = one_each(sinks, "rotation_waiting", "rekey.rotation.waiting_for_approval",
                           "rotation waiting for approval")
        rid = (q(rig.d, "SELECT id FROM rotations") or [{}])[0].get("id")
        cmd = "rekey approve -c %s %s" % (rig.d.conf_path, rid)
        t.ok(waiting and rid and cmd in body(waiting[0]).replace("=\r\n", ""),
             "the approval request gives the exact command", body(waiting[0])[:1500] if waiting else None)
        r = subprocess.run([REKEY_BIN, "approve", "-c", rig.d.conf_path, rid],
                           capture_output=True, text=True, timeout=30)
        t.eq(r.returncode, 0, "rekey approve exits 0", r.stderr)
        one_each(sinks, "rotation_done", "rekey.rotation.done", "approved rotation done")
    finally:
        rig.stop()


def main():
    cdir = make_certs(tempfile.mkdtemp(prefix="rekey-sinks-"))
    with Sinks().start(cdir, webhook_secret=WHSEC) as sinks:
        sinks.certs = cdir
        run_storm(sinks)
        run_failure(sinks)
        run_kill9(sinks)
        run_resolve(sinks)
        run_warning(sinks)
    shutil.rmtree(cdir, ignore_errors=True)
    t.done()


if __name__ == "__main__":
    main()
