"""`make demo` (handler/demo.sh) runs to the end in bounded time and shows
what it promises, in order: rekey serving, the storm all answered 200, the
incident with its cause and the AADSTS evidence, every rotation step, the
owners' notifications by mail and Slack (one each, not one per user), one
re-auth mail per user, the users coming back with progress digests, the
incident resolved and the owners told, `rekey status`, a clean SIGTERM exit;
and it leaves nothing running (the processes it named are gone, nothing runs
from its directory, which is removed).  The sanitizer build plays a smaller
storm (DEMO_USERS)."""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import REKEY_BIN, ROOT, Tap  # noqa: E402

ASAN = "asan" in os.environ.get("REKEY_BUILD", "")
USERS = int(os.environ.get("DEMO_USERS", "100" if ASAN else "300"))
AFFECTED = USERS + 3   # the demo's 3 quiet users: only in Nylas's list of invalid grants
LIMIT_S = 180 if ASAN else 90
OWNERS = "app-owner@contoso.com, ops@example.com"
t = Tap()

start = time.time()
try:
    p = subprocess.run([os.path.join(ROOT, "handler", "demo.sh")], capture_output=True,
                       text=True, timeout=LIMIT_S + 60,
                       env=dict(os.environ, REKEY_BIN=REKEY_BIN, DEMO_USERS=str(USERS),
                                NO_COLOR="1"))
    out, err, rc = p.stdout, p.stderr, p.returncode
except subprocess.TimeoutExpired as e:
    out = (e.stdout or b"").decode("utf-8", "replace") if isinstance(e.stdout, bytes) else \
        (e.stdout or "")
    err, rc = "timed out", None
took = time.time() - start
t.eq(rc, 0, "demo exits 0", (out[-2500:] + "\n" + (err or "")[-1500:]))
t.ok(took < LIMIT_S, "demo ends within %d s (%.0f s)" % (LIMIT_S, took))

# The key lines, each chain in order (the storm, the incident and the
# rotation run side by side, so only each one's own steps are ordered).
# Everything in the first three chains comes before the users come back.
SECTION3 = r"== 3\. The users come back"
CHAINS = [
    [("rekey serving", r"rekey +rekey serving"),
     ("the storm, all answered 200",
      r"storm over: %d grant\.expired in .* %d answered 200" % (USERS, USERS)),
     ("every user's re-auth mail", r"re-auth mails to users: %d sent" % AFFECTED),
     ("the users come back", SECTION3)],
    [("rekey serving", r"rekey +rekey serving"),
     ("the incident, its cause and the evidence",
      r"INCIDENT \w+ opened: cause secret_expired\n +evidence: AADSTS7000222 for the in-use "
      r"secret"),
     ("the users come back", SECTION3)],
    [("rekey serving", r"rekey +rekey serving"),
     ("rotation: creating", r"rotation \w+: creating "),
     ("rotation: created", r"rotation \w+: created +new secret"),
     ("rotation: testing", r"rotation \w+: testing "),
     ("rotation: tested", r"rotation \w+: tested "),
     ("rotation: publishing", r"rotation \w+: publishing "),
     ("rotation: published", r"rotation \w+: published "),
     ("rotation: done", r"rotation \w+: done"),
     ("the users come back", SECTION3)],
    [("the users come back", SECTION3),
     ("a progress digest",
      r"mail +%s <- \[rekey prod\] Re-authentication: [1-9]\d* of %d" % (OWNERS, AFFECTED)),
     ("the incident resolved",
      r"INCIDENT \w+ resolved: all %d grants have re-authenticated" % AFFECTED),
     ("rekey status", r"== 4\. rekey status"),
     ("rekey stopped", r"rekey: SIGTERM, exited 0"),
     ("nothing left running", r"demo finished in \d+ s; nothing left running")]]
for chain in CHAINS:
    pos = 0
    for name, pat in chain:
        m = re.compile(pat, re.M).search(out, pos)
        t.ok(m is not None, "demo shows, in order: %s" % name, "no /%s/ after offset %d:\n%s" % (
            pat, pos, out[pos:pos + 1500]))
        if m:
            pos = m.end()

# The owners hear once per event, on each channel, with readable subjects.
for name, pat in [
        ("incident opened, mail to both owners",
         r"^ .*mail +%s <- \[rekey prod\] Client secret expired: .*cut off" % OWNERS),
        ("incident opened, Slack", r"^ .*slack +\[rekey prod\] Client secret expired: "),
        ("incident opened, signed webhook", r"webhook rekey\.incident\.opened, signature verified"),
        ("rotation done, mail", r"^ .*mail +.*<- \[rekey prod\] .*rotated"),
        ("rotation done, Slack", r"^ .*slack +\[rekey prod\] .*rotated"),
        ("resolved, mail to both owners",
         r"^ .*mail +%s <- \[rekey prod\] Resolved: .*\(%d of %d users back\)" % (
             OWNERS, AFFECTED, AFFECTED)),
        ("resolved, Slack", r"^ .*slack +\[rekey prod\] Resolved: "),
        ("one user's mail with their own link",
         r"with their own link: https://app\.example\.com/login\?hint=\S+%40example\.com"),
        ("status: the incident, resolved",
         r"secret_expired +resolved[\s\S]*grants affected %d, recovered %d" % (
             AFFECTED, AFFECTED)),
        ("status: the rotation, done", r"^ +\S+ +done +reason ")]:
    t.ok(re.search(pat, out, re.M) is not None, "demo shows: %s" % name, pat)
t.ok(re.search(r"in all: %d grant\.expired in; 1 incident, 1 rotation$" % USERS, out, re.M),
     "one incident and one rotation for the whole storm")
t.ok(re.search(r"each of the 2 owners got by mail: incident_opened 1, incident_resolved 1, "
               r"reauth_digest \d+, rotation_done 1$", out, re.M),
     "each owner got one mail per event, plus a few digests")
t.ok(re.search(r"mails to users: %d for %d users$" % (AFFECTED, AFFECTED), out, re.M),
     "one mail per affected user")
opened = re.findall(r"^ .*mail +.*<- \[rekey prod\] Client secret expired: .*cut off", out, re.M)
t.eq(len(opened), 1, "the owners get the incident-opened mail once, not once per user", opened)

# The owners hear first (README): every owners' message about the incident and its fix
# reaches them before the first user's sign-in mail.
def stamped(pred):
    found = []
    for line in out.splitlines():
        m = re.match(r"^ +\+([\d.]+)s +(mail|slack|teams|webhook) +(.*)$", line)
        if m and pred(m.group(3)):
            found.append((float(m.group(1)), m.group(3)[:70]))
    return found


owners = stamped(lambda s: "Please sign in" not in s and "Resolved" not in s and (
    "Client secret expired" in s or "rekey.incident.opened" in s or "rekey.rotation.done" in s))
users = stamped(lambda s: "Please sign in again" in s)
t.ok(len(owners) >= 6 and users and max(owners)[0] <= min(users)[0],
     "the owners hear first: their alerts (by mail, Slack, Teams and webhook) before any "
     "user's sign-in mail", (max(owners) if owners else None, min(users) if users else None))

# Nothing left running: the processes the demo named, and anything from its directory.
m = re.search(r"rekey serve: \S+ \(pid (\d+)\); fakes pid (\d+); sinks pid (\d+)", out)
run = re.search(r"\(\$RUN = (\S+)\)", out)
t.ok(m is not None and run is not None, "demo names its processes and its directory")
if m and run:
    alive = [pid for pid in m.groups() if os.path.exists("/proc/%s" % pid)]
    t.eq(alive, [], "rekey, the fakes and the sinks are gone")
    left = subprocess.run(["pgrep", "-f", re.escape(run.group(1))], capture_output=True,
                          text=True).stdout.split()
    t.eq(left, [], "nothing runs from the demo's directory")
    t.ok(not os.path.exists(run.group(1)), "the demo's directory is removed")
t.done()
