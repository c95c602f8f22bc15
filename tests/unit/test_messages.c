/*
 * Unit tests: the rendering of every notice kind.  For each kind the key
 * facts an on-call reader acts on (what happened, what rekey did, what is
 * left) appear in the text, the Slack and Teams bodies (parsed back) and the
 * webhook body; missing fields are refused with an error; any bytes in the
 * fields stay on one line in valid UTF-8 and are escaped where each channel
 * needs it; and message_email writes a valid RFC 5322 / quoted-printable /
 * RFC 2047 message and refuses header injection.
 */
#include "lib/crypto.h"
#include "notice/email.h"
#include "notice/kinds.h"
#include "notice/messages.h"
#include "tap.h"
#include "lib/util.h"

#include <cjson/cJSON.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOW_MS 1782864000000LL		/* 2026-07-01T00:00:00Z */
#define DAY_MS 86400000LL
#define CLIENT_ID "0f3c1a2b-1111-2222-3333-444455556666"
#define HINT "rekey status -c /etc/rekey.conf"
/* What a secret would look like if one ever leaked into a message: new_hint is its start. */
#define FAKE_SECRET "Xy7~Q8s.Zp1-lAt9Vw3_Fk0bYn5Rg2Hc"

static const char *const evidence[] = {
	"token endpoint: AADSTS7000222 for keyId k-old \"quoted\"\nsecond line",
	"passwordCredentials endDateTime 2026-06-30T00:00:00Z has passed <b>&",
};

/* A notice of kind k with every field set, as the notifier would fill it. */
static struct notice
full_notice(enum notice_kind k)
{
	struct notice n;

	memset(&n, 0, sizeof(n));
	n.kind = k;
	n.app = "prod";
	n.azure_client_id = CLIENT_ID;
	n.now_ms = NOW_MS;
	n.status_hint = HINT;
	n.config_path = "/etc/rekey.conf";
	n.incident_id = "inc-7";
	n.cause = "secret_expired";
	n.evidence = evidence;
	n.n_evidence = 2;
	n.affected = 312;
	n.recovered = 12;
	n.opened_at_ms = NOW_MS - 3600000;
	n.resolved_at_ms = NOW_MS;
	n.resolved_by = "operator";
	n.rotation_id = "rot-42";
	n.rotation_reason = "incident";
	n.rotation_mode = "auto";
	n.new_key_id = "new-key-1";
	n.new_hint = "Xy7";
	n.new_end_ms = NOW_MS + 180 * DAY_MS;
	n.published_at_ms = NOW_MS - 60000;
	n.retire_at_ms = NOW_MS + 7 * DAY_MS;
	n.old_key_id = "k-old";
	n.old_hint = "abc";
	n.last_error = "graph addPassword: 403 Authorization_RequestDenied";
	n.next_retry_ms = NOW_MS + 600000;
	n.lifetime_requested_days = 180;
	n.lifetime_granted_days = 90;
	n.key_id = "k-old";
	n.hint = "abc";
	n.end_ms = NOW_MS + 14 * DAY_MS;
	n.threshold_s = 14 * 86400;
	n.rotate_at_ms = NOW_MS + DAY_MS;
	n.email = "ana@example.com";
	n.reauth_url = "https://app.example.com/reauth?email=ana%40example.com";
	n.webhook_id = "wh-9";
	n.webhook_grace_until_ms = NOW_MS + 600000;
	n.display_name = "Terraform CI";
	n.failed_in_a_row = 2;
	return n;
}

/* ---- Reading the outputs back ---- */

/* Appends every string value under item (recursively) to b, one per line. */
static void
collect_strings(const cJSON *item, char **b)
{
	const cJSON *c;
	char *s;

	if (cJSON_IsString(item)) {
		s = xasprintf("%s%s\n", *b, item->valuestring);
		free(*b);
		*b = s;
		return;
	}
	cJSON_ArrayForEach(c, item)
		collect_strings(c, b);
}

/* Every string in a JSON body, or NULL when it does not parse. */
static char *
json_strings(const char *json)
{
	cJSON *root = cJSON_Parse(json);
	char *b;

	if (root == NULL)
		return NULL;
	b = xstrdup("");
	collect_strings(root, &b);
	cJSON_Delete(root);
	return b;
}

static const cJSON *
at(const cJSON *o, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(o, name);
}

static const char *
str_at(const cJSON *o, const char *name)
{
	const cJSON *v = at(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* 1 when s is valid UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
static int
valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len, i;
	unsigned cp;

	while (*p != '\0') {
		if (*p < 0x80) {
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf)
			len = 2, cp = *p & 0x1f;
		else if ((*p & 0xf0) == 0xe0)
			len = 3, cp = *p & 0x0f;
		else if (*p >= 0xf0 && *p <= 0xf4)
			len = 4, cp = *p & 0x07;
		else
			return 0;
		for (i = 1; i < len; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (p[i] & 0x3f);
		}
		if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return 0;
		p += len;
	}
	return 1;
}

/* ---- Every kind: renders, subject, key facts in every channel ---- */

struct kind_case {
	enum notice_kind kind;
	const char *name;
	const char *event_type;
	const char *subject_has;	/* after "[rekey prod] " */
	const char *facts[10];		/* in text, Slack and Teams */
	const char *data[6][2];		/* webhook data: field, value (numbers in decimal) */
};

static const struct kind_case cases[] = {
	{ NOTICE_EXPIRY_WARNING, "expiry_warning", "rekey.secret.expiring",
	  "Secret abc\xe2\x80\xa6 expires in 14 days",
	  { "k-old", "abc\xe2\x80\xa6", "2026-07-15T00:00:00Z", "in 14 days",
	    "2026-07-02T00:00:00Z", "rotates it automatically", CLIENT_ID, HINT },
	  { { "key_id", "k-old" }, { "end", "2026-07-15T00:00:00Z" },
	    { "rotate_at", "2026-07-02T00:00:00Z" }, { "days_left", "14" },
	    { "threshold_seconds", "1209600" } } },
	{ NOTICE_INCIDENT_OPENED, "incident_opened", "rekey.incident.opened",
	  "Client secret expired: 312 users cut off, rotating now",
	  { "inc-7", "secret_expired", "2026-06-30T23:00:00Z", "312",
	    "AADSTS7000222 for keyId k-old \"quoted\" second line", "has expired",
	    "replacing the client secret now", "300 users", HINT, CLIENT_ID },
	  { { "incident_id", "inc-7" }, { "cause", "secret_expired" }, { "affected", "312" },
	    { "recovered", "12" }, { "opened_at", "2026-06-30T23:00:00Z" } } },
	{ NOTICE_ROTATION_DONE, "rotation_done", "rekey.rotation.done",
	  "Client secret expired: rotated, 300 users must sign in again",
	  { "new-key-1", "hint Xy7\xe2\x80\xa6", "2026-12-28T00:00:00Z", "2026-06-30T23:59:00Z",
	    "2026-07-08T00:00:00Z", "k-old", "312 users must sign in again", "12 have so far",
	    HINT, "rot-42" },
	  { { "new_key_id", "new-key-1" }, { "new_hint", "Xy7" },
	    { "published_at", "2026-06-30T23:59:00Z" }, { "retire_at", "2026-07-08T00:00:00Z" },
	    { "new_end", "2026-12-28T00:00:00Z" } } },
	{ NOTICE_ROTATION_FAILED, "rotation_failed", "rekey.rotation.failed",
	  "rotation failed, 300 users still cut off",
	  { "graph addPassword: 403 Authorization_RequestDenied", "2026-07-01T00:10:00Z",
	    "rekey status -c /etc/rekey.conf", "rekey rotate -c /etc/rekey.conf prod", "rot-42",
	    "inc-7", "300 users", CLIENT_ID },
	  { { "last_error", "graph addPassword: 403 Authorization_RequestDenied" },
	    { "next_retry_at", "2026-07-01T00:10:00Z" }, { "rotation_id", "rot-42" } } },
	{ NOTICE_ROTATION_WAITING, "rotation_waiting", "rekey.rotation.waiting_for_approval",
	  "rotation waits for approval",
	  { "rekey approve -c /etc/rekey.conf rot-42", "/api/v1/rotations/rot-42/approve",
	    "waits for someone to approve", "inc-7", "300 users", HINT },
	  { { "rotation_id", "rot-42" }, { "rotation_mode", "auto" } } },
	{ NOTICE_LIFETIME_SHORTENED, "lifetime_shortened", "rekey.rotation.lifetime_shortened",
	  "New secret lasts 90 days, not 180 (tenant policy)",
	  { "180 days", "90 days", "new-key-1", "2026-12-28T00:00:00Z", "secret_lifetime",
	    "rotate_before", HINT },
	  { { "lifetime_requested_days", "180" }, { "lifetime_granted_days", "90" } } },
	{ NOTICE_REAUTH_DIGEST, "reauth_digest", "rekey.incident.reauth_progress",
	  "12 of 312 users back, 300 to go",
	  { "inc-7", "312", "12", "300", "client secret expired", HINT },
	  { { "affected", "312" }, { "recovered", "12" }, { "remaining", "300" } } },
	{ NOTICE_INCIDENT_RESOLVED, "incident_resolved", "rekey.incident.resolved",
	  "Resolved: Client secret expired",
	  { "inc-7", "2026-07-01T00:00:00Z", "an operator", "300 users had not signed in again",
	    "1 hour", HINT },
	  { { "resolved_by", "operator" }, { "resolved_at", "2026-07-01T00:00:00Z" } } },
	{ NOTICE_USER_REAUTH, "user_reauth", "rekey.user.reauth_requested",
	  "Please sign in again",
	  { "ana@example.com", "https://app.example.com/reauth?email=ana%40example.com",
	    "sign in again" },
	  { { "email", "ana@example.com" },
	    { "reauth_url", "https://app.example.com/reauth?email=ana%40example.com" } } },
	{ NOTICE_WEBHOOK_SECRET_ROTATED, "webhook_secret_rotated", "rekey.webhook.secret_rotated",
	  "rotated the Nylas webhook secret",
	  { "wh-9", "2026-07-01T00:10:00Z", "No delivery was lost", "nylas_webhook_secret_file",
	    HINT },
	  { { "webhook_id", "wh-9" }, { "webhook_grace_until", "2026-07-01T00:10:00Z" } } },
	{ NOTICE_SP_SECRET_EXPIRY_WARNING, "sp_secret_expiry_warning",
	  "rekey.service_principal_secret.expiring",
	  "Service principal secret abc\xe2\x80\xa6 of app prod expires in 14 days",
	  { "k-old", "2026-07-15T00:00:00Z", "in 14 days", "never rotates",
	    "Nylas does not use it", "Terraform CI", "az ad sp credential delete --id " CLIENT_ID
	    " --key-id k-old", HINT },
	  { { "key_id", "k-old" }, { "end", "2026-07-15T00:00:00Z" }, { "days_left", "14" },
	    { "display_name", "Terraform CI" }, { "threshold_seconds", "1209600" } } },
	{ NOTICE_ROTATION_RECOVERED, "rotation_recovered", "rekey.rotation.recovered",
	  "Rotation recovered after 2 failed: new secret",
	  { "after 2 rotations of app prod failed in a row", "2 in a row", "rotation_backoff",
	    "new-key-1", "hint Xy7\xe2\x80\xa6", "2026-06-30T23:59:00Z", "rot-42", HINT },
	  { { "failed_in_a_row", "2" }, { "new_key_id", "new-key-1" },
	    { "published_at", "2026-06-30T23:59:00Z" }, { "rotation_id", "rot-42" } } },
};
#define N_CASES (sizeof(cases) / sizeof(cases[0]))

/* 1 when every fact is in s; names the first missing one. */
static int
has_facts(const char *s, const char *const *facts, size_t n, const char **missing)
{
	size_t i;

	for (i = 0; i < n && facts[i] != NULL; i++) {
		if (s == NULL || strstr(s, facts[i]) == NULL) {
			*missing = facts[i];
			return 0;
		}
	}
	*missing = "";
	return 1;
}

/* 1 when data[name] is value (strings as they are, numbers in decimal). */
static int
data_is(const cJSON *data, const char *name, const char *value)
{
	const cJSON *v = at(data, name);
	char num[32];

	if (cJSON_IsString(v))
		return strcmp(v->valuestring, value) == 0;
	if (!cJSON_IsNumber(v))
		return 0;
	snprintf(num, sizeof(num), "%.0f", v->valuedouble);
	return strcmp(num, value) == 0;
}

static void
check_webhook(const struct kind_case *c, const char *json)
{
	cJSON *root = cJSON_Parse(json);
	const cJSON *data = at(root, "data");
	int ok = 1;
	size_t i;

	TAP_OK(root != NULL && cJSON_IsObject(data), "%s: webhook body parses", c->name);
	TAP_STR_EQ(str_at(root, "type"), c->event_type, "%s: webhook type", c->name);
	TAP_STR_EQ(str_at(root, "timestamp"), "2026-07-01T00:00:00Z", "%s: webhook timestamp",
	    c->name);
	TAP_STR_EQ(str_at(data, "kind"), c->name, "%s: webhook data.kind", c->name);
	TAP_STR_EQ(str_at(data, "app"), "prod", "%s: webhook data.app", c->name);
	for (i = 0; i < 6 && c->data[i][0] != NULL; i++) {
		if (!data_is(data, c->data[i][0], c->data[i][1])) {
			ok = 0;
			printf("#   data.%s is not %s\n", c->data[i][0], c->data[i][1]);
		}
	}
	TAP_OK(ok, "%s: webhook data holds the notice's fields", c->name);
	cJSON_Delete(root);
}

/* Slack's and Teams' shapes: what their webhooks require. */
static void
check_shapes(const struct kind_case *c, const struct message *m)
{
	cJSON *slack = cJSON_Parse(m->slack_json), *teams = cJSON_Parse(m->teams_json);
	const cJSON *blocks = at(slack, "blocks"), *att, *card, *b;
	int sections_ok = cJSON_GetArraySize(blocks) > 0 && cJSON_GetArraySize(blocks) <= 50;

	cJSON_ArrayForEach(b, blocks) {
		const char *t = str_at(at(b, "text"), "text");

		if (t != NULL && strlen(t) > 3000)
			sections_ok = 0;
	}
	TAP_OK(cJSON_IsString(at(slack, "text")) && sections_ok,
	    "%s: Slack body has a fallback text and at most 50 blocks of at most 3000", c->name);
	att = cJSON_GetArrayItem(at(teams, "attachments"), 0);
	card = at(att, "content");
	TAP_OK(teams != NULL && strcmp(str_at(teams, "type"), "message") == 0 &&
	    str_at(att, "contentType") != NULL &&
	    strcmp(str_at(att, "contentType"), "application/vnd.microsoft.card.adaptive") == 0 &&
	    str_at(card, "type") != NULL && strcmp(str_at(card, "type"), "AdaptiveCard") == 0 &&
	    str_at(card, "version") != NULL && strcmp(str_at(card, "version"), "1.4") == 0 &&
	    cJSON_IsArray(at(card, "body")), "%s: Teams body is an Adaptive Card 1.4 message",
	    c->name);
	cJSON_Delete(slack);
	cJSON_Delete(teams);
}

static void
check_kind(const struct kind_case *c)
{
	struct notice n = full_notice(c->kind);
	struct message m;
	char *err = NULL, *slack, *teams, *all;
	const char *missing;
	size_t nf = sizeof(c->facts) / sizeof(c->facts[0]);
	int rc = message_render(&n, &m, &err);

	TAP_OK(rc == 0 && err == NULL, "%s: renders", c->name);
	if (rc != 0) {
		printf("#   %s\n", err);
		free(err);
		return;
	}
	TAP_STR_EQ(notice_kind_name(c->kind), c->name, "%s: kind name", c->name);
	TAP_STR_EQ(m.event_type, c->event_type, "%s: event type", c->name);
	TAP_OK(strncmp(m.subject, "[rekey prod] ", 13) == 0 && strstr(m.subject, c->subject_has)
	    != NULL, "%s: subject \"%s\"", c->name, m.subject);
	TAP_OK(strpbrk(m.subject, "\r\n") == NULL && strlen(m.subject) <= 200,
	    "%s: subject is one short line", c->name);
	TAP_OK(has_facts(m.text, c->facts, nf, &missing), "%s: text has the key facts%s%s",
	    c->name, *missing ? ", missing " : "", missing);
	slack = json_strings(m.slack_json);
	teams = json_strings(m.teams_json);
	TAP_OK(has_facts(slack, c->facts, nf, &missing), "%s: Slack has the key facts%s%s",
	    c->name, *missing ? ", missing " : "", missing);
	TAP_OK(has_facts(teams, c->facts, nf, &missing), "%s: Teams has the key facts%s%s",
	    c->name, *missing ? ", missing " : "", missing);
	check_shapes(c, &m);
	check_webhook(c, m.webhook_json);
	all = xasprintf("%s%s%s%s%s", m.subject, m.text, m.slack_json, m.teams_json,
	    m.webhook_json);
	TAP_OK(strstr(all, "Xy7~") == NULL && strstr(all, FAKE_SECRET) == NULL &&
	    (c->kind == NOTICE_USER_REAUTH || c->kind == NOTICE_EXPIRY_WARNING ||
	    strstr(m.text, "hint Xy7\xe2\x80\xa6") != NULL || strstr(m.text, "new-key-1") == NULL),
	    "%s: the new secret shows only as its hint", c->name);
	TAP_OK(valid_utf8(all), "%s: every output is valid UTF-8", c->name);
	free(all);
	free(slack);
	free(teams);
	message_clear(&m);
	TAP_OK(m.text == NULL && m.subject == NULL, "%s: message_clear empties it", c->name);
}

/* ---- Missing or wrong fields ---- */

struct bad_case {
	enum notice_kind kind;
	const char *why;
	void (*spoil)(struct notice *n);
	const char *err_has;
};

static void no_app(struct notice *n) { n->app = NULL; }
static void blank_app(struct notice *n) { n->app = " \r\n"; }
static void no_now(struct notice *n) { n->now_ms = 0; }
static void no_key(struct notice *n) { n->key_id = NULL; }
static void no_end(struct notice *n) { n->end_ms = 0; }
static void no_incident(struct notice *n) { n->incident_id = NULL; }
static void empty_incident(struct notice *n) { n->incident_id = ""; }
static void no_cause(struct notice *n) { n->cause = NULL; }
static void bad_cause(struct notice *n) { n->cause = "cosmic_rays"; }
static void no_rotation(struct notice *n) { n->rotation_id = NULL; }
static void no_new_key(struct notice *n) { n->new_key_id = NULL; }
static void no_error(struct notice *n) { n->last_error = NULL; }
static void bad_mode(struct notice *n) { n->rotation_mode = "yolo"; }
static void no_granted(struct notice *n) { n->lifetime_granted_days = 0; }
static void not_shorter(struct notice *n) { n->lifetime_granted_days = 180; }
static void no_email(struct notice *n) { n->email = NULL; }
static void bad_email(struct notice *n) { n->email = "ana"; }
static void no_url(struct notice *n) { n->reauth_url = NULL; }
static void js_url(struct notice *n) { n->reauth_url = "javascript:alert(1)"; }
static void spaced_url(struct notice *n) { n->reauth_url = "https://x.example/a b"; }
static void negative(struct notice *n) { n->affected = -1; }
static void no_lines(struct notice *n) { n->evidence = NULL; }
static void no_webhook(struct notice *n) { n->webhook_id = NULL; }

static const struct bad_case bad_cases[] = {
	{ NOTICE_INCIDENT_OPENED, "no app", no_app, "app" },
	{ NOTICE_INCIDENT_OPENED, "a blank app", blank_app, "app" },
	{ NOTICE_ROTATION_DONE, "no now_ms", no_now, "now_ms" },
	{ NOTICE_EXPIRY_WARNING, "no key_id", no_key, "key_id" },
	{ NOTICE_EXPIRY_WARNING, "no end_ms", no_end, "end" },
	{ NOTICE_INCIDENT_OPENED, "no incident_id", no_incident, "incident_id" },
	{ NOTICE_INCIDENT_OPENED, "an empty incident_id", empty_incident, "incident_id" },
	{ NOTICE_INCIDENT_OPENED, "no cause", no_cause, "cause" },
	{ NOTICE_INCIDENT_OPENED, "an unknown cause", bad_cause, "cosmic_rays" },
	{ NOTICE_ROTATION_DONE, "no rotation_id", no_rotation, "rotation_id" },
	{ NOTICE_ROTATION_DONE, "no new_key_id", no_new_key, "new_key_id" },
	{ NOTICE_ROTATION_RECOVERED, "no new_key_id", no_new_key, "new_key_id" },
	{ NOTICE_ROTATION_FAILED, "no rotation_id", no_rotation, "rotation_id" },
	{ NOTICE_ROTATION_FAILED, "no last_error", no_error, "last_error" },
	{ NOTICE_ROTATION_WAITING, "no rotation_id", no_rotation, "rotation_id" },
	{ NOTICE_ROTATION_WAITING, "an unknown mode", bad_mode, "yolo" },
	{ NOTICE_LIFETIME_SHORTENED, "no granted lifetime", no_granted, "lifetime_granted_days" },
	{ NOTICE_LIFETIME_SHORTENED, "granted not shorter", not_shorter, "not shorter" },
	{ NOTICE_REAUTH_DIGEST, "no incident_id", no_incident, "incident_id" },
	{ NOTICE_REAUTH_DIGEST, "a negative count", negative, "negative" },
	{ NOTICE_INCIDENT_RESOLVED, "no incident_id", no_incident, "incident_id" },
	{ NOTICE_INCIDENT_OPENED, "n_evidence without lines", no_lines, "evidence" },
	{ NOTICE_USER_REAUTH, "no email", no_email, "email" },
	{ NOTICE_USER_REAUTH, "an email without @", bad_email, "email" },
	{ NOTICE_USER_REAUTH, "no reauth_url", no_url, "reauth_url" },
	{ NOTICE_USER_REAUTH, "a javascript: link", js_url, "reauth_url" },
	{ NOTICE_USER_REAUTH, "a link with a space", spaced_url, "reauth_url" },
	{ NOTICE_WEBHOOK_SECRET_ROTATED, "no webhook_id", no_webhook, "webhook_id" },
	{ NOTICE_SP_SECRET_EXPIRY_WARNING, "no key_id", no_key, "key_id" },
	{ NOTICE_SP_SECRET_EXPIRY_WARNING, "no end_ms", no_end, "end" },
};

static void
test_missing(void)
{
	struct message m;
	struct notice n;
	char *err;
	size_t i;
	int rc;

	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		n = full_notice(bad_cases[i].kind);
		bad_cases[i].spoil(&n);
		err = NULL;
		rc = message_render(&n, &m, &err);
		TAP_OK(rc == -1 && err != NULL && strstr(err, bad_cases[i].err_has) != NULL &&
		    m.text == NULL && m.webhook_json == NULL, "%s with %s: -1 and \"%s\"",
		    notice_kind_name(bad_cases[i].kind), bad_cases[i].why, err ? err : "(none)");
		free(err);
		message_clear(&m);
	}
	n = full_notice(NOTICE_INCIDENT_OPENED);
	n.kind = (enum notice_kind)99;
	err = NULL;
	TAP_OK(message_render(&n, &m, &err) == -1 && err != NULL, "an unknown kind: -1");
	free(err);
	TAP_STR_EQ(notice_kind_name((enum notice_kind)99), "unknown", "kind name out of range");
	/* Only what the kind needs: a warning needs no incident, a digest no rotation. */
	memset(&n, 0, sizeof(n));
	n.kind = NOTICE_EXPIRY_WARNING;
	n.app = "prod";
	n.now_ms = NOW_MS;
	n.key_id = "k";
	n.end_ms = NOW_MS + DAY_MS;
	TAP_OK(message_render(&n, &m, &err) == 0, "a warning with only its own fields renders");
	message_clear(&m);
	message_clear(NULL);
	TAP_OK(1, "message_clear(NULL) is a no-op");
}

/* ---- What the texts say in the cases that differ ---- */

/* Renders n, or fails the test; the caller clears m. */
static int
render(struct notice *n, struct message *m)
{
	char *err = NULL;

	if (message_render(n, m, &err) == 0)
		return 0;
	printf("#   render: %s\n", err);
	free(err);
	return -1;
}

static int
text_has(struct notice *n, const char *what)
{
	struct message m;
	int found;

	if (render(n, &m) == -1)
		return 0;
	found = strstr(m.text, what) != NULL || strstr(m.subject, what) != NULL;
	if (!found)
		printf("#   \"%s\" not in:\n%s\n%s\n", what, m.subject, m.text);
	message_clear(&m);
	return found;
}

/* 1 when what is in neither the subject nor the text of n. */
static int
text_has_not(struct notice *n, const char *what)
{
	struct message m;
	int found;

	if (render(n, &m) == -1)
		return 1;
	found = strstr(m.text, what) != NULL || strstr(m.subject, what) != NULL;
	message_clear(&m);
	return !found;
}

static void
test_warning_days(void)
{
	struct notice n = full_notice(NOTICE_EXPIRY_WARNING);

	n.end_ms = NOW_MS + 14 * DAY_MS + DAY_MS - 1;
	TAP_OK(text_has(&n, "expires in 14 days"), "14.99 days left: 14 days (rounded down)");
	n.end_ms = NOW_MS + DAY_MS;
	TAP_OK(text_has(&n, "expires in 1 day"), "exactly a day left: 1 day");
	n.end_ms = NOW_MS + DAY_MS - 1;
	TAP_OK(text_has(&n, "expires in less than a day"), "23:59:59 left: less than a day");
	n.end_ms = NOW_MS - 1000;
	n.rotate_at_ms = NOW_MS - DAY_MS;
	TAP_OK(text_has(&n, "has expired") && text_has(&n, "now (it was due at"),
	    "past its end: expired, rotation due now");
}

static void
test_warning_modes(void)
{
	struct notice n = full_notice(NOTICE_EXPIRY_WARNING);
	struct message m;

	n.rotation_mode = "approve";
	TAP_OK(text_has(&n, "waits for approval") &&
	    text_has(&n, "rekey approve -c /etc/rekey.conf rot-42"),
	    "approve mode: waits, with the approve command and the rotation id");
	n.rotation_id = NULL;
	n.config_path = NULL;
	TAP_OK(text_has(&n, "rekey approve -c <config> <rotation id>"),
	    "approve mode, no id nor config yet: the command with placeholders");
	if (render(&n, &m) == 0) {
		TAP_OK(strstr(m.slack_json, "&lt;config&gt; &lt;rotation id&gt;") != NULL &&
		    strstr(m.slack_json, "<config>") == NULL,
		    "Slack escapes the placeholders' angle brackets");
		message_clear(&m);
	}
	n = full_notice(NOTICE_EXPIRY_WARNING);
	n.rotation_mode = "dry-run";
	TAP_OK(text_has(&n, "nothing will be changed") && text_has(&n, "will change nothing"),
	    "dry-run mode: says nothing will be changed");
	n.config_path = "/etc/my rekey's.conf";
	n.rotation_mode = "approve";
	TAP_OK(text_has(&n, "rekey approve -c '/etc/my rekey'\\''s.conf' rot-42"),
	    "a config path with a space and a quote is quoted for the shell");
}

static void
test_incident_causes(void)
{
	static const char *const user_causes[] = {
		"user_disabled", "user_deleted", "user_sessions_revoked", "user_password_changed",
	};
	struct notice n = full_notice(NOTICE_INCIDENT_OPENED);
	size_t i;
	int ok = 1;

	n.rotation_id = NULL;
	for (i = 0; i < sizeof(user_causes) / sizeof(user_causes[0]); i++) {
		n.cause = user_causes[i];
		ok = ok && text_has(&n, "No client secret was rotated") &&
		    text_has(&n, "on the user's side") && text_has(&n, "no secret rotated");
	}
	TAP_OK(ok, "user causes: no secret rotated, the cause is on the user's side");
	n.cause = "secret_invalid";
	TAP_OK(text_has(&n, "Client secret rejected") && text_has(&n, "rotating now"),
	    "secret_invalid in auto mode: rotating");
	n.rotation_mode = "approve";
	n.rotation_id = "rot-9";
	TAP_OK(text_has(&n, "rekey approve -c /etc/rekey.conf rot-9"),
	    "secret cause in approve mode: the approve command");
	n.rotation_mode = "dry-run";
	TAP_OK(text_has(&n, "rekey changes nothing"), "secret cause in dry-run mode: nothing changes");
	n.cause = "suspected_app_wide";
	TAP_OK(text_has(&n, "rotates nothing") && text_has(&n, "rekey rotate -c /etc/rekey.conf prod"),
	    "suspected_app_wide: nothing rotated, how to rotate by hand");
	n.cause = "unknown";
	TAP_OK(text_has(&n, "cause unknown"), "unknown cause: said so");
}

static void
test_rotation_variants(void)
{
	struct notice n = full_notice(NOTICE_ROTATION_DONE);

	n.incident_id = NULL;
	n.cause = NULL;
	n.rotation_reason = "proactive";
	n.affected = n.recovered = 0;
	TAP_OK(text_has(&n, "ahead of its end") && text_has(&n, "nobody needs to sign in again"),
	    "proactive rotation: done ahead of time, nobody signs in again");
	n.retire_at_ms = 0;
	TAP_OK(text_has(&n, "not scheduled: delete it in the Azure portal"),
	    "old secret not retired by rekey: says how to remove it");
	n.rotation_mode = "dry-run";
	n.new_key_id = NULL;
	TAP_OK(text_has(&n, "nothing was changed"), "dry-run rotation: nothing was changed");
	n = full_notice(NOTICE_ROTATION_FAILED);
	n.next_retry_ms = 0;
	TAP_OK(text_has(&n, "given up") && text_has(&n, "none (gave up)"),
	    "failed without a retry: gave up");
	n.rotation_state = "retiring";
	TAP_OK(text_has(&n, "only removing the old one failed"),
	    "failed while retiring: the new secret is in use");
	n = full_notice(NOTICE_INCIDENT_RESOLVED);
	n.resolved_by = "recovered";
	n.recovered = n.affected;
	TAP_OK(text_has(&n, "all affected users signed in again"),
	    "resolved by recovery: all users signed in again");
}

/* Rotation notices that name their incident but lack its cause and counts. */
static void
test_sparse_rotation(void)
{
	struct notice n = full_notice(NOTICE_ROTATION_DONE);

	n.cause = NULL;
	n.evidence = NULL;
	n.n_evidence = 0;
	n.affected = n.recovered = 0;
	TAP_OK(text_has(&n, "users whose grants expired while the secret was broken must sign in "
	    "again") && text_has_not(&n, "nobody needs to sign in again") &&
	    text_has_not(&n, "Users affected"),
	    "done for an incident without counts: users must sign in again, no count of 0");
	n.kind = NOTICE_ROTATION_WAITING;
	TAP_OK(text_has(&n, "users whose grants expired cannot use") &&
	    text_has_not(&n, "No user"), "waiting for an incident without counts: no false 0");
	n = full_notice(NOTICE_ROTATION_FAILED);
	n.next_retry_ms = NOW_MS - 1000;
	TAP_OK(text_has(&n, "none (gave up)") && text_has_not(&n, "It tries again"),
	    "failed with a retry time already past: gave up, no retry promised");
}

static void
test_user_reauth_private(void)
{
	static const char *const internals[] = {
		"k-old", "new-key-1", "inc-7", "AADSTS", CLIENT_ID, "rekey status", "rot-42",
		"secret",
	};
	struct notice n = full_notice(NOTICE_USER_REAUTH);
	struct message m;
	char *all;
	size_t i;
	int ok = 1;

	if (render(&n, &m) == -1)
		return;
	all = xasprintf("%s\n%s\n%s\n%s", m.subject, m.text, m.slack_json, m.teams_json);
	for (i = 0; i < sizeof(internals) / sizeof(internals[0]); i++) {
		if (strstr(all, internals[i]) != NULL) {
			ok = 0;
			printf("#   \"%s\" is in the user's message\n", internals[i]);
		}
	}
	TAP_OK(ok, "user_reauth: no keyIds, evidence, incident or commands");
	TAP_OK(strlen(m.text) < 700, "user_reauth: short (%zu bytes)", strlen(m.text));
	TAP_OK(strstr(m.teams_json, "Action.OpenUrl") != NULL, "user_reauth: Teams has a button");
	free(all);
	message_clear(&m);
}

/* ---- Any bytes in the fields ---- */

static void
test_hostile_fields(void)
{
	static const char *const ev[] = {
		"quote \" backslash \\ tab\tnewline\r\nend",
		"bad utf8 \xff\xfe and overlong \xc0\xaf and cut \xe2\x82",
		"",
		NULL,
		"<!channel> & <https://evil.example|click>",
	};
	struct notice n = full_notice(NOTICE_INCIDENT_OPENED);
	struct message m;
	cJSON *hook, *slack;
	const cJSON *evs;
	char *line;

	n.app = "pr\nod";
	n.evidence = ev;
	n.n_evidence = 5;
	if (render(&n, &m) == -1)
		return;
	TAP_OK(strpbrk(m.subject, "\r\n") == NULL && strncmp(m.subject, "[rekey pr od]", 13) == 0,
	    "a newline in the app name is flattened in the subject");
	TAP_OK(strstr(m.text, "quote \" backslash \\ tab newline end") != NULL,
	    "an evidence line with quotes and newlines is one line in the text");
	TAP_OK(strchr(m.text, '\r') == NULL && strchr(m.text, '\t') == NULL,
	    "no CR or tab in the text");
	TAP_OK(valid_utf8(m.text) && strstr(m.text, "bad utf8 \xef\xbf\xbd\xef\xbf\xbd") != NULL,
	    "bytes that are not UTF-8 show as U+FFFD");
	hook = cJSON_Parse(m.webhook_json);
	evs = at(at(hook, "data"), "evidence");
	line = cJSON_IsString(cJSON_GetArrayItem(evs, 0)) ?
	    cJSON_GetArrayItem(evs, 0)->valuestring : NULL;
	TAP_OK(line != NULL && strcmp(line, "quote \" backslash \\ tab\tnewline\r\nend") == 0 &&
	    cJSON_GetArraySize(evs) == 3, "the webhook keeps evidence lines whole, empty ones left out");
	TAP_OK(valid_utf8(m.webhook_json), "the webhook body is valid UTF-8");
	cJSON_Delete(hook);
	slack = cJSON_Parse(m.slack_json);
	TAP_OK(slack != NULL && strstr(m.slack_json, "&lt;!channel&gt; &amp; "
	    "&lt;https://evil.example|click&gt;") != NULL && strstr(m.slack_json, "<!channel>")
	    == NULL, "Slack: &, < and > escaped (no @channel, no disguised link)");
	cJSON_Delete(slack);
	TAP_OK(strstr(m.teams_json, "<!channel> & <https") != NULL,
	    "Teams gets the line as it is (JSON-escaped only)");
	message_clear(&m);
}

static void
test_slack_fallback_escaped(void)
{
	struct notice n = full_notice(NOTICE_ROTATION_WAITING);
	struct message m;
	cJSON *root;

	n.app = "r&d<1>";
	if (render(&n, &m) == -1)
		return;
	root = cJSON_Parse(m.slack_json);
	TAP_OK(str_at(root, "text") != NULL &&
	    strncmp(str_at(root, "text"), "[rekey r&amp;d&lt;1&gt;]", 24) == 0,
	    "Slack fallback text is escaped too");
	TAP_OK(strncmp(m.subject, "[rekey r&d<1>]", 14) == 0, "the subject itself is not escaped");
	cJSON_Delete(root);
	message_clear(&m);
}

static void
test_bounds(void)
{
	static const char *lines[120];
	struct notice n = full_notice(NOTICE_INCIDENT_OPENED);
	struct message m;
	char long_line[2000];
	cJSON *slack, *hook;
	const cJSON *b;
	int ok = 1;
	size_t i;

	memset(long_line, 'e', sizeof(long_line) - 1);
	long_line[sizeof(long_line) - 1] = '\0';
	for (i = 0; i < 120; i++)
		lines[i] = long_line;
	n.evidence = lines;
	n.n_evidence = 120;
	if (render(&n, &m) == -1)
		return;
	slack = cJSON_Parse(m.slack_json);
	cJSON_ArrayForEach(b, at(slack, "blocks")) {
		const char *t = str_at(at(b, "text"), "text");

		if (t != NULL && strlen(t) > 3000)
			ok = 0;
	}
	TAP_OK(slack != NULL && ok && cJSON_GetArraySize(at(slack, "blocks")) <= 50,
	    "120 long evidence lines: Slack sections stay within 3000, blocks within 50");
	TAP_OK(strstr(m.text, "(70 more not shown)") != NULL, "evidence beyond 50 lines is counted");
	TAP_OK(strlen(m.text) < 40000, "the text stays bounded (%zu bytes)", strlen(m.text));
	hook = cJSON_Parse(m.webhook_json);
	TAP_OK(cJSON_GetArraySize(at(at(hook, "data"), "evidence")) == 50,
	    "the webhook carries at most 50 evidence lines");
	cJSON_Delete(hook);
	cJSON_Delete(slack);
	message_clear(&m);
}

/* ---- message_email ---- */

/* Decodes a quoted-printable body; NULL when it is not valid QP with lines <= 76. */
static char *
qp_decode(const char *body)
{
	char *out = xmalloc(strlen(body) + 1), *o = out;
	const char *p = body, *eol;
	size_t len;

	while (*p != '\0') {
		eol = strstr(p, "\r\n");
		if (eol == NULL)
			goto bad;
		len = (size_t)(eol - p);
		if (len > 76 || (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')))
			goto bad;
		for (; p < eol; p++) {
			if (*p == '=' && p + 1 == eol) {
				break;	/* soft break */
			} else if (*p == '=') {
				if (p + 2 >= eol + 1 || crypto_hex_value(p[1]) < 0 ||
				    crypto_hex_value(p[2]) < 0 || p[1] > 'F' || p[2] > 'F')
					goto bad;
				*o++ = (char)(crypto_hex_value(p[1]) << 4 | crypto_hex_value(p[2]));
				p += 2;
			} else if ((unsigned char)*p > 0x7e || ((unsigned char)*p < 0x20 && *p != '\t')) {
				goto bad;
			} else {
				*o++ = *p;
			}
		}
		if (*p != '=')
			*o++ = '\n';
		p = eol + 2;
	}
	*o = '\0';
	return out;
bad:
	free(out);
	return NULL;
}

/* The headers (up to the blank line) and the body of an email; 0 or -1. */
static int
split_email(const char *e, char **head, const char **body)
{
	const char *sep = strstr(e, "\r\n\r\n");

	if (sep == NULL)
		return -1;
	*head = xstrndup(e, (size_t)(sep - e) + 2);
	*body = sep + 4;
	return 0;
}

/* 1 when every LF is preceded by CR and every CR followed by LF. */
static int
crlf_only(const char *s)
{
	const char *p;

	for (p = s; *p != '\0'; p++) {
		if ((*p == '\n' && (p == s || p[-1] != '\r')) || (*p == '\r' && p[1] != '\n'))
			return 0;
	}
	return 1;
}

/* The Subject header unfolded and with its encoded-words decoded (caller frees). */
static char *
decode_subject(const char *head, int *max_line)
{
	const char *p = strstr(head, "\r\nSubject:"), *end, *w, *q;
	char *out = xstrdup(""), *tmp;
	unsigned char *dec;
	size_t declen;

	*max_line = 0;
	if (p == NULL)
		return out;
	p += 10;
	for (end = p; !(end[0] == '\r' && end[1] == '\n' && end[2] != ' '); end++) {
		if (end[0] == '\r')
			*max_line = 1;	/* folded */
	}
	while ((w = strstr(p, "=?UTF-8?B?")) != NULL && w < end) {
		w += 10;
		q = strstr(w, "?=");
		if (q == NULL || crypto_b64_decode(w, (size_t)(q - w), &dec, &declen) == -1)
			break;
		tmp = xasprintf("%s%.*s", out, (int)declen, (const char *)dec);
		free(dec);
		free(out);
		out = tmp;
		p = q + 2;
	}
	return out;
}

static int
lines_within(const char *s, size_t max)
{
	const char *p = s, *eol;

	while ((eol = strstr(p, "\r\n")) != NULL) {
		if ((size_t)(eol - p) > max)
			return 0;
		p = eol + 2;
	}
	return strlen(p) <= max;
}

static void
test_email_headers(void)
{
	struct message m = { 0 };
	const char *body;
	char *e, *head = NULL;

	m.subject = (char *)"[rekey prod] Client secret expired: rotated, 312 users must sign in again";
	m.text = (char *)"Hello\nworld\n";
	e = message_email(&m, "rekey <rekey@example.com>", "ops@example.com", "n-1@rekey", NOW_MS);
	TAP_OK(e != NULL && split_email(e, &head, &body) == 0, "an email is written");
	if (head == NULL) {
		free(e);
		return;
	}
	TAP_OK(strncmp(head, "From: rekey <rekey@example.com>\r\n", 33) == 0 &&
	    strstr(head, "\r\nTo: ops@example.com\r\n") != NULL &&
	    strstr(head, "\r\nDate: Wed, 01 Jul 2026 00:00:00 +0000\r\n") != NULL &&
	    strstr(head, "\r\nMessage-ID: <n-1@rekey>\r\n") != NULL &&
	    strstr(head, "\r\nMIME-Version: 1.0\r\n") != NULL &&
	    strstr(head, "\r\nContent-Type: text/plain; charset=utf-8\r\n") != NULL &&
	    strstr(head, "\r\nContent-Transfer-Encoding: quoted-printable\r\n") != NULL &&
	    strstr(head, "\r\nAuto-Submitted: auto-generated\r\n") != NULL,
	    "From, To, Date, Message-ID, MIME, Content-Type, CTE and Auto-Submitted headers");
	TAP_OK(strstr(head, "\r\nSubject: [rekey prod] Client secret expired: rotated, 312 users "
	    "must sign in\r\n again\r\n") != NULL, "a long ASCII subject is folded before a space");
	TAP_OK(crlf_only(e), "CRLF line endings only");
	TAP_OK(lines_within(head, 78), "header lines within 78 characters");
	TAP_STR_EQ(body, "Hello\r\nworld\r\n", "a plain body stays readable");
	free(head);
	free(e);
	e = message_email(&m, "a@example.com", "b@example.com", "<given@rekey>", NOW_MS);
	TAP_OK(e != NULL && strstr(e, "\r\nMessage-ID: <given@rekey>\r\n") != NULL,
	    "a bracketed Message-ID is kept as it is");
	free(e);
}

static void
test_email_qp(void)
{
	struct message m = { 0 };
	struct qp_case {
		const char *why;
		const char *text;
		const char *encoded_has;
	} qp[] = {
		{ "a long line", NULL, "=\r\n" },
		{ "an equals sign", "a=b\n", "a=3Db" },
		{ "non-ASCII", "caf\xc3\xa9 \xe2\x80\xa6\n", "caf=C3=A9 =E2=80=A6" },
		{ "a line starting with a dot", "one\n.\n..two\n", "\r\n=2E\r\n=2E.two" },
		{ "a trailing space", "end \nnext\t\n", "end=20\r\nnext=09" },
		{ "a line of equals signs", NULL, "=3D=3D" },
	};
	char long_line[400], equals[200];
	const char *body;
	char *e, *head, *dec, *want;
	size_t i, j;

	for (j = 0; j + 1 < sizeof(long_line); j++)
		long_line[j] = j % 80 == 79 ? ' ' : (char)('a' + j % 26);
	long_line[sizeof(long_line) - 2] = '\n';
	long_line[sizeof(long_line) - 1] = '\0';
	memset(equals, '=', sizeof(equals) - 1);
	equals[sizeof(equals) - 1] = '\0';
	qp[0].text = long_line;
	qp[5].text = equals;
	m.subject = (char *)"[rekey prod] test";
	for (i = 0; i < sizeof(qp) / sizeof(qp[0]); i++) {
		m.text = (char *)qp[i].text;
		e = message_email(&m, "a@example.com", "b@example.com", "id@x", NOW_MS);
		head = NULL;
		if (e == NULL || split_email(e, &head, &body) == -1) {
			TAP_OK(0, "QP %s: an email", qp[i].why);
			free(e);
			continue;
		}
		dec = qp_decode(body);
		want = xstrdup(qp[i].text);
		if (want[strlen(want) - 1] != '\n') {
			free(want);
			want = xasprintf("%s\n", qp[i].text);
		}
		TAP_OK(dec != NULL, "QP %s: valid (lines <= 76, '=' encoded, printable ASCII)",
		    qp[i].why);
		TAP_STR_EQ(dec, want, "QP %s: decodes to the text", qp[i].why);
		TAP_OK(strstr(body, qp[i].encoded_has) != NULL, "QP %s: encoded as expected",
		    qp[i].why);
		TAP_OK(strstr(body, "\r\n.") == NULL && body[0] != '.',
		    "QP %s: no line starts with a dot", qp[i].why);
		free(dec);
		free(want);
		free(head);
		free(e);
	}
}

static void
test_email_subject_2047(void)
{
	struct message m = { 0 };
	const char *body;
	char *e, *head = NULL, *subj;
	int folded;

	m.subject = (char *)"[rekey prod] Secret \xc3\xa9t\xc3\xa9\xe2\x80\xa6 expires in 14 days "
	    "\xe2\x80\x94 \xf0\x9f\x94\x91 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae"
	    "\xe4\xbb\xb6\xe5\x90\x8d\xe3\x81\xa7\xe3\x81\x99";
	m.text = (char *)"x\n";
	e = message_email(&m, "a@example.com", "b@example.com", "id@x", NOW_MS);
	if (e == NULL || split_email(e, &head, &body) == -1) {
		TAP_OK(0, "a non-ASCII subject: an email");
		free(e);
		return;
	}
	TAP_OK(strstr(head, "\r\nSubject: =?UTF-8?B?") != NULL, "a non-ASCII subject is "
	    "RFC 2047 encoded");
	subj = decode_subject(head, &folded);
	TAP_STR_EQ(subj, m.subject, "its encoded-words decode to the subject");
	TAP_OK(folded && lines_within(head, 76), "folded into lines of at most 76");
	free(subj);
	free(head);
	free(e);
	m.subject = (char *)"[rekey prod] looks like =?UTF-8?B?eA==?= a word";
	e = message_email(&m, "a@example.com", "b@example.com", "id@x", NOW_MS);
	TAP_OK(e != NULL && strstr(e, "\r\nSubject: =?UTF-8?B?") != NULL,
	    "an ASCII subject holding \"=?\" is encoded too");
	free(e);
}

static void
test_email_injection(void)
{
	static const struct {
		const char *why, *from, *to, *id, *subject;
	} bad[] = {
		{ "CRLF in to", "a@example.com", "b@example.com\r\nBcc: x@evil.example", "i@x", "s" },
		{ "LF in to", "a@example.com", "b@example.com\nBcc: x@evil.example", "i@x", "s" },
		{ "CR in from", "a@example.com\rX: y", "b@example.com", "i@x", "s" },
		{ "CRLF in the subject", "a@example.com", "b@example.com", "i@x", "s\r\nBcc: x" },
		{ "an escape character in the subject", "a@example.com", "b@example.com", "i@x",
		  "s\x1b[31m" },
		{ "CRLF in the Message-ID", "a@example.com", "b@example.com", "i@x\r\nX: y", "s" },
		{ "a space in the Message-ID", "a@example.com", "b@example.com", "i @x", "s" },
		{ "an empty to", "a@example.com", "", "i@x", "s" },
		{ "no to", "a@example.com", NULL, "i@x", "s" },
	};
	struct message m = { 0 };
	size_t i;
	char *e;

	m.text = (char *)"x\n";
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		m.subject = (char *)bad[i].subject;
		e = message_email(&m, bad[i].from, bad[i].to, bad[i].id, NOW_MS);
		TAP_OK(e == NULL, "email refused: %s", bad[i].why);
		free(e);
	}
	m.subject = (char *)"s";
	TAP_OK(message_email(&m, "a@example.com", "b@example.com", "i@x", 0) == NULL,
	    "email refused: no date");
	TAP_OK(message_email(NULL, "a@example.com", "b@example.com", "i@x", NOW_MS) == NULL,
	    "email refused: no message");
}

/* A rendered notice goes through message_email whole. */
static void
test_email_of_render(void)
{
	struct notice n = full_notice(NOTICE_ROTATION_DONE);
	struct message m;
	const char *body;
	char *e, *head = NULL, *dec;

	if (render(&n, &m) == -1)
		return;
	e = message_email(&m, "rekey@example.com", "ops@example.com", "r@x", NOW_MS);
	TAP_OK(e != NULL && split_email(e, &head, &body) == 0, "a rendered notice makes an email");
	dec = head != NULL ? qp_decode(body) : NULL;
	TAP_STR_EQ(dec, m.text, "its body decodes to the text");
	TAP_OK(e != NULL && crlf_only(e), "CRLF only");
	free(dec);
	free(head);
	free(e);
	message_clear(&m);
}

int
main(void)
{
	size_t i;

	for (i = 0; i < N_CASES; i++)
		check_kind(&cases[i]);
	test_missing();
	test_warning_days();
	test_warning_modes();
	test_incident_causes();
	test_rotation_variants();
	test_sparse_rotation();
	test_user_reauth_private();
	test_hostile_fields();
	test_slack_fallback_escaped();
	test_bounds();
	test_email_headers();
	test_email_qp();
	test_email_subject_2047();
	test_email_injection();
	test_email_of_render();
	return tap_done();
}
