/*
 * owners: who is told about an app: the config's owners plus, with
 * owners_from_graph, the app's owners from Graph as alerts.c last read them
 * (the "graph_owners" value, read again daily).  Used by the alerts and by
 * the webhook manager.
 */
#ifndef REKEY_ENGINE_OWNERS_H
#define REKEY_ENGINE_OWNERS_H

#include <stddef.h>

struct config_app;
struct store;

#define OWNERS_REFRESH_S	86400	/* Graph owners are read again daily */

/*
 * The app's owners: the config's, then Graph's (as last read) not already
 * listed, compared case-insensitively.  *out (each and the array freed by
 * the caller) and *n; *from_graph (may be NULL) is how many came from Graph.
 */
void owners_list(struct store *st, const struct config_app *app, char ***out, size_t *n,
    size_t *from_graph);

#endif
