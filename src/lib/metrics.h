/*
 * metrics: counters and histograms rendered in the Prometheus text format.
 * Label values must come from bounded sets (routes, known event types,
 * result names): never put a value taken verbatim from a request here.
 */
#ifndef REKEY_LIB_METRICS_H
#define REKEY_LIB_METRICS_H

#include <stddef.h>

struct evbuffer;

/* labels is the inside of {...}, e.g. "route=\"nylas\",status=\"200\"", or "". */
void metrics_counter_add(const char *name, const char *help, const char *labels, double v);
/* A counter kept elsewhere (an intake loop's own tally): its value as it is now. */
void metrics_counter_set(const char *name, const char *help, const char *labels, double v);
void metrics_gauge_set(const char *name, const char *help, const char *labels, double v);
/* Drops a gauge series (what it measured is gone); unknown series are a no-op. */
void metrics_gauge_remove(const char *name, const char *labels);
/* Removes every series of the gauge name, whatever its labels. */
void metrics_gauge_remove_all(const char *name);

void metrics_inc_request(const char *route, int status);
void metrics_inc_webhook(const char *source, const char *type, const char *result);
void metrics_observe_ack(double seconds);
void metrics_observe_commit(double seconds, size_t batch, int ok);

void metrics_render(struct evbuffer *out);
/* Frees every series (at exit, so leak checkers stay quiet). */
void metrics_reset(void);

#endif
