#include "graph_crypto.h"
#include "crypto.h"
#include "secret.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

/* Graph accepts encryption certificates of 2048 bits and more. */
#define GRAPH_MIN_RSA_BITS 2048
/* Larger RSA keys only cost time; 16384 bits is far beyond any certificate Graph takes. */
#define GRAPH_MAX_RSA_BITS 16384
/* The symmetric key and the block the IV is taken from. */
#define GRAPH_SYM_KEY_LEN 32
#define GRAPH_IV_LEN 16
#define GRAPH_AES_BLOCK 16
/* Base64 text lengths: a wrapped key of GRAPH_MAX_RSA_BITS, one HMAC, GRAPH_DATA_MAX bytes. */
#define B64_LEN(n) (((size_t)(n) + 2) / 3 * 4)
#define GRAPH_DATA_KEY_B64_MAX B64_LEN(GRAPH_MAX_RSA_BITS / 8)
#define GRAPH_SIGNATURE_B64_MAX B64_LEN(CRYPTO_SHA256_LEN)
#define GRAPH_DATA_B64_MAX B64_LEN(GRAPH_DATA_MAX)

struct graph_key {
	char *cert_id;
	EVP_PKEY *key;
};

struct graph_keyring {
	struct graph_key keys[GRAPH_KEYRING_MAX];
	size_t n;
};

/* What graph_decrypt holds between its steps; everything is wiped at the end. */
struct decrypt_state {
	unsigned char *wrapped, *data, *sig;
	size_t wrapped_len, data_len, sig_len;
	unsigned char sym[GRAPH_SYM_KEY_LEN];
};

struct graph_keyring *
graph_keyring_new(void)
{
	return xcalloc(1, sizeof(struct graph_keyring));
}

void
graph_keyring_free(struct graph_keyring *kr)
{
	size_t i;

	if (kr == NULL)
		return;
	for (i = 0; i < kr->n; i++) {
		free(kr->keys[i].cert_id);
		/* OpenSSL cleanses the private components when it frees them. */
		EVP_PKEY_free(kr->keys[i].key);
	}
	OPENSSL_cleanse(kr, sizeof(*kr));
	free(kr);
}

size_t
graph_keyring_count(const struct graph_keyring *kr)
{
	return kr->n;
}

/*
 * Refuses to prompt for a passphrase: the daemon has no terminal, and an
 * encrypted key must fail with a message rather than hang.
 */
static int
refuse_passphrase_cb(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

static EVP_PKEY *
read_private_key(const char *path, char **err)
{
	EVP_PKEY *key = NULL;
	BIO *bio;

	if (secret_file_check(path, err) == -1)
		return NULL;
	bio = BIO_new_file(path, "r");
	if (bio != NULL)
		key = PEM_read_bio_PrivateKey(bio, NULL, refuse_passphrase_cb, NULL);
	BIO_free(bio);
	ERR_clear_error();
	if (key == NULL)
		*err = xasprintf("%s holds no unencrypted PEM private key", path);
	return key;
}

static EVP_PKEY *
load_rsa_key(const char *path, char **err)
{
	EVP_PKEY *key = read_private_key(path, err);
	int bits;

	if (key == NULL)
		return NULL;
	bits = EVP_PKEY_get_bits(key);
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
		*err = xasprintf("%s: the Graph encryption key must be RSA", path);
	} else if (bits < GRAPH_MIN_RSA_BITS || bits > GRAPH_MAX_RSA_BITS) {
		*err = xasprintf("%s: the Graph encryption key has %d bits; %d to %d are needed",
		    path, bits, GRAPH_MIN_RSA_BITS, GRAPH_MAX_RSA_BITS);
	} else {
		return key;
	}
	EVP_PKEY_free(key);
	return NULL;
}

static struct graph_key *
find_key(const struct graph_keyring *kr, const char *cert_id)
{
	size_t i;

	for (i = 0; i < kr->n; i++)
		if (strcmp(kr->keys[i].cert_id, cert_id) == 0)
			return (struct graph_key *)&kr->keys[i];
	return NULL;
}

int
graph_keyring_add(struct graph_keyring *kr, const char *cert_id, const char *key_file,
    char **err)
{
	struct graph_key *slot;
	EVP_PKEY *key;

	if (cert_id == NULL || cert_id[0] == '\0' || strlen(cert_id) > GRAPH_CERT_ID_MAX) {
		*err = xasprintf("%s: the encryption certificate id must be 1 to %d bytes",
		    key_file, GRAPH_CERT_ID_MAX);
		return -1;
	}
	slot = find_key(kr, cert_id);
	if (slot == NULL && kr->n == GRAPH_KEYRING_MAX) {
		*err = xasprintf("%s: more than %d Graph encryption keys", key_file,
		    GRAPH_KEYRING_MAX);
		return -1;
	}
	key = load_rsa_key(key_file, err);
	if (key == NULL)
		return -1;
	if (slot == NULL) {
		slot = &kr->keys[kr->n++];
		slot->cert_id = xstrdup(cert_id);
	}
	EVP_PKEY_free(slot->key);
	slot->key = key;
	return 0;
}

char *
graph_cert_b64(const char *cert_file, char **err)
{
	BIO *bio = BIO_new_file(cert_file, "r");
	X509 *cert = NULL;
	unsigned char *der = NULL;
	char *b64 = NULL;
	int len = -1;

	if (bio != NULL)
		cert = PEM_read_bio_X509(bio, NULL, refuse_passphrase_cb, NULL);
	if (cert != NULL)
		len = i2d_X509(cert, &der);
	if (len > 0)
		b64 = crypto_b64_encode(der, (size_t)len, 0);
	else
		*err = xasprintf("%s holds no PEM certificate", cert_file);
	ERR_clear_error();
	OPENSSL_free(der);
	X509_free(cert);
	BIO_free(bio);
	return b64;
}

const char *
graph_decrypt_result_name(enum graph_decrypt_result r)
{
	switch (r) {
	case GRAPH_DECRYPT_OK: return "ok";
	case GRAPH_DECRYPT_UNKNOWN_KEY: return "unknown_key";
	case GRAPH_DECRYPT_BAD_KEY: return "bad_key";
	case GRAPH_DECRYPT_BAD_SIGNATURE: return "bad_signature";
	case GRAPH_DECRYPT_BAD_DATA: return "bad_data";
	}
	return "unknown";
}

/* Decodes a non-empty base64 field of at most max characters; 0 or -1 (*err set). */
static int
decode_field(const char *name, const char *b64, size_t max, unsigned char **out,
    size_t *outlen, char **err)
{
	size_t len = b64 != NULL ? strlen(b64) : 0;

	if (len == 0 || len > max || crypto_b64_decode(b64, len, out, outlen) == -1 ||
	    *outlen == 0) {
		*err = xasprintf("%s is missing, longer than %zu or not base64", name, max);
		return -1;
	}
	return 0;
}

static int
decode_all(struct decrypt_state *st, const char *data_key_b64, const char *data_b64,
    const char *data_signature_b64, char **err)
{
	if (decode_field("dataKey", data_key_b64, GRAPH_DATA_KEY_B64_MAX, &st->wrapped,
	    &st->wrapped_len, err) == -1 ||
	    decode_field("dataSignature", data_signature_b64, GRAPH_SIGNATURE_B64_MAX, &st->sig,
	    &st->sig_len, err) == -1 ||
	    decode_field("data", data_b64, GRAPH_DATA_B64_MAX, &st->data, &st->data_len,
	    err) == -1)
		return -1;
	if (st->data_len > GRAPH_DATA_MAX) {
		*err = xasprintf("data is longer than %d bytes", GRAPH_DATA_MAX);
		return -1;
	}
	return 0;
}

/* RSA-OAEP with SHA-1 and MGF1-SHA-1, the way Graph wraps the key.  0 or -1. */
static int
rsa_oaep_sha1_decrypt(EVP_PKEY *key, const unsigned char *in, size_t inlen,
    unsigned char *out, size_t *outlen)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
	int ok;

	ok = ctx != NULL &&
	    EVP_PKEY_decrypt_init(ctx) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha1()) > 0 &&
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha1()) > 0 &&
	    EVP_PKEY_decrypt(ctx, out, outlen, in, inlen) == 1;
	EVP_PKEY_CTX_free(ctx);
	/* A wrong key or padding leaves errors behind that must not leak into the next call. */
	ERR_clear_error();
	return ok ? 0 : -1;
}

static enum graph_decrypt_result
unwrap_key(EVP_PKEY *key, struct decrypt_state *st, char **err)
{
	size_t size = (size_t)EVP_PKEY_get_size(key), len = size;
	unsigned char *buf;
	int rc;

	if (st->wrapped_len != size) {
		*err = xasprintf("dataKey is %zu bytes, the key takes %zu", st->wrapped_len, size);
		return GRAPH_DECRYPT_BAD_KEY;
	}
	buf = xmalloc(size);
	rc = rsa_oaep_sha1_decrypt(key, st->wrapped, st->wrapped_len, buf, &len);
	if (rc == 0 && len == GRAPH_SYM_KEY_LEN)
		memcpy(st->sym, buf, GRAPH_SYM_KEY_LEN);
	OPENSSL_cleanse(buf, size);
	free(buf);
	if (rc == -1) {
		*err = xstrdup("dataKey does not unwrap with RSA-OAEP-SHA1 under this key");
		return GRAPH_DECRYPT_BAD_KEY;
	}
	if (len != GRAPH_SYM_KEY_LEN) {
		*err = xasprintf("the unwrapped key is %zu bytes, not %d", len, GRAPH_SYM_KEY_LEN);
		return GRAPH_DECRYPT_BAD_KEY;
	}
	return GRAPH_DECRYPT_OK;
}

static enum graph_decrypt_result
check_signature(const struct decrypt_state *st, char **err)
{
	unsigned char mac[CRYPTO_SHA256_LEN];
	int ok;

	if (st->sig_len != CRYPTO_SHA256_LEN) {
		*err = xasprintf("dataSignature is %zu bytes, not %d", st->sig_len,
		    CRYPTO_SHA256_LEN);
		return GRAPH_DECRYPT_BAD_SIGNATURE;
	}
	ok = crypto_hmac_sha256(st->sym, sizeof(st->sym), st->data, st->data_len, mac) == 0 &&
	    crypto_memeq(mac, st->sig, CRYPTO_SHA256_LEN);
	OPENSSL_cleanse(mac, sizeof(mac));
	if (!ok) {
		*err = xstrdup("dataSignature does not match the data");
		return GRAPH_DECRYPT_BAD_SIGNATURE;
	}
	return GRAPH_DECRYPT_OK;
}

/* AES-256-CBC, PKCS7 padding, IV = the key's first 16 bytes.  *out is NUL-terminated. */
static enum graph_decrypt_result
aes_decrypt(const struct decrypt_state *st, unsigned char **out, size_t *outlen, char **err)
{
	EVP_CIPHER_CTX *ctx;
	unsigned char *buf;
	size_t cap = st->data_len + GRAPH_AES_BLOCK + 1;
	int n1 = 0, n2 = 0, ok;

	if (st->data_len % GRAPH_AES_BLOCK != 0) {
		*err = xasprintf("data is %zu bytes, not whole AES blocks", st->data_len);
		return GRAPH_DECRYPT_BAD_DATA;
	}
	ctx = EVP_CIPHER_CTX_new();
	buf = xmalloc(cap);
	/* data_len is at most GRAPH_DATA_MAX, so it fits an int. */
	ok = ctx != NULL &&
	    EVP_DecryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, st->sym, st->sym) == 1 &&
	    EVP_DecryptUpdate(ctx, buf, &n1, st->data, (int)st->data_len) == 1 &&
	    EVP_DecryptFinal_ex(ctx, buf + n1, &n2) == 1;
	EVP_CIPHER_CTX_free(ctx);
	ERR_clear_error();
	if (!ok) {
		OPENSSL_cleanse(buf, cap);
		free(buf);
		*err = xstrdup("data does not decrypt (bad padding)");
		return GRAPH_DECRYPT_BAD_DATA;
	}
	*outlen = (size_t)n1 + (size_t)n2;
	buf[*outlen] = '\0';
	*out = buf;
	return GRAPH_DECRYPT_OK;
}

static void
decrypt_state_clear(struct decrypt_state *st)
{
	if (st->wrapped != NULL)
		OPENSSL_cleanse(st->wrapped, st->wrapped_len);
	free(st->wrapped);
	free(st->data);
	free(st->sig);
	OPENSSL_cleanse(st, sizeof(*st));
}

enum graph_decrypt_result
graph_decrypt(const struct graph_keyring *kr, const char *cert_id, const char *data_key_b64,
    const char *data_b64, const char *data_signature_b64, unsigned char **out,
    size_t *outlen, char **err)
{
	struct decrypt_state st;
	struct graph_key *k = cert_id != NULL ? find_key(kr, cert_id) : NULL;
	enum graph_decrypt_result r;

	*out = NULL;
	*outlen = 0;
	if (k == NULL) {
		*err = xstrdup("no key for this encryptionCertificateId");
		return GRAPH_DECRYPT_UNKNOWN_KEY;
	}
	memset(&st, 0, sizeof(st));
	r = GRAPH_DECRYPT_BAD_DATA;
	if (decode_all(&st, data_key_b64, data_b64, data_signature_b64, err) == -1)
		goto out;
	r = unwrap_key(k->key, &st, err);
	if (r != GRAPH_DECRYPT_OK)
		goto out;
	r = check_signature(&st, err);
	if (r != GRAPH_DECRYPT_OK)
		goto out;
	r = aes_decrypt(&st, out, outlen, err);
out:
	decrypt_state_clear(&st);
	return r;
}
