/*
 * mailer: sends email from a thread of its own.
 *
 * libcurl (7.88 and later still) waits for the SMTP server's reply to the
 * end of a message, and to QUIT, without returning to the caller: on the
 * daemon's loop a slow mail server would hold every webhook for up to the
 * timeout.  So mail goes through a second http_client with its own event
 * base on a thread that does nothing else; the caller's callback runs on the
 * caller's loop, as with http_client_send.
 */
#ifndef REKEY_OUTBOUND_MAILER_H
#define REKEY_OUTBOUND_MAILER_H

#include <stdint.h>

#include "outbound/http_client.h"

struct event_base;
struct mailer;

/*
 * base: the loop the callbacks run on.  ca_file may be NULL.  gate (NULL:
 * none) is asked on the mail thread before every attempt, as
 * http_client_set_gate's: it must be safe to call from any thread.
 */
struct mailer *mailer_new(struct event_base *base, const char *ca_file, int64_t timeout_ms,
    int (*gate)(void *arg), void *gate_arg);
/*
 * Stops the thread (a mail in flight is cut short) and runs the callbacks of
 * every mail not finished with HTTP_OUTCOME_CANCELLED before it returns.
 */
void mailer_free(struct mailer *ml);
/*
 * Copies m (message included) and sends it; cb(arg) hears once, on base's
 * loop.  The response has outcome, status, error, attempts, elapsed_ms and
 * req_id; http_response_header finds nothing in it.  A mail that
 * http_client_send_mail refuses as malformed is answered PERMANENT.  0, or
 * -1 without recipients or message (cb is not called).
 */
int mailer_send(struct mailer *ml, const struct http_mail *m, http_done_cb cb, void *arg);

#endif
