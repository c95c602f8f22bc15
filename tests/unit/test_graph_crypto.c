/*
 * Unit tests: graph_crypto.  RSA keys are made at test time and written to
 * a temporary directory; samples are encrypted here the way Graph does it
 * (RSA-OAEP-SHA1 wrapped key, HMAC-SHA256 over the ciphertext, AES-256-CBC
 * with the key's first 16 bytes as IV), then tampered with in every way
 * that has a result of its own.
 */
#include "crypto.h"
#include "graph_crypto.h"
#include "log.h"
#include "util.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#define SAMPLE "{\"id\":\"AAMkAGI2\",\"subject\":\"Quarterly report\",\"body\":\"user data\"}"

static char dir[] = "/tmp/rekey-test-graph-crypto.XXXXXX";
static char path_buf[8][512];
static int path_n;

/* What Graph puts in encryptedContent, base64 (standard). */
struct sample {
	char *data_key;
	char *data;
	char *sig;
};

/* How to make a sample, including the ways of getting it wrong. */
struct recipe {
	const EVP_MD *oaep_md;		/* Graph: SHA-1 */
	size_t key_len;			/* Graph: 32 */
	int no_padding;			/* encrypt without PKCS7 (the plaintext must be whole blocks) */
	size_t cut;			/* bytes taken off the ciphertext ... */
	int cut_before_mac;		/* ... before the HMAC (1) or after it (0) */
};

static const struct recipe graph_recipe = { NULL, 32, 0, 0, 0 };

static const char *
path(const char *name)
{
	char *p = path_buf[path_n++ % 8];

	snprintf(p, sizeof(path_buf[0]), "%s/%s", dir, name);
	return p;
}

static void
write_key(const char *file, EVP_PKEY *key, mode_t mode)
{
	FILE *f = fopen(file, "w");

	PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(file, mode);
}

static EVP_PKEY *
rsa_key(size_t bits)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);
}

static int
wrap(EVP_PKEY *key, const EVP_MD *md, const unsigned char *in, size_t len,
    unsigned char **out, size_t *outlen)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
	int ok;

	*out = xmalloc((size_t)EVP_PKEY_get_size(key));
	*outlen = (size_t)EVP_PKEY_get_size(key);
	ok = EVP_PKEY_encrypt_init(ctx) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) > 0 &&
	    EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) > 0 &&
	    EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) > 0 &&
	    EVP_PKEY_encrypt(ctx, *out, outlen, in, len) == 1;
	EVP_PKEY_CTX_free(ctx);
	return ok ? 0 : -1;
}

static size_t
aes_cbc(const unsigned char key[32], int padding, const void *pt, size_t len,
    unsigned char *out)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n1 = 0, n2 = 0;

	EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, key);
	EVP_CIPHER_CTX_set_padding(ctx, padding);
	EVP_EncryptUpdate(ctx, out, &n1, pt, (int)len);
	EVP_EncryptFinal_ex(ctx, out + n1, &n2);
	EVP_CIPHER_CTX_free(ctx);
	return (size_t)(n1 + n2);
}

/* Encrypts pt to key as Graph would, varied by r. */
static void
seal(EVP_PKEY *key, const struct recipe *r, const void *pt, size_t len, struct sample *s)
{
	unsigned char sym[32], mac[32], *wrapped = NULL, *ct = xmalloc(len + 32);
	size_t wlen = 0, ctlen;

	crypto_random(sym, sizeof(sym));
	if (wrap(key, r->oaep_md != NULL ? r->oaep_md : EVP_sha1(), sym, r->key_len, &wrapped,
	    &wlen) == -1)
		abort();
	ctlen = aes_cbc(sym, !r->no_padding, pt, len, ct);
	if (r->cut_before_mac)
		ctlen -= r->cut;
	crypto_hmac_sha256(sym, r->key_len, ct, ctlen, mac);
	if (!r->cut_before_mac)
		ctlen -= r->cut;
	s->data_key = crypto_b64_encode(wrapped, wlen, 0);
	s->data = crypto_b64_encode(ct, ctlen, 0);
	s->sig = crypto_b64_encode(mac, sizeof(mac), 0);
	free(wrapped);
	free(ct);
}

static void
sample_clear(struct sample *s)
{
	free(s->data_key);
	free(s->data);
	free(s->sig);
	memset(s, 0, sizeof(*s));
}

/* Flips one bit of the byte at index i of a base64 field, keeping it base64. */
static void
tamper(char **b64, size_t i)
{
	unsigned char *raw = NULL;
	size_t len = 0;

	crypto_b64_decode(*b64, strlen(*b64), &raw, &len);
	raw[i % len] ^= 0x01;
	free(*b64);
	*b64 = crypto_b64_encode(raw, len, 0);
	free(raw);
}

/* Decrypts s under cert_id; the result, and whether the plaintext is want. */
static enum graph_decrypt_result
open_sample(const struct graph_keyring *kr, const char *cert_id, const struct sample *s,
    const char *want, int *match, char **err)
{
	unsigned char *out = NULL;
	size_t outlen = 0;
	enum graph_decrypt_result r;

	*err = NULL;
	r = graph_decrypt(kr, cert_id, s->data_key, s->data, s->sig, &out, &outlen, err);
	*match = out != NULL && want != NULL && outlen == strlen(want) &&
	    memcmp(out, want, outlen) == 0 && out[outlen] == '\0';
	if (out != NULL) {
		OPENSSL_cleanse(out, outlen);
		free(out);
	}
	if (r == GRAPH_DECRYPT_OK && *err != NULL)
		*match = 0;
	return r;
}

/* Checks one failing case: its result, an error text, no output, a clean error queue. */
static void
expect_failure(const struct graph_keyring *kr, const char *cert_id, const struct sample *s,
    enum graph_decrypt_result want, const char *name)
{
	enum graph_decrypt_result r;
	char *err = NULL;
	int match;

	r = open_sample(kr, cert_id, s, NULL, &match, &err);
	TAP_OK(r == want, "%s: %s (got %s: %s)", name, graph_decrypt_result_name(want),
	    graph_decrypt_result_name(r), err != NULL ? err : "no error text");
	TAP_OK(err != NULL && err[0] != '\0', "%s: a reason is given", name);
	TAP_OK(ERR_peek_error() == 0, "%s: the OpenSSL error queue is empty", name);
	ERR_clear_error();
	free(err);
}

static void
test_names(void)
{
	TAP_STR_EQ(graph_decrypt_result_name(GRAPH_DECRYPT_OK), "ok", "name: ok");
	TAP_STR_EQ(graph_decrypt_result_name(GRAPH_DECRYPT_UNKNOWN_KEY), "unknown_key",
	    "name: unknown_key");
	TAP_STR_EQ(graph_decrypt_result_name(GRAPH_DECRYPT_BAD_KEY), "bad_key", "name: bad_key");
	TAP_STR_EQ(graph_decrypt_result_name(GRAPH_DECRYPT_BAD_SIGNATURE), "bad_signature",
	    "name: bad_signature");
	TAP_STR_EQ(graph_decrypt_result_name(GRAPH_DECRYPT_BAD_DATA), "bad_data",
	    "name: bad_data");
}

static void
test_round_trip(struct graph_keyring *kr, EVP_PKEY *old_key, EVP_PKEY *new_key)
{
	struct sample a, b;
	char *err = NULL, *big;
	int match;
	enum graph_decrypt_result r;

	seal(old_key, &graph_recipe, SAMPLE, strlen(SAMPLE), &a);
	r = open_sample(kr, "cert-old", &a, SAMPLE, &match, &err);
	TAP_OK(r == GRAPH_DECRYPT_OK && match, "ok: the sample decrypts (%s)",
	    err != NULL ? err : "");
	free(err);
	seal(new_key, &graph_recipe, SAMPLE, strlen(SAMPLE), &b);
	r = open_sample(kr, "cert-new", &b, SAMPLE, &match, &err);
	TAP_OK(r == GRAPH_DECRYPT_OK && match, "two keys: the new certificate's sample decrypts");
	free(err);
	r = open_sample(kr, "cert-old", &a, SAMPLE, &match, &err);
	TAP_OK(r == GRAPH_DECRYPT_OK && match, "two keys: the old one's still does");
	free(err);
	expect_failure(kr, "cert-new", &a, GRAPH_DECRYPT_BAD_KEY, "wrong key");
	expect_failure(kr, "cert-unknown", &a, GRAPH_DECRYPT_UNKNOWN_KEY, "unknown cert id");
	expect_failure(kr, NULL, &a, GRAPH_DECRYPT_UNKNOWN_KEY, "NULL cert id");
	sample_clear(&a);
	sample_clear(&b);

	/* Empty plaintext and one of 200 KiB (a message with a big body). */
	seal(old_key, &graph_recipe, "", 0, &a);
	r = open_sample(kr, "cert-old", &a, "", &match, &err);
	TAP_OK(r == GRAPH_DECRYPT_OK && match, "ok: empty plaintext (one block of padding)");
	free(err);
	sample_clear(&a);
	big = xmalloc(200 * 1024 + 1);
	memset(big, 'x', 200 * 1024);
	big[200 * 1024] = '\0';
	seal(old_key, &graph_recipe, big, strlen(big), &a);
	r = open_sample(kr, "cert-old", &a, big, &match, &err);
	TAP_OK(r == GRAPH_DECRYPT_OK && match, "ok: 200 KiB plaintext");
	free(err);
	sample_clear(&a);
	free(big);
}

/* A sample made by a recipe, then with one bit of one field flipped (or none). */
struct tamper_case {
	const char *name;
	struct recipe recipe;	/* a zero oaep_md means SHA-1 */
	int field;		/* -1 none, 0 dataKey, 1 data, 2 dataSignature */
	size_t byte;
	const void *pt;		/* NULL: SAMPLE */
	size_t pt_len;
	enum graph_decrypt_result want;
};

static const struct tamper_case tamper_cases[] = {
	{ "tampered dataSignature", { NULL, 32, 0, 0, 0 }, 2, 5, NULL, 0,
	  GRAPH_DECRYPT_BAD_SIGNATURE },
	{ "tampered data", { NULL, 32, 0, 0, 0 }, 1, 20, NULL, 0, GRAPH_DECRYPT_BAD_SIGNATURE },
	{ "tampered dataKey", { NULL, 32, 0, 0, 0 }, 0, 100, NULL, 0, GRAPH_DECRYPT_BAD_KEY },
	{ "31-byte key", { NULL, 31, 0, 0, 0 }, -1, 0, NULL, 0, GRAPH_DECRYPT_BAD_KEY },
	{ "truncated ciphertext, signature of the whole", { NULL, 32, 0, 16, 0 }, -1, 0, NULL, 0,
	  GRAPH_DECRYPT_BAD_SIGNATURE },
	{ "truncated ciphertext, signed as truncated (not whole blocks)", { NULL, 32, 0, 5, 1 },
	  -1, 0, NULL, 0, GRAPH_DECRYPT_BAD_DATA },
	/* A last block that ends in 0x00 is not PKCS7 padding; the HMAC is right. */
	{ "bad padding, good signature", { NULL, 32, 1, 0, 0 }, -1, 0, "0123456789abcde\0", 16,
	  GRAPH_DECRYPT_BAD_DATA },
};

static void
test_tampering(struct graph_keyring *kr, EVP_PKEY *key)
{
	struct recipe r = graph_recipe;
	struct sample s;
	char **field;
	size_t i;

	for (i = 0; i < sizeof(tamper_cases) / sizeof(tamper_cases[0]); i++) {
		const struct tamper_case *c = &tamper_cases[i];

		if (c->pt != NULL)
			seal(key, &c->recipe, c->pt, c->pt_len, &s);
		else
			seal(key, &c->recipe, SAMPLE, strlen(SAMPLE), &s);
		field = c->field == 0 ? &s.data_key : c->field == 1 ? &s.data : &s.sig;
		if (c->field >= 0)
			tamper(field, c->byte);
		expect_failure(kr, "cert-old", &s, c->want, c->name);
		sample_clear(&s);
	}
	/* Graph's own padding is OAEP with SHA-1; SHA-256 is a different wrapping. */
	r.oaep_md = EVP_sha256();
	seal(key, &r, SAMPLE, strlen(SAMPLE), &s);
	expect_failure(kr, "cert-old", &s, GRAPH_DECRYPT_BAD_KEY, "OAEP-SHA256 wrapped key");
	sample_clear(&s);
}

struct field_case {
	const char *name;
	int field;		/* 0 dataKey, 1 data, 2 dataSignature */
	const char *value;	/* NULL: the field is missing */
	enum graph_decrypt_result want;
};

static const struct field_case field_cases[] = {
	{ "dataKey not base64", 0, "not*base64!", GRAPH_DECRYPT_BAD_DATA },
	{ "dataKey empty", 0, "", GRAPH_DECRYPT_BAD_DATA },
	{ "dataKey missing", 0, NULL, GRAPH_DECRYPT_BAD_DATA },
	{ "dataKey short", 0, "AAAA", GRAPH_DECRYPT_BAD_KEY },
	{ "data not base64", 1, "%%%%", GRAPH_DECRYPT_BAD_DATA },
	{ "data with whitespace", 1, "AAAA AAAA", GRAPH_DECRYPT_BAD_DATA },
	{ "data empty", 1, "", GRAPH_DECRYPT_BAD_DATA },
	{ "data missing", 1, NULL, GRAPH_DECRYPT_BAD_DATA },
	{ "dataSignature not base64", 2, "a=b=", GRAPH_DECRYPT_BAD_DATA },
	{ "dataSignature missing", 2, NULL, GRAPH_DECRYPT_BAD_DATA },
	{ "dataSignature short", 2, "AAAAAAAAAAAA", GRAPH_DECRYPT_BAD_SIGNATURE },
};

static void
test_fields(struct graph_keyring *kr, EVP_PKEY *key)
{
	struct sample s;
	char **field;
	size_t i;

	for (i = 0; i < sizeof(field_cases) / sizeof(field_cases[0]); i++) {
		const struct field_case *c = &field_cases[i];

		seal(key, &graph_recipe, SAMPLE, strlen(SAMPLE), &s);
		field = c->field == 0 ? &s.data_key : c->field == 1 ? &s.data : &s.sig;
		free(*field);
		*field = c->value != NULL ? xstrdup(c->value) : NULL;
		expect_failure(kr, "cert-old", &s, c->want, c->name);
		sample_clear(&s);
	}
}

/* More than 1 MiB of data is refused before any RSA work. */
static void
test_too_big(struct graph_keyring *kr, EVP_PKEY *key)
{
	size_t n = GRAPH_DATA_MAX + 16;
	unsigned char *raw = xcalloc(1, n);
	struct sample s;

	seal(key, &graph_recipe, SAMPLE, strlen(SAMPLE), &s);
	free(s.data);
	s.data = crypto_b64_encode(raw, n, 0);
	expect_failure(kr, "cert-old", &s, GRAPH_DECRYPT_BAD_DATA, "data over 1 MiB");
	sample_clear(&s);
	free(raw);
}

static void
expect_add_error(struct graph_keyring *kr, const char *file, const char *name)
{
	char *err = NULL;
	size_t before = graph_keyring_count(kr);

	TAP_OK(graph_keyring_add(kr, "cert-x", file, &err) == -1, "%s: refused", name);
	TAP_OK(err != NULL && strstr(err, file) != NULL, "%s: the error names the file (%s)",
	    name, err != NULL ? err : "none");
	TAP_OK(graph_keyring_count(kr) == before, "%s: nothing added", name);
	TAP_OK(ERR_peek_error() == 0, "%s: the OpenSSL error queue is empty", name);
	free(err);
}

static void
test_key_files(struct graph_keyring *kr, EVP_PKEY *key)
{
	EVP_PKEY *small = rsa_key(1024), *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	FILE *f;
	char *err = NULL;

	write_key(path("small.key"), small, 0600);
	write_key(path("ec.key"), ec, 0600);
	write_key(path("open.key"), key, 0644);
	f = fopen(path("garbage.key"), "w");
	/* Split so that no tracked file looks like it holds a private key. */
	fputs("-----BEGIN " "PRIVATE KEY-----\nnot a key\n-----END " "PRIVATE KEY-----\n", f);
	fclose(f);
	chmod(path("garbage.key"), 0600);
	expect_add_error(kr, path("missing.key"), "missing key file");
	expect_add_error(kr, path("ec.key"), "EC key");
	expect_add_error(kr, path("small.key"), "1024-bit key");
	expect_add_error(kr, path("open.key"), "group-readable key");
	expect_add_error(kr, path("garbage.key"), "garbage key");
	TAP_OK(graph_keyring_add(kr, "", path("old.key"), &err) == -1 && err != NULL,
	    "empty cert id refused");
	free(err);
	err = NULL;
	TAP_OK(graph_keyring_add(kr, "cert-old", path("old.key"), &err) == 0 &&
	    graph_keyring_count(kr) == 2, "the same cert id again replaces the key");
	free(err);
	EVP_PKEY_free(small);
	EVP_PKEY_free(ec);
}

static void
test_cert_b64(EVP_PKEY *key)
{
	X509 *x = X509_new(), *back = NULL;
	unsigned char *der = NULL;
	const unsigned char *p;
	size_t len = 0;
	char *b64, *err = NULL;
	FILE *f;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)"graph-encryption", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	X509_sign(x, key, EVP_sha256());
	f = fopen(path("enc.crt"), "w");
	PEM_write_X509(f, x);
	fclose(f);

	b64 = graph_cert_b64(path("enc.crt"), &err);
	TAP_OK(b64 != NULL && strchr(b64, '-') == NULL && strchr(b64, '_') == NULL,
	    "certificate: standard base64");
	if (b64 != NULL && crypto_b64_decode(b64, strlen(b64), &der, &len) == 0) {
		p = der;
		back = d2i_X509(NULL, &p, (long)len);
	}
	TAP_OK(back != NULL && X509_cmp(x, back) == 0, "certificate: the DER of the certificate");
	free(b64);
	free(der);
	X509_free(back);
	X509_free(x);

	b64 = graph_cert_b64(path("none.crt"), &err);
	TAP_OK(b64 == NULL && err != NULL && strstr(err, path("none.crt")) != NULL,
	    "certificate: a missing file is named (%s)", err != NULL ? err : "none");
	free(err);
	err = NULL;
	b64 = graph_cert_b64(path("old.key"), &err);
	TAP_OK(b64 == NULL && err != NULL && ERR_peek_error() == 0,
	    "certificate: a key file is not a certificate");
	free(err);
}

int
main(void)
{
	struct graph_keyring *kr;
	EVP_PKEY *old_key, *new_key;
	char *err = NULL;
	char cmd[600];

	log_set_level(LOG_LEVEL_ERROR);
	if (mkdtemp(dir) == NULL)
		return 1;
	old_key = rsa_key(2048);
	new_key = rsa_key(2048);
	write_key(path("old.key"), old_key, 0600);
	write_key(path("new.key"), new_key, 0600);
	kr = graph_keyring_new();
	TAP_OK(graph_keyring_count(kr) == 0, "a new keyring is empty");
	TAP_OK(graph_keyring_add(kr, "cert-old", path("old.key"), &err) == 0, "old key loads");
	TAP_OK(graph_keyring_add(kr, "cert-new", path("new.key"), &err) == 0, "new key loads");
	TAP_OK(graph_keyring_count(kr) == 2, "two keys");
	test_names();
	test_round_trip(kr, old_key, new_key);
	test_tampering(kr, old_key);
	test_fields(kr, old_key);
	test_too_big(kr, old_key);
	test_key_files(kr, old_key);
	test_cert_b64(old_key);
	graph_keyring_free(kr);
	graph_keyring_free(NULL);
	EVP_PKEY_free(old_key);
	EVP_PKEY_free(new_key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return tap_done();
}
