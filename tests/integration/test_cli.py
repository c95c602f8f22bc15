"""The CLI an operator types: `rekey check` reports every problem as
FILE:LINE: message and exits 1 (0 and a summary when fine), including what
the config names (a rotator key of another certificate, an all-zero GUID, a
store this build cannot open), `rekey serve`
refuses the same config with the same messages, `rekey status` reads the
store, and a wrong command line is a usage error (test_admin.py covers
rotate and approve in full)."""

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import REKEY_BIN, Daemon, Tap, envelope, write_secret  # noqa: E402


def run(*args, env=None, timeout=20):
    e = dict(os.environ)
    e.update(env or {})
    p = subprocess.run([REKEY_BIN] + list(args), capture_output=True, text=True,
                       env=e, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


t = Tap()
d = Daemon(apps=("prod", "staging"))
try:
    rc, out, err = run("check", "-c", d.conf_path)
    t.eq(rc, 0, "check: a good config exits 0")
    t.eq(len(out.splitlines()), 1, "check: one summary line")
    t.ok(out.startswith(d.conf_path + ": ok: 2 apps (prod, staging)"), "check: the summary names the apps", out)
    t.eq(err, "", "check: nothing on stderr when fine")

    # What the config names is checked too (preflight), offline: a key of
    # another certificate or an all-zero GUID loads fine but can never work.
    def named_conf(name, app_lines, url="sqlite:%s/var/pre.db" % d.dir):
        path = os.path.join(d.dir, name)
        with open(path, "w") as f:
            f.write("\n".join([
                "[server]",                                            # 1
                "listen = 127.0.0.1:0",                                # 2
                "[store]",                                             # 3
                "url = %s" % url,                                      # 4
                "master_key_file = %s/secrets/master_key" % d.dir,     # 5
                "[app prod]",                                          # 6
                "nylas_webhook_secret_file = %s/secrets/webhook" % d.dir,  # 7
            ] + app_lines) + "\n")                                     # 8, 9, ...
        return path

    def problem(err, path, line, *texts):
        prefix = "%s:%d: " % (path, line)
        return any(l.startswith(prefix) and all(x in l for x in texts) for l in err.splitlines())

    ids = ["azure_client_id = 11111111-2222-3333-4444-555555555555",   # 8
           "rotator_client_id = 22222222-3333-4444-5555-666666666666",  # 9
           "rotator_cert_file = %s/rotator.crt" % d.certs]             # 10
    good = named_conf("rotator-good.conf", ids + ["rotator_key_file = %s/rotator.key" % d.certs])
    rc, out, err = run("check", "-c", good)
    t.eq(rc, 0, "check: a rotator key that belongs to its certificate exits 0", err)
    t.eq(err, "", "check: and says nothing on stderr")
    t.ok(out.startswith(good + ": ok: 1 app (prod)"), "check: and prints the summary", out)

    mismatch = named_conf("rotator-mismatch.conf",
                          ids + ["rotator_key_file = %s/server.key" % d.certs])  # 11
    rc, out, err = run("check", "-c", mismatch)
    t.eq(rc, 1, "check: a rotator key of another certificate exits 1", err)
    t.ok(problem(err, mismatch, 11, "rotator key matches certificate",
                 "does not belong to the certificate", "fix: set rotator_key_file"),
         "check: names the rotator_key_file line and the fix", err)
    t.eq(out, "", "check: no summary when a check fails")

    zero = named_conf("zero-guid.conf", ["azure_client_id = 00000000-0000-0000-0000-000000000000"])
    rc, out, err = run("check", "-c", zero)
    t.eq(rc, 1, "check: an all-zero azure_client_id exits 1", err)
    t.ok(problem(err, zero, 8, "placeholder 00000000-0000-0000-0000-000000000000",
                 "fix: set azure_client_id to the Application (client) ID"),
         "check: names the azure_client_id line and the fix", err)

    pg = named_conf("pg.conf", ids[:1], url="postgresql://rekey@db.example.com/rekey")
    rc, out, err = run("check", "-c", pg)
    t.eq(rc, 0, "check: a postgresql:// store URL is parsed offline and passes", err)
    badpg = named_conf("badpg.conf", ids[:1],
                       url="postgresql://rekey@db.example.com/rekey?sslmod=require")
    rc, out, err = run("check", "-c", badpg)
    t.eq(rc, 1, "check: a postgresql:// URL libpq refuses exits 1", err)
    t.ok(problem(err, badpg, 4, "PostgreSQL", "sslmod", "fix: write [store] url as postgresql://"),
         "check: names the url line, the bad parameter and the fix", err)

    # A config with one problem of every kind, each on a known line.
    open_secret = os.path.join(d.dir, "secrets", "open")
    write_secret(open_secret, "s\n")
    os.chmod(open_secret, 0o644)
    missing = os.path.join(d.dir, "secrets", "missing")
    bad = os.path.join(d.dir, "bad.conf")
    with open(bad, "w") as f:
        f.write("\n".join([
            "[server]",                                   # 1
            "listen = 127.0.0.1:0",                       # 2
            "colour = blue",                              # 3 unknown key
            "max_body = lots",                            # 4 bad value
            "",                                           # 5
            "[store]",                                    # 6 missing master_key_file
            "url = sqlite:%s/var/bad.db" % d.dir,         # 7
            "",                                           # 8
            "[app prod]",                                 # 9
            "nylas_webhook_secret_file = %s" % open_secret,  # 10 mode 644
            "rotate_before = 1x",                         # 11 bad duration
            "",                                           # 12
            "[app other]",                                # 13
            "nylas_webhook_secret_file = %s" % missing,   # 14 unreadable
            ""]))
    rc, out, err = run("check", "-c", bad)
    t.eq(rc, 1, "check: a bad config exits 1")
    lines = err.splitlines()
    want = [
        (3, "unknown key 'colour'"),
        (4, "max_body"),
        (6, "missing required key 'master_key_file'"),
        (10, "readable or writable by others, or writable by its group"),
        (11, "rotate_before"),
        (14, "cannot read secret file"),
    ]
    for line_no, text in want:
        prefix = "%s:%d: " % (bad, line_no)
        t.ok(any(l.startswith(prefix) and text in l for l in lines),
             "check: reports %s at line %d" % (text, line_no), err)
    t.ok(all(l.startswith(bad + ":") for l in lines), "check: every line is FILE:LINE: message", err)
    t.ok(open_secret not in out and "rekey-it" not in out, "check: nothing on stdout for a bad config")

    rc2, out2, err2 = run("serve", "-c", bad)
    t.eq(rc2, 1, "serve: refuses the bad config with exit 1")
    t.eq(err2.splitlines(), lines, "serve: with the same messages as check")
    t.ok(not os.path.exists(os.path.join(d.dir, "var", "bad.db")), "serve: opened no store")

    rc, out, err = run("check", "-c", d.conf_path, env={"REKEY_SERVER_MAX_BODY": "zz"})
    t.eq(rc, 1, "check: a bad environment override exits 1")
    t.ok("REKEY_SERVER_MAX_BODY (environment)" in err and err.startswith(d.conf_path + ":"),
         "check: and names the variable", err)
    rc, out, err = run("check", "-c", d.conf_path, env={"REKEY_APP_STAGING_ROTATE_BEFORE": "2d"})
    t.eq(rc, 0, "check: an app override (REKEY_APP_<NAME>_<KEY>) is accepted")

    rc, out, err = run("check", "-c", os.path.join(d.dir, "nope.conf"))
    t.eq(rc, 1, "check: a missing file exits 1")
    t.ok("nope.conf" in err, "check: and names the file", err)

    rc, _, err = run("frobnicate", "-c", d.conf_path)
    t.eq(rc, 2, "an unknown command is a usage error (exit 2)")
    t.ok("usage: rekey serve -c FILE" in err, "usage lists the commands")
    rc, _, _ = run("check")
    t.eq(rc, 2, "a missing -c is a usage error")
    rc, _, err = run("rotate", "-c", d.conf_path)
    t.ok(rc == 2 and "rekey rotate -c FILE APP [--dry-run]" in err, "rotate without APP is a usage error", err)
    rc, _, err = run("approve", "-c", d.conf_path)
    t.eq(rc, 2, "approve without ROTATION_ID is a usage error")
    rc, _, err = run("rotate", "-c", d.conf_path, "nope")
    t.ok(rc == 1 and "prod, staging" in err, "rotate of an unknown app exits 1 and lists the apps", err)

    # status reads what the daemon journaled.
    d.start()
    for i in range(3):
        t.eq(d.post_nylas(envelope(id_="cli-%d" % i))[0], 200, "webhook %d stored" % i)
    rc, out, err = run("status", "-c", d.conf_path, "--json")
    try:
        doc = json.loads(out)
    except ValueError:
        doc = {}
    # This config gives no rotator identity: rekey can neither read nor rotate the
    # secrets, which is critical (exit 2, as monitoring reads it), and says why.
    conds = {c.get("type"): c for c in (doc.get("apps") or [{}])[0].get("conditions", [])}
    t.ok(rc == 2 and doc.get("health") == "critical" and
         conds.get("RotatorReady", {}).get("reason") == "NotConfigured",
         "status --json exits 2 and says why: no rotator identity", (rc, conds))
    t.eq(doc.get("events", {}).get("nylas"), 3, "status --json counts the journaled webhooks")
    rc, out, err = run("status", "-c", d.conf_path)
    t.ok(rc == 2 and "nylas 3" in out and "FAIL RotatorReady" in out and
         "health: critical" in out, "status prints the counts and the health for people", out)
    t.ok("app prod" in out and "app staging" in out, "status prints each app", out)
    t.eq([a.get("name") for a in doc.get("apps", [])], ["prod", "staging"], "status --json lists the apps")
    t.eq(d.stop(), 0, "daemon stops cleanly")
finally:
    d.cleanup()
t.done()
