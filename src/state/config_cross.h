/*
 * config_cross: phase 4 of loading, the checks of keys that go together.
 * For the config*.c files only.
 */
#ifndef REKEY_STATE_CONFIG_CROSS_H
#define REKEY_STATE_CONFIG_CROSS_H

struct parser;

/* Reports the keys of p->cfg that need another one, or contradict it (run after phase 3). */
void config_check_cross(struct parser *p);

#endif
