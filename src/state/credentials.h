/*
 * credentials: an app's client secrets as the expiry poll last read them
 * from Graph, kept in the app's values for status, the correlator and the
 * alerts: password_credentials (a JSON array of {"key_id", "hint",
 * "display_name", "start", "end"}, times in RFC 3339), secrets_read_at,
 * in_use_key_id and in_use_why.  Also the secrets of the app's SERVICE
 * PRINCIPAL (the enterprise application in the tenant), which other
 * integrations may sign in with and rekey never rotates:
 * sp_password_credentials ({"at", "why", "list"}: list as above, null when
 * the last read failed and why says so).  This module alone writes and
 * parses them; the others ask it.
 */
#ifndef REKEY_STATE_CREDENTIALS_H
#define REKEY_STATE_CREDENTIALS_H

#include <stddef.h>
#include <stdint.h>

struct store;

/* One passwordCredentials entry: owned when loaded, borrowed when recorded. */
struct credential {
	char *key_id;		/* NULL when not known */
	char *hint;		/* the first 3 characters of the secret; NULL when not known */
	char *display_name;	/* NULL when not known */
	int64_t start;		/* Unix seconds; 0 when not known */
	int64_t end;		/* Unix seconds; 0 when not known */
};

/* What credentials_record stored for an app. */
struct credentials {
	struct credential *list;	/* the entries, in Graph's order */
	size_t n;
	int read;			/* the expiry poll has recorded them (Graph was read) */
	char *in_use_key_id;		/* the keyId of the secret Nylas uses, or NULL */
	char *in_use_why;		/* why it is not known, or NULL */
	int64_t read_at;		/* when Graph was read (Unix seconds); 0 when not known */
};

/*
 * Records app's secrets as Graph listed them (list, n), when they were read
 * (read_at, Unix seconds) and the keyId of the one Nylas uses, else why it is
 * not known (in_use_why), in one transaction of st: one commit (and fsync)
 * while the event loop waits, not one per value.  0 or -1.
 */
int credentials_record(struct store *st, const char *app, const struct credential *list,
    size_t n, int64_t read_at, const char *in_use_key_id, const char *in_use_why);

/*
 * Loads what credentials_record stored for app into *out (empty when
 * nothing was; a list that does not parse has no entries); "" stored for
 * in_use_key_id or in_use_why loads as NULL.  0 (credentials_clear frees
 * *out), or -1 on a store error (*out is left empty).
 */
int credentials_load(struct store *st, const char *app, struct credentials *out);
/* Frees what credentials_load put in c and empties it. */
void credentials_clear(struct credentials *c);
/* The entry of c with key_id (the last when several have it), or NULL; borrowed from c. */
const struct credential *credentials_find(const struct credentials *c, const char *key_id);

/* What credentials_sp_record or credentials_sp_unknown stored for an app. */
struct credentials_sp {
	struct credential *list;	/* the entries, in Graph's order (owned) */
	size_t n;
	int tried;			/* a read was recorded at all */
	int known;			/* the last read succeeded: list is what Graph showed */
	char *why;			/* why not known (the last read failed), or NULL */
	int64_t at;			/* when that read was made (Unix seconds); 0 when not known */
};

/* Records the service principal's secrets as Graph listed them, read at read_at.  0 or -1. */
int credentials_sp_record(struct store *st, const char *app, const struct credential *list,
    size_t n, int64_t read_at);
/* Records that they could not be read at at, and why (one line, no secret).  0 or -1. */
int credentials_sp_unknown(struct store *st, const char *app, const char *why, int64_t at);
/*
 * Loads what was recorded into *out (tried 0 when nothing was).  0
 * (credentials_sp_clear frees *out), or -1 on a store error (*out empty).
 */
int credentials_sp_load(struct store *st, const char *app, struct credentials_sp *out);
/* Frees what credentials_sp_load put in c and empties it. */
void credentials_sp_clear(struct credentials_sp *c);

#endif
