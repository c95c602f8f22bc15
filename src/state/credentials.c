/*
 * credentials: an app's client secrets as the expiry poll last read them
 * (see credentials.h).  The only writer and the only parser of the app's
 * values password_credentials, secrets_read_at, in_use_key_id and
 * in_use_why, and of sp_password_credentials (the service principal's).
 */
#include "state/credentials.h"
#include "lib/log.h"
#include "lib/util.h"
#include "state/store.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

/* ---- Writing ---- */

/* Secrets as `rekey status` shows them: a JSON array (a new item). */
static cJSON *
credentials_array(const struct credential *list, size_t n)
{
	cJSON *arr = cJSON_CreateArray(), *o;
	char start[UTIL_TIME_MAX], end[UTIL_TIME_MAX];
	size_t i;

	for (i = 0; i < n; i++) {
		const struct credential *pw = &list[i];

		util_format_time(pw->start, start, sizeof(start));
		util_format_time(pw->end, end, sizeof(end));
		o = cJSON_CreateObject();
		cJSON_AddItemToObject(o, "key_id", pw->key_id ? cJSON_CreateString(pw->key_id) :
		    cJSON_CreateNull());
		cJSON_AddItemToObject(o, "hint", pw->hint ? cJSON_CreateString(pw->hint) :
		    cJSON_CreateNull());
		cJSON_AddItemToObject(o, "display_name", pw->display_name ?
		    cJSON_CreateString(pw->display_name) : cJSON_CreateNull());
		cJSON_AddItemToObject(o, "start", pw->start ? cJSON_CreateString(start) :
		    cJSON_CreateNull());
		cJSON_AddItemToObject(o, "end", pw->end ? cJSON_CreateString(end) :
		    cJSON_CreateNull());
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

/* item as compact JSON (cJSON_free); item is deleted. */
static char *
print_and_delete(cJSON *item)
{
	char *out = cJSON_PrintUnformatted(item);

	cJSON_Delete(item);
	if (out == NULL)
		fatal("out of memory");
	return out;
}

/* The app's secrets as `rekey status` shows them: a JSON array (cJSON_free). */
static char *
credentials_json(const struct credential *list, size_t n)
{
	return print_and_delete(credentials_array(list, n));
}

/*
 * The app's secrets as last read, for status: one transaction, so one commit
 * (and fsync) while the event loop waits, not one per value.
 */
static int
record_secrets(struct store *st, const char *app, const char *json, const char *when,
    const char *key, const char *why)
{
	if (store_begin(st) == -1)
		return -1;
	if (store_put_value(st, app, "password_credentials", json) == -1 ||
	    store_put_value(st, app, "secrets_read_at", when) == -1 ||
	    store_put_value(st, app, "in_use_key_id", key ? key : "") == -1 ||
	    store_put_value(st, app, "in_use_why", key ? "" : why) == -1) {
		store_rollback(st);
		return -1;
	}
	return store_commit(st);
}

int
credentials_record(struct store *st, const char *app, const struct credential *list,
    size_t n, int64_t read_at, const char *in_use_key_id, const char *in_use_why)
{
	char *json = credentials_json(list, n), when[UTIL_TIME_MAX];
	int rc;

	util_format_time(read_at, when, sizeof(when));
	rc = record_secrets(st, app, json, when, in_use_key_id, in_use_why);
	cJSON_free(json);
	return rc;
}

/* ---- Reading ---- */

/* A credential time as stored: an RFC 3339 string (or Unix seconds); 0 when absent. */
static int64_t
credential_time(const cJSON *cred, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cred, name);
	int64_t t = 0;

	if (cJSON_IsNumber(v) && v->valuedouble > 0 && v->valuedouble < 1e12)
		return (int64_t)v->valuedouble;
	if (cJSON_IsString(v) && util_parse_time(v->valuestring, &t) == 0)
		return t;
	return 0;
}

/* A string member of cred (a copy), or NULL. */
static char *
credential_str(const cJSON *cred, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cred, name);

	return cJSON_IsString(v) ? xstrdup(v->valuestring) : NULL;
}

/* The objects of a stored array into *list and *n; anything else is skipped. */
static void
parse_array(const cJSON *arr, struct credential **list, size_t *n)
{
	const cJSON *e;
	size_t count = 0;

	cJSON_ArrayForEach(e, arr) {
		if (cJSON_IsObject(e))
			count++;
	}
	*list = xcalloc(count + 1, sizeof(**list));
	*n = 0;
	cJSON_ArrayForEach(e, arr) {
		struct credential *cred;

		if (!cJSON_IsObject(e))
			continue;
		cred = &(*list)[(*n)++];
		cred->key_id = credential_str(e, "key_id");
		cred->hint = credential_str(e, "hint");
		cred->display_name = credential_str(e, "display_name");
		cred->start = credential_time(e, "start");
		cred->end = credential_time(e, "end");
	}
}

/* The objects of the stored array into c->list; anything else is skipped. */
static void
parse_list(const char *json, struct credentials *c)
{
	cJSON *arr = cJSON_Parse(json);

	parse_array(arr, &c->list, &c->n);
	cJSON_Delete(arr);
}

/* A value of app, or NULL when absent or "" (what is recorded for "does not apply"); 0 or -1. */
static int
get_text(struct store *st, const char *app, const char *key, char **out)
{
	*out = NULL;
	if (store_get_value(st, app, key, out) == -1)
		return -1;
	if (*out != NULL && (*out)[0] == '\0') {
		free(*out);
		*out = NULL;
	}
	return 0;
}

int
credentials_load(struct store *st, const char *app, struct credentials *out)
{
	char *json = NULL, *read_at = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (store_get_value(st, app, "password_credentials", &json) == -1 ||
	    get_text(st, app, "in_use_key_id", &out->in_use_key_id) == -1 ||
	    get_text(st, app, "in_use_why", &out->in_use_why) == -1 ||
	    get_text(st, app, "secrets_read_at", &read_at) == -1)
		goto out;
	if (json != NULL) {
		out->read = 1;
		parse_list(json, out);
	}
	if (read_at != NULL && util_parse_time(read_at, &out->read_at) == -1)
		out->read_at = 0;
	rc = 0;
out:
	if (rc == -1)
		credentials_clear(out);
	free(json);
	free(read_at);
	return rc;
}

/* Frees the entries of list and list itself. */
static void
list_free(struct credential *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(list[i].key_id);
		free(list[i].hint);
		free(list[i].display_name);
	}
	free(list);
}

void
credentials_clear(struct credentials *c)
{
	list_free(c->list, c->n);
	free(c->in_use_key_id);
	free(c->in_use_why);
	memset(c, 0, sizeof(*c));
}

const struct credential *
credentials_find(const struct credentials *c, const char *key_id)
{
	const struct credential *found = NULL;
	size_t i;

	for (i = 0; key_id != NULL && i < c->n; i++)
		if (c->list[i].key_id != NULL && strcmp(c->list[i].key_id, key_id) == 0)
			found = &c->list[i];
	return found;
}

/* ---- The service principal's secrets ---- */

#define SP_KEY "sp_password_credentials"

/* {"at": when, "why": why or null, "list": the secrets or null} into SP_KEY. */
static int
sp_put(struct store *st, const char *app, const struct credential *list, size_t n, int known,
    const char *why, int64_t at)
{
	cJSON *o = cJSON_CreateObject();
	char when[UTIL_TIME_MAX], *json;
	int rc;

	util_format_time(at, when, sizeof(when));
	cJSON_AddStringToObject(o, "at", when);
	cJSON_AddItemToObject(o, "why", why != NULL ? cJSON_CreateString(why) :
	    cJSON_CreateNull());
	cJSON_AddItemToObject(o, "list", known ? credentials_array(list, n) : cJSON_CreateNull());
	json = print_and_delete(o);
	rc = store_put_value(st, app, SP_KEY, json);
	cJSON_free(json);
	return rc;
}

int
credentials_sp_record(struct store *st, const char *app, const struct credential *list,
    size_t n, int64_t read_at)
{
	return sp_put(st, app, list, n, 1, NULL, read_at);
}

int
credentials_sp_unknown(struct store *st, const char *app, const char *why, int64_t at)
{
	return sp_put(st, app, NULL, 0, 0, why != NULL ? why : "not read", at);
}

int
credentials_sp_load(struct store *st, const char *app, struct credentials_sp *out)
{
	char *json = NULL;
	cJSON *o;
	const cJSON *list, *why, *at;

	memset(out, 0, sizeof(*out));
	if (store_get_value(st, app, SP_KEY, &json) == -1)
		return -1;
	if (json == NULL)
		return 0;
	o = cJSON_Parse(json);
	free(json);
	list = cJSON_GetObjectItemCaseSensitive(o, "list");
	why = cJSON_GetObjectItemCaseSensitive(o, "why");
	at = cJSON_GetObjectItemCaseSensitive(o, "at");
	out->tried = 1;
	if (cJSON_IsArray(list)) {
		out->known = 1;
		parse_array(list, &out->list, &out->n);
	}
	if (cJSON_IsString(why))
		out->why = xstrdup(why->valuestring);
	else if (!out->known)
		out->why = xstrdup("the stored record does not parse");
	if (!cJSON_IsString(at) || util_parse_time(at->valuestring, &out->at) == -1)
		out->at = 0;
	cJSON_Delete(o);
	return 0;
}

void
credentials_sp_clear(struct credentials_sp *c)
{
	list_free(c->list, c->n);
	free(c->why);
	memset(c, 0, sizeof(*c));
}
