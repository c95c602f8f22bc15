/*
 * outbound/graph_policy: Entra app management policies, read, and what they
 * mean for a new client secret of one app.  Pure: bytes in, structs out.
 *
 * Two reads make the effective policy (spec/graph.md, "App management
 * policies"): the tenant default, GET /policies/defaultAppManagementPolicy
 * (its applicationRestrictions), and the policy assigned to the app,
 * GET /applications/{id}/appManagementPolicies (its restrictions).  An
 * assigned policy replaces the default for that app.  Both need
 * Policy.Read.All (or Policy.Read.ApplicationConfiguration).
 */
#ifndef REKEY_OUTBOUND_GRAPH_POLICY_H
#define REKEY_OUTBOUND_GRAPH_POLICY_H

#include <stddef.h>
#include <stdint.h>

struct graph_error;

/* Graph's refusal of addPassword when a policy forbids client secrets (400). */
#define GRAPH_CODE_PASSWORD_BANNED "CredentialTypeNotAllowedAsPerAppPolicy"

/* One passwordCredentials restriction (passwordLifetime or passwordAddition). */
struct graph_policy_rule {
	int present;
	int enabled;			/* state "enabled", or no state (policies before it) */
	int64_t max_lifetime;		/* passwordLifetime: maxLifetime in seconds; else 0 */
	int64_t created_after;		/* restrictForAppsCreatedAfterDateTime; 0: every app */
	int exempt_actors;		/* excludeActors set: some callers are exempt */
};

/* A policy as far as client secrets go; strings owned (graph_app_policy_clear). */
struct graph_app_policy {
	char *id;
	char *display_name;
	int enabled;			/* isEnabled */
	struct graph_policy_rule lifetime;
	struct graph_policy_rule addition;
};

/* What the effective policy means for a new client secret of the app. */
struct graph_policy_verdict {
	const struct graph_app_policy *policy;	/* the effective policy; NULL: none */
	int banned;			/* passwordAddition applies: no client secret at all */
	int64_t max_lifetime;		/* passwordLifetime applies: at most this; else 0 */
	int64_t created_after;		/* the date of the restriction that applies, or 0 */
};

/*
 * An ISO 8601 duration (P[nY][nM][nW][nD][T[nH][nM][n[.f]S]]) in seconds.  A
 * year counts 365 days and a month 28, the fewest they can hold: a cap read
 * from one must never exceed what the policy allows.  0 or -1.
 */
int graph_iso_duration(const char *text, int64_t *secs);
/* GET /policies/defaultAppManagementPolicy.  0, or -1 and *err (caller frees). */
int graph_parse_tenant_policy(const char *body, size_t len, struct graph_app_policy *out,
    char **err);
/*
 * GET /applications/{id}/appManagementPolicies: the first into *out and
 * *found = 1 (Graph assigns at most one), or *found = 0.  0 or -1 and *err.
 */
int graph_parse_assigned_policies(const char *body, size_t len, struct graph_app_policy *out,
    int *found, char **err);
void graph_app_policy_clear(struct graph_app_policy *p);
/*
 * The verdict for an app created at app_created (Unix seconds; 0: unknown,
 * then every restriction is taken to apply): the assigned policy if any,
 * else the tenant's (either may be NULL).  A disabled policy or restriction
 * restricts nothing; a ban with excludeActors is left to Graph (the
 * rotator may be exempt, which rekey cannot tell).
 */
void graph_policy_effective(const struct graph_app_policy *tenant,
    const struct graph_app_policy *assigned, int64_t app_created,
    struct graph_policy_verdict *out);
/* 1 when e is Graph's refusal of addPassword because a policy forbids client secrets. */
int graph_error_is_password_ban(long status, const struct graph_error *e);

#endif
