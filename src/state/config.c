/*
 * config: the INI file of DESIGN.md.  Every key is one row of config_keys[]
 * (section, name, type, default, target field, bounds), in the manner of
 * Redis's config.c: parsing, environment overrides, defaults, file checks,
 * secret loading and config_free are all driven by that table.
 *
 * Loading runs in phases so that every problem is reported, not only the
 * first one:
 *   1. lex the text into one raw value ("slot") per key and section;
 *   2. let REKEY_<SECTION>_<KEY> environment variables replace slots;
 *   3. parse each slot, or the row's default, into its field;
 *   4. check what involves several keys (the TLS pair, at least one app);
 *   5. check the files named and load the secrets;
 *   6. keep where each key was set, for checks made later (config_key_where).
 * Paths are used as written: a relative path is relative to the working
 * directory of the process, not to the directory of the config file.
 */
#include "state/config.h"
#include "lib/crypto.h"
#include "lib/secret.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define CONFIG_MAX_FILE		(1024 * 1024)	/* bytes in the file */
#define CONFIG_MAX_LINE		4096		/* bytes in a line or an environment value */
#define CONFIG_MAX_APPS		256
#define CONFIG_MAX_ERRORS	1000		/* more than this is not worth reading */
#define CONFIG_MAX_WARN		32		/* warn_before thresholds */
#define MASTER_KEY_HEX		64
#define GRAPH_CLIENT_STATE_MAX	128		/* Graph's limit on clientState */
/* An admin token is a bearer credential: shorter ones can be guessed or were typed by hand. */
#define ADMIN_TOKEN_MIN		32
#define SHOWN_MAX		64		/* bytes of a bad value quoted in an error */

#define KIB	1024LL
#define MIB	(1024LL * 1024)
#define MINUTE	60LL
#define HOUR	(60 * MINUTE)
#define DAY	(24 * HOUR)
#define WEEK	(7 * DAY)
#define YEAR	(365 * DAY)

enum section_kind {
	SEC_NONE,		/* before the first header: keys are errors */
	SEC_SERVER,
	SEC_STORE,
	SEC_OUTBOUND,
	SEC_NOTIFY,
	SEC_APP,
	SEC_BAD,		/* after a header already reported: keys are skipped */
};

static const char *const section_names[] = {
	"", "server", "store", "outbound", "notify", "app", "",
};

enum key_type {
	KT_STRING,		/* char *, free text */
	KT_WORD,		/* char *, one of words[] */
	KT_URL,			/* char *, starting with one of words[] */
	KT_HOSTPORT,		/* char *, "host:port" or "[v6]:port" */
	KT_PATH,		/* char *, a file that must be readable */
	KT_SECRET_FILE,		/* char *, a file only we may read (secret_file_check) */
	KT_BOOL,		/* int */
	KT_ENUM,		/* int, the index of the value in words[] */
	KT_INT,			/* int64_t in [min, max] */
	KT_DURATION,		/* int64_t seconds in [min, max] */
	KT_SIZE,		/* int64_t bytes in [min, max] */
	KT_DURATION_LIST,	/* int64_t *, descending, each in [min, max] */
	KT_EMAIL_LIST,		/* char ** */
	KT_CIDR_LIST,		/* struct cidr * */
	KT_IGNORED,		/* nothing: an old key still accepted, with a warning (why_ignored) */
};

/* What is done with a secret file once it has passed secret_file_check. */
enum secret_load {
	LOAD_NONE,		/* nothing: another module reads it when it needs it */
	LOAD_FIRST_LINE,	/* its first line, at most secret_max bytes when that is set */
	LOAD_LINES,		/* every non-empty line */
	LOAD_MASTER_KEY,	/* 64 hex characters, kept as the 32 bytes they encode */
	LOAD_WHSEC,		/* checked to be "whsec_" and base64, then kept */
	LOAD_URL,		/* a URL (of words[] schemes) into the char * at secret_offset */
};

#define KEY_REQUIRED	0x1
#define KEY_SENSITIVE	0x2	/* the value may hold a credential: never quote it */

struct config_key {
	enum section_kind section;
	const char *name;
	enum key_type type;
	const char *def;		/* parsed like a value from the file; NULL: none */
	size_t offset;			/* the field in struct config or struct config_app */
	int64_t min, max;		/* bounds of numbers */
	int flags;
	const char *const *words;	/* KT_WORD, KT_ENUM: the values; KT_URL: the schemes */
	size_t count_offset;		/* lists: the size_t count beside the array */
	enum secret_load load;
	size_t secret_offset;		/* the struct secret * (or array) loaded */
	size_t secret_count_offset;	/* LOAD_LINES: its count */
	size_t secret_max;		/* LOAD_FIRST_LINE: longest value accepted; 0: any */
	size_t secret_min;		/* LOAD_FIRST_LINE: shortest value accepted; 0: any */
	const char *why_ignored;	/* KT_IGNORED: the warning's reason */
};

static const char *const http_schemes[] = { "https://", "http://", NULL };
static const char *const smtp_schemes[] = { "smtps://", "smtp://", NULL };
static const char *const store_schemes[] = { "sqlite:", "postgres://", "postgresql://", NULL };
static const char *const log_levels[] = { "debug", "info", "warn", "error", NULL };
/* In the order of enum rotation_mode. */
static const char *const rotation_modes[] = { "auto", "approve", "dry-run", NULL };

_Static_assert(sizeof(enum rotation_mode) == sizeof(int), "KT_ENUM stores an int");

#define NO_RICH_USERS "Graph does not support rich notifications for /users " \
    "(includeResourceData); rekey subscribes without them and believes only what " \
    "GET /users/{id} shows. Remove the key."

/* In the rows, S(f) and A(f) name the target field in struct config and struct config_app. */
#define S(field) .offset = offsetof(struct config, field)
#define A(field) .offset = offsetof(struct config_app, field)
#define SO(field) offsetof(struct config, field)
#define AO(field) offsetof(struct config_app, field)

static const struct config_key config_keys[] = {
	{ SEC_SERVER, "listen", KT_HOSTPORT, "127.0.0.1:8443", S(listen) },
	{ SEC_SERVER, "tls_cert", KT_PATH, NULL, S(tls_cert) },
	{ SEC_SERVER, "tls_key", KT_SECRET_FILE, NULL, S(tls_key) },
	{ SEC_SERVER, "trusted_proxies", KT_CIDR_LIST, NULL, S(trusted_proxies),
	  .count_offset = SO(n_trusted_proxies) },
	{ SEC_SERVER, "public_url", KT_URL, NULL, S(public_url), .words = http_schemes },
	{ SEC_SERVER, "admin_token_file", KT_SECRET_FILE, NULL, S(admin_token_file),
	  .load = LOAD_FIRST_LINE, .secret_offset = SO(admin_token), .secret_min = ADMIN_TOKEN_MIN },
	/* Set: approving a rotation takes this token, so that it can be a second person's call. */
	{ SEC_SERVER, "approve_token_file", KT_SECRET_FILE, NULL, S(approve_token_file),
	  .load = LOAD_FIRST_LINE, .secret_offset = SO(approve_token), .secret_min = ADMIN_TOKEN_MIN },
	{ SEC_SERVER, "max_body", KT_SIZE, "1048576", S(max_body), .min = KIB, .max = 64 * MIB },
	{ SEC_SERVER, "max_header_size", KT_SIZE, "16384", S(max_header_size), .min = KIB, .max = MIB },
	{ SEC_SERVER, "max_connections", KT_INT, "4096", S(max_connections), .min = 1, .max = 1000000 },
	/* Trusted proxies are exempt: behind one, every connection comes from it. */
	{ SEC_SERVER, "max_connections_per_ip", KT_INT, "64", S(max_connections_per_ip), .min = 1,
	  .max = 1000000 },
	{ SEC_SERVER, "request_timeout", KT_DURATION, "30s", S(request_timeout), .min = 1, .max = HOUR },
	{ SEC_SERVER, "log_level", KT_WORD, "info", S(log_level), .words = log_levels },

	{ SEC_STORE, "url", KT_URL, "sqlite:var/rekey.db", S(store_url), .words = store_schemes,
	  .flags = KEY_SENSITIVE },
	{ SEC_STORE, "master_key_file", KT_SECRET_FILE, NULL, S(master_key_file),
	  .flags = KEY_REQUIRED, .load = LOAD_MASTER_KEY, .secret_offset = SO(master_key) },

	{ SEC_OUTBOUND, "ca_file", KT_PATH, NULL, S(ca_file) },
	{ SEC_OUTBOUND, "timeout_ms", KT_INT, "10000", S(timeout_ms), .min = 100, .max = 600000 },

	{ SEC_NOTIFY, "smtp_url", KT_URL, NULL, S(smtp_url), .words = smtp_schemes,
	  .flags = KEY_SENSITIVE },
	{ SEC_NOTIFY, "smtp_from", KT_STRING, NULL, S(smtp_from) },
	{ SEC_NOTIFY, "smtp_user", KT_STRING, NULL, S(smtp_user) },
	{ SEC_NOTIFY, "smtp_password_file", KT_SECRET_FILE, NULL, S(smtp_password_file),
	  .load = LOAD_FIRST_LINE, .secret_offset = SO(smtp_password) },
	{ SEC_NOTIFY, "slack_webhook_url", KT_URL, NULL, S(slack_webhook_url), .words = http_schemes,
	  .flags = KEY_SENSITIVE },
	{ SEC_NOTIFY, "teams_webhook_url", KT_URL, NULL, S(teams_webhook_url), .words = http_schemes,
	  .flags = KEY_SENSITIVE },
	{ SEC_NOTIFY, "webhook_url", KT_URL, NULL, S(webhook_url), .words = http_schemes,
	  .flags = KEY_SENSITIVE },
	/* The same URLs from files, kept out of the config (they are credentials). */
	{ SEC_NOTIFY, "slack_webhook_url_file", KT_SECRET_FILE, NULL, S(slack_webhook_url_file),
	  .words = http_schemes, .load = LOAD_URL, .secret_offset = SO(slack_webhook_url) },
	{ SEC_NOTIFY, "teams_webhook_url_file", KT_SECRET_FILE, NULL, S(teams_webhook_url_file),
	  .words = http_schemes, .load = LOAD_URL, .secret_offset = SO(teams_webhook_url) },
	{ SEC_NOTIFY, "webhook_url_file", KT_SECRET_FILE, NULL, S(webhook_url_file),
	  .words = http_schemes, .load = LOAD_URL, .secret_offset = SO(webhook_url) },
	{ SEC_NOTIFY, "webhook_secret_file", KT_SECRET_FILE, NULL, S(webhook_secret_file),
	  .load = LOAD_WHSEC, .secret_offset = SO(webhook_secret) },
	{ SEC_NOTIFY, "digest_interval", KT_DURATION, "1h", S(digest_interval), .min = 1,
	  .max = 7 * 86400 },

	{ SEC_APP, "nylas_api_base", KT_URL, "https://api.us.nylas.com", A(nylas_api_base),
	  .words = http_schemes },
	{ SEC_APP, "nylas_application_id", KT_STRING, NULL, A(nylas_application_id) },
	{ SEC_APP, "nylas_api_key_file", KT_SECRET_FILE, NULL, A(nylas_api_key_file),
	  .load = LOAD_FIRST_LINE, .secret_offset = AO(nylas_api_key) },
	{ SEC_APP, "nylas_webhook_secret_file", KT_SECRET_FILE, NULL, A(nylas_webhook_secret_file),
	  .flags = KEY_REQUIRED, .load = LOAD_LINES, .secret_offset = AO(webhook_secrets),
	  .secret_count_offset = AO(n_webhook_secrets) },
	/* The destination rekey registered and whose secret it rotates (webhook_manager.c). */
	{ SEC_APP, "nylas_webhook_manage", KT_BOOL, "no", A(nylas_webhook_manage) },
	{ SEC_APP, "nylas_webhook_secret_grace", KT_DURATION, "10m", A(nylas_webhook_secret_grace),
	  .min = 0, .max = 30 * DAY },
	{ SEC_APP, "nylas_webhook_secret_rotate_every", KT_DURATION, "0",
	  A(nylas_webhook_secret_rotate_every), .min = 0, .max = 10 * YEAR },
	{ SEC_APP, "nylas_connector_credential_id", KT_STRING, NULL,
	  A(nylas_connector_credential_id) },
	/*
	 * The tenant a rotation writes into the connector credential it updates
	 * (and into settings when Nylas's GET shows none).  Nylas never shows a
	 * credential's data, and a PATCH replaces the whole credential_data
	 * object (Nylas's "Update a connector credential" reference): a tenant
	 * left out is dropped, one made up (the app's home tenant) locks out
	 * every other tenant's users.  So only the operator can say which it is.
	 */
	{ SEC_APP, "nylas_tenant", KT_STRING, NULL, A(nylas_tenant) },
	{ SEC_APP, "azure_tenant_id", KT_STRING, NULL, A(azure_tenant_id) },
	{ SEC_APP, "azure_client_id", KT_STRING, NULL, A(azure_client_id) },
	{ SEC_APP, "azure_app_object_id", KT_STRING, NULL, A(azure_app_object_id) },
	{ SEC_APP, "azure_login_base", KT_URL, "https://login.microsoftonline.com",
	  A(azure_login_base), .words = http_schemes },
	{ SEC_APP, "graph_base", KT_URL, "https://graph.microsoft.com/v1.0", A(graph_base),
	  .words = http_schemes },
	{ SEC_APP, "rotator_client_id", KT_STRING, NULL, A(rotator_client_id) },
	{ SEC_APP, "rotator_cert_file", KT_PATH, NULL, A(rotator_cert_file) },
	{ SEC_APP, "rotator_key_file", KT_SECRET_FILE, NULL, A(rotator_key_file) },
	{ SEC_APP, "current_secret_file", KT_SECRET_FILE, NULL, A(current_secret_file),
	  .load = LOAD_FIRST_LINE, .secret_offset = AO(current_secret) },
	{ SEC_APP, "graph_client_state_file", KT_SECRET_FILE, NULL, A(graph_client_state_file),
	  .load = LOAD_FIRST_LINE, .secret_offset = AO(graph_client_state),
	  .secret_max = GRAPH_CLIENT_STATE_MAX },
	{ SEC_APP, "graph_subscribe_users", KT_BOOL, "yes", A(graph_subscribe_users) },
	{ SEC_APP, "graph_subscription_lifetime", KT_DURATION, "41760m",
	  A(graph_subscription_lifetime), .min = 10, .max = 41760 * 60 },
	{ SEC_APP, "graph_jwks_url", KT_URL, NULL, A(graph_jwks_url), .words = http_schemes },
	{ SEC_APP, "graph_jwks_refresh_min", KT_DURATION, "5m", A(graph_jwks_refresh_min),
	  .min = 1, .max = DAY },
	/*
	 * Rich notifications: Graph does not offer them for /users (the docs'
	 * change-notifications-with-resource-data, "Supported resources", list no
	 * user or group), so an older config's keys load and are ignored aloud.
	 */
	{ SEC_APP, "graph_encryption_cert_file", KT_IGNORED, .why_ignored = NO_RICH_USERS },
	{ SEC_APP, "graph_encryption_key_file", KT_IGNORED, .why_ignored = NO_RICH_USERS },
	{ SEC_APP, "graph_encryption_cert_id", KT_IGNORED, .why_ignored = NO_RICH_USERS },
	{ SEC_APP, "graph_encryption_old_key_file", KT_IGNORED, .why_ignored = NO_RICH_USERS },
	{ SEC_APP, "graph_encryption_old_cert_id", KT_IGNORED, .why_ignored = NO_RICH_USERS },
	{ SEC_APP, "rotation_mode", KT_ENUM, "auto", A(rotation_mode), .words = rotation_modes },
	{ SEC_APP, "rotate_before", KT_DURATION, "30d", A(rotate_before), .min = 1, .max = 10 * YEAR },
	{ SEC_APP, "secret_lifetime", KT_DURATION, "180d", A(secret_lifetime), .min = 1,
	  .max = 10 * YEAR },
	{ SEC_APP, "old_secret_grace", KT_DURATION, "7d", A(old_secret_grace), .min = 0, .max = YEAR },
	{ SEC_APP, "retire_unmanaged_secrets", KT_BOOL, "no", A(retire_unmanaged_secrets) },
	{ SEC_APP, "retire_foreign_secrets", KT_BOOL, "no", A(retire_foreign_secrets) },
	/*
	 * A new secret reaches Entra's replicas over minutes: a first accepted
	 * token request is followed by refusals for 2 to 10 minutes
	 * (hashicorp/vault#27593), so publishing waits for several in a row.
	 */
	{ SEC_APP, "secret_test_successes", KT_INT, "8", A(secret_test_successes), .min = 1,
	  .max = 1000 },
	{ SEC_APP, "secret_test_spacing_ms", KT_INT, "1000", A(secret_test_spacing_ms), .min = 0,
	  .max = 600000 },
	{ SEC_APP, "secret_propagation_timeout", KT_DURATION, "15m", A(secret_propagation_timeout),
	  .min = 1, .max = DAY },
	{ SEC_APP, "rotation_backoff", KT_DURATION, "1h", A(rotation_backoff), .min = 1,
	  .max = 7 * DAY },
	/* After publishing, a refused new secret while the old works puts the old one back. */
	{ SEC_APP, "secret_watch_period", KT_DURATION, "15m", A(secret_watch_period), .min = 0,
	  .max = DAY },
	{ SEC_APP, "secret_watch_interval_ms", KT_INT, "30000", A(secret_watch_interval_ms),
	  .min = 50, .max = 3600000 },
	{ SEC_APP, "expiry_poll", KT_DURATION, "1h", A(expiry_poll), .min = 1, .max = 30 * DAY },
	{ SEC_APP, "warn_before", KT_DURATION_LIST, "30d,14d,7d,1d", A(warn_before), .min = 1,
	  .max = 10 * YEAR, .count_offset = AO(n_warn_before) },
	{ SEC_APP, "condition_grace", KT_DURATION, "1h", A(condition_grace), .min = 0,
	  .max = 30 * DAY },
	{ SEC_APP, "owners", KT_EMAIL_LIST, NULL, A(owners), .count_offset = AO(n_owners) },
	{ SEC_APP, "owners_from_graph", KT_BOOL, "yes", A(owners_from_graph) },
	{ SEC_APP, "reauth_url_template", KT_STRING, NULL, A(reauth_url_template) },
};

#undef S
#undef A
#undef SO
#undef AO

#define N_KEYS (sizeof(config_keys) / sizeof(config_keys[0]))

/* The raw value of one key of one section, as the file or the environment gave it. */
struct slot {
	char *value;		/* NULL: not given */
	int line;		/* where the file sets it; 0: not in the file */
	char *env;		/* the environment variable that replaced it, or NULL */
};

/* What config_key_where tells, kept from the slots once they are freed. */
struct config_origin {
	int line;		/* of the key, else of its section's header, else 0 */
	char *env;		/* the environment variable that replaced it, or NULL */
};

/* The slots of one [app NAME] section, parallel to cfg->apps. */
struct app_slots {
	int line;		/* of the header */
	struct slot slots[N_KEYS];
};

struct config_error {
	int line;
	size_t seq;		/* keeps errors of one line in the order found */
	char *text;		/* "FILE:LINE: message" */
};

struct parser {
	const char *path;
	struct config *cfg;
	struct slot global[N_KEYS];
	int header_line[SEC_BAD + 1];	/* first header of each global section */
	struct app_slots **apps;	/* parallel to cfg->apps */
	size_t n_apps;
	enum section_kind cur;
	size_t cur_app;
	struct config_error *errs;
	size_t n_errs;
	int too_many;
};

static void vreport(struct parser *, int, const char *, const char *, va_list)
    __attribute__((format(printf, 4, 0)));
static void report(struct parser *, int, const char *, const char *, ...)
    __attribute__((format(printf, 4, 5)));
static void report_slot(struct parser *, const struct slot *, const char *, ...)
    __attribute__((format(printf, 3, 4)));
static void warn_slot(struct config *, const char *, const struct slot *, const char *, ...)
    __attribute__((format(printf, 4, 5)));

/* Records one problem; env names the environment variable it came from, if any. */
static void
vreport(struct parser *p, int line, const char *env, const char *fmt, va_list ap)
{
	struct config_error *e;
	char *msg;

	if (p->n_errs >= CONFIG_MAX_ERRORS) {
		p->too_many = 1;
		return;
	}
	msg = xvasprintf(fmt, ap);
	p->errs = xrealloc(p->errs, (p->n_errs + 1) * sizeof(*p->errs));
	e = &p->errs[p->n_errs];
	e->line = line;
	e->seq = p->n_errs++;
	if (env != NULL)
		e->text = xasprintf("%s:%d: %s (environment): %s", p->path, line, env, msg);
	else
		e->text = xasprintf("%s:%d: %s", p->path, line, msg);
	free(msg);
}

static void
report(struct parser *p, int line, const char *env, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(p, line, env, fmt, ap);
	va_end(ap);
}

/* Reports at the place a value came from: its line, or its environment variable. */
static void
report_slot(struct parser *p, const struct slot *slot, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(p, slot->line, slot->env, fmt, ap);
	va_end(ap);
}

/*
 * Records a warning, "FILE:LINE: warning: message", in the order found: the
 * config still loads, and whoever loaded it shows them (check prints them,
 * serve logs them).
 */
static void
warn_slot(struct config *cfg, const char *path, const struct slot *slot, const char *fmt, ...)
{
	va_list ap;
	char *msg;

	if (cfg->n_warnings >= CONFIG_MAX_ERRORS)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	cfg->warnings = xrealloc(cfg->warnings, (cfg->n_warnings + 1) * sizeof(*cfg->warnings));
	if (slot->env != NULL)
		cfg->warnings[cfg->n_warnings++] = xasprintf("%s:%d: warning: %s (environment): %s",
		    path, slot->line, slot->env, msg);
	else
		cfg->warnings[cfg->n_warnings++] = xasprintf("%s:%d: warning: %s", path,
		    slot->line, msg);
	free(msg);
}

static int
error_cmp(const void *a, const void *b)
{
	const struct config_error *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Every error, sorted by line, one per line of the result.  Caller frees. */
static char *
join_errors(struct parser *p)
{
	size_t i, len = 0, off = 0;
	char *out, *more = NULL;

	qsort(p->errs, p->n_errs, sizeof(*p->errs), error_cmp);
	if (p->too_many)
		more = xasprintf("%s:0: too many errors; only the first %d are shown", p->path,
		    CONFIG_MAX_ERRORS);
	for (i = 0; i < p->n_errs; i++)
		len += strlen(p->errs[i].text) + 1;
	len += more ? strlen(more) + 1 : 0;
	out = xmalloc(len + 1);
	for (i = 0; i < p->n_errs; i++) {
		len = strlen(p->errs[i].text);
		memcpy(out + off, p->errs[i].text, len);
		off += len;
		out[off++] = '\n';
	}
	if (more != NULL) {
		len = strlen(more);
		memcpy(out + off, more, len);
		off += len + 1;
	}
	out[off > 0 ? off - 1 : 0] = '\0';
	free(more);
	return out;
}

/* A bounded, printable copy of s for an error message, in buf. */
static const char *
shown(const char *s, char *buf, size_t size)
{
	size_t i, n = strlen(s);
	int cut = n > SHOWN_MAX;

	if (cut)
		n = SHOWN_MAX;
	if (n > size - 4)
		n = size - 4;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		buf[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	buf[i] = '\0';
	if (cut)
		memcpy(buf + i, "...", 4);
	return buf;
}

/* ", got 'VALUE'" for a message, or nothing when the key may hold a credential. */
static const char *
got(const struct config_key *k, const char *value, char *buf, size_t size)
{
	char tmp[SHOWN_MAX + 4];

	if (k->flags & KEY_SENSITIVE) {
		buf[0] = '\0';
		return buf;
	}
	snprintf(buf, size, ", got '%s'", shown(value, tmp, sizeof(tmp)));
	return buf;
}

static char *
trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	return s;
}

/* Cuts a comment: '#' or ';' at the start of the line or after whitespace. */
static void
strip_comment(char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if ((s[i] == '#' || s[i] == ';') && (i == 0 || isspace((unsigned char)s[i - 1]))) {
			s[i] = '\0';
			return;
		}
	}
}

static int
find_key(enum section_kind section, const char *name)
{
	size_t i;

	for (i = 0; i < N_KEYS; i++)
		if (config_keys[i].section == section && strcmp(config_keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* "[server]" or "[app prod]" for messages. */
static const char *
section_label(enum section_kind kind, const char *app, char *buf, size_t size)
{
	if (kind == SEC_APP)
		snprintf(buf, size, "[app %s]", app);
	else
		snprintf(buf, size, "[%s]", section_names[kind]);
	return buf;
}

/* ---- Phase 1: the file ---- */

static int
valid_app_name(const char *name)
{
	const char *c;

	if (*name == '\0')
		return 0;
	for (c = name; *c != '\0'; c++)
		if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-')
			return 0;
	return 1;
}

static void
add_app(struct parser *p, int line, const char *name)
{
	struct config *cfg = p->cfg;
	struct config_app *app = xcalloc(1, sizeof(*app));

	app->name = xstrdup(name);
	cfg->apps = xrealloc(cfg->apps, (cfg->n_apps + 1) * sizeof(*cfg->apps));
	p->apps = xrealloc(p->apps, (cfg->n_apps + 1) * sizeof(*p->apps));
	p->apps[cfg->n_apps] = xcalloc(1, sizeof(**p->apps));
	p->apps[cfg->n_apps]->line = line;
	p->n_apps = cfg->n_apps + 1;
	cfg->apps[cfg->n_apps] = app;
	p->cur = SEC_APP;
	p->cur_app = cfg->n_apps++;
}

static void
app_header(struct parser *p, int line, const char *name)
{
	char buf[SHOWN_MAX + 4];
	size_t i;

	p->cur = SEC_BAD;
	if (*name == '\0') {
		report(p, line, NULL, "an app section needs a name: [app NAME]");
		return;
	}
	if (!valid_app_name(name)) {
		report(p, line, NULL, "app name '%s' may hold only letters, digits, '_' and '-'",
		    shown(name, buf, sizeof(buf)));
		return;
	}
	for (i = 0; i < p->cfg->n_apps; i++) {
		if (strcmp(p->cfg->apps[i]->name, name) == 0) {
			report(p, line, NULL, "duplicate app name '%s' (first at line %d)", name,
			    p->apps[i]->line);
			return;
		}
	}
	if (p->cfg->n_apps >= CONFIG_MAX_APPS) {
		report(p, line, NULL, "more than %d [app NAME] sections", CONFIG_MAX_APPS);
		return;
	}
	add_app(p, line, name);
}

static void
section_header(struct parser *p, int line, char *s)
{
	char buf[SHOWN_MAX + 4];
	size_t n = strlen(s);
	enum section_kind kind;
	char *name;

	if (s[n - 1] != ']') {
		report(p, line, NULL, "a section header must end with ']'");
		p->cur = SEC_BAD;
		return;
	}
	s[n - 1] = '\0';
	name = trim(s + 1);
	for (kind = SEC_SERVER; kind < SEC_APP; kind++) {
		if (strcmp(name, section_names[kind]) == 0) {
			if (p->header_line[kind] == 0)
				p->header_line[kind] = line;
			p->cur = kind;
			return;
		}
	}
	if (strncmp(name, "app", 3) == 0 && (name[3] == '\0' || isspace((unsigned char)name[3]))) {
		app_header(p, line, trim(name + 3));
		return;
	}
	report(p, line, NULL, "unknown section [%s]", shown(name, buf, sizeof(buf)));
	p->cur = SEC_BAD;
}

static struct slot *
cur_slot(struct parser *p, size_t idx)
{
	if (p->cur == SEC_APP)
		return &p->apps[p->cur_app]->slots[idx];
	return &p->global[idx];
}

static void
key_value(struct parser *p, int line, char *s)
{
	char buf[SHOWN_MAX + 4], label[CONFIG_MAX_LINE + 16];
	char *eq = strchr(s, '='), *key;
	struct slot *slot;
	int idx;

	if (p->cur == SEC_BAD)
		return;
	if (eq == NULL) {
		report(p, line, NULL, "expected 'key = value' or a [section] header");
		return;
	}
	*eq = '\0';
	key = trim(s);
	if (*key == '\0') {
		report(p, line, NULL, "missing key name before '='");
		return;
	}
	if (p->cur == SEC_NONE) {
		report(p, line, NULL, "key '%s' is outside any section", shown(key, buf, sizeof(buf)));
		return;
	}
	idx = find_key(p->cur, key);
	if (idx < 0) {
		report(p, line, NULL, "unknown key '%s' in %s", shown(key, buf, sizeof(buf)),
		    section_label(p->cur, p->cur == SEC_APP ? p->cfg->apps[p->cur_app]->name : "",
		    label, sizeof(label)));
		return;
	}
	slot = cur_slot(p, (size_t)idx);
	if (slot->line != 0) {
		report(p, line, NULL, "duplicate key '%s' (first at line %d)",
		    shown(key, buf, sizeof(buf)), slot->line);
		return;
	}
	slot->line = line;
	slot->value = xstrdup(trim(eq + 1));
}

static void
lex_line(struct parser *p, int line, char *buf)
{
	char *s;

	strip_comment(buf);
	s = trim(buf);
	if (*s == '\0')
		return;
	if (*s == '[')
		section_header(p, line, s);
	else
		key_value(p, line, s);
}

static void
lex(struct parser *p, const char *text, size_t len)
{
	char buf[CONFIG_MAX_LINE + 1];
	const char *s = text, *end = text + len, *nl;
	int line = 0;
	size_t n;

	while (s < end) {
		line++;
		nl = memchr(s, '\n', (size_t)(end - s));
		n = nl != NULL ? (size_t)(nl - s) : (size_t)(end - s);
		if (n > CONFIG_MAX_LINE) {
			report(p, line, NULL, "line is longer than %d bytes", CONFIG_MAX_LINE);
		} else if (memchr(s, '\0', n) != NULL) {
			report(p, line, NULL, "line holds a NUL byte");
		} else {
			memcpy(buf, s, n);
			buf[n] = '\0';
			lex_line(p, line, buf);
		}
		s = nl != NULL ? nl + 1 : end;
	}
}

/* ---- Phase 2: the environment ---- */

/* How a character of a section, app or key name appears in a variable name. */
static int
env_char(char c)
{
	return c == '-' ? '_' : toupper((unsigned char)c);
}

/* When s starts with word (as in a variable name) and '_', returns what follows; else NULL. */
static const char *
env_skip(const char *s, const char *word)
{
	for (; *word != '\0'; word++, s++)
		if (*s != env_char(*word))
			return NULL;
	return *s == '_' ? s + 1 : NULL;
}

static int
env_find_key(enum section_kind section, const char *rest)
{
	size_t i;
	const char *a, *b;

	for (i = 0; i < N_KEYS; i++) {
		if (config_keys[i].section != section)
			continue;
		for (a = config_keys[i].name, b = rest; *a != '\0' && *b == env_char(*a); a++, b++)
			;
		if (*a == '\0' && *b == '\0')
			return (int)i;
	}
	return -1;
}

static void
env_set(struct parser *p, struct slot *slot, const char *name, const char *value)
{
	char *v;

	if (strlen(value) > CONFIG_MAX_LINE) {
		report(p, slot->line, name, "value is longer than %d bytes", CONFIG_MAX_LINE);
		return;
	}
	v = xstrdup(value);
	free(slot->value);
	slot->value = xstrdup(trim(v));
	free(v);
	free(slot->env);
	slot->env = xstrdup(name);
}

/* REKEY_APP_<NAME>_<KEY>: the one app whose name and key it spells. */
static void
env_app(struct parser *p, const char *name, const char *after, const char *value)
{
	const char *rest;
	size_t i, found = 0, n = 0;
	int idx = -1, k;

	for (i = 0; i < p->cfg->n_apps; i++) {
		rest = env_skip(after, p->cfg->apps[i]->name);
		if (rest == NULL)
			continue;
		k = env_find_key(SEC_APP, rest);
		if (k < 0)
			continue;
		idx = k;
		found = i;
		n++;
	}
	if (n == 0)
		report(p, 0, name, "names no key of any [app NAME] section");
	else if (n > 1)
		report(p, 0, name, "matches more than one [app NAME] section");
	else
		env_set(p, &p->apps[found]->slots[idx], name, value);
}

static void
env_global(struct parser *p, enum section_kind kind, const char *name, const char *rest,
    const char *value)
{
	char buf[SHOWN_MAX + 4];
	int idx = env_find_key(kind, rest);
	size_t i;

	if (idx >= 0) {
		env_set(p, &p->global[idx], name, value);
		return;
	}
	shown(rest, buf, sizeof(buf));
	for (i = 0; buf[i] != '\0'; i++)
		buf[i] = (char)tolower((unsigned char)buf[i]);
	report(p, 0, name, "unknown key '%s' in [%s]", buf, section_names[kind]);
}

/* Variables outside REKEY_<SECTION>_ (REKEY_CONF, say) are not ours and are ignored. */
static void
env_one(struct parser *p, const char *entry)
{
	const char *eq = strchr(entry, '='), *rest;
	enum section_kind kind;
	char *name;

	if (eq == NULL || strncmp(entry, "REKEY_", 6) != 0)
		return;
	name = xstrndup(entry, (size_t)(eq - entry));
	for (kind = SEC_SERVER; kind <= SEC_APP; kind++) {
		rest = env_skip(name + 6, section_names[kind]);
		if (rest == NULL)
			continue;
		if (kind == SEC_APP)
			env_app(p, name, rest, eq + 1);
		else
			env_global(p, kind, name, rest, eq + 1);
		break;
	}
	free(name);
}

/* ---- Phase 3: values ---- */

static int
parse_bool(const char *v, int *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

static int
word_index(const char *const *words, const char *v)
{
	int i;

	for (i = 0; words[i] != NULL; i++)
		if (strcmp(words[i], v) == 0)
			return i;
	return -1;
}

/* "a, b or c" for messages. */
static char *
word_list(const char *const *words)
{
	char *s = xstrdup(""), *t;
	int i;

	for (i = 0; words[i] != NULL; i++) {
		t = xasprintf("%s%s%s", s, i == 0 ? "" : words[i + 1] == NULL ? " or " : ", ",
		    words[i]);
		free(s);
		s = t;
	}
	return s;
}

/* Decimal digits, then at most one unit letter from units with its multiplier. */
static int
parse_scaled(const char *s, const char *units, const int64_t *mult, int64_t *out)
{
	int64_t v = 0, m = 1;
	const char *u;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		if (v > (INT64_MAX - (*s - '0')) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	if (*s != '\0') {
		u = strchr(units, *s);
		if (u == NULL || s[1] != '\0')
			return -1;
		m = mult[u - units];
	}
	if (v > INT64_MAX / m)
		return -1;
	*out = v * m;
	return 0;
}

int
config_parse_duration(const char *s, int64_t *out)
{
	static const int64_t mult[] = { 1, MINUTE, HOUR, DAY, WEEK };

	return parse_scaled(s, "smhdw", mult, out);
}

/* Bytes, or KiB and MiB multiples with k/K and m/M. */
static int
parse_size(const char *s, int64_t *out)
{
	static const int64_t mult[] = { KIB, KIB, MIB, MIB };

	return parse_scaled(s, "kKmM", mult, out);
}

/* "30d", "2w", "90s": the largest unit that divides secs. */
static const char *
format_duration(int64_t secs, char *buf, size_t size)
{
	static const int64_t mult[] = { WEEK, DAY, HOUR, MINUTE, 1 };
	static const char units[] = "wdhms";
	size_t i;

	for (i = 0; i < sizeof(mult) / sizeof(mult[0]); i++)
		if (secs != 0 && secs % mult[i] == 0)
			break;
	if (i == sizeof(mult) / sizeof(mult[0]))
		i--;
	snprintf(buf, size, "%lld%c", (long long)(secs / mult[i]), units[i]);
	return buf;
}

/* A bounded duration, or a message (caller frees). */
static char *
duration_value(const struct config_key *k, const char *v, int64_t *out)
{
	char g[SHOWN_MAX + 16], lo[32], hi[32];

	if (config_parse_duration(v, out) == -1)
		return xasprintf("%s: expected a duration like 90s, 15m, 1h, 30d or 2w%s", k->name,
		    got(k, v, g, sizeof(g)));
	if (*out < k->min || *out > k->max)
		return xasprintf("%s: must be from %s to %s%s", k->name,
		    format_duration(k->min, lo, sizeof(lo)), format_duration(k->max, hi, sizeof(hi)),
		    got(k, v, g, sizeof(g)));
	return NULL;
}

static int
valid_hostport(const char *v)
{
	const char *colon = strrchr(v, ':'), *c;
	unsigned char addr[16];
	char host[INET6_ADDRSTRLEN + 1];
	size_t hlen;
	int64_t port;

	if (colon == NULL || colon == v || colon[1] == '\0')
		return 0;
	for (c = colon + 1; *c != '\0'; c++)
		if (!isdigit((unsigned char)*c))
			return 0;
	if (util_parse_int64(colon + 1, 0, 65535, &port) == -1)
		return 0;
	hlen = (size_t)(colon - v);
	if (v[0] == '[') {
		if (hlen < 3 || v[hlen - 1] != ']' || hlen - 2 >= sizeof(host))
			return 0;
		memcpy(host, v + 1, hlen - 2);
		host[hlen - 2] = '\0';
		return inet_pton(AF_INET6, host, addr) == 1;
	}
	for (c = v; c < colon; c++)
		if (*c == ':' || *c == '[' || *c == ']' || isspace((unsigned char)*c) ||
		    iscntrl((unsigned char)*c))
			return 0;
	return 1;
}

static int
valid_url(const char *const *schemes, const char *v)
{
	const char *c;
	size_t i, n;

	for (i = 0; schemes[i] != NULL; i++) {
		n = strlen(schemes[i]);
		if (strncasecmp(v, schemes[i], n) != 0 || v[n] == '\0')
			continue;
		for (c = v + n; *c != '\0'; c++)
			if (isspace((unsigned char)*c) || iscntrl((unsigned char)*c))
				return 0;
		return 1;
	}
	return 0;
}

static int
valid_email(const char *v)
{
	const char *at = strchr(v, '@'), *c;

	if (at == NULL || at == v || at[1] == '\0' || strchr(at + 1, '@') != NULL)
		return 0;
	for (c = v; *c != '\0'; c++)
		if (isspace((unsigned char)*c) || iscntrl((unsigned char)*c) || *c == '<' ||
		    *c == '>' || *c == ',')
			return 0;
	return 1;
}

/* Splits at commas into trimmed copies, empty ones included.  Caller frees. */
static char **
split_list(const char *v, size_t *n)
{
	char **items = NULL, *copy;
	const char *s = v, *comma;
	size_t count = 0;

	for (;;) {
		comma = strchr(s, ',');
		copy = comma != NULL ? xstrndup(s, (size_t)(comma - s)) : xstrdup(s);
		items = xrealloc(items, (count + 1) * sizeof(*items));
		items[count] = xstrdup(trim(copy));
		free(copy);
		count++;
		if (comma == NULL)
			break;
		s = comma + 1;
	}
	*n = count;
	return items;
}

static int
int64_desc(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x > y ? -1 : x < y;
}

static char *
set_duration_list(const struct config_key *k, void *field, size_t *count, const char *v)
{
	size_t i, n, out = 0;
	char **items = split_list(v, &n);
	int64_t *d;
	char *msg = NULL;

	if (n > CONFIG_MAX_WARN) {
		util_strings_free(items, n);
		return xasprintf("%s: at most %d values", k->name, CONFIG_MAX_WARN);
	}
	d = xcalloc(n, sizeof(*d));
	for (i = 0; i < n && msg == NULL; i++)
		msg = duration_value(k, items[i], &d[i]);
	util_strings_free(items, n);
	if (msg != NULL) {
		free(d);
		return msg;
	}
	qsort(d, n, sizeof(*d), int64_desc);
	for (i = 0; i < n; i++)
		if (out == 0 || d[out - 1] != d[i])
			d[out++] = d[i];
	*(int64_t **)field = d;
	*count = out;
	return NULL;
}

static char *
set_email_list(const struct config_key *k, void *field, size_t *count, const char *v)
{
	char g[SHOWN_MAX + 16];
	size_t i, n;
	char **items = split_list(v, &n);

	for (i = 0; i < n; i++) {
		if (!valid_email(items[i])) {
			char *msg = xasprintf("%s: expected comma-separated email addresses%s",
			    k->name, got(k, items[i], g, sizeof(g)));

			util_strings_free(items, n);
			return msg;
		}
	}
	*(char ***)field = items;
	*count = n;
	return NULL;
}

static char *
set_cidr_list(const struct config_key *k, void *field, size_t *count, const char *v)
{
	char g[SHOWN_MAX + 16];
	size_t i, n;
	char **items = split_list(v, &n);
	struct cidr *c = xcalloc(n, sizeof(*c));

	for (i = 0; i < n; i++) {
		if (config_parse_cidr(items[i], &c[i]) == -1) {
			char *msg = xasprintf("%s: expected comma-separated networks like "
			    "10.0.0.0/8 or ::1/128%s", k->name, got(k, items[i], g, sizeof(g)));

			util_strings_free(items, n);
			free(c);
			return msg;
		}
	}
	util_strings_free(items, n);
	*(struct cidr **)field = c;
	*count = n;
	return NULL;
}

static char *
set_number(const struct config_key *k, int64_t *field, const char *v)
{
	char g[SHOWN_MAX + 16];
	int64_t n;

	switch (k->type) {
	case KT_INT:
		if (util_parse_int64(v, k->min, k->max, &n) == -1 || !isdigit((unsigned char)*v))
			return xasprintf("%s: expected an integer from %lld to %lld%s", k->name,
			    (long long)k->min, (long long)k->max, got(k, v, g, sizeof(g)));
		break;
	case KT_SIZE:
		if (parse_size(v, &n) == -1)
			return xasprintf("%s: expected a size like 1048576 or 1m%s", k->name,
			    got(k, v, g, sizeof(g)));
		if (n < k->min || n > k->max)
			return xasprintf("%s: must be from %lld to %lld bytes%s", k->name,
			    (long long)k->min, (long long)k->max, got(k, v, g, sizeof(g)));
		break;
	default:
		return duration_value(k, v, field);
	}
	*field = n;
	return NULL;
}

static char *
set_choice(const struct config_key *k, void *field, const char *v)
{
	char g[SHOWN_MAX + 16], *words, *msg;
	int i;

	if (k->type == KT_BOOL) {
		if (parse_bool(v, (int *)field) == -1)
			return xasprintf("%s: expected yes or no%s", k->name, got(k, v, g, sizeof(g)));
		return NULL;
	}
	i = word_index(k->words, v);
	if (i >= 0) {
		if (k->type == KT_ENUM)
			*(int *)field = i;
		else
			*(char **)field = xstrdup(v);
		return NULL;
	}
	words = word_list(k->words);
	msg = xasprintf("%s: expected %s%s", k->name, words, got(k, v, g, sizeof(g)));
	free(words);
	return msg;
}

static char *
set_string(const struct config_key *k, char **field, const char *v)
{
	char g[SHOWN_MAX + 16], *schemes, *msg;

	if (k->type == KT_HOSTPORT && !valid_hostport(v))
		return xasprintf("%s: expected host:port like 127.0.0.1:8443 or [::1]:8443%s",
		    k->name, got(k, v, g, sizeof(g)));
	if (k->type == KT_URL && !valid_url(k->words, v)) {
		schemes = word_list(k->words);
		msg = xasprintf("%s: expected a URL starting with %s%s", k->name, schemes,
		    got(k, v, g, sizeof(g)));
		free(schemes);
		return msg;
	}
	*field = xstrdup(v);
	return NULL;
}

/* Parses v into the field of k in base; NULL, or a message (caller frees). */
static char *
set_value(const struct config_key *k, void *base, const char *v)
{
	void *field = (char *)base + k->offset;
	size_t *count = (size_t *)((char *)base + k->count_offset);

	switch (k->type) {
	case KT_STRING:
	case KT_URL:
	case KT_HOSTPORT:
	case KT_PATH:
	case KT_SECRET_FILE:
		return set_string(k, field, v);
	case KT_WORD:
	case KT_BOOL:
	case KT_ENUM:
		return set_choice(k, field, v);
	case KT_INT:
	case KT_DURATION:
	case KT_SIZE:
		return set_number(k, field, v);
	case KT_DURATION_LIST:
		return set_duration_list(k, field, count, v);
	case KT_EMAIL_LIST:
		return set_email_list(k, field, count, v);
	case KT_CIDR_LIST:
		return set_cidr_list(k, field, count, v);
	case KT_IGNORED:
		break;
	}
	return NULL;
}

/* An empty value means "not set": the default applies, if there is one. */
static void
apply_key(struct parser *p, const struct config_key *k, void *base, const struct slot *slot,
    int header_line, const char *label)
{
	const char *v = slot->value != NULL && *slot->value != '\0' ? slot->value : k->def;
	char *msg;

	if (k->type == KT_IGNORED) {
		if (v != NULL)
			warn_slot(p->cfg, p->path, slot, "%s: ignored: %s", k->name, k->why_ignored);
		return;
	}
	if (v == NULL) {
		if (k->flags & KEY_REQUIRED)
			report(p, header_line, NULL, "missing required key '%s' in %s", k->name,
			    label);
		return;
	}
	msg = set_value(k, base, v);
	if (msg != NULL) {
		report_slot(p, slot, "%s", msg);
		free(msg);
	}
}

static void
apply_all(struct parser *p)
{
	char label[CONFIG_MAX_LINE + 16];
	struct config_app *app;
	size_t i, a;

	for (i = 0; i < N_KEYS; i++) {
		if (config_keys[i].section == SEC_APP)
			continue;
		section_label(config_keys[i].section, NULL, label, sizeof(label));
		apply_key(p, &config_keys[i], p->cfg, &p->global[i],
		    p->header_line[config_keys[i].section], label);
	}
	for (a = 0; a < p->cfg->n_apps; a++) {
		app = p->cfg->apps[a];
		section_label(SEC_APP, app->name, label, sizeof(label));
		for (i = 0; i < N_KEYS; i++)
			if (config_keys[i].section == SEC_APP)
				apply_key(p, &config_keys[i], app, &p->apps[a]->slots[i],
				    p->apps[a]->line, label);
	}
}

/* ---- Phase 4: keys that go together ---- */

static const struct slot *
slot_of(const struct slot *slots, enum section_kind section, const char *name)
{
	return &slots[find_key(section, name)];
}

/* Where a key was given: its slot when the file or environment set it, else NULL. */
static const struct slot *
given(const struct slot *slots, enum section_kind section, const char *name)
{
	const struct slot *s = slot_of(slots, section, name);

	return s->line != 0 || s->env != NULL ? s : NULL;
}

static void
check_app_times(struct parser *p, size_t a)
{
	const struct config_app *app = p->cfg->apps[a];
	const struct slot *s;
	char x[32], y[32];

	/* 0 means the value was bad and has been reported already. */
	if (app->rotate_before == 0 || app->secret_lifetime == 0 ||
	    app->rotate_before < app->secret_lifetime)
		return;
	s = given(p->apps[a]->slots, SEC_APP, "secret_lifetime");
	if (s == NULL)
		s = given(p->apps[a]->slots, SEC_APP, "rotate_before");
	if (s == NULL)
		return;
	report_slot(p, s, "rotate_before (%s) must be shorter than secret_lifetime (%s), or "
	    "every poll would rotate", format_duration(app->rotate_before, x, sizeof(x)),
	    format_duration(app->secret_lifetime, y, sizeof(y)));
}

/*
 * Keys that only make sense together: each one given needs the others of
 * its group.  With needs_first, only the first key needs the rest.
 */
static void
check_group(struct parser *p, const struct slot *slots, enum section_kind section,
    const char *const *names, int needs_first, const char *what)
{
	const struct slot *s;
	size_t i, j;

	for (i = 0; names[i] != NULL && (!needs_first || i == 0); i++) {
		if ((s = given(slots, section, names[i])) == NULL)
			continue;
		for (j = 0; names[j] != NULL; j++)
			if (given(slots, section, names[j]) == NULL)
				report_slot(p, s, "%s is set but %s is not; %s",
				    names[i], names[j], what);
	}
}

static void
check_notify(struct parser *p)
{
	static const char *const smtp[] = { "smtp_url", "smtp_from", NULL };
	static const char *const auth[] = { "smtp_user", "smtp_password_file", NULL };
	static const char *const hook[] = { "webhook_url", "webhook_secret_file", NULL };
	static const char *const hook_file[] = { "webhook_url_file", "webhook_secret_file", NULL };

	check_group(p, p->global, SEC_NOTIFY, smtp, 1, "email needs the sender address");
	check_group(p, p->global, SEC_NOTIFY, auth, 0, "SMTP authentication needs both");
	check_group(p, p->global, SEC_NOTIFY, hook, 1, "the webhook channel signs every "
	    "message (Standard Webhooks) and needs both");
	check_group(p, p->global, SEC_NOTIFY, hook_file, 1, "the webhook channel signs every "
	    "message (Standard Webhooks) and needs both");
}

/* The template must lead each user to a page of the app, with their address in it. */
static void
check_reauth_template(struct parser *p, size_t a)
{
	const char *t = p->cfg->apps[a]->reauth_url_template;
	const struct slot *s = given(p->apps[a]->slots, SEC_APP, "reauth_url_template");

	if (t == NULL || s == NULL)
		return;
	if (strncmp(t, "https://", 8) != 0 && strncmp(t, "http://", 7) != 0)
		report_slot(p, s, "reauth_url_template must be an http(s) URL");
	else if (strstr(t, "{email}") == NULL)
		report_slot(p, s, "reauth_url_template must contain {email}");
	else if (strpbrk(t, " \t\r\n<>\"") != NULL)
		report_slot(p, s, "reauth_url_template must not contain spaces, quotes or angle brackets");
}

static void
check_cross(struct parser *p)
{
	const struct config *cfg = p->cfg;
	size_t a;

	/* Neither has a default, so a value comes from the line or variable of its slot. */
	if (cfg->tls_cert != NULL && cfg->tls_key == NULL)
		report_slot(p, slot_of(p->global, SEC_SERVER, "tls_cert"),
		    "tls_cert is set but tls_key is not; set both or neither");
	if (cfg->tls_key != NULL && cfg->tls_cert == NULL)
		report_slot(p, slot_of(p->global, SEC_SERVER, "tls_key"),
		    "tls_key is set but tls_cert is not; set both or neither");
	if (cfg->n_apps == 0)
		report(p, 0, NULL, "no [app NAME] section");
	check_notify(p);
	for (a = 0; a < cfg->n_apps; a++) {
		check_app_times(p, a);
		check_reauth_template(p, a);
	}
}

/* ---- Phase 5: files and secrets ---- */

static int
check_readable(const char *path, char **err)
{
	struct stat st;

	if (stat(path, &st) == -1 || access(path, R_OK) == -1) {
		*err = xasprintf("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		*err = xasprintf("%s is not a regular file", path);
		return -1;
	}
	return 0;
}

static int
decode_master_key(const struct secret *hex, struct secret **out)
{
	unsigned char key[CRYPTO_AEAD_KEY_LEN];
	ssize_t n;

	if (hex->len != MASTER_KEY_HEX)
		return -1;
	n = crypto_hex_decode((const char *)hex->data, hex->len, key, sizeof(key));
	if (n != (ssize_t)sizeof(key)) {
		OPENSSL_cleanse(key, sizeof(key));
		return -1;
	}
	*out = secret_new(key, sizeof(key));
	OPENSSL_cleanse(key, sizeof(key));
	return 0;
}

static int
valid_whsec(const struct secret *s)
{
	unsigned char *key = NULL;
	size_t keylen = 0;
	int ok;

	if (s->len <= 6 || memcmp(s->data, "whsec_", 6) != 0)
		return 0;
	ok = crypto_b64_decode((const char *)s->data + 6, s->len - 6, &key, &keylen) == 0 &&
	    keylen > 0;
	if (key != NULL) {
		OPENSSL_cleanse(key, keylen);
		free(key);
	}
	return ok;
}

/* Reads the first line and keeps it (or what it encodes) as k says.  NULL or a message. */
static char *
load_first_line(const struct config_key *k, void *base, const char *path)
{
	struct secret **dst = (struct secret **)((char *)base + k->secret_offset);
	char *err = NULL, *msg;
	struct secret *s = secret_read_file(path, &err);

	if (s == NULL) {
		msg = xasprintf("%s: %s", k->name, err);
		free(err);
		return msg;
	}
	if (k->load == LOAD_MASTER_KEY) {
		if (decode_master_key(s, dst) == -1)
			err = xasprintf("%s must hold %d hex characters (32 bytes)", k->name,
			    MASTER_KEY_HEX);
	} else if (k->load == LOAD_WHSEC) {
		if (!valid_whsec(s)) {
			err = xasprintf("%s must hold 'whsec_' followed by a base64 key", k->name);
		} else {
			*dst = s;
			s = NULL;
		}
	} else if (k->secret_max > 0 && s->len > k->secret_max) {
		err = xasprintf("%s: the value must be at most %zu characters", k->name,
		    k->secret_max);
	} else if (s->len < k->secret_min) {
		err = xasprintf("%s: the value must be at least %zu characters (make one with "
		    "openssl rand -hex 32)", k->name, k->secret_min);
	} else {
		*dst = s;
		s = NULL;
	}
	secret_free(s);
	return err;
}

/*
 * A channel URL from its file, into the field its plain key fills (which
 * must then be unset).  The value is checked like the plain key's but never
 * quoted: its path is the credential.  NULL, or a message.
 */
static char *
load_url(const struct config_key *k, void *base, const char *path)
{
	char **dst = (char **)((char *)base + k->secret_offset);
	char *err = NULL, *msg = NULL, *schemes;
	struct secret *s;

	if (*dst != NULL)
		return xasprintf("%s: set %.*s or %s, not both", k->name,
		    (int)(strlen(k->name) - strlen("_file")), k->name, k->name);
	s = secret_read_file(path, &err);
	if (s == NULL) {
		msg = xasprintf("%s: %s", k->name, err);
		free(err);
		return msg;
	}
	if (memchr(s->data, '\0', s->len) != NULL || !valid_url(k->words, (const char *)s->data)) {
		schemes = word_list(k->words);
		msg = xasprintf("%s: the file must hold one URL starting with %s", k->name, schemes);
		free(schemes);
	} else {
		*dst = xstrndup((const char *)s->data, s->len);
	}
	secret_free(s);
	return msg;
}

/* Loads the secret file of k as its row says.  NULL, or a message naming the key. */
static char *
load_secret(const struct config_key *k, void *base, const char *path)
{
	struct secret ***list;
	size_t *n;
	char *err = NULL, *msg;

	switch (k->load) {
	case LOAD_NONE:
		return NULL;
	case LOAD_URL:
		return load_url(k, base, path);
	case LOAD_LINES:
		list = (struct secret ***)((char *)base + k->secret_offset);
		n = (size_t *)((char *)base + k->secret_count_offset);
		if (secret_read_lines(path, list, n, &err) == -1) {
			msg = xasprintf("%s: %s", k->name, err);
			free(err);
			return msg;
		}
		return NULL;
	default:
		return load_first_line(k, base, path);
	}
}

static void
check_file(struct parser *p, const struct config_key *k, void *base, const struct slot *slot)
{
	const char *path = *(char **)((char *)base + k->offset);
	char *err = NULL, *msg;

	if (path == NULL)
		return;
	if (k->type == KT_PATH) {
		if (check_readable(path, &err) == -1) {
			report_slot(p, slot, "%s: %s", k->name, err);
			free(err);
		}
		return;
	}
	if (secret_file_check(path, &err) == -1) {
		report_slot(p, slot, "%s: %s", k->name, err);
		free(err);
		return;
	}
	msg = load_secret(k, base, path);
	if (msg != NULL) {
		report_slot(p, slot, "%s", msg);
		free(msg);
	}
}

static void
check_files(struct parser *p)
{
	size_t i, a;

	for (i = 0; i < N_KEYS; i++) {
		const struct config_key *k = &config_keys[i];

		if (k->type != KT_PATH && k->type != KT_SECRET_FILE)
			continue;
		if (k->section != SEC_APP) {
			check_file(p, k, p->cfg, &p->global[i]);
			continue;
		}
		for (a = 0; a < p->cfg->n_apps; a++)
			check_file(p, k, p->cfg->apps[a], &p->apps[a]->slots[i]);
	}
}

/* ---- Phase 6: where each key came from, for later checks (preflight) ---- */

static struct config_origin *
keep_origins(const struct slot *slots, int app, const int *header_line, int app_line)
{
	struct config_origin *o = xcalloc(N_KEYS, sizeof(*o));
	size_t i;

	for (i = 0; i < N_KEYS; i++) {
		if ((config_keys[i].section == SEC_APP) != app)
			continue;
		o[i].line = slots[i].line;
		if (o[i].line == 0)
			o[i].line = app ? app_line : header_line[config_keys[i].section];
		o[i].env = slots[i].env != NULL ? xstrdup(slots[i].env) : NULL;
	}
	return o;
}

static void
keep_all_origins(struct parser *p)
{
	size_t a;

	p->cfg->origins = keep_origins(p->global, 0, p->header_line, 0);
	for (a = 0; a < p->cfg->n_apps; a++)
		p->cfg->apps[a]->origins = keep_origins(p->apps[a]->slots, 1, NULL,
		    p->apps[a]->line);
}

static void
free_origins(struct config_origin *o)
{
	size_t i;

	if (o == NULL)
		return;
	for (i = 0; i < N_KEYS; i++)
		free(o[i].env);
	free(o);
}

/* ---- The API ---- */

static void
free_slots(struct slot *slots)
{
	size_t i;

	for (i = 0; i < N_KEYS; i++) {
		free(slots[i].value);
		free(slots[i].env);
	}
}

static void
parser_free(struct parser *p)
{
	size_t i;

	free_slots(p->global);
	for (i = 0; i < p->n_apps; i++) {
		free_slots(p->apps[i]->slots);
		free(p->apps[i]);
	}
	free(p->apps);
	for (i = 0; i < p->n_errs; i++)
		free(p->errs[i].text);
	free(p->errs);
}

/* Frees what the rows of one kind (app or not) point to in base. */
static void
free_fields(void *base, int app)
{
	const struct config_key *k;
	void *field;
	size_t i;

	for (i = 0; i < N_KEYS; i++) {
		k = &config_keys[i];
		if ((k->section == SEC_APP) != app)
			continue;
		field = (char *)base + k->offset;
		switch (k->type) {
		case KT_STRING:
		case KT_WORD:
		case KT_URL:
		case KT_HOSTPORT:
		case KT_PATH:
		case KT_SECRET_FILE:
			free(*(char **)field);
			break;
		case KT_DURATION_LIST:
			free(*(int64_t **)field);
			break;
		case KT_CIDR_LIST:
			free(*(struct cidr **)field);
			break;
		case KT_EMAIL_LIST:
			util_strings_free(*(char ***)field, *(size_t *)((char *)base + k->count_offset));
			break;
		default:
			break;
		}
		if (k->load == LOAD_LINES)
			secret_list_free(*(struct secret ***)((char *)base + k->secret_offset),
			    *(size_t *)((char *)base + k->secret_count_offset));
		else if (k->load == LOAD_FIRST_LINE || k->load == LOAD_MASTER_KEY ||
		    k->load == LOAD_WHSEC)
			secret_free(*(struct secret **)((char *)base + k->secret_offset));
	}
}

void
config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->n_apps; i++) {
		free_fields(cfg->apps[i], 1);
		free_origins(cfg->apps[i]->origins);
		free(cfg->apps[i]->name);
		free(cfg->apps[i]);
	}
	free(cfg->apps);
	free_fields(cfg, 0);
	free_origins(cfg->origins);
	util_strings_free(cfg->warnings, cfg->n_warnings);
	free(cfg->path);
	free(cfg);
}

struct config *
config_parse(const char *path, const char *text, size_t len, char *const *envp,
    char **errors)
{
	struct parser p;
	struct config *cfg;

	if (errors != NULL)
		*errors = NULL;
	memset(&p, 0, sizeof(p));
	p.path = path != NULL ? path : "-";
	p.cfg = cfg = xcalloc(1, sizeof(*cfg));
	cfg->path = xstrdup(p.path);
	if (len > CONFIG_MAX_FILE) {
		report(&p, 0, NULL, "file is larger than %d bytes", CONFIG_MAX_FILE);
	} else {
		if (text != NULL)
			lex(&p, text, len);
		for (envp = envp != NULL ? envp : environ; *envp != NULL; envp++)
			env_one(&p, *envp);
		apply_all(&p);
		check_cross(&p);
		check_files(&p);
		keep_all_origins(&p);
	}
	if (p.n_errs > 0 || p.too_many) {
		if (errors != NULL)
			*errors = join_errors(&p);
		config_free(cfg);
		cfg = NULL;
	}
	parser_free(&p);
	return cfg;
}

/* Reads at most CONFIG_MAX_FILE bytes (one more tells that the file is larger). */
static char *
read_config_file(const char *path, size_t *len, char **err)
{
	char *buf = xmalloc(CONFIG_MAX_FILE + 1);
	size_t off = 0;
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd == -1)
		goto fail;
	while (off < CONFIG_MAX_FILE + 1) {
		n = read(fd, buf + off, CONFIG_MAX_FILE + 1 - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		if (n == 0)
			break;
		off += (size_t)n;
	}
	close(fd);
	*len = off;
	return buf;
fail:
	*err = xasprintf("%s:0: cannot read: %s", path, strerror(errno));
	if (fd != -1)
		close(fd);
	free(buf);
	return NULL;
}

struct config *
config_load(const char *path, char **errors)
{
	struct config *cfg;
	char *text, *err = NULL;
	size_t len = 0;

	text = read_config_file(path, &len, &err);
	if (text == NULL) {
		if (errors != NULL)
			*errors = err;
		else
			free(err);
		return NULL;
	}
	cfg = config_parse(path, text, len, NULL, errors);
	free(text);
	return cfg;
}

const struct config_app *
config_find_app(const struct config *cfg, const char *name)
{
	size_t i;

	if (cfg == NULL || name == NULL)
		return NULL;
	for (i = 0; i < cfg->n_apps; i++)
		if (strcmp(cfg->apps[i]->name, name) == 0)
			return cfg->apps[i];
	return NULL;
}

/* Clears the bits of addr beyond prefix, so that "10.1.2.3/8" means 10.0.0.0/8. */
static void
cidr_mask(struct cidr *c)
{
	int bytes = c->family == AF_INET ? 4 : 16, i;

	for (i = 0; i < bytes; i++) {
		int keep = c->prefix - 8 * i;

		if (keep <= 0)
			c->addr[i] = 0;
		else if (keep < 8)
			c->addr[i] &= (unsigned char)(0xff << (8 - keep));
	}
}

int
config_parse_cidr(const char *s, struct cidr *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *slash, *d;
	struct cidr c;
	size_t alen;
	int max;

	if (s == NULL)
		return -1;
	slash = strchr(s, '/');
	alen = slash != NULL ? (size_t)(slash - s) : strlen(s);
	if (alen == 0 || alen >= sizeof(host))
		return -1;
	memcpy(host, s, alen);
	host[alen] = '\0';
	memset(&c, 0, sizeof(c));
	if (inet_pton(AF_INET, host, c.addr) == 1)
		c.family = AF_INET;
	else if (inet_pton(AF_INET6, host, c.addr) == 1)
		c.family = AF_INET6;
	else
		return -1;
	max = c.family == AF_INET ? 32 : 128;
	c.prefix = max;
	if (slash != NULL) {
		if (slash[1] == '\0' || strlen(slash + 1) > 3)
			return -1;
		c.prefix = 0;
		for (d = slash + 1; *d != '\0'; d++) {
			if (!isdigit((unsigned char)*d))
				return -1;
			c.prefix = c.prefix * 10 + (*d - '0');
		}
		if (c.prefix > max)
			return -1;
	}
	cidr_mask(&c);
	*out = c;
	return 0;
}

static int
cidr_contains(const struct cidr *c, int family, const unsigned char *addr)
{
	int full = c->prefix / 8, rest = c->prefix % 8;
	unsigned char mask;

	if (c->family != family)
		return 0;
	if (memcmp(c->addr, addr, (size_t)full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	mask = (unsigned char)(0xff << (8 - rest));
	return (c->addr[full] & mask) == (addr[full] & mask);
}

/*
 * An IPv4 address, native or v4-mapped (::ffff:a.b.c.d, as a dual-stack
 * socket reports it), matches the IPv4 networks; an IPv6 address, mapped
 * ones included, matches the IPv6 networks.
 */
int
config_addr_trusted(const struct config *cfg, const struct sockaddr *sa)
{
	unsigned char v4[4], v6[16];
	int has4 = 0, has6 = 0;
	size_t i;

	if (cfg == NULL || sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET) {
		memcpy(v4, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
		has4 = 1;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

		memcpy(v6, a6, 16);
		has6 = 1;
		if (IN6_IS_ADDR_V4MAPPED(a6)) {
			memcpy(v4, v6 + 12, 4);
			has4 = 1;
		}
	} else {
		return 0;
	}
	for (i = 0; i < cfg->n_trusted_proxies; i++) {
		const struct cidr *c = &cfg->trusted_proxies[i];

		if ((has4 && cidr_contains(c, AF_INET, v4)) || (has6 && cidr_contains(c, AF_INET6, v6)))
			return 1;
	}
	return 0;
}

int
config_key_where(const struct config *cfg, const char *app, const char *key, int *line,
    const char **env)
{
	const struct config_origin *o = cfg->origins;
	const struct config_app *a = NULL;
	size_t i;

	if (app != NULL) {
		a = config_find_app(cfg, app);
		if (a == NULL)
			return -1;
		o = a->origins;
	}
	for (i = 0; i < N_KEYS; i++) {
		if ((config_keys[i].section == SEC_APP) != (app != NULL) ||
		    strcmp(config_keys[i].name, key) != 0)
			continue;
		/* A config built by hand (tests) has no origins: nothing is known. */
		*line = o != NULL ? o[i].line : 0;
		*env = o != NULL ? o[i].env : NULL;
		return 0;
	}
	return -1;
}

void
config_each_secret_file(const struct config *cfg, config_file_cb cb, void *arg)
{
	const struct config_key *k;
	const char *path;
	size_t i, a;

	for (i = 0; i < N_KEYS; i++) {
		k = &config_keys[i];
		if (k->type != KT_SECRET_FILE)
			continue;
		if (k->section != SEC_APP) {
			path = *(char *const *)((const char *)cfg + k->offset);
			if (path != NULL)
				cb(NULL, k->name, path, arg);
			continue;
		}
		for (a = 0; a < cfg->n_apps; a++) {
			path = *(char *const *)((const char *)cfg->apps[a] + k->offset);
			if (path != NULL)
				cb(cfg->apps[a]->name, k->name, path, arg);
		}
	}
}

char *
config_public_endpoint(const struct config *cfg, const char *path, const char *app)
{
	const char *p = cfg->public_url;
	size_t n;

	if (p == NULL || *p == '\0')
		return NULL;
	n = strlen(p);
	while (n > 0 && p[n - 1] == '/')
		n--;
	return xasprintf("%.*s%s%s", (int)n, p, path, app);
}

size_t
config_notify_channels(const struct config *cfg, const char *names[4])
{
	size_t n = 0;

	if (cfg->smtp_url != NULL && cfg->smtp_from != NULL)
		names[n++] = "email";
	if (cfg->slack_webhook_url != NULL)
		names[n++] = "slack";
	if (cfg->teams_webhook_url != NULL)
		names[n++] = "teams";
	if (cfg->webhook_url != NULL && cfg->webhook_secret != NULL)
		names[n++] = "webhook";
	return n;
}
