/*
 * Unit tests for crypto: published vectors for HMAC-SHA256 (RFC 4231),
 * SHA-256 (FIPS 180-2) and base64 (RFC 4648), the AEAD's refusal of
 * every kind of tampering, and the Standard Webhooks reference signature.
 */
#include "lib/crypto.h"
#include "lib/secret.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>

#define MAX_BIN 256

/* Fills buf with n copies of c and returns buf, for the repeated-byte keys of RFC 4231. */
static unsigned char *
fill(unsigned char *buf, int c, size_t n)
{
	memset(buf, c, n);
	return buf;
}

/* Hex of the n bytes at p, in a static buffer (tests only). */
static const char *
hex(const unsigned char *p, size_t n)
{
	static char out[2 * MAX_BIN + 1];

	crypto_hex_encode(p, n, out);
	return out;
}

/* Decodes a hex test constant; the constants are known to be valid. */
static size_t
unhex(const char *h, unsigned char *out)
{
	ssize_t n = crypto_hex_decode(h, strlen(h), out, MAX_BIN);

	return n < 0 ? 0 : (size_t)n;
}

struct hmac_case {
	const char *name;
	const char *key_hex;	/* NULL: key_byte repeated key_len times */
	int key_byte;
	size_t key_len;
	const char *data;	/* NULL: data_byte repeated data_len times */
	int data_byte;
	size_t data_len;
	const char *mac;
};

static const struct hmac_case hmac_cases[] = {
	{ "RFC 4231 case 1", NULL, 0x0b, 20, "Hi There", 0, 0,
	  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7" },
	{ "RFC 4231 case 2", "4a656665", 0, 0, "what do ya want for nothing?", 0, 0,
	  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" },
	{ "RFC 4231 case 3", NULL, 0xaa, 20, NULL, 0xdd, 50,
	  "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe" },
	{ "RFC 4231 case 4", "0102030405060708090a0b0c0d0e0f10111213141516171819", 0, 0,
	  NULL, 0xcd, 50,
	  "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b" },
	{ "RFC 4231 case 6", NULL, 0xaa, 131,
	  "Test Using Larger Than Block-Size Key - Hash Key First", 0, 0,
	  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54" },
	{ "RFC 4231 case 7", NULL, 0xaa, 131,
	  "This is a test using a larger than block-size key and a larger than "
	  "block-size data. The key needs to be hashed before being used by the "
	  "HMAC algorithm.", 0, 0,
	  "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2" },
	/* An empty key and an empty message (Python: hmac.new(b"", b"", "sha256")). */
	{ "empty key and message", NULL, 0, 0, "", 0, 0,
	  "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad" },
};

static void
test_hmac(void)
{
	unsigned char key[MAX_BIN], data[MAX_BIN], mac[CRYPTO_SHA256_LEN];
	size_t i, keylen, datalen;
	int rc;

	for (i = 0; i < sizeof(hmac_cases) / sizeof(hmac_cases[0]); i++) {
		const struct hmac_case *c = &hmac_cases[i];

		if (c->key_hex != NULL) {
			keylen = unhex(c->key_hex, key);
		} else {
			keylen = c->key_len;
			fill(key, c->key_byte, keylen);
		}
		if (c->data != NULL) {
			datalen = strlen(c->data);
			memcpy(data, c->data, datalen);
		} else {
			datalen = c->data_len;
			fill(data, c->data_byte, datalen);
		}
		rc = crypto_hmac_sha256(key, keylen, data, datalen, mac);
		TAP_OK(rc == 0, "hmac: %s returns 0", c->name);
		TAP_STR_EQ(hex(mac, sizeof(mac)), c->mac, "hmac: %s", c->name);
	}
	/* RFC 4231 case 5 tests truncation: the first 128 bits of the full MAC. */
	crypto_hmac_sha256(fill(key, 0x0c, 20), 20, "Test With Truncation", 20, mac);
	TAP_STR_EQ(hex(mac, 16), "a3b6167473100ee06e0c796c2955552b",
	    "hmac: RFC 4231 case 5 (truncated to 128 bits)");
	TAP_OK(crypto_hmac_sha256(NULL, 0, NULL, 0, mac) == 0,
	    "hmac: empty key and message are accepted");
	TAP_STR_EQ(hex(mac, sizeof(mac)),
	    "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
	    "hmac: empty key and message");
}

struct sha_case {
	const char *msg;
	const char *digest;
};

static const struct sha_case sha_cases[] = {
	{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
	{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
	{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
	  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
};

static void
test_sha256(void)
{
	unsigned char d[CRYPTO_SHA256_LEN];
	size_t i;

	for (i = 0; i < sizeof(sha_cases) / sizeof(sha_cases[0]); i++) {
		TAP_OK(crypto_sha256(sha_cases[i].msg, strlen(sha_cases[i].msg), d) == 0,
		    "sha256: \"%s\" returns 0", sha_cases[i].msg);
		TAP_STR_EQ(hex(d, sizeof(d)), sha_cases[i].digest,
		    "sha256: \"%s\"", sha_cases[i].msg);
	}
}

struct hex_bad {
	const char *name;
	const char *in;
	size_t outsize;
};

static const struct hex_bad hex_bad_cases[] = {
	{ "odd length", "abc", 8 },
	{ "non-hex character", "0g", 8 },
	{ "non-hex character in the first digit", "x0", 8 },
	{ "space", "00 1", 8 },
	{ "output too small", "00010203", 3 },
};

static void
test_hex(void)
{
	static const unsigned char bytes[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
	unsigned char out[16];
	char enc[2 * sizeof(bytes) + 1];
	ssize_t n;
	size_t i;

	crypto_hex_encode(bytes, sizeof(bytes), enc);
	TAP_STR_EQ(enc, "00017f80abff", "hex: encode is lowercase");
	n = crypto_hex_decode(enc, strlen(enc), out, sizeof(out));
	TAP_OK(n == (ssize_t)sizeof(bytes) && memcmp(out, bytes, sizeof(bytes)) == 0,
	    "hex: round trip");
	n = crypto_hex_decode("00017F80ABFF", 12, out, sizeof(bytes));
	TAP_OK(n == (ssize_t)sizeof(bytes) && memcmp(out, bytes, sizeof(bytes)) == 0,
	    "hex: uppercase decodes, output exactly the right size");
	TAP_OK(crypto_hex_decode("", 0, out, 0) == 0, "hex: empty decodes to nothing");
	crypto_hex_encode(bytes, 0, enc);
	TAP_STR_EQ(enc, "", "hex: empty encodes to the empty string");
	for (i = 0; i < sizeof(hex_bad_cases) / sizeof(hex_bad_cases[0]); i++) {
		const struct hex_bad *c = &hex_bad_cases[i];

		TAP_OK(crypto_hex_decode(c->in, strlen(c->in), out, c->outsize) == -1,
		    "hex: %s rejected", c->name);
	}
}

struct b64_case {
	const char *name;
	const char *plain_hex;
	const char *std;	/* padded standard alphabet */
	const char *url;	/* unpadded URL alphabet */
};

/* RFC 4648 section 10, plus inputs whose encodings use the alphabet-specific characters. */
static const struct b64_case b64_cases[] = {
	{ "\"\"", "", "", "" },
	{ "\"f\"", "66", "Zg==", "Zg" },
	{ "\"fo\"", "666f", "Zm8=", "Zm8" },
	{ "\"foo\"", "666f6f", "Zm9v", "Zm9v" },
	{ "\"foob\"", "666f6f62", "Zm9vYg==", "Zm9vYg" },
	{ "\"fooba\"", "666f6f6261", "Zm9vYmE=", "Zm9vYmE" },
	{ "\"foobar\"", "666f6f626172", "Zm9vYmFy", "Zm9vYmFy" },
	{ "fbff", "fbff", "+/8=", "-_8" },
	{ "fbffbf", "fbffbf", "+/+/", "-_-_" },
	{ "ff", "ff", "/w==", "_w" },
	{ "f8", "f8", "+A==", "-A" },
};

/* Decodes s (its whole length) and checks that it yields the n bytes at want. */
static int
b64_decodes_to(const char *s, const unsigned char *want, size_t n)
{
	unsigned char *out = NULL;
	size_t outlen = 0;
	int ok;

	if (crypto_b64_decode(s, strlen(s), &out, &outlen) == -1)
		return 0;
	ok = outlen == n && memcmp(out, want, n) == 0;
	free(out);
	return ok;
}

/* s with its trailing '=' removed, or with padding added, in a static buffer. */
static const char *
b64_repad(const char *s, int pad)
{
	static char buf[64];
	size_t n = strlen(s);

	while (n > 0 && s[n - 1] == '=')
		n--;
	memcpy(buf, s, n);
	while (pad && n % 4 != 0)
		buf[n++] = '=';
	buf[n] = '\0';
	return buf;
}

static void
test_b64_vectors(void)
{
	unsigned char plain[MAX_BIN];
	size_t i, n;
	char *enc;

	for (i = 0; i < sizeof(b64_cases) / sizeof(b64_cases[0]); i++) {
		const struct b64_case *c = &b64_cases[i];

		n = unhex(c->plain_hex, plain);
		enc = crypto_b64_encode(plain, n, 0);
		TAP_STR_EQ(enc, c->std, "b64: encode %s, standard", c->name);
		free(enc);
		enc = crypto_b64_encode(plain, n, 1);
		TAP_STR_EQ(enc, c->url, "b64: encode %s, URL-safe", c->name);
		free(enc);
		TAP_OK(b64_decodes_to(c->std, plain, n), "b64: decode %s, standard padded", c->name);
		TAP_OK(b64_decodes_to(b64_repad(c->std, 0), plain, n),
		    "b64: decode %s, standard unpadded", c->name);
		TAP_OK(b64_decodes_to(c->url, plain, n), "b64: decode %s, URL-safe unpadded", c->name);
		TAP_OK(b64_decodes_to(b64_repad(c->url, 1), plain, n),
		    "b64: decode %s, URL-safe padded", c->name);
	}
}

static const char *const b64_bad[] = {
	"Z",		/* one character cannot hold a byte */
	"Zm9vY",	/* nor can a final quad of one */
	"Zg=",		/* padded but not a whole quad */
	"Z===",		/* too much padding */
	"====",
	"Zg==Zg==",	/* padding in the middle */
	"=Zg=",
	"Zm9v=",
	"Zm9v====",
	"Zm9v!",	/* not in either alphabet */
	"Zm 9v",	/* whitespace is not allowed */
	"Zm9v\n",
	"Zm9v\r\n",
	"+/-_",		/* the two alphabets mixed */
	"Zh==",		/* non-zero bits after the last byte */
	"Zm9=",
	"Zh",
};

static void
test_b64_invalid(void)
{
	static unsigned char sentinel[1];
	unsigned char *out;
	size_t i, outlen;
	int rc;

	for (i = 0; i < sizeof(b64_bad) / sizeof(b64_bad[0]); i++) {
		out = sentinel;
		rc = crypto_b64_decode(b64_bad[i], strlen(b64_bad[i]), &out, &outlen);
		TAP_OK(rc == -1 && out == NULL, "b64: invalid input %zu rejected", i);
		if (rc == 0)
			free(out);
	}
	rc = crypto_b64_decode("Zm\0v", 4, &out, &outlen);
	TAP_OK(rc == -1, "b64: embedded NUL rejected");
	if (rc == 0)
		free(out);
	rc = crypto_b64_decode("Zm9vYmFy", 4, &out, &outlen);
	TAP_OK(rc == 0 && outlen == 3 && memcmp(out, "foo", 3) == 0,
	    "b64: decode honours the length, not the terminator");
	free(out);
}

static void
test_memeq_random(void)
{
	unsigned char a[32], b[32];

	TAP_OK(crypto_memeq("abcdef", "abcdef", 6) == 1, "memeq: equal");
	TAP_OK(crypto_memeq("abcdef", "abcdeg", 6) == 0, "memeq: last byte differs");
	TAP_OK(crypto_memeq("abcdef", "bbcdef", 6) == 0, "memeq: first byte differs");
	TAP_OK(crypto_memeq("a", "b", 0) == 1, "memeq: zero length is equal");
	TAP_OK(crypto_random(a, sizeof(a)) == 0 && crypto_random(b, sizeof(b)) == 0,
	    "random: returns 0");
	TAP_OK(memcmp(a, b, sizeof(a)) != 0, "random: two calls differ");
	TAP_OK(crypto_random(a, 0) == 0, "random: zero bytes is fine");
}

/* Seals pt under key and aad; the caller frees the result. */
static unsigned char *
seal(const unsigned char *key, const char *aad, const char *pt, size_t *len)
{
	unsigned char *ct = NULL;

	if (crypto_aead_seal(key, aad, strlen(aad), pt, strlen(pt), &ct, len) == -1)
		return NULL;
	return ct;
}

/*
 * 1 when in opens under key and aad to exactly want; 0 when it is refused
 * cleanly (-1, no output); -1 for anything else, such as opening to
 * different bytes.
 */
static int
opens_to(const unsigned char *key, const char *aad, const unsigned char *in,
    size_t inlen, const char *want)
{
	unsigned char *pt = NULL;
	size_t ptlen = 0;
	int ok;

	if (crypto_aead_open(key, aad, strlen(aad), in, inlen, &pt, &ptlen) == -1)
		return pt == NULL && ptlen == 0 ? 0 : -1;
	ok = ptlen == strlen(want) && memcmp(pt, want, ptlen) == 0;
	free(pt);
	return ok ? 1 : -1;
}

struct tamper_case {
	const char *name;
	long offset;	/* from the start, or from the end when negative */
};

static const struct tamper_case tamper_cases[] = {
	{ "version byte", 0 },
	{ "first nonce byte", 1 },
	{ "last nonce byte", 12 },
	{ "first ciphertext byte", 13 },
	{ "last ciphertext byte", -17 },
	{ "first tag byte", -16 },
	{ "last tag byte", -1 },
};

static void
test_aead_tamper(const unsigned char *key, const unsigned char *ct, size_t len)
{
	unsigned char *copy = malloc(len);
	size_t i, at;

	for (i = 0; i < sizeof(tamper_cases) / sizeof(tamper_cases[0]); i++) {
		const struct tamper_case *c = &tamper_cases[i];

		at = c->offset >= 0 ? (size_t)c->offset : len - (size_t)-c->offset;
		memcpy(copy, ct, len);
		copy[at] ^= 0x01;
		TAP_OK(opens_to(key, "users/7", copy, len, "hunter2-secret") == 0,
		    "aead: flipped %s (offset %zu) rejected", c->name, at);
	}
	TAP_OK(opens_to(key, "users/7", ct, len - 1, "hunter2-secret") == 0,
	    "aead: truncated by one byte rejected");
	TAP_OK(opens_to(key, "users/7", ct, 28, "") == 0, "aead: shorter than the overhead rejected");
	TAP_OK(opens_to(key, "users/7", ct, 0, "") == 0, "aead: empty input rejected");
	free(copy);
}

static void
test_aead(void)
{
	unsigned char key[CRYPTO_AEAD_KEY_LEN], key2[CRYPTO_AEAD_KEY_LEN];
	unsigned char *ct, *ct2;
	size_t len, len2;

	crypto_random(key, sizeof(key));
	memcpy(key2, key, sizeof(key2));
	key2[31] ^= 0x80;
	ct = seal(key, "users/7", "hunter2-secret", &len);
	TAP_OK(ct != NULL && len == 1 + 12 + 14 + 16, "aead: seal gives version, nonce, ct, tag");
	TAP_OK(ct != NULL && ct[0] == 0x01, "aead: version byte is 1");
	TAP_OK(opens_to(key, "users/7", ct, len, "hunter2-secret") == 1, "aead: round trip");
	TAP_OK(opens_to(key, "users/8", ct, len, "hunter2-secret") == 0, "aead: wrong aad rejected");
	TAP_OK(opens_to(key, "", ct, len, "hunter2-secret") == 0, "aead: missing aad rejected");
	TAP_OK(opens_to(key2, "users/7", ct, len, "hunter2-secret") == 0, "aead: wrong key rejected");
	test_aead_tamper(key, ct, len);
	ct2 = seal(key, "users/7", "hunter2-secret", &len2);
	TAP_OK(ct2 != NULL && len2 == len && memcmp(ct + 1, ct2 + 1, 12) != 0,
	    "aead: two seals use different nonces");
	TAP_OK(ct2 != NULL && memcmp(ct + 13, ct2 + 13, len - 13) != 0,
	    "aead: two seals of the same plaintext differ");
	free(ct);
	free(ct2);
	ct = seal(key, "users/7", "", &len);
	TAP_OK(ct != NULL && len == 29, "aead: empty plaintext seals to the overhead only");
	TAP_OK(opens_to(key, "users/7", ct, len, "") == 1, "aead: empty plaintext round trip");
	free(ct);
	ct = seal(key, "", "no aad", &len);
	TAP_OK(opens_to(key, "", ct, len, "no aad") == 1, "aead: empty aad round trip");
	free(ct);
}

/* The reference test vector of the Standard Webhooks specification. */
#define SW_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define SW_MSG_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define SW_TIMESTAMP 1614265330
#define SW_BODY "{\"test\": 2432232314}"
#define SW_SIGNATURE "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

/* Signs the reference delivery with secret text s; caller frees. */
static char *
sw_sign(const char *s, const char *msg_id, int64_t ts, const char *body)
{
	struct secret *sec = secret_new(s, strlen(s));
	char *sig = crypto_standard_webhook_signature(sec, msg_id, ts, body, strlen(body));

	secret_free(sec);
	return sig;
}

static void
test_standard_webhooks(void)
{
	static const char *const bad[] = {
		"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",		/* no prefix */
		"whsec_",					/* no key */
		"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS!",	/* not base64 */
		"whsec_MfKQ9r8GKYqr TwjUPD8ILPZIo2LaLaSw",	/* whitespace */
		"whsec_M",					/* a partial quad of one */
		"WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",	/* the prefix is case-sensitive */
	};
	struct secret *sec = secret_new(SW_SECRET, strlen(SW_SECRET));
	char *sig;
	size_t i;

	sig = sw_sign(SW_SECRET, SW_MSG_ID, SW_TIMESTAMP, SW_BODY);
	TAP_STR_EQ(sig, SW_SIGNATURE, "standard webhooks: the reference vector");
	free(sig);
	sig = sw_sign(SW_SECRET, SW_MSG_ID, SW_TIMESTAMP + 1, SW_BODY);
	TAP_OK(sig != NULL && strcmp(sig, SW_SIGNATURE) != 0,
	    "standard webhooks: the timestamp is signed");
	free(sig);
	sig = sw_sign(SW_SECRET, "msg_other", SW_TIMESTAMP, SW_BODY);
	TAP_OK(sig != NULL && strcmp(sig, SW_SIGNATURE) != 0,
	    "standard webhooks: the message id is signed");
	free(sig);
	sig = sw_sign(SW_SECRET, SW_MSG_ID, SW_TIMESTAMP, "");
	TAP_OK(sig != NULL && strncmp(sig, "v1,", 3) == 0 && strlen(sig) == 47,
	    "standard webhooks: an empty body is signed");
	free(sig);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sig = sw_sign(bad[i], SW_MSG_ID, SW_TIMESTAMP, SW_BODY);
		TAP_OK(sig == NULL, "standard webhooks: malformed secret %zu refused", i);
		free(sig);
	}
	TAP_OK(crypto_standard_webhook_signature(NULL, SW_MSG_ID, 0, "", 0) == NULL,
	    "standard webhooks: no secret");
	TAP_OK(crypto_standard_webhook_signature(sec, NULL, 0, "", 0) == NULL,
	    "standard webhooks: no message id");
	TAP_OK(crypto_standard_webhook_signature(sec, SW_MSG_ID, 0, NULL, 1) == NULL,
	    "standard webhooks: a length without a body");
	secret_free(sec);
}

int
main(void)
{
	test_hmac();
	test_sha256();
	test_hex();
	test_b64_vectors();
	test_b64_invalid();
	test_memeq_random();
	test_aead();
	test_standard_webhooks();
	return tap_done();
}
