/*
 * rotation_graph: a rotation's Graph calls.  planned reads the app (which
 * secret Nylas uses, or what a dry run would do); creating removes an orphan
 * of this rotation, makes room under the two-secret limit, adds the new
 * password (its lifetime capped by the app management policy read before,
 * rotation_policy.c, and halved when the tenant's policy refuses it) and
 * seals its text into the row; retiring removes the old secret after the
 * grace.
 */
#include "engine/rotation_in_use.h"
#include "engine/rotator_int.h"
#include "lib/log.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "outbound/graph.h"
#include "outbound/graph_policy.h"
#include "outbound/http_client.h"
#include "state/condition.h"
#include "state/config.h"
#include "state/rotation.h"
#include "state/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The displayName of the secrets rekey adds: the prefix, then the rotation id. */
#define DISPLAY_PREFIX "rekey-"

/* ---- The calls of each step and their answers ---- */

/* One line about a Graph failure (caller frees). */
static char *
graph_why(const char *call, const struct graph_result *res)
{
	return xasprintf("%s: %s (HTTP %ld%s%s%s%s)%s%s", call, graph_outcome_name(res->outcome),
	    res->status, res->error && res->error->code ? ", " : "",
	    res->error && res->error->code ? res->error->code : "",
	    res->request_id ? ", request-id " : "", res->request_id ? res->request_id : "",
	    res->detail ? ": " : "", res->detail ? res->detail : "");
}

/* A Graph call failed: retry what may pass, fail the rest. */
static void
graph_failed(struct app_rot *a, const char *call, const struct graph_result *res)
{
	char *why = graph_why(call, res);

	rotator_decide(a, res->outcome == GRAPH_RETRYABLE ? ROTATION_OUTCOME_RETRYABLE :
	    ROTATION_OUTCOME_PERMANENT, why, res->retry_after_ms);
	free(why);
}

static char *
display_name(const struct app_rot *a)
{
	return xasprintf(DISPLAY_PREFIX "%s", a->row.id);
}

/* Reads the application (and learns its object id); cb gets the answer. */
void
rotator_read_app(struct app_rot *a, graph_cb cb, const char *step)
{
	int rc;

	rotator_call_started(a, step);
	if (a->object_id != NULL)
		rc = graph_get_application(a->gc, a->object_id, cb, a);
	else
		rc = graph_find_application(a->gc, a->app->azure_client_id, cb, a);
	if (rc == -1)
		rotator_decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send the application read", -1);
}

/* Whether res is a usable application read; else the step is retried or failed. */
static int
app_read_ok(struct app_rot *a, const struct graph_result *res)
{
	rotator_call_done(a);
	if (res->outcome != GRAPH_OK) {
		graph_failed(a, "read application", res);
		return 0;
	}
	if (a->object_id == NULL && res->application->id != NULL)
		a->object_id = xstrdup(res->application->id);
	return 1;
}

/* What a dry run records it would have done (caller frees). */
static char *
dry_run_note(const struct app_rot *a, const char *old_key, const char *why)
{
	char grace[32];

	snprintf(grace, sizeof(grace), "%lldd", (long long)(a->app->old_secret_grace / 86400));
	if (a->app->old_secret_grace % 86400 != 0)
		snprintf(grace, sizeof(grace), "%llds", (long long)a->app->old_secret_grace);
	return xasprintf("dry-run: would addPassword with displayName " DISPLAY_PREFIX "%s, "
	    "lifetime %lldd; would publish to Nylas (%s); %s%s%s%s", a->row.id,
	    (long long)(a->row.lifetime / 86400),
	    a->target ? a->target : "?",
	    old_key ? "would retire " : "would not retire the old secret: ",
	    old_key ? old_key : why, old_key ? " after " : "", old_key ? grace : "");
}

static void add_password(struct app_rot *a);
static void remove_orphan_cb(const struct graph_result *res, void *arg);

/* ---- The two-secret limit ---- */

/*
 * An app that also signs in personal Microsoft accounts (Nylas's Microsoft
 * connector requires that audience) holds at most two client secrets: Graph
 * refuses a third with 400 TooManyAppPasswords (Azure/azure-cli#12946; "You
 * can only add a maximum of 2 encrypted credentials").
 */
#define PERSONAL_MAX_SECRETS 2
/* Secrets removed for room in one run of creating: bounds a Graph that lists a removed one still. */
#define ROOM_MAX 3

static int
at_secret_limit(const struct graph_application *app)
{
	const char *aud = app->sign_in_audience;

	return aud != NULL && (strcmp(aud, "AzureADandPersonalMicrosoftAccount") == 0 ||
	    strcmp(aud, "PersonalMicrosoftAccount") == 0) &&
	    app->n_passwords >= PERSONAL_MAX_SECRETS;
}

static int
made_by_rekey(const struct graph_password *pw)
{
	return pw->display_name != NULL &&
	    strncmp(pw->display_name, DISPLAY_PREFIX, strlen(DISPLAY_PREFIX)) == 0;
}

/* Whether key_id is the new secret of another finished rotation of the app (rekey is done with it). */
static int
finished_rotation_key(struct app_rot *a, const char *key_id)
{
	struct store_rotation *list = NULL;
	size_t n = 0, i;
	int found = 0;

	if (store_list_rotations(a->r->st, a->app->name, 0, SCAN_MAX, &list, &n) == -1)
		return 0;
	for (i = 0; i < n && !found; i++)
		found = list[i].new_key_id != NULL && strcmp(list[i].new_key_id, key_id) == 0 &&
		    strcmp(list[i].id, a->row.id) != 0 &&
		    (strcmp(list[i].state, rotation_state_name(ROTATION_DONE)) == 0 ||
		    strcmp(list[i].state, rotation_state_name(ROTATION_FAILED)) == 0);
	store_rotations_free(list, n);
	return found;
}

/* Why pw may not go to make room, or NULL when it may (static text). */
static const char *
kept_because(struct app_rot *a, const struct graph_password *pw, const char *in_use)
{
	if (pw->key_id == NULL)
		return "it has no keyId";
	if ((in_use != NULL && strcmp(pw->key_id, in_use) == 0) ||
	    (a->row.old_key_id != NULL && strcmp(pw->key_id, a->row.old_key_id) == 0))
		return "Nylas uses it";
	if (made_by_rekey(pw))
		return finished_rotation_key(a, pw->key_id) ? NULL :
		    "rekey made it but knows no finished rotation of it";
	return a->app->retire_foreign_secrets ? NULL :
	    "rekey did not make it (retire_foreign_secrets = no)";
}

/* The secret to remove for room: rekey's before another's, the one ending first; or NULL. */
static const struct graph_password *
room_candidate(struct app_rot *a, const struct graph_application *app, const char *in_use)
{
	const struct graph_password *best = NULL, *pw;
	size_t i;

	for (i = 0; i < app->n_passwords; i++) {
		pw = &app->passwords[i];
		if (kept_because(a, pw, in_use) != NULL)
			continue;
		if (best == NULL || made_by_rekey(pw) > made_by_rekey(best) ||
		    (made_by_rekey(pw) == made_by_rekey(best) && pw->end < best->end))
			best = pw;
	}
	return best;
}

/* Appends to out (size bytes, NUL-terminated), truncating. */
static void append(char *out, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
append(char *out, size_t size, const char *fmt, ...)
{
	size_t len = strnlen(out, size);
	va_list ap;

	if (len + 1 >= size)
		return;
	va_start(ap, fmt);
	vsnprintf(out + len, size - len, fmt, ap);
	va_end(ap);
}

/* What blocks the rotation and what to do, for RotationPossible and last_error. */
static void
no_room_message(struct app_rot *a, const struct graph_application *app, const char *in_use,
    char *out, size_t size)
{
	char end[UTIL_TIME_MAX];
	size_t i;

	out[0] = '\0';
	append(out, size, "signInAudience %s allows %d client secrets and rekey may remove none "
	    "of the %zu:", app->sign_in_audience, PERSONAL_MAX_SECRETS, app->n_passwords);
	for (i = 0; i < app->n_passwords; i++) {
		const struct graph_password *pw = &app->passwords[i];

		util_format_time(pw->end, end, sizeof(end));
		append(out, size, " %s (hint %s, \"%s\", ends %s): %s;",
		    pw->key_id ? pw->key_id : "?", pw->hint ? pw->hint : "?",
		    pw->display_name ? pw->display_name : "", end, kept_because(a, pw, in_use));
	}
	append(out, size, " remove one nothing uses (Entra: App registrations > Certificates & "
	    "secrets) or set retire_foreign_secrets = yes");
}

/* A removePassword answered: 1 when the secret went (or was gone); else the step is retried or failed. */
static int
removed_ok(struct app_rot *a, const struct graph_result *res, const char *call)
{
	rotator_call_done(a);
	if (res->outcome != GRAPH_OK && res->outcome != GRAPH_NOT_FOUND) {
		graph_failed(a, call, res);
		return 0;
	}
	return 1;
}

static void
room_made_cb(const struct graph_result *res, void *arg)
{
	struct app_rot *a = arg;

	if (res->outcome == GRAPH_CANCELLED || !removed_ok(a, res, "removePassword (to make room)"))
		return;
	log_rotation(LOG_LEVEL_WARN, a->app->name, a->row.id,
	    "rotation %s: removed %s to stay within the "
	    "two-secret limit", a->row.id, a->room_key);
	rotator_decide(a, ROTATION_OUTCOME_ROOM_MADE, NULL, -1);
}

/*
 * creating, at the two-secret limit: removes a secret rekey may remove (see
 * kept_because) and reads again; without one, the rotation stops and
 * RotationPossible says which secrets block it and what to do.
 */
static void
make_room(struct app_rot *a, const struct graph_application *app)
{
	const char *why = NULL;
	char *in_use = rotation_in_use_key(a->r->st, a->app, app, &why);
	const struct graph_password *pw = room_candidate(a, app, in_use);
	char msg[CONDITION_MESSAGE_MAX];

	if (pw == NULL || a->room_made >= ROOM_MAX) {
		no_room_message(a, app, in_use, msg, sizeof(msg));
		if (condition_record(a->r->st, a->app->name, CONDITION_ROTATION_POSSIBLE,
		    CONDITION_FALSE, 1, "TooManySecrets", msg, rotator_now_s()) == -1)
			log_ctx(LOG_LEVEL_WARN, NULL, a->app->name, "cannot record RotationPossible");
		rotator_decide(a, ROTATION_OUTCOME_PERMANENT, msg, -1);
		free(in_use);
		return;
	}
	a->room_made++;
	rotator_set_text(&a->room_key, pw->key_id);
	free(in_use);
	rotator_call_started(a, "creating");
	if (graph_remove_password(a->gc, a->object_id, a->room_key, room_made_cb, a) == -1)
		rotator_decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send removePassword to make room", -1);
}

/* The key id of a credential with this rotation's displayName other than except (NULL: any), or NULL. */
static const char *
rotation_credential(const struct app_rot *a, const struct graph_application *app,
    const char *except)
{
	char *name = display_name(a);
	const char *key = NULL;
	size_t i;

	for (i = 0; i < app->n_passwords && key == NULL; i++) {
		const struct graph_password *pw = &app->passwords[i];

		if (pw->display_name != NULL && strcmp(pw->display_name, name) == 0 &&
		    pw->key_id != NULL && (except == NULL || strcmp(pw->key_id, except) != 0))
			key = pw->key_id;
	}
	free(name);
	return key;
}

/*
 * Keeps, for creating, this rotation's credential in the application just
 * read: our displayName but no stored text, an addPassword whose answer was
 * lost (an orphan).
 */
static void
note_orphan(struct app_rot *a, const struct graph_application *app)
{
	rotator_set_text(&a->orphan_key, rotation_credential(a, app, NULL));
}

/* creating: removes the orphan noted (note_orphan), if any, else adds the new secret. */
static void
create(struct app_rot *a)
{
	if (a->orphan_key == NULL) {
		add_password(a);
		return;
	}
	log_rotation(LOG_LEVEL_WARN, a->app->name, a->row.id,
	    "rotation %s: removing orphan credential %s (added, but its text was never stored)",
	    a->row.id, a->orphan_key);
	rotator_call_started(a, "creating");
	if (graph_remove_password(a->gc, a->object_id, a->orphan_key, remove_orphan_cb, a) == -1)
		rotator_decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send removePassword for an orphan", -1);
}

/*
 * The intent, creating, is stored: from here on a lost addPassword answer is
 * recognised.  The app management policies are read (rotation_policy.c),
 * then the app again (rotator_creating_read_cb): what planned read
 * may be minutes old (an approval), and the two-secret limit is judged on
 * the secrets as they are just before the add.
 */
static void
creating_stored(struct app_rot *a)
{
	rotator_log_state(a);
	rotator_read_policies(a);
}

static void
remove_orphan_cb(const struct graph_result *res, void *arg)
{
	struct app_rot *a = arg;

	if (res->outcome == GRAPH_CANCELLED || !removed_ok(a, res, "removePassword (orphan)"))
		return;
	/* Still creating: read again, then add. */
	rotator_decide(a, ROTATION_OUTCOME_ORPHAN_REMOVED, NULL, -1);
}

void
rotator_planned_read_cb(const struct graph_result *res, void *arg)
{
	struct app_rot *a = arg;
	struct rotation_step st;
	const char *why = NULL;
	char *old, *note;

	if (res->outcome == GRAPH_CANCELLED || !app_read_ok(a, res))
		return;
	old = rotation_in_use_key(a->r->st, a->app, res->application, &why);
	if (old == NULL)
		log_rotation(LOG_LEVEL_WARN, a->app->name, a->row.id,
		    "rotation %s: cannot tell which secret Nylas uses (%s): it will not be retired",
		    a->row.id, why);
	st = rotator_next_of(a, ROTATION_OUTCOME_OK);
	if (st.action != ROTATION_ACTION_GO || st.next != ROTATION_CREATING) {
		/* A dry run ends here, recording what it would have done. */
		note = a->row.dry_run ? dry_run_note(a, old, why) : NULL;
		rotator_apply(a, &st, note, -1);
		free(note);
		free(old);
		return;
	}
	free(a->row.old_key_id);
	a->row.old_key_id = old;
	note_orphan(a, res->application);
	rotator_enter(a, &st, NULL, creating_stored);
}

/* How often creating looks again while an addPassword sent before a reload is on its way. */
#define ON_ITS_WAY_MS 250

/*
 * Whether an addPassword to this app sent by a rotator freed since (a
 * reload; the HTTP request outlives its caller) is still on its way, so that
 * the orphan check cannot see its credential yet: creating looks again
 * shortly, no try counted.  Another replica's late one is swept at retiring.
 */
static int
add_still_on_its_way(struct app_rot *a)
{
	char *part;
	size_t n;

	if (a->object_id == NULL)
		return 0;
	part = xasprintf("/applications/%s/addPassword", a->object_id);
	n = http_client_in_flight_to(a->r->hc, "POST", part);
	free(part);
	if (n == 0)
		return 0;
	log_rotation(LOG_LEVEL_INFO, a->app->name, a->row.id,
	    "rotation %s: creating waits for an addPassword sent before a reload", a->row.id);
	rotator_look_again_in(a, ON_ITS_WAY_MS);
	return 1;
}

void
rotator_creating_read_cb(const struct graph_result *res, void *arg)
{
	struct app_rot *a = arg;

	if (res->outcome == GRAPH_CANCELLED || !app_read_ok(a, res))
		return;
	if (add_still_on_its_way(a))
		return;
	note_orphan(a, res->application);
	/* A policy that forbids secrets stops the rotation before room is made for one. */
	if (a->orphan_key == NULL && !rotator_policy_allows(a, res->application))
		return;
	if (a->orphan_key == NULL && at_secret_limit(res->application)) {
		make_room(a, res->application);
		return;
	}
	create(a);
}

/* Puts the new credential and its sealed text into the row, with state created.  0 or -1. */
static int
seal_created(struct app_rot *a, const struct graph_password *cred, const struct secret *text)
{
	struct store_rotation *row = &a->row;

	/* The key id first: the sealed text is bound to it. */
	rotator_set_text(&row->new_key_id, cred->key_id);
	if (rotation_seal(a->r->cfg->master_key, row, text) == -1)
		return -1;
	rotator_set_text(&row->new_hint, cred->hint);
	row->new_end = cred->end;
	rotator_set_text(&row->state, rotation_state_name(ROTATION_CREATED));
	row->attempts = 0;
	row->next_at = 0;
	rotator_set_text(&row->last_error, NULL);
	return 0;
}

static void
created_stored(struct app_rot *a)
{
	a->room_made = 0;
	if (condition_record(a->r->st, a->app->name, CONDITION_ROTATION_POSSIBLE, CONDITION_TRUE,
	    0, "SecretAdded", "addPassword added a new secret", rotator_now_s()) == -1)
		log_ctx(LOG_LEVEL_WARN, NULL, a->app->name, "cannot record RotationPossible");
	log_rotation(LOG_LEVEL_INFO, a->app->name, a->row.id, "rotation %s: created %s (hint %s)",
	    a->row.id, a->row.new_key_id, a->row.new_hint ? a->row.new_hint : "?");
	rotator_drive(a);
}

/* CredentialInvalidLifetimeAsPerAppPolicy: halve the lifetime (not below a day) and add again. */
static void
shorten_lifetime(struct app_rot *a)
{
	int64_t was = a->row.lifetime;
	char value[128];

	a->row.lifetime = was / 2 > LIFETIME_MIN_S ? was / 2 : LIFETIME_MIN_S;
	log_rotation(LOG_LEVEL_WARN, a->app->name, a->row.id,
	    "rotation %s: the tenant's lifetime policy refused %lld days; trying %lld days",
	    a->row.id, (long long)(was / 86400), (long long)(a->row.lifetime / 86400));
	snprintf(value, sizeof(value), "{\"rotation\":\"%s\",\"from_s\":%lld,\"to_s\":%lld}",
	    a->row.id, (long long)was, (long long)a->row.lifetime);
	if (store_put_value(a->r->st, a->app->name, "lifetime_shortened", value) == -1)
		log_ctx(LOG_LEVEL_WARN, NULL, a->app->name, "cannot record lifetime_shortened");
	rotator_set_text(&a->row.last_error, "addPassword: the lifetime policy refused; shortened");
	rotator_save_then(a, rotator_drive, NULL);
}

static void
added_cb(const struct graph_result *res, void *arg)
{
	struct app_rot *a = arg;
	struct rotation_step st;
	struct secret *text;
	char *why;

	if (res->outcome == GRAPH_CANCELLED)
		return;
	rotator_call_done(a);
	if (res->outcome == GRAPH_LIFETIME_POLICY) {
		st = rotator_next_of(a, ROTATION_OUTCOME_LIFETIME_POLICY);
		if (st.action == ROTATION_ACTION_AGAIN) {
			shorten_lifetime(a);
			return;
		}
		why = graph_why("addPassword (lifetime policy, already at one day)", res);
		rotator_apply(a, &st, why, res->retry_after_ms);
		free(why);
		return;
	}
	if (graph_error_is_password_ban(res->status, res->error)) {
		rotator_policy_refused(a, res);
		return;
	}
	if (res->outcome != GRAPH_OK) {
		if (res->status == 0)
			log_rotation(LOG_LEVEL_WARN, a->app->name, a->row.id,
			    "rotation %s: addPassword's "
			    "outcome is unknown; the orphan check runs before the next try", a->row.id);
		graph_failed(a, "addPassword", res);
		return;
	}
	text = res->password->secret_text;
	res->password->secret_text = NULL;
	st = rotator_next_of(a, ROTATION_OUTCOME_OK);
	if (text == NULL || res->password->cred.key_id == NULL) {
		/* The credential may exist without its text: the next try removes it as an orphan. */
		rotator_decide(a, ROTATION_OUTCOME_RETRYABLE,
		    "addPassword answered without keyId or secretText", -1);
	} else if (st.action != ROTATION_ACTION_GO || st.next != ROTATION_CREATED) {
		rotator_apply(a, &st, "addPassword answered", -1);
	} else if (seal_created(a, &res->password->cred, text) == -1) {
		log_rotation(LOG_LEVEL_ERROR, a->app->name, a->row.id,
		    "rotation %s: cannot seal the new "
		    "credential %s; it will be removed as an orphan and added again", a->row.id,
		    res->password->cred.key_id);
		rotator_idle(a);
	} else {
		/* The text and the state created in one write: never one without the other. */
		rotator_save_then(a, created_stored,
		    "the new credential will be removed as an orphan and added again");
	}
	secret_free(text);
}

static void
add_password(struct app_rot *a)
{
	char *name = display_name(a);
	int64_t lifetime = a->row.lifetime > 0 ? a->row.lifetime : a->app->secret_lifetime;

	rotator_call_started(a, "creating");
	if (graph_add_password(a->gc, a->object_id, name, rotator_now_s() + lifetime, added_cb, a) == -1)
		rotator_decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send addPassword", -1);
	free(name);
}

static void
removed_old_cb(const struct graph_result *res, void *arg)
{
	struct app_rot *a = arg;

	if (res->outcome == GRAPH_CANCELLED)
		return;
	rotator_call_done(a);
	if (res->outcome != GRAPH_OK && res->outcome != GRAPH_NOT_FOUND) {
		graph_failed(a, "removePassword (old secret)", res);
		return;
	}
	log_rotation(LOG_LEVEL_INFO, a->app->name, a->row.id,
	    "rotation %s: removed the old secret %s",
	    a->row.id, a->row.old_key_id);
	rotator_decide(a, res->outcome == GRAPH_OK ? ROTATION_OUTCOME_OK : ROTATION_OUTCOME_NOT_FOUND,
	    NULL, -1);
}

/*
 * A credential of this rotation other than the one it published: an
 * addPassword cut short (a reload, a lost lead) whose request still reached
 * Graph, after creating had looked for orphans.  Its key id, or NULL.
 */
static const char *
late_orphan(const struct app_rot *a, const struct graph_application *app)
{
	return a->row.new_key_id != NULL ? rotation_credential(a, app, a->row.new_key_id) : NULL;
}

static void
removed_late_orphan_cb(const struct graph_result *res, void *arg)
{
	struct app_rot *a = arg;

	if (res->outcome == GRAPH_CANCELLED || !removed_ok(a, res, "removePassword (orphan)"))
		return;
	rotator_read_app(a, rotator_retiring_read_cb, "retiring");
}

void
rotator_retiring_read_cb(const struct graph_result *res, void *arg)
{
	struct app_rot *a = arg;
	const struct graph_password *old;
	const char *orphan;
	char *note;
	int go_on;

	if (res->outcome == GRAPH_CANCELLED || !app_read_ok(a, res))
		return;
	/* Before the old secret goes, a second credential of this rotation's does. */
	if ((orphan = late_orphan(a, res->application)) != NULL) {
		log_rotation(LOG_LEVEL_WARN, a->app->name, a->row.id,
		    "rotation %s: removing orphan credential %s (an addPassword cut short that "
		    "reached Graph after the rotation had looked)", a->row.id, orphan);
		rotator_call_started(a, "retiring");
		if (graph_remove_password(a->gc, a->object_id, orphan, removed_late_orphan_cb,
		    a) == -1)
			rotator_decide(a, ROTATION_OUTCOME_RETRYABLE,
			    "cannot send removePassword for an orphan", -1);
		return;
	}
	old = rotator_find_key(res->application, a->row.old_key_id);
	if (old == NULL) {
		log_rotation(LOG_LEVEL_INFO, a->app->name, a->row.id,
		    "rotation %s: the old secret %s is "
		    "already gone", a->row.id, a->row.old_key_id);
		rotator_decide(a, ROTATION_OUTCOME_NOT_FOUND, NULL, -1);
		return;
	}
	if (old->display_name == NULL ||
	    strncmp(old->display_name, DISPLAY_PREFIX, strlen(DISPLAY_PREFIX)) != 0) {
		note = xasprintf("not retired: the old secret %s was not made by rekey "
		    "(retire_unmanaged_secrets = no)", a->row.old_key_id);
		go_on = rotator_decide(a, ROTATION_OUTCOME_UNMANAGED, note, -1);
		free(note);
		if (!go_on)
			return;
	}
	rotator_call_started(a, "retiring");
	if (graph_remove_password(a->gc, a->object_id, a->row.old_key_id, removed_old_cb, a) == -1)
		rotator_decide(a, ROTATION_OUTCOME_RETRYABLE, "cannot send removePassword", -1);
}
