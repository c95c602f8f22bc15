"""Graph notifications end to end: the daemon subscribes to /users at the
fake Graph (which validates both URLs), the fake delivers basic change
notifications (Graph has no rich ones for users), and the worker takes each
as a hint: it reads the user with GET /users/{id} and records what that
shows: disabled, deleted (404), sessions revoked, password changed.  A
"deleted" for a user who is still there records nothing of the kind, a
forged encryptedContent is never believed, and batches that carry bad
validation tokens are flagged suspect and never acted on.  A notification
journaled but not processed when the daemon is killed is processed after
the restart."""

import os
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from fakes import Fakes  # noqa: E402
from rekeytest import Daemon, Tap, envelope, free_port, write_secret, wait_for  # noqa: E402

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TARGET = "11111111-2222-3333-4444-555555555555"
ROTATOR = "99999999-8888-7777-6666-555555555555"
CLIENT_STATE = "cs-" + uuid.uuid4().hex
OLD = "2026-01-01T00:00:00Z"


def iso(ts):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def user(name, **kw):
    u = {"id": str(uuid.uuid4()), "displayName": name.title(), "mail": name + "@contoso.example",
         "userPrincipalName": name + "@contoso.example", "accountEnabled": True,
         "signInSessionsValidFromDateTime": OLD, "lastPasswordChangeDateTime": OLD}
    u.update(kw)
    return u




def make_encryption_cert(directory):
    key, crt = os.path.join(directory, "notify.key"), os.path.join(directory, "notify.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                    "-out", crt, "-days", "30", "-subj", "/CN=rekey notifications"],
                   check=True, capture_output=True)
    os.chmod(key, 0o600)
    return crt, key


t = Tap()
users = {n: user(n) for n in ("alice", "bob", "carol", "dave", "erin", "frank", "gina", "hank",
                               "ivan")}
d = Daemon()
fakes = Fakes()
try:
    fakes.start(d.certs, {"tenants": {TENANT: {
        "apps": {TARGET: {"object_id": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee", "display_name": "Nylas connector",
                          "passwords": [], "owners": [{"type": "servicePrincipal", "appId": ROTATOR}]},
                 ROTATOR: {"display_name": "rekey", "certificates": ["rotator.crt"]}},
        "users": {u["id"]: u for u in users.values()}}}})
    port = free_port()
    s = os.path.join(d.dir, "secrets")
    write_secret(os.path.join(s, "client_state"), CLIENT_STATE + "\n")
    enc_crt, enc_key = make_encryption_cert(s)

    def write_config():
        lines = ["[server]", "listen = 127.0.0.1:%d" % port, "tls_cert = %s/server.crt" % d.certs,
                 "tls_key = %s/server.key" % d.certs, "public_url = https://127.0.0.1:%d" % port,
                 "log_level = debug", "",
                 "[store]", "url = sqlite:%s" % d.db_path, "master_key_file = %s/master_key" % s, "",
                 "[outbound]", "ca_file = %s/ca.crt" % d.certs, "timeout_ms = 5000", "",
                 "[app prod]", "nylas_webhook_secret_file = %s/webhook" % s,
                 "azure_tenant_id = %s" % TENANT, "azure_client_id = %s" % TARGET,
                 "azure_login_base = %s" % fakes.login_base, "graph_base = %s" % fakes.graph_base,
                 "rotator_client_id = %s" % ROTATOR, "rotator_cert_file = %s/rotator.crt" % d.certs,
                 "rotator_key_file = %s/rotator.key" % d.certs,
                 "graph_client_state_file = %s/client_state" % s, "graph_subscribe_users = yes",
                 "graph_encryption_cert_file = %s" % enc_crt, "graph_encryption_key_file = %s" % enc_key,
                 "graph_encryption_cert_id = notify-2026", "graph_jwks_refresh_min = 3s", ""]
        with open(d.conf_path, "w") as f:
            f.write("\n".join(lines))

    write_config()
    d.start()

    def live_subs():
        return list(fakes.state().get("subscriptions", {}).values())

    subs = wait_for(lambda: live_subs(), 30)
    t.eq(len(subs), 1, "the daemon subscribed to /users at start")
    sub = subs[0] if subs else {}
    sid = sub.get("id")
    t.eq((sub.get("includeResourceData"), sub.get("encryptionCertificateId")), (False, None),
         "the subscription is basic (no rich notifications for /users), the config's certificate ignored")

    def events(where="1=1", args=()):
        return d.events("source = 'graph' AND " + where, args)

    def result_of(event_id):
        # An item is journaled as "<its batch's name>:<its id>" (graph_item_key).
        rows = events("(event_id = ? OR event_id LIKE ?)", (event_id, "%:" + event_id))
        return rows[0]["result"] if rows and rows[0]["processed_at"] else None

    def user_events(uid):
        with d.db() as c:
            return [dict(r) for r in c.execute("SELECT * FROM user_events WHERE user_id = ? ORDER BY id", (uid,))]

    def patch_user(name, **fields):
        fakes.seed({"tenants": {TENANT: {"users": {users[name]["id"]: fields}}}})

    def deliver(name, change="updated", extra=None, **kw):
        item = {"user_id": users[name]["id"], "id": str(uuid.uuid4()), "changeType": change}
        if extra:
            item["extra"] = extra
        r = fakes.notify_graph(sid, [item], **kw)
        t.eq(r.get("status"), 202, "the daemon acks the notification for %s (%s)" % (name, kw or "plain"))
        wait_for(lambda: result_of(item["id"]) is not None, 20)
        return item["id"], result_of(item["id"])

    # Plain notifications: the worker reads the user from Graph.
    now = time.time()
    patch_user("alice", accountEnabled=False)
    eid, res = deliver("alice")
    t.eq(res, "user_evidence", "alice disabled: evidence")
    ue = user_events(users["alice"]["id"])
    t.eq([(u["kind"], u["email"]) for u in ue], [("disabled", "alice@contoso.example")],
         "alice: one 'disabled' event with her address")
    t.ok(ue and "accountEnabled is false (GET /users)" in ue[0]["evidence"], "the evidence says how it was seen")

    # The correlation uses that evidence: alice's grant expiring is her account, not the secret.
    env = envelope(email="Alice@contoso.example", grant_id="grant-alice")
    st, _, _ = d.post_nylas(env)
    t.eq(st, 200, "alice's grant.expired is answered 200")

    def incidents():
        with d.db() as c:
            return [dict(r) for r in c.execute("SELECT * FROM incidents")]

    inc = wait_for(lambda: incidents(), 20) or [{}]
    t.eq([(i.get("cause"), i.get("rotation_id")) for i in inc], [("user_disabled", None)],
         "alice's grant.expired joins a user_disabled incident with no rotation")
    t.ok("accountEnabled is false" in (inc[0].get("evidence") or ""),
         "the incident's evidence is the Graph user event", inc[0].get("evidence"))
    with d.db() as c:
        t.eq(c.execute("SELECT count(*) FROM rotations").fetchone()[0], 0, "no rotation planned")

    patch_user("bob", signInSessionsValidFromDateTime=iso(now - 30))
    _, res = deliver("bob")
    t.eq([u["kind"] for u in user_events(users["bob"]["id"])], ["sessions_revoked"], "bob: sessions revoked")

    patch_user("carol", lastPasswordChangeDateTime=iso(now - 30))
    _, res = deliver("carol")
    t.eq([u["kind"] for u in user_events(users["carol"]["id"])], ["password_changed"], "carol: password changed")

    # "deleted" is a hint like any other: only GET /users/{id} answering 404 records it.
    def user_gets(name):
        return [r for r in fakes.requests("graph", r"/users/") if users[name]["id"] in r["path"]]

    _, res = deliver("ivan", change="deleted")
    t.eq((res, user_events(users["ivan"]["id"])), ("no_change", []),
         "a forged 'deleted' for ivan, who is still there: nothing recorded")
    t.eq(len(user_gets("ivan")), 1, "ivan's 'deleted' was checked with GET /users/{id}")
    fakes.seed({"tenants": {TENANT: {"users": {users["dave"]["id"]: None}}}})
    _, res = deliver("dave", change="deleted")
    t.eq([u["kind"] for u in user_events(users["dave"]["id"])], ["deleted"], "dave gone (404): deleted")
    t.ok(user_gets("dave") and "GET /users answered 404" in user_events(users["dave"]["id"])[0]["evidence"],
         "dave's deletion is what GET /users/{id} answered", user_events(users["dave"]["id"]))

    _, res = deliver("erin")
    t.eq((res, user_events(users["erin"]["id"])), ("no_change", []), "erin unchanged: no evidence")

    # An event committed late with a lower id than one already read (replicas on one PostgreSQL
    # store commit out of id order) is processed all the same: rows written here directly, as
    # such a replica would have, one above every id the worker has read, then one below it.
    def late_copy(row_id, event_id):
        row = dict(events("event_id = ?", (eid_erin,))[0])
        row.update(id=row_id, event_id=event_id, processed_at=None, result=None)
        with d.db() as c:
            c.execute("INSERT INTO events (%s) VALUES (%s)" % (", ".join(row), ", ".join("?" * len(row))),
                      list(row.values()))
        return wait_for(lambda: result_of(event_id), 20)

    eid_erin = events("1=1 ORDER BY id DESC LIMIT 1")[0]["event_id"]
    top = events("1=1 ORDER BY id DESC LIMIT 1")[0]["id"]
    t.eq(late_copy(top + 1000, "late-high"), "no_change", "an event far above the others is processed")
    t.eq(late_copy(top + 500, "late-low"), "no_change",
         "an event committed later with a lower id than one already read is processed too")
    # A second look at bob with nothing new: the stored baseline says it is old news.
    _, res = deliver("bob")
    t.eq((res, len(user_events(users["bob"]["id"]))), ("no_change", 1), "bob again, nothing new: no second event")
    patch_user("bob", signInSessionsValidFromDateTime=iso(now + 1))
    _, res = deliver("bob")
    t.eq(len(user_events(users["bob"]["id"])), 2, "bob's sessions revoked again: a second event")

    # A notification's own content is never believed: a made-up encryptedContent, no tokens.
    fakes.clear_requests("graph")
    forged = {"encryptedContent": {"data": "AAAA", "dataSignature": "AAAA", "dataKey": "AAAA",
                                   "encryptionCertificateId": "notify-2026",
                                   "encryptionCertificateThumbprint": "00"}}
    _, res = deliver("frank", extra=forged)
    t.eq((res, user_events(users["frank"]["id"])), ("no_change", []),
         "frank: a batch with encryptedContent and no tokens is a hint, not suspect; nothing shows")
    t.eq(len(user_gets("frank")), 1, "frank was read with GET /users/{id}")

    # Validation tokens, when a batch carries them: any bad one makes the batch suspect.
    patch_user("gina", accountEnabled=False)
    jwks_before = fakes.jwks_requests()
    suspect_before = d.metric("rekey_webhooks_total", {"source": "graph", "result": "suspect"}) or 0
    for token in ("expired", "not_yet_valid", "forged", "wrong_aud", "wrong_iss", "wrong_appid"):
        _, res = deliver("gina", token=token)
        t.eq(res, "suspect", "token %s: suspect" % token)
    t.eq(user_events(users["gina"]["id"]), [], "gina: no evidence from suspect batches")
    t.eq(d.metric("rekey_webhooks_total", {"source": "graph", "result": "suspect"}), suspect_before + 6,
         "suspect batches are counted")
    t.eq(fakes.jwks_requests(), jwks_before + 1, "the JWKS was fetched once for those tokens")
    time.sleep(3.2)  # graph_jwks_refresh_min since the last fetch
    before = fakes.jwks_requests()
    _, res = deliver("gina", token="unknown_kid")
    t.eq(res, "suspect", "an unknown kid: suspect")
    t.eq(fakes.jwks_requests(), before + 1, "an unknown kid makes the daemon refresh the JWKS once")
    _, res = deliver("gina", token="unknown_kid")
    t.eq(fakes.jwks_requests(), before + 1, "a second unknown kid soon after does not refetch")

    # The identity platform rotates its signing key: the new kid is fetched and trusted.
    time.sleep(3.2)
    fakes.rotate_jwks(keep_old=False)
    before = fakes.jwks_requests()
    _, res = deliver("gina", token="valid")
    t.eq((res, fakes.jwks_requests()), ("user_evidence", before + 1),
         "a token signed with a newly published key: one refresh, then GET /users/{id}")
    t.eq([u["kind"] for u in user_events(users["gina"]["id"])], ["disabled"], "gina: disabled, seen by GET")

    # v1 tokens are good too.
    patch_user("hank", accountEnabled=False)
    _, res = deliver("hank", token="valid", token_version=1)
    t.eq(res, "user_evidence", "a v1 token (sts.windows.net issuer, appid) is accepted")

    # resourceData.id goes into /users/{id}: a dot segment would have curl ask for
    # /v1.0/ or /v1.0/users/ (every user) with rekey's token.  Only a GUID or a UPN is used.
    fakes.clear_requests("graph")
    for bad, res_path in (("..", None), (".", None), (None, "Users/.."), ("..", "Users/ivan@x")):
        item = {"user_id": bad, "id": str(uuid.uuid4())}
        if res_path:  # without resourceData.id, the id comes from the resource path
            item["resource"] = res_path
            item["resourceData"] = {"id": bad}
        r = fakes.notify_graph(sid, [item])
        wait_for(lambda: result_of(item["id"]) is not None, 20)
        t.eq((r.get("status"), result_of(item["id"])), (202, "bad_user_id"),
             "resourceData.id %r: acked, not acted on" % bad)
    gets = [r["path"] for r in fakes.requests("graph") if r.get("method") == "GET"]
    t.eq(gets, [], "no Graph call was made for them (no GET /v1.0/ nor /v1.0/users/)")

    # A burst of user notifications reads at most ACTIVE_MAX (64) users from Graph at
    # once, however many events wait (the worker holds up to 1,024 waiting for commits).
    fakes.script("graph", [{"method": "GET", "path": "users/", "times": 0, "action": {"hang": True}}])
    burst = [{"user_id": str(uuid.uuid4()), "id": str(uuid.uuid4())} for _ in range(150)]
    for half in (burst[:75], burst[75:]):
        t.eq(fakes.notify_graph(sid, half).get("status"), 202, "a burst of 75 notifications acked")
    wait_for(lambda: fakes.hung("graph") >= 64, 20)
    time.sleep(1)
    t.eq(fakes.hung("graph"), 64, "the burst: 64 user reads at Graph at once, the rest wait")
    fakes.clear_script("graph")
    fakes.release("graph")
    t.ok(wait_for(lambda: all(result_of(i["id"]) is not None for i in burst), 60),
         "the burst: every notification processed once Graph answers")

    # A journaled notification survives kill -9 before the worker got to it.
    fakes.script("graph", [{"method": "GET", "path": "users/", "times": 0, "action": {"hang": True}}])
    patch_user("erin", accountEnabled=False)
    item = {"user_id": users["erin"]["id"], "id": str(uuid.uuid4())}
    r = fakes.notify_graph(sid, [item])
    t.eq(r.get("status"), 202, "acked while Graph hangs")
    wait_for(lambda: fakes.hung("graph") >= 1, 10)
    t.eq(result_of(item["id"]), None, "not processed while Graph hangs")
    d.kill9()
    fakes.clear_script("graph")
    fakes.release("graph")
    d.start()
    wait_for(lambda: result_of(item["id"]) is not None, 30)
    t.eq(result_of(item["id"]), "user_evidence", "processed after the restart")
    t.eq([u["kind"] for u in user_events(users["erin"]["id"])], ["disabled"], "erin: disabled, once")
    t.eq(len(live_subs()), 1, "the restart created no second subscription")

    t.eq(d.metric("rekey_user_events_total", {"app": "prod", "kind": "disabled"}) is not None, True,
         "user events are counted in the metrics")
    t.ok(CLIENT_STATE not in d.log_text(), "the clientState never appears in the log")
    t.eq(d.stop(), 0, "SIGTERM stops cleanly")
finally:
    d.cleanup()
    fakes.stop()
t.done()
