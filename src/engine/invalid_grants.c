/*
 * invalid_grants: Nylas's invalid Microsoft grants join a secret incident.
 * See invalid_grants.h.
 */
#include "engine/invalid_grants.h"
#include "engine/alerts_int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "outbound/nylas.h"
#include "state/config.h"
#include "state/runtime.h"
#include "state/store.h"

#include <stdlib.h>
#include <string.h>

static void
grants_cb(const struct nylas_result *res, void *arg)
{
	struct app_alerts *a = arg;
	const struct config_app *app;
	int64_t since_s;
	size_t i, added = 0;

	if (res->outcome == NYLAS_CANCELLED)
		return;
	a->grants_busy = 0;
	app = config_find_app(a->al->rt->cfg, a->name);
	if (res->outcome != NYLAS_OK || app == NULL || store_begin(a->al->st) == -1) {
		log_ctx(LOG_LEVEL_WARN, NULL, a->name, "cannot list Nylas's invalid grants: %s",
		    res->detail ? res->detail : nylas_outcome_name(res->outcome));
		a->grants_next_s = util_now_ms() / 1000 + 60;
		return;
	}
	/* Grants that went invalid long before this incident are not its doing. */
	since_s = a->grants_opened_ms / 1000 - 86400;
	for (i = 0; i < res->n_grants; i++) {
		const struct nylas_grant *g = &res->grants[i];

		if (g->id == NULL || (g->updated_at != 0 && g->updated_at < since_s))
			continue;
		if (app->nylas_connector_credential_id != NULL && g->credential_id != NULL &&
		    strcmp(g->credential_id, app->nylas_connector_credential_id) != 0)
			continue;
		if (store_add_incident_grant(a->al->st, a->grants_incident, g->id, g->email,
		    util_now_ms()) == STORE_STORED)
			added++;
	}
	if (store_commit(a->al->st) == -1) {
		store_rollback(a->al->st);
		a->grants_next_s = util_now_ms() / 1000 + 60;
		return;
	}
	a->grants_next_s = util_now_ms() / 1000 + INVALID_GRANTS_LIST_S;
	log_ctx(LOG_LEVEL_INFO, NULL, a->name, "Nylas lists %zu invalid Microsoft grants%s; %zu "
	    "more joined incident %s", res->n_grants, res->grants_truncated ? " (truncated)" : "",
	    added, a->grants_incident);
}

void
invalid_grants_list(struct app_alerts *a, const struct store_incident *inc)
{
	struct nylas_grant_query q = { .provider = "microsoft", .grant_status = "invalid" };

	if (a->nc == NULL || a->grants_busy || util_now_ms() / 1000 < a->grants_next_s)
		return;
	free(a->grants_incident);
	a->grants_incident = xstrdup(inc->id);
	a->grants_opened_ms = inc->opened_at;
	a->grants_busy = 1;
	if (nylas_list_grants(a->nc, &q, grants_cb, a) == -1) {
		a->grants_busy = 0;
		a->grants_next_s = util_now_ms() / 1000 + 60;
	}
}
