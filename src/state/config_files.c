/*
 * config_files: phase 5 of loading, the files the config names.  A path
 * must be a readable file; a secret file must pass secret_file_check, then
 * is loaded as its row says (a first line, every line, the master key, a
 * whsec_ key, or a channel URL kept out of the config).
 */
#include "state/config_files.h"
#include "lib/crypto.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "state/config.h"
#include "state/config_keys.h"
#include "state/config_parser.h"
#include "state/config_values.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define MASTER_KEY_HEX		64

static int
check_readable(const char *path, char **err)
{
	struct stat st;

	if (stat(path, &st) == -1 || access(path, R_OK) == -1) {
		*err = xasprintf("cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		*err = xasprintf("%s is not a regular file", path);
		return -1;
	}
	return 0;
}

static int
decode_master_key(const struct secret *hex, struct secret **out)
{
	unsigned char key[CRYPTO_AEAD_KEY_LEN];
	ssize_t n;

	if (hex->len != MASTER_KEY_HEX)
		return -1;
	n = crypto_hex_decode((const char *)hex->data, hex->len, key, sizeof(key));
	if (n != (ssize_t)sizeof(key)) {
		OPENSSL_cleanse(key, sizeof(key));
		return -1;
	}
	*out = secret_new(key, sizeof(key));
	OPENSSL_cleanse(key, sizeof(key));
	return 0;
}

struct secret *
config_read_master_key(const char *path, char **err)
{
	struct secret *hex = secret_read_file(path, err), *key = NULL;

	if (hex == NULL)
		return NULL;
	if (decode_master_key(hex, &key) == -1)
		*err = xasprintf("%s must hold %d hex characters (32 bytes; make one with openssl "
		    "rand -hex 32)", path, MASTER_KEY_HEX);
	secret_free(hex);
	return key;
}

static int
valid_whsec(const struct secret *s)
{
	unsigned char *key = NULL;
	size_t keylen = 0;
	int ok;

	if (s->len <= 6 || memcmp(s->data, "whsec_", 6) != 0)
		return 0;
	ok = crypto_b64_decode((const char *)s->data + 6, s->len - 6, &key, &keylen) == 0 &&
	    keylen > 0;
	if (key != NULL) {
		OPENSSL_cleanse(key, keylen);
		free(key);
	}
	return ok;
}

/* Reads the first line and keeps it (or what it encodes) as k says.  NULL or a message. */
static char *
load_first_line(const struct config_key *k, void *base, const char *path)
{
	struct secret **dst = (struct secret **)((char *)base + k->secret_offset);
	char *err = NULL, *msg;
	struct secret *s = secret_read_file(path, &err);

	if (s == NULL) {
		msg = xasprintf("%s: %s", k->name, err);
		free(err);
		return msg;
	}
	if (k->load == LOAD_MASTER_KEY) {
		if (decode_master_key(s, dst) == -1)
			err = xasprintf("%s must hold %d hex characters (32 bytes)", k->name,
			    MASTER_KEY_HEX);
	} else if (k->load == LOAD_WHSEC) {
		if (!valid_whsec(s)) {
			err = xasprintf("%s must hold 'whsec_' followed by a base64 key", k->name);
		} else {
			*dst = s;
			s = NULL;
		}
	} else if (k->secret_max > 0 && s->len > k->secret_max) {
		err = xasprintf("%s: the value must be at most %zu characters", k->name,
		    k->secret_max);
	} else if (s->len < k->secret_min) {
		err = xasprintf("%s: the value must be at least %zu characters (make one with "
		    "openssl rand -hex 32)", k->name, k->secret_min);
	} else {
		*dst = s;
		s = NULL;
	}
	secret_free(s);
	return err;
}

/*
 * A channel URL from its file, into the field its plain key fills (which
 * must then be unset).  The value is checked like the plain key's but never
 * quoted: its path is the credential.  NULL, or a message.
 */
static char *
load_url(const struct config_key *k, void *base, const char *path)
{
	char **dst = (char **)((char *)base + k->secret_offset);
	char *err = NULL, *msg = NULL, *schemes;
	struct secret *s;

	if (*dst != NULL)
		return xasprintf("%s: set %.*s or %s, not both", k->name,
		    (int)(strlen(k->name) - strlen("_file")), k->name, k->name);
	s = secret_read_file(path, &err);
	if (s == NULL) {
		msg = xasprintf("%s: %s", k->name, err);
		free(err);
		return msg;
	}
	if (memchr(s->data, '\0', s->len) != NULL || !config_valid_url(k->words, (const char *)s->data)) {
		schemes = config_word_list(k->words);
		msg = xasprintf("%s: the file must hold one URL starting with %s", k->name, schemes);
		free(schemes);
	} else {
		*dst = xstrndup((const char *)s->data, s->len);
	}
	secret_free(s);
	return msg;
}

/* Loads the secret file of k as its row says.  NULL, or a message naming the key. */
static char *
load_secret(const struct config_key *k, void *base, const char *path)
{
	struct secret ***list;
	size_t *n;
	char *err = NULL, *msg;

	switch (k->load) {
	case LOAD_NONE:
		return NULL;
	case LOAD_URL:
		return load_url(k, base, path);
	case LOAD_LINES:
		list = (struct secret ***)((char *)base + k->secret_offset);
		n = (size_t *)((char *)base + k->secret_count_offset);
		if (secret_read_lines(path, list, n, &err) == -1) {
			msg = xasprintf("%s: %s", k->name, err);
			free(err);
			return msg;
		}
		return NULL;
	default:
		return load_first_line(k, base, path);
	}
}

static void
check_file(struct parser *p, const struct config_key *k, void *base, const struct slot *slot)
{
	const char *path = *(char **)((char *)base + k->offset);
	char *err = NULL, *msg;

	if (path == NULL)
		return;
	if (k->type == KT_PATH) {
		if (check_readable(path, &err) == -1) {
			config_report_slot(p, slot, "%s: %s", k->name, err);
			free(err);
		}
		return;
	}
	if (secret_file_check(path, &err) == -1) {
		config_report_slot(p, slot, "%s: %s", k->name, err);
		free(err);
		return;
	}
	msg = load_secret(k, base, path);
	if (msg != NULL) {
		config_report_slot(p, slot, "%s", msg);
		free(msg);
	}
}

void
config_check_files(struct parser *p)
{
	size_t i, a;

	for (i = 0; i < N_KEYS; i++) {
		const struct config_key *k = &config_keys[i];

		if (k->type != KT_PATH && k->type != KT_SECRET_FILE)
			continue;
		if (k->section != SEC_APP) {
			check_file(p, k, p->cfg, &p->global[i]);
			continue;
		}
		for (a = 0; a < p->cfg->n_apps; a++)
			check_file(p, k, p->cfg->apps[a], &p->apps[a]->slots[i]);
	}
}
