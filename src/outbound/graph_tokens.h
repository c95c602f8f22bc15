/*
 * graph_tokens: the validationTokens of Graph change notifications with
 * resource data.  Each is an RS256 JWT the identity platform issued to
 * Microsoft Graph Change Tracking for our app; a batch is trusted only when
 * every token checks out: times, audience, issuer, the Change Tracking app
 * and the signature under a key of the identity platform's key set.
 */
#ifndef REKEY_OUTBOUND_GRAPH_TOKENS_H
#define REKEY_OUTBOUND_GRAPH_TOKENS_H

#include <stddef.h>
#include <stdint.h>

struct jwks_cache;
struct jwt;

/* Microsoft Graph Change Tracking: the appid (v1) or azp (v2) of every validation token. */
#define GRAPH_CHANGE_TRACKING_APP_ID "0bf30f3b-4a52-48df-9a82-234910c4a086"
/* Clock skew allowed on exp and nbf, in seconds. */
#define GRAPH_TOKEN_LEEWAY 300
/* Tokens one batch may carry. */
#define GRAPH_TOKENS_MAX 16

/*
 * Checks a decoded token's header and claims (not its signature): alg
 * RS256; exp and nbf within GRAPH_TOKEN_LEEWAY of now; aud == app_id; iss
 * "https://sts.windows.net/{tenant_id}/" with appid, or
 * "https://login.microsoftonline.com/{tenant_id}/v2.0" with azp, equal to
 * GRAPH_CHANGE_TRACKING_APP_ID.  tenant_id is the tenant's GUID (compared
 * without regard to case).  0, or -1 and *err (a short reason, caller frees).
 */
int graph_token_check_claims(const struct jwt *jwt, const char *app_id, const char *tenant_id,
    int64_t now, char **err);

/* ok = 1 only when every token passed; err (valid during the call) names the failure. */
typedef void (*graph_token_cb)(int ok, const char *err, void *arg);

/*
 * Verifies a batch of n tokens: each is decoded and its claims checked;
 * when all pass, each signature is checked with the key its header's kid
 * names, from c.  cb runs exactly once, later, from the loop, with ok = 1
 * only if all tokens pass; an empty batch or one of more than
 * GRAPH_TOKENS_MAX tokens fails.  err names the first failure found, by
 * position ("token 2: JWT has expired", "token 1: unknown kid abc").
 * Copies what it needs from tokens.  c must outlive the batch: a batch still
 * pending when c is freed is never answered.  0, or -1 (c or cb is NULL) and
 * cb never runs.
 */
int graph_tokens_verify(struct jwks_cache *c, const char *const *tokens, size_t n,
    const char *app_id, const char *tenant_id, int64_t now, graph_token_cb cb, void *arg);

#endif
