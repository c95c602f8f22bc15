/*
 * correlate_storm: the correlator's side of a storm permit (state/storm.h).
 * Part of the correlator (correlate_int.h).
 *
 * An app gets a permit when every grant.expired it could receive would be
 * classified the same way and join the same incident: its app-side incident
 * is open (committed) with cause secret_expired, the last probe of the
 * in-use secret said expired (which decides before any other evidence) and
 * is not due again, no probe is in flight, and no rotation of the app is
 * watching.  The permit ends when the probe is due: the next grant.expired
 * then comes to the correlator, which probes again before it classifies,
 * as it would have.  Since the correlator no longer sees the settled
 * events, a timer does for apps with a permit what a batch would have done
 * around them: counts the incident's grants from the store, reads the
 * credentials and the rotation being watched, logs the milestones and sets
 * the gauges.
 */
#include "engine/correlate.h"
#include "engine/correlate_int.h"
#include "lib/util.h"
#include "state/journal.h"
#include "state/runtime.h"
#include "state/storm.h"

#include <string.h>

static struct storm *
storm_of(const struct correlator *c)
{
	return journal_storm(c->rt->journal);
}

/* Whether every grant.expired of the app would join its app-side incident, as it stands. */
static int
settled_alike(const struct app_corr *a)
{
	const struct incident *inc = a->slot[SLOT_APP];

	return !a->c->closing && inc != NULL && !inc->is_new && !inc->resolved &&
	    inc->cause == INCIDENT_SECRET_EXPIRED && inc->why != NULL &&
	    a->probe_result == INCIDENT_PROBE_EXPIRED && a->probe == NULL &&
	    a->probe_started_ms > 0 && a->watch_id == NULL;
}

void
correlate_storm_update(struct app_corr *a)
{
	int64_t until = a->probe_started_ms + (int64_t)CORRELATE_PROBE_EVERY_S * 1000;

	if (settled_alike(a) && until > util_now_ms()) {
		storm_grant(storm_of(a->c), a->name, a->slot[SLOT_APP]->id, until);
		a->permitted = 1;
	} else if (a->permitted) {
		storm_revoke(storm_of(a->c), a->name);
		a->permitted = 0;
	}
}

void
correlate_storm_take(struct app_corr *a)
{
	a->c->processed += storm_take(storm_of(a->c), a->name, &a->burst);
}

/* What a batch reads around its events, for an app whose events the writer settles. */
static int
refresh(struct app_corr *a)
{
	struct store_incident row;
	struct incident *inc;
	int rc;

	if (store_begin_read(a->c->store) == -1)
		return -1;
	rc = correlate_drop_resolved_elsewhere(a);
	inc = a->slot[SLOT_APP];
	if (rc == 0 && inc != NULL && (rc = store_get_incident(a->c->store, inc->id, &row)) == 1) {
		inc->affected = row.affected;
		inc->recovered = row.recovered;
		store_incident_clear(&row);
	}
	if (rc != -1) {
		correlate_check_credential(a);
		correlate_watch_check(a);
	}
	store_commit(a->c->store);
	if (rc == -1)
		return -1;
	correlate_storm_take(a);
	/* The evidence a grant.expired would add now (the credentials may have changed). */
	if (a->slot[SLOT_APP] != NULL)
		(void)correlate_incident_for(a, INCIDENT_SECRET_EXPIRED, NULL, NULL, NULL,
		    util_now_ms());
	return 0;
}

void
correlate_storm_tick(struct correlator *c)
{
	size_t i;

	/* A batch on its way counts the incidents itself when it is committed. */
	if (c->closing || c->batch_op != NULL || c->queue_n > 0)
		return;
	for (i = 0; i < c->n_apps; i++) {
		struct app_corr *a = c->apps[i];

		if (!a->permitted)
			continue;
		if (refresh(a) == -1) {
			storm_revoke(storm_of(c), a->name);
			a->permitted = 0;
			continue;
		}
		/* Writes what changed, logs the milestones, sets the gauges and the permit again. */
		correlate_app_after_commit(a);
	}
}
