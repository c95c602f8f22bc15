/*
 * subscriptions: the Graph change-notification subscription rekey keeps per
 * app (graph_subscribe_users = yes, a rotator identity, public_url and a
 * graph_client_state_file): one subscription on /users, changeType
 * "updated,deleted", notificationUrl public_url + /webhooks/graph/{app} and
 * its /lifecycle twin.  Basic notifications only: Graph supports no rich
 * notifications (includeResourceData) for users, so an item is only a hint
 * that the worker checks with GET /users/{id}.
 *
 * At start the stored subscription is kept when it is still live and for the
 * same URL; otherwise the app's subscriptions at Graph are listed and ours is
 * adopted (and renewed) or, when there is none, one is created, so a restart
 * never makes a duplicate even if rekey died between Graph's 201 and the
 * store write.  Renewal comes when less than half the asked lifetime is
 * left.  The lifetime asked stays 5 minutes (or more, see subscriptions.c)
 * below Graph's maximum, and Graph's "expiration too far" refusal is read
 * and the call made again, shorter.  Every call runs on the event loop, one at most per app, with
 * backoff; the store is written from the loop's thread.
 */
#ifndef REKEY_ENGINE_SUBSCRIPTIONS_H
#define REKEY_ENGINE_SUBSCRIPTIONS_H

#include <stdint.h>

struct config;
struct event_base;
struct http_client;
struct store;
struct subscriptions;

/*
 * Copies what it needs from cfg (a new one is made on reload); hc and st are
 * borrowed and must outlive it.  Apps that cannot subscribe are logged once,
 * with the reason.  Never NULL.
 */
struct subscriptions *subscriptions_new(struct event_base *base, struct http_client *hc,
    const struct config *cfg, struct store *st);
/* Cancels what is in flight; NULL is a no-op. */
void subscriptions_free(struct subscriptions *m);
/*
 * A lifecycle notification the Graph worker took in: event is
 * "reauthorizationRequired", "subscriptionRemoved" or "missed" (others are
 * logged and ignored).  Acts later, from the event loop.  m NULL is a no-op.
 */
void subscriptions_lifecycle(struct subscriptions *m, const char *app, const char *subscription_id,
    const char *event);

#endif
