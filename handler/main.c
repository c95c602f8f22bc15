/*
 * rekey: keeps a Nylas application's Microsoft connector alive.
 *
 *   rekey serve -c FILE [--allow-core]
 *                           run in the foreground; JSON log lines on stderr
 *   rekey check -c FILE     validate the config and what it names (offline);
 *                           FILE:LINE: message per problem
 *   rekey status -c FILE [--json]
 *   rekey rotate -c FILE APP [--dry-run]
 *   rekey approve -c FILE ROTATION_ID
 *   rekey resolve -c FILE INCIDENT_ID
 *   rekey doctor -c FILE [APP] [--json] [--send-test]
 *   rekey nylas register -c FILE APP [--fix]
 *   rekey nylas rotate-webhook-secret -c FILE APP
 *   rekey backup -c FILE DEST [--force]          (handler/cli_store.c)
 *   rekey reseal -c FILE --new-key-file PATH     (handler/cli_store.c)
 */
#include "cli.h"
#include "handler/engines.h"
#include "engine/doctor.h"
#include "engine/notifier.h"
#include "engine/preflight.h"
#include "intake/admin.h"
#include "intake/graph.h"
#include "intake/listener.h"
#include "intake/loops.h"
#include "intake/nylas.h"
#include "intake/probes.h"
#include "intake/status_page.h"
#include "lib/log.h"
#include "lib/mailbox.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "notice/status.h"
#include "notice/status_leader.h"
#include "outbound/admin_client.h"
#include "outbound/http_client.h"
#include "state/config.h"
#include "state/config_load.h"
#include "state/incident.h"
#include "state/journal.h"
#include "state/leader.h"
#include "state/nylas_secrets.h"
#include "state/reseal.h"
#include "state/rotation.h"
#include "state/runtime.h"
#include "state/store.h"
#include "state/wake.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <zlib.h>

/* Set by the Makefile from git describe; a tarball without git says so. */
#ifndef REKEY_VERSION
#define REKEY_VERSION "unknown"
#endif

/* How long a graceful stop waits for in-flight requests before exiting anyway. */
#define DRAIN_MAX_MS 10000
#define DRAIN_POLL_MS 50

#define LEADER_HELP "1 on the replica that runs the engines (the leader), 0 on the others."

struct daemon {
	struct runtime rt;
	struct http_client *http;
	struct engines engines;		/* run while this process leads */
	struct leader *leader;
	struct event *sig_hup, *sig_term, *sig_int, *drain_ev;
	int64_t drain_deadline_us;
	int quiet_polls;
};

static void
usage(void)
{
	fputs("usage: rekey serve -c FILE [--allow-core]\n"
	    "       rekey version\n"
	    "       rekey check -c FILE\n"
	    "       rekey status -c FILE [--json]\n"
	    "       rekey rotate -c FILE APP [--dry-run]\n"
	    "       rekey approve -c FILE ROTATION_ID\n"
	    "       rekey resolve -c FILE INCIDENT_ID\n"
	    "       rekey doctor -c FILE [APP] [--json] [--send-test]\n"
	    "       rekey nylas register -c FILE APP [--fix]\n"
	    "       rekey nylas rotate-webhook-secret -c FILE APP\n"
	    "       rekey backup -c FILE DEST [--force]\n"
	    "       rekey reseal -c FILE --new-key-file PATH   (with rekey stopped)\n"
	    "rotate exits 0 also when APP already has an unfinished rotation: it prints\n"
	    "that one's id instead of planning another.  Exit codes: 0 ok, 1 error, 2 usage;\n"
	    "doctor: 0 all ok, 1 a warning, 2 a failure (as status).  Every command runs\n"
	    "with umask 077 and no core dumps (they would hold the keys); --allow-core\n"
	    "keeps the core limit and dumpability it was started with, for debugging.\n",
	    stderr);
	exit(2);
}

/* Prints each "FILE:LINE: message" on stderr. */
struct config *
load_or_report(const char *path)
{
	char *errors = NULL;
	struct config *cfg = config_load(path, &errors);

	if (cfg == NULL) {
		fprintf(stderr, "%s\n", errors ? errors : "cannot load config");
		free(errors);
		return NULL;
	}
	store_set_password(cfg->store_password);
	return cfg;
}

/* A config's warnings go to the log of a daemon that runs with it (start and reload). */
static void
log_config_warnings(const struct config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->n_warnings; i++)
		log_warn("config: %s", cfg->warnings[i]);
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
	if (reseal_check_key(d->rt.store, cfg, cfg->master_key, &err) == -1) {
		log_error("reload: keeping the running config: %s", err);
		free(err);
		config_free(cfg);
		return;
	}
	if (strcmp(cfg->listen, old->listen) != 0 || strcmp(cfg->store_url, old->store_url) != 0 ||
	    cfg->intake_loops != old->intake_loops)
		log_warn("reload: listen, intake_loops and store url changes take effect only after"
		    " a restart");
	/* The intake loops take the new config at their next turn, and free the old one. */
	if (loops_reload(d->rt.loops, cfg, old, &err) == -1) {
		log_error("reload: keeping the running config: %s", err);
		free(err);
		config_free(cfg);
		return;
	}
	d->rt.cfg = cfg;
	apply_log_level(cfg);
	log_config_warnings(cfg);
	/* Connections made from now on (the engines' below, reconnects) use the new password. */
	store_set_password(cfg->store_password);
	journal_set_retention(d->rt.journal, cfg->event_retention);
	http_client_configure(d->http, cfg->ca_file, cfg->timeout_ms);
	engines_reload(&d->engines);
	log_info("reload: config and certificate reloaded from %s (%zu apps)", cfg->path,
	    cfg->n_apps);
}

/*
 * What the listeners serve; the first entry matching a request's path
 * handles it.  The last column: handled on the main loop (the engines and
 * the main store connection are read there); the webhooks and /healthz are
 * handled on the intake loop that read them.
 */
static const struct listener_route routes[] = {
	{ "/healthz", 1, "healthz", probes_healthz, 0 },
	{ "/readyz", 1, "readyz", probes_readyz, 1 },
	{ "/metrics", 1, "metrics", probes_metrics, 1 },
	{ "/webhooks/nylas/", 0, "nylas", nylas_webhook_handle, 0 },
	{ "/webhooks/graph/", 0, "graph", graph_webhook_handle, 0 },
	{ "/api/v1/", 0, "admin", admin_handle, 1 },
	{ "/status", 0, "status_page", status_page_handle, 0 },
};

/* Every intake loop has stopped: so does the main loop. */
static void
loops_stopped_cb(void *arg)
{
	struct daemon *d = arg;

	event_base_loopexit(d->rt.base, NULL);
}

static void
drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	int idle = loops_active_requests(d->rt.loops) == 0 &&
	    journal_pending(d->rt.journal) == 0 && notifier_in_flight(d->rt.notifier) == 0;
	int late = util_mono_us() > d->drain_deadline_us;

	(void)fd;
	(void)what;
	/* Two quiet polls in a row: a request still being read has had time to arrive. */
	d->quiet_polls = idle ? d->quiet_polls + 1 : 0;
	if (d->quiet_polls < 2 && !late)
		return;
	if (d->quiet_polls < 2)
		log_warn("stop: %zu requests still in flight after %d ms; exiting anyway",
		    loops_active_requests(d->rt.loops), DRAIN_MAX_MS);
	/* The loops answer what they still hold (the journal's last answers), then stop. */
	event_del(d->drain_ev);
	loops_quit(d->rt.loops, late ? util_mono_us() : d->drain_deadline_us, loops_stopped_cb, d);
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
	loops_stop_accepting(d->rt.loops);
	/* Another replica takes the lead at once, not after this one's drain. */
	leader_free(d->leader);
	d->leader = d->rt.leader = NULL;
	metrics_gauge_set("rekey_leader", LEADER_HELP, "", 0);
	engines_drain(&d->engines);
	d->drain_deadline_us = util_mono_us() + (int64_t)DRAIN_MAX_MS * 1000;
	d->drain_ev = event_new(d->rt.base, -1, EV_PERSIST, drain_cb, d);
	event_add(d->drain_ev, &tv);
}

/* From the election (state/leader.h), on the loop: a loss stops the engines before anything else runs. */
static void
leadership_cb(int is_leader, int64_t epoch, void *arg)
{
	struct daemon *d = arg;

	metrics_gauge_set("rekey_leader", LEADER_HELP, "", is_leader);
	if (is_leader)
		engines_start(&d->engines, epoch);
	else
		engines_stop(&d->engines);
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
	char *err = NULL, *store_shown;

	memset(&d, 0, sizeof(d));
	d.rt.cfg = load_or_report(path);
	if (d.rt.cfg == NULL)
		return 1;
	apply_log_level(d.rt.cfg);
	metrics_gauge_set("rekey_build_info", "Always 1; the version of the running rekey.",
	    "version=\"" REKEY_VERSION "\"", 1);
	log_config_warnings(d.rt.cfg);
	signal(SIGPIPE, SIG_IGN);
	d.rt.base = loops_base_new();
	d.rt.store = store_open(d.rt.cfg->store_url, &err);
	if (d.rt.store == NULL)
		fatal("store: %s", err);
	/* A master key that opens none of the sealed secrets (no swap after rekey reseal). */
	if (reseal_check_key(d.rt.store, d.rt.cfg, d.rt.cfg->master_key, &err) == -1)
		fatal("store: %s", err);
	/* Before anything reads them: secrets sealed before the binding are bound now. */
	if (rotation_reseal_legacy(d.rt.store, d.rt.cfg) == -1)
		fatal("store: cannot read the rotations to seal their secrets again");
	d.rt.journal = journal_new(d.rt.base, d.rt.cfg->store_url, &err);
	if (d.rt.journal == NULL)
		fatal("store: %s", err);
	/* What the intake loops hand the main loop (requests, wake-ups, their word back). */
	d.rt.main = &d.rt;
	d.rt.inbox = mailbox_new(d.rt.base, -1);
	wake_attach(d.rt.base);
	journal_set_retention(d.rt.journal, d.rt.cfg->event_retention);
	/* The managed webhook secrets, before the listener takes deliveries signed with them. */
	d.rt.nylas_secrets = nylas_secrets_new();
	nylas_secrets_load(d.rt.nylas_secrets, d.rt.store, d.rt.cfg);
	d.rt.loops = loops_new(&d.rt, routes, sizeof(routes) / sizeof(routes[0]),
	    (size_t)d.rt.cfg->intake_loops, &err);
	if (d.rt.loops == NULL)
		fatal("%s", err);
	d.http = http_client_new(d.rt.base, d.rt.cfg->ca_file, d.rt.cfg->timeout_ms);
	/* Right before every outbound attempt: only the leader, with a fresh lease, calls out. */
	http_client_set_gate(d.http, leader_gate, NULL);
	engines_init(&d.engines, &d.rt, d.http);
	metrics_gauge_set("rekey_leader", LEADER_HELP, "", 0);
	d.leader = leader_new(d.rt.base, d.rt.cfg->store_url, NULL, d.rt.cfg->node_name,
	    leadership_cb, &d);
	d.rt.leader = d.leader;
	d.sig_hup = add_signal(&d, SIGHUP);
	d.sig_term = add_signal(&d, SIGTERM);
	d.sig_int = add_signal(&d, SIGINT);
	store_shown = util_url_shown(d.rt.cfg->store_url, 0);
	log_info("rekey serving %zu apps; store %s; node %s", d.rt.cfg->n_apps, store_shown,
	    d.rt.cfg->node_name);
	free(store_shown);
	event_base_dispatch(d.rt.base);

	leader_free(d.leader);
	engines_free(&d.engines);
	http_client_free(d.http);
	/* The loops' journal handles go before the writer's own. */
	loops_free(d.rt.loops);
	journal_free(d.rt.journal);
	wake_detach();
	mailbox_free(d.rt.inbox);
	nylas_secrets_free(d.rt.nylas_secrets);
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

/* What preflight found, kept to be printed in line order as config errors are. */
struct check_out {
	const char *path;
	struct check_msg {
		int line;
		size_t seq;		/* keeps the order found within a line */
		char *text;
	} *msgs;
	size_t n;
};

/*
 * One problem preflight found, in the form of config errors: "FILE:LINE:
 * message" at the line of the key concerned, "warning: " before a warning.
 */
static void
check_collect_cb(const struct preflight_line *l, void *arg)
{
	struct check_out *out = arg;
	struct check_msg *m;

	if (l->level == PREFLIGHT_OK)
		return;
	out->msgs = xrealloc(out->msgs, (out->n + 1) * sizeof(*out->msgs));
	m = &out->msgs[out->n];
	m->line = l->line;
	m->seq = out->n++;
	m->text = xasprintf("%s:%d: %s%s%s%s%s: %s; fix: %s", l->file ? l->file : out->path,
	    l->line, l->level == PREFLIGHT_WARN ? "warning: " : "", l->app ? "[app " : "",
	    l->app ? l->app : "", l->app ? "] " : "", l->check, l->seen,
	    l->fix ? l->fix : "none needed");
}

static int
check_msg_cmp(const void *a, const void *b)
{
	const struct check_msg *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The offline checks of what cfg names; problems on stderr.  The worst level. */
static enum preflight_level
check_preflight(const char *path, const struct config *cfg)
{
	struct check_out out = { path, NULL, 0 };
	enum preflight_level worst;
	size_t i;

	worst = preflight_offline(cfg, NULL, (int64_t)time(NULL), check_collect_cb, &out);
	if (out.n > 0)
		qsort(out.msgs, out.n, sizeof(*out.msgs), check_msg_cmp);
	for (i = 0; i < out.n; i++) {
		fprintf(stderr, "%s\n", out.msgs[i].text);
		free(out.msgs[i].text);
	}
	free(out.msgs);
	return worst;
}

static int
check(const char *path)
{
	struct config *cfg = load_or_report(path);
	char *store_shown;
	size_t i;

	if (cfg == NULL)
		return 1;
	/* Warnings do not fail the check: an older config must still load. */
	for (i = 0; i < cfg->n_warnings; i++)
		fprintf(stderr, "%s\n", cfg->warnings[i]);
	/* What the config names must work too: a key of another certificate loads fine. */
	if (check_preflight(path, cfg) == PREFLIGHT_FAIL) {
		config_free(cfg);
		return 1;
	}
	printf("%s: ok: %zu app%s (", path, cfg->n_apps, cfg->n_apps == 1 ? "" : "s");
	for (i = 0; i < cfg->n_apps; i++)
		printf("%s%s", i ? ", " : "", cfg->apps[i]->name);
	store_shown = util_url_shown(cfg->store_url, 0);
	printf("), listen %s (%s), store %s\n", cfg->listen,
	    cfg->tls_cert ? "https" : "plain http", store_shown);
	free(store_shown);
	config_free(cfg);
	return 0;
}

/* The config and its store, for the commands that read or change state (cli.h). */
int
open_state(const char *path, int must_exist, struct config **cfg, struct store **st)
{
	char *err = NULL, *shown;

	*st = NULL;
	*cfg = load_or_report(path);
	if (*cfg == NULL)
		return -1;
	if (must_exist && store_missing((*cfg)->store_url, &err)) {
		fprintf(stderr, "%s: %s\n", path, err);
		free(err);
		config_free(*cfg);
		*cfg = NULL;
		return -1;
	}
	*st = store_open((*cfg)->store_url, &err);
	if (*st == NULL) {
		shown = util_url_shown((*cfg)->store_url, 0);
		fprintf(stderr, "%s: store %s not reachable: %s\n", path, shown, err);
		free(shown);
		free(err);
		config_free(*cfg);
		*cfg = NULL;
		return -1;
	}
	return 0;
}

void
close_state(struct config *cfg, struct store *st)
{
	store_close(st);
	config_free(cfg);
}

/* Replicas on PostgreSQL: who leads, from the leadership row (a SQLite store has one process). */
static void
add_leader(cJSON *doc, const struct config *cfg)
{
	struct leader_info info;
	char *err = NULL;
	int rc = leader_read(cfg->store_url, NULL, &info, &err);

	if (rc == -1) {
		fprintf(stderr, "%s: cannot read who leads: %s\n", cfg->path, err);
		free(err);
	}
	if (rc != 0)
		status_leader_add(doc, &info, NULL);
}

static int
status(const char *path, int json)
{
	struct config *cfg;
	struct store *st;
	cJSON *doc;
	char *text, *shown;
	int rc;

	/* Monitoring reads 2 as critical: a status that cannot be told is one. */
	if (open_state(path, 1, &cfg, &st) == -1)
		return 2;
	doc = status_build(st, cfg);
	if (doc == NULL) {
		shown = util_url_shown(cfg->store_url, 0);
		fprintf(stderr, "%s: cannot read the store %s\n", path, shown);
		free(shown);
		close_state(cfg, st);
		return 2;
	}
	add_leader(doc, cfg);
	text = json ? cJSON_Print(doc) : status_text(doc);
	if (text == NULL)
		fatal("out of memory");
	fputs(text, stdout);
	if (json)
		fputc('\n', stdout);
	free(text);
	rc = status_exit_code(doc);
	cJSON_Delete(doc);
	close_state(cfg, st);
	return rc;
}

/* What happens next to rotation id of app, for the operator who just planned or approved it. */
static void
print_next_step(const char *path, const struct config_app *app, const char *id)
{
	if (app->rotation_mode == ROTATION_MODE_APPROVE)
		printf("it waits for approval: rekey approve -c %s %s\n", path, id);
	else
		printf("the daemon starts it within 2 s; follow it with: rekey status -c %s\n", path);
}

static void
print_unknown_app(const struct config *cfg, const char *name)
{
	size_t i;

	fprintf(stderr, "rekey rotate: no app '%s' in %s; configured: ", name, cfg->path);
	for (i = 0; i < cfg->n_apps; i++)
		fprintf(stderr, "%s%s", i ? ", " : "", cfg->apps[i]->name);
	fputs(cfg->n_apps == 0 ? "none\n" : "\n", stderr);
}

static int
rotate(const char *path, const char *name, int dry_run)
{
	const struct config_app *app;
	struct config *cfg;
	struct store *st;
	char id[ROTATION_ID_SIZE], *err = NULL;
	int rc;

	if (open_state(path, 0, &cfg, &st) == -1)
		return 1;
	app = config_find_app(cfg, name);
	if (app == NULL) {
		print_unknown_app(cfg, name);
		close_state(cfg, st);
		return 1;
	}
	rc = rotation_plan(st, app, "manual", NULL, dry_run, id, &err);
	if (rc == -1) {
		fprintf(stderr, "rekey rotate: %s: %s\n", name, err);
		free(err);
	} else if (rc == 1) {
		printf("%s already has an unfinished rotation %s; not planning another\n", name, id);
		printf("see it with: rekey status -c %s\n", path);
	} else {
		printf("planned rotation %s of %s%s\n", id, name,
		    dry_run || app->rotation_mode == ROTATION_MODE_DRY_RUN ?
		    " (dry run: nothing is written to Graph or Nylas)" : "");
		print_next_step(path, app, id);
	}
	close_state(cfg, st);
	return rc == -1 ? 1 : 0;
}

/*
 * One store write of the CLI on the record id (rekey approve, rekey
 * resolve): a running daemon notices it by itself.  The exit status.
 */
static int
store_action(const char *path, const char *cmd, const char *id,
    int (*act)(struct store *, const char *, char **), const char *done, const char *next)
{
	struct config *cfg;
	struct store *st;
	char *err = NULL;
	int rc;

	if (open_state(path, 1, &cfg, &st) == -1)
		return 1;
	rc = act(st, id, &err);
	if (rc == -1) {
		fprintf(stderr, "rekey %s: %s\n", cmd, err);
		free(err);
	} else {
		printf("%s %s; %s: rekey status -c %s\n", done, id, next, path);
	}
	close_state(cfg, st);
	return rc == -1 ? 1 : 0;
}

/* The live preflight: loads the config, then doctor does the rest. */
static int
doctor(const char *path, const char *app, int json, int send_test)
{
	struct config *cfg = load_or_report(path);
	int rc;

	if (cfg == NULL)
		return 2;
	/* Its own outbound calls log at warn and above; the lines on stdout say the rest. */
	log_set_level(LOG_LEVEL_WARN);
	rc = doctor_run(cfg, app, json, send_test, stdout);
	config_free(cfg);
	return rc;
}

static int
approve(const char *path, const char *id)
{
	return store_action(path, "approve", id, rotation_approve, "approved rotation",
	    "the daemon starts it within 2 s; follow it with");
}

static int
resolve(const char *path, const char *id)
{
	return store_action(path, "resolve", id, incident_resolve, "resolved incident",
	    "the owners are told within a few seconds, and new expiries open a new incident; see");
}

/* Prints the daemon's answer ({"result","message"}); 0 when it is a success. */
static int
print_answer(const char *cmd, long status, const char *answer)
{
	cJSON *doc = cJSON_Parse(answer != NULL ? answer : "");
	const cJSON *msg = cJSON_GetObjectItemCaseSensitive(doc, "message");
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(doc, "result");
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(doc, "error");
	int ok = status >= 200 && status < 300;

	if (cJSON_IsString(msg))
		fprintf(ok ? stdout : stderr, "%s%s: %s\n", ok ? "" : "rekey nylas ",
		    cJSON_IsString(res) ? res->valuestring : cmd, msg->valuestring);
	else
		fprintf(stderr, "rekey nylas %s: the daemon answered %ld: %s\n", cmd, status,
		    cJSON_IsString(e) ? e->valuestring : answer != NULL ? answer : "");
	cJSON_Delete(doc);
	return ok ? 0 : 1;
}

/*
 * rekey nylas register|rotate-webhook-secret: done by the running daemon
 * (Nylas's challenge must reach it; the intake must hold the new secret at
 * once), asked through its admin API.
 */
static int
nylas_cmd(const char *path, const char *sub, const char *name, int fix)
{
	struct config *cfg = load_or_report(path);
	char *api = NULL, *answer = NULL, *err = NULL, *base;
	long status = 0;
	int rc = 1;

	if (cfg == NULL)
		return 1;
	if (config_find_app(cfg, name) == NULL) {
		print_unknown_app(cfg, name);
		config_free(cfg);
		return 1;
	}
	api = xasprintf("apps/%s/webhook/%s", name, strcmp(sub, "register") == 0 ? "register" :
	    "rotate-secret");
	if (admin_client_post(cfg, api, fix ? "{\"fix\":true}" : NULL, &status, &answer,
	    &err) == -1) {
		base = admin_client_base(cfg);
		fprintf(stderr, "rekey nylas %s: %s; this is done by the running daemon%s: start it "
		    "with rekey serve -c %s (listen = %s)\n", sub, err, strcmp(sub, "register") == 0 ?
		    ", which must also be reachable at public_url for Nylas's challenge" : "", path,
		    cfg->listen);
		free(base);
		free(err);
	} else {
		rc = print_answer(sub, status, answer);
	}
	free(answer);
	free(api);
	config_free(cfg);
	return rc;
}

/* rekey version: what runs, and the libraries it was linked with. */
static int
version(void)
{
	printf("rekey %s\n", REKEY_VERSION);
	printf("libevent %s, %s, libcurl %s, SQLite %s, cJSON %s, zlib %s\n",
	    event_get_version(), OpenSSL_version(OPENSSL_VERSION),
	    curl_version_info(CURLVERSION_NOW)->version, sqlite3_libversion(), cJSON_Version(),
	    zlibVersion());
	return 0;
}

int
main(int argc, char **argv)
{
	const char *cmd, *sub = NULL, *path = NULL, *arg = NULL, *new_key = NULL;
	int i, first = 2, json = 0, dry_run = 0, send_test = 0, fix = 0, allow_core = 0, n_args = 0;
	int force = 0;

	if (argc < 2)
		usage();
	cmd = argv[1];
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0)
		return version();
	/* rekey nylas SUBCOMMAND ...: the subcommand comes first. */
	if (strcmp(cmd, "nylas") == 0 && argc > 2)
		sub = argv[first++];
	for (i = first; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
			path = argv[++i];
		else if (strcmp(argv[i], "--json") == 0)
			json = 1;
		else if (strcmp(argv[i], "--dry-run") == 0)
			dry_run = 1;
		else if (strcmp(argv[i], "--send-test") == 0)
			send_test = 1;
		else if (strcmp(argv[i], "--fix") == 0)
			fix = 1;
		else if (strcmp(argv[i], "--allow-core") == 0)
			allow_core = 1;
		else if (strcmp(argv[i], "--force") == 0)
			force = 1;
		else if (strcmp(argv[i], "--new-key-file") == 0 && i + 1 < argc)
			new_key = argv[++i];
		else if (argv[i][0] != '-' && n_args++ == 0)
			arg = argv[i];
	}
	if (path == NULL)
		usage();
	/* Before any file is made or any secret read: every command reads the master key. */
	if (util_harden_process(allow_core) == -1)
		fatal("cannot turn core dumps off (use --allow-core to run with them)");
	if (strcmp(cmd, "serve") == 0)
		return serve(path);
	if (strcmp(cmd, "check") == 0)
		return check(path);
	if (strcmp(cmd, "status") == 0)
		return status(path, json);
	if (strcmp(cmd, "rotate") == 0 && n_args == 1)
		return rotate(path, arg, dry_run);
	if (strcmp(cmd, "approve") == 0 && n_args == 1)
		return approve(path, arg);
	if (strcmp(cmd, "resolve") == 0 && n_args == 1)
		return resolve(path, arg);
	if (strcmp(cmd, "backup") == 0 && n_args == 1)
		return cli_store_backup(path, arg, force);
	if (strcmp(cmd, "reseal") == 0 && n_args == 0 && new_key != NULL)
		return cli_store_reseal(path, new_key);
	if (strcmp(cmd, "doctor") == 0 && n_args <= 1)
		return doctor(path, arg, json, send_test);
	if (sub != NULL && n_args == 1 && (strcmp(sub, "register") == 0 ||
	    (strcmp(sub, "rotate-webhook-secret") == 0 && !fix)))
		return nylas_cmd(path, sub, arg, fix);
	usage();
}
