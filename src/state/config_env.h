/*
 * config_env: phase 2 of loading, the environment's REKEY_* variables over
 * the file's slots.  For the config*.c files only.
 */
#ifndef REKEY_STATE_CONFIG_ENV_H
#define REKEY_STATE_CONFIG_ENV_H

struct parser;

/*
 * Applies one environment entry, "NAME=value": a REKEY_<SECTION>_<KEY> or
 * REKEY_APP_<NAME>_<KEY> replaces the slot it names; other names are ignored.
 * Run after phase 1, so that the app sections are known.
 */
void config_env_one(struct parser *p, const char *entry);

#endif
