/*
 * rotation_publish: where a rotation publishes the new secret in Nylas (the
 * connector's settings or a connector credential), and with which tenant.
 */
#ifndef REKEY_ENGINE_ROTATION_PUBLISH_H
#define REKEY_ENGINE_ROTATION_PUBLISH_H

struct config_app;

enum publish_kind {
	PUBLISH_SETTINGS,		/* the connector's settings */
	PUBLISH_CREDENTIAL,		/* a connector credential */
};

/* Where a rotation publishes, and what it sends with the secret; borrowed strings. */
struct publish_target {
	enum publish_kind kind;
	const char *credential_id;	/* PUBLISH_CREDENTIAL */
	const char *source;		/* "settings", "config" or "active_credential_id" */
	const char *tenant;		/* sent with client_id and client_secret; NULL: none */
};

struct nylas_connector;
/*
 * Where app's new secrets go given the connector as Nylas shows it:
 * nylas_connector_credential_id, else its active_credential_id, else
 * settings, with the tenant Nylas holds (never the app's home tenant in its
 * place).  0 and *t (borrowing from app and c), or -1 and *why (caller frees)
 * when rekey cannot publish there without narrowing or dropping the tenant.
 */
int rotation_publish_target(const struct config_app *app, const struct nylas_connector *c,
    struct publish_target *t, char **why);

#endif
