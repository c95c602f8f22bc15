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

struct store;

struct http_client;
struct runtime;
struct correlator;

/* The in-use secret is probed at most this often per app, however many webhooks arrive. */
#define CORRELATE_PROBE_EVERY_S 60
/* This many distinct grants of one app expiring within the window is a burst. */
#define CORRELATE_BURST_MIN 5
#define CORRELATE_BURST_WINDOW_S 600
/* A user event observed up to this long before the webhook explains the grant's expiry. */
#define CORRELATE_USER_WINDOW_S 86400
/* Evidence lines kept per incident (the last one says when more were left out). */
#define CORRELATE_EVIDENCE_MAX 50

/* Causes, weakest first: a stronger cause replaces a weaker one in place. */
enum correlate_cause {
	CORRELATE_UNKNOWN,			/* nothing explains it (yet) */
	CORRELATE_SUSPECTED_APP_WIDE,		/* a burst of distinct grants, no proof */
	CORRELATE_USER_PASSWORD_CHANGED,
	CORRELATE_USER_SESSIONS_REVOKED,
	CORRELATE_USER_DELETED,
	CORRELATE_USER_DISABLED,
	CORRELATE_SECRET_INVALID,		/* AADSTS7000215 for the in-use secret */
	CORRELATE_SECRET_EXPIRED,		/* AADSTS7000222, or its end date has passed */
};
#define CORRELATE_N_CAUSES (CORRELATE_SECRET_EXPIRED + 1)

/* What the last probe of the in-use secret said. */
enum correlate_probe {
	CORRELATE_PROBE_NONE,		/* not probed yet, or no answer yet */
	CORRELATE_PROBE_UNPROBED,	/* cannot be probed: no secret known, config lacking */
	CORRELATE_PROBE_OK,		/* the token endpoint accepted it */
	CORRELATE_PROBE_EXPIRED,	/* AADSTS7000222 */
	CORRELATE_PROBE_INVALID,	/* AADSTS7000215 */
	CORRELATE_PROBE_REJECTED,	/* another AADSTS code: says nothing about the secret */
	CORRELATE_PROBE_ERROR,		/* no usable answer (transport, 5xx) */
};

/* What is known about one grant.expired when it is classified (strings borrowed). */
/* How long after a rotation a storm is still put down to the secret it replaced. */
#define CORRELATE_REPLACED_WINDOW_S (24 * 3600)

struct correlate_evidence {
	enum correlate_probe probe;
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
enum correlate_cause correlate_classify(const struct correlate_evidence *ev);
/* "secret_expired", ...: the names of the contract. */
const char *correlate_cause_name(enum correlate_cause c);
/* 0 and *out, or -1 for an unknown name. */
int correlate_cause_parse(const char *name, enum correlate_cause *out);
/* 1 for the causes that plan a rotation (secret_expired, secret_invalid). */
int correlate_cause_rotates(enum correlate_cause c);
/* 1 for the user causes: each has an incident of its own, apart from the app-side one. */
int correlate_cause_is_user(enum correlate_cause c);
/*
 * Marks incident id resolved by the operator (rekey resolve, the admin API):
 * a store write that a running daemon's correlator notices before its next
 * transaction.  0 (also when it was resolved already), or -1 with *err.
 */
int correlate_resolve(struct store *st, const char *id, char **err);
/* "ok", "secret_expired", "secret_invalid", "rejected", "error", "unprobed", "none". */
const char *correlate_probe_name(enum correlate_probe p);

/* The last CORRELATE_BURST_MIN distinct grants of an app to expire, newest last. */
struct correlate_burst {
	char grant[CORRELATE_BURST_MIN][128];
	int64_t at_ms[CORRELATE_BURST_MIN];
	size_t n;
};
/*
 * Records that grant expired at at_ms (a grant already among the last ones
 * only moves its time) and returns how many distinct grants expired within
 * CORRELATE_BURST_WINDOW_S up to at_ms (at most CORRELATE_BURST_MIN).  Pure.
 */
int correlate_burst_add(struct correlate_burst *b, const char *grant, int64_t at_ms);

/* 12345 as "12,345" into buf (>= 32 bytes). */
void correlate_format_count(int64_t n, char *buf, size_t size);

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
