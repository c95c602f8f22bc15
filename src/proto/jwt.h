/*
 * jwt: JSON Web Tokens on OpenSSL 3 (EVP only).  Builds the client
 * assertion the Microsoft identity platform takes in place of a client
 * secret (a certificate credential), and decodes and verifies RS256/PS256
 * tokens such as the validationTokens of Graph change notifications.
 */
#ifndef REKEY_PROTO_JWT_H
#define REKEY_PROTO_JWT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

struct cJSON;
struct secret;

enum jwt_alg {
	JWT_ALG_PS256,		/* RSASSA-PSS, SHA-256, salt = 32 bytes; header x5t#S256 */
	JWT_ALG_RS256,		/* RSASSA-PKCS1-v1_5, SHA-256; header x5t (SHA-1) */
};

/* Lifetime of an assertion: the identity platform accepts at most 10 minutes. */
#define JWT_ASSERTION_LIFETIME 300
/* Longest token jwt_decode accepts, in bytes. */
#define JWT_MAX_TOKEN 16384
/* A certificate and its RSA private key, loaded once and used for every assertion. */
struct jwt_signer;

/*
 * Loads a PEM certificate (the first one in cert_file) and an unencrypted
 * PEM private key.  The key must be RSA, at least 2048 bits, and belong to
 * the certificate.  NULL and *err (naming the file, caller frees) on failure.
 */
struct jwt_signer *jwt_signer_new(const char *cert_file, const char *key_file, char **err);
/* Wipes the key; NULL is a no-op. */
void jwt_signer_free(struct jwt_signer *s);
/* Base64url thumbprint of the certificate's DER: SHA-256 for PS256, SHA-1 for RS256. */
const char *jwt_signer_thumbprint(const struct jwt_signer *s, enum jwt_alg alg);
/* The certificate's notAfter as Unix seconds (Azure refuses assertions of an expired one). */
int64_t jwt_signer_not_after(const struct jwt_signer *s);

/*
 * A signed client assertion: iss = sub = client_id, aud = audience (the token
 * endpoint URL), a fresh jti, nbf = iat = now, exp = now + JWT_ASSERTION_LIFETIME.
 * It is a credential for its lifetime, hence a secret (caller frees).  NULL
 * and *err on failure.
 */
struct secret *jwt_client_assertion(const struct jwt_signer *s, enum jwt_alg alg,
    const char *client_id, const char *audience, int64_t now, char **err);


/* A decoded token; everything is owned (jwt_clear frees it). */
struct jwt {
	struct cJSON *header;		/* a JSON object */
	struct cJSON *claims;		/* a JSON object */
	const char *alg;		/* the header's "alg", or NULL; points into header */
	unsigned char *sig;
	size_t sig_len;
	char *signing_input;		/* "<header>.<payload>" exactly as received */
	size_t signing_input_len;
};

/*
 * Splits a compact JWS (three base64url segments, no padding, a non-empty
 * signature) of at most JWT_MAX_TOKEN bytes and parses header and claims,
 * which must be JSON objects.  Nothing is verified.  0, or -1 and *err.
 */
int jwt_decode(const char *token, size_t len, struct jwt *out, char **err);
void jwt_clear(struct jwt *jwt);

/* 0 when the signature holds for pub with that algorithm, else -1. */
int jwt_verify_rs256(const struct jwt *jwt, EVP_PKEY *pub);
int jwt_verify_ps256(const struct jwt *jwt, EVP_PKEY *pub);
/* Verifies with the algorithm the header names (RS256 or PS256 only; anything else is -1). */
int jwt_verify(const struct jwt *jwt, EVP_PKEY *pub);

/* A string claim, or NULL. */
const char *jwt_claim_string(const struct jwt *jwt, const char *name);
/* A numeric claim (Unix seconds) into *out; 0, or -1 when absent or not an integer. */
int jwt_claim_time(const struct jwt *jwt, const char *name, int64_t *out);
/*
 * exp (required) is after now - leeway and nbf (when present) is at most
 * now + leeway.  0, or -1 and *err.
 */
int jwt_check_time(const struct jwt *jwt, int64_t now, int64_t leeway, char **err);

#endif
