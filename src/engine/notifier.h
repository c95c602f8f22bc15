/*
 * notifier: the owners' outbox and its delivery (DESIGN.md "Notifications").
 *
 * A notice is rendered once (messages.h) and written to the store's outbox
 * as one row per recipient and channel: email to each owner (SMTP through
 * libcurl), Slack, Teams, and a JSON webhook signed the Standard Webhooks
 * way.  (ref, kind, recipient, channel) is unique, so queueing a notice
 * again, before or after a restart, sends nothing twice.
 *
 * Delivery: a row is marked "sending" (attempts + 1) and committed before
 * the call, and "sent" after the answer.  When the process dies between the
 * two, the row is still "sending" at the next start and is sent again: that
 * is the one possible duplicate (same Message-ID / webhook-id, so a receiver
 * can tell).  Failures are retried with backoff (Retry-After honoured) for
 * about 18 hours, then the row is "failed"; both show in status and metrics.
 */
#ifndef REKEY_ENGINE_NOTIFIER_H
#define REKEY_ENGINE_NOTIFIER_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct config_app;
struct http_client;
struct notice;
struct runtime;
struct store;

#define NOTIFY_MAX_ATTEMPTS	16	/* backoff 5 s doubling, capped at 4 h: about 18 hours */

struct notifier;

struct notifier *notifier_new(struct runtime *rt, struct http_client *hc);
/* Cancels calls in flight; their rows stay "sending" and go out again at the next start. */
void notifier_free(struct notifier *n);
/* Looks at the outbox now (something was queued).  NULL is a no-op. */
void notifier_kick(struct notifier *n);
/* Stopping: starts nothing more; the calls in flight finish and are recorded. */
void notifier_stop(struct notifier *n);
/* Messages being sent right now (0 for NULL). */
size_t notifier_in_flight(const struct notifier *n);

/*
 * Queues notice n about ref for every recipient of every configured channel,
 * in one transaction of st: email to each address of owners (n_owners), one
 * row each for Slack, Teams and the webhook.  Recipients already holding this
 * (ref, kind) are skipped.  Returns the rows added (0 when all were known),
 * or -1 (rolled back; nothing queued).
 */
int notify_queue(struct store *st, const struct config *cfg, const struct notice *n,
    const char *ref, const char *const *owners, size_t n_owners);

/* Queues one email to one address (USER_REAUTH).  1 added, 0 known, -1. */
int notify_queue_email(struct store *st, const struct config *cfg, const struct notice *n,
    const char *ref, const char *to);

/* Backoff before attempt number attempt + 1 after a retryable failure (ms), Retry-After first.  Pure. */
int64_t notify_backoff_ms(int attempt, int64_t retry_after_ms);

#endif
