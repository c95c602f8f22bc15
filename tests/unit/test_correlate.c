/* test_correlate: the pure parts of the correlation (cause from evidence, bursts, counts). */
#include "engine/correlate.h"
#include "state/incident.h"
#include "tap.h"

#include <stdio.h>

#define P_NONE INCIDENT_PROBE_NONE
#define P_UNPROBED INCIDENT_PROBE_UNPROBED
#define P_OK INCIDENT_PROBE_OK
#define P_EXPIRED INCIDENT_PROBE_EXPIRED
#define P_INVALID INCIDENT_PROBE_INVALID
#define P_REJECTED INCIDENT_PROBE_REJECTED
#define P_ERROR INCIDENT_PROBE_ERROR

static const struct {
	struct correlate_evidence ev;
	const char *want;
	const char *why;
} cases[] = {
	{ { P_NONE, 0, NULL, 1, 0 }, "unknown", "nothing known" },
	{ { P_OK, 0, NULL, 1, 0 }, "unknown", "the secret works, one grant" },
	{ { P_ERROR, 0, NULL, 4, 0 }, "unknown", "probe failed, 4 grants: no burst yet" },
	{ { P_REJECTED, 0, NULL, 1, 0 }, "unknown", "another AADSTS code says nothing about the secret" },
	{ { P_UNPROBED, 0, NULL, 1, 0 }, "unknown", "no secret known" },
	{ { P_OK, 0, NULL, 5, 0 }, "suspected_app_wide", "5 distinct grants in the window" },
	{ { P_UNPROBED, 0, NULL, 5, 0 }, "suspected_app_wide", "burst, secret unknown" },
	{ { P_EXPIRED, 0, NULL, 1, 0 }, "secret_expired", "AADSTS7000222" },
	{ { P_EXPIRED, 0, "disabled", 5, 0 }, "secret_expired", "7000222 outweighs a user event and a burst" },
	{ { P_INVALID, 0, NULL, 1, 0 }, "secret_invalid", "AADSTS7000215" },
	{ { P_INVALID, 0, "deleted", 5, 0 }, "secret_invalid", "7000215 outweighs a user event" },
	{ { P_INVALID, 1, NULL, 1, 0 }, "secret_invalid", "7000215 is a direct answer about the secret in use" },
	{ { P_NONE, 1, NULL, 1, 0 }, "secret_expired", "end date passed, no probe yet" },
	{ { P_UNPROBED, 1, NULL, 1, 0 }, "secret_expired", "end date passed, secret unknown" },
	{ { P_ERROR, 1, "disabled", 1, 0 }, "secret_expired", "end date passed outweighs a user event" },
	{ { P_OK, 1, NULL, 1, 0 }, "unknown", "a fresh probe that works outweighs a stored end date" },
	{ { P_OK, 1, NULL, 9, 0 }, "suspected_app_wide", "works, stale end date, burst" },
	{ { P_OK, 0, "disabled", 1, 0 }, "user_disabled", "user disabled, secret fine" },
	{ { P_OK, 0, "deleted", 1, 0 }, "user_deleted", "user deleted" },
	{ { P_OK, 0, "sessions_revoked", 1, 0 }, "user_sessions_revoked", "sessions revoked" },
	{ { P_OK, 0, "password_changed", 1, 0 }, "user_password_changed", "password changed" },
	{ { P_NONE, 0, "disabled", 1, 0 }, "user_disabled", "user event before any probe" },
	{ { P_OK, 0, "disabled", 7, 0 }, "user_disabled", "a user event outweighs a burst" },
	{ { P_OK, 0, "something_new", 1, 0 }, "unknown", "an unknown user event kind explains nothing" },
	{ { P_OK, 0, NULL, 1, 1 }, "secret_expired",
	  "works now, but a rotation lately replaced a secret that has ended (late webhooks)" },
	{ { P_OK, 0, NULL, 9, 1 }, "secret_expired", "the same in a burst" },
	{ { P_OK, 0, "disabled", 1, 1 }, "user_disabled", "a user event still explains its own grant" },
	{ { P_ERROR, 0, NULL, 1, 1 }, "unknown", "a replaced secret, but no probe says the new one works" },
};

static void
test_classify(void)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		TAP_STR_EQ(incident_cause_name(correlate_classify(&cases[i].ev)), cases[i].want,
		    "classify: %s", cases[i].why);
}

static void
test_names(void)
{
	enum incident_cause c;
	int i, round = 1, rotates = 0, users = 0;

	for (i = 0; i < INCIDENT_N_CAUSES; i++) {
		if (incident_cause_parse(incident_cause_name((enum incident_cause)i), &c) != 0 ||
		    (int)c != i)
			round = 0;
		rotates += incident_cause_rotates((enum incident_cause)i);
		users += incident_cause_is_user((enum incident_cause)i);
	}
	TAP_OK(round, "every cause name parses back to its cause");
	TAP_OK(incident_cause_parse("secret_rotten", &c) == -1, "an unknown name is refused");
	TAP_OK(rotates == 2 && incident_cause_rotates(INCIDENT_SECRET_EXPIRED) &&
	    incident_cause_rotates(INCIDENT_SECRET_INVALID), "only the two secret causes rotate");
	TAP_OK(users == 4 && !incident_cause_rotates(INCIDENT_USER_DISABLED),
	    "four user causes, none rotates");
	TAP_OK(INCIDENT_SECRET_EXPIRED > INCIDENT_SECRET_INVALID &&
	    INCIDENT_SECRET_INVALID > INCIDENT_USER_DISABLED &&
	    INCIDENT_USER_PASSWORD_CHANGED > INCIDENT_SUSPECTED_APP_WIDE &&
	    INCIDENT_SUSPECTED_APP_WIDE > INCIDENT_UNKNOWN, "causes are ordered by strength");
	TAP_STR_EQ(incident_probe_name(INCIDENT_PROBE_EXPIRED), "secret_expired",
	    "probe result names: expired");
	TAP_STR_EQ(incident_probe_name(INCIDENT_PROBE_UNPROBED), "unprobed",
	    "probe result names: unprobed");
}

static void
test_burst(void)
{
	struct incident_burst b = { .n = 0 };
	const int64_t min = 60 * 1000;
	char g[32];
	int i, n = 0;

	TAP_OK(incident_burst_add(&b, "g-1", 0) == 1, "burst: the first grant counts one");
	TAP_OK(incident_burst_add(&b, "g-1", 1000) == 1, "burst: the same grant again is not distinct");
	for (i = 2; i <= 5; i++) {
		snprintf(g, sizeof(g), "g-%d", i);
		n = incident_burst_add(&b, g, i * min);
	}
	TAP_OK(n == 5, "burst: five distinct grants within 10 minutes (%d)", n);
	n = incident_burst_add(&b, "g-6", 12 * min + 30000);
	TAP_OK(n == 4, "burst: older ones leave the window (%d)", n);
	for (i = 0; i < 100; i++) {
		snprintf(g, sizeof(g), "s-%d", i);
		n = incident_burst_add(&b, g, 20 * min + i);
	}
	TAP_OK(n == INCIDENT_BURST_MIN && b.n == INCIDENT_BURST_MIN,
	    "burst: a storm stays bounded at %d entries", INCIDENT_BURST_MIN);
	n = incident_burst_add(&b, "late", 100 * min);
	TAP_OK(n == 1, "burst: an hour later a grant is alone again (%d)", n);
}

static void
test_count(void)
{
	static const struct { int64_t n; const char *want; } t[] = {
		{ 0, "0" }, { 7, "7" }, { 999, "999" }, { 1000, "1,000" }, { 2000, "2,000" },
		{ 12345, "12,345" }, { 1234567, "1,234,567" }, { -4200, "-4,200" },
	};
	char buf[32];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		incident_format_count(t[i].n, buf, sizeof(buf));
		TAP_STR_EQ(buf, t[i].want, "count %lld", (long long)t[i].n);
	}
}

int
main(void)
{
	test_classify();
	test_names();
	test_burst();
	test_count();
	return tap_done();
}
