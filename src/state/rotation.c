/*
 * rotation: the rotation record and what is decided from it alone.  The
 * states and their names, the state machine of DESIGN.md as one pure
 * function (rotation_next), what the CLI and the diagnosis write
 * (rotation_plan, rotation_approve, rotation_backoff), and the sealing of a
 * rotation's new secret with the master key.  engine/rotator.c drives the
 * rotations: it makes the calls to Graph, Nylas and the identity platform.
 */
#include "state/rotation.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "state/config.h"
#include "state/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

/* In the order of enum rotation_state. */
static const char *const state_names[] = {
	"planned", "creating", "created", "testing", "tested", "publishing", "published",
	"watching", "rolling_back", "retiring", "retired", "done", "failed",
};

_Static_assert(sizeof(state_names) / sizeof(state_names[0]) == ROTATION_FAILED + 1,
    "a name per state");

const char *
rotation_state_name(enum rotation_state s)
{
	return (unsigned)s <= ROTATION_FAILED ? state_names[s] : "unknown";
}

int
rotation_state_parse(const char *name, enum rotation_state *out)
{
	size_t i;

	for (i = 0; name != NULL && i <= ROTATION_FAILED; i++) {
		if (strcmp(name, state_names[i]) == 0) {
			*out = (enum rotation_state)i;
			return 0;
		}
	}
	return -1;
}

/* ---- What the CLI and the diagnosis call: store writes only ---- */

/* The backoff doubles with each failed rotation in a row, up to 2^5 = 32 times the first. */
#define BACKOFF_DOUBLINGS 5

int
rotation_backoff(struct store *st, const struct config_app *app, int64_t now_ms,
    int64_t *until_ms, int *failures)
{
	struct store_rotation *list = NULL;
	size_t n = 0, i;
	int64_t last = 0, wait = app->rotation_backoff * 1000;
	int failed = 0;

	if (store_list_rotations(st, app->name, 0, 64, &list, &n) == -1)
		return -1;
	/* Newest first: the failed rotations since the last one that did not fail. */
	for (i = 0; i < n; i++) {
		if (list[i].dry_run)
			continue;
		if (strcmp(list[i].state, state_names[ROTATION_FAILED]) != 0)
			break;
		if (failed++ == 0)
			last = list[i].updated_at;
	}
	store_rotations_free(list, n);
	for (i = 1; i < (size_t)failed && i <= BACKOFF_DOUBLINGS; i++)
		wait *= 2;
	*until_ms = last + wait;
	*failures = failed;
	return failed > 0 && *until_ms > now_ms;
}

int
rotation_failed_before(const struct store_rotation *list, size_t n, size_t i)
{
	int failed = 0;

	for (i++; i < n; i++) {
		if (list[i].dry_run)
			continue;
		if (list[i].state == NULL || strcmp(list[i].state, state_names[ROTATION_FAILED]) != 0)
			break;
		failed++;
	}
	return failed;
}

/* The app value of rotation_burst_put: {"rotation": id, "at": ms, "grants": n}. */
#define BURST_KEY "watch_burst"

int
rotation_burst_put(struct store *st, const char *app, const char *rotation_id,
    int64_t at_ms, int grants)
{
	cJSON *o = cJSON_CreateObject();
	char *json = NULL;
	int rc;

	if (o == NULL || cJSON_AddStringToObject(o, "rotation", rotation_id) == NULL ||
	    cJSON_AddNumberToObject(o, "at", (double)at_ms) == NULL ||
	    cJSON_AddNumberToObject(o, "grants", grants) == NULL ||
	    (json = cJSON_PrintUnformatted(o)) == NULL)
		fatal("out of memory");
	cJSON_Delete(o);
	rc = store_put_value(st, app, BURST_KEY, json);
	cJSON_free(json);
	return rc;
}

int
rotation_burst_get(struct store *st, const char *app, const char *rotation_id,
    int64_t *at_ms, int *grants)
{
	char *json = NULL;
	cJSON *o;
	const cJSON *rot, *at, *n;
	int rc = store_get_value(st, app, BURST_KEY, &json);

	if (rc != 1)
		return rc;
	o = cJSON_Parse(json);
	free(json);
	rot = cJSON_GetObjectItemCaseSensitive(o, "rotation");
	at = cJSON_GetObjectItemCaseSensitive(o, "at");
	n = cJSON_GetObjectItemCaseSensitive(o, "grants");
	rc = cJSON_IsString(rot) && strcmp(rot->valuestring, rotation_id) == 0 &&
	    cJSON_IsNumber(at) && cJSON_IsNumber(n);
	if (rc) {
		*at_ms = (int64_t)at->valuedouble;
		*grants = n->valueint;
	}
	cJSON_Delete(o);
	return rc;
}

/* 1 and *err (caller frees) when a rotation must wait for the backoff; 0; -1 and *err. */
static int
backing_off(struct store *st, const struct config_app *app, char **err)
{
	char when[32];
	int64_t until = 0;
	int failures = 0, rc = rotation_backoff(st, app, util_now_ms(), &until, &failures);

	if (rc == -1) {
		*err = xstrdup("cannot read the store");
		return -1;
	}
	if (rc == 1) {
		util_format_time(until / 1000, when, sizeof(when));
		*err = xasprintf("not before %s: %d rotation%s in a row failed (rotation_backoff; "
		    "rekey rotate does not wait)", when, failures, failures == 1 ? "" : "s");
	}
	return rc;
}

/* Whether c is a character of a GUID, a request id or a number. */
static int
cause_noise(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
	    c == '-';
}

void
rotation_failure_cause(const char *last_error, char out[17])
{
	uint64_t h = 0xcbf29ce484222325ULL;	/* FNV-1a */
	const char *p = last_error != NULL ? last_error : "";
	size_t run;

	while (*p != '\0') {
		for (run = 0; cause_noise(p[run]); run++)
			;
		/* Request ids, trace ids and timestamps differ between tries of one cause. */
		if (run >= 8) {
			p += run;
			continue;
		}
		if (*p < '0' || *p > '9') {
			h ^= (unsigned char)*p;
			h *= 0x100000001b3ULL;
		}
		p++;
	}
	snprintf(out, 17, "%016llx", (unsigned long long)h);
}

int
rotation_plan(struct store *st, const struct config_app *app, const char *reason,
    const char *incident_id, int dry_run, char *id_out, char **err)
{
	struct store_rotation *open = NULL, r;
	size_t n = 0;
	int rc = -1, wait;

	if (store_begin(st) == -1) {
		*err = xstrdup("the store is busy; try again");
		return -1;
	}
	if (store_list_rotations(st, app->name, 1, 1, &open, &n) == -1) {
		*err = xstrdup("cannot read the store");
		goto out;
	}
	if (n > 0) {
		util_strlcpy(id_out, open[0].id, ROTATION_ID_SIZE);
		rc = 1;
		goto out;
	}
	/* An operator's rotation never waits: it is how a person says "try now". */
	wait = strcmp(reason, "manual") != 0 ? backing_off(st, app, err) : 0;
	if (wait != 0) {
		rc = wait == 1 ? 2 : -1;
		goto out;
	}
	memset(&r, 0, sizeof(r));
	if (crypto_guid(id_out) == -1) {
		*err = xstrdup("no randomness for a rotation id");
		goto out;
	}
	r.id = id_out;
	r.app = app->name;
	r.state = (char *)rotation_state_name(ROTATION_PLANNED);
	r.reason = (char *)reason;
	r.incident_id = (char *)incident_id;
	r.dry_run = dry_run || app->rotation_mode == ROTATION_MODE_DRY_RUN;
	r.approved = app->rotation_mode != ROTATION_MODE_APPROVE;
	r.lifetime = app->secret_lifetime;
	r.created_at = r.updated_at = util_now_ms();
	if (store_put_rotation(st, &r) == -1) {
		*err = xstrdup("cannot write the rotation to the store");
		goto out;
	}
	rc = 0;
out:
	store_rotations_free(open, n);
	if ((rc == -1 ? store_rollback(st) : store_commit(st)) == -1 && rc != -1) {
		*err = xstrdup("cannot commit the rotation to the store");
		rc = -1;
	}
	return rc;
}

int
rotation_approve(struct store *st, const char *id, char **err)
{
	struct store_rotation r;
	int found = store_get_rotation(st, id, &r), rc = -1;

	if (found != 1) {
		*err = found == 0 ? xasprintf("no rotation %s", id) : xstrdup("cannot read the store");
		return -1;
	}
	if (strcmp(r.state, rotation_state_name(ROTATION_PLANNED)) != 0) {
		*err = xasprintf("rotation %s is %s, not planned", id, r.state);
	} else if (r.approved) {
		rc = 0;		/* approving twice is harmless */
	} else {
		r.approved = 1;
		r.updated_at = util_now_ms();
		rc = store_put_rotation(st, &r);
		if (rc == -1)
			*err = xstrdup("cannot write the approval to the store");
	}
	store_rotation_clear(&r);
	return rc;
}

/* ---- The new secret, sealed ---- */

/*
 * The associated data of a sealed secret: a tag, then app, rotation id and
 * new key id, each followed by a NUL (none of them holds one), so that no
 * two rows give the same bytes.  Caller frees.
 */
#define SEAL_TAG "rekey-secret-v2"

static unsigned char *
seal_aad(const struct store_rotation *row, size_t *len)
{
	const char *parts[] = { SEAL_TAG, row->app, row->id, row->new_key_id };
	unsigned char *aad;
	size_t i, n = 0, off = 0;

	for (i = 0; i < 4; i++)
		n += strlen(parts[i] != NULL ? parts[i] : "") + 1;
	aad = xmalloc(n);
	for (i = 0; i < 4; i++) {
		const char *p = parts[i] != NULL ? parts[i] : "";
		size_t l = strlen(p) + 1;

		memcpy(aad + off, p, l);
		off += l;
	}
	*len = n;
	return aad;
}

int
rotation_seal(const struct secret *master_key, struct store_rotation *row,
    const struct secret *text)
{
	unsigned char *ct = NULL, *aad;
	size_t ctlen = 0, aadlen;
	int rc;

	if (master_key == NULL || row->app == NULL || row->id == NULL || row->new_key_id == NULL)
		return -1;
	aad = seal_aad(row, &aadlen);
	rc = crypto_aead_seal(master_key->data, aad, aadlen, text->data, text->len, &ct, &ctlen);
	free(aad);
	if (rc == -1)
		return -1;
	free(row->secret_ct);
	row->secret_ct = ct;
	row->secret_ct_len = ctlen;
	return 0;
}

/* Opens row's sealed text with aad; a new secret or NULL. */
static struct secret *
unseal_with(const struct secret *master_key, const struct store_rotation *row,
    const void *aad, size_t aadlen)
{
	unsigned char *pt = NULL;
	size_t ptlen = 0;
	struct secret *s;

	if (master_key == NULL || row->secret_ct == NULL ||
	    crypto_aead_open(master_key->data, aad, aadlen, row->secret_ct, row->secret_ct_len,
	    &pt, &ptlen) == -1)
		return NULL;
	s = secret_new(pt, ptlen);
	OPENSSL_cleanse(pt, ptlen);
	free(pt);
	return s;
}

struct secret *
rotation_unseal(const struct secret *master_key, const struct store_rotation *row)
{
	unsigned char *aad;
	size_t aadlen;
	struct secret *s;

	if (row->app == NULL || row->id == NULL || row->new_key_id == NULL)
		return NULL;
	aad = seal_aad(row, &aadlen);
	s = unseal_with(master_key, row, aad, aadlen);
	free(aad);
	return s;
}

struct secret *
rotation_unseal_any(const struct secret *key, const struct store_rotation *row)
{
	struct secret *s = rotation_unseal(key, row);

	if (s == NULL && row->id != NULL)
		s = unseal_with(key, row, row->id, strlen(row->id));
	return s;
}

/* One row: 1 when sealed again, 0 when it needs nothing, -1 when it cannot be opened or kept. */
static int
reseal_row(struct store *st, const struct secret *master_key, struct store_rotation *row)
{
	struct secret *s;
	int rc = -1;

	if (row->secret_ct == NULL || row->new_key_id == NULL)
		return 0;
	if ((s = rotation_unseal(master_key, row)) != NULL) {
		secret_free(s);
		return 0;
	}
	s = unseal_with(master_key, row, row->id, strlen(row->id));
	if (s != NULL && rotation_seal(master_key, row, s) == 0 && store_put_rotation(st, row) == 0)
		rc = 1;
	secret_free(s);
	return rc;
}

int
rotation_reseal_legacy(struct store *st, const struct config *cfg)
{
	struct store_rotation *list = NULL;
	size_t a, i, n = 0;
	int done = 0, rc;

	if (cfg->master_key == NULL)
		return 0;
	for (a = 0; a < cfg->n_apps; a++) {
		if (store_list_rotations(st, cfg->apps[a]->name, 0, 100000, &list, &n) == -1)
			return -1;
		for (i = 0; i < n; i++) {
			rc = reseal_row(st, cfg->master_key, &list[i]);
			if (rc == 1)
				done++;
			else if (rc == -1)
				log_rotation(LOG_LEVEL_WARN, cfg->apps[a]->name, list[i].id,
				    "rotation %s: its sealed secret opens neither way (another master "
				    "key?); left as it is", list[i].id);
		}
		store_rotations_free(list, n);
		list = NULL;
		n = 0;
	}
	if (done > 0)
		log_info("store: %d sealed secrets bound to their app, rotation and key", done);
	return done;
}

/* ---- The transitions, as a pure function ---- */

/* Tries of one step before the rotation fails. */
#define RETRY_MAX 8
/*
 * testing: the identity platform refuses a new secret until it reaches
 * Entra's replicas, and a first acceptance is followed by refusals for
 * minutes (hashicorp/vault#27593: 2 to 10 minutes).  A refused probe is
 * repeated every TEST_EVERY_MS (every moment between the secret working and
 * Nylas having it is part of the outage; one small token request each time)
 * and breaks the run of acceptances; an accepted one is repeated after
 * secret_test_spacing_ms until secret_test_successes in a row have passed.
 * The deadline is secret_propagation_timeout from entering testing
 * (test_since, stored, so it survives a restart); TEST_MAX bounds the
 * refusals whatever the clock does.
 */
#define TEST_EVERY_MS 250
#define TEST_MAX 3600

/* In the order of enum rotation_outcome. */
static const char *const outcome_names[] = {
	"start", "ok", "retryable", "permanent", "not_found", "rejected", "lifetime_policy",
	"orphan_removed", "unmanaged", "room_made", "expired_burst",
};

_Static_assert(sizeof(outcome_names) / sizeof(outcome_names[0]) == ROTATION_OUTCOME_COUNT,
    "a name per outcome");

const char *
rotation_outcome_name(enum rotation_outcome o)
{
	return (unsigned)o < ROTATION_OUTCOME_COUNT ? outcome_names[o] : "unknown";
}

static struct rotation_step
step_to(enum rotation_state next, enum rotation_action action)
{
	struct rotation_step st = { next, action, 0, -1, 0, NULL };

	return st;
}

/* Ends the rotation (done or failed) with a note of why, NULL when the driver knows better. */
static struct rotation_step
stop(enum rotation_state next, const char *note)
{
	struct rotation_step st = step_to(next, ROTATION_ACTION_GO);

	st.note = note;
	return st;
}

/* Tries again after a wait, or gives up once max tries have failed. */
static struct rotation_step
retry_or_give_up(enum rotation_state s, const struct rotation_facts *f, int max, int wait_ms)
{
	struct rotation_step st;

	if (f->attempts + 1 >= max) {
		st = step_to(ROTATION_FAILED, ROTATION_ACTION_GO);
		st.gave_up = 1;
	} else {
		st = step_to(s, ROTATION_ACTION_RETRY);
		st.wait_ms = wait_ms;
	}
	st.max_tries = max;
	return st;
}

/* Whether s's step calls out (and so can succeed, fail or be retried). */
static int
calls_out(enum rotation_state s)
{
	return s == ROTATION_PLANNED || s == ROTATION_CREATING || s == ROTATION_TESTING ||
	    s == ROTATION_PUBLISHING || s == ROTATION_WATCHING || s == ROTATION_ROLLING_BACK ||
	    s == ROTATION_RETIRING;
}

/* START: the gates before a step's calls, and the steps that make no call. */
static struct rotation_step
next_on_start(enum rotation_state s, const struct rotation_facts *f)
{
	switch (s) {
	case ROTATION_PLANNED:
		return step_to(s, f->approved ? ROTATION_ACTION_CONTINUE : ROTATION_ACTION_WAIT);
	case ROTATION_CREATED:
	case ROTATION_TESTING:
	case ROTATION_TESTED:
	case ROTATION_PUBLISHING:
		/* "created" is stored with the sealed text: without it, nothing to test or publish. */
		if (!f->secret_stored)
			return stop(ROTATION_FAILED, "the new secret is not stored");
		if (s == ROTATION_CREATED || s == ROTATION_TESTED)
			return step_to(s + 1, ROTATION_ACTION_GO);
		return step_to(s, ROTATION_ACTION_CONTINUE);
	case ROTATION_PUBLISHED:
		if (!f->old_known)
			return stop(ROTATION_DONE,
			    "not retired: it could not be told which secret Nylas used before");
		if (f->old_is_new)
			return stop(ROTATION_DONE,
			    "not retired: the old secret is the one just published");
		/* Without the old secret's text there is nothing to roll back to. */
		return step_to(f->can_roll_back ? ROTATION_WATCHING : ROTATION_RETIRING,
		    ROTATION_ACTION_GO);
	case ROTATION_WATCHING:
		if (!f->secret_stored)
			return stop(ROTATION_FAILED, "the new secret is not stored");
		return f->watch_over ? step_to(ROTATION_RETIRING, ROTATION_ACTION_GO) :
		    step_to(s, ROTATION_ACTION_CONTINUE);
	case ROTATION_RETIRING:
		return step_to(s, f->grace_over ? ROTATION_ACTION_CONTINUE : ROTATION_ACTION_WAIT);
	case ROTATION_RETIRED:
		return step_to(ROTATION_DONE, ROTATION_ACTION_GO);
	case ROTATION_CREATING:
	default:
		return step_to(s, ROTATION_ACTION_CONTINUE);
	}
}

struct rotation_step
rotation_next(enum rotation_state s, enum rotation_outcome o, const struct rotation_facts *f)
{
	if (s == ROTATION_DONE || s == ROTATION_FAILED)
		return step_to(s, ROTATION_ACTION_HOLD);
	if ((unsigned)s > ROTATION_FAILED)
		return stop(ROTATION_FAILED, "unknown state");
	/* A dry run only reads: found past planned, it stops before anything is written. */
	if (f->dry_run && s != ROTATION_PLANNED)
		return stop(ROTATION_FAILED, "a dry run got past planned");
	switch (o) {
	case ROTATION_OUTCOME_START:
		return next_on_start(s, f);
	case ROTATION_OUTCOME_OK:
		if (s == ROTATION_PLANNED && f->dry_run)
			return step_to(ROTATION_DONE, ROTATION_ACTION_GO);
		if ((s == ROTATION_TESTING || s == ROTATION_PUBLISHING) && !f->secret_stored)
			return stop(ROTATION_FAILED, "the new secret is not stored");
		/* One acceptance is not propagation: publish only after enough in a row. */
		if (s == ROTATION_TESTING && f->test_ok + 1 < f->test_needed)
			return step_to(s, ROTATION_ACTION_PACE);
		/* Watched long enough without a refusal: the old secret may go after its grace. */
		if (s == ROTATION_WATCHING)
			return f->watch_over ? step_to(ROTATION_RETIRING, ROTATION_ACTION_GO) :
			    step_to(s, ROTATION_ACTION_PACE);
		if (s == ROTATION_ROLLING_BACK && f->burst)
			return stop(ROTATION_FAILED, "rolled back: grants expired in a burst while the "
			    "new secret was watched and the old one still works, so Nylas has the old "
			    "one again; a later rotation tries anew");
		if (s == ROTATION_ROLLING_BACK)
			return stop(ROTATION_FAILED, "rolled back: the new secret was refused while "
			    "watched and the old one still works, so Nylas has the old one again; a "
			    "later rotation tries anew");
		if (calls_out(s))
			return step_to(s + 1, ROTATION_ACTION_GO);
		break;
	case ROTATION_OUTCOME_RETRYABLE:
		if (calls_out(s))
			return retry_or_give_up(s, f, RETRY_MAX, -1);
		break;
	case ROTATION_OUTCOME_NOT_FOUND:
		if (s == ROTATION_RETIRING)
			return step_to(ROTATION_RETIRED, ROTATION_ACTION_GO);
		break;
	case ROTATION_OUTCOME_REJECTED:
		/* Propagation: probe at a steady pace until the deadline (TEST_MAX tries at most). */
		if (s == ROTATION_TESTING && f->test_timed_out && f->attempts + 1 < TEST_MAX)
			return stop(ROTATION_FAILED, "testing: the new secret was not accepted "
			    "consistently within secret_propagation_timeout");
		if (s == ROTATION_TESTING)
			return retry_or_give_up(s, f, TEST_MAX, TEST_EVERY_MS);
		/* Published, then refused: back to the old secret if it works, else look again. */
		if (s == ROTATION_WATCHING && f->old_works)
			return step_to(ROTATION_ROLLING_BACK, ROTATION_ACTION_GO);
		if (s == ROTATION_WATCHING)
			return retry_or_give_up(s, f, TEST_MAX, TEST_EVERY_MS);
		break;
	case ROTATION_OUTCOME_LIFETIME_POLICY:
		if (s == ROTATION_CREATING)
			return f->lifetime_at_min ? stop(ROTATION_FAILED, NULL) :
			    step_to(s, ROTATION_ACTION_AGAIN);
		break;
	case ROTATION_OUTCOME_ORPHAN_REMOVED:
	case ROTATION_OUTCOME_ROOM_MADE:
		/* Read the app again, then add (or make more room). */
		if (s == ROTATION_CREATING)
			return step_to(s, ROTATION_ACTION_AGAIN);
		break;
	case ROTATION_OUTCOME_UNMANAGED:
		/* Kept unless the operator allowed it, and never removed before the grace. */
		if (s == ROTATION_RETIRING && !f->retire_unmanaged)
			return step_to(ROTATION_DONE, ROTATION_ACTION_GO);
		if (s == ROTATION_RETIRING && f->grace_over)
			return step_to(s, ROTATION_ACTION_CONTINUE);
		break;
	case ROTATION_OUTCOME_EXPIRED_BURST:
		/*
		 * Users' grants expire although the identity platform accepts the new
		 * secret: back to the old one if it works; else keep watching (the
		 * step's probe of the new secret goes on).
		 */
		if (s == ROTATION_WATCHING && f->old_works)
			return step_to(ROTATION_ROLLING_BACK, ROTATION_ACTION_GO);
		if (s == ROTATION_WATCHING && !f->secret_stored)
			return stop(ROTATION_FAILED, "the new secret is not stored");
		if (s == ROTATION_WATCHING)
			return step_to(s, ROTATION_ACTION_CONTINUE);
		break;
	case ROTATION_OUTCOME_PERMANENT:
		return stop(ROTATION_FAILED, NULL);
	}
	return stop(ROTATION_FAILED, "an outcome this state does not expect");
}
