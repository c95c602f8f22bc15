/*
 * http_retry: the arithmetic of retrying an outbound request, pure: how long
 * a Retry-After header asks us to wait, and the backoff before the next
 * attempt.  http_client decides when to retry; callers that read Retry-After
 * from an answer themselves (the Graph and Nylas clients, the notifier) parse
 * it here too.
 */
#ifndef REKEY_OUTBOUND_HTTP_RETRY_H
#define REKEY_OUTBOUND_HTTP_RETRY_H

#include <stdint.h>
#include <time.h>

/*
 * Pure helpers, public for the unit tests.
 * Retry-After as seconds or an IMF-fixdate/RFC 850/asctime date, relative to
 * now: milliseconds to wait (0 when in the past), or -1 when unparseable.
 */
int64_t http_parse_retry_after(const char *value, time_t now);
/*
 * Delay before attempt number attempt (1 = the first retry): the larger of
 * retry_after_ms and a full-jitter exponential backoff, base 500 ms doubling,
 * capped at 30 s; rnd in [0, 1).
 */
int64_t http_backoff_ms(int attempt, int64_t retry_after_ms, double rnd);

#endif
