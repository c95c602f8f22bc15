/*
 * Unit tests: client assertions (PS256 and RS256) checked with OpenSSL
 * directly, the signer's loading errors, and the decoder on malformed
 * tokens.  Keys and certificates are made here, in a temporary directory.
 */
#include "lib/crypto.h"
#include "lib/secret.h"
#include "proto/jwt.h"
#include "tap.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#define AUD "https://login.microsoftonline.com/tenant-1/oauth2/v2.0/token"
#define CLIENT "11111111-2222-3333-4444-555555555555"
#define NOW 1767225600		/* 2026-01-01T00:00:00Z */
#define NOT_AFTER 4102444800	/* 2100-01-01T00:00:00Z */

static char dir[] = "/tmp/rekey-test-jwt.XXXXXX";
static char path_buf[8][512];
static int path_n;

static const char *
path(const char *name)
{
	char *p = path_buf[path_n++ % 8];

	snprintf(p, sizeof(path_buf[0]), "%s/%s", dir, name);
	return p;
}

static EVP_PKEY *
rsa_key(unsigned bits)
{
	return EVP_RSA_gen(bits);
}

static X509 *
self_signed(EVP_PKEY *key, int64_t not_after)
{
	X509 *x = X509_new();
	X509_NAME *name;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"rotator",
	    -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509_sign(x, key, EVP_sha256());
	return x;
}

static void
write_cert(const char *file, X509 *x)
{
	FILE *f = fopen(file, "w");

	PEM_write_X509(f, x);
	fclose(f);
}

static void
write_key(const char *file, EVP_PKEY *key, mode_t mode, const char *pass)
{
	FILE *f = fopen(file, "w");

	if (pass != NULL)
		PEM_write_PrivateKey(f, key, EVP_aes_256_cbc(), (const unsigned char *)pass,
		    (int)strlen(pass), NULL, NULL);
	else
		PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(file, mode);
}

static char *
b64url(const char *s)
{
	return crypto_b64_encode((const unsigned char *)s, strlen(s), 1);
}

static char *
thumb(X509 *x, const EVP_MD *md)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	X509_digest(x, md, d, &n);
	return crypto_b64_encode(d, n, 1);
}

/* An independent check of the signature with OpenSSL, not through jwt_verify. */
static int
openssl_verifies(const struct jwt *t, EVP_PKEY *pub, int pss)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	int ok;

	ok = EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, pub) == 1;
	if (ok && pss)
		ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
		    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 32) > 0 &&
		    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) > 0;
	ok = ok && EVP_DigestVerify(ctx, t->sig, t->sig_len,
	    (const unsigned char *)t->signing_input, t->signing_input_len) == 1;
	EVP_MD_CTX_free(ctx);
	return ok;
}

static int
is_guid_v4(const char *s)
{
	size_t i;

	if (s == NULL || strlen(s) != 36)
		return 0;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
			return 0;
		}
	}
	return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

static const char *
header_str(const struct jwt *t, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(t->header, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

struct alg_case {
	const char *name;
	enum jwt_alg alg;
	const char *thumb_header;
	const char *other_header;
	int pss;
};

static const struct alg_case alg_cases[] = {
	{ "PS256", JWT_ALG_PS256, "x5t#S256", "x5t", 1 },
	{ "RS256", JWT_ALG_RS256, "x5t", "x5t#S256", 0 },
};

static void
check_claims(const struct alg_case *ac, const struct jwt *t)
{
	int64_t nbf = 0, iat = 0, exp = 0;
	char *err = NULL;

	TAP_STR_EQ(jwt_claim_string(t, "aud"), AUD, "%s: aud is the token endpoint", ac->name);
	TAP_STR_EQ(jwt_claim_string(t, "iss"), CLIENT, "%s: iss is the client id", ac->name);
	TAP_STR_EQ(jwt_claim_string(t, "sub"), CLIENT, "%s: sub is the client id", ac->name);
	TAP_OK(is_guid_v4(jwt_claim_string(t, "jti")), "%s: jti is a v4 GUID (%s)", ac->name,
	    jwt_claim_string(t, "jti"));
	TAP_OK(jwt_claim_time(t, "nbf", &nbf) == 0 && nbf == NOW, "%s: nbf is now", ac->name);
	TAP_OK(jwt_claim_time(t, "iat", &iat) == 0 && iat == NOW, "%s: iat is now", ac->name);
	TAP_OK(jwt_claim_time(t, "exp", &exp) == 0 && exp > nbf && exp - nbf <= 600,
	    "%s: lifetime %lld s is at most 10 minutes", ac->name, (long long)(exp - nbf));
	TAP_OK(jwt_check_time(t, NOW + 10, 0, &err) == 0, "%s: valid shortly after", ac->name);
	free(err);
	err = NULL;
	TAP_OK(jwt_check_time(t, NOW + 601, 0, &err) == -1, "%s: expired after 10 minutes",
	    ac->name);
	free(err);
}

static void
test_assertion(const struct alg_case *ac, struct jwt_signer *s, X509 *cert, EVP_PKEY *key,
    EVP_PKEY *other)
{
	struct secret *a, *b;
	struct jwt t, u;
	char *err = NULL, *want;

	a = jwt_client_assertion(s, ac->alg, CLIENT, AUD, NOW, &err);
	b = jwt_client_assertion(s, ac->alg, CLIENT, AUD, NOW, &err);
	TAP_OK(a != NULL && b != NULL, "%s: assertions built", ac->name);
	if (a == NULL || b == NULL)
		return;
	TAP_OK(jwt_decode((const char *)a->data, a->len, &t, &err) == 0, "%s: decodes", ac->name);
	TAP_OK(jwt_decode((const char *)b->data, b->len, &u, &err) == 0, "%s: decodes again",
	    ac->name);
	TAP_STR_EQ(header_str(&t, "alg"), ac->name, "%s: header alg", ac->name);
	TAP_STR_EQ(header_str(&t, "typ"), "JWT", "%s: header typ", ac->name);
	want = thumb(cert, ac->alg == JWT_ALG_PS256 ? EVP_sha256() : EVP_sha1());
	TAP_STR_EQ(header_str(&t, ac->thumb_header), want, "%s: %s is the certificate's thumbprint",
	    ac->name, ac->thumb_header);
	TAP_STR_EQ(jwt_signer_thumbprint(s, ac->alg), want, "%s: signer thumbprint", ac->name);
	TAP_OK(header_str(&t, ac->other_header) == NULL, "%s: no %s", ac->name, ac->other_header);
	free(want);
	check_claims(ac, &t);
	TAP_OK(strcmp(jwt_claim_string(&t, "jti"), jwt_claim_string(&u, "jti")) != 0,
	    "%s: jti differs between assertions", ac->name);
	TAP_OK(openssl_verifies(&t, key, ac->pss), "%s: OpenSSL verifies the signature", ac->name);
	TAP_OK(!openssl_verifies(&t, key, !ac->pss), "%s: and not with the other padding",
	    ac->name);
	TAP_OK(jwt_verify(&t, key) == 0, "%s: jwt_verify by header alg", ac->name);
	TAP_OK((ac->pss ? jwt_verify_rs256(&t, key) : jwt_verify_ps256(&t, key)) == -1,
	    "%s: the other algorithm's verify refuses it", ac->name);
	TAP_OK(jwt_verify(&t, other) == -1, "%s: another key refuses it", ac->name);
	t.sig[0] ^= 1;
	TAP_OK(jwt_verify(&t, key) == -1, "%s: a flipped signature bit is refused", ac->name);
	t.sig[0] ^= 1;
	t.signing_input[t.signing_input_len - 1] ^= 1;
	TAP_OK(jwt_verify(&t, key) == -1, "%s: altered claims are refused", ac->name);
	jwt_clear(&t);
	jwt_clear(&u);
	secret_free(a);
	secret_free(b);
}

static void
test_signer(void)
{
	EVP_PKEY *key = rsa_key(2048), *other = rsa_key(2048);
	X509 *cert = self_signed(key, NOT_AFTER);
	struct jwt_signer *s;
	char *err = NULL;
	size_t i;

	write_cert(path("rotator.crt"), cert);
	write_key(path("rotator.key"), key, 0600, NULL);
	s = jwt_signer_new(path("rotator.crt"), path("rotator.key"), &err);
	TAP_OK(s != NULL, "signer loads (%s)", err ? err : "ok");
	if (s == NULL)
		return;
	TAP_OK(jwt_signer_not_after(s) == NOT_AFTER, "signer: notAfter read");
	for (i = 0; i < sizeof(alg_cases) / sizeof(alg_cases[0]); i++)
		test_assertion(&alg_cases[i], s, cert, key, other);
	jwt_signer_free(s);
	jwt_signer_free(NULL);
	X509_free(cert);
	EVP_PKEY_free(key);
	EVP_PKEY_free(other);
}

struct load_case {
	const char *name;
	const char *cert;
	const char *key;
	const char *err_part;
};

static void
make_bad_files(void)
{
	EVP_PKEY *a = rsa_key(2048), *b = rsa_key(2048), *small = rsa_key(1024);
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	X509 *ca = self_signed(a, NOT_AFTER), *cs = self_signed(small, NOT_AFTER);
	X509 *ce = self_signed(ec, NOT_AFTER);
	FILE *f;

	write_cert(path("a.crt"), ca);
	write_key(path("a.key"), a, 0600, NULL);
	write_key(path("a-open.key"), a, 0644, NULL);
	write_key(path("a-enc.key"), a, 0600, "passphrase");
	write_key(path("b.key"), b, 0600, NULL);
	write_cert(path("small.crt"), cs);
	write_key(path("small.key"), small, 0600, NULL);
	write_cert(path("ec.crt"), ce);
	write_key(path("ec.key"), ec, 0600, NULL);
	f = fopen(path("junk.pem"), "w");
	fputs("not a pem file\n", f);
	fclose(f);
	chmod(path("junk.pem"), 0600);
	X509_free(ca);
	X509_free(cs);
	X509_free(ce);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
	EVP_PKEY_free(small);
	EVP_PKEY_free(ec);
}

static const struct load_case load_cases[] = {
	{ "missing certificate", "nope.crt", "a.key", "nope.crt" },
	{ "certificate file is junk", "junk.pem", "a.key", "junk.pem" },
	{ "missing key", "a.crt", "nope.key", "nope.key" },
	{ "key readable by others", "a.crt", "a-open.key", "a-open.key" },
	{ "encrypted key", "a.crt", "a-enc.key", "a-enc.key" },
	{ "key file is junk", "a.crt", "junk.pem", "junk.pem" },
	{ "key of another certificate", "a.crt", "b.key", "does not belong" },
	{ "RSA 1024", "small.crt", "small.key", "2048" },
	{ "EC key", "ec.crt", "ec.key", "must be RSA" },
};

static void
test_load_errors(void)
{
	char cert[512], key[512];
	size_t i;

	make_bad_files();
	for (i = 0; i < sizeof(load_cases) / sizeof(load_cases[0]); i++) {
		const struct load_case *c = &load_cases[i];
		struct jwt_signer *s;
		char *err = NULL;

		snprintf(cert, sizeof(cert), "%s/%s", dir, c->cert);
		snprintf(key, sizeof(key), "%s/%s", dir, c->key);
		s = jwt_signer_new(cert, key, &err);
		TAP_OK(s == NULL, "load: %s is refused", c->name);
		TAP_OK(err != NULL && strstr(err, c->err_part) != NULL,
		    "load: %s: error says \"%s\" (%s)", c->name, c->err_part, err ? err : "null");
		jwt_signer_free(s);
		free(err);
	}
}

struct decode_case {
	const char *name;
	const char *header;	/* JSON, base64url-encoded by the test; NULL = raw below */
	const char *claims;
	const char *raw;	/* the whole token when header is NULL */
	const char *err_part;
};

static const struct decode_case decode_cases[] = {
	{ "empty", NULL, NULL, "", "three segments" },
	{ "one segment", NULL, NULL, "abc", "three segments" },
	{ "two segments", NULL, NULL, "abc.def", "three segments" },
	{ "four segments", NULL, NULL, "a.b.c.d", "three segments" },
	{ "empty header", NULL, NULL, ".eyJhIjoxfQ.c2ln", "header" },
	{ "header with padding", NULL, NULL, "eyJhIjoxfQ==.eyJhIjoxfQ.c2ln", "header" },
	{ "header with standard alphabet", NULL, NULL, "eyJh+joxfQ.eyJhIjoxfQ.c2ln", "header" },
	{ "header with a NUL after the JSON", NULL, NULL, "eyJhIjoxfQA.eyJhIjoxfQ.c2ln", "header" },
	{ "header with bytes after the JSON", "{\"alg\":\"RS256\"} x", "{}", NULL, "header" },
	{ "claims with a second object", "{\"alg\":\"RS256\"}", "{}{}", NULL, "claims" },
	{ "header whitespace", NULL, NULL, "eyJhIjox fQ.eyJhIjoxfQ.c2ln", "header" },
	{ "header an array", "[1,2]", "{}", NULL, "header" },
	{ "header a string", "\"x\"", "{}", NULL, "header" },
	{ "header not JSON", "{nope", "{}", NULL, "header" },
	{ "claims a number", "{\"alg\":\"RS256\"}", "42", NULL, "claims" },
	{ "claims not JSON", "{\"alg\":\"RS256\"}", "{\"a\":", NULL, "claims" },
	{ "claims nested too deep", "{\"alg\":\"RS256\"}",
	  "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", NULL, "claims" },
	{ "empty signature", NULL, NULL, "eyJhIjoxfQ.eyJhIjoxfQ.", "signature" },
	{ "bad signature base64", NULL, NULL, "eyJhIjoxfQ.eyJhIjoxfQ.c2l*", "signature" },
};

static char *
make_token(const struct decode_case *c)
{
	char *h, *p, *t;

	if (c->header == NULL)
		return strdup(c->raw);
	h = b64url(c->header);
	p = b64url(c->claims);
	t = malloc(strlen(h) + strlen(p) + 8);
	snprintf(t, strlen(h) + strlen(p) + 8, "%s.%s.c2ln", h, p);
	free(h);
	free(p);
	return t;
}

static void
test_decode_errors(void)
{
	size_t i;

	for (i = 0; i < sizeof(decode_cases) / sizeof(decode_cases[0]); i++) {
		const struct decode_case *c = &decode_cases[i];
		char *tok = make_token(c), *err = NULL;
		struct jwt t;
		int rc = jwt_decode(tok, strlen(tok), &t, &err);

		TAP_OK(rc == -1, "decode: %s is refused", c->name);
		TAP_OK(err != NULL && strstr(err, c->err_part) != NULL,
		    "decode: %s: error names the %s (%s)", c->name, c->err_part,
		    err ? err : "null");
		TAP_OK(t.header == NULL && t.claims == NULL && t.sig == NULL,
		    "decode: %s: nothing left allocated", c->name);
		if (rc == 0)
			jwt_clear(&t);
		free(err);
		free(tok);
	}
}

static void
test_decode_limits(void)
{
	size_t n = JWT_MAX_TOKEN + 1;
	char *big = malloc(n + 1), *err = NULL;
	struct jwt t;
	const char *ok = "eyJhbGciOiJub25lIn0.eyJleHAiOjF9.c2ln";

	memset(big, 'A', n);
	big[10] = '.';
	big[20] = '.';
	big[n] = '\0';
	TAP_OK(jwt_decode(big, n, &t, &err) == -1 && err != NULL && strstr(err, "longer") != NULL,
	    "decode: a token over %d bytes is refused", JWT_MAX_TOKEN);
	free(err);
	err = NULL;
	free(big);
	/* Only the length given is read: the same token cut short is refused. */
	TAP_OK(jwt_decode(ok, strlen(ok) - 4, &t, &err) == -1, "decode: reads only len bytes");
	free(err);
	err = NULL;
	TAP_OK(jwt_decode(ok, strlen(ok), &t, &err) == 0, "decode: a minimal token decodes");
	TAP_STR_EQ(t.alg, "none", "decode: alg is read");
	TAP_OK(t.sig_len == 3 && memcmp(t.sig, "sig", 3) == 0, "decode: signature bytes");
	TAP_OK(t.signing_input_len == strlen(ok) - 5 &&
	    memcmp(t.signing_input, ok, t.signing_input_len) == 0, "decode: signing input");
	TAP_OK(jwt_verify(&t, NULL) == -1, "verify: alg none is never accepted");
	TAP_OK(jwt_check_time(&t, 100, 0, &err) == -1, "check_time: exp in the past");
	free(err);
	jwt_clear(&t);
}

struct time_case {
	const char *claims;
	int64_t now;
	int64_t leeway;
	int ok;
};

static const struct time_case time_cases[] = {
	{ "{\"exp\":1000,\"nbf\":900}", 950, 0, 1 },
	{ "{\"exp\":1000}", 999, 0, 1 },
	{ "{\"exp\":1000}", 1000, 0, 0 },
	{ "{\"exp\":1000}", 1020, 30, 1 },
	{ "{\"exp\":1000,\"nbf\":900}", 880, 0, 0 },
	{ "{\"exp\":1000,\"nbf\":900}", 880, 30, 1 },
	{ "{\"nbf\":900}", 950, 0, 0 },
	{ "{\"exp\":\"1000\"}", 950, 0, 0 },
	{ "{\"exp\":1000.5}", 950, 0, 0 },
	{ "{\"exp\":-5}", 0, 0, 0 },
	{ "{\"exp\":1000,\"nbf\":\"x\"}", 950, 0, 0 },
};

static void
test_check_time(void)
{
	size_t i;

	for (i = 0; i < sizeof(time_cases) / sizeof(time_cases[0]); i++) {
		const struct time_case *c = &time_cases[i];
		char *h = b64url("{\"alg\":\"RS256\"}"), *p = b64url(c->claims), tok[512];
		char *err = NULL;
		struct jwt t;
		int rc;

		snprintf(tok, sizeof(tok), "%s.%s.c2ln", h, p);
		if (jwt_decode(tok, strlen(tok), &t, &err) != 0) {
			TAP_OK(0, "check_time: %s decodes", c->claims);
		} else {
			rc = jwt_check_time(&t, c->now, c->leeway, &err);
			TAP_OK((rc == 0) == c->ok, "check_time: %s at %lld leeway %lld: %s",
			    c->claims, (long long)c->now, (long long)c->leeway,
			    c->ok ? "valid" : "refused");
			jwt_clear(&t);
		}
		free(err);
		free(h);
		free(p);
	}
}

static void
test_guid(void)
{
	char a[CRYPTO_GUID_LEN + 1], b[CRYPTO_GUID_LEN + 1];

	TAP_OK(crypto_guid(a) == 0 && crypto_guid(b) == 0, "guid: made");
	TAP_OK(is_guid_v4(a) && is_guid_v4(b), "guid: version 4 form (%s)", a);
	TAP_OK(strcmp(a, b) != 0, "guid: two differ");
}

static void
cleanup(void)
{
	static const char *const files[] = {
		"rotator.crt", "rotator.key", "a.crt", "a.key", "a-open.key", "a-enc.key",
		"b.key", "small.crt", "small.key", "ec.crt", "ec.key", "junk.pem",
	};
	size_t i;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		unlink(path(files[i]));
	rmdir(dir);
}

int
main(void)
{
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_guid();
	test_signer();
	test_load_errors();
	test_decode_errors();
	test_decode_limits();
	test_check_time();
	cleanup();
	return tap_done();
}
