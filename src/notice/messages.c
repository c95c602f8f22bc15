#include "notice/messages.h"
#include "notice/clean.h"
#include "notice/doc.h"
#include "notice/words.h"
#include "notice/pieces.h"
#include "notice/kinds.h"
#include "notice/render.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/wbuf.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>

/* Longest header value message_email accepts (a header line is at most 998). */
#define MAX_HEADER 900
/* Quoted-printable lines are at most 76 characters, the soft break's '=' included. */
#define QP_LINE 76
/*
 * Bytes of UTF-8 per RFC 2047 encoded-word: 52 base64 characters, 64 with
 * "=?UTF-8?B?...?=", so that "Subject: " and one word fit in 76.
 */
#define EW_CHUNK 39

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
	const struct field *f = field_named(name);

	if (f == NULL)
		return 0;
	if (f->type == FIELD_STR)
		return field_cstr(n, f) != NULL;
	return field_int(n, f) > 0;
}

/* A link for a person to open: http(s), no spaces, quotes or angle brackets. */
static int
url_ok(const char *url)
{
	const unsigned char *p;

	if (strncasecmp(url, "https://", 8) != 0 && strncasecmp(url, "http://", 7) != 0)
		return 0;
	if (strlen(url) > MAX_URL)
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
		set_err(err, "user_reauth notice: reauth_url is not an http(s) link without spaces");
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
		if (mode_of(n->rotation_mode) != MODE_DRY_RUN && n->new_key_id == NULL) {
			set_err(err, "rotation_done notice lacks new_key_id");
			return -1;
		}
		return 0;
	case NOTICE_LIFETIME_SHORTENED:
		if (n->lifetime_granted_days >= n->lifetime_requested_days) {
			set_err(err, "lifetime_shortened notice: granted %lld days is not shorter than "
			    "%lld", (long long)n->lifetime_granted_days,
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
	const struct kind_info *ki = &kinds[n->kind];
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
	if (n->cause != NULL && cause_find(n->cause) == NULL) {
		set_err(err, "%s notice: unknown cause \"%s\"", ki->name, n->cause);
		return -1;
	}
	if (mode_of(n->rotation_mode) == MODE_UNKNOWN) {
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
	kinds[n->kind].build(&d);
	type = kinds[n->kind].event_type;
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

/* ---- Email ---- */

/* 1 when s can be a header value: not empty, bounded, no CR, LF or other control character. */
static int
header_ok(const char *s)
{
	const unsigned char *p;

	if (s == NULL || s[0] == '\0' || strlen(s) > MAX_HEADER)
		return 0;
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return 0;
	}
	return 1;
}

/* 1 when s must be sent as encoded-words: not all printable ASCII, or looks like one already. */
static int
needs_encoding(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p >= 0x7f)
			return 1;
	}
	return strstr(s, "=?") != NULL;
}

/* "Subject: " and s as RFC 2047 B encoded-words of whole UTF-8 characters, folded. */
static void
add_encoded_subject(struct wbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, take, len;
	char *enc;

	wbuf_add_str(b, "Subject:");
	while (i < n) {
		for (take = 0; i + take < n; take += len) {
			len = utf8_char(p + i + take, n - i - take);
			if (len == 0)
				len = 1;
			if (take + len > EW_CHUNK)
				break;
		}
		enc = crypto_b64_encode(p + i, take, 0);
		wbuf_add_str(b, i == 0 ? " =?UTF-8?B?" : "\r\n =?UTF-8?B?");
		wbuf_add_str(b, enc);
		wbuf_add_str(b, "?=");
		free(enc);
		i += take;
	}
	wbuf_add_str(b, "\r\n");
}

/* "Subject: s", folded before spaces to keep lines within 78 characters where it can. */
static void
add_subject(struct wbuf *b, const char *s)
{
	size_t col, word;
	const char *p = s;

	if (needs_encoding(s)) {
		add_encoded_subject(b, s);
		return;
	}
	wbuf_add_str(b, "Subject:");
	col = strlen("Subject:");
	while (*p != '\0') {
		/* A word with the spaces before it. */
		word = strspn(p, " ");
		word += strcspn(p + word, " ");
		if (col + word > 78 && col > strlen("Subject:") && *p == ' ') {
			wbuf_add_str(b, "\r\n");
			col = 0;
		} else if (p == s) {
			wbuf_add_str(b, " ");
			col++;
		}
		wbuf_add(b, p, word);
		col += word;
		p += word;
	}
	wbuf_add_str(b, "\r\n");
}

static void
add_header(struct wbuf *b, const char *name, const char *value)
{
	wbuf_add_str(b, name);
	wbuf_add_str(b, ": ");
	wbuf_add_str(b, value);
	wbuf_add_str(b, "\r\n");
}

/* RFC 5322 date, "Wed, 01 Jul 2026 00:00:00 +0000", whatever the locale. */
static void
email_date(int64_t ms, char *buf, size_t size)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
	    "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	gmtime_r(&t, &tm);
	snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7],
	    tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	    tm.tm_sec);
}

/*
 * Appends text quoted-printable (RFC 2045): "\n" ends a line (CRLF), lines
 * are at most 76 characters with soft breaks, '=' and every byte that is not
 * printable ASCII are encoded, as are a space or tab before a line's end and
 * a '.' that starts a line (so no SMTP dot-stuffing is needed).
 */
static void
add_qp(struct wbuf *b, const char *text)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	char tok[3];
	size_t col = 0, n;
	int last;

	for (p = (const unsigned char *)text; *p != '\0'; p++) {
		if (*p == '\n') {
			wbuf_add_str(b, "\r\n");
			col = 0;
			continue;
		}
		last = p[1] == '\n' || p[1] == '\0';
		tok[0] = (char)*p;
		n = 1;
		if (*p == '=' || *p > 0x7e || (*p < 0x20 && *p != '\t') ||
		    ((*p == ' ' || *p == '\t') && last) || (*p == '.' && col == 0)) {
			tok[0] = '=';
			tok[1] = hex[*p >> 4];
			tok[2] = hex[*p & 0xf];
			n = 3;
		}
		/* Room for the soft break's '=' unless this is the line's last token. */
		if (col + n > (last ? QP_LINE : QP_LINE - 1)) {
			wbuf_add_str(b, "=\r\n");
			col = 0;
			if (*p == '.') {
				p--;
				continue;
			}
		}
		wbuf_add(b, tok, n);
		col += n;
	}
	if (col > 0)
		wbuf_add_str(b, "\r\n");
}

char *
message_email(const struct message *m, const char *from, const char *to,
    const char *message_id, int64_t date_ms)
{
	struct wbuf b = WBUF_INIT;
	char date[64];
	int bracketed;

	if (m == NULL || m->text == NULL || !header_ok(m->subject) || !header_ok(from) ||
	    !header_ok(to) || !header_ok(message_id) || strpbrk(message_id, " \t") != NULL ||
	    date_ms <= 0 || date_ms > MAX_TIME_MS)
		return NULL;
	bracketed = message_id[0] == '<' && message_id[strlen(message_id) - 1] == '>';
	email_date(date_ms, date, sizeof(date));
	add_header(&b, "From", from);
	add_header(&b, "To", to);
	add_subject(&b, m->subject);
	add_header(&b, "Date", date);
	wbuf_add_str(&b, bracketed ? "Message-ID: " : "Message-ID: <");
	wbuf_add_str(&b, message_id);
	wbuf_add_str(&b, bracketed ? "\r\n" : ">\r\n");
	add_header(&b, "MIME-Version", "1.0");
	add_header(&b, "Content-Type", "text/plain; charset=utf-8");
	add_header(&b, "Content-Transfer-Encoding", "quoted-printable");
	add_header(&b, "Auto-Submitted", "auto-generated");
	/* Keeps Exchange from answering with out-of-office replies. */
	add_header(&b, "X-Auto-Response-Suppress", "All");
	wbuf_add_str(&b, "\r\n");
	add_qp(&b, m->text);
	return wbuf_to_str(&b);
}
