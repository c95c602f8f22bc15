"""`make demo` runs to the end and shows what it promises: the challenge
echo, stored and duplicate webhooks, the refusals, the journal, a clean stop."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import REKEY_BIN, ROOT, Tap  # noqa: E402

t = Tap()
p = subprocess.run([os.path.join(ROOT, "handler", "demo.sh")], capture_output=True, text=True,
                   env=dict(os.environ, REKEY_BIN=REKEY_BIN), timeout=120)
out = p.stdout
t.eq(p.returncode, 0, "demo exits 0", p.stderr[-2000:])
for line in ["?challenge=demo-42     -> demo-42",
             "grant.expired for alice@example.com            -> 200 stored",
             "the same event again (Nylas retries)           -> 200 duplicate",
             "gzip delivery for dave (compressed_delivery)   -> 200 stored",
             "a forged signature                             -> 401",
             "an app rekey does not know                     -> 404",
             "events journaled: nylas 4, graph 0",
             "rekey exited 0"]:
    t.ok(line in out, "demo shows: %s" % line.split("->")[0].strip(), out[-3000:])
left = subprocess.run(["pgrep", "-f", "rekey-demo"], capture_output=True, text=True).stdout
t.eq(left.strip(), "", "demo leaves nothing running")
t.done()
