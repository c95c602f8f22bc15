#include "outbound/graph_tokens.h"
#include "lib/util.h"
#include "outbound/jwks.h"
#include "proto/jwt.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <event2/event.h>

#define GRAPH_ISS_V1_PREFIX "https://sts.windows.net/"
#define GRAPH_ISS_V1_SUFFIX "/"
#define GRAPH_ISS_V2_PREFIX "https://login.microsoftonline.com/"
#define GRAPH_ISS_V2_SUFFIX "/v2.0"

struct token_batch;

/* One token of a batch: decoded, and what is wrong with it. */
struct token_item {
	struct token_batch *batch;
	struct jwt jwt;
	char *err;		/* NULL while the token passes */
};

struct token_batch {
	graph_token_cb cb;
	void *arg;
	char *err;		/* a failure of the batch as a whole, or NULL */
	size_t n;
	size_t pending;		/* key lookups not answered yet */
	struct token_item items[GRAPH_TOKENS_MAX];
};

/* --- claims -------------------------------------------------------------- */

/* Whether iss is prefix, tenant and suffix (case-insensitive). */
static int
iss_is(const char *iss, const char *prefix, const char *tenant, const char *suffix)
{
	size_t p = strlen(prefix), t = strlen(tenant);

	return strncasecmp(iss, prefix, p) == 0 && strncasecmp(iss + p, tenant, t) == 0 &&
	    strcasecmp(iss + p + t, suffix) == 0;
}

/* The claim that names the client: "appid" for v1 issuers, "azp" for v2; NULL when neither. */
static const char *
client_claim(const char *iss, const char *tenant_id)
{
	if (iss_is(iss, GRAPH_ISS_V1_PREFIX, tenant_id, GRAPH_ISS_V1_SUFFIX))
		return "appid";
	if (iss_is(iss, GRAPH_ISS_V2_PREFIX, tenant_id, GRAPH_ISS_V2_SUFFIX))
		return "azp";
	return NULL;
}

static int
fail(char **err, const char *reason)
{
	*err = xstrdup(reason);
	return -1;
}

int
graph_token_check_claims(const struct jwt *jwt, const char *app_id, const char *tenant_id,
    int64_t now, char **err)
{
	const char *aud, *iss, *claim, *client;

	if (app_id == NULL || app_id[0] == '\0' || tenant_id == NULL || tenant_id[0] == '\0')
		return fail(err, "no app id or tenant to check against");
	if (jwt->alg == NULL || strcmp(jwt->alg, "RS256") != 0)
		return fail(err, "alg is not RS256");
	if (jwt_check_time(jwt, now, GRAPH_TOKEN_LEEWAY, err) == -1)
		return -1;
	aud = jwt_claim_string(jwt, "aud");
	if (aud == NULL || strcmp(aud, app_id) != 0)
		return fail(err, "aud is not our app id");
	iss = jwt_claim_string(jwt, "iss");
	claim = iss != NULL ? client_claim(iss, tenant_id) : NULL;
	if (claim == NULL)
		return fail(err, "iss is not the identity platform for our tenant");
	client = jwt_claim_string(jwt, claim);
	if (client == NULL || strcmp(client, GRAPH_CHANGE_TRACKING_APP_ID) != 0)
		return fail(err, strcmp(claim, "appid") == 0 ?
		    "appid is not Graph Change Tracking" : "azp is not Graph Change Tracking");
	return 0;
}

/* --- batches ------------------------------------------------------------- */

static void
batch_free(struct token_batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++) {
		jwt_clear(&b->items[i].jwt);
		free(b->items[i].err);
	}
	free(b->err);
	free(b);
}

/* Answers the caller and frees the batch. */
static void
finish(struct token_batch *b)
{
	char *err = NULL;
	size_t i;

	if (b->err != NULL)
		err = xstrdup(b->err);
	for (i = 0; i < b->n && err == NULL; i++)
		if (b->items[i].err != NULL)
			err = xasprintf("token %zu: %s", i + 1, b->items[i].err);
	b->cb(err == NULL, err, b->arg);
	free(err);
	batch_free(b);
}

/* A batch that needed no key: answered through the cache, so that freeing it cancels this too. */
static void
deferred_cb(EVP_PKEY *key, const char *err, void *arg)
{
	struct token_batch *b = arg;

	(void)key;
	if (err != NULL && b->err == NULL)
		b->err = xstrdup(err);
	finish(b);
}

static void
key_cb(EVP_PKEY *key, const char *err, void *arg)
{
	struct token_item *it = arg;
	struct token_batch *b = it->batch;

	if (key == NULL)
		it->err = xstrdup(err != NULL ? err : "no key");
	else if (jwt_verify_rs256(&it->jwt, key) == -1)
		it->err = xstrdup("bad signature");
	if (--b->pending == 0)
		finish(b);
}

/* Decodes a token and checks what needs no key; 0, or -1 with it->err set. */
static int
check_local(struct token_item *it, const char *token, const char *app_id,
    const char *tenant_id, int64_t now)
{
	if (token == NULL) {
		it->err = xstrdup("missing");
		return -1;
	}
	if (jwt_decode(token, strlen(token), &it->jwt, &it->err) == -1 ||
	    graph_token_check_claims(&it->jwt, app_id, tenant_id, now, &it->err) == -1)
		return -1;
	return 0;
}

static const char *
header_kid(const struct jwt *jwt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(jwt->header, "kid");

	if (!cJSON_IsString(v) || v->valuestring[0] == '\0' ||
	    strlen(v->valuestring) > JWKS_MAX_KID)
		return NULL;
	return v->valuestring;
}

/* Asks c for every token's key; the batch finishes when the last answer comes. */
static void
start_lookups(struct token_batch *b, struct jwks_cache *c)
{
	const char *kid;
	size_t i;

	for (i = 0; i < b->n; i++) {
		kid = header_kid(&b->items[i].jwt);
		if (kid == NULL) {
			b->items[i].err = xstrdup("no kid of at most 128 bytes");
			continue;
		}
		b->pending++;
		if (jwks_cache_lookup(c, kid, key_cb, &b->items[i]) == -1) {
			b->pending--;
			b->items[i].err = xstrdup("key lookup refused");
		}
	}
}

int
graph_tokens_verify(struct jwks_cache *c, const char *const *tokens, size_t n,
    const char *app_id, const char *tenant_id, int64_t now, graph_token_cb cb, void *arg)
{
	struct token_batch *b;
	int local_ok = 1;
	size_t i;

	if (c == NULL || cb == NULL)
		return -1;
	b = xcalloc(1, sizeof(*b));
	b->cb = cb;
	b->arg = arg;
	if (n == 0 || tokens == NULL)
		b->err = xstrdup("no validation tokens");
	else if (n > GRAPH_TOKENS_MAX)
		b->err = xasprintf("%zu validation tokens, at most %d", n, GRAPH_TOKENS_MAX);
	else
		b->n = n;
	for (i = 0; i < b->n; i++) {
		b->items[i].batch = b;
		if (check_local(&b->items[i], tokens[i], app_id, tenant_id, now) == -1)
			local_ok = 0;
	}
	/* A batch that already failed costs no fetch of the key set. */
	if (b->err == NULL && local_ok)
		start_lookups(b, c);
	if (b->pending == 0 && jwks_cache_defer(c, deferred_cb, b) == -1) {
		batch_free(b);
		return -1;
	}
	return 0;
}
