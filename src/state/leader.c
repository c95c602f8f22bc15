/*
 * leader: the election of one leader among replicas.  See leader.h.
 *
 * Ownership: the thread alone uses the connection; the loop alone uses the
 * events and the told_* fields; what they share is under mu, and the loop
 * hears of a change through a byte on a pipe (no libevent threading).  The
 * lease is two atomics, read from any thread.
 */
#include "state/leader.h"
#include "state/store.h"
#include "state/wake.h"
#include "lib/log.h"
#include "lib/secret.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <libpq-fe.h>

/* A query not answered in this time means the server or the network is gone. */
#define QUERY_TIMEOUT_MS	2000
/* Between two attempts to connect. */
#define RETRY_MS		1000
/* libpq's connect_timeout, seconds. */
#define CONNECT_TIMEOUT_S	"3"
/* The loop hears of a change first in any pass: loss must stop the engines before anything else. */
#define LEADER_PRIORITY		0

static const char notify_channel[] = "rekey_events";

struct leader {
	struct event_base *base;
	char *url;
	char *password_file;
	char *node;
	leader_change_cb cb;
	void *arg;
	int pg;				/* 0: SQLite, always the leader */
	struct event *pipe_ev;		/* the thread's news (pg) or the first pass (SQLite) */
	int news[2];			/* thread -> loop */
	int quit_pipe[2];		/* loop -> thread: stop now */
	pthread_t thread;
	pthread_mutex_t mu;

	/* Under mu. */
	int leading;
	int64_t epoch;
	int wake_nylas, wake_graph;	/* NOTIFY rekey_events seen since the loop last looked */
	struct leader_info info;

	/* Thread only. */
	PGconn *conn;
	int down_logged;		/* the store is unreachable and that was said once */

	/* Loop only. */
	int told_leading;
	int64_t told_epoch;
};

/* The lease (leader.h): set by the thread, read by any. */
static atomic_int active_flag;
static _Atomic int64_t lease_until_us;

int
leader_active(void)
{
	return atomic_load(&active_flag) && util_mono_us() < atomic_load(&lease_until_us);
}

int
leader_gate(void *arg)
{
	(void)arg;
	return leader_active();
}

static int
is_pg_url(const char *url)
{
	return strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0;
}

/* Thread: tells the loop to look (a full pipe already says so). */
static void
post(struct leader *l)
{
	char one = 1;

	while (write(l->news[1], &one, 1) == -1 && errno == EINTR)
		;
}

/*
 * Opens a connection to url with the password of password_file (when set),
 * blocking up to CONNECT_TIMEOUT_S.  NULL and *err (caller frees).
 */
static PGconn *
connect_db(const char *url, const char *password_file, const char *app_name, char **err)
{
	const char *keys[] = { "dbname", "connect_timeout", "application_name", "password", NULL };
	const char *values[5] = { url, CONNECT_TIMEOUT_S, app_name, NULL, NULL };
	struct secret *pw = NULL;
	PGconn *conn;

	if (password_file != NULL) {
		pw = secret_read_file(password_file, err);
		if (pw == NULL)
			return NULL;
	} else {
		/* The daemon's: [store] password_file, as its store connections use it. */
		pw = store_password_dup();
	}
	if (pw != NULL)
		values[3] = (const char *)pw->data;
	conn = PQconnectdbParams(keys, values, 1);
	secret_free(pw);
	if (conn == NULL) {
		*err = xstrdup("out of memory");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		*err = xstrdup(PQerrorMessage(conn));
		/* libpq's messages end in a newline; a log line must not. */
		(*err)[strcspn(*err, "\n")] = '\0';
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/* Thread: hands NOTIFY rekey_events to the loop as wake-ups. */
static void
take_notifies(struct leader *l)
{
	PGnotify *n;
	int nylas = 0, graph = 0;

	while ((n = PQnotifies(l->conn)) != NULL) {
		if (strcmp(n->relname, notify_channel) == 0) {
			/* The payload is the events' source; anything else wakes both. */
			nylas |= strcmp(n->extra, "graph") != 0;
			graph |= strcmp(n->extra, "nylas") != 0;
		}
		PQfreemem(n);
	}
	if (!nylas && !graph)
		return;
	pthread_mutex_lock(&l->mu);
	l->wake_nylas |= nylas;
	l->wake_graph |= graph;
	pthread_mutex_unlock(&l->mu);
	post(l);
}

/*
 * Thread: waits until the connection has input, the deadline (monotonic us)
 * passes or the loop asks to quit.  1 readable, 0 timed out, -1 quit or error.
 */
static int
wait_input(struct leader *l, int64_t deadline_us)
{
	struct pollfd fds[2];
	int64_t left_ms;
	int n;

	for (;;) {
		left_ms = (deadline_us - util_mono_us() + 999) / 1000;
		if (left_ms <= 0)
			return 0;
		fds[0].fd = l->quit_pipe[0];
		fds[0].events = POLLIN;
		fds[1].fd = l->conn != NULL ? PQsocket(l->conn) : -1;
		fds[1].events = POLLIN;
		n = poll(fds, 2, (int)left_ms);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 || (fds[0].revents & POLLIN))
			return -1;
		if (n > 0 && fds[1].revents != 0)
			return 1;
	}
}

/*
 * Thread: one statement with its parameters, answered within
 * QUERY_TIMEOUT_MS, notifications taken on the way.  The result (caller
 * clears) when it succeeded, else NULL and *why set (a static or the
 * connection's message, valid until the next call).
 */
static PGresult *
query(struct leader *l, const char *sql, int n, const char *const *params, const char **why)
{
	int64_t deadline = util_mono_us() + (int64_t)QUERY_TIMEOUT_MS * 1000;
	PGresult *res, *last = NULL;
	ExecStatusType st;

	*why = "the connection is gone";
	if (!PQsendQueryParams(l->conn, sql, n, NULL, params, NULL, NULL, 0))
		goto fail;
	while (PQisBusy(l->conn)) {
		if (wait_input(l, deadline) != 1) {
			*why = "no answer within 2 s";
			goto fail;
		}
		if (!PQconsumeInput(l->conn))
			goto fail;
	}
	while ((res = PQgetResult(l->conn)) != NULL) {
		PQclear(last);
		last = res;
	}
	take_notifies(l);
	st = last != NULL ? PQresultStatus(last) : PGRES_FATAL_ERROR;
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		return last;
	*why = PQerrorMessage(l->conn);
fail:
	PQclear(last);
	return NULL;
}

/* Thread: a statement whose rows do not matter.  0 or -1 (logged). */
static int
exec(struct leader *l, const char *sql)
{
	const char *why;
	PGresult *res = query(l, sql, 0, NULL, &why);

	if (res == NULL) {
		log_warn("leader: %s: %s", sql, why);
		return -1;
	}
	PQclear(res);
	return 0;
}

/*
 * Thread: a new session that the server ends when it goes quiet (a stopped
 * process), listening for committed events.  0, or -1 (conn closed).
 */
static int
open_session(struct leader *l)
{
	char *err = NULL, *shown, *set;

	l->conn = connect_db(l->url, l->password_file, "rekey leader election", &err);
	if (l->conn == NULL) {
		if (!l->down_logged) {
			shown = util_url_shown(l->url, 0);
			log_warn("leader: cannot reach the store %s: %s; trying again every %d ms",
			    shown, err, RETRY_MS);
			free(shown);
		}
		l->down_logged = 1;
		free(err);
		return -1;
	}
	set = xasprintf("SET idle_session_timeout = %d", LEADER_IDLE_TIMEOUT_MS);
	if (exec(l, set) == -1 || exec(l, "SET statement_timeout = 2000") == -1 ||
	    exec(l, "LISTEN rekey_events") == -1) {
		free(set);
		PQfinish(l->conn);
		l->conn = NULL;
		return -1;
	}
	free(set);
	if (l->down_logged)
		log_info("leader: the store is reachable again");
	l->down_logged = 0;
	return 0;
}

/* Copies one row (epoch, node, since_ms) of res into out. */
static void
row_info(const PGresult *res, struct leader_info *out)
{
	memset(out, 0, sizeof(*out));
	if (PQntuples(res) != 1 || PQnfields(res) != 3)
		return;
	if (util_parse_int64(PQgetvalue(res, 0, 0), 0, INT64_MAX, &out->epoch) == -1)
		return;
	util_strlcpy(out->node, PQgetvalue(res, 0, 1), sizeof(out->node));
	if (util_parse_int64(PQgetvalue(res, 0, 2), 0, INT64_MAX, &out->since_ms) == -1)
		out->since_ms = 0;
	out->known = 1;
}

/* Thread: the lease runs LEADER_LEASE_MS from the moment a query proving the lock was sent. */
static void
extend_lease(int64_t sent_us)
{
	atomic_store(&lease_until_us, sent_us + (int64_t)LEADER_LEASE_MS * 1000);
	atomic_store(&active_flag, 1);
}

/* Thread: no longer the leader; the lease ends first, then the loop is told. */
static void
lose(struct leader *l, const char *why)
{
	int64_t epoch;

	atomic_store(&active_flag, 0);
	pthread_mutex_lock(&l->mu);
	epoch = l->epoch;
	l->leading = 0;
	pthread_mutex_unlock(&l->mu);
	log_warn("leader: %s lost leadership (epoch %" PRId64 "): %s", l->node, epoch, why);
	post(l);
}

/* Thread: ends the session (and with it the lock). */
static void
drop(struct leader *l, const char *why)
{
	int leading;

	pthread_mutex_lock(&l->mu);
	leading = l->leading;
	pthread_mutex_unlock(&l->mu);
	if (leading)
		lose(l, why);
	PQfinish(l->conn);
	l->conn = NULL;
}

/* Thread: records what the row says and logs a new leader once. */
static void
note_row(struct leader *l, const struct leader_info *info)
{
	int changed;

	pthread_mutex_lock(&l->mu);
	changed = info->known && (!l->info.known || l->info.epoch != info->epoch);
	if (info->known)
		l->info = *info;
	pthread_mutex_unlock(&l->mu);
	if (changed && strcmp(info->node, l->node) != 0)
		log_info("leader: %s leads (epoch %" PRId64 "); this replica (%s) follows",
		    info->node, info->epoch, l->node);
}

/*
 * Thread, holding the lock: bumps the epoch (the fence of every older
 * leader's writes) and becomes the leader.  0, or -1 (the caller drops the
 * session, which frees the lock).
 */
static int
take_over(struct leader *l, int64_t sent_us)
{
	char since[24];
	const char *params[2] = { l->node, since }, *why;
	struct leader_info info;
	PGresult *res;

	snprintf(since, sizeof(since), "%" PRId64, util_now_ms());
	res = query(l, "UPDATE leadership SET epoch = epoch + 1, node = $1, since_ms = $2 "
	    "WHERE id = 1 RETURNING epoch, node, since_ms", 2, params, &why);
	if (res == NULL) {
		log_error("leader: cannot take over: %s", why);
		return -1;
	}
	row_info(res, &info);
	PQclear(res);
	if (!info.known) {
		log_error("leader: cannot take over: the store has no leadership row (a schema "
		    "older than this rekey?)");
		return -1;
	}
	pthread_mutex_lock(&l->mu);
	l->leading = 1;
	l->epoch = info.epoch;
	l->info = info;
	pthread_mutex_unlock(&l->mu);
	extend_lease(sent_us);
	log_info("leader: %s leads now (epoch %" PRId64 ")", l->node, info.epoch);
	post(l);
	return 0;
}

/* Thread: a follower asks for the lock.  0 (won or not), -1 (session to drop). */
static int
try_lock(struct leader *l)
{
	char key[24];
	const char *params[1] = { key }, *why;
	int64_t sent = util_mono_us();
	PGresult *res;
	int won;

	snprintf(key, sizeof(key), "%" PRId64, LEADER_LOCK_KEY);
	res = query(l, "SELECT pg_try_advisory_lock($1::bigint)", 1, params, &why);
	if (res == NULL) {
		log_warn("leader: asking for the lock: %s", why);
		return -1;
	}
	won = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return won ? take_over(l, sent) : 0;
}

/*
 * Thread: one heartbeat.  Reading the row keeps the session busy (so the
 * server keeps it) and, for the leader, proves the lock is still held (the
 * session is the same).  0, or -1 (session to drop).
 */
static int
heartbeat(struct leader *l)
{
	int64_t sent = util_mono_us(), epoch;
	struct leader_info info;
	const char *why;
	PGresult *res;
	int leading;

	res = query(l, "SELECT epoch, node, since_ms FROM leadership WHERE id = 1", 0, NULL, &why);
	if (res == NULL) {
		log_warn("leader: heartbeat: %s", why);
		return -1;
	}
	row_info(res, &info);
	PQclear(res);
	note_row(l, &info);
	pthread_mutex_lock(&l->mu);
	leading = l->leading;
	epoch = l->epoch;
	pthread_mutex_unlock(&l->mu);
	if (!leading)
		return try_lock(l);
	/* Only the lock's holder bumps the epoch: another epoch means the lock is not ours. */
	if (!info.known || info.epoch != epoch) {
		log_error("leader: the leadership row shows epoch %" PRId64 ", not ours (%" PRId64
		    "): stepping down", info.epoch, epoch);
		return -1;
	}
	extend_lease(sent);
	return 0;
}

/* Thread: until the next heartbeat, takes notifications as they come.  -1: session gone. */
static int
idle_until(struct leader *l, int64_t until_us)
{
	int rc;

	while ((rc = wait_input(l, until_us)) == 1) {
		if (!PQconsumeInput(l->conn))
			return -1;
		take_notifies(l);
	}
	return rc;
}

static int
quitting(struct leader *l)
{
	char c;

	return read(l->quit_pipe[0], &c, 1) == 1;
}

static void *
election_main(void *arg)
{
	struct leader *l = arg;
	int64_t start;

	util_name_thread("rk-leader");
	while (!quitting(l)) {
		start = util_mono_us();
		if (l->conn == NULL && open_session(l) == -1) {
			if (wait_input(l, start + (int64_t)RETRY_MS * 1000) == -1)
				break;
			continue;
		}
		if (heartbeat(l) == -1) {
			drop(l, "its session with the store is gone");
			continue;
		}
		idle_until(l, start + (int64_t)LEADER_HEARTBEAT_MS * 1000);
		if (PQstatus(l->conn) != CONNECTION_OK)
			drop(l, "its session with the store is gone");
	}
	atomic_store(&active_flag, 0);
	if (l->conn != NULL) {
		PQfinish(l->conn);
		l->conn = NULL;
	}
	return NULL;
}

/* Loop: what the thread found, told as changes: a loss first, then a win, then wake-ups. */
static void
news_cb(evutil_socket_t fd, short what, void *arg)
{
	struct leader *l = arg;
	char buf[64];
	int leading, nylas, graph;
	int64_t epoch;

	(void)what;
	if (l->pg)
		while (read(fd, buf, sizeof(buf)) > 0)
			;
	pthread_mutex_lock(&l->mu);
	leading = l->leading;
	epoch = l->epoch;
	nylas = l->wake_nylas;
	graph = l->wake_graph;
	l->wake_nylas = l->wake_graph = 0;
	pthread_mutex_unlock(&l->mu);
	if (l->told_leading && (!leading || epoch != l->told_epoch)) {
		l->told_leading = 0;
		l->cb(0, l->told_epoch, l->arg);
	}
	if (leading && !l->told_leading) {
		l->told_leading = 1;
		l->told_epoch = epoch;
		l->cb(1, epoch, l->arg);
	}
	if (l->told_leading && nylas)
		wake_signal(WAKE_NYLAS_EVENTS);
	if (l->told_leading && graph)
		wake_signal(WAKE_GRAPH_NOTIFICATIONS);
}

/* SQLite: this process leads for good, told at the loop's first pass. */
static void
start_alone(struct leader *l)
{
	l->leading = 1;
	l->epoch = 0;
	atomic_store(&lease_until_us, INT64_MAX);
	atomic_store(&active_flag, 1);
	l->pipe_ev = event_new(l->base, -1, 0, news_cb, l);
	if (l->pipe_ev == NULL || event_priority_set(l->pipe_ev, LEADER_PRIORITY) == -1)
		fatal("leader: cannot create its event");
	event_active(l->pipe_ev, 0, 0);
}

static void
start_election(struct leader *l)
{
	if (pipe2(l->news, O_NONBLOCK | O_CLOEXEC) == -1 ||
	    pipe2(l->quit_pipe, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("leader: pipe: %s", strerror(errno));
	l->pipe_ev = event_new(l->base, l->news[0], EV_READ | EV_PERSIST, news_cb, l);
	if (l->pipe_ev == NULL || event_priority_set(l->pipe_ev, LEADER_PRIORITY) == -1 ||
	    event_add(l->pipe_ev, NULL) == -1)
		fatal("leader: cannot create its event");
	if (pthread_create(&l->thread, NULL, election_main, l) != 0)
		fatal("leader: cannot start its thread");
}

struct leader *
leader_new(struct event_base *base, const char *store_url, const char *password_file,
    const char *node, leader_change_cb cb, void *arg)
{
	struct leader *l = xcalloc(1, sizeof(*l));

	l->base = base;
	l->url = xstrdup(store_url);
	l->password_file = xstrdup_null(password_file);
	l->node = xstrdup(node);
	l->cb = cb;
	l->arg = arg;
	l->pg = is_pg_url(store_url);
	pthread_mutex_init(&l->mu, NULL);
	atomic_store(&active_flag, 0);
	if (l->pg)
		start_election(l);
	else
		start_alone(l);
	return l;
}

void
leader_free(struct leader *l)
{
	char one = 1;

	if (l == NULL)
		return;
	if (l->pg) {
		while (write(l->quit_pipe[1], &one, 1) == -1 && errno == EINTR)
			;
		pthread_join(l->thread, NULL);
		close(l->news[0]);
		close(l->news[1]);
		close(l->quit_pipe[0]);
		close(l->quit_pipe[1]);
		atomic_store(&active_flag, 0);
	}
	event_free(l->pipe_ev);
	pthread_mutex_destroy(&l->mu);
	free(l->url);
	free(l->password_file);
	free(l->node);
	free(l);
}

int
leader_replicated(const struct leader *l)
{
	return l->pg;
}

void
leader_snapshot(struct leader *l, struct leader_info *out)
{
	pthread_mutex_lock(&l->mu);
	*out = l->info;
	pthread_mutex_unlock(&l->mu);
}

int
leader_read(const char *store_url, const char *password_file, struct leader_info *out,
    char **err)
{
	PGconn *conn;
	PGresult *res;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (!is_pg_url(store_url))
		return 0;
	conn = connect_db(store_url, password_file, "rekey status", err);
	if (conn == NULL)
		return -1;
	res = PQexec(conn, "SELECT epoch, node, since_ms FROM leadership WHERE id = 1");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*err = xstrdup(PQerrorMessage(conn));
		(*err)[strcspn(*err, "\n")] = '\0';
		goto out;
	}
	row_info(res, out);
	rc = 1;
out:
	PQclear(res);
	PQfinish(conn);
	return rc;
}
