/*
 * config_placeholders: values that parse but cannot be meant, the
 * placeholders of handler/rekey.conf.example (REPLACE-ME, the all-zero
 * GUID), refused while loading so that neither `rekey check` nor `rekey
 * serve` accepts a config that was copied and not filled in.
 */
#ifndef REKEY_STATE_CONFIG_PLACEHOLDERS_H
#define REKEY_STATE_CONFIG_PLACEHOLDERS_H

/* The mark of every placeholder of the example config that is not a GUID. */
#define CONFIG_PLACEHOLDER_MARK	"REPLACE-ME"

/*
 * Why the value v of the key named key is a placeholder, with the fix; NULL
 * when it is not one.  A credential's value is never quoted.  Caller frees.
 */
char *config_placeholder(const char *key, const char *v, int sensitive);

#endif
