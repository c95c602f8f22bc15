/*
 * mailbox: how one thread asks an event loop's thread to run something.
 * Any thread posts a function and its argument; the loop that owns the
 * mailbox runs them, in posting order, from a read event on a pipe.  This is
 * the only way work crosses between the intake loops and the main loop:
 * libevent's bases are each used by their own thread alone, so libevent's
 * own locking stays off (and costs nothing).
 */
#ifndef REKEY_LIB_MAILBOX_H
#define REKEY_LIB_MAILBOX_H

#include <stddef.h>

struct event_base;
struct mailbox;

typedef void (*mailbox_fn)(void *arg);

/*
 * A mailbox read by base's thread; its event runs at priority (0 is the
 * highest; -1: the base's default).  Fatal when out of resources.
 */
struct mailbox *mailbox_new(struct event_base *base, int priority);
/*
 * Frees it, in the owner's thread or once that thread has stopped.  Posts
 * not yet run are dropped (their arguments are the poster's to account
 * for); their number is returned.
 */
size_t mailbox_free(struct mailbox *mb);
/* From any thread: fn(arg) will run on the owner's thread. */
void mailbox_post(struct mailbox *mb, mailbox_fn fn, void *arg);

#endif
