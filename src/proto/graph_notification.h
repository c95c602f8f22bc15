/*
 * proto/graph_notification: Graph change and lifecycle notification
 * batches ({"value":[...],"validationTokens":[...]}) parsed and re-encoded
 * without HTTP or store, for the intake that journals them and the worker
 * that reads them back.
 */
#ifndef REKEY_PROTO_GRAPH_NOTIFICATION_H
#define REKEY_PROTO_GRAPH_NOTIFICATION_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct secret;

/* Bounds on what a batch may carry. */
#define GRAPH_BATCH_MAX 1000		/* items in value[] */
#define GRAPH_TOKENS_MAX 16		/* validationTokens[] */
#define GRAPH_ITEM_FIELD_MAX 1024	/* any string field of an item */
#define GRAPH_BATCH_DEPTH_MAX 32
#define GRAPH_VALIDATION_TOKEN_MAX 4096	/* decoded validationToken bytes */
/* One of validationTokens[]: Graph's are JWTs of about 1.5 KB; more is not Graph. */
#define GRAPH_TOKEN_BYTES_MAX 8192
/* The hex SHA-256 that names a batch's stored tokens. */
#define GRAPH_TOKENS_REF_LEN 64
/* How long a batch's stored tokens are kept (they expire within hours). */
#define GRAPH_TOKENS_KEEP_MS (2 * 86400 * 1000LL)

/* One item of value[]; pointers into the batch's tree, NULL when absent. */
struct graph_item {
	const cJSON *json;		/* the item object */
	const char *id;
	const char *subscription_id;
	const char *client_state;
	const char *change_type;	/* change notifications */
	const char *lifecycle_event;	/* lifecycle notifications */
	const char *resource;
	const char *tenant_id;
	const char *resource_id;	/* resourceData.id */
	const cJSON *encrypted;		/* encryptedContent (an object), or NULL */
	const char *invalid;		/* why the item is unusable, or NULL when it is fine */
};

/* A parsed batch; graph_batch_clear frees it. */
struct graph_batch {
	cJSON *root;
	struct graph_item *items;
	size_t n_items;
	const char **tokens;		/* validationTokens, strings in root (or tokens_root) */
	size_t n_tokens;
	/* A journaled record's validationTokensRef: its tokens are stored apart. */
	const char *tokens_ref;
	cJSON *tokens_root;		/* what graph_batch_set_tokens parsed */
};

/*
 * Parses {"value":[...],"validationTokens":[...]} of at most max_len bytes.
 * The batch as a whole must be well formed (an object, value[] an array of
 * at most GRAPH_BATCH_MAX, tokens strings); single items that are not usable
 * are kept with ->invalid set, so that they can be counted and dropped.
 * 0, or -1 and *err (caller frees).
 */
int graph_parse_batch(const char *json, size_t len, size_t max_len, struct graph_batch *out,
    char **err);
void graph_batch_clear(struct graph_batch *b);

/*
 * The batch's validationTokens as the JSON array that is stored once for
 * all its items, and in ref its digest (the name the items' records give);
 * NULL when the batch has none.  Caller frees.
 */
char *graph_tokens_record(const struct graph_batch *b, char ref[GRAPH_TOKENS_REF_LEN + 1]);
/*
 * The JSON that is journaled for item i: a batch of one, naming the batch's
 * stored tokens by tokens_ref (NULL: none), so the worker reads it back with
 * graph_parse_batch and then graph_batch_set_tokens.  Caller frees.
 */
char *graph_item_record(const struct graph_batch *b, size_t i, const char *tokens_ref);
/*
 * The same bytes in buf (NUL-terminated), for a batch's items one after the
 * other without an allocation each; their length, or 0 when they do not fit
 * in size bytes (then take graph_item_record).
 */
size_t graph_item_record_in(const struct graph_batch *b, size_t i, const char *tokens_ref,
    char *buf, size_t size);
/*
 * Gives b (a record with tokens_ref) the tokens stored apart, as
 * graph_tokens_record made them.  0, or -1 and *err (caller frees).
 */
int graph_batch_set_tokens(struct graph_batch *b, const char *json, size_t len, char **err);
/* How long two deliveries of the same item without an id count as one. */
#define GRAPH_DEDUP_WINDOW_MS (10 * 60 * 1000)
/* Hex digits of a batch's name, graph_batch_ref. */
#define GRAPH_BATCH_REF_LEN 16
/*
 * A name for the ids of the items keep[] marks (those without an id do not
 * count), the same in any order: a 64-bit digest of the sorted ids, in hex.
 */
void graph_batch_ref(const struct graph_batch *b, const unsigned char *keep,
    char ref[GRAPH_BATCH_REF_LEN + 1]);
/*
 * The item's dedup key.  With an id: batch_ref (graph_batch_ref of the kept
 * items) ":" the id, so that a batch's keys sit together in the journal's
 * unique index and a redelivery of the same items is stored once.  Without
 * one: "sha256:", the hex digest of record and the number of the
 * GRAPH_DEDUP_WINDOW_MS window now_ms falls in.  Caller frees.
 */
char *graph_item_key(const struct graph_item *item, const char *record, const char *batch_ref,
    int64_t now_ms);

/* 1 when got equals the app's clientState; the time taken says nothing about either. */
int graph_client_state_matches(const struct secret *want, const char *got);

#endif
