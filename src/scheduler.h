/*
 * scheduler: the daemon's timed outbound work.  For now, per app with a
 * rotator identity configured, the expiry poll: at start and every
 * expiry_poll it reads the app's passwordCredentials from Graph, logs them,
 * publishes their end dates as metrics and hands them to the rotator
 * (proactive rotation, expiry warnings, what status shows).  Everything runs on the event
 * loop through the asynchronous clients: intake never waits for it.
 */
#ifndef REKEY_SCHEDULER_H
#define REKEY_SCHEDULER_H

struct config;
struct event_base;
struct http_client;
struct rotator;
struct scheduler;

/*
 * Copies what it needs from cfg; a new one is made on reload.  rot (may be
 * NULL) hears each successful poll and must outlive the scheduler.  Never NULL.
 */
struct scheduler *scheduler_new(struct event_base *base, struct http_client *hc,
    const struct config *cfg, struct rotator *rot);
/* Cancels what is in flight; NULL is a no-op. */
void scheduler_free(struct scheduler *s);

#endif
