"""A write beside the events that the store refuses fails alone.  A trigger
planted in the store (as a broken schema or a bug would) makes every Graph
event's result write fail; meanwhile:
- Nylas webhooks are still answered 200 and stored, although the refused
  writes share their group commits (the journal writes such a batch again
  without the refused op, and counts it in rekey_store_writes_undone_total);
- the Graph worker backs off instead of trying again in a loop (a handful of
  warnings, not hundreds);
- once the trigger is gone, the worker settles the Graph event by itself."""

import json
import os
import re
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import Daemon, Tap, envelope, wait_for, write_secret  # noqa: E402

CLIENT_STATE = "cs-" + uuid.uuid4().hex
SUB = "7f105c7d-2dc5-4530-97cd-4e7ae6534c07"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
REFUSE = ("CREATE TRIGGER refuse_graph_results BEFORE UPDATE OF processed_at ON events"
          " WHEN NEW.source = 'graph' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END")
# How long the store refuses; the worker's backoff starts at 2 s and doubles.
REFUSING_S = 8
WARNING = "could not store its result"


def notification():
    user_id = str(uuid.uuid4())
    return {"value": [{"id": str(uuid.uuid4()), "subscriptionId": SUB,
                       "subscriptionExpirationDateTime": "2026-12-20T00:00:00Z",
                       "clientState": CLIENT_STATE, "changeType": "updated",
                       "resource": "Users/" + user_id, "tenantId": TENANT,
                       "resourceData": {"@odata.type": "#Microsoft.Graph.User",
                                        "@odata.id": "Users/" + user_id, "id": user_id}}]}


t = Tap()
d = Daemon()
try:
    write_secret(os.path.join(d.dir, "secrets", "client_state"), CLIENT_STATE + "\n")
    d.write_config(more="graph_client_state_file = %s/secrets/client_state" % d.dir)
    d.start()
    with d.db() as c:
        c.execute(REFUSE)
    st, _, _ = d.request("POST", "/webhooks/graph/prod", json.dumps(notification()).encode(),
                         {"Content-Type": "application/json"})
    t.eq(st, 202, "a Graph notification is journaled while its result cannot be stored")

    # Nylas webhooks all along from 4 senders, so that the batches that carry
    # the refused writes carry webhooks too.
    statuses = []
    end = time.time() + REFUSING_S

    def sender(k):
        i = 0
        while time.time() < end:
            statuses.append(d.post_nylas(envelope(type_="grant.created", id_="nylas-%d-%d" % (k, i)))[0])
            i += 1

    senders = [threading.Thread(target=sender, args=(k,)) for k in range(4)]
    for th in senders:
        th.start()
    for th in senders:
        th.join()
    n = len(statuses)
    t.eq(sorted(set(statuses)), [200], "every Nylas webhook is answered 200 meanwhile (%d)" % n)
    t.eq(len(d.events("source = 'nylas'")), n, "and every one is stored")
    undone = d.metric("rekey_store_writes_undone_total") or 0
    t.ok(undone >= 1, "rekey_store_writes_undone_total counts the refused writes (%d)" % undone)
    log = d.log_text()
    tries = log.count(WARNING)
    t.ok(1 <= tries <= 5, "the worker backs off: %d tries in %d s, not a loop" % (tries, REFUSING_S),
         "\n".join(line for line in log.splitlines() if WARNING in line))
    waits = [int(w) for w in re.findall(WARNING + r"; it will be looked at again in (\d+) s", log)]
    t.ok(waits[:3] == [2, 4, 8][:len(waits[:3])], "its waits double from 2 s: %s" % waits)
    t.eq([e["processed_at"] for e in d.events("source = 'graph'")], [None],
         "the Graph event stays unprocessed while the store refuses")

    with d.db() as c:
        c.execute("DROP TRIGGER refuse_graph_results")
    done = wait_for(lambda: [e["result"] for e in d.events("source = 'graph'")
                             if e["processed_at"] is not None], timeout=30)
    t.eq(done, ["no_graph_client"], "once the store takes it again, the worker settles the event")
    t.eq(d.stop(), 0, "the daemon stops cleanly")
finally:
    d.cleanup()
t.done()
