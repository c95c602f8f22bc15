"""The Node.js test servers' life cycle, shared by fakes.py (tests/fakes/fake.js)
and sinks.py (tests/fakes/sinks.js): both take --certs DIR --watch-stdin,
print ONE JSON line of ports on stdout and log to stderr.  NodeProcess starts
such a script, reads its ports line, stops it and keeps its log in a private
directory; Response and http_call are the one HTTP client both use.

Only the standard library is used."""

import json
import os
import select
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class Response:
    """One HTTP answer: status, headers (lower-case names), body bytes."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8")) if self.body else None

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<Response %d %s>" % (self.status, self.body[:300])


def http_call(url, method, body=None, headers=None, timeout=30, context=None):
    """Sends one request; body may be bytes, str or JSON-able.  Returns a
    Response for every HTTP status; network errors raise."""
    data = body
    h = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        data = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    if isinstance(data, str):
        data = data.encode("utf-8")
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=timeout, context=context) as r:
            return Response(r.status, _lower(r.headers), r.read())
    except urllib.error.HTTPError as e:
        return Response(e.code, _lower(e.headers), e.read())


class NodeProcess:
    """One Node.js test server process.  A subclass names its script (SCRIPT),
    the keys of its ports line (PORTS), its temporary directory's prefix
    (DIR_PREFIX), its log file (LOG_NAME) and the exception it raises (ERROR).
    start() is the subclass's: it calls _open(), then _launch()."""

    SCRIPT = None
    PORTS = ()
    DIR_PREFIX = "rekey-node-"
    LOG_NAME = "node.log"
    ERROR = RuntimeError

    def __init__(self, node=None):
        self.node = node or shutil.which("node") or "node"
        self.proc = None
        self.ports = None
        self.certs = None
        self.dir = None
        self.log_path = None
        self._log = None

    # --- life cycle ---
    def _open(self, certs_dir):
        """Makes the private directory (for the log and any input files)."""
        self.certs = os.path.abspath(certs_dir)
        self.dir = tempfile.mkdtemp(prefix=self.DIR_PREFIX)
        self.log_path = os.path.join(self.dir, self.LOG_NAME)
        self._log = open(self.log_path, "wb")

    def _launch(self, extra_args, timeout):
        """Starts the script and reads its ports; when it does not come up,
        stops it and raises ERROR with its log."""
        args = [self.node, self.SCRIPT, "--certs", self.certs, "--watch-stdin"] + list(extra_args)
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._log)
        try:
            self.ports = self._read_ports(timeout)
        except Exception:
            self.stop()
            raise

    def _read_ports(self, timeout):
        name = os.path.basename(self.SCRIPT)
        deadline = time.time() + timeout
        line = b""
        while not line.endswith(b"\n"):
            if self.proc.poll() is not None:
                raise self.ERROR("%s exited %d:\n%s" % (name, self.proc.returncode, self.log_text()))
            left = deadline - time.time()
            if left <= 0:
                raise self.ERROR("%s did not start within %ds:\n%s" % (name, timeout, self.log_text()))
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 0.2))
            if ready:
                line += os.read(self.proc.stdout.fileno(), 4096)
        ports = json.loads(line.decode())
        if set(ports) != set(self.PORTS):
            raise self.ERROR("unexpected ports line: %r" % line)
        return ports

    def stop(self):
        """Stops the process and waits for it; safe to call twice."""
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            if self.proc.poll() is None:
                self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.dir and os.environ.get("KEEP_TEST_DIRS") is None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except (OSError, TypeError):
            return ""


def _lower(headers):
    return dict((k.lower(), v) for k, v in headers.items())
