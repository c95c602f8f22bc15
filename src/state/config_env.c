/*
 * config_env: phase 2 of loading, the environment.  A REKEY_<SECTION>_<KEY>
 * or REKEY_APP_<NAME>_<KEY> variable replaces the slot of the key it spells,
 * whatever the file said.
 */
#include "state/config_env.h"
#include "lib/util.h"
#include "state/config.h"
#include "state/config_keys.h"
#include "state/config_lex.h"
#include "state/config_parser.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

/* How a character of a section, app or key name appears in a variable name. */
static int
env_char(char c)
{
	return c == '-' ? '_' : toupper((unsigned char)c);
}

/* When s starts with word (as in a variable name) and '_', returns what follows; else NULL. */
static const char *
env_skip(const char *s, const char *word)
{
	for (; *word != '\0'; word++, s++)
		if (*s != env_char(*word))
			return NULL;
	return *s == '_' ? s + 1 : NULL;
}

static int
env_find_key(enum section_kind section, const char *rest)
{
	size_t i;
	const char *a, *b;

	for (i = 0; i < N_KEYS; i++) {
		if (config_keys[i].section != section)
			continue;
		for (a = config_keys[i].name, b = rest; *a != '\0' && *b == env_char(*a); a++, b++)
			;
		if (*a == '\0' && *b == '\0')
			return (int)i;
	}
	return -1;
}

static void
env_set(struct parser *p, struct slot *slot, const char *name, const char *value)
{
	char *v;

	if (strlen(value) > CONFIG_MAX_LINE) {
		config_report(p, slot->line, name, "value is longer than %d bytes", CONFIG_MAX_LINE);
		return;
	}
	v = xstrdup(value);
	free(slot->value);
	slot->value = xstrdup(config_trim(v));
	free(v);
	free(slot->env);
	slot->env = xstrdup(name);
}

/* REKEY_APP_<NAME>_<KEY>: the one app whose name and key it spells. */
static void
env_app(struct parser *p, const char *name, const char *after, const char *value)
{
	const char *rest;
	size_t i, found = 0, n = 0;
	int idx = -1, k;

	for (i = 0; i < p->cfg->n_apps; i++) {
		rest = env_skip(after, p->cfg->apps[i]->name);
		if (rest == NULL)
			continue;
		k = env_find_key(SEC_APP, rest);
		if (k < 0)
			continue;
		idx = k;
		found = i;
		n++;
	}
	if (n == 0)
		config_report(p, 0, name, "names no key of any [app NAME] section");
	else if (n > 1)
		config_report(p, 0, name, "matches more than one [app NAME] section");
	else
		env_set(p, &p->apps[found]->slots[idx], name, value);
}

static void
env_global(struct parser *p, enum section_kind kind, const char *name, const char *rest,
    const char *value)
{
	char buf[SHOWN_MAX + 4];
	int idx = env_find_key(kind, rest);
	size_t i;

	if (idx >= 0) {
		env_set(p, &p->global[idx], name, value);
		return;
	}
	config_shown(rest, buf, sizeof(buf));
	for (i = 0; buf[i] != '\0'; i++)
		buf[i] = (char)tolower((unsigned char)buf[i]);
	config_report(p, 0, name, "unknown key '%s' in [%s]", buf, config_section_names[kind]);
}

/* Variables outside REKEY_<SECTION>_ (REKEY_CONF, say) are not ours and are ignored. */
void
config_env_one(struct parser *p, const char *entry)
{
	const char *eq = strchr(entry, '='), *rest;
	enum section_kind kind;
	char *name;

	if (eq == NULL || strncmp(entry, "REKEY_", 6) != 0)
		return;
	name = xstrndup(entry, (size_t)(eq - entry));
	for (kind = SEC_SERVER; kind <= SEC_APP; kind++) {
		rest = env_skip(name + 6, config_section_names[kind]);
		if (rest == NULL)
			continue;
		if (kind == SEC_APP)
			env_app(p, name, rest, eq + 1);
		else
			env_global(p, kind, name, rest, eq + 1);
		break;
	}
	free(name);
}
