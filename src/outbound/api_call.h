/*
 * api_call: the request part of a call of the Graph and Nylas clients
 * (graph.c, nylas.c), the same for both: method, URL, JSON body, one more
 * header line, attempts, and the id that names the call in every log line
 * and, for Graph, in its client-request-id.  Each client embeds one in its
 * own call, beside its own result, callback and list of calls in flight.
 */
#ifndef REKEY_OUTBOUND_API_CALL_H
#define REKEY_OUTBOUND_API_CALL_H

#include "lib/crypto.h"
#include "lib/secret.h"
#include "outbound/http_client.h"

#include <stddef.h>

struct api_call {
	const char *method;		/* a literal: "GET", "POST", ... */
	char *url;			/* owned */
	struct secret *body;		/* JSON, may hold a secret; NULL when none; owned */
	char *header;			/* "Name: value" or NULL; owned */
	int max_attempts;		/* 0 = http_client's default */
	char req_id[CRYPTO_GUID_LEN + 1];	/* a fresh GUID */
};

/* Takes url and body (either may be NULL) and gives the call a fresh id. */
void api_call_init(struct api_call *c, const char *method, char *url, struct secret *body);
/* Frees what the call owns. */
void api_call_clear(struct api_call *c);
/* The request to send for c (bearer, classify and the rest are the caller's). */
void api_call_request(const struct api_call *c, struct http_request *req, const char *service,
    const char *app, size_t max_response);
/* Logs that c could not even be handed to http_client. */
void api_call_not_sent(const struct api_call *c, const char *service, const char *app);
/* A copy of an API's base URL without its trailing slashes. */
char *api_base_url(const char *base);

#endif
