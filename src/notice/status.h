/*
 * status: what rekey knows of each app, for operators: the secrets the
 * expiry poll last read from Graph and which one Nylas uses, the incidents
 * with their evidence, and the rotations with their progress and errors.
 * One JSON document (the contract of DESIGN.md, GET /api/v1/status and
 * `rekey status --json`) and a text rendering of it (`rekey status`).
 * Never contains secret text.
 */
#ifndef REKEY_NOTICE_STATUS_H
#define REKEY_NOTICE_STATUS_H

#include <cjson/cJSON.h>

struct config;
struct store;

struct config_app;
struct health_report;

/* The status document; NULL when the store cannot be read.  Caller deletes. */
cJSON *status_build(struct store *st, const struct config *cfg);
/*
 * The exit status of `rekey status` for a document made by status_build:
 * 0 when every app is healthy, 1 on a warning, 2 on a critical condition.
 */
int status_exit_code(const cJSON *status);
/* app's conditions evaluated now, as the document shows them (health.h).  0 or -1. */
int status_app_health(struct store *st, const struct config *cfg, const struct config_app *app,
    struct health_report *out);
/* The human table for a document made by status_build.  Caller frees. */
char *status_text(const cJSON *status);

#endif
