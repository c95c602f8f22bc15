/*
 * loops: the intake loops' threads, their start, reload and stop.  See
 * loops.h.
 */
#include "intake/loops.h"
#include "intake/conn_limit.h"
#include "intake/listener.h"
#include "lib/log.h"
#include "lib/mailbox.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "state/config.h"
#include "state/journal.h"
#include "state/runtime.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

/* More would only add threads that wait for the same two or three locks. */
#define LOOPS_MAX 64
/* How often a stopping loop looks whether what it has in flight is answered. */
#define QUIT_POLL_MS 20

struct loop {
	struct intake_loops *ls;
	size_t index;
	pthread_t thread;
	int started;
	struct runtime rt;		/* this loop's: its base, listener, journal handle, config */
	struct event *quit_ev;		/* polls while stopping */
	int64_t quit_deadline_us;
	uint64_t gen_taken;		/* main loop only: the last config generation it took */
};

/* A config the loops had, freed once each has taken a later one. */
struct retired {
	struct config *cfg;
	uint64_t gen;			/* the generation that replaced it */
	struct retired *next;
};

struct intake_loops {
	struct runtime *main_rt;
	struct loop *v;
	size_t n;
	struct conn_limit *limits;
	int port;
	uint64_t gen;			/* config generations sent */
	struct retired *retired;
	int quitting;
	size_t exited;
	void (*done)(void *);
	void *done_arg;
};

/* A new config on its way to one loop, and the loop's word back. */
struct reload_msg {
	struct loop *lp;
	struct config *cfg;
	SSL_CTX *ctx;
	uint64_t gen;
};

/*
 * With epoll's change list, a connection whose write interest is switched on
 * and off within one pass of the loop (every reply) costs no epoll_ctl calls
 * instead of two.  Three priorities: the journal's group commit runs below
 * HTTP (journal.h).
 */
struct event_base *
loops_base_new(void)
{
	struct event_config *ec = event_config_new();
	struct event_base *base;

	if (ec == NULL)
		fatal("out of memory creating an event loop");
	event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (base == NULL || event_base_priority_init(base, 3) == -1)
		fatal("cannot create an event loop");
	return base;
}

static size_t
loops_wanted(size_t n)
{
	long cpus;

	if (n == 0) {
		cpus = sysconf(_SC_NPROCESSORS_ONLN);
		n = cpus > 0 ? (size_t)cpus : 1;
	}
	return n > LOOPS_MAX ? LOOPS_MAX : n;
}

static void *
loop_main(void *arg)
{
	struct loop *lp = arg;

	util_name_thread("rk-intake");
	event_base_dispatch(lp->rt.base);
	return NULL;
}

/* Signals go to the main loop's thread: the loops' threads block them all. */
static void
start_threads(struct intake_loops *ls)
{
	sigset_t all, old;
	size_t i;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < ls->n; i++) {
		if (pthread_create(&ls->v[i].thread, NULL, loop_main, &ls->v[i]) != 0)
			fatal("cannot start intake loop %zu", i);
		ls->v[i].started = 1;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* Loop i's runtime, base and listener; the first binds the port the others share. */
static int
loop_init(struct intake_loops *ls, size_t i, const struct listener_route *routes,
    size_t n_routes, char **err)
{
	struct loop *lp = &ls->v[i];
	struct runtime *main_rt = ls->main_rt;
	SSL_CTX *ctx;

	lp->ls = ls;
	lp->index = i;
	lp->rt.base = loops_base_new();
	lp->rt.main = main_rt;
	lp->rt.inbox = mailbox_new(lp->rt.base, -1);
	lp->rt.cfg = main_rt->cfg;
	lp->rt.journal = journal_attach(main_rt->journal, lp->rt.base);
	lp->rt.nylas_secrets = main_rt->nylas_secrets;
	if (listener_tls_new(main_rt->cfg, &ctx, err) == -1)
		return -1;
	lp->rt.listener = listener_new(&lp->rt, routes, n_routes, ls->limits, ctx,
	    i == 0 ? -1 : ls->port, err);
	if (lp->rt.listener == NULL)
		return -1;
	if (i == 0)
		ls->port = listener_port(lp->rt.listener);
	return 0;
}

struct intake_loops *
loops_new(struct runtime *main_rt, const struct listener_route *routes, size_t n_routes,
    size_t n, char **err)
{
	struct intake_loops *ls = xcalloc(1, sizeof(*ls));
	size_t i;

	ls->main_rt = main_rt;
	ls->n = loops_wanted(n);
	ls->v = xcalloc(ls->n, sizeof(*ls->v));
	ls->limits = conn_limit_new();
	for (i = 0; i < ls->n; i++) {
		if (loop_init(ls, i, routes, n_routes, err) == -1) {
			loops_free(ls);
			return NULL;
		}
	}
	start_threads(ls);
	log_info("listening on %s (%s), port %d, with %zu intake loop%s", main_rt->cfg->listen,
	    main_rt->cfg->tls_cert ? "HTTPS" : "plain HTTP behind a proxy", ls->port, ls->n,
	    ls->n == 1 ? "" : "s");
	return ls;
}

static void
loop_stop_cb(void *arg)
{
	struct loop *lp = arg;

	event_base_loopexit(lp->rt.base, NULL);
}

/* Stops loops still running (after a quit they have stopped on their own). */
static void
join_all(struct intake_loops *ls)
{
	size_t i;

	for (i = 0; i < ls->n; i++) {
		if (!ls->v[i].started)
			continue;
		if (!ls->quitting)
			mailbox_post(ls->v[i].rt.inbox, loop_stop_cb, &ls->v[i]);
		pthread_join(ls->v[i].thread, NULL);
		ls->v[i].started = 0;
	}
}

void
loops_free(struct intake_loops *ls)
{
	struct retired *r, *next;
	struct loop *lp;
	size_t i;

	if (ls == NULL)
		return;
	join_all(ls);
	/* Every thread has stopped: what was theirs is the main loop's now. */
	for (i = 0; i < ls->n; i++) {
		lp = &ls->v[i];
		listener_free(lp->rt.listener);
		journal_free(lp->rt.journal);
		if (lp->quit_ev != NULL)
			event_free(lp->quit_ev);
		if (mailbox_free(lp->rt.inbox) > 0)
			log_warn("intake loop %zu stopped with work still posted to it", i);
		if (lp->rt.base != NULL)
			event_base_free(lp->rt.base);
	}
	for (r = ls->retired; r != NULL; r = next) {
		next = r->next;
		config_free(r->cfg);
		free(r);
	}
	conn_limit_free(ls->limits);
	free(ls->v);
	free(ls);
}

size_t
loops_count(const struct intake_loops *ls)
{
	return ls->n;
}

int
loops_port(const struct intake_loops *ls)
{
	return ls->port;
}

/* Main loop: frees the configs every loop has moved past. */
static void
free_retired(struct intake_loops *ls)
{
	struct retired **pp = &ls->retired, *r;
	uint64_t least = UINT64_MAX;
	size_t i;

	for (i = 0; i < ls->n; i++)
		if (ls->v[i].gen_taken < least)
			least = ls->v[i].gen_taken;
	while ((r = *pp) != NULL) {
		if (r->gen <= least) {
			*pp = r->next;
			config_free(r->cfg);
			free(r);
		} else {
			pp = &r->next;
		}
	}
}

/* Main loop: a loop has taken a config. */
static void
reload_taken_cb(void *arg)
{
	struct reload_msg *m = arg;
	struct intake_loops *ls = m->lp->ls;

	m->lp->gen_taken = m->gen;
	free(m);
	free_retired(ls);
}

/* On the loop: the new config and certificate from now on; connections open keep theirs. */
static void
reload_cb(void *arg)
{
	struct reload_msg *m = arg;
	struct loop *lp = m->lp;

	lp->rt.cfg = m->cfg;
	listener_reload(lp->rt.listener, m->ctx);
	mailbox_post(lp->ls->main_rt->inbox, reload_taken_cb, m);
}

int
loops_reload(struct intake_loops *ls, struct config *cfg, struct config *old, char **err)
{
	SSL_CTX **ctx = xcalloc(ls->n, sizeof(*ctx));
	struct reload_msg *m;
	struct retired *r;
	size_t i;
	int rc = -1;

	if (ls->quitting) {
		*err = xstrdup("rekey is stopping");
		goto out;
	}
	/* Every loop's context first, so that a certificate that does not load changes nothing. */
	for (i = 0; i < ls->n; i++)
		if (listener_tls_new(cfg, &ctx[i], err) == -1)
			goto out;
	ls->gen++;
	for (i = 0; i < ls->n; i++) {
		m = xcalloc(1, sizeof(*m));
		m->lp = &ls->v[i];
		m->cfg = cfg;
		m->ctx = ctx[i];
		ctx[i] = NULL;
		m->gen = ls->gen;
		mailbox_post(ls->v[i].rt.inbox, reload_cb, m);
	}
	r = xcalloc(1, sizeof(*r));
	r->cfg = old;
	r->gen = ls->gen;
	r->next = ls->retired;
	ls->retired = r;
	rc = 0;
out:
	for (i = 0; i < ls->n; i++)
		SSL_CTX_free(ctx[i]);
	free(ctx);
	return rc;
}

static void
stop_accepting_cb(void *arg)
{
	struct loop *lp = arg;

	listener_stop_accepting(lp->rt.listener);
}

void
loops_stop_accepting(struct intake_loops *ls)
{
	size_t i;

	for (i = 0; i < ls->n; i++)
		mailbox_post(ls->v[i].rt.inbox, stop_accepting_cb, &ls->v[i]);
}

size_t
loops_active_requests(const struct intake_loops *ls)
{
	size_t i, n = 0;

	for (i = 0; i < ls->n; i++)
		n += listener_active_requests(ls->v[i].rt.listener);
	return n;
}

/* Main loop: one more loop has stopped. */
static void
exited_cb(void *arg)
{
	struct intake_loops *ls = arg;

	if (++ls->exited == ls->n && ls->done != NULL)
		ls->done(ls->done_arg);
}

/* On the loop: stops once nothing it read is left unanswered, or at the deadline. */
static void
quit_poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct loop *lp = arg;
	size_t active = listener_active_requests(lp->rt.listener);

	(void)fd;
	(void)what;
	if ((active > 0 || journal_pending(lp->rt.journal) > 0) &&
	    util_mono_us() < lp->quit_deadline_us)
		return;
	if (active > 0)
		log_warn("stop: intake loop %zu: %zu requests still in flight; stopping anyway",
		    lp->index, active);
	journal_flush(lp->rt.journal);
	event_del(lp->quit_ev);
	event_base_loopexit(lp->rt.base, NULL);
	mailbox_post(lp->ls->main_rt->inbox, exited_cb, lp->ls);
}

static void
quit_cb(void *arg)
{
	struct loop *lp = arg;
	struct timeval tv = { 0, QUIT_POLL_MS * 1000 };

	listener_stop_accepting(lp->rt.listener);
	lp->quit_ev = event_new(lp->rt.base, -1, EV_PERSIST, quit_poll_cb, lp);
	if (lp->quit_ev == NULL || event_add(lp->quit_ev, &tv) == -1)
		fatal("out of memory stopping an intake loop");
	quit_poll_cb(-1, 0, lp);
}

void
loops_quit(struct intake_loops *ls, int64_t deadline_us, void (*done)(void *), void *arg)
{
	size_t i;

	ls->quitting = 1;
	ls->done = done;
	ls->done_arg = arg;
	for (i = 0; i < ls->n; i++) {
		ls->v[i].quit_deadline_us = deadline_us;
		mailbox_post(ls->v[i].rt.inbox, quit_cb, &ls->v[i]);
	}
}

void
loops_publish_metrics(const struct intake_loops *ls)
{
	char labels[32];
	size_t i, conns = 0;

	for (i = 0; i < ls->n; i++) {
		conns += listener_connections(ls->v[i].rt.listener);
		snprintf(labels, sizeof(labels), "loop=\"%zu\"", i);
		metrics_counter_set("rekey_intake_requests_total", "Requests each intake loop "
		    "has taken (the kernel spreads connections over the loops).", labels,
		    (double)listener_requests(ls->v[i].rt.listener));
	}
	metrics_gauge_set("rekey_http_connections", "Open client connections.", "",
	    (double)conns);
	metrics_gauge_set("rekey_intake_loops", "Intake event loops (intake_loops).", "",
	    (double)ls->n);
}
