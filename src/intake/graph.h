/*
 * intake/graph: intake of Microsoft Graph change notifications at
 * /webhooks/graph/{app} and lifecycle notifications at .../lifecycle: the
 * validation handshake, the clientState check, and the journal write of
 * each item before the 202 (the batch's parse is proto/graph_notification's).  Everything else (decryption,
 * validation tokens, the user lookup) happens in graph_worker after the 202.
 */
#ifndef REKEY_INTAKE_GRAPH_H
#define REKEY_INTAKE_GRAPH_H

struct http_req;

void graph_webhook_handle(struct http_req *hr, const char *rest);

#endif
