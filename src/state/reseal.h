/*
 * reseal: the master key changed for every secret sealed at rest (rekey
 * reseal).  The sealed rows are the rotations' new secrets (state/rotation)
 * and the managed Nylas webhook secrets, current and previous
 * (state/nylas_secrets); each module keeps its record, this one walks them.
 *
 * A row is "under" a key when it opens with it.  reseal_store seals every
 * row that is under the old key again under the new one, in one transaction
 * of the store: a row already under the new key is left (so a second run
 * finishes what a first did), and a row under neither makes it change
 * nothing at all.
 */
#ifndef REKEY_STATE_RESEAL_H
#define REKEY_STATE_RESEAL_H

struct config;
struct secret;
struct store;

/* At most this many rows are named in reseal_tally.unreadable_names. */
#define RESEAL_NAMES_MAX 10

struct reseal_tally {
	int rotations;			/* rotation rows re-sealed */
	int webhook_secrets;		/* managed webhook secrets re-sealed */
	int already;			/* rows under the new key already */
	int unreadable;			/* rows under neither key */
	char *unreadable_names;		/* "rotation ID (app A), ..."; NULL when none; owned */
};

void reseal_tally_clear(struct reseal_tally *t);

/*
 * Seals every row of st under from again under to (every app's, named by the
 * config or not any more), committed in one transaction.  0 and
 * *t; -1 and *err (caller frees) when nothing was changed: some row opens
 * under neither key (*t names it), or the store failed.
 */
int reseal_store(struct store *st, const struct secret *from,
    const struct secret *to, struct reseal_tally *t, char **err);

/*
 * For the daemon at start and reload: whether its master key is the one the
 * store's sealed rows are under.  0 when it opens at least one of them, or
 * there are none (rows it cannot open are logged); -1 and *err (caller
 * frees) when there are sealed rows and it opens none of them: the wrong
 * master_key_file, as after a rekey reseal without the swap of the key.
 */
int reseal_check_key(struct store *st, const struct config *cfg, const struct secret *key,
    char **err);

#endif
