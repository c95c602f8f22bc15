/*
 * storm: the journal's writer settles a storm's grant.expired itself.
 *
 * When an app's secret has expired, Nylas sends a grant.expired for each of
 * its Microsoft grants, and the correlator would read each one back,
 * classify it the same way (the probe of the in-use secret says expired:
 * nothing else decides) and list it in the same incident.  So while that
 * holds, the correlator grants the app a permit (the incident, until its
 * probe is due again), and the writer stores such an event already
 * processed and lists its grant in the incident, in the transaction that
 * journals it: one row and a link, no read-back, no second write.
 *
 * The writer takes the permit only when the store agrees (store_storm_ready:
 * the incident is open, no event of the app but grant.expired waits for the
 * correlator, no rotation of the app watches its new secret), and an app's
 * run of events stops at its first event the permit does not cover, so the
 * correlator still sees every other event in order.  What the correlator keeps in
 * memory of the settled events (the last grants to expire, for its burst
 * rule) it takes back with storm_take.
 *
 * Thread-safe: the correlator (main loop) grants and takes, the writer
 * thread plans, lists and reports.
 */
#ifndef REKEY_STATE_STORM_H
#define REKEY_STATE_STORM_H

#include <stddef.h>
#include <stdint.h>

#include "state/store.h"

struct storm;
struct incident_burst;

/* Longest incident id a permit holds (a GUID is 36). */
#define STORM_ID_MAX 64

/* How the writer settled one event of its run. */
struct storm_mark {
	char incident[STORM_ID_MAX];	/* "": not settled here (the correlator's) */
	int listed;			/* after storm_list: 1 newly listed, 0 listed before */
};

struct storm *storm_new(void);
void storm_free(struct storm *s);

/* The correlator: app's grant.expired go to incident_id until until_ms (wall clock). */
void storm_grant(struct storm *s, const char *app, const char *incident_id, int64_t until_ms);
/* The correlator: no more (app NULL: no app). */
void storm_revoke(struct storm *s, const char *app);
/*
 * The correlator: the grants settled for app since the last call, oldest
 * first, added to b (incident_burst_add); the number settled.
 */
size_t storm_take(struct storm *s, const char *app, struct incident_burst *b);

/*
 * The writer, inside its transaction, before storing evs[0..n): marks the
 * events a permit covers (marks[i]) and sets their result, so that they are
 * stored processed.  0, or -1 when the store failed.
 */
int storm_plan(struct storm *s, struct store *st, struct store_event *const *evs, size_t n,
    struct storm_mark *marks);
/*
 * The writer, after storing them (results[i]): lists the grants of the
 * marked events that were stored (a duplicate event is unmarked) and
 * settles each one's result.  0 or -1.
 */
int storm_list(struct store *st, struct store_event *const *evs, size_t n,
    const enum store_result *results, struct storm_mark *marks);
/* The writer, once the transaction committed: a settled event, for storm_take. */
void storm_settled(struct storm *s, const struct store_event *ev, const struct storm_mark *m);
/* The writer, once per commit: the events it settled, listed or listed before, in the metrics. */
void storm_count(size_t listed, size_t already);

#endif
