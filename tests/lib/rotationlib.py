"""A daemon with one app set up to rotate against the fakes, for the
rotation tests: the target app with its secrets, the rotator app (a
certificate credential, an owner of the target), and a Nylas connector that
holds the current secret.  Rotations are planned by writing the store, as
the CLI does."""

import json
import os
import sqlite3
import subprocess
import time
import urllib.parse
import uuid

from fakes import Fakes
from rekeytest import REKEY_BIN, Daemon, write_secret, wait_for

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TARGET = "11111111-2222-3333-4444-555555555555"
TARGET_OID = "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
ROTATOR = "99999999-8888-7777-6666-555555555555"
API_KEY = "nyk_v0_rotation_test_key"
CURRENT = "cur8Q~" + "c" * 34
CURRENT_KEY = "6f1c6c1e-1111-2222-3333-444444444444"
PORTAL = "prt8Q~" + "p" * 34
PORTAL_KEY = "7a2d7d2f-1111-2222-3333-444444444444"
SCOPES = ["offline_access", "openid", "Mail.Read"]
DAY = 86400
# Testing a new secret takes 8 acceptances 1 s apart and watching it 15
# minutes by default: the tests that are not about them take 2, 50 ms apart,
# and 1 s (an app line overrides them).
FAST_TESTING = ["secret_test_successes = 2", "secret_test_spacing_ms = 50",
                "secret_watch_period = 1s", "secret_watch_interval_ms = 200"]


def passwords(current_name="rekey-00000000-0000-0000-0000-000000000000",
              current_end="2027-06-01T00:00:00Z"):
    """The current secret (made by an earlier rekey rotation unless told
    otherwise) and a secret made in the portal that rekey never touches."""
    return [{"keyId": CURRENT_KEY, "displayName": current_name, "secretText": CURRENT,
             "startDateTime": "2026-01-01T00:00:00Z", "endDateTime": current_end},
            {"keyId": PORTAL_KEY, "displayName": "Portal secret", "secretText": PORTAL,
             "startDateTime": "2026-01-01T00:00:00Z", "endDateTime": "2027-09-01T00:00:00Z"}]


def state(pw=None, extra=None):
    s = {"tenants": {TENANT: {"apps": {
        TARGET: {"object_id": TARGET_OID, "display_name": "Nylas connector",
                 "passwords": pw if pw is not None else passwords(),
                 "owners": [{"type": "servicePrincipal", "appId": ROTATOR}]},
        ROTATOR: {"display_name": "rekey", "certificates": ["rotator.crt"]}}}},
        "credential_change_ms": 50,
        "nylas": {"api_key": API_KEY,
                  "connector": {"settings": {"client_id": TARGET, "client_secret": CURRENT,
                                             "tenant": TENANT}, "scope": SCOPES},
                  "credentials": {"cred-1": {"name": "second app", "credential_data": {
                      "client_id": TARGET, "client_secret": CURRENT, "tenant": TENANT}}}}}
    if extra:
        s.update(extra)
    return s




class Rig:
    """Fakes plus a daemon configured for them (not started)."""

    def __init__(self, seed=None, app_lines=(), timeout_ms=3000, certs=None):
        self.d = Daemon(certs=certs)
        self.fakes = Fakes()
        self.fakes.start(self.d.certs, seed if seed is not None else state())
        s = os.path.join(self.d.dir, "secrets")
        write_secret(os.path.join(s, "nylas_api_key"), API_KEY + "\n")
        write_secret(os.path.join(s, "current"), CURRENT + "\n")
        self.app_lines = list(app_lines)
        self.timeout_ms = timeout_ms
        self.configure()

    def configure(self, app_lines=None):
        if app_lines is not None:
            self.app_lines = list(app_lines)
        d, f = self.d, self.fakes
        s = os.path.join(d.dir, "secrets")
        d.write_config(more="\n".join([
            "azure_tenant_id = %s" % TENANT,
            "azure_login_base = %s" % f.login_base,
            "graph_base = %s" % f.graph_base,
            "rotator_client_id = %s" % ROTATOR,
            "rotator_cert_file = %s/rotator.crt" % d.certs,
            "rotator_key_file = %s/rotator.key" % d.certs,
            "nylas_api_base = %s" % f.nylas_base,
            "nylas_api_key_file = %s/nylas_api_key" % s,
            "current_secret_file = %s/current" % s,
            "old_secret_grace = 3s",
        ] + [line for line in FAST_TESTING
             if line.split("=")[0].strip() not in [a.split("=")[0].strip() for a in self.app_lines]
             ] + self.app_lines + [
            "", "[outbound]", "ca_file = %s/ca.crt" % d.certs,
            "timeout_ms = %d" % self.timeout_ms, ""]))

    def stop(self):
        try:
            self.d.cleanup()
        finally:
            self.fakes.stop()

    # --- the store ---
    def plan(self, dry_run=0, approved=1, lifetime=180 * DAY, reason="manual"):
        """Inserts a planned rotation as rotation_plan does; returns its id."""
        rid = str(uuid.uuid4())
        now = int(time.time() * 1000)
        wait_for(lambda: self.d.store_exists(), 10)
        with self.d.db() as c:
            c.execute("INSERT INTO rotations (id, app, state, reason, dry_run, approved, lifetime,"
                      " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?)",
                      (rid, "prod", "planned", reason, dry_run, approved, lifetime, now, now))
        return rid

    def rotation(self, rid):
        with self.d.db() as c:
            r = c.execute("SELECT * FROM rotations WHERE id = ?", (rid,)).fetchone()
            return dict(r) if r else None

    def rotations(self):
        with self.d.db() as c:
            return [dict(r) for r in c.execute("SELECT * FROM rotations ORDER BY created_at")]

    def value(self, key):
        with self.d.db() as c:
            r = c.execute("SELECT value FROM app_values WHERE app = 'prod' AND key = ?",
                          (key,)).fetchone()
            return r[0] if r else None

    def values(self, prefix):
        with self.d.db() as c:
            return dict((r[0], r[1]) for r in c.execute(
                "SELECT key, value FROM app_values WHERE app = 'prod' AND key LIKE ?",
                (prefix + "%",)))

    def wait_state(self, rid, states=("done", "failed"), timeout=40):
        def check():
            try:
                r = self.rotation(rid)
            except sqlite3.OperationalError:
                return None
            return r if r and r["state"] in states else None
        return wait_for(check, timeout, 0.1)

    # --- the fakes ---
    def app(self):
        return self.fakes.state()["tenants"][TENANT]["apps"][TARGET]

    def made_by(self, rid):
        return [p for p in self.app()["passwords"] if p.get("displayName") == "rekey-" + rid]

    def connector_secret(self):
        """The secret Nylas signs users in with (settings, or the active credential's)."""
        return self.fakes.nylas_effective()["data"].get("client_secret")

    def settings(self):
        """The connector's settings as Nylas holds them (with the secret)."""
        return self.fakes.state()["nylas"]["connector"]["settings"]

    def credential_data(self, cid):
        return self.fakes.state()["nylas"]["credentials"][cid].get("credential_data", {})

    def token_ok(self, secret):
        """Does the identity platform give a token for the target app with this secret?"""
        body = urllib.parse.urlencode({"client_id": TARGET, "client_secret": secret,
                                       "scope": self.fakes.graph_scope,
                                       "grant_type": "client_credentials"})
        r = self.fakes.call("identity", "POST", "/%s/oauth2/v2.0/token" % TENANT, body,
                            {"Content-Type": "application/x-www-form-urlencoded"})
        return r.status == 200

    def graph_writes(self):
        return self.fakes.requests("graph", "(add|remove)Password")

    def nylas_writes(self):
        return [r for r in self.fakes.requests("nylas", "/v3/connectors")
                if r["method"] in ("PATCH", "PUT")]

    def published_secrets(self):
        """Every client_secret sent to Nylas, in order."""
        import json
        out = []
        for r in self.nylas_writes():
            try:
                b = json.loads(r["body"])
            except ValueError:
                continue
            data = b.get("settings") or b.get("credential_data") or {}
            out.append(data.get("client_secret"))
        return out


def run_case(t, name, body, seed=None, app_lines=()):
    """Runs body(rig) on a fresh Rig: a crash of the test counts as a failure, with the
    daemon's log, and the daemon must stop cleanly."""
    rig = Rig(seed=seed, app_lines=app_lines)
    try:
        body(rig)
    except Exception as e:
        t.ok(False, "%s: %s" % (name, e), rig.d.log_text()[-3000:])
    finally:
        if rig.d.proc is not None:
            t.eq(rig.d.stop(), 0, "%s: clean stop" % name)
        rig.stop()


def app_status(rig):
    """The first app of `rekey status --json` (the document is there whatever the health exit
    code, 0 to 2) and the text of `rekey status`."""
    p = subprocess.run([REKEY_BIN, "status", "-c", rig.d.conf_path, "--json"],
                       capture_output=True, text=True, timeout=20)
    doc = json.loads(p.stdout) if p.returncode in (0, 1, 2) and p.stdout else {}
    text = subprocess.run([REKEY_BIN, "status", "-c", rig.d.conf_path], capture_output=True,
                          text=True, timeout=20).stdout
    return (doc.get("apps") or [{}])[0], text
