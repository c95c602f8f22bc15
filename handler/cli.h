/*
 * cli: what main.c shares with the commands kept in handler/cli_*.c (main.c
 * has room for no more): loading the config and opening the store the way
 * every command does, and the commands themselves.
 */
#ifndef REKEY_HANDLER_CLI_H
#define REKEY_HANDLER_CLI_H

struct config;
struct store;

/* The config at path, or NULL with each "FILE:LINE: message" printed on stderr. */
struct config *load_or_report(const char *path);
/*
 * The config and its store, or -1 when reported.  With must_exist (commands
 * on what the daemon wrote), a store that is not there yet is reported, not
 * created empty.
 */
int open_state(const char *path, int must_exist, struct config **cfg, struct store **st);
void close_state(struct config *cfg, struct store *st);

/* rekey backup -c FILE DEST [--force]: the exit status. */
int cli_store_backup(const char *path, const char *dest, int force);
/* rekey reseal -c FILE --new-key-file PATH: the exit status. */
int cli_store_reseal(const char *path, const char *new_key_file);

#endif
