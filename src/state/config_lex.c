/*
 * config_lex: phase 1 of loading, the file.  Its text is cut into lines,
 * comments and blanks dropped, and each "key = value" kept raw in the slot
 * of its key in its section ([server], [app NAME]...).  Values are parsed
 * later (config_values.c), so a bad value does not hide the next problem.
 */
#include "state/config_lex.h"
#include "lib/util.h"
#include "state/config.h"
#include "state/config_keys.h"
#include "state/config_parser.h"

#include <ctype.h>
#include <string.h>

#define CONFIG_MAX_APPS		256

char *
config_trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	return s;
}

/* Cuts a comment: '#' or ';' at the start of the line or after whitespace. */
static void
strip_comment(char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if ((s[i] == '#' || s[i] == ';') && (i == 0 || isspace((unsigned char)s[i - 1]))) {
			s[i] = '\0';
			return;
		}
	}
}

static int
valid_app_name(const char *name)
{
	const char *c;

	if (*name == '\0')
		return 0;
	for (c = name; *c != '\0'; c++)
		if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-')
			return 0;
	return 1;
}

static void
add_app(struct parser *p, int line, const char *name)
{
	struct config *cfg = p->cfg;
	struct config_app *app = xcalloc(1, sizeof(*app));

	app->name = xstrdup(name);
	cfg->apps = xrealloc(cfg->apps, (cfg->n_apps + 1) * sizeof(*cfg->apps));
	p->apps = xrealloc(p->apps, (cfg->n_apps + 1) * sizeof(*p->apps));
	p->apps[cfg->n_apps] = xcalloc(1, sizeof(**p->apps));
	p->apps[cfg->n_apps]->line = line;
	p->n_apps = cfg->n_apps + 1;
	cfg->apps[cfg->n_apps] = app;
	p->cur = SEC_APP;
	p->cur_app = cfg->n_apps++;
}

static void
app_header(struct parser *p, int line, const char *name)
{
	char buf[SHOWN_MAX + 4];
	size_t i;

	p->cur = SEC_BAD;
	if (*name == '\0') {
		config_report(p, line, NULL, "an app section needs a name: [app NAME]");
		return;
	}
	if (!valid_app_name(name)) {
		config_report(p, line, NULL, "app name '%s' may hold only letters, digits, '_' and '-'",
		    config_shown(name, buf, sizeof(buf)));
		return;
	}
	for (i = 0; i < p->cfg->n_apps; i++) {
		if (strcmp(p->cfg->apps[i]->name, name) == 0) {
			config_report(p, line, NULL, "duplicate app name '%s' (first at line %d)", name,
			    p->apps[i]->line);
			return;
		}
	}
	if (p->cfg->n_apps >= CONFIG_MAX_APPS) {
		config_report(p, line, NULL, "more than %d [app NAME] sections", CONFIG_MAX_APPS);
		return;
	}
	add_app(p, line, name);
}

static void
section_header(struct parser *p, int line, char *s)
{
	char buf[SHOWN_MAX + 4];
	size_t n = strlen(s);
	enum section_kind kind;
	char *name;

	if (s[n - 1] != ']') {
		config_report(p, line, NULL, "a section header must end with ']'");
		p->cur = SEC_BAD;
		return;
	}
	s[n - 1] = '\0';
	name = config_trim(s + 1);
	for (kind = SEC_SERVER; kind < SEC_APP; kind++) {
		if (strcmp(name, config_section_names[kind]) == 0) {
			if (p->header_line[kind] == 0)
				p->header_line[kind] = line;
			p->cur = kind;
			return;
		}
	}
	if (strncmp(name, "app", 3) == 0 && (name[3] == '\0' || isspace((unsigned char)name[3]))) {
		app_header(p, line, config_trim(name + 3));
		return;
	}
	config_report(p, line, NULL, "unknown section [%s]", config_shown(name, buf, sizeof(buf)));
	p->cur = SEC_BAD;
}

static struct slot *
cur_slot(struct parser *p, size_t idx)
{
	if (p->cur == SEC_APP)
		return &p->apps[p->cur_app]->slots[idx];
	return &p->global[idx];
}

static void
key_value(struct parser *p, int line, char *s)
{
	char buf[SHOWN_MAX + 4], label[CONFIG_MAX_LINE + 16];
	char *eq = strchr(s, '='), *key;
	struct slot *slot;
	int idx;

	if (p->cur == SEC_BAD)
		return;
	if (eq == NULL) {
		config_report(p, line, NULL, "expected 'key = value' or a [section] header");
		return;
	}
	*eq = '\0';
	key = config_trim(s);
	if (*key == '\0') {
		config_report(p, line, NULL, "missing key name before '='");
		return;
	}
	if (p->cur == SEC_NONE) {
		config_report(p, line, NULL, "key '%s' is outside any section",
		    config_shown(key, buf, sizeof(buf)));
		return;
	}
	idx = config_find_key(p->cur, key);
	if (idx < 0) {
		config_report(p, line, NULL, "unknown key '%s' in %s", config_shown(key, buf, sizeof(buf)),
		    config_section_label(p->cur, p->cur == SEC_APP ? p->cfg->apps[p->cur_app]->name : "",
		    label, sizeof(label)));
		return;
	}
	slot = cur_slot(p, (size_t)idx);
	if (slot->line != 0) {
		config_report(p, line, NULL, "duplicate key '%s' (first at line %d)",
		    config_shown(key, buf, sizeof(buf)), slot->line);
		return;
	}
	slot->line = line;
	slot->value = xstrdup(config_trim(eq + 1));
}

static void
lex_line(struct parser *p, int line, char *buf)
{
	char *s;

	strip_comment(buf);
	s = config_trim(buf);
	if (*s == '\0')
		return;
	if (*s == '[')
		section_header(p, line, s);
	else
		key_value(p, line, s);
}

void
config_lex(struct parser *p, const char *text, size_t len)
{
	char buf[CONFIG_MAX_LINE + 1];
	const char *s = text, *end = text + len, *nl;
	int line = 0;
	size_t n;

	while (s < end) {
		line++;
		nl = memchr(s, '\n', (size_t)(end - s));
		n = nl != NULL ? (size_t)(nl - s) : (size_t)(end - s);
		if (n > CONFIG_MAX_LINE) {
			config_report(p, line, NULL, "line is longer than %d bytes", CONFIG_MAX_LINE);
		} else if (memchr(s, '\0', n) != NULL) {
			config_report(p, line, NULL, "line holds a NUL byte");
		} else {
			memcpy(buf, s, n);
			buf[n] = '\0';
			lex_line(p, line, buf);
		}
		s = nl != NULL ? nl + 1 : end;
	}
}
