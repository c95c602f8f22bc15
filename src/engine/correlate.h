/*
 * correlate: what happens to a Nylas grant.* webhook after the 200.  The
 * worker reads the journaled Nylas events from the store in batches and
 * works out why Microsoft grants expire (DESIGN.md "Correlation"): each
 * grant.expired opens or joins an incident of its app whose cause comes from
 * the evidence, strongest first (a probe of the in-use secret at the token
 * endpoint, the in-use credential's end date, Graph user events for the
 * grant's email, a burst of expiries).  A secret cause plans one rotation;
 * a user cause never does.  grant.updated with re-authentication and
 * grant.created mark affected grants recovered, and an incident whose grants
 * have all recovered is resolved.  A batch of events is handled in one store
 * transaction that also marks them processed, so a crash repeats at most the
 * batch in progress; nothing calls out per event (the probe is per app, at
 * most once per CORRELATE_PROBE_EVERY_S).
 */
#ifndef REKEY_ENGINE_CORRELATE_H
#define REKEY_ENGINE_CORRELATE_H

#include <stddef.h>
#include <stdint.h>

#include "state/incident.h"

struct http_client;
struct runtime;
struct correlator;

/* The in-use secret is probed at most this often per app, however many webhooks arrive. */
#define CORRELATE_PROBE_EVERY_S 60
/* A user event observed up to this long before the webhook explains the grant's expiry. */
#define CORRELATE_USER_WINDOW_S 86400
/* Evidence lines kept per incident (the last one says when more were left out). */
#define CORRELATE_EVIDENCE_MAX 50

/* How long after a rotation a storm is still put down to the secret it replaced. */
#define CORRELATE_REPLACED_WINDOW_S (24 * 3600)

/* What is known about one grant.expired when it is classified (strings borrowed). */
struct correlate_evidence {
	enum incident_probe probe;
	int credential_ended;		/* the in-use passwordCredentials entry's end has passed */
	const char *user_kind;		/* disabled, deleted, sessions_revoked, password_changed; or NULL */
	int burst;			/* distinct grants of the app expired within the window */
	int replaced_ended;		/* a rotation published lately replaced a secret that has ended */
};

/*
 * The cause the evidence supports, strongest first.  A fresh probe that the
 * secret works outweighs a stored end date (which may be older than the last
 * rotation), except when a rotation lately replaced a secret that has ended:
 * Nylas's webhooks lag, so a storm can arrive after rekey fixed its cause.
 * Pure.
 */
enum incident_cause correlate_classify(const struct correlate_evidence *ev);

/*
 * Works from its own connection to the store (relaxed durability) and from
 * rt->cfg (a new correlator is made on reload).  Rotations are planned
 * through rt->store and handed to rt->rotator.  Never NULL.
 */
struct correlator *correlator_new(struct runtime *rt, struct http_client *hc);
/* Probes in flight are detached; unprocessed events stay for the next one.  NULL is a no-op. */
void correlator_free(struct correlator *c);
/* New Nylas events were journaled: look now rather than at the next poll. */
void correlator_wake(struct correlator *c);
/* Events processed by this correlator (for tests and status). */
uint64_t correlator_processed(const struct correlator *c);

#endif
