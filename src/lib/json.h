/*
 * json: what rekey needs around cJSON that cJSON does not do itself.
 */
#ifndef REKEY_LIB_JSON_H
#define REKEY_LIB_JSON_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/*
 * Parses the n bytes at p as one JSON value followed by nothing but
 * whitespace (cJSON on its own stops after the value and ignores the rest).
 * NULL when they are not; caller deletes the tree.
 */
cJSON *json_parse_whole(const char *p, size_t n);

/*
 * A JSON object of at most max_len bytes and max_depth levels, the whole
 * of body.  NULL and *err (caller frees) otherwise.
 */
cJSON *json_parse_object(const char *body, size_t len, size_t max_len, int max_depth, char **err);

/*
 * The string member name of at most max bytes, copied into *out (caller
 * frees); *out = NULL when absent or null, which is an error (-1, *err) only
 * when required, as is an empty string then.  0 or -1.
 */
int json_get_str(const cJSON *obj, const char *name, size_t max, int required, char **out,
    char **err);

/*
 * The integer member name, at least 0 and exact in a double, into *out;
 * absent when the member is missing or null.  0, or -1 and *err.
 */
int json_get_uint(const cJSON *obj, const char *name, int64_t absent, int64_t *out, char **err);

/* The string member name of obj (borrowed from the tree), or dflt when absent or not a string. */
const char *json_str_or(const cJSON *obj, const char *name, const char *dflt);

/* 1 when the JSON text nests no deeper than max (strings are skipped). */
int json_depth_ok(const char *json, size_t len, int max);

#endif
