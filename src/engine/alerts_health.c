/*
 * alerts_health: the part of the alerts' sweep that evaluates the app's
 * conditions (health.h): they become gauges, and a condition that turns
 * critical (then recovers) is told to the owners once per spell, like the
 * rotator certificate's approaching end.  Part of the alerts
 * (alerts_int.h).
 */
#include "engine/alerts_int.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "notice/kinds.h"
#include "notice/status.h"
#include "state/condition.h"
#include "state/config.h"
#include "state/health.h"
#include "state/runtime.h"
#include "state/store.h"

#include <stdio.h>
#include <string.h>

#define ALERTS_HEALTH_MS	10000	/* the conditions are evaluated this often */

/* rekey_app_condition{app,type} and rekey_app_health{app} from the report. */
static void
health_gauges(const char *app, const struct health_report *r)
{
	char labels[256];
	size_t i;

	for (i = 0; i < CONDITION_TYPE_COUNT; i++) {
		const struct health_item *it = &r->items[i];

		if (!it->applies)
			continue;
		snprintf(labels, sizeof(labels), "app=\"%s\",type=\"%s\"", app,
		    condition_type_name(it->c.type));
		metrics_gauge_set("rekey_app_condition", "1 when the app's condition holds, 0 when it "
		    "is false or unknown (see rekey status).", labels,
		    it->c.status == CONDITION_TRUE ? 1 : 0);
	}
	snprintf(labels, sizeof(labels), "app=\"%s\"", app);
	metrics_gauge_set("rekey_app_health", "The app's health: 0 ok, 1 warning, 2 critical.",
	    labels, (double)r->level);
}

/*
 * Conditions told about when they turn critical.  The in-use secret's and the
 * certificate's end dates have warnings of their own (warn_before).
 */
static int
told_about(enum condition_type t)
{
	return t != CONDITION_SECRET_FRESH && t != CONDITION_ROTATOR_CERT_FRESH;
}

/*
 * Whether an earlier condition of r failed with the same words as item i: one
 * cause (a rotator that cannot sign in fails RotatorReady and SecretsRead
 * alike) is told once, under the first condition it breaks.
 */
static int
said_before(const struct health_report *r, size_t i)
{
	size_t j;

	for (j = 0; j < i; j++)
		if (r->items[j].applies && r->items[j].c.status == CONDITION_FALSE &&
		    r->items[i].c.status == CONDITION_FALSE &&
		    strcmp(r->items[j].c.message, r->items[i].c.message) == 0)
			return 1;
	return 0;
}

/* One notice per spell: failed when it turns critical, recovered when it ends (if told). */
static void
tell_condition(struct sweep *sw, const struct health_item *it)
{
	const char *type = condition_type_name(it->c.type);
	struct notice n;
	char ref[96];
	int64_t spell = it->c.status == CONDITION_FALSE ? it->c.since : it->c.false_since;
	enum notice_kind kind = it->c.status == CONDITION_FALSE ? NOTICE_CONDITION_FAILED :
	    NOTICE_CONDITION_RECOVERED;

	if (!it->applies || !told_about(it->c.type) || spell <= 0)
		return;
	if (it->c.status == CONDITION_UNKNOWN ||
	    (it->c.status == CONDITION_FALSE && it->level != HEALTH_CRITICAL))
		return;
	snprintf(ref, sizeof(ref), "%s:%lld", type, (long long)spell);
	if (kind == NOTICE_CONDITION_RECOVERED &&
	    store_outbox_exists(sw->al->st, ref, notice_kind_name(NOTICE_CONDITION_FAILED)) != 1)
		return;		/* a spell nobody was told of needs no all-clear */
	alerts_notice_base(&n, kind, sw->app, sw->al->rt->cfg, sw->hint, sizeof(sw->hint));
	n.condition_type = type;
	n.condition_reason = it->c.reason;
	n.condition_message = it->c.message;
	n.condition_since_ms = spell * 1000;
	if (kind == NOTICE_CONDITION_RECOVERED)
		n.condition_until_ms = it->c.since * 1000;
	alerts_tell(sw, &n, ref);
}

/* The nearest warn_before mark the rotator certificate has crossed (0: it ended), or -1. */
static int64_t
cert_mark(const struct config_app *app, int64_t end, int64_t now)
{
	int64_t mark = -1;
	size_t i;

	if (end <= now)
		return 0;
	for (i = 0; i < app->n_warn_before; i++)
		if (end - now <= app->warn_before[i])
			mark = app->warn_before[i];
	return mark;
}

static void
sweep_cert(struct sweep *sw)
{
	int64_t now = util_now_ms() / 1000, mark;
	struct notice n;
	char ref[64];

	if (sw->a->cert_end <= 0 || (mark = cert_mark(sw->app, sw->a->cert_end, now)) < 0)
		return;
	alerts_notice_base(&n, NOTICE_CERT_EXPIRY_WARNING, sw->app, sw->al->rt->cfg, sw->hint,
	    sizeof(sw->hint));
	n.end_ms = sw->a->cert_end * 1000;
	n.threshold_s = mark;
	n.certificate = sw->app->rotator_cert_file;
	snprintf(ref, sizeof(ref), "rotator-cert:%lld:%lld", (long long)sw->a->cert_end,
	    (long long)mark);
	alerts_tell(sw, &n, ref);
}

/* Every ALERTS_HEALTH_MS: the conditions as metrics, and the notices they call for. */
void
alerts_sweep_health(struct sweep *sw)
{
	struct health_report r;
	size_t i;

	if (util_now_ms() < sw->a->health_next_ms)
		return;
	sw->a->health_next_ms = util_now_ms() + ALERTS_HEALTH_MS;
	if (status_app_health(sw->al->st, sw->al->rt->cfg, sw->app, &r) == -1)
		return;
	health_gauges(sw->app->name, &r);
	for (i = 0; i < CONDITION_TYPE_COUNT; i++)
		if (!said_before(&r, i))
			tell_condition(sw, &r.items[i]);
	sweep_cert(sw);
}
