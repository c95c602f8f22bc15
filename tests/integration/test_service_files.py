"""The files that start rekey in production refuse what they should:
- handler/rekey.service: systemd-analyze verify finds nothing to say; restart
  limits in [Unit] (StartLimitIntervalSec, StartLimitBurst), Restart=on-failure
  with RestartSec; its ExecStartPre is `rekey check` on the config ExecStart
  serves, and that command line, run, passes on a good config and fails on
  the example config;
- handler/rekey.conf.example: `rekey check` and `rekey serve` refuse it,
  reporting every placeholder (REPLACE-ME, an all-zero id) at its line; a
  copy with the placeholders filled in reports none (with the environment
  override of one too);
- docker-compose.yml (parsed with python3-yaml: docker compose is not on the
  test machines): REKEY_CONF has no default, only the ${REKEY_CONF:?...}
  form, so compose refuses to start without one."""

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import yaml

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import REKEY_BIN, ROOT, Daemon, Tap  # noqa: E402

UNIT = os.path.join(ROOT, "handler", "rekey.service")
EXAMPLE = os.path.join(ROOT, "handler", "rekey.conf.example")
COMPOSE = os.path.join(ROOT, "docker-compose.yml")
ZERO = "00000000-0000-0000-0000-000000000000"


def parse_unit(path):
    """{section: [(key, value, line)]}, as systemd reads a unit (no continuation lines used)."""
    sections, cur = {}, None
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line[0] in "#;":
                continue
            if line.startswith("["):
                cur = line.strip("[]")
                sections.setdefault(cur, [])
                continue
            k, v = line.split("=", 1)
            sections[cur].append((k.strip(), v.strip(), n))
    return sections


def one(sections, section, key):
    vals = [v for k, v, _ in sections.get(section, []) if k == key]
    return vals[0] if len(vals) == 1 else None


def run(argv, env=None, timeout=30):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=e)


def placeholder_lines(path):
    """The lines of the example that hold a placeholder value: {line: key}."""
    out = {}
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if line.lstrip().startswith(("#", ";")) or "=" not in line:
                continue
            k, v = (x.strip() for x in line.split("=", 1))
            if "replace-me" in v.lower() or v == ZERO:
                out[n] = k
    return out


def test_unit(t, tmp, good_conf):
    s = parse_unit(UNIT)
    t.ok(one(s, "Unit", "StartLimitIntervalSec") is not None and
         one(s, "Unit", "StartLimitBurst") is not None,
         "unit: StartLimitIntervalSec and StartLimitBurst in [Unit]")
    t.ok(re.fullmatch(r"\d+", one(s, "Unit", "StartLimitBurst") or "") is not None,
         "unit: StartLimitBurst is a number")
    t.eq(one(s, "Service", "Restart"), "on-failure", "unit: Restart=on-failure")
    t.ok(one(s, "Service", "RestartSec") is not None, "unit: RestartSec is set")
    pre, start = one(s, "Service", "ExecStartPre"), one(s, "Service", "ExecStart")
    t.ok(pre is not None and start is not None, "unit: one ExecStartPre and one ExecStart")
    pre_argv, start_argv = shlex.split(pre or ""), shlex.split(start or "")
    t.eq(pre_argv[:2], ["/usr/local/bin/rekey", "check"], "unit: ExecStartPre runs rekey check")
    t.eq(start_argv[:2], ["/usr/local/bin/rekey", "serve"], "unit: ExecStart runs rekey serve")
    conf = lambda argv: argv[argv.index("-c") + 1] if "-c" in argv[:-1] else None  # noqa: E731
    t.ok(conf(pre_argv) is not None and conf(pre_argv) == conf(start_argv),
         "unit: ExecStartPre checks the config ExecStart serves (%s)" % conf(pre_argv))

    # The ExecStartPre line, run (the binary and the config replaced by the test's).
    def pre_with(path):
        argv = [REKEY_BIN if a == "/usr/local/bin/rekey" else a for a in pre_argv]
        return run([path if a == conf(pre_argv) else a for a in argv])
    p = pre_with(good_conf)
    t.eq(p.returncode, 0, "unit: its ExecStartPre passes on a good config", p.stderr)
    p = pre_with(EXAMPLE)
    t.eq(p.returncode, 1, "unit: its ExecStartPre fails on the example config")

    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        t.ok(True, "# SKIP systemd-analyze is not installed (Makefile DEB_TEST has systemd)")
        return
    copy = os.path.join(tmp, "rekey.service")
    with open(UNIT) as f:
        text = f.read()
    # verify wants the programs to exist: the build's binary stands in for the installed one.
    with open(copy, "w") as f:
        f.write(text.replace("/usr/local/bin/rekey", REKEY_BIN))
    p = run([analyze, "verify", copy])
    t.eq(p.returncode, 0, "unit: systemd-analyze verify accepts it", p.stderr)
    t.eq(p.stderr.strip(), "", "unit: systemd-analyze verify has no warning (unknown key, "
         "bad value)")


def test_example(t, tmp):
    want = placeholder_lines(EXAMPLE)
    t.ok(len(want) >= 5 and set(want.values()) >= {"public_url", "azure_tenant_id",
                                                  "azure_client_id", "rotator_client_id",
                                                  "nylas_application_id", "owners"},
         "example: its placeholders are recognisable (REPLACE-ME or an all-zero id)", want)
    for cmd in ("check", "serve"):
        p = run([REKEY_BIN, cmd, "-c", EXAMPLE])
        t.eq(p.returncode, 1, "example: rekey %s refuses it" % cmd, p.stderr)
        missing = []
        for n, key in sorted(want.items()):
            prefix = "%s:%d: %s" % (EXAMPLE, n, key)
            if not any(l.startswith(prefix) and "placeholder" in l and "fix:" in l
                       for l in p.stderr.splitlines()):
                missing.append(prefix)
        t.eq(missing, [], "example: rekey %s names every placeholder's key, file line and "
             "fix" % cmd, p.stderr)
        t.eq(p.stdout, "", "example: rekey %s prints no summary and serves nothing" % cmd)

    filled = os.path.join(tmp, "filled.conf")
    with open(EXAMPLE) as f:
        text = f.read()
    ids = iter(["11111111-2222-3333-4444-555555555555", "22222222-3333-4444-5555-666666666666",
                "33333333-4444-5555-6666-777777777777", "44444444-5555-6666-7777-888888888888"])
    text = re.sub(ZERO, lambda m: next(ids), text)
    text = re.sub(r"REPLACE-ME", "acme", text)
    with open(filled, "w") as f:
        f.write(text)
    p = run([REKEY_BIN, "check", "-c", filled])
    t.eq([l for l in p.stderr.splitlines() if "placeholder" in l], [],
         "example filled in: no placeholder reported (only the absent secret files)", p.stderr)
    t.ok("cannot read secret file" in p.stderr, "example filled in: the check went on to the "
         "files", p.stderr)
    # The environment can fill a placeholder too (compose's env_file, a systemd drop-in).
    with open(EXAMPLE) as f:
        lines = f.read().splitlines()
    n = [i for i, l in enumerate(lines, 1) if l.startswith("azure_client_id = ")][0]
    p = run([REKEY_BIN, "check", "-c", EXAMPLE],
            env={"REKEY_APP_PROD_AZURE_CLIENT_ID": "11111111-2222-3333-4444-555555555555"})
    t.ok(not any(l.startswith("%s:%d:" % (EXAMPLE, n)) for l in p.stderr.splitlines()),
         "example: azure_client_id from REKEY_APP_PROD_AZURE_CLIENT_ID is no longer reported",
         p.stderr)


def test_compose(t):
    with open(COMPOSE) as f:
        raw = f.read()
    doc = yaml.safe_load(raw)
    # Every rekey replica (the services built from rekey's image) mounts the config.
    replicas = {n: sv for n, sv in doc["services"].items() if sv.get("image") == "rekey:latest"}
    t.ok(len(replicas) >= 1, "compose: rekey's services found", list(doc["services"]))
    vols = []
    for name, sv in sorted(replicas.items()):
        vols += sv["volumes"]
        conf = [v for v in sv["volumes"] if v.endswith(":/etc/rekey/rekey.conf:ro")]
        t.eq(len(conf), 1, "compose: %s mounts the config once, read-only" % name, sv["volumes"])
        src = conf[0][:-len(":/etc/rekey/rekey.conf:ro")] if conf else ""
        m = re.fullmatch(r"\$\{REKEY_CONF:\?([^}]+)\}", src)
        t.ok(m is not None, "compose: %s's config is ${REKEY_CONF:?message}, no default" % name, src)
        t.ok(m is not None and "REKEY_CONF" in m.group(1) and "docs/setup.md" in m.group(1),
             "compose: %s's message says what to set and where to read" % name, src)
    uses = re.findall(r"\$\{REKEY_CONF[^}]*\}", raw)
    t.ok(uses and all(u.startswith("${REKEY_CONF:?") for u in uses),
         "compose: REKEY_CONF is never given a default anywhere", uses)
    t.ok("rekey.conf.example" not in " ".join(str(v) for v in vols),
         "compose: the example config is never mounted")


def main():
    t = Tap()
    tmp = tempfile.mkdtemp(prefix="rekey-svc-")
    d = Daemon()
    try:
        test_unit(t, tmp, d.conf_path)
        test_example(t, tmp)
        test_compose(t)
    finally:
        d.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    t.done()


if __name__ == "__main__":
    main()
