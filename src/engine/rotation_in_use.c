/*
 * rotation_in_use: which secret Nylas uses for an app, as rekey knows it:
 * the newest published rotation's secret, else current_secret_file; and its
 * keyId among the app's passwordCredentials as Graph lists them.
 */
#include "engine/rotation_in_use.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "outbound/graph.h"
#include "state/config.h"
#include "state/rotation.h"
#include "state/store.h"

#include <string.h>

/* ---- Which secret Nylas uses ---- */

/* The newest published rotation of app (published_at set), or 0 when none; -1 on error. */
static int
last_published(struct store *st, const char *app, struct store_rotation *out)
{
	struct store_rotation *list = NULL;
	size_t n = 0, i;
	int found = 0;

	memset(out, 0, sizeof(*out));
	if (store_list_rotations(st, app, 0, 64, &list, &n) == -1)
		return -1;
	for (i = 0; i < n && !found; i++) {
		if (list[i].published_at > 0 && !list[i].dry_run && list[i].secret_ct != NULL) {
			*out = list[i];
			memset(&list[i], 0, sizeof(list[i]));
			found = 1;
		}
	}
	store_rotations_free(list, n);
	return found;
}

struct secret *
rotation_in_use_secret(struct store *st, const struct config *cfg, const struct config_app *app,
    const char **source)
{
	struct store_rotation r;
	struct secret *s = NULL;

	if (source != NULL)
		*source = NULL;
	if (last_published(st, app->name, &r) == 1 &&
	    (s = rotation_unseal(cfg->master_key, &r)) != NULL) {
		if (source != NULL)
			*source = "the last published rotation";
	} else if (app->current_secret != NULL) {
		s = secret_new(app->current_secret->data, app->current_secret->len);
		if (source != NULL)
			*source = "current_secret_file";
	}
	store_rotation_clear(&r);
	return s;
}

/* The credential whose hint is the first characters of secret; NULL with *why when not exactly one. */
static const struct graph_password *
by_hint(const struct graph_application *a, const struct secret *secret, const char **why)
{
	const struct graph_password *match = NULL;
	size_t i, n = 0, hl;

	for (i = 0; i < a->n_passwords; i++) {
		const char *hint = a->passwords[i].hint;

		hl = hint ? strlen(hint) : 0;
		if (hl == 0 || hl > secret->len || memcmp(hint, secret->data, hl) != 0)
			continue;
		match = &a->passwords[i];
		n++;
	}
	if (n == 1)
		return match;
	*why = n == 0 ? "no credential's hint matches current_secret_file" :
	    "several credentials share the hint of current_secret_file";
	return NULL;
}

char *
rotation_in_use_key(struct store *st, const struct config_app *app,
    const struct graph_application *a, const char **why)
{
	const struct graph_password *pw;
	struct store_rotation r;
	char *key = NULL;
	size_t i;

	*why = NULL;
	if (last_published(st, app->name, &r) == 1 && r.new_key_id != NULL) {
		for (i = 0; i < a->n_passwords && key == NULL; i++)
			if (a->passwords[i].key_id && strcmp(a->passwords[i].key_id, r.new_key_id) == 0)
				key = xstrdup(r.new_key_id);
	}
	store_rotation_clear(&r);
	if (key != NULL)
		return key;
	if (app->current_secret == NULL) {
		*why = "no current_secret_file and no published rotation";
		return NULL;
	}
	pw = by_hint(a, app->current_secret, why);
	return pw != NULL && pw->key_id != NULL ? xstrdup(pw->key_id) : NULL;
}
