"""The operator surfaces: the admin API under /api/v1/ (bearer token in
constant time, 401 otherwise; status JSON with the contract's keys; rotate
and approve, with their 404, 405 and 409 answers) and the CLI's `rekey
status`, `rekey rotate` and `rekey approve` against the same store while the
daemon runs.  No fakes: the data the status shows is put into the store."""

import json
import os
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import REKEY_BIN, Daemon, Tap, wait_for, write_secret  # noqa: E402

STATES = {"planned", "creating", "created", "testing", "tested", "publishing", "published",
          "watching", "rolling_back",
          "retiring", "retired", "done", "failed"}


def run(*args, timeout=20):
    p = subprocess.run([REKEY_BIN] + list(args), capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def api(d, method, path, token=None, body=None):
    h = {}
    if token is not None:
        h["Authorization"] = "Bearer " + token
    if body is not None:
        h["Content-Type"] = "application/json"
    status, headers, data = d.request(method, "/api/v1/" + path, body, h)
    try:
        doc = json.loads(data) if data else None
    except ValueError:
        doc = None
    return status, headers, doc


def app_of(doc, name):
    for a in (doc or {}).get("apps", []):
        if a.get("name") == name:
            return a
    return {}


def seed(d):
    """An incident with evidence and grants, the credentials the expiry poll
    recorded, and a finished rotation that holds a sealed secret."""
    now = int(time.time() * 1000)
    with d.db() as c:
        c.execute("INSERT INTO incidents (id, app, cause, state, evidence, opened_at, updated_at)"
                  " VALUES ('inc-1', 'prod', 'secret_expired', 'open', ?, ?, ?)",
                  (json.dumps(["token endpoint answered AADSTS7000222 for key k-old"]), now, now))
        for i in range(3):
            c.execute("INSERT INTO incident_grants (incident_id, grant_id, email, seen_ms,"
                      " recovered_ms) VALUES ('inc-1', ?, ?, ?, ?)",
                      ("g-%d" % i, "u%d@example.com" % i, now, now if i == 0 else 0))
        creds = [
            {"key_id": "k-old", "hint": "abc", "display_name": "portal secret",
             "start": "2025-01-01T00:00:00Z", "end": "2025-06-01T00:00:00Z"},
            {"key_id": "k-new", "hint": "xyz", "display_name": "rekey-rot-done",
             "start": "2026-01-01T00:00:00Z", "end": "2099-07-01T00:00:00Z"},
        ]
        for key, value in (("password_credentials", json.dumps(creds)),
                           ("in_use_key_id", "k-new"), ("in_use_why", "")):
            c.execute("INSERT OR REPLACE INTO app_values (app, key, value, updated_ms)"
                      " VALUES ('prod', ?, ?, ?)", (key, value, now))
        c.execute("INSERT INTO rotations (id, app, state, reason, approved, new_key_id, secret_ct,"
                  " last_error, created_at, updated_at) VALUES ('rot-done', 'prod', 'done',"
                  " 'incident', 1, 'k-new', ?, NULL, ?, ?)",
                  (b"SEALED-SECRET-BYTES", now - 5000, now - 4000))


t = Tap()
d = Daemon(apps=("prod", "staging"))
d.write_config(more="rotation_mode = approve")     # the last app section: staging
token = open(os.path.join(d.dir, "secrets", "admin_token")).read().strip()
try:
    d.start()
    t.ok(wait_for(lambda: "no channel is configured in [notify]" in d.log_text(), 5),
         "no [notify] channel: rekey says at start that the owners will not hear")

    # --- authentication ---
    for name, tok in (("no token", None), ("a wrong token", "admin-token-wrong"),
                      ("a prefix of the token", token[:-1]), ("the token plus more", token + "x"),
                      ("an empty token", "")):
        status, headers, _ = api(d, "GET", "status", tok)
        t.eq(status, 401, "status with %s: 401" % name)
        t.ok(headers.get("www-authenticate", "").startswith("Bearer"),
             "401 with %s says WWW-Authenticate: Bearer" % name, headers)
    status, _, _ = d.request("GET", "/api/v1/status", None, {"Authorization": "Basic " + token})
    t.eq(status, 401, "a Basic scheme is refused")
    status, _, _ = api(d, "POST", "apps/staging/rotate", "nope")
    t.eq(status, 401, "rotate without the token: 401")
    status, _, _ = api(d, "POST", "rotations/x/approve")
    t.eq(status, 401, "approve without the token: 401")
    status, _, _ = api(d, "POST", "incidents/inc-1/resolve")
    t.eq(status, 401, "resolve without the token: 401")
    with d.db() as c:
        t.eq(c.execute("SELECT count(*) FROM rotations").fetchone()[0], 0,
             "a refused rotate stored nothing")

    # --- status, empty ---
    status, headers, doc = api(d, "GET", "status", token)
    t.eq(status, 200, "status with the token: 200")
    t.ok(headers.get("content-type", "").startswith("application/json"), "status is JSON", headers)
    t.eq([a.get("name") for a in (doc or {}).get("apps", [])], ["prod", "staging"],
         "status lists the configured apps")
    prod = app_of(doc, "prod")
    t.ok(prod.get("secrets") == [] and prod.get("incidents") == [] and prod.get("rotations") == [],
         "an app with nothing known has empty lists", prod)
    t.eq(prod.get("in_use_why"), "secrets not read from Graph yet",
         "status says the secrets were not read yet")

    # --- status with data ---
    seed(d)
    status, _, doc = api(d, "GET", "status", token)
    prod = app_of(doc, "prod")
    secrets = prod.get("secrets", [])
    t.eq(len(secrets), 2, "status lists the recorded credentials")
    want_secret = {"key_id", "hint", "display_name", "start", "end", "in_use", "made_by_rekey"}
    t.ok(all(want_secret <= set(s) for s in secrets), "each secret has the contract's keys", secrets)
    new = [s for s in secrets if s.get("key_id") == "k-new"]
    old = [s for s in secrets if s.get("key_id") == "k-old"]
    t.ok(new and new[0]["in_use"] is True and new[0]["made_by_rekey"] is True and
         new[0]["end"] == "2099-07-01T00:00:00Z" and new[0]["hint"] == "xyz",
         "the in-use rekey-made secret", new)
    t.ok(old and old[0]["in_use"] is False and old[0]["made_by_rekey"] is False and
         old[0]["start"] == "2025-01-01T00:00:00Z", "the portal secret", old)
    t.eq(prod.get("in_use_key_id"), "k-new", "status names the in-use key")
    incs = prod.get("incidents", [])
    want_inc = {"id", "cause", "state", "opened_at", "affected", "recovered", "evidence"}
    t.ok(len(incs) == 1 and want_inc <= set(incs[0]), "the incident has the contract's keys", incs)
    if incs:
        i = incs[0]
        t.ok(i["cause"] == "secret_expired" and i["state"] == "open" and i["affected"] == 3 and
             i["recovered"] == 1 and i["evidence"] == ["token endpoint answered AADSTS7000222 "
                                                       "for key k-old"],
             "incident: cause, state, counts and evidence", i)
        t.ok(i["opened_at"].endswith("Z") and len(i["opened_at"]) == 20,
             "incident times are ISO 8601 UTC", i["opened_at"])
    rots = prod.get("rotations", [])
    want_rot = {"id", "state", "reason", "new_key_id", "created_at", "updated_at", "last_error"}
    t.ok(len(rots) == 1 and want_rot <= set(rots[0]), "the rotation has the contract's keys", rots)
    t.ok(rots and rots[0]["state"] == "done" and rots[0]["last_error"] is None and
         rots[0]["new_key_id"] == "k-new", "the finished rotation", rots)
    raw = d.request("GET", "/api/v1/status", None, {"Authorization": "Bearer " + token})[2]
    t.ok(b"SEALED-SECRET-BYTES" not in raw and b"secret_ct" not in raw and token.encode() not in raw,
         "status never carries secret text")

    # --- rotate (approve mode: it stays planned) ---
    status, _, r1 = api(d, "POST", "apps/staging/rotate", token)
    t.eq(status, 202, "rotate: 202")
    rid = (r1 or {}).get("rotation_id", "")
    t.ok(len(rid) == 36 and r1.get("state") == "planned", "rotate answers the id and planned", r1)
    with d.db() as c:
        row = c.execute("SELECT state, reason, approved, dry_run FROM rotations WHERE id = ?",
                        (rid,)).fetchone()
    t.ok(row is not None and tuple(row) == ("planned", "manual", 0, 0),
         "a planned, unapproved manual rotation row", row and tuple(row))
    status, _, r2 = api(d, "POST", "apps/staging/rotate", token)
    t.ok(status == 200 and (r2 or {}).get("rotation_id") == rid,
         "a second rotate answers 200 with the same id", (status, r2))
    status, _, doc = api(d, "GET", "status", token)
    srots = app_of(doc, "staging").get("rotations", [])
    t.ok(len(srots) == 1 and srots[0]["id"] == rid and srots[0]["state"] == "planned" and
         srots[0]["reason"] == "manual" and srots[0].get("waiting_for_approval") is True,
         "status shows the rotation waiting for approval", srots)

    # --- CLI status while the daemon runs ---
    rc, out, err = run("status", "-c", d.conf_path)
    _, _, health_doc = api(d, "GET", "status", token)
    t.eq(rc, {"ok": 0, "warning": 1, "critical": 2}.get(health_doc.get("health")),
         "rekey status exits as the health says (0 ok, 1 warning, 2 critical)", err)
    t.ok("app prod" in out and "app staging" in out, "rekey status names the apps", out)
    t.ok("k-new" in out and "secret_expired" in out and "AADSTS7000222" in out and
         "affected 3, recovered 1" in out, "rekey status shows secrets and the incident", out)
    t.ok("waiting for approval: rekey approve -c %s %s" % (d.conf_path, rid) in out,
         "rekey status says how to approve", out)
    rc, out, err = run("status", "-c", d.conf_path, "--json")
    try:
        jdoc = json.loads(out)
    except ValueError:
        jdoc = {}
    t.ok(rc in (0, 1, 2) and app_of(jdoc, "staging").get("rotations", [{}])[0].get("id") == rid
         and jdoc.get("health") == health_doc.get("health"),
         "rekey status --json has the same document", out)
    t.ok("events" in jdoc and "nylas" in jdoc.get("events", {}), "status --json counts the journal")

    # --- approve ---
    status, _, _ = api(d, "POST", "rotations/%s/approve" % uuid.uuid4(), token)
    t.eq(status, 404, "approving an unknown rotation: 404")
    status, _, doc = api(d, "POST", "rotations/rot-done/approve", token)
    t.ok(status == 409 and (doc or {}).get("state") == "done",
         "approving a finished rotation: 409", (status, doc))
    status, headers, _ = api(d, "GET", "rotations/%s/approve" % rid, token)
    t.ok(status == 405 and headers.get("allow") == "POST", "GET approve: 405 Allow: POST",
         (status, headers))
    status, _, doc = api(d, "POST", "rotations/%s/approve" % rid, token)
    t.ok(status == 200 and (doc or {}).get("approved") is True, "approve: 200", (status, doc))
    with d.db() as c:
        t.eq(c.execute("SELECT approved FROM rotations WHERE id = ?", (rid,)).fetchone()[0], 1,
             "approve is stored")

    # --- resolve ---
    status, _, _ = api(d, "POST", "incidents/%s/resolve" % uuid.uuid4(), token)
    t.eq(status, 404, "resolving an unknown incident: 404")
    status, headers, _ = api(d, "GET", "incidents/inc-1/resolve", token)
    t.ok(status == 405 and headers.get("allow") == "POST", "GET resolve: 405 Allow: POST")
    status, _, doc = api(d, "POST", "incidents/inc-1/resolve", token)
    t.ok(status == 200 and (doc or {}).get("resolved_by") == "operator", "resolve: 200",
         (status, doc))
    with d.db() as c:
        row = c.execute("SELECT state, resolved_by, resolved_at FROM incidents WHERE id = 'inc-1'"
                        ).fetchone()
    t.ok(row and row[0] == "resolved" and row[1] == "operator" and row[2] > 0,
         "resolve is stored: resolved by the operator, with a time", row and tuple(row))
    status, _, doc = api(d, "POST", "incidents/inc-1/resolve", token)
    t.eq(status, 200, "resolving twice is harmless")

    # --- the other 404 and 405 answers ---
    status, _, _ = api(d, "POST", "apps/nope/rotate", token)
    t.eq(status, 404, "rotating an unknown app: 404")
    status, _, _ = api(d, "GET", "nope", token)
    t.eq(status, 404, "an unknown admin path: 404")
    status, headers, _ = api(d, "POST", "status", token)
    t.ok(status == 405 and headers.get("allow") == "GET", "POST status: 405 Allow: GET",
         (status, headers))
    status, headers, _ = api(d, "GET", "apps/prod/rotate", token)
    t.ok(status == 405 and headers.get("allow") == "POST", "GET rotate: 405 Allow: POST")
    status, _, _ = api(d, "POST", "apps/prod/rotate", token, b"{not json")
    t.eq(status, 400, "rotate with a body that is not JSON: 400")
    status, _, _ = api(d, "POST", "apps/prod/rotate", token, b'{"dry_run":"yes"}')
    t.eq(status, 400, "rotate with a dry_run that is not a boolean: 400")

    # --- rotate in auto mode, dry run from the body ---
    status, _, doc = api(d, "POST", "apps/prod/rotate", token, b'{"dry_run":true}')
    pid = (doc or {}).get("rotation_id", "")
    t.ok(status == 202 and doc.get("dry_run") is True, "rotate with dry_run: 202", (status, doc))
    with d.db() as c:
        row = c.execute("SELECT state, dry_run, approved FROM rotations WHERE id = ?",
                        (pid,)).fetchone()
    t.ok(row is not None and row[0] in STATES and row[1] == 1 and row[2] == 1,
         "an approved dry-run rotation row in a state of the machine", row and tuple(row))

    # --- CLI rotate and approve ---
    rc, out, err = run("rotate", "-c", d.conf_path, "nope")
    t.ok(rc == 1 and "no app 'nope'" in err and "prod, staging" in err,
         "rekey rotate of an unknown app: exit 1, lists the configured apps", (rc, err))
    rc, _, err = run("rotate", "-c", d.conf_path)
    t.eq(rc, 2, "rekey rotate without an app: usage (exit 2)")
    rc, _, err = run("approve", "-c", d.conf_path)
    t.eq(rc, 2, "rekey approve without an id: usage (exit 2)")
    with d.db() as c:
        c.execute("UPDATE rotations SET state = 'failed', last_error = 'gave up' WHERE app = "
                  "'staging'")
    rc, out, err = run("rotate", "-c", d.conf_path, "staging")
    cid = out.split()[2] if out.startswith("planned rotation ") else ""
    t.ok(rc == 0 and len(cid) == 36, "rekey rotate plans a rotation: exit 0 and its id", (rc, out, err))
    t.ok("rekey approve -c %s %s" % (d.conf_path, cid) in out,
         "rekey rotate in approve mode says how to approve", out)
    rc, out2, err = run("rotate", "-c", d.conf_path, "staging")
    t.ok(rc == 0 and cid in out2 and "already" in out2,
         "rekey rotate again: exit 0 naming the unfinished one", (rc, out2))
    status, _, doc = api(d, "GET", "status", token)
    t.ok(any(r["id"] == cid for r in app_of(doc, "staging").get("rotations", [])),
         "the CLI's rotation shows in the daemon's status")
    rc, out, err = run("approve", "-c", d.conf_path, "no-such-rotation")
    t.ok(rc == 1 and "no rotation no-such-rotation" in err,
         "rekey approve of an unknown id: exit 1", (rc, err))
    rc, out, err = run("approve", "-c", d.conf_path, "rot-done")
    t.ok(rc == 1 and "not planned" in err, "rekey approve of a finished one: exit 1", (rc, err))
    rc, out, err = run("approve", "-c", d.conf_path, cid)
    t.ok(rc == 0 and cid in out, "rekey approve: exit 0", (rc, out, err))
    with d.db() as c:
        t.eq(c.execute("SELECT approved FROM rotations WHERE id = ?", (cid,)).fetchone()[0], 1,
             "rekey approve is stored")

    # --- a failing rotation shows its last error and next retry ---
    with d.db() as c:
        c.execute("INSERT INTO rotations (id, app, state, reason, approved, attempts, next_at,"
                  " last_error, created_at, updated_at) VALUES ('rot-retry', 'prod', 'testing',"
                  " 'proactive', 1, 3, ?, 'token endpoint: AADSTS7000215', ?, ?)",
                  (int(time.time() * 1000) + 3600000, 1, 2))
    rc, out, err = run("status", "-c", d.conf_path)
    t.ok("last error: token endpoint: AADSTS7000215; next retry 20" in out and "attempt 3" in out,
         "rekey status shows a failing rotation's last error and next retry", out)

    # --- the store not reachable ---
    bad = os.path.join(d.dir, "bad-store.conf")
    with open(d.conf_path) as f:
        text = f.read().replace("url = sqlite:%s" % d.db_path,
                                "url = sqlite:%s/no/such/dir/rekey.db" % d.dir)
    with open(bad, "w") as f:
        f.write(text)
    for args in (("status",), ("rotate", "prod"), ("approve", "x")):
        cmd = [args[0], "-c", bad] + list(args[1:])
        rc, out, err = run(*cmd)
        # status is read by monitoring: a status that cannot be told is critical.
        want = 2 if args[0] == "status" else 1
        # The readers say the store was never made (test_cli_no_store.py); rotate tries to make it.
        why = "not reachable" if args[0] == "rotate" else "no store at"
        t.ok(rc == want and why in err, "rekey %s with no store: exit %d" % (args[0], want),
             (rc, err))

    t.eq(d.stop(), 0, "daemon stops cleanly")
finally:
    if t.failed:
        print("# daemon log:\n" + "\n".join("#   " + l for l in d.log_text().splitlines()[-40:]))
    d.cleanup()

# Without admin_token_file the API refuses everyone.
d = Daemon()
try:
    d.write_config()
    with open(d.conf_path) as f:
        text = f.read()
    with open(d.conf_path, "w") as f:
        f.write("\n".join(l for l in text.splitlines() if not l.startswith("admin_token_file")))
    d.start()
    status, headers, _ = api(d, "GET", "status", token)
    t.eq(status, 401, "no admin_token_file: 401 with any token")
    status, _, _ = api(d, "GET", "status", "")
    t.eq(status, 401, "no admin_token_file: 401 with an empty token")
    t.ok("no admin_token_file" in d.log_text(), "and the log says why")
    t.eq(d.stop(), 0, "daemon without admin token stops cleanly")
finally:
    d.cleanup()

# Plain HTTP behind a trusted proxy: the transport, failed attempts and a second
# person's approval.
d = Daemon(tls=False, extra_server="trusted_proxies = 127.0.0.1/32\n"
           "approve_token_file = %s/approve_token" % "SECRETS")
try:
    secrets = os.path.join(d.dir, "secrets")
    d.extra_server = d.extra_server.replace("SECRETS", secrets)
    approve_token = "approve-" + uuid.uuid4().hex
    write_secret(os.path.join(secrets, "approve_token"), approve_token + "\n")
    d.write_config(more="rotation_mode = approve")
    token = open(os.path.join(secrets, "admin_token")).read().strip()
    d.start()

    def proxied(method, path, tok, proto="https", client="192.0.2.1"):
        h = {"Authorization": "Bearer " + tok, "X-Forwarded-For": client}
        if proto is not None:
            h["X-Forwarded-Proto"] = proto
        return d.request(method, "/api/v1/" + path, b"" if method == "POST" else None, h)

    st, _, body = proxied("GET", "status", token, proto="http")
    t.eq(st, 403, "the proxy took it over plain HTTP: 403 even with the token", body)
    t.eq(proxied("GET", "status", token)[0], 200, "the proxy took it over HTTPS: 200")
    t.eq(api(d, "GET", "status", token)[0], 200, "a loopback peer without a proxy's word: 200")

    # Failed attempts per client: the 21st try in a minute is 429, token or not.
    codes = [proxied("GET", "status", "wrong-" + str(i), client="192.0.2.7")[0] for i in range(20)]
    t.eq(codes, [401] * 20, "twenty wrong tokens from one client: 401 each")
    st, h, _ = proxied("GET", "status", token, client="192.0.2.7")
    t.eq(st, 429, "then that client is refused, even with the right token")
    t.ok(0 < int(h.get("retry-after", "0")) <= 60, "with Retry-After", h)
    t.eq(proxied("GET", "status", token, client="192.0.2.8")[0], 200, "another client is served")
    t.ok("20 failed attempts from 192.0.2.7" in d.log_text(), "and the log names the client")

    # approve_token_file: approving takes that token, and only that one.
    st, _, body = proxied("POST", "apps/prod/rotate", token)
    rid = json.loads(body).get("rotation_id") if st == 202 else None
    t.eq(st, 202, "rotate with the admin token: 202", body)
    t.eq(proxied("POST", "rotations/%s/approve" % rid, token)[0], 401,
         "approve with the admin token: 401 when approve_token_file is set")
    t.eq(proxied("GET", "status", approve_token)[0], 401, "the approve token is not an admin token")
    st, _, body = proxied("POST", "rotations/%s/approve" % rid, approve_token)
    t.eq(st, 200, "approve with the approve token: 200", body)
    t.eq(d.stop(), 0, "daemon stops cleanly")

    # Tokens under 32 characters are refused at the config check.
    write_secret(os.path.join(secrets, "admin_token"), "short-token-0123456789abcdef\n")
    rc, out, err = run("check", "-c", d.conf_path)
    t.ok(rc != 0 and "admin_token_file: the value must be at least 32 characters" in out + err,
         "rekey check refuses an admin token under 32 characters", (rc, out, err))
finally:
    d.cleanup()
t.done()
