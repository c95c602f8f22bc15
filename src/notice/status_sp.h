/*
 * status_sp: the part of `rekey status` about the app's service principal's
 * client secrets (state/credentials.h): listed with their ends and days left,
 * or "unknown" with why when the last read failed.  rekey never rotates
 * them; status says so.  status.c puts them into each app's document and
 * its text.
 */
#ifndef REKEY_NOTICE_STATUS_SP_H
#define REKEY_NOTICE_STATUS_SP_H

#include <stdint.h>

#include <cjson/cJSON.h>

struct store;
struct wbuf;

/*
 * Adds to app_obj "service_principal_secrets" (a list of {key_id, hint,
 * display_name, start, end, days_left}, or null when not known),
 * "service_principal_secrets_why" (why not known, else null) and
 * "service_principal_secrets_read_at" (when they were read or tried, else
 * null).  now is Unix seconds.  0, or -1 on a store error.
 */
int status_sp_add(cJSON *app_obj, struct store *st, const char *app, int64_t now);
/* Appends their text to b, from an app's document made with status_sp_add. */
void status_sp_text(struct wbuf *b, const cJSON *app_obj);

#endif
