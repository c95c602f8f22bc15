/*
 * Unit tests: graph_token.  The claims checks table-driven on tokens made
 * here (the signature does not matter to them), then whole batches end to
 * end: an in-process HTTPS server publishes a key set (certificate from
 * certs/make-certs.sh, made at test time), tokens are signed with RS256 by
 * keys made at test time, and graph_tokens_verify must accept the good ones
 * and name the first failure of the others: a forgery under a published
 * kid, an unknown kid, an expired token, garbage.
 */
#include "lib/crypto.h"
#include "lib/log.h"
#include "lib/util.h"
#include "outbound/graph_tokens.h"
#include "outbound/http_client.h"
#include "outbound/jwks.h"
#include "proto/jwt.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/ssl.h>

#define LEN(a) (sizeof(a) / sizeof((a)[0]))
#define NOW 1767225600		/* 2026-01-01T00:00:00Z */
#define APP "11111111-2222-3333-4444-555555555555"
#define TENANT "72f988bf-86f1-41af-91ab-2d7cd011db47"
#define ISS_V1 "https://sts.windows.net/" TENANT "/"
#define ISS_V2 "https://login.microsoftonline.com/" TENANT "/v2.0"
#define OTHER_TENANT "00000000-86f1-41af-91ab-2d7cd011db47"
#define TRACKING GRAPH_CHANGE_TRACKING_APP_ID

static EVP_PKEY *key1, *key2;
static struct event_base *base;

/* --- making tokens ------------------------------------------------------- */

/* What a token says; NULL strings and 0 times are left out. */
struct token_spec {
	const char *alg;
	const char *kid;
	const char *aud;
	const char *iss;
	const char *client_claim;	/* "appid" or "azp" */
	const char *client;
	int64_t exp, nbf;
};

static char *
b64url_json(cJSON *obj)
{
	char *text = cJSON_PrintUnformatted(obj);
	char *out = crypto_b64_encode((const unsigned char *)text, strlen(text), 1);

	cJSON_free(text);
	cJSON_Delete(obj);
	return out;
}

static void
add_str(cJSON *obj, const char *name, const char *value)
{
	if (value != NULL)
		cJSON_AddStringToObject(obj, name, value);
}

/* "<header>.<claims>" of spec. */
static char *
signing_input(const struct token_spec *t)
{
	cJSON *h = cJSON_CreateObject(), *c = cJSON_CreateObject();
	char *hs, *cs, *out;

	add_str(h, "typ", "JWT");
	add_str(h, "alg", t->alg);
	add_str(h, "kid", t->kid);
	add_str(c, "aud", t->aud);
	add_str(c, "iss", t->iss);
	if (t->client_claim != NULL)
		add_str(c, t->client_claim, t->client);
	add_str(c, "tid", TENANT);
	if (t->exp != 0)
		cJSON_AddNumberToObject(c, "exp", (double)t->exp);
	if (t->nbf != 0)
		cJSON_AddNumberToObject(c, "nbf", (double)t->nbf);
	cJSON_AddNumberToObject(c, "iat", (double)NOW - 60);
	hs = b64url_json(h);
	cs = b64url_json(c);
	out = xasprintf("%s.%s", hs, cs);
	free(hs);
	free(cs);
	return out;
}

/* A token signed with key (RS256, or PS256 when pss), or with garbage when key is NULL. */
static char *
make_token(const struct token_spec *t, EVP_PKEY *key, int pss)
{
	char *input = signing_input(t), *sig64, *tok;
	unsigned char sig[512];
	size_t siglen = sizeof(sig);
	EVP_MD_CTX *ctx;
	EVP_PKEY_CTX *pctx = NULL;

	if (key == NULL) {
		memset(sig, 0xab, 256);
		siglen = 256;
	} else {
		ctx = EVP_MD_CTX_new();
		EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, key);
		if (pss) {
			EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
			EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
		}
		EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)input, strlen(input));
		EVP_MD_CTX_free(ctx);
	}
	sig64 = crypto_b64_encode(sig, siglen, 1);
	tok = xasprintf("%s.%s", input, sig64);
	free(input);
	free(sig64);
	return tok;
}

static const struct token_spec good_v1 = {
	"RS256", "k1", APP, ISS_V1, "appid", TRACKING, NOW + 3600, NOW - 60,
};
static const struct token_spec good_v2 = {
	"RS256", "k1", APP, ISS_V2, "azp", TRACKING, NOW + 3600, NOW - 60,
};

/* --- claims -------------------------------------------------------------- */

struct claims_case {
	const char *name;
	struct token_spec spec;
	const char *err;	/* NULL: passes; else a part of the reason */
};

static const struct claims_case claims_cases[] = {
	{ "good v1", { "RS256", "k1", APP, ISS_V1, "appid", TRACKING, NOW + 3600, NOW - 60 },
	  NULL },
	{ "good v2", { "RS256", "k1", APP, ISS_V2, "azp", TRACKING, NOW + 3600, NOW - 60 },
	  NULL },
	{ "no nbf", { "RS256", "k1", APP, ISS_V1, "appid", TRACKING, NOW + 3600, 0 }, NULL },
	{ "expired within leeway",
	  { "RS256", "k1", APP, ISS_V1, "appid", TRACKING, NOW - 299, NOW - 3600 }, NULL },
	{ "expired beyond leeway",
	  { "RS256", "k1", APP, ISS_V1, "appid", TRACKING, NOW - 301, NOW - 3600 }, "expired" },
	{ "no exp", { "RS256", "k1", APP, ISS_V1, "appid", TRACKING, 0, NOW - 60 }, "exp" },
	{ "nbf within leeway",
	  { "RS256", "k1", APP, ISS_V2, "azp", TRACKING, NOW + 3600, NOW + 299 }, NULL },
	{ "nbf in the future",
	  { "RS256", "k1", APP, ISS_V2, "azp", TRACKING, NOW + 3600, NOW + 301 }, "not valid yet" },
	{ "wrong aud",
	  { "RS256", "k1", "22222222-2222-3333-4444-555555555555", ISS_V1, "appid", TRACKING,
	    NOW + 3600, 0 }, "aud" },
	{ "aud is the Graph resource",
	  { "RS256", "k1", "https://graph.microsoft.com", ISS_V1, "appid", TRACKING, NOW + 3600,
	    0 }, "aud" },
	{ "no aud", { "RS256", "k1", NULL, ISS_V1, "appid", TRACKING, NOW + 3600, 0 }, "aud" },
	{ "wrong iss host",
	  { "RS256", "k1", APP, "https://sts.evil.example/" TENANT "/", "appid", TRACKING,
	    NOW + 3600, 0 }, "iss" },
	{ "iss without the trailing slash",
	  { "RS256", "k1", APP, "https://sts.windows.net/" TENANT, "appid", TRACKING, NOW + 3600,
	    0 }, "iss" },
	{ "iss v2 without /v2.0",
	  { "RS256", "k1", APP, "https://login.microsoftonline.com/" TENANT "/", "azp", TRACKING,
	    NOW + 3600, 0 }, "iss" },
	{ "iss with more after it",
	  { "RS256", "k1", APP, ISS_V2 "/x", "azp", TRACKING, NOW + 3600, 0 }, "iss" },
	{ "other tenant v1",
	  { "RS256", "k1", APP, "https://sts.windows.net/" OTHER_TENANT "/", "appid", TRACKING,
	    NOW + 3600, 0 }, "iss" },
	{ "other tenant v2",
	  { "RS256", "k1", APP, "https://login.microsoftonline.com/" OTHER_TENANT "/v2.0", "azp",
	    TRACKING, NOW + 3600, 0 }, "iss" },
	{ "tenant as a prefix of another",
	  { "RS256", "k1", APP, "https://sts.windows.net/" TENANT "0/", "appid", TRACKING,
	    NOW + 3600, 0 }, "iss" },
	{ "common as tenant",
	  { "RS256", "k1", APP, "https://login.microsoftonline.com/common/v2.0", "azp", TRACKING,
	    NOW + 3600, 0 }, "iss" },
	{ "no iss", { "RS256", "k1", APP, NULL, "appid", TRACKING, NOW + 3600, 0 }, "iss" },
	{ "wrong appid",
	  { "RS256", "k1", APP, ISS_V1, "appid", APP, NOW + 3600, 0 }, "appid" },
	{ "wrong azp", { "RS256", "k1", APP, ISS_V2, "azp", APP, NOW + 3600, 0 }, "azp" },
	{ "v1 with azp instead of appid",
	  { "RS256", "k1", APP, ISS_V1, "azp", TRACKING, NOW + 3600, 0 }, "appid" },
	{ "v2 with appid instead of azp",
	  { "RS256", "k1", APP, ISS_V2, "appid", TRACKING, NOW + 3600, 0 }, "azp" },
	{ "no appid", { "RS256", "k1", APP, ISS_V1, NULL, NULL, NOW + 3600, 0 }, "appid" },
	{ "PS256 rejected", { "PS256", "k1", APP, ISS_V1, "appid", TRACKING, NOW + 3600, 0 },
	  "RS256" },
	{ "none rejected", { "none", "k1", APP, ISS_V1, "appid", TRACKING, NOW + 3600, 0 },
	  "RS256" },
	{ "HS256 rejected", { "HS256", "k1", APP, ISS_V1, "appid", TRACKING, NOW + 3600, 0 },
	  "RS256" },
	{ "rs256 in lowercase rejected",
	  { "rs256", "k1", APP, ISS_V1, "appid", TRACKING, NOW + 3600, 0 }, "RS256" },
	{ "no alg", { NULL, "k1", APP, ISS_V1, "appid", TRACKING, NOW + 3600, 0 }, "RS256" },
};

static void
test_claims(void)
{
	size_t i;

	for (i = 0; i < LEN(claims_cases); i++) {
		const struct claims_case *c = &claims_cases[i];
		char *tok = make_token(&c->spec, NULL, 0), *err = NULL;
		struct jwt jwt;
		int rc = -2;

		if (jwt_decode(tok, strlen(tok), &jwt, &err) == 0) {
			rc = graph_token_check_claims(&jwt, APP, TENANT, NOW, &err);
			jwt_clear(&jwt);
		}
		if (c->err == NULL)
			TAP_OK(rc == 0 && err == NULL, "claims %s: pass (%s)", c->name,
			    err != NULL ? err : "");
		else
			TAP_OK(rc == -1 && err != NULL && strstr(err, c->err) != NULL,
			    "claims %s: refused, \"%s\" (%s)", c->name, c->err,
			    err != NULL ? err : "no error");
		free(err);
		free(tok);
	}
}

static void
test_claims_config(void)
{
	char *tok = make_token(&good_v1, NULL, 0), *err = NULL;
	struct jwt jwt;

	jwt_decode(tok, strlen(tok), &jwt, &err);
	TAP_OK(graph_token_check_claims(&jwt, APP, "72F988BF-86F1-41AF-91AB-2D7CD011DB47", NOW,
	    &err) == 0, "claims: the tenant compares without regard to case");
	TAP_OK(graph_token_check_claims(&jwt, APP, "", NOW, &err) == -1 && err != NULL,
	    "claims: an empty tenant refuses everything");
	free(err);
	err = NULL;
	TAP_OK(graph_token_check_claims(&jwt, NULL, TENANT, NOW, &err) == -1 && err != NULL,
	    "claims: no app id refuses everything");
	free(err);
	jwt_clear(&jwt);
	free(tok);
}

/* --- the HTTPS server that publishes the key set ------------------------- */

struct srv {
	struct evhttp *http;
	SSL_CTX *ctx;
	int port;
	int hits;
	char *keys;
};

static void
srv_cb(struct evhttp_request *req, void *arg)
{
	struct srv *s = arg;
	struct evbuffer *buf = evbuffer_new();

	s->hits++;
	evbuffer_add_printf(buf, "%s", s->keys);
	evhttp_send_reply(req, 200, "OK", buf);
	evbuffer_free(buf);
}

static struct bufferevent *
srv_bevcb(struct event_base *b, void *arg)
{
	struct srv *s = arg;

	return bufferevent_openssl_socket_new(b, -1, SSL_new(s->ctx), BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
}

static int
srv_start(struct srv *s, const char *dir)
{
	struct evhttp_bound_socket *bound;
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	char crt[512], key[512];

	memset(s, 0, sizeof(*s));
	snprintf(crt, sizeof(crt), "%s/server.crt", dir);
	snprintf(key, sizeof(key), "%s/server.key", dir);
	s->ctx = SSL_CTX_new(TLS_server_method());
	if (s->ctx == NULL || SSL_CTX_use_certificate_chain_file(s->ctx, crt) != 1 ||
	    SSL_CTX_use_PrivateKey_file(s->ctx, key, SSL_FILETYPE_PEM) != 1)
		return -1;
	s->http = evhttp_new(base);
	evhttp_set_bevcb(s->http, srv_bevcb, s);
	evhttp_set_gencb(s->http, srv_cb, s);
	bound = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
	if (bound == NULL ||
	    getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&sin, &len) == -1)
		return -1;
	s->port = ntohs(sin.sin_port);
	return 0;
}

static void
srv_stop(struct srv *s)
{
	if (s->http != NULL)
		evhttp_free(s->http);
	SSL_CTX_free(s->ctx);
	free(s->keys);
}

/* {"keys":[k1 = key1]} as the identity platform publishes it. */
static char *
published_keys(void)
{
	BIGNUM *bn = NULL;
	unsigned char buf[512];
	char *n, *set;
	int len;

	EVP_PKEY_get_bn_param(key1, OSSL_PKEY_PARAM_RSA_N, &bn);
	len = BN_bn2bin(bn, buf);
	n = crypto_b64_encode(buf, (size_t)len, 1);
	set = xasprintf("{\"keys\":[{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":\"k1\","
	    "\"x5t\":\"k1\",\"n\":\"%s\",\"e\":\"AQAB\",\"x5c\":[\"MIIB\"]}]}", n);
	BN_free(bn);
	free(n);
	return set;
}

static int deadline_hit;

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	deadline_hit = 1;
}

static void
run_until(const int *v, int want, int ms)
{
	struct event *ev = evtimer_new(base, deadline_cb, NULL);
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	deadline_hit = 0;
	evtimer_add(ev, &tv);
	while (*v < want && !deadline_hit)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(ev);
}

static void
run_for(int ms)
{
	int never = 0;

	run_until(&never, 1, ms);
}

/* --- batches ------------------------------------------------------------- */

struct verdict {
	int done;
	int ok;
	char err[256];
};

static void
verdict_cb(int ok, const char *err, void *arg)
{
	struct verdict *v = arg;

	v->done++;
	v->ok = ok;
	util_strlcpy(v->err, err != NULL ? err : "", sizeof(v->err));
}

/* Verifies the n tokens; -1 when the call failed, -2 when it answered inside the call. */
static int
verify(struct jwks_cache *c, char **tokens, size_t n, struct verdict *v)
{
	memset(v, 0, sizeof(*v));
	if (graph_tokens_verify(c, (const char *const *)tokens, n, APP, TENANT, NOW, verdict_cb,
	    v) == -1)
		return -1;
	if (v->done != 0)
		return -2;
	run_until(&v->done, 1, 5000);
	return 0;
}

static void
free_tokens(char **tokens, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(tokens[i]);
}

static void
test_batches(struct jwks_cache *c)
{
	struct token_spec t;
	struct verdict v;
	char *tok[GRAPH_TOKENS_MAX + 1];
	size_t i;
	int rc, fetches;

	tok[0] = make_token(&good_v1, key1, 0);
	rc = verify(c, tok, 1, &v);
	TAP_OK(rc == 0 && v.done == 1 && v.ok && v.err[0] == '\0',
	    "a good token passes, answered later (rc %d, %s)", rc, v.err);
	TAP_OK(jwks_cache_fetches(c) == 1, "the key set was fetched once");
	tok[1] = make_token(&good_v2, key1, 0);
	rc = verify(c, tok, 2, &v);
	TAP_OK(rc == 0 && v.done == 1 && v.ok, "a v1 and a v2 token pass (%s)", v.err);
	TAP_OK(jwks_cache_fetches(c) == 1, "no second fetch");
	free_tokens(tok, 2);

	/* Signed by a key outside the set, under the published kid. */
	tok[0] = make_token(&good_v1, key1, 0);
	tok[1] = make_token(&good_v2, key2, 0);
	rc = verify(c, tok, 2, &v);
	TAP_OK(rc == 0 && v.done == 1 && !v.ok && strcmp(v.err, "token 2: bad signature") == 0,
	    "a forged token fails the batch (%s)", v.err);
	free_tokens(tok, 2);

	/* An unknown kid refreshes the set (the minimum interval is off) and stays unknown. */
	t = good_v1;
	t.kid = "abc";
	tok[0] = make_token(&t, key1, 0);
	rc = verify(c, tok, 1, &v);
	TAP_OK(rc == 0 && !v.ok && strcmp(v.err, "token 1: unknown kid abc") == 0,
	    "unknown kid (%s)", v.err);
	TAP_OK(jwks_cache_fetches(c) == 2, "unknown kid: the set was fetched again");
	free_tokens(tok, 1);

	/* Failures that need no key cost no fetch; the first by position is named. */
	fetches = jwks_cache_fetches(c);
	t = good_v1;
	t.exp = NOW - 3600;
	tok[0] = make_token(&good_v1, key1, 0);
	tok[1] = make_token(&t, key1, 0);
	tok[2] = xstrdup("garbage");
	rc = verify(c, tok, 3, &v);
	TAP_OK(rc == 0 && !v.ok && strcmp(v.err, "token 2: JWT has expired") == 0,
	    "an expired token fails the batch (%s)", v.err);
	free(tok[1]);
	t = good_v2;
	t.alg = "PS256";
	tok[1] = make_token(&t, key1, 1);
	rc = verify(c, tok, 3, &v);
	TAP_OK(rc == 0 && !v.ok && strcmp(v.err, "token 2: alg is not RS256") == 0,
	    "a PS256 token fails the batch (%s)", v.err);
	rc = verify(c, tok + 2, 1, &v);
	TAP_OK(rc == 0 && !v.ok && strstr(v.err, "token 1: JWT") != NULL,
	    "garbage fails (%s)", v.err);
	TAP_OK(jwks_cache_fetches(c) == fetches, "failures without a key lookup fetch nothing");
	free_tokens(tok, 3);

	t = good_v1;
	t.kid = NULL;
	tok[0] = make_token(&t, key1, 0);
	rc = verify(c, tok, 1, &v);
	TAP_OK(rc == 0 && !v.ok && strstr(v.err, "token 1: no kid") != NULL, "no kid (%s)", v.err);
	free_tokens(tok, 1);
	tok[0] = NULL;
	rc = verify(c, tok, 1, &v);
	TAP_OK(rc == 0 && !v.ok && strcmp(v.err, "token 1: missing") == 0, "a NULL token (%s)",
	    v.err);

	rc = verify(c, tok, 0, &v);
	TAP_OK(rc == 0 && v.done == 1 && !v.ok && v.err[0] != '\0',
	    "an empty batch is not ok, answered later (%s)", v.err);
	for (i = 0; i < GRAPH_TOKENS_MAX + 1; i++)
		tok[i] = make_token(&good_v1, key1, 0);
	rc = verify(c, tok, GRAPH_TOKENS_MAX, &v);
	TAP_OK(rc == 0 && v.ok, "%d good tokens pass (%s)", GRAPH_TOKENS_MAX, v.err);
	rc = verify(c, tok, GRAPH_TOKENS_MAX + 1, &v);
	TAP_OK(rc == 0 && !v.ok && strstr(v.err, "at most 16") != NULL,
	    "%d tokens are too many (%s)", GRAPH_TOKENS_MAX + 1, v.err);
	free_tokens(tok, GRAPH_TOKENS_MAX + 1);
	TAP_OK(graph_tokens_verify(NULL, NULL, 0, APP, TENANT, NOW, verdict_cb, &v) == -1,
	    "no cache: -1");
}

/* Freeing the cache answers what waits on it, once: nothing leaks, nothing runs later. */
static void
test_cancel(struct http_client *hc, const char *url)
{
	char *tok[1] = { make_token(&good_v1, key1, 0) };
	struct jwks_cache *c = jwks_cache_new(base, hc, url);
	struct verdict v;

	memset(&v, 0, sizeof(v));
	graph_tokens_verify(c, (const char *const *)tok, 1, APP, TENANT, NOW, verdict_cb, &v);
	jwks_cache_free(c);
	TAP_OK(v.done == 1 && !v.ok && strstr(v.err, "cancelled") != NULL,
	    "a cache freed first: the batch hears \"cancelled\" (%s)", v.err);
	memset(&v, 0, sizeof(v));
	c = jwks_cache_new(base, hc, url);
	graph_tokens_verify(c, (const char *const *)tok, 0, APP, TENANT, NOW, verdict_cb, &v);
	jwks_cache_free(c);
	run_until(&v.done, 2, 100);
	TAP_OK(v.done == 1 && !v.ok, "a batch that needed no key, cache freed first: answered once");
	free_tokens(tok, 1);
}

static int
make_certs(char *dir, size_t size)
{
	char cmd[600];

	util_strlcpy(dir, "/tmp/rekey-graph-token-test.XXXXXX", size);
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(cmd, sizeof(cmd), "certs/make-certs.sh -t p256 '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
remove_dir(const char *dir)
{
	char cmd[600];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

static void
test_network(void)
{
	struct http_client *hc;
	struct jwks_cache *c;
	struct srv s;
	char dir[64], ca[128], url[128];

	if (make_certs(dir, sizeof(dir)) == -1) {
		TAP_OK(0, "certificates made by certs/make-certs.sh (run from the repository root)");
		return;
	}
	base = event_base_new();
	if (srv_start(&s, dir) == -1) {
		TAP_OK(0, "test server started");
		remove_dir(dir);
		return;
	}
	s.keys = published_keys();
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/common/discovery/v2.0/keys", s.port);
	hc = http_client_new(base, ca, 5000);
	c = jwks_cache_new(base, hc, url);
	jwks_cache_set_min_refresh(c, 0);
	test_batches(c);
	jwks_cache_free(c);
	test_cancel(hc, url);
	http_client_free(hc);
	srv_stop(&s);
	run_for(50);		/* let the server's last writes and closes happen */
	event_base_free(base);
	remove_dir(dir);
}

int
main(void)
{
	log_set_level(LOG_LEVEL_ERROR);
	setenv("NO_PROXY", "127.0.0.1,localhost", 1);
	setenv("no_proxy", "127.0.0.1,localhost", 1);
	key1 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	key2 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	test_claims();
	test_claims_config();
	test_network();
	EVP_PKEY_free(key1);
	EVP_PKEY_free(key2);
	libevent_global_shutdown();
	return tap_done();
}
