/*
 * Unit tests for config: a full config, the defaults, every kind of error
 * with its exact "FILE:LINE:" prefix, environment overrides, durations,
 * networks and secret files.  Files live in a mkdtemp directory; "$D" in a
 * config text or an environment value stands for it, and in error messages
 * the directory is shown as "$D" again.
 */
#include "lib/util.h"
#include "state/config.h"
#include "state/config_load.h"
#include "state/config_values.h"
#include "tap.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_ENV 4

static char dir[256];

static const char master_hex[] =
    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/* Replaces every "from" in s by "to".  Caller frees. */
static char *
replace_all(const char *s, const char *from, const char *to)
{
	size_t flen = strlen(from), tlen = strlen(to), n = 0;
	const char *p;
	char *out, *o;

	for (p = strstr(s, from); p != NULL; p = strstr(p + flen, from))
		n++;
	out = malloc(strlen(s) + n * tlen + 1);
	for (o = out; (p = strstr(s, from)) != NULL; s = p + flen) {
		memcpy(o, s, (size_t)(p - s));
		o += p - s;
		memcpy(o, to, tlen);
		o += tlen;
	}
	memcpy(o, s, strlen(s) + 1);
	return out;
}

static void
write_file(const char *name, const char *content, mode_t mode)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || write(fd, content, strlen(content)) != (ssize_t)strlen(content)) {
		perror(path);
		exit(1);
	}
	close(fd);
	chmod(path, mode);
}

static const struct {
	const char *name, *content;
	mode_t mode;
} files[] = {
	{ "mk", master_hex, 0600 },
	{ "mk_upper", "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F\n", 0600 },
	{ "mk_short", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e\n", 0600 },
	{ "mk_long", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f00\n", 0600 },
	{ "mk_nonhex", "SUPERSECRETzz02030405060708090a0b0c0d0e0f101112131415161718191a1b\n", 0600 },
	{ "wh", "whsec-test-first\nwhsec-test-second\n", 0600 },
	{ "wh3", "first\n\nsecond\r\nthird", 0600 },
	{ "wh644", "first\n", 0644 },
	{ "at", "tok-123-0123456789abcdef0123456789\n", 0600 },
	{ "at_short", "tok-123-0123456789abcdef01234\n", 0600 },
	{ "apt", "approve-0123456789abcdef0123456789\n", 0600 },
	{ "at644", "tok-123\n", 0644 },
	{ "api", "nylas-api-key\n", 0600 },
	{ "gcs", "client-state-1\n", 0600 },
	{ "gcs_long", "0123456789012345678901234567890123456789012345678901234567890123"
	    "45678901234567890123456789012345678901234567890123456789012345678\n", 0600 },
	{ "cur", "current-secret\n", 0600 },
	{ "whsec", "whsec_c2VjcmV0LWtleS1ieXRlcw==\n", 0600 },
	{ "whsec_bad", "not-a-standard-secret\n", 0600 },
	{ "empty", "", 0600 },
	{ "crt", "-----BEGIN CERTIFICATE-----\n", 0644 },
	{ "key", "-----BEGIN " "PRIVATE KEY-----\n", 0600 },
	{ "key644", "-----BEGIN " "PRIVATE KEY-----\n", 0644 },
	{ "smtp_pw", "smtp-password\n", 0600 },
	{ "rot_crt", "-----BEGIN CERTIFICATE-----\n", 0644 },
	{ "rot_key", "-----BEGIN " "PRIVATE KEY-----\n", 0600 },
	{ "ca", "-----BEGIN CERTIFICATE-----\n", 0644 },
	{ "slack_url", "https://hooks.slack.com/services/T0/B0/SLACKSECRET\n", 0600 },
	{ "teams_url", "https://x.webhook.office.com/webhookb2/TEAMSSECRET\n", 0600 },
	{ "hook_url", "https://hooks.example.com/in/HOOKSECRET", 0600 },
	{ "hook_url644", "https://hooks.example.com/in/HOOKSECRET\n", 0644 },
	{ "bad_url", "ftp://hooks.example.com/BADSECRET\n", 0600 },
};

static void
setup(void)
{
	size_t i;

	snprintf(dir, sizeof(dir), "/tmp/rekey-test-config.XXXXXX");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	for (i = 0; i < NELEM(files); i++)
		write_file(files[i].name, files[i].content, files[i].mode);
}

static void
teardown(void)
{
	char path[512];
	size_t i;

	for (i = 0; i < NELEM(files); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i].name);
		unlink(path);
	}
	snprintf(path, sizeof(path), "%s/t.conf", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/big.conf", dir);
	unlink(path);
	rmdir(dir);
}

/*
 * Parses tmpl ("$D" = the directory) as "t.conf" with the environment env
 * (NULL-terminated, "$D" allowed; NULL: an empty one).  *errors is set to the
 * errors with the directory shown as "$D", or NULL.
 */
static struct config *
parse(const char *tmpl, const char *const *env, char **errors)
{
	char *text = replace_all(tmpl, "$D", dir), *envp[MAX_ENV + 1], *raw = NULL;
	struct config *cfg;
	size_t n = 0, i;

	for (; env != NULL && env[n] != NULL && n < MAX_ENV; n++)
		envp[n] = replace_all(env[n], "$D", dir);
	envp[n] = NULL;
	cfg = config_parse("t.conf", text, strlen(text), envp, &raw);
	*errors = raw != NULL ? replace_all(raw, dir, "$D") : NULL;
	free(raw);
	for (i = 0; i < n; i++)
		free(envp[i]);
	free(text);
	return cfg;
}

/* A [store] and an [app base] section, for cases that are about something else. */
#define TAIL "[store]\nmaster_key_file = $D/mk\n[app base]\nnylas_webhook_secret_file = $D/wh\n"

static const char full_config[] =
    "# rekey test config\n"
    "; a semicolon comment\n"
    "\n"
    "[server]\n"
    "listen = 0.0.0.0:8080   # an inline comment\n"
    "tls_cert = $D/crt\n"
    "tls_key = $D/key\n"
    "trusted_proxies = 172.30.53.0/24, ::1 ; another comment\n"
    "public_url = https://hooks.example.com\n"
    "admin_token_file = $D/at\n"
    "approve_token_file = $D/apt\n"
    "max_body = 2m\n"
    "max_header_size = 32k\n"
    "max_connections = 100\n"
    "max_connections_per_ip = 7\n"
    "request_timeout = 1m\n"
    "log_level = debug\n"
    "\r\n"
    "[store]\r\n"
    "url = sqlite:/var/lib/rekey/rekey.db\r\n"
    "master_key_file = $D/mk\r\n"
    "\n"
    "[outbound]\n"
    "ca_file = $D/ca\n"
    "timeout_ms = 2500\n"
    "\n"
    "[notify]\n"
    "smtp_url = smtps://smtp.example.com:465\n"
    "smtp_from = rekey@example.com\n"
    "smtp_user = rekey@example.com\n"
    "smtp_password_file = $D/smtp_pw\n"
    "slack_webhook_url = https://hooks.slack.com/services/T/B/X\n"
    "teams_webhook_url = https://example.webhook.office.com/x\n"
    "webhook_url = https://alerts.example.com/hook\n"
    "webhook_secret_file = $D/whsec\n"
    "\n"
    "[app prod]\n"
    "nylas_api_base = https://api.eu.nylas.com\n"
    "nylas_application_id = app-1\n"
    "nylas_api_key_file = $D/api\n"
    "nylas_webhook_secret_file = $D/wh\n"
    "nylas_connector_credential_id = cred-1\n"
    "azure_tenant_id = tenant-1\n"
    "azure_client_id = client-1\n"
    "azure_app_object_id = object-1\n"
    "azure_login_base = http://127.0.0.1:9000\n"
    "graph_base = http://127.0.0.1:9001/v1.0\n"
    "rotator_client_id = rotator-1\n"
    "rotator_cert_file = $D/rot_crt\n"
    "rotator_key_file = $D/rot_key\n"
    "current_secret_file = $D/cur\n"
    "graph_client_state_file = $D/gcs\n"
    "graph_subscribe_users = off\n"
    "rotation_mode = approve\n"
    "rotate_before = 2w\n"
    "secret_lifetime = 90d\n"
    "old_secret_grace = 0\n"
    "expiry_poll = 15m\n"
    "warn_before = 1d, 30d, 7d, 7d\n"
    "owners = ops@example.com, lead@example.com\n"
    "owners_from_graph = FALSE\n"
    "\n"
    "[app staging-2]\n"
    "nylas_webhook_secret_file = $D/wh3\n"
    "rotation_mode = dry-run\n";

static int
secret_is(const struct secret *s, const char *want)
{
	return s != NULL && s->len == strlen(want) && memcmp(s->data, want, s->len) == 0;
}

static void
test_full(void)
{
	static const unsigned char v4[4] = { 172, 30, 53, 0 };
	const struct config_app *prod, *stg;
	struct config *cfg;
	char *errors;
	int i, key_ok;

	cfg = parse(full_config, NULL, &errors);
	TAP_OK(cfg != NULL, "full: parses");
	if (errors != NULL)
		printf("# %s\n", errors);
	free(errors);
	if (cfg == NULL)
		return;
	TAP_STR_EQ(cfg->path, "t.conf", "full: path kept");
	TAP_STR_EQ(cfg->listen, "0.0.0.0:8080", "full: inline '#' comment stripped");
	TAP_OK(cfg->tls_cert != NULL && cfg->tls_key != NULL, "full: tls pair");
	TAP_OK(cfg->n_trusted_proxies == 2 && cfg->trusted_proxies[0].family == AF_INET &&
	    cfg->trusted_proxies[0].prefix == 24 && memcmp(cfg->trusted_proxies[0].addr, v4, 4) == 0 &&
	    cfg->trusted_proxies[1].family == AF_INET6 && cfg->trusted_proxies[1].prefix == 128,
	    "full: trusted_proxies, inline ';' comment stripped");
	TAP_STR_EQ(cfg->public_url, "https://hooks.example.com", "full: public_url");
	TAP_OK(secret_is(cfg->admin_token, "tok-123-0123456789abcdef0123456789"),
	    "full: admin token loaded without newline");
	TAP_OK(secret_is(cfg->approve_token, "approve-0123456789abcdef0123456789"),
	    "full: approve token loaded");
	TAP_OK(cfg->max_connections_per_ip == 7, "full: max_connections_per_ip");
	TAP_OK(cfg->max_body == 2 * 1024 * 1024, "full: max_body 2m");
	TAP_OK(cfg->max_header_size == 32 * 1024, "full: max_header_size 32k");
	TAP_OK(cfg->max_connections == 100, "full: max_connections");
	TAP_OK(cfg->request_timeout == 60, "full: request_timeout 1m");
	TAP_STR_EQ(cfg->log_level, "debug", "full: log_level");
	TAP_STR_EQ(cfg->store_url, "sqlite:/var/lib/rekey/rekey.db", "full: store url (CRLF lines)");
	key_ok = cfg->master_key != NULL && cfg->master_key->len == 32;
	for (i = 0; key_ok && i < 32; i++)
		key_ok = cfg->master_key->data[i] == i;
	TAP_OK(key_ok, "full: master key decoded to 32 bytes");
	TAP_OK(cfg->ca_file != NULL && cfg->timeout_ms == 2500, "full: outbound");
	TAP_STR_EQ(cfg->smtp_url, "smtps://smtp.example.com:465", "full: smtp_url");
	TAP_STR_EQ(cfg->smtp_from, "rekey@example.com", "full: smtp_from");
	TAP_OK(cfg->smtp_password_file != NULL && cfg->webhook_secret_file != NULL &&
	    cfg->slack_webhook_url != NULL && cfg->teams_webhook_url != NULL &&
	    cfg->webhook_url != NULL, "full: notify");
	TAP_OK(cfg->n_apps == 2, "full: two apps");
	prod = config_find_app(cfg, "prod");
	stg = config_find_app(cfg, "staging-2");
	TAP_OK(prod != NULL && stg != NULL && config_find_app(cfg, "nope") == NULL,
	    "full: config_find_app");
	if (prod == NULL || stg == NULL)
		goto out;
	TAP_STR_EQ(prod->nylas_api_base, "https://api.eu.nylas.com", "full: nylas_api_base");
	TAP_STR_EQ(prod->nylas_application_id, "app-1", "full: nylas_application_id");
	TAP_STR_EQ(prod->nylas_connector_credential_id, "cred-1", "full: connector credential");
	TAP_STR_EQ(prod->azure_tenant_id, "tenant-1", "full: azure_tenant_id");
	TAP_STR_EQ(prod->azure_client_id, "client-1", "full: azure_client_id");
	TAP_STR_EQ(prod->azure_app_object_id, "object-1", "full: azure_app_object_id");
	TAP_STR_EQ(prod->azure_login_base, "http://127.0.0.1:9000", "full: azure_login_base");
	TAP_STR_EQ(prod->graph_base, "http://127.0.0.1:9001/v1.0", "full: graph_base");
	TAP_STR_EQ(prod->rotator_client_id, "rotator-1", "full: rotator_client_id");
	TAP_OK(prod->rotator_cert_file != NULL && prod->rotator_key_file != NULL,
	    "full: rotator files");
	TAP_OK(prod->n_webhook_secrets == 2 && secret_is(prod->webhook_secrets[0],
	    "whsec-test-first") && secret_is(prod->webhook_secrets[1], "whsec-test-second"),
	    "full: two webhook secrets");
	TAP_OK(secret_is(prod->nylas_api_key, "nylas-api-key"), "full: nylas api key loaded");
	TAP_OK(secret_is(prod->graph_client_state, "client-state-1"), "full: client state loaded");
	TAP_OK(secret_is(prod->current_secret, "current-secret"), "full: current secret loaded");
	TAP_OK(prod->graph_subscribe_users == 0 && prod->owners_from_graph == 0,
	    "full: bools off/FALSE");
	TAP_OK(prod->rotation_mode == ROTATION_MODE_APPROVE, "full: rotation_mode approve");
	TAP_OK(prod->rotate_before == 14 * 86400 && prod->secret_lifetime == 90 * 86400 &&
	    prod->old_secret_grace == 0 && prod->expiry_poll == 900, "full: durations");
	TAP_OK(prod->n_warn_before == 3 && prod->warn_before[0] == 30 * 86400 &&
	    prod->warn_before[1] == 7 * 86400 && prod->warn_before[2] == 86400,
	    "full: warn_before sorted descending, duplicate dropped");
	TAP_OK(prod->n_owners == 2, "full: two owners");
	if (prod->n_owners == 2) {
		TAP_STR_EQ(prod->owners[0], "ops@example.com", "full: first owner");
		TAP_STR_EQ(prod->owners[1], "lead@example.com", "full: second owner trimmed");
	}
	TAP_OK(stg->rotation_mode == ROTATION_MODE_DRY_RUN, "full: second app dry-run");
	TAP_OK(stg->nylas_api_key == NULL && stg->current_secret == NULL &&
	    stg->graph_client_state == NULL, "full: secrets without files stay NULL");
out:
	config_free(cfg);
}

static void
test_defaults(void)
{
	const struct config_app *app;
	struct config *cfg;
	char *errors;

	cfg = parse("[server]\nlisten =\nmax_body =   \n" TAIL, NULL, &errors);
	TAP_OK(cfg != NULL && errors == NULL, "defaults: minimal config parses");
	free(errors);
	if (cfg == NULL)
		return;
	TAP_STR_EQ(cfg->listen, "127.0.0.1:8443", "defaults: empty listen means the default");
	TAP_STR_EQ(cfg->store_url, "sqlite:var/rekey.db", "defaults: store url");
	TAP_STR_EQ(cfg->log_level, "info", "defaults: log_level");
	TAP_OK(cfg->max_body == 1048576 && cfg->max_header_size == 16384 &&
	    cfg->max_connections == 4096 && cfg->max_connections_per_ip == 64 &&
	    cfg->request_timeout == 30 &&
	    cfg->timeout_ms == 10000, "defaults: server and outbound numbers");
	TAP_OK(cfg->tls_cert == NULL && cfg->tls_key == NULL && cfg->admin_token == NULL &&
	    cfg->n_trusted_proxies == 0 && cfg->public_url == NULL && cfg->ca_file == NULL,
	    "defaults: unset keys stay NULL");
	app = config_find_app(cfg, "base");
	TAP_OK(app != NULL, "defaults: app found");
	if (app != NULL) {
		TAP_STR_EQ(app->nylas_api_base, "https://api.us.nylas.com", "defaults: nylas_api_base");
		TAP_STR_EQ(app->azure_login_base, "https://login.microsoftonline.com",
		    "defaults: azure_login_base");
		TAP_STR_EQ(app->graph_base, "https://graph.microsoft.com/v1.0", "defaults: graph_base");
		TAP_OK(app->graph_subscribe_users == 1 && app->owners_from_graph == 1 &&
		    app->rotation_mode == ROTATION_MODE_AUTO, "defaults: bools and mode");
		TAP_OK(app->rotate_before == 30 * 86400 && app->secret_lifetime == 180 * 86400 &&
		    app->old_secret_grace == 7 * 86400 && app->expiry_poll == 3600,
		    "defaults: durations");
		TAP_OK(app->n_warn_before == 4 && app->warn_before[0] == 30 * 86400 &&
		    app->warn_before[1] == 14 * 86400 && app->warn_before[2] == 7 * 86400 &&
		    app->warn_before[3] == 86400, "defaults: warn_before 30d,14d,7d,1d");
		TAP_OK(app->n_owners == 0 && app->owners == NULL, "defaults: no owners");
	}
	config_free(cfg);
}

/*
 * The rich-notification keys of older configs: accepted (even half a group,
 * even a file that is gone), each with a warning at its line, never an error.
 */
static void
test_ignored_keys(void)
{
	static const char *const env[] = { "REKEY_APP_BASE_GRAPH_ENCRYPTION_CERT_ID=k1", NULL };
	static const char why[] = "ignored: Graph does not support rich notifications for /users "
	    "(includeResourceData); rekey subscribes without them and believes only what "
	    "GET /users/{id} shows. Remove the key.";
	struct config *cfg;
	char *errors, *want;

	cfg = parse(TAIL "graph_encryption_cert_file = $D/gone.crt\n"
	    "graph_encryption_old_key_file = $D/gone.key\n", env, &errors);
	TAP_OK(cfg != NULL && errors == NULL, "ignored keys: the config loads (%s)",
	    errors ? errors : "no errors");
	free(errors);
	if (cfg == NULL)
		return;
	TAP_OK(cfg->n_warnings == 3, "ignored keys: one warning per key given (%zu)",
	    cfg->n_warnings);
	if (cfg->n_warnings == 3) {
		want = xasprintf("t.conf:5: warning: graph_encryption_cert_file: %s", why);
		TAP_STR_EQ(cfg->warnings[0], want, "ignored keys: the file's line and the reason");
		free(want);
		TAP_OK(strstr(cfg->warnings[1], "t.conf:0: warning: "
		    "REKEY_APP_BASE_GRAPH_ENCRYPTION_CERT_ID (environment): graph_encryption_cert_id: "
		    "ignored: ") == cfg->warnings[1], "ignored keys: the environment variable named (%s)",
		    cfg->warnings[1]);
		TAP_OK(strstr(cfg->warnings[2], "t.conf:6: warning: graph_encryption_old_key_file: "
		    "ignored: ") == cfg->warnings[2], "ignored keys: the old key's line (%s)",
		    cfg->warnings[2]);
	}
	config_free(cfg);
	cfg = parse(TAIL, NULL, &errors);
	TAP_OK(cfg != NULL && cfg->n_warnings == 0 && cfg->warnings == NULL,
	    "ignored keys: none given, no warning");
	free(errors);
	config_free(cfg);
}

struct error_case {
	const char *name;
	const char *text;
	const char *errors;	/* exactly, "$D" for the directory */
};

static const struct error_case error_cases[] = {
	{ "unknown section", "[servr]\nlisten = x\n" TAIL,
	  "t.conf:1: unknown section [servr]" },
	{ "unknown key", "[server]\nlisten_addr = 127.0.0.1:1\n" TAIL,
	  "t.conf:2: unknown key 'listen_addr' in [server]" },
	{ "unknown app key", TAIL "rotaton_mode = auto\n",
	  "t.conf:5: unknown key 'rotaton_mode' in [app base]" },
	{ "duplicate key", "[server]\nmax_body = 2048\n\nmax_body = 4096\n" TAIL,
	  "t.conf:4: duplicate key 'max_body' (first at line 2)" },
	{ "duplicate key across reopened section", "[server]\nlog_level = warn\n" TAIL
	  "[server]\nlog_level = info\n",
	  "t.conf:8: duplicate key 'log_level' (first at line 2)" },
	{ "bad size", "[server]\nmax_body = abc\n" TAIL,
	  "t.conf:2: max_body: expected a size like 1048576 or 1m, got 'abc'" },
	{ "size out of range", "[server]\nmax_header_size = 2m\n" TAIL,
	  "t.conf:2: max_header_size: must be from 1024 to 1048576 bytes, got '2m'" },
	{ "bad integer", "[server]\nmax_connections = 0\n" TAIL,
	  "t.conf:2: max_connections: expected an integer from 1 to 1000000, got '0'" },
	{ "integer with sign", "[outbound]\ntimeout_ms = +500\n" TAIL,
	  "t.conf:2: timeout_ms: expected an integer from 100 to 600000, got '+500'" },
	{ "bad duration", "[server]\nrequest_timeout = soon\n" TAIL,
	  "t.conf:2: request_timeout: expected a duration like 90s, 15m, 1h, 30d or 2w, got 'soon'" },
	{ "duration out of range", "[server]\nrequest_timeout = 2h\n" TAIL,
	  "t.conf:2: request_timeout: must be from 1s to 1h, got '2h'" },
	{ "bad bool", TAIL "graph_subscribe_users = maybe\n",
	  "t.conf:5: graph_subscribe_users: expected yes or no, got 'maybe'" },
	{ "bad enum", TAIL "rotation_mode = sometimes\n",
	  "t.conf:5: rotation_mode: expected auto, approve or dry-run, got 'sometimes'" },
	{ "bad log level", "[server]\nlog_level = verbose\n" TAIL,
	  "t.conf:2: log_level: expected debug, info, warn or error, got 'verbose'" },
	{ "bad listen", "[server]\nlisten = 8443\n" TAIL,
	  "t.conf:2: listen: expected host:port like 127.0.0.1:8443 or [::1]:8443, got '8443'" },
	{ "bad listen port", "[server]\nlisten = [::1]:65536\n" TAIL,
	  "t.conf:2: listen: expected host:port like 127.0.0.1:8443 or [::1]:8443, got '[::1]:65536'" },
	{ "bad url", "[server]\npublic_url = ftp://x\n" TAIL,
	  "t.conf:2: public_url: expected a URL starting with https:// or http://, got 'ftp://x'" },
	{ "credential url is not quoted", "[notify]\nslack_webhook_url = hooks.slack.com/T/B/X\n" TAIL,
	  "t.conf:2: slack_webhook_url: expected a URL starting with https:// or http://" },
	{ "bad network", "[server]\ntrusted_proxies = 10.0.0.0/8, 10.0.0.0/33\n" TAIL,
	  "t.conf:2: trusted_proxies: expected comma-separated networks like 10.0.0.0/8 or "
	  "::1/128, got '10.0.0.0/33'" },
	{ "empty list item", "[server]\ntrusted_proxies = 10.0.0.0/8,\n" TAIL,
	  "t.conf:2: trusted_proxies: expected comma-separated networks like 10.0.0.0/8 or "
	  "::1/128, got ''" },
	{ "bad owner", TAIL "owners = ops@example.com, ops\n",
	  "t.conf:5: owners: expected comma-separated email addresses, got 'ops'" },
	{ "bad warn_before", TAIL "warn_before = 30d, x\n",
	  "t.conf:5: warn_before: expected a duration like 90s, 15m, 1h, 30d or 2w, got 'x'" },
	{ "subscription lifetime over Graph's maximum", TAIL "graph_subscription_lifetime = 30d\n",
	  "t.conf:5: graph_subscription_lifetime: must be from 10s to 29d, got '30d'" },
	{ "rotate_before not shorter than lifetime", TAIL "secret_lifetime = 30d\n",
	  "t.conf:5: rotate_before (30d) must be shorter than secret_lifetime (30d), or every "
	  "poll would rotate" },
	{ "missing required key in a section",
	  "[store]\nurl = sqlite:x\n[app a]\nnylas_webhook_secret_file = $D/wh\n",
	  "t.conf:1: missing required key 'master_key_file' in [store]" },
	{ "missing required key, section absent", "[app a]\nnylas_webhook_secret_file = $D/wh\n",
	  "t.conf:0: missing required key 'master_key_file' in [store]" },
	{ "empty value of a required key", "[store]\nmaster_key_file =\n[app a]\n"
	  "nylas_webhook_secret_file = $D/wh\n",
	  "t.conf:1: missing required key 'master_key_file' in [store]" },
	{ "missing app key", "[app a]\nowners = a@example.com\n" TAIL,
	  "t.conf:1: missing required key 'nylas_webhook_secret_file' in [app a]" },
	{ "no app", "[store]\nmaster_key_file = $D/mk\n", "t.conf:0: no [app NAME] section" },
	{ "empty file", "", "t.conf:0: missing required key 'master_key_file' in [store]\n"
	  "t.conf:0: no [app NAME] section" },
	{ "duplicate app", "[app a]\nnylas_webhook_secret_file = $D/wh\n[app a]\nbogus = 1\n" TAIL,
	  "t.conf:3: duplicate app name 'a' (first at line 1)" },
	{ "bad app name", "[app a.b]\n" TAIL,
	  "t.conf:1: app name 'a.b' may hold only letters, digits, '_' and '-'" },
	{ "app without name", "[app]\n" TAIL, "t.conf:1: an app section needs a name: [app NAME]" },
	{ "header without ]", "[server\n" TAIL, "t.conf:1: a section header must end with ']'" },
	{ "key outside a section", "listen = 127.0.0.1:1\n" TAIL,
	  "t.conf:1: key 'listen' is outside any section" },
	{ "line without =", "[server]\nlisten\n" TAIL,
	  "t.conf:2: expected 'key = value' or a [section] header" },
	{ "missing key name", "[server]\n = 1\n" TAIL, "t.conf:2: missing key name before '='" },
	{ "missing secret file", "[server]\nadmin_token_file = $D/nonexistent\n" TAIL,
	  "t.conf:2: admin_token_file: cannot read secret file $D/nonexistent: "
	  "No such file or directory" },
	{ "secret file mode 0644", "[server]\nadmin_token_file = $D/at644\n" TAIL,
	  "t.conf:2: admin_token_file: secret file $D/at644 is readable or writable by others, "
	  "or writable by its group (mode 644); "
	  "accepted modes: 600 or 400, or 640 or 440 when owned by root or by the user "
	  "rekey runs as; chmod 600 it" },
	{ "webhook secret file mode 0644", "[app a]\nnylas_webhook_secret_file = $D/wh644\n" TAIL,
	  "t.conf:2: nylas_webhook_secret_file: secret file $D/wh644 is readable or writable by "
	  "others, or writable by its group (mode 644); "
	  "accepted modes: 600 or 400, or 640 or 440 when owned by root or by the user "
	  "rekey runs as; chmod 600 it" },
	{ "admin token under 32 characters", "[server]\nadmin_token_file = $D/at_short\n" TAIL,
	  "t.conf:2: admin_token_file: the value must be at least 32 characters (make one with "
	  "openssl rand -hex 32)" },
	{ "approve token under 32 characters", "[server]\napprove_token_file = $D/at_short\n" TAIL,
	  "t.conf:2: approve_token_file: the value must be at least 32 characters (make one with "
	  "openssl rand -hex 32)" },
	{ "secret file is a directory", "[server]\nadmin_token_file = $D\n" TAIL,
	  "t.conf:2: admin_token_file: secret file $D is not a regular file" },
	{ "empty secret file", "[app a]\nnylas_webhook_secret_file = $D/empty\n" TAIL,
	  "t.conf:2: nylas_webhook_secret_file: secret file $D/empty is empty" },
	{ "tls key mode 0644", "[server]\ntls_cert = $D/crt\ntls_key = $D/key644\n" TAIL,
	  "t.conf:3: tls_key: secret file $D/key644 is readable or writable by others, "
	  "or writable by its group (mode 644); "
	  "accepted modes: 600 or 400, or 640 or 440 when owned by root or by the user "
	  "rekey runs as; chmod 600 it" },
	{ "tls cert missing", "[server]\ntls_cert = $D/nocrt\ntls_key = $D/key\n" TAIL,
	  "t.conf:2: tls_cert: cannot read $D/nocrt: No such file or directory" },
	{ "tls_cert without tls_key", "[server]\ntls_cert = $D/crt\n" TAIL,
	  "t.conf:2: tls_cert is set but tls_key is not; set both or neither" },
	{ "tls_key without tls_cert", "[server]\nlisten = 127.0.0.1:1\ntls_key = $D/key\n" TAIL,
	  "t.conf:3: tls_key is set but tls_cert is not; set both or neither" },
	{ "ca_file missing", "[outbound]\nca_file = $D/noca\n" TAIL,
	  "t.conf:2: ca_file: cannot read $D/noca: No such file or directory" },
	{ "master key too short", "[store]\nmaster_key_file = $D/mk_short\n[app a]\n"
	  "nylas_webhook_secret_file = $D/wh\n",
	  "t.conf:2: master_key_file must hold 64 hex characters (32 bytes)" },
	{ "master key too long", "[store]\nmaster_key_file = $D/mk_long\n[app a]\n"
	  "nylas_webhook_secret_file = $D/wh\n",
	  "t.conf:2: master_key_file must hold 64 hex characters (32 bytes)" },
	{ "master key not hex", "[store]\nmaster_key_file = $D/mk_nonhex\n[app a]\n"
	  "nylas_webhook_secret_file = $D/wh\n",
	  "t.conf:2: master_key_file must hold 64 hex characters (32 bytes)" },
	{ "client state too long", TAIL "graph_client_state_file = $D/gcs_long\n",
	  "t.conf:5: graph_client_state_file: the value must be at most 128 characters" },
	{ "webhook secret without whsec_", "[notify]\nwebhook_secret_file = $D/whsec_bad\n" TAIL,
	  "t.conf:2: webhook_secret_file must hold 'whsec_' followed by a base64 key" },
	{ "several errors, sorted by line",
	  "[server]\nmax_body = abc\nbogus = 1\n[nope]\nstill = skipped\n"
	  "[app a]\nnylas_webhook_secret_file = $D/at644\nrotation_mode = x\n",
	  "t.conf:0: missing required key 'master_key_file' in [store]\n"
	  "t.conf:2: max_body: expected a size like 1048576 or 1m, got 'abc'\n"
	  "t.conf:3: unknown key 'bogus' in [server]\n"
	  "t.conf:4: unknown section [nope]\n"
	  "t.conf:7: nylas_webhook_secret_file: secret file $D/at644 is readable or writable by "
	  "others, or writable by its group (mode 644); accepted modes: 600 or 400, "
	  "or 640 or 440 when owned by root or by the user rekey runs as; chmod 600 it\n"
	  "t.conf:8: rotation_mode: expected auto, approve or dry-run, got 'x'" },
	{ "smtp_url without smtp_from", "[notify]\nsmtp_url = smtp://127.0.0.1:25\n" TAIL,
	  "t.conf:2: smtp_url is set but smtp_from is not; email needs the sender address" },
	{ "smtp_user without a password", "[notify]\nsmtp_user = rekey\n" TAIL,
	  "t.conf:2: smtp_user is set but smtp_password_file is not; SMTP authentication needs both" },
	{ "webhook_url without its secret", "[notify]\nwebhook_url = https://h.example.com/x\n" TAIL,
	  "t.conf:2: webhook_url is set but webhook_secret_file is not; the webhook channel signs "
	  "every message (Standard Webhooks) and needs both" },
	{ "reauth_url_template without {email}", TAIL
	  "reauth_url_template = https://app.example.com/login\n",
	  "t.conf:5: reauth_url_template must contain {email}" },
	{ "reauth_url_template not a URL", TAIL "reauth_url_template = app/{email}\n",
	  "t.conf:5: reauth_url_template must be an http(s) URL" },
	{ "all-zero GUID", TAIL "azure_client_id = 00000000-0000-0000-0000-000000000000\n",
	  "t.conf:5: azure_client_id is the placeholder 00000000-0000-0000-0000-000000000000, "
	  "which is no one's id; fix: set azure_client_id to the Application (client) ID of the "
	  "app registration Nylas signs users in with (az ad app list --display-name NAME "
	  "--query [].appId -o tsv)" },
	{ "bare zero id", TAIL "rotator_client_id = 0\n",
	  "t.conf:5: rotator_client_id is the placeholder 0, which is no one's id; fix: set "
	  "rotator_client_id to the Application (client) ID of the registration rekey signs in as "
	  "(the one holding the rotator certificate)" },
	{ "REPLACE-ME in a URL, before its syntax", "[server]\npublic_url = https://replace-me\n"
	  TAIL, "t.conf:2: public_url = https://replace-me still holds the example config's "
	  "placeholder REPLACE-ME; fix: set your own value (docs/setup.md), or leave it empty "
	  "if you do not use it" },
	{ "REPLACE-ME in an email list", TAIL "owners = REPLACE-ME@example.com\n",
	  "t.conf:5: owners = REPLACE-ME@example.com still holds the example config's "
	  "placeholder REPLACE-ME; fix: set your own value (docs/setup.md), or leave it empty "
	  "if you do not use it" },
	{ "REPLACE-ME in a credential URL is not echoed",
	  "[notify]\nslack_webhook_url = https://hooks.slack.com/REPLACE-ME/s3cret\n" TAIL,
	  "t.conf:2: slack_webhook_url still holds the example config's placeholder REPLACE-ME; "
	  "fix: set your own value (docs/setup.md), or leave it empty if you do not use it" },
	{ "every placeholder reported, each at its line", TAIL
	  "azure_tenant_id = 00000000-0000-0000-0000-000000000000\n"
	  "nylas_application_id = 00000000-0000-0000-0000-000000000000\n",
	  "t.conf:5: azure_tenant_id is the placeholder 00000000-0000-0000-0000-000000000000, "
	  "which is no one's id; fix: set azure_tenant_id to the Directory (tenant) ID of the app "
	  "registration (az account show --query tenantId -o tsv)\n"
	  "t.conf:6: nylas_application_id is the placeholder 00000000-0000-0000-0000-000000000000, "
	  "which is no one's id; fix: set nylas_application_id to the application id shown in "
	  "the Nylas dashboard (App settings)" },
	{ "control characters are not echoed", "[server]\nbad\x1b[31m = 1\n" TAIL,
	  "t.conf:2: unknown key 'bad?[31m' in [server]" },
};

static void
test_errors(void)
{
	struct config *cfg;
	char *errors;
	size_t i;

	for (i = 0; i < NELEM(error_cases); i++) {
		const struct error_case *c = &error_cases[i];

		cfg = parse(c->text, NULL, &errors);
		TAP_OK(cfg == NULL, "error: %s: rejected", c->name);
		TAP_STR_EQ(errors, c->errors, "error: %s: message", c->name);
		config_free(cfg);
		free(errors);
	}
}

/* A placeholder replaced from the environment loads; one put there is reported as the variable. */
static void
test_placeholder_env(void)
{
	static const char text[] = TAIL "azure_client_id = 00000000-0000-0000-0000-000000000000\n";
	const char *const filled[] = { "REKEY_APP_BASE_AZURE_CLIENT_ID=11111111-2222-3333-4444-555555555555",
		NULL };
	const char *const bad[] = { "REKEY_SERVER_PUBLIC_URL=https://REPLACE-ME.example.com", NULL };
	struct config *cfg;
	char *errors;

	cfg = parse(text, filled, &errors);
	TAP_OK(cfg != NULL && errors == NULL, "placeholder: replaced by REKEY_APP_BASE_AZURE_CLIENT_ID,"
	    " the config loads (%s)", errors ? errors : "no errors");
	config_free(cfg);
	free(errors);
	cfg = parse(TAIL, bad, &errors);
	TAP_OK(cfg == NULL, "placeholder: in the environment, refused");
	TAP_OK(errors != NULL && strstr(errors, "REKEY_SERVER_PUBLIC_URL (environment): public_url"
	    " = https://REPLACE-ME.example.com still holds") != NULL,
	    "placeholder: the variable named (%s)", errors ? errors : "(null)");
	config_free(cfg);
	free(errors);
}

static void
test_limits(void)
{
	char *text = malloc(8192), *errors = NULL;
	struct config *cfg;
	static const char nul[] = "[server]\nlisten = a\0b\n";

	memset(text, 'x', 5000);
	memcpy(text, "[server]\n", 9);
	text[5000] = '\0';
	cfg = parse(text, NULL, &errors);
	TAP_OK(cfg == NULL && errors != NULL &&
	    strstr(errors, "t.conf:2: line is longer than 4096 bytes") != NULL,
	    "limits: long line rejected at its line");
	free(errors);
	free(text);

	cfg = config_parse("t.conf", nul, sizeof(nul) - 1, (char *[]){ NULL }, &errors);
	TAP_OK(cfg == NULL && errors != NULL && strstr(errors, "t.conf:2: line holds a NUL byte"),
	    "limits: NUL byte rejected at its line");
	free(errors);

	text = calloc(1, 1024 * 1024 + 2);
	memset(text, '#', 1024 * 1024 + 1);
	cfg = config_parse("t.conf", text, 1024 * 1024 + 1, (char *[]){ NULL }, &errors);
	TAP_STR_EQ(errors, "t.conf:0: file is larger than 1048576 bytes",
	    "limits: file over 1 MiB rejected");
	free(errors);
	free(text);

	text = malloc(40 * 1024);
	text[0] = '\0';
	{
		size_t i, off = 0;

		for (i = 0; i < 1100; i++)
			off += (size_t)snprintf(text + off, 40 * 1024 - off, "junk\n");
	}
	cfg = parse(text, NULL, &errors);
	TAP_OK(cfg == NULL && errors != NULL &&
	    strstr(errors, "too many errors; only the first 1000 are shown") != NULL,
	    "limits: errors are capped");
	free(errors);
	free(text);

	cfg = config_parse("t.conf", "", 0, (char *[]){ NULL }, NULL);
	TAP_OK(cfg == NULL, "limits: errors may be NULL");
}

/* ---- environment ---- */

struct env_case {
	const char *name;
	const char *text;
	const char *env[MAX_ENV];
	const char *errors;	/* NULL: parses */
};

static const struct env_case env_cases[] = {
	{ "unrelated REKEY_ variables are ignored", TAIL,
	  { "REKEY_CONF=./x", "REKEY_BIN=/bin/false", "PATH=/bin" }, NULL },
	{ "bad value of a key in the file", "[server]\nmax_body = 4096\n" TAIL,
	  { "REKEY_SERVER_MAX_BODY=abc" },
	  "t.conf:2: REKEY_SERVER_MAX_BODY (environment): max_body: expected a size like "
	  "1048576 or 1m, got 'abc'" },
	{ "bad value of a key not in the file", TAIL, { "REKEY_SERVER_MAX_BODY=abc" },
	  "t.conf:0: REKEY_SERVER_MAX_BODY (environment): max_body: expected a size like "
	  "1048576 or 1m, got 'abc'" },
	{ "bad file value replaced by the environment", "[server]\nmax_body = abc\n" TAIL,
	  { "REKEY_SERVER_MAX_BODY=4096" }, NULL },
	{ "unknown server key", TAIL, { "REKEY_SERVER_MAX_BDY=1" },
	  "t.conf:0: REKEY_SERVER_MAX_BDY (environment): unknown key 'max_bdy' in [server]" },
	{ "unknown app", TAIL, { "REKEY_APP_PORD_ROTATION_MODE=auto" },
	  "t.conf:0: REKEY_APP_PORD_ROTATION_MODE (environment): names no key of any "
	  "[app NAME] section" },
	{ "unknown app key", TAIL, { "REKEY_APP_BASE_ROTATION=auto" },
	  "t.conf:0: REKEY_APP_BASE_ROTATION (environment): names no key of any "
	  "[app NAME] section" },
	{ "bad app value", TAIL "rotation_mode = auto\n", { "REKEY_APP_BASE_ROTATION_MODE=never" },
	  "t.conf:5: REKEY_APP_BASE_ROTATION_MODE (environment): rotation_mode: expected auto, "
	  "approve or dry-run, got 'never'" },
	{ "ambiguous app", "[app a-b]\nnylas_webhook_secret_file = $D/wh\n"
	  "[app a_b]\nnylas_webhook_secret_file = $D/wh\n" TAIL,
	  { "REKEY_APP_A_B_OWNERS=x@example.com" },
	  "t.conf:0: REKEY_APP_A_B_OWNERS (environment): matches more than one [app NAME] section" },
	{ "environment sets a required key", "[app a]\nnylas_webhook_secret_file = $D/wh\n",
	  { "REKEY_STORE_MASTER_KEY_FILE=$D/mk" }, NULL },
	{ "environment secret file checked", TAIL, { "REKEY_SERVER_ADMIN_TOKEN_FILE=$D/at644" },
	  "t.conf:0: REKEY_SERVER_ADMIN_TOKEN_FILE (environment): admin_token_file: secret file "
	  "$D/at644 is readable or writable by others, or writable by its group (mode 644); "
	  "accepted modes: 600 or 400, or 640 or 440 when owned by root or by the user "
	  "rekey runs as; chmod 600 it" },
	{ "environment tls_cert alone", TAIL, { "REKEY_SERVER_TLS_CERT=$D/crt" },
	  "t.conf:0: REKEY_SERVER_TLS_CERT (environment): tls_cert is set but tls_key is not; "
	  "set both or neither" },
	{ "lowercase variables are not ours", TAIL, { "rekey_server_max_bdy=1" }, NULL },
};

static void
test_env_table(void)
{
	struct config *cfg;
	char *errors;
	size_t i;

	for (i = 0; i < NELEM(env_cases); i++) {
		const struct env_case *c = &env_cases[i];

		cfg = parse(c->text, c->env, &errors);
		if (c->errors == NULL) {
			TAP_OK(cfg != NULL && errors == NULL, "env: %s: parses", c->name);
			if (errors != NULL)
				printf("# %s\n", errors);
		} else {
			TAP_OK(cfg == NULL, "env: %s: rejected", c->name);
			TAP_STR_EQ(errors, c->errors, "env: %s: message", c->name);
		}
		config_free(cfg);
		free(errors);
	}
}

static void
test_env_values(void)
{
	static const char *const env[] = {
		"REKEY_SERVER_MAX_BODY=2048", "REKEY_SERVER_LOG_LEVEL= warn ",
		"REKEY_APP_MY_APP_ROTATION_MODE=dry-run", "REKEY_APP_MY_APP_OWNERS=a@example.com",
	};
	static const char *const unset[] = {
		"REKEY_SERVER_TLS_CERT=", "REKEY_SERVER_TLS_KEY=", NULL,
	};
	const char *const env4[] = { env[0], env[1], env[2], env[3], NULL };
	const struct config_app *app;
	struct config *cfg;
	char *errors;

	cfg = parse("[server]\nmax_body = 4096\n[app my-app]\nnylas_webhook_secret_file = $D/wh\n"
	    "rotation_mode = auto\n" TAIL, env4, &errors);
	TAP_OK(cfg != NULL && errors == NULL, "env: overrides parse");
	free(errors);
	if (cfg != NULL) {
		TAP_OK(cfg->max_body == 2048, "env: REKEY_SERVER_MAX_BODY overrides the file");
		TAP_STR_EQ(cfg->log_level, "warn", "env: key absent from the file set, value trimmed");
		app = config_find_app(cfg, "my-app");
		TAP_OK(app != NULL && app->rotation_mode == ROTATION_MODE_DRY_RUN,
		    "env: REKEY_APP_MY_APP_ROTATION_MODE for [app my-app]");
		TAP_OK(app != NULL && app->n_owners == 1, "env: app key absent from the file set");
		app = config_find_app(cfg, "base");
		TAP_OK(app != NULL && app->rotation_mode == ROTATION_MODE_AUTO && app->n_owners == 0,
		    "env: other apps untouched");
	}
	config_free(cfg);

	cfg = parse("[server]\ntls_cert = $D/crt\ntls_key = $D/key\n" TAIL, unset, &errors);
	TAP_OK(cfg != NULL && cfg->tls_cert == NULL && cfg->tls_key == NULL,
	    "env: empty values unset keys of the file");
	free(errors);
	config_free(cfg);
}

/* ---- durations ---- */

struct duration_case {
	const char *in;
	int ok;
	int64_t want;
};

static const struct duration_case duration_cases[] = {
	{ "90s", 1, 90 },
	{ "15m", 1, 900 },
	{ "1h", 1, 3600 },
	{ "30d", 1, 30 * 86400 },
	{ "2w", 1, 14 * 86400 },
	{ "45", 1, 45 },
	{ "0", 1, 0 },
	{ "0s", 1, 0 },
	{ "9223372036854775807", 1, INT64_MAX },
	{ "15250284452471w", 1, INT64_C(15250284452471) * 604800 },
	{ "", 0, 0 },
	{ "1x", 0, 0 },
	{ "-1s", 0, 0 },
	{ "+1s", 0, 0 },
	{ "1.5h", 0, 0 },
	{ " 1s", 0, 0 },
	{ "1s ", 0, 0 },
	{ "s", 0, 0 },
	{ "1ss", 0, 0 },
	{ "1H", 0, 0 },
	{ "9223372036854775808", 0, 0 },
	{ "99999999999999999999", 0, 0 },
	{ "9223372036854775807m", 0, 0 },
	{ "15250284452472w", 0, 0 },
};

static void
test_durations(void)
{
	int64_t out;
	size_t i;

	for (i = 0; i < NELEM(duration_cases); i++) {
		const struct duration_case *c = &duration_cases[i];
		int rc;

		out = -7;
		rc = config_parse_duration(c->in, &out);
		if (c->ok)
			TAP_OK(rc == 0 && out == c->want, "duration '%s' = %lld", c->in,
			    (long long)c->want);
		else
			TAP_OK(rc == -1 && out == -7, "duration '%s' rejected", c->in);
	}
	TAP_OK(config_parse_duration(NULL, &out) == -1, "duration NULL rejected");
}

/* ---- networks ---- */

struct cidr_case {
	const char *in;
	int family;		/* 0: rejected */
	const char *addr;	/* normalised network address */
	int prefix;
};

static const struct cidr_case cidr_cases[] = {
	{ "10.0.0.0/8", AF_INET, "10.0.0.0", 8 },
	{ "10.1.2.3/8", AF_INET, "10.0.0.0", 8 },
	{ "172.30.53.10/24", AF_INET, "172.30.53.0", 24 },
	{ "127.0.0.1", AF_INET, "127.0.0.1", 32 },
	{ "0.0.0.0/0", AF_INET, "0.0.0.0", 0 },
	{ "192.168.1.255/23", AF_INET, "192.168.0.0", 23 },
	{ "::1/128", AF_INET6, "::1", 128 },
	{ "::1", AF_INET6, "::1", 128 },
	{ "2001:db8::7/32", AF_INET6, "2001:db8::", 32 },
	{ "fe80::1/10", AF_INET6, "fe80::", 10 },
	{ "::ffff:10.0.0.0/104", AF_INET6, "::ffff:10.0.0.0", 104 },
	{ "::/0", AF_INET6, "::", 0 },
	{ "", 0, NULL, 0 },
	{ "/8", 0, NULL, 0 },
	{ "10.0.0.0/", 0, NULL, 0 },
	{ "10.0.0.0/33", 0, NULL, 0 },
	{ "10.0.0.0/-1", 0, NULL, 0 },
	{ "10.0.0.0/+8", 0, NULL, 0 },
	{ "10.0.0.0/ 8", 0, NULL, 0 },
	{ "10.0.0.0/0008", 0, NULL, 0 },
	{ "::1/129", 0, NULL, 0 },
	{ "10.0.0", 0, NULL, 0 },
	{ "10.0.0.256", 0, NULL, 0 },
	{ "example.com", 0, NULL, 0 },
	{ " 10.0.0.0/8", 0, NULL, 0 },
	{ "fe80::1%eth0", 0, NULL, 0 },
	{ "1111:2222:3333:4444:5555:6666:7777:8888:9999/64", 0, NULL, 0 },
};

static void
test_cidrs(void)
{
	char buf[INET6_ADDRSTRLEN];
	struct cidr c;
	size_t i;

	for (i = 0; i < NELEM(cidr_cases); i++) {
		const struct cidr_case *t = &cidr_cases[i];
		int rc;

		memset(&c, 0, sizeof(c));
		rc = config_parse_cidr(t->in, &c);
		if (t->family == 0) {
			TAP_OK(rc == -1, "cidr '%s' rejected", t->in);
			continue;
		}
		TAP_OK(rc == 0 && c.family == t->family && c.prefix == t->prefix &&
		    inet_ntop(c.family, c.addr, buf, sizeof(buf)) != NULL &&
		    strcmp(buf, t->addr) == 0, "cidr '%s' = %s/%d", t->in, t->addr, t->prefix);
	}
}

struct trust_case {
	const char *addr;
	int family;		/* of the socket address */
	int want;
};

static const char *const trust_nets[] = {
	"10.0.0.0/7", "192.168.1.1", "2001:db8::/32", "::1",
};

static const struct trust_case trust_cases[] = {
	{ "10.1.2.3", AF_INET, 1 },
	{ "11.255.255.255", AF_INET, 1 },
	{ "12.0.0.0", AF_INET, 0 },
	{ "9.255.255.255", AF_INET, 0 },
	{ "192.168.1.1", AF_INET, 1 },
	{ "192.168.1.2", AF_INET, 0 },
	{ "::ffff:10.1.2.3", AF_INET6, 1 },
	{ "::ffff:192.168.1.1", AF_INET6, 1 },
	{ "::ffff:192.168.1.2", AF_INET6, 0 },
	{ "2001:db8:1::5", AF_INET6, 1 },
	{ "2001:db9::5", AF_INET6, 0 },
	{ "::1", AF_INET6, 1 },
	{ "::2", AF_INET6, 0 },
	{ "127.0.0.1", AF_INET, 0 },
	{ "::a01:203", AF_INET6, 0 },	/* v4-compatible, not v4-mapped */
};

static int
trusted(const struct config *cfg, const char *addr, int family)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET)
		inet_pton(AF_INET, addr, &sin->sin_addr);
	else
		inet_pton(AF_INET6, addr, &sin6->sin6_addr);
	return config_addr_trusted(cfg, (struct sockaddr *)&ss);
}

static void
test_trusted(void)
{
	struct cidr nets[NELEM(trust_nets)];
	struct config cfg;
	struct config *parsed;
	struct sockaddr_storage ss;
	char *errors;
	size_t i;

	memset(&cfg, 0, sizeof(cfg));
	for (i = 0; i < NELEM(trust_nets); i++)
		config_parse_cidr(trust_nets[i], &nets[i]);
	cfg.trusted_proxies = nets;
	cfg.n_trusted_proxies = NELEM(nets);
	for (i = 0; i < NELEM(trust_cases); i++) {
		const struct trust_case *t = &trust_cases[i];

		TAP_OK(trusted(&cfg, t->addr, t->family) == t->want, "trusted: %s %s", t->addr,
		    t->want ? "trusted" : "not trusted");
	}
	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	TAP_OK(config_addr_trusted(&cfg, (struct sockaddr *)&ss) == 0, "trusted: AF_UNIX never");
	TAP_OK(config_addr_trusted(&cfg, NULL) == 0, "trusted: NULL address never");

	parsed = parse("[server]\ntrusted_proxies = 127.0.0.1/32, ::1/128\n" TAIL, NULL, &errors);
	TAP_OK(parsed != NULL && trusted(parsed, "127.0.0.1", AF_INET) &&
	    trusted(parsed, "::ffff:127.0.0.1", AF_INET6) && trusted(parsed, "::1", AF_INET6) &&
	    !trusted(parsed, "127.0.0.2", AF_INET), "trusted: list from a config file");
	free(errors);
	config_free(parsed);
	parsed = parse(TAIL, NULL, &errors);
	TAP_OK(parsed != NULL && !trusted(parsed, "127.0.0.1", AF_INET),
	    "trusted: nobody without trusted_proxies");
	free(errors);
	config_free(parsed);
}

/* ---- secret files ---- */

static void
test_secrets(void)
{
	const struct config_app *app;
	struct config *cfg;
	char *errors;

	cfg = parse("[store]\nmaster_key_file = $D/mk_upper\n[app a]\n"
	    "nylas_webhook_secret_file = $D/wh3\n", NULL, &errors);
	TAP_OK(cfg != NULL, "secrets: files with mode 0600 accepted");
	free(errors);
	if (cfg == NULL)
		return;
	TAP_OK(cfg->master_key->len == 32 && cfg->master_key->data[10] == 0x0a &&
	    cfg->master_key->data[31] == 0x1f, "secrets: uppercase hex master key decoded");
	app = config_find_app(cfg, "a");
	TAP_OK(app != NULL && app->n_webhook_secrets == 3, "secrets: three non-empty lines, three secrets");
	if (app != NULL && app->n_webhook_secrets == 3) {
		TAP_OK(secret_is(app->webhook_secrets[0], "first"), "secrets: line 1");
		TAP_OK(secret_is(app->webhook_secrets[1], "second"), "secrets: line 3 without \\r\\n");
		TAP_OK(secret_is(app->webhook_secrets[2], "third"), "secrets: last line without newline");
	}
	config_free(cfg);

	cfg = parse("[store]\nmaster_key_file = $D/mk_nonhex\n[app a]\n"
	    "nylas_webhook_secret_file = $D/wh\n", NULL, &errors);
	TAP_OK(cfg == NULL && errors != NULL && strstr(errors, "SUPERSECRET") == NULL,
	    "secrets: a secret's content never appears in an error");
	free(errors);
}

/* ---- channel URLs from files (they are credentials) ---- */

#define URL_BASE "[store]\nmaster_key_file = $D/mk\n[app a]\nnylas_webhook_secret_file = $D/wh\n" \
    "[notify]\n"

static void
test_url_files(void)
{
	struct config *cfg;
	char *errors;

	cfg = parse(URL_BASE "slack_webhook_url_file = $D/slack_url\n"
	    "teams_webhook_url_file = $D/teams_url\nwebhook_url_file = $D/hook_url\n"
	    "webhook_secret_file = $D/whsec\n", NULL, &errors);
	TAP_OK(cfg != NULL, "url files: the three channel URLs load from files");
	if (errors != NULL)
		printf("# %s\n", errors);
	free(errors);
	if (cfg != NULL) {
		TAP_STR_EQ(cfg->slack_webhook_url, "https://hooks.slack.com/services/T0/B0/SLACKSECRET",
		    "url files: slack, without its newline");
		TAP_STR_EQ(cfg->teams_webhook_url, "https://x.webhook.office.com/webhookb2/TEAMSSECRET",
		    "url files: teams");
		TAP_STR_EQ(cfg->webhook_url, "https://hooks.example.com/in/HOOKSECRET",
		    "url files: webhook, a file without a final newline");
	}
	config_free(cfg);

	cfg = parse(URL_BASE "slack_webhook_url = https://hooks.slack.com/services/T0/B0/OTHER\n"
	    "slack_webhook_url_file = $D/slack_url\n", NULL, &errors);
	TAP_OK(cfg == NULL && errors != NULL && strstr(errors, "not both") != NULL &&
	    strstr(errors, "SECRET") == NULL && strstr(errors, "OTHER") == NULL,
	    "url files: the key and its file together are refused, nothing quoted");
	free(errors);
	config_free(cfg);

	cfg = parse(URL_BASE "teams_webhook_url_file = $D/bad_url\n", NULL, &errors);
	TAP_OK(cfg == NULL && errors != NULL && strstr(errors, "teams_webhook_url_file") != NULL &&
	    strstr(errors, "BADSECRET") == NULL, "url files: not https: refused, the value not quoted");
	free(errors);
	config_free(cfg);

	cfg = parse(URL_BASE "webhook_url_file = $D/hook_url644\nwebhook_secret_file = $D/whsec\n",
	    NULL, &errors);
	TAP_OK(cfg == NULL && errors != NULL && strstr(errors, "webhook_url_file") != NULL,
	    "url files: a file others may read is refused, like every secret file");
	free(errors);
	config_free(cfg);

	cfg = parse(URL_BASE "webhook_url_file = $D/hook_url\n", NULL, &errors);
	TAP_OK(cfg == NULL && errors != NULL && strstr(errors, "webhook_secret_file is not") != NULL,
	    "url files: the webhook from a file still needs its signing secret");
	free(errors);
	config_free(cfg);
}

/* ---- config_load ---- */

static void
test_load(void)
{
	char path[512], big[512], *errors = NULL, *text, *want;
	struct config *cfg;
	FILE *f;
	size_t i;

	snprintf(path, sizeof(path), "%s/missing.conf", dir);
	cfg = config_load(path, &errors);
	want = replace_all("$D/missing.conf:0: cannot read: No such file or directory", "$D", dir);
	TAP_OK(cfg == NULL, "load: missing file fails");
	TAP_STR_EQ(errors, want, "load: missing file message");
	free(want);
	free(errors);

	snprintf(path, sizeof(path), "%s/t.conf", dir);
	text = replace_all(TAIL, "$D", dir);
	f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	free(text);
	cfg = config_load(path, &errors);
	TAP_OK(cfg != NULL && errors == NULL && strcmp(cfg->path, path) == 0,
	    "load: a file on disk loads");
	if (errors != NULL)
		printf("# %s\n", errors);
	free(errors);
	config_free(cfg);

	snprintf(big, sizeof(big), "%s/big.conf", dir);
	f = fopen(big, "w");
	for (i = 0; i < 1024 * 1024 + 1; i++)
		fputc('#', f);
	fclose(f);
	cfg = config_load(big, &errors);
	want = replace_all("$D/big.conf:0: file is larger than 1048576 bytes", "$D", dir);
	TAP_STR_EQ(errors, want, "load: file over 1 MiB");
	free(want);
	free(errors);

	cfg = config_load(dir, &errors);
	want = replace_all("$D:0: cannot read: Is a directory", "$D", dir);
	TAP_STR_EQ(errors, want, "load: a directory");
	free(want);
	free(errors);

	config_free(NULL);
	TAP_OK(1, "load: config_free(NULL) is a no-op");
	TAP_OK(config_find_app(NULL, "a") == NULL, "load: config_find_app(NULL) is NULL");
}

int
main(void)
{
	setup();
	test_full();
	test_defaults();
	test_ignored_keys();
	test_errors();
	test_placeholder_env();
	test_limits();
	test_env_table();
	test_env_values();
	test_durations();
	test_cidrs();
	test_trusted();
	test_secrets();
	test_url_files();
	test_load();
	teardown();
	return tap_done();
}
