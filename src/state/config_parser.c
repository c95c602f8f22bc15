/*
 * config_parser: the state of one load, shared by its phases: the raw value
 * of each key (its "slot") and every problem found, recorded with the line
 * or the environment variable it came from, then sorted and joined for the
 * caller of config_load.
 */
#include "state/config_parser.h"
#include "lib/util.h"
#include "state/config.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define CONFIG_MAX_ERRORS	1000		/* more than this is not worth reading */

static void vreport(struct parser *, int, const char *, const char *, va_list)
    __attribute__((format(printf, 4, 0)));

/* Records one problem; env names the environment variable it came from, if any. */
static void
vreport(struct parser *p, int line, const char *env, const char *fmt, va_list ap)
{
	struct config_error *e;
	char *msg;

	if (p->n_errs >= CONFIG_MAX_ERRORS) {
		p->too_many = 1;
		return;
	}
	msg = xvasprintf(fmt, ap);
	p->errs = xrealloc(p->errs, (p->n_errs + 1) * sizeof(*p->errs));
	e = &p->errs[p->n_errs];
	e->line = line;
	e->seq = p->n_errs++;
	if (env != NULL)
		e->text = xasprintf("%s:%d: %s (environment): %s", p->path, line, env, msg);
	else
		e->text = xasprintf("%s:%d: %s", p->path, line, msg);
	free(msg);
}

void
config_report(struct parser *p, int line, const char *env, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(p, line, env, fmt, ap);
	va_end(ap);
}

/* Reports at the place a value came from: its line, or its environment variable. */
void
config_report_slot(struct parser *p, const struct slot *slot, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(p, slot->line, slot->env, fmt, ap);
	va_end(ap);
}

/*
 * Records a warning, "FILE:LINE: warning: message", in the order found: the
 * config still loads, and whoever loaded it shows them (check prints them,
 * serve logs them).
 */
void
config_warn_slot(struct config *cfg, const char *path, const struct slot *slot, const char *fmt,
    ...)
{
	va_list ap;
	char *msg;

	if (cfg->n_warnings >= CONFIG_MAX_ERRORS)
		return;
	va_start(ap, fmt);
	msg = xvasprintf(fmt, ap);
	va_end(ap);
	cfg->warnings = xrealloc(cfg->warnings, (cfg->n_warnings + 1) * sizeof(*cfg->warnings));
	if (slot->env != NULL)
		cfg->warnings[cfg->n_warnings++] = xasprintf("%s:%d: warning: %s (environment): %s",
		    path, slot->line, slot->env, msg);
	else
		cfg->warnings[cfg->n_warnings++] = xasprintf("%s:%d: warning: %s", path,
		    slot->line, msg);
	free(msg);
}

static int
error_cmp(const void *a, const void *b)
{
	const struct config_error *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Every error, sorted by line, one per line of the result.  Caller frees. */
char *
config_join_errors(struct parser *p)
{
	size_t i, len = 0, off = 0;
	char *out, *more = NULL;

	qsort(p->errs, p->n_errs, sizeof(*p->errs), error_cmp);
	if (p->too_many)
		more = xasprintf("%s:0: too many errors; only the first %d are shown", p->path,
		    CONFIG_MAX_ERRORS);
	for (i = 0; i < p->n_errs; i++)
		len += strlen(p->errs[i].text) + 1;
	len += more ? strlen(more) + 1 : 0;
	out = xmalloc(len + 1);
	for (i = 0; i < p->n_errs; i++) {
		len = strlen(p->errs[i].text);
		memcpy(out + off, p->errs[i].text, len);
		off += len;
		out[off++] = '\n';
	}
	if (more != NULL) {
		len = strlen(more);
		memcpy(out + off, more, len);
		off += len + 1;
	}
	out[off > 0 ? off - 1 : 0] = '\0';
	free(more);
	return out;
}

/* A bounded, printable copy of s for an error message, in buf. */
const char *
config_shown(const char *s, char *buf, size_t size)
{
	size_t i, n = strlen(s);
	int cut = n > SHOWN_MAX;

	if (cut)
		n = SHOWN_MAX;
	if (n > size - 4)
		n = size - 4;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		buf[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	buf[i] = '\0';
	if (cut)
		memcpy(buf + i, "...", 4);
	return buf;
}

static void
free_slots(struct slot *slots)
{
	size_t i;

	for (i = 0; i < N_KEYS; i++) {
		free(slots[i].value);
		free(slots[i].env);
	}
}

void
config_parser_free(struct parser *p)
{
	size_t i;

	free_slots(p->global);
	for (i = 0; i < p->n_apps; i++) {
		free_slots(p->apps[i]->slots);
		free(p->apps[i]);
	}
	free(p->apps);
	for (i = 0; i < p->n_errs; i++)
		free(p->errs[i].text);
	free(p->errs);
}
