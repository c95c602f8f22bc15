/* ops: the operations endpoints /healthz, /readyz and /metrics. */
#ifndef REKEY_OPS_H
#define REKEY_OPS_H

struct http_req;

void ops_healthz(struct http_req *hr, const char *rest);
void ops_readyz(struct http_req *hr, const char *rest);
void ops_metrics(struct http_req *hr, const char *rest);

#endif
