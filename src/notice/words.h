/*
 * words: how the texts name things: the causes of an incident, the rotation
 * modes, times, counts, keys and shell words, and the rekey commands they
 * tell people to run.
 */
#ifndef REKEY_NOTICE_WORDS_H
#define REKEY_NOTICE_WORDS_H

#include <stdint.h>

struct doc;

#define WORDS_MS_PER_DAY 86400000LL
/* 9999-12-31T23:59:59Z: later times do not fit RFC 3339 (nor every gmtime). */
#define WORDS_MAX_TIME_MS 253402300799000LL

struct words_cause {
	const char *name;
	const char *title;	/* for subjects and facts */
	const char *phrase;	/* the same within a sentence */
	const char *what;	/* what it means, in a sentence or two */
	int secret;		/* a secret cause: rekey rotates */
	int user;		/* a user cause: on the user's side; nothing is rotated */
};

/* The cause called name, or NULL (name NULL or unknown). */
const struct words_cause *words_cause_find(const char *name);

enum words_mode {
	WORDS_MODE_UNSET,
	WORDS_MODE_AUTO,
	WORDS_MODE_APPROVE,
	WORDS_MODE_DRY_RUN,
	WORDS_MODE_UNKNOWN,
};

/*
 * The rotation_mode s names; WORDS_MODE_UNSET for NULL, WORDS_MODE_UNKNOWN
 * for any other name.
 */
enum words_mode words_mode_of(const char *s);

/* A short text returned by value: nothing to free. */
struct words_tstr {
	char s[32];
};

/* Unix ms as RFC 3339 UTC, "2026-07-01T00:00:00Z"; "unknown" past the year 9999. */
struct words_tstr words_rfc3339(int64_t ms);
/* "1 user", "312 users". */
struct words_tstr words_users(int64_t n);
/* "14 days", "1 day", "less than a day" from now_ms to end_ms (rounded down); "" once past. */
struct words_tstr words_days_left(int64_t end_ms, int64_t now_ms);
/* A length of time in its largest whole unit: "30 days", "12 hours", "90 seconds". */
struct words_tstr words_duration_s(int64_t s);
/* How long from a to b, roughly: "2 days 3 hours", "3 hours 12 minutes", "less than a minute". */
struct words_tstr words_elapsed(int64_t a_ms, int64_t b_ms);
/* "keyId K, hint abc…" from what is known (either may be NULL); caller frees. */
char *words_key(const char *key_id, const char *hint);
/* A key's short name for a subject: its hint, else its keyId's start, and "…"; caller frees. */
char *words_key_short(const char *key_id, const char *hint);
/* One word for a shell: as it is when it is plain, else in single quotes; caller frees. */
char *words_shell_word(const char *s);

/* Placeholders a reader replaces, shown as they are rather than quoted. */
extern const char words_config_placeholder[];
extern const char words_rotation_placeholder[];
/*
 * Adds "rekey <verb> -c <config> [arg]" as a command part, the config path
 * and arg quoted for a shell; arg may be NULL, or words_rotation_placeholder
 * itself (shown as it is).
 */
void words_rekey_command(struct doc *d, const char *verb, const char *arg);

#endif
