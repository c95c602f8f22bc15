/*
 * admin_client: the CLI's way to ask the running daemon, through its admin
 * API (listen address and admin token from the config), for what only the
 * daemon can do (rekey nylas register, rekey nylas rotate-webhook-secret),
 * or whether it runs at all (rekey reseal refuses while it does).
 * Blocking (libcurl easy): for the CLI only, never inside the daemon.
 */
#ifndef REKEY_OUTBOUND_ADMIN_CLIENT_H
#define REKEY_OUTBOUND_ADMIN_CLIENT_H

struct config;

/* How long the CLI waits for the daemon's answer (a register waits for Nylas's create). */
#define ADMIN_CLIENT_TIMEOUT_S 120

/*
 * POST {listen}/api/v1/{path} with body (JSON, may be NULL).  0 with
 * *status and *answer (the body, caller frees), or -1 and *err (caller
 * frees) when the daemon did not answer: not running, not reachable, or TLS
 * failed.
 */
int admin_client_post(const struct config *cfg, const char *path, const char *body,
    long *status, char **answer, char **err);

/* How long admin_client_listening waits for a connection. */
#define ADMIN_CLIENT_CONNECT_S 5

/*
 * 1 when something accepts connections at cfg->listen (a running daemon),
 * 0 when nothing does; *where is the URL tried (caller frees).
 */
int admin_client_listening(const struct config *cfg, char **where);

/* The URL the CLI uses to reach the daemon at cfg->listen; caller frees. */
char *admin_client_base(const struct config *cfg);

#endif
