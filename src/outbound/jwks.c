#include "outbound/jwks.h"
#include "lib/crypto.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/util.h"
#include "outbound/http_client.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

/* A key set nests three levels; anything deeper is not one. */
#define JWKS_JSON_DEPTH_MAX 8
/* Modulus sizes accepted, in bits, and the longest public exponent, in bytes. */
#define JWKS_MIN_RSA_BITS 2048
#define JWKS_MAX_RSA_BITS 8192
#define JWKS_MAX_E_BYTES 8
/* base64url text of the largest modulus (and a leading zero byte). */
#define JWKS_MAX_N_B64 (((JWKS_MAX_RSA_BITS / 8 + 1) * 4 + 2) / 3)
#define JWKS_MAX_E_B64 ((JWKS_MAX_E_BYTES * 4 + 2) / 3)

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

struct jwks_key {
	char *kid;
	EVP_PKEY *key;
};

struct jwks {
	struct jwks_key keys[JWKS_MAX_KEYS];
	size_t n;
};

/* One lookup, waiting for a fetch or for the next delivery. */
struct jwks_waiter {
	TAILQ_ENTRY(jwks_waiter) entry;
	char kid[JWKS_MAX_KID + 1];
	char *fetch_err;	/* why the fetch it waited for failed, or NULL */
	int deferred;		/* jwks_cache_defer: no key wanted */
	jwks_key_cb cb;
	void *arg;
};
TAILQ_HEAD(jwks_waiter_list, jwks_waiter);

/* A fetch in flight; c is NULL once the cache is gone. */
struct jwks_fetch {
	struct jwks_cache *c;
};

struct jwks_cache {
	struct event_base *base;
	struct http_client *hc;
	char *url;
	struct jwks *set;		/* NULL until a fetch succeeds */
	int64_t set_at_us;		/* monotonic time the set arrived */
	int64_t fetch_at_us;		/* monotonic time the last fetch started */
	int64_t min_refresh_ms;
	struct jwks_fetch *in_flight;
	struct jwks_waiter_list fetch_waiters;	/* answered when in_flight ends */
	struct jwks_waiter_list ready;		/* answered by deliver_ev */
	size_t n_waiters;
	struct event *deliver_ev;
	int fetches;
	int dispatching;		/* callbacks on the stack */
	int free_pending;
};

/* --- parsing ------------------------------------------------------------- */

/* Decodes a base64url value (no padding) of at most max characters; 0 or -1. */
static int
b64url_decode(const char *s, size_t max, unsigned char **out, size_t *outlen)
{
	size_t len = strlen(s);

	if (len == 0 || len > max || strspn(s, b64url_alphabet) != len)
		return -1;
	return crypto_b64_decode(s, len, out, outlen);
}

static int
bn_from_b64url(const char *s, size_t max, BIGNUM **out)
{
	unsigned char *raw = NULL;
	size_t len = 0;

	if (b64url_decode(s, max, &raw, &len) == -1)
		return -1;
	*out = BN_bin2bn(raw, (int)len, NULL);
	free(raw);
	return *out != NULL ? 0 : -1;
}

static EVP_PKEY *
rsa_from_params(const BIGNUM *n, const BIGNUM *e)
{
	OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *key = NULL;

	if (bld == NULL || OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) != 1)
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
		key = NULL;
out:
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return key;
}

/* An RSA public key from base64url n and e, within the bounds above; NULL otherwise. */
static EVP_PKEY *
rsa_from_jwk(const char *n64, const char *e64)
{
	BIGNUM *n = NULL, *e = NULL;
	EVP_PKEY *key = NULL;

	if (bn_from_b64url(n64, JWKS_MAX_N_B64, &n) == -1 ||
	    bn_from_b64url(e64, JWKS_MAX_E_B64, &e) == -1)
		goto out;
	if (BN_num_bits(n) < JWKS_MIN_RSA_BITS || BN_num_bits(n) > JWKS_MAX_RSA_BITS ||
	    !BN_is_odd(n) || !BN_is_odd(e) || BN_num_bits(e) < 2)
		goto out;
	key = rsa_from_params(n, e);
out:
	BN_free(n);
	BN_free(e);
	ERR_clear_error();
	return key;
}

/* Adds the key jwk describes when it is a usable RSA signing key; others are skipped. */
static void
add_jwk(struct jwks *k, const cJSON *jwk)
{
	const char *kty = json_str_or(jwk, "kty", NULL), *kid = json_str_or(jwk, "kid", NULL);
	const char *use = json_str_or(jwk, "use", NULL), *n = json_str_or(jwk, "n", NULL);
	const char *e = json_str_or(jwk, "e", NULL);
	EVP_PKEY *key;

	if (kty == NULL || strcmp(kty, "RSA") != 0 || kid == NULL || kid[0] == '\0' ||
	    strlen(kid) > JWKS_MAX_KID || n == NULL || e == NULL)
		return;
	if (cJSON_GetObjectItemCaseSensitive(jwk, "use") != NULL &&
	    (use == NULL || strcmp(use, "sig") != 0))
		return;
	if (jwks_find(k, kid) != NULL || k->n == JWKS_MAX_KEYS)
		return;
	key = rsa_from_jwk(n, e);
	if (key == NULL)
		return;
	k->keys[k->n].kid = xstrdup(kid);
	k->keys[k->n].key = key;
	k->n++;
}

struct jwks *
jwks_parse(const char *json, size_t len, char **err)
{
	cJSON *root = json_parse_object(json, len, JWKS_MAX_BODY, JWKS_JSON_DEPTH_MAX, err);
	const cJSON *keys, *jwk;
	struct jwks *k = NULL;

	if (root == NULL)
		return NULL;
	keys = cJSON_GetObjectItemCaseSensitive(root, "keys");
	if (!cJSON_IsArray(keys)) {
		*err = xstrdup("key set has no \"keys\" array");
		goto out;
	}
	if (cJSON_GetArraySize(keys) > JWKS_MAX_KEYS) {
		*err = xasprintf("key set has more than %d keys", JWKS_MAX_KEYS);
		goto out;
	}
	k = xcalloc(1, sizeof(*k));
	cJSON_ArrayForEach(jwk, keys)
		add_jwk(k, jwk);
	if (k->n == 0) {
		*err = xstrdup("key set has no usable RSA signing key");
		jwks_free(k);
		k = NULL;
	}
out:
	cJSON_Delete(root);
	return k;
}

void
jwks_free(struct jwks *k)
{
	size_t i;

	if (k == NULL)
		return;
	for (i = 0; i < k->n; i++) {
		free(k->keys[i].kid);
		EVP_PKEY_free(k->keys[i].key);
	}
	free(k);
}

EVP_PKEY *
jwks_find(const struct jwks *k, const char *kid)
{
	size_t i;

	for (i = 0; i < k->n; i++)
		if (strcmp(k->keys[i].kid, kid) == 0)
			return k->keys[i].key;
	return NULL;
}

size_t
jwks_count(const struct jwks *k)
{
	return k->n;
}

/* --- the cache ----------------------------------------------------------- */

static void deliver_cb(evutil_socket_t fd, short what, void *arg);

struct jwks_cache *
jwks_cache_new(struct event_base *base, struct http_client *hc, const char *url)
{
	struct jwks_cache *c = xcalloc(1, sizeof(*c));

	c->base = base;
	c->hc = hc;
	c->url = xstrdup(url);
	c->min_refresh_ms = JWKS_MIN_REFRESH_MS;
	TAILQ_INIT(&c->fetch_waiters);
	TAILQ_INIT(&c->ready);
	c->deliver_ev = event_new(base, -1, 0, deliver_cb, c);
	if (c->deliver_ev == NULL)
		fatal("jwks: cannot create an event");
	return c;
}

static void
waiter_free(struct jwks_waiter *w)
{
	free(w->fetch_err);
	free(w);
}

/* The cache is going: every waiter hears so, so that none leaks what its arg holds. */
static void
cancel_waiters(struct jwks_waiter_list *list)
{
	struct jwks_waiter *w;

	while ((w = TAILQ_FIRST(list)) != NULL) {
		TAILQ_REMOVE(list, w, entry);
		w->cb(NULL, JWKS_CANCELLED, w->arg);
		waiter_free(w);
	}
}

static void
destroy(struct jwks_cache *c)
{
	if (c->in_flight != NULL)
		c->in_flight->c = NULL;
	cancel_waiters(&c->fetch_waiters);
	cancel_waiters(&c->ready);
	event_free(c->deliver_ev);
	jwks_free(c->set);
	free(c->url);
	free(c);
}

void
jwks_cache_free(struct jwks_cache *c)
{
	if (c == NULL || c->free_pending)
		return;
	c->free_pending = 1;
	if (c->dispatching == 0)
		destroy(c);
}

void
jwks_cache_set_min_refresh(struct jwks_cache *c, int64_t ms)
{
	c->min_refresh_ms = ms;
}

int
jwks_cache_fetches(const struct jwks_cache *c)
{
	return c->fetches;
}

/* Runs one waiter's callback against the current set. */
static void
answer(struct jwks_cache *c, const struct jwks_waiter *w)
{
	EVP_PKEY *key = c->set != NULL && !w->deferred ? jwks_find(c->set, w->kid) : NULL;
	char err[JWKS_MAX_KID + 256];

	if (w->deferred)
		w->cb(NULL, NULL, w->arg);
	else if (key != NULL)
		w->cb(key, NULL, w->arg);
	else {
		if (w->fetch_err != NULL)
			snprintf(err, sizeof(err), "key set unavailable: %s", w->fetch_err);
		else
			snprintf(err, sizeof(err), "unknown kid %s", w->kid);
		w->cb(NULL, err, w->arg);
	}
}

/*
 * Answers every waiter that is ready now; lookups made from the callbacks
 * wait for the next delivery.  The cache may be gone when this returns.
 */
static void
deliver(struct jwks_cache *c)
{
	struct jwks_waiter_list list;
	struct jwks_waiter *w;

	TAILQ_INIT(&list);
	TAILQ_CONCAT(&list, &c->ready, entry);
	c->dispatching++;
	while ((w = TAILQ_FIRST(&list)) != NULL) {
		TAILQ_REMOVE(&list, w, entry);
		c->n_waiters--;
		if (c->free_pending)
			w->cb(NULL, JWKS_CANCELLED, w->arg);
		else
			answer(c, w);
		waiter_free(w);
	}
	c->dispatching--;
	if (c->free_pending && c->dispatching == 0)
		destroy(c);
}

static void
deliver_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	deliver(arg);
}

/* Takes in a fetch's answer; NULL, or why it failed (caller frees). */
static char *
absorb(struct jwks_cache *c, const struct http_response *resp)
{
	struct jwks *set;
	char *err = NULL;

	if (resp->outcome != HTTP_OUTCOME_OK)
		return xstrdup(resp->outcome == HTTP_OUTCOME_CANCELLED ? "fetch cancelled" :
		    resp->error != NULL ? resp->error : "fetch failed");
	set = jwks_parse(resp->body, resp->body_len, &err);
	if (set == NULL) {
		char *why = xasprintf("bad key set: %s", err);

		free(err);
		return why;
	}
	jwks_free(c->set);
	c->set = set;
	c->set_at_us = util_mono_us();
	log_debug("jwks: %zu keys from %s", set->n, c->url);
	return NULL;
}

static void
fetch_done_cb(const struct http_response *resp, void *arg)
{
	struct jwks_fetch *f = arg;
	struct jwks_cache *c = f->c;
	struct jwks_waiter *w;
	char *err;

	free(f);
	if (c == NULL)
		return;
	c->in_flight = NULL;
	err = absorb(c, resp);
	if (err != NULL && resp->outcome != HTTP_OUTCOME_CANCELLED)
		log_warn("jwks: fetching %s failed: %s; keeping the %zu keys held", c->url, err,
		    c->set != NULL ? c->set->n : 0);
	while ((w = TAILQ_FIRST(&c->fetch_waiters)) != NULL) {
		TAILQ_REMOVE(&c->fetch_waiters, w, entry);
		w->fetch_err = err != NULL ? xstrdup(err) : NULL;
		TAILQ_INSERT_TAIL(&c->ready, w, entry);
	}
	free(err);
	deliver(c);
}

static int
start_fetch(struct jwks_cache *c)
{
	struct http_request req;
	struct jwks_fetch *f;

	memset(&req, 0, sizeof(req));
	req.method = "GET";
	req.url = c->url;
	req.service = "identity";
	req.max_response = JWKS_MAX_BODY;
	f = xcalloc(1, sizeof(*f));
	f->c = c;
	if (http_client_send(c->hc, &req, fetch_done_cb, f) == -1) {
		free(f);
		return -1;
	}
	c->in_flight = f;
	c->fetch_at_us = util_mono_us();
	c->fetches++;
	return 0;
}

/* Whether a lookup of kid must wait for a fetch (in flight, or to be started). */
static int
wants_fetch(const struct jwks_cache *c, const char *kid)
{
	int64_t now = util_mono_us();
	int known = c->set != NULL && jwks_find(c->set, kid) != NULL;
	int fresh = c->set != NULL && now - c->set_at_us < (int64_t)JWKS_MAX_AGE * 1000000;

	if (known && fresh)
		return 0;
	if (c->in_flight != NULL || c->set == NULL)
		return 1;
	return now - c->fetch_at_us >= c->min_refresh_ms * 1000;
}

int
jwks_cache_lookup(struct jwks_cache *c, const char *kid, jwks_key_cb cb, void *arg)
{
	struct jwks_waiter *w;

	if (c->free_pending || kid == NULL || kid[0] == '\0' || strlen(kid) > JWKS_MAX_KID ||
	    c->n_waiters >= JWKS_MAX_WAITERS)
		return -1;
	w = xcalloc(1, sizeof(*w));
	util_strlcpy(w->kid, kid, sizeof(w->kid));
	w->cb = cb;
	w->arg = arg;
	if (wants_fetch(c, kid)) {
		if (c->in_flight == NULL && start_fetch(c) == -1) {
			waiter_free(w);
			return -1;
		}
		TAILQ_INSERT_TAIL(&c->fetch_waiters, w, entry);
	} else {
		TAILQ_INSERT_TAIL(&c->ready, w, entry);
		event_active(c->deliver_ev, EV_TIMEOUT, 0);
	}
	c->n_waiters++;
	return 0;
}

int
jwks_cache_defer(struct jwks_cache *c, jwks_key_cb cb, void *arg)
{
	struct jwks_waiter *w;

	if (c->free_pending || c->n_waiters >= JWKS_MAX_WAITERS)
		return -1;
	w = xcalloc(1, sizeof(*w));
	w->deferred = 1;
	w->cb = cb;
	w->arg = arg;
	TAILQ_INSERT_TAIL(&c->ready, w, entry);
	event_active(c->deliver_ev, EV_TIMEOUT, 0);
	c->n_waiters++;
	return 0;
}
