/*
 * preflight: the checks of a loaded config that need no network, for
 * `rekey check` and the "config and files" part of `rekey doctor`: key and
 * certificate pairs, certificate dates, the store url, placeholder ids and
 * secret file modes.  Each check reports one line through a callback.
 */
#ifndef REKEY_ENGINE_PREFLIGHT_H
#define REKEY_ENGINE_PREFLIGHT_H

#include <stdint.h>

struct config;

enum preflight_level { PREFLIGHT_OK, PREFLIGHT_WARN, PREFLIGHT_FAIL };

/* One check's outcome; every string is valid only during the callback. */
struct preflight_line {
	enum preflight_level level;
	const char *app;	/* the app section, or NULL for a global check */
	const char *check;	/* short name: "rotator key matches certificate" */
	const char *seen;	/* what was found, one sentence, never secret material */
	const char *fix;	/* the exact fix, or NULL when ok */
	const char *file;	/* config file and line of the key concerned, or NULL */
	int line;
};

typedef void (*preflight_cb)(const struct preflight_line *l, void *arg);

/* Runs every offline check of cfg (app = NULL: all apps), one cb per check; the worst level. */
enum preflight_level preflight_offline(const struct config *cfg, const char *app, int64_t now,
    preflight_cb cb, void *arg);

#endif
