/*
 * config_files: phase 5 of loading, the files the config names checked and
 * its secrets loaded.  For the config*.c files only.
 */
#ifndef REKEY_STATE_CONFIG_FILES_H
#define REKEY_STATE_CONFIG_FILES_H

struct parser;

/*
 * Checks every file of p->cfg (readable; a secret file only we may read)
 * and loads the secrets their rows name into p->cfg; reports each problem.
 */
void config_check_files(struct parser *p);

#endif
