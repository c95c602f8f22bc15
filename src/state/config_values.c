/*
 * config_values: phase 3 of loading, the values.  Each slot, or its row's
 * default, is parsed by its key's type (duration, size, URL, list...) and
 * checked against its bounds, into its field of struct config or struct
 * config_app.
 */
#include "state/config_values.h"
#include "lib/util.h"
#include "state/config.h"
#include "state/config_keys.h"
#include "state/config_lex.h"
#include "state/config_parser.h"
#include "state/config_placeholders.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define CONFIG_MAX_WARN		32		/* warn_before thresholds */

/* ", got 'VALUE'" for a message, or nothing when the key may hold a credential. */
static const char *
got(const struct config_key *k, const char *value, char *buf, size_t size)
{
	char tmp[SHOWN_MAX + 4];

	if (k->flags & KEY_SENSITIVE) {
		buf[0] = '\0';
		return buf;
	}
	snprintf(buf, size, ", got '%s'", config_shown(value, tmp, sizeof(tmp)));
	return buf;
}

static int
parse_bool(const char *v, int *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

static int
word_index(const char *const *words, const char *v)
{
	int i;

	for (i = 0; words[i] != NULL; i++)
		if (strcmp(words[i], v) == 0)
			return i;
	return -1;
}

/* "a, b or c" for messages. */
char *
config_word_list(const char *const *words)
{
	char *s = xstrdup(""), *t;
	int i;

	for (i = 0; words[i] != NULL; i++) {
		t = xasprintf("%s%s%s", s, i == 0 ? "" : words[i + 1] == NULL ? " or " : ", ",
		    words[i]);
		free(s);
		s = t;
	}
	return s;
}

/* Decimal digits, then at most one unit letter from units with its multiplier. */
static int
parse_scaled(const char *s, const char *units, const int64_t *mult, int64_t *out)
{
	int64_t v = 0, m = 1;
	const char *u;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		if (v > (INT64_MAX - (*s - '0')) / 10)
			return -1;
		v = v * 10 + (*s - '0');
	}
	if (*s != '\0') {
		u = strchr(units, *s);
		if (u == NULL || s[1] != '\0')
			return -1;
		m = mult[u - units];
	}
	if (v > INT64_MAX / m)
		return -1;
	*out = v * m;
	return 0;
}

int
config_parse_duration(const char *s, int64_t *out)
{
	static const int64_t mult[] = { 1, MINUTE, HOUR, DAY, WEEK };

	return parse_scaled(s, "smhdw", mult, out);
}

/* Bytes, or KiB and MiB multiples with k/K and m/M. */
static int
parse_size(const char *s, int64_t *out)
{
	static const int64_t mult[] = { KIB, KIB, MIB, MIB };

	return parse_scaled(s, "kKmM", mult, out);
}

/* "30d", "2w", "90s": the largest unit that divides secs. */
const char *
config_format_duration(int64_t secs, char *buf, size_t size)
{
	static const int64_t mult[] = { WEEK, DAY, HOUR, MINUTE, 1 };
	static const char units[] = "wdhms";
	size_t i;

	for (i = 0; i < sizeof(mult) / sizeof(mult[0]); i++)
		if (secs != 0 && secs % mult[i] == 0)
			break;
	if (i == sizeof(mult) / sizeof(mult[0]))
		i--;
	snprintf(buf, size, "%lld%c", (long long)(secs / mult[i]), units[i]);
	return buf;
}

/* A bounded duration, or a message (caller frees). */
static char *
duration_value(const struct config_key *k, const char *v, int64_t *out)
{
	char g[SHOWN_MAX + 16], lo[32], hi[32];

	if (config_parse_duration(v, out) == -1)
		return xasprintf("%s: expected a duration like 90s, 15m, 1h, 30d or 2w%s", k->name,
		    got(k, v, g, sizeof(g)));
	if (*out < k->min || *out > k->max)
		return xasprintf("%s: must be from %s to %s%s", k->name,
		    config_format_duration(k->min, lo, sizeof(lo)),
		    config_format_duration(k->max, hi, sizeof(hi)),
		    got(k, v, g, sizeof(g)));
	return NULL;
}

static int
valid_hostport(const char *v)
{
	const char *colon = strrchr(v, ':'), *c;
	unsigned char addr[16];
	char host[INET6_ADDRSTRLEN + 1];
	size_t hlen;
	int64_t port;

	if (colon == NULL || colon == v || colon[1] == '\0')
		return 0;
	for (c = colon + 1; *c != '\0'; c++)
		if (!isdigit((unsigned char)*c))
			return 0;
	if (util_parse_int64(colon + 1, 0, 65535, &port) == -1)
		return 0;
	hlen = (size_t)(colon - v);
	if (v[0] == '[') {
		if (hlen < 3 || v[hlen - 1] != ']' || hlen - 2 >= sizeof(host))
			return 0;
		memcpy(host, v + 1, hlen - 2);
		host[hlen - 2] = '\0';
		return inet_pton(AF_INET6, host, addr) == 1;
	}
	for (c = v; c < colon; c++)
		if (*c == ':' || *c == '[' || *c == ']' || isspace((unsigned char)*c) ||
		    iscntrl((unsigned char)*c))
			return 0;
	return 1;
}

int
config_valid_url(const char *const *schemes, const char *v)
{
	const char *c;
	size_t i, n;

	for (i = 0; schemes[i] != NULL; i++) {
		n = strlen(schemes[i]);
		if (strncasecmp(v, schemes[i], n) != 0 || v[n] == '\0')
			continue;
		for (c = v + n; *c != '\0'; c++)
			if (isspace((unsigned char)*c) || iscntrl((unsigned char)*c))
				return 0;
		return 1;
	}
	return 0;
}

static int
valid_email(const char *v)
{
	const char *at = strchr(v, '@'), *c;

	if (at == NULL || at == v || at[1] == '\0' || strchr(at + 1, '@') != NULL)
		return 0;
	for (c = v; *c != '\0'; c++)
		if (isspace((unsigned char)*c) || iscntrl((unsigned char)*c) || *c == '<' ||
		    *c == '>' || *c == ',')
			return 0;
	return 1;
}

/* Splits at commas into trimmed copies, empty ones included.  Caller frees. */
static char **
split_list(const char *v, size_t *n)
{
	char **items = NULL, *copy;
	const char *s = v, *comma;
	size_t count = 0;

	for (;;) {
		comma = strchr(s, ',');
		copy = comma != NULL ? xstrndup(s, (size_t)(comma - s)) : xstrdup(s);
		items = xrealloc(items, (count + 1) * sizeof(*items));
		items[count] = xstrdup(config_trim(copy));
		free(copy);
		count++;
		if (comma == NULL)
			break;
		s = comma + 1;
	}
	*n = count;
	return items;
}

static int
int64_desc(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x > y ? -1 : x < y;
}

static char *
set_duration_list(const struct config_key *k, void *field, size_t *count, const char *v)
{
	size_t i, n, out = 0;
	char **items = split_list(v, &n);
	int64_t *d;
	char *msg = NULL;

	if (n > CONFIG_MAX_WARN) {
		util_strings_free(items, n);
		return xasprintf("%s: at most %d values", k->name, CONFIG_MAX_WARN);
	}
	d = xcalloc(n, sizeof(*d));
	for (i = 0; i < n && msg == NULL; i++)
		msg = duration_value(k, items[i], &d[i]);
	util_strings_free(items, n);
	if (msg != NULL) {
		free(d);
		return msg;
	}
	qsort(d, n, sizeof(*d), int64_desc);
	for (i = 0; i < n; i++)
		if (out == 0 || d[out - 1] != d[i])
			d[out++] = d[i];
	*(int64_t **)field = d;
	*count = out;
	return NULL;
}

static char *
set_email_list(const struct config_key *k, void *field, size_t *count, const char *v)
{
	char g[SHOWN_MAX + 16];
	size_t i, n;
	char **items = split_list(v, &n);

	for (i = 0; i < n; i++) {
		if (!valid_email(items[i])) {
			char *msg = xasprintf("%s: expected comma-separated email addresses%s",
			    k->name, got(k, items[i], g, sizeof(g)));

			util_strings_free(items, n);
			return msg;
		}
	}
	*(char ***)field = items;
	*count = n;
	return NULL;
}

static char *
set_cidr_list(const struct config_key *k, void *field, size_t *count, const char *v)
{
	char g[SHOWN_MAX + 16];
	size_t i, n;
	char **items = split_list(v, &n);
	struct cidr *c = xcalloc(n, sizeof(*c));

	for (i = 0; i < n; i++) {
		if (config_parse_cidr(items[i], &c[i]) == -1) {
			char *msg = xasprintf("%s: expected comma-separated networks like "
			    "10.0.0.0/8 or ::1/128%s", k->name, got(k, items[i], g, sizeof(g)));

			util_strings_free(items, n);
			free(c);
			return msg;
		}
	}
	util_strings_free(items, n);
	*(struct cidr **)field = c;
	*count = n;
	return NULL;
}

static char *
set_number(const struct config_key *k, int64_t *field, const char *v)
{
	char g[SHOWN_MAX + 16];
	int64_t n;

	switch (k->type) {
	case KT_INT:
		if (util_parse_int64(v, k->min, k->max, &n) == -1 || !isdigit((unsigned char)*v))
			return xasprintf("%s: expected an integer from %lld to %lld%s", k->name,
			    (long long)k->min, (long long)k->max, got(k, v, g, sizeof(g)));
		break;
	case KT_SIZE:
		if (parse_size(v, &n) == -1)
			return xasprintf("%s: expected a size like 1048576 or 1m%s", k->name,
			    got(k, v, g, sizeof(g)));
		if (n < k->min || n > k->max)
			return xasprintf("%s: must be from %lld to %lld bytes%s", k->name,
			    (long long)k->min, (long long)k->max, got(k, v, g, sizeof(g)));
		break;
	default:
		return duration_value(k, v, field);
	}
	*field = n;
	return NULL;
}

static char *
set_choice(const struct config_key *k, void *field, const char *v)
{
	char g[SHOWN_MAX + 16], *words, *msg;
	int i;

	if (k->type == KT_BOOL) {
		if (parse_bool(v, (int *)field) == -1)
			return xasprintf("%s: expected yes or no%s", k->name, got(k, v, g, sizeof(g)));
		return NULL;
	}
	i = word_index(k->words, v);
	if (i >= 0) {
		if (k->type == KT_ENUM)
			*(int *)field = i;
		else
			*(char **)field = xstrdup(v);
		return NULL;
	}
	words = config_word_list(k->words);
	msg = xasprintf("%s: expected %s%s", k->name, words, got(k, v, g, sizeof(g)));
	free(words);
	return msg;
}

static char *
set_string(const struct config_key *k, char **field, const char *v)
{
	char g[SHOWN_MAX + 16], *schemes, *msg;

	if (k->type == KT_HOSTPORT && !valid_hostport(v))
		return xasprintf("%s: expected host:port like 127.0.0.1:8443 or [::1]:8443%s",
		    k->name, got(k, v, g, sizeof(g)));
	if (k->type == KT_URL && !config_valid_url(k->words, v)) {
		schemes = config_word_list(k->words);
		msg = xasprintf("%s: expected a URL starting with %s%s", k->name, schemes,
		    got(k, v, g, sizeof(g)));
		free(schemes);
		return msg;
	}
	if (k->type == KT_STRING && k->max > 0 && strlen(v) > (size_t)k->max)
		return xasprintf("%s: at most %lld characters%s", k->name, (long long)k->max,
		    got(k, v, g, sizeof(g)));
	*field = xstrdup(v);
	return NULL;
}

/* Parses v into the field of k in base; NULL, or a message (caller frees). */
static char *
set_value(const struct config_key *k, void *base, const char *v)
{
	void *field = (char *)base + k->offset;
	size_t *count = (size_t *)((char *)base + k->count_offset);

	switch (k->type) {
	case KT_STRING:
	case KT_URL:
	case KT_HOSTPORT:
	case KT_PATH:
	case KT_SECRET_FILE:
		return set_string(k, field, v);
	case KT_WORD:
	case KT_BOOL:
	case KT_ENUM:
		return set_choice(k, field, v);
	case KT_INT:
	case KT_DURATION:
	case KT_SIZE:
		return set_number(k, field, v);
	case KT_DURATION_LIST:
		return set_duration_list(k, field, count, v);
	case KT_EMAIL_LIST:
		return set_email_list(k, field, count, v);
	case KT_CIDR_LIST:
		return set_cidr_list(k, field, count, v);
	case KT_IGNORED:
		break;
	}
	return NULL;
}

/* An empty value means "not set": the default applies, if there is one. */
static void
apply_key(struct parser *p, const struct config_key *k, void *base, const struct slot *slot,
    int header_line, const char *label)
{
	const char *v = slot->value != NULL && *slot->value != '\0' ? slot->value : k->def;
	char *msg;

	if (k->type == KT_IGNORED) {
		if (v != NULL)
			config_warn_slot(p->cfg, p->path, slot, "%s: ignored: %s", k->name, k->why_ignored);
		return;
	}
	if (v == NULL) {
		if (k->flags & KEY_REQUIRED)
			config_report(p, header_line, NULL, "missing required key '%s' in %s", k->name,
			    label);
		return;
	}
	/* A value given, not a default: a placeholder is reported rather than parsed. */
	msg = v == slot->value ? config_placeholder(k->name, v, (k->flags & KEY_SENSITIVE) != 0) :
	    NULL;
	if (msg == NULL)
		msg = set_value(k, base, v);
	if (msg != NULL) {
		config_report_slot(p, slot, "%s", msg);
		free(msg);
	}
}

void
config_apply_all(struct parser *p)
{
	char label[CONFIG_MAX_LINE + 16];
	struct config_app *app;
	size_t i, a;

	for (i = 0; i < N_KEYS; i++) {
		if (config_keys[i].section == SEC_APP)
			continue;
		config_section_label(config_keys[i].section, NULL, label, sizeof(label));
		apply_key(p, &config_keys[i], p->cfg, &p->global[i],
		    p->header_line[config_keys[i].section], label);
	}
	for (a = 0; a < p->cfg->n_apps; a++) {
		app = p->cfg->apps[a];
		config_section_label(SEC_APP, app->name, label, sizeof(label));
		for (i = 0; i < N_KEYS; i++)
			if (config_keys[i].section == SEC_APP)
				apply_key(p, &config_keys[i], app, &p->apps[a]->slots[i],
				    p->apps[a]->line, label);
	}
}
