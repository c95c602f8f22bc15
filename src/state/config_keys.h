/*
 * config_keys: the table of keys, config_keys[] (config.c), with the types
 * of its rows and the limits and units that the table and the loading
 * phases share.  For the config*.c files only: other modules read the
 * fields of struct config (config.h), never the table.
 */
#ifndef REKEY_STATE_CONFIG_KEYS_H
#define REKEY_STATE_CONFIG_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_LINE		4096		/* bytes in a line or an environment value */

#define KIB	1024LL
#define MIB	(1024LL * 1024)
#define MINUTE	60LL
#define HOUR	(60 * MINUTE)
#define DAY	(24 * HOUR)
#define WEEK	(7 * DAY)
#define YEAR	(365 * DAY)

enum section_kind {
	SEC_NONE,		/* before the first header: keys are errors */
	SEC_SERVER,
	SEC_STORE,
	SEC_OUTBOUND,
	SEC_NOTIFY,
	SEC_APP,
	SEC_BAD,		/* after a header already reported: keys are skipped */
};

/* The name of each section, indexed by enum section_kind ("" for none). */
extern const char *const config_section_names[];

enum key_type {
	KT_STRING,		/* char *, free text */
	KT_WORD,		/* char *, one of words[] */
	KT_URL,			/* char *, starting with one of words[] */
	KT_HOSTPORT,		/* char *, "host:port" or "[v6]:port" */
	KT_PATH,		/* char *, a file that must be readable */
	KT_SECRET_FILE,		/* char *, a file only we may read (secret_file_check) */
	KT_BOOL,		/* int */
	KT_ENUM,		/* int, the index of the value in words[] */
	KT_INT,			/* int64_t in [min, max] */
	KT_DURATION,		/* int64_t seconds in [min, max] */
	KT_SIZE,		/* int64_t bytes in [min, max] */
	KT_DURATION_LIST,	/* int64_t *, descending, each in [min, max] */
	KT_EMAIL_LIST,		/* char ** */
	KT_CIDR_LIST,		/* struct cidr * */
	KT_IGNORED,		/* nothing: an old key still accepted, with a warning (why_ignored) */
};

/* What is done with a secret file once it has passed secret_file_check. */
enum secret_load {
	LOAD_NONE,		/* nothing: another module reads it when it needs it */
	LOAD_FIRST_LINE,	/* its first line, at most secret_max bytes when that is set */
	LOAD_LINES,		/* every non-empty line */
	LOAD_MASTER_KEY,	/* 64 hex characters, kept as the 32 bytes they encode */
	LOAD_WHSEC,		/* checked to be "whsec_" and base64, then kept */
	LOAD_URL,		/* a URL (of words[] schemes) into the char * at secret_offset */
};

#define KEY_REQUIRED	0x1
#define KEY_SENSITIVE	0x2	/* the value may hold a credential: never quote it */

struct config_key {
	enum section_kind section;
	const char *name;
	enum key_type type;
	const char *def;		/* parsed like a value from the file; NULL: none */
	size_t offset;			/* the field in struct config or struct config_app */
	int64_t min, max;		/* bounds of numbers */
	int flags;
	const char *const *words;	/* KT_WORD, KT_ENUM: the values; KT_URL: the schemes */
	size_t count_offset;		/* lists: the size_t count beside the array */
	enum secret_load load;
	size_t secret_offset;		/* the struct secret * (or array) loaded */
	size_t secret_count_offset;	/* LOAD_LINES: its count */
	size_t secret_max;		/* LOAD_FIRST_LINE: longest value accepted; 0: any */
	size_t secret_min;		/* LOAD_FIRST_LINE: shortest value accepted; 0: any */
	const char *why_ignored;	/* KT_IGNORED: the warning's reason */
};

/* What config_key_where tells, kept from the slots once they are freed. */
struct config_origin {
	int line;		/* of the key, else of its section's header, else 0 */
	char *env;		/* the environment variable that replaced it, or NULL */
};

/*
 * The rows of config_keys[]: a constant because the loader's slot arrays
 * are sized by it.  config.c fails to compile when it is not their number.
 */
#define N_KEYS 79

/* Every key the file may set, one row each. */
extern const struct config_key config_keys[];

/* The row of name in section, or -1. */
int config_find_key(enum section_kind section, const char *name);

/* "[server]" or "[app prod]" for messages, in buf. */
const char *config_section_label(enum section_kind kind, const char *app, char *buf, size_t size);

#endif
