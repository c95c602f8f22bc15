/*
 * kinds: one builder per kind of notice, and the table of kinds (see
 * notice/kinds.h).
 */
#include "notice/kinds.h"
#include "notice/doc.h"
#include "notice/pieces.h"
#include "notice/words.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- One builder per kind ---- */

static void
when_rotates(const struct notice *n, char *buf, size_t size)
{
	if (n->rotate_at_ms > n->now_ms)
		snprintf(buf, size, "at %s", words_rfc3339(n->rotate_at_ms).s);
	else if (n->rotate_at_ms > 0)
		snprintf(buf, size, "now (it was due at %s)", words_rfc3339(n->rotate_at_ms).s);
	else
		snprintf(buf, size, "before it ends (rotate_before)");
}

static void
warning_plan(struct doc *d)
{
	const struct notice *n = d->n;
	char when[96];

	when_rotates(n, when, sizeof(when));
	switch (words_mode_of(n->rotation_mode)) {
	case WORDS_MODE_APPROVE:
		doc_para(d, "rotation_mode is approve: rekey plans a rotation %s and then waits "
		    "for approval. Nothing changes until someone approves it, and the secret ends "
		    "at %s all the same.", when, words_rfc3339(n->end_ms).s);
		if (n->rotation_id != NULL) {
			doc_para(d, "Approve it with:");
			words_rekey_command(d, "approve", n->rotation_id);
		} else {
			doc_para(d, "Once it is planned, approve it with the rotation id that "
			    "rekey status shows:");
			words_rekey_command(d, "approve", words_rotation_placeholder);
		}
		break;
	case WORDS_MODE_DRY_RUN:
		doc_para(d, "rotation_mode is dry-run: rekey will change nothing, in Azure or in "
		    "Nylas. Replace the secret before %s: add a new client secret to the Azure "
		    "app, put it into the Nylas connector, then delete the old one. Or set "
		    "rotation_mode = auto for the app and restart rekey, which then rotates it.",
		    words_rfc3339(n->end_ms).s);
		break;
	default:
		doc_para(d, "rekey rotates it automatically %s: it adds a new secret, tests it and "
		    "publishes it to Nylas. Users keep working and do not need to sign in again. "
		    "Nothing needs doing; you will get a message when it is done, or if it fails.",
		    when);
		break;
	}
}

static void
build_expiry_warning(struct doc *d)
{
	const struct notice *n = d->n;
	char *k = words_key(n->key_id, n->hint), *ks = words_key_short(n->key_id, n->hint);
	char when[96];

	if (n->end_ms > n->now_ms) {
		doc_subject(d, "Secret %s expires in %s", ks,
		    words_days_left(n->end_ms, n->now_ms).s);
		doc_para(d, "The client secret that the Nylas connector of app %s uses (%s) ends "
		    "at %s, in %s. When it ends, Microsoft refuses it and the grants of every user "
		    "of the app stop working until a new secret is in place.", n->app, k,
		    words_rfc3339(n->end_ms).s, words_days_left(n->end_ms, n->now_ms).s);
	} else {
		doc_subject(d, "Secret %s has expired", ks);
		doc_para(d, "The client secret that the Nylas connector of app %s uses (%s) ended "
		    "at %s. Microsoft refuses it: the grants of every user of the app stop working "
		    "until a new secret is in place.", n->app, k, words_rfc3339(n->end_ms).s);
	}
	doc_heading(d, "What rekey will do");
	warning_plan(d);
	doc_heading(d, "Facts");
	doc_fact(d, "Secret", "%s", k);
	doc_fact(d, "Ends", "%s (%s%s)", words_rfc3339(n->end_ms).s,
	    n->end_ms > n->now_ms ? "in " : "",
	    n->end_ms > n->now_ms ? words_days_left(n->end_ms, n->now_ms).s : "passed");
	when_rotates(n, when, sizeof(when));
	doc_fact(d, "Rotation", "%s%s", when,
	    words_mode_of(n->rotation_mode) == WORDS_MODE_DRY_RUN ?
	    " (dry run: nothing will be changed)" : "");
	if (n->rotation_mode != NULL)
		doc_fact(d, "Rotation mode", "%s", n->rotation_mode);
	if (n->threshold_s > 0)
		doc_fact(d, "Warning", "the %s mark of warn_before",
		    words_duration_s(n->threshold_s).s);
	pieces_fact_app(d);
	pieces_fact_details(d);
	free(k);
	free(ks);
}

static void
incident_subject(struct doc *d, const struct words_cause *ci)
{
	const struct notice *n = d->n;
	const char *mode;

	if (ci->secret) {
		switch (words_mode_of(n->rotation_mode)) {
		case WORDS_MODE_APPROVE: mode = "rotation waits for approval"; break;
		case WORDS_MODE_DRY_RUN: mode = "dry-run mode: replace the secret by hand"; break;
		case WORDS_MODE_AUTO: mode = "rotating now"; break;
		default: mode = "rotation planned"; break;
		}
		doc_subject(d, "%s: %s cut off, %s", ci->title, words_users(n->affected).s, mode);
	} else if (ci->user) {
		doc_subject(d, "%s: %s affected, no secret rotated", ci->title,
		    words_users(n->affected).s);
	} else {
		doc_subject(d, "%s: %s affected", ci->title, words_users(n->affected).s);
	}
}

/* What rekey does about a secret incident, by rotation mode. */
static void
incident_secret_plan(struct doc *d)
{
	const struct notice *n = d->n;

	switch (words_mode_of(n->rotation_mode)) {
	case WORDS_MODE_APPROVE:
		doc_para(d, "rotation_mode is approve: rekey has planned a rotation of the client "
		    "secret and waits for approval. Users stay cut off until it runs. Approve it "
		    "with:");
		words_rekey_command(d, "approve", n->rotation_id != NULL ? n->rotation_id :
		    words_rotation_placeholder);
		break;
	case WORDS_MODE_DRY_RUN:
		doc_para(d, "rotation_mode is dry-run: rekey changes nothing. Users stay cut off "
		    "until the secret is replaced: add a new client secret to the Azure app and "
		    "put it into the Nylas connector, or set rotation_mode = auto for the app, "
		    "restart rekey and run:");
		words_rekey_command(d, "rotate", n->app);
		break;
	default:
		doc_para(d, "rekey is replacing the client secret now: it adds a new secret, tests "
		    "it, publishes it to Nylas and later retires the old one. You will get a "
		    "message when the new secret is in use, or if the rotation fails.");
		break;
	}
	if (n->rotation_id != NULL)
		doc_fact(d, "Rotation", "%s", n->rotation_id);
}

static void
incident_user_plan(struct doc *d, const struct words_cause *ci)
{
	doc_para(d, "No client secret was rotated: the cause is on the user's side, not the app's. "
	    "The app's secret is fine and other users are not affected by this.");
	if (strcmp(ci->name, "user_disabled") == 0)
		doc_para(d, "If the account was disabled on purpose, nothing needs doing. "
		    "Otherwise enable it again in Microsoft Entra ID; the user must then sign in "
		    "again.");
	else if (strcmp(ci->name, "user_deleted") == 0)
		doc_para(d, "If the account was deleted on purpose, nothing needs doing (the grant "
		    "can be removed in Nylas). Otherwise restore it in Microsoft Entra ID; the "
		    "user must then sign in again.");
	else
		doc_para(d, "The user must sign in again to the app.");
}

static void
build_incident_opened(struct doc *d)
{
	const struct notice *n = d->n;
	const struct words_cause *ci = words_cause_find(n->cause);

	incident_subject(d, ci);
	if (ci->user)
		doc_para(d, "The Microsoft grant%s of %s of app %s expired because of a change to "
		    "the %s: %s.", n->affected == 1 ? "" : "s", words_users(n->affected).s, n->app,
		    n->affected == 1 ? "user's own account" : "users' own accounts", ci->phrase);
	else
		doc_para(d, "Microsoft grants of the Nylas connector of app %s are %s. Cause: %s.",
		    n->app, ci->secret ? "failing" : "expiring", ci->phrase);
	doc_heading(d, "What happened");
	pieces_incident_block(d);
	doc_heading(d, ci->user ? "What rekey did" : "What rekey does");
	if (ci->secret) {
		incident_secret_plan(d);
	} else if (ci->user) {
		incident_user_plan(d, ci);
	} else {
		doc_para(d, "rekey rotates nothing for this cause, since nothing proves the secret "
		    "is broken. Check the Azure app registration (its client secrets, admin "
		    "consent, conditional access). If the secret is the problem, rotate it with:");
		words_rekey_command(d, "rotate", n->app);
	}
	doc_heading(d, "What is left");
	if (ci->user)
		doc_para(d, "%s must sign in again once their account can be used.",
		    n->affected == 1 ? "The affected user" : "The affected users");
	if (ci->user)
		pieces_fact_details(d);
	else
		pieces_users_left(d, 0);
	pieces_fact_app(d);
}

static void
done_subject(struct doc *d)
{
	const struct notice *n = d->n;
	const struct words_cause *ci = words_cause_find(n->cause);
	char *ks = words_key_short(n->new_key_id, n->new_hint);

	if (ci != NULL && pieces_remaining(n) > 0)
		doc_subject(d, "%s: rotated, %s must sign in again", ci->title,
		    words_users(pieces_remaining(n)).s);
	else if (ci != NULL)
		doc_subject(d, "%s: rotated", ci->title);
	else if (n->rotation_reason != NULL && strcmp(n->rotation_reason, "proactive") == 0)
		doc_subject(d, "Client secret rotated ahead of its end: new secret %s", ks);
	else
		doc_subject(d, "Client secret rotated: new secret %s", ks);
	free(ks);
}

static void
done_old_secret(struct doc *d)
{
	const struct notice *n = d->n;
	char *k;

	if (n->old_key_id == NULL && n->old_hint == NULL)
		return;
	k = words_key(n->old_key_id, n->old_hint);
	doc_fact(d, "Old secret", "%s", k);
	if (n->retire_at_ms > 0)
		doc_fact(d, "Old secret removal", "%s%s", words_rfc3339(n->retire_at_ms).s,
		    n->retire_at_ms > n->now_ms ? " (scheduled)" : "");
	else
		doc_fact(d, "Old secret removal", "not scheduled: delete it in the Azure portal "
		    "once nothing else uses it");
	free(k);
}

static void
build_rotation_dry_run(struct doc *d)
{
	const struct notice *n = d->n;

	doc_subject(d, "Dry-run rotation finished: nothing was changed");
	doc_para(d, "A dry-run rotation of the client secret of app %s finished. rotation_mode is "
	    "dry-run, so rekey changed nothing in Azure or in Nylas: it recorded what it would "
	    "have done (see the rotation in rekey status).", n->app);
	doc_heading(d, "Why");
	pieces_rotation_why(d);
	doc_heading(d, "What is left");
	doc_para(d, "The old secret is still in use. To replace it, set rotation_mode = auto for "
	    "the app and restart rekey, or add a new client secret to the Azure app and put it "
	    "into the Nylas connector yourself.");
	if (n->incident_id != NULL)
		pieces_users_left(d, 0);
	else
		pieces_fact_details(d);
	pieces_fact_rotation(d);
	pieces_fact_app(d);
}

static void done_details(struct doc *d);

static void
build_rotation_done(struct doc *d)
{
	const struct notice *n = d->n;

	if (words_mode_of(n->rotation_mode) == WORDS_MODE_DRY_RUN) {
		build_rotation_dry_run(d);
		return;
	}
	done_subject(d);
	done_details(d);
}

/* What a done rotation says after its subject (rotation_done, rotation_recovered). */
static void
done_details(struct doc *d)
{
	const struct notice *n = d->n;
	char *k;

	doc_para(d, "rekey replaced the client secret of the Nylas connector of app %s: Microsoft "
	    "accepts the new secret and Nylas uses it.", n->app);
	doc_heading(d, "What happened");
	pieces_rotation_why(d);
	doc_heading(d, "What rekey did");
	k = words_key(n->new_key_id, n->new_hint);
	doc_fact(d, "New secret", "%s", k);
	free(k);
	if (n->new_end_ms > 0)
		doc_fact(d, "New secret ends", "%s", words_rfc3339(n->new_end_ms).s);
	pieces_fact_lifetime(d);
	doc_fact(d, "Tested", "Microsoft accepted the new secret");
	if (n->published_at_ms > 0)
		doc_fact(d, "Published to Nylas", "%s", words_rfc3339(n->published_at_ms).s);
	else
		doc_fact(d, "Published to Nylas", "yes");
	done_old_secret(d);
	pieces_fact_rotation(d);
	doc_heading(d, "What is left");
	if (n->incident_id != NULL || (n->rotation_reason != NULL &&
	    strcmp(n->rotation_reason, "incident") == 0)) {
		pieces_users_left(d, 1);
	} else {
		doc_para(d, "Nothing: users' grants keep working and nobody needs to sign in "
		    "again.");
		pieces_fact_details(d);
	}
	pieces_fact_app(d);
}

/*
 * A rotation done after failed ones: one message that says both, that the
 * secret was rotated and that the failures are over.
 */
static void
build_rotation_recovered(struct doc *d)
{
	const struct notice *n = d->n;
	long long f = (long long)n->failed_in_a_row;
	char *ks;

	if (words_mode_of(n->rotation_mode) == WORDS_MODE_DRY_RUN) {
		build_rotation_dry_run(d);
		return;
	}
	ks = words_key_short(n->new_key_id, n->new_hint);
	doc_subject(d, "Rotation recovered after %lld failed: new secret %s", f, ks);
	free(ks);
	doc_para(d, "The failures are over: after %lld rotation%s of app %s failed in a row, this "
	    "one succeeded, and the backoff between rotations (rotation_backoff) starts again "
	    "from the beginning.", f, f == 1 ? "" : "s", n->app);
	done_details(d);
	doc_fact(d, "Failed rotations before this one", "%lld in a row", f);
}

/* 1 when a failed rotation will be tried again (a stale retry time is not one). */
static int
retrying(const struct notice *n)
{
	return n->next_retry_ms > n->now_ms;
}

/* 1 when a rotation that failed in state had already put the new secret into Nylas. */
static int
failed_after_publishing(const char *state)
{
	return state != NULL && (strcmp(state, "published") == 0 ||
	    strcmp(state, "watching") == 0 || strcmp(state, "retiring") == 0 ||
	    strcmp(state, "retired") == 0);
}

static void
failed_subject(struct doc *d)
{
	const struct notice *n = d->n;
	const struct words_cause *ci = words_cause_find(n->cause);

	if (failed_after_publishing(n->rotation_state))
		doc_subject(d, "Removing the old client secret failed%s", retrying(n) ?
		    ", will retry" : ": action needed");
	else if (ci != NULL && ci->secret && pieces_remaining(n) > 0)
		doc_subject(d, "%s: rotation failed, %s still cut off", ci->title,
		    words_users(pieces_remaining(n)).s);
	else if (retrying(n))
		doc_subject(d, "Secret rotation failed, retry at %s",
		    words_rfc3339(n->next_retry_ms).s);
	else
		doc_subject(d, "Secret rotation failed: action needed");
}

static void
failed_state(struct doc *d)
{
	const struct notice *n = d->n;
	char *k;

	if (failed_after_publishing(n->rotation_state)) {
		doc_para(d, "The new secret is in use by Nylas; only removing the old one failed. "
		    "Users are not affected.");
		return;
	}
	if (n->new_key_id == NULL)
		return;
	k = words_key(n->new_key_id, n->new_hint);
	doc_para(d, "A new secret was created in Azure (%s) but Nylas does not use it yet.", k);
	free(k);
}

static void
build_rotation_failed(struct doc *d)
{
	const struct notice *n = d->n;

	failed_subject(d);
	if (retrying(n))
		doc_para(d, "rekey could not rotate the client secret of the Nylas connector of "
		    "app %s. It tries again at %s.", n->app, words_rfc3339(n->next_retry_ms).s);
	else
		doc_para(d, "rekey could not rotate the client secret of the Nylas connector of "
		    "app %s and has given up on this rotation.", n->app);
	doc_heading(d, "What went wrong");
	doc_fact(d, "Error", "%s", n->last_error);
	if (n->rotation_state != NULL)
		doc_fact(d, "Failed step", "%s", n->rotation_state);
	doc_fact(d, "Next retry", "%s", retrying(n) ? words_rfc3339(n->next_retry_ms).s :
	    "none (gave up)");
	pieces_fact_rotation(d);
	failed_state(d);
	if (n->incident_id != NULL || n->cause != NULL) {
		doc_heading(d, "Why it was rotating");
		pieces_incident_block(d);
	}
	doc_heading(d, "What you can do");
	doc_para(d, "See the rotation, its attempts and its error:");
	words_rekey_command(d, "status", NULL);
	doc_para(d, "Common causes: the identity rekey signs in as lacks permission on the Azure "
	    "app (Application.ReadWrite.OwnedBy and owner of the app), the Nylas API key is wrong, "
	    "or a tenant policy refuses the secret.");
	doc_para(d, retrying(n) ? "rekey retries by itself; fix the cause before then. If "
	    "it gives up, start a new rotation once the cause is fixed:" : "Once the cause is "
	    "fixed, start a new rotation:");
	words_rekey_command(d, "rotate", n->app);
	if (n->incident_id != NULL && !failed_after_publishing(n->rotation_state)) {
		doc_para(d, "If rotations keep failing while users are cut off, add a client "
		    "secret in the Azure portal and put it into the Nylas connector by hand.");
		doc_heading(d, "What is left");
		pieces_users_left(d, 0);
	} else {
		pieces_fact_details(d);
	}
	pieces_fact_app(d);
}

static void
build_rotation_waiting(struct doc *d)
{
	const struct notice *n = d->n;
	const struct words_cause *ci = words_cause_find(n->cause);
	char *id = words_shell_word(n->rotation_id);

	if (ci != NULL && pieces_remaining(n) > 0)
		doc_subject(d, "%s: rotation waits for approval, %s cut off", ci->title,
		    words_users(pieces_remaining(n)).s);
	else
		doc_subject(d, "Secret rotation %s waits for approval", n->rotation_id);
	doc_para(d, "rekey has planned a rotation of the client secret of the Nylas connector of "
	    "app %s and, since rotation_mode is approve, waits for someone to approve it. Nothing "
	    "changes until then.", n->app);
	doc_heading(d, "Why");
	pieces_rotation_why(d);
	doc_heading(d, "To approve it");
	doc_para(d, "Run:");
	words_rekey_command(d, "approve", n->rotation_id);
	doc_para(d, "or call the admin API: POST /api/v1/rotations/%s/approve. rekey then adds a "
	    "new secret, tests it and publishes it to Nylas.", id);
	free(id);
	doc_heading(d, "What is left");
	if (n->incident_id != NULL)
		pieces_users_left(d, 0);
	else if (n->end_ms > 0)
		doc_para(d, "Nothing breaks before the secret in use ends at %s; approve the "
		    "rotation before then.", words_rfc3339(n->end_ms).s);
	pieces_fact_rotation(d);
	if (n->incident_id == NULL)
		pieces_fact_details(d);
	pieces_fact_app(d);
}

static void
build_lifetime_shortened(struct doc *d)
{
	const struct notice *n = d->n;
	char *k;

	doc_subject(d, "New secret lasts %lld days, not %lld (tenant policy)",
	    (long long)n->lifetime_granted_days, (long long)n->lifetime_requested_days);
	doc_para(d, "The tenant's app management policy refused a client secret lifetime of %lld "
	    "days (secret_lifetime), so rekey created the new secret of app %s with %lld days "
	    "instead.", (long long)n->lifetime_requested_days, n->app,
	    (long long)n->lifetime_granted_days);
	doc_heading(d, "What this means");
	doc_para(d, "Nothing is broken: rekey rotates before a secret ends (rotate_before), only "
	    "more often. Make sure rotate_before is well below %lld days, or the next rotation is "
	    "due as soon as this one is done. To stop this notice, set secret_lifetime = %lldd for "
	    "the app, or ask a tenant administrator to allow longer secrets.",
	    (long long)n->lifetime_granted_days, (long long)n->lifetime_granted_days);
	doc_heading(d, "Facts");
	if (n->new_key_id != NULL || n->new_hint != NULL) {
		k = words_key(n->new_key_id, n->new_hint);
		doc_fact(d, "New secret", "%s", k);
		free(k);
	}
	if (n->new_end_ms > 0)
		doc_fact(d, "New secret ends", "%s", words_rfc3339(n->new_end_ms).s);
	doc_fact(d, "Lifetime asked for", "%lld days", (long long)n->lifetime_requested_days);
	doc_fact(d, "Lifetime granted", "%lld days", (long long)n->lifetime_granted_days);
	if (n->rotation_id != NULL)
		pieces_fact_rotation(d);
	pieces_fact_app(d);
	pieces_fact_details(d);
}

static void
build_reauth_digest(struct doc *d)
{
	const struct notice *n = d->n;
	const struct words_cause *ci = words_cause_find(n->cause);
	int64_t back = n->recovered < n->affected ? n->recovered : n->affected;
	char *k;

	doc_subject(d, "Re-authentication: %lld of %s back, %lld to go", (long long)back,
	    words_users(n->affected).s, (long long)pieces_remaining(n));
	doc_para(d, "Progress of incident %s of app %s%s%s%s: %lld of the %s affected have signed "
	    "in again; %lld have not yet.", n->incident_id, n->app, ci != NULL ? " (" : "",
	    ci != NULL ? ci->phrase : "", ci != NULL ? ")" : "", (long long)back,
	    words_users(n->affected).s, (long long)pieces_remaining(n));
	doc_heading(d, "What is left");
	if (pieces_remaining(n) > 0)
		doc_para(d, "The %s still cut off must sign in again. The incident closes by "
		    "itself when all have, or when an operator closes it.",
		    words_users(pieces_remaining(n)).s);
	else
		doc_para(d, "Every affected user has signed in again; the incident closes.");
	pieces_fact_details(d);
	doc_heading(d, "Facts");
	doc_fact(d, "Incident", "%s", n->incident_id);
	if (ci != NULL)
		doc_fact(d, "Cause", "%s (%s)", ci->title, ci->name);
	if (n->opened_at_ms > 0)
		doc_fact(d, "Opened", "%s (%s ago)", words_rfc3339(n->opened_at_ms).s,
		    words_elapsed(n->opened_at_ms, n->now_ms).s);
	doc_fact(d, "Users affected", "%lld", (long long)n->affected);
	doc_fact(d, "Signed in again", "%lld", (long long)n->recovered);
	doc_fact(d, "Still to sign in", "%lld", (long long)pieces_remaining(n));
	if (n->new_key_id != NULL) {
		k = words_key(n->new_key_id, n->new_hint);
		doc_fact(d, "New secret", "%s", k);
		free(k);
	}
	pieces_fact_app(d);
}

/* Who resolved an incident: as a sentence (1) or as a fact (0). */
static const char *
resolved_words(const char *by, int sentence)
{
	if (by == NULL)
		return sentence ? "it was resolved" : "unknown";
	if (strcmp(by, "operator") == 0)
		return sentence ? "an operator closed it" : "an operator";
	if (strcmp(by, "recovered") == 0 || strcmp(by, "all users re-authenticated") == 0)
		return "all affected users signed in again";
	return by;
}

static void
build_incident_resolved(struct doc *d)
{
	const struct notice *n = d->n;
	const struct words_cause *ci = words_cause_find(n->cause);
	int64_t at = n->resolved_at_ms > 0 ? n->resolved_at_ms : n->now_ms;

	doc_subject(d, "Resolved: %s (%lld of %s back)", ci != NULL ? ci->title : n->incident_id,
	    (long long)(n->recovered < n->affected ? n->recovered : n->affected),
	    words_users(n->affected).s);
	doc_para(d, "Incident %s of app %s is resolved: %s.", n->incident_id, n->app,
	    resolved_words(n->resolved_by, 1));
	if (pieces_remaining(n) > 0)
		doc_para(d, "%s had not signed in again when it was closed; they stay cut off from "
		    "the app's mail and calendar features until they do.",
		    words_users(pieces_remaining(n)).s);
	doc_heading(d, "Facts");
	doc_fact(d, "Incident", "%s", n->incident_id);
	if (ci != NULL)
		doc_fact(d, "Cause", "%s (%s)", ci->title, ci->name);
	if (n->opened_at_ms > 0)
		doc_fact(d, "Opened", "%s", words_rfc3339(n->opened_at_ms).s);
	doc_fact(d, "Resolved", "%s", words_rfc3339(at).s);
	if (n->opened_at_ms > 0)
		doc_fact(d, "Duration", "%s", words_elapsed(n->opened_at_ms, at).s);
	doc_fact(d, "Resolved by", "%s", resolved_words(n->resolved_by, 0));
	doc_fact(d, "Users affected", "%lld", (long long)n->affected);
	doc_fact(d, "Signed in again", "%lld", (long long)n->recovered);
	if (n->rotation_id != NULL)
		pieces_fact_rotation(d);
	pieces_fact_app(d);
	pieces_fact_details(d);
}

/* To one user: no internals, only what stopped and where to sign in. */
static void
build_user_reauth(struct doc *d)
{
	const struct notice *n = d->n;

	doc_subject(d, "Please sign in again to reconnect your mail and calendar");
	doc_para(d, "Hello,");
	doc_para(d, "The connection between your Microsoft account (%s) and our mail and calendar "
	    "integration has stopped, so it can no longer reach your mail or calendar.", n->email);
	doc_para(d, "To reconnect, please sign in again here:");
	doc_add_part(d, DOC_PART_LINK, "Sign in again", xstrdup(n->reauth_url));
	doc_para(d, "It takes about a minute. If you are unsure whether this message is genuine, "
	    "ask your IT team before signing in.");
}

/* What each condition being false keeps rekey from doing, for the owners. */
static const char *
condition_stake(const char *type)
{
	static const struct { const char *type, *stake; } stakes[] = {
		{ "RotatorReady", "rekey cannot read the app's secrets from Graph nor rotate them: "
		  "the secret will expire on schedule and every user's grant with it" },
		{ "SecretsRead", "rekey does not see the app's secrets' end dates: it cannot "
		  "rotate ahead of expiry nor warn you" },
		{ "ConnectorReady", "rekey cannot put a new secret into Nylas: a rotation would "
		  "stop before publishing it" },
		{ "WebhookRegistered", "Nylas may not be delivering grant events to rekey: it "
		  "would not see an expiry storm" },
		{ "SubscriptionReady", "rekey gets no Graph user notifications: it cannot tell a "
		  "user-side cause (disabled, deleted account) from the secret" },
		{ "RotatorCertFresh", "the certificate rekey signs in with has ended: rekey can no "
		  "longer rotate anything" },
		{ "SecretFresh", "the secret Nylas uses is about to end or has ended" },
	};
	size_t i;

	for (i = 0; type != NULL && i < sizeof(stakes) / sizeof(stakes[0]); i++)
		if (strcmp(stakes[i].type, type) == 0)
			return stakes[i].stake;
	return "rekey cannot do all of its job for this app";
}

static void
fact_condition(struct doc *d)
{
	const struct notice *n = d->n;

	doc_fact(d, "Condition", "%s", n->condition_type);
	if (n->condition_reason != NULL)
		doc_fact(d, "Reason", "%s", n->condition_reason);
	if (n->condition_since_ms > 0)
		doc_fact(d, "Failing since", "%s", words_rfc3339(n->condition_since_ms).s);
	if (n->condition_until_ms > 0)
		doc_fact(d, "Recovered at", "%s", words_rfc3339(n->condition_until_ms).s);
	pieces_fact_app(d);
	pieces_fact_details(d);
}

static void
build_condition_failed(struct doc *d)
{
	const struct notice *n = d->n;

	doc_subject(d, "rekey cannot act for app %s: %s", n->app, n->condition_type);
	doc_para(d, "%s.", n->condition_message != NULL ? n->condition_message : n->condition_type);
	doc_heading(d, "What this means");
	doc_para(d, "Until this is fixed, %s.", condition_stake(n->condition_type));
	doc_heading(d, "What to do");
	doc_para(d, "Fix what the message above says, then check every prerequisite at once with:");
	words_rekey_command(d, "doctor", n->app);
	doc_para(d, "You will get a message when rekey sees it working again.");
	doc_heading(d, "Facts");
	fact_condition(d);
}

static void
build_condition_recovered(struct doc *d)
{
	const struct notice *n = d->n;

	doc_subject(d, "rekey can act for app %s again: %s", n->app, n->condition_type);
	doc_para(d, "%s is true again%s%s.", n->condition_type,
	    n->condition_message != NULL ? ": " : "",
	    n->condition_message != NULL ? n->condition_message : "");
	doc_heading(d, "Facts");
	fact_condition(d);
}

static void
build_cert_expiry_warning(struct doc *d)
{
	const struct notice *n = d->n;

	if (n->end_ms > n->now_ms)
		doc_subject(d, "rekey's own certificate for app %s expires in %s", n->app,
		    words_days_left(n->end_ms, n->now_ms).s);
	else
		doc_subject(d, "rekey's own certificate for app %s has expired", n->app);
	doc_para(d, "rekey signs in to Microsoft with a certificate (rotator_cert_file) to read "
	    "and rotate the app's client secrets. That certificate ends at %s. When it ends, rekey "
	    "can no longer rotate anything, and the client secret will then expire on schedule.",
	    words_rfc3339(n->end_ms).s);
	doc_heading(d, "What to do");
	doc_para(d, "Make a new certificate and key, upload the certificate to the rotator's app "
	    "registration beside the old one, point rotator_cert_file and rotator_key_file at the "
	    "new pair, reload rekey (kill -HUP), and check with:");
	words_rekey_command(d, "doctor", n->app);
	doc_heading(d, "Facts");
	if (n->certificate != NULL)
		doc_fact(d, "Certificate", "%s", n->certificate);
	doc_fact(d, "Ends", "%s", words_rfc3339(n->end_ms).s);
	if (n->threshold_s > 0)
		doc_fact(d, "Warning", "the %s mark of warn_before",
		    words_duration_s(n->threshold_s).s);
	pieces_fact_app(d);
	pieces_fact_details(d);
}

static void
build_webhook_secret_rotated(struct doc *d)
{
	const struct notice *n = d->n;

	doc_subject(d, "rekey rotated the Nylas webhook secret of app %s", n->app);
	doc_para(d, "rekey rotated the secret Nylas signs grant webhooks with (destination %s)%s. "
	    "No delivery was lost: rekey accepted the new secret as soon as Nylas gave it, and "
	    "keeps accepting the old one for deliveries already in flight until %s.", n->webhook_id,
	    n->rotation_reason != NULL && strcmp(n->rotation_reason, "scheduled") == 0 ?
	    ", on the schedule of nylas_webhook_secret_rotate_every" : "",
	    n->webhook_grace_until_ms > 0 ? words_rfc3339(n->webhook_grace_until_ms).s : "now");
	doc_heading(d, "What to do");
	doc_para(d, "Nothing. If the old secret is still written in nylas_webhook_secret_file, "
	    "remove that line: every line of the file stays accepted.");
	doc_heading(d, "Facts");
	doc_fact(d, "Destination", "%s", n->webhook_id);
	if (n->rotation_reason != NULL)
		doc_fact(d, "Reason", "%s", n->rotation_reason);
	pieces_fact_app(d);
	pieces_fact_details(d);
}

/*
 * A secret of the app's service principal: rekey lists it and warns, and
 * never rotates or removes it (Nylas does not use it; someone else may).
 */
static void
build_sp_secret_expiry_warning(struct doc *d)
{
	const struct notice *n = d->n;
	char *k = words_key(n->key_id, n->hint), *ks = words_key_short(n->key_id, n->hint);

	doc_subject(d, "Service principal secret %s of app %s expires in %s", ks, n->app,
	    words_days_left(n->end_ms, n->now_ms).s);
	doc_para(d, "A client secret of the service principal of app %s (its enterprise "
	    "application in the tenant, not the app registration) ends at %s, in %s: %s. Nylas "
	    "does not use it: the Nylas connector signs in with the app registration's own secret, "
	    "which rekey rotates. But another integration may sign in with this one, and it stops "
	    "working when the secret ends.", n->app, words_rfc3339(n->end_ms).s,
	    words_days_left(n->end_ms, n->now_ms).s, k);
	doc_heading(d, "What rekey will do");
	doc_para(d, "Nothing: rekey never rotates or removes service principal secrets. This is a "
	    "warning only; you will get another at the next warn_before mark.");
	doc_heading(d, "What to do");
	doc_para(d, "Find what signs in with it (its display name may say). Before it ends, give "
	    "that integration a new secret and remove the old one; if nothing uses it, remove "
	    "it: az ad sp credential delete --id %s --key-id %s", n->azure_client_id != NULL ?
	    n->azure_client_id : "APP_ID", n->key_id);
	doc_heading(d, "Facts");
	doc_fact(d, "Secret", "%s", k);
	if (n->display_name != NULL)
		doc_fact(d, "Display name", "%s", n->display_name);
	doc_fact(d, "Ends", "%s (in %s)", words_rfc3339(n->end_ms).s,
	    words_days_left(n->end_ms, n->now_ms).s);
	if (n->threshold_s > 0)
		doc_fact(d, "Warning", "the %s mark of warn_before",
		    words_duration_s(n->threshold_s).s);
	pieces_fact_app(d);
	pieces_fact_details(d);
	free(k);
	free(ks);
}

const struct kinds_info kinds_table[NOTICE_KIND_COUNT] = {
	[NOTICE_EXPIRY_WARNING] = { "expiry_warning", "rekey.secret.expiring",
	    { "key_id", "end" }, build_expiry_warning },
	[NOTICE_INCIDENT_OPENED] = { "incident_opened", "rekey.incident.opened",
	    { "incident_id", "cause" }, build_incident_opened },
	[NOTICE_ROTATION_DONE] = { "rotation_done", "rekey.rotation.done",
	    { "rotation_id" }, build_rotation_done },
	[NOTICE_ROTATION_FAILED] = { "rotation_failed", "rekey.rotation.failed",
	    { "rotation_id", "last_error" }, build_rotation_failed },
	[NOTICE_ROTATION_WAITING] = { "rotation_waiting", "rekey.rotation.waiting_for_approval",
	    { "rotation_id" }, build_rotation_waiting },
	[NOTICE_LIFETIME_SHORTENED] = { "lifetime_shortened", "rekey.rotation.lifetime_shortened",
	    { "lifetime_requested_days", "lifetime_granted_days" }, build_lifetime_shortened },
	[NOTICE_REAUTH_DIGEST] = { "reauth_digest", "rekey.incident.reauth_progress",
	    { "incident_id" }, build_reauth_digest },
	[NOTICE_INCIDENT_RESOLVED] = { "incident_resolved", "rekey.incident.resolved",
	    { "incident_id" }, build_incident_resolved },
	[NOTICE_USER_REAUTH] = { "user_reauth", "rekey.user.reauth_requested",
	    { "email", "reauth_url" }, build_user_reauth },
	[NOTICE_CONDITION_FAILED] = { "condition_failed", "rekey.condition.failed",
	    { "condition_type", "condition_since" }, build_condition_failed },
	[NOTICE_CONDITION_RECOVERED] = { "condition_recovered", "rekey.condition.recovered",
	    { "condition_type" }, build_condition_recovered },
	[NOTICE_CERT_EXPIRY_WARNING] = { "cert_expiry_warning", "rekey.certificate.expiring",
	    { "end" }, build_cert_expiry_warning },
	[NOTICE_WEBHOOK_SECRET_ROTATED] = { "webhook_secret_rotated",
	    "rekey.webhook.secret_rotated", { "webhook_id" }, build_webhook_secret_rotated },
	[NOTICE_SP_SECRET_EXPIRY_WARNING] = { "sp_secret_expiry_warning",
	    "rekey.service_principal_secret.expiring", { "key_id", "end" },
	    build_sp_secret_expiry_warning },
	[NOTICE_ROTATION_RECOVERED] = { "rotation_recovered", "rekey.rotation.recovered",
	    { "rotation_id", "failed_in_a_row" }, build_rotation_recovered },
};

const char *
notice_kind_name(enum notice_kind k)
{
	if ((unsigned)k >= NOTICE_KIND_COUNT)
		return "unknown";
	return kinds_table[k].name;
}
