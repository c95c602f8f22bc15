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

/*
 * One request on its way.  Owned by the intake loop until posted, then by
 * the main loop until the answer is posted back, then by the intake loop
 * again, which frees it: never by two threads at once.
 */
struct handoff {
	struct http_req *orig;		/* the intake loop's; answered there */
	struct http_req *copy;		/* the main loop's */
	handoff_handle_fn handle;
	handoff_reply_fn reply;
	char *rest;
	int status;
	char *content_type;
	char *body;			/* the answer's */
	size_t body_len;
	char *out_fields;		/* headers the handler added */
	size_t out_len;
};

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
	h->copy = http_req_copy(hr);
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

	free(hr->out_fields);
	hr->out_fields = h->out_fields;
	hr->out_len = h->out_len;
	h->reply(hr, h->status, h->content_type, h->body, h->body_len);
	free(h->body);
	free(h->content_type);
	free(h->rest);
	free(h);
}

void
handoff_reply(struct http_req *copy, int status, const char *content_type,
    const void *a, size_t alen, const void *b, size_t blen)
{
	struct handoff *h = copy->relay;

	h->body = xmalloc(alen + blen + 1);
	if (alen > 0)
		memcpy(h->body, a, alen);
	if (blen > 0)
		memcpy(h->body + alen, b, blen);
	h->body_len = alen + blen;
	h->status = status;
	h->content_type = content_type != NULL ? xstrdup(content_type) : NULL;
	h->out_fields = copy->out_fields;
	h->out_len = copy->out_len;
	copy->out_fields = NULL;
	/* What the handler learnt of the request (its app) goes into the access line. */
	memcpy(h->orig->app, copy->app, sizeof(h->orig->app));
	http_req_free(copy);
	h->copy = NULL;
	mailbox_post(h->orig->rt->inbox, answer_cb, h);
}
