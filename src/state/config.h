/*
 * config: the INI file of DESIGN.md, with REKEY_<SECTION>_<KEY> environment
 * overrides, durations ("90s", "30m", "1h", "30d"), and secrets only through
 * *_file paths.  Loading collects every problem as "FILE:LINE: message".
 * config_load() and config_parse() are in config_load.h.
 */
#ifndef REKEY_STATE_CONFIG_H
#define REKEY_STATE_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include "lib/secret.h"

enum rotation_mode {
	ROTATION_MODE_AUTO,
	ROTATION_MODE_APPROVE,
	ROTATION_MODE_DRY_RUN,
};

/* One trusted proxy network, IPv4 or IPv6, in network byte order. */
struct cidr {
	int family;			/* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int prefix;
};

/* Where each key of a section was set (config_key_where). */
struct config_origin;

struct config_app {
	char *name;			/* from "[app NAME]" */
	char *nylas_api_base;
	char *nylas_application_id;
	char *nylas_api_key_file;
	char *nylas_webhook_secret_file;
	char *nylas_connector_credential_id;
	int nylas_webhook_manage;		/* bool: register the destination at start */
	int64_t nylas_webhook_secret_grace;	/* seconds the previous managed secret is accepted */
	int64_t nylas_webhook_secret_rotate_every;	/* seconds; 0: no scheduled rotation */
	char *nylas_tenant;		/* the tenant Nylas should hold where it does not show it */
	char *azure_tenant_id;
	char *azure_client_id;
	char *azure_app_object_id;
	char *azure_login_base;
	char *graph_base;
	char *rotator_client_id;
	char *rotator_cert_file;
	char *rotator_key_file;
	char *current_secret_file;
	char *graph_client_state_file;
	int graph_subscribe_users;	/* bool */
	int64_t graph_subscription_lifetime;	/* seconds asked for a subscription */
	char *graph_jwks_url;		/* NULL: azure_login_base + /common/discovery/v2.0/keys */
	int64_t graph_jwks_refresh_min;	/* seconds between two fetches for unknown kids */
	enum rotation_mode rotation_mode;
	int64_t rotate_before;		/* seconds */
	int64_t secret_lifetime;	/* seconds */
	int64_t old_secret_grace;	/* seconds */
	int retire_unmanaged_secrets;	/* bool: also remove old secrets rekey did not make */
	int retire_foreign_secrets;	/* bool: make room at the two-secret limit with a secret rekey did not make */
	int64_t secret_test_successes;	/* consecutive acceptances of a new secret before it is published */
	int64_t secret_test_spacing_ms;	/* ... at least this far apart */
	int64_t secret_propagation_timeout;	/* seconds testing may take before the rotation fails */
	int64_t rotation_backoff;	/* seconds after a failed rotation before another is planned; doubles */
	int64_t secret_watch_period;	/* seconds the new secret is watched after publishing */
	int64_t secret_watch_interval_ms;	/* ... probed this often */
	int64_t expiry_poll;		/* seconds */
	int64_t *warn_before;		/* seconds, descending */
	size_t n_warn_before;
	int64_t condition_grace;	/* seconds a transient failure is a warning before it is critical */
	char **owners;
	size_t n_owners;
	int owners_from_graph;		/* bool */
	char *reauth_url_template;	/* "...{email}...": each affected user gets their link; NULL: none */

	/* Loaded from the files above at load time. */
	struct secret **webhook_secrets;	/* every line of nylas_webhook_secret_file */
	size_t n_webhook_secrets;
	struct secret *nylas_api_key;		/* NULL when no file is configured */
	struct secret *graph_client_state;	/* NULL when no file is configured */
	struct secret *current_secret;		/* NULL when no file is configured */

	struct config_origin *origins;		/* owned; read with config_key_where */
};

struct config {
	char *path;			/* the file this was loaded from */

	/* [server] */
	char *listen;			/* "host:port"; host may be [v6] */
	char *tls_cert;
	char *tls_key;
	struct cidr *trusted_proxies;
	size_t n_trusted_proxies;
	char *public_url;
	char *admin_token_file;
	char *approve_token_file;
	int64_t max_body;		/* bytes */
	int64_t max_header_size;	/* bytes */
	int64_t max_connections;
	int64_t max_connections_per_ip;	/* trusted proxies are exempt */
	int64_t request_timeout;	/* seconds a connection may take to send a request */
	int64_t intake_loops;		/* event loops taking requests; 0: one per CPU */
	char *log_level;
	char *node_name;		/* this replica's name (leadership); the host name by default */

	/* [store] */
	char *store_url;
	char *store_password_file;	/* PostgreSQL: the password (else PGPASSFILE or the URL's) */
	char *master_key_file;
	int64_t event_retention;	/* seconds processed events are kept; 0: for ever */

	/* [outbound] */
	char *ca_file;
	int64_t timeout_ms;

	/* [notify] */
	char *smtp_url;
	char *smtp_from;
	char *smtp_user;
	char *smtp_password_file;
	/* Each from its key or its *_file (the URL is a credential: its path holds the secret). */
	char *slack_webhook_url;
	char *teams_webhook_url;
	char *webhook_url;
	char *slack_webhook_url_file;
	char *teams_webhook_url_file;
	char *webhook_url_file;
	char *webhook_secret_file;
	int64_t digest_interval;	/* seconds between re-auth progress digests of an incident */

	struct config_app **apps;
	size_t n_apps;

	/* "FILE:LINE: warning: ..." for what loads but deserves a look (ignored keys). */
	char **warnings;
	size_t n_warnings;

	/* Loaded from the files above at load time. */
	struct secret *admin_token;	/* NULL when admin_token_file is not set */
	struct secret *approve_token;	/* NULL when approve_token_file is not set */
	struct secret *master_key;	/* 32 bytes, decoded from hex */
	struct secret *smtp_password;	/* NULL when smtp_password_file is not set */
	struct secret *store_password;	/* NULL when password_file is not set */
	struct secret *webhook_secret;	/* "whsec_..."; NULL when webhook_secret_file is not set */

	struct config_origin *origins;	/* owned; read with config_key_where */
};

void config_free(struct config *cfg);

const struct config_app *config_find_app(const struct config *cfg, const char *name);
/*
 * A master key file read as master_key_file is (the same mode checks, 64
 * hex characters): the 32 bytes (caller frees), or NULL and *err (caller
 * frees).  For rekey reseal's new key.
 */
struct secret *config_read_master_key(const char *path, char **err);

/*
 * Where the world reaches app's endpoint: public_url (without a trailing
 * slash) + path + app, e.g. "https://hooks.example.com/webhooks/nylas/prod".
 * NULL without public_url; caller frees.
 */
char *config_public_endpoint(const struct config *cfg, const char *path, const char *app);

/*
 * Where key (of the app named app, or a global key when app is NULL) was
 * set, for messages in the "FILE:LINE: message" form: *line is its line in
 * cfg->path, else the line of its section's header, else 0; *env is the
 * environment variable that replaced it, or NULL (valid as long as cfg).
 * 0, or -1 when there is no such key or app.
 */
int config_key_where(const struct config *cfg, const char *app, const char *key, int *line,
    const char **env);

/* One secret file the config names: app is NULL for a global key. */
typedef void (*config_file_cb)(const char *app, const char *key, const char *path, void *arg);
/* Calls cb for every *_file key whose value is a secret file (mode 600), in table order. */
void config_each_secret_file(const struct config *cfg, config_file_cb cb, void *arg);

/* Parses "10.0.0.0/8", "::1/128", or a bare address (full prefix); 0 or -1. */
int config_parse_cidr(const char *s, struct cidr *out);
/* 1 when the socket address (AF_INET/AF_INET6, v4-mapped v6 included) is inside one of the networks. */
int config_addr_trusted(const struct config *cfg, const struct sockaddr *sa);

/*
 * The channels configured in [notify], for status: "email", "slack",
 * "teams", "webhook" as set in *names (at most 4).  The count.
 */
size_t config_notify_channels(const struct config *cfg, const char *names[4]);

#endif
