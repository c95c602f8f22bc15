/*
 * status: what rekey knows of each app, for operators: the secrets the
 * expiry poll last read from Graph and which one Nylas uses, the incidents
 * with their evidence, and the rotations with their progress and errors.
 * One JSON document (the contract of DESIGN.md, GET /api/v1/status and
 * `rekey status --json`) and a text rendering of it (`rekey status`).
 * Never contains secret text.
 */
#ifndef REKEY_STATUS_H
#define REKEY_STATUS_H

#include <cjson/cJSON.h>

struct config;
struct store;

/* The status document; NULL when the store cannot be read.  Caller deletes. */
cJSON *status_build(struct store *st, const struct config *cfg);
/* The human table for a document made by status_build.  Caller frees. */
char *status_text(const cJSON *status);

#endif
