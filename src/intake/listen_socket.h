/*
 * listen_socket: the listening socket of an intake loop.  Every loop binds
 * the same address with SO_REUSEPORT and the kernel spreads new connections
 * over them; TCP_NODELAY is set on it for every accepted connection.
 */
#ifndef REKEY_INTAKE_LISTEN_SOCKET_H
#define REKEY_INTAKE_LISTEN_SOCKET_H

struct event_base;
struct evconnlistener;

/*
 * Binds listen_addr ("host:port", host maybe [v6]) on base.  port < 0: the
 * configured port, refused when another socket holds it; else that port
 * (the first loop's, which port 0 made up).  The listener, without a
 * callback yet (the listener gives it one), and *bound, the port;
 * or NULL and *err (caller frees).
 */
struct evconnlistener *listen_socket_open(struct event_base *base, const char *listen_addr,
    int port, int *bound, char **err);

#endif
