/*
 * config: the INI file of DESIGN.md.  Every key is one row of config_keys[]
 * (section, name, type, default, target field, bounds), in the manner of
 * Redis's config.c: parsing, environment overrides, defaults, file checks,
 * secret loading and config_free are all driven by that table.
 *
 * This file holds the table and what reads a loaded config: config_free,
 * config_key_where, config_each_secret_file, the trusted networks.  Loading
 * is config_load.c, which runs one phase per file (config_lex.c,
 * config_env.c, config_values.c, config_cross.c, config_files.c).
 */
#include "state/config.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "state/config_keys.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define GRAPH_CLIENT_STATE_MAX	128		/* Graph's limit on clientState */
/* An admin token is a bearer credential: shorter ones can be guessed or were typed by hand. */
#define ADMIN_TOKEN_MIN		32

const char *const config_section_names[] = {
	"", "server", "store", "outbound", "notify", "app", "",
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

const struct config_key config_keys[] = {
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
	/* 0: one per CPU (sysconf) when the daemon starts.  A change takes a restart. */
	{ SEC_SERVER, "intake_loops", KT_INT, "0", S(intake_loops), .min = 0, .max = 64 },
	{ SEC_SERVER, "request_timeout", KT_DURATION, "30s", S(request_timeout), .min = 1, .max = HOUR },
	{ SEC_SERVER, "log_level", KT_WORD, "info", S(log_level), .words = log_levels },
	/* Unset: the host name (config_load).  Names this replica in the leadership row and logs. */
	{ SEC_SERVER, "node_name", KT_STRING, NULL, S(node_name), .max = 100 },

	{ SEC_STORE, "url", KT_URL, "sqlite:var/rekey.db", S(store_url), .words = store_schemes,
	  .flags = KEY_SENSITIVE },
	/* The PostgreSQL store's password, kept out of the URL (which is logged without it). */
	{ SEC_STORE, "password_file", KT_SECRET_FILE, NULL, S(store_password_file),
	  .load = LOAD_FIRST_LINE, .secret_offset = SO(store_password) },
	{ SEC_STORE, "master_key_file", KT_SECRET_FILE, NULL, S(master_key_file),
	  .flags = KEY_REQUIRED, .load = LOAD_MASTER_KEY, .secret_offset = SO(master_key) },
	{ SEC_STORE, "event_retention", KT_DURATION, "30d", S(event_retention), .min = 0,
	  .max = 10 * YEAR },

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

_Static_assert(sizeof(config_keys) / sizeof(config_keys[0]) == N_KEYS,
    "N_KEYS in config_keys.h must be the number of rows of config_keys[]");

int
config_find_key(enum section_kind section, const char *name)
{
	size_t i;

	for (i = 0; i < N_KEYS; i++)
		if (config_keys[i].section == section && strcmp(config_keys[i].name, name) == 0)
			return (int)i;
	return -1;
}

/* "[server]" or "[app prod]" for messages. */
const char *
config_section_label(enum section_kind kind, const char *app, char *buf, size_t size)
{
	if (kind == SEC_APP)
		snprintf(buf, size, "[app %s]", app);
	else
		snprintf(buf, size, "[%s]", config_section_names[kind]);
	return buf;
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
