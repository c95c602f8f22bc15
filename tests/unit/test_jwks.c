/*
 * Unit tests: jwks.  The parser table-driven (RSA keys kept, everything else
 * skipped or refused), then the cache against an in-process HTTPS server
 * (evhttp + bufferevent_openssl, certificate from certs/make-certs.sh made at
 * test time) that publishes a key set the test changes as it goes: the first
 * lookup fetches, the next is served from the cache, an unknown kid refreshes
 * once, a down server or a bad set keeps the old keys, and the cache is
 * freed from inside its own callback and with a fetch in flight.
 */
#include "lib/crypto.h"
#include "lib/log.h"
#include "lib/util.h"
#include "outbound/http_client.h"
#include "outbound/jwks.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static EVP_PKEY *key1, *key2, *key_small;
static char *n1, *n2, *n_small;
static struct event_base *base;

/* --- keys as JWKs -------------------------------------------------------- */

static char *
b64url_bn(const EVP_PKEY *key, const char *param)
{
	BIGNUM *bn = NULL;
	unsigned char buf[1024];
	int len;
	char *out;

	EVP_PKEY_get_bn_param(key, param, &bn);
	len = BN_bn2bin(bn, buf);
	out = crypto_b64_encode(buf, (size_t)len, 1);
	BN_free(bn);
	return out;
}

static char *
jwk(const char *kid, const char *n)
{
	return xasprintf("{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":\"%s\",\"x5t\":\"%s\","
	    "\"n\":\"%s\",\"e\":\"AQAB\",\"x5c\":[\"MIIDBTCCAe2gAwIBAgIQ\"]}", kid, kid, n);
}

/* {"keys":[...]} with the JWKs of the kid/n pairs given (NULL ends the list). */
static char *
key_set(const char *kid, const char *n, ...)
{
	char *set = xstrdup("{\"keys\":["), *k, *next;
	va_list ap;
	int first = 1;

	va_start(ap, n);
	while (kid != NULL) {
		k = jwk(kid, n);
		next = xasprintf("%s%s%s", set, first ? "" : ",", k);
		free(k);
		free(set);
		set = next;
		first = 0;
		kid = va_arg(ap, const char *);
		if (kid != NULL)
			n = va_arg(ap, const char *);
	}
	va_end(ap);
	next = xasprintf("%s]}", set);
	free(set);
	return next;
}

/* --- the parser ---------------------------------------------------------- */

struct parse_case {
	const char *name;
	/* $N: a good 2048-bit modulus, $S: a 1024-bit one. */
	const char *json;
	int ok;
	size_t count;
	const char *kid;	/* a kid that must be found, or NULL */
};

#define GOOD "{\"kty\":\"RSA\",\"kid\":\"a\",\"n\":\"$N\",\"e\":\"AQAB\"}"

static const struct parse_case parse_cases[] = {
	{ "one RSA key", "{\"keys\":[" GOOD "]}", 1, 1, "a" },
	{ "use sig and extra members",
	  "{\"keys\":[{\"kty\":\"RSA\",\"use\":\"sig\",\"kid\":\"a\",\"x5t\":\"a\",\"n\":\"$N\","
	  "\"e\":\"AQAB\",\"x5c\":[\"MIIB\"],\"issuer\":\"https://login.microsoftonline.com/"
	  "{tenantid}/v2.0\"}],\"other\":1}", 1, 1, "a" },
	{ "EC key skipped",
	  "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"ec\",\"crv\":\"P-256\",\"x\":\"AA\",\"y\":\"AA\"},"
	  GOOD "]}", 1, 1, "a" },
	{ "oct key skipped", "{\"keys\":[{\"kty\":\"oct\",\"kid\":\"s\",\"k\":\"AAAA\"}," GOOD "]}",
	  1, 1, "a" },
	{ "missing n skipped", "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"b\",\"e\":\"AQAB\"}," GOOD "]}",
	  1, 1, "a" },
	{ "missing e skipped", "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"b\",\"n\":\"$N\"}," GOOD "]}",
	  1, 1, "a" },
	{ "missing kid skipped", "{\"keys\":[{\"kty\":\"RSA\",\"n\":\"$N\",\"e\":\"AQAB\"}," GOOD "]}",
	  1, 1, "a" },
	{ "use enc skipped",
	  "{\"keys\":[{\"kty\":\"RSA\",\"use\":\"enc\",\"kid\":\"b\",\"n\":\"$N\",\"e\":\"AQAB\"},"
	  GOOD "]}", 1, 1, "a" },
	{ "repeated kid: the first is kept", "{\"keys\":[" GOOD "," GOOD "]}", 1, 1, "a" },
	{ "1024-bit modulus skipped",
	  "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"b\",\"n\":\"$S\",\"e\":\"AQAB\"}," GOOD "]}",
	  1, 1, "a" },
	{ "n in standard base64 skipped",
	  "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"b\",\"n\":\"ab+/$N\",\"e\":\"AQAB\"}," GOOD "]}",
	  1, 1, "a" },
	{ "padded e skipped",
	  "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"b\",\"n\":\"$N\",\"e\":\"AQAB==\"}," GOOD "]}",
	  1, 1, "a" },
	{ "e with a bad length skipped",
	  "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"b\",\"n\":\"$N\",\"e\":\"AQABA\"}," GOOD "]}",
	  1, 1, "a" },
	{ "even e skipped",
	  "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"b\",\"n\":\"$N\",\"e\":\"AQAC\"}," GOOD "]}",
	  1, 1, "a" },
	{ "n not a string skipped",
	  "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"b\",\"n\":42,\"e\":\"AQAB\"}," GOOD "]}", 1, 1, "a" },
	{ "a key that is not an object skipped", "{\"keys\":[\"x\",null,7," GOOD "]}", 1, 1, "a" },
	{ "only bad keys", "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"b\",\"n\":\"!!\",\"e\":\"AQAB\"}]}",
	  0, 0, NULL },
	{ "only an EC key", "{\"keys\":[{\"kty\":\"EC\",\"kid\":\"ec\"}]}", 0, 0, NULL },
	{ "no keys", "{\"keys\":[]}", 0, 0, NULL },
	{ "keys not an array", "{\"keys\":{}}", 0, 0, NULL },
	{ "no keys member", "{\"key\":[" GOOD "]}", 0, 0, NULL },
	{ "not an object", "[" GOOD "]", 0, 0, NULL },
	{ "not JSON", "{\"keys\":[" GOOD, 0, 0, NULL },
	{ "trailing garbage", "{\"keys\":[" GOOD "]} x", 0, 0, NULL },
	{ "empty", "", 0, 0, NULL },
};

/* The template with $N and $S replaced; caller frees. */
static char *
expand(const char *tmpl)
{
	size_t cap = strlen(tmpl) + 64, len = 0;
	char *out = xmalloc(cap);
	const char *p, *sub;

	for (p = tmpl; *p != '\0'; p++) {
		sub = NULL;
		if (p[0] == '$' && (p[1] == 'N' || p[1] == 'S'))
			sub = p[1] == 'N' ? n1 : n_small;
		if (len + (sub != NULL ? strlen(sub) : 1) + 1 > cap) {
			cap = cap * 2 + (sub != NULL ? strlen(sub) : 0);
			out = xrealloc(out, cap);
		}
		if (sub != NULL) {
			memcpy(out + len, sub, strlen(sub));
			len += strlen(sub);
			p++;
		} else {
			out[len++] = *p;
		}
	}
	out[len] = '\0';
	return out;
}

static void
test_parse_table(void)
{
	size_t i;

	for (i = 0; i < LEN(parse_cases); i++) {
		const struct parse_case *c = &parse_cases[i];
		char *json = expand(c->json), *err = NULL;
		struct jwks *k = jwks_parse(json, strlen(json), &err);

		if (c->ok) {
			TAP_OK(k != NULL && jwks_count(k) == c->count,
			    "parse %s: %zu key(s) (%s)", c->name, c->count, err ? err : "");
			TAP_OK(k != NULL && (c->kid == NULL || jwks_find(k, c->kid) != NULL) &&
			    jwks_find(k, "nope") == NULL, "parse %s: find", c->name);
		} else {
			TAP_OK(k == NULL && err != NULL, "parse %s: refused (%s)", c->name,
			    err ? err : "no error");
		}
		jwks_free(k);
		free(err);
		free(json);
	}
}

static void
test_parse_keys(void)
{
	char *json = key_set("k1", n1, "k2", n2, NULL), *err = NULL, *many, *next, *big;
	struct jwks *k = jwks_parse(json, strlen(json), &err);
	int i;

	TAP_OK(k != NULL && jwks_count(k) == 2, "parse: two keys");
	TAP_OK(k != NULL && EVP_PKEY_eq(jwks_find(k, "k1"), key1) == 1 &&
	    EVP_PKEY_eq(jwks_find(k, "k2"), key2) == 1, "parse: the keys are the published ones");
	TAP_OK(k != NULL && EVP_PKEY_eq(jwks_find(k, "k1"), key2) != 1,
	    "parse: and not each other");
	jwks_free(k);
	jwks_free(NULL);
	free(json);

	/* 64 keys are fine, 65 are too many. */
	many = xstrdup("{\"keys\":[");
	for (i = 0; i < JWKS_MAX_KEYS + 1; i++) {
		char *one = jwk("k", n1);

		if (i == JWKS_MAX_KEYS) {
			next = xasprintf("%s]}", many);
			k = jwks_parse(next, strlen(next), &err);
			TAP_OK(k != NULL && jwks_count(k) == 1, "parse: %d keys accepted",
			    JWKS_MAX_KEYS);
			jwks_free(k);
			free(next);
		}
		next = xasprintf("%s%s%s", many, i > 0 ? "," : "", one);
		free(one);
		free(many);
		many = next;
	}
	next = xasprintf("%s]}", many);
	k = jwks_parse(next, strlen(next), &err);
	TAP_OK(k == NULL && err != NULL && strstr(err, "64") != NULL,
	    "parse: %d keys refused (%s)", JWKS_MAX_KEYS + 1, err ? err : "");
	free(err);
	err = NULL;
	free(next);
	free(many);

	/* A body over 256 KiB, however it is padded. */
	json = key_set("k1", n1, NULL);
	big = xmalloc(JWKS_MAX_BODY + 2);
	memset(big, ' ', JWKS_MAX_BODY + 1);
	memcpy(big, json, strlen(json));
	big[JWKS_MAX_BODY + 1] = '\0';
	k = jwks_parse(big, strlen(big), &err);
	TAP_OK(k == NULL && err != NULL, "parse: a body over 256 KiB is refused");
	free(err);
	err = NULL;
	big[JWKS_MAX_BODY] = '\0';
	k = jwks_parse(big, strlen(big), &err);
	TAP_OK(k != NULL, "parse: a body of exactly 256 KiB is accepted");
	jwks_free(k);
	free(big);
	free(json);
}

/* --- the HTTPS server ---------------------------------------------------- */

enum srv_mode {
	SRV_SERVE,		/* 200 with the current key set */
	SRV_DOWN,		/* 404: permanent, so that the client does not retry */
	SRV_GARBAGE,		/* 200 with something that is not a key set */
};

struct srv {
	struct evhttp *http;
	SSL_CTX *ctx;
	int port;
	int hits;
	enum srv_mode mode;
	char *keys;
};

static void
srv_cb(struct evhttp_request *req, void *arg)
{
	struct srv *s = arg;
	struct evbuffer *buf = evbuffer_new();

	s->hits++;
	if (s->mode == SRV_DOWN) {
		evbuffer_add_printf(buf, "gone");
		evhttp_send_reply(req, 404, "Not Found", buf);
	} else {
		evbuffer_add_printf(buf, "%s", s->mode == SRV_GARBAGE ? "<html>" : s->keys);
		evhttp_send_reply(req, 200, "OK", buf);
	}
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

static void
publish(struct srv *s, char *keys)
{
	free(s->keys);
	s->keys = keys;
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

/* Runs the loop until *v >= want or ms have passed. */
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

/* --- the cache ----------------------------------------------------------- */

struct answer {
	int done;
	EVP_PKEY *want;		/* the key expected, or NULL */
	int match;		/* the key given is want (or none, when want is NULL) */
	char err[256];
	struct jwks_cache *free_cache;	/* freed from inside the callback */
};

static void
answer_cb(EVP_PKEY *key, const char *err, void *arg)
{
	struct answer *a = arg;

	a->done++;
	a->match = a->want == NULL ? key == NULL : key != NULL && EVP_PKEY_eq(key, a->want) == 1;
	util_strlcpy(a->err, err != NULL ? err : "", sizeof(a->err));
	if (a->free_cache != NULL)
		jwks_cache_free(a->free_cache);
}

/* One lookup, checked not to answer inside the call, then waited for. */
static int
lookup(struct jwks_cache *c, const char *kid, EVP_PKEY *want, struct answer *a)
{
	memset(a, 0, sizeof(*a));
	a->want = want;
	if (jwks_cache_lookup(c, kid, answer_cb, a) == -1)
		return -1;
	if (a->done != 0)
		return -2;
	run_until(&a->done, 1, 5000);
	return a->done == 1 ? 0 : -3;
}

static void
test_cache(struct http_client *hc, struct srv *s, const char *url)
{
	struct jwks_cache *c = jwks_cache_new(base, hc, url);
	struct answer a;
	int rc;

	publish(s, key_set("k1", n1, NULL));
	rc = lookup(c, "k1", key1, &a);
	TAP_OK(rc == 0 && a.match && a.err[0] == '\0',
	    "first lookup: answered later with the key (rc %d, %s)", rc, a.err);
	TAP_OK(jwks_cache_fetches(c) == 1 && s->hits == 1, "first lookup: one fetch");
	rc = lookup(c, "k1", key1, &a);
	TAP_OK(rc == 0 && a.match, "second lookup: the key, answered later (rc %d)", rc);
	TAP_OK(jwks_cache_fetches(c) == 1 && s->hits == 1, "second lookup: from the cache");

	/* k2 is published; with the minimum interval off, the unknown kid refreshes. */
	publish(s, key_set("k1", n1, "k2", n2, NULL));
	jwks_cache_set_min_refresh(c, 0);
	rc = lookup(c, "k2", key2, &a);
	TAP_OK(rc == 0 && a.match, "unknown kid: refreshed and found (rc %d, %s)", rc, a.err);
	TAP_OK(jwks_cache_fetches(c) == 2 && s->hits == 2, "unknown kid: one more fetch");
	rc = lookup(c, "k2", key2, &a);
	TAP_OK(rc == 0 && a.match && jwks_cache_fetches(c) == 2, "the new key is now cached");

	/* Within the minimum interval an unknown kid is unknown, without a fetch. */
	jwks_cache_set_min_refresh(c, 3600 * 1000);
	rc = lookup(c, "k3", NULL, &a);
	TAP_OK(rc == 0 && a.match && strcmp(a.err, "unknown kid k3") == 0,
	    "unknown kid within min refresh: unknown (%s)", a.err);
	TAP_OK(jwks_cache_fetches(c) == 2 && s->hits == 2, "unknown kid within min refresh: no fetch");

	/* The server goes down: the fetch fails, the old keys still answer. */
	s->mode = SRV_DOWN;
	jwks_cache_set_min_refresh(c, 0);
	rc = lookup(c, "k3", NULL, &a);
	TAP_OK(rc == 0 && a.match && strstr(a.err, "key set unavailable") != NULL &&
	    strstr(a.err, "404") != NULL, "server down: an error (%s)", a.err);
	TAP_OK(jwks_cache_fetches(c) == 3, "server down: it was fetched");
	rc = lookup(c, "k1", key1, &a);
	TAP_OK(rc == 0 && a.match, "server down: old keys still served");

	s->mode = SRV_GARBAGE;
	rc = lookup(c, "k4", NULL, &a);
	TAP_OK(rc == 0 && a.match && strstr(a.err, "bad key set") != NULL,
	    "bad JSON: an error (%s)", a.err);
	rc = lookup(c, "k2", key2, &a);
	TAP_OK(rc == 0 && a.match && jwks_cache_fetches(c) == 4, "bad JSON: old keys still served");
	s->mode = SRV_SERVE;

	TAP_OK(jwks_cache_lookup(c, "", answer_cb, &a) == -1, "empty kid refused");
	TAP_OK(jwks_cache_lookup(c, NULL, answer_cb, &a) == -1, "NULL kid refused");
	{
		char longkid[JWKS_MAX_KID + 2];

		memset(longkid, 'k', sizeof(longkid) - 1);
		longkid[sizeof(longkid) - 1] = '\0';
		TAP_OK(jwks_cache_lookup(c, longkid, answer_cb, &a) == -1, "kid too long refused");
	}
	jwks_cache_free(c);
	jwks_cache_free(NULL);
}

/* Many lookups on an empty cache share one fetch; the queue is bounded. */
static void
test_queue(struct http_client *hc, struct srv *s, const char *url)
{
	struct jwks_cache *c = jwks_cache_new(base, hc, url);
	static struct answer many[JWKS_MAX_WAITERS];
	struct answer extra;
	int i, refused = 0, done = 0, matched = 0, hits = s->hits;

	memset(many, 0, sizeof(many));
	for (i = 0; i < JWKS_MAX_WAITERS; i++) {
		many[i].want = i % 2 == 0 ? key1 : key2;
		if (jwks_cache_lookup(c, i % 2 == 0 ? "k1" : "k2", answer_cb, &many[i]) == -1)
			refused++;
	}
	memset(&extra, 0, sizeof(extra));
	TAP_OK(refused == 0, "queue: %d lookups accepted", JWKS_MAX_WAITERS);
	TAP_OK(jwks_cache_lookup(c, "k1", answer_cb, &extra) == -1, "queue: one more is refused");
	run_until(&many[JWKS_MAX_WAITERS - 1].done, 1, 5000);
	for (i = 0; i < JWKS_MAX_WAITERS; i++) {
		done += many[i].done;
		matched += many[i].match;
	}
	TAP_OK(done == JWKS_MAX_WAITERS && matched == JWKS_MAX_WAITERS,
	    "queue: all answered once with their key (%d, %d)", done, matched);
	TAP_OK(jwks_cache_fetches(c) == 1 && s->hits == hits + 1, "queue: one fetch for all");
	jwks_cache_free(c);
}

/* Without any set yet, a failed fetch does not hold back the next one. */
static void
test_first_fetch_fails(struct http_client *hc, struct srv *s, const char *url)
{
	struct jwks_cache *c = jwks_cache_new(base, hc, url);
	struct answer a;
	int rc;

	s->mode = SRV_DOWN;
	rc = lookup(c, "k1", NULL, &a);
	TAP_OK(rc == 0 && a.match && strstr(a.err, "key set unavailable") != NULL,
	    "no set, server down: an error (%s)", a.err);
	s->mode = SRV_SERVE;
	rc = lookup(c, "k1", key1, &a);
	TAP_OK(rc == 0 && a.match && jwks_cache_fetches(c) == 2,
	    "no set: the next lookup fetches again at once");
	jwks_cache_free(c);
}

static void
test_free(struct http_client *hc, struct srv *s, const char *url)
{
	struct jwks_cache *c = jwks_cache_new(base, hc, url);
	struct answer a, b, d;
	int hits;

	/* Freed from inside the first callback: the second lookup hears it was cancelled. */
	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.want = b.want = key1;
	a.free_cache = c;
	jwks_cache_lookup(c, "k1", answer_cb, &a);
	jwks_cache_lookup(c, "k1", answer_cb, &b);
	run_until(&a.done, 1, 5000);
	run_until(&b.done, 1, 200);
	TAP_OK(a.done == 1 && a.match && b.done == 1 && strcmp(b.err, JWKS_CANCELLED) == 0,
	    "free in a callback: the rest hear \"cancelled\"");

	/* Freed with a fetch in flight: the waiter hears at once, nothing leaks. */
	c = jwks_cache_new(base, hc, url);
	memset(&d, 0, sizeof(d));
	hits = s->hits;
	TAP_OK(jwks_cache_lookup(c, "k1", answer_cb, &d) == 0, "fetch in flight: lookup queued");
	jwks_cache_free(c);
	TAP_OK(d.done == 1 && d.match && strcmp(d.err, JWKS_CANCELLED) == 0,
	    "free with a fetch in flight: the callback hears \"cancelled\" during the free");
	run_until(&s->hits, hits + 1, 5000);
	run_until(&d.done, 2, 300);
	TAP_OK(d.done == 1, "free with a fetch in flight: and never again");

	/* Freed with a cached answer waiting for the loop. */
	c = jwks_cache_new(base, hc, url);
	lookup(c, "k1", key1, &a);
	memset(&d, 0, sizeof(d));
	jwks_cache_lookup(c, "k1", answer_cb, &d);
	jwks_cache_free(c);
	run_until(&d.done, 2, 100);
	TAP_OK(d.done == 1 && strcmp(d.err, JWKS_CANCELLED) == 0,
	    "free with an answer pending: the callback hears \"cancelled\", once");

	/* Deferred work runs later from the loop, or hears the free. */
	c = jwks_cache_new(base, hc, url);
	memset(&d, 0, sizeof(d));
	TAP_OK(jwks_cache_defer(c, answer_cb, &d) == 0 && d.done == 0,
	    "defer: not answered inside the call");
	run_until(&d.done, 1, 1000);
	TAP_OK(d.done == 1 && d.match && d.err[0] == '\0', "defer: answered later, no key, no error");
	memset(&d, 0, sizeof(d));
	jwks_cache_defer(c, answer_cb, &d);
	jwks_cache_free(c);
	TAP_OK(d.done == 1 && strcmp(d.err, JWKS_CANCELLED) == 0, "defer: a free cancels it");
}

static int
make_certs(char *dir, size_t size)
{
	char cmd[600];

	util_strlcpy(dir, "/tmp/rekey-jwks-test.XXXXXX", size);
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
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(url, sizeof(url), "https://127.0.0.1:%d/common/discovery/v2.0/keys", s.port);
	hc = http_client_new(base, ca, 5000);
	test_cache(hc, &s, url);
	test_queue(hc, &s, url);
	test_first_fetch_fails(hc, &s, url);
	test_free(hc, &s, url);
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
	key_small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
	n1 = b64url_bn(key1, OSSL_PKEY_PARAM_RSA_N);
	n2 = b64url_bn(key2, OSSL_PKEY_PARAM_RSA_N);
	n_small = b64url_bn(key_small, OSSL_PKEY_PARAM_RSA_N);
	test_parse_table();
	test_parse_keys();
	test_network();
	EVP_PKEY_free(key1);
	EVP_PKEY_free(key2);
	EVP_PKEY_free(key_small);
	free(n1);
	free(n2);
	free(n_small);
	libevent_global_shutdown();
	return tap_done();
}
