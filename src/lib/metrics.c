#include "lib/metrics.h"
#include "lib/log.h"
#include "lib/util.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

/*
 * Label values come from bounded sets; this cap guards against a mistake.
 * About 25 series per app (its conditions, expiry dates, polls, outbound
 * calls): room for a few hundred apps.
 */
#define METRICS_SERIES_MAX 8192
#define HASH_SIZE 2048

enum series_kind { KIND_COUNTER, KIND_GAUGE };

struct series {
	char *name;
	const char *help;	/* static string */
	char *labels;
	enum series_kind kind;
	double value;
	struct series *next;	/* insertion order */
	struct series *hnext;	/* hash chain */
};

struct histogram {
	const char *name;
	const char *help;
	const double *bounds;
	size_t n_bounds;
	unsigned long long counts[16];
	double sum;
	unsigned long long count;
};

/* The loop and the notifier's mail thread both count: every public call holds this. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct series *head, *tail, *table[HASH_SIZE];
static size_t n_series;

/*
 * The per-request counters remember the series of their last label values,
 * so that the common case (the same route and status as before) costs a few
 * compares rather than formatting the labels and a hash lookup.  The label
 * values are copied: a caller's string need not outlive the call.
 */
#define MEMO_VALUE_MAX 32
struct memo {
	char a[MEMO_VALUE_MAX], b[MEMO_VALUE_MAX], c[MEMO_VALUE_MAX];
	int n;
	struct series *s;	/* NULL: empty */
};
static struct memo request_memo, webhook_memo;

static const double latency_bounds[] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5,
};
static const double batch_bounds[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512 };

static struct histogram ack_hist = {
	"rekey_webhook_ack_seconds",
	"Time from a webhook request's arrival to its answer (durably stored first).",
	latency_bounds, sizeof(latency_bounds) / sizeof(latency_bounds[0]), {0}, 0, 0,
};
static struct histogram commit_hist = {
	"rekey_store_commit_seconds", "Time one grouped store commit took.",
	latency_bounds, sizeof(latency_bounds) / sizeof(latency_bounds[0]), {0}, 0, 0,
};
static struct histogram batch_hist = {
	"rekey_store_commit_batch_size", "Events per grouped store commit.",
	batch_bounds, sizeof(batch_bounds) / sizeof(batch_bounds[0]), {0}, 0, 0,
};

static unsigned
hash(const char *name, const char *labels)
{
	unsigned h = 2166136261u;
	const char *p;

	for (p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	for (p = labels; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	return h % HASH_SIZE;
}

static struct series *
lookup(const char *name, const char *help, const char *labels, enum series_kind kind)
{
	unsigned h = hash(name, labels);
	struct series *s;

	for (s = table[h]; s != NULL; s = s->hnext)
		if (strcmp(s->name, name) == 0 && strcmp(s->labels, labels) == 0)
			return s;
	if (n_series >= METRICS_SERIES_MAX) {
		log_warn("metrics: series limit reached; dropping %s", name);
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->name = xstrdup(name);
	s->help = help;
	s->labels = xstrdup(labels);
	s->kind = kind;
	s->hnext = table[h];
	table[h] = s;
	if (tail != NULL)
		tail->next = s;
	else
		head = s;
	tail = s;
	n_series++;
	return s;
}

static void
counter_add(const char *name, const char *help, const char *labels, double v)
{
	struct series *s = lookup(name, help, labels, KIND_COUNTER);

	if (s != NULL)
		s->value += v;
}

void
metrics_counter_add(const char *name, const char *help, const char *labels, double v)
{
	pthread_mutex_lock(&lock);
	counter_add(name, help, labels, v);
	pthread_mutex_unlock(&lock);
}

static void
set_value(const char *name, const char *help, const char *labels, enum series_kind kind,
    double v)
{
	struct series *s;

	pthread_mutex_lock(&lock);
	s = lookup(name, help, labels, kind);
	if (s != NULL)
		s->value = v;
	pthread_mutex_unlock(&lock);
}

void
metrics_counter_set(const char *name, const char *help, const char *labels, double v)
{
	set_value(name, help, labels, KIND_COUNTER, v);
}

void
metrics_gauge_set(const char *name, const char *help, const char *labels, double v)
{
	set_value(name, help, labels, KIND_GAUGE, v);
}

/* Unlinks s from its hash chain and from the insertion list. */
static void
unlink_series(struct series *s, unsigned h)
{
	struct series **pp, *prev = NULL, *p;

	for (pp = &table[h]; *pp != s; pp = &(*pp)->hnext)
		;
	*pp = s->hnext;
	for (p = head; p != s; p = p->next)
		prev = p;
	if (prev != NULL)
		prev->next = s->next;
	else
		head = s->next;
	if (tail == s)
		tail = prev;
	n_series--;
}

void
metrics_gauge_remove(const char *name, const char *labels)
{
	unsigned h = hash(name, labels);
	struct series *s;

	pthread_mutex_lock(&lock);
	for (s = table[h]; s != NULL; s = s->hnext)
		if (s->kind == KIND_GAUGE && strcmp(s->name, name) == 0 &&
		    strcmp(s->labels, labels) == 0)
			break;
	if (s != NULL) {
		unlink_series(s, h);
		free(s->name);
		free(s->labels);
		free(s);
	}
	pthread_mutex_unlock(&lock);
}

void
metrics_gauge_remove_all(const char *name)
{
	struct series *s, *next;

	pthread_mutex_lock(&lock);
	for (s = head; s != NULL; s = next) {
		next = s->next;
		if (s->kind != KIND_GAUGE || strcmp(s->name, name) != 0)
			continue;
		unlink_series(s, hash(s->name, s->labels));
		free(s->name);
		free(s->labels);
		free(s);
	}
	pthread_mutex_unlock(&lock);
}

static int
memo_hit(const struct memo *m, const char *a, const char *b, const char *c, int n)
{
	return m->s != NULL && m->n == n && strcmp(m->a, a) == 0 && strcmp(m->b, b) == 0 &&
	    strcmp(m->c, c) == 0;
}

/* Remembers s for these values, unless one is too long to keep. */
static void
memo_set(struct memo *m, const char *a, const char *b, const char *c, int n,
    struct series *s)
{
	m->s = NULL;
	if (s == NULL || strlen(a) >= MEMO_VALUE_MAX || strlen(b) >= MEMO_VALUE_MAX ||
	    strlen(c) >= MEMO_VALUE_MAX)
		return;
	util_strlcpy(m->a, a, sizeof(m->a));
	util_strlcpy(m->b, b, sizeof(m->b));
	util_strlcpy(m->c, c, sizeof(m->c));
	m->n = n;
	m->s = s;
}

void
metrics_inc_request(const char *route, int status)
{
	char labels[128];
	struct series *s;

	pthread_mutex_lock(&lock);
	if (memo_hit(&request_memo, route, "", "", status)) {
		request_memo.s->value++;
		pthread_mutex_unlock(&lock);
		return;
	}
	snprintf(labels, sizeof(labels), "route=\"%s\",status=\"%d\"", route, status);
	s = lookup("rekey_http_requests_total", "HTTP requests answered, by route and status.",
	    labels, KIND_COUNTER);
	if (s != NULL)
		s->value++;
	memo_set(&request_memo, route, "", "", status, s);
	pthread_mutex_unlock(&lock);
}

void
metrics_inc_webhook(const char *source, const char *type, const char *result)
{
	char labels[256];
	struct series *s;

	pthread_mutex_lock(&lock);
	if (memo_hit(&webhook_memo, source, type, result, 0)) {
		webhook_memo.s->value++;
		pthread_mutex_unlock(&lock);
		return;
	}
	snprintf(labels, sizeof(labels), "source=\"%s\",type=\"%s\",result=\"%s\"",
	    source, type, result);
	s = lookup("rekey_webhooks_total", "Webhook deliveries by source, event type and result.",
	    labels, KIND_COUNTER);
	if (s != NULL)
		s->value++;
	memo_set(&webhook_memo, source, type, result, 0, s);
	pthread_mutex_unlock(&lock);
}

static void
observe(struct histogram *h, double v)
{
	size_t i;

	for (i = 0; i < h->n_bounds; i++)
		if (v <= h->bounds[i])
			h->counts[i]++;
	h->sum += v;
	h->count++;
}

void
metrics_observe_ack(double seconds)
{
	pthread_mutex_lock(&lock);
	observe(&ack_hist, seconds);
	pthread_mutex_unlock(&lock);
}

void
metrics_observe_commit(double seconds, size_t batch, int ok)
{
	pthread_mutex_lock(&lock);
	observe(&commit_hist, seconds);
	observe(&batch_hist, (double)batch);
	if (!ok)
		counter_add("rekey_store_commit_failures_total",
		    "Grouped store commits that failed.", "", 1);
	pthread_mutex_unlock(&lock);
}

static void
render_histogram(struct evbuffer *out, const struct histogram *h)
{
	size_t i;

	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", h->name, h->help, h->name);
	for (i = 0; i < h->n_bounds; i++)
		evbuffer_add_printf(out, "%s_bucket{le=\"%g\"} %llu\n", h->name, h->bounds[i],
		    h->counts[i]);
	evbuffer_add_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n",
	    h->name, h->count, h->name, h->sum, h->name, h->count);
}

/* Whether a series of this name was already rendered (it appears before s). */
/* Whether name is among the first n of names. */
static int
listed_name(const char *const *names, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(names[i], name) == 0)
			return 1;
	return 0;
}

/*
 * Each metric once, its series together, in the order names first appeared.
 * The names already written are kept aside (there are a few dozen), so that
 * a scrape costs series x names, not series squared.
 */
void
metrics_render(struct evbuffer *out)
{
	const struct series *s, *t;
	const char **done;
	size_t n_done = 0;

	pthread_mutex_lock(&lock);
	done = xcalloc(n_series + 1, sizeof(*done));
	for (s = head; s != NULL; s = s->next) {
		if (listed_name(done, n_done, s->name))
			continue;
		done[n_done++] = s->name;
		evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", s->name, s->help,
		    s->name, s->kind == KIND_COUNTER ? "counter" : "gauge");
		for (t = s; t != NULL; t = t->next)
			if (strcmp(t->name, s->name) == 0)
				evbuffer_add_printf(out, "%s%s%s%s %.17g\n", t->name,
				    *t->labels ? "{" : "", t->labels, *t->labels ? "}" : "",
				    t->value);
	}
	free(done);
	render_histogram(out, &ack_hist);
	render_histogram(out, &commit_hist);
	render_histogram(out, &batch_hist);
	pthread_mutex_unlock(&lock);
}

void
metrics_reset(void)
{
	struct series *s, *next;

	pthread_mutex_lock(&lock);
	for (s = head; s != NULL; s = next) {
		next = s->next;
		free(s->name);
		free(s->labels);
		free(s);
	}
	head = tail = NULL;
	memset(table, 0, sizeof(table));
	n_series = 0;
	request_memo.s = NULL;
	webhook_memo.s = NULL;
	pthread_mutex_unlock(&lock);
}
