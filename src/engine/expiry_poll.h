/*
 * expiry_poll: the daemon's timed outbound work.  For now, per app with a
 * rotator identity configured, the expiry poll: at start and every
 * expiry_poll (every 5 minutes while it fails) it reads the app's
 * passwordCredentials from Graph, logs them, publishes their end dates as
 * metrics and hands them to the rotator (proactive rotation, expiry
 * warnings, what status shows); then the passwordCredentials of the app's
 * service principal (recorded for status and the alerts' warnings, never
 * rotated; a failure leaves them "unknown" and the rest of the poll as it
 * was); then it reads the Nylas connector and the
 * webhook destinations (is one delivering to public_url?).  What each read
 * came to is recorded as the app's conditions.  Everything runs on the event
 * loop through the asynchronous clients: intake never waits for it.
 */
#ifndef REKEY_ENGINE_EXPIRY_POLL_H
#define REKEY_ENGINE_EXPIRY_POLL_H

struct config;
struct event_base;
struct http_client;
struct rotator;
struct expiry_poll;
struct store;

/*
 * cfg must outlive the expiry poll (a new one is made on reload).  rot (may be
 * NULL) hears each successful poll and must outlive the expiry poll.  Each poll
 * records the app's RotatorReady, SecretsRead and ConnectorReady conditions
 * (condition.h) in st.  Never NULL.
 */
struct expiry_poll *expiry_poll_new(struct event_base *base, struct http_client *hc,
    const struct config *cfg, struct store *st, struct rotator *rot);
/* Cancels what is in flight; NULL is a no-op. */
void expiry_poll_free(struct expiry_poll *s);

#endif
