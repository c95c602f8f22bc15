/*
 * handoff: a request's trip to the main loop and its answer's trip back.
 * See handoff.h.
 */
#include "intake/handoff.h"
#include "intake/http_req.h"
#include "lib/log.h"
#include "lib/mailbox.h"
#include "lib/util.h"
#include "state/runtime.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

/*
 * One request on its way.  Owned by the intake loop until posted, then by
 * the main loop until the answer is posted back, then by the intake loop
 * again, which frees it: never by two threads at once.
 */
struct handoff {
	struct http_req *orig;		/* the intake loop's; answered there */
	struct http_req *copy;		/* the main loop's */
	struct evhttp_request *shadow;	/* headers and bodies, on no connection */
	handoff_handle_fn handle;
	handoff_reply_fn reply;
	char *rest;
	int status;
	char *content_type;
};

/*
 * Copies every header evhttp accepts again.  The ones it read were checked
 * on the way in (http_head), so a refusal here drops a header rather than
 * the request: nothing a client sends may stop the daemon.
 */
static void
copy_headers(struct evkeyvalq *to, const struct evkeyvalq *from)
{
	const struct evkeyval *h;

	TAILQ_FOREACH(h, from, next)
		(void)evhttp_add_header(to, h->key, h->value);
}

/* On the main loop. */
static void
run_cb(void *arg)
{
	struct handoff *h = arg;

	h->handle(h->copy, h->rest);
}

void
handoff_to_main(struct http_req *hr, handoff_handle_fn handle, const char *rest,
    handoff_reply_fn reply)
{
	struct handoff *h = xcalloc(1, sizeof(*h));

	h->orig = hr;
	h->handle = handle;
	h->reply = reply;
	h->rest = xstrdup(rest);
	h->shadow = evhttp_request_new(NULL, NULL);
	if (h->shadow == NULL)
		fatal("out of memory handing a request to the main loop");
	copy_headers(evhttp_request_get_input_headers(h->shadow),
	    evhttp_request_get_input_headers(hr->req));
	if (evbuffer_add_buffer(evhttp_request_get_input_buffer(h->shadow),
	    evhttp_request_get_input_buffer(hr->req)) == -1)
		fatal("out of memory handing a request to the main loop");
	h->copy = xmalloc(sizeof(*h->copy));
	*h->copy = *hr;
	h->copy->req = h->shadow;
	h->copy->rt = hr->rt->main;
	h->copy->relay = h;
	mailbox_post(hr->rt->main->inbox, run_cb, h);
}

/* Back on the intake loop: the answer goes out on the connection. */
static void
answer_cb(void *arg)
{
	struct handoff *h = arg;
	struct http_req *hr = h->orig;

	copy_headers(evhttp_request_get_output_headers(hr->req),
	    evhttp_request_get_output_headers(h->shadow));
	if (evbuffer_add_buffer(evhttp_request_get_output_buffer(hr->req),
	    evhttp_request_get_output_buffer(h->shadow)) == -1)
		fatal("out of memory answering a request");
	h->reply(hr, h->status, h->content_type, NULL, 0);
	evhttp_request_free(h->shadow);
	free(h->content_type);
	free(h->rest);
	free(h);
}

void
handoff_reply(struct http_req *copy, int status, const char *content_type,
    const void *a, size_t alen, const void *b, size_t blen)
{
	struct handoff *h = copy->relay;
	struct evbuffer *out = evhttp_request_get_output_buffer(h->shadow);

	if ((alen > 0 && evbuffer_add(out, a, alen) == -1) ||
	    (blen > 0 && evbuffer_add(out, b, blen) == -1))
		fatal("out of memory answering a request");
	h->status = status;
	h->content_type = content_type != NULL ? xstrdup(content_type) : NULL;
	/* What the handler learnt of the request (its app) goes into the access line. */
	memcpy(h->orig->app, copy->app, sizeof(h->orig->app));
	free(copy);
	h->copy = NULL;
	mailbox_post(h->orig->rt->inbox, answer_cb, h);
}
