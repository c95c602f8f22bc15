/*
 * clean: cleaning a notice's strings for the texts, and the table of its
 * fields (see notice/clean.h).
 */
#include "notice/clean.h"
#include "lib/util.h"
#include "lib/wbuf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

const char clean_ellipsis[] = "\xe2\x80\xa6";

/* Bytes of one field as the texts show it (an evidence line, a key id). */
#define MAX_FIELD 512
/* ... of the last error. */
#define MAX_ERROR 1024

/* ---- Cleaning fields: valid UTF-8, bounded, on one line ---- */

/* Length of the valid UTF-8 character at s (n bytes left), or 0 when it is not one. */
size_t
clean_utf8_char(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, UTF-16 surrogates and code points past U+10FFFF. */
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* 1 for a character that breaks a line or does not print: C0, DEL, C1, U+2028 and U+2029. */
static int
breaks_line(const unsigned char *s, size_t len)
{
	if (len == 1)
		return s[0] < 0x20 || s[0] == 0x7f;
	if (len == 2)
		return s[0] == 0xc2 && s[1] < 0xa0;
	return len == 3 && s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9);
}

/*
 * s as a new string of valid UTF-8 (U+FFFD for each byte that is not) of
 * at most max bytes before a closing "…" when cut.  With one_line, every
 * run of spaces, line breaks and control characters becomes one space and
 * the ends are trimmed.
 */
char *
clean_text(const char *s, size_t max, int one_line)
{
	static const unsigned char bad[] = { 0xef, 0xbf, 0xbd };
	const unsigned char *p = (const unsigned char *)s, *c;
	struct wbuf b = WBUF_INIT;
	size_t n = strlen(s), i = 0, len, add;
	int space = 0;

	while (i < n) {
		len = clean_utf8_char(p + i, n - i);
		c = len > 0 ? p + i : bad;
		add = len > 0 ? len : sizeof(bad);
		i += len > 0 ? len : 1;
		if (one_line && ((add == 1 && c[0] == ' ') || breaks_line(c, add))) {
			space = b.len > 0;
			continue;
		}
		if (b.len + space + add > max) {
			wbuf_add_str(&b, clean_ellipsis);
			break;
		}
		if (space)
			wbuf_add(&b, " ", 1);
		space = 0;
		wbuf_add(&b, c, add);
	}
	return wbuf_to_str(&b);
}

/* ---- The fields of a notice, for cleaning, checking and the webhook body ---- */
#define STR(f, max) { #f, offsetof(struct notice, f), CLEAN_FIELD_STR, max }
#define TIME(name, f) { name, offsetof(struct notice, f), CLEAN_FIELD_TIME, 0 }
#define COUNT(f) { #f, offsetof(struct notice, f), CLEAN_FIELD_COUNT, 0 }
#define NUM(name, f) { name, offsetof(struct notice, f), CLEAN_FIELD_NUM, 0 }

const struct clean_field clean_fields[] = {
	STR(app, MAX_FIELD),
	STR(azure_client_id, MAX_FIELD),
	STR(status_hint, CLEAN_MAX_URL),
	STR(config_path, MAX_FIELD),
	STR(incident_id, MAX_FIELD),
	STR(cause, MAX_FIELD),
	COUNT(affected),
	COUNT(recovered),
	TIME("opened_at", opened_at_ms),
	TIME("resolved_at", resolved_at_ms),
	STR(resolved_by, MAX_FIELD),
	STR(rotation_id, MAX_FIELD),
	STR(rotation_reason, MAX_FIELD),
	STR(rotation_state, MAX_FIELD),
	STR(rotation_mode, MAX_FIELD),
	STR(new_key_id, MAX_FIELD),
	STR(new_hint, MAX_FIELD),
	TIME("new_end", new_end_ms),
	TIME("published_at", published_at_ms),
	TIME("retire_at", retire_at_ms),
	STR(old_key_id, MAX_FIELD),
	STR(old_hint, MAX_FIELD),
	STR(last_error, MAX_ERROR),
	TIME("next_retry_at", next_retry_ms),
	NUM("lifetime_requested_days", lifetime_requested_days),
	NUM("lifetime_granted_days", lifetime_granted_days),
	STR(key_id, MAX_FIELD),
	STR(hint, MAX_FIELD),
	TIME("end", end_ms),
	NUM("threshold_seconds", threshold_s),
	TIME("rotate_at", rotate_at_ms),
	STR(email, MAX_FIELD),
	STR(reauth_url, CLEAN_MAX_URL),
	STR(condition_type, MAX_FIELD),
	STR(condition_reason, MAX_FIELD),
	STR(condition_message, MAX_ERROR),
	TIME("condition_since", condition_since_ms),
	TIME("condition_until", condition_until_ms),
	STR(certificate, MAX_FIELD),
	STR(webhook_id, MAX_FIELD),
	TIME("webhook_grace_until", webhook_grace_until_ms),
	STR(display_name, MAX_FIELD),
	NUM("failed_in_a_row", failed_in_a_row),
};
_Static_assert(sizeof(clean_fields) / sizeof(clean_fields[0]) == CLEAN_N_FIELDS,
    "CLEAN_N_FIELDS counts clean_fields[]");

#undef STR
#undef TIME
#undef COUNT
#undef NUM

static const char **
field_str(struct notice *n, const struct clean_field *f)
{
	return (const char **)(void *)((char *)n + f->off);
}

const char *
clean_field_cstr(const struct notice *n, const struct clean_field *f)
{
	return *(const char *const *)(const void *)((const char *)n + f->off);
}

int64_t
clean_field_int(const struct notice *n, const struct clean_field *f)
{
	return *(const int64_t *)(const void *)((const char *)n + f->off);
}

const struct clean_field *
clean_field_named(const char *name)
{
	size_t i;

	for (i = 0; i < CLEAN_N_FIELDS; i++) {
		if (strcmp(clean_fields[i].name, name) == 0)
			return &clean_fields[i];
	}
	return NULL;
}

void
clean_notice(const struct notice *n, struct clean *c)
{
	const char **slot;
	size_t i;

	memset(c, 0, sizeof(*c));
	c->n = *n;
	for (i = 0; i < CLEAN_N_FIELDS; i++) {
		if (clean_fields[i].type != CLEAN_FIELD_STR)
			continue;
		slot = field_str(&c->n, &clean_fields[i]);
		if (*slot == NULL)
			continue;
		c->owned[i] = clean_text(*slot, clean_fields[i].max, 1);
		*slot = c->owned[i][0] != '\0' ? c->owned[i] : NULL;
	}
	c->n.evidence = NULL;
	c->n.n_evidence = 0;
	c->evidence = xcalloc(CLEAN_MAX_EVIDENCE, sizeof(*c->evidence));
	for (i = 0; n->evidence != NULL && i < n->n_evidence; i++) {
		if (n->evidence[i] == NULL || n->evidence[i][0] == '\0')
			continue;
		if (c->n_evidence == CLEAN_MAX_EVIDENCE)
			c->evidence_left++;
		else
			c->evidence[c->n_evidence++] = clean_text(n->evidence[i], MAX_FIELD, 1);
	}
}

void
clean_free(struct clean *c)
{
	size_t i;

	for (i = 0; i < CLEAN_N_FIELDS; i++)
		free(c->owned[i]);
	for (i = 0; i < c->n_evidence; i++)
		free(c->evidence[i]);
	free(c->evidence);
}
