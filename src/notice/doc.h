/*
 * doc: the document of one notice, a subject and a list of parts (headings,
 * paragraphs, facts, list items, commands, links) that the kinds' builders
 * write (notice/kinds.h) and every channel renders (notice/render.h), so that
 * every channel says the same.  The document owns its parts' texts.
 */
#ifndef REKEY_NOTICE_DOC_H
#define REKEY_NOTICE_DOC_H

#include <stddef.h>

struct clean;
struct notice;

enum part_type {
	PART_HEADING,	/* a section's title */
	PART_PARA,	/* a paragraph */
	PART_FACT,	/* label: value */
	PART_ITEM,	/* an item of a list (evidence) */
	PART_COMMAND,	/* a command to run, shown as code */
	PART_LINK,	/* a link on its own line; label says what it does */
};

struct part {
	enum part_type type;
	const char *label;	/* static text */
	char *text;		/* owned */
};

struct doc {
	const struct notice *n;	/* cleaned */
	const struct clean *c;
	struct part *parts;
	size_t n_parts, cap;
	char *subject;
};

/* Appends a part; label is static text, text is taken over (doc_free frees it). */
void add_part(struct doc *d, enum part_type type, const char *label, char *text);
/* Frees d's parts and subject (not d itself, nor its notice). */
void doc_free(struct doc *d);

/*
 * Append a heading (title copied), a paragraph, a fact "label: value" and a
 * command to run, each text formatted; subject sets d's subject to
 * "[rekey <app>] " and the formatted text, on one line, bounded.
 */
void heading(struct doc *d, const char *title);
void para(struct doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fact(struct doc *d, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void command(struct doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void subject(struct doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
