/*
 * preflight: what can be found wrong in a config that loaded, without the
 * network.  config_load checks each value on its own; these checks look at
 * what the values point to (a key and its certificate, a certificate's
 * dates, the store's directory) and at values that parse but cannot be
 * meant (an all-zero GUID), so that `rekey check` fails on a config that the
 * daemon would run with and then never rotate.
 *
 * The files are read with the loaders the daemon uses (crypto.c, jwt.c,
 * store.c, secret.c), so a check and the daemon cannot disagree.
 */
#include "engine/preflight.h"
#include "lib/crypto.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "proto/jwt.h"
#include "state/config.h"
#include "state/store.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#define DATE_MAX 32

/* The state of one preflight_offline call. */
struct preflight {
	const struct config *cfg;
	const char *only_app;		/* NULL: every app */
	int64_t now;
	preflight_cb cb;
	void *arg;
	enum preflight_level worst;
};

/* The config key a line is about: its app (NULL for a global key) and name. */
struct where {
	const char *app;
	const char *key;		/* NULL: no one key */
};

/* The app keys that hold a GUID, and where the right value is found. */
#define APP_FIELD(f) #f, offsetof(struct config_app, f)
static const struct {
	const char *key;
	size_t offset;			/* the char * in struct config_app */
	const char *fix;
} guid_keys[] = {
	{ APP_FIELD(azure_tenant_id), "set azure_tenant_id to the Directory (tenant) ID of "
	    "the app registration (Entra ID > App registrations > the app > Overview)" },
	{ APP_FIELD(azure_client_id), "set azure_client_id to the Application (client) ID of "
	    "the app registration Nylas signs users in with (its Overview page)" },
	{ APP_FIELD(azure_app_object_id), "set azure_app_object_id to the Object ID of that app "
	    "registration (its Overview page), or leave it empty to have rekey look it up" },
	{ APP_FIELD(rotator_client_id), "set rotator_client_id to the Application (client) ID "
	    "of the registration rekey signs in as (the one holding the rotator certificate)" },
	{ APP_FIELD(nylas_application_id), "set nylas_application_id to the application id "
	    "shown in the Nylas dashboard (App settings)" },
};
#undef APP_FIELD

/*
 * Hands one line to the callback.  Takes ownership of seen and fix (fix may
 * be NULL).  A value that came from the environment says so, since the line
 * of the file is then not where it was set.
 */
static void
report(struct preflight *p, const struct where *w, enum preflight_level level,
    const char *check, char *seen, char *fix)
{
	struct preflight_line l;
	const char *env = NULL;
	char *shown = NULL;
	int line = 0;

	memset(&l, 0, sizeof(l));
	if (w->key != NULL && config_key_where(p->cfg, w->app, w->key, &line, &env) == 0) {
		l.file = p->cfg->path;
		l.line = line;
	}
	if (env != NULL)
		shown = xasprintf("%s (set by %s)", seen, env);
	l.level = level;
	l.app = w->app;
	l.check = check;
	l.seen = shown != NULL ? shown : seen;
	l.fix = fix;
	p->cb(&l, p->arg);
	if (level > p->worst)
		p->worst = level;
	free(shown);
	free(seen);
	free(fix);
}

/* "2026-12-05T17:00:00Z" into buf. */
static const char *
format_date(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		util_strlcpy(buf, "an unreadable date", size);
	return buf;
}

/* "30d" or "36h" or "90m": warn_before as the operator would have written it. */
static char *
format_span(int64_t secs)
{
	if (secs % 86400 == 0)
		return xasprintf("%lldd", (long long)(secs / 86400));
	if (secs % 3600 == 0)
		return xasprintf("%lldh", (long long)(secs / 3600));
	return xasprintf("%llds", (long long)secs);
}

/* ---- The store ---- */

static void
check_store(struct preflight *p)
{
	const struct where w = { NULL, "url" };
	const char *url = p->cfg->store_url;
	char *err = NULL, *shown;
	int pg = strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0;

	if (store_check_url(url, &err) == 0) {
		shown = util_url_shown(url, 0);
		/* Offline: a PostgreSQL URL is parsed, not connected to (rekey doctor connects). */
		report(p, &w, PREFLIGHT_OK, "store url", pg ? xasprintf("store %s is a valid"
		    " PostgreSQL URL (not connected to offline)", shown) :
		    xasprintf("store %s can be opened", shown), NULL);
		free(shown);
		return;
	}
	if (pg)
		report(p, &w, PREFLIGHT_FAIL, "store url", err, xstrdup("write [store] url as"
		    " postgresql://USER@HOST:PORT/DB?sslmode=verify-full, with the password in"
		    " [store] password_file"));
	else if (strncmp(url, "sqlite:", 7) == 0)
		report(p, &w, PREFLIGHT_FAIL, "store url", err, xstrdup("create the directory "
		    "(writable by rekey's user), or set [store] url to sqlite:PATH in one that is"));
	else
		report(p, &w, PREFLIGHT_FAIL, "store url", err,
		    xstrdup("set [store] url to sqlite:PATH or postgresql://USER@HOST:PORT/DB"));
}

/* ---- Certificates ---- */

/*
 * Reports the dates of the certificate in cert_file: FAIL outside its
 * validity, WARN when it ends within warn seconds (0: never warn).
 */
static void
check_cert_dates(struct preflight *p, const struct where *w, const char *what,
    const char *cert_file, int64_t warn, const char *renew)
{
	char *check = xasprintf("%s dates", what), *err = NULL, *span;
	int64_t nb, na;
	char d[DATE_MAX];

	if (crypto_cert_file_dates(cert_file, &nb, &na, &err) == -1) {
		report(p, w, PREFLIGHT_FAIL, check, err, xstrdup(renew));
	} else if (p->now < nb) {
		report(p, w, PREFLIGHT_FAIL, check, xasprintf("%s is not valid before %s",
		    cert_file, format_date(nb, d, sizeof(d))), xasprintf("check this machine's "
		    "clock, or %s", renew));
	} else if (p->now >= na) {
		report(p, w, PREFLIGHT_FAIL, check, xasprintf("%s expired on %s", cert_file,
		    format_date(na, d, sizeof(d))), xstrdup(renew));
	} else if (warn > 0 && na - p->now <= warn) {
		span = format_span(warn);
		report(p, w, PREFLIGHT_WARN, check, xasprintf("%s ends on %s, within warn_before "
		    "(%s)", cert_file, format_date(na, d, sizeof(d)), span), xstrdup(renew));
		free(span);
	} else {
		report(p, w, PREFLIGHT_OK, check, xasprintf("%s is valid until %s", cert_file,
		    format_date(na, d, sizeof(d))), NULL);
	}
	free(check);
}

/* A certificate and its key as the config names them, and the fix of each way they fail. */
struct pair {
	const char *check;
	struct where cert_w, key_w;
	const char *cert_file, *key_file;
	const char *fix_cert;		/* the certificate does not load */
	const char *fix_key;		/* the key does not load */
	const char *fix_pair;		/* the key is not the certificate's */
};

/*
 * Loads the pair as the daemon does and checks that the key belongs to the
 * certificate.  Reports a FAIL and returns -1 when it does not; 0 (and
 * nothing reported) when it does.  *cert_ok tells whether the certificate
 * loaded, so that its dates can still be checked.
 */
static int
load_pair(struct preflight *p, const struct pair *pr, int *cert_ok)
{
	X509 *cert;
	EVP_PKEY *key = NULL;
	char *err = NULL;
	int rc = -1;

	*cert_ok = 0;
	cert = crypto_cert_load(pr->cert_file, &err);
	if (cert == NULL) {
		report(p, &pr->cert_w, PREFLIGHT_FAIL, pr->check, err, xstrdup(pr->fix_cert));
		return -1;
	}
	*cert_ok = 1;
	key = crypto_key_load(pr->key_file, &err);
	if (key == NULL)
		report(p, &pr->key_w, PREFLIGHT_FAIL, pr->check, err, xstrdup(pr->fix_key));
	else if (crypto_key_matches(cert, key, pr->cert_file, pr->key_file, &err) == -1)
		report(p, &pr->key_w, PREFLIGHT_FAIL, pr->check, err, xstrdup(pr->fix_pair));
	else
		rc = 0;
	X509_free(cert);
	EVP_PKEY_free(key);
	return rc;
}

/* The largest warn_before of the apps checked: how early a server certificate warns. */
static int64_t
largest_warn(const struct preflight *p)
{
	const struct config_app *app;
	int64_t warn = 0;
	size_t i;

	for (i = 0; i < p->cfg->n_apps; i++) {
		app = p->cfg->apps[i];
		if (p->only_app != NULL && strcmp(app->name, p->only_app) != 0)
			continue;
		/* warn_before is sorted descending. */
		if (app->n_warn_before > 0 && app->warn_before[0] > warn)
			warn = app->warn_before[0];
	}
	return warn;
}

static void
check_tls(struct preflight *p)
{
	const struct config *cfg = p->cfg;
	const struct pair pr = {
		.check = "server TLS key matches certificate",
		.cert_w = { NULL, "tls_cert" }, .key_w = { NULL, "tls_key" },
		.cert_file = cfg->tls_cert, .key_file = cfg->tls_key,
		.fix_cert = "set tls_cert to the server's PEM certificate (chain)",
		.fix_key = "set tls_key to the unencrypted PEM private key of tls_cert (mode 600)",
		.fix_pair = "set tls_key to the key tls_cert was issued for (`openssl x509 -in "
		    "CERT -noout -pubkey` and `openssl pkey -in KEY -pubout` print the same key), "
		    "or issue a certificate for this key",
	};
	int cert_ok;

	/* Neither set: plain HTTP behind a proxy; one alone is a config error already. */
	if (cfg->tls_cert == NULL || cfg->tls_key == NULL)
		return;
	if (load_pair(p, &pr, &cert_ok) == 0)
		report(p, &pr.key_w, PREFLIGHT_OK, pr.check, xasprintf("%s belongs to the "
		    "certificate %s", cfg->tls_key, cfg->tls_cert), NULL);
	if (cert_ok)
		check_cert_dates(p, &pr.cert_w, "server TLS certificate", cfg->tls_cert,
		    largest_warn(p), "renew the server certificate and reload rekey "
		    "(kill -HUP); certs/make-certs.sh makes development ones");
}

/* RSA of at least 2048 bits, as Microsoft wants: what jwt_signer_new adds to the pair check. */
static void
check_rotator_signer(struct preflight *p, const struct where *key_w, const char *check,
    const struct config_app *app)
{
	struct jwt_signer *s;
	char *err = NULL;

	s = jwt_signer_new(app->rotator_cert_file, app->rotator_key_file, &err);
	if (s == NULL) {
		report(p, key_w, PREFLIGHT_FAIL, check, err, xstrdup("make an RSA key of at "
		    "least 2048 bits and a certificate for it, upload the certificate to the "
		    "rotator's app registration, and point rotator_cert_file and "
		    "rotator_key_file at them"));
		return;
	}
	jwt_signer_free(s);
	report(p, key_w, PREFLIGHT_OK, check, xasprintf("%s belongs to the certificate %s",
	    app->rotator_key_file, app->rotator_cert_file), NULL);
}

static void
check_rotator(struct preflight *p, const struct config_app *app)
{
	static const char renew[] = "make a new key and certificate, upload the certificate to "
	    "the rotator's app registration (Certificates & secrets), then point "
	    "rotator_cert_file and rotator_key_file at them";
	const struct pair pr = {
		.check = "rotator key matches certificate",
		.cert_w = { app->name, "rotator_cert_file" },
		.key_w = { app->name, "rotator_key_file" },
		.cert_file = app->rotator_cert_file, .key_file = app->rotator_key_file,
		.fix_cert = "set rotator_cert_file to the PEM certificate uploaded to the "
		    "rotator's app registration",
		.fix_key = "set rotator_key_file to the unencrypted PEM private key of "
		    "rotator_cert_file (mode 600)",
		.fix_pair = "set rotator_key_file to the key of rotator_cert_file (`openssl x509 "
		    "-in CERT -noout -pubkey` and `openssl pkey -in KEY -pubout` print the same "
		    "key), or set rotator_cert_file to this key's certificate and upload that to "
		    "the app registration",
	};
	int cert_ok;

	if (app->rotator_cert_file == NULL && app->rotator_key_file == NULL)
		return;
	if (app->rotator_cert_file == NULL || app->rotator_key_file == NULL) {
		report(p, app->rotator_key_file ? &pr.key_w : &pr.cert_w, PREFLIGHT_FAIL,
		    pr.check, xasprintf("only %s is set", app->rotator_key_file ?
		    "rotator_key_file" : "rotator_cert_file"), xstrdup("set both "
		    "rotator_cert_file and rotator_key_file (the certificate credential rekey "
		    "signs in with), or neither"));
		return;
	}
	if (load_pair(p, &pr, &cert_ok) == 0)
		check_rotator_signer(p, &pr.key_w, pr.check, app);
	if (cert_ok)
		check_cert_dates(p, &pr.cert_w, "rotator certificate", app->rotator_cert_file,
		    app->n_warn_before > 0 ? app->warn_before[0] : 0, renew);
}

/* ---- Values ---- */

/* A value made of zeros and dashes only ("00000000-0000-0000-0000-000000000000"). */
static int
placeholder_guid(const char *v)
{
	return v[0] != '\0' && strspn(v, "0-") == strlen(v) && strchr(v, '0') != NULL;
}

static void
check_guids(struct preflight *p, const struct config_app *app)
{
	static const char check[] = "ids are not placeholders";
	struct where w = { app->name, NULL };
	const char *v;
	size_t i, n_bad = 0;

	for (i = 0; i < sizeof(guid_keys) / sizeof(guid_keys[0]); i++) {
		v = *(char *const *)((const char *)app + guid_keys[i].offset);
		if (v == NULL || !placeholder_guid(v))
			continue;
		w.key = guid_keys[i].key;
		report(p, &w, PREFLIGHT_FAIL, check, xasprintf("%s is the placeholder %s",
		    guid_keys[i].key, v), xstrdup(guid_keys[i].fix));
		n_bad++;
	}
	if (n_bad == 0) {
		w.key = NULL;
		report(p, &w, PREFLIGHT_OK, check, xstrdup("no id is all zeros"), NULL);
	}
}

/* ---- Secret files ---- */

struct file_walk {
	struct preflight *p;
	const char *app;		/* the files of this app only; NULL: the global ones */
};

static void
secret_file_cb(const char *app, const char *key, const char *path, void *arg)
{
	struct file_walk *fw = arg;
	const struct where w = { app, key };
	char *err = NULL;

	if ((app == NULL) != (fw->app == NULL) || (app != NULL && strcmp(app, fw->app) != 0))
		return;
	/* The very check config_load made: the file may have changed since. */
	if (secret_file_check(path, &err) == 0)
		report(fw->p, &w, PREFLIGHT_OK, "secret file mode", xasprintf("%s: %s is "
		    "readable by its owner only", key, path), NULL);
	else
		report(fw->p, &w, PREFLIGHT_FAIL, "secret file mode", xasprintf("%s: %s", key,
		    err), xasprintf("chmod 600 %s, owned by the user rekey runs as", path));
	free(err);
}

static void
check_secret_files(struct preflight *p, const char *app)
{
	struct file_walk fw = { p, app };

	config_each_secret_file(p->cfg, secret_file_cb, &fw);
}

/* ---- The API ---- */

static void
check_app(struct preflight *p, const struct config_app *app)
{
	check_guids(p, app);
	check_rotator(p, app);
	check_secret_files(p, app->name);
}

enum preflight_level
preflight_offline(const struct config *cfg, const char *app, int64_t now,
    preflight_cb cb, void *arg)
{
	struct preflight p = { cfg, app, now, cb, arg, PREFLIGHT_OK };
	const struct where none = { NULL, NULL };
	size_t i;

	check_store(&p);
	check_tls(&p);
	check_secret_files(&p, NULL);
	if (app != NULL && config_find_app(cfg, app) == NULL) {
		report(&p, &none, PREFLIGHT_FAIL, "app", xasprintf("%s has no [app %s] section",
		    cfg->path, app), xstrdup("name one of the config's apps"));
		return p.worst;
	}
	for (i = 0; i < cfg->n_apps; i++)
		if (app == NULL || strcmp(cfg->apps[i]->name, app) == 0)
			check_app(&p, cfg->apps[i]);
	return p.worst;
}
