"""Secret file modes, as `rekey check` judges them: 600 and 400 always;
640 and 440 (group may read) when the file is owned by root or by the user
rekey runs as; anything readable or writable by others, or writable by the
group, is refused with a message naming the accepted modes.  (A
group-readable file of another owner needs root to make: checked when the
test runs as root.)"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import REKEY_BIN, Daemon, Tap  # noqa: E402

ACCEPTED = ("accepted modes: 600 or 400, or 640 or 440 when owned by root or by the user "
            "rekey runs as; chmod 600 it")


def check(conf):
    p = subprocess.run([REKEY_BIN, "check", "-c", conf], capture_output=True, text=True,
                       timeout=20)
    return p.returncode, p.stderr


t = Tap()
d = Daemon(tls=False)
token = os.path.join(d.dir, "secrets", "admin_token")
try:
    for mode in (0o600, 0o400, 0o640, 0o440):
        os.chmod(token, mode)
        rc, err = check(d.conf_path)
        t.eq(rc, 0, "mode %03o owned by rekey's user is accepted" % mode, err)
    for mode in (0o644, 0o604, 0o660, 0o620, 0o650, 0o666):
        os.chmod(token, mode)
        rc, err = check(d.conf_path)
        t.ok(rc == 1 and ("admin_token_file: secret file %s is readable or writable by others, "
                          "or writable by its group (mode %03o); %s" % (token, mode, ACCEPTED))
             in err, "mode %03o is refused, naming the accepted modes" % mode, (rc, err))
    if os.geteuid() == 0:
        os.chmod(token, 0o640)
        os.chown(token, 65534, 0)
        rc, err = check(d.conf_path)
        t.ok(rc == 1 and "is readable by its group (mode 640) but owned by uid 65534, neither "
             "root nor rekey's user (uid 0); " + ACCEPTED in err,
             "640 owned by another user is refused", (rc, err))
        os.chown(token, 0, 0)
    else:
        t.ok(True, "# SKIP 640 of another owner: not root, cannot chown")
    os.chmod(token, 0o600)
finally:
    d.cleanup()
t.done()
