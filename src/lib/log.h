/*
 * log: one JSON object per line on stderr: time, level, msg, and as fields
 * when known the request id ("req"), the app ("app"), the incident
 * ("incident") and the rotation ("rotation"), so that a log pipeline can
 * select one incident's or one rotation's lines without parsing msg.
 * Never pass a secret, a signature, an Authorization header or a webhook
 * body to these functions.
 */
#ifndef REKEY_LIB_LOG_H
#define REKEY_LIB_LOG_H

#include <stddef.h>
#include <stdint.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

void log_set_level(enum log_level level);
/* Parses "debug", "info", "warn", "error"; -1 when unknown. */
int log_level_parse(const char *name);

/* The fields of a line besides msg; each NULL (or "") is left out.  Borrowed. */
struct log_ids {
	const char *req;
	const char *app;
	const char *incident;
	const char *rotation;
};

/* A message is cut to LOG_MSG_MAX bytes, and to twice that escaped; an id to LOG_ID_MAX escaped. */
#define LOG_MSG_MAX 2048
#define LOG_ID_MAX 200
#define LOG_LINE_MAX (2 * LOG_MSG_MAX + 4 * (LOG_ID_MAX + 16) + 96)

void log_with(enum log_level level, const struct log_ids *ids, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void log_ctx(enum log_level level, const char *req_id, const char *app,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* A line about a rotation or an incident of app: the id goes in its own field. */
#define log_rotation(level_, app_, id_, ...) \
	log_with((level_), &(struct log_ids){ .app = (app_), .rotation = (id_) }, __VA_ARGS__)
#define log_incident(level_, app_, id_, ...) \
	log_with((level_), &(struct log_ids){ .app = (app_), .incident = (id_) }, __VA_ARGS__)

/*
 * The line log_with writes for msg at now_ms, with its newline, into out
 * (size bytes; LOG_LINE_MAX always holds it whole but for a msg cut short).
 * For the tests of the format.
 */
void log_format(char *out, size_t size, enum log_level level, int64_t now_ms,
    const struct log_ids *ids, const char *msg);

#define log_debug(...) log_ctx(LOG_LEVEL_DEBUG, NULL, NULL, __VA_ARGS__)
#define log_info(...) log_ctx(LOG_LEVEL_INFO, NULL, NULL, __VA_ARGS__)
#define log_warn(...) log_ctx(LOG_LEVEL_WARN, NULL, NULL, __VA_ARGS__)
#define log_error(...) log_ctx(LOG_LEVEL_ERROR, NULL, NULL, __VA_ARGS__)

/* Logs at error level and exits 1: start-up errors and broken invariants only. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Appends s to out as a JSON string body (no quotes), escaping as needed; bounded by size. */
void log_json_escape(char *out, size_t size, const char *s);

#endif
