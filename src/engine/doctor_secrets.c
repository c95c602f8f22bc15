/*
 * doctor_secrets: the checks of the app's client secrets: whether the
 * secret rekey believes in use gets a token at the token endpoint, whether
 * it matches a live credential's hint, and when each credential ends.
 */
#include "engine/doctor_int.h"
#include "engine/rotation_in_use.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "outbound/identity.h"
#include "proto/explain.h"
#include "state/config.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* --- the in-use secret ---------------------------------------------------------- */

static void
probe_cb(const struct identity_result *res, void *arg)
{
	struct doctor *d = arg;
	char *fix = NULL;
	const char *why;

	/* Freed clients tell their pending calls: the doctor is being torn down. */
	if (res->status == IDENTITY_CANCELLED)
		return;
	if (res->status == IDENTITY_OK) {
		doctor_add_line(d, DOCTOR_OK, "in_use_secret", NULL, "the secret from %s (hint %.3s) "
		    "gets a token for %s", d->in_use_source, (const char *)d->in_use->data,
		    d->app->azure_client_id);
	} else if (res->aad != NULL && res->aad->kind == IDENTITY_ERR_SECRET_EXPIRED) {
		fix = doctor_app_command(d, "rotate now: rekey rotate");
		doctor_add_line(d, DOCTOR_FAIL, "in_use_secret", fix, "the secret from %s (hint %.3s) has "
		    "expired: AADSTS7000222", d->in_use_source, (const char *)d->in_use->data);
	} else if (res->aad != NULL) {
		why = explain_aadsts(res->aad->code);
		doctor_add_line(d, DOCTOR_FAIL, "in_use_secret", why, "the token endpoint refuses the "
		    "secret from %s (hint %.3s): AADSTS%lld", d->in_use_source,
		    (const char *)d->in_use->data, (long long)res->aad->code);
	} else if (res->status != IDENTITY_CANCELLED) {
		doctor_add_line(d, DOCTOR_WARN, "in_use_secret", "run doctor again when the token "
		    "endpoint answers", "could not test the secret: %s",
		    str_or(res->detail, "no answer"));
	}
	free(fix);
	doctor_advance(d);
}

int
doctor_step_probe(struct doctor *d)
{
	const char *source = NULL;

	if (d->st != NULL)
		d->in_use = rotation_in_use_secret(d->st, d->cfg, d->app, &source);
	else if (d->app->current_secret != NULL)
		d->in_use = secret_new(d->app->current_secret->data, d->app->current_secret->len);
	d->in_use_source = d->st != NULL ? source : "current_secret_file";
	if (d->in_use == NULL || d->in_use->len < 3) {
		doctor_add_line(d, DOCTOR_WARN, "in_use_secret", "set current_secret_file to the client "
		    "secret the Nylas connector holds now (its value, not its ID); rekey keeps "
		    "track by itself after its first rotation", "rekey cannot tell which secret "
		    "Nylas uses: no published rotation and no current_secret_file%s%s",
		    d->st == NULL ? "; store not readable: " : "", str_or(d->store_err, ""));
		return 1;
	}
	if (identity_probe_secret(d->hc, d->app, d->in_use, probe_cb, d) == 0)
		return 0;
	doctor_add_line(d, DOCTOR_WARN, "in_use_secret", NULL, "the probe could not be sent");
	return 1;
}

/* The credentials whose hint is the in-use secret's first characters. */
static size_t
hint_matches(const struct doctor *d, const struct cred **match)
{
	size_t i, n = 0, hl;

	*match = NULL;
	for (i = 0; i < d->n_creds; i++) {
		hl = d->creds[i].hint != NULL ? strlen(d->creds[i].hint) : 0;
		if (hl == 0 || hl > d->in_use->len ||
		    CRYPTO_memcmp(d->creds[i].hint, d->in_use->data, hl) != 0)
			continue;
		*match = &d->creds[i];
		n++;
	}
	return n;
}

/* Does the secret rekey believes in use match a live credential's hint? */
static void
hint_check(struct doctor *d)
{
	const struct cred *m;
	size_t n = hint_matches(d, &m);
	char *fix;

	if (n == 1) {
		doctor_add_line(d, DOCTOR_OK, "in_use_hint", NULL, "hint %.3s matches credential %s",
		    (const char *)d->in_use->data, str_or(m->key_id, "?"));
		if (d->in_use_key == NULL && m->key_id != NULL)
			d->in_use_key = xstrdup(m->key_id);
		return;
	}
	if (n > 1) {
		doctor_add_line(d, DOCTOR_WARN, "in_use_hint", "remove the credentials that are not in use "
		    "from the app registration", "%zu credentials share hint %.3s: rekey cannot "
		    "tell which one is in use", n, (const char *)d->in_use->data);
		return;
	}
	fix = doctor_app_command(d, "the secret rekey believes in use is not on the app registration: "
	    "set current_secret_file to the secret the connector holds, or rotate: rekey rotate");
	doctor_add_line(d, DOCTOR_FAIL, "in_use_hint", fix, "no live credential has hint %.3s (the "
	    "secret from %s)", (const char *)d->in_use->data, d->in_use_source);
	free(fix);
}

/* One credential's end date. */
static void
cred_line(struct doctor *d, const struct cred *c)
{
	char when[32], *fix = NULL;
	int in_use = same_nocase(c->key_id, d->in_use_key);
	int64_t left = c->end - d->now;
	enum doctor_level level = DOCTOR_OK;

	util_format_time(c->end, when, sizeof(when));
	if (in_use && left <= 0) {
		level = DOCTOR_FAIL;
		fix = doctor_app_command(d, "rotate now: rekey rotate");
	} else if (in_use && left < d->app->rotate_before) {
		level = DOCTOR_WARN;
		fix = doctor_app_command(d, "the running daemon rotates it within rotate_before; to do "
		    "it now: rekey rotate");
	}
	doctor_add_line(d, level, "secret_end", fix, "%s (hint %s)%s %s %s (%lld days)",
	    str_or(c->key_id, "?"), str_or(c->hint, "?"), in_use ? ", in use," : "",
	    left <= 0 ? "ended" : "ends", when, (long long)(left / DAY_S));
	free(fix);
}

int
doctor_step_secrets(struct doctor *d)
{
	size_t i;

	if (d->app_oid == NULL)
		return 1;
	if (d->in_use != NULL && d->in_use->len >= 3)
		hint_check(d);
	for (i = 0; i < d->n_creds; i++)
		cred_line(d, &d->creds[i]);
	if (d->n_creds == 0)
		doctor_add_line(d, DOCTOR_FAIL, "secret_end", "create a client secret in the portal, put "
		    "it in the Nylas connector and in current_secret_file", "the app has no client "
		    "secret");
	return 1;
}

