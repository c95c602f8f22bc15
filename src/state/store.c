#include "state/store.h"
#include "lib/secret.h"
#include "lib/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

extern const struct store_backend store_sqlite_backend;
extern const struct store_backend store_pg_backend;
extern const struct store_backend store_pg_backend_short;

static const struct store_backend *const backends[] = {
	&store_sqlite_backend,
	&store_pg_backend,
	&store_pg_backend_short,
};

/* [store] password_file's password: set by the loop at start and reload, read by every thread that connects. */
static pthread_mutex_t password_mu = PTHREAD_MUTEX_INITIALIZER;
static struct secret *password;

struct store {
	const struct store_backend *be;
	void *db;
	int relaxed;		/* commits skip the fsync (store_set_durability) */
};

/* The backend of url's scheme, or NULL. */
static const struct store_backend *
find_backend(const char *url)
{
	size_t i;

	for (i = 0; i < sizeof(backends) / sizeof(backends[0]); i++)
		if (strncmp(url, backends[i]->scheme, strlen(backends[i]->scheme)) == 0)
			return backends[i];
	return NULL;
}

/* Why no backend takes url, in *err. */
static void
no_backend(const char *url, char **err)
{
	char *shown = util_url_shown(url, 0);

	*err = xasprintf("unknown store url scheme in '%s' (expected sqlite:PATH or"
	    " postgresql://USER@HOST:PORT/DB)", shown);
	free(shown);
}

struct store *
store_open(const char *url, char **err)
{
	const struct store_backend *be = find_backend(url);
	struct store *st;
	void *db;

	if (be == NULL) {
		no_backend(url, err);
		return NULL;
	}
	db = be->open(url + strlen(be->scheme), err);
	if (db == NULL)
		return NULL;
	st = xcalloc(1, sizeof(*st));
	st->be = be;
	st->db = db;
	return st;
}

int
store_check_url(const char *url, char **err)
{
	const struct store_backend *be = find_backend(url);

	if (be == NULL) {
		no_backend(url, err);
		return -1;
	}
	return be->check(url + strlen(be->scheme), err);
}

int
store_missing(const char *url, char **err)
{
	const struct store_backend *be = find_backend(url);

	if (be == NULL || be->missing == NULL)
		return 0;
	return be->missing(url + strlen(be->scheme), err);
}

void
store_set_password(const struct secret *pw)
{
	struct secret *copy = pw != NULL ? secret_new(pw->data, pw->len) : NULL, *old;

	pthread_mutex_lock(&password_mu);
	old = password;
	password = copy;
	pthread_mutex_unlock(&password_mu);
	secret_free(old);
}

struct secret *
store_password_dup(void)
{
	struct secret *copy = NULL;

	pthread_mutex_lock(&password_mu);
	if (password != NULL)
		copy = secret_new(password->data, password->len);
	pthread_mutex_unlock(&password_mu);
	return copy;
}

int
store_set_epoch(struct store *st, int64_t epoch)
{
	return st->be->set_epoch == NULL ? 0 : st->be->set_epoch(st->db, epoch);
}

void
store_defer_writes(struct store *st)
{
	if (st->be->defer_writes != NULL)
		st->be->defer_writes(st->db);
}

int
store_settle(struct store *st)
{
	return st->be->settle == NULL ? 0 : st->be->settle(st->db);
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
store_begin_read(struct store *st)
{
	return st->be->begin_read(st->db);
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
store_add_events(struct store *st, const struct store_event *const *evs, size_t n,
    enum store_result *results)
{
	size_t i;

	if (st->be->add_events != NULL)
		return st->be->add_events(st->db, evs, n, results);
	for (i = 0; i < n; i++)
		if ((results[i] = st->be->add_event(st->db, evs[i])) == STORE_ERROR)
			return -1;
	return 0;
}

int
store_ping(struct store *st)
{
	return st->be->ping(st->db);
}

int64_t
store_other_sessions(struct store *st)
{
	return st->be->other_sessions != NULL ? st->be->other_sessions(st->db) : 0;
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

int
store_unprocessed(struct store *st, const char *source, int64_t after, size_t max,
    int with_body, struct store_pending **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	return st->be->unprocessed(st->db, source, after, max, with_body, out, n);
}

void
store_pending_clear(struct store_pending *p)
{
	free(p->source);
	free(p->app);
	free(p->event_id);
	free(p->type);
	free(p->body);
	free(p->grant_id);
	free(p->email);
	free(p->provider);
	memset(p, 0, sizeof(*p));
}

void
store_pending_free(struct store_pending *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		store_pending_clear(&p[i]);
	free(p);
}

int
store_mark_processed(struct store *st, int64_t id, const char *result)
{
	return st->be->mark_processed(st->db, id, result);
}

int
store_set_event_result(struct store *st, const char *source, const char *app,
    const char *event_id, const char *result)
{
	return st->be->set_event_result(st->db, source, app, event_id, result);
}

int
store_storm_ready(struct store *st, const char *app, const char *incident_id)
{
	return st->be->storm_ready(st->db, app, incident_id);
}

int
store_mark_processed_many(struct store *st, const int64_t *ids, const char *const *results,
    size_t n)
{
	size_t i;

	if (n == 0)
		return 0;
	if (st->be->mark_processed_many != NULL)
		return st->be->mark_processed_many(st->db, ids, results, n);
	for (i = 0; i < n; i++)
		if (st->be->mark_processed(st->db, ids[i], results[i]) == -1)
			return -1;
	return 0;
}

int64_t
store_count_results(struct store *st, const char *source, const char *result)
{
	return st->be->count_results(st->db, source, result);
}

int
store_get_subscription(struct store *st, const char *app, struct store_subscription *out)
{
	memset(out, 0, sizeof(*out));
	return st->be->get_subscription(st->db, app, out);
}

int
store_put_subscription(struct store *st, const struct store_subscription *sub)
{
	return st->be->put_subscription(st->db, sub);
}

int
store_delete_subscription(struct store *st, const char *app)
{
	return st->be->delete_subscription(st->db, app);
}

void
store_subscription_clear(struct store_subscription *s)
{
	free(s->app);
	free(s->id);
	free(s->resource);
	free(s->notification_url);
	memset(s, 0, sizeof(*s));
}

int
store_get_user(struct store *st, const char *app, const char *user_id, struct store_user *out)
{
	memset(out, 0, sizeof(*out));
	return st->be->get_user(st->db, app, user_id, out);
}

int
store_put_user(struct store *st, const struct store_user *u)
{
	return st->be->put_user(st->db, u);
}

int
store_put_graph_tokens(struct store *st, const char *digest, const char *tokens, size_t len,
    int64_t now_ms, int64_t keep_ms)
{
	return st->be->put_graph_tokens(st->db, digest, tokens, len, now_ms, keep_ms);
}

int
store_get_graph_tokens(struct store *st, const char *digest, char **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	return st->be->get_graph_tokens(st->db, digest, out, len);
}

void
store_user_clear(struct store_user *u)
{
	free(u->app);
	free(u->user_id);
	free(u->mail);
	free(u->upn);
	memset(u, 0, sizeof(*u));
}

int
store_add_user_event(struct store *st, const struct store_user_event *ev)
{
	return st->be->add_user_event(st->db, ev);
}

int64_t
store_count_user_events(struct store *st, const char *app, const char *kind)
{
	return st->be->count_user_events(st->db, app, kind);
}

int
store_relax_durability(struct store *st)
{
	return store_set_durability(st, 0);
}

int
store_set_durability(struct store *st, int full)
{
	if (st->be->set_durability(st->db, full) == -1)
		return -1;
	st->relaxed = !full;
	return 0;
}

int
store_durable(const struct store *st)
{
	return !st->relaxed;
}

int
store_put_rotation(struct store *st, const struct store_rotation *r)
{
	return st->be->put_rotation(st->db, r);
}

int
store_get_rotation(struct store *st, const char *id, struct store_rotation *out)
{
	memset(out, 0, sizeof(*out));
	return st->be->get_rotation(st->db, id, out);
}

int
store_list_rotations(struct store *st, const char *app, int unfinished, size_t max,
    struct store_rotation **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	return st->be->list_rotations(st->db, app, unfinished, max, out, n);
}

void
store_rotation_copy(struct store_rotation *dst, const struct store_rotation *src)
{
	*dst = *src;
	dst->id = xstrdup_null(src->id);
	dst->app = xstrdup_null(src->app);
	dst->state = xstrdup_null(src->state);
	dst->reason = xstrdup_null(src->reason);
	dst->incident_id = xstrdup_null(src->incident_id);
	dst->old_key_id = xstrdup_null(src->old_key_id);
	dst->new_key_id = xstrdup_null(src->new_key_id);
	dst->new_hint = xstrdup_null(src->new_hint);
	dst->last_error = xstrdup_null(src->last_error);
	dst->secret_ct = NULL;
	if (src->secret_ct != NULL) {
		dst->secret_ct = xmalloc(src->secret_ct_len > 0 ? src->secret_ct_len : 1);
		memcpy(dst->secret_ct, src->secret_ct, src->secret_ct_len);
	}
}

void
store_rotation_clear(struct store_rotation *r)
{
	free(r->id);
	free(r->app);
	free(r->state);
	free(r->reason);
	free(r->incident_id);
	free(r->old_key_id);
	free(r->new_key_id);
	free(r->new_hint);
	free(r->secret_ct);
	free(r->last_error);
	memset(r, 0, sizeof(*r));
}

void
store_rotations_free(struct store_rotation *r, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		store_rotation_clear(&r[i]);
	free(r);
}

int
store_put_incident(struct store *st, const struct store_incident *inc)
{
	return st->be->put_incident(st->db, inc);
}

int
store_get_incident(struct store *st, const char *id, struct store_incident *out)
{
	memset(out, 0, sizeof(*out));
	return st->be->get_incident(st->db, id, out);
}

int
store_list_incidents(struct store *st, const char *app, int open_only, size_t max,
    struct store_incident **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	return st->be->list_incidents(st->db, app, open_only, max, out, n);
}

void
store_incident_clear(struct store_incident *inc)
{
	free(inc->id);
	free(inc->app);
	free(inc->cause);
	free(inc->state);
	free(inc->evidence);
	free(inc->rotation_id);
	free(inc->resolved_by);
	memset(inc, 0, sizeof(*inc));
}

void
store_incidents_free(struct store_incident *inc, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		store_incident_clear(&inc[i]);
	free(inc);
}

enum store_result
store_add_incident_grant(struct store *st, const char *incident_id, const char *grant_id,
    const char *email, int64_t seen_ms)
{
	return st->be->add_incident_grant(st->db, incident_id, grant_id, email, seen_ms);
}

int
store_add_incident_grants(struct store *st, const struct store_incident_grant *g, size_t n,
    enum store_result *results)
{
	size_t i;

	if (n == 0)
		return 0;
	if (st->be->add_incident_grants != NULL)
		return st->be->add_incident_grants(st->db, g, n, results);
	for (i = 0; i < n; i++) {
		results[i] = st->be->add_incident_grant(st->db, g[i].incident_id, g[i].grant_id,
		    g[i].email, g[i].seen_ms);
		if (results[i] == STORE_ERROR)
			return -1;
	}
	return 0;
}

int64_t
store_recover_grants(struct store *st, const char *app, const char *grant_id, const char *email,
    int64_t at_ms)
{
	return st->be->recover_grants(st->db, app, grant_id, email, at_ms);
}

int
store_get_value(struct store *st, const char *app, const char *key, char **out)
{
	*out = NULL;
	return st->be->get_value(st->db, app, key, out);
}

int
store_put_value(struct store *st, const char *app, const char *key, const char *value)
{
	return st->be->put_value(st->db, app, key, value);
}

int64_t
store_recent_user_event(struct store *st, const char *app, const char *email, int64_t since_ms,
    char **kind, char **evidence)
{
	*kind = NULL;
	*evidence = NULL;
	return st->be->recent_user_event(st->db, app, email, since_ms, kind, evidence);
}

int
store_list_values(struct store *st, const char *app, const char *prefix, size_t max,
    struct store_value **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	return st->be->list_values(st->db, app, prefix, max, out, n);
}

void
store_values_free(struct store_value *v, size_t n)
{
	size_t i;

	for (i = 0; v != NULL && i < n; i++) {
		free(v[i].app);
		free(v[i].key);
		free(v[i].value);
	}
	free(v);
}

enum store_result
store_add_outbox(struct store *st, const struct store_outbox *m)
{
	return st->be->add_outbox(st->db, m);
}

int
store_due_outbox(struct store *st, int64_t now_ms, size_t max, struct store_outbox **out,
    size_t *n)
{
	*out = NULL;
	*n = 0;
	return st->be->due_outbox(st->db, now_ms, max, out, n);
}

int
store_update_outbox(struct store *st, const struct store_outbox *m)
{
	return st->be->update_outbox(st->db, m);
}

int64_t
store_outbox_unsent(struct store *st, const char *ref, const char *kind)
{
	return st->be->outbox_unsent(st->db, ref, kind);
}

int
store_outbox_exists(struct store *st, const char *ref, const char *kind)
{
	return st->be->outbox_exists(st->db, ref, kind);
}

int
store_outbox_stats(struct store *st, const char *app, struct store_outbox_stats *out)
{
	memset(out, 0, sizeof(*out));
	return st->be->outbox_stats(st->db, app, out);
}

int
store_reclaim_outbox(struct store *st)
{
	return st->be->reclaim_outbox(st->db);
}

void
store_outbox_clear(struct store_outbox *m)
{
	free(m->app);
	free(m->kind);
	free(m->ref);
	free(m->channel);
	free(m->recipient);
	free(m->msg_id);
	free(m->subject);
	free(m->payload);
	free(m->state);
	free(m->last_error);
	memset(m, 0, sizeof(*m));
}

void
store_outboxes_free(struct store_outbox *m, size_t n)
{
	size_t i;

	for (i = 0; m != NULL && i < n; i++)
		store_outbox_clear(&m[i]);
	free(m);
}

int
store_resolve_incident(struct store *st, const char *id, const char *by, int64_t at_ms)
{
	return st->be->resolve_incident(st->db, id, by, at_ms);
}

int
store_incident_is_open(struct store *st, const char *id)
{
	return st->be->incident_is_open(st->db, id);
}

int
store_incident_progress(struct store *st, const char *id, int64_t since_ms, int64_t step_ms,
    size_t n, int64_t *affected, int64_t *recovered)
{
	if (n == 0 || step_ms <= 0)
		return -1;
	return st->be->incident_progress(st->db, id, since_ms, step_ms, n, affected, recovered);
}

int
store_unmailed_grants(struct store *st, const char *incident_id, const char *kind, size_t max,
    char ***emails, size_t *n)
{
	*emails = NULL;
	*n = 0;
	return st->be->unmailed_grants(st->db, incident_id, kind, max, emails, n);
}

void
store_lock_wait(struct store *st, int ms)
{
	st->be->lock_wait(st->db, ms);
}

int
store_backup(const char *url, const char *dest, int force, struct store_backup_info *info,
    char **err)
{
	const struct store_backend *be = find_backend(url);

	memset(info, 0, sizeof(*info));
	if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
		*err = xstrdup("rekey backup copies SQLite stores; back up a PostgreSQL store"
		    " with pg_dump (pg_dump -Fc -f rekey.dump URL) and restore it with pg_restore");
		return -1;
	}
	if (be == NULL) {
		no_backend(url, err);
		return -1;
	}
	if (be->backup == NULL) {
		*err = xasprintf("the %s store has no backup in rekey; use its own tools", be->scheme);
		return -1;
	}
	return be->backup(url + strlen(be->scheme), dest, force, info, err);
}

void
store_backup_info_clear(struct store_backup_info *info)
{
	size_t i;

	for (i = 0; i < info->n_tables; i++)
		free(info->tables[i]);
	free(info->tables);
	free(info->rows);
	memset(info, 0, sizeof(*info));
}

int64_t
store_expire_events(struct store *st, int64_t before_ms, size_t max, int64_t *cursor, int *more)
{
	int64_t n;

	*more = 0;
	if (st->be->expire_events == NULL)
		return 0;
	if (st->be->begin(st->db) == -1)
		return -1;
	n = st->be->expire_events(st->db, before_ms, max, cursor, more);
	if (n < 0) {
		st->be->rollback(st->db);
		return -1;
	}
	if (st->be->commit(st->db) == -1) {
		st->be->rollback(st->db);
		return -1;
	}
	return n;
}
