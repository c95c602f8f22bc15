/*
 * kinds: the kinds of notice, each with its name, its Standard Webhooks event
 * type, the fields it needs and its builder: the function that says what a
 * notice of that kind says, as a document (notice/doc.h).
 */
#ifndef REKEY_NOTICE_KINDS_H
#define REKEY_NOTICE_KINDS_H

#include "notice/notice.h"

struct doc;

/* A kind's builder expects a notice that is cleaned and checked (message_render does both). */
struct kinds_info {
	const char *name;
	const char *event_type;
	const char *needs[3];	/* fields that must be set */
	void (*build)(struct doc *d);
};

/* Indexed by enum notice_kind. */
extern const struct kinds_info kinds_table[NOTICE_KIND_COUNT];

/* "expiry_warning", "incident_opened", ...; "unknown" out of range. */
const char *notice_kind_name(enum notice_kind k);

#endif
