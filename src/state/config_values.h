/*
 * config_values: phase 3 of loading, each slot (or its row's default)
 * parsed into its field, and the value syntaxes the other phases share.
 */
#ifndef REKEY_STATE_CONFIG_VALUES_H
#define REKEY_STATE_CONFIG_VALUES_H

#include <stddef.h>
#include <stdint.h>

struct parser;

/* Parses "90s", "15m", "1h", "30d", "2w" or a bare number of seconds; 0 or -1. */
int config_parse_duration(const char *s, int64_t *out);

/* Parses every slot of p, or its row's default, into its field of p->cfg; reports bad values. */
void config_apply_all(struct parser *p);

/* 1 when v starts with one of schemes (NULL-terminated) and holds no space or control character. */
int config_valid_url(const char *const *schemes, const char *v);

/* "a, b or c" from words (NULL-terminated), for messages.  Caller frees. */
char *config_word_list(const char *const *words);

/* "30d", "2w", "90s": secs in the largest unit that divides it, in buf. */
const char *config_format_duration(int64_t secs, char *buf, size_t size);

#endif
