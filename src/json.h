/*
 * json: what rekey needs around cJSON that cJSON does not do itself.
 */
#ifndef REKEY_JSON_H
#define REKEY_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

/*
 * Parses the n bytes at p as one JSON value followed by nothing but
 * whitespace (cJSON on its own stops after the value and ignores the rest).
 * NULL when they are not; caller deletes the tree.
 */
cJSON *json_parse_whole(const char *p, size_t n);

#endif
