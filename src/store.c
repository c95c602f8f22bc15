#include "store.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

extern const struct store_backend store_sqlite_backend;

static const struct store_backend *const backends[] = {
	&store_sqlite_backend,
};

struct store {
	const struct store_backend *be;
	void *db;
};

struct store *
store_open(const char *url, char **err)
{
	size_t i, n;
	struct store *st;
	void *db;

	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		n = strlen(backends[i]->scheme);
		if (strncmp(url, backends[i]->scheme, n) != 0)
			continue;
		db = backends[i]->open(url + n, err);
		if (db == NULL)
			return NULL;
		st = xcalloc(1, sizeof(*st));
		st->be = backends[i];
		st->db = db;
		return st;
	}
	if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0)
		*err = xstrdup("the PostgreSQL store is not available in this version; use sqlite:PATH");
	else
		*err = xasprintf("unknown store url scheme in '%s' (expected sqlite:PATH)", url);
	return NULL;
}

void
store_close(struct store *st)
{
	if (st == NULL)
		return;
	st->be->close(st->db);
	free(st);
}

int
store_begin(struct store *st)
{
	return st->be->begin(st->db);
}

int
store_commit(struct store *st)
{
	return st->be->commit(st->db);
}

int
store_rollback(struct store *st)
{
	return st->be->rollback(st->db);
}

enum store_result
store_add_event(struct store *st, const struct store_event *ev)
{
	return st->be->add_event(st->db, ev);
}

int
store_ping(struct store *st)
{
	return st->be->ping(st->db);
}

int64_t
store_count_events(struct store *st, const char *source)
{
	return st->be->count_events(st->db, source);
}

int
store_checkpoint(struct store *st, int may_block, int64_t *log, int64_t *left)
{
	int64_t log_pages, left_pages;

	if (log == NULL)
		log = &log_pages;
	if (left == NULL)
		left = &left_pages;
	*log = *left = 0;
	return st->be->checkpoint == NULL ? 0 : st->be->checkpoint(st->db, may_block, log, left);
}
