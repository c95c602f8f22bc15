"""The election (src/state/leader.c) against a throwaway PostgreSQL cluster,
replicas played by tests/integration/leader_driver.c: one leader at a time,
the epoch bumped at each takeover, a kill -9 or a stop (SIGSTOP) of the
leader handing over to another, the stopped one stepping down when it wakes
(its lease gone at once, its session ended by the server), NOTIFY
rekey_events waking only the leader's engines, and SQLite leading alone.

The leadership table is made here by hand (the raw cluster), as the store's
schema makes it, so that the election is tested apart from the store."""

import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import REKEY_BIN, Tap  # noqa: E402
import pg  # noqa: E402

DRIVER = os.path.join(os.path.dirname(REKEY_BIN), "tests", "leader_driver")


class Replica:
    """One leader_driver; its stdout lines are read by a thread into a queue."""

    def __init__(self, url, pw_file, node):
        self.node = node
        self.p = subprocess.Popen([DRIVER, url, pw_file, node], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  bufsize=1)
        self.lines = queue.Queue()
        self.seen = []
        self.err = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._read_err, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.strip())

    def _read_err(self):
        for line in self.p.stderr:
            self.err.append(line)

    def wait_line(self, prefix, timeout):
        """The first line starting with prefix within timeout (others are kept), else None."""
        end = time.time() + timeout
        while True:
            for i, line in enumerate(self.seen):
                if line.startswith(prefix):
                    del self.seen[i]
                    return line
            left = end - time.time()
            if left <= 0:
                return None
            try:
                self.seen.append(self.lines.get(timeout=left))
            except queue.Empty:
                return None

    def ask(self, cmd, timeout=5):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        return self.wait_line(cmd.split()[0] + " ", timeout)

    def close(self):
        try:
            self.p.stdin.close()
        except Exception:
            pass
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()

    def kill(self, sig=signal.SIGKILL):
        self.p.send_signal(sig)


def main():
    t = Tap()
    if not pg.available():
        t.ok(False, "PostgreSQL is installed (apt-get install -y postgresql)")
        t.done()
    cluster = pg.Cluster(fsync=False)
    work = tempfile.mkdtemp(prefix="rekey-leader-")
    url, pw_file, _ = cluster.create_db(work)
    db = url.rsplit("/", 1)[1].split("?")[0]
    cluster.query("CREATE TABLE leadership (id integer PRIMARY KEY CHECK (id = 1), "
                  "epoch bigint NOT NULL, node text, since_ms bigint); "
                  "INSERT INTO leadership (id, epoch) VALUES (1, 0); "
                  "ALTER TABLE leadership OWNER TO rekey", db)
    reps = []

    def start(node):
        r = Replica(url, pw_file, node)
        reps.append(r)
        return r

    try:
        a = start("node-a")
        t.eq(a.wait_line("lead ", 10), "lead 1", "the first replica leads, epoch 1")
        t.eq(a.ask("active"), "active 1", "its lease is fresh (leader_active)")
        b = start("node-b")
        time.sleep(2.5)
        t.eq(b.wait_line("lead ", 0.1), None, "a second replica does not lead while the first does")
        t.eq(b.ask("active"), "active 0", "the follower's leader_active is 0")
        info = b.ask("info")
        t.ok(info is not None and info.startswith("info 1 node-a "),
             "the follower reads who leads from the row", info)
        t.eq(b.ask("read"), "read 1 1 node-a", "leader_read (the CLI's) names the leader")
        row = cluster.query("SELECT epoch, node, since_ms FROM leadership", db)[0]
        t.ok(row["epoch"] == 1 and row["node"] == "node-a" and
             abs(row["since_ms"] / 1000 - time.time()) < 30,
             "the row holds epoch, node and since", row)

        cluster.query("NOTIFY rekey_events, 'nylas'", db)
        t.eq(a.wait_line("wake ", 5), "wake nylas", "NOTIFY rekey_events 'nylas' wakes the leader's correlator")
        cluster.query("NOTIFY rekey_events, 'graph'", db)
        t.eq(a.wait_line("wake ", 5), "wake graph", "NOTIFY 'graph' wakes the Graph worker")
        t.eq(b.wait_line("wake ", 1), None, "a follower wakes no engine")

        t0 = time.time()
        a.kill(signal.SIGKILL)
        got = b.wait_line("lead ", 10)
        took = time.time() - t0
        t.eq(got, "lead 2", "kill -9 of the leader: the follower takes over with epoch 2")
        print("# kill -9 -> new leader: %.2f s" % took)
        t.ok(took < 3.5, "within a heartbeat or two of the kill (%.2f s)" % took)

        c = start("node-c")
        time.sleep(1.5)
        t.eq(c.wait_line("lead ", 0.1), None, "a new replica follows")
        t0 = time.time()
        b.kill(signal.SIGSTOP)
        got = c.wait_line("lead ", 15)
        took = time.time() - t0
        t.eq(got, "lead 3", "SIGSTOP of the leader: another takes over with epoch 3")
        print("# SIGSTOP -> new leader: %.2f s (idle_session_timeout %d ms)" % (took, 5000))
        t.ok(4 <= took < 9, "after the server ended the stopped leader's session (%.2f s)" % took)
        b.kill(signal.SIGCONT)
        t.eq(b.wait_line("lost ", 5), "lost 2", "the stopped leader, woken, steps down (lost 2)")
        t.eq(b.ask("active"), "active 0", "and its lease is gone")
        t.eq(b.wait_line("lead ", 2), None, "it does not lead again while another does")
        t.eq(c.ask("active"), "active 1", "the new leader's lease is fresh")

        t0 = time.time()
        c.close()
        got = b.wait_line("lead ", 10)
        took = time.time() - t0
        t.eq(got, "lead 4", "a leader that stops cleanly hands over at once (epoch 4)")
        t.ok(took < 3, "within a heartbeat or two (%.2f s)" % took)
        t.eq(cluster.query("SELECT epoch, node FROM leadership", db)[0]["node"], "node-b",
             "the row names the new leader")

        s = Replica("sqlite:" + os.path.join(work, "x.db"), "-", "solo")
        reps.append(s)
        t.eq(s.wait_line("lead ", 5), "lead 0", "SQLite: this process leads alone, epoch 0")
        t.eq(s.ask("active"), "active 1", "and its lease never ends")
        t.eq(s.ask("read"), "read 0 0 -", "leader_read: no leadership in a SQLite store")
        for r in reps:
            r.close()
        t.ok(all(r.p.returncode == 0 for r in reps if r is not a),
             "every replica ends cleanly", [(r.node, r.p.returncode, "".join(r.err)[-500:])
                                            for r in reps])
    finally:
        for r in reps:
            if r.p.poll() is None:
                r.kill(signal.SIGCONT)
                r.kill(signal.SIGKILL)
        cluster.cleanup()
    t.done()


if __name__ == "__main__":
    main()
