/*
 * status_sp: the service principal's secrets in `rekey status` (see
 * status_sp.h).
 */
#include "notice/status_sp.h"
#include "lib/json.h"
#include "lib/util.h"
#include "lib/wbuf.h"
#include "notice/clean.h"
#include "state/credentials.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A stored list longer than this is cut (Graph allows far fewer). */
#define MAX_SP_SECRETS 64
#define SECONDS_PER_DAY 86400
#define NAME_MAX_TEXT 40

/* ---- The document ---- */

static void
add_time(cJSON *obj, const char *name, int64_t unix_secs)
{
	char buf[UTIL_TIME_MAX];

	if (unix_secs <= 0) {
		cJSON_AddNullToObject(obj, name);
		return;
	}
	util_format_time(unix_secs, buf, sizeof(buf));
	cJSON_AddStringToObject(obj, name, buf);
}

static void
add_str_or_null(cJSON *obj, const char *name, const char *s)
{
	cJSON_AddItemToObject(obj, name, s != NULL ? cJSON_CreateString(s) : cJSON_CreateNull());
}

/* Whole days from now until end, rounded down (negative once it has passed). */
static int64_t
days_left(int64_t end, int64_t now)
{
	int64_t d = end - now;

	return d >= 0 ? d / SECONDS_PER_DAY : -((-d + SECONDS_PER_DAY - 1) / SECONDS_PER_DAY);
}

static cJSON *
secret_json(const struct credential *c, int64_t now)
{
	cJSON *o = cJSON_CreateObject();

	add_str_or_null(o, "key_id", c->key_id);
	add_str_or_null(o, "hint", c->hint);
	add_str_or_null(o, "display_name", c->display_name);
	add_time(o, "start", c->start);
	add_time(o, "end", c->end);
	if (c->end > 0)
		cJSON_AddNumberToObject(o, "days_left", (double)days_left(c->end, now));
	else
		cJSON_AddNullToObject(o, "days_left");
	return o;
}

int
status_sp_add(cJSON *app_obj, struct store *st, const char *app, int64_t now)
{
	struct credentials_sp sp;
	cJSON *list;
	size_t i;

	if (credentials_sp_load(st, app, &sp) == -1)
		return -1;
	if (sp.known) {
		list = cJSON_AddArrayToObject(app_obj, "service_principal_secrets");
		for (i = 0; i < sp.n && i < MAX_SP_SECRETS; i++)
			cJSON_AddItemToArray(list, secret_json(&sp.list[i], now));
	} else {
		cJSON_AddNullToObject(app_obj, "service_principal_secrets");
	}
	add_str_or_null(app_obj, "service_principal_secrets_why", sp.known ? NULL :
	    sp.tried ? sp.why : "not read from Graph yet");
	add_time(app_obj, "service_principal_secrets_read_at", sp.at);
	credentials_sp_clear(&sp);
	return 0;
}

/* ---- The text ---- */

static void
text_secret(struct wbuf *b, const cJSON *s)
{
	const cJSON *days = cJSON_GetObjectItemCaseSensitive(s, "days_left");
	char left[32], line[512], *name;

	if (!cJSON_IsNumber(days))
		util_strlcpy(left, "?", sizeof(left));
	else if (days->valuedouble < 0)
		util_strlcpy(left, "EXPIRED", sizeof(left));
	else
		snprintf(left, sizeof(left), "%.0f", days->valuedouble);
	name = clean_text(json_str_or(s, "display_name", ""), NAME_MAX_TEXT, 1);
	snprintf(line, sizeof(line), "    %-36s  %-4s  %-20s  %7s  %s\n", json_str_or(s, "key_id", "?"),
	    json_str_or(s, "hint", "?"), json_str_or(s, "end", "?"), left, name);
	wbuf_add_str(b, line);
	free(name);
}

void
status_sp_text(struct wbuf *b, const cJSON *app_obj)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(app_obj, "service_principal_secrets");
	const cJSON *s;
	const char *at = json_str_or(app_obj, "service_principal_secrets_read_at", NULL);
	char line[1024];

	if (!cJSON_IsArray(list)) {
		snprintf(line, sizeof(line), "  service principal secrets: unknown (%s)\n",
		    json_str_or(app_obj, "service_principal_secrets_why", "not read"));
		wbuf_add_str(b, line);
		return;
	}
	if (cJSON_GetArraySize(list) == 0) {
		wbuf_add_str(b, "  service principal secrets: none\n");
		return;
	}
	snprintf(line, sizeof(line), "  service principal secrets (read from Graph %s; rekey never "
	    "rotates these, Nylas does not use them):\n", at ? at : "?");
	wbuf_add_str(b, line);
	snprintf(line, sizeof(line), "    %-36s  %-4s  %-20s  %7s  %s\n", "KEY ID", "HINT", "END",
	    "DAYS", "NAME");
	wbuf_add_str(b, line);
	cJSON_ArrayForEach(s, list)
		text_secret(b, s);
}
