/*
 * rotation_probe: a rotation's token requests to the identity platform.
 * testing probes the new secret until enough acceptances in a row show that
 * it has propagated; watching probes the published secret for
 * secret_watch_period and, when it is refused, the old one (to roll back);
 * also when the correlator recorded a burst of grant.expired while watching.
 */
#include "engine/rotator_int.h"
#include "lib/log.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "outbound/identity.h"
#include "state/config.h"
#include "state/rotation.h"

#include <stdlib.h>
#include <string.h>

static void
probe_cb(const struct identity_result *res, void *arg)
{
	struct probe *p = arg;
	struct app_rot *a = p->a;
	char *why;

	free(p);
	if (a == NULL)
		return;
	a->probe = NULL;
	if (res->status == IDENTITY_CANCELLED)
		return;
	rotator_call_done(a);
	if (res->status == IDENTITY_OK) {
		rotator_decide(a, ROTATION_OUTCOME_OK, NULL, -1);
		return;
	}
	if (res->status == IDENTITY_REJECTED) {
		/* Most likely propagation: a new secret is refused for a few seconds. */
		why = xasprintf("the identity platform refuses the new secret: AADSTS%lld (%s)%s",
		    (long long)(res->aad ? res->aad->code : 0),
		    identity_err_name(res->aad ? res->aad->kind : IDENTITY_ERR_OTHER),
		    a->row.test_ok > 0 ? " after it was accepted (not yet everywhere)" : "");
		/* A refusal breaks the run: the acceptances are counted again from none. */
		a->row.test_ok = 0;
		rotator_decide(a, ROTATION_OUTCOME_REJECTED, why, -1);
	} else {
		why = xasprintf("token request: %s", res->detail ? res->detail : "failed");
		rotator_decide(a, ROTATION_OUTCOME_RETRYABLE, why, -1);
	}
	free(why);
}

void
rotator_test_secret(struct app_rot *a)
{
	struct secret *s = rotator_new_secret(a);
	struct probe *p;

	if (s == NULL) {
		rotator_decide(a, ROTATION_OUTCOME_PERMANENT,
		    "the stored secret cannot be unsealed with the master key", -1);
		return;
	}
	p = xcalloc(1, sizeof(*p));
	p->a = a;
	rotator_call_started(a, "testing");
	if (identity_probe_secret(a->r->hc, a->app, s, probe_cb, p) == -1) {
		free(p);
		rotator_decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send the token request", -1);
	} else {
		a->probe = p;
	}
	secret_free(s);
}

/* ---- watching ---- */

/* Sends a token request with s; cb gets the answer.  0, or -1 when it could not be sent. */
static int
probe_with(struct app_rot *a, const struct secret *s, identity_cb cb)
{
	struct probe *p = xcalloc(1, sizeof(*p));

	p->a = a;
	rotator_call_started(a, strcmp(a->row.state, rotation_state_name(ROTATION_WATCHING)) == 0 ?
	    "watching" : "testing");
	if (identity_probe_secret(a->r->hc, a->app, s, cb, p) == -1) {
		free(p);
		return -1;
	}
	a->probe = p;
	return 0;
}

/* The app_rot of a probe's answer, or NULL when it is to be ignored (freed rotator, cancelled). */
static struct app_rot *
probe_answered(struct probe *p, const struct identity_result *res)
{
	struct app_rot *a = p->a;

	free(p);
	if (a == NULL)
		return NULL;
	a->probe = NULL;
	if (res->status == IDENTITY_CANCELLED)
		return NULL;
	rotator_call_done(a);
	return a;
}

static void
watch_old_cb(const struct identity_result *res, void *arg)
{
	struct app_rot *a = probe_answered(arg, res);

	if (a == NULL)
		return;
	a->old_works = res->status == IDENTITY_OK;
	log_rotation(LOG_LEVEL_WARN, a->app->name, a->row.id,
	    "rotation %s: watching: the new secret is "
	    "refused and the old one %s", a->row.id, a->old_works ? "still works: rolling back" :
	    "is refused too: looking again");
	rotator_decide(a, ROTATION_OUTCOME_REJECTED, "watching: the identity platform refuses the "
	    "published secret", -1);
	a->old_works = 0;
}

static void
watch_new_cb(const struct identity_result *res, void *arg)
{
	struct app_rot *a = probe_answered(arg, res);
	struct secret *old;

	if (a == NULL)
		return;
	if (res->status == IDENTITY_OK) {
		rotator_decide(a, ROTATION_OUTCOME_OK, NULL, -1);
		return;
	}
	if (res->status != IDENTITY_REJECTED) {
		rotator_decide(a, ROTATION_OUTCOME_RETRYABLE, "watching: the token request failed", -1);
		return;
	}
	/* Refused after publishing: does the old secret still work? */
	old = rotator_old_secret(a);
	if (old == NULL || probe_with(a, old, watch_old_cb) == -1)
		rotator_decide(a, ROTATION_OUTCOME_REJECTED, "watching: the identity platform refuses the "
		    "published secret", -1);
	secret_free(old);
}

/* Whether a burst of grant.expired is recorded for a's rotation and not looked at yet. */
static int
burst_unchecked(struct app_rot *a, const struct store_rotation *row)
{
	int64_t at = 0;
	int n = 0;

	if (a->burst_checked != NULL && strcmp(a->burst_checked, row->id) == 0)
		return 0;
	return rotation_burst_get(a->r->st, a->app->name, row->id, &at, &n) == 1;
}

int
rotator_burst_due(struct app_rot *a, const struct store_rotation *row)
{
	return strcmp(row->state, rotation_state_name(ROTATION_WATCHING)) == 0 &&
	    burst_unchecked(a, row);
}

static void
watch_burst_cb(const struct identity_result *res, void *arg)
{
	struct app_rot *a = probe_answered(arg, res);
	int go_on;

	if (a == NULL)
		return;
	/* Looked at once per rotation (and again after a restart): the burst stays recorded. */
	rotator_set_text(&a->burst_checked, a->row.id);
	a->old_works = res->status == IDENTITY_OK;
	log_rotation(LOG_LEVEL_WARN, a->app->name, a->row.id,
	    "rotation %s: watching: grants expired in a "
	    "burst since publishing and the old secret %s", a->row.id, a->old_works ?
	    "still works: rolling back" : "does not work either: keeping the new one");
	go_on = rotator_decide(a, ROTATION_OUTCOME_EXPIRED_BURST, "watching: grants expired in "
	    "a burst since publishing", -1);
	a->old_works = 0;
	if (go_on)
		rotator_watch(a);
}

/* watching: a token request with the published secret, every secret_watch_interval_ms. */
void
rotator_watch(struct app_rot *a)
{
	struct secret *s, *old;
	int sent;

	if (burst_unchecked(a, &a->row)) {
		old = rotator_old_secret(a);
		sent = old != NULL && probe_with(a, old, watch_burst_cb) == 0;
		secret_free(old);
		if (sent)
			return;
		/* Nothing to roll back to (or no probe to send): the watch goes on. */
		rotator_set_text(&a->burst_checked, a->row.id);
	}
	s = rotator_new_secret(a);

	if (s == NULL) {
		rotator_decide(a, ROTATION_OUTCOME_PERMANENT,
		    "the stored secret cannot be unsealed with the master key", -1);
		return;
	}
	if (probe_with(a, s, watch_new_cb) == -1)
		rotator_decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send the token request", -1);
	secret_free(s);
}
