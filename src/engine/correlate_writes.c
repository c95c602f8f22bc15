/*
 * correlate_writes: the correlator's writes to the store.  Part of the
 * correlator (correlate_int.h).
 *
 * Every write of a batch goes to the journal's writer thread as one op,
 * inside the webhooks' next commit: the loop never waits for the store's
 * write lock (a commit's fsync), and a batch costs no fsync of its own.  The
 * op works on copies taken on the loop (write_op), never on the correlator,
 * and journal ops run in submission order, so a later snapshot of an
 * incident is always written after an earlier one.
 */
#include "engine/correlate_int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "state/journal.h"
#include "state/runtime.h"

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

void
correlate_write_op_free(struct write_op *op)
{
	size_t i;

	if (op == NULL)
		return;
	for (i = 0; i < op->n_rows; i++)
		store_incident_clear(&op->rows[i]);
	for (i = 0; i < op->n_ev; i++) {
		free(op->ev[i].app);
		free(op->ev[i].incident_id);
		free(op->ev[i].grant_id);
		free(op->ev[i].email);
	}
	for (i = 0; i < op->n_recount; i++)
		free(op->recount[i].id);
	correlate_watch_free(op);
	free(op->rows);
	free(op->ev);
	free(op->recount);
	free(op);
}

/* A copy of the incident as a row, for the writer. */
static void
incident_row(const struct app_corr *a, const struct incident *inc, int64_t now_ms,
    struct store_incident *row)
{
	char *evidence = cJSON_PrintUnformatted(inc->evidence);

	if (evidence == NULL)
		fatal("out of memory");
	memset(row, 0, sizeof(*row));
	row->id = xstrdup(inc->id);
	row->app = xstrdup(a->name);
	row->cause = xstrdup(incident_cause_name(inc->cause));
	row->state = xstrdup(inc->resolved ? "resolved" : "open");
	row->evidence = xstrdup(evidence);
	row->rotation_id = xstrdup_null(inc->rotation_id);
	row->opened_at = inc->opened_at;
	row->updated_at = now_ms;
	row->resolved_at = inc->resolved ? now_ms : 0;
	row->resolved_by = inc->resolved ? xstrdup("recovered") : NULL;
	cJSON_free(evidence);
}

/* Copies every changed incident of every app into op, and counts them as written. */
static void
snapshot_dirty(struct correlator *c, struct write_op *op)
{
	size_t i, n = 0;
	int s;

	for (i = 0; i < c->n_apps; i++)
		for (s = 0; s < N_SLOTS; s++)
			n += c->apps[i]->slot[s] != NULL && c->apps[i]->slot[s]->dirty;
	op->rows = xcalloc(n + 1, sizeof(*op->rows));
	for (i = 0; i < c->n_apps; i++) {
		for (s = 0; s < N_SLOTS; s++) {
			struct incident *inc = c->apps[i]->slot[s];

			if (inc == NULL || !inc->dirty)
				continue;
			incident_row(c->apps[i], inc, op->now_ms, &op->rows[op->n_rows++]);
			inc->dirty = 0;
		}
	}
}

/* Lists the grants of the events at ev[at[0..n)] in one call, and settles their results. */
static int
list_grants(struct store *st, struct event_write *ev, const size_t *at, size_t n)
{
	struct store_incident_grant *g = xcalloc(n + 1, sizeof(*g));
	enum store_result *r = xcalloc(n + 1, sizeof(*r));
	struct event_write *e;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		e = &ev[at[i]];
		g[i].incident_id = e->incident_id;
		g[i].grant_id = e->grant_id;
		g[i].email = e->email;
		g[i].seen_ms = e->at_ms;
	}
	rc = store_add_incident_grants(st, g, n, r);
	for (i = 0; rc == 0 && i < n; i++) {
		e = &ev[at[i]];
		e->listed = r[i] != STORE_DUPLICATE;
		e->result = e->listed ? "incident" : "already_listed";
	}
	free(r);
	free(g);
	return rc;
}

/* Marks every event of op processed with its result, in one call. */
static int
mark_events(struct store *st, const struct write_op *op)
{
	int64_t *ids = xcalloc(op->n_ev + 1, sizeof(*ids));
	const char **results = xcalloc(op->n_ev + 1, sizeof(*results));
	size_t i;
	int rc;

	for (i = 0; i < op->n_ev; i++) {
		ids[i] = op->ev[i].id;
		results[i] = op->ev[i].result;
	}
	rc = store_mark_processed_many(st, ids, results, op->n_ev);
	free(results);
	free(ids);
	return rc;
}

/*
 * The batch's events as a few statements instead of two per event: the
 * listings between two recoveries as one call (a recovery must see the
 * listings before it and none after it, as one by one), then every event
 * marked in one call.
 */
static int
write_events(struct store *st, struct write_op *op)
{
	size_t *at = xcalloc(op->n_ev + 1, sizeof(*at)), n = 0, i;
	struct event_write *e;
	int rc = 0;

	for (i = 0; i < op->n_ev && rc == 0; i++) {
		e = &op->ev[i];
		if (e->kind == WRITE_LIST) {
			at[n++] = i;
		} else if (e->kind == WRITE_RECOVER) {
			if (n > 0 && (rc = list_grants(st, op->ev, at, n)) == -1)
				break;
			n = 0;
			e->recovered = store_recover_grants(st, e->app, e->grant_id, e->email,
			    e->at_ms);
			if (e->recovered == -1)
				rc = -1;
			else
				e->result = e->recovered > 0 ? "recovered" : "no_incident";
		}
	}
	if (rc == 0 && n > 0)
		rc = list_grants(st, op->ev, at, n);
	free(at);
	return rc == 0 ? mark_events(st, op) : -1;
}

/* Whether a recovery of the batch touched app app_i's grants. */
static int
app_recovered(const struct write_op *op, size_t app_i)
{
	size_t i;

	for (i = 0; i < op->n_ev; i++)
		if (op->ev[i].kind == WRITE_RECOVER && op->ev[i].app_i == app_i &&
		    op->ev[i].recovered > 0)
			return 1;
	return 0;
}

static int
recount(struct store *st, struct recount *r, int64_t now_ms)
{
	struct store_incident row;
	int rc = store_get_incident(st, r->id, &row);

	if (rc <= 0)
		return rc;
	r->found = 1;
	r->affected = row.affected;
	r->recovered = row.recovered;
	store_incident_clear(&row);
	if (r->affected > 0 && r->recovered >= r->affected) {
		if (store_resolve_incident(st, r->id, "recovered", now_ms) == -1)
			return -1;
		r->resolved = 1;
	}
	return 0;
}

/* The op, in the writer thread, inside its transaction: no logging, no correlator. */
static int
write_op_run(struct store *st, void *arg)
{
	struct write_op *op = arg;
	size_t i;

	/* Afresh: the op may run again (journal.h), and a recount may be skipped then. */
	for (i = 0; i < op->n_recount; i++) {
		op->recount[i].found = op->recount[i].resolved = 0;
		op->recount[i].affected = op->recount[i].recovered = 0;
	}
	for (i = 0; i < op->n_rows; i++)
		if (store_put_incident(st, &op->rows[i]) == -1)
			return -1;
	if (write_events(st, op) == -1)
		return -1;
	for (i = 0; i < op->n_recount; i++)
		if (app_recovered(op, op->recount[i].app_i) &&
		    recount(st, &op->recount[i], op->now_ms) == -1)
			return -1;
	return correlate_watch_write(st, op);
}

struct write_op *
correlate_write_op_new(struct correlator *c, int is_batch)
{
	struct write_op *op = xcalloc(1, sizeof(*op));

	op->c = c;
	op->is_batch = is_batch;
	op->now_ms = util_now_ms();
	return op;
}

void
correlate_write_op_submit(struct write_op *op)
{
	struct correlator *c = op->c;

	snapshot_dirty(c, op);
	if (op->is_batch)
		c->batch_op = op;
	op->next = c->ops;
	if (c->ops != NULL)
		c->ops->prevp = &op->next;
	op->prevp = &c->ops;
	c->ops = op;
	journal_submit_op(op->c->rt->journal, write_op_run, correlate_write_done, op);
}

/* Writes the incidents changed outside a batch (a rotation planned, a probe's answer). */
void
correlate_write_incidents(struct correlator *c)
{
	correlate_write_op_submit(correlate_write_op_new(c, 0));
}
