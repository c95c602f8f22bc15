/*
 * rekey: keeps a Nylas application's Microsoft connector alive.
 *
 *   rekey serve -c FILE     run in the foreground; JSON log lines on stderr
 *   rekey check -c FILE     validate the config; FILE:LINE: message per problem
 *   rekey status -c FILE [--json]
 *   rekey rotate -c FILE APP [--dry-run]
 *   rekey approve -c FILE ROTATION_ID
 */
#include "config.h"
#include "graph_worker.h"
#include "http_client.h"
#include "journal.h"
#include "scheduler.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "runtime.h"
#include "store.h"
#include "util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

/* How long a graceful stop waits for in-flight requests before exiting anyway. */
#define DRAIN_MAX_MS 10000
#define DRAIN_POLL_MS 50

struct daemon {
	struct runtime rt;
	struct http_client *http;
	struct scheduler *scheduler;
	struct event *sig_hup, *sig_term, *sig_int, *drain_ev;
	int64_t drain_deadline_us;
	int quiet_polls;
};

static void
usage(void)
{
	fputs("usage: rekey serve -c FILE\n"
	    "       rekey check -c FILE\n"
	    "       rekey status -c FILE [--json]\n"
	    "       rekey rotate -c FILE APP [--dry-run]\n"
	    "       rekey approve -c FILE ROTATION_ID\n", stderr);
	exit(2);
}

/* Prints each "FILE:LINE: message" on stderr. */
static struct config *
load_or_report(const char *path)
{
	char *errors = NULL;
	struct config *cfg = config_load(path, &errors);

	if (cfg == NULL) {
		fprintf(stderr, "%s\n", errors ? errors : "cannot load config");
		free(errors);
	}
	return cfg;
}

static void
apply_log_level(const struct config *cfg)
{
	int level = log_level_parse(cfg->log_level ? cfg->log_level : "info");

	log_set_level(level < 0 ? LOG_LEVEL_INFO : (enum log_level)level);
}

static void
reload(struct daemon *d)
{
	struct config *old = d->rt.cfg, *cfg;
	char *errors = NULL, *err = NULL;

	cfg = config_load(old->path, &errors);
	if (cfg == NULL) {
		log_error("reload: keeping the running config; the new one has problems:\n%s",
		    errors ? errors : "cannot load config");
		free(errors);
		return;
	}
	if (strcmp(cfg->listen, old->listen) != 0 || strcmp(cfg->store_url, old->store_url) != 0)
		log_warn("reload: listen and store url changes take effect only after a restart");
	d->rt.cfg = cfg;
	if (listener_reload(d->rt.listener, &err) == -1) {
		log_error("reload: keeping the running config: %s", err);
		free(err);
		d->rt.cfg = old;
		config_free(cfg);
		listener_reload(d->rt.listener, &err);
		return;
	}
	apply_log_level(cfg);
	http_client_configure(d->http, cfg->ca_file, cfg->timeout_ms);
	/* The old scheduler's clients point into the old config: start afresh. */
	scheduler_free(d->scheduler);
	d->scheduler = scheduler_new(d->rt.base, d->http, cfg);
	graph_worker_free(d->rt.graph_worker);
	d->rt.graph_worker = graph_worker_new(&d->rt, d->http, NULL, NULL);
	config_free(old);
	log_info("reload: config and certificate reloaded from %s (%zu apps)", cfg->path,
	    cfg->n_apps);
}

static void
drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	int idle = listener_active_requests(d->rt.listener) == 0 &&
	    journal_pending(d->rt.journal) == 0;

	(void)fd;
	(void)what;
	/* Two quiet polls in a row: a request still being read has had time to arrive. */
	d->quiet_polls = idle ? d->quiet_polls + 1 : 0;
	if (d->quiet_polls >= 2) {
		event_base_loopexit(d->rt.base, NULL);
	} else if (util_mono_us() > d->drain_deadline_us) {
		log_warn("stop: %zu requests still in flight after %d ms; exiting anyway",
		    listener_active_requests(d->rt.listener), DRAIN_MAX_MS);
		event_base_loopexit(d->rt.base, NULL);
	}
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval tv = { 0, DRAIN_POLL_MS * 1000 };

	(void)what;
	if (sig == SIGHUP) {
		reload(d);
		return;
	}
	if (d->rt.draining)
		return;
	log_info("stop: signal %d: no longer accepting; finishing in-flight requests", (int)sig);
	d->rt.draining = 1;
	listener_stop_accepting(d->rt.listener);
	/* Outbound work is abandoned: the expiry poll only reads, and runs again at the next start. */
	scheduler_free(d->scheduler);
	d->scheduler = NULL;
	/* Events it had not finished stay unprocessed in the store for the next start. */
	graph_worker_free(d->rt.graph_worker);
	d->rt.graph_worker = NULL;
	d->drain_deadline_us = util_mono_us() + (int64_t)DRAIN_MAX_MS * 1000;
	d->drain_ev = event_new(d->rt.base, -1, EV_PERSIST, drain_cb, d);
	event_add(d->drain_ev, &tv);
}

static struct event *
add_signal(struct daemon *d, int sig)
{
	struct event *ev = evsignal_new(d->rt.base, sig, signal_cb, d);

	if (ev == NULL || event_add(ev, NULL) == -1)
		fatal("cannot handle signal %d", sig);
	return ev;
}

static int
serve(const char *path)
{
	struct daemon d;
	char *err = NULL;

	memset(&d, 0, sizeof(d));
	d.rt.cfg = load_or_report(path);
	if (d.rt.cfg == NULL)
		return 1;
	apply_log_level(d.rt.cfg);
	signal(SIGPIPE, SIG_IGN);
	d.rt.base = event_base_new();
	/* Three priorities: the journal's group commit runs below HTTP (see journal.c). */
	if (d.rt.base == NULL || event_base_priority_init(d.rt.base, 3) == -1)
		fatal("cannot create the event loop");
	d.rt.store = store_open(d.rt.cfg->store_url, &err);
	if (d.rt.store == NULL)
		fatal("store: %s", err);
	d.rt.journal = journal_new(d.rt.base, d.rt.cfg->store_url, &err);
	if (d.rt.journal == NULL)
		fatal("store: %s", err);
	d.rt.listener = listener_new(&d.rt, &err);
	if (d.rt.listener == NULL)
		fatal("%s", err);
	d.http = http_client_new(d.rt.base, d.rt.cfg->ca_file, d.rt.cfg->timeout_ms);
	d.scheduler = scheduler_new(d.rt.base, d.http, d.rt.cfg);
	d.rt.graph_worker = graph_worker_new(&d.rt, d.http, NULL, NULL);
	d.sig_hup = add_signal(&d, SIGHUP);
	d.sig_term = add_signal(&d, SIGTERM);
	d.sig_int = add_signal(&d, SIGINT);
	log_info("rekey serving %zu apps; store %s", d.rt.cfg->n_apps, d.rt.cfg->store_url);
	event_base_dispatch(d.rt.base);

	scheduler_free(d.scheduler);
	graph_worker_free(d.rt.graph_worker);
	http_client_free(d.http);
	journal_free(d.rt.journal);
	listener_free(d.rt.listener);
	store_close(d.rt.store);
	event_free(d.sig_hup);
	event_free(d.sig_term);
	event_free(d.sig_int);
	if (d.drain_ev != NULL)
		event_free(d.drain_ev);
	event_base_free(d.rt.base);
	log_info("stopped cleanly");
	config_free(d.rt.cfg);
	metrics_reset();
	return 0;
}

static int
check(const char *path)
{
	struct config *cfg = load_or_report(path);
	size_t i;

	if (cfg == NULL)
		return 1;
	printf("%s: ok: %zu app%s (", path, cfg->n_apps, cfg->n_apps == 1 ? "" : "s");
	for (i = 0; i < cfg->n_apps; i++)
		printf("%s%s", i ? ", " : "", cfg->apps[i]->name);
	printf("), listen %s (%s), store %s\n", cfg->listen,
	    cfg->tls_cert ? "https" : "plain http", cfg->store_url);
	config_free(cfg);
	return 0;
}

static int
status(const char *path, int json)
{
	struct config *cfg = load_or_report(path);
	struct store *st;
	char *err = NULL;
	int64_t nylas, graph;

	if (cfg == NULL)
		return 1;
	st = store_open(cfg->store_url, &err);
	if (st == NULL) {
		fprintf(stderr, "%s: store: %s\n", path, err);
		free(err);
		config_free(cfg);
		return 1;
	}
	nylas = store_count_events(st, "nylas");
	graph = store_count_events(st, "graph");
	if (json)
		printf("{\"events\":{\"nylas\":%lld,\"graph\":%lld},\"apps\":[]}\n",
		    (long long)nylas, (long long)graph);
	else
		printf("events journaled: nylas %lld, graph %lld\n", (long long)nylas,
		    (long long)graph);
	store_close(st);
	config_free(cfg);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *cmd, *path = NULL;
	int i, json = 0;

	if (argc < 2)
		usage();
	cmd = argv[1];
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
	}
	if (path == NULL)
		usage();
	if (strcmp(cmd, "serve") == 0)
		return serve(path);
	if (strcmp(cmd, "check") == 0)
		return check(path);
	if (strcmp(cmd, "status") == 0)
		return status(path, json);
	if (strcmp(cmd, "rotate") == 0 || strcmp(cmd, "approve") == 0) {
		fprintf(stderr, "rekey %s: rotation is not in this version yet\n", cmd);
		return 2;
	}
	usage();
}
