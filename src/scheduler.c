#include "scheduler.h"
#include "config.h"
#include "graph_api.h"
#include "log.h"
#include "metrics.h"
#include "rotation.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

/* One app's poll: its own Graph client (and rotator identity) and timer. */
struct app_poll {
	struct scheduler *s;
	char *name;
	char *app_id;
	int64_t interval_s;
	struct graph_client *gc;
	struct event *timer;
	int in_flight;
};

struct scheduler {
	struct rotator *rot;		/* borrowed; may be NULL */
	struct app_poll **polls;
	size_t n;
};

static void poll_cb(evutil_socket_t fd, short what, void *arg);

static void
schedule(struct app_poll *p, int64_t seconds)
{
	struct timeval tv = { (time_t)seconds, 0 };

	evtimer_add(p->timer, &tv);
}

static void
publish(struct app_poll *p, const struct graph_application *a)
{
	char labels[512], end[32];
	size_t i;

	for (i = 0; i < a->n_passwords; i++) {
		const struct graph_password *pw = &a->passwords[i];

		snprintf(labels, sizeof(labels), "app=\"%s\",key_id=\"%s\"", p->name,
		    pw->key_id ? pw->key_id : "");
		metrics_gauge_set("rekey_secret_expiry_timestamp_seconds",
		    "When each client secret of the app ends (Unix seconds).", labels, (double)pw->end);
		util_format_time(pw->end, end, sizeof(end));
		log_ctx(LOG_LEVEL_INFO, NULL, p->name, "secret %s (hint %s, \"%s\") ends %s",
		    pw->key_id ? pw->key_id : "?", pw->hint ? pw->hint : "?",
		    pw->display_name ? pw->display_name : "", end);
	}
}

static void
found_cb(const struct graph_result *res, void *arg)
{
	struct app_poll *p = arg;
	char labels[256];

	p->in_flight = 0;
	if (res->outcome == GRAPH_CANCELLED)
		return;
	snprintf(labels, sizeof(labels), "app=\"%s\",result=\"%s\"", p->name,
	    graph_outcome_name(res->outcome));
	metrics_counter_add("rekey_expiry_polls_total", "Reads of an app's secrets from Graph.",
	    labels, 1);
	if (res->outcome == GRAPH_OK) {
		log_ctx(LOG_LEVEL_INFO, NULL, p->name, "expiry poll: %zu secrets",
		    res->application->n_passwords);
		publish(p, res->application);
		rotator_expiry_seen(p->s->rot, p->name, res->application);
	} else {
		log_ctx(LOG_LEVEL_WARN, NULL, p->name, "expiry poll failed: %s (HTTP %ld%s%s)%s%s",
		    graph_outcome_name(res->outcome), res->status,
		    res->error && res->error->code ? ", " : "",
		    res->error && res->error->code ? res->error->code : "",
		    res->detail ? ": " : "", res->detail ? res->detail : "");
	}
	schedule(p, p->interval_s);
}

static void
poll_cb(evutil_socket_t fd, short what, void *arg)
{
	struct app_poll *p = arg;

	(void)fd;
	(void)what;
	if (p->in_flight)
		return;
	if (graph_find_application(p->gc, p->app_id, found_cb, p) == 0)
		p->in_flight = 1;
	else
		schedule(p, p->interval_s);
}

static struct app_poll *
poll_new(struct event_base *base, struct http_client *hc, const struct config_app *app)
{
	struct app_poll *p;
	char *err = NULL;
	struct graph_client *gc;

	if (app->rotator_client_id == NULL || app->azure_client_id == NULL)
		return NULL;
	gc = graph_client_from_app(hc, app, &err);
	if (gc == NULL) {
		log_ctx(LOG_LEVEL_ERROR, NULL, app->name, "no expiry poll: %s", err);
		free(err);
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->name = xstrdup(app->name);
	p->app_id = xstrdup(app->azure_client_id);
	p->interval_s = app->expiry_poll > 0 ? app->expiry_poll : 3600;
	p->gc = gc;
	p->timer = evtimer_new(base, poll_cb, p);
	if (p->timer == NULL)
		fatal("scheduler: cannot create a timer");
	schedule(p, 0);
	return p;
}

struct scheduler *
scheduler_new(struct event_base *base, struct http_client *hc, const struct config *cfg,
    struct rotator *rot)
{
	struct scheduler *s = xcalloc(1, sizeof(*s));
	struct app_poll *p;
	size_t i;

	s->rot = rot;
	s->polls = xcalloc(cfg->n_apps + 1, sizeof(*s->polls));
	for (i = 0; i < cfg->n_apps; i++) {
		p = poll_new(base, hc, cfg->apps[i]);
		if (p != NULL) {
			p->s = s;
			s->polls[s->n++] = p;
		}
	}
	return s;
}

void
scheduler_free(struct scheduler *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++) {
		struct app_poll *p = s->polls[i];

		event_free(p->timer);
		graph_client_free(p->gc);
		free(p->name);
		free(p->app_id);
		free(p);
	}
	free(s->polls);
	free(s);
}
