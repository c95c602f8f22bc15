/*
 * nylas_secrets: a managed webhook secret stored sealed (not in clear, and
 * bound to its app), loaded back into memory and accepted; after a rotation
 * the previous one is accepted until its grace ends and not after, also
 * across a load (a restart); the window opens, ends by itself and closes;
 * the record says what the store holds.
 */
#include "tap.h"
#include "lib/crypto.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "proto/nylas_event.h"
#include "state/config.h"
#include "state/config_load.h"
#include "state/nylas_secrets.h"
#include "state/store.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/rekey-nylas-secrets-XXXXXX";

static int
write_file(const char *path, const char *content)
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
	if (write_file(key, "0011223344556677889900112233445566778899001122334455667788990011\n")
	    == -1 || write_file(hook, "file-secret\n") == -1)
		return NULL;
	snprintf(text, sizeof(text), "[server]\nlisten = 127.0.0.1:0\n[store]\n"
	    "url = sqlite:%s/rekey.db\nmaster_key_file = %s\n"
	    "[app prod]\nnylas_webhook_secret_file = %s\n"
	    "[app staging]\nnylas_webhook_secret_file = %s\n", dir, key, hook, hook);
	cfg = config_parse("test.conf", text, strlen(text), envp, &errors);
	if (cfg == NULL)
		printf("# %s\n", errors);
	free(errors);
	return cfg;
}

/* The hex signature of body with key, as Nylas sends it. */
static void
signature(const char *key, const char *body, char out[2 * CRYPTO_SHA256_LEN + 1])
{
	unsigned char mac[CRYPTO_SHA256_LEN];

	crypto_hmac_sha256(key, strlen(key), body, strlen(body), mac);
	crypto_hex_encode(mac, sizeof(mac), out);
}

static const char accepted_body[] = "{\"id\":\"e-1\"}";

static int
match_cb(struct secret *const *secrets, size_t n, void *arg)
{
	return nylas_signature_matches(arg, accepted_body, strlen(accepted_body), secrets, n);
}

static int
accepted(struct nylas_secrets *ks, const char *app, const char *key, int64_t now_ms)
{
	char sig[2 * CRYPTO_SHA256_LEN + 1];

	signature(key, accepted_body, sig);
	return nylas_secrets_check(ks, app, now_ms, match_cb, sig);
}

static void
test_store_and_load(struct store *st, const struct config *cfg)
{
	struct secret *first = secret_new("first-secret", 12), *second = secret_new("second-one", 10);
	struct nylas_secrets *ks = nylas_secrets_new();
	struct nylas_secrets_record r;
	char *raw = NULL;

	TAP_OK(nylas_secrets_store(st, cfg, "prod", first, 1000, 0, 0, NULL) == 0,
	    "a registered secret is stored");
	TAP_OK(store_get_value(st, "prod", "nylas_webhook.secret", &raw) == 1 &&
	    strstr(raw, "first-secret") == NULL, "sealed: the store does not hold it in clear");
	free(raw);
	nylas_secrets_load(ks, st, cfg);
	TAP_OK(accepted(ks, "prod", "first-secret", util_now_ms()), "loaded and accepted");
	TAP_OK(!accepted(ks, "staging", "first-secret", util_now_ms()), "for its own app only");
	TAP_OK(!accepted(ks, "prod", "file-secret", util_now_ms()),
	    "the file's lines are not the module's business");

	TAP_OK(nylas_secrets_store(st, cfg, "prod", second, 5000, 1, util_now_ms() + 60000,
	    "manual") == 0, "a rotated secret is stored");
	nylas_secrets_free(ks);
	ks = nylas_secrets_new();
	nylas_secrets_load(ks, st, cfg);
	TAP_OK(accepted(ks, "prod", "second-one", util_now_ms()), "after a restart the new one is "
	    "accepted");
	TAP_OK(accepted(ks, "prod", "first-secret", util_now_ms()), "and the previous one within "
	    "its grace");
	TAP_OK(!accepted(ks, "prod", "first-secret", util_now_ms() + 60001),
	    "but not after it");
	nylas_secrets_get(st, "prod", &r);
	TAP_OK(r.secret_created_ms == 5000 && r.rotated_ms == 5000 &&
	    r.rotation_state != NULL && strcmp(r.rotation_state, "done") == 0 &&
	    strcmp(r.rotation_reason, "manual") == 0, "the record says rotated, done, manual");
	nylas_secrets_record_clear(&r);

	/* A ciphertext moved to another app does not open there. */
	TAP_OK(store_get_value(st, "prod", "nylas_webhook.secret", &raw) == 1 &&
	    store_put_value(st, "staging", "nylas_webhook.secret", raw) == 0, "copied to staging");
	free(raw);
	nylas_secrets_load(ks, st, cfg);
	TAP_OK(!accepted(ks, "staging", "second-one", util_now_ms()),
	    "a sealed secret is bound to its app");
	nylas_secrets_free(ks);
	secret_free(first);
	secret_free(second);
}

static void
test_window_and_install(void)
{
	struct nylas_secrets *ks = nylas_secrets_new();
	struct secret *a = secret_new("aaaa", 4), *b = secret_new("bbbb", 4);

	TAP_OK(!nylas_secrets_in_window(ks, "prod", 100), "no window at first");
	nylas_secrets_open_window(ks, "prod", 200);
	TAP_OK(nylas_secrets_in_window(ks, "prod", 100) && !nylas_secrets_in_window(ks, "staging",
	    100), "open for that app");
	TAP_OK(!nylas_secrets_in_window(ks, "prod", 200), "it ends by itself at its deadline");
	nylas_secrets_open_window(ks, "prod", 300);
	nylas_secrets_close_window(ks, "prod");
	TAP_OK(!nylas_secrets_in_window(ks, "prod", 100), "and closes when told");
	TAP_OK(!nylas_secrets_in_window(NULL, "prod", 100), "none without the module");

	nylas_secrets_install(ks, "prod", a, 1, 0);
	nylas_secrets_install(ks, "prod", b, 2, 500);
	TAP_OK(accepted(ks, "prod", "bbbb", 400) && accepted(ks, "prod", "aaaa", 400) &&
	    !accepted(ks, "prod", "aaaa", 500), "install: the old one until its grace ends");
	nylas_secrets_free(ks);
	secret_free(a);
	secret_free(b);
}

int
main(void)
{
	struct config *cfg;
	struct store *st;
	char url[128], *err = NULL;

	if (mkdtemp(dir) == NULL || (cfg = load_config()) == NULL) {
		printf("Bail out! setup\n");
		return 1;
	}
	snprintf(url, sizeof(url), "sqlite:%s/rekey.db", dir);
	st = store_open(url, &err);
	if (st == NULL) {
		printf("Bail out! %s\n", err);
		return 1;
	}
	test_store_and_load(st, cfg);
	test_window_and_install();
	store_close(st);
	config_free(cfg);
	return tap_done();
}
