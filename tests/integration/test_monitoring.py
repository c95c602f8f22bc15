"""Prometheus rules and the Grafana dashboard (issue 20), handler/monitoring/:

1. promtool check rules and promtool test rules (rekey.rules.test.yml holds
   each alert firing and not firing) both pass.  No promtool is a failure
   that says `make deps` (Debian's prometheus package).
2. Every metric name in the rules' and the dashboard's expressions is one the
   real daemon exports: it runs against the fakes and the local sinks, polls,
   rotates once (so the rotation and notification counters exist), takes one
   webhook, and its /metrics is compared name by name.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import Tap, make_certs, wait_for, write_secret  # noqa: E402
from rotationlib import Rig, state  # noqa: E402
from sinks import Sinks  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MON = os.path.join(HERE, "..", "..", "handler", "monitoring")
RULES = os.path.join(MON, "rekey.rules.yml")
RULES_TEST = os.path.join(MON, "rekey.rules.test.yml")
DASHBOARD = os.path.join(MON, "rekey-dashboard.json")
OWNER = "ops@example.com"
WHSEC = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "offset",
            "and", "or", "unless", "bool", "inf", "nan",
            # aggregations, which may come before their parenthesis: sum by (x) (...)
            "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
            "bottomk", "topk", "quantile"}
t = Tap()


def promtool(*args):
    try:
        p = subprocess.run(["promtool"] + list(args), capture_output=True, text=True,
                           timeout=60)
    except FileNotFoundError:
        return None
    return p.returncode, p.stdout + p.stderr


def run_promtool():
    r = promtool("check", "rules", RULES)
    if r is None:
        t.ok(False, "promtool is missing: run `make deps` (Debian package prometheus)")
        return
    t.ok(r[0] == 0, "promtool check rules %s" % os.path.basename(RULES), r[1])
    r = promtool("test", "rules", RULES_TEST)
    t.ok(r[0] == 0 and "SUCCESS" in r[1], "promtool test rules: every alert fires and stays "
         "quiet as its cases say", r[1][-4000:])


def metric_names(expr):
    """The metric names a PromQL expression reads."""
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)        # strings
    e = re.sub(r"\{[^}]*\}", " ", e)                   # label matchers
    e = re.sub(r"\[[^\]]*\]", " ", e)                  # ranges
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1 ", e)
    e = re.sub(r"\boffset\s+\w+", " ", e)
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", e):
        rest = e[m.end():].lstrip()
        if rest.startswith("(") or m.group(0).lower() in KEYWORDS:
            continue
        if re.match(r"\d", e[m.start() - 1:m.start()] if m.start() else ""):
            continue                                    # 3h, 1e6
        names.add(m.group(0))
    return names


def rule_exprs():
    """[(alert, expr)] of the rules file (no YAML module needed: `expr: X` or
    `expr: |` and the lines indented under it; commented lines skipped)."""
    out, alert, lines = [], None, open(RULES).read().split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r"^\s*- alert:\s*(\S+)", line)
        if m:
            alert = m.group(1)
        m = re.match(r"^(\s*)expr:\s*(.*)$", line)
        if m:
            if m.group(2).strip() in ("|", ">", "|-", ">-"):
                body, ind = [], len(m.group(1))
                while i + 1 < len(lines) and (not lines[i + 1].strip() or
                                              len(lines[i + 1]) - len(lines[i + 1].lstrip()) > ind):
                    i += 1
                    body.append(lines[i].strip())
                out.append((alert, " ".join(body)))
            else:
                out.append((alert, m.group(2)))
        i += 1
    return out


def used_names():
    """{name: [where]} over the rules' and the dashboard's expressions."""
    used = {}
    rules = rule_exprs()
    with open(RULES) as f:
        n_alerts = len(re.findall(r"^\s*- alert:", f.read(), re.M))
    t.ok(len(rules) == n_alerts and n_alerts >= 8,
         "rules: an expression read for each of the %d alerts" % n_alerts, rules)
    for alert, ex in rules:
        for n in metric_names(ex):
            used.setdefault(n, []).append("rule " + alert)
    with open(DASHBOARD) as f:
        dash = json.load(f)
    exprs = [(p["title"], tg["expr"]) for p in dash["panels"] for tg in p.get("targets", [])]
    exprs += [("variable " + v["name"], re.sub(r"^label_values\((\w+).*", r"\1", v["query"]))
              for v in dash["templating"]["list"] if v.get("type") == "query"]
    for where, ex in exprs:
        for n in metric_names(ex):
            used.setdefault(n, []).append("panel " + where)
    return used, dash


def exported(text):
    return set(re.match(r"[A-Za-z_:][A-Za-z0-9_:]*", line).group(0)
               for line in text.splitlines() if line and not line.startswith("#"))


def run_names(sinks):
    used, dash = used_names()
    t.ok(len(dash["panels"]) >= 8 and all(p.get("targets") for p in dash["panels"]),
         "dashboard: parses, every panel has a query (%d panels)" % len(dash["panels"]))
    t.ok({"rekey_app_health", "rekey_app_condition", "rekey_rotations_total",
          "rekey_expiry_poll_last_success_timestamp_seconds"} <= set(used),
         "the expressions name the metrics (the parser finds them)", sorted(used))
    rig = Rig(seed=state(), certs=sinks.certs)
    try:
        sd = os.path.join(rig.d.dir, "secrets")
        write_secret(os.path.join(sd, "whsec"), WHSEC + "\n")
        rig.configure(app_lines=["owners = %s" % OWNER, "owners_from_graph = no",
                                 "graph_subscribe_users = no", "expiry_poll = 2s", ""] +
                      sinks.notify_config(os.path.join(sd, "whsec")))
        rig.d.start()
        rid = rig.plan()
        r = rig.wait_state(rid)
        t.eq(r and r["state"], "done", "a rotation runs (its counters exist)")
        rig.d.post_nylas({"specversion": "1.0", "type": "grant.created", "id": "ev-1",
                          "data": {"object": {"grant_id": "g-1"}}})
        have = set()

        def complete():
            have.clear()
            have.update(exported(rig.d.request("GET", "/metrics")[2].decode()))
            return set(used) <= have
        wait_for(complete, 30, 0.5)
        missing = {n: w for n, w in used.items() if n not in have}
        t.ok(not missing, "every metric the rules and the dashboard read is exported by rekey",
             {"missing": missing, "exported": sorted(have)})
    finally:
        rig.stop()
        sinks.reset()


def main():
    run_promtool()
    cdir = make_certs(tempfile.mkdtemp(prefix="rekey-monitoring-"))
    with Sinks().start(cdir, webhook_secret=WHSEC) as sinks:
        sinks.certs = cdir
        run_names(sinks)
    shutil.rmtree(cdir, ignore_errors=True)
    t.done()


if __name__ == "__main__":
    main()
