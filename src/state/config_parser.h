/*
 * config_parser: the state of one load, which the phases of config_load.c
 * share: the raw value of each key ("slot") and every problem found.  For
 * the config*.c files only.
 */
#ifndef REKEY_STATE_CONFIG_PARSER_H
#define REKEY_STATE_CONFIG_PARSER_H

#include <stddef.h>

#include "state/config_keys.h"

struct config;

#define SHOWN_MAX		64		/* bytes of a bad value quoted in an error */

/* The raw value of one key of one section, as the file or the environment gave it. */
struct slot {
	char *value;		/* NULL: not given */
	int line;		/* where the file sets it; 0: not in the file */
	char *env;		/* the environment variable that replaced it, or NULL */
};

/* The slots of one [app NAME] section, parallel to cfg->apps. */
struct app_slots {
	int line;		/* of the header */
	struct slot slots[N_KEYS];
};

struct config_error {
	int line;
	size_t seq;		/* keeps errors of one line in the order found */
	char *text;		/* "FILE:LINE: message" */
};

struct parser {
	const char *path;
	struct config *cfg;
	struct slot global[N_KEYS];
	int header_line[SEC_BAD + 1];	/* first header of each global section */
	struct app_slots **apps;	/* parallel to cfg->apps */
	size_t n_apps;
	enum section_kind cur;
	size_t cur_app;
	struct config_error *errs;
	size_t n_errs;
	int too_many;
};

/* Records one problem at line (0: none); env names its environment variable, or is NULL. */
void config_report(struct parser *, int, const char *, const char *, ...)
    __attribute__((format(printf, 4, 5)));
/* Records one problem where slot's value came from: its line, or its environment variable. */
void config_report_slot(struct parser *, const struct slot *, const char *, ...)
    __attribute__((format(printf, 3, 4)));
/* Records a warning in cfg->warnings: the config still loads. */
void config_warn_slot(struct config *, const char *, const struct slot *, const char *, ...)
    __attribute__((format(printf, 4, 5)));

/* Every error, sorted by line, one per line of the result.  Caller frees. */
char *config_join_errors(struct parser *p);

/* A bounded, printable copy of s (at most SHOWN_MAX bytes) for an error message, in buf. */
const char *config_shown(const char *s, char *buf, size_t size);

/* Frees what p holds (its slots and errors), not p itself nor p->cfg. */
void config_parser_free(struct parser *p);

#endif
