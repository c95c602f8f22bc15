"""Graph intake against the real daemon over TLS: the validation handshake on
both URLs, batches with good and bad clientState, duplicates (with and
without ids), bounds, and what the worker does with notifications it can
settle without Graph (lifecycle events; without a Graph client, user
notifications, "deleted" included, which only GET /users/{id} may confirm)."""

import json
import os
import sys
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from rekeytest import Daemon, Tap, write_secret, wait_for  # noqa: E402

CLIENT_STATE = "cs-" + uuid.uuid4().hex
SUB = "7f105c7d-2dc5-4530-97cd-4e7ae6534c07"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


def item(user_id=None, change="updated", client_state=CLIENT_STATE, id_=None):
    user_id = user_id or str(uuid.uuid4())
    return {"id": id_ or str(uuid.uuid4()), "subscriptionId": SUB,
            "subscriptionExpirationDateTime": "2026-12-20T00:00:00Z",
            "clientState": client_state, "changeType": change,
            "resource": "Users/" + user_id, "tenantId": TENANT,
            "resourceData": {"@odata.type": "#Microsoft.Graph.User",
                             "@odata.id": "Users/" + user_id, "id": user_id}}


def lifecycle(event="reauthorizationRequired", client_state=CLIENT_STATE):
    return {"subscriptionId": SUB, "subscriptionExpirationDateTime": "2026-12-20T00:00:00Z",
            "tenantId": TENANT, "clientState": client_state, "lifecycleEvent": event}


def item_id(key):
    """The item's id in its journal key, "<the batch's name>:<id>"; a lifecycle item's key as it is."""
    return key if key.startswith("sha256:") else key.partition(":")[2]




t = Tap()
d = Daemon(extra_server="max_body = 262144")
try:
    write_secret(os.path.join(d.dir, "secrets", "client_state"), CLIENT_STATE + "\n")
    d.write_config(more="graph_client_state_file = %s/secrets/client_state" % d.dir)
    d.start()

    def post(path, batch, raw=None):
        body = raw if raw is not None else json.dumps(batch).encode()
        return d.request("POST", path, body, {"Content-Type": "application/json"})

    def graph_events(where="1=1", args=()):
        return d.events("source = 'graph' AND " + where, args)

    # The handshake, on both URLs, with the token exactly as decoded.
    cases = [
        ("Validation%3a+Testing+client+application+reachability+for+subscription+Request-Id%3a+"
         "7f105c7d-2dc5-4530-97cd-4e7ae6534c07",
         b"Validation: Testing client application reachability for subscription Request-Id: "
         b"7f105c7d-2dc5-4530-97cd-4e7ae6534c07", "Graph's own example (+ as space)"),
        ("a%20b%2Bc%26d%3De%25f", b"a b+c&d=e%f", "%20, %2B, %26, %3D and %25"),
        ("caf%C3%A9%00x%zz", b"caf\xc3\xa9\x00x%zz", "UTF-8, a NUL byte and a stray %"),
    ]
    for path in ("/webhooks/graph/prod", "/webhooks/graph/prod/lifecycle"):
        for raw, want, name in cases:
            st, h, body = d.request("POST", path + "?validationToken=" + raw, b"",
                                    {"Content-Type": "text/plain"})
            t.eq((st, body), (200, want), "%s: validation echoes %s" % (path, name))
            t.ok(h.get("content-type", "").startswith("text/plain"),
                 "%s: validation answer is text/plain (%s)" % (path, name))
    st, _, body = d.request("GET", "/webhooks/graph/prod?x=1&validationToken=abc")
    t.eq((st, body), (200, b"abc"), "a GET handshake with other parameters first works too")
    st, _, _ = d.request("POST", "/webhooks/graph/prod?validationToken=" + "a" * 5000, b"")
    t.eq(st, 414, "a token longer than 4096 bytes is refused")
    st, _, _ = d.request("POST", "/webhooks/graph/nope?validationToken=abc", b"")
    t.eq(st, 404, "unknown app: 404, even for a handshake")
    st, _, _ = d.request("POST", "/webhooks/graph/prod/other", b"{}")
    t.eq(st, 404, "a path other than /lifecycle under the app is 404")

    # Without the clientState anyone can POST GRAPH_BATCH_MAX items: one warning line
    # per batch (count and subscription), and per app at most one a minute.
    def drop_lines():
        return [l for l in d.log_text().splitlines() if "Graph notification" in l and "dropped" in l]

    flood = {"value": [{"subscriptionId": SUB, "clientState": "guess-%d" % i, "changeType": "updated",
                        "resource": "Users/x"} for i in range(1000)]}
    st, _, _ = post("/webhooks/graph/prod", flood)
    lines = wait_for(drop_lines, 5) or []
    t.ok(st == 202 and len(lines) == 1, "1000 items with a wrong clientState: 202 and one warning line",
         (st, len(lines)))
    t.ok(lines and "dropped 1000 of 1000" in lines[0] and "1000 with a wrong clientState" in lines[0] and
         SUB in lines[0], "the line gives the count and the subscription id", lines[:1])
    st, _, _ = post("/webhooks/graph/prod", flood)
    st2, _, _ = post("/webhooks/graph/prod", {"value": [{"subscriptionId": "s", "changeType": 5}] * 10})
    t.ok(st == 202 and st2 == 202 and len(drop_lines()) == 1,
         "more dropped batches within the minute add no line", len(drop_lines()))
    t.eq(d.metric("rekey_webhooks_total", {"source": "graph", "result": "bad_client_state"}), 2000.0,
         "but every dropped item is counted")
    bad_before = 2000.0

    # A batch: good items stored, a wrong clientState dropped and counted.
    good = [item(), item(change="deleted")]
    bad = item(client_state="not-the-state")
    st, _, body = post("/webhooks/graph/prod", {"value": good + [bad]})
    t.eq(st, 202, "a batch is answered 202")
    keys = [e["event_id"] for e in graph_events()]
    t.eq(sorted(item_id(k) for k in keys), sorted(i["id"] for i in good),
         "the two good items are stored, the bad one is not")
    t.ok(len(set(k.partition(":")[0] for k in keys)) == 1 and len(keys[0].partition(":")[0]) == 16,
         "each keyed by the batch's name (16 hex digits) and its id", keys)
    t.eq(d.metric("rekey_webhooks_total", {"source": "graph", "result": "bad_client_state"}), bad_before + 1,
         "the wrong clientState is counted")
    rec = graph_events("event_id LIKE ?", ("%:" + good[0]["id"],))[0]
    stored = json.loads(rec["body"])
    t.eq(stored, {"value": [good[0]]}, "each item is journaled as a batch of one")
    t.eq((rec["type"], rec["app"], rec["grant_id"]), ("change.updated", "prod", good[0]["resourceData"]["id"]),
         "type and resource id are stored")
    st, _, _ = post("/webhooks/graph/prod", {"value": good})
    t.eq(st, 202, "a redelivered batch is answered 202")
    t.eq(len(graph_events()), 2, "redelivered items are stored once")
    t.eq(d.metric("rekey_webhooks_total", {"source": "graph", "result": "duplicate"}), 2.0,
         "duplicates are counted")
    st, _, _ = post("/webhooks/graph/prod", {"value": [good[1], bad, good[0]]})
    t.eq((st, len(graph_events())), (202, 2), "the same items in another order are stored once")
    # What the batch's name in the key costs: an item sent again with other
    # items is stored again (the worker reads the user again; a change is
    # recorded once, test_graph_worker).
    again = item()
    st, _, _ = post("/webhooks/graph/prod", {"value": [good[0], again]})
    rows = graph_events("event_id LIKE ?", ("%:" + good[0]["id"],))
    t.eq((st, len(rows)), (202, 2), "an item sent again in another batch is stored again")
    with d.db() as c:
        c.execute("DELETE FROM events WHERE source = 'graph' AND (event_id LIKE ? OR event_id LIKE ?)"
                  " AND id > ?", ("%:" + good[0]["id"], "%:" + again["id"], rec["id"]))

    # Every item with a wrong clientState: still 202 (Graph must not retry), nothing stored.
    st, _, _ = post("/webhooks/graph/prod", {"value": [item(client_state=""), item(client_state=CLIENT_STATE + "x")]})
    t.eq((st, len(graph_events())), (202, 2), "an all-bad batch: 202 and nothing stored")
    no_state = item()
    del no_state["clientState"]
    st, _, _ = post("/webhooks/graph/prod", {"value": [no_state]})
    t.eq((st, len(graph_events())), (202, 2), "an item without clientState is dropped")

    # Lifecycle items: no id, deduplicated by content; wrong URL dropped.
    lc = lifecycle()
    st, _, _ = post("/webhooks/graph/prod/lifecycle", {"value": [lc]})
    t.eq(st, 202, "a lifecycle batch is answered 202")
    st, _, _ = post("/webhooks/graph/prod/lifecycle", {"value": [lc]})
    rows = graph_events("type = 'lifecycle.reauthorizationRequired'")
    t.eq(len(rows), 1, "a redelivered lifecycle item (no id) is stored once")
    t.ok(rows and rows[0]["event_id"].startswith("sha256:"), "its key is the digest of its content")
    st, _, _ = post("/webhooks/graph/prod", {"value": [lifecycle("missed")]})
    t.eq((st, len(graph_events("type LIKE 'lifecycle.%'"))), (202, 1),
         "a lifecycle item sent to the change URL is dropped")
    st, _, _ = post("/webhooks/graph/prod/lifecycle", {"value": [item()]})
    t.eq(len(graph_events()), 3, "a change item sent to the lifecycle URL is dropped")

    # Bounds and malformed input.
    st, _, _ = post("/webhooks/graph/prod", None, raw=b"{not json")
    t.eq(st, 400, "bad JSON is 400")
    st, _, _ = post("/webhooks/graph/prod", {"values": []})
    t.eq(st, 400, "no value array is 400")
    st, _, _ = post("/webhooks/graph/prod", {"value": [item()], "validationTokens": [1]})
    t.eq(st, 400, "a token that is not a string is 400")
    small = {"subscriptionId": "s", "clientState": CLIENT_STATE, "changeType": "updated"}
    st, _, _ = post("/webhooks/graph/prod", {"value": [small] * 1001})
    t.eq(st, 413, "a batch of 1001 items is refused with 413")
    st, _, _ = post("/webhooks/graph/prod", {"value": [item() for _ in range(2000)]})
    t.eq(st, 413, "a body over max_body is 413")
    st, _, _ = post("/webhooks/graph/prod", {"value": [{"subscriptionId": ["x"], "clientState": CLIENT_STATE,
                                                        "changeType": "updated"}, "text", 5]})
    t.eq((st, len(graph_events())), (202, 3), "malformed items are dropped, the batch answered")
    t.ok((d.metric("rekey_webhooks_total", {"source": "graph", "result": "invalid"}) or 0) >= 5,
         "malformed and misrouted items are counted as invalid")
    st, _, _ = post("/webhooks/graph/nope", {"value": [item()]})
    t.eq(st, 404, "unknown app is 404")
    st, _, _ = d.request("GET", "/webhooks/graph/prod")
    t.eq(st, 400, "a GET without validationToken is 400")

    # validationTokens: bounded at intake, and stored once per batch, not per item.
    toks = ["eyJ0eXAiOiJKV1QifQ.%s.sig%d" % ("Q" * 3000, i) for i in range(4)]
    batch = [item() for _ in range(40)]
    st, _, _ = post("/webhooks/graph/prod", {"value": batch, "validationTokens": toks})
    t.eq(st, 202, "a batch of 40 items with 4 tokens of 3 KB is answered 202")
    with d.db() as c:
        want = set(i["id"] for i in batch)
        bodies = [r[1] for r in c.execute("SELECT event_id, body FROM events WHERE source = 'graph'")
                  if item_id(r[0]) in want]
        stored = [r[0] for r in c.execute("SELECT tokens FROM graph_tokens")]
    t.ok(len(bodies) == 40 and all(b"QQQQ" not in bytes(b) and len(b) < 2048 for b in bodies),
         "no item's record holds a copy of the tokens", max(len(b) for b in bodies) if bodies else None)
    t.ok(len(stored) == 1 and json.loads(bytes(stored[0])) == toks, "the batch's tokens are stored once")
    st, _, _ = post("/webhooks/graph/prod", {"value": batch, "validationTokens": toks})
    with d.db() as c:
        n = c.execute("SELECT count(*) FROM graph_tokens").fetchone()[0]
    t.eq((st, n), (202, 1), "a redelivery stores them no second time")
    st, _, _ = post("/webhooks/graph/prod", {"value": [item()], "validationTokens": ["a" * 8193]})
    t.eq(st, 400, "a token over 8 KB is refused at intake")
    st, _, _ = post("/webhooks/graph/prod", {"value": [item()], "validationTokens": ["a"] * 17})
    t.eq(st, 400, "so are 17 tokens")
    st, _, _ = post("/webhooks/graph/prod", {"value": [item(client_state="x")], "validationTokens": ["b.c.d"]})
    with d.db() as c:
        n = c.execute("SELECT count(*) FROM graph_tokens").fetchone()[0]
    t.eq((st, n), (202, 1), "a batch with nothing kept stores no tokens")

    # A batch of 100: every item stored, one answer.
    hundred = [item() for _ in range(100)]
    st, _, _ = post("/webhooks/graph/prod", {"value": hundred})
    t.eq((st, len(graph_events())), (202, 143), "a batch of 100 is stored whole")

    # The worker: without a rotator identity it cannot read users, and a
    # "deleted" is only a hint until GET /users/{id} confirms it; a lifecycle
    # event needs no Graph call.
    done = wait_for(lambda: len(graph_events("processed_at IS NULL")) == 0)
    t.ok(done, "the worker processes every journaled notification")
    res = dict((item_id(e["event_id"]), e["result"]) for e in graph_events())
    t.eq(res.get(good[1]["id"]), "no_graph_client", "a 'deleted' that cannot be checked is not evidence")
    t.eq(res.get(good[0]["id"]), "no_graph_client", "an update without a Graph client is recorded as such")
    t.eq(res.get(item_id(rows[0]["event_id"])) if rows else None, "lifecycle",
         "the lifecycle event is handed over")
    with d.db() as c:
        ue = [dict(r) for r in c.execute("SELECT * FROM user_events")]
    t.eq(ue, [], "no user event from notifications alone")
    t.eq(d.metric("rekey_graph_notifications_processed_total", {"result": "lifecycle"}), 1.0,
         "processing results are counted")

    t.ok(CLIENT_STATE not in d.log_text(), "the clientState never appears in the log")
    rc = d.stop()
    t.eq(rc, 0, "SIGTERM stops cleanly")
finally:
    d.cleanup()
t.done()
