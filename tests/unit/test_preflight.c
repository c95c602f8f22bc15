/*
 * Unit tests for preflight (the offline checks of `rekey check`) and
 * crypto_cert_file_dates: a good config is all ok; a key of another
 * certificate (rotator and server TLS), an expired or not yet valid
 * certificate, one ending within warn_before, an all-zero GUID, a
 * PostgreSQL or unreachable SQLite store and a secret file opened up after
 * loading each come out as they should, at the line of the key concerned.
 * Keys and certificates are made here, in a temporary directory.
 */
#include "engine/preflight.h"
#include "lib/crypto.h"
#include "state/config.h"
#include "state/config_load.h"
#include "tap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define NOW 1767225600		/* 2026-01-01T00:00:00Z */
#define DAY 86400
#define MAX_LINES 64
#define ZERO_GUID "00000000-0000-0000-0000-000000000000"
#define CONF_NAME "t.conf"

static char dir[] = "/tmp/rekey-test-preflight.XXXXXX";

/* The config's line of each key (see conf_text). */
enum {
	L_TLS_CERT = 3, L_TLS_KEY = 4, L_URL = 6, L_TENANT = 10, L_CLIENT = 11,
	L_ROT_CLIENT = 12, L_ROT_CERT = 13, L_ROT_KEY = 14, L_WARN = 15, L_NYLAS_APP = 16,
};

/* What a config is made of: file names are relative to dir; NULL leaves a key out. */
struct conf {
	const char *tls_cert, *tls_key, *url, *tenant, *client, *rot_client, *rot_cert,
	    *rot_key, *warn, *nylas_app;
};

/* One line the checks reported, copied. */
struct got {
	enum preflight_level level;
	char *app, *check, *seen, *fix, *file;
	int line;
};

static struct got got[MAX_LINES];
static size_t n_got;

static char *
path_of(const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);

	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static char *
dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static void
clear_got(void)
{
	size_t i;

	for (i = 0; i < n_got; i++) {
		free(got[i].app);
		free(got[i].check);
		free(got[i].seen);
		free(got[i].fix);
		free(got[i].file);
	}
	n_got = 0;
}

static void
collect_cb(const struct preflight_line *l, void *arg)
{
	struct got *g;

	(void)arg;
	if (n_got == MAX_LINES)
		return;
	g = &got[n_got++];
	g->level = l->level;
	g->app = dup_or_null(l->app);
	g->check = dup_or_null(l->check);
	g->seen = dup_or_null(l->seen);
	g->fix = dup_or_null(l->fix);
	g->file = dup_or_null(l->file);
	g->line = l->line;
}

/* The first line whose check starts with check at level, or NULL. */
static const struct got *
find(const char *check, enum preflight_level level)
{
	size_t i;

	for (i = 0; i < n_got; i++)
		if (got[i].level == level && strncmp(got[i].check, check, strlen(check)) == 0)
			return &got[i];
	return NULL;
}

static size_t
count(enum preflight_level level)
{
	size_t i, n = 0;

	for (i = 0; i < n_got; i++)
		n += got[i].level == level;
	return n;
}

/* ---- Keys and certificates ---- */

static X509 *
make_cert(EVP_PKEY *key, int64_t not_before, int64_t not_after)
{
	X509 *x = X509_new();
	X509_NAME *name;

	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	ASN1_TIME_set(X509_getm_notBefore(x), (time_t)not_before);
	ASN1_TIME_set(X509_getm_notAfter(x), (time_t)not_after);
	X509_set_pubkey(x, key);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"preflight",
	    -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509_sign(x, key, EVP_sha256());
	return x;
}

static void
write_cert(const char *name, EVP_PKEY *key, int64_t not_before, int64_t not_after)
{
	char *p = path_of(name);
	X509 *x = make_cert(key, not_before, not_after);
	FILE *f = fopen(p, "w");

	PEM_write_X509(f, x);
	fclose(f);
	X509_free(x);
	free(p);
}

static void
write_key(const char *name, EVP_PKEY *key)
{
	char *p = path_of(name);
	FILE *f = fopen(p, "w");

	PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(p, 0600);
	free(p);
}

static void
write_text(const char *name, const char *text)
{
	char *p = path_of(name);
	FILE *f = fopen(p, "w");

	fputs(text, f);
	fclose(f);
	chmod(p, 0600);
	free(p);
}

static void
setup(void)
{
	EVP_PKEY *a, *b;

	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	a = EVP_RSA_gen(2048);
	b = EVP_RSA_gen(2048);
	write_key("a.key", a);
	write_key("b.key", b);
	write_cert("a.crt", a, NOW - DAY, NOW + 400 * DAY);
	write_cert("b.crt", b, NOW - DAY, NOW + 400 * DAY);
	write_cert("expired.crt", a, NOW - 100 * DAY, NOW - DAY);
	write_cert("soon.crt", a, NOW - 100 * DAY, NOW + 10 * DAY);
	write_cert("future.crt", a, NOW + DAY, NOW + 400 * DAY);
	write_text("mk", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n");
	write_text("wh", "whsec-test\n");
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
}

static void
teardown(void)
{
	static const char *const names[] = { "a.key", "b.key", "a.crt", "b.crt",
	    "expired.crt", "soon.crt", "future.crt", "mk", "wh", NULL };
	char *p;
	size_t i;

	for (i = 0; names[i] != NULL; i++) {
		p = path_of(names[i]);
		unlink(p);
		free(p);
	}
	rmdir(dir);
}

/* ---- Configs ---- */

static struct conf
good_conf(void)
{
	struct conf c = {
		.tls_cert = "a.crt", .tls_key = "a.key", .url = "sqlite:DIR/rekey.db",
		.tenant = "9a1c6f0e-5b1d-4c43-9e4a-0d1f2b3c4d5e",
		.client = "11111111-2222-3333-4444-555555555555",
		.rot_client = "22222222-3333-4444-5555-666666666666",
		.rot_cert = "a.crt", .rot_key = "a.key", .warn = "30d,7d",
		.nylas_app = "nylas-app-1",
	};
	return c;
}

/* "key = DIR/value" (or the value as it is, for ids), or a comment keeping the line. */
static void
add_line(char *buf, size_t size, const char *key, const char *value, int is_file)
{
	size_t off = strlen(buf);

	if (value == NULL)
		snprintf(buf + off, size - off, "# %s left out\n", key);
	else if (is_file)
		snprintf(buf + off, size - off, "%s = %s/%s\n", key, dir, value);
	else if (strncmp(value, "sqlite:DIR/", 11) == 0)
		snprintf(buf + off, size - off, "%s = sqlite:%s/%s\n", key, dir, value + 11);
	else
		snprintf(buf + off, size - off, "%s = %s\n", key, value);
}

static void
conf_text(const struct conf *c, char *buf, size_t size)
{
	size_t off;

	snprintf(buf, size, "[server]\nlisten = 127.0.0.1:0\n");		/* 1-2 */
	add_line(buf, size, "tls_cert", c->tls_cert, 1);			/* 3 */
	add_line(buf, size, "tls_key", c->tls_key, 1);				/* 4 */
	off = strlen(buf);
	snprintf(buf + off, size - off, "[store]\n");				/* 5 */
	add_line(buf, size, "url", c->url, 0);					/* 6 */
	add_line(buf, size, "master_key_file", "mk", 1);			/* 7 */
	off = strlen(buf);
	snprintf(buf + off, size - off, "[app prod]\n");			/* 8 */
	add_line(buf, size, "nylas_webhook_secret_file", "wh", 1);		/* 9 */
	add_line(buf, size, "azure_tenant_id", c->tenant, 0);			/* 10 */
	add_line(buf, size, "azure_client_id", c->client, 0);			/* 11 */
	add_line(buf, size, "rotator_client_id", c->rot_client, 0);		/* 12 */
	add_line(buf, size, "rotator_cert_file", c->rot_cert, 1);		/* 13 */
	add_line(buf, size, "rotator_key_file", c->rot_key, 1);		/* 14 */
	add_line(buf, size, "warn_before", c->warn, 0);			/* 15 */
	add_line(buf, size, "nylas_application_id", c->nylas_app, 0);		/* 16 */
}

static struct config *
load(const struct conf *c)
{
	static char *const no_env[] = { NULL };
	char text[8192], *errors = NULL;
	struct config *cfg;

	conf_text(c, text, sizeof(text));
	cfg = config_parse(CONF_NAME, text, strlen(text), no_env, &errors);
	if (cfg == NULL) {
		printf("# config refused:\n# %s\n", errors);
		free(errors);
	}
	return cfg;
}

/* Loads c and runs the checks at NOW into got[]; -1 when the config does not load. */
static int
run(const struct conf *c, const char *app, enum preflight_level *worst)
{
	struct config *cfg = load(c);

	clear_got();
	if (cfg == NULL)
		return -1;
	*worst = preflight_offline(cfg, app, NOW, collect_cb, NULL);
	config_free(cfg);
	return 0;
}

/* A FAIL or WARN line must say where (the config's file and the key's line) and how to fix. */
static void
expect_line(const char *what, const char *check, enum preflight_level level, const char *app,
    int line, const char *seen_part)
{
	const struct got *g = find(check, level);

	TAP_OK(g != NULL, "%s: a %s line for '%s'", what, level == PREFLIGHT_FAIL ? "FAIL" :
	    "warn", check);
	if (g == NULL)
		return;
	TAP_OK(app == NULL ? g->app == NULL : g->app != NULL && strcmp(g->app, app) == 0,
	    "%s: about app %s", what, app ? app : "(global)");
	TAP_STR_EQ(g->file, CONF_NAME, "%s: names the config file", what);
	TAP_OK(g->line == line, "%s: at line %d (got %d)", what, line, g->line);
	TAP_OK(g->seen != NULL && strstr(g->seen, seen_part) != NULL,
	    "%s: says '%s' (%s)", what, seen_part, g->seen ? g->seen : "(null)");
	TAP_OK(g->fix != NULL && g->fix[0] != '\0', "%s: gives a fix (%s)", what,
	    g->fix ? g->fix : "(null)");
}

/* ---- The tests ---- */

static void
test_good(void)
{
	struct conf c = good_conf();
	enum preflight_level worst = PREFLIGHT_FAIL;
	size_t i;
	int fixes = 0;

	TAP_OK(run(&c, NULL, &worst) == 0, "good: the config loads");
	TAP_OK(worst == PREFLIGHT_OK, "good: the worst level is ok");
	TAP_OK(count(PREFLIGHT_WARN) + count(PREFLIGHT_FAIL) == 0, "good: every line is ok");
	for (i = 0; i < n_got; i++)
		fixes += got[i].fix != NULL;
	TAP_OK(fixes == 0, "good: no line carries a fix");
	TAP_OK(find("rotator key matches certificate", PREFLIGHT_OK) != NULL,
	    "good: the rotator pair was checked");
	TAP_OK(find("server TLS key matches certificate", PREFLIGHT_OK) != NULL,
	    "good: the TLS pair was checked");
	TAP_OK(find("rotator certificate dates", PREFLIGHT_OK) != NULL &&
	    find("server TLS certificate dates", PREFLIGHT_OK) != NULL,
	    "good: both certificates' dates were checked");
	TAP_OK(find("store url", PREFLIGHT_OK) != NULL, "good: the store url was checked");
	TAP_OK(find("ids are not placeholders", PREFLIGHT_OK) != NULL, "good: the ids were checked");
	TAP_OK(find("secret file mode", PREFLIGHT_OK) != NULL, "good: secret files were checked");
}

static void
test_rotator_mismatch(void)
{
	struct conf c = good_conf();
	enum preflight_level worst = PREFLIGHT_OK;

	c.rot_key = "b.key";
	TAP_OK(run(&c, NULL, &worst) == 0, "rotator mismatch: the config loads (as before)");
	TAP_OK(worst == PREFLIGHT_FAIL, "rotator mismatch: the worst level is FAIL");
	expect_line("rotator mismatch", "rotator key matches certificate", PREFLIGHT_FAIL, "prod",
	    L_ROT_KEY, "does not belong to the certificate");
	TAP_OK(count(PREFLIGHT_FAIL) == 1, "rotator mismatch: the only FAIL");

	c = good_conf();
	c.rot_key = NULL;
	TAP_OK(run(&c, NULL, &worst) == 0 && worst == PREFLIGHT_FAIL,
	    "rotator half set: FAIL");
	expect_line("rotator half set", "rotator key matches certificate", PREFLIGHT_FAIL, "prod",
	    L_ROT_CERT, "only rotator_cert_file is set");
}

static void
test_tls_mismatch(void)
{
	struct conf c = good_conf();
	enum preflight_level worst = PREFLIGHT_OK;

	c.tls_cert = "b.crt";
	TAP_OK(run(&c, NULL, &worst) == 0, "TLS mismatch: the config loads (as before)");
	TAP_OK(worst == PREFLIGHT_FAIL, "TLS mismatch: the worst level is FAIL");
	expect_line("TLS mismatch", "server TLS key matches certificate", PREFLIGHT_FAIL, NULL,
	    L_TLS_KEY, "does not belong to the certificate");
	TAP_OK(count(PREFLIGHT_FAIL) == 1, "TLS mismatch: the only FAIL");
}

static void
test_dates(void)
{
	static const struct {
		const char *name, *cert, *warn;
		int tls;
		enum preflight_level level;
		const char *seen;
	} cases[] = {
		{ "expired rotator cert", "expired.crt", "30d", 0, PREFLIGHT_FAIL,
		  "expired on 2025-12-31T00:00:00Z" },
		{ "rotator cert not yet valid", "future.crt", "30d", 0, PREFLIGHT_FAIL,
		  "not valid before 2026-01-02T00:00:00Z" },
		{ "rotator cert ending within warn_before", "soon.crt", "30d,14d", 0,
		  PREFLIGHT_WARN, "ends on 2026-01-11T00:00:00Z, within warn_before (30d)" },
		{ "rotator cert ending after warn_before", "soon.crt", "7d,1d", 0, PREFLIGHT_OK,
		  "valid until 2026-01-11T00:00:00Z" },
		{ "expired TLS cert", "expired.crt", "30d", 1, PREFLIGHT_FAIL, "expired on" },
		{ "TLS cert ending within warn_before", "soon.crt", "30d", 1, PREFLIGHT_WARN,
		  "ends on 2026-01-11T00:00:00Z" },
	};
	enum preflight_level worst;
	const char *check;
	const struct got *g;
	struct conf c;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		c = good_conf();
		c.warn = cases[i].warn;
		if (cases[i].tls)
			c.tls_cert = cases[i].cert;
		else
			c.rot_cert = cases[i].cert;
		check = cases[i].tls ? "server TLS certificate dates" : "rotator certificate dates";
		worst = PREFLIGHT_OK;
		TAP_OK(run(&c, NULL, &worst) == 0, "%s: the config loads", cases[i].name);
		TAP_OK(worst == cases[i].level, "%s: the worst level is %d (got %d)",
		    cases[i].name, cases[i].level, worst);
		if (cases[i].level == PREFLIGHT_OK) {
			g = find(check, PREFLIGHT_OK);
			TAP_OK(g != NULL && strstr(g->seen, cases[i].seen) != NULL,
			    "%s: ok, with the end date", cases[i].name);
			continue;
		}
		expect_line(cases[i].name, check, cases[i].level, cases[i].tls ? NULL : "prod",
		    cases[i].tls ? L_TLS_CERT : L_ROT_CERT, cases[i].seen);
	}
}

static void
test_guids(void)
{
	struct conf c = good_conf();
	enum preflight_level worst = PREFLIGHT_OK;
	size_t i, n = 0;

	c.client = ZERO_GUID;
	c.nylas_app = ZERO_GUID;
	TAP_OK(run(&c, NULL, &worst) == 0, "zero GUID: the config loads (as before)");
	TAP_OK(worst == PREFLIGHT_FAIL, "zero GUID: the worst level is FAIL");
	expect_line("zero GUID", "ids are not placeholders", PREFLIGHT_FAIL, "prod", L_CLIENT,
	    "azure_client_id is the placeholder " ZERO_GUID);
	for (i = 0; i < n_got; i++)
		if (got[i].level == PREFLIGHT_FAIL && got[i].line == L_NYLAS_APP &&
		    strstr(got[i].seen, "nylas_application_id") != NULL)
			n++;
	TAP_OK(n == 1, "zero GUID: nylas_application_id reported at its own line");
	TAP_OK(count(PREFLIGHT_FAIL) == 2, "zero GUID: one FAIL per placeholder");

	c = good_conf();
	c.tenant = "00000000-0000-0000-0000-000000000001";
	c.rot_client = "0";
	TAP_OK(run(&c, NULL, &worst) == 0 && find("ids", PREFLIGHT_FAIL) != NULL &&
	    find("ids", PREFLIGHT_FAIL)->line == L_ROT_CLIENT && count(PREFLIGHT_FAIL) == 1,
	    "zero GUID: a real id with zeros passes, a bare 0 does not");
}

static void
test_store(void)
{
	struct conf c = good_conf();
	enum preflight_level worst = PREFLIGHT_OK;
	const struct got *g;

	c.url = "postgresql://rekey@db.example.com:5432/rekey?sslmode=verify-full";
	TAP_OK(run(&c, NULL, &worst) == 0, "postgresql: the config loads");
	g = find("store url", PREFLIGHT_OK);
	TAP_OK(worst == PREFLIGHT_OK && g != NULL && g->seen != NULL &&
	    strstr(g->seen, "valid PostgreSQL URL") != NULL && strstr(g->seen, "rekey@") == NULL,
	    "postgresql: a valid URL is ok offline, shown without its user (%s)",
	    g != NULL && g->seen != NULL ? g->seen : "");
	c.url = "postgresql://rekey@db.example.com:5432/rekey?no_such_option=1";
	TAP_OK(run(&c, NULL, &worst) == 0, "postgresql: a URL libpq refuses loads");
	TAP_OK(worst == PREFLIGHT_FAIL, "postgresql: the worst level is FAIL");
	expect_line("postgresql", "store url", PREFLIGHT_FAIL, NULL, L_URL,
	    "not a PostgreSQL URL libpq accepts");
	g = find("store url", PREFLIGHT_FAIL);
	TAP_OK(g != NULL && g->fix != NULL && strstr(g->fix, "postgresql://") != NULL &&
	    strstr(g->fix, "password_file") != NULL,
	    "postgresql: the fix shows the URL's form and password_file");

	c.url = "sqlite:DIR/no/such/rekey.db";
	TAP_OK(run(&c, NULL, &worst) == 0 && worst == PREFLIGHT_FAIL,
	    "sqlite in a directory that cannot be made: FAIL");
	expect_line("sqlite, no directory", "store url", PREFLIGHT_FAIL, NULL, L_URL,
	    "does not exist");

	/* serve makes the store's own directory (one level): not a problem. */
	c.url = "sqlite:DIR/var/rekey.db";
	TAP_OK(run(&c, NULL, &worst) == 0 && worst == PREFLIGHT_OK,
	    "sqlite in a directory serve will make: ok");
}

static void
test_secret_mode(void)
{
	static char *const no_env[] = { NULL };
	struct conf c = good_conf();
	char text[8192], *errors = NULL, *key = path_of("a.key");
	struct config *cfg;
	enum preflight_level worst;

	conf_text(&c, text, sizeof(text));
	cfg = config_parse(CONF_NAME, text, strlen(text), no_env, &errors);
	TAP_OK(cfg != NULL, "secret mode: the config loads");
	if (cfg == NULL) {
		free(errors);
		free(key);
		return;
	}
	/* config_load checked it; the doctor runs later, when it may have changed. */
	chmod(key, 0644);
	clear_got();
	worst = preflight_offline(cfg, NULL, NOW, collect_cb, NULL);
	chmod(key, 0600);
	TAP_OK(worst == PREFLIGHT_FAIL, "secret mode: a key opened up after loading is a FAIL");
	expect_line("secret mode", "secret file mode", PREFLIGHT_FAIL, NULL, L_TLS_KEY,
	    "readable or writable by others, or writable by its group");
	config_free(cfg);
	free(key);
}

static void
test_one_app(void)
{
	struct conf c = good_conf();
	enum preflight_level worst = PREFLIGHT_OK;
	size_t i;
	int others = 0;

	c.client = ZERO_GUID;
	TAP_OK(run(&c, "prod", &worst) == 0 && worst == PREFLIGHT_FAIL,
	    "one app: prod's checks run");
	for (i = 0; i < n_got; i++)
		others += got[i].app != NULL && strcmp(got[i].app, "prod") != 0;
	TAP_OK(others == 0, "one app: no line about another app");
	TAP_OK(run(&c, "nope", &worst) == 0 && worst == PREFLIGHT_FAIL &&
	    find("app", PREFLIGHT_FAIL) != NULL, "one app: an unknown app is a FAIL");
}

/* config_key_where, which the lines above rest on. */
static void
test_key_where(void)
{
	char override[] = "REKEY_APP_PROD_WARN_BEFORE=9d";
	char *const env[] = { override, NULL };
	struct conf c = good_conf();
	char text[8192], *errors = NULL;
	const char *var = NULL;
	struct config *cfg;
	int line = -1;

	conf_text(&c, text, sizeof(text));
	cfg = config_parse(CONF_NAME, text, strlen(text), env, &errors);
	TAP_OK(cfg != NULL, "key where: the config loads");
	if (cfg == NULL) {
		free(errors);
		return;
	}
	TAP_OK(config_key_where(cfg, "prod", "rotator_key_file", &line, &var) == 0 &&
	    line == L_ROT_KEY && var == NULL, "key where: an app key's line");
	TAP_OK(config_key_where(cfg, NULL, "url", &line, &var) == 0 && line == L_URL,
	    "key where: a global key's line");
	TAP_OK(config_key_where(cfg, "prod", "owners", &line, &var) == 0 && line == 8,
	    "key where: a key not in the file is at its section's header");
	TAP_OK(config_key_where(cfg, NULL, "max_body", &line, &var) == 0 && line == 1,
	    "key where: so is a global one");
	TAP_OK(config_key_where(cfg, "prod", "warn_before", &line, &var) == 0 &&
	    line == L_WARN && var != NULL && strcmp(var, "REKEY_APP_PROD_WARN_BEFORE") == 0,
	    "key where: an environment override is named");
	TAP_OK(config_key_where(cfg, "nope", "warn_before", &line, &var) == -1 &&
	    config_key_where(cfg, NULL, "nope", &line, &var) == -1 &&
	    config_key_where(cfg, NULL, "warn_before", &line, &var) == -1,
	    "key where: -1 for an unknown app or key, or an app key asked as global");
	config_free(cfg);
}

static void
test_cert_file_dates(void)
{
	int64_t nb = 0, na = 0;
	char *err = NULL, *p = path_of("soon.crt"), *missing = path_of("missing.crt");

	TAP_OK(crypto_cert_file_dates(p, &nb, &na, &err) == 0, "cert dates: read");
	TAP_OK(nb == NOW - 100 * DAY && na == NOW + 10 * DAY, "cert dates: exact (%lld, %lld)",
	    (long long)nb, (long long)na);
	TAP_OK(crypto_cert_file_dates(missing, &nb, &na, &err) == -1 && err != NULL &&
	    strstr(err, missing) != NULL, "cert dates: a missing file is -1 and named");
	free(err);
	err = NULL;
	free(p);
	p = path_of("a.key");
	TAP_OK(crypto_cert_file_dates(p, &nb, &na, &err) == -1 && err != NULL &&
	    strstr(err, "holds no PEM certificate") != NULL, "cert dates: a key file is -1");
	free(err);
	free(p);
	free(missing);
}

int
main(void)
{
	setup();
	test_cert_file_dates();
	test_key_where();
	test_good();
	test_rotator_mismatch();
	test_tls_mismatch();
	test_dates();
	test_guids();
	test_store();
	test_secret_mode();
	test_one_app();
	clear_got();
	teardown();
	return tap_done();
}
