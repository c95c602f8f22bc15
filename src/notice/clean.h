/*
 * clean: a notice's strings as the texts show them: valid UTF-8 (U+FFFD for
 * each byte that is not), bounded, on one line; and the table of a notice's
 * fields (name, place, type, bound) that cleaning, checking and the webhook
 * body go through.  Pure, no I/O.
 */
#ifndef REKEY_NOTICE_CLEAN_H
#define REKEY_NOTICE_CLEAN_H

#include "notice/notice.h"

#include <stddef.h>
#include <stdint.h>

/* Bytes of a re-authentication link (and of a status hint) as the texts show it. */
#define CLEAN_MAX_URL 2048
/* Evidence lines shown: as many as the correlator keeps per incident. */
#define CLEAN_MAX_EVIDENCE 50

/* "…" in UTF-8, which ends a text that was cut (sizeof counts its NUL). */
extern const char clean_ellipsis[4];

/* Length of the valid UTF-8 character at s (n > 0 bytes left), or 0 when it is not one. */
size_t clean_utf8_char(const unsigned char *s, size_t n);
/*
 * s as a new string of valid UTF-8 of at most max bytes before a closing
 * "…" when cut; with one_line, on one line and trimmed.  Caller frees.
 */
char *clean_text(const char *s, size_t max, int one_line);

enum clean_field_type {
	CLEAN_FIELD_STR,	/* set when not NULL (nor empty once cleaned) */
	CLEAN_FIELD_TIME,	/* Unix ms, set when > 0; shown as RFC 3339 */
	CLEAN_FIELD_COUNT,	/* set for incidents (0 is a count) */
	CLEAN_FIELD_NUM,	/* set when > 0 */
};

struct clean_field {
	const char *name;	/* in the webhook body and in errors */
	size_t off;
	enum clean_field_type type;
	size_t max;		/* CLEAN_FIELD_STR: bytes shown in the texts */
};

/* How many clean_fields[] holds; clean.c checks the count at compile time. */
#define CLEAN_N_FIELDS 43

/* Every field of a notice but kind, now_ms and the evidence, in the webhook body's order. */
extern const struct clean_field clean_fields[];

/*
 * Field f of n as a string (borrowed; f must be CLEAN_FIELD_STR) or as a
 * number (any other type).
 */
const char *clean_field_cstr(const struct notice *n, const struct clean_field *f);
int64_t clean_field_int(const struct notice *n, const struct clean_field *f);
/* The field called name (as in the webhook body), or NULL. */
const struct clean_field *clean_field_named(const char *name);

/* A notice whose strings are cleaned copies (one line, UTF-8, bounded), owned here. */
struct clean {
	struct notice n;
	char *owned[CLEAN_N_FIELDS];
	char **evidence;
	size_t n_evidence;	/* shown, at most CLEAN_MAX_EVIDENCE */
	size_t evidence_left;	/* set but not shown */
};

/*
 * Fills c with n and cleaned copies of its strings (a string that cleans to
 * "" becomes NULL) and of its first CLEAN_MAX_EVIDENCE evidence lines; c owns the
 * copies until clean_free.
 */
void clean_notice(const struct notice *n, struct clean *c);
/* Frees the copies clean_notice made (not c itself). */
void clean_free(struct clean *c);

#endif
