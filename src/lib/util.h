/*
 * util: allocation that dies on out-of-memory (so callers never juggle
 * NULL), bounded string helpers and time helpers.
 */
#ifndef REKEY_LIB_UTIL_H
#define REKEY_LIB_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdarg.h>

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* xstrdup, or NULL for NULL. */
char *xstrdup_null(const char *s);
char *xstrndup(const char *s, size_t n);
/* Caller frees the result. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* A hex digit's value (either case), or -1. */
int util_hex_value(char c);
/*
 * Decodes a query-string value the way form encoding does (%XX and '+' as
 * a space; a '%' without two hex digits is kept as it is) into out, which
 * holds outsize bytes.  The length, or -1 when it does not fit.
 */
long util_form_decode(const char *in, size_t len, char *out, size_t outsize);
/* strlcpy semantics: always terminates, returns strlen(src). */
size_t util_strlcpy(char *dst, const char *src, size_t size);

/* Parses a whole decimal string into [min, max]; 0 or -1. */
int util_parse_int64(const char *s, int64_t min, int64_t max, int64_t *out);

/* Wall-clock time in milliseconds and seconds since the epoch. */
int64_t util_now_ms(void);
/* Frees each of the n strings of list, then list; NULL is a no-op. */
void util_strings_free(char **list, size_t n);
/* Monotonic time in microseconds. */
int64_t util_mono_us(void);

/*
 * url as it may be shown (logs, status, errors, doctor, rekey check): never
 * its userinfo ("user:password@") nor its query or fragment; with host_only,
 * only scheme and host (and port), for the URLs whose path is itself a
 * credential (Slack, Teams and webhook channels).  Caller frees.
 */
char *util_url_shown(const char *url, int host_only);

/*
 * The process's own hygiene, at start: files it creates are its own only
 * (umask 077, also outside systemd's UMask=), and unless allow_core no core
 * dump holds the master key or a secret (RLIMIT_CORE 0, not dumpable, which
 * also closes /proc/PID/mem to other processes of the same user).  0 or -1.
 */
int util_harden_process(int allow_core);
/*
 * Names the calling thread (at most 15 bytes: "rk-journal"), as top -H, ps -L
 * and /proc/PID/task/TID/comm show it: the intake benchmark splits rekey's
 * CPU by thread with it.
 */
void util_name_thread(const char *name);

/* Formats a Unix time as RFC 3339 UTC ("2026-01-01T00:00:00Z") into buf (>= 21 bytes). */
void util_format_time(int64_t unix_secs, char *buf, size_t size);

/* Longest ISO 8601 text util_parse_time reads, and what util_format_time writes. */
#define UTIL_TIME_MAX 64

/*
 * ISO 8601 as Graph writes it: "2026-01-01T00:00:00Z", with or without a
 * fraction (".1234567"), with "Z", an offset ("+02:00") or no zone (UTC, as
 * in innerError.date).  Unix seconds into *out (the fraction dropped).  0 or -1.
 */
int util_parse_time(const char *s, int64_t *out);

#endif
