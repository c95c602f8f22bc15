/* probes: the operations endpoints /healthz, /readyz and /metrics. */
#ifndef REKEY_INTAKE_PROBES_H
#define REKEY_INTAKE_PROBES_H

struct http_req;

void probes_healthz(struct http_req *hr, const char *rest);
void probes_readyz(struct http_req *hr, const char *rest);
void probes_metrics(struct http_req *hr, const char *rest);

#endif
