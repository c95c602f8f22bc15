/*
 * doc: the parts of a notice's document and the subject (see notice/doc.h).
 */
#include "notice/doc.h"
#include "notice/clean.h"
#include "notice/notice.h"
#include "lib/util.h"

#include <stdarg.h>
#include <stdlib.h>

/* Bytes of a subject (RFC 5322 allows 998 per line; mail clients show far fewer). */
#define MAX_SUBJECT 200

/* ---- The document: one list of parts that every channel renders ---- */

void
doc_add_part(struct doc *d, enum doc_part_type type, const char *label, char *text)
{
	if (d->n_parts == d->cap) {
		d->cap = d->cap ? d->cap * 2 : 32;
		d->parts = xrealloc(d->parts, d->cap * sizeof(*d->parts));
	}
	d->parts[d->n_parts].type = type;
	d->parts[d->n_parts].label = label;
	d->parts[d->n_parts].text = text;
	d->n_parts++;
}

void
doc_free(struct doc *d)
{
	size_t i;

	for (i = 0; i < d->n_parts; i++)
		free(d->parts[i].text);
	free(d->parts);
	free(d->subject);
}

void
doc_heading(struct doc *d, const char *title)
{
	doc_add_part(d, DOC_PART_HEADING, NULL, xstrdup(title));
}

void
doc_para(struct doc *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	doc_add_part(d, DOC_PART_PARA, NULL, xvasprintf(fmt, ap));
	va_end(ap);
}

void
doc_fact(struct doc *d, const char *label, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	doc_add_part(d, DOC_PART_FACT, label, xvasprintf(fmt, ap));
	va_end(ap);
}

void
doc_command(struct doc *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	doc_add_part(d, DOC_PART_COMMAND, NULL, xvasprintf(fmt, ap));
	va_end(ap);
}

/* The subject: "[rekey <app>] " and the formatted text, bounded. */
void
doc_subject(struct doc *d, const char *fmt, ...)
{
	va_list ap;
	char *s, *all;

	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	all = xasprintf("[rekey %s] %s", d->n->app, s);
	d->subject = clean_text(all, MAX_SUBJECT, 1);
	free(all);
	free(s);
}
