#include "lib/json.h"
#include "lib/util.h"

#include <string.h>

cJSON *
json_parse_whole(const char *p, size_t n)
{
	const char *end = NULL;
	cJSON *root = cJSON_ParseWithLengthOpts(p, n, &end, 0);

	if (root == NULL)
		return NULL;
	while (end < p + n && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
		end++;
	if (end != p + n) {
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

cJSON *
json_parse_object(const char *body, size_t len, size_t max_len, int max_depth, char **err)
{
	cJSON *root;

	if (body == NULL || len == 0 || len > max_len) {
		*err = xstrdup("empty or oversized answer");
		return NULL;
	}
	if (!json_depth_ok(body, len, max_depth)) {
		*err = xstrdup("answer nested too deep");
		return NULL;
	}
	root = json_parse_whole(body, len);
	if (root == NULL || !cJSON_IsObject(root)) {
		*err = xstrdup(root == NULL ? "answer is not JSON" : "answer is not a JSON object");
		cJSON_Delete(root);
		return NULL;
	}
	return root;
}

int
json_get_str(const cJSON *obj, const char *name, size_t max, int required, char **out,
    char **err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	*out = NULL;
	if (v == NULL || cJSON_IsNull(v)) {
		if (required)
			*err = xasprintf("\"%s\" is missing", name);
		return required ? -1 : 0;
	}
	if (!cJSON_IsString(v) || v->valuestring == NULL ||
	    strlen(v->valuestring) > max || (required && v->valuestring[0] == '\0')) {
		*err = xasprintf("\"%s\" is not a string of at most %zu bytes", name, max);
		return -1;
	}
	*out = xstrdup(v->valuestring);
	return 0;
}

int
json_get_uint(const cJSON *obj, const char *name, int64_t absent, int64_t *out, char **err)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	*out = absent;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 9.0e15 ||
	    v->valuedouble != (double)(int64_t)v->valuedouble) {
		*err = xasprintf("\"%s\" must be a non-negative integer", name);
		return -1;
	}
	*out = (int64_t)v->valuedouble;
	return 0;
}

/*
 * The index just past the string whose opening quote is before i (len when
 * it does not end).  Whole runs without a quote or backslash are skipped with
 * memchr: most of a body's bytes are inside strings.
 */
static size_t
skip_string(const char *json, size_t len, size_t i)
{
	const char *quote, *esc;

	while (i < len) {
		quote = memchr(json + i, '"', len - i);
		if (quote == NULL)
			return len;
		esc = memchr(json + i, '\\', (size_t)(quote - json) - i);
		if (esc == NULL)
			return (size_t)(quote - json) + 1;
		i = (size_t)(esc - json) + 2;
	}
	return len;
}

int
json_depth_ok(const char *json, size_t len, int max)
{
	int depth = 0;
	size_t i = 0;

	while (i < len) {
		char c = json[i++];

		if (c == '"') {
			i = skip_string(json, len, i);
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				return 0;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return 1;
}

const char *
json_str_or(const cJSON *obj, const char *name, const char *dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	return cJSON_IsString(v) ? v->valuestring : dflt;
}
