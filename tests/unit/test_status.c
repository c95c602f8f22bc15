/*
 * Unit tests: the status document built from a real SQLite store (secrets as
 * the expiry poll records them, in-use key, incidents with evidence and
 * grant counts, rotations) never carries a rotation's sealed secret; and the
 * text table shows what an operator on call needs.
 */
#include "notice/status.h"
#include "state/config.h"
#include "state/config_load.h"
#include "state/store.h"
#include "tap.h"
#include "lib/util.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The store's structs own their strings; the tests lend them literals. */
#define W(s) ((char *)(s))

static char dir[64];

/* Writes a secret file (mode 0600) under dir; 0 or -1. */
static int
write_secret(const char *path, const char *content)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n = fd == -1 ? -1 : write(fd, content, strlen(content));

	if (fd != -1)
		close(fd);
	return n == (ssize_t)strlen(content) ? 0 : -1;
}

static struct config *
load_config(void)
{
	char key[128], hook[128], text[768], *errors = NULL;
	char *const envp[] = { NULL };
	struct config *cfg;

	snprintf(key, sizeof(key), "%s/master_key", dir);
	snprintf(hook, sizeof(hook), "%s/webhook", dir);
	if (write_secret(key, "0011223344556677889900112233445566778899001122334455667788990011\n")
	    == -1 || write_secret(hook, "whsec-unit\n") == -1)
		return NULL;
	snprintf(text, sizeof(text), "[server]\nlisten = 127.0.0.1:0\n[store]\n"
	    "url = sqlite:%s/rekey.db\nmaster_key_file = %s\n"
	    "[app prod]\nnylas_webhook_secret_file = %s\n"
	    "[app staging]\nnylas_webhook_secret_file = %s\nrotation_mode = approve\n",
	    dir, key, hook, hook);
	cfg = config_parse("test.conf", text, strlen(text), envp, &errors);
	if (cfg == NULL)
		printf("# %s\n", errors);
	free(errors);
	return cfg;
}

static void
seed(struct store *st)
{
	unsigned char sealed[] = "SEALED-SECRET";
	struct store_rotation failing = {
		.id = W("r-1"), .app = W("prod"), .state = W("testing"), .reason = W("proactive"),
		.approved = 1, .attempts = 4, .next_at = 1767225600000LL,
		.last_error = W("AADSTS7000215"), .secret_ct = sealed, .secret_ct_len = sizeof(sealed),
		.created_at = 1000, .updated_at = 2000,
	};
	struct store_rotation waiting = {
		.id = W("r-2"), .app = W("staging"), .state = W("planned"), .reason = W("manual"),
		.created_at = 3000, .updated_at = 3000,
	};
	struct store_incident inc = {
		.id = W("i-1"), .app = W("prod"), .cause = W("secret_invalid"), .state = W("open"),
		.evidence = W("[\"AADSTS7000215 for key k-1\"]"), .rotation_id = W("r-1"),
		.opened_at = 1767225600000LL, .updated_at = 1767225600000LL,
	};

	store_put_value(st, "prod", "password_credentials",
	    "[{\"key_id\":\"k-1\",\"hint\":\"abc\",\"display_name\":\"rekey-r-0\","
	    "\"start\":\"2026-01-01T00:00:00Z\",\"end\":\"2000-01-01T00:00:00.1234567Z\"},"
	    "{\"key_id\":\"k-2\",\"hint\":\"def\",\"display_name\":\"by hand\","
	    "\"start\":null,\"end\":\"2999-01-01T00:00:00Z\"}]");
	store_put_value(st, "prod", "in_use_key_id", "k-1");
	store_put_value(st, "prod", "in_use_why", "");
	store_put_value(st, "staging", "in_use_key_id", "");
	store_put_value(st, "staging", "in_use_why", "2 credentials share hint abc");
	store_put_value(st, "staging", "password_credentials", "[]");
	store_put_value(st, "prod", "publish_target",
	    "{\"kind\":\"credential\",\"credential_id\":\"cred-1\",\"source\":\"active_credential_id\"}");
	store_put_rotation(st, &failing);
	store_put_rotation(st, &waiting);
	store_put_incident(st, &inc);
	store_add_incident_grant(st, "i-1", "g-1", "a@example.com", 1);
	store_add_incident_grant(st, "i-1", "g-2", "b@example.com", 1);
	store_recover_grants(st, "prod", "g-2", NULL, 2);
}

static const cJSON *
at(const cJSON *obj, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(obj, name);
}

static const char *
s_at(const cJSON *obj, const char *name)
{
	const cJSON *v = at(obj, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void
test_json(const cJSON *doc)
{
	const cJSON *prod = cJSON_GetArrayItem(at(doc, "apps"), 0);
	const cJSON *staging = cJSON_GetArrayItem(at(doc, "apps"), 1);
	const cJSON *k1 = cJSON_GetArrayItem(at(prod, "secrets"), 0);
	const cJSON *k2 = cJSON_GetArrayItem(at(prod, "secrets"), 1);
	const cJSON *inc = cJSON_GetArrayItem(at(prod, "incidents"), 0);
	const cJSON *rot = cJSON_GetArrayItem(at(prod, "rotations"), 0);
	const cJSON *wait = cJSON_GetArrayItem(at(staging, "rotations"), 0);
	char *text = cJSON_PrintUnformatted(doc);

	TAP_STR_EQ(s_at(prod, "name"), "prod", "json: apps in config order");
	TAP_OK(cJSON_GetArraySize(at(prod, "secrets")) == 2, "json: both credentials");
	TAP_OK(cJSON_IsTrue(at(k1, "in_use")) && cJSON_IsTrue(at(k1, "made_by_rekey")) &&
	    cJSON_IsFalse(at(k2, "in_use")) && cJSON_IsFalse(at(k2, "made_by_rekey")),
	    "json: in_use from in_use_key_id, made_by_rekey from the rekey- prefix");
	TAP_STR_EQ(s_at(k1, "end"), "2000-01-01T00:00:00Z", "json: fractional seconds dropped");
	TAP_OK(cJSON_IsNull(at(k2, "start")), "json: an absent start is null");
	TAP_OK(cJSON_IsNumber(at(k1, "days_left")) && at(k1, "days_left")->valuedouble < 0,
	    "json: days_left negative once ended");
	TAP_OK(cJSON_IsNull(at(prod, "in_use_why")), "json: no why when the key is known");
	TAP_STR_EQ(s_at(at(prod, "publish_target"), "kind"), "credential", "json: publish_target kind");
	TAP_STR_EQ(s_at(at(prod, "publish_target"), "credential_id"), "cred-1",
	    "json: publish_target credential_id");
	TAP_STR_EQ(s_at(at(prod, "publish_target"), "source"), "active_credential_id",
	    "json: publish_target source");
	TAP_OK(cJSON_IsNull(at(staging, "publish_target")), "json: publish_target null until known");
	TAP_OK(cJSON_IsNull(at(staging, "in_use_key_id")) &&
	    s_at(staging, "in_use_why") != NULL &&
	    strcmp(s_at(staging, "in_use_why"), "2 credentials share hint abc") == 0,
	    "json: an unknown in-use key says why");
	TAP_OK(inc != NULL && at(inc, "affected")->valuedouble == 2 &&
	    at(inc, "recovered")->valuedouble == 1, "json: incident grant counts");
	TAP_STR_EQ(s_at(inc, "opened_at"), "2026-01-01T00:00:00Z", "json: incident time from ms");
	TAP_STR_EQ(cJSON_GetArrayItem(at(inc, "evidence"), 0)->valuestring,
	    "AADSTS7000215 for key k-1", "json: evidence is the stored array");
	TAP_STR_EQ(s_at(rot, "last_error"), "AADSTS7000215", "json: rotation last error");
	TAP_STR_EQ(s_at(rot, "next_at"), "2026-01-01T00:00:00Z", "json: rotation next retry");
	TAP_OK(cJSON_IsNull(at(rot, "new_key_id")), "json: no new key yet is null");
	TAP_OK(cJSON_IsTrue(at(wait, "waiting_for_approval")) && cJSON_IsNull(at(wait, "next_at")),
	    "json: a planned unapproved rotation waits, with no next try");
	TAP_OK(text != NULL && strstr(text, "SEALED") == NULL && strstr(text, "secret_ct") == NULL,
	    "json: never the sealed secret");
	free(text);
}

static void
test_text(const cJSON *doc)
{
	char *text = status_text(doc);

	TAP_OK(strstr(text, "app prod (rotation_mode auto)") != NULL &&
	    strstr(text, "app staging (rotation_mode approve)") != NULL, "text: one block per app");
	TAP_OK(strstr(text, "EXPIRED") != NULL, "text: an ended secret says EXPIRED");
	TAP_OK(strstr(text, "secrets: none known (2 credentials share hint abc)") != NULL,
	    "text: why the in-use key is unknown");
	TAP_OK(strstr(text, "secret_invalid  OPEN") != NULL &&
	    strstr(text, "affected 2, recovered 1, still to sign in again 1; rotation r-1") != NULL &&
	    strstr(text, "evidence: AADSTS7000215 for key k-1") != NULL, "text: the incident");
	TAP_OK(strstr(text, "  owners: ") != NULL && strstr(text, "  notifications via none: 0 sent, "
	    "0 pending, 0 failed") != NULL, "text: owners and the outbox");
	TAP_OK(strstr(text, "last error: AADSTS7000215; next retry 2026-01-01T00:00:00Z (attempt 4)") !=
	    NULL, "text: a failing rotation's error and next retry");
	TAP_OK(strstr(text, "waiting for approval: rekey approve -c test.conf r-2") != NULL,
	    "text: how to approve");
	TAP_OK(strstr(text, "events journaled: nylas 0, graph 0") != NULL, "text: journal counts");
	TAP_OK(strstr(text, "  publishes to: connector credential cred-1 (from active_credential_id)\n")
	    != NULL && strstr(text, "  publishes to: not known yet") != NULL,
	    "text: one line on where the secret is published");
	free(text);
}

int
main(void)
{
	struct config *cfg;
	struct store *st;
	char url[128], *err = NULL;
	cJSON *doc;

	util_strlcpy(dir, "/tmp/rekey-status-XXXXXX", sizeof(dir));
	if (mkdtemp(dir) == NULL)
		return 1;
	cfg = load_config();
	TAP_OK(cfg != NULL, "config loads");
	snprintf(url, sizeof(url), "sqlite:%s/rekey.db", dir);
	st = store_open(url, &err);
	TAP_OK(st != NULL, "store opens");
	if (cfg != NULL && st != NULL) {
		doc = status_build(st, cfg);
		TAP_OK(doc != NULL && cJSON_GetArraySize(at(doc, "apps")) == 2 &&
		    cJSON_GetArraySize(at(cJSON_GetArrayItem(at(doc, "apps"), 0), "secrets")) == 0,
		    "empty store: the apps with no secrets");
		cJSON_Delete(doc);
		seed(st);
		doc = status_build(st, cfg);
		TAP_OK(doc != NULL, "status builds");
		if (doc != NULL) {
			test_json(doc);
			test_text(doc);
		}
		cJSON_Delete(doc);
	}
	free(err);
	store_close(st);
	config_free(cfg);
	snprintf(url, sizeof(url), "rm -rf %s", dir);
	if (system(url) != 0)
		printf("# could not remove %s\n", dir);
	return tap_done();
}
