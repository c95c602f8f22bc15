#include "notice/messages.h"
#include "notice/clean.h"
#include "notice/doc.h"
#include "notice/words.h"
#include "notice/pieces.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "lib/util.h"
#include "lib/wbuf.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>

/* Slack allows 3000 characters in a section's text; bytes are never fewer. */
#define SLACK_SECTION_MAX 2900
/* Longest header value message_email accepts (a header line is at most 998). */
#define MAX_HEADER 900
/* Quoted-printable lines are at most 76 characters, the soft break's '=' included. */
#define QP_LINE 76
/*
 * Bytes of UTF-8 per RFC 2047 encoded-word: 52 base64 characters, 64 with
 * "=?UTF-8?B?...?=", so that "Subject: " and one word fit in 76.
 */
#define EW_CHUNK 39

/* ---- One builder per kind ---- */

static void
when_rotates(const struct notice *n, char *buf, size_t size)
{
	if (n->rotate_at_ms > n->now_ms)
		snprintf(buf, size, "at %s", rfc3339(n->rotate_at_ms).s);
	else if (n->rotate_at_ms > 0)
		snprintf(buf, size, "now (it was due at %s)", rfc3339(n->rotate_at_ms).s);
	else
		snprintf(buf, size, "before it ends (rotate_before)");
}

static void
warning_plan(struct doc *d)
{
	const struct notice *n = d->n;
	char when[96];

	when_rotates(n, when, sizeof(when));
	switch (mode_of(n->rotation_mode)) {
	case MODE_APPROVE:
		para(d, "rotation_mode is approve: rekey plans a rotation %s and then waits for "
		    "approval. Nothing changes until someone approves it, and the secret ends at %s "
		    "all the same.", when, rfc3339(n->end_ms).s);
		if (n->rotation_id != NULL) {
			para(d, "Approve it with:");
			rekey_command(d, "approve", n->rotation_id);
		} else {
			para(d, "Once it is planned, approve it with the rotation id that rekey "
			    "status shows:");
			rekey_command(d, "approve", rotation_placeholder);
		}
		break;
	case MODE_DRY_RUN:
		para(d, "rotation_mode is dry-run: rekey will change nothing, in Azure or in Nylas. "
		    "Replace the secret before %s: add a new client secret to the Azure app, put it "
		    "into the Nylas connector, then delete the old one. Or set rotation_mode = auto "
		    "for the app and restart rekey, which then rotates it.", rfc3339(n->end_ms).s);
		break;
	default:
		para(d, "rekey rotates it automatically %s: it adds a new secret, tests it and "
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
	char *k = key_words(n->key_id, n->hint), *ks = key_short(n->key_id, n->hint);
	char when[96];

	if (n->end_ms > n->now_ms) {
		subject(d, "Secret %s expires in %s", ks, days_left(n->end_ms, n->now_ms).s);
		para(d, "The client secret that the Nylas connector of app %s uses (%s) ends at %s, "
		    "in %s. When it ends, Microsoft refuses it and the grants of every user of "
		    "the app stop working until a new secret is in place.", n->app, k,
		    rfc3339(n->end_ms).s, days_left(n->end_ms, n->now_ms).s);
	} else {
		subject(d, "Secret %s has expired", ks);
		para(d, "The client secret that the Nylas connector of app %s uses (%s) ended at "
		    "%s. Microsoft refuses it: the grants of every user of the app stop working "
		    "until a new secret is in place.", n->app, k, rfc3339(n->end_ms).s);
	}
	heading(d, "What rekey will do");
	warning_plan(d);
	heading(d, "Facts");
	fact(d, "Secret", "%s", k);
	fact(d, "Ends", "%s (%s%s)", rfc3339(n->end_ms).s, n->end_ms > n->now_ms ? "in " : "",
	    n->end_ms > n->now_ms ? days_left(n->end_ms, n->now_ms).s : "passed");
	when_rotates(n, when, sizeof(when));
	fact(d, "Rotation", "%s%s", when, mode_of(n->rotation_mode) == MODE_DRY_RUN ?
	    " (dry run: nothing will be changed)" : "");
	if (n->rotation_mode != NULL)
		fact(d, "Rotation mode", "%s", n->rotation_mode);
	if (n->threshold_s > 0)
		fact(d, "Warning", "the %s mark of warn_before", duration_s(n->threshold_s).s);
	fact_app(d);
	fact_details(d);
	free(k);
	free(ks);
}

static void
incident_subject(struct doc *d, const struct cause_info *ci)
{
	const struct notice *n = d->n;
	const char *mode;

	if (ci->secret) {
		switch (mode_of(n->rotation_mode)) {
		case MODE_APPROVE: mode = "rotation waits for approval"; break;
		case MODE_DRY_RUN: mode = "dry-run mode: replace the secret by hand"; break;
		case MODE_AUTO: mode = "rotating now"; break;
		default: mode = "rotation planned"; break;
		}
		subject(d, "%s: %s cut off, %s", ci->title, users(n->affected).s, mode);
	} else if (ci->user) {
		subject(d, "%s: %s affected, no secret rotated", ci->title, users(n->affected).s);
	} else {
		subject(d, "%s: %s affected", ci->title, users(n->affected).s);
	}
}

/* What rekey does about a secret incident, by rotation mode. */
static void
incident_secret_plan(struct doc *d)
{
	const struct notice *n = d->n;

	switch (mode_of(n->rotation_mode)) {
	case MODE_APPROVE:
		para(d, "rotation_mode is approve: rekey has planned a rotation of the client "
		    "secret and waits for approval. Users stay cut off until it runs. Approve it "
		    "with:");
		rekey_command(d, "approve", n->rotation_id != NULL ? n->rotation_id :
		    rotation_placeholder);
		break;
	case MODE_DRY_RUN:
		para(d, "rotation_mode is dry-run: rekey changes nothing. Users stay cut off until "
		    "the secret is replaced: add a new client secret to the Azure app and put it "
		    "into the Nylas connector, or set rotation_mode = auto for the app, restart "
		    "rekey and run:");
		rekey_command(d, "rotate", n->app);
		break;
	default:
		para(d, "rekey is replacing the client secret now: it adds a new secret, tests it, "
		    "publishes it to Nylas and later retires the old one. You will get a message "
		    "when the new secret is in use, or if the rotation fails.");
		break;
	}
	if (n->rotation_id != NULL)
		fact(d, "Rotation", "%s", n->rotation_id);
}

static void
incident_user_plan(struct doc *d, const struct cause_info *ci)
{
	para(d, "No client secret was rotated: the cause is on the user's side, not the app's. "
	    "The app's secret is fine and other users are not affected by this.");
	if (strcmp(ci->name, "user_disabled") == 0)
		para(d, "If the account was disabled on purpose, nothing needs doing. Otherwise "
		    "enable it again in Microsoft Entra ID; the user must then sign in again.");
	else if (strcmp(ci->name, "user_deleted") == 0)
		para(d, "If the account was deleted on purpose, nothing needs doing (the grant can "
		    "be removed in Nylas). Otherwise restore it in Microsoft Entra ID; the user must "
		    "then sign in again.");
	else
		para(d, "The user must sign in again to the app.");
}

static void
build_incident_opened(struct doc *d)
{
	const struct notice *n = d->n;
	const struct cause_info *ci = cause_find(n->cause);

	incident_subject(d, ci);
	if (ci->user)
		para(d, "The Microsoft grant%s of %s of app %s expired because of a change to the "
		    "%s: %s.", n->affected == 1 ? "" : "s", users(n->affected).s, n->app,
		    n->affected == 1 ? "user's own account" : "users' own accounts", ci->phrase);
	else
		para(d, "Microsoft grants of the Nylas connector of app %s are %s. Cause: %s.",
		    n->app, ci->secret ? "failing" : "expiring", ci->phrase);
	heading(d, "What happened");
	incident_block(d);
	heading(d, ci->user ? "What rekey did" : "What rekey does");
	if (ci->secret) {
		incident_secret_plan(d);
	} else if (ci->user) {
		incident_user_plan(d, ci);
	} else {
		para(d, "rekey rotates nothing for this cause, since nothing proves the secret is "
		    "broken. Check the Azure app registration (its client secrets, admin consent, "
		    "conditional access). If the secret is the problem, rotate it with:");
		rekey_command(d, "rotate", n->app);
	}
	heading(d, "What is left");
	if (ci->user)
		para(d, "%s must sign in again once their account can be used.",
		    n->affected == 1 ? "The affected user" : "The affected users");
	if (ci->user)
		fact_details(d);
	else
		users_left(d, 0);
	fact_app(d);
}

static void
done_subject(struct doc *d)
{
	const struct notice *n = d->n;
	const struct cause_info *ci = cause_find(n->cause);
	char *ks = key_short(n->new_key_id, n->new_hint);

	if (ci != NULL && remaining(n) > 0)
		subject(d, "%s: rotated, %s must sign in again", ci->title, users(remaining(n)).s);
	else if (ci != NULL)
		subject(d, "%s: rotated", ci->title);
	else if (n->rotation_reason != NULL && strcmp(n->rotation_reason, "proactive") == 0)
		subject(d, "Client secret rotated ahead of its end: new secret %s", ks);
	else
		subject(d, "Client secret rotated: new secret %s", ks);
	free(ks);
}

static void
done_old_secret(struct doc *d)
{
	const struct notice *n = d->n;
	char *k;

	if (n->old_key_id == NULL && n->old_hint == NULL)
		return;
	k = key_words(n->old_key_id, n->old_hint);
	fact(d, "Old secret", "%s", k);
	if (n->retire_at_ms > 0)
		fact(d, "Old secret removal", "%s%s", rfc3339(n->retire_at_ms).s,
		    n->retire_at_ms > n->now_ms ? " (scheduled)" : "");
	else
		fact(d, "Old secret removal", "not scheduled: delete it in the Azure portal once "
		    "nothing else uses it");
	free(k);
}

static void
build_rotation_dry_run(struct doc *d)
{
	const struct notice *n = d->n;

	subject(d, "Dry-run rotation finished: nothing was changed");
	para(d, "A dry-run rotation of the client secret of app %s finished. rotation_mode is "
	    "dry-run, so rekey changed nothing in Azure or in Nylas: it recorded what it would "
	    "have done (see the rotation in rekey status).", n->app);
	heading(d, "Why");
	rotation_why(d);
	heading(d, "What is left");
	para(d, "The old secret is still in use. To replace it, set rotation_mode = auto for the "
	    "app and restart rekey, or add a new client secret to the Azure app and put it into "
	    "the Nylas connector yourself.");
	if (n->incident_id != NULL)
		users_left(d, 0);
	else
		fact_details(d);
	fact_rotation(d);
	fact_app(d);
}

static void
build_rotation_done(struct doc *d)
{
	const struct notice *n = d->n;
	char *k;

	if (mode_of(n->rotation_mode) == MODE_DRY_RUN) {
		build_rotation_dry_run(d);
		return;
	}
	done_subject(d);
	para(d, "rekey replaced the client secret of the Nylas connector of app %s: Microsoft "
	    "accepts the new secret and Nylas uses it.", n->app);
	heading(d, "What happened");
	rotation_why(d);
	heading(d, "What rekey did");
	k = key_words(n->new_key_id, n->new_hint);
	fact(d, "New secret", "%s", k);
	free(k);
	if (n->new_end_ms > 0)
		fact(d, "New secret ends", "%s", rfc3339(n->new_end_ms).s);
	fact_lifetime(d);
	fact(d, "Tested", "Microsoft accepted the new secret");
	if (n->published_at_ms > 0)
		fact(d, "Published to Nylas", "%s", rfc3339(n->published_at_ms).s);
	else
		fact(d, "Published to Nylas", "yes");
	done_old_secret(d);
	fact_rotation(d);
	heading(d, "What is left");
	if (n->incident_id != NULL || (n->rotation_reason != NULL &&
	    strcmp(n->rotation_reason, "incident") == 0)) {
		users_left(d, 1);
	} else {
		para(d, "Nothing: users' grants keep working and nobody needs to sign in again.");
		fact_details(d);
	}
	fact_app(d);
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
	const struct cause_info *ci = cause_find(n->cause);

	if (failed_after_publishing(n->rotation_state))
		subject(d, "Removing the old client secret failed%s", retrying(n) ?
		    ", will retry" : ": action needed");
	else if (ci != NULL && ci->secret && remaining(n) > 0)
		subject(d, "%s: rotation failed, %s still cut off", ci->title,
		    users(remaining(n)).s);
	else if (retrying(n))
		subject(d, "Secret rotation failed, retry at %s", rfc3339(n->next_retry_ms).s);
	else
		subject(d, "Secret rotation failed: action needed");
}

static void
failed_state(struct doc *d)
{
	const struct notice *n = d->n;
	char *k;

	if (failed_after_publishing(n->rotation_state)) {
		para(d, "The new secret is in use by Nylas; only removing the old one failed. "
		    "Users are not affected.");
		return;
	}
	if (n->new_key_id == NULL)
		return;
	k = key_words(n->new_key_id, n->new_hint);
	para(d, "A new secret was created in Azure (%s) but Nylas does not use it yet.", k);
	free(k);
}

static void
build_rotation_failed(struct doc *d)
{
	const struct notice *n = d->n;

	failed_subject(d);
	if (retrying(n))
		para(d, "rekey could not rotate the client secret of the Nylas connector of app %s. "
		    "It tries again at %s.", n->app, rfc3339(n->next_retry_ms).s);
	else
		para(d, "rekey could not rotate the client secret of the Nylas connector of app %s "
		    "and has given up on this rotation.", n->app);
	heading(d, "What went wrong");
	fact(d, "Error", "%s", n->last_error);
	if (n->rotation_state != NULL)
		fact(d, "Failed step", "%s", n->rotation_state);
	fact(d, "Next retry", "%s", retrying(n) ? rfc3339(n->next_retry_ms).s :
	    "none (gave up)");
	fact_rotation(d);
	failed_state(d);
	if (n->incident_id != NULL || n->cause != NULL) {
		heading(d, "Why it was rotating");
		incident_block(d);
	}
	heading(d, "What you can do");
	para(d, "See the rotation, its attempts and its error:");
	rekey_command(d, "status", NULL);
	para(d, "Common causes: the identity rekey signs in as lacks permission on the Azure app "
	    "(Application.ReadWrite.OwnedBy and owner of the app), the Nylas API key is wrong, or "
	    "a tenant policy refuses the secret.");
	para(d, retrying(n) ? "rekey retries by itself; fix the cause before then. If "
	    "it gives up, start a new rotation once the cause is fixed:" : "Once the cause is "
	    "fixed, start a new rotation:");
	rekey_command(d, "rotate", n->app);
	if (n->incident_id != NULL && !failed_after_publishing(n->rotation_state)) {
		para(d, "If rotations keep failing while users are cut off, add a client secret in "
		    "the Azure portal and put it into the Nylas connector by hand.");
		heading(d, "What is left");
		users_left(d, 0);
	} else {
		fact_details(d);
	}
	fact_app(d);
}

static void
build_rotation_waiting(struct doc *d)
{
	const struct notice *n = d->n;
	const struct cause_info *ci = cause_find(n->cause);
	char *id = shell_word(n->rotation_id);

	if (ci != NULL && remaining(n) > 0)
		subject(d, "%s: rotation waits for approval, %s cut off", ci->title,
		    users(remaining(n)).s);
	else
		subject(d, "Secret rotation %s waits for approval", n->rotation_id);
	para(d, "rekey has planned a rotation of the client secret of the Nylas connector of app "
	    "%s and, since rotation_mode is approve, waits for someone to approve it. Nothing "
	    "changes until then.", n->app);
	heading(d, "Why");
	rotation_why(d);
	heading(d, "To approve it");
	para(d, "Run:");
	rekey_command(d, "approve", n->rotation_id);
	para(d, "or call the admin API: POST /api/v1/rotations/%s/approve. rekey then adds a new "
	    "secret, tests it and publishes it to Nylas.", id);
	free(id);
	heading(d, "What is left");
	if (n->incident_id != NULL)
		users_left(d, 0);
	else if (n->end_ms > 0)
		para(d, "Nothing breaks before the secret in use ends at %s; approve the rotation "
		    "before then.", rfc3339(n->end_ms).s);
	fact_rotation(d);
	if (n->incident_id == NULL)
		fact_details(d);
	fact_app(d);
}

static void
build_lifetime_shortened(struct doc *d)
{
	const struct notice *n = d->n;
	char *k;

	subject(d, "New secret lasts %lld days, not %lld (tenant policy)",
	    (long long)n->lifetime_granted_days, (long long)n->lifetime_requested_days);
	para(d, "The tenant's app management policy refused a client secret lifetime of %lld days "
	    "(secret_lifetime), so rekey created the new secret of app %s with %lld days instead.",
	    (long long)n->lifetime_requested_days, n->app, (long long)n->lifetime_granted_days);
	heading(d, "What this means");
	para(d, "Nothing is broken: rekey rotates before a secret ends (rotate_before), only more "
	    "often. Make sure rotate_before is well below %lld days, or the next rotation is due "
	    "as soon as this one is done. To stop this notice, set secret_lifetime = %lldd for the "
	    "app, or ask a tenant administrator to allow longer secrets.",
	    (long long)n->lifetime_granted_days, (long long)n->lifetime_granted_days);
	heading(d, "Facts");
	if (n->new_key_id != NULL || n->new_hint != NULL) {
		k = key_words(n->new_key_id, n->new_hint);
		fact(d, "New secret", "%s", k);
		free(k);
	}
	if (n->new_end_ms > 0)
		fact(d, "New secret ends", "%s", rfc3339(n->new_end_ms).s);
	fact(d, "Lifetime asked for", "%lld days", (long long)n->lifetime_requested_days);
	fact(d, "Lifetime granted", "%lld days", (long long)n->lifetime_granted_days);
	if (n->rotation_id != NULL)
		fact_rotation(d);
	fact_app(d);
	fact_details(d);
}

static void
build_reauth_digest(struct doc *d)
{
	const struct notice *n = d->n;
	const struct cause_info *ci = cause_find(n->cause);
	int64_t back = n->recovered < n->affected ? n->recovered : n->affected;
	char *k;

	subject(d, "Re-authentication: %lld of %s back, %lld to go", (long long)back,
	    users(n->affected).s, (long long)remaining(n));
	para(d, "Progress of incident %s of app %s%s%s%s: %lld of the %s affected have signed "
	    "in again; %lld have not yet.", n->incident_id, n->app, ci != NULL ? " (" : "",
	    ci != NULL ? ci->phrase : "", ci != NULL ? ")" : "", (long long)back,
	    users(n->affected).s, (long long)remaining(n));
	heading(d, "What is left");
	if (remaining(n) > 0)
		para(d, "The %s still cut off must sign in again. The incident closes by itself when "
		    "all have, or when an operator closes it.", users(remaining(n)).s);
	else
		para(d, "Every affected user has signed in again; the incident closes.");
	fact_details(d);
	heading(d, "Facts");
	fact(d, "Incident", "%s", n->incident_id);
	if (ci != NULL)
		fact(d, "Cause", "%s (%s)", ci->title, ci->name);
	if (n->opened_at_ms > 0)
		fact(d, "Opened", "%s (%s ago)", rfc3339(n->opened_at_ms).s,
		    elapsed(n->opened_at_ms, n->now_ms).s);
	fact(d, "Users affected", "%lld", (long long)n->affected);
	fact(d, "Signed in again", "%lld", (long long)n->recovered);
	fact(d, "Still to sign in", "%lld", (long long)remaining(n));
	if (n->new_key_id != NULL) {
		k = key_words(n->new_key_id, n->new_hint);
		fact(d, "New secret", "%s", k);
		free(k);
	}
	fact_app(d);
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
	const struct cause_info *ci = cause_find(n->cause);
	int64_t at = n->resolved_at_ms > 0 ? n->resolved_at_ms : n->now_ms;

	subject(d, "Resolved: %s (%lld of %s back)", ci != NULL ? ci->title : n->incident_id,
	    (long long)(n->recovered < n->affected ? n->recovered : n->affected),
	    users(n->affected).s);
	para(d, "Incident %s of app %s is resolved: %s.", n->incident_id, n->app,
	    resolved_words(n->resolved_by, 1));
	if (remaining(n) > 0)
		para(d, "%s had not signed in again when it was closed; they stay cut off from the "
		    "app's mail and calendar features until they do.", users(remaining(n)).s);
	heading(d, "Facts");
	fact(d, "Incident", "%s", n->incident_id);
	if (ci != NULL)
		fact(d, "Cause", "%s (%s)", ci->title, ci->name);
	if (n->opened_at_ms > 0)
		fact(d, "Opened", "%s", rfc3339(n->opened_at_ms).s);
	fact(d, "Resolved", "%s", rfc3339(at).s);
	if (n->opened_at_ms > 0)
		fact(d, "Duration", "%s", elapsed(n->opened_at_ms, at).s);
	fact(d, "Resolved by", "%s", resolved_words(n->resolved_by, 0));
	fact(d, "Users affected", "%lld", (long long)n->affected);
	fact(d, "Signed in again", "%lld", (long long)n->recovered);
	if (n->rotation_id != NULL)
		fact_rotation(d);
	fact_app(d);
	fact_details(d);
}

/* To one user: no internals, only what stopped and where to sign in. */
static void
build_user_reauth(struct doc *d)
{
	const struct notice *n = d->n;

	subject(d, "Please sign in again to reconnect your mail and calendar");
	para(d, "Hello,");
	para(d, "The connection between your Microsoft account (%s) and our mail and calendar "
	    "integration has stopped, so it can no longer reach your mail or calendar.", n->email);
	para(d, "To reconnect, please sign in again here:");
	add_part(d, PART_LINK, "Sign in again", xstrdup(n->reauth_url));
	para(d, "It takes about a minute. If you are unsure whether this message is genuine, ask "
	    "your IT team before signing in.");
}

/* ---- Checking a notice ---- */

/* What each condition being false keeps rekey from doing, for the owners. */
static const char *
condition_stake(const char *type)
{
	static const struct { const char *type, *stake; } stakes[] = {
		{ "RotatorReady", "rekey cannot read the app's secrets from Graph nor rotate them: "
		  "the secret will expire on schedule and every user's grant with it" },
		{ "SecretsRead", "rekey does not see the app's secrets' end dates: it cannot rotate "
		  "ahead of expiry nor warn you" },
		{ "ConnectorReady", "rekey cannot put a new secret into Nylas: a rotation would stop "
		  "before publishing it" },
		{ "WebhookRegistered", "Nylas may not be delivering grant events to rekey: it would "
		  "not see an expiry storm" },
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

	fact(d, "Condition", "%s", n->condition_type);
	if (n->condition_reason != NULL)
		fact(d, "Reason", "%s", n->condition_reason);
	if (n->condition_since_ms > 0)
		fact(d, "Failing since", "%s", rfc3339(n->condition_since_ms).s);
	if (n->condition_until_ms > 0)
		fact(d, "Recovered at", "%s", rfc3339(n->condition_until_ms).s);
	fact_app(d);
	fact_details(d);
}

static void
build_condition_failed(struct doc *d)
{
	const struct notice *n = d->n;

	subject(d, "rekey cannot act for app %s: %s", n->app, n->condition_type);
	para(d, "%s.", n->condition_message != NULL ? n->condition_message : n->condition_type);
	heading(d, "What this means");
	para(d, "Until this is fixed, %s.", condition_stake(n->condition_type));
	heading(d, "What to do");
	para(d, "Fix what the message above says, then check every prerequisite at once with:");
	rekey_command(d, "doctor", n->app);
	para(d, "You will get a message when rekey sees it working again.");
	heading(d, "Facts");
	fact_condition(d);
}

static void
build_condition_recovered(struct doc *d)
{
	const struct notice *n = d->n;

	subject(d, "rekey can act for app %s again: %s", n->app, n->condition_type);
	para(d, "%s is true again%s%s.", n->condition_type,
	    n->condition_message != NULL ? ": " : "",
	    n->condition_message != NULL ? n->condition_message : "");
	heading(d, "Facts");
	fact_condition(d);
}

static void
build_cert_expiry_warning(struct doc *d)
{
	const struct notice *n = d->n;

	if (n->end_ms > n->now_ms)
		subject(d, "rekey's own certificate for app %s expires in %s", n->app,
		    days_left(n->end_ms, n->now_ms).s);
	else
		subject(d, "rekey's own certificate for app %s has expired", n->app);
	para(d, "rekey signs in to Microsoft with a certificate (rotator_cert_file) to read and "
	    "rotate the app's client secrets. That certificate ends at %s. When it ends, rekey "
	    "can no longer rotate anything, and the client secret will then expire on schedule.",
	    rfc3339(n->end_ms).s);
	heading(d, "What to do");
	para(d, "Make a new certificate and key, upload the certificate to the rotator's app "
	    "registration beside the old one, point rotator_cert_file and rotator_key_file at the "
	    "new pair, reload rekey (kill -HUP), and check with:");
	rekey_command(d, "doctor", n->app);
	heading(d, "Facts");
	if (n->certificate != NULL)
		fact(d, "Certificate", "%s", n->certificate);
	fact(d, "Ends", "%s", rfc3339(n->end_ms).s);
	if (n->threshold_s > 0)
		fact(d, "Warning", "the %s mark of warn_before", duration_s(n->threshold_s).s);
	fact_app(d);
	fact_details(d);
}

static void
build_webhook_secret_rotated(struct doc *d)
{
	const struct notice *n = d->n;

	subject(d, "rekey rotated the Nylas webhook secret of app %s", n->app);
	para(d, "rekey rotated the secret Nylas signs grant webhooks with (destination %s)%s. "
	    "No delivery was lost: rekey accepted the new secret as soon as Nylas gave it, and "
	    "keeps accepting the old one for deliveries already in flight until %s.", n->webhook_id,
	    n->rotation_reason != NULL && strcmp(n->rotation_reason, "scheduled") == 0 ?
	    ", on the schedule of nylas_webhook_secret_rotate_every" : "",
	    n->webhook_grace_until_ms > 0 ? rfc3339(n->webhook_grace_until_ms).s : "now");
	heading(d, "What to do");
	para(d, "Nothing. If the old secret is still written in nylas_webhook_secret_file, remove "
	    "that line: every line of the file stays accepted.");
	heading(d, "Facts");
	fact(d, "Destination", "%s", n->webhook_id);
	if (n->rotation_reason != NULL)
		fact(d, "Reason", "%s", n->rotation_reason);
	fact_app(d);
	fact_details(d);
}

static void set_err(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
set_err(char **err, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	*err = xvasprintf(fmt, ap);
	va_end(ap);
}

/* 1 when field name is set in n. */
static int
field_set(const struct notice *n, const char *name)
{
	const struct field *f = field_named(name);

	if (f == NULL)
		return 0;
	if (f->type == FIELD_STR)
		return field_cstr(n, f) != NULL;
	return field_int(n, f) > 0;
}

/* A link for a person to open: http(s), no spaces, quotes or angle brackets. */
static int
url_ok(const char *url)
{
	const unsigned char *p;

	if (strncasecmp(url, "https://", 8) != 0 && strncasecmp(url, "http://", 7) != 0)
		return 0;
	if (strlen(url) > MAX_URL)
		return 0;
	for (p = (const unsigned char *)url; *p != '\0'; p++) {
		if (*p <= ' ' || *p == 0x7f || *p == '"' || *p == '<' || *p == '>')
			return 0;
	}
	return 1;
}

static int
check_user_reauth(const struct notice *raw, char **err)
{
	if (!url_ok(raw->reauth_url)) {
		set_err(err, "user_reauth notice: reauth_url is not an http(s) link without spaces");
		return -1;
	}
	if (strchr(raw->email, '@') == NULL || strpbrk(raw->email, " \t\r\n") != NULL) {
		set_err(err, "user_reauth notice: email is not an address");
		return -1;
	}
	return 0;
}

static int
check_kind(const struct notice *raw, const struct notice *n, char **err)
{
	switch (n->kind) {
	case NOTICE_ROTATION_DONE:
		if (mode_of(n->rotation_mode) != MODE_DRY_RUN && n->new_key_id == NULL) {
			set_err(err, "rotation_done notice lacks new_key_id");
			return -1;
		}
		return 0;
	case NOTICE_LIFETIME_SHORTENED:
		if (n->lifetime_granted_days >= n->lifetime_requested_days) {
			set_err(err, "lifetime_shortened notice: granted %lld days is not shorter than "
			    "%lld", (long long)n->lifetime_granted_days,
			    (long long)n->lifetime_requested_days);
			return -1;
		}
		return 0;
	case NOTICE_USER_REAUTH:
		return check_user_reauth(raw, err);
	default:
		return 0;
	}
}

struct kind_info {
	const char *name;
	const char *event_type;
	const char *needs[3];	/* fields that must be set */
	void (*build)(struct doc *d);
};

static const struct kind_info kinds[NOTICE_KIND_COUNT] = {
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
	[NOTICE_WEBHOOK_SECRET_ROTATED] = { "webhook_secret_rotated", "rekey.webhook.secret_rotated",
	    { "webhook_id" }, build_webhook_secret_rotated },
};

const char *
notice_kind_name(enum notice_kind k)
{
	if ((unsigned)k >= NOTICE_KIND_COUNT)
		return "unknown";
	return kinds[k].name;
}

/* 0, or -1 and *err when the cleaned notice n (of raw) lacks what its kind needs. */
static int
check_notice(const struct notice *raw, const struct notice *n, char **err)
{
	const struct kind_info *ki = &kinds[n->kind];
	size_t i;

	if (n->app == NULL || n->now_ms <= 0) {
		set_err(err, "%s notice lacks %s", ki->name, n->app == NULL ? "app" : "now_ms");
		return -1;
	}
	for (i = 0; i < sizeof(ki->needs) / sizeof(ki->needs[0]) && ki->needs[i] != NULL; i++) {
		if (!field_set(n, ki->needs[i])) {
			set_err(err, "%s notice lacks %s", ki->name, ki->needs[i]);
			return -1;
		}
	}
	if (n->cause != NULL && cause_find(n->cause) == NULL) {
		set_err(err, "%s notice: unknown cause \"%s\"", ki->name, n->cause);
		return -1;
	}
	if (mode_of(n->rotation_mode) == MODE_UNKNOWN) {
		set_err(err, "%s notice: unknown rotation_mode \"%s\"", ki->name, n->rotation_mode);
		return -1;
	}
	if (n->affected < 0 || n->recovered < 0 || (raw->n_evidence > 0 && raw->evidence == NULL)) {
		set_err(err, "%s notice: negative counts or evidence without lines", ki->name);
		return -1;
	}
	return check_kind(raw, n, err);
}

/* ---- Rendering: plain text ---- */

/* 1 when part p follows prev without a blank line between them. */
static int
joins(const struct part *prev, const struct part *p)
{
	if (prev->type == PART_HEADING)
		return 1;
	if (p->type == PART_FACT || p->type == PART_ITEM)
		return prev->type == p->type || (p->type == PART_ITEM && prev->type == PART_PARA);
	return p->type == PART_COMMAND && prev->type == PART_PARA;
}

/* Width of the labels of the run of facts starting at parts[i]. */
static size_t
label_width(const struct doc *d, size_t i)
{
	size_t w = 0;

	for (; i < d->n_parts && d->parts[i].type == PART_FACT; i++) {
		if (strlen(d->parts[i].label) > w)
			w = strlen(d->parts[i].label);
	}
	return w;
}

static char *
render_text(const struct doc *d)
{
	struct wbuf b = WBUF_INIT;
	const struct part *p;
	size_t i, w = 0, j;

	for (i = 0; i < d->n_parts; i++) {
		p = &d->parts[i];
		if (i > 0 && !joins(&d->parts[i - 1], p))
			wbuf_add_str(&b, "\n");
		switch (p->type) {
		case PART_HEADING:
			wbuf_add_str(&b, p->text);
			wbuf_add_str(&b, "\n");
			for (j = 0; j < strlen(p->text); j++)
				wbuf_add_str(&b, "-");
			break;
		case PART_FACT:
			if (i == 0 || d->parts[i - 1].type != PART_FACT)
				w = label_width(d, i);
			wbuf_add_str(&b, p->label);
			wbuf_add_str(&b, ":");
			for (j = strlen(p->label); j <= w; j++)
				wbuf_add_str(&b, " ");
			wbuf_add_str(&b, p->text);
			break;
		case PART_ITEM:
			wbuf_add_str(&b, "  - ");
			wbuf_add_str(&b, p->text);
			break;
		case PART_COMMAND:
			wbuf_add_str(&b, "    ");
			wbuf_add_str(&b, p->text);
			break;
		case PART_PARA:
		case PART_LINK:
			wbuf_add_str(&b, p->text);
			break;
		}
		wbuf_add_str(&b, "\n");
	}
	return wbuf_to_str(&b);
}

/* ---- Rendering: JSON ---- */

/* The printed tree as a string of our allocator (caller frees); deletes root. */
static char *
print_json(cJSON *root)
{
	char *printed = cJSON_PrintUnformatted(root), *s;

	if (printed == NULL)
		fatal("out of memory printing a message");
	s = xstrdup(printed);
	cJSON_free(printed);
	cJSON_Delete(root);
	return s;
}

/*
 * Appends s to b escaped for Slack mrkdwn (&, < and > as entities), cut at
 * a character boundary with "…" so that b stays within max bytes.
 */
static void
slack_escape(struct wbuf *b, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	const char *esc;
	size_t len, n;

	while (*p != '\0') {
		len = utf8_char(p, strlen((const char *)p));
		if (len == 0)
			len = 1;
		esc = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : NULL;
		n = esc != NULL ? strlen(esc) : len;
		if (b->len + n + sizeof(ellipsis) > max) {
			wbuf_add_str(b, ellipsis);
			return;
		}
		if (esc != NULL)
			wbuf_add_str(b, esc);
		else
			wbuf_add(b, p, len);
		p += len;
	}
}

static void
slack_section(cJSON *blocks, struct wbuf *b)
{
	cJSON *sec, *text;

	if (b->len == 0)
		return;
	sec = cJSON_CreateObject();
	cJSON_AddStringToObject(sec, "type", "section");
	text = cJSON_AddObjectToObject(sec, "text");
	cJSON_AddStringToObject(text, "type", "mrkdwn");
	cJSON_AddStringToObject(text, "text", (const char *)b->data);
	cJSON_AddItemToArray(blocks, sec);
	wbuf_clear(b);
}

/* One part as a line of mrkdwn into line (cleared first). */
static void
slack_line(struct wbuf *line, const struct part *p)
{
	wbuf_clear(line);
	switch (p->type) {
	case PART_HEADING:
		wbuf_add_str(line, "*");
		slack_escape(line, p->text, SLACK_SECTION_MAX - 1);
		wbuf_add_str(line, "*");
		break;
	case PART_FACT:
		wbuf_add_str(line, "*");
		slack_escape(line, p->label, SLACK_SECTION_MAX);
		wbuf_add_str(line, ":* ");
		slack_escape(line, p->text, SLACK_SECTION_MAX);
		break;
	case PART_ITEM:
		wbuf_add_str(line, "\xe2\x80\xa2 ");
		slack_escape(line, p->text, SLACK_SECTION_MAX);
		break;
	case PART_COMMAND:
		/* A backtick inside would end the code span early. */
		wbuf_add_str(line, strchr(p->text, '`') == NULL ? "`" : "");
		slack_escape(line, p->text, SLACK_SECTION_MAX - 1);
		wbuf_add_str(line, strchr(p->text, '`') == NULL ? "`" : "");
		break;
	case PART_LINK:
		/* <url|label>; a '|' in the url would end it early, so then the bare url. */
		wbuf_add_str(line, strchr(p->text, '|') == NULL ? "<" : "");
		slack_escape(line, p->text, SLACK_SECTION_MAX - 32);
		if (strchr(p->text, '|') == NULL) {
			wbuf_add_str(line, "|");
			slack_escape(line, p->label, SLACK_SECTION_MAX);
			wbuf_add_str(line, ">");
		}
		break;
	case PART_PARA:
		slack_escape(line, p->text, SLACK_SECTION_MAX);
		break;
	}
}

/* Sections of at most SLACK_SECTION_MAX bytes; a heading starts a new one. */
static void
slack_blocks(const struct doc *d, cJSON *blocks)
{
	struct wbuf sec = WBUF_INIT, line = WBUF_INIT;
	size_t i;

	slack_line(&line, &(struct part){ PART_HEADING, NULL, d->subject });
	wbuf_add(&sec, line.data, line.len);
	for (i = 0; i < d->n_parts; i++) {
		slack_line(&line, &d->parts[i]);
		if (d->parts[i].type == PART_HEADING ||
		    sec.len + 2 + line.len > SLACK_SECTION_MAX)
			slack_section(blocks, &sec);
		if (sec.len > 0)
			wbuf_add_str(&sec, i > 0 && joins(&d->parts[i - 1], &d->parts[i]) ?
			    "\n" : "\n\n");
		wbuf_add(&sec, line.data, line.len);
	}
	slack_section(blocks, &sec);
	wbuf_clear(&line);
}

static char *
render_slack(const struct doc *d, const char *event_type)
{
	cJSON *root = cJSON_CreateObject(), *blocks, *ctx, *elems, *el;
	struct wbuf b = WBUF_INIT;
	char *foot;

	slack_escape(&b, d->subject, SLACK_SECTION_MAX);
	cJSON_AddStringToObject(root, "text", b.data != NULL ? (const char *)b.data : "");
	wbuf_clear(&b);
	blocks = cJSON_AddArrayToObject(root, "blocks");
	slack_blocks(d, blocks);
	ctx = cJSON_CreateObject();
	cJSON_AddStringToObject(ctx, "type", "context");
	elems = cJSON_AddArrayToObject(ctx, "elements");
	el = cJSON_CreateObject();
	cJSON_AddStringToObject(el, "type", "mrkdwn");
	foot = xasprintf("rekey \xc2\xb7 %s \xc2\xb7 %s", event_type, rfc3339(d->n->now_ms).s);
	slack_escape(&b, foot, SLACK_SECTION_MAX);
	free(foot);
	cJSON_AddStringToObject(el, "text", (const char *)b.data);
	wbuf_clear(&b);
	cJSON_AddItemToArray(elems, el);
	cJSON_AddItemToArray(blocks, ctx);
	return print_json(root);
}

static cJSON *
teams_text(const char *text)
{
	cJSON *t = cJSON_CreateObject();

	cJSON_AddStringToObject(t, "type", "TextBlock");
	cJSON_AddStringToObject(t, "text", text);
	cJSON_AddBoolToObject(t, "wrap", 1);
	return t;
}

/* The FactSet of the run of facts at parts[*i], leaving *i on its last. */
static cJSON *
teams_facts(const struct doc *d, size_t *i)
{
	cJSON *set = cJSON_CreateObject(), *facts, *f;

	cJSON_AddStringToObject(set, "type", "FactSet");
	facts = cJSON_AddArrayToObject(set, "facts");
	for (; *i < d->n_parts && d->parts[*i].type == PART_FACT; (*i)++) {
		f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "title", d->parts[*i].label);
		cJSON_AddStringToObject(f, "value", d->parts[*i].text);
		cJSON_AddItemToArray(facts, f);
	}
	(*i)--;
	return set;
}

static cJSON *
teams_part(const struct part *p, cJSON *actions)
{
	cJSON *t, *a;
	char *s;

	switch (p->type) {
	case PART_HEADING:
		t = teams_text(p->text);
		cJSON_AddStringToObject(t, "weight", "Bolder");
		cJSON_AddStringToObject(t, "spacing", "Medium");
		cJSON_AddBoolToObject(t, "separator", 1);
		return t;
	case PART_ITEM:
		s = xasprintf("\xe2\x80\xa2 %s", p->text);
		t = teams_text(s);
		free(s);
		cJSON_AddStringToObject(t, "spacing", "None");
		return t;
	case PART_COMMAND:
		t = teams_text(p->text);
		cJSON_AddStringToObject(t, "fontType", "Monospace");
		return t;
	case PART_LINK:
		a = cJSON_CreateObject();
		cJSON_AddStringToObject(a, "type", "Action.OpenUrl");
		cJSON_AddStringToObject(a, "title", p->label);
		cJSON_AddStringToObject(a, "url", p->text);
		cJSON_AddItemToArray(actions, a);
		return teams_text(p->text);
	case PART_FACT:
	case PART_PARA:
		break;
	}
	return teams_text(p->text);
}

static char *
render_teams(const struct doc *d)
{
	cJSON *root = cJSON_CreateObject(), *att, *card, *body, *actions, *title, *ms;
	size_t i;

	cJSON_AddStringToObject(root, "type", "message");
	att = cJSON_CreateObject();
	cJSON_AddItemToArray(cJSON_AddArrayToObject(root, "attachments"), att);
	cJSON_AddStringToObject(att, "contentType", "application/vnd.microsoft.card.adaptive");
	cJSON_AddNullToObject(att, "contentUrl");
	card = cJSON_AddObjectToObject(att, "content");
	cJSON_AddStringToObject(card, "$schema", "http://adaptivecards.io/schemas/adaptive-card.json");
	cJSON_AddStringToObject(card, "type", "AdaptiveCard");
	cJSON_AddStringToObject(card, "version", "1.4");
	ms = cJSON_AddObjectToObject(card, "msteams");
	cJSON_AddStringToObject(ms, "width", "Full");
	body = cJSON_AddArrayToObject(card, "body");
	actions = cJSON_CreateArray();
	title = teams_text(d->subject);
	cJSON_AddStringToObject(title, "weight", "Bolder");
	cJSON_AddStringToObject(title, "size", "Medium");
	cJSON_AddItemToArray(body, title);
	for (i = 0; i < d->n_parts; i++) {
		if (d->parts[i].type == PART_FACT)
			cJSON_AddItemToArray(body, teams_facts(d, &i));
		else
			cJSON_AddItemToArray(body, teams_part(&d->parts[i], actions));
	}
	if (cJSON_GetArraySize(actions) > 0)
		cJSON_AddItemToObject(card, "actions", actions);
	else
		cJSON_Delete(actions);
	return print_json(root);
}

/* Every field of raw that is set, strings as valid UTF-8 (line breaks kept), times as RFC 3339. */
static void
webhook_fields(cJSON *data, const struct notice *raw, const struct notice *n, int incident)
{
	const struct field *f;
	char *clean;
	size_t i;

	for (i = 0; i < N_FIELDS; i++) {
		f = &fields[i];
		if (f->type == FIELD_STR) {
			/* The cleaned copy says whether it is set; the raw one keeps its lines. */
			if (field_cstr(n, f) == NULL)
				continue;
			clean = clean_text(field_cstr(raw, f), MAX_WEBHOOK_FIELD, 0);
			cJSON_AddStringToObject(data, f->name, clean);
			free(clean);
		} else if (f->type == FIELD_TIME && field_int(n, f) > 0) {
			cJSON_AddStringToObject(data, f->name, rfc3339(field_int(n, f)).s);
		} else if ((f->type == FIELD_NUM && field_int(n, f) > 0) ||
		    (f->type == FIELD_COUNT && incident)) {
			cJSON_AddNumberToObject(data, f->name, (double)field_int(n, f));
		}
	}
}

static char *
render_webhook(const struct notice *raw, const struct notice *n, const struct doc *d,
    const char *event_type)
{
	cJSON *root = cJSON_CreateObject(), *data, *ev;
	int incident = n->incident_id != NULL || n->kind == NOTICE_INCIDENT_OPENED ||
	    n->kind == NOTICE_REAUTH_DIGEST || n->kind == NOTICE_INCIDENT_RESOLVED;
	char *clean;
	size_t i;

	cJSON_AddStringToObject(root, "type", event_type);
	cJSON_AddStringToObject(root, "timestamp", rfc3339(n->now_ms).s);
	data = cJSON_AddObjectToObject(root, "data");
	cJSON_AddStringToObject(data, "kind", notice_kind_name(n->kind));
	cJSON_AddStringToObject(data, "summary", d->subject);
	webhook_fields(data, raw, n, incident);
	if (d->c->n_evidence > 0) {
		ev = cJSON_AddArrayToObject(data, "evidence");
		for (i = 0; i < raw->n_evidence && cJSON_GetArraySize(ev) < MAX_EVIDENCE; i++) {
			if (raw->evidence[i] == NULL || raw->evidence[i][0] == '\0')
				continue;
			clean = clean_text(raw->evidence[i], MAX_WEBHOOK_FIELD, 0);
			cJSON_AddItemToArray(ev, cJSON_CreateString(clean));
			free(clean);
		}
	}
	if (n->kind == NOTICE_EXPIRY_WARNING && n->end_ms > n->now_ms)
		cJSON_AddNumberToObject(data, "days_left",
		    (double)((n->end_ms - n->now_ms) / MS_PER_DAY));
	if (incident)
		cJSON_AddNumberToObject(data, "remaining", (double)remaining(n));
	return print_json(root);
}

/* ---- The public functions ---- */

int
message_render(const struct notice *n, struct message *out, char **err)
{
	struct clean c;
	struct doc d;
	const char *type;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (err != NULL)
		*err = NULL;
	if (n == NULL || (unsigned)n->kind >= NOTICE_KIND_COUNT) {
		set_err(err, "unknown notice kind");
		return -1;
	}
	clean_notice(n, &c);
	memset(&d, 0, sizeof(d));
	d.n = &c.n;
	d.c = &c;
	if (check_notice(n, &c.n, err) == -1)
		goto out;
	kinds[n->kind].build(&d);
	type = kinds[n->kind].event_type;
	out->event_type = xstrdup(type);
	out->subject = xstrdup(d.subject);
	out->text = render_text(&d);
	out->slack_json = render_slack(&d, type);
	out->teams_json = render_teams(&d);
	out->webhook_json = render_webhook(n, &c.n, &d, type);
	rc = 0;
out:
	doc_free(&d);
	clean_free(&c);
	return rc;
}

void
message_clear(struct message *m)
{
	if (m == NULL)
		return;
	free(m->event_type);
	free(m->subject);
	free(m->text);
	free(m->slack_json);
	free(m->teams_json);
	free(m->webhook_json);
	memset(m, 0, sizeof(*m));
}

/* ---- Email ---- */

/* 1 when s can be a header value: not empty, bounded, no CR, LF or other control character. */
static int
header_ok(const char *s)
{
	const unsigned char *p;

	if (s == NULL || s[0] == '\0' || strlen(s) > MAX_HEADER)
		return 0;
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return 0;
	}
	return 1;
}

/* 1 when s must be sent as encoded-words: not all printable ASCII, or looks like one already. */
static int
needs_encoding(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p < 0x20 || *p >= 0x7f)
			return 1;
	}
	return strstr(s, "=?") != NULL;
}

/* "Subject: " and s as RFC 2047 B encoded-words of whole UTF-8 characters, folded. */
static void
add_encoded_subject(struct wbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, take, len;
	char *enc;

	wbuf_add_str(b, "Subject:");
	while (i < n) {
		for (take = 0; i + take < n; take += len) {
			len = utf8_char(p + i + take, n - i - take);
			if (len == 0)
				len = 1;
			if (take + len > EW_CHUNK)
				break;
		}
		enc = crypto_b64_encode(p + i, take, 0);
		wbuf_add_str(b, i == 0 ? " =?UTF-8?B?" : "\r\n =?UTF-8?B?");
		wbuf_add_str(b, enc);
		wbuf_add_str(b, "?=");
		free(enc);
		i += take;
	}
	wbuf_add_str(b, "\r\n");
}

/* "Subject: s", folded before spaces to keep lines within 78 characters where it can. */
static void
add_subject(struct wbuf *b, const char *s)
{
	size_t col, word;
	const char *p = s;

	if (needs_encoding(s)) {
		add_encoded_subject(b, s);
		return;
	}
	wbuf_add_str(b, "Subject:");
	col = strlen("Subject:");
	while (*p != '\0') {
		/* A word with the spaces before it. */
		word = strspn(p, " ");
		word += strcspn(p + word, " ");
		if (col + word > 78 && col > strlen("Subject:") && *p == ' ') {
			wbuf_add_str(b, "\r\n");
			col = 0;
		} else if (p == s) {
			wbuf_add_str(b, " ");
			col++;
		}
		wbuf_add(b, p, word);
		col += word;
		p += word;
	}
	wbuf_add_str(b, "\r\n");
}

static void
add_header(struct wbuf *b, const char *name, const char *value)
{
	wbuf_add_str(b, name);
	wbuf_add_str(b, ": ");
	wbuf_add_str(b, value);
	wbuf_add_str(b, "\r\n");
}

/* RFC 5322 date, "Wed, 01 Jul 2026 00:00:00 +0000", whatever the locale. */
static void
email_date(int64_t ms, char *buf, size_t size)
{
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
	    "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	gmtime_r(&t, &tm);
	snprintf(buf, size, "%s, %02d %s %04d %02d:%02d:%02d +0000", days[tm.tm_wday % 7],
	    tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
	    tm.tm_sec);
}

/*
 * Appends text quoted-printable (RFC 2045): "\n" ends a line (CRLF), lines
 * are at most 76 characters with soft breaks, '=' and every byte that is not
 * printable ASCII are encoded, as are a space or tab before a line's end and
 * a '.' that starts a line (so no SMTP dot-stuffing is needed).
 */
static void
add_qp(struct wbuf *b, const char *text)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	char tok[3];
	size_t col = 0, n;
	int last;

	for (p = (const unsigned char *)text; *p != '\0'; p++) {
		if (*p == '\n') {
			wbuf_add_str(b, "\r\n");
			col = 0;
			continue;
		}
		last = p[1] == '\n' || p[1] == '\0';
		tok[0] = (char)*p;
		n = 1;
		if (*p == '=' || *p > 0x7e || (*p < 0x20 && *p != '\t') ||
		    ((*p == ' ' || *p == '\t') && last) || (*p == '.' && col == 0)) {
			tok[0] = '=';
			tok[1] = hex[*p >> 4];
			tok[2] = hex[*p & 0xf];
			n = 3;
		}
		/* Room for the soft break's '=' unless this is the line's last token. */
		if (col + n > (last ? QP_LINE : QP_LINE - 1)) {
			wbuf_add_str(b, "=\r\n");
			col = 0;
			if (*p == '.') {
				p--;
				continue;
			}
		}
		wbuf_add(b, tok, n);
		col += n;
	}
	if (col > 0)
		wbuf_add_str(b, "\r\n");
}

char *
message_email(const struct message *m, const char *from, const char *to,
    const char *message_id, int64_t date_ms)
{
	struct wbuf b = WBUF_INIT;
	char date[64];
	int bracketed;

	if (m == NULL || m->text == NULL || !header_ok(m->subject) || !header_ok(from) ||
	    !header_ok(to) || !header_ok(message_id) || strpbrk(message_id, " \t") != NULL ||
	    date_ms <= 0 || date_ms > MAX_TIME_MS)
		return NULL;
	bracketed = message_id[0] == '<' && message_id[strlen(message_id) - 1] == '>';
	email_date(date_ms, date, sizeof(date));
	add_header(&b, "From", from);
	add_header(&b, "To", to);
	add_subject(&b, m->subject);
	add_header(&b, "Date", date);
	wbuf_add_str(&b, bracketed ? "Message-ID: " : "Message-ID: <");
	wbuf_add_str(&b, message_id);
	wbuf_add_str(&b, bracketed ? "\r\n" : ">\r\n");
	add_header(&b, "MIME-Version", "1.0");
	add_header(&b, "Content-Type", "text/plain; charset=utf-8");
	add_header(&b, "Content-Transfer-Encoding", "quoted-printable");
	add_header(&b, "Auto-Submitted", "auto-generated");
	/* Keeps Exchange from answering with out-of-office replies. */
	add_header(&b, "X-Auto-Response-Suppress", "All");
	wbuf_add_str(&b, "\r\n");
	add_qp(&b, m->text);
	return wbuf_to_str(&b);
}
