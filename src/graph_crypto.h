/*
 * graph_crypto: the encryptedContent of Graph rich notifications
 * (includeResourceData).  Graph wraps a random 32-byte key with RSA-OAEP
 * (SHA-1, MGF1-SHA-1) under the certificate the subscription named, signs
 * the ciphertext with HMAC-SHA256 under that key and encrypts the resource
 * with AES-256-CBC (PKCS7, IV = the key's first 16 bytes).  The private keys
 * live in a keyring by encryptionCertificateId, so that the old and the new
 * certificate both work while subscriptions move over.
 */
#ifndef REKEY_GRAPH_CRYPTO_H
#define REKEY_GRAPH_CRYPTO_H

#include <stddef.h>

/* Keys a keyring holds at most, and the longest encryptionCertificateId. */
#define GRAPH_KEYRING_MAX 8
#define GRAPH_CERT_ID_MAX 128
/* The largest decoded data (ciphertext) graph_decrypt accepts. */
#define GRAPH_DATA_MAX (1024 * 1024)

/* Private keys by encryptionCertificateId. */
struct graph_keyring;

struct graph_keyring *graph_keyring_new(void);
/* Frees the keys (OpenSSL wipes their private parts); NULL is a no-op. */
void graph_keyring_free(struct graph_keyring *kr);
/*
 * Loads an unencrypted PEM RSA private key of at least 2048 bits, mode 600,
 * under cert_id; a key already under cert_id is replaced.  0, or -1 and *err
 * naming the file (caller frees).
 */
int graph_keyring_add(struct graph_keyring *kr, const char *cert_id, const char *key_file,
    char **err);
size_t graph_keyring_count(const struct graph_keyring *kr);

/*
 * Standard base64 of the DER of the first certificate in a PEM file: what a
 * subscription's "encryptionCertificate" carries.  Caller frees; NULL and
 * *err (naming the file, caller frees).
 */
char *graph_cert_b64(const char *cert_file, char **err);

enum graph_decrypt_result {
	GRAPH_DECRYPT_OK,
	GRAPH_DECRYPT_UNKNOWN_KEY,	/* no key under that encryptionCertificateId */
	GRAPH_DECRYPT_BAD_KEY,		/* unwrap failed (OAEP-SHA256, wrong key) or not 32 bytes */
	GRAPH_DECRYPT_BAD_SIGNATURE,	/* dataSignature is not HMAC-SHA256(key, data) */
	GRAPH_DECRYPT_BAD_DATA,		/* base64, length, padding */
};

/* "ok", "unknown_key", "bad_key", "bad_signature", "bad_data": for logs and metrics. */
const char *graph_decrypt_result_name(enum graph_decrypt_result r);

/*
 * Decrypts one encryptedContent.  The signature is checked (in constant
 * time) before anything is decrypted.  On GRAPH_DECRYPT_OK, *out is the
 * plaintext JSON, *outlen bytes plus a NUL terminator; it is user data:
 * caller wipes (OPENSSL_cleanse) and frees it.  Otherwise *err is a short
 * reason without secret material (caller frees).
 */
enum graph_decrypt_result graph_decrypt(const struct graph_keyring *kr, const char *cert_id,
    const char *data_key_b64, const char *data_b64, const char *data_signature_b64,
    unsigned char **out, size_t *outlen, char **err);

#endif
