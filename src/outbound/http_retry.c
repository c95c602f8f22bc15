/*
 * http_retry: Retry-After (delta-seconds or any of HTTP's three date forms)
 * and the full-jitter exponential backoff between attempts.  Pure functions,
 * no clock read here: the caller passes now and the random number.
 */
#include "outbound/http_retry.h"

#include <ctype.h>
#include <string.h>

#define BACKOFF_BASE_MS 500
#define BACKOFF_CAP_MS 30000
/* A Retry-After longer than a day is as good as "not within any budget". */
#define RETRY_AFTER_MAX_S 86400

struct cursor {
	const char *p;
	const char *end;
};

static int
cur_char(struct cursor *c, char ch)
{
	if (c->p >= c->end || *c->p != ch)
		return -1;
	c->p++;
	return 0;
}

/* Exactly n digits. */
static int
cur_digits(struct cursor *c, int n, int *out)
{
	int i, v = 0;

	if (c->end - c->p < n)
		return -1;
	for (i = 0; i < n; i++) {
		if (!isdigit((unsigned char)c->p[i]))
			return -1;
		v = v * 10 + (c->p[i] - '0');
	}
	c->p += n;
	*out = v;
	return 0;
}

/* A run of letters into buf; its length, or -1 when empty or too long. */
static int
cur_word(struct cursor *c, char *buf, size_t size)
{
	size_t n = 0;

	while (c->p < c->end && isalpha((unsigned char)*c->p)) {
		if (n + 1 >= size)
			return -1;
		buf[n++] = *c->p++;
	}
	buf[n] = '\0';
	return n > 0 ? (int)n : -1;
}

static int
month_index(const char *name)
{
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
	    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	int i;

	for (i = 0; i < 12; i++)
		if (strcasecmp(name, months[i]) == 0)
			return i;
	return -1;
}

/* 1 for a short day name ("Sun"), 2 for a long one ("Sunday"), else 0. */
static int
day_name_kind(const char *name)
{
	static const char *const days[] = { "Sunday", "Monday", "Tuesday", "Wednesday",
	    "Thursday", "Friday", "Saturday" };
	int i;

	for (i = 0; i < 7; i++) {
		if (strcasecmp(name, days[i]) == 0)
			return 2;
		if (strlen(name) == 3 && strncasecmp(name, days[i], 3) == 0)
			return 1;
	}
	return 0;
}

static int
cur_month(struct cursor *c, struct tm *tm)
{
	char word[8];

	if (cur_word(c, word, sizeof(word)) != 3)
		return -1;
	tm->tm_mon = month_index(word);
	return tm->tm_mon < 0 ? -1 : 0;
}

/* "HH:MM:SS" */
static int
cur_time(struct cursor *c, struct tm *tm)
{
	if (cur_digits(c, 2, &tm->tm_hour) == -1 || cur_char(c, ':') == -1 ||
	    cur_digits(c, 2, &tm->tm_min) == -1 || cur_char(c, ':') == -1 ||
	    cur_digits(c, 2, &tm->tm_sec) == -1)
		return -1;
	return 0;
}

/* " GMT" and the end. */
static int
cur_gmt(struct cursor *c)
{
	if (c->end - c->p != 4 || memcmp(c->p, " GMT", 4) != 0)
		return -1;
	c->p += 4;
	return 0;
}

/* IMF-fixdate after "Sun,": " 06 Nov 1994 08:49:37 GMT". */
static int
parse_imf(struct cursor *c, struct tm *tm)
{
	if (cur_char(c, ' ') == -1 || cur_digits(c, 2, &tm->tm_mday) == -1 ||
	    cur_char(c, ' ') == -1 || cur_month(c, tm) == -1 || cur_char(c, ' ') == -1 ||
	    cur_digits(c, 4, &tm->tm_year) == -1 || cur_char(c, ' ') == -1 ||
	    cur_time(c, tm) == -1 || cur_gmt(c) == -1)
		return -1;
	tm->tm_year -= 1900;
	return 0;
}

/*
 * RFC 850 after "Sunday,": " 06-Nov-94 08:49:37 GMT".  A two-digit year
 * more than 50 years ahead of now is in the previous century (RFC 9110).
 */
static int
parse_rfc850(struct cursor *c, struct tm *tm, time_t now)
{
	struct tm now_tm;
	int yy, year, this_year;

	if (cur_char(c, ' ') == -1 || cur_digits(c, 2, &tm->tm_mday) == -1 ||
	    cur_char(c, '-') == -1 || cur_month(c, tm) == -1 || cur_char(c, '-') == -1 ||
	    cur_digits(c, 2, &yy) == -1 || cur_char(c, ' ') == -1 ||
	    cur_time(c, tm) == -1 || cur_gmt(c) == -1)
		return -1;
	gmtime_r(&now, &now_tm);
	this_year = now_tm.tm_year + 1900;
	year = this_year - this_year % 100 + yy;
	if (year > this_year + 50)
		year -= 100;
	tm->tm_year = year - 1900;
	return 0;
}

/* asctime after "Sun": " Nov  6 08:49:37 1994" (the day may also be two digits). */
static int
parse_asctime(struct cursor *c, struct tm *tm)
{
	if (cur_char(c, ' ') == -1 || cur_month(c, tm) == -1 || cur_char(c, ' ') == -1)
		return -1;
	if (cur_char(c, ' ') == 0) {
		if (cur_digits(c, 1, &tm->tm_mday) == -1)
			return -1;
	} else if (cur_digits(c, 2, &tm->tm_mday) == -1) {
		return -1;
	}
	if (cur_char(c, ' ') == -1 || cur_time(c, tm) == -1 || cur_char(c, ' ') == -1 ||
	    cur_digits(c, 4, &tm->tm_year) == -1 || c->p != c->end)
		return -1;
	tm->tm_year -= 1900;
	return 0;
}

/* An HTTP-date in any of its three forms; 0 and *out, or -1. */
static int
parse_http_date(const char *s, const char *end, time_t now, time_t *out)
{
	struct cursor c = { s, end };
	struct tm tm, check;
	char word[16];
	int kind, rc = -1;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (cur_word(&c, word, sizeof(word)) == -1)
		return -1;
	kind = day_name_kind(word);
	if (kind == 1 && cur_char(&c, ',') == 0)
		rc = parse_imf(&c, &tm);
	else if (kind == 2 && cur_char(&c, ',') == 0)
		rc = parse_rfc850(&c, &tm, now);
	else if (kind == 1)
		rc = parse_asctime(&c, &tm);
	if (rc == -1 || tm.tm_mday < 1 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	check = tm;
	t = timegm(&tm);
	/* timegm normalises 31 Feb into March (in tm): a date that moved was not a date. */
	if (t == (time_t)-1 || tm.tm_mday != check.tm_mday || tm.tm_mon != check.tm_mon)
		return -1;
	*out = t;
	return 0;
}

/* delta-seconds, saturating at the cap; a leading '-' means "now". */
static int64_t
parse_delta(const char *p, const char *end)
{
	int negative = 0;
	int64_t v = 0;

	if (*p == '-') {
		negative = 1;
		p++;
	}
	if (p == end)
		return -1;
	for (; p < end; p++) {
		if (!isdigit((unsigned char)*p))
			return -1;
		if (v <= RETRY_AFTER_MAX_S)
			v = v * 10 + (*p - '0');
	}
	if (negative)
		return 0;
	return (v > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : v) * 1000;
}

int64_t
http_parse_retry_after(const char *value, time_t now)
{
	const char *p, *end;
	time_t t;

	if (value == NULL)
		return -1;
	p = value;
	while (*p == ' ' || *p == '\t')
		p++;
	end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (p == end)
		return -1;
	if (*p == '-' || isdigit((unsigned char)*p))
		return parse_delta(p, end);
	if (parse_http_date(p, end, now, &t) == -1)
		return -1;
	if (t <= now)
		return 0;
	if (t - now > RETRY_AFTER_MAX_S)
		return (int64_t)RETRY_AFTER_MAX_S * 1000;
	return (int64_t)(t - now) * 1000;
}

int64_t
http_backoff_ms(int attempt, int64_t retry_after_ms, double rnd)
{
	int64_t ceiling = BACKOFF_BASE_MS, wait;
	int i;

	for (i = 1; i < attempt && ceiling < BACKOFF_CAP_MS; i++)
		ceiling *= 2;
	if (ceiling > BACKOFF_CAP_MS)
		ceiling = BACKOFF_CAP_MS;
	/* Written so that NaN lands on 0 too. */
	if (!(rnd > 0))
		rnd = 0;
	if (rnd >= 1)
		rnd = 0.999999;
	/* Full jitter: uniform over [0, ceiling], both ends included. */
	wait = (int64_t)(rnd * (double)(ceiling + 1));
	if (wait > ceiling)
		wait = ceiling;
	return retry_after_ms > wait ? retry_after_ms : wait;
}
