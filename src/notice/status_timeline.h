/*
 * notice/status_timeline: what the status page draws over time, added to an
 * app of the status document: the app's rotate-before and warning marks
 * ("rotate_before_s", "warn_before_s": seconds before the in-use secret's
 * end), and each open incident's re-authentication progress ("progress":
 * [{"at", "affected", "recovered"}], from its grants' seen and recovered
 * times in the store, counted again when a new point is due; the last is
 * now, from the incident's live counters).
 */
#ifndef REKEY_NOTICE_STATUS_TIMELINE_H
#define REKEY_NOTICE_STATUS_TIMELINE_H

#include <stdint.h>

#include <cjson/cJSON.h>

struct config_app;
struct store;

/* Adds the marks to app_obj and the progress to its open "incidents".  0, or -1 on a store error. */
int status_timeline_add(cJSON *app_obj, struct store *st, const struct config_app *app,
    int64_t now_ms);

#endif
