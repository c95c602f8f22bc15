/*
 * config_cross: phase 4 of loading, the keys that go together: the TLS pair,
 * at least one app, the notification channels' groups, an app's times and
 * its re-authentication link.  Each problem is reported where a key of it
 * was set.
 */
#include "state/config_cross.h"
#include "state/config.h"
#include "state/config_keys.h"
#include "state/config_parser.h"
#include "state/config_values.h"

#include <string.h>

static const struct slot *
slot_of(const struct slot *slots, enum section_kind section, const char *name)
{
	return &slots[config_find_key(section, name)];
}

/* Where a key was given: its slot when the file or environment set it, else NULL. */
static const struct slot *
given(const struct slot *slots, enum section_kind section, const char *name)
{
	const struct slot *s = slot_of(slots, section, name);

	return s->line != 0 || s->env != NULL ? s : NULL;
}

static void
check_app_times(struct parser *p, size_t a)
{
	const struct config_app *app = p->cfg->apps[a];
	const struct slot *s;
	char x[32], y[32];

	/* 0 means the value was bad and has been reported already. */
	if (app->rotate_before == 0 || app->secret_lifetime == 0 ||
	    app->rotate_before < app->secret_lifetime)
		return;
	s = given(p->apps[a]->slots, SEC_APP, "secret_lifetime");
	if (s == NULL)
		s = given(p->apps[a]->slots, SEC_APP, "rotate_before");
	if (s == NULL)
		return;
	config_report_slot(p, s, "rotate_before (%s) must be shorter than secret_lifetime (%s), or "
	    "every poll would rotate", config_format_duration(app->rotate_before, x, sizeof(x)),
	    config_format_duration(app->secret_lifetime, y, sizeof(y)));
}

/*
 * Keys that only make sense together: each one given needs the others of
 * its group.  With needs_first, only the first key needs the rest.
 */
static void
check_group(struct parser *p, const struct slot *slots, enum section_kind section,
    const char *const *names, int needs_first, const char *what)
{
	const struct slot *s;
	size_t i, j;

	for (i = 0; names[i] != NULL && (!needs_first || i == 0); i++) {
		if ((s = given(slots, section, names[i])) == NULL)
			continue;
		for (j = 0; names[j] != NULL; j++)
			if (given(slots, section, names[j]) == NULL)
				config_report_slot(p, s, "%s is set but %s is not; %s",
				    names[i], names[j], what);
	}
}

static void
check_notify(struct parser *p)
{
	static const char *const smtp[] = { "smtp_url", "smtp_from", NULL };
	static const char *const auth[] = { "smtp_user", "smtp_password_file", NULL };
	static const char *const hook[] = { "webhook_url", "webhook_secret_file", NULL };
	static const char *const hook_file[] = { "webhook_url_file", "webhook_secret_file", NULL };

	check_group(p, p->global, SEC_NOTIFY, smtp, 1, "email needs the sender address");
	check_group(p, p->global, SEC_NOTIFY, auth, 0, "SMTP authentication needs both");
	check_group(p, p->global, SEC_NOTIFY, hook, 1, "the webhook channel signs every "
	    "message (Standard Webhooks) and needs both");
	check_group(p, p->global, SEC_NOTIFY, hook_file, 1, "the webhook channel signs every "
	    "message (Standard Webhooks) and needs both");
}

/* The template must lead each user to a page of the app, with their address in it. */
static void
check_reauth_template(struct parser *p, size_t a)
{
	const char *t = p->cfg->apps[a]->reauth_url_template;
	const struct slot *s = given(p->apps[a]->slots, SEC_APP, "reauth_url_template");

	if (t == NULL || s == NULL)
		return;
	if (strncmp(t, "https://", 8) != 0 && strncmp(t, "http://", 7) != 0)
		config_report_slot(p, s, "reauth_url_template must be an http(s) URL");
	else if (strstr(t, "{email}") == NULL)
		config_report_slot(p, s, "reauth_url_template must contain {email}");
	else if (strpbrk(t, " \t\r\n<>\"") != NULL)
		config_report_slot(p, s, "reauth_url_template must not contain spaces, quotes or angle brackets");
}

void
config_check_cross(struct parser *p)
{
	const struct config *cfg = p->cfg;
	size_t a;

	/* Neither has a default, so a value comes from the line or variable of its slot. */
	if (cfg->tls_cert != NULL && cfg->tls_key == NULL)
		config_report_slot(p, slot_of(p->global, SEC_SERVER, "tls_cert"),
		    "tls_cert is set but tls_key is not; set both or neither");
	if (cfg->tls_key != NULL && cfg->tls_cert == NULL)
		config_report_slot(p, slot_of(p->global, SEC_SERVER, "tls_key"),
		    "tls_key is set but tls_cert is not; set both or neither");
	if (cfg->n_apps == 0)
		config_report(p, 0, NULL, "no [app NAME] section");
	check_notify(p);
	for (a = 0; a < cfg->n_apps; a++) {
		check_app_times(p, a);
		check_reauth_template(p, a);
	}
}
