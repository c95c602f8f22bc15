#include "rotation.h"
#include "config.h"
#include "crypto.h"
#include "graph_api.h"
#include "jwt.h"
#include "log.h"
#include "secret.h"
#include "store.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* In the order of enum rotation_state. */
static const char *const state_names[] = {
	"planned", "creating", "created", "testing", "tested", "publishing", "published",
	"retiring", "retired", "done", "failed",
};

_Static_assert(sizeof(state_names) / sizeof(state_names[0]) == ROTATION_FAILED + 1,
    "a name per state");

const char *
rotation_state_name(enum rotation_state s)
{
	return (unsigned)s <= ROTATION_FAILED ? state_names[s] : "unknown";
}

int
rotation_state_parse(const char *name, enum rotation_state *out)
{
	size_t i;

	for (i = 0; name != NULL && i <= ROTATION_FAILED; i++) {
		if (strcmp(name, state_names[i]) == 0) {
			*out = (enum rotation_state)i;
			return 0;
		}
	}
	return -1;
}

/* ---- What the CLI and the diagnosis call: store writes only ---- */

int
rotation_plan(struct store *st, const struct config_app *app, const char *reason,
    const char *incident_id, int dry_run, char *id_out, char **err)
{
	struct store_rotation *open = NULL, r;
	size_t n = 0;
	int rc = -1;

	if (store_begin(st) == -1) {
		*err = xstrdup("the store is busy; try again");
		return -1;
	}
	if (store_list_rotations(st, app->name, 1, 1, &open, &n) == -1) {
		*err = xstrdup("cannot read the store");
		goto out;
	}
	if (n > 0) {
		util_strlcpy(id_out, open[0].id, ROTATION_ID_SIZE);
		rc = 1;
		goto out;
	}
	memset(&r, 0, sizeof(r));
	if (jwt_guid(id_out) == -1) {
		*err = xstrdup("no randomness for a rotation id");
		goto out;
	}
	r.id = id_out;
	r.app = app->name;
	r.state = (char *)rotation_state_name(ROTATION_PLANNED);
	r.reason = (char *)reason;
	r.incident_id = (char *)incident_id;
	r.dry_run = dry_run || app->rotation_mode == ROTATION_MODE_DRY_RUN;
	r.approved = app->rotation_mode != ROTATION_MODE_APPROVE;
	r.lifetime = app->secret_lifetime;
	r.created_at = r.updated_at = util_now_ms();
	if (store_put_rotation(st, &r) == -1) {
		*err = xstrdup("cannot write the rotation to the store");
		goto out;
	}
	rc = 0;
out:
	store_rotations_free(open, n);
	if ((rc == -1 ? store_rollback(st) : store_commit(st)) == -1 && rc != -1) {
		*err = xstrdup("cannot commit the rotation to the store");
		rc = -1;
	}
	return rc;
}

int
rotation_approve(struct store *st, const char *id, char **err)
{
	struct store_rotation r;
	int found = store_get_rotation(st, id, &r), rc = -1;

	if (found != 1) {
		*err = found == 0 ? xasprintf("no rotation %s", id) : xstrdup("cannot read the store");
		return -1;
	}
	if (strcmp(r.state, rotation_state_name(ROTATION_PLANNED)) != 0) {
		*err = xasprintf("rotation %s is %s, not planned", id, r.state);
	} else if (r.approved) {
		rc = 0;		/* approving twice is harmless */
	} else {
		r.approved = 1;
		r.updated_at = util_now_ms();
		rc = store_put_rotation(st, &r);
		if (rc == -1)
			*err = xstrdup("cannot write the approval to the store");
	}
	store_rotation_clear(&r);
	return rc;
}

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
	unsigned char *pt = NULL;
	size_t ptlen = 0;
	struct secret *s = NULL;

	if (source != NULL)
		*source = NULL;
	if (last_published(st, app->name, &r) == 1 && cfg->master_key != NULL &&
	    crypto_aead_open(cfg->master_key->data, r.id, strlen(r.id), r.secret_ct,
	    r.secret_ct_len, &pt, &ptlen) == 0) {
		s = secret_new(pt, ptlen);
		OPENSSL_cleanse(pt, ptlen);
		free(pt);
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
