/*
 * alerts: decides what the owners and the affected users must be told, from
 * what the store says (incidents, rotations, expiry warnings), and queues it
 * in the outbox (engine/notifier.h).  Because every notice is derived again from
 * durable state at each sweep and the outbox refuses duplicates, a crash at
 * any point loses no notice and repeats none.
 *
 * It also reads the app's owners from Graph (owners.h keeps the list,
 * refreshed daily), has Nylas's invalid grants join a secret incident
 * (invalid_grants.h), and with reauth_url_template each affected user gets
 * one email with their link, once the new secret is in Nylas (a link before
 * that would fail again).
 */
#ifndef REKEY_ENGINE_ALERTS_H
#define REKEY_ENGINE_ALERTS_H

#include <stddef.h>
#include <stdint.h>

struct http_client;
struct notifier;
struct runtime;

struct alerts;

struct alerts *alerts_new(struct runtime *rt, struct http_client *hc, struct notifier *nt);
void alerts_free(struct alerts *al);
/* Sweeps now (an incident or a rotation changed). */
void alerts_wake(struct alerts *al);

#endif
