/*
 * conn_limit: the connection limits of every intake loop together.
 * max_connections and max_connections_per_ip are the daemon's, not each
 * loop's: with SO_REUSEPORT the kernel spreads one client's connections
 * over the loops, so each loop counts into this shared tally.  Any thread.
 */
#ifndef REKEY_INTAKE_CONN_LIMIT_H
#define REKEY_INTAKE_CONN_LIMIT_H

#include <stddef.h>

struct sockaddr_storage;
struct conn_limit;

struct conn_limit *conn_limit_new(void);
/* Every count must have been given back.  NULL is a no-op. */
void conn_limit_free(struct conn_limit *cl);

/* A connection opened, or closed: the total every loop compares with max_connections. */
void conn_limit_opened(struct conn_limit *cl);
void conn_limit_closed(struct conn_limit *cl);
size_t conn_limit_total(const struct conn_limit *cl);

/*
 * Counts a connection from addr when that leaves at most max from it: 0; else
 * -1 and nothing counted.  A counted one is given back with conn_limit_release.
 */
int conn_limit_admit(struct conn_limit *cl, const struct sockaddr_storage *addr, long long max);
void conn_limit_release(struct conn_limit *cl, const struct sockaddr_storage *addr);

#endif
