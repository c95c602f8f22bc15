/*
 * leader: which of several replicas sharing a PostgreSQL store runs the
 * engines (DESIGN.md: one leader runs the worker).
 *
 * A thread of its own holds a dedicated libpq connection that takes a
 * session advisory lock (pg_try_advisory_lock); the holder is the leader.
 * The session sets idle_session_timeout and the thread queries at least once
 * a heartbeat, well inside it: a leader that is stopped (SIGSTOP, a frozen
 * VM, a partition) stops querying, the server ends its session, and the lock
 * goes to the next replica that asks.  On winning the lock the thread bumps
 * leadership.epoch; each engine connection then carries that epoch, and the
 * store's fence trigger refuses the writes of any connection whose epoch is
 * older, so a leader that wakes up late cannot write (and so cannot publish:
 * every external step writes its intent first).
 *
 * Besides the database's fence, leader_active() is a lease kept in this
 * process: true only while the last heartbeat that proved the lock is more
 * recent than LEADER_LEASE_MS, shorter than the server's timeout.  The
 * daemon's outbound client asks it before every attempt, so a process that
 * was stopped sends nothing after it wakes, even before its thread has
 * noticed that its session is gone.
 *
 * The thread also LISTENs on rekey_events (the store's NOTIFY after each
 * batch of events, from any replica) and, while this process leads, wakes
 * the engines through state/wake on the event loop.
 *
 * With a SQLite store there is one process and it always leads: epoch 0, no
 * thread, no connection.
 */
#ifndef REKEY_STATE_LEADER_H
#define REKEY_STATE_LEADER_H

#include <stdint.h>

struct event_base;
struct leader;

/* The advisory lock key of leadership ("rekeyldr"); the migrations use another. */
#define LEADER_LOCK_KEY		INT64_C(0x72656b65796c6472)
/* The server ends a session idle this long: a stopped leader's lock is freed. */
#define LEADER_IDLE_TIMEOUT_MS	5000
/* The thread queries this often (followers try the lock as often). */
#define LEADER_HEARTBEAT_MS	1000
/* Outbound calls stop once the last proof of the lock is older than this. */
#define LEADER_LEASE_MS		3000

/* Who leads, as the leadership row says (node is "" before it was first read). */
struct leader_info {
	int64_t epoch;
	char node[128];
	int64_t since_ms;		/* Unix ms the leader took over */
	int known;			/* 0: the row has not been read (yet) */
};

/*
 * Called on the event loop: became leader with epoch (is_leader 1), or lost
 * it (0; epoch is the one lost).  Loss is told before anything else the loop
 * runs in that pass (the highest priority).
 */
typedef void (*leader_change_cb)(int is_leader, int64_t epoch, void *arg);

/*
 * Starts the election for store_url on base (which must have priorities).
 * password_file (NULL: the store's, store_set_password, else libpq's own
 * PGPASSFILE or .pgpass) is read at each connection.  node names this process in the leadership row.  For a
 * SQLite url cb(1, 0) runs from the loop at its first pass.  Never NULL.
 */
struct leader *leader_new(struct event_base *base, const char *store_url,
    const char *password_file, const char *node, leader_change_cb cb, void *arg);
/* Ends the session (the lock goes at once to another replica); NULL is a no-op. */
void leader_free(struct leader *l);

/*
 * Process-wide and callable from any thread: 1 while this process leads and
 * its lease is fresh, else 0.  The guard right before every outbound call.
 */
int leader_active(void);
/* The gate for http_client_set_gate: leader_active(), arg unused. */
int leader_gate(void *arg);

/* 1 when replicas may share the store (PostgreSQL), 0 for SQLite (this process alone). */
int leader_replicated(const struct leader *l);
/* What the thread last read of the leadership row (a follower's view too). */
void leader_snapshot(struct leader *l, struct leader_info *out);

/*
 * For the CLI: reads the leadership row of the store at url with a
 * connection of its own.  1 and *out, 0 for a store without leadership
 * (SQLite: this process is the only one), -1 and *err (caller frees).
 */
int leader_read(const char *store_url, const char *password_file, struct leader_info *out,
    char **err);

#endif
