/*
 * client_addr: who a request comes from, through trusted proxies.
 */
#ifndef REKEY_INTAKE_CLIENT_ADDR_H
#define REKEY_INTAKE_CLIENT_ADDR_H

struct http_req;
struct sockaddr;

/*
 * Sets hr's client, forwarded_https, forwarded_plain and peer_loopback from
 * the peer and, when the peer is a trusted proxy, its X-Forwarded-* headers;
 * from a trusted proxy it also takes hr->id from a well-formed X-Request-ID
 * (client_addr_request_id_ok), so that the proxy's log and rekey's join.
 */
void client_addr_find(struct http_req *hr, const struct sockaddr *peer);

/* 1 if s may serve as a request id: 1..HTTP_REQ_ID_MAX of [A-Za-z0-9._-]. */
int client_addr_request_id_ok(const char *s);

#endif
