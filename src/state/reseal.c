#include "state/reseal.h"
#include "lib/log.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "state/config.h"
#include "state/nylas_secrets.h"
#include "state/rotation.h"
#include "state/store.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/*
 * Every rotation row is read at once (they are a few a year per app); a
 * store with more than this refuses rather than leave some under the old key.
 */
#define ROTATIONS_MAX 100000

/* One walk over the sealed rows. */
struct walk {
	struct store *st;
	const struct secret *from;	/* NULL: nothing is opened under an old key */
	const struct secret *to;
	int write;			/* seal under to what opens under from */
	struct reseal_tally *t;
};

void
reseal_tally_clear(struct reseal_tally *t)
{
	free(t->unreadable_names);
	memset(t, 0, sizeof(*t));
}

/* Counts a row under neither key, naming the first RESEAL_NAMES_MAX. */
static void
name_unreadable(struct reseal_tally *t, char *name)
{
	char *joined;

	if (t->unreadable++ < RESEAL_NAMES_MAX) {
		joined = t->unreadable_names == NULL ? xstrdup(name) :
		    xasprintf("%s, %s", t->unreadable_names, name);
		free(t->unreadable_names);
		t->unreadable_names = joined;
	}
	free(name);
}

/* One rotation row.  0, or -1 when it could not be sealed or written. */
static int
walk_rotation(struct walk *w, struct store_rotation *row)
{
	struct secret *s;
	int rc = 0;

	if (row->secret_ct == NULL)
		return 0;
	if ((s = rotation_unseal_any(w->to, row)) != NULL) {
		w->t->already++;
		secret_free(s);
		return 0;
	}
	s = rotation_unseal_any(w->from, row);
	if (s == NULL) {
		name_unreadable(w->t, xasprintf("rotation %s (app %s)", row->id, row->app));
		return 0;
	}
	if (w->write && (rotation_seal(w->to, row, s) == -1 ||
	    store_put_rotation(w->st, row) == -1)) {
		log_ctx(LOG_LEVEL_ERROR, NULL, row->app, "reseal: cannot write rotation %s",
		    row->id);
		rc = -1;
	}
	w->t->rotations++;
	secret_free(s);
	return rc;
}

/* Seals s for app under w->to and writes it as app's which secret.  0 or -1. */
static int
write_webhook_secret(struct walk *w, const char *app, enum nylas_secrets_which which,
    const struct secret *s)
{
	char *hex = nylas_secrets_seal(w->to, app, s);
	int rc = -1;

	if (hex != NULL) {
		rc = nylas_secrets_put_sealed(w->st, app, which, hex);
		OPENSSL_cleanse(hex, strlen(hex));
		free(hex);
	}
	if (rc == -1)
		log_ctx(LOG_LEVEL_ERROR, NULL, app, "reseal: cannot write the managed webhook secret");
	return rc;
}

/* One managed webhook secret of app.  0, or -1 on a store error. */
static int
walk_webhook_secret(struct walk *w, const char *app, enum nylas_secrets_which which)
{
	const char *what = which == NYLAS_SECRETS_CURRENT ? "current" : "previous";
	struct secret *s;
	char *hex = NULL;
	int rc = nylas_secrets_get_sealed(w->st, app, which, &hex);

	if (rc != 1)
		return rc;
	rc = 0;
	if ((s = nylas_secrets_open(w->to, app, hex)) != NULL) {
		w->t->already++;
	} else if ((s = nylas_secrets_open(w->from, app, hex)) == NULL) {
		name_unreadable(w->t, xasprintf("the %s managed Nylas webhook secret (app %s)",
		    what, app));
	} else {
		if (w->write)
			rc = write_webhook_secret(w, app, which, s);
		w->t->webhook_secrets++;
	}
	secret_free(s);
	OPENSSL_cleanse(hex, strlen(hex));
	free(hex);
	return rc;
}

/* Every sealed row, inside the caller's transaction.  0, or -1 and *err. */
static int
walk_all(struct walk *w, char **err)
{
	struct store_rotation *rows = NULL;
	char **apps = NULL;
	size_t i, n = 0, n_apps = 0;
	int rc = -1;

	if (store_list_rotations(w->st, NULL, 0, ROTATIONS_MAX, &rows, &n) == -1) {
		*err = xstrdup("cannot read the rotations");
		goto out;
	}
	if (n == ROTATIONS_MAX) {
		*err = xasprintf("the store holds more than %d rotations; not all could be read",
		    ROTATIONS_MAX - 1);
		goto out;
	}
	for (i = 0; i < n; i++)
		if (walk_rotation(w, &rows[i]) == -1) {
			*err = xasprintf("cannot write rotation %s", rows[i].id);
			goto out;
		}
	/* Every app's, also of an app the config no longer names: it may come back. */
	if (nylas_secrets_sealed_apps(w->st, &apps, &n_apps) == -1) {
		*err = xstrdup("cannot list the managed webhook secrets");
		goto out;
	}
	for (i = 0; i < n_apps; i++)
		if (walk_webhook_secret(w, apps[i], NYLAS_SECRETS_CURRENT) == -1 ||
		    walk_webhook_secret(w, apps[i], NYLAS_SECRETS_PREVIOUS) == -1) {
			*err = xasprintf("cannot read or write the managed webhook secrets of app %s",
			    apps[i]);
			goto out;
		}
	rc = 0;
out:
	for (i = 0; i < n_apps; i++)
		free(apps[i]);
	free(apps);
	store_rotations_free(rows, n);
	return rc;
}

int
reseal_store(struct store *st, const struct secret *from,
    const struct secret *to, struct reseal_tally *t, char **err)
{
	struct walk w = { st, from, to, 1, t };
	int rc;

	memset(t, 0, sizeof(*t));
	if (store_begin(st) == -1) {
		*err = xstrdup("cannot begin a transaction in the store");
		return -1;
	}
	rc = walk_all(&w, err);
	if (rc == 0 && t->unreadable > 0) {
		*err = xasprintf("%d sealed secret%s open%s under neither the old nor the new key: "
		    "%s%s", t->unreadable, t->unreadable == 1 ? "" : "s",
		    t->unreadable == 1 ? "s" : "", t->unreadable_names,
		    t->unreadable > RESEAL_NAMES_MAX ? ", ..." : "");
		rc = -1;
	}
	if (rc == 0 && store_commit(st) == -1) {
		*err = xstrdup("the store did not commit");
		rc = -1;
	}
	if (rc == -1)
		store_rollback(st);
	return rc;
}

int
reseal_check_key(struct store *st, const struct config *cfg, const struct secret *key,
    char **err)
{
	struct reseal_tally t;
	struct walk w = { st, NULL, key, 0, &t };
	int rc;

	memset(&t, 0, sizeof(t));
	if (store_begin_read(st) == -1) {
		*err = xstrdup("cannot read the store");
		return -1;
	}
	rc = walk_all(&w, err);
	store_commit(st);
	if (rc == 0 && t.unreadable > 0 && t.already == 0) {
		*err = xasprintf("master_key_file %s opens none of the %d sealed secrets in the "
		    "store (%s%s): it is not the key they were sealed with.  After rekey reseal, "
		    "master_key_file must name the new key; otherwise put back the key they were "
		    "sealed with (or, were they damaged, restore the store from a backup)",
		    cfg->master_key_file, t.unreadable, t.unreadable_names,
		    t.unreadable > RESEAL_NAMES_MAX ? ", ..." : "");
		rc = -1;
	} else if (rc == 0 && t.unreadable > 0) {
		log_warn("store: %d sealed secret%s do%s not open with master_key_file %s and "
		    "cannot be used: %s%s", t.unreadable, t.unreadable == 1 ? "" : "s",
		    t.unreadable == 1 ? "es" : "", cfg->master_key_file, t.unreadable_names,
		    t.unreadable > RESEAL_NAMES_MAX ? ", ..." : "");
	}
	reseal_tally_clear(&t);
	return rc;
}
