/*
 * config_load: a config file, or its text, loaded into a struct config
 * (config.h), with every problem reported as "FILE:LINE: message".
 */
#ifndef REKEY_STATE_CONFIG_LOAD_H
#define REKEY_STATE_CONFIG_LOAD_H

#include <stddef.h>

#include "state/config.h"

/*
 * Loads and validates path, applying environment overrides from envp (NULL
 * means the process environment).  On success returns the config.  On
 * failure returns NULL and sets *errors to a newline-separated list of every
 * problem, each "FILE:LINE: message" (caller frees).
 */
struct config *config_load(const char *path, char **errors);

/* Same as config_load but parses text already in memory (for tests and fuzzing); secrets files are still read. */
struct config *config_parse(const char *path, const char *text, size_t len,
    char *const *envp, char **errors);

#endif
