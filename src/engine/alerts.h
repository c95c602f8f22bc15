/*
 * alerts: decides what the owners and the affected users must be told, from
 * what the store says (incidents, rotations, expiry warnings), and queues it
 * in the outbox (notify.h).  Because every notice is derived again from
 * durable state at each sweep and the outbox refuses duplicates, a crash at
 * any point loses no notice and repeats none.
 *
 * It also keeps the owners list (config owners plus, with owners_from_graph,
 * the app's owners from Graph, refreshed daily) and the re-authentication
 * tracking: the affected grants of a secret incident include Nylas's
 * invalid Microsoft grants (GET /v3/grants, every page), and with
 * reauth_url_template each affected user gets one email with their link,
 * once the new secret is in Nylas (a link before that would fail again).
 */
#ifndef REKEY_ENGINE_ALERTS_H
#define REKEY_ENGINE_ALERTS_H

#include <stddef.h>
#include <stdint.h>

struct config_app;
struct http_client;
struct notifier;
struct runtime;
struct store;

#define ALERTS_OWNERS_REFRESH_S	86400	/* Graph owners are read again daily */
#define ALERTS_GRANTS_LIST_S	600	/* Nylas's invalid grants, while a secret incident is open */

struct alerts;

struct alerts *alerts_new(struct runtime *rt, struct http_client *hc, struct notifier *nt);
void alerts_free(struct alerts *al);
/* Sweeps now (an incident or a rotation changed). */
void alerts_wake(struct alerts *al);

/*
 * The app's owners: the config's, then Graph's (as last read) not already
 * listed, compared case-insensitively.  *out (each and the array freed by
 * the caller) and *n; *from_graph (may be NULL) is how many came from Graph.
 */
void alerts_owners(struct store *st, const struct config_app *app, char ***out, size_t *n,
    size_t *from_graph);

#endif
