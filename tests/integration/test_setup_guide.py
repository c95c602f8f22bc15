"""docs/setup.md, run: every shell block marked `<!-- test: NAME -->` runs,
in the guide's order, in one temporary directory, against the fakes of the
identity platform, Graph and Nylas and the SMTP sink, so that a documented
command that breaks fails here.

Conventions (the guide's own introduction says the same):
- A block is a fenced ```sh block; the line before it is either
  `<!-- test: NAME -->` (run here) or `<!-- not tested: REASON -->`.  A shell
  block with neither fails the test, as does a guide with no tested block.
- Tested blocks run with bash -euo pipefail, from the repository root, one
  after another; the shell variables they set carry over (as in one shell).
  The variables the guide's untested blocks set (your values, az, read -rs)
  are set here to the fakes': HOST, TENANT_ID, NYLAS_CLIENT_ID, ...
- Rewrites, before a block runs: /etc/rekey, /var/lib/rekey, /etc/letsencrypt,
  /etc/nginx, /run/nginx.pid, /var/lib/nginx and /var/log/nginx become paths
  in the temporary directory; the owner root and the user and group rekey
  become this process's user and group ("-o root -g rekey", "-o rekey -g
  rekey", "root:rekey"); "runuser -u rekey --" is dropped (the test is the
  user rekey); /usr/local/bin/rekey is the build's binary; 127.0.0.1:8080
  (rekey's listener) and nginx's 443 become free ports.  A block that still
  names /etc/, /var/ or /run/ afterwards is refused, never run.  The config
  the guide writes is relocated the same way once written (its paths are
  /etc/rekey/..., as an operator's are).
- The base URLs of Microsoft and Nylas and the CA they are trusted with come
  from the environment (REKEY_APP_PROD_AZURE_LOGIN_BASE, _GRAPH_BASE,
  _NYLAS_API_BASE, REKEY_OUTBOUND_CA_FILE), as an operator could set them.
- The "good answer" text blocks after `rekey check` and `rekey doctor` are
  checked against what they print.
- The az commands (not runnable here) are checked for form: each subcommand
  and option is one of the Azure CLI reference (Azure/azure-cli,
  src/azure-cli/azure/cli/command_modules/role/_params.py: `ad app`
  --display-name, --sign-in-audience; credential reset --cert, --append; `ad
  app permission` --api, --api-permissions; `ad` --owner-object-id; `ad sp
  create` --id; the global --query, -o), every --api-permissions item is
  GUID=Role, the API is Microsoft Graph's appId, and the role ids are the ones
  rekey doctor checks (src/engine/doctor_graph.c), both required ones present.
The unit's ExecStartPre and ExecStart lines (handler/rekey.service) start
rekey here, after the nginx block, as systemd would."""

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import ssl

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import REKEY_BIN, ROOT, Tap, free_port, make_certs  # noqa: E402
from rotationlib import API_KEY, CURRENT, ROTATOR, TARGET, TENANT, state  # noqa: E402
from fakes import Fakes  # noqa: E402
from sinks import Sinks  # noqa: E402

GUIDE = os.path.join(ROOT, "docs", "setup.md")
UNIT = os.path.join(ROOT, "handler", "rekey.service")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
# Policy.Read.All, optional (rekey doctor warns without it): the Graph permissions reference.
POLICY_READ_ALL = "246dd0d5-5bd0-4def-940b-0421030a5b68"
SMTP_USER, SMTP_PASS = "rekey-mailer", "smtp-pass-0123456789"

# Subcommand -> the options it takes, from the Azure CLI reference (see the docstring).
GLOBAL_OPTS = {"--query", "-o", "--output", "--only-show-errors", "--debug", "--verbose"}
AZ_OPTS = {
    "ad app create": {"--display-name", "--sign-in-audience"},
    "ad app credential reset": {"--id", "--cert", "--append", "--display-name", "--years",
                                "--end-date"},
    "ad sp create": {"--id"},
    "account show": set(),
    "ad app permission add": {"--id", "--api", "--api-permissions"},
    "ad app permission admin-consent": {"--id"},
    "ad app permission list-grants": {"--id", "--show-resource-name", "-r"},
    "ad app owner add": {"--id", "--owner-object-id"},
    "ad app owner list": {"--id"},
}


def blocks(text):
    """[(mark, name, body, line)] of every ```sh block; mark is 'test', 'not tested' or None.
    Also the ```text blocks, as ('text', None, body, line)."""
    out = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        fence = lines[i].strip()
        if fence in ("```sh", "```text"):
            start = i
            j = i + 1
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            body = "\n".join(lines[i + 1:j])
            if fence == "```text":
                out.append(("text", None, body, start + 1))
            else:
                # The mark: the comment that ends on the line before the fence.
                k = start - 1
                comment = lines[k] if k >= 0 else ""
                while k > 0 and "<!--" not in lines[k] and lines[k].strip().endswith("-->"):
                    k -= 1
                    comment = lines[k] + " " + comment
                m = re.match(r"\s*<!--\s*(test|not tested):\s*(.*?)\s*-->\s*$", comment, re.S)
                out.append((m.group(1) if m else None, m.group(2) if m else None, body,
                            start + 1))
            i = j + 1
        else:
            i += 1
    return out


def az_commands(body):
    """Each az command line of a block (continuations joined), split like a shell."""
    joined = body.replace("\\\n", " ")
    cmds = []
    for line in joined.split("\n"):
        line = line.split(" #")[0]
        for m in re.finditer(r"(?:^|\$\(|\s)(az\s[^)]*)", line):
            cmds.append(shlex.split(m.group(1)))
    return cmds


def doctor_roles():
    with open(os.path.join(ROOT, "src", "engine", "doctor_graph.c")) as f:
        src = f.read()
    return dict(re.findall(r'#define (ROLE_\w+) "([0-9a-f-]{36})"', src))


def check_az(t, tests_blocks):
    roles = doctor_roles()
    known = set(roles.values()) | {POLICY_READ_ALL}
    cmds = [c for b in tests_blocks for c in az_commands(b)]
    t.ok(len(cmds) >= 8, "az: the guide's az commands were found (%d)" % len(cmds))
    granted = set()
    for argv in cmds:
        words = []
        for w in argv[1:]:
            if w.startswith("-"):
                break
            words.append(w)
        sub = " ".join(words)
        opts = [w for w in argv if w.startswith("-")]
        t.ok(sub in AZ_OPTS, "az %s: a subcommand of the reference" % sub, argv)
        bad = [o for o in opts if o not in AZ_OPTS.get(sub, set()) | GLOBAL_OPTS]
        t.eq(bad, [], "az %s: every option is one of the reference's" % sub, argv)
        if sub == "ad app permission add":
            api = argv[argv.index("--api") + 1]
            t.eq(api, GRAPH_APP_ID, "az %s: --api is Microsoft Graph's appId" % sub)
            items = argv[argv.index("--api-permissions") + 1:]
            items = [x for x in items if not x.startswith("-")]
            for item in items:
                m = re.match(r"^([0-9a-f-]{36})=(Role|Scope)$", item)
                t.ok(m and m.group(2) == "Role", "az permission %s: an application permission "
                     "(=Role)" % item)
                t.ok(m and m.group(1) in known, "az permission %s: an id rekey doctor knows"
                     % item)
                if m:
                    granted.add(m.group(1))
    t.ok(roles.get("ROLE_APP_RW_OWNEDBY") in granted,
         "az: Application.ReadWrite.OwnedBy is granted (the id doctor_graph.c checks)")
    t.ok(roles.get("ROLE_USER_READ_ALL") in granted,
         "az: User.Read.All is granted (the id doctor_graph.c checks)")
    owner = [c for c in cmds if c[1:4] == ["ad", "app", "owner"] and c[4] == "add"]
    t.ok(len(owner) == 1 and "--owner-object-id" in owner[0] and
         owner[0][owner[0].index("--owner-object-id") + 1] == "$ROTATOR_SP_ID",
         "az: the rotator's service principal (not its appId) becomes an owner", owner)


class Guide:
    """The temporary root, the rewrites, and the shell state carried between blocks."""

    def __init__(self, tmp, rekey_port, nginx_port):
        self.tmp = tmp
        user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
        group = subprocess.run(["id", "-gn"], capture_output=True, text=True).stdout.strip()
        self.rewrites = [
            ("/etc/rekey", tmp + "/etc/rekey"),
            ("/var/lib/rekey", tmp + "/var/lib/rekey"),
            ("/etc/letsencrypt", tmp + "/letsencrypt"),
            ("/etc/nginx", tmp + "/nginx"),
            ("/run/nginx.pid", tmp + "/nginx/nginx.pid"),
            ("/var/lib/nginx", tmp + "/nginx/tmp"),
            ("/var/log/nginx", tmp + "/nginx/log"),
            ("-o root -g rekey", "-o %s -g %s" % (user, group)),
            ("-o rekey -g rekey", "-o %s -g %s" % (user, group)),
            ("root:rekey", "%s:%s" % (user, group)),
            ("runuser -u rekey -- ", ""),
            ("/usr/local/bin/rekey", REKEY_BIN),
            ("127.0.0.1:8080", "127.0.0.1:%d" % rekey_port),
            ("@LISTEN@|443|", "@LISTEN@|127.0.0.1:%d|" % nginx_port),
        ]
        self.vars = os.path.join(tmp, "vars.sh")
        open(self.vars, "w").close()

    def rewrite(self, text):
        """Each rewrite where it starts a word or a path (so a path already under the
        temporary directory is not rewritten twice)."""
        for a, b in self.rewrites:
            text = re.sub(r"(?<![\w/.-])" + re.escape(a), lambda m: b, text)
        return text

    def system_paths(self, body):
        """The system paths a rewritten block still names (it must name none)."""
        return re.findall(r"(?<![\w.])/(?:etc|var|run)/[\w./-]*", body.replace(self.tmp, "TMP"))

    def set(self, **kw):
        with open(self.vars, "a") as f:
            for k, v in kw.items():
                f.write("export %s=%s\n" % (k, shlex.quote(v)))

    def run(self, body, env):
        script = "\n".join([
            "set -euo pipefail",
            ". %s" % shlex.quote(self.vars),
            "set -a",
            body,
            "set +a",
            "export -p > %s" % shlex.quote(self.vars + ".new"),
        ])
        p = subprocess.run(["bash", "-c", script], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=180)
        if p.returncode == 0:
            # Only what the guide set: the environment's own variables stay the test's.
            with open(self.vars + ".new") as f:
                new = [l for l in f.read().splitlines()
                       if not re.match(r"declare -x (PATH|PWD|OLDPWD|SHLVL|_|REKEY_\w+)=", l)]
            with open(self.vars, "w") as f:
                f.write("\n".join(new) + "\n")
        return p


def unit_commands():
    """ExecStartPre and ExecStart of handler/rekey.service, as argv lists."""
    pre, start = None, None
    with open(UNIT) as f:
        for line in f:
            line = line.strip()
            if line.startswith("ExecStartPre="):
                pre = line[len("ExecStartPre="):]
            elif line.startswith("ExecStart="):
                start = line[len("ExecStart="):]
    return pre, start


def wait_url(url, ctx, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, context=ctx, timeout=2) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def wait_port(port, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def daemon_story(tmp, fakes):
    """What a failed doctor or status needs beside its output: the daemon's log
    lines of warn and above, and Graph's validation handshakes."""
    out = "\n--- rekey.log, warn and above:\n"
    try:
        with open(os.path.join(tmp, "rekey.log")) as f:
            out += "".join(l for l in f if '"level":"info"' not in l and '"level":"debug"' not in l)[-4000:]
    except OSError as e:
        out += str(e)
    if fakes is not None:
        try:
            out += "\n--- Graph's validation handshakes: %r" % fakes.validations()
        except Exception as e:  # the story must not hide the failure it tells
            out += "\n--- Graph's validation handshakes: %s" % e
    return out


def expected_lines(text_block, rewrite):
    return [rewrite(l) for l in text_block.strip().splitlines() if l.strip()]


def main():
    t = Tap()
    with open(GUIDE) as f:
        text = f.read()
    all_blocks = blocks(text)
    sh = [b for b in all_blocks if b[0] != "text"]
    unmarked = [b[3] for b in sh if b[0] is None]
    t.eq(unmarked, [], "every shell block of the guide is marked tested or not tested "
         "(lines of those that are not)")
    tested = [b for b in sh if b[0] == "test"]
    names = [b[1] for b in tested]
    want = ["directories", "rotator-certificate", "generated-secrets", "given-secrets",
            "config", "check", "nginx", "register", "doctor", "status"]
    t.eq(names, want, "the guide's tested blocks, in order")
    check_az(t, [b[2] for b in sh if b[0] == "not tested"])

    tmp = tempfile.mkdtemp(prefix="rekey-guide-")
    os.chmod(tmp, 0o755)
    certs = make_certs(os.path.join(tmp, "certs"))
    rekey_port, nginx_port = free_port(), free_port()
    g = Guide(tmp, rekey_port, nginx_port)
    host = "127.0.0.1:%d" % nginx_port
    fakes = sinks = daemon = nginx = None
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(REKEY_BIN) + os.pathsep + env.get("PATH", "")
    try:
        sinks = Sinks().start(certs, smtp_auth=(SMTP_USER, SMTP_PASS))
        g.set(HOST=host, OWNERS="ops@example.com", NYLAS_APP_ID="nylas-app-1",
              NYLAS_CLIENT_ID=TARGET, TENANT_ID=TENANT, ROTATOR_APP_ID=ROTATOR,
              NYLAS_API_KEY=API_KEY, CURRENT_SECRET=CURRENT, SMTP_PASSWORD=SMTP_PASS,
              SMTP_URL=sinks.smtp_url, SMTP_FROM="rekey@example.com", SMTP_USER=SMTP_USER)
        # What systemd's StateDirectory= and the nginx package provide.
        for d, mode in (("etc", 0o755), ("var/lib", 0o755), ("nginx", 0o755),
                        ("nginx/tmp", 0o777), ("nginx/log", 0o755)):
            os.makedirs(os.path.join(tmp, d), exist_ok=True)
            os.chmod(os.path.join(tmp, d), mode)
        outputs = {}
        for mark, name, body, line in tested:
            run_body = g.rewrite(body)
            left = g.system_paths(run_body)
            t.eq(left, [], "%s (line %d): no system path left after the rewrites" % (name, line))
            if left:
                break
            if name == "nginx":
                # What certbot would have put there.
                live = os.path.join(tmp, "letsencrypt", "live", host)
                os.makedirs(live)
                shutil.copy(os.path.join(certs, "server.crt"), os.path.join(live, "fullchain.pem"))
                shutil.copy(os.path.join(certs, "server.key"), os.path.join(live, "privkey.pem"))
            if name in ("doctor", "status"):
                # Both say what the running daemon has done: its first expiry poll, the
                # Graph subscription, the webhook; give it the seconds that takes.  A
                # subscription Graph could not validate is tried again 30 s later
                # (SUB_RETRY_FIRST_S), and the sanitizer build is slow: 75 s.
                p = None
                deadline = time.time() + 75
                while time.time() < deadline:
                    p = g.run(run_body, env)
                    if p.returncode == 0:
                        break
                    time.sleep(1)
            else:
                p = g.run(run_body, env)
            outputs[name] = p
            t.eq(p.returncode, 0, "%s (line %d): exits 0" % (name, line),
                 p.stdout + p.stderr + (daemon_story(tmp, fakes) if p.returncode else ""))
            if p.returncode != 0:
                break
            if name == "config":
                # The config holds the system paths too (as an operator's would): relocated
                # like the commands, so that rekey finds the files the blocks made.
                conf = os.path.join(tmp, "etc", "rekey", "rekey.conf")
                with open(conf) as f:
                    relocated = g.rewrite(f.read())
                with open(conf, "w") as f:
                    f.write(relocated)
            if name == "rotator-certificate":
                state_ = state()
                state_["tenants"][TENANT]["apps"][ROTATOR]["certificates"] = [
                    os.path.join(tmp, "etc/rekey/secrets/prod/rotator.crt")]
                fakes = Fakes().start(certs, state_)
                env.update({"REKEY_APP_PROD_AZURE_LOGIN_BASE": fakes.login_base,
                            "REKEY_APP_PROD_GRAPH_BASE": fakes.graph_base,
                            "REKEY_APP_PROD_NYLAS_API_BASE": fakes.nylas_base,
                            "REKEY_OUTBOUND_CA_FILE": os.path.join(certs, "ca.crt")})
            if name == "nginx":
                conf = os.path.join(tmp, "nginx", "nginx.conf")
                nginx = subprocess.Popen([NGINX, "-c", conf, "-p", tmp + "/nginx/", "-e",
                                          os.path.join(tmp, "nginx", "log", "error.log"),
                                          "-g", "daemon off;"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                # The daemon's first Graph subscription is validated through nginx: it
                # listens first, as on a host where it already runs.  (Else the first
                # try fails and the next is 30 s later.)
                t.ok(wait_port(nginx_port), "nginx listens on %d" % nginx_port)
                daemon = start_daemon(t, g, env, tmp)
                ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.crt"))
                t.ok(wait_url("https://%s/healthz" % host, ctx),
                     "rekey answers /healthz through the guide's nginx")
        check_outputs(t, g, all_blocks, outputs, fakes, tmp, host)
    finally:
        for proc in (daemon, nginx):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        if daemon is not None:
            t.eq(daemon.returncode, 0, "rekey stopped cleanly",
                 open(os.path.join(tmp, "rekey.log")).read()[-3000:])
        for f in (fakes, sinks):
            if f is not None:
                f.stop()
        if os.environ.get("KEEP_TEST_DIRS"):
            print("# kept %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    t.done()


def start_daemon(t, g, env, tmp):
    """The unit's ExecStartPre, then its ExecStart, as systemd runs them."""
    pre, start = unit_commands()
    t.eq(pre, "/usr/local/bin/rekey check -c /etc/rekey/rekey.conf",
         "rekey.service: ExecStartPre runs rekey check on the config")
    p = subprocess.run(shlex.split(g.rewrite(pre)), env=env, capture_output=True, text=True,
                       timeout=60)
    t.eq(p.returncode, 0, "rekey.service: its ExecStartPre passes on the guide's config",
         p.stdout + p.stderr)
    log = open(os.path.join(tmp, "rekey.log"), "ab")
    return subprocess.Popen(shlex.split(g.rewrite(start)), env=env, stdout=log, stderr=log)


def doctor_checks(out):
    """{"prod check" or "check": its worst level} of rekey doctor's text lines."""
    order = {"ok": 0, "warn": 1, "FAIL": 2}
    got = {}
    for line in out.splitlines():
        w = line.split()
        if len(w) >= 2 and w[0] in order:
            key = (" ".join(w[1:3]) if w[1] == "prod" else w[1]).rstrip(":")
            if order[w[0]] >= order.get(got.get(key), 0):
                got[key] = w[0]
    return got


def check_outputs(t, g, all_blocks, outputs, fakes, tmp, host):
    """The good answers the guide shows, against what the commands printed."""
    texts = [b for b in all_blocks if b[0] == "text"]
    check_text = [b for b in texts if "ok: 1 app" in b[2]]
    p = outputs.get("check")
    if check_text and p is not None:
        want = expected_lines(check_text[0][2], g.rewrite)
        t.eq(p.stdout.strip().splitlines(), want, "rekey check prints the guide's good answer",
             p.stderr)
    doc_text = [b for b in texts if "rotator_signin" in b[2]]
    p = outputs.get("doctor")
    if doc_text and p is not None:
        got = doctor_checks(p.stdout)
        want = sorted(doctor_checks(doc_text[0][2]))
        t.eq([k for k in want if got.get(k) != "ok"], [],
             "rekey doctor: every check the guide shows is ok", p.stdout)
        t.eq([k for k, v in got.items() if v != "ok"], [], "rekey doctor: no warn or FAIL line",
             p.stdout)
        t.eq(sorted(got), want, "rekey doctor: the guide shows every check it made",
             p.stdout)
    p = outputs.get("status")
    if p is not None:
        t.ok(re.search(r"^health: ok\b", p.stdout, re.M) is not None,
             "rekey status: health: ok, as the guide says", p.stdout)
    p = outputs.get("register")
    if p is not None and fakes is not None:
        hooks = fakes.state()["nylas"].get("webhooks") or {}
        urls = [h.get("webhook_url") for h in hooks.values()]
        t.eq(urls, ["https://%s/webhooks/nylas/prod" % host],
             "rekey nylas register: the fake Nylas holds the destination at public_url")
    modes = {}
    for rel in ("etc/rekey/secrets/master_key", "etc/rekey/secrets/admin_token",
                "etc/rekey/secrets/smtp_password", "etc/rekey/secrets/prod/rotator.key",
                "etc/rekey/secrets/prod/nylas_api_key",
                "etc/rekey/secrets/prod/nylas_webhook_secret",
                "etc/rekey/secrets/prod/graph_client_state",
                "etc/rekey/secrets/prod/current_secret"):
        path = os.path.join(tmp, rel)
        modes[rel] = oct(os.stat(path).st_mode & 0o777) if os.path.exists(path) else None
    t.eq(sorted(set(modes.values())), ["0o640"], "every secret file is mode 0640", modes)


if __name__ == "__main__":
    main()
