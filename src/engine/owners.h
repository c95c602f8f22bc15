/*
 * owners: who is told about an app: the config's owners plus, with
 * owners_from_graph, the app's owners from Graph as alerts.c last read them
 * (read again daily).  The one module that writes and parses their record,
 * the app's "graph_owners" value (a JSON array of addresses).  Used by the
 * alerts and by the webhook manager.
 */
#ifndef REKEY_ENGINE_OWNERS_H
#define REKEY_ENGINE_OWNERS_H

#include <stddef.h>

struct config_app;
struct graph_owner;
struct store;

#define OWNERS_REFRESH_S	86400	/* Graph owners are read again daily */

/*
 * The app's owners: the config's, then Graph's (as last read) not already
 * listed, compared case-insensitively.  *out (each and the array freed by
 * the caller) and *n; *from_graph (may be NULL) is how many came from Graph.
 */
void owners_list(struct store *st, const struct config_app *app, char ***out, size_t *n,
    size_t *from_graph);
/*
 * Records the addresses of Graph's owners (n of them) of app as last read.
 * The JSON recorded (the caller frees it with cJSON_free, after logging
 * it), or NULL when it could not be recorded.
 */
char *owners_put_graph(struct store *st, const char *app, const struct graph_owner *owners,
    size_t n);
/* 1 when Graph's owners of app were recorded (by an earlier run too), else 0. */
int owners_graph_known(struct store *st, const char *app);

#endif
