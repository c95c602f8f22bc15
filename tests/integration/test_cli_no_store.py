"""The CLI's readers do not make a store: `rekey status` (and approve and
resolve) pointed at a SQLite path where the daemon never ran says
"no store at PATH" (status exits 2) and leaves no file behind; on
PostgreSQL (REKEY_TEST_STORE=pg), at a database without rekey's tables,
"no rekey store in URL" and leaves no table behind.  Once the daemon has
run, status reads the store it made."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import REKEY_BIN, Daemon, Tap  # noqa: E402


def run(*args, timeout=20):
    p = subprocess.run([REKEY_BIN] + list(args), capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr


t = Tap()
d = Daemon(tls=False)
try:
    if d.pg is None:
        want = "no store at %s: has the daemon ever run with this config?" % d.db_path
    else:
        want = "no rekey store in "
        t.ok(d.pg_dbname in d.store_url, "pg: the database is named in the URL")
    for args in (("status",), ("status", "--json")):
        rc, out, err = run(*args, "-c", d.conf_path)
        t.eq(rc, 2, "%s without a store exits 2" % " ".join(args), err)
        t.ok(want in err, "%s says there is no store and where" % " ".join(args), err)
    for cmd in ("approve", "resolve"):
        rc, out, err = run(cmd, "-c", d.conf_path, "0123456789abcdef")
        t.ok(rc != 0 and want in err, "%s without a store says so" % cmd, (rc, err))
    if d.pg is None:
        t.ok(not os.path.exists(d.db_path) and not os.path.exists(os.path.dirname(d.db_path)),
             "no store file nor directory was created by the readers")
    else:
        t.ok(not d.store_exists(), "pg: no table was created by the readers")

    d.start()
    t.ok(d.store_exists(), "the daemon itself creates the store")
    t.eq(d.stop(), 0, "the daemon stops cleanly")
    rc, out, err = run("status", "-c", d.conf_path)
    t.ok("no store at" not in err and "no rekey store" not in err,
         "status reads the store once the daemon has run", err)
    t.ok("prod" in out, "status names the app", out)
finally:
    d.cleanup()
t.done()
