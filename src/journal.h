/*
 * journal: group commit of inbound events.  Events submitted while the loop
 * is busy reading requests go into one open transaction; a low-priority
 * event commits it once no request is waiting to be read (or the batch is
 * full), and only then are the submitters told, so no 200 is sent before
 * its event is durable and a burst costs one fsync per batch.
 */
#ifndef REKEY_JOURNAL_H
#define REKEY_JOURNAL_H

#include "store.h"

struct event_base;
struct journal;

/* Called once per submitted event after its batch committed (or failed: STORE_ERROR). */
typedef void (*journal_done_cb)(enum store_result result, void *arg);

/* The base must have been given 3 priorities (the commit runs at the lowest). */
struct journal *journal_new(struct event_base *base, struct store *st);
/* Commits what is pending (calling the callbacks), then frees. */
void journal_free(struct journal *j);

/* The event's strings need only live until this call returns. */
void journal_submit(struct journal *j, const struct store_event *ev,
    journal_done_cb cb, void *arg);

/* Commits now (for shutdown and tests). */
void journal_flush(struct journal *j);
/* Number of events submitted but not yet answered. */
size_t journal_pending(const struct journal *j);

#endif
