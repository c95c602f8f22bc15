/*
 * email: a rendered message as an RFC 5322 email (see notice/email.h).
 */
#include "notice/email.h"
#include "notice/clean.h"
#include "notice/messages.h"
#include "notice/words.h"
#include "lib/crypto.h"
#include "lib/wbuf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Longest header value message_email accepts (a header line is at most 998). */
#define MAX_HEADER 900
/* Quoted-printable lines are at most 76 characters, the soft break's '=' included. */
#define QP_LINE 76
/*
 * Bytes of UTF-8 per RFC 2047 encoded-word: 52 base64 characters, 64 with
 * "=?UTF-8?B?...?=", so that "Subject: " and one word fit in 76.
 */
#define EW_CHUNK 39

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
			len = clean_utf8_char(p + i + take, n - i - take);
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
	    date_ms <= 0 || date_ms > WORDS_MAX_TIME_MS)
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
