/*
 * listen_socket: an intake loop's listening socket, bound with SO_REUSEPORT
 * so that every loop's socket shares the one address.  See listen_socket.h.
 */
#include "intake/listen_socket.h"
#include "lib/log.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/listener.h>
#include <event2/util.h>

#define LISTEN_BACKLOG 1024

/*
 * SO_REUSEPORT lets every process of this user bind the port as well, and
 * the kernel would then share the connections with it: a second rekey
 * started by mistake would take half of the webhooks, silently.  So the
 * first loop first binds the address on its own; in use, it is refused as
 * it always was.
 */
static int
check_not_in_use(const struct evutil_addrinfo *ai, const char *listen_addr, char **err)
{
	evutil_socket_t fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1, rc = 0;

	if (fd < 0)
		return 0;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 && errno == EADDRINUSE) {
		*err = xasprintf("cannot listen on %s: %s", listen_addr, strerror(errno));
		rc = -1;
	}
	evutil_closesocket(fd);
	return rc;
}

/* The bound port, or -1. */
static int
bound_port(evutil_socket_t fd)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) != 0)
		return -1;
	return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port :
	    ((struct sockaddr_in6 *)&ss)->sin6_port);
}

struct evconnlistener *
listen_socket_open(struct event_base *base, const char *listen_addr, int port, int *bound,
    char **err)
{
	struct evconnlistener *lev;
	struct evutil_addrinfo hints, *ai = NULL;
	char host[256], port_text[16];
	const char *colon = strrchr(listen_addr, ':');
	size_t hlen;
	int rc, one = 1;

	if (colon == NULL || colon == listen_addr) {
		*err = xasprintf("listen = %s: expected host:port", listen_addr);
		return NULL;
	}
	hlen = (size_t)(colon - listen_addr);
	if (listen_addr[0] == '[' && hlen >= 2 && listen_addr[hlen - 1] == ']')
		util_strlcpy(host, listen_addr + 1, hlen - 1 < sizeof(host) ? hlen - 1 : sizeof(host));
	else
		util_strlcpy(host, listen_addr, hlen + 1 < sizeof(host) ? hlen + 1 : sizeof(host));
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(port_text, sizeof(port_text), "%d", port);
	rc = evutil_getaddrinfo(host, port >= 0 ? port_text : colon + 1, &hints, &ai);
	if (rc != 0) {
		*err = xasprintf("listen = %s: %s", listen_addr, evutil_gai_strerror(rc));
		return NULL;
	}
	if (port < 0 && check_not_in_use(ai, listen_addr, err) == -1) {
		evutil_freeaddrinfo(ai);
		return NULL;
	}
	/* Every intake loop binds the same address; the kernel spreads the connections. */
	lev = evconnlistener_new_bind(base, NULL, NULL,
	    LEV_OPT_REUSEABLE | LEV_OPT_REUSEABLE_PORT | LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_CLOSE_ON_EXEC, LISTEN_BACKLOG, ai->ai_addr, (int)ai->ai_addrlen);
	evutil_freeaddrinfo(ai);
	if (lev == NULL) {
		*err = xasprintf("cannot listen on %s: %s", listen_addr, strerror(errno));
		return NULL;
	}
	/*
	 * An answer leaves in one write, but a TLS handshake's flights and an
	 * answer held back by a full socket buffer go in parts; with Nagle on, a
	 * later part waits for the client's delayed ACK (40 ms).  Linux copies
	 * TCP_NODELAY from the listening socket to every accepted one.
	 */
	if (setsockopt(evconnlistener_get_fd(lev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == -1)
		log_warn("TCP_NODELAY on the listening socket: %s", strerror(errno));
	*bound = bound_port(evconnlistener_get_fd(lev));
	return lev;
}
