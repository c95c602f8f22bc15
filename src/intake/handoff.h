/*
 * handoff: requests whose route is served on the main loop (the admin API,
 * /metrics, /readyz: they read the engines and the main store connection).
 * The intake loop that read the request makes a copy the main loop can own
 * (headers, body, method, the client as found) and posts it there; the
 * handler answers the copy as it would any request, and the answer (status,
 * headers, body) is posted back to the intake loop, which writes it on the
 * connection.  libevent's objects of a connection are thus only ever
 * touched by the loop that owns them.
 */
#ifndef REKEY_INTAKE_HANDOFF_H
#define REKEY_INTAKE_HANDOFF_H

#include <stddef.h>

struct http_req;

typedef void (*handoff_handle_fn)(struct http_req *hr, const char *rest);
/* How the intake loop answers (the listener's http_reply). */
typedef void (*handoff_reply_fn)(struct http_req *hr, int status, const char *content_type,
    const void *body, size_t len);

/*
 * On the intake loop: handle(copy of hr, rest) will run on the main loop,
 * and the copy's answer will be given to hr with reply on this loop.
 */
void handoff_to_main(struct http_req *hr, handoff_handle_fn handle, const char *rest,
    handoff_reply_fn reply);
/*
 * On the main loop, from http_reply on a copy (hr->relay set): sends the
 * answer back to the intake loop and frees the copy.
 */
void handoff_reply(struct http_req *copy, int status, const char *content_type,
    const void *a, size_t alen, const void *b, size_t blen);

#endif
