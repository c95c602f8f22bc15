/*
 * outbound/graph_sp: an app's service principal (its enterprise application
 * in the tenant) as the expiry poll reads it: its passwordCredentials.
 * Secrets can live there too (hashicorp/vault#16610); Nylas signs in with
 * the application's secret only, but other integrations may use these, so
 * rekey lists and warns about them and never changes them.
 *
 * GET /servicePrincipals(appId='{appId}')?$select=id,appId,passwordCredentials
 * (microsoft-graph-docs-contrib, api-reference/v1.0/api/serviceprincipal-get.md:
 * a servicePrincipal addressed by appId; Application.ReadWrite.OwnedBy is
 * among the permissions that may call it).  Its passwordCredentials are
 * passwordCredential resources as on the application: keyId, displayName,
 * hint, startDateTime, endDateTime; secretText is always null on a read.
 */
#ifndef REKEY_OUTBOUND_GRAPH_SP_H
#define REKEY_OUTBOUND_GRAPH_SP_H

#include <stddef.h>

#include "outbound/graph.h"

/*
 * Sends the GET above through graph_get_json: the callback gets the answer in
 * res->body for graph_sp_parse (a 404 Request_ResourceNotFound when the app
 * has no service principal in the tenant, a 403 when the rotator may not read
 * it).  0, or -1 (the callback never runs).
 */
int graph_sp_get(struct graph_client *gc, const char *app_id, graph_cb cb, void *arg);

/* Pure helpers, public for the unit tests. */

/* The path (and query) of that GET for app_id, quoted and escaped.  Caller frees. */
char *graph_sp_path(const char *app_id);
/*
 * A servicePrincipal object: id, appId and its passwordCredentials into *out
 * (the application's struct: the same fields; display_name and
 * sign_in_audience as shown).  A missing passwordCredentials is an empty
 * list; more than GRAPH_MAX_PASSWORDS, or an appId other than app_id (when
 * app_id is not NULL), is an error.  0, or -1 and *err (caller frees).
 */
int graph_sp_parse(const char *body, size_t len, const char *app_id,
    struct graph_application *out, char **err);

#endif
