/*
 * Unit tests: an app's secrets as the expiry poll records them
 * (state/credentials.h) read back as they were written, through a real
 * SQLite store; the stored form is the one status, the correlator and the
 * alerts have always read.
 */
#include "state/credentials.h"
#include "state/store.h"
#include "tap.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The structs own their strings when loaded; the tests lend them literals. */
#define W(s) ((char *)(s))

static void
test_round_trip(struct store *st)
{
	struct credential list[] = {
		{ W("k-1"), W("abc"), W("rekey-r-1"), 1767225600, 1798761600 },
		{ W("k-2"), NULL, NULL, 0, 0 },
	};
	struct credentials c;
	char *json = NULL;

	TAP_OK(credentials_load(st, "prod", &c) == 0 && c.n == 0 && !c.read &&
	    c.in_use_key_id == NULL && c.in_use_why == NULL && c.read_at == 0,
	    "nothing recorded: empty, not read");
	credentials_clear(&c);
	TAP_OK(credentials_record(st, "prod", list, 2, 1767225700, "k-1", "unused") == 0,
	    "record");
	TAP_OK(store_get_value(st, "prod", "password_credentials", &json) == 1, "the blob is stored");
	TAP_STR_EQ(json, "[{\"key_id\":\"k-1\",\"hint\":\"abc\",\"display_name\":\"rekey-r-1\","
	    "\"start\":\"2026-01-01T00:00:00Z\",\"end\":\"2027-01-01T00:00:00Z\"},"
	    "{\"key_id\":\"k-2\",\"hint\":null,\"display_name\":null,\"start\":null,\"end\":null}]",
	    "the blob's format");
	free(json);
	TAP_OK(credentials_load(st, "prod", &c) == 0 && c.read && c.n == 2, "load: two entries");
	TAP_STR_EQ(c.in_use_key_id, "k-1", "load: the in-use key");
	TAP_OK(c.in_use_why == NULL, "load: no why (\"\" stored) when the key is known");
	TAP_OK(c.read_at == 1767225700, "load: when Graph was read");
	TAP_OK(credentials_find(&c, "k-1") == &c.list[0] && c.list[0].start == 1767225600 &&
	    c.list[0].end == 1798761600 && strcmp(c.list[0].hint, "abc") == 0 &&
	    strcmp(c.list[0].display_name, "rekey-r-1") == 0, "find: k-1 as recorded");
	TAP_OK(credentials_find(&c, "k-2") == &c.list[1] && c.list[1].hint == NULL &&
	    c.list[1].end == 0, "find: k-2 without hint or times");
	TAP_OK(credentials_find(&c, "k-3") == NULL && credentials_find(&c, NULL) == NULL,
	    "find: unknown or NULL key");
	credentials_clear(&c);
	TAP_OK(credentials_record(st, "prod", NULL, 0, 1767225800, NULL, "no current_secret_file")
	    == 0 && credentials_load(st, "prod", &c) == 0 && c.read && c.n == 0 &&
	    c.in_use_key_id == NULL && strcmp(c.in_use_why, "no current_secret_file") == 0,
	    "an app without secrets, and why the key is not known");
	credentials_clear(&c);
}

static void
test_lenient(struct store *st)
{
	struct credentials c;

	store_put_value(st, "odd", "password_credentials",
	    "[1,{\"key_id\":\"k-1\",\"end\":1798761600},{\"key_id\":7,\"end\":\"2027-01-01T00:00:00.5Z\"}]");
	TAP_OK(credentials_load(st, "odd", &c) == 0 && c.n == 2 && c.list[0].end == 1798761600 &&
	    c.list[1].key_id == NULL && c.list[1].end == 1798761600,
	    "only objects; numeric times and fractions read, a non-string key_id is none");
	credentials_clear(&c);
	store_put_value(st, "odd", "password_credentials", "not json");
	TAP_OK(credentials_load(st, "odd", &c) == 0 && c.read && c.n == 0,
	    "a list that does not parse: read, no entries");
	credentials_clear(&c);
}

/* The service principal's secrets: a key of their own, and "unknown" with why. */
static void
test_service_principal(struct store *st)
{
	struct credential list[] = { { W("sp-1"), W("xyz"), W("Terraform"), 0, 1798761600 } };
	struct credentials_sp sp;
	struct credentials c;
	char *json = NULL;

	TAP_OK(credentials_sp_load(st, "sp", &sp) == 0 && !sp.tried && !sp.known && sp.n == 0 &&
	    sp.why == NULL, "service principal: nothing recorded");
	credentials_sp_clear(&sp);
	TAP_OK(credentials_sp_record(st, "sp", list, 1, 1767225700) == 0, "service principal: record");
	TAP_OK(store_get_value(st, "sp", "sp_password_credentials", &json) == 1, "its own key");
	TAP_STR_EQ(json, "{\"at\":\"2026-01-01T00:01:40Z\",\"why\":null,\"list\":[{\"key_id\":"
	    "\"sp-1\",\"hint\":\"xyz\",\"display_name\":\"Terraform\",\"start\":null,"
	    "\"end\":\"2027-01-01T00:00:00Z\"}]}", "service principal: the stored form");
	free(json);
	TAP_OK(credentials_load(st, "sp", &c) == 0 && !c.read && c.n == 0,
	    "service principal: the app's secrets are untouched");
	credentials_clear(&c);
	TAP_OK(credentials_sp_load(st, "sp", &sp) == 0 && sp.tried && sp.known && sp.n == 1 &&
	    strcmp(sp.list[0].key_id, "sp-1") == 0 && sp.list[0].end == 1798761600 &&
	    sp.why == NULL && sp.at == 1767225700, "service principal: loaded as recorded");
	credentials_sp_clear(&sp);
	TAP_OK(credentials_sp_unknown(st, "sp", "Graph answered 403", 1767225800) == 0 &&
	    credentials_sp_load(st, "sp", &sp) == 0 && sp.tried && !sp.known && sp.n == 0 &&
	    strcmp(sp.why, "Graph answered 403") == 0 && sp.at == 1767225800,
	    "service principal: unknown, and why");
	credentials_sp_clear(&sp);
	store_put_value(st, "sp", "sp_password_credentials", "not json");
	TAP_OK(credentials_sp_load(st, "sp", &sp) == 0 && sp.tried && !sp.known && sp.why != NULL,
	    "service principal: a record that does not parse is unknown");
	credentials_sp_clear(&sp);
}

int
main(void)
{
	char dir[64], url[128], *err = NULL;
	struct store *st;

	util_strlcpy(dir, "/tmp/rekey-credentials-XXXXXX", sizeof(dir));
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(url, sizeof(url), "sqlite:%s/rekey.db", dir);
	st = store_open(url, &err);
	TAP_OK(st != NULL, "store opens");
	if (st != NULL) {
		test_round_trip(st);
		test_lenient(st);
		test_service_principal(st);
	}
	free(err);
	store_close(st);
	snprintf(url, sizeof(url), "rm -rf %s", dir);
	if (system(url) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
