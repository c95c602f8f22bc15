#include "lib/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Set by the main loop (start, reload), read by every thread. */
static _Atomic int min_level = LOG_LEVEL_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void
log_set_level(enum log_level level)
{
	min_level = (int)level;
}

int
log_level_parse(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcmp(name, level_names[i]) == 0)
			return (int)i;
	return -1;
}

void
log_json_escape(char *out, size_t size, const char *s)
{
	size_t len = strlen(out);
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0' && len + 7 < size; p++) {
		if (*p == '"' || *p == '\\') {
			out[len++] = '\\';
			out[len++] = (char)*p;
		} else if (*p == '\n') {
			out[len++] = '\\';
			out[len++] = 'n';
		} else if (*p < 0x20 || *p == 0x7f) {
			len += (size_t)snprintf(out + len, size - len, "\\u%04x", *p);
		} else {
			out[len++] = (char)*p;
		}
	}
	out[len] = '\0';
}

static void log_vemit(enum log_level, const struct log_ids *, const char *, va_list)
    __attribute__((format(printf, 3, 0)));

/* Appends s to the text in line (size bytes), cut short when full.  log is below util. */
static void
append(char *line, size_t size, const char *s)
{
	size_t used = strlen(line);

	snprintf(line + used, size - used, "%s", s);
}

/*
 * Appends ,"name":"value" unless value is NULL or empty, or the whole field
 * does not fit before the line's closing (a field is never cut in half).
 */
static void
add_field(char *line, size_t size, const char *name, const char *value)
{
	char esc[LOG_ID_MAX + 1];
	size_t need;

	if (value == NULL || *value == '\0')
		return;
	esc[0] = '\0';
	log_json_escape(esc, sizeof(esc), value);
	need = strlen(line) + strlen(name) + strlen(esc) + 7 + 4;
	if (need > size)
		return;
	append(line, size, ",\"");
	append(line, size, name);
	append(line, size, "\":\"");
	append(line, size, esc);
	append(line, size, "\"");
}

void
log_format(char *out, size_t size, enum log_level level, int64_t now_ms,
    const struct log_ids *ids, const char *msg)
{
	char ts[32], esc[2 * LOG_MSG_MAX];
	time_t secs = (time_t)(now_ms / 1000);
	struct tm tm;

	gmtime_r(&secs, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	esc[0] = '\0';
	log_json_escape(esc, sizeof(esc), msg);
	snprintf(out, size, "{\"time\":\"%s.%03dZ\",\"level\":\"%s\",\"msg\":\"%s\"", ts,
	    (int)(now_ms % 1000), level_names[level], esc);
	if (ids != NULL) {
		add_field(out, size, "req", ids->req);
		add_field(out, size, "app", ids->app);
		add_field(out, size, "incident", ids->incident);
		add_field(out, size, "rotation", ids->rotation);
	}
	append(out, size, "}\n");
}

static void
log_vemit(enum log_level level, const struct log_ids *ids, const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX], line[LOG_LINE_MAX];
	struct timespec now;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	clock_gettime(CLOCK_REALTIME, &now);
	log_format(line, sizeof(line), level, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000,
	    ids, msg);
	fputs(line, stderr);
}

void
log_with(enum log_level level, const struct log_ids *ids, const char *fmt, ...)
{
	va_list ap;

	if ((int)level < min_level)
		return;
	va_start(ap, fmt);
	log_vemit(level, ids, fmt, ap);
	va_end(ap);
}

void
log_ctx(enum log_level level, const char *req_id, const char *app,
    const char *fmt, ...)
{
	const struct log_ids ids = { .req = req_id, .app = app };
	va_list ap;

	if ((int)level < min_level)
		return;
	va_start(ap, fmt);
	log_vemit(level, &ids, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LEVEL_ERROR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
