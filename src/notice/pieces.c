/*
 * pieces: the parts of the text that several kinds of notice share (see
 * notice/pieces.h).
 */
#include "notice/pieces.h"
#include "notice/clean.h"
#include "notice/doc.h"
#include "notice/notice.h"
#include "notice/words.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>

/* ---- Pieces that several kinds share ---- */

void
pieces_fact_details(struct doc *d)
{
	char *cfg;

	if (d->n->status_hint != NULL) {
		doc_fact(d, "Details", "%s", d->n->status_hint);
		return;
	}
	cfg = d->n->config_path != NULL ? words_shell_word(d->n->config_path) :
	    xstrdup(words_config_placeholder);
	doc_fact(d, "Details", "rekey status -c %s", cfg);
	free(cfg);
}

void
pieces_fact_app(struct doc *d)
{
	if (d->n->azure_client_id != NULL)
		doc_fact(d, "Azure app (client id)", "%s", d->n->azure_client_id);
	doc_fact(d, "rekey app", "%s", d->n->app);
}

static void
evidence(struct doc *d)
{
	size_t i;

	if (d->c->n_evidence == 0)
		return;
	doc_para(d, "Evidence:");
	for (i = 0; i < d->c->n_evidence; i++)
		doc_add_part(d, DOC_PART_ITEM, NULL, xstrdup(d->c->evidence[i]));
	if (d->c->evidence_left > 0)
		doc_add_part(d, DOC_PART_ITEM, NULL,
		    xasprintf("(%zu more not shown)", d->c->evidence_left));
}

int64_t
pieces_remaining(const struct notice *n)
{
	return n->affected > n->recovered ? n->affected - n->recovered : 0;
}

/* The incident as facts, its cause explained and its evidence. */
void
pieces_incident_block(struct doc *d)
{
	const struct notice *n = d->n;
	const struct words_cause *ci = words_cause_find(n->cause);

	if (ci != NULL)
		doc_para(d, "%s", ci->what);
	if (n->incident_id != NULL)
		doc_fact(d, "Incident", "%s", n->incident_id);
	if (ci != NULL)
		doc_fact(d, "Cause", "%s (%s)", ci->title, ci->name);
	if (n->opened_at_ms > 0)
		doc_fact(d, "Opened", "%s", words_rfc3339(n->opened_at_ms).s);
	/* A rotation's notice may name its incident without its counts. */
	if (n->incident_id != NULL && (n->affected > 0 || n->kind == NOTICE_INCIDENT_OPENED)) {
		doc_fact(d, "Users affected", "%lld", (long long)n->affected);
		doc_fact(d, "Signed in again", "%lld", (long long)n->recovered);
	}
	evidence(d);
}

/*
 * What is left for the affected users of an incident (fixed: the new secret
 * is in place), and where to see them.  Without counts (a rotation's notice
 * may lack them) it says who without how many.
 */
void
pieces_users_left(struct doc *d, int fixed)
{
	const struct notice *n = d->n;
	const struct words_cause *ci = words_cause_find(n->cause);

	if (n->affected <= 0 && fixed)
		doc_para(d, "The users whose grants expired while the secret was broken must sign "
		    "in again to the app. rekey tracks them and sends progress digests until all "
		    "have.");
	else if (n->affected <= 0)
		doc_para(d, "The users whose grants expired cannot use the app's mail and calendar "
		    "features until %s; then each must sign in again.",
		    ci != NULL && !ci->secret ? "the cause is fixed" : "a new secret is in place");
	else if (fixed)
		doc_para(d, "%s must sign in again to the app (their grants expired while the "
		    "secret was broken); %lld %s so far, %lld to go. rekey tracks them and sends "
		    "progress digests until all have.", words_users(n->affected).s,
		    (long long)n->recovered, n->recovered == 1 ? "has" : "have",
		    (long long)pieces_remaining(n));
	else
		doc_para(d, "%s cannot use the app's mail and calendar features until %s; then "
		    "each must sign in again (%lld %s so far).", words_users(pieces_remaining(n)).s,
		    ci != NULL && !ci->secret ? "the cause is fixed" : "a new secret is in place",
		    (long long)n->recovered, n->recovered == 1 ? "has" : "have");
	pieces_fact_details(d);
}

static const char *
reason_words(const char *reason)
{
	if (reason == NULL)
		return "";
	if (strcmp(reason, "incident") == 0)
		return "to fix an incident";
	if (strcmp(reason, "proactive") == 0)
		return "ahead of the secret's end";
	if (strcmp(reason, "manual") == 0)
		return "asked for by an operator";
	return reason;
}

/* Why a rotation happens: its incident, or the secret's end, or an operator. */
void
pieces_rotation_why(struct doc *d)
{
	const struct notice *n = d->n;
	char *k;

	if (n->incident_id != NULL || n->cause != NULL) {
		pieces_incident_block(d);
		return;
	}
	if (n->rotation_reason != NULL && strcmp(n->rotation_reason, "manual") == 0) {
		doc_para(d, "An operator asked for this rotation (rekey rotate or the admin API).");
		return;
	}
	if (n->end_ms > 0) {
		k = words_key(n->old_key_id != NULL ? n->old_key_id : n->key_id,
		    n->old_hint != NULL ? n->old_hint : n->hint);
		doc_para(d, "The secret in use (%s) ends at %s, so rekey rotates it ahead of time.",
		    k, words_rfc3339(n->end_ms).s);
		free(k);
	} else if (n->rotation_reason != NULL && strcmp(n->rotation_reason, "proactive") == 0) {
		doc_para(d, "The secret in use is close to its end, so rekey rotates it ahead of "
		    "time.");
	}
}

void
pieces_fact_rotation(struct doc *d)
{
	const struct notice *n = d->n;

	if (n->rotation_reason != NULL && n->rotation_mode != NULL)
		doc_fact(d, "Rotation", "%s (%s; mode %s)", n->rotation_id,
		    reason_words(n->rotation_reason), n->rotation_mode);
	else if (n->rotation_reason != NULL)
		doc_fact(d, "Rotation", "%s (%s)", n->rotation_id,
		    reason_words(n->rotation_reason));
	else
		doc_fact(d, "Rotation", "%s", n->rotation_id);
}

void
pieces_fact_lifetime(struct doc *d)
{
	const struct notice *n = d->n;

	if (n->lifetime_granted_days > 0 && n->lifetime_requested_days > n->lifetime_granted_days)
		doc_fact(d, "Lifetime",
		    "%lld days (%lld asked for; the tenant's policy refused it)",
		    (long long)n->lifetime_granted_days, (long long)n->lifetime_requested_days);
}
