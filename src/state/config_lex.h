/*
 * config_lex: phase 1 of loading, the file's text into slots.  For the
 * config*.c files only.
 */
#ifndef REKEY_STATE_CONFIG_LEX_H
#define REKEY_STATE_CONFIG_LEX_H

#include <stddef.h>

struct parser;

/*
 * Cuts text (len bytes, not NUL-terminated) into lines and fills the slots
 * of p, reporting what is wrong.
 */
void config_lex(struct parser *p, const char *text, size_t len);

/* Cuts the white space around s, in place; returns where s now starts. */
char *config_trim(char *s);

#endif
