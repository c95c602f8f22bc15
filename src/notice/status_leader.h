/*
 * status_leader: the part of `rekey status` (and /api/v1/status) about
 * leadership when replicas share a PostgreSQL store: which replica leads,
 * since when and with which epoch, as the leadership row says, and which
 * replica answered.  A SQLite store has no such part (one process).
 */
#ifndef REKEY_NOTICE_STATUS_LEADER_H
#define REKEY_NOTICE_STATUS_LEADER_H

#include <cjson/cJSON.h>

struct leader_info;
struct wbuf;

/*
 * Adds "leader": {node, since, epoch} (null when the row was not read) and,
 * when this_node is not NULL, "this_node" and "this_is_leader" to doc.
 */
void status_leader_add(cJSON *doc, const struct leader_info *info, const char *this_node);
/* Appends "leader: NODE since TIME (epoch N)" to b when doc has a leader. */
void status_leader_text(struct wbuf *b, const cJSON *doc);

#endif
