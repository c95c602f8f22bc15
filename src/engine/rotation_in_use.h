/*
 * rotation_in_use: which secret Nylas uses for an app, as rekey knows it
 * (the newest published rotation's, else current_secret_file), and its keyId
 * among the app's passwordCredentials.
 */
#ifndef REKEY_ENGINE_ROTATION_IN_USE_H
#define REKEY_ENGINE_ROTATION_IN_USE_H

struct config;
struct config_app;
struct graph_application;
struct secret;
struct store;

/*
 * The secret Nylas uses for app as rekey knows it: the newest published
 * rotation's secret (unsealed with master_key), else current_secret_file.
 * A new secret (caller frees), or NULL when rekey cannot tell.  *source (may
 * be NULL) says which: "published rotation <id>" or "current_secret_file".
 */
struct secret *rotation_in_use_secret(struct store *st, const struct config *cfg,
    const struct config_app *app, const char **source);

/*
 * The keyId of the in-use secret among a's passwordCredentials: the newest
 * published rotation's key when it is still listed, else the one whose hint
 * is the first 3 characters of current_secret_file.  NULL when it cannot be
 * told, with *why (static text) saying so ("no current_secret_file",
 * "2 credentials share hint abc", "no credential has hint abc").  Caller frees.
 */
char *rotation_in_use_key(struct store *st, const struct config_app *app,
    const struct graph_application *a, const char **why);

#endif
