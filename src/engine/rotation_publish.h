/*
 * rotation_publish: where a rotation publishes the new secret in Nylas (the
 * connector's settings or a connector credential), and with which tenant.
 */
#ifndef REKEY_ENGINE_ROTATION_PUBLISH_H
#define REKEY_ENGINE_ROTATION_PUBLISH_H

struct config_app;
struct nylas_connector;
struct publish_target;		/* state/rotation.h */

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
