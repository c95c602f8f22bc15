#include "lib/util.h"
#include "lib/log.h"

#include <errno.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		fatal("out of memory allocating %zu bytes", n);
	return p;
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		fatal("out of memory allocating %zu x %zu bytes", nmemb, size);
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		fatal("out of memory reallocating to %zu bytes", n);
	return q;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *
xstrdup_null(const char *s)
{
	return s != NULL ? xstrdup(s) : NULL;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p;

	/* As strndup: at most n bytes, and never past the string's end. */
	n = strnlen(s, n);
	p = xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		fatal("out of memory formatting a string");
	return s;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

size_t
util_strlcpy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}

int
util_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out)
{
	char *end = NULL;
	long long v;

	if (s == NULL || *s == '\0')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

void
util_strings_free(char **list, size_t n)
{
	size_t i;

	for (i = 0; list != NULL && i < n; i++)
		free(list[i]);
	free(list);
}

int64_t
util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
util_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

void
util_format_time(int64_t unix_secs, char *buf, size_t size)
{
	time_t t = (time_t)unix_secs;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

char *
util_url_shown(const char *url, int host_only)
{
	const char *sep = strstr(url, "://"), *auth, *at, *end;
	size_t end_len, scheme_len;

	/* "sqlite:path" has no authority, and a '?' there is part of the file's name. */
	if (sep == NULL || strcspn(url, "/?#") < (size_t)(sep - url))
		return xstrdup(url);
	scheme_len = (size_t)(sep - url) + 3;
	auth = url + scheme_len;
	end = auth + strcspn(auth, "/?#");
	/* The last '@' of the authority ends the userinfo (a password may hold '@'). */
	for (at = end; at > auth && at[-1] != '@'; at--)
		;
	end_len = host_only ? 0 : strcspn(end, "?#");
	return xasprintf("%.*s%.*s%.*s", (int)scheme_len, url, (int)(end - at), at,
	    (int)end_len, end);
}

int
util_harden_process(int allow_core)
{
	struct rlimit none = { 0, 0 };

	umask(077);
	if (allow_core)
		return 0;
	if (setrlimit(RLIMIT_CORE, &none) == -1)
		return -1;
	return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1 ? -1 : 0;
}

void
util_name_thread(const char *name)
{
	(void)prctl(PR_SET_NAME, name, 0, 0, 0);
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's algorithm). */
static int64_t
days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int
days_in_month(int64_t y, int64_t m)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* Reads exactly n digits at *p into *v and advances; -1 when they are not digits. */
static int
digits(const char **p, int n, int64_t *v)
{
	int i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		*v = *v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	return 0;
}

static int
expect(const char **p, char c)
{
	if (**p != c)
		return -1;
	(*p)++;
	return 0;
}

/* "Z", "+hh:mm", "-hh:mm" or nothing: the offset east of UTC in seconds, or -1 via *bad. */
static int
parse_zone(const char *p, int64_t *offset)
{
	int64_t hh, mm;
	int sign;

	*offset = 0;
	if (*p == '\0')
		return 0;
	if (p[0] == 'Z' && p[1] == '\0')
		return 0;
	if (*p != '+' && *p != '-')
		return -1;
	sign = *p == '-' ? -1 : 1;
	p++;
	if (digits(&p, 2, &hh) == -1 || expect(&p, ':') == -1 || digits(&p, 2, &mm) == -1 ||
	    *p != '\0' || hh > 23 || mm > 59)
		return -1;
	*offset = sign * (hh * 3600 + mm * 60);
	return 0;
}

int
util_parse_time(const char *s, int64_t *out)
{
	int64_t y, mo, d, h, mi, sec, offset;
	const char *p = s;

	if (s == NULL || strlen(s) > UTIL_TIME_MAX)
		return -1;
	if (digits(&p, 4, &y) == -1 || expect(&p, '-') == -1 || digits(&p, 2, &mo) == -1 ||
	    expect(&p, '-') == -1 || digits(&p, 2, &d) == -1 || expect(&p, 'T') == -1 ||
	    digits(&p, 2, &h) == -1 || expect(&p, ':') == -1 || digits(&p, 2, &mi) == -1 ||
	    expect(&p, ':') == -1 || digits(&p, 2, &sec) == -1)
		return -1;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -1;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (parse_zone(p, &offset) == -1)
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    sec > 59)
		return -1;
	*out = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec - offset;
	return 0;
}

int
util_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long
util_form_decode(const char *in, size_t len, char *out, size_t outsize)
{
	size_t i = 0, o = 0;
	int hi, lo;

	while (i < len) {
		if (o >= outsize)
			return -1;
		if (in[i] == '+') {
			out[o++] = ' ';
			i++;
		} else if (in[i] == '%' && i + 2 < len &&
		    (hi = util_hex_value(in[i + 1])) >= 0 && (lo = util_hex_value(in[i + 2])) >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 3;
		} else {
			out[o++] = in[i++];
		}
	}
	return (long)o;
}
