/*
 * log: one JSON object per line on stderr: time, level, msg, and when
 * known the request id and the app.  Never pass a secret, a signature,
 * an Authorization header or a webhook body to these functions.
 */
#ifndef REKEY_LIB_LOG_H
#define REKEY_LIB_LOG_H

#include <stddef.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

void log_set_level(enum log_level level);
/* Parses "debug", "info", "warn", "error"; -1 when unknown. */
int log_level_parse(const char *name);

void log_ctx(enum log_level level, const char *req_id, const char *app,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_debug(...) log_ctx(LOG_LEVEL_DEBUG, NULL, NULL, __VA_ARGS__)
#define log_info(...) log_ctx(LOG_LEVEL_INFO, NULL, NULL, __VA_ARGS__)
#define log_warn(...) log_ctx(LOG_LEVEL_WARN, NULL, NULL, __VA_ARGS__)
#define log_error(...) log_ctx(LOG_LEVEL_ERROR, NULL, NULL, __VA_ARGS__)

/* Logs at error level and exits 1: start-up errors and broken invariants only. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Appends s to out as a JSON string body (no quotes), escaping as needed; bounded by size. */
void log_json_escape(char *out, size_t size, const char *s);

#endif
