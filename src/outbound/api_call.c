/*
 * api_call: the request part shared by the Graph and Nylas clients' calls.
 * See api_call.h.
 */
#include "outbound/api_call.h"
#include "lib/log.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

/* The id a call gets when the system has no randomness to give (never expected). */
#define FALLBACK_ID "00000000-0000-4000-8000-000000000000"

void
api_call_init(struct api_call *c, const char *method, char *url, struct secret *body)
{
	memset(c, 0, sizeof(*c));
	c->method = method;
	c->url = url;
	c->body = body;
	if (crypto_guid(c->req_id) == -1)
		util_strlcpy(c->req_id, FALLBACK_ID, sizeof(c->req_id));
}

void
api_call_clear(struct api_call *c)
{
	free(c->url);
	secret_free(c->body);
	free(c->header);
	c->url = NULL;
	c->body = NULL;
	c->header = NULL;
}

void
api_call_request(const struct api_call *c, struct http_request *req, const char *service,
    const char *app, size_t max_response)
{
	memset(req, 0, sizeof(*req));
	req->method = c->method;
	req->url = c->url;
	if (c->body != NULL) {
		req->content_type = "application/json";
		req->body = c->body->data;
		req->body_len = c->body->len;
	}
	req->headers[0] = c->header;
	req->service = service;
	req->req_id = c->req_id;
	req->app = app;
	req->max_response = max_response;
	req->max_attempts = c->max_attempts;
}

void
api_call_not_sent(const struct api_call *c, const char *service, const char *app)
{
	log_ctx(LOG_LEVEL_ERROR, c->req_id, app, "%s %s %s: not sent", service, c->method, c->url);
}

char *
api_base_url(const char *base)
{
	size_t n = strlen(base);

	while (n > 0 && base[n - 1] == '/')
		n--;
	return xstrndup(base, n);
}
