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

enum doc_part_type {
	DOC_PART_HEADING,	/* a section's title */
	DOC_PART_PARA,		/* a paragraph */
	DOC_PART_FACT,		/* label: value */
	DOC_PART_ITEM,		/* an item of a list (evidence) */
	DOC_PART_COMMAND,	/* a command to run, shown as code */
	DOC_PART_LINK,		/* a link on its own line; label says what it does */
};

struct doc_part {
	enum doc_part_type type;
	const char *label;	/* static text */
	char *text;		/* owned */
};

struct doc {
	const struct notice *n;	/* cleaned */
	const struct clean *c;
	struct doc_part *parts;
	size_t n_parts, cap;
	char *subject;
};

/* Appends a part; label is static text, text is taken over (doc_free frees it). */
void doc_add_part(struct doc *d, enum doc_part_type type, const char *label, char *text);
/* Frees d's parts and subject (not d itself, nor its notice). */
void doc_free(struct doc *d);

/*
 * Append a heading (title copied), a paragraph, a fact "label: value" and a
 * command to run, each text formatted; doc_subject sets d's subject to
 * "[rekey <app>] " and the formatted text, on one line, bounded.
 */
void doc_heading(struct doc *d, const char *title);
void doc_para(struct doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void doc_fact(struct doc *d, const char *label, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void doc_command(struct doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void doc_subject(struct doc *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
