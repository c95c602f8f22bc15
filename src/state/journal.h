/*
 * journal: group commit of inbound events.  A writer thread with its own
 * store connection commits one batch at a time; the events submitted while
 * it is busy (the fsync is the slow part) make up the next batch, which it
 * takes as soon as it is done.  The submitters are told only after their
 * batch committed, so no 200 is sent before its event is durable, a burst
 * costs one fsync per batch, and the event loop never waits for the disk.
 *
 * A struct journal is a handle of one event loop: what is submitted through
 * it is answered on that loop.  journal_new makes the writer and the main
 * loop's handle; each intake loop attaches a handle of its own.  Every
 * function but journal_pending_all belongs to the handle's loop thread.
 */
#ifndef REKEY_STATE_JOURNAL_H
#define REKEY_STATE_JOURNAL_H

#include "state/store.h"

struct event_base;
struct journal;
struct storm;

/* Called once per submitted event after its batch committed (or failed: STORE_ERROR). */
typedef void (*journal_done_cb)(enum store_result result, void *arg);

/*
 * Opens a second connection to the store at store_url for the writer.  The
 * base must have been given 3 priorities (the hand-off runs at the lowest).
 * NULL and *err (caller frees) when the store cannot be opened.
 */
struct journal *journal_new(struct event_base *base, const char *store_url, char **err);
/*
 * Another loop's handle on the same writer (base: 3 priorities, as above).
 * Freed with journal_free, before the handle journal_new made.
 */
struct journal *journal_attach(struct journal *root, struct event_base *base);
/*
 * Commits what is pending through this handle (calling the callbacks), then
 * frees it; the handle journal_new made also stops the writer, and must be
 * the last.
 */
void journal_free(struct journal *j);
/*
 * Processed events received more than keep_s seconds ago are deleted by the
 * checkpointer thread, in small batches, at most every few minutes (the
 * first sweep within seconds of this call); 0 keeps every event.  Callable
 * again on reload.
 */
void journal_set_retention(struct journal *j, int64_t keep_s);

/*
 * The leader's epoch (state/leader.h), which the writer sets on its
 * connection (store_set_epoch) before its next transaction: from then on the
 * ops of this process's engines are refused by the store once another
 * replica has taken over.  Events are never fenced.  A batch whose epoch
 * cannot be set fails whole (its submitters hear STORE_ERROR).  epoch >= 0;
 * an epoch once set is kept until another is set.
 */
void journal_set_epoch(struct journal *j, int64_t epoch);
/* The permits for a storm's grant.expired (state/storm.h), shared by every handle. */
struct storm *journal_storm(const struct journal *j);

/* The event's strings need only live until this call returns. */
void journal_submit(struct journal *j, const struct store_event *ev,
    journal_done_cb cb, void *arg);

/*
 * Work for the writer's next transaction, so that the event loop never
 * waits for the store's write lock: op runs in the writer thread, on the
 * writer's connection, inside the batch's transaction, in submission order
 * with the events.  It may use only the store and arg (which must stay alive
 * until cb) and must not log or touch metrics.  cb runs on the loop with
 * STORE_STORED once committed, or STORE_ERROR when op returned -1 or the
 * commit failed.  A failing op fails alone: the batch is rolled back and
 * written again without it, so its events and other ops are committed all
 * the same.  Hence an op may run more than once: it sets what it reports in
 * arg afresh on each run (never adds to it).  It returns -1 at its first
 * failed store call and runs nothing after it: a store that has lost the
 * transaction (a full disk) would commit any further statement on its own.
 * The writer's writes may be sent ahead (store_defer_writes): one that
 * fails on the server after the call said 0 fails the op all the same, as
 * the writer settles them (store_settle) before the next entry.
 * Ops write derived state only (what their submitter works out again from
 * the events when it is lost): a batch of ops alone is committed without an
 * fsync, which the next batch of events then covers.
 */
typedef int (*journal_op_fn)(struct store *st, void *arg);
void journal_submit_op(struct journal *j, journal_op_fn op, journal_done_cb cb, void *arg);
/*
 * An op whose writes are primary state that must survive a crash of the
 * machine by the time cb runs (a rotation's intent before the call it
 * announces): it is committed with an fsync and handed off as promptly as an
 * event.  Otherwise as journal_submit_op.
 */
void journal_submit_durable_op(struct journal *j, journal_op_fn op, journal_done_cb cb,
    void *arg);

/*
 * Between journal_hold and journal_release, entries are not handed to the
 * writer by count (only once the loop has read what is waiting): the items
 * of one Graph batch, submitted one by one and answered together, then share
 * one commit instead of being split over two in a row.
 */
void journal_hold(struct journal *j);
void journal_release(struct journal *j);

/* Commits everything submitted, waiting for the writer (for shutdown and tests). */
void journal_flush(struct journal *j);
/* Number of events submitted through this handle but not yet answered. */
size_t journal_pending(const struct journal *j);
/* The same for every handle of j's writer; callable from any thread. */
size_t journal_pending_all(const struct journal *j);

#endif
