/*
 * graph_notification: Microsoft Graph's notification batches as rekey reads
 * them, without HTTP or store: the batch parser, the records the intake
 * journals (an item as a batch of one, the batch's validationTokens stored
 * once), dedup keys, the clientState comparison, and the validationToken
 * query decoding.  intake/graph.c and engine/graph_worker.c call it.
 */
#include "proto/graph_notification.h"
#include "lib/crypto.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/secret.h"
#include "lib/util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A string member of at most GRAPH_ITEM_FIELD_MAX bytes; NULL when absent.  -1 when not a string. */
static int
item_str(const cJSON *obj, const char *name, const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	*out = NULL;
	if (v == NULL || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v) || strlen(v->valuestring) > GRAPH_ITEM_FIELD_MAX)
		return -1;
	*out = v->valuestring;
	return 0;
}

/* Fills item from obj; sets item->invalid when the item cannot be used. */
static void
parse_item(const cJSON *obj, struct graph_item *item)
{
	const cJSON *rd, *enc;

	item->json = obj;
	if (!cJSON_IsObject(obj)) {
		item->invalid = "item is not an object";
		return;
	}
	rd = cJSON_GetObjectItemCaseSensitive(obj, "resourceData");
	enc = cJSON_GetObjectItemCaseSensitive(obj, "encryptedContent");
	if (item_str(obj, "id", &item->id) == -1 ||
	    item_str(obj, "subscriptionId", &item->subscription_id) == -1 ||
	    item_str(obj, "clientState", &item->client_state) == -1 ||
	    item_str(obj, "changeType", &item->change_type) == -1 ||
	    item_str(obj, "lifecycleEvent", &item->lifecycle_event) == -1 ||
	    item_str(obj, "resource", &item->resource) == -1 ||
	    item_str(obj, "tenantId", &item->tenant_id) == -1 ||
	    (cJSON_IsObject(rd) && item_str(rd, "id", &item->resource_id) == -1)) {
		item->invalid = "a field is not a string or too long";
		return;
	}
	if (enc != NULL && !cJSON_IsNull(enc)) {
		if (!cJSON_IsObject(enc)) {
			item->invalid = "encryptedContent is not an object";
			return;
		}
		item->encrypted = enc;
	}
	if (item->subscription_id == NULL || *item->subscription_id == '\0')
		item->invalid = "no subscriptionId";
	else if ((item->change_type == NULL) == (item->lifecycle_event == NULL))
		item->invalid = "needs exactly one of changeType and lifecycleEvent";
}

/* tokens (an array, or NULL) into out->tokens, bounded in count and size.  0 or -1. */
static int
take_tokens(const cJSON *tokens, struct graph_batch *out, char **err)
{
	const cJSON *t;
	int n;

	if (tokens == NULL || cJSON_IsNull(tokens))
		return 0;
	n = cJSON_GetArraySize(tokens);
	if (!cJSON_IsArray(tokens) || n > GRAPH_TOKENS_MAX) {
		*err = xasprintf("validationTokens is not an array of at most %d", GRAPH_TOKENS_MAX);
		return -1;
	}
	out->tokens = xcalloc((size_t)n + 1, sizeof(*out->tokens));
	cJSON_ArrayForEach(t, tokens) {
		if (!cJSON_IsString(t)) {
			*err = xstrdup("a validation token is not a string");
			return -1;
		}
		if (strlen(t->valuestring) > GRAPH_TOKEN_BYTES_MAX) {
			*err = xasprintf("a validation token is longer than %d bytes",
			    GRAPH_TOKEN_BYTES_MAX);
			return -1;
		}
		out->tokens[out->n_tokens++] = t->valuestring;
	}
	return 0;
}

static int
valid_ref(const char *s)
{
	size_t i;

	for (i = 0; i < GRAPH_TOKENS_REF_LEN; i++)
		if (crypto_hex_value(s[i]) < 0)
			return 0;
	return s[i] == '\0';
}

/* validationTokens, or (a journaled record) validationTokensRef; not both.  0 or -1. */
static int
parse_tokens(const cJSON *root, struct graph_batch *out, char **err)
{
	const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(root, "validationTokens");
	const cJSON *ref = cJSON_GetObjectItemCaseSensitive(root, "validationTokensRef");

	if (ref == NULL || cJSON_IsNull(ref))
		return take_tokens(tokens, out, err);
	if (!cJSON_IsString(ref) || !valid_ref(ref->valuestring) ||
	    (tokens != NULL && !cJSON_IsNull(tokens))) {
		*err = xstrdup("validationTokensRef is not a digest, or comes with validationTokens");
		return -1;
	}
	out->tokens_ref = ref->valuestring;
	return 0;
}

int
graph_batch_set_tokens(struct graph_batch *b, const char *json, size_t len, char **err)
{
	cJSON *root;

	if (b->tokens_root != NULL || b->n_tokens > 0) {
		*err = xstrdup("the batch has its tokens already");
		return -1;
	}
	/* Each token escaped at most 6-fold ("\\u00xx"), with its quotes and comma. */
	root = len <= (size_t)GRAPH_TOKENS_MAX * (6 * GRAPH_TOKEN_BYTES_MAX + 3) + 2 ?
	    json_parse_whole(json, len) : NULL;
	if (root == NULL || !cJSON_IsArray(root) || cJSON_GetArraySize(root) == 0) {
		*err = xstrdup("stored validationTokens are not a non-empty array");
		cJSON_Delete(root);
		return -1;
	}
	b->tokens_root = root;
	if (take_tokens(root, b, err) == -1) {
		free(b->tokens);
		b->tokens = NULL;
		b->n_tokens = 0;
		return -1;
	}
	return 0;
}

int
graph_parse_batch(const char *json, size_t len, size_t max_len, struct graph_batch *out,
    char **err)
{
	const cJSON *value, *obj;
	int n;

	memset(out, 0, sizeof(*out));
	out->root = json_parse_object(json, len, max_len, GRAPH_BATCH_DEPTH_MAX, err);
	if (out->root == NULL)
		return -1;
	value = cJSON_GetObjectItemCaseSensitive(out->root, "value");
	if (!cJSON_IsArray(value)) {
		*err = xstrdup("no \"value\" array");
		goto fail;
	}
	n = cJSON_GetArraySize(value);
	if (n > GRAPH_BATCH_MAX) {
		*err = xasprintf("batch of %d items, more than %d", n, GRAPH_BATCH_MAX);
		goto fail;
	}
	out->items = xcalloc((size_t)n + 1, sizeof(*out->items));
	cJSON_ArrayForEach(obj, value)
		parse_item(obj, &out->items[out->n_items++]);
	if (parse_tokens(out->root, out, err) == -1)
		goto fail;
	return 0;
fail:
	graph_batch_clear(out);
	return -1;
}

void
graph_batch_clear(struct graph_batch *b)
{
	cJSON_Delete(b->root);
	cJSON_Delete(b->tokens_root);
	free(b->items);
	free(b->tokens);
	memset(b, 0, sizeof(*b));
}

char *
graph_tokens_record(const struct graph_batch *b, char ref[GRAPH_TOKENS_REF_LEN + 1])
{
	unsigned char digest[CRYPTO_SHA256_LEN];
	cJSON *tokens;
	char *out;
	size_t t;

	if (b->n_tokens == 0)
		return NULL;
	tokens = cJSON_CreateArray();
	/* References: the array borrows the strings from the batch's tree. */
	for (t = 0; t < b->n_tokens; t++)
		cJSON_AddItemToArray(tokens, cJSON_CreateStringReference(b->tokens[t]));
	out = cJSON_PrintUnformatted(tokens);
	cJSON_Delete(tokens);
	if (out == NULL || crypto_sha256(out, strlen(out), digest) == -1)
		fatal("out of memory");
	crypto_hex_encode(digest, sizeof(digest), ref);
	return out;
}

char *
graph_item_record(const struct graph_batch *b, size_t i, const char *tokens_ref)
{
	cJSON *rec = cJSON_CreateObject(), *value = cJSON_CreateArray();
	char *out;

	/* A reference: the record borrows the item from the batch's tree. */
	cJSON_AddItemReferenceToArray(value, (cJSON *)b->items[i].json);
	cJSON_AddItemToObject(rec, "value", value);
	if (tokens_ref != NULL)
		cJSON_AddItemToObject(rec, "validationTokensRef",
		    cJSON_CreateStringReference(tokens_ref));
	out = cJSON_PrintUnformatted(rec);
	cJSON_Delete(rec);
	if (out == NULL)
		fatal("out of memory");
	return out;
}

static int
cmp_ids(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void
graph_batch_ref(const struct graph_batch *b, const unsigned char *keep,
    char ref[GRAPH_BATCH_REF_LEN + 1])
{
	const char **ids = xcalloc(b->n_items + 1, sizeof(*ids));
	unsigned char digest[CRYPTO_SHA256_LEN];
	size_t i, n = 0, size = 1, len = 0;
	char *all;

	for (i = 0; i < b->n_items; i++)
		if (keep[i] && b->items[i].id != NULL && *b->items[i].id != '\0') {
			ids[n++] = b->items[i].id;
			size += strlen(b->items[i].id) + 24;
		}
	qsort(ids, n, sizeof(*ids), cmp_ids);
	/* Each id after its length, so that no two sets of ids give the same bytes. */
	all = xmalloc(size);
	all[0] = '\0';
	for (i = 0; i < n; i++)
		len += (size_t)snprintf(all + len, size - len, "%zu:%s", strlen(ids[i]), ids[i]);
	if (crypto_sha256(all, len, digest) == -1)
		fatal("sha256 failed");
	crypto_hex_encode(digest, GRAPH_BATCH_REF_LEN / 2, ref);
	free(all);
	free(ids);
}

size_t
graph_item_record_in(const struct graph_batch *b, size_t i, const char *tokens_ref,
    char *buf, size_t size)
{
	static const char head[] = "{\"value\":[", ref_head[] = "],\"validationTokensRef\":\"";
	size_t n = sizeof(head) - 1, tail = tokens_ref != NULL ?
	    sizeof(ref_head) - 1 + strlen(tokens_ref) + 2 : 2;

	/* head, the item (cJSON wants 5 bytes to spare), the tail and its NUL. */
	if (size < n + 5 + tail + 1 || size - n - tail - 1 > INT_MAX)
		return 0;
	memcpy(buf, head, n);
	if (!cJSON_PrintPreallocated((cJSON *)b->items[i].json, buf + n, (int)(size - n - tail - 1),
	    0))
		return 0;
	n += strlen(buf + n);
	/* The room for the tail and its NUL was kept back above. */
	if (tokens_ref != NULL)
		n += (size_t)snprintf(buf + n, size - n, "%s%s\"}", ref_head, tokens_ref);
	else
		n += (size_t)snprintf(buf + n, size - n, "]}");
	return n;
}

char *
graph_item_key(const struct graph_item *item, const char *record, const char *batch_ref,
    int64_t now_ms)
{
	unsigned char digest[CRYPTO_SHA256_LEN];
	char hex[2 * CRYPTO_SHA256_LEN + 1];

	/*
	 * Not the id alone: ids are GUIDs in no order, and a batch of 100 would
	 * then write 100 leaves of the unique index, each commit (p99 28-34 ms
	 * against 6.7-7.9 at tests/bench/intake.sh's 200 batches a second).  With
	 * the batch's name in front they share one or two.  What that costs: the
	 * same item redelivered in another batch is stored again; the worker then
	 * reads the user again and records a change only once (graph_worker.c).
	 */
	if (item->id != NULL && *item->id != '\0')
		return xasprintf("%s:%s", batch_ref, item->id);
	/*
	 * Lifecycle items carry no id.  A redelivery repeats the same bytes soon
	 * after, but Graph may also send the very same reauthorizationRequired
	 * again later, and that one must be acted on: the key is the content's
	 * digest within a window of GRAPH_DEDUP_WINDOW_MS.
	 */
	if (crypto_sha256(record, strlen(record), digest) == -1)
		fatal("sha256 failed");
	crypto_hex_encode(digest, sizeof(digest), hex);
	return xasprintf("sha256:%s:%lld", hex, (long long)(now_ms / GRAPH_DEDUP_WINDOW_MS));
}

int
graph_client_state_matches(const struct secret *want, const char *got)
{
	unsigned char a[CRYPTO_SHA256_LEN], b[CRYPTO_SHA256_LEN];

	if (want == NULL || got == NULL)
		return 0;
	/* Digests have one length, so neither the length nor a prefix leaks through timing. */
	if (crypto_sha256(want->data, want->len, a) == -1 ||
	    crypto_sha256(got, strlen(got), b) == -1)
		return 0;
	return crypto_memeq(a, b, sizeof(a));
}
