#!/usr/bin/env python3
"""make demo: an Azure client secret has expired, every Microsoft user of a
Nylas application is cut off, and rekey brings them back, on this machine,
in well under a minute.

Everything runs on 127.0.0.1: fakes of the Microsoft identity platform,
Microsoft Graph and the Nylas API (tests/fakes/fake.js), a mail server and
Slack/Teams/webhook receivers (tests/fakes/sinks.js), and the real rekey
daemon.  Certificates and secrets are made for this run and deleted with it.
The script prints a live feed of what rekey does (its JSON log and what the
sinks receive, made readable), then stops everything it started and checks
that nothing is left running.

Environment: REKEY_BIN (default build/rekey), DEMO_USERS (300),
DEMO_RETURN_S (seconds the users take to come back, 10), DEMO_TIMEOUT_S (the
longest any phase may take, 60), NO_COLOR, KEEP_TEST_DIRS (keep the run's
directory: config, log, store)."""

import base64
import calendar
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.dont_write_bytecode = True   # leave no __pycache__ in the tree
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
from rekeytest import REKEY_BIN, envelope, make_certs, write_secret  # noqa: E402
from rotationlib import TARGET, TENANT, Rig, passwords, state  # noqa: E402
from sinks import Sinks  # noqa: E402
from stormlib import Storm  # noqa: E402

USERS = int(os.environ.get("DEMO_USERS", "300"))
RETURN_S = float(os.environ.get("DEMO_RETURN_S", "10"))
TIMEOUT_S = float(os.environ.get("DEMO_TIMEOUT_S", "60"))
QUIET = 3   # users whose grant.expired never reached rekey: it finds them in Nylas's grant list
AFFECTED = USERS + QUIET
OWNER = "ops@example.com"
GRAPH_OWNER = "app-owner@contoso.com"
OWNERS = (OWNER, GRAPH_OWNER)
REAUTH = "https://app.example.com/login?hint={email}"
COLOR = sys.stdout.isatty() and "NO_COLOR" not in os.environ


class DemoError(RuntimeError):
    pass


def paint(code, s):
    return "\033[%sm%s\033[0m" % (code, s) if COLOR else s


_out_lock = threading.Lock()


def out(s=""):
    with _out_lock:
        print(s, flush=True)


def section(title, *lines):
    out()
    out(paint("1", "== " + title))
    for ln in lines:
        out(paint("2", "   " + ln))


def iso(epoch_s):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))


def short(s):
    """Ids are UUIDs: their first 8 characters are enough to follow them."""
    return re.sub(r"\b([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
                  r"\1", s)


# ---- the world: an app whose client secret expired last night ----

def world(expired_at):
    """The fakes' state: the app Nylas signs users in with (its in-use secret
    ended at expired_at), the rotator app rekey signs in as, a Graph user
    who owns the app, and in Nylas the connector (still holding the expired
    secret) and QUIET invalid grants that no webhook will announce."""
    s = state(pw=passwords(current_end=iso(expired_at)))
    app = s["tenants"][TENANT]["apps"][TARGET]
    app["owners"].append({"type": "user", "id": "owner-1"})
    s["tenants"][TENANT]["users"] = {"owner-1": {
        "displayName": "App Owner", "mail": GRAPH_OWNER,
        "userPrincipalName": "owner@contoso.com", "accountEnabled": True}}
    s["propagation_ms"] = 1500   # a new Azure secret works only after a moment
    s["credential_change_ms"] = 300
    s["nylas"]["grants"] = [{"id": "quiet-%d" % i, "provider": "microsoft",
                             "grant_status": "invalid", "email": "quiet%d@example.com" % i,
                             "created_at": int(expired_at) - 86400 * 90,
                             "updated_at": int(expired_at) + 60}
                            for i in range(QUIET)]
    return s


def configure(rig, sinks):
    """The config: rotationlib's app section (the fakes' addresses, the
    rotator's certificate), automatic rotation, owners, the sinks.  Secrets
    are made here, for this run only.  Returns the webhook receiver's key."""
    d = rig.d
    sd = os.path.join(d.dir, "secrets")
    d.WEBHOOK_SECRETS = ["nylas-demo-" + os.urandom(16).hex()]
    write_secret(os.path.join(sd, "webhook"), d.WEBHOOK_SECRETS[0] + "\n")
    whsec = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    write_secret(os.path.join(sd, "whsec"), whsec + "\n")
    rig.configure(app_lines=[
        "rotation_mode = auto",
        "owners = %s" % OWNER,
        "owners_from_graph = yes",
        "reauth_url_template = %s" % REAUTH,
        "",
    ] + sinks.notify_config(os.path.join(sd, "whsec"), digest_interval="2s"))
    return whsec


def show_config(path, run_dir):
    """The interesting part of the config; secrets appear only as files."""
    skip = re.compile(r"^(log_level|tls_key|admin_token_file|timeout_ms|rotator_key_file)\b")
    for ln in open(path).read().splitlines():
        if ln.strip() and not skip.match(ln):
            out(paint("2", "   | " + ln.replace(run_dir, "$RUN")))


# ---- the live feed ----

def log_time_ms(s):
    """The log's "2026-11-29T05:50:41.123Z" in epoch milliseconds."""
    try:
        base = calendar.timegm(time.strptime(s[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return time.time() * 1000.0
    frac = re.match(r"\.(\d+)", s[19:])
    return base * 1000.0 + (float("0." + frac.group(1)) * 1000.0 if frac else 0.0)


# What the daemon's log says, made readable: (pattern, text or None to hide, flag).
LOG_RULES = [
    (r"^store: |^graph subscription|^listening on|^notify: queued|^notify: \S+ sent to"
     r"|^secret \S+ \(hint|^cannot record the warning", None, None),
    (r"^rekey serving", "rekey serving: intake, correlator, rotation worker, notifier",
     "serving"),
    (r"^expiry poll: (\d+) secrets", r"read the app's \1 client secrets from Graph", None),
    (r"^the secret Nylas uses \((\S+)\) ends (\S+): within the (\S+) warning",
     r"the secret Nylas uses ends \2", "warned"),
    (r"^planned proactive rotation (\S+): (.*)", r"rotation \1 planned by the expiry poll: \2",
     None),
    (r"^owners from Graph: (.*)", r"the app's owners in Graph: \1", None),
    (r"^probe of the in-use secret: (.*)", r"probe: signing in with the secret Nylas uses: \1",
     None),
    (r"^incident (\S+) opened: (\S+) \((.*)\)(?:; )?(.*)", r"INCIDENT \1 opened: cause \2"
     r"\nevidence: \3\n\4", "opened"),
    (r"^incident (\S+): (\S+ grants affected so far)", r"incident \1: \2", None),
    (r"^Nylas lists (.*)", r"asked Nylas for invalid grants: \1", None),
    (r"^rotation (\S+): creating", r"rotation \1: creating   (Graph addPassword: a new secret)",
     "creating"),
    (r"^rotation (\S+): created (\S+) \(hint (\S+)\)",
     r"rotation \1: created    new secret \2, hint \3 (stored encrypted)", "created"),
    (r"^rotation (\S+): testing try 1/\d+ failed: (.*?);", r"rotation \1: not accepted yet: "
     r"\2 (Azure propagates new secrets; retrying)", None),
    (r"^rotation (\S+): testing try \d+/", None, None),
    (r"^rotation (\S+): testing", r"rotation \1: testing    (sign in with the new secret until "
     r"Azure accepts it)", "testing"),
    (r"^rotation (\S+): tested", r"rotation \1: tested     (Azure gives a token for it)",
     "tested"),
    (r"^rotation (\S+): publishing", r"rotation \1: publishing (PATCH the Nylas connector)",
     "publishing"),
    (r"^rotation (\S+): published", r"rotation \1: published  (Nylas signs users in with the "
     r"new secret)", "published"),
    (r"^rotation (\S+): retiring (\S+) after (.*)", r"rotation \1: retiring   the old secret \2 "
     r"in \3 (old_secret_grace)", "retiring"),
    (r"^rotation (\S+): removed the old secret (\S+)",
     r"rotation \1: retired    (Graph removePassword \2)", "retired"),
    (r"^rotation (\S+): done(.*)", r"rotation \1: done\2", "done"),
    (r"^incident (\S+) resolved: (.*)", r"INCIDENT \1 resolved: \2", "resolved"),
]


class Feed:
    """Reads what happened since the last poll (the daemon's JSON log, the
    mail sink, the hook sinks), prints it timed from the storm's start, and
    keeps what the phases wait for."""

    def __init__(self, rig, sinks):
        self.rig, self.sinks = rig, sinks
        self.t0 = None
        self.log_pos = 0
        self.mail_seq = self.post_seq = 0
        self.flags = set()
        self.seen = {}           # flag -> how many log lines had it
        self.hooks = {}          # hook kind -> posts answered 200
        self.kinds = {}          # mails by X-Rekey-Kind
        self.owner_mails = {}    # (kind, recipient) -> count
        self.hook_types = {}     # webhook "type" -> count
        self.pending = {}        # owner mails being gathered: (kind, subject) -> [ms, [to]]
        self.reauth_link = None
        self.reauth_shown = 0

    def stamp(self, ms):
        return "       " if self.t0 is None else "%+6.1fs" % ((ms - self.t0) / 1000.0)

    def say(self, ms, who, text):
        for i, ln in enumerate(text.split("\n")):
            if i > 0 and not ln.strip():
                continue
            if i == 0:
                out("   %s  %-7s %s" % (self.stamp(ms), who, ln))
            else:
                out("   %s  %-7s %s" % (" " * len(self.stamp(ms)), "", ln.strip()))

    def note(self, text):
        self.say(time.time() * 1000.0, "demo", text)

    def poll(self):
        rows = self._log_rows() + self._mail_rows() + self._post_rows()
        rows.sort(key=lambda r: r[0])
        for ms, who, text in rows:
            self.say(ms, who, text)
        n = self.kinds.get("user_reauth", 0)
        if n > self.reauth_shown and (n - self.reauth_shown >= 50 or n >= AFFECTED):
            self.reauth_shown = n
            self.note("re-auth mails to users: %d sent" % n)

    def _log_rows(self):
        try:
            with open(self.rig.d.log_path, "rb") as f:
                f.seek(self.log_pos)
                data = f.read()
        except OSError:
            return []
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self.log_pos += end + 1
        rows = []
        for ln in data[:end].decode("utf-8", "replace").splitlines():
            try:
                o = json.loads(ln)
            except ValueError:
                continue
            if o.get("level") == "debug":
                continue
            text = self.pretty(o.get("msg", ""), o.get("level"))
            if text:
                rows.append((log_time_ms(o.get("time", "")), "rekey", text))
        return rows

    def pretty(self, msg, level):
        for pat, text, flag in LOG_RULES:
            m = re.search(pat, msg)
            if not m:
                continue
            if flag == "warned" and flag in self.flags:
                return None   # one line for the thresholds passed at once
            if flag:
                self.flags.add(flag)
                self.seen[flag] = self.seen.get(flag, 0) + 1
            if flag == "warned":
                return self.ends(m.group(2))
            return short(m.expand(text)) if text else None
        return short(msg)[:200] if level in ("warn", "error") else None

    @staticmethod
    def ends(when):
        """One line for the warning thresholds an ended secret passed all at once."""
        try:
            left = calendar.timegm(time.strptime(when, "%Y-%m-%dT%H:%M:%SZ")) - time.time()
        except ValueError:
            return "the secret Nylas uses ends %s" % when
        if left > 0:
            return "the secret Nylas uses ends %s, in %.0f days" % (when, left / 86400)
        return "the secret Nylas uses ENDED %s, %.0f hours ago" % (when, -left / 3600)

    def _mail_rows(self):
        """Mails to users are counted (one shown); a mail to the owners is
        shown once, with every owner it reached, when all have it (or a
        second after the first)."""
        rows = []
        for m in self.sinks.mails():
            if m["seq"] <= self.mail_seq:
                continue
            self.mail_seq = m["seq"]
            if m.get("unanswered"):
                continue
            h = m.get("headers_decoded") or m.get("headers") or {}
            kind = (m.get("headers") or {}).get("x-rekey-kind", "?")
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
            if kind == "user_reauth":
                if self.reauth_link is None:
                    link = re.search(r"https://app\.example\.com/\S+", m.get("body_decoded") or
                                     m.get("body") or "")
                    self.reauth_link = link.group(0) if link else "?"
                    rows.append((m["received_ms"], "mail", "%s <- %s\n(one per user, with "
                                 "their own link: %s)" % (",".join(m["to"]), h.get("subject"),
                                                          self.reauth_link)))
                continue
            for to in m["to"]:
                self.owner_mails[(kind, to)] = self.owner_mails.get((kind, to), 0) + 1
            key = (kind, h.get("subject", ""))
            self.pending.setdefault(key, [m["received_ms"], []])[1].extend(m["to"])
        now = time.time() * 1000.0
        for key, (ms, to) in list(self.pending.items()):
            if len(to) >= len(OWNERS) or now - ms > 1000:
                del self.pending[key]
                rows.append((ms, "mail", "%s <- %s" % (", ".join(sorted(to)), key[1])))
        return rows

    def _post_rows(self):
        rows = []
        for p in self.sinks.posts():
            if p["seq"] <= self.post_seq:
                continue
            self.post_seq = p["seq"]
            j = p.get("json") or {}
            kind = p["kind"]
            if kind == "slack":
                text = (j.get("text") or "").split("\n")[0]
            elif kind == "teams":
                try:
                    text = j["attachments"][0]["content"]["body"][0]["text"]
                except (KeyError, IndexError, TypeError):
                    text = j.get("summary") or j.get("title") or ""
            else:
                t = j.get("type", "?")
                self.hook_types[t] = self.hook_types.get(t, 0) + 1
                text = "%s%s" % (t, ", signature verified" if p.get("verified") else "")
            if p.get("status") != 200:
                text += " (answered %s)" % p.get("status")
            else:
                self.hooks[kind] = self.hooks.get(kind, 0) + 1
            rows.append((p["received_ms"], kind, text[:150]))
        return rows


def wait(feed, rig, what, cond, timeout=None):
    """Polls the feed until cond() holds; the daemon must stay up meanwhile."""
    deadline = time.time() + (timeout or TIMEOUT_S)
    while True:
        feed.poll()
        if cond():
            return
        if rig.d.proc.poll() is not None:
            raise DemoError("rekey exited %d while waiting for %s:\n%s" % (
                rig.d.proc.returncode, what, rig.d.log_text()[-3000:]))
        if time.time() > deadline:
            raise DemoError("gave up waiting for %s" % what)
        time.sleep(0.15)


# ---- the phases ----

def storm_thread(rig, feed, result):
    def run():
        try:
            st = Storm(rig.d, USERS, threads=4, prefix="demo").run()
        except Exception as e:  # reported by storm_result()
            result.append(e)
            return
        result.append(st)
        ok = st.statuses.count(200)
        feed.note("storm over: %d grant.expired in %.2f s (%.0f/s), %d answered 200, "
                  "p99 %.0f ms, slowest %.0f ms" % (
                      st.n, st.seconds, st.rate, ok, st.p(0.99) * 1000,
                      max(st.latencies) * 1000))
    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


def storm_result(th, result):
    """None while the storm runs, then the Storm; a failed storm ends the demo."""
    if th.is_alive() or not result:
        return None
    if isinstance(result[0], Exception):
        raise DemoError("the storm failed: %r" % result[0])
    return result[0]


def come_back(rig, users, seconds):
    """Each affected user signs in again: Nylas sends grant.updated with the
    re-authentication flag (code 25027), or grant.created for a new grant of
    the same email.  Spread over `seconds`, a few at a time."""
    conn = rig.d.conn(timeout=30)
    step = seconds / max(1, len(users))
    start = time.time()
    for i, (email, grant) in enumerate(users):
        if i % 3 == 2:
            env = envelope(type_="grant.created", id_="back-%d" % i, grant_id="new-" + grant,
                           email=email, code=25001)
        else:
            env = envelope(type_="grant.updated", id_="back-%d" % i, grant_id=grant,
                           email=email, code=25027,
                           extra_object={"reauthentication_flag": True})
        rig.d.post_nylas(env, conn=conn)
        lag = start + (i + 1) * step - time.time()
        if lag > 0:
            time.sleep(lag)
    conn.close()


def status(conf):
    p = subprocess.run([REKEY_BIN, "status", "-c", conf], capture_output=True, text=True,
                       timeout=30)
    for ln in (p.stdout + p.stderr).rstrip().splitlines():
        out("   " + ln)


def demo(work, run):
    section("rekey demo",
            "A Nylas application signs Microsoft users in with an Azure app registration's",
            "client secret. Secrets expire; when the one Nylas uses does, every Microsoft",
            "grant goes invalid at once, Nylas sends a flood of grant.expired webhooks and",
            "every user must sign in again. rekey is the webhook endpoint that notices,",
            "finds out why, rotates the secret, tells the app's owners and follows the",
            "users back. Everything below runs on 127.0.0.1 against local fakes of",
            "Microsoft and Nylas; nothing leaves this machine.")

    section("1. Set-up",
            "Certificates (a throwaway CA) and secrets are made for this run only.",
            "The story: the secret Nylas uses expired last night, and rekey is started now.")
    certs = make_certs(os.path.join(work, "certs"))
    sinks = run["sinks"] = Sinks().start(certs)
    expired_at = time.time() - 9 * 3600
    rig = run["rig"] = Rig(seed=world(expired_at), certs=certs)
    whsec = configure(rig, sinks)
    sinks.configure(webhook_secret=whsec)
    out("   fakes: identity platform %s, Graph %s, Nylas %s" % (
        rig.fakes.login_base, rig.fakes.graph_base, rig.fakes.nylas_base))
    out("   sinks: mail %s (STARTTLS), Slack/Teams/webhook on https://127.0.0.1:%d" % (
        sinks.smtp_url, sinks.ports["hooks"]))
    out("   in the identity platform, secret hint \"cur\" (the one Nylas uses) ended %s"
        % iso(expired_at))
    out("   rekey.conf ($RUN = %s):" % work)
    show_config(rig.d.conf_path, work)
    p = subprocess.run([REKEY_BIN, "check", "-c", rig.d.conf_path], capture_output=True,
                       text=True, timeout=30)
    out("   rekey check: %s" % ("config OK" if p.returncode == 0 else p.stdout + p.stderr))
    if p.returncode != 0:
        raise DemoError("rekey check failed")

    feed = Feed(rig, sinks)
    rig.d.start()
    out("   rekey serve: https://127.0.0.1:%d (pid %d); fakes pid %d; sinks pid %d" % (
        rig.d.port, rig.d.proc.pid, rig.fakes.proc.pid, sinks.proc.pid))

    section("2. rekey starts, and the storm hits",
            "At start (then hourly) rekey reads the app's secrets from Graph. Normally it",
            "rotates 30 days before the secret Nylas uses ends, so none ever expires; this",
            "one already has, so it rotates at once. Meanwhile Nylas posts a signed",
            "grant.expired for each of %d users. rekey answers each at once (after writing" % USERS,
            "it to disk), then works out WHY grants expire: it signs in with the secret Nylas",
            "uses, and Microsoft's answer is the evidence. One incident, one rotation: a new",
            "secret in Azure, tested, put into Nylas, the old one retired. The owners hear",
            "once, not %d times; each user gets one email with a sign-in link." % USERS,
            "Times are from the first webhook.")
    result = []
    feed.t0 = time.time() * 1000.0
    th = storm_thread(rig, feed, result)
    wait(feed, rig, "the rotation and the re-auth mails",
         lambda: (storm_result(th, result) and "done" in feed.flags and
                  feed.kinds.get("user_reauth", 0) >= AFFECTED and
                  all(feed.owner_mails.get(("rotation_done", o)) for o in OWNERS)))
    st = result[0]
    if st.statuses.count(200) != USERS:
        raise DemoError("not every webhook was answered 200: %s" % sorted(set(st.statuses)))
    feed.poll()

    section("3. The users come back",
            "Over the next %.0f s the users follow their link and sign in again; Nylas tells" %
            RETURN_S,
            "rekey (grant.updated with the re-authentication flag, or grant.created). The",
            "owners get a progress digest every couple of seconds, and a last message when",
            "everyone is back.")
    users = [("user%06d@example.com" % i, "grant-%06d" % i) for i in range(USERS)]
    users += [("quiet%d@example.com" % i, "quiet-%d" % i) for i in range(QUIET)]
    back = threading.Thread(target=come_back, args=(rig, users, RETURN_S), daemon=True)
    back.start()
    wait(feed, rig, "the incident to resolve",
         lambda: ("resolved" in feed.flags and not back.is_alive() and
                  all(feed.owner_mails.get(("incident_resolved", o)) for o in OWNERS) and
                  feed.hook_types.get("rekey.incident.resolved")),
         timeout=TIMEOUT_S + RETURN_S)
    time.sleep(0.5)
    feed.poll()
    each = ", ".join("%s %d" % (k, v // len(OWNERS)) for k, v in sorted(feed.kinds.items())
                     if k != "user_reauth")
    out("   in all: %d grant.expired in; %d incident, %d rotation" % (
        USERS, feed.seen.get("opened", 0), feed.seen.get("creating", 0)))
    out("   each of the %d owners got by mail: %s" % (len(OWNERS), each))
    out("   posts: Slack %d, Teams %d, webhook %d; mails to users: %d for %d users" % (
        feed.hooks.get("slack", 0), feed.hooks.get("teams", 0), feed.hooks.get("webhook", 0),
        feed.kinds.get("user_reauth", 0), AFFECTED))

    section("4. rekey status", "What an operator sees (`rekey status -c rekey.conf`):")
    status(rig.d.conf_path)


def stop_all(run):
    """Stops rekey (SIGTERM: it drains and exits 0), then the fakes and the
    sinks.  Returns the pids that were running, to check they are gone."""
    pids = []
    rig, sinks = run["rig"], run["sinks"]
    if rig is not None:
        if rig.d.proc is not None:
            pids.append(rig.d.proc.pid)
            out("   rekey: SIGTERM, exited %s" % rig.d.stop())
        if rig.fakes.proc is not None:
            pids.append(rig.fakes.proc.pid)
        rig.stop()
    if sinks is not None:
        if sinks.proc is not None:
            pids.append(sinks.proc.pid)
        sinks.stop()
    return pids


def left_running(pids, work):
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
            alive.append(str(pid))
        except ProcessLookupError:
            pass
        except PermissionError:
            alive.append(str(pid))
    p = subprocess.run(["pgrep", "-f", re.escape(work)], capture_output=True, text=True)
    return alive + [x for x in p.stdout.split() if x not in alive]


def main():
    def on_term(signo, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    # Every directory the libraries make (daemon, fakes, sinks) goes under one run directory.
    work = tempfile.mkdtemp(prefix="rekey-demo-")
    tempfile.tempdir = work
    run = {"rig": None, "sinks": None}
    rc = 0
    started = time.time()
    try:
        demo(work, run)
    except DemoError as e:
        out("\ndemo FAILED: %s" % e)
        rc = 1
    except KeyboardInterrupt:
        out("\ninterrupted")
        rc = 130
    except Exception:
        out("\ndemo FAILED:\n" + traceback.format_exc())
        rc = 1
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        section("5. Stop")
        pids = stop_all(run)
        left = left_running(pids, work)
        if os.environ.get("KEEP_TEST_DIRS") is None:
            shutil.rmtree(work, ignore_errors=True)
        else:
            out("   kept %s" % work)
        if left:
            out("   still running: %s" % " ".join(left))
            rc = rc or 1
        elif rc == 0:
            out("   demo finished in %.0f s; nothing left running" % (time.time() - started))
        else:
            out("   nothing left running")
    return rc


if __name__ == "__main__":
    sys.exit(main())
