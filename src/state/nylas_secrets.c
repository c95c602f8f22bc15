#include "state/nylas_secrets.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "state/config.h"
#include "state/store.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

/* The store keys this module owns (app values), each starting with KEY_PREFIX. */
#define KEY_PREFIX "nylas_webhook."
#define KEY_ID "nylas_webhook.id"
#define KEY_URL "nylas_webhook.url"
#define KEY_TRIGGERS "nylas_webhook.triggers"
#define KEY_STATUS "nylas_webhook.status"
#define KEY_SECRET "nylas_webhook.secret"		/* {"ct","created_ms"} */
#define KEY_PREVIOUS "nylas_webhook.previous"		/* {"ct","until_ms"} */
#define KEY_ROTATION "nylas_webhook.rotation"		/* {"state","reason","error","at_ms"} */
#define KEY_ROTATED "nylas_webhook.rotated_ms"

/* A sealed webhook secret is small; anything longer in the store is not ours. */
#define SEALED_HEX_MAX 1024

struct app_keys {
	char *app;
	struct secret *current;
	int64_t created_ms;
	struct secret *previous;
	int64_t previous_until_ms;
	int64_t window_until_ms;	/* monotonic; 0: closed */
};

struct nylas_secrets {
	pthread_rwlock_t lock;		/* over apps: the intake loops read, the main loop writes */
	struct app_keys *apps;
	size_t n;
};

struct nylas_secrets *
nylas_secrets_new(void)
{
	struct nylas_secrets *ks = xcalloc(1, sizeof(struct nylas_secrets));

	pthread_rwlock_init(&ks->lock, NULL);
	return ks;
}

static void
app_keys_clear(struct app_keys *a)
{
	free(a->app);
	secret_free(a->current);
	secret_free(a->previous);
	memset(a, 0, sizeof(*a));
}

void
nylas_secrets_free(struct nylas_secrets *ks)
{
	size_t i;

	if (ks == NULL)
		return;
	for (i = 0; i < ks->n; i++)
		app_keys_clear(&ks->apps[i]);
	free(ks->apps);
	pthread_rwlock_destroy(&ks->lock);
	free(ks);
}

static struct app_keys *
find_app(const struct nylas_secrets *ks, const char *app)
{
	size_t i;

	for (i = 0; ks != NULL && i < ks->n; i++)
		if (strcmp(ks->apps[i].app, app) == 0)
			return &ks->apps[i];
	return NULL;
}

static struct app_keys *
get_app(struct nylas_secrets *ks, const char *app)
{
	struct app_keys *a = find_app(ks, app);

	if (a != NULL)
		return a;
	ks->apps = xrealloc(ks->apps, (ks->n + 1) * sizeof(*ks->apps));
	a = &ks->apps[ks->n++];
	memset(a, 0, sizeof(*a));
	a->app = xstrdup(app);
	return a;
}

/* The associated data of an app's sealed secret: it cannot be moved to another app. */
static char *
aad_of(const char *app)
{
	return xasprintf("nylas_webhook_secret:%s", app);
}

char *
nylas_secrets_seal(const struct secret *key, const char *app, const struct secret *secret)
{
	unsigned char *ct = NULL;
	size_t ctlen = 0;
	char *aad = aad_of(app), *hex = NULL;

	if (key != NULL &&
	    crypto_aead_seal(key->data, aad, strlen(aad), secret->data, secret->len,
	    &ct, &ctlen) == 0) {
		hex = xcalloc(1, 2 * ctlen + 1);
		crypto_hex_encode(ct, ctlen, hex);
	}
	free(ct);
	free(aad);
	return hex;
}

struct secret *
nylas_secrets_open(const struct secret *key, const char *app, const char *hex)
{
	unsigned char ct[SEALED_HEX_MAX / 2], *pt = NULL;
	size_t hexlen = strlen(hex), ptlen = 0;
	ssize_t ctlen;
	struct secret *s = NULL;
	char *aad = aad_of(app);

	ctlen = hexlen <= SEALED_HEX_MAX ? crypto_hex_decode(hex, hexlen, ct, sizeof(ct)) : -1;
	if (ctlen > 0 && key != NULL &&
	    crypto_aead_open(key->data, aad, strlen(aad), ct, (size_t)ctlen, &pt, &ptlen) == 0)
		s = secret_new(pt, ptlen);
	if (pt != NULL) {
		OPENSSL_cleanse(pt, ptlen);
		free(pt);
	}
	free(aad);
	return s;
}

/* The secret sealed as hex for app, or NULL (logged). */
static struct secret *
open_hex(const struct config *cfg, const char *app, const char *hex)
{
	struct secret *s = nylas_secrets_open(cfg->master_key, app, hex);

	if (s == NULL)
		log_ctx(LOG_LEVEL_ERROR, NULL, app, "nylas webhook: a managed secret in the store "
		    "does not open with the master key; it is not accepted");
	return s;
}

/* The JSON object stored under key, or NULL when absent or unreadable. */
static cJSON *
get_json(struct store *st, const char *app, const char *key)
{
	char *text = NULL;
	cJSON *v = NULL;

	if (store_get_value(st, app, key, &text) == 1)
		v = cJSON_Parse(text);
	free(text);
	if (v != NULL && !cJSON_IsObject(v)) {
		cJSON_Delete(v);
		v = NULL;
	}
	return v;
}

static int64_t
num_of(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : 0;
}

static char *
str_of(const cJSON *obj, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(v) ? xstrdup(v->valuestring) : NULL;
}

/* Unseals the "ct" of the object under key; NULL when absent or unreadable. */
static struct secret *
load_sealed(struct store *st, const struct config *cfg, const char *app, const char *key,
    const char *time_name, int64_t *when)
{
	cJSON *v = get_json(st, app, key);
	const cJSON *ct = cJSON_GetObjectItemCaseSensitive(v, "ct");
	struct secret *s = NULL;

	*when = num_of(v, time_name);
	if (cJSON_IsString(ct))
		s = open_hex(cfg, app, ct->valuestring);
	cJSON_Delete(v);
	return s;
}

int
nylas_secrets_load(struct nylas_secrets *ks, struct store *st, const struct config *cfg)
{
	int64_t now = util_now_ms(), until;
	struct secret *current, *previous;
	struct app_keys *a;
	int64_t created;
	size_t i;

	for (i = 0; i < cfg->n_apps; i++) {
		/* Read and unsealed outside the lock: the intake does not wait for the store. */
		current = load_sealed(st, cfg, cfg->apps[i]->name, KEY_SECRET, "created_ms", &created);
		previous = load_sealed(st, cfg, cfg->apps[i]->name, KEY_PREVIOUS, "until_ms", &until);
		/* Past its grace: never accepted again, so not kept in memory either. */
		if (previous != NULL && until <= now) {
			secret_free(previous);
			previous = NULL;
		}
		pthread_rwlock_wrlock(&ks->lock);
		a = get_app(ks, cfg->apps[i]->name);
		secret_free(a->current);
		secret_free(a->previous);
		a->current = current;
		a->created_ms = created;
		a->previous = previous;
		a->previous_until_ms = until;
		pthread_rwlock_unlock(&ks->lock);
	}
	return 0;
}

int
nylas_secrets_check(struct nylas_secrets *ks, const char *app, int64_t now_ms,
    nylas_secrets_check_fn check, void *arg)
{
	const struct app_keys *a;
	struct secret *in_force[2];
	size_t n = 0;
	int rc = 0;

	if (ks == NULL)
		return 0;
	pthread_rwlock_rdlock(&ks->lock);
	a = find_app(ks, app);
	if (a != NULL && a->current != NULL)
		in_force[n++] = a->current;
	if (a != NULL && a->previous != NULL && now_ms < a->previous_until_ms)
		in_force[n++] = a->previous;
	if (n > 0)
		rc = check(in_force, n, arg);
	pthread_rwlock_unlock(&ks->lock);
	return rc;
}

void
nylas_secrets_open_window(struct nylas_secrets *ks, const char *app, int64_t until_ms)
{
	pthread_rwlock_wrlock(&ks->lock);
	get_app(ks, app)->window_until_ms = until_ms;
	pthread_rwlock_unlock(&ks->lock);
}

void
nylas_secrets_close_window(struct nylas_secrets *ks, const char *app)
{
	struct app_keys *a;

	pthread_rwlock_wrlock(&ks->lock);
	a = find_app(ks, app);
	if (a != NULL)
		a->window_until_ms = 0;
	pthread_rwlock_unlock(&ks->lock);
}

int
nylas_secrets_in_window(struct nylas_secrets *ks, const char *app, int64_t now_ms)
{
	const struct app_keys *a;
	int open;

	if (ks == NULL)
		return 0;
	pthread_rwlock_rdlock(&ks->lock);
	a = find_app(ks, app);
	open = a != NULL && a->window_until_ms > now_ms;
	pthread_rwlock_unlock(&ks->lock);
	return open;
}

void
nylas_secrets_install(struct nylas_secrets *ks, const char *app,
    const struct secret *secret, int64_t created_ms, int64_t previous_until_ms)
{
	struct secret *copy = secret_new(secret->data, secret->len), *gone;
	struct app_keys *a;

	pthread_rwlock_wrlock(&ks->lock);
	a = get_app(ks, app);
	gone = a->previous;
	a->previous = a->current;
	a->previous_until_ms = previous_until_ms;
	a->current = copy;
	a->created_ms = created_ms;
	pthread_rwlock_unlock(&ks->lock);
	secret_free(gone);
}

/* Writes the object (deleted here) under key.  0 or -1. */
static int
put_json(struct store *st, const char *app, const char *key, cJSON *v)
{
	char *text = cJSON_PrintUnformatted(v);
	int rc;

	cJSON_Delete(v);
	if (text == NULL)
		fatal("out of memory");
	rc = store_put_value(st, app, key, text);
	free(text);
	return rc;
}

/* Inside a transaction: the current sealed secret becomes the previous one. */
static int
move_to_previous(struct store *st, const char *app, int64_t until_ms)
{
	cJSON *cur = get_json(st, app, KEY_SECRET), *prev;
	char *ct = str_of(cur, "ct");
	int rc = 0;

	cJSON_Delete(cur);
	if (ct == NULL)
		return 0;
	prev = cJSON_CreateObject();
	cJSON_AddStringToObject(prev, "ct", ct);
	cJSON_AddNumberToObject(prev, "until_ms", (double)until_ms);
	rc = put_json(st, app, KEY_PREVIOUS, prev);
	free(ct);
	return rc;
}

static cJSON *
rotation_json(const char *state, const char *reason, const char *error, int64_t now_ms)
{
	cJSON *r = cJSON_CreateObject();

	cJSON_AddStringToObject(r, "state", state);
	if (reason != NULL)
		cJSON_AddStringToObject(r, "reason", reason);
	if (error != NULL)
		cJSON_AddStringToObject(r, "error", error);
	cJSON_AddNumberToObject(r, "at_ms", (double)now_ms);
	return r;
}

static int
store_writes(struct store *st, const char *app, const char *hex, int64_t now_ms, int rotated,
    int64_t previous_until_ms, const char *reason)
{
	cJSON *cur = cJSON_CreateObject();
	char num[32];

	if (rotated && move_to_previous(st, app, previous_until_ms) == -1) {
		cJSON_Delete(cur);
		return -1;
	}
	cJSON_AddStringToObject(cur, "ct", hex);
	cJSON_AddNumberToObject(cur, "created_ms", (double)now_ms);
	if (put_json(st, app, KEY_SECRET, cur) == -1)
		return -1;
	if (!rotated)
		return 0;
	snprintf(num, sizeof(num), "%lld", (long long)now_ms);
	if (store_put_value(st, app, KEY_ROTATED, num) == -1)
		return -1;
	return put_json(st, app, KEY_ROTATION, rotation_json("done", reason, NULL, now_ms));
}

int
nylas_secrets_store(struct store *st, const struct config *cfg, const char *app,
    const struct secret *secret, int64_t now_ms, int rotated, int64_t previous_until_ms,
    const char *reason)
{
	char *hex = nylas_secrets_seal(cfg->master_key, app, secret);
	int rc = -1;

	if (hex == NULL) {
		log_ctx(LOG_LEVEL_ERROR, NULL, app, "nylas webhook: cannot seal the new secret");
		return -1;
	}
	if (store_begin(st) == 0) {
		rc = store_writes(st, app, hex, now_ms, rotated, previous_until_ms, reason);
		if (rc == 0)
			rc = store_commit(st);
		if (rc == -1)
			store_rollback(st);
	}
	if (rc == -1)
		log_ctx(LOG_LEVEL_ERROR, NULL, app, "nylas webhook: cannot store the new secret");
	OPENSSL_cleanse(hex, strlen(hex));
	free(hex);
	return rc;
}

static int
put_str(struct store *st, const char *app, const char *key, const char *value)
{
	return value == NULL ? 0 : store_put_value(st, app, key, value);
}

int
nylas_secrets_put_destination(struct store *st, const char *app, const char *webhook_id,
    const char *url, const char *triggers, const char *status)
{
	int rc = -1;

	if (store_begin(st) == -1)
		return -1;
	if (put_str(st, app, KEY_ID, webhook_id) == 0 && put_str(st, app, KEY_URL, url) == 0 &&
	    put_str(st, app, KEY_TRIGGERS, triggers) == 0 &&
	    put_str(st, app, KEY_STATUS, status) == 0)
		rc = store_commit(st);
	if (rc == -1)
		store_rollback(st);
	return rc;
}

int
nylas_secrets_put_rotation(struct store *st, const char *app, const char *state,
    const char *reason, const char *error, int64_t now_ms)
{
	return put_json(st, app, KEY_ROTATION, rotation_json(state, reason, error, now_ms));
}

static char *
get_str(struct store *st, const char *app, const char *key)
{
	char *v = NULL;

	if (store_get_value(st, app, key, &v) != 1) {
		free(v);
		return NULL;
	}
	return v;
}

int
nylas_secrets_get(struct store *st, const char *app, struct nylas_secrets_record *out)
{
	cJSON *v;
	char *rotated, *end;

	memset(out, 0, sizeof(*out));
	out->webhook_id = get_str(st, app, KEY_ID);
	out->url = get_str(st, app, KEY_URL);
	out->triggers = get_str(st, app, KEY_TRIGGERS);
	out->status = get_str(st, app, KEY_STATUS);
	v = get_json(st, app, KEY_SECRET);
	out->secret_created_ms = num_of(v, "created_ms");
	cJSON_Delete(v);
	v = get_json(st, app, KEY_PREVIOUS);
	out->previous_until_ms = num_of(v, "until_ms");
	cJSON_Delete(v);
	v = get_json(st, app, KEY_ROTATION);
	out->rotation_state = str_of(v, "state");
	out->rotation_reason = str_of(v, "reason");
	out->rotation_error = str_of(v, "error");
	out->rotation_at_ms = num_of(v, "at_ms");
	cJSON_Delete(v);
	rotated = get_str(st, app, KEY_ROTATED);
	if (rotated != NULL)
		out->rotated_ms = strtoll(rotated, &end, 10);
	free(rotated);
	return 0;
}

void
nylas_secrets_record_clear(struct nylas_secrets_record *r)
{
	free(r->webhook_id);
	free(r->url);
	free(r->triggers);
	free(r->status);
	free(r->rotation_state);
	free(r->rotation_reason);
	free(r->rotation_error);
	memset(r, 0, sizeof(*r));
}

/* The store key of a managed secret (enum nylas_secrets_which). */
static const char *
sealed_key(enum nylas_secrets_which which)
{
	return which == NYLAS_SECRETS_CURRENT ? KEY_SECRET : KEY_PREVIOUS;
}

/* Stored values read to find the apps with a managed secret: a few per app. */
#define SEALED_VALUES_MAX 100000

int
nylas_secrets_sealed_apps(struct store *st, char ***apps, size_t *n)
{
	struct store_value *v = NULL;
	size_t i, j, nv = 0;
	int seen;

	*apps = NULL;
	*n = 0;
	if (store_list_values(st, NULL, KEY_PREFIX, SEALED_VALUES_MAX, &v, &nv) == -1 ||
	    nv == SEALED_VALUES_MAX) {
		store_values_free(v, nv);
		return -1;
	}
	*apps = xcalloc(nv + 1, sizeof(**apps));
	for (i = 0; i < nv; i++) {
		if (strcmp(v[i].key, KEY_SECRET) != 0 && strcmp(v[i].key, KEY_PREVIOUS) != 0)
			continue;
		for (j = 0, seen = 0; j < *n && !seen; j++)
			seen = strcmp((*apps)[j], v[i].app) == 0;
		if (!seen)
			(*apps)[(*n)++] = xstrdup(v[i].app);
	}
	store_values_free(v, nv);
	return 0;
}

int
nylas_secrets_get_sealed(struct store *st, const char *app, enum nylas_secrets_which which,
    char **hex)
{
	char *text = NULL;
	cJSON *v;
	int rc;

	*hex = NULL;
	rc = store_get_value(st, app, sealed_key(which), &text);
	if (rc != 1) {
		free(text);
		return rc;
	}
	v = cJSON_Parse(text);
	free(text);
	*hex = cJSON_IsObject(v) ? str_of(v, "ct") : NULL;
	cJSON_Delete(v);
	/* A record that is not ours to read is a row nobody can open: the caller names it. */
	if (*hex == NULL)
		*hex = xstrdup("");
	return 1;
}

int
nylas_secrets_put_sealed(struct store *st, const char *app, enum nylas_secrets_which which,
    const char *hex)
{
	cJSON *v = get_json(st, app, sealed_key(which)), *ct;

	if (v == NULL)
		return -1;
	ct = cJSON_CreateString(hex);
	if (ct == NULL) {
		cJSON_Delete(v);
		fatal("out of memory");
	}
	if (cJSON_GetObjectItemCaseSensitive(v, "ct") != NULL)
		cJSON_ReplaceItemInObjectCaseSensitive(v, "ct", ct);
	else
		cJSON_AddItemToObject(v, "ct", ct);
	return put_json(st, app, sealed_key(which), v);
}
