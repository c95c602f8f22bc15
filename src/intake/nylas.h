/*
 * intake/nylas: intake of Nylas webhooks at /webhooks/nylas/{app}: the
 * challenge echo, the X-Nylas-Signature check over the raw bytes, gzip
 * delivery, envelope validation, and the journal write before the 200.
 * The envelope's parse and the signature are proto/nylas_event's.
 */
#ifndef REKEY_INTAKE_NYLAS_H
#define REKEY_INTAKE_NYLAS_H

struct http_req;

void nylas_webhook_handle(struct http_req *hr, const char *rest);

#endif
