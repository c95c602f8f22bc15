/*
 * render: a notice's document as plain text, Slack, Teams and webhook bodies
 * (see notice/render.h).
 */
#include "notice/render.h"
#include "notice/clean.h"
#include "notice/doc.h"
#include "notice/kinds.h"
#include "notice/notice.h"
#include "notice/pieces.h"
#include "notice/words.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/wbuf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* Slack allows 3000 characters in a section's text; bytes are never fewer. */
#define SLACK_SECTION_MAX 2900
/* Bytes of any field in the webhook body. */
#define MAX_WEBHOOK_FIELD 4096

/* ---- Rendering: plain text ---- */

/* 1 when part p follows prev without a blank line between them. */
static int
joins(const struct doc_part *prev, const struct doc_part *p)
{
	if (prev->type == DOC_PART_HEADING)
		return 1;
	if (p->type == DOC_PART_FACT || p->type == DOC_PART_ITEM)
		return prev->type == p->type ||
		    (p->type == DOC_PART_ITEM && prev->type == DOC_PART_PARA);
	return p->type == DOC_PART_COMMAND && prev->type == DOC_PART_PARA;
}

/* Width of the labels of the run of facts starting at parts[i]. */
static size_t
label_width(const struct doc *d, size_t i)
{
	size_t w = 0;

	for (; i < d->n_parts && d->parts[i].type == DOC_PART_FACT; i++) {
		if (strlen(d->parts[i].label) > w)
			w = strlen(d->parts[i].label);
	}
	return w;
}

char *
render_text(const struct doc *d)
{
	struct wbuf b = WBUF_INIT;
	const struct doc_part *p;
	size_t i, w = 0, j;

	for (i = 0; i < d->n_parts; i++) {
		p = &d->parts[i];
		if (i > 0 && !joins(&d->parts[i - 1], p))
			wbuf_add_str(&b, "\n");
		switch (p->type) {
		case DOC_PART_HEADING:
			wbuf_add_str(&b, p->text);
			wbuf_add_str(&b, "\n");
			for (j = 0; j < strlen(p->text); j++)
				wbuf_add_str(&b, "-");
			break;
		case DOC_PART_FACT:
			if (i == 0 || d->parts[i - 1].type != DOC_PART_FACT)
				w = label_width(d, i);
			wbuf_add_str(&b, p->label);
			wbuf_add_str(&b, ":");
			for (j = strlen(p->label); j <= w; j++)
				wbuf_add_str(&b, " ");
			wbuf_add_str(&b, p->text);
			break;
		case DOC_PART_ITEM:
			wbuf_add_str(&b, "  - ");
			wbuf_add_str(&b, p->text);
			break;
		case DOC_PART_COMMAND:
			wbuf_add_str(&b, "    ");
			wbuf_add_str(&b, p->text);
			break;
		case DOC_PART_PARA:
		case DOC_PART_LINK:
			wbuf_add_str(&b, p->text);
			break;
		}
		wbuf_add_str(&b, "\n");
	}
	return wbuf_to_str(&b);
}

/* ---- Rendering: JSON ---- */

/* The printed tree as a string of our allocator (caller frees); deletes root. */
static char *
print_json(cJSON *root)
{
	char *printed = cJSON_PrintUnformatted(root), *s;

	if (printed == NULL)
		fatal("out of memory printing a message");
	s = xstrdup(printed);
	cJSON_free(printed);
	cJSON_Delete(root);
	return s;
}

/*
 * Appends s to b escaped for Slack mrkdwn (&, < and > as entities), cut at
 * a character boundary with "…" so that b stays within max bytes.
 */
static void
slack_escape(struct wbuf *b, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	const char *esc;
	size_t len, n;

	while (*p != '\0') {
		len = clean_utf8_char(p, strlen((const char *)p));
		if (len == 0)
			len = 1;
		esc = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : NULL;
		n = esc != NULL ? strlen(esc) : len;
		if (b->len + n + sizeof(clean_ellipsis) > max) {
			wbuf_add_str(b, clean_ellipsis);
			return;
		}
		if (esc != NULL)
			wbuf_add_str(b, esc);
		else
			wbuf_add(b, p, len);
		p += len;
	}
}

static void
slack_section(cJSON *blocks, struct wbuf *b)
{
	cJSON *sec, *text;

	if (b->len == 0)
		return;
	sec = cJSON_CreateObject();
	cJSON_AddStringToObject(sec, "type", "section");
	text = cJSON_AddObjectToObject(sec, "text");
	cJSON_AddStringToObject(text, "type", "mrkdwn");
	cJSON_AddStringToObject(text, "text", (const char *)b->data);
	cJSON_AddItemToArray(blocks, sec);
	wbuf_clear(b);
}

/* One part as a line of mrkdwn into line (cleared first). */
static void
slack_line(struct wbuf *line, const struct doc_part *p)
{
	wbuf_clear(line);
	switch (p->type) {
	case DOC_PART_HEADING:
		wbuf_add_str(line, "*");
		slack_escape(line, p->text, SLACK_SECTION_MAX - 1);
		wbuf_add_str(line, "*");
		break;
	case DOC_PART_FACT:
		wbuf_add_str(line, "*");
		slack_escape(line, p->label, SLACK_SECTION_MAX);
		wbuf_add_str(line, ":* ");
		slack_escape(line, p->text, SLACK_SECTION_MAX);
		break;
	case DOC_PART_ITEM:
		wbuf_add_str(line, "\xe2\x80\xa2 ");
		slack_escape(line, p->text, SLACK_SECTION_MAX);
		break;
	case DOC_PART_COMMAND:
		/* A backtick inside would end the code span early. */
		wbuf_add_str(line, strchr(p->text, '`') == NULL ? "`" : "");
		slack_escape(line, p->text, SLACK_SECTION_MAX - 1);
		wbuf_add_str(line, strchr(p->text, '`') == NULL ? "`" : "");
		break;
	case DOC_PART_LINK:
		/* <url|label>; a '|' in the url would end it early, so then the bare url. */
		wbuf_add_str(line, strchr(p->text, '|') == NULL ? "<" : "");
		slack_escape(line, p->text, SLACK_SECTION_MAX - 32);
		if (strchr(p->text, '|') == NULL) {
			wbuf_add_str(line, "|");
			slack_escape(line, p->label, SLACK_SECTION_MAX);
			wbuf_add_str(line, ">");
		}
		break;
	case DOC_PART_PARA:
		slack_escape(line, p->text, SLACK_SECTION_MAX);
		break;
	}
}

/* Sections of at most SLACK_SECTION_MAX bytes; a heading starts a new one. */
static void
slack_blocks(const struct doc *d, cJSON *blocks)
{
	struct wbuf sec = WBUF_INIT, line = WBUF_INIT;
	size_t i;

	slack_line(&line, &(struct doc_part){ DOC_PART_HEADING, NULL, d->subject });
	wbuf_add(&sec, line.data, line.len);
	for (i = 0; i < d->n_parts; i++) {
		slack_line(&line, &d->parts[i]);
		if (d->parts[i].type == DOC_PART_HEADING ||
		    sec.len + 2 + line.len > SLACK_SECTION_MAX)
			slack_section(blocks, &sec);
		if (sec.len > 0)
			wbuf_add_str(&sec, i > 0 && joins(&d->parts[i - 1], &d->parts[i]) ?
			    "\n" : "\n\n");
		wbuf_add(&sec, line.data, line.len);
	}
	slack_section(blocks, &sec);
	wbuf_clear(&line);
}

char *
render_slack(const struct doc *d, const char *event_type)
{
	cJSON *root = cJSON_CreateObject(), *blocks, *ctx, *elems, *el;
	struct wbuf b = WBUF_INIT;
	char *foot;

	slack_escape(&b, d->subject, SLACK_SECTION_MAX);
	cJSON_AddStringToObject(root, "text", b.data != NULL ? (const char *)b.data : "");
	wbuf_clear(&b);
	blocks = cJSON_AddArrayToObject(root, "blocks");
	slack_blocks(d, blocks);
	ctx = cJSON_CreateObject();
	cJSON_AddStringToObject(ctx, "type", "context");
	elems = cJSON_AddArrayToObject(ctx, "elements");
	el = cJSON_CreateObject();
	cJSON_AddStringToObject(el, "type", "mrkdwn");
	foot = xasprintf("rekey \xc2\xb7 %s \xc2\xb7 %s", event_type,
	    words_rfc3339(d->n->now_ms).s);
	slack_escape(&b, foot, SLACK_SECTION_MAX);
	free(foot);
	cJSON_AddStringToObject(el, "text", (const char *)b.data);
	wbuf_clear(&b);
	cJSON_AddItemToArray(elems, el);
	cJSON_AddItemToArray(blocks, ctx);
	return print_json(root);
}

static cJSON *
teams_text(const char *text)
{
	cJSON *t = cJSON_CreateObject();

	cJSON_AddStringToObject(t, "type", "TextBlock");
	cJSON_AddStringToObject(t, "text", text);
	cJSON_AddBoolToObject(t, "wrap", 1);
	return t;
}

/* The FactSet of the run of facts at parts[*i], leaving *i on its last. */
static cJSON *
teams_facts(const struct doc *d, size_t *i)
{
	cJSON *set = cJSON_CreateObject(), *facts, *f;

	cJSON_AddStringToObject(set, "type", "FactSet");
	facts = cJSON_AddArrayToObject(set, "facts");
	for (; *i < d->n_parts && d->parts[*i].type == DOC_PART_FACT; (*i)++) {
		f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "title", d->parts[*i].label);
		cJSON_AddStringToObject(f, "value", d->parts[*i].text);
		cJSON_AddItemToArray(facts, f);
	}
	(*i)--;
	return set;
}

static cJSON *
teams_part(const struct doc_part *p, cJSON *actions)
{
	cJSON *t, *a;
	char *s;

	switch (p->type) {
	case DOC_PART_HEADING:
		t = teams_text(p->text);
		cJSON_AddStringToObject(t, "weight", "Bolder");
		cJSON_AddStringToObject(t, "spacing", "Medium");
		cJSON_AddBoolToObject(t, "separator", 1);
		return t;
	case DOC_PART_ITEM:
		s = xasprintf("\xe2\x80\xa2 %s", p->text);
		t = teams_text(s);
		free(s);
		cJSON_AddStringToObject(t, "spacing", "None");
		return t;
	case DOC_PART_COMMAND:
		t = teams_text(p->text);
		cJSON_AddStringToObject(t, "fontType", "Monospace");
		return t;
	case DOC_PART_LINK:
		a = cJSON_CreateObject();
		cJSON_AddStringToObject(a, "type", "Action.OpenUrl");
		cJSON_AddStringToObject(a, "title", p->label);
		cJSON_AddStringToObject(a, "url", p->text);
		cJSON_AddItemToArray(actions, a);
		return teams_text(p->text);
	case DOC_PART_FACT:
	case DOC_PART_PARA:
		break;
	}
	return teams_text(p->text);
}

char *
render_teams(const struct doc *d)
{
	cJSON *root = cJSON_CreateObject(), *att, *card, *body, *actions, *title, *ms;
	size_t i;

	cJSON_AddStringToObject(root, "type", "message");
	att = cJSON_CreateObject();
	cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "attachments"), att);
	cJSON_AddStringToObject(att, "contentType", "application/vnd.microsoft.card.adaptive");
	cJSON_AddNullToObject(att, "contentUrl");
	card = cJSON_AddObjectToObject(att, "content");
	cJSON_AddStringToObject(card, "$schema", "http://adaptivecards.io/schemas/adaptive-card.json");
	cJSON_AddStringToObject(card, "type", "AdaptiveCard");
	cJSON_AddStringToObject(card, "version", "1.4");
	ms = cJSON_AddObjectToObject(card, "msteams");
	cJSON_AddStringToObject(ms, "width", "Full");
	body = cJSON_AddArrayToObject(card, "body");
	actions = cJSON_CreateArray();
	title = teams_text(d->subject);
	cJSON_AddStringToObject(title, "weight", "Bolder");
	cJSON_AddStringToObject(title, "size", "Medium");
	cJSON_AddItemToArray(body, title);
	for (i = 0; i < d->n_parts; i++) {
		if (d->parts[i].type == DOC_PART_FACT)
			cJSON_AddItemToArray(body, teams_facts(d, &i));
		else
			cJSON_AddItemToArray(body, teams_part(&d->parts[i], actions));
	}
	if (cJSON_GetArraySize(actions) > 0)
		cJSON_AddItemToObject(card, "actions", actions);
	else
		cJSON_Delete(actions);
	return print_json(root);
}

/* Every field of raw that is set, strings as valid UTF-8 (line breaks kept), times as RFC 3339. */
static void
webhook_fields(cJSON *data, const struct notice *raw, const struct notice *n, int incident)
{
	const struct clean_field *f;
	char *clean;
	size_t i;

	for (i = 0; i < CLEAN_N_FIELDS; i++) {
		f = &clean_fields[i];
		if (f->type == CLEAN_FIELD_STR) {
			/* The cleaned copy says whether it is set; the raw one keeps its lines. */
			if (clean_field_cstr(n, f) == NULL)
				continue;
			clean = clean_text(clean_field_cstr(raw, f), MAX_WEBHOOK_FIELD, 0);
			cJSON_AddStringToObject(data, f->name, clean);
			free(clean);
		} else if (f->type == CLEAN_FIELD_TIME && clean_field_int(n, f) > 0) {
			cJSON_AddStringToObject(data, f->name,
			    words_rfc3339(clean_field_int(n, f)).s);
		} else if ((f->type == CLEAN_FIELD_NUM && clean_field_int(n, f) > 0) ||
		    (f->type == CLEAN_FIELD_COUNT && incident)) {
			cJSON_AddNumberToObject(data, f->name, (double)clean_field_int(n, f));
		}
	}
}

char *
render_webhook(const struct notice *raw, const struct notice *n, const struct doc *d,
    const char *event_type)
{
	cJSON *root = cJSON_CreateObject(), *data, *ev;
	int incident = n->incident_id != NULL || n->kind == NOTICE_INCIDENT_OPENED ||
	    n->kind == NOTICE_REAUTH_DIGEST || n->kind == NOTICE_INCIDENT_RESOLVED;
	char *clean;
	size_t i;

	cJSON_AddStringToObject(root, "type", event_type);
	cJSON_AddStringToObject(root, "timestamp", words_rfc3339(n->now_ms).s);
	data = cJSON_AddObjectToObject(root, "data");
	cJSON_AddStringToObject(data, "kind", notice_kind_name(n->kind));
	cJSON_AddStringToObject(data, "summary", d->subject);
	webhook_fields(data, raw, n, incident);
	if (d->c->n_evidence > 0) {
		ev = cJSON_AddArrayToObject(data, "evidence");
		for (i = 0; i < raw->n_evidence &&
		    cJSON_GetArraySize(ev) < CLEAN_MAX_EVIDENCE; i++) {
			if (raw->evidence[i] == NULL || raw->evidence[i][0] == '\0')
				continue;
			clean = clean_text(raw->evidence[i], MAX_WEBHOOK_FIELD, 0);
			cJSON_AddItemToArray(ev, cJSON_CreateString(clean));
			free(clean);
		}
	}
	if ((n->kind == NOTICE_EXPIRY_WARNING || n->kind == NOTICE_SP_SECRET_EXPIRY_WARNING) &&
	    n->end_ms > n->now_ms)
		cJSON_AddNumberToObject(data, "days_left",
		    (double)((n->end_ms - n->now_ms) / WORDS_MS_PER_DAY));
	if (incident)
		cJSON_AddNumberToObject(data, "remaining", (double)pieces_remaining(n));
	return print_json(root);
}
