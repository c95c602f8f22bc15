/* Unit tests: the Graph notification batch parser, journal records and keys, the clientState check, the validationToken decoder, and the user evidence rules. */
#include <stdlib.h>
#include <string.h>

#include "engine/graph_worker.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "outbound/graph.h"
#include "proto/graph_notification.h"
#include "tap.h"

#define ITEM "{\"id\":\"n1\",\"subscriptionId\":\"s1\",\"clientState\":\"cs\"," \
	"\"changeType\":\"updated\",\"resource\":\"Users/u1\",\"tenantId\":\"t1\"," \
	"\"resourceData\":{\"@odata.type\":\"#Microsoft.Graph.User\",\"id\":\"u1\"}}"
#define LIFECYCLE "{\"subscriptionId\":\"s1\",\"clientState\":\"cs\"," \
	"\"lifecycleEvent\":\"missed\"}"

static void
test_batches(void)
{
	static const struct {
		const char *json;
		int ok;			/* the batch parses */
		size_t items;
		const char *invalid0;	/* substring of items[0].invalid, or NULL when valid */
		const char *name;
	} cases[] = {
		{ "{\"value\":[" ITEM "]}", 1, 1, NULL, "one change item" },
		{ "{\"value\":[" LIFECYCLE "]}", 1, 1, NULL, "one lifecycle item" },
		{ "{\"value\":[]}", 1, 0, NULL, "an empty batch" },
		{ "{\"value\":[" ITEM "," LIFECYCLE "],\"validationTokens\":[\"a.b.c\"]}", 1, 2, NULL,
		  "two items and a token" },
		{ "{\"value\":[5]}", 1, 1, "not an object", "an item that is a number" },
		{ "{\"value\":[{\"subscriptionId\":\"s\",\"changeType\":\"updated\","
		  "\"lifecycleEvent\":\"missed\"}]}", 1, 1, "exactly one", "both kinds at once" },
		{ "{\"value\":[{\"subscriptionId\":\"s\"}]}", 1, 1, "exactly one", "neither kind" },
		{ "{\"value\":[{\"changeType\":\"updated\"}]}", 1, 1, "subscriptionId",
		  "no subscriptionId" },
		{ "{\"value\":[{\"subscriptionId\":7,\"changeType\":\"updated\"}]}", 1, 1,
		  "not a string", "a number where a string belongs" },
		{ "{\"value\":[{\"subscriptionId\":\"s\",\"changeType\":\"updated\","
		  "\"encryptedContent\":\"x\"}]}", 1, 1, "encryptedContent", "encryptedContent a string" },
		{ "{\"value\":{}}", 0, 0, NULL, "value an object" },
		{ "{}", 0, 0, NULL, "no value" },
		{ "[]", 0, 0, NULL, "an array" },
		{ "{\"value\":[]} x", 0, 0, NULL, "trailing bytes" },
		{ "{\"value\":[],\"validationTokens\":\"a\"}", 0, 0, NULL, "tokens a string" },
		{ "{\"value\":[],\"validationTokens\":[1]}", 0, 0, NULL, "a token a number" },
		{ "{\"value\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
		  0, 0, NULL, "too deep" },
	};
	struct graph_batch b;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *err = NULL;
		int rc = graph_parse_batch(cases[i].json, strlen(cases[i].json), 65536, &b, &err);

		TAP_OK((rc == 0) == cases[i].ok, "batch: %s %s", cases[i].name,
		    cases[i].ok ? "parses" : "is refused");
		if (rc == 0) {
			TAP_OK(b.n_items == cases[i].items, "batch: %s: %zu items", cases[i].name,
			    cases[i].items);
			if (cases[i].items > 0)
				TAP_OK(cases[i].invalid0 == NULL ? b.items[0].invalid == NULL :
				    b.items[0].invalid != NULL &&
				    strstr(b.items[0].invalid, cases[i].invalid0) != NULL,
				    "batch: %s: item %s", cases[i].name,
				    cases[i].invalid0 ? "flagged" : "valid");
			graph_batch_clear(&b);
		} else {
			TAP_OK(err != NULL, "batch: %s: says why", cases[i].name);
		}
		free(err);
	}
}

static void
test_fields_and_bounds(void)
{
	const char *json = "{\"value\":[" ITEM "," LIFECYCLE "],\"validationTokens\":[\"a.b.c\",\"d.e.f\"]}";
	struct graph_batch b;
	char *err = NULL, *big;
	size_t i, n, off;
	int rc;

	rc = graph_parse_batch(json, strlen(json), 65536, &b, &err);
	TAP_OK(rc == 0, "fields: parses");
	if (rc == 0) {
		TAP_STR_EQ(b.items[0].id, "n1", "fields: id");
		TAP_STR_EQ(b.items[0].subscription_id, "s1", "fields: subscriptionId");
		TAP_STR_EQ(b.items[0].client_state, "cs", "fields: clientState");
		TAP_STR_EQ(b.items[0].change_type, "updated", "fields: changeType");
		TAP_STR_EQ(b.items[0].resource_id, "u1", "fields: resourceData.id");
		TAP_STR_EQ(b.items[0].tenant_id, "t1", "fields: tenantId");
		TAP_OK(b.items[0].encrypted == NULL, "fields: no encryptedContent");
		TAP_STR_EQ(b.items[1].lifecycle_event, "missed", "fields: lifecycleEvent");
		TAP_OK(b.items[1].id == NULL, "fields: lifecycle item without id");
		TAP_OK(b.n_tokens == 2 && strcmp(b.tokens[1], "d.e.f") == 0, "fields: tokens");
		graph_batch_clear(&b);
	}
	TAP_OK(graph_parse_batch(json, strlen(json), 20, &b, &err) == -1, "bounds: max_len holds");
	free(err);
	err = NULL;
	/* 1001 minimal items. */
	n = 1001;
	big = malloc(16 + n * 64);
	off = (size_t)snprintf(big, 16, "{\"value\":[");
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(big + off, 64, "%s{\"subscriptionId\":\"s\","
		    "\"changeType\":\"u\"}", i ? "," : "");
	snprintf(big + off, 16, "]}");
	rc = graph_parse_batch(big, strlen(big), 1 << 20, &b, &err);
	TAP_OK(rc == -1 && err && strstr(err, "more than 1000"), "bounds: 1001 items refused");
	free(err);
	free(big);
}

/* The ref of the batch json with the items keep (a string of 0 and 1) kept. */
static void
ref_of(const char *json, const char *keep, char ref[GRAPH_BATCH_REF_LEN + 1])
{
	struct graph_batch b;
	unsigned char k[8] = { 0 };
	char *err = NULL;
	size_t i;

	memset(ref, 0, GRAPH_BATCH_REF_LEN + 1);
	if (graph_parse_batch(json, strlen(json), 65536, &b, &err) == -1) {
		free(err);
		return;
	}
	/* A keep string of the wrong length leaves ref empty, which the checks see. */
	if (b.n_items == strlen(keep) && b.n_items <= sizeof(k)) {
		for (i = 0; i < b.n_items; i++)
			k[i] = (unsigned char)(keep[i] == '1');
		graph_batch_ref(&b, k, ref);
	}
	graph_batch_clear(&b);
}

#define ITEM_ID(id) "{\"id\":\"" id "\",\"subscriptionId\":\"s1\",\"clientState\":\"cs\"," \
	"\"changeType\":\"updated\",\"resource\":\"Users/u1\"}"

static void
test_batch_ref(void)
{
	char a[GRAPH_BATCH_REF_LEN + 1], b[GRAPH_BATCH_REF_LEN + 1];

	ref_of("{\"value\":[" ITEM_ID("x") "," ITEM_ID("y") "," LIFECYCLE "]}", "111", a);
	TAP_OK(strlen(a) == GRAPH_BATCH_REF_LEN && strspn(a, "0123456789abcdef") == strlen(a),
	    "batch ref: hex digits");
	ref_of("{\"value\":[" LIFECYCLE "," ITEM_ID("y") "," ITEM_ID("x") "]}", "111", b);
	TAP_STR_EQ(a, b, "batch ref: the same ids in another order and a lifecycle item: the same name");
	ref_of("{\"value\":[" ITEM_ID("y") "," ITEM_ID("z") "," ITEM_ID("x") "]}", "101", b);
	TAP_STR_EQ(a, b, "batch ref: only the kept items count");
	ref_of("{\"value\":[" ITEM_ID("x") "," ITEM_ID("y") "," ITEM_ID("z") "]}", "111", b);
	TAP_OK(strcmp(a, b) != 0, "batch ref: one more item: another name");
	ref_of("{\"value\":[" ITEM_ID("x:1") "]}", "1", a);
	ref_of("{\"value\":[" ITEM_ID("x") "," ITEM_ID("1") "]}", "11", b);
	TAP_OK(strcmp(a, b) != 0, "batch ref: the ids' boundaries count (\"x:1\" against \"x\", \"1\")");
}

static void
test_records(void)
{
	const char *json = "{\"value\":[" ITEM "," LIFECYCLE "],\"validationTokens\":[\"a.b.c\"]}";
	const char *old = "{\"value\":[" ITEM "],\"validationTokens\":[\"a.b.c\",\"d.e.f\"]}";
	struct graph_batch b, one;
	char *err = NULL, *rec, *key, *rec2, *key2, *tokens, ref[GRAPH_TOKENS_REF_LEN + 1];

	if (graph_parse_batch(json, strlen(json), 65536, &b, &err) == -1) {
		TAP_OK(0, "records: parse");
		return;
	}
	tokens = graph_tokens_record(&b, ref);
	TAP_STR_EQ(tokens, "[\"a.b.c\"]", "records: the batch's tokens are one array, stored once");
	TAP_OK(strlen(ref) == GRAPH_TOKENS_REF_LEN, "records: named by their digest");
	rec = graph_item_record(&b, 0, ref);
	{
		char buf[1024];
		size_t n = graph_item_record_in(&b, 0, ref, buf, sizeof(buf));

		TAP_OK(n == strlen(rec) && strcmp(buf, rec) == 0,
		    "records: written into a buffer, the same bytes (with tokens)");
		n = graph_item_record_in(&b, 1, NULL, buf, sizeof(buf));
		rec2 = graph_item_record(&b, 1, NULL);
		TAP_OK(n == strlen(rec2) && strcmp(buf, rec2) == 0,
		    "records: the same bytes (without tokens)");
		TAP_OK(graph_item_record_in(&b, 0, ref, buf, strlen(rec)) == 0 &&
		    graph_item_record_in(&b, 0, ref, buf, 8) == 0,
		    "records: a buffer too small takes nothing");
		TAP_OK(graph_item_record_in(&b, 1, NULL, buf, strlen(rec2) + 6) == strlen(rec2),
		    "records: one just big enough (cJSON's 5 bytes to spare and the NUL) takes it");
		free(rec2);
	}
	TAP_OK(strstr(rec, "a.b.c") == NULL && strstr(rec, ref) != NULL,
	    "records: an item's record names the tokens, holds no copy");
	TAP_OK(graph_parse_batch(rec, strlen(rec), 65536, &one, &err) == 0 && one.n_items == 1 &&
	    one.n_tokens == 0 && one.tokens_ref != NULL && strcmp(one.tokens_ref, ref) == 0 &&
	    strcmp(one.items[0].id, "n1") == 0, "records: an item's record reads back with the ref");
	TAP_OK(graph_batch_set_tokens(&one, tokens, strlen(tokens), &err) == 0 && one.n_tokens == 1 &&
	    strcmp(one.tokens[0], "a.b.c") == 0, "records: and the stored tokens join it");
	graph_batch_clear(&one);
	free(tokens);
	key = graph_item_key(&b.items[0], rec, "0123456789abcdef", 1800000000000);
	TAP_STR_EQ(key, "0123456789abcdef:n1",
	    "records: the key of an item with an id is the batch's name and the id");
	free(key);
	free(rec);
	rec = graph_item_record(&b, 1, NULL);
	rec2 = graph_item_record(&b, 1, NULL);
	key = graph_item_key(&b.items[1], rec, "0123456789abcdef", 1800000000000);
	key2 = graph_item_key(&b.items[1], rec2, "fedcba9876543210", 1800000000000 + 60000);
	TAP_OK(strncmp(key, "sha256:", 7) == 0 && strlen(key) > 7 + 64 && key[7 + 64] == ':',
	    "records: an item without id is keyed by its digest and a time window");
	TAP_STR_EQ(key, key2, "records: the same item a minute later gives the same key");
	free(key2);
	key2 = graph_item_key(&b.items[1], rec2, "fedcba9876543210", 1800000000000 + GRAPH_DEDUP_WINDOW_MS);
	TAP_OK(strcmp(key, key2) != 0, "records: the same item a window later is a new event");
	free(key);
	free(key2);
	free(rec);
	free(rec2);
	graph_batch_clear(&b);

	/* Records journaled before the tokens were stored apart carry their own copy. */
	TAP_OK(graph_parse_batch(old, strlen(old), 65536, &one, &err) == 0 && one.n_tokens == 2 &&
	    one.tokens_ref == NULL, "records: an older record's own tokens still read");
	TAP_OK(graph_batch_set_tokens(&one, "[\"x\"]", 5, &err) == -1,
	    "records: a batch with tokens takes no stored ones besides");
	free(err);
	err = NULL;
	graph_batch_clear(&one);
}

/* validationTokens are bounded at intake: in count and in size. */
static void
test_token_bounds(void)
{
	char *big = malloc(GRAPH_TOKEN_BYTES_MAX + 128), *err = NULL;
	struct graph_batch b;
	const char *ref_and_tokens = "{\"value\":[],\"validationTokens\":[\"a\"],"
	    "\"validationTokensRef\":\"0000000000000000000000000000000000000000000000000000000000000000\"}";
	size_t off;
	int rc;

	off = (size_t)snprintf(big, 64, "{\"value\":[],\"validationTokens\":[\"");
	memset(big + off, 'a', GRAPH_TOKEN_BYTES_MAX);
	snprintf(big + off + GRAPH_TOKEN_BYTES_MAX, 16, "\"]}");
	rc = graph_parse_batch(big, strlen(big), 1 << 20, &b, &err);
	TAP_OK(rc == 0 && b.n_tokens == 1, "tokens: one of GRAPH_TOKEN_BYTES_MAX bytes is taken");
	graph_batch_clear(&b);
	snprintf(big + off + GRAPH_TOKEN_BYTES_MAX, 16, "a\"]}");
	rc = graph_parse_batch(big, strlen(big), 1 << 20, &b, &err);
	TAP_OK(rc == -1 && err != NULL && strstr(err, "longer than"), "tokens: one byte more is refused");
	free(err);
	err = NULL;
	rc = graph_parse_batch(ref_and_tokens, strlen(ref_and_tokens), 1 << 20, &b, &err);
	TAP_OK(rc == -1, "tokens: a ref and tokens together are refused");
	free(err);
	err = NULL;
	rc = graph_parse_batch("{\"value\":[],\"validationTokensRef\":\"../x\"}", 38, 1 << 20, &b, &err);
	TAP_OK(rc == -1, "tokens: a ref that is not a digest is refused");
	free(err);
	free(big);
}

static void
test_client_state(void)
{
	struct secret s = { 5, (unsigned char *)"state" };

	TAP_OK(graph_client_state_matches(&s, "state"), "clientState: equal matches");
	TAP_OK(!graph_client_state_matches(&s, "statE"), "clientState: one byte differs");
	TAP_OK(!graph_client_state_matches(&s, "state2"), "clientState: longer");
	TAP_OK(!graph_client_state_matches(&s, "stat"), "clientState: prefix");
	TAP_OK(!graph_client_state_matches(&s, ""), "clientState: empty");
	TAP_OK(!graph_client_state_matches(&s, NULL), "clientState: absent");
	TAP_OK(!graph_client_state_matches(NULL, "state"), "clientState: none configured");
}

static void
test_query_decode(void)
{
	static const struct {
		const char *in;
		const char *want;
		size_t want_len;
	} cases[] = {
		{ "a+b", "a b", 3 },
		{ "a%20b", "a b", 3 },
		{ "%3a%3A", "::", 2 },
		{ "%2B", "+", 1 },
		{ "100%", "100%", 4 },
		{ "%4", "%4", 2 },
		{ "%zz", "%zz", 3 },
		{ "a%00b", "a\0b", 3 },
		{ "", "", 0 },
	};
	char out[16];
	size_t i;
	long n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		n = util_form_decode(cases[i].in, strlen(cases[i].in), out, sizeof(out));
		TAP_OK(n == (long)cases[i].want_len && memcmp(out, cases[i].want, (size_t)n) == 0,
		    "query decode: \"%s\"", cases[i].in);
	}
	TAP_OK(util_form_decode("0123456789abcdefg", 17, out, sizeof(out)) == -1,
	    "query decode: too long for the buffer");
	TAP_OK(util_form_decode("0123456789abcdef", 16, out, sizeof(out)) == 16,
	    "query decode: exactly the buffer");
}

static void
test_evidence(void)
{
	const int64_t now = 1800000000;
	struct graph_user on = { .account_enabled = 1, .sessions_valid_from = now - 86400 * 30,
	    .last_password_change = now - 86400 * 60 };
	struct graph_user off = on, revoked = on, reset = on;

	off.account_enabled = 0;
	revoked.sessions_valid_from = now - 60;
	reset.last_password_change = now - 120;
	TAP_OK(graph_user_evidence(&on, 0, -1, 0, 0, 0, now) == 0,
	    "evidence: an enabled user with old dates is none");
	TAP_OK(graph_user_evidence(&off, 0, -1, 0, 0, 0, now) == GRAPH_EVIDENCE_DISABLED,
	    "evidence: disabled, first look");
	TAP_OK(graph_user_evidence(&off, 1, 0, 0, on.sessions_valid_from,
	    on.last_password_change, now) == 0, "evidence: already known disabled is none");
	TAP_OK(graph_user_evidence(&off, 1, 1, 0, on.sessions_valid_from,
	    on.last_password_change, now) == GRAPH_EVIDENCE_DISABLED, "evidence: newly disabled");
	TAP_OK(graph_user_evidence(&revoked, 0, -1, 0, 0, 0, now) ==
	    GRAPH_EVIDENCE_SESSIONS_REVOKED, "evidence: recent session revocation, first look");
	TAP_OK(graph_user_evidence(&revoked, 1, 1, 0, revoked.sessions_valid_from, 0, now) == 0,
	    "evidence: a revocation already seen is none");
	TAP_OK(graph_user_evidence(&on, 1, 1, 0, on.sessions_valid_from - 10, 0, now) ==
	    GRAPH_EVIDENCE_SESSIONS_REVOKED, "evidence: an old revocation that moved forward");
	TAP_OK(graph_user_evidence(&reset, 0, -1, 0, 0, 0, now) ==
	    GRAPH_EVIDENCE_PASSWORD_CHANGED, "evidence: recent password change, first look");
	TAP_OK(graph_user_evidence(&reset, 1, 1, 0, 0, reset.last_password_change - 1, now) ==
	    GRAPH_EVIDENCE_PASSWORD_CHANGED, "evidence: password change moved forward");
	TAP_OK(graph_user_evidence(NULL, 0, -1, 0, 0, 0, now) == GRAPH_EVIDENCE_DELETED,
	    "evidence: a gone user is deleted");
	TAP_OK(graph_user_evidence(NULL, 1, 1, 1, 0, 0, now) == 0,
	    "evidence: already known deleted is none");
	off.sessions_valid_from = now;
	TAP_OK(graph_user_evidence(&off, 0, -1, 0, 0, 0, now) ==
	    (GRAPH_EVIDENCE_DISABLED | GRAPH_EVIDENCE_SESSIONS_REVOKED),
	    "evidence: disabling with a revocation gives both");
}

int
main(void)
{
	test_batches();
	test_fields_and_bounds();
	test_batch_ref();
	test_records();
	test_token_bounds();
	test_client_state();
	test_query_decode();
	test_evidence();
	return tap_done();
}
