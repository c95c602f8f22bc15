/*
 * incident: the vocabulary of an incident record (DESIGN.md "Correlation"),
 * shared by the correlator that opens incidents, the alerts that tell of
 * them, and the CLI and the admin API that resolve them.  The causes and
 * the probe results are stored and shown by name; these names are the
 * contract.  Also the pure counters the correlator builds its evidence
 * from.  The incident rows themselves are the store's (store.h).
 */
#ifndef REKEY_STATE_INCIDENT_H
#define REKEY_STATE_INCIDENT_H

#include <stddef.h>
#include <stdint.h>

struct store;

/* This many distinct grants of one app expiring within the window is a burst. */
#define INCIDENT_BURST_MIN 5
#define INCIDENT_BURST_WINDOW_S 600

/* Causes, weakest first: a stronger cause replaces a weaker one in place. */
enum incident_cause {
	INCIDENT_UNKNOWN,			/* nothing explains it (yet) */
	INCIDENT_SUSPECTED_APP_WIDE,		/* a burst of distinct grants, no proof */
	INCIDENT_USER_PASSWORD_CHANGED,
	INCIDENT_USER_SESSIONS_REVOKED,
	INCIDENT_USER_DELETED,
	INCIDENT_USER_DISABLED,
	INCIDENT_SECRET_INVALID,		/* AADSTS7000215 for the in-use secret */
	INCIDENT_SECRET_EXPIRED,		/* AADSTS7000222, or its end date has passed */
};
#define INCIDENT_N_CAUSES (INCIDENT_SECRET_EXPIRED + 1)

/* What the last probe of the in-use secret said. */
enum incident_probe {
	INCIDENT_PROBE_NONE,		/* not probed yet, or no answer yet */
	INCIDENT_PROBE_UNPROBED,	/* cannot be probed: no secret known, config lacking */
	INCIDENT_PROBE_OK,		/* the token endpoint accepted it */
	INCIDENT_PROBE_EXPIRED,		/* AADSTS7000222 */
	INCIDENT_PROBE_INVALID,		/* AADSTS7000215 */
	INCIDENT_PROBE_REJECTED,	/* another AADSTS code: says nothing about the secret */
	INCIDENT_PROBE_ERROR,		/* no usable answer (transport, 5xx) */
};

/* "secret_expired", ...: the names of the contract. */
const char *incident_cause_name(enum incident_cause c);
/* 0 and *out, or -1 for an unknown name. */
int incident_cause_parse(const char *name, enum incident_cause *out);
/* 1 for the causes that plan a rotation (secret_expired, secret_invalid). */
int incident_cause_rotates(enum incident_cause c);
/* 1 for the user causes: each has an incident of its own, apart from the app-side one. */
int incident_cause_is_user(enum incident_cause c);
/*
 * Marks incident id resolved by the operator (rekey resolve, the admin API):
 * a store write that a running daemon's correlator notices before its next
 * transaction.  0 (also when it was resolved already), or -1 with *err.
 */
int incident_resolve(struct store *st, const char *id, char **err);
/* "ok", "secret_expired", "secret_invalid", "rejected", "error", "unprobed", "none". */
const char *incident_probe_name(enum incident_probe p);

/* The last INCIDENT_BURST_MIN distinct grants of an app to expire, newest last. */
struct incident_burst {
	char grant[INCIDENT_BURST_MIN][128];
	int64_t at_ms[INCIDENT_BURST_MIN];
	size_t n;
};
/*
 * Records that grant expired at at_ms (a grant already among the last ones
 * only moves its time) and returns how many distinct grants expired within
 * INCIDENT_BURST_WINDOW_S up to at_ms (at most INCIDENT_BURST_MIN).  Pure.
 */
int incident_burst_add(struct incident_burst *b, const char *grant, int64_t at_ms);

/* 12345 as "12,345" into buf (>= 32 bytes). */
void incident_format_count(int64_t n, char *buf, size_t size);

#endif
