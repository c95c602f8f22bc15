/*
 * libFuzzer target: every parser that reads what a token endpoint, Graph or
 * Nylas answers (error envelopes and payloads), and the JWT decoder, on the
 * same arbitrary bytes.
 */
#include <stdint.h>
#include <stdlib.h>

#include "lib/secret.h"
#include "lib/util.h"
#include "outbound/graph.h"
#include "outbound/identity.h"
#include "outbound/nylas.h"
#include "proto/jwt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_identity(const char *p, size_t n)
{
	struct identity_error e;
	struct secret *tok = NULL;
	int64_t exp;
	char *err = NULL;

	if (identity_parse_error(p, n, &e) == 0)
		identity_error_clear(&e);
	identity_parse_token(p, n, &tok, &exp, &err);
	secret_free(tok);
	free(err);
}

static void
fuzz_graph_payloads(const char *p, size_t n)
{
	struct graph_application a;
	struct graph_new_password np;
	struct graph_owner *owners = NULL;
	size_t n_owners = 0;
	char *next = NULL, *err = NULL;
	int found;

	if (graph_parse_application_list(p, n, &a, &found, &err) == 0)
		graph_application_clear(&a);
	free(err);
	err = NULL;
	if (graph_parse_new_password(p, n, &np, &err) == 0)
		graph_new_password_clear(&np);
	free(err);
	err = NULL;
	graph_parse_owners_page(p, n, &owners, &n_owners, &next, &err);
	graph_owners_free(owners, n_owners);
	free(next);
	free(err);
}

static void
fuzz_graph(const char *p, size_t n)
{
	struct graph_error e;
	struct graph_user u;
	char *err = NULL;
	int64_t t, max_s;

	if (graph_parse_error(p, n, &e) == 0) {
		graph_outcome_of(HTTP_OUTCOME_PERMANENT, 400, &e);
		graph_expiry_limit(400, &e, &max_s);
		graph_error_clear(&e);
	}
	graph_classify(409, p, n);
	if (graph_parse_user(p, n, &u, &err) == 0)
		graph_user_clear(&u);
	free(err);
	fuzz_graph_payloads(p, n);
	/* The time parser takes a C string: only a NUL-terminated prefix. */
	if (n > 0 && p[n - 1] == '\0') {
		util_parse_time(p, &t);
		/* The expiry refusal's message, as the envelope's text would carry it. */
		e = (struct graph_error){ .message = (char *)p };
		graph_expiry_limit(400, &e, &max_s);
	}
}

static void
fuzz_nylas(const char *p, size_t n)
{
	struct nylas_error e;
	struct nylas_grants_page page;
	struct nylas_connector c;
	struct nylas_webhook w;
	const char *token;
	int64_t offset = 0;
	char *err = NULL;

	if (nylas_parse_error(p, n, &e) == 0)
		nylas_error_clear(&e);
	if (nylas_parse_grants_page(p, n, &page, &err) == 0) {
		nylas_grants_next_page(&page, 2, &offset, &token);
		nylas_grants_page_clear(&page);
	}
	free(err);
	err = NULL;
	if (nylas_parse_connector(p, n, &c, &err) == 0)
		nylas_connector_clear(&c);
	free(err);
	err = NULL;
	if (nylas_parse_webhook(p, n, &w, &err) == 0)
		nylas_webhook_clear(&w);
	free(err);
}

static void
fuzz_jwt(const char *p, size_t n)
{
	struct jwt t;
	char *err = NULL;

	if (jwt_decode(p, n, &t, &err) == 0) {
		jwt_check_time(&t, 1767225600, 60, &err);
		jwt_verify(&t, NULL);
		jwt_clear(&t);
	}
	free(err);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;

	fuzz_identity(p, size);
	fuzz_graph(p, size);
	fuzz_nylas(p, size);
	fuzz_jwt(p, size);
	return 0;
}
