/*
 * client_addr: who a request comes from, through trusted proxies.
 */
#ifndef REKEY_INTAKE_CLIENT_ADDR_H
#define REKEY_INTAKE_CLIENT_ADDR_H

struct http_req;
struct sockaddr;

/*
 * Sets hr's client, forwarded_https, forwarded_plain and peer_loopback from
 * the peer and, when the peer is a trusted proxy, its X-Forwarded-* headers.
 */
void client_addr_find(struct http_req *hr, const struct sockaddr *peer);

#endif
