"""A daemon and the fakes set up for the managed Nylas webhook destination
(tests of rekey nylas register / rotate-webhook-secret): a fixed port, so
that public_url points at the daemon and Nylas's challenge reaches it."""

import subprocess

from rekeytest import REKEY_BIN, Daemon, free_port
from rotationlib import Rig, state

TRIGGERS = ["grant.created", "grant.updated", "grant.deleted", "grant.expired"]
GRACE_S = 3


def make_rig(app_lines=()):
    rig = Rig(seed=state())
    port = free_port()
    d = rig.d
    plain = Daemon.write_config

    def write_config(listen="127.0.0.1:0", more=""):
        plain(d, "127.0.0.1:%d" % port, more)
    d.write_config = write_config
    d.extra_server = "public_url = https://127.0.0.1:%d" % port
    rig.configure(["graph_subscribe_users = no", "owners = ops@example.com",
                   "nylas_webhook_secret_grace = %ds" % GRACE_S] + list(app_lines))
    rig.url = "https://127.0.0.1:%d/webhooks/nylas/prod" % port
    return rig


def cli(rig, sub, *args):
    """rekey nylas SUB -c CONF ARGS...: (exit code, stdout, stderr)."""
    p = subprocess.run([REKEY_BIN, "nylas", sub, "-c", rig.d.conf_path] + list(args),
                       capture_output=True, text=True, timeout=150)
    return p.returncode, p.stdout, p.stderr


def webhooks(rig):
    """The destinations as the fake Nylas holds them (with their secrets)."""
    return rig.fakes.state()["nylas"]["webhooks"]


def deliver(rig, wid, **kw):
    """One grant event the fake Nylas signs with the destination's current secret."""
    return rig.fakes.deliver_nylas(webhook_id=wid, type_="grant.updated",
                                   object_={"grant_id": "g-1", "provider": "microsoft"}, **kw)
