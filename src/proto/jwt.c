#include "proto/jwt.h"
#include "lib/crypto.h"
#include "lib/json.h"
#include "lib/secret.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

/* Microsoft accepts RSA keys of 2048 bits and more for certificate credentials. */
#define JWT_MIN_RSA_BITS 2048
/* A JWT header or claim set nests no deeper than this. */
#define JWT_JSON_DEPTH_MAX 16

struct jwt_signer {
	X509 *cert;
	EVP_PKEY *key;
	char *x5t_s256;		/* base64url SHA-256 of the DER */
	char *x5t;		/* base64url SHA-1 of the DER */
};

static char *
cert_thumbprint(X509 *cert, const EVP_MD *md)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	if (X509_digest(cert, md, d, &n) != 1)
		return NULL;
	return crypto_b64_encode(d, n, 1);
}

static int
check_pair(const struct jwt_signer *s, const char *cert_file, const char *key_file,
    char **err)
{
	if (EVP_PKEY_get_base_id(s->key) != EVP_PKEY_RSA) {
		*err = xasprintf("%s: the rotator key must be RSA", key_file);
		return -1;
	}
	if (EVP_PKEY_get_bits(s->key) < JWT_MIN_RSA_BITS) {
		*err = xasprintf("%s: the rotator key has %d bits; at least %d are needed",
		    key_file, EVP_PKEY_get_bits(s->key), JWT_MIN_RSA_BITS);
		return -1;
	}
	return crypto_key_matches(s->cert, s->key, cert_file, key_file, err);
}

struct jwt_signer *
jwt_signer_new(const char *cert_file, const char *key_file, char **err)
{
	struct jwt_signer *s = xcalloc(1, sizeof(*s));

	s->cert = crypto_cert_load(cert_file, err);
	if (s->cert == NULL)
		goto fail;
	s->key = crypto_key_load(key_file, err);
	if (s->key == NULL || check_pair(s, cert_file, key_file, err) == -1)
		goto fail;
	s->x5t_s256 = cert_thumbprint(s->cert, EVP_sha256());
	s->x5t = cert_thumbprint(s->cert, EVP_sha1());
	if (s->x5t_s256 == NULL || s->x5t == NULL) {
		*err = xasprintf("%s: cannot hash the certificate: %s", cert_file,
		    crypto_ssl_reason());
		goto fail;
	}
	return s;
fail:
	jwt_signer_free(s);
	return NULL;
}

void
jwt_signer_free(struct jwt_signer *s)
{
	if (s == NULL)
		return;
	X509_free(s->cert);
	/* OpenSSL cleanses RSA private components when it frees them. */
	EVP_PKEY_free(s->key);
	free(s->x5t_s256);
	free(s->x5t);
	free(s);
}

const char *
jwt_signer_thumbprint(const struct jwt_signer *s, enum jwt_alg alg)
{
	return alg == JWT_ALG_PS256 ? s->x5t_s256 : s->x5t;
}

int64_t
jwt_signer_not_after(const struct jwt_signer *s)
{
	int64_t not_before, not_after;

	if (crypto_cert_dates(s->cert, &not_before, &not_after) == -1)
		return 0;
	return not_after;
}


/* Sets up ctx for alg: PSS with a digest-length salt and MGF1-SHA-256, or PKCS#1 v1.5. */
static int
set_padding(EVP_PKEY_CTX *pctx, enum jwt_alg alg)
{
	if (alg == JWT_ALG_RS256)
		return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0 ? 0 : -1;
	if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) <= 0 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) <= 0)
		return -1;
	return 0;
}

/* Signs msg; *sig (caller frees) and *siglen.  0 or -1. */
static int
sign(EVP_PKEY *key, enum jwt_alg alg, const char *msg, size_t len, unsigned char **sig,
    size_t *siglen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int rc = -1;

	*sig = NULL;
	if (ctx == NULL ||
	    EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, key) != 1 ||
	    set_padding(pctx, alg) == -1 ||
	    EVP_DigestSign(ctx, NULL, siglen, (const unsigned char *)msg, len) != 1)
		goto out;
	*sig = xmalloc(*siglen);
	if (EVP_DigestSign(ctx, *sig, siglen, (const unsigned char *)msg, len) != 1)
		goto out;
	rc = 0;
out:
	if (rc == -1) {
		free(*sig);
		*sig = NULL;
	}
	EVP_MD_CTX_free(ctx);
	return rc;
}

static char *
b64url_json(const cJSON *obj)
{
	char *text = cJSON_PrintUnformatted(obj);
	char *enc;

	if (text == NULL)
		return NULL;
	enc = crypto_b64_encode((const unsigned char *)text, strlen(text), 1);
	cJSON_free(text);
	return enc;
}

static cJSON *
assertion_header(const struct jwt_signer *s, enum jwt_alg alg)
{
	cJSON *h = cJSON_CreateObject();

	cJSON_AddStringToObject(h, "alg", alg == JWT_ALG_PS256 ? "PS256" : "RS256");
	cJSON_AddStringToObject(h, "typ", "JWT");
	cJSON_AddStringToObject(h, alg == JWT_ALG_PS256 ? "x5t#S256" : "x5t",
	    jwt_signer_thumbprint(s, alg));
	return h;
}

static cJSON *
assertion_claims(const char *client_id, const char *audience, int64_t now, const char *jti)
{
	cJSON *c = cJSON_CreateObject();

	cJSON_AddStringToObject(c, "aud", audience);
	cJSON_AddStringToObject(c, "iss", client_id);
	cJSON_AddStringToObject(c, "sub", client_id);
	cJSON_AddStringToObject(c, "jti", jti);
	cJSON_AddNumberToObject(c, "nbf", (double)now);
	cJSON_AddNumberToObject(c, "iat", (double)now);
	cJSON_AddNumberToObject(c, "exp", (double)(now + JWT_ASSERTION_LIFETIME));
	return c;
}

/* "<b64url header>.<b64url claims>", or NULL. */
static char *
assertion_signing_input(const struct jwt_signer *s, enum jwt_alg alg, const char *client_id,
    const char *audience, int64_t now)
{
	char jti[CRYPTO_GUID_LEN + 1];
	cJSON *header = NULL, *claims = NULL;
	char *h = NULL, *c = NULL, *input = NULL;

	if (crypto_guid(jti) == -1)
		return NULL;
	header = assertion_header(s, alg);
	claims = assertion_claims(client_id, audience, now, jti);
	h = b64url_json(header);
	c = b64url_json(claims);
	if (h != NULL && c != NULL)
		input = xasprintf("%s.%s", h, c);
	free(h);
	free(c);
	cJSON_Delete(header);
	cJSON_Delete(claims);
	return input;
}

struct secret *
jwt_client_assertion(const struct jwt_signer *s, enum jwt_alg alg, const char *client_id,
    const char *audience, int64_t now, char **err)
{
	unsigned char *sig = NULL;
	char *input, *sig64 = NULL, *token = NULL;
	struct secret *out = NULL;
	size_t siglen = 0;

	input = assertion_signing_input(s, alg, client_id, audience, now);
	if (input == NULL) {
		*err = xstrdup("cannot build the assertion (no randomness or out of memory)");
		return NULL;
	}
	if (sign(s->key, alg, input, strlen(input), &sig, &siglen) == -1) {
		*err = xasprintf("cannot sign the assertion: %s", crypto_ssl_reason());
		goto out;
	}
	sig64 = crypto_b64_encode(sig, siglen, 1);
	token = xasprintf("%s.%s", input, sig64);
	out = secret_new(token, strlen(token));
	OPENSSL_cleanse(token, strlen(token));
	OPENSSL_cleanse(sig64, strlen(sig64));
out:
	free(token);
	free(sig64);
	free(sig);
	free(input);
	return out;
}

/* 1 when every byte is in the base64url alphabet (no padding, no whitespace). */
static int
b64url_chars_ok(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_'))
			return 0;
	}
	return 1;
}

static int
decode_segment(const char *s, size_t n, unsigned char **out, size_t *outlen)
{
	if (n == 0 || !b64url_chars_ok(s, n))
		return -1;
	return crypto_b64_decode(s, n, out, outlen);
}

/* Decodes one JSON-object segment; NULL on any failure. */
static cJSON *
decode_json_segment(const char *s, size_t n)
{
	unsigned char *raw = NULL;
	size_t rawlen = 0;
	cJSON *obj = NULL;

	if (decode_segment(s, n, &raw, &rawlen) == -1)
		return NULL;
	if (json_depth_ok((const char *)raw, rawlen, JWT_JSON_DEPTH_MAX))
		obj = json_parse_whole((const char *)raw, rawlen);
	free(raw);
	if (obj != NULL && !cJSON_IsObject(obj)) {
		cJSON_Delete(obj);
		obj = NULL;
	}
	return obj;
}

/* Finds the two dots; -1 unless there are exactly two. */
static int
split_token(const char *token, size_t len, size_t *dot1, size_t *dot2)
{
	const char *p = memchr(token, '.', len), *q;

	if (p == NULL)
		return -1;
	q = memchr(p + 1, '.', len - (size_t)(p + 1 - token));
	if (q == NULL || memchr(q + 1, '.', len - (size_t)(q + 1 - token)) != NULL)
		return -1;
	*dot1 = (size_t)(p - token);
	*dot2 = (size_t)(q - token);
	return 0;
}

static int
decode_parts(const char *token, size_t len, size_t dot1, size_t dot2, struct jwt *out,
    char **err)
{
	const cJSON *alg;

	out->header = decode_json_segment(token, dot1);
	if (out->header == NULL) {
		*err = xstrdup("JWT header is not base64url of a JSON object");
		return -1;
	}
	out->claims = decode_json_segment(token + dot1 + 1, dot2 - dot1 - 1);
	if (out->claims == NULL) {
		*err = xstrdup("JWT claims are not base64url of a JSON object");
		return -1;
	}
	if (decode_segment(token + dot2 + 1, len - dot2 - 1, &out->sig, &out->sig_len) == -1) {
		*err = xstrdup("JWT signature is missing or not base64url");
		return -1;
	}
	alg = cJSON_GetObjectItemCaseSensitive(out->header, "alg");
	out->alg = cJSON_IsString(alg) ? alg->valuestring : NULL;
	out->signing_input = xstrndup(token, dot2);
	out->signing_input_len = dot2;
	return 0;
}

int
jwt_decode(const char *token, size_t len, struct jwt *out, char **err)
{
	size_t dot1, dot2;

	memset(out, 0, sizeof(*out));
	if (len > JWT_MAX_TOKEN) {
		*err = xasprintf("JWT longer than %d bytes", JWT_MAX_TOKEN);
		return -1;
	}
	if (split_token(token, len, &dot1, &dot2) == -1) {
		*err = xstrdup("JWT does not have three segments");
		return -1;
	}
	if (decode_parts(token, len, dot1, dot2, out, err) == -1) {
		jwt_clear(out);
		return -1;
	}
	return 0;
}

void
jwt_clear(struct jwt *jwt)
{
	cJSON_Delete(jwt->header);
	cJSON_Delete(jwt->claims);
	free(jwt->sig);
	free(jwt->signing_input);
	memset(jwt, 0, sizeof(*jwt));
}

static int
verify(const struct jwt *jwt, EVP_PKEY *pub, enum jwt_alg alg)
{
	EVP_MD_CTX *ctx;
	EVP_PKEY_CTX *pctx = NULL;
	int ok;

	if (jwt->sig == NULL || pub == NULL || EVP_PKEY_get_base_id(pub) != EVP_PKEY_RSA)
		return -1;
	ctx = EVP_MD_CTX_new();
	ok = ctx != NULL &&
	    EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, pub) == 1 &&
	    set_padding(pctx, alg) == 0 &&
	    EVP_DigestVerify(ctx, jwt->sig, jwt->sig_len,
		(const unsigned char *)jwt->signing_input, jwt->signing_input_len) == 1;
	EVP_MD_CTX_free(ctx);
	ERR_clear_error();
	return ok ? 0 : -1;
}

int
jwt_verify_rs256(const struct jwt *jwt, EVP_PKEY *pub)
{
	return verify(jwt, pub, JWT_ALG_RS256);
}

int
jwt_verify_ps256(const struct jwt *jwt, EVP_PKEY *pub)
{
	return verify(jwt, pub, JWT_ALG_PS256);
}

int
jwt_verify(const struct jwt *jwt, EVP_PKEY *pub)
{
	if (jwt->alg == NULL)
		return -1;
	if (strcmp(jwt->alg, "RS256") == 0)
		return jwt_verify_rs256(jwt, pub);
	if (strcmp(jwt->alg, "PS256") == 0)
		return jwt_verify_ps256(jwt, pub);
	return -1;
}

const char *
jwt_claim_string(const struct jwt *jwt, const char *name)
{
	return json_str_or(jwt->claims, name, NULL);
}

int
jwt_claim_time(const struct jwt *jwt, const char *name, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(jwt->claims, name);

	/* 2^53: beyond it a double no longer holds every integer. */
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9007199254740992.0 ||
	    v->valuedouble != (double)(int64_t)v->valuedouble)
		return -1;
	*out = (int64_t)v->valuedouble;
	return 0;
}

int
jwt_check_time(const struct jwt *jwt, int64_t now, int64_t leeway, char **err)
{
	int64_t exp, nbf;

	if (jwt_claim_time(jwt, "exp", &exp) == -1) {
		*err = xstrdup("JWT has no numeric exp");
		return -1;
	}
	if (exp <= now - leeway) {
		*err = xstrdup("JWT has expired");
		return -1;
	}
	if (cJSON_GetObjectItemCaseSensitive(jwt->claims, "nbf") == NULL)
		return 0;
	if (jwt_claim_time(jwt, "nbf", &nbf) == -1) {
		*err = xstrdup("JWT nbf is not a number");
		return -1;
	}
	if (nbf > now + leeway) {
		*err = xstrdup("JWT is not valid yet");
		return -1;
	}
	return 0;
}
