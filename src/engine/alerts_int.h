/*
 * alerts_internal: what the alerts' files share, and only they: alerts.c
 * (the sweep), alerts_health.c (the conditions' part of it), alerts_sp.c
 * (the service principal's secrets' warnings) and
 * invalid_grants.c (Nylas's invalid grants, listed for an incident).  Other
 * modules use alerts.h.  All of it runs on the event loop.
 */
#ifndef REKEY_ENGINE_ALERTS_INT_H
#define REKEY_ENGINE_ALERTS_INT_H

#include "notice/notice.h"

#include <stddef.h>
#include <stdint.h>

struct config;
struct config_app;
struct event;
struct graph_client;
struct http_client;
struct notifier;
struct nylas_client;
struct runtime;
struct store;

struct app_alerts {
	struct alerts *al;
	char *name;
	struct graph_client *gc;	/* NULL without a rotator identity */
	struct nylas_client *nc;	/* NULL without an API key */
	char *object_id;
	int owners_busy;
	int owners_ready;		/* Graph's owners are known (or not wanted, or unreadable) */
	int64_t owners_wait_until_s;	/* notices wait this long for the first read */
	int64_t owners_next_s;		/* when Graph's owners are read again */
	int grants_busy;
	char *grants_incident;		/* the incident the listing in flight is for */
	int64_t grants_opened_ms;
	int64_t grants_next_s;
	int64_t health_next_ms;		/* when the conditions are evaluated again */
	int64_t cert_end;		/* the rotator certificate's end (Unix s); 0: unknown */
};

struct alerts {
	struct runtime *rt;
	struct http_client *hc;
	struct notifier *nt;
	struct store *st;
	struct event *timer;
	struct app_alerts **apps;
	size_t n_apps;
};

struct sweep {
	struct alerts *al;
	struct app_alerts *a;
	const struct config_app *app;
	char **owners;
	size_t n_owners;
	char hint[512];
	int more;			/* work was left for the next sweep: make it soon */
};

/* ---- alerts.c ---- */

/*
 * A notice of kind about app, with what every notice says (the app, the
 * mode, where to look: hint, of hint_size, holds the status command).
 */
void alerts_notice_base(struct notice *n, enum notice_kind kind, const struct config_app *app,
    const struct config *cfg, char *hint, size_t hint_size);
/*
 * Queues n about ref unless the outbox has it; the notifier is kicked when
 * rows were added.  0 when queued or known, -1 when it must be tried again.
 */
int alerts_tell(struct sweep *sw, const struct notice *n, const char *ref);

/* ---- alerts_health.c ---- */

/* Every ALERTS_HEALTH_MS: the conditions as metrics, and the notices they call for. */
void alerts_sweep_health(struct sweep *sw);

/* ---- alerts_sp.c ---- */

/* The service principal's secrets within a warn_before mark: one warning each per mark. */
void alerts_sweep_sp_secrets(struct sweep *sw);

#endif
