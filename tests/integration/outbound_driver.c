/*
 * outbound_driver: runs one outbound call of an app from a rekey config on
 * a real event loop and prints its outcome as one JSON line, so that the
 * integration tests can drive the identity, Graph and Nylas clients against
 * the fakes.  A test tool: it prints a hash of a new secret, never the secret.
 *
 *   outbound_driver -c FILE APP token
 *   outbound_driver -c FILE APP probe SECRET_FILE
 *   outbound_driver -c FILE APP find-app
 *   outbound_driver -c FILE APP add-password OBJECT_ID NAME DAYS
 *   outbound_driver -c FILE APP remove-password OBJECT_ID KEY_ID
 *   outbound_driver -c FILE APP owners OBJECT_ID
 *   outbound_driver -c FILE APP user USER_ID
 *   outbound_driver -c FILE APP connector-get
 *   outbound_driver -c FILE APP connector-patch SECRET_FILE
 *   outbound_driver -c FILE APP grants STATUS
 *   outbound_driver -c FILE APP get-app OBJECT_ID
 *   outbound_driver -c FILE APP sub-create URL LIFECYCLE_URL CLIENT_STATE_FILE
 *   outbound_driver -c FILE APP sub-renew|sub-reauthorize|sub-delete ID
 *   outbound_driver -c FILE APP cred-patch CRED_ID SECRET_FILE
 *   outbound_driver -c FILE APP webhook-create URL
 *   outbound_driver -c FILE APP webhook-rotate ID
 *   outbound_driver -c FILE APP send GRANT_ID TO IDEMPOTENCY_KEY
 *   outbound_driver -c FILE APP mail URL FROM TO[,TO...] MESSAGE_FILE [USER PASSWORD_FILE]
 *
 * mail also reports max_loop_gap_ms, the longest time between two runs of a
 * 10 ms timer: libcurl waits for some SMTP replies blocking the loop.
 */
#include "lib/crypto.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "outbound/graph.h"
#include "outbound/http_client.h"
#include "outbound/identity.h"
#include "outbound/nylas.h"
#include "state/config.h"
#include "state/config_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#define TICK_US 10000

struct run {
	struct event_base *base;
	const struct config_app *app;
	int done;
	struct event *tick_ev;		/* mail: measures how long the loop was held */
	int64_t tick_last_us, tick_max_gap_us;
};

static void
json_str(const char *key, const char *v)
{
	char esc[2048];

	if (v == NULL) {
		printf(",\"%s\":null", key);
		return;
	}
	esc[0] = '\0';
	log_json_escape(esc, sizeof(esc), v);
	printf(",\"%s\":\"%s\"", key, esc);
}

static void
finish(struct run *r)
{
	printf("}\n");
	fflush(stdout);
	r->done = 1;
	event_base_loopbreak(r->base);
}

static void
identity_done_cb(const struct identity_result *res, void *arg)
{
	static const char *names[] = { "ok", "rejected", "retryable", "failed", "cancelled" };

	printf("{\"status\":\"%s\",\"http\":%ld", names[res->status], res->http_status);
	printf(",\"expires_in\":%lld", (long long)res->expires_in);
	if (res->aad != NULL) {
		printf(",\"aadsts\":%lld", (long long)res->aad->code);
		json_str("kind", identity_err_name(res->aad->kind));
		json_str("trace_id", res->aad->trace_id);
	}
	json_str("detail", res->detail);
	finish(arg);
}

static void
graph_payload(const struct graph_result *res)
{
	size_t i;
	unsigned char h[CRYPTO_SHA256_LEN];
	char hex[2 * CRYPTO_SHA256_LEN + 1];

	if (res->application != NULL) {
		json_str("object_id", res->application->id);
		printf(",\"passwords\":[");
		for (i = 0; i < res->application->n_passwords; i++) {
			const struct graph_password *p = &res->application->passwords[i];

			printf("%s{\"key_id\":\"%s\",\"hint\":\"%s\",\"end\":%lld}", i ? "," : "",
			    p->key_id ? p->key_id : "", p->hint ? p->hint : "", (long long)p->end);
		}
		printf("]");
	}
	if (res->password != NULL) {
		json_str("key_id", res->password->cred.key_id);
		json_str("hint", res->password->cred.hint);
		printf(",\"end\":%lld", (long long)res->password->cred.end);
		if (res->password->secret_text != NULL) {
			crypto_sha256(res->password->secret_text->data, res->password->secret_text->len, h);
			crypto_hex_encode(h, sizeof(h), hex);
			json_str("secret_sha256", hex);
		}
	}
	if (res->owners != NULL || res->n_owners > 0) {
		printf(",\"owners\":[");
		for (i = 0; i < res->n_owners; i++)
			printf("%s\"%s\"", i ? "," : "", res->owners[i].address ? res->owners[i].address : "");
		printf("]");
	}
	if (res->subscription != NULL) {
		json_str("subscription_id", res->subscription->id);
		printf(",\"expiration\":%lld", (long long)res->subscription->expiration);
	}
	if (res->user != NULL) {
		json_str("mail", res->user->mail);
		printf(",\"account_enabled\":%d", res->user->account_enabled);
	}
}

static void
graph_done_cb(const struct graph_result *res, void *arg)
{
	printf("{\"outcome\":\"%s\",\"http\":%ld", graph_outcome_name(res->outcome), res->status);
	if (res->error != NULL) {
		json_str("code", res->error->code);
		json_str("detail_code", res->error->detail_code);
	}
	json_str("request_id", res->request_id);
	json_str("detail", res->detail);
	if (res->token != NULL && res->token->aad != NULL)
		printf(",\"token_aadsts\":%lld", (long long)res->token->aad->code);
	graph_payload(res);
	finish(arg);
}

static void
nylas_done_cb(const struct nylas_result *res, void *arg)
{
	size_t i;

	printf("{\"outcome\":\"%s\",\"http\":%ld", nylas_outcome_name(res->outcome), res->status);
	if (res->error != NULL)
		json_str("type", res->error->type);
	json_str("request_id", res->request_id);
	json_str("detail", res->detail);
	if (res->connector != NULL)
		printf(",\"connector\":true");
	if (res->webhook != NULL) {
		json_str("webhook_id", res->webhook->id);
		printf(",\"has_secret\":%s", res->webhook->webhook_secret ? "true" : "false");
	}
	json_str("message_id", res->message_id);
	if (res->grants != NULL || res->n_grants > 0) {
		printf(",\"grants\":[");
		for (i = 0; i < res->n_grants; i++)
			printf("%s\"%s\"", i ? "," : "", res->grants[i].id ? res->grants[i].id : "");
		printf("]");
	}
	finish(arg);
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct run *r = arg;
	int64_t now = util_mono_us();

	(void)fd;
	(void)what;
	if (now - r->tick_last_us > r->tick_max_gap_us)
		r->tick_max_gap_us = now - r->tick_last_us;
	r->tick_last_us = now;
}

static void
mail_done_cb(const struct http_response *resp, void *arg)
{
	static const char *names[] = { "ok", "retryable", "permanent", "cancelled" };
	struct run *r = arg;

	/* The callback may come straight after a blocking wait, before a tick could run. */
	tick_cb(-1, 0, r);
	printf("{\"outcome\":\"%s\",\"status\":%ld,\"attempts\":%d", names[resp->outcome],
	    resp->status, resp->attempts);
	printf(",\"max_loop_gap_ms\":%lld", (long long)r->tick_max_gap_us / 1000);
	json_str("error", resp->error);
	json_str("reply", resp->body);
	finish(arg);
}

static struct secret *
read_secret(const char *path)
{
	char *err = NULL;
	struct secret *s = secret_read_file(path, &err);

	if (s == NULL) {
		fprintf(stderr, "%s\n", err);
		exit(2);
	}
	return s;
}

static int
start_nylas_more(struct run *r, struct nylas_client *nc, struct secret **sec, char **argv,
    int argc)
{
	static const char *triggers[] = { "grant.expired", "grant.updated", "grant.created",
	    "grant.deleted" };
	const char *call = argv[0];

	if (strcmp(call, "cred-patch") == 0 && argc == 3) {
		*sec = read_secret(argv[2]);
		return nylas_patch_credential(nc, argv[1], r->app->azure_client_id, *sec,
		    r->app->azure_tenant_id, nylas_done_cb, r);
	}
	if (strcmp(call, "webhook-create") == 0 && argc == 2) {
		struct nylas_webhook_spec spec = { argv[1], "rekey", triggers, 4, NULL, 0 };

		return nylas_create_webhook(nc, &spec, nylas_done_cb, r);
	}
	if (strcmp(call, "webhook-rotate") == 0 && argc == 2)
		return nylas_rotate_webhook_secret(nc, argv[1], nylas_done_cb, r);
	if (strcmp(call, "send") == 0 && argc == 4) {
		const char *to[] = { argv[2] };
		struct nylas_message msg = { to, 1, "rekey test", "hello" };

		return nylas_send_message(nc, argv[1], &msg, argv[3], nylas_done_cb, r);
	}
	return -1;
}

static int
start_graph_more(struct run *r, struct graph_client *gc, struct secret **sec, char **argv,
    int argc)
{
	const char *call = argv[0];

	if (strcmp(call, "get-app") == 0 && argc == 2)
		return graph_get_application(gc, argv[1], graph_done_cb, r);
	if (strcmp(call, "sub-create") == 0 && argc == 4) {
		struct graph_subscription_spec spec = { "updated,deleted", argv[1], argv[2], "/users",
		    (int64_t)time(NULL) + 2 * 86400, NULL };

		*sec = read_secret(argv[3]);
		spec.client_state = *sec;
		return graph_create_subscription(gc, &spec, graph_done_cb, r);
	}
	if (strcmp(call, "sub-renew") == 0 && argc == 2)
		return graph_renew_subscription(gc, argv[1], (int64_t)time(NULL) + 3 * 86400,
		    graph_done_cb, r);
	if (strcmp(call, "sub-reauthorize") == 0 && argc == 2)
		return graph_reauthorize_subscription(gc, argv[1], graph_done_cb, r);
	if (strcmp(call, "sub-delete") == 0 && argc == 2)
		return graph_delete_subscription(gc, argv[1], graph_done_cb, r);
	return -1;
}

/* The whole file at path (up to 16 MiB) into *len bytes; exits on failure.  Caller frees. */
static char *
read_file(const char *path, size_t *len)
{
	size_t cap = 16 * 1024 * 1024 + 1;
	char *buf = malloc(cap);
	FILE *f = fopen(path, "rb");

	if (buf == NULL || f == NULL) {
		fprintf(stderr, "cannot read %s\n", path);
		exit(2);
	}
	*len = fread(buf, 1, cap, f);
	fclose(f);
	return buf;
}

/* mail URL FROM TO[,TO...] MESSAGE_FILE [USER PASSWORD_FILE] */
static int
start_mail(struct run *r, struct http_client *hc, char **argv, int argc)
{
	const char *rcpt[HTTP_MAIL_MAX_RCPT + 1];
	struct http_mail m = { 0 };
	struct secret *password = NULL;
	char *to, *p, *msg;
	size_t msg_len;
	int rc;

	if (argc != 5 && argc != 7)
		return -1;
	to = strdup(argv[3]);
	if (to == NULL)
		return -1;
	for (p = to; m.n_rcpt < HTTP_MAIL_MAX_RCPT + 1; m.n_rcpt++) {
		rcpt[m.n_rcpt] = p;
		p = strchr(p, ',');
		if (p == NULL) {
			m.n_rcpt++;
			break;
		}
		*p++ = '\0';
	}
	m.url = argv[1];
	m.from = argv[2];
	m.rcpt = rcpt;
	msg = read_file(argv[4], &msg_len);
	m.message = msg;
	m.message_len = msg_len;
	if (argc == 7) {
		m.user = argv[5];
		password = read_secret(argv[6]);
		m.password = password;
	}
	m.service = "smtp";
	m.app = r->app->name;
	rc = http_client_send_mail(hc, &m, mail_done_cb, r);
	if (rc == 0) {
		struct timeval tv = { 0, TICK_US };

		r->tick_ev = event_new(r->base, -1, EV_PERSIST, tick_cb, r);
		r->tick_last_us = util_mono_us();
		event_add(r->tick_ev, &tv);
	}
	free(msg);
	free(to);
	secret_free(password);
	return rc;
}

/* Starts the call; returns 0 or -1 (nothing will call back). */
static int
start(struct run *r, struct http_client *hc, struct graph_client **gc, struct nylas_client **nc,
    struct identity **id, struct secret **sec, char **argv, int argc)
{
	const char *call = argv[0];
	char *err = NULL;

	if (strcmp(call, "mail") == 0)
		return start_mail(r, hc, argv, argc);
	if (strcmp(call, "token") == 0) {
		*id = identity_rotator_new(hc, r->app, &err);
		return *id == NULL ? -1 : identity_get_token(*id, identity_done_cb, r);
	}
	if (strcmp(call, "probe") == 0 && argc == 2) {
		*sec = read_secret(argv[1]);
		return identity_probe_secret(hc, r->app, *sec, identity_done_cb, r);
	}
	if (strncmp(call, "connector", 9) == 0 || strcmp(call, "grants") == 0 ||
	    strcmp(call, "cred-patch") == 0 || strncmp(call, "webhook-", 8) == 0 ||
	    strcmp(call, "send") == 0) {
		*nc = nylas_client_from_app(hc, r->app, &err);
		if (*nc == NULL)
			goto fail;
		if (strcmp(call, "connector-get") == 0)
			return nylas_get_connector(*nc, nylas_done_cb, r);
		if (strcmp(call, "connector-patch") == 0 && argc == 2) {
			*sec = read_secret(argv[1]);
			return nylas_patch_connector(*nc, r->app->azure_client_id, *sec,
			    r->app->azure_tenant_id, NULL, 0, nylas_done_cb, r);
		}
		if (strcmp(call, "grants") == 0 && argc == 2) {
			struct nylas_grant_query q = { "microsoft", argv[1], 2, 0 };

			return nylas_list_grants(*nc, &q, nylas_done_cb, r);
		}
		return start_nylas_more(r, *nc, sec, argv, argc);
	}
	*gc = graph_client_from_app(hc, r->app, &err);
	if (*gc == NULL)
		goto fail;
	if (strcmp(call, "find-app") == 0)
		return graph_find_application(*gc, r->app->azure_client_id, graph_done_cb, r);
	if (strcmp(call, "add-password") == 0 && argc == 4)
		return graph_add_password(*gc, argv[1], argv[2],
		    (int64_t)time(NULL) + strtoll(argv[3], NULL, 10) * 86400, graph_done_cb, r);
	if (strcmp(call, "remove-password") == 0 && argc == 3)
		return graph_remove_password(*gc, argv[1], argv[2], graph_done_cb, r);
	if (strcmp(call, "owners") == 0 && argc == 2)
		return graph_list_owners(*gc, argv[1], graph_done_cb, r);
	if (strcmp(call, "user") == 0 && argc == 2)
		return graph_get_user(*gc, argv[1], graph_done_cb, r);
	return start_graph_more(r, *gc, sec, argv, argc);
fail:
	fprintf(stderr, "%s\n", err ? err : "cannot make the client");
	free(err);
	return -1;
}

int
main(int argc, char **argv)
{
	struct run r = { 0 };
	struct config *cfg;
	struct http_client *hc;
	struct graph_client *gc = NULL;
	struct nylas_client *nc = NULL;
	struct identity *id = NULL;
	struct secret *sec = NULL;
	char *errors = NULL;
	int rc;

	if (argc < 5 || strcmp(argv[1], "-c") != 0) {
		fprintf(stderr, "usage: outbound_driver -c FILE APP CALL [ARGS]\n");
		return 2;
	}
	cfg = config_load(argv[2], &errors);
	if (cfg == NULL) {
		fprintf(stderr, "%s\n", errors);
		return 2;
	}
	r.app = config_find_app(cfg, argv[3]);
	if (r.app == NULL) {
		fprintf(stderr, "no app %s\n", argv[3]);
		return 2;
	}
	log_set_level(LOG_LEVEL_DEBUG);
	r.base = event_base_new();
	hc = http_client_new(r.base, cfg->ca_file, cfg->timeout_ms);
	rc = start(&r, hc, &gc, &nc, &id, &sec, argv + 4, argc - 4);
	if (rc == 0)
		event_base_dispatch(r.base);
	graph_client_free(gc);
	nylas_client_free(nc);
	identity_free(id);
	http_client_free(hc);
	secret_free(sec);
	if (r.tick_ev != NULL)
		event_free(r.tick_ev);
	event_base_free(r.base);
	config_free(cfg);
	metrics_reset();
	return rc == 0 && r.done ? 0 : 2;
}
