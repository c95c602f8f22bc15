/*
 * words: the words the texts use for causes, modes, times, counts, keys and
 * commands (see notice/words.h).
 */
#include "notice/words.h"
#include "notice/clean.h"
#include "notice/doc.h"
#include "notice/notice.h"
#include "lib/util.h"
#include "lib/wbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS_PER_MINUTE 60000LL
#define MS_PER_HOUR 3600000LL

/* ---- Causes, kinds and modes ---- */

static const struct words_cause causes[] = {
	{ "secret_expired", "Client secret expired", "client secret expired",
	  "The Azure app's client secret that Nylas uses has expired. Microsoft refuses the "
	  "connector's token requests, so the grants of every user of the app stop working.",
	  1, 0 },
	{ "secret_invalid", "Client secret rejected", "client secret rejected",
	  "Microsoft rejects the Azure app's client secret that Nylas uses as invalid (deleted in "
	  "the Azure portal, or a wrong value), so the grants of every user of the app stop "
	  "working.", 1, 0 },
	{ "user_disabled", "User account disabled", "account disabled",
	  "The user's account was disabled in Microsoft Entra ID, which ended their grant.", 0, 1 },
	{ "user_deleted", "User account deleted", "account deleted",
	  "The user's account was deleted in Microsoft Entra ID, which ended their grant.", 0, 1 },
	{ "user_sessions_revoked", "User sessions revoked", "sign-in sessions revoked",
	  "The user's sign-in sessions were revoked (by an administrator or by the user), which "
	  "ended their grant.", 0, 1 },
	{ "user_password_changed", "User password changed", "password changed",
	  "The user's password was changed, which ended their sign-in sessions and their grant.",
	  0, 1 },
	{ "suspected_app_wide", "Many grants expired at once",
	  "not proven (many grants expired at once)",
	  "Many users' grants of this app expired within a short time. That points at something "
	  "app-wide, but nothing proves the client secret is the cause (it was not refused when "
	  "tested, or could not be tested).", 0, 0 },
	{ "unknown", "Grants expiring, cause unknown", "not known yet",
	  "Users' grants of this app are expiring and rekey has found no cause yet: the client "
	  "secret was not refused, and no change to these users' accounts was seen.", 0, 0 },
};

const struct words_cause *
words_cause_find(const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < sizeof(causes) / sizeof(causes[0]); i++) {
		if (strcmp(causes[i].name, name) == 0)
			return &causes[i];
	}
	return NULL;
}

enum words_mode
words_mode_of(const char *s)
{
	if (s == NULL)
		return WORDS_MODE_UNSET;
	if (strcmp(s, "auto") == 0)
		return WORDS_MODE_AUTO;
	if (strcmp(s, "approve") == 0)
		return WORDS_MODE_APPROVE;
	if (strcmp(s, "dry-run") == 0)
		return WORDS_MODE_DRY_RUN;
	return WORDS_MODE_UNKNOWN;
}

/* ---- Words for times, counts and keys ---- */

/* Unix ms as RFC 3339 UTC, "2026-07-01T00:00:00Z"; "unknown" past the year 9999. */
struct words_tstr
words_rfc3339(int64_t ms)
{
	struct words_tstr t;

	if (ms < 0 || ms > WORDS_MAX_TIME_MS)
		util_strlcpy(t.s, "unknown", sizeof(t.s));
	else
		util_format_time(ms / 1000, t.s, sizeof(t.s));
	return t;
}

/* "1 user", "312 users". */
struct words_tstr
words_users(int64_t n)
{
	struct words_tstr t;

	snprintf(t.s, sizeof(t.s), "%lld user%s", (long long)n, n == 1 ? "" : "s");
	return t;
}

/* "14 days", "1 day", "less than a day" from now_ms to end_ms (rounded down); "" once past. */
struct words_tstr
words_days_left(int64_t end_ms, int64_t now_ms)
{
	struct words_tstr t;
	int64_t days = (end_ms - now_ms) / WORDS_MS_PER_DAY;

	if (end_ms <= now_ms)
		t.s[0] = '\0';
	else if (days < 1)
		util_strlcpy(t.s, "less than a day", sizeof(t.s));
	else
		snprintf(t.s, sizeof(t.s), "%lld day%s", (long long)days, days == 1 ? "" : "s");
	return t;
}

/* A length of time in its largest whole unit: "30 days", "12 hours", "90 seconds". */
struct words_tstr
words_duration_s(int64_t s)
{
	static const struct {
		int64_t secs;
		const char *unit;
	} units[] = { { 86400, "day" }, { 3600, "hour" }, { 60, "minute" }, { 1, "second" } };
	struct words_tstr t;
	size_t i;

	for (i = 0; i < sizeof(units) / sizeof(units[0]) - 1; i++) {
		if (s % units[i].secs == 0)
			break;
	}
	snprintf(t.s, sizeof(t.s), "%lld %s%s", (long long)(s / units[i].secs), units[i].unit,
	    s / units[i].secs == 1 ? "" : "s");
	return t;
}

/* "2 days 3 hours", "1 hour", "5 minutes": b of unit2 left out when 0. */
static void
two_units(char *buf, size_t size, int64_t a, const char *unit1, int64_t b, const char *unit2)
{
	if (b == 0)
		snprintf(buf, size, "%lld %s%s", (long long)a, unit1, a == 1 ? "" : "s");
	else
		snprintf(buf, size, "%lld %s%s %lld %s%s", (long long)a, unit1, a == 1 ? "" : "s",
		    (long long)b, unit2, b == 1 ? "" : "s");
}

/* How long from a to b, roughly: "2 days 3 hours", "3 hours 12 minutes", "less than a minute". */
struct words_tstr
words_elapsed(int64_t a_ms, int64_t b_ms)
{
	int64_t d = b_ms > a_ms ? b_ms - a_ms : 0;
	struct words_tstr t;

	if (d >= WORDS_MS_PER_DAY)
		two_units(t.s, sizeof(t.s), d / WORDS_MS_PER_DAY, "day",
		    d % WORDS_MS_PER_DAY / MS_PER_HOUR, "hour");
	else if (d >= MS_PER_HOUR)
		two_units(t.s, sizeof(t.s), d / MS_PER_HOUR, "hour",
		    d % MS_PER_HOUR / MS_PER_MINUTE, "minute");
	else if (d >= MS_PER_MINUTE)
		two_units(t.s, sizeof(t.s), d / MS_PER_MINUTE, "minute", 0, "second");
	else
		util_strlcpy(t.s, "less than a minute", sizeof(t.s));
	return t;
}

/* "keyId K, hint abc…" from what is known; caller frees. */
char *
words_key(const char *key_id, const char *hint)
{
	if (key_id != NULL && hint != NULL)
		return xasprintf("keyId %s, hint %s%s", key_id, hint, clean_ellipsis);
	if (key_id != NULL)
		return xasprintf("keyId %s", key_id);
	if (hint != NULL)
		return xasprintf("hint %s%s", hint, clean_ellipsis);
	return xstrdup("unknown");
}

/* A short name for a key in a subject: its hint, else the start of its keyId, and "…". */
char *
words_key_short(const char *key_id, const char *hint)
{
	char *s, *out;

	if (key_id == NULL && hint == NULL)
		return xstrdup("?");
	s = clean_text(hint != NULL ? hint : key_id, hint != NULL ? 16 : 8, 1);
	/* clean_text ends a cut string with the ellipsis already. */
	if (strstr(s, clean_ellipsis) != NULL)
		return s;
	out = xasprintf("%s%s", s, clean_ellipsis);
	free(s);
	return out;
}

/* One word for a shell: as it is when it is plain, else in single quotes. */
char *
words_shell_word(const char *s)
{
	struct wbuf b = WBUF_INIT;
	const char *p;

	if (s[0] != '\0' && strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789_./:=@%+-,") == strlen(s))
		return xstrdup(s);
	wbuf_add_str(&b, "'");
	for (p = s; *p != '\0'; p++) {
		if (*p == '\'')
			wbuf_add_str(&b, "'\\''");
		else
			wbuf_add(&b, p, 1);
	}
	wbuf_add_str(&b, "'");
	return wbuf_to_str(&b);
}

/* Placeholders a reader replaces, shown as they are rather than quoted. */
const char words_config_placeholder[] = "<config>";
const char words_rotation_placeholder[] = "<rotation id>";

/* Adds "rekey <verb> -c <config> [arg]" as a command part. */
void
words_rekey_command(struct doc *d, const char *verb, const char *arg)
{
	char *cfg = d->n->config_path != NULL ? words_shell_word(d->n->config_path) :
	    xstrdup(words_config_placeholder);
	/* The placeholder itself (not a rotation id that happens to read the same). */
	char *a = arg == NULL ? NULL : arg == words_rotation_placeholder ? xstrdup(arg) :
	    words_shell_word(arg);

	doc_command(d, "rekey %s -c %s%s%s", verb, cfg, a != NULL ? " " : "", a != NULL ? a : "");
	free(cfg);
	free(a);
}
