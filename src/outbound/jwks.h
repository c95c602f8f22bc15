/*
 * jwks: the identity platform's token signing keys (a JSON Web Key Set),
 * parsed into OpenSSL public keys, and a cache of one JWKS URL fetched with
 * http_client.  Keys rotate: an unknown kid makes the cache fetch the set
 * again, at most once per min-refresh interval so that tokens naming made-up
 * kids cannot make rekey hammer the endpoint.
 */
#ifndef REKEY_OUTBOUND_JWKS_H
#define REKEY_OUTBOUND_JWKS_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

struct event_base;
struct http_client;

/* Bounds on a key set. */
#define JWKS_MAX_KEYS 64
#define JWKS_MAX_BODY (256 * 1024)
#define JWKS_MAX_KID 128
/* A set is fetched again once it is this old (seconds). */
#define JWKS_MAX_AGE (24 * 3600)
/* Default least interval between fetches (milliseconds). */
#define JWKS_MIN_REFRESH_MS (5 * 60 * 1000)
/* Lookups that may wait at once; more are refused. */
#define JWKS_MAX_WAITERS 256

/* A parsed key set. */
struct jwks;

/*
 * Parses {"keys":[{"kty":"RSA","kid":..,"n":..,"e":..}, ...]}.  RSA keys
 * with a kid, n and e (base64url, no padding) of 2048 to 8192 bits are kept;
 * other keys, keys whose "use" is not "sig", malformed ones and repeated
 * kids are skipped.  At most JWKS_MAX_KEYS entries, a body of at most
 * JWKS_MAX_BODY bytes, at least one usable key.  NULL and *err (caller frees).
 */
struct jwks *jwks_parse(const char *json, size_t len, char **err);
/* NULL is a no-op. */
void jwks_free(struct jwks *k);
/* The key named kid (borrowed, valid as long as k), or NULL. */
EVP_PKEY *jwks_find(const struct jwks *k, const char *kid);
size_t jwks_count(const struct jwks *k);

/* A JWKS URL, fetched with http_client and cached. */
struct jwks_cache;

/* Copies url; base and hc must outlive the cache. */
struct jwks_cache *jwks_cache_new(struct event_base *base, struct http_client *hc,
    const char *url);
/* What err says to a callback whose cache was freed first. */
#define JWKS_CANCELLED "cancelled"

/*
 * Frees the cache.  Lookups still pending hear now, with a NULL key and err
 * JWKS_CANCELLED, so their callers can free what they hold (and must not
 * start anything new on this cache).  A fetch in flight is abandoned.  Safe
 * from inside a lookup callback (the free then happens when the callbacks
 * are done).  NULL is a no-op.
 */
void jwks_cache_free(struct jwks_cache *c);
/* The least interval between two fetches, in milliseconds (tests set 0). */
void jwks_cache_set_min_refresh(struct jwks_cache *c, int64_t ms);

/*
 * key is borrowed and valid only during the call; NULL when the kid is not
 * known, with err saying why ("unknown kid x", "key set unavailable: HTTP
 * 503"; valid during the call).
 */
typedef void (*jwks_key_cb)(EVP_PKEY *key, const char *err, void *arg);

/*
 * Looks up kid.  From the cached set when it holds kid and is younger than
 * JWKS_MAX_AGE; otherwise the set is fetched (one fetch at most in flight;
 * lookups queue on it).  A fetch for an unknown kid or a stale set happens
 * at most once per min-refresh interval; within it, the cached set answers
 * (an unknown kid is reported unknown without a fetch).  A failed fetch
 * keeps the old set, which still answers for the kids it holds.  The
 * callback runs exactly once, later, from the loop (never inside this
 * call).  0, or -1 (bad kid, too many waiting, or the fetch could not
 * start; logged where useful) and the callback never runs.
 */
int jwks_cache_lookup(struct jwks_cache *c, const char *kid, jwks_key_cb cb, void *arg);
/*
 * Runs cb(NULL, NULL, arg) later from the loop, in order with the lookups'
 * answers (or with JWKS_CANCELLED when the cache is freed first): for
 * callers that must answer later without a key.  0, or -1 (too many waiting).
 */
int jwks_cache_defer(struct jwks_cache *c, jwks_key_cb cb, void *arg);
/* Fetches started so far, for tests and metrics. */
int jwks_cache_fetches(const struct jwks_cache *c);

#endif
