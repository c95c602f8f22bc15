/*
 * incident: the names of causes and probe results, the burst counter, and
 * the operator's resolution of an incident.  See incident.h.
 */
#include "state/incident.h"
#include "lib/util.h"
#include "state/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const cause_names[INCIDENT_N_CAUSES] = {
	"unknown", "suspected_app_wide", "user_password_changed", "user_sessions_revoked",
	"user_deleted", "user_disabled", "secret_invalid", "secret_expired",
};

const char *
incident_cause_name(enum incident_cause c)
{
	return (unsigned)c < INCIDENT_N_CAUSES ? cause_names[c] : "unknown";
}

int
incident_cause_parse(const char *name, enum incident_cause *out)
{
	size_t i;

	for (i = 0; name != NULL && i < INCIDENT_N_CAUSES; i++) {
		if (strcmp(name, cause_names[i]) == 0) {
			*out = (enum incident_cause)i;
			return 0;
		}
	}
	return -1;
}

int
incident_cause_rotates(enum incident_cause c)
{
	return c == INCIDENT_SECRET_EXPIRED || c == INCIDENT_SECRET_INVALID;
}

int
incident_cause_is_user(enum incident_cause c)
{
	return c >= INCIDENT_USER_PASSWORD_CHANGED && c <= INCIDENT_USER_DISABLED;
}

const char *
incident_probe_name(enum incident_probe p)
{
	switch (p) {
	case INCIDENT_PROBE_UNPROBED:
		return "unprobed";
	case INCIDENT_PROBE_OK:
		return "ok";
	case INCIDENT_PROBE_EXPIRED:
		return "secret_expired";
	case INCIDENT_PROBE_INVALID:
		return "secret_invalid";
	case INCIDENT_PROBE_REJECTED:
		return "rejected";
	case INCIDENT_PROBE_ERROR:
		return "error";
	default:
		return "none";
	}
}

int
incident_burst_add(struct incident_burst *b, const char *grant, int64_t at_ms)
{
	size_t i, found = b->n;
	int n = 0;

	for (i = 0; i < b->n; i++)
		if (strncmp(b->grant[i], grant, sizeof(b->grant[i]) - 1) == 0)
			found = i;
	/* Drop the grant's old entry, or the oldest one when full. */
	if (found == b->n && b->n == INCIDENT_BURST_MIN)
		found = 0;
	if (found < b->n) {
		memmove(&b->grant[found], &b->grant[found + 1],
		    (b->n - found - 1) * sizeof(b->grant[0]));
		memmove(&b->at_ms[found], &b->at_ms[found + 1],
		    (b->n - found - 1) * sizeof(b->at_ms[0]));
		b->n--;
	}
	util_strlcpy(b->grant[b->n], grant, sizeof(b->grant[0]));
	b->at_ms[b->n++] = at_ms;
	for (i = 0; i < b->n; i++)
		if (b->at_ms[i] >= at_ms - (int64_t)INCIDENT_BURST_WINDOW_S * 1000 &&
		    b->at_ms[i] <= at_ms)
			n++;
	return n;
}

void
incident_format_count(int64_t n, char *buf, size_t size)
{
	char digits[24], out[32];
	int len, i, o = 0;

	len = snprintf(digits, sizeof(digits), "%lld", (long long)(n < 0 ? -n : n));
	if (n < 0)
		out[o++] = '-';
	for (i = 0; i < len; i++) {
		if (i > 0 && (len - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = '\0';
	util_strlcpy(buf, out, size);
}

/* ---- What the CLI and the admin API call: store writes only ---- */

int
incident_resolve(struct store *st, const char *id, char **err)
{
	struct store_incident inc;
	int rc = store_resolve_incident(st, id, "operator", util_now_ms());

	if (rc == 1)
		return 0;
	/* Not open: resolved already (resolving twice is harmless), or unknown. */
	if (rc == 0 && (rc = store_get_incident(st, id, &inc)) == 1) {
		store_incident_clear(&inc);
		return 0;
	}
	*err = rc == 0 ? xasprintf("no incident %s", id) : xstrdup("cannot write the resolution "
	    "to the store");
	return -1;
}
