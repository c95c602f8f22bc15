/*
 * journal_int: what the journal's files share, and only they: journal.c
 * (the handles and the writer thread) and journal_checkpoint.c (the
 * checkpointer thread and the retention sweep).  Other modules use
 * journal.h.
 */
#ifndef REKEY_STATE_JOURNAL_INT_H
#define REKEY_STATE_JOURNAL_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct batch;
struct store;
struct storm;

/*
 * Ownership: `open` and each handle's done list are shared under mu: the
 * loops append to `open`, the writer swaps it for an empty batch when it
 * starts a commit, and once committed hands each entry's answer to the
 * handle it came through, whose loop takes them back.  A batch between those
 * two points belongs to the writer alone, as does its store connection.
 *
 * The writer takes the next batch itself the moment a commit ends: waiting
 * for a loop to hand it over would leave the disk idle for as long as the
 * loop takes to come round (a whole pass over the ready connections).  Only
 * when the writer found nothing to take does it wait for `go`, which a loop
 * sets from a low-priority event once it has read what was waiting.
 */
struct journal_core {
	struct store *store;
	struct storm *storm;		/* the correlator's permits (state/storm.h) */
	struct store *ckpt_store;	/* the checkpointer's own connection */
	pthread_t ckpt_thread;
	size_t since_checkpoint;	/* events committed since the last checkpoint (under mu) */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct batch *open;		/* under mu */
	int go;				/* under mu: the writer may take `open` */
	int rewind_due;			/* under mu: the writer should finish a checkpoint */
	int64_t retention_s;		/* under mu: event_retention; 0: keep every event */
	int64_t swept_us;		/* checkpointer only: the last retention sweep; 0: none yet */
	int quit;			/* under mu */
	int relaxed;			/* writer only: its connection skips the fsync */
	int64_t epoch;			/* under mu: journal_set_epoch's; -1: none yet */
	int64_t epoch_set;		/* writer only: the epoch its connection carries; -1: none */
	size_t handles;			/* under mu: attached handles, the root's included */
	atomic_size_t pending;		/* submitted through any handle, not yet answered */
};

/* The checkpointer's thread (journal_checkpoint.c); arg is the core. */
void *journal_checkpoint_main(void *arg);

#endif
