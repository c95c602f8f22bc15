/*
 * crypto: the primitives rekey needs, on OpenSSL 3: HMAC-SHA256, SHA-256,
 * hex and base64 (standard and URL-safe), constant-time comparison, random
 * bytes, AES-256-GCM for secrets at rest, and Standard Webhooks signatures.
 */
#ifndef REKEY_LIB_CRYPTO_H
#define REKEY_LIB_CRYPTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/types.h>

struct secret;

#define CRYPTO_SHA256_LEN 32
#define CRYPTO_AEAD_KEY_LEN 32

/* out receives 32 bytes.  0 or -1. */
int crypto_hmac_sha256(const void *key, size_t keylen, const void *msg,
    size_t msglen, unsigned char out[CRYPTO_SHA256_LEN]);
int crypto_sha256(const void *msg, size_t len, unsigned char out[CRYPTO_SHA256_LEN]);

/* Lowercase hex of in into out, which holds 2*len+1 bytes. */
void crypto_hex_encode(const unsigned char *in, size_t len, char *out);
/* The value of one hex digit (either case), or -1. */
int crypto_hex_value(char c);
/* Decodes hex (either case, even length) into out; returns the length or -1. */
ssize_t crypto_hex_decode(const char *hex, size_t hexlen, unsigned char *out, size_t outsize);

/* Base64 encoding; url = 1 for the URL-safe alphabet without padding.  Caller frees. */
char *crypto_b64_encode(const unsigned char *in, size_t len, int url);
/*
 * Decodes standard or URL-safe base64, padded or not (whitespace not allowed).
 * On success sets *out (caller frees) and *outlen and returns 0; else -1.
 */
int crypto_b64_decode(const char *in, size_t len, unsigned char **out, size_t *outlen);

/* 1 when the n bytes at a and b are equal, in time independent of their contents. */
int crypto_memeq(const void *a, const void *b, size_t n);

/* Cryptographically strong random bytes.  0 or -1. */
int crypto_random(void *buf, size_t n);

/*
 * AES-256-GCM with a fresh random 96-bit nonce per call.  The output is
 * version byte || nonce || ciphertext || 16-byte tag, and aad (for example
 * the table and row id) is authenticated so that a ciphertext cannot be
 * moved to another row.  Caller frees *out.  0 or -1.
 */
int crypto_aead_seal(const unsigned char key[CRYPTO_AEAD_KEY_LEN],
    const void *aad, size_t aadlen, const void *pt, size_t ptlen,
    unsigned char **out, size_t *outlen);
/* Reverses crypto_aead_seal; -1 on any tampering or a wrong key or aad.  Caller frees *out (wipe it). */
int crypto_aead_open(const unsigned char key[CRYPTO_AEAD_KEY_LEN],
    const void *aad, size_t aadlen, const unsigned char *in, size_t inlen,
    unsigned char **out, size_t *outlen);

/*
 * The Standard Webhooks signature of one delivery, "v1,<base64 HMAC-SHA256>",
 * over "<msg_id>.<timestamp>.<body>" keyed with the base64 after "whsec_" in
 * whsec.  NULL when whsec is not "whsec_" plus non-empty base64.  Caller frees.
 */
char *crypto_standard_webhook_signature(const struct secret *whsec, const char *msg_id,
    int64_t timestamp, const void *body, size_t len);

/*
 * PEM files.  Each loader reads the first object of its file and never asks
 * for a passphrase (the daemon has no terminal: an encrypted key fails with
 * a message instead of hanging).  NULL and *err naming the file (caller
 * frees) on failure.
 */
X509 *crypto_cert_load(const char *path, char **err);
/* The key file must first pass secret_file_check (mode 600, a regular file). */
EVP_PKEY *crypto_key_load(const char *path, char **err);
/* 0 when key is the private half of cert's public key; else -1 and *err naming both files. */
int crypto_key_matches(X509 *cert, EVP_PKEY *key, const char *cert_file, const char *key_file,
    char **err);
/* notBefore and notAfter as Unix seconds.  0 or -1. */
int crypto_cert_dates(const X509 *cert, int64_t *not_before, int64_t *not_after);
/* The same, of the first certificate in a PEM file.  0, or -1 and *err (caller frees). */
int crypto_cert_file_dates(const char *path, int64_t *not_before, int64_t *not_after,
    char **err);
/* The last OpenSSL error as text (static storage: one thread at a time), and the queue cleared. */
const char *crypto_ssl_reason(void);

/* Length of a GUID in text form, without the terminator. */
#define CRYPTO_GUID_LEN 36
/* A random (version 4) GUID, lowercase, into out.  0 or -1. */
int crypto_guid(char out[CRYPTO_GUID_LEN + 1]);

#endif
