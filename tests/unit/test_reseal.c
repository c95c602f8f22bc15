/*
 * reseal: every sealed row (rotations of configured apps and of an app no
 * longer configured, one sealed the older way bound to its id alone, the
 * managed webhook secrets current and previous) is sealed under the new key
 * and no longer opens under the old one, with the same text and the rest of
 * its record kept; a second run changes nothing; a wrong old key, or one
 * corrupt row among good ones, is refused with the row named and the store
 * byte for byte as it was; rows already under the new key beside rows under
 * the old one are finished.  reseal_check_key refuses a key that opens none
 * of the rows.  config_read_master_key checks the new key file as
 * master_key_file is checked.
 */
#include "tap.h"
#include "lib/crypto.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "state/config.h"
#include "state/config_load.h"
#include "state/nylas_secrets.h"
#include "state/reseal.h"
#include "state/rotation.h"
#include "state/store.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/rekey-reseal-XXXXXX";
static int n_stores;

#define KEY_A "0011223344556677889900112233445566778899001122334455667788990011"
#define KEY_B "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static int
write_file(const char *path, const char *content, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ssize_t n = fd == -1 ? -1 : write(fd, content, strlen(content));

	if (fd != -1)
		close(fd);
	return n == (ssize_t)strlen(content) && chmod(path, mode) == 0 ? 0 : -1;
}

static struct secret *
key_of(const char *hex)
{
	unsigned char k[32];

	crypto_hex_decode(hex, 64, k, sizeof(k));
	return secret_new(k, sizeof(k));
}

static struct config *
load_config(void)
{
	char key[128], hook[128], text[768], *errors = NULL;
	char *const envp[] = { NULL };
	struct config *cfg;

	snprintf(key, sizeof(key), "%s/master_key", dir);
	snprintf(hook, sizeof(hook), "%s/webhook", dir);
	if (write_file(key, KEY_A "\n", 0600) == -1 || write_file(hook, "file-secret\n", 0600) == -1)
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

static struct store *
fresh_store(void)
{
	char url[160], *err = NULL;
	struct store *st;

	snprintf(url, sizeof(url), "sqlite:%s/store-%d.db", dir, n_stores++);
	st = store_open(url, &err);
	if (st == NULL) {
		printf("Bail out! %s\n", err);
		exit(1);
	}
	return st;
}

/* A rotation of app sealed under key (legacy: bound to its id alone, as before the binding). */
static void
put_rotation(struct store *st, const char *id, const char *app, const struct secret *key,
    const char *text, int legacy)
{
	struct store_rotation r;
	struct secret *s = secret_new(text, strlen(text));

	memset(&r, 0, sizeof(r));
	r.id = xstrdup(id);
	r.app = xstrdup(app);
	r.state = xstrdup("done");
	r.reason = xstrdup("manual");
	r.new_key_id = xasprintf("key-of-%s", id);
	r.created_at = util_now_ms();
	if (key != NULL && legacy)
		crypto_aead_seal(key->data, id, strlen(id), text, strlen(text), &r.secret_ct,
		    &r.secret_ct_len);
	else if (key != NULL)
		rotation_seal(key, &r, s);
	store_put_rotation(st, &r);
	store_rotation_clear(&r);
	secret_free(s);
}

/* 1 when rotation id opens under key in the bound form and gives text. */
static int
rotation_opens(struct store *st, const char *id, const struct secret *key, const char *text)
{
	struct store_rotation r;
	struct secret *s = NULL;
	int ok;

	if (store_get_rotation(st, id, &r) != 1)
		return 0;
	s = rotation_unseal(key, &r);
	ok = s != NULL && secret_equal(s, text, strlen(text)) && s->len == strlen(text);
	secret_free(s);
	store_rotation_clear(&r);
	return ok;
}

/* 1 when app's managed secret which opens under key and gives text. */
static int
webhook_opens(struct store *st, const char *app, enum nylas_secrets_which which,
    const struct secret *key, const char *text)
{
	struct secret *s = NULL;
	char *hex = NULL;
	int ok;

	if (nylas_secrets_get_sealed(st, app, which, &hex) != 1)
		return 0;
	s = nylas_secrets_open(key, app, hex);
	ok = s != NULL && s->len == strlen(text) && secret_equal(s, text, strlen(text));
	secret_free(s);
	free(hex);
	return ok;
}

/* Every sealed column and value of st as one string, to tell "nothing changed". */
static char *
snapshot(struct store *st)
{
	const char *ids[] = { "r-prod", "r-legacy", "r-gone", "r-bad", "r-empty" };
	struct store_rotation r;
	char *out = xstrdup(""), *hex, *v, *next;
	size_t i;

	for (i = 0; i < 5; i++) {
		if (store_get_rotation(st, ids[i], &r) != 1)
			continue;
		hex = xcalloc(1, 2 * r.secret_ct_len + 1);
		if (r.secret_ct != NULL)
			crypto_hex_encode(r.secret_ct, r.secret_ct_len, hex);
		next = xasprintf("%s|%s=%s", out, ids[i], hex);
		free(out);
		free(hex);
		out = next;
		store_rotation_clear(&r);
	}
	for (i = 0; i < 2; i++) {
		v = NULL;
		if (store_get_value(st, "prod", i == 0 ? "nylas_webhook.secret" :
		    "nylas_webhook.previous", &v) == 1) {
			next = xasprintf("%s|%s", out, v);
			free(out);
			out = next;
		}
		free(v);
	}
	return out;
}

/* The rows of a store in use: two rotations of configured apps, one legacy, one of an app gone. */
static void
fill(struct store *st, const struct config *cfg, const struct secret *key)
{
	struct secret *w1 = secret_new("webhook-one", 11), *w2 = secret_new("webhook-two", 11);

	put_rotation(st, "r-prod", "prod", key, "secret-prod", 0);
	put_rotation(st, "r-legacy", "staging", key, "secret-legacy", 1);
	put_rotation(st, "r-gone", "retired-app", key, "secret-gone", 0);
	put_rotation(st, "r-empty", "prod", NULL, "", 0);
	/* Sealed with cfg's own key (A), the way the daemon does. */
	nylas_secrets_store(st, cfg, "prod", w1, 1000, 0, 0, NULL);
	nylas_secrets_store(st, cfg, "prod", w2, 2000, 1, 99000, "manual");
	secret_free(w1);
	secret_free(w2);
}

static void
test_reseal(const struct config *cfg, const struct secret *a, const struct secret *b)
{
	struct store *st = fresh_store();
	struct reseal_tally t;
	struct nylas_secrets_record rec;
	char *err = NULL;

	fill(st, cfg, a);
	TAP_OK(reseal_store(st, a, b, &t, &err) == 0, "reseal A to B: done (%s)",
	    err ? err : "");
	TAP_OK(t.rotations == 3 && t.webhook_secrets == 2 && t.already == 0 && t.unreadable == 0,
	    "three rotations (one of an app no longer configured) and two webhook secrets "
	    "(%d, %d, %d, %d)", t.rotations, t.webhook_secrets, t.already, t.unreadable);
	reseal_tally_clear(&t);
	TAP_OK(rotation_opens(st, "r-prod", b, "secret-prod") &&
	    rotation_opens(st, "r-gone", b, "secret-gone"), "the rotations open under B, same text");
	TAP_OK(rotation_opens(st, "r-legacy", b, "secret-legacy"),
	    "the legacy row is sealed under B in the bound form");
	TAP_OK(!rotation_opens(st, "r-prod", a, "secret-prod") &&
	    !rotation_opens(st, "r-legacy", a, "secret-legacy") &&
	    !rotation_opens(st, "r-gone", a, "secret-gone"), "and none opens under A any more");
	TAP_OK(webhook_opens(st, "prod", NYLAS_SECRETS_CURRENT, b, "webhook-two") &&
	    webhook_opens(st, "prod", NYLAS_SECRETS_PREVIOUS, b, "webhook-one"),
	    "the managed webhook secrets, current and previous, open under B");
	TAP_OK(!webhook_opens(st, "prod", NYLAS_SECRETS_CURRENT, a, "webhook-two") &&
	    !webhook_opens(st, "prod", NYLAS_SECRETS_PREVIOUS, a, "webhook-one"),
	    "and not under A");
	nylas_secrets_get(st, "prod", &rec);
	TAP_OK(rec.secret_created_ms == 2000 && rec.previous_until_ms == 99000 &&
	    rec.rotated_ms == 2000, "the rest of their record is kept");
	nylas_secrets_record_clear(&rec);

	TAP_OK(reseal_store(st, a, b, &t, &err) == 0 && t.rotations == 0 &&
	    t.webhook_secrets == 0 && t.already == 5, "a second run: everything under B "
	    "already, nothing to do (%d)", t.already);
	reseal_tally_clear(&t);
	TAP_OK(reseal_check_key(st, cfg, b, &err) == 0, "check: B fits the store");
	TAP_OK(reseal_check_key(st, cfg, a, &err) == -1 && err != NULL &&
	    strstr(err, "master_key_file") != NULL && strstr(err, "r-prod") != NULL,
	    "check: A opens none of them, refused naming them");
	printf("# %s\n", err ? err : "");
	free(err);
	store_close(st);
}

/*
 * An app taken out of the config with a managed webhook secret stored and no
 * rotation: its secret is resealed too (it was left under the old key, lost
 * for good once that key was gone, when the app came back).
 */
static void
test_app_gone(const struct config *cfg, const struct secret *a, const struct secret *b)
{
	struct store *st = fresh_store();
	struct secret *w = secret_new("webhook-gone", 12);
	struct reseal_tally t;
	char *err = NULL;

	fill(st, cfg, a);
	nylas_secrets_store(st, cfg, "unlisted", w, 3000, 0, 0, NULL);
	secret_free(w);
	TAP_OK(reseal_store(st, a, b, &t, &err) == 0 && t.webhook_secrets == 3,
	    "app gone: its managed webhook secret is resealed too (%d of 3) %s",
	    t.webhook_secrets, err ? err : "");
	reseal_tally_clear(&t);
	TAP_OK(webhook_opens(st, "unlisted", NYLAS_SECRETS_CURRENT, b, "webhook-gone") &&
	    !webhook_opens(st, "unlisted", NYLAS_SECRETS_CURRENT, a, "webhook-gone"),
	    "app gone: it opens under B, not under A");
	TAP_OK(reseal_check_key(st, cfg, b, &err) == 0, "app gone: check: B fits the store");
	free(err);
	store_close(st);
}

static void
test_wrong_key(const struct config *cfg, const struct secret *a, const struct secret *b)
{
	struct store *st = fresh_store();
	struct secret *c = key_of(KEY_B), *d = key_of(KEY_A);
	struct reseal_tally t;
	char *before, *after, *err = NULL;

	fill(st, cfg, a);
	c->data[0] ^= 1;
	d->data[0] ^= 1;
	before = snapshot(st);
	TAP_OK(reseal_store(st, c, d, &t, &err) == -1 && t.unreadable == 5,
	    "a wrong old key: refused, five rows under neither key");
	TAP_OK(err != NULL && strstr(err, "rotation r-prod (app prod)") != NULL &&
	    strstr(err, "previous managed Nylas webhook secret (app prod)") != NULL,
	    "the rows are named: %s", err ? err : "");
	after = snapshot(st);
	TAP_STR_EQ(after, before, "nothing changed");
	TAP_OK(rotation_opens(st, "r-prod", a, "secret-prod"), "the rows still open under A");
	reseal_tally_clear(&t);
	free(err);
	free(before);
	free(after);
	secret_free(c);
	secret_free(d);
	(void)b;
	store_close(st);
}

static void
test_one_corrupt_row(const struct config *cfg, const struct secret *a, const struct secret *b)
{
	struct store *st = fresh_store();
	struct store_rotation r;
	struct reseal_tally t;
	char *before, *after, *err = NULL;

	fill(st, cfg, a);
	put_rotation(st, "r-bad", "prod", a, "secret-bad", 0);
	if (store_get_rotation(st, "r-bad", &r) == 1) {
		r.secret_ct[r.secret_ct_len - 1] ^= 0x01;
		store_put_rotation(st, &r);
		store_rotation_clear(&r);
	}
	before = snapshot(st);
	TAP_OK(reseal_store(st, a, b, &t, &err) == -1 && t.unreadable == 1,
	    "one corrupt row among good ones: refused");
	TAP_OK(err != NULL && strstr(err, "rotation r-bad (app prod)") != NULL &&
	    strstr(err, "r-prod") == NULL, "only that row is named: %s", err ? err : "");
	after = snapshot(st);
	TAP_STR_EQ(after, before, "the transaction is undone whole: nothing changed");
	TAP_OK(rotation_opens(st, "r-prod", a, "secret-prod") &&
	    webhook_opens(st, "prod", NYLAS_SECRETS_CURRENT, a, "webhook-two"),
	    "the good rows are still under A");
	TAP_OK(reseal_check_key(st, cfg, a, &err) == 0, "check: A opens most of them, accepted "
	    "(the bad one is logged)");
	reseal_tally_clear(&t);
	free(err);
	free(before);
	free(after);
	store_close(st);
}

static void
test_mixed(const struct config *cfg, const struct secret *a, const struct secret *b)
{
	struct store *st = fresh_store();
	struct reseal_tally t;
	char *err = NULL;

	TAP_OK(reseal_check_key(st, cfg, a, &err) == 0, "check: an empty store fits any key");
	put_rotation(st, "r-prod", "prod", a, "secret-prod", 0);
	put_rotation(st, "r-gone", "retired-app", b, "secret-gone", 0);
	TAP_OK(reseal_store(st, a, b, &t, &err) == 0 && t.rotations == 1 && t.already == 1,
	    "rows under A beside rows under B: those under A are finished");
	TAP_OK(rotation_opens(st, "r-prod", b, "secret-prod") &&
	    rotation_opens(st, "r-gone", b, "secret-gone"), "all open under B");
	reseal_tally_clear(&t);
	store_close(st);
}

static void
test_key_file(void)
{
	char path[160], *err = NULL;
	struct secret *k;

	snprintf(path, sizeof(path), "%s/new_key", dir);
	write_file(path, KEY_B "\n", 0644);
	k = config_read_master_key(path, &err);
	TAP_OK(k == NULL && err != NULL && strstr(err, "mode 644") != NULL,
	    "a key file others may read is refused: %s", err ? err : "");
	free(err);
	err = NULL;
	write_file(path, "abcd\n", 0600);
	k = config_read_master_key(path, &err);
	TAP_OK(k == NULL && err != NULL && strstr(err, "64 hex characters") != NULL,
	    "a key file that is not 64 hex characters is refused: %s", err ? err : "");
	free(err);
	err = NULL;
	write_file(path, KEY_B "\n", 0600);
	k = config_read_master_key(path, &err);
	TAP_OK(k != NULL && k->len == 32 && k->data[0] == 0xff, "a good key file is read");
	secret_free(k);
}

int
main(void)
{
	struct config *cfg;
	struct secret *a, *b;

	if (mkdtemp(dir) == NULL || (cfg = load_config()) == NULL) {
		printf("Bail out! setup\n");
		return 1;
	}
	a = key_of(KEY_A);
	b = key_of(KEY_B);
	test_reseal(cfg, a, b);
	test_app_gone(cfg, a, b);
	test_wrong_key(cfg, a, b);
	test_one_corrupt_row(cfg, a, b);
	test_mixed(cfg, a, b);
	test_key_file();
	secret_free(a);
	secret_free(b);
	config_free(cfg);
	return tap_done();
}
