"""A throwaway PostgreSQL cluster for the tests: initdb into a private
directory, pg_ctl start on a free port of 127.0.0.1 with its unix socket in
that directory, a database (and its owner, with a password over TCP) per
daemon, and everything stopped and removed at exit.

The cluster runs as an unprivileged user (PostgreSQL refuses root): the
`postgres` system user when the tests run as root, else the tests' own user.
Local socket connections are trusted (the tests' own psql); TCP connections
from 127.0.0.1 need the password (scram-sha-256), so that rekey's
`[store] password_file` is exercised.  `synchronous_commit = on` always, and
`fsync = on` unless a test that is not about crash durability asks for speed
(Cluster(fsync=False)).

Cleanup also happens when the test is killed (SIGKILL included): a reaper
process in its own session waits on a pipe from the test, and when that pipe
closes it stops the cluster (immediate mode) and removes the directory.

Rows are read and written with psql (--csv), so only the standard library
is needed: PgConn mimics the few sqlite3 calls the tests make (execute with
? parameters, fetchone, fetchall, iteration, "with" blocks).

From a shell (tests/run.sh): `python3 tests/lib/pg.py run -- CMD ARGS...`
starts a cluster, creates one database, runs CMD with REKEY_TEST_STORE_URL
(the URL, no password in it), REKEY_TEST_PG_PASSWORD_FILE (rekey's
password_file: the password on one line), PGPASSFILE (libpq's format) and
REKEY_TEST_PG_SOCKET_URL (a superuser URL over the unix socket, for psql)
set, and exits with its status.  `python3 tests/lib/pg.py serve DIR` (the
benchmark) starts a cluster and a database, writes DIR/url, DIR/pg_password,
DIR/pgpass and DIR/socket_url (the last, when all are there), and keeps
them until it gets SIGTERM or SIGINT."""

import atexit
import csv
import glob
import io
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from rekeytest import free_port  # noqa: E402

PG_USER = "rekey"


def pg_bin(name):
    """The path of a PostgreSQL server program (the newest installed version)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/" + name),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if not found:
        raise RuntimeError("no %s in /usr/lib/postgresql/*/bin: install the Debian package "
                           "postgresql (apt-get install -y postgresql)" % name)
    return found[-1]


def available():
    try:
        pg_bin("initdb")
        return shutil.which("psql") is not None
    except RuntimeError:
        return False


def _quote(v):
    """v as an SQL literal (psql has no bind parameters on the command line)."""
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (bytes, bytearray)):
        return "'\\x%s'::bytea" % bytes(v).hex()
    return "'" + str(v).replace("'", "''") + "'"


def bind(sql, args=()):
    """sql with each ? (outside quotes) replaced by the next argument, quoted."""
    out, it, quoted = [], iter(args), False
    for ch in sql:
        if ch == "'":
            quoted = not quoted
        if ch == "?" and not quoted:
            out.append(_quote(next(it)))
        else:
            out.append(ch)
    return "".join(out)


def _value(text):
    """A CSV field from psql as Python: integers as int, bytea (\\x...) as
    bytes (as sqlite3 gives BLOBs), the rest as str."""
    if text == "":
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    if text.startswith("\\x"):
        try:
            return bytes.fromhex(text[2:])
        except ValueError:
            return text
    return text


class Row(dict):
    """A dict that also answers row[0] like sqlite3.Row."""

    def __init__(self, cols, vals):
        super().__init__(zip(cols, vals))
        self._vals = vals

    def __getitem__(self, k):
        if isinstance(k, int):
            return self._vals[k]
        return super().__getitem__(k)


class Cursor:
    def __init__(self, rows):
        self.rows = rows

    def fetchone(self):
        return self.rows[0] if self.rows else None

    def fetchall(self):
        return self.rows

    def __iter__(self):
        return iter(self.rows)


class PgConn:
    """The few sqlite3.Connection calls the tests make, over psql.  Each
    execute is its own transaction (autocommit), as the tests use them."""

    def __init__(self, cluster, dbname):
        self.cluster = cluster
        self.dbname = dbname

    def execute(self, sql, args=()):
        return Cursor(self.cluster.query(bind(sql, args), self.dbname))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def close(self):
        pass


class Cluster:
    """One PostgreSQL cluster, started at construction."""

    def __init__(self, fsync=True):
        self.dir = tempfile.mkdtemp(prefix="rekey-pg-")
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "postgres.log")
        self.port = free_port()
        self.fsync = fsync
        self.running = False
        self.dbs = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
            os.chown(self.dir, self.uid, self.gid)
        else:
            self.uid, self.gid = None, None
        os.chmod(self.dir, 0o755)
        self._reaper = None
        atexit.register(self.cleanup)
        self._start_reaper()
        self._initdb()
        self.start()

    # --- the server ---
    def _run(self, argv, **kw):
        """Runs a server program as the cluster's user."""
        if self.uid is not None:
            kw.setdefault("user", self.uid)
            kw.setdefault("group", self.gid)
            kw.setdefault("extra_groups", [])
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
        if r.returncode != 0:
            raise RuntimeError("%s exited %d:\n%s" % (" ".join(argv), r.returncode,
                                                      r.stdout.decode(errors="replace")))
        return r

    def _initdb(self):
        # --no-sync: the cluster is new and thrown away; a crash of the machine
        # during initdb is not what any test is about.  Commits later are fsynced.
        self._run([pg_bin("initdb"), "-D", self.data, "-A", "trust", "-U", "postgres",
                   "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"])
        conf = [
            "listen_addresses = '127.0.0.1'",
            "port = %d" % self.port,
            "unix_socket_directories = '%s'" % self.dir,
            "synchronous_commit = on",
            "fsync = %s" % ("on" if self.fsync else "off"),
            "max_connections = 100",
            "shared_buffers = 32MB",
            "password_encryption = 'scram-sha-256'",
            "logging_collector = off",
            "log_min_messages = warning",
        ]
        # Measuring (tests/bench): more server settings, one per line, e.g.
        # "log_min_duration_statement = 0" or "shared_preload_libraries = 'pg_stat_statements'".
        conf += [line for line in os.environ.get("REKEY_TEST_PG_CONF", "").splitlines()
                 if line.strip()]
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("\n".join(conf) + "\n")
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write("local all all trust\n"
                    "host all all 127.0.0.1/32 scram-sha-256\n")

    def start(self):
        """Starts (or starts again) the server; waits until it takes connections.

        The port was free when chosen, but tests run side by side: another may
        have bound it since.  Then the server is started again on another port
        (a later "port =" line in postgresql.conf wins); any other failure is
        raised with the server's own log."""
        for attempt in range(5):
            try:
                self._run([pg_bin("pg_ctl"), "start", "-w", "-t", "30", "-D", self.data,
                           "-l", self.log_path, "-o", "-k %s" % self.dir])
                self.running = True
                return
            except RuntimeError as e:
                log = self.server_log()[-3000:]
                if "Address already in use" not in log or attempt == 4:
                    raise RuntimeError("%s\nserver log:\n%s" % (e, log)) from None
                self.port = free_port()
                with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
                    f.write("port = %d\n" % self.port)

    def server_log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, mode="fast"):
        """Stops the server (mode: smart, fast, immediate); its data stays."""
        if self.running:
            self._run([pg_bin("pg_ctl"), "stop", "-w", "-t", "30", "-D", self.data,
                       "-m", mode])
            self.running = False

    def _start_reaper(self):
        """A process in its own session that stops the cluster and removes its
        directory once this process is gone, however it went."""
        self._reaper = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "reap", self.data, self.dir],
            stdin=subprocess.PIPE, start_new_session=True)

    def cleanup(self):
        if self._reaper is None:
            return
        try:
            self.stop("immediate")
        except Exception:
            pass
        if os.environ.get("KEEP_TEST_DIRS") is None:
            shutil.rmtree(self.dir, ignore_errors=True)
        try:
            self._reaper.stdin.close()
            self._reaper.wait(30)
        except Exception:
            pass
        self._reaper = None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    # --- SQL ---
    def socket_url(self, dbname="postgres"):
        """A superuser URL over the unix socket (trusted): for the tests' own reads."""
        return "postgresql://postgres@/%s?host=%s&port=%d" % (dbname, self.dir, self.port)

    def query(self, sql, dbname="postgres"):
        """Runs sql with psql as the superuser; the rows of its last statement as Rows."""
        r = subprocess.run(["psql", "-X", "-q", "--csv", "-v", "ON_ERROR_STOP=1",
                            "-d", self.socket_url(dbname), "-c", sql],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if r.returncode != 0:
            raise RuntimeError("psql: %s\n%s" % (r.stderr.decode(errors="replace").strip(), sql))
        text = r.stdout.decode("utf-8", "replace")
        if not text.strip():
            return []
        lines = list(csv.reader(io.StringIO(text)))
        cols = lines[0]
        return [Row(cols, [_value(v) for v in vals]) for vals in lines[1:]]

    def create_db(self, directory, name=None):
        """A new database owned by the user rekey (made with a fresh password the
        first time).  Writes the password to DIRECTORY/pg_password (rekey's
        password_file, mode 600) and DIRECTORY/pgpass (libpq's format); returns
        (url, password_file, pgpass_file).  The URL holds no password."""
        name = name or "rekey_" + uuid.uuid4().hex[:10]
        if not hasattr(self, "password"):
            self.password = "pw-" + uuid.uuid4().hex
            self.query("CREATE ROLE %s LOGIN PASSWORD %s" % (PG_USER, _quote(self.password)))
        self.query("CREATE DATABASE %s OWNER %s" % (name, PG_USER))
        self.dbs.append(name)
        pw_file = os.path.join(directory, "pg_password")
        with open(pw_file, "w") as f:
            f.write(self.password + "\n")
        os.chmod(pw_file, 0o600)
        pgpass = os.path.join(directory, "pgpass")
        with open(pgpass, "w") as f:
            f.write("127.0.0.1:%d:%s:%s:%s\n" % (self.port, name, PG_USER, self.password))
        os.chmod(pgpass, 0o600)
        url = "postgresql://%s@127.0.0.1:%d/%s?sslmode=disable" % (PG_USER, self.port, name)
        return url, pw_file, pgpass

    def conn(self, dbname):
        return PgConn(self, dbname)


_shared = None


def shared_cluster(fsync=True):
    """One cluster per test process (each daemon gets its own database)."""
    global _shared
    if _shared is None:
        _shared = Cluster(fsync=fsync)
    return _shared


def _reap(data, directory):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        sys.stdin.buffer.read()
    except Exception:
        pass
    if os.path.exists(os.path.join(data, "postmaster.pid")):
        argv = [pg_bin("pg_ctl"), "stop", "-w", "-t", "30", "-D", data, "-m", "immediate"]
        kw = {}
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            kw = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    if os.environ.get("KEEP_TEST_DIRS") is None:
        shutil.rmtree(directory, ignore_errors=True)


def _serve(directory):
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    signal.signal(signal.SIGINT, lambda *a: stop.append(1))
    c = Cluster(fsync=os.environ.get("REKEY_TEST_PG_FSYNC", "on") != "off")
    try:
        url, _, _ = c.create_db(directory)
        with open(os.path.join(directory, "url"), "w") as f:
            f.write(url + "\n")
        with open(os.path.join(directory, "socket_url.tmp"), "w") as f:
            f.write(c.socket_url(url.rsplit("/", 1)[1].split("?")[0]) + "\n")
        os.rename(os.path.join(directory, "socket_url.tmp"), os.path.join(directory, "socket_url"))
        while not stop:
            signal.pause()
    finally:
        c.cleanup()
    return 0


def _main(argv):
    if len(argv) >= 3 and argv[0] == "reap":
        _reap(argv[1], argv[2])
        return 0
    if len(argv) >= 3 and argv[0] == "run" and argv[1] == "--":
        fsync = os.environ.get("REKEY_TEST_PG_FSYNC", "on") != "off"
        c = Cluster(fsync=fsync)
        work = tempfile.mkdtemp(prefix="rekey-pgrun-")
        try:
            url, pw_file, pgpass = c.create_db(work)
            env = dict(os.environ, REKEY_TEST_STORE_URL=url, REKEY_TEST_PG_PASSWORD_FILE=pw_file,
                       PGPASSFILE=pgpass,
                       REKEY_TEST_PG_SOCKET_URL=c.socket_url(url.rsplit("/", 1)[1].split("?")[0]))
            return subprocess.call(argv[2:], env=env)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            c.cleanup()
    if len(argv) == 2 and argv[0] == "serve":
        return _serve(argv[1])
    sys.stderr.write("usage: pg.py run -- CMD [ARGS...] | pg.py serve DIR\n")
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
