#include "lib/log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A log line is bounded so that one bad message cannot flood stderr. */
#define LOG_MSG_MAX 2048

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

static void log_vemit(enum log_level, const char *, const char *,
    const char *, va_list) __attribute__((format(printf, 4, 0)));

/* Appends s to the text in line (size bytes), cut short when full.  log is below util. */
static void
append(char *line, size_t size, const char *s)
{
	size_t used = strlen(line);

	snprintf(line + used, size - used, "%s", s);
}

static void
log_vemit(enum log_level level, const char *req_id, const char *app,
    const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX], line[LOG_MSG_MAX * 2 + 256], ts[32];
	struct timespec now;
	struct tm tm;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(line, sizeof(line), "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"msg\":\"",
	    ts, now.tv_nsec / 1000000, level_names[level]);
	log_json_escape(line, sizeof(line) - 64, msg);
	if (req_id != NULL) {
		append(line, sizeof(line), "\",\"req\":\"");
		log_json_escape(line, sizeof(line) - 32, req_id);
	}
	if (app != NULL) {
		append(line, sizeof(line), "\",\"app\":\"");
		log_json_escape(line, sizeof(line) - 8, app);
	}
	append(line, sizeof(line), "\"}\n");
	fputs(line, stderr);
}

void
log_ctx(enum log_level level, const char *req_id, const char *app,
    const char *fmt, ...)
{
	va_list ap;

	if ((int)level < min_level)
		return;
	va_start(ap, fmt);
	log_vemit(level, req_id, app, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vemit(LOG_LEVEL_ERROR, NULL, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}
