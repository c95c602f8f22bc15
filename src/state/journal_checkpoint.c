/*
 * journal_checkpoint: the journal's second thread.  It copies the log into
 * the database (passive checkpoints, on its own connection, so that no
 * commit of the writer carries one) and runs the retention sweep.  Part of
 * the journal (journal_int.h).
 */
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "state/journal_int.h"
#include "state/store.h"

#include <pthread.h>
#include <time.h>

/*
 * The checkpointer runs after this many committed events, or this often when
 * fewer.  A run copies each page changed since the one before once, however
 * often it changed: with real ids (GUIDs in no order) every event changes a
 * leaf of three indexes, and the longer the window the more of those leaves
 * were changed several times.  Intake benchmark, 60,000 requests on 32
 * connections, three interleaved rounds: 2000 against 100 took the
 * checkpointer from 33-40 to 11 us an event and the rate from 6,700-7,800 to
 * 10,400-11,000 req/s, for an ack p99 of 14-16 ms against 10-11.5 (ids in
 * order: +10% rate, p99 3.6-3.8 to 6.0 ms).  Each run ends with an fsync of
 * the database, which once made the device write the whole copy while the
 * commits' fdatasyncs waited (that is why this was 100); the database's
 * writeback now starts as the copy is made (store_sqlite_vfs.c).
 */
#define CHECKPOINT_EVENTS 2000
#define CHECKPOINT_INTERVAL_S 5
/*
 * The log is rewound once it holds this many pages (4 KiB each): a commit
 * into a rewound log overwrites blocks the file already has, and fdatasync
 * is then about twice as fast as when it also has to extend the file.
 */
#define REWIND_LOG_PAGES 4096
/* The writer finishes a checkpoint itself when at most this much is left to copy. */
#define REWIND_LEFT_MAX 256
/* Passes the checkpointer makes in a row to get there. */
#define REWIND_PASSES 4
/*
 * The retention sweep runs on the checkpointer's thread this often, deleting
 * this many events per transaction, with a pause between them, so that the
 * writer never waits long for the lock.
 */
#define RETENTION_INTERVAL_S 600
#define RETENTION_BATCH 500
#define RETENTION_PAUSE_MS 10

/*
 * Without mu: one passive checkpoint, and when the log is long enough to be
 * rewound a few more, each copying what the writer committed during the one
 * before.  1 when the writer should now finish the job (see finish_checkpoint).
 */
static int
checkpoint_passes(struct journal_core *c)
{
	int64_t log, left;
	int pass;

	for (pass = 0; pass < REWIND_PASSES; pass++) {
		if (store_checkpoint(c->ckpt_store, 1, &log, &left) == -1 || log < 0 || left < 0 ||
		    log < REWIND_LOG_PAGES)
			return 0;
		if (left <= REWIND_LEFT_MAX)
			return 1;
	}
	return 0;
}

/*
 * Without mu: deletes the processed events older than keep_s in batches, each
 * its own short transaction, to the last event (store_expire_events) or until
 * the daemon stops.  The number deleted, also when a batch failed.
 */
static int64_t
expire_events(struct journal_core *c, int64_t keep_s)
{
	int64_t before_ms = util_now_ms() - keep_s * 1000, cursor = 0, n, total = 0;
	struct timespec pause = { 0, RETENTION_PAUSE_MS * 1000000L };
	int more = 1, quit = 0;

	while (more && !quit) {
		n = store_expire_events(c->ckpt_store, before_ms, RETENTION_BATCH, &cursor, &more);
		if (n < 0) {
			log_warn("store: retention: deleting old events failed; trying again later");
			break;
		}
		total += n;
		/* The writer may be waiting for the lock: a window that deleted nothing took none. */
		if (n > 0)
			nanosleep(&pause, NULL);
		pthread_mutex_lock(&c->mu);
		quit = c->quit;
		pthread_mutex_unlock(&c->mu);
	}
	return total;
}

/* Without mu: the retention sweep, when it is due. */
static void
retention_sweep(struct journal_core *c, int64_t keep_s)
{
	int64_t now = util_mono_us(), n;

	if (keep_s <= 0 || (c->swept_us != 0 &&
	    now - c->swept_us < (int64_t)RETENTION_INTERVAL_S * 1000000))
		return;
	c->swept_us = now;
	n = expire_events(c, keep_s);
	if (n > 0) {
		log_info("store: retention: deleted %lld processed events older than %llds",
		    (long long)n, (long long)keep_s);
		metrics_counter_add("rekey_events_deleted_total", "Processed events deleted by"
		    " the retention sweep (event_retention).", "", (double)n);
	}
}

/*
 * Checkpoints beside the writer: a passive checkpoint copies the log into
 * the database while commits go on, so no ack ever waits for one.
 */
void *
journal_checkpoint_main(void *arg)
{
	struct journal_core *c = arg;
	struct timespec until;
	int64_t keep_s;
	int due;

	util_name_thread("rk-checkpoint");
	pthread_mutex_lock(&c->mu);
	while (!c->quit) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += CHECKPOINT_INTERVAL_S;
		while (!c->quit && c->since_checkpoint < CHECKPOINT_EVENTS &&
		    pthread_cond_timedwait(&c->cond, &c->mu, &until) == 0)
			;
		if (c->quit)
			break;
		c->since_checkpoint = 0;
		keep_s = c->retention_s;
		pthread_mutex_unlock(&c->mu);
		due = checkpoint_passes(c);
		retention_sweep(c, keep_s);
		pthread_mutex_lock(&c->mu);
		c->rewind_due = due;
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}
