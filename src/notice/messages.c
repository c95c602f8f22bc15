/*
 * messages: a notice rendered for people: cleaned, checked against what its
 * kind needs, built into a document by its kind and rendered for each
 * channel (see notice/messages.h).
 */
#include "notice/messages.h"
#include "notice/clean.h"
#include "notice/doc.h"
#include "notice/kinds.h"
#include "notice/render.h"
#include "notice/words.h"
#include "lib/util.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- Checking a notice ---- */

static void set_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
set_err(char **err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	*err = xvasprintf(fmt, ap);
	va_end(ap);
}

/* 1 when field name is set in n. */
static int
field_set(const struct notice *n, const char *name)
{
	const struct clean_field *f = clean_field_named(name);

	if (f == NULL)
		return 0;
	if (f->type == CLEAN_FIELD_STR)
		return clean_field_cstr(n, f) != NULL;
	return clean_field_int(n, f) > 0;
}

/* A link for a person to open: http(s), no spaces, quotes or angle brackets. */
static int
url_ok(const char *url)
{
	const unsigned char *p;

	if (strncasecmp(url, "https://", 8) != 0 && strncasecmp(url, "http://", 7) != 0)
		return 0;
	if (strlen(url) > CLEAN_MAX_URL)
		return 0;
	for (p = (const unsigned char *)url; *p != '\0'; p++) {
		if (*p <= ' ' || *p == 0x7f || *p == '"' || *p == '<' || *p == '>')
			return 0;
	}
	return 1;
}

static int
check_user_reauth(const struct notice *raw, char **err)
{
	if (!url_ok(raw->reauth_url)) {
		set_err(err, "user_reauth notice: reauth_url is not an http(s) link without "
		    "spaces");
		return -1;
	}
	if (strchr(raw->email, '@') == NULL || strpbrk(raw->email, " \t\r\n") != NULL) {
		set_err(err, "user_reauth notice: email is not an address");
		return -1;
	}
	return 0;
}

static int
check_kind(const struct notice *raw, const struct notice *n, char **err)
{
	switch (n->kind) {
	case NOTICE_ROTATION_DONE:
	case NOTICE_ROTATION_RECOVERED:
		if (words_mode_of(n->rotation_mode) != WORDS_MODE_DRY_RUN &&
		    n->new_key_id == NULL) {
			set_err(err, "%s notice lacks new_key_id", kinds_table[n->kind].name);
			return -1;
		}
		return 0;
	case NOTICE_LIFETIME_SHORTENED:
		if (n->lifetime_granted_days >= n->lifetime_requested_days) {
			set_err(err, "lifetime_shortened notice: granted %lld days is not shorter "
			    "than %lld", (long long)n->lifetime_granted_days,
			    (long long)n->lifetime_requested_days);
			return -1;
		}
		return 0;
	case NOTICE_USER_REAUTH:
		return check_user_reauth(raw, err);
	default:
		return 0;
	}
}

/* 0, or -1 and *err when the cleaned notice n (of raw) lacks what its kind needs. */
static int
check_notice(const struct notice *raw, const struct notice *n, char **err)
{
	const struct kinds_info *ki = &kinds_table[n->kind];
	size_t i;

	if (n->app == NULL || n->now_ms <= 0) {
		set_err(err, "%s notice lacks %s", ki->name, n->app == NULL ? "app" : "now_ms");
		return -1;
	}
	for (i = 0; i < sizeof(ki->needs) / sizeof(ki->needs[0]) && ki->needs[i] != NULL; i++) {
		if (!field_set(n, ki->needs[i])) {
			set_err(err, "%s notice lacks %s", ki->name, ki->needs[i]);
			return -1;
		}
	}
	if (n->cause != NULL && words_cause_find(n->cause) == NULL) {
		set_err(err, "%s notice: unknown cause \"%s\"", ki->name, n->cause);
		return -1;
	}
	if (words_mode_of(n->rotation_mode) == WORDS_MODE_UNKNOWN) {
		set_err(err, "%s notice: unknown rotation_mode \"%s\"", ki->name, n->rotation_mode);
		return -1;
	}
	if (n->affected < 0 || n->recovered < 0 || (raw->n_evidence > 0 && raw->evidence == NULL)) {
		set_err(err, "%s notice: negative counts or evidence without lines", ki->name);
		return -1;
	}
	return check_kind(raw, n, err);
}

/* ---- The public functions ---- */

int
message_render(const struct notice *n, struct message *out, char **err)
{
	struct clean c;
	struct doc d;
	const char *type;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (err != NULL)
		*err = NULL;
	if (n == NULL || (unsigned)n->kind >= NOTICE_KIND_COUNT) {
		set_err(err, "unknown notice kind");
		return -1;
	}
	clean_notice(n, &c);
	memset(&d, 0, sizeof(d));
	d.n = &c.n;
	d.c = &c;
	if (check_notice(n, &c.n, err) == -1)
		goto out;
	kinds_table[n->kind].build(&d);
	type = kinds_table[n->kind].event_type;
	out->event_type = xstrdup(type);
	out->subject = xstrdup(d.subject);
	out->text = render_text(&d);
	out->slack_json = render_slack(&d, type);
	out->teams_json = render_teams(&d);
	out->webhook_json = render_webhook(n, &c.n, &d, type);
	rc = 0;
out:
	doc_free(&d);
	clean_free(&c);
	return rc;
}

void
message_clear(struct message *m)
{
	if (m == NULL)
		return;
	free(m->event_type);
	free(m->subject);
	free(m->text);
	free(m->slack_json);
	free(m->teams_json);
	free(m->webhook_json);
	memset(m, 0, sizeof(*m));
}
