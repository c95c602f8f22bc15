/*
 * correlate_watch: grant.expired while a rotation watches its new secret.
 * Part of the correlator (correlate_int.h).
 *
 * The identity platform may accept a new secret that Nylas still cannot sign
 * users in with; then users' grants expire.  A burst of them (INCIDENT_BURST_MIN
 * distinct grants within INCIDENT_BURST_WINDOW_S) while a rotation of the app
 * is watching is recorded with the batch (rotation_burst_put: the record is
 * the rotation module's) and the rotators are woken through the hub: the
 * rotator's watching step reads it and decides.  The correlator never calls
 * the rotator.
 *
 * Only expiries Nylas stamped at or after the publish count: the ones it
 * stamped before (the incident that called for the rotation, delivered late
 * or retried for up to 20 minutes) were not caused by the new secret.  Nor
 * do the ones that a user's own evidence explains (disabled, deleted, password
 * changed, sessions revoked).
 */
#include "engine/correlate_int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "proto/nylas_event.h"
#include "state/rotation.h"
#include "state/store.h"
#include "state/wake.h"

#include <stdlib.h>
#include <string.h>

void
correlate_watch_check(struct app_corr *a)
{
	struct store_rotation *list = NULL;
	size_t n = 0;
	const char *id = NULL;
	int64_t since = 0;

	if (store_list_rotations(a->c->store, a->name, 1, 1, &list, &n) == -1)
		return;
	if (n > 0 && !list[0].dry_run && list[0].published_at > 0 &&
	    strcmp(list[0].state, rotation_state_name(ROTATION_WATCHING)) == 0) {
		id = list[0].id;
		since = list[0].published_at;
	}
	/* Another rotation (or none): its grants are counted afresh. */
	if (id == NULL || a->watch_id == NULL || strcmp(id, a->watch_id) != 0) {
		free(a->watch_id);
		a->watch_id = xstrdup_null(id);
		a->watch_since_ms = since;
		memset(&a->watch_burst, 0, sizeof(a->watch_burst));
		a->watch_recorded = 0;
	}
	store_rotations_free(list, n);
}

void
correlate_watch_count(struct app_corr *a, const struct nylas_event *ev,
    enum incident_cause cause, int64_t received_ms)
{
	int64_t stamped_ms = ev->time > 0 ? ev->time * 1000 : received_ms;

	if (a->watch_id == NULL || incident_cause_is_user(cause))
		return;
	/* Nylas stamps whole seconds: the second of the publish counts. */
	if (stamped_ms < a->watch_since_ms / 1000 * 1000)
		return;
	incident_burst_add(&a->watch_burst, ev->grant_id, received_ms);
}

void
correlate_watch_plan(struct correlator *c, struct write_op *op)
{
	size_t i, n = 0;

	op->bursts = xcalloc(c->n_apps + 1, sizeof(*op->bursts));
	for (i = 0; i < c->n_apps; i++) {
		struct app_corr *a = c->apps[i];
		struct incident_burst *b = &a->watch_burst;
		int64_t newest;
		size_t k, within = 0;

		if (a->watch_id == NULL || a->watch_recorded || b->n < INCIDENT_BURST_MIN)
			continue;
		newest = b->at_ms[b->n - 1];
		for (k = 0; k < b->n; k++)
			within += newest - b->at_ms[k] <= (int64_t)INCIDENT_BURST_WINDOW_S * 1000;
		if (within < INCIDENT_BURST_MIN)
			continue;
		op->bursts[n].app_i = i;
		op->bursts[n].app = xstrdup(a->name);
		op->bursts[n].rotation_id = xstrdup(a->watch_id);
		op->bursts[n].at_ms = newest;
		op->bursts[n].grants = (int)within;
		n++;
	}
	op->n_bursts = n;
}

int
correlate_watch_write(struct store *st, const struct write_op *op)
{
	size_t i;

	for (i = 0; i < op->n_bursts; i++)
		if (rotation_burst_put(st, op->bursts[i].app, op->bursts[i].rotation_id,
		    op->bursts[i].at_ms, op->bursts[i].grants) == -1)
			return -1;
	return 0;
}

void
correlate_watch_committed(struct correlator *c, const struct write_op *op)
{
	size_t i;

	for (i = 0; i < op->n_bursts; i++) {
		const struct burst_write *w = &op->bursts[i];

		if (w->app_i < c->n_apps && c->apps[w->app_i]->watch_id != NULL &&
		    strcmp(c->apps[w->app_i]->watch_id, w->rotation_id) == 0)
			c->apps[w->app_i]->watch_recorded = 1;
		log_rotation(LOG_LEVEL_WARN, w->app, w->rotation_id,
		    "rotation %s: %d grants expired within %d s "
		    "while its new secret is watched; the rotator looks at the old one",
		    w->rotation_id, w->grants, INCIDENT_BURST_WINDOW_S);
	}
	if (op->n_bursts > 0)
		wake_signal(WAKE_ROTATIONS);
}

void
correlate_watch_free(struct write_op *op)
{
	size_t i;

	for (i = 0; i < op->n_bursts; i++) {
		free(op->bursts[i].app);
		free(op->bursts[i].rotation_id);
	}
	free(op->bursts);
	op->bursts = NULL;
	op->n_bursts = 0;
}
