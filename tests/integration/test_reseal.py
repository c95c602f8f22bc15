"""rekey reseal: a store holding a real rotation's sealed secret (run
against the fakes) is sealed under a new master key.  Refused while the
daemon runs, with a new key file others may read, and with a wrong old key
(each: the sealed row byte for byte as it was).  Done with the daemon
stopped; a second run finds nothing to do; the daemon refuses to start with
the old key (which opens none of the rows any more) and says what to fix;
with the new key it starts and the correlator's probe of the in-use secret
sends the rotation's secret, unsealed with the new key, to the identity
platform; a reload back to the old key is refused and the daemon keeps
running; a reseal with the key already in place says there is nothing to
do."""

import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import REKEY_BIN, Tap, envelope, free_port, wait_for, write_secret  # noqa: E402
from rotationlib import Rig  # noqa: E402

t = Tap()


def rekey(*args):
    return subprocess.run([REKEY_BIN] + list(args), capture_output=True, text=True, timeout=60)


def set_conf(rig, old, new):
    with open(rig.d.conf_path) as f:
        conf = f.read()
    with open(rig.d.conf_path, "w") as f:
        f.write(conf.replace(old, new, 1))


def sealed(rig, rid):
    return bytes(rig.rotation(rid)["secret_ct"])


def probed_with(rig, secret, since_ms):
    """The identity platform's token requests since since_ms that carried secret."""
    out = []
    for q in rig.fakes.requests("identity"):
        body = urllib.parse.parse_qs(q.get("body", ""))
        if q["time_ms"] >= since_ms and body.get("client_secret") == [secret]:
            out.append(q)
    return out


rig = Rig()
try:
    d = rig.d
    secrets = os.path.join(d.dir, "secrets")
    old_key = os.path.join(secrets, "master_key")
    new_key = os.path.join(secrets, "master_key.new")
    write_secret(new_key, os.urandom(32).hex() + "\n")
    # A fixed port: rekey reseal asks whether something listens there.
    set_conf(rig, "listen = 127.0.0.1:0", "listen = 127.0.0.1:%d" % free_port())

    d.start()
    rid = rig.plan()
    r = rig.wait_state(rid)
    t.eq(r and r["state"], "done", "a rotation ran against the fakes", d.log_text()[-2000:])
    made = rig.made_by(rid)
    new_secret = made[0]["secretText"] if made else None
    before = sealed(rig, rid)
    t.ok(before and new_secret.encode() not in before, "its secret is stored sealed")

    p = rekey("reseal", "-c", d.conf_path, "--new-key-file", new_key)
    t.ok(p.returncode == 1 and "stop rekey first" in p.stderr,
         "refused while the daemon runs", p.stderr + p.stdout)
    t.eq(sealed(rig, rid), before, "and the row is as it was")
    if d.pg is not None:
        # As from another host: nothing listens at this config's port, but the
        # running daemon is connected to the shared store.
        with open(d.conf_path) as f:
            conf = f.read()
        other = os.path.join(d.dir, "other-host.conf")
        with open(other, "w") as f:
            f.write(re.sub(r"(?m)^listen = 127\.0\.0\.1:\d+$",
                           "listen = 127.0.0.1:%d" % free_port(), conf, count=1))
        os.chmod(other, 0o600)
        p = rekey("reseal", "-c", other, "--new-key-file", new_key)
        t.ok(p.returncode == 1 and "other rekey session" in p.stderr and
             "stop every replica" in p.stderr,
             "pg: refused while a replica elsewhere is connected to the store", p.stderr)
        t.eq(sealed(rig, rid), before, "pg: and the row is as it was")
    t.eq(d.stop(), 0, "the daemon stops cleanly")

    os.chmod(new_key, 0o644)
    p = rekey("reseal", "-c", d.conf_path, "--new-key-file", new_key)
    t.ok(p.returncode == 1 and "mode 644" in p.stderr and "nothing changed" in p.stderr,
         "a new key file others may read is refused", p.stderr)
    os.chmod(new_key, 0o600)

    wrong_key = os.path.join(secrets, "wrong_key")
    write_secret(wrong_key, os.urandom(32).hex() + "\n")
    set_conf(rig, "master_key_file = %s" % old_key, "master_key_file = %s" % wrong_key)
    p = rekey("reseal", "-c", d.conf_path, "--new-key-file", new_key)
    t.ok(p.returncode == 1 and "under neither" in p.stderr and rid in p.stderr
         and "nothing changed" in p.stderr, "a wrong old key is refused, naming the row",
         p.stderr)
    t.eq(sealed(rig, rid), before, "and the row is as it was")
    set_conf(rig, "master_key_file = %s" % wrong_key, "master_key_file = %s" % old_key)

    p = rekey("reseal", "-c", d.conf_path, "--new-key-file", new_key)
    t.ok(p.returncode == 0 and "re-sealed 1 secrets" in p.stdout and "1 rotation" in p.stdout,
         "rekey reseal with the daemon stopped: one rotation secret re-sealed", p.stderr + p.stdout)
    t.ok("master_key_file = %s" % new_key in p.stdout, "it says what to do next", p.stdout)
    after = sealed(rig, rid)
    t.ok(after != before and new_secret.encode() not in after, "the row is sealed anew")
    p = rekey("reseal", "-c", d.conf_path, "--new-key-file", new_key)
    t.ok(p.returncode == 0 and "re-sealed 0 secrets" in p.stdout and
         "1 were under it already" in p.stdout, "a second run finds it done", p.stdout + p.stderr)
    t.eq(sealed(rig, rid), after, "and changes nothing")

    # Forgetting the swap: the old key opens none of the rows, so the daemon will not start.
    d.start(wait=False)
    rc = d.proc.wait(20)
    d.log.close()
    d.proc = None
    log = d.log_text()
    t.ok(rc == 1 and "opens none of the 1 sealed secrets" in log and rid in log and
         "must name the new key" in log, "the daemon refuses the old key, saying why",
         log[-1500:])

    set_conf(rig, "master_key_file = %s" % old_key, "master_key_file = %s" % new_key)
    start_ms = int(time.time() * 1000)
    d.start()
    rig.fakes.clear_requests("identity")
    st, _, _ = d.post_nylas(envelope(email="someone@example.com"))
    t.eq(st, 200, "with the new key the daemon runs and takes a grant.expired")
    ok = wait_for(lambda: probed_with(rig, new_secret, start_ms), timeout=20)
    t.ok(ok, "its probe of the in-use secret sends the rotation's secret, unsealed with the "
         "new key", d.log_text()[-2000:])

    set_conf(rig, "master_key_file = %s" % new_key, "master_key_file = %s" % old_key)
    d.signal(signal.SIGHUP)
    t.ok(wait_for(lambda: "reload: keeping the running config: master_key_file" in d.log_text(),
                  timeout=10), "a reload back to the old key is refused", d.log_text()[-1500:])
    time.sleep(0.3)
    t.ok(d.proc.poll() is None, "and the daemon keeps running")
    set_conf(rig, "master_key_file = %s" % old_key, "master_key_file = %s" % new_key)
    t.eq(d.stop(), 0, "the daemon stops cleanly")

    p = rekey("reseal", "-c", d.conf_path, "--new-key-file", new_key)
    t.ok(p.returncode == 0 and "nothing to do" in p.stdout,
         "reseal with the key already in place: nothing to do", p.stdout + p.stderr)
except Exception as e:  # a crash of the test is a failure, with the daemon's log
    t.ok(False, "test_reseal: %s" % e, rig.d.log_text()[-3000:])
finally:
    rig.stop()
t.done()
