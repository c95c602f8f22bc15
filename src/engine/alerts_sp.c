/*
 * alerts_sp: the alerts' part about the app's service principal's secrets.
 * rekey never rotates them (Nylas signs in with the application's secret;
 * another integration may use these), so their end is only warned about:
 * one notice per secret and warn_before mark, the nearest mark crossed, as
 * the in-use secret's warnings are; the outbox's ref ("sp:<keyId>:<mark>")
 * makes each one once.  They come from what the expiry poll last read
 * (state/credentials.h); while that read fails, nothing is warned.
 */
#include "engine/alerts_int.h"
#include "lib/log.h"
#include "lib/util.h"
#include "notice/kinds.h"
#include "notice/notice.h"
#include "state/config.h"
#include "state/credentials.h"
#include "state/runtime.h"
#include "state/store.h"

#include <stdio.h>

/* The nearest warn_before mark a secret with left seconds to go has crossed, or -1. */
static int64_t
nearest_mark(const struct config_app *app, int64_t left)
{
	int64_t mark = -1;
	size_t i;

	for (i = 0; i < app->n_warn_before; i++)
		if (left <= app->warn_before[i] && (mark == -1 || app->warn_before[i] < mark))
			mark = app->warn_before[i];
	return mark;
}

/* Queues the warning for c at mark unless the outbox has it; logs it when it is queued. */
static void
warn_secret(struct sweep *sw, const struct credential *c, int64_t mark)
{
	struct notice n;
	char ref[200], end[UTIL_TIME_MAX];
	const char *kind = notice_kind_name(NOTICE_SP_SECRET_EXPIRY_WARNING);

	snprintf(ref, sizeof(ref), "sp:%s:%lld", c->key_id, (long long)mark);
	if (store_outbox_exists(sw->al->st, ref, kind) != 0)
		return;
	alerts_notice_base(&n, NOTICE_SP_SECRET_EXPIRY_WARNING, sw->app, sw->al->rt->cfg,
	    sw->hint, sizeof(sw->hint));
	n.key_id = c->key_id;
	n.hint = c->hint;
	n.display_name = c->display_name;
	n.end_ms = c->end * 1000;
	n.threshold_s = mark;
	if (alerts_tell(sw, &n, ref) == 0 && store_outbox_exists(sw->al->st, ref, kind) == 1) {
		util_format_time(c->end, end, sizeof(end));
		log_ctx(LOG_LEVEL_WARN, NULL, sw->app->name, "service principal secret %s (hint %s) "
		    "ends %s, within the %lld-day warning: the owners are told (rekey does not "
		    "rotate it)", c->key_id, c->hint ? c->hint : "?", end,
		    (long long)(mark / 86400));
	}
}

void
alerts_sweep_sp_secrets(struct sweep *sw)
{
	struct credentials_sp sp;
	int64_t now = util_now_ms() / 1000, mark;
	size_t i;

	if (credentials_sp_load(sw->al->st, sw->app->name, &sp) == -1)
		return;
	for (i = 0; i < sp.n; i++) {
		const struct credential *c = &sp.list[i];

		/* An ended one no longer works for anyone: status shows it EXPIRED. */
		if (c->key_id == NULL || c->end <= now ||
		    (mark = nearest_mark(sw->app, c->end - now)) < 0)
			continue;
		warn_secret(sw, c, mark);
	}
	credentials_sp_clear(&sp);
}
