/*
 * notice/status_policy: the "lifetime_policy" part of `rekey status`: the
 * app management policy the last rotation found before addPassword (the
 * rotator's value lifetime_policy, engine/rotation_policy.c), as JSON and
 * as one text line.
 */
#ifndef REKEY_NOTICE_STATUS_POLICY_H
#define REKEY_NOTICE_STATUS_POLICY_H

#include <cjson/cJSON.h>

struct store;
struct wbuf;

/* Adds "lifetime_policy" (the stored object, or null) to app_obj.  0, or -1 on a store error. */
int status_policy_json(cJSON *app_obj, struct store *st, const char *app);
/* One line about app's "lifetime_policy", when there is one. */
void status_policy_text(struct wbuf *b, const cJSON *app);

#endif
