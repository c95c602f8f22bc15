/*
 * config_placeholders: the example config's placeholders, found before a
 * value is parsed (so that "REPLACE-ME" in a URL is reported as what it is,
 * not as a bad URL).  Two kinds: any value that holds REPLACE-ME (in any
 * case, since host names are often lower-cased), and an id made of zeros
 * (the nil GUID), which Entra ID and Nylas never hand out.  The ids' fixes
 * say where the real value is shown.
 */
#include "state/config_placeholders.h"
#include "lib/util.h"
#include "state/config_parser.h"

#include <stddef.h>
#include <string.h>
#include <strings.h>

/* The keys that hold an id, and where the right value is found. */
static const struct {
	const char *key;
	const char *fix;
} id_keys[] = {
	{ "azure_tenant_id", "set azure_tenant_id to the Directory (tenant) ID of the app "
	    "registration (az account show --query tenantId -o tsv)" },
	{ "azure_client_id", "set azure_client_id to the Application (client) ID of the app "
	    "registration Nylas signs users in with (az ad app list --display-name NAME "
	    "--query [].appId -o tsv)" },
	{ "azure_app_object_id", "set azure_app_object_id to the Object ID of that app "
	    "registration (az ad app show --id APPID --query id -o tsv), or leave it empty to "
	    "have rekey look it up" },
	{ "rotator_client_id", "set rotator_client_id to the Application (client) ID of the "
	    "registration rekey signs in as (the one holding the rotator certificate)" },
	{ "nylas_application_id", "set nylas_application_id to the application id shown in "
	    "the Nylas dashboard (App settings)" },
	{ "nylas_connector_credential_id", "set nylas_connector_credential_id to the id of the "
	    "connector credential, or leave it empty" },
};

static const char *
id_fix(const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(id_keys) / sizeof(id_keys[0]); i++)
		if (strcmp(id_keys[i].key, key) == 0)
			return id_keys[i].fix;
	return NULL;
}

/* Zeros and dashes only, as the nil GUID 00000000-0000-0000-0000-000000000000 or a bare 0. */
static int
all_zero(const char *v)
{
	return v[0] != '\0' && strspn(v, "0-") == strlen(v) && strchr(v, '0') != NULL;
}

/* 1 when v holds the mark, in any case. */
static int
holds_mark(const char *v)
{
	size_t n = strlen(CONFIG_PLACEHOLDER_MARK);

	for (; *v != '\0'; v++)
		if (strncasecmp(v, CONFIG_PLACEHOLDER_MARK, n) == 0)
			return 1;
	return 0;
}

char *
config_placeholder(const char *key, const char *v, int sensitive)
{
	const char *fix = id_fix(key);
	char shown[SHOWN_MAX + 4];

	/* Only an id: elsewhere 0 is a value (a duration, a count). */
	if (fix != NULL && all_zero(v))
		return xasprintf("%s is the placeholder %s, which is no one's id; fix: %s", key,
		    config_shown(v, shown, sizeof(shown)), fix);
	if (!holds_mark(v))
		return NULL;
	if (sensitive)
		return xasprintf("%s still holds the example config's placeholder "
		    CONFIG_PLACEHOLDER_MARK "; fix: set your own value (docs/setup.md), or "
		    "leave it empty if you do not use it", key);
	return xasprintf("%s = %s still holds the example config's placeholder "
	    CONFIG_PLACEHOLDER_MARK "; fix: %s", key, config_shown(v, shown, sizeof(shown)), fix != NULL ? fix :
	    "set your own value (docs/setup.md), or leave it empty if you do not use it");
}
