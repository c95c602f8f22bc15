"""Structured log fields: during a rotation against the fakes the daemon's
stderr carries JSON lines whose "rotation" field is the rotation's id and
whose "app" field is the app (not only inside msg), one for each step it
went through; a grant.expired opens an incident whose lines carry
"incident" and "app".  Every line parses as JSON, and neither the new secret nor
the current one appears in the log."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import Tap, envelope, wait_for  # noqa: E402
from rotationlib import CURRENT, Rig  # noqa: E402

t = Tap()


def lines(rig):
    out, bad = [], []
    for raw in rig.d.log_text().splitlines():
        if not raw.strip():
            continue
        try:
            out.append(json.loads(raw))
        except ValueError:
            bad.append(raw)
    return out, bad


rig = Rig()
try:
    rig.d.start()
    rid = rig.plan()
    r = rig.wait_state(rid)
    t.eq(r and r["state"], "done", "a rotation ran against the fakes", rig.d.log_text()[-2000:])
    logs, bad = lines(rig)
    t.eq(bad[:3], [], "every log line is one JSON object")
    mine = [x for x in logs if x.get("rotation") == rid]
    t.ok(len(mine) >= 5, "%d lines carry \"rotation\":\"%s\" as a field" % (len(mine), rid))
    t.ok(mine and all(x.get("app") == "prod" for x in mine), "each with \"app\":\"prod\"",
         [x for x in mine if x.get("app") != "prod"][:3])
    steps = set(x["msg"].split(": ", 1)[1] for x in mine if x["msg"].startswith("rotation %s: " % rid))
    t.ok({"creating", "testing", "publishing", "done"} <= steps,
         "the steps' lines among them (%s)" % ", ".join(sorted(steps)[:12]))
    t.ok(all(rid in x["msg"] for x in mine), "the message still names the rotation for people")
    made = rig.made_by(rid)
    text = rig.d.log_text()
    t.ok(made and made[0]["secretText"] not in text and CURRENT not in text,
         "no secret in the log")

    st, _, _ = rig.d.post_nylas(envelope(email="first@example.com"))
    t.eq(st, 200, "a grant.expired is taken")

    def incident_lines():
        return [x for x in lines(rig)[0] if x.get("incident")]
    inc = wait_for(incident_lines, timeout=20)
    with rig.d.db() as c:
        ids = [row[0] for row in c.execute("SELECT id FROM incidents")]
    t.ok(inc and ids and all(x["incident"] in ids for x in inc),
         "the incident's lines carry \"incident\":\"<id>\" (%s)" % (ids[:1],),
         rig.d.log_text()[-1500:])
    t.ok(inc and all(x.get("app") == "prod" for x in inc), "and \"app\":\"prod\"")
    t.ok(inc and any("opened" in x["msg"] for x in inc), "among them the one that opened it",
         [x["msg"] for x in inc][:3])
    t.eq(rig.d.stop(), 0, "the daemon stops cleanly")
except Exception as e:  # a crash of the test is a failure, with the daemon's log
    t.ok(False, "test_log_fields: %s" % e, rig.d.log_text()[-3000:])
finally:
    rig.stop()
t.done()
