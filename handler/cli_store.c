/*
 * cli_store: the commands on the store as a whole, run beside the daemon's
 * config: rekey backup (a consistent copy while the daemon runs) and rekey
 * reseal (every sealed secret under a new master key, with the daemon
 * stopped).
 */
#include "cli.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "outbound/admin_client.h"
#include "state/config.h"
#include "state/reseal.h"
#include "state/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
cli_store_backup(const char *path, const char *dest, int force)
{
	struct store_backup_info info;
	struct config *cfg;
	char *err = NULL, *shown;
	size_t i;

	cfg = load_or_report(path);
	if (cfg == NULL)
		return 1;
	shown = util_url_shown(cfg->store_url, 0);
	if (store_backup(cfg->store_url, dest, force, &info, &err) == -1) {
		fprintf(stderr, "rekey backup: store %s: %s\n", shown, err);
		free(err);
		free(shown);
		config_free(cfg);
		return 1;
	}
	printf("copied store %s to %s: %lld pages, %lld bytes, mode 0600\n", shown, dest,
	    (long long)info.pages, (long long)info.bytes);
	for (i = 0; i < info.n_tables; i++)
		printf("  %-20s %lld rows\n", info.tables[i], (long long)info.rows[i]);
	printf("restore: stop rekey, copy %s over the store file (owner rekey, mode 0600),"
	    " start rekey, then rekey status -c %s\n", dest, path);
	store_backup_info_clear(&info);
	free(shown);
	config_free(cfg);
	return 0;
}

/*
 * The running daemon holds the old key and would seal what it makes next
 * (a rotation's secret, a webhook secret) with it, after the reseal: so the
 * reseal is done with the daemon stopped, here and on every other host
 * sharing the store.  1 (said why) when one runs or that cannot be told.
 */
static int
daemon_runs(const struct config *cfg, const char *path, struct store *st)
{
	int64_t others;

	const char *port = strrchr(cfg->listen, ':');
	char *where = NULL;
	int runs;

	/* Port 0 (tests only) cannot be asked: refuse rather than guess. */
	if (port == NULL || strcmp(port, ":0") == 0) {
		fprintf(stderr, "rekey reseal: listen = %s in %s names no port to ask whether rekey "
		    "runs; set the port the daemon listens on; nothing changed\n", cfg->listen, path);
		return 1;
	}
	runs = admin_client_listening(cfg, &where);
	if (runs)
		fprintf(stderr, "rekey reseal: something answers at %s (listen in %s): stop rekey "
		    "first (systemctl stop rekey).  A running daemon holds the old master key and "
		    "would seal the next secrets it makes with it; nothing changed\n", where, path);
	free(where);
	if (runs)
		return 1;
	others = store_other_sessions(st);
	if (others != 0) {
		if (others < 0)
			fprintf(stderr, "rekey reseal: cannot tell whether other replicas use the "
			    "store (see the log); nothing changed\n");
		else
			fprintf(stderr, "rekey reseal: %lld other rekey session%s connected to the "
			    "store (replicas on other hosts, or commands; PostgreSQL's "
			    "pg_stat_activity, application_name rekey): stop every replica first.  "
			    "A running replica holds the old master key; nothing changed\n",
			    (long long)others, others == 1 ? " is" : "s are");
		return 1;
	}
	return 0;
}

/* The new key is the one master_key_file holds: done already, or the wrong file. */
static int
same_key(struct store *st, const struct config *cfg, const char *new_key_file)
{
	char *err = NULL;

	if (reseal_check_key(st, cfg, cfg->master_key, &err) == -1) {
		fprintf(stderr, "rekey reseal: %s holds the same key as master_key_file, and %s\n",
		    new_key_file, err);
		free(err);
		return 1;
	}
	printf("master_key_file %s already holds the key of %s, and the store's sealed secrets "
	    "open with it: nothing to do\n", cfg->master_key_file, new_key_file);
	return 0;
}

/* What was done, and the steps that remain for the operator. */
static void
print_done(const struct config *cfg, const char *path, const char *new_key_file,
    const struct reseal_tally *t)
{
	printf("re-sealed %d secrets under %s: %d rotation secrets, %d managed Nylas webhook "
	    "secrets (%d were under it already); committed in one transaction\n",
	    t->rotations + t->webhook_secrets, new_key_file, t->rotations, t->webhook_secrets,
	    t->already);
	if (t->rotations + t->webhook_secrets + t->already == 0)
		printf("the store holds no sealed secrets yet: only the key changes\n");
	printf("next:\n"
	    "  1. point master_key_file at the new key: in %s set master_key_file = %s\n"
	    "     (or copy %s over %s, owner rekey, mode 0600)\n"
	    "  2. start rekey (systemctl start rekey); given the old key instead, it refuses\n"
	    "     to start and names the fix\n"
	    "  3. once rekey status -c %s is healthy, destroy the old key (shred -u %s)\n",
	    path, new_key_file, new_key_file, cfg->master_key_file, path, cfg->master_key_file);
}

int
cli_store_reseal(const char *path, const char *new_key_file)
{
	struct reseal_tally t = { 0 };
	struct secret *key = NULL;
	struct config *cfg;
	struct store *st;
	char *err = NULL;
	int rc = 1;

	if (open_state(path, 1, &cfg, &st) == -1)
		return 1;
	key = config_read_master_key(new_key_file, &err);
	if (key == NULL) {
		fprintf(stderr, "rekey reseal: --new-key-file: %s; nothing changed\n", err);
		goto out;
	}
	if (secret_equal(key, cfg->master_key->data, cfg->master_key->len)) {
		rc = same_key(st, cfg, new_key_file);
		goto out;
	}
	if (daemon_runs(cfg, path, st))
		goto out;
	if (reseal_store(st, cfg->master_key, key, &t, &err) == -1) {
		fprintf(stderr, "rekey reseal: %s; nothing changed.  The old key is master_key_file "
		    "(%s), the new one --new-key-file (%s)\n", err, cfg->master_key_file,
		    new_key_file);
		goto out;
	}
	print_done(cfg, path, new_key_file, &t);
	rc = 0;
out:
	free(err);
	reseal_tally_clear(&t);
	secret_free(key);
	close_state(cfg, st);
	return rc;
}
