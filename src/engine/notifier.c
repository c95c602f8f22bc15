/*
 * notifier: the outbox and its delivery.  See notifier.h for the guarantees.
 *
 * Runs on the event loop with a store connection of its own that waits at
 * most NOTIFY_LOCK_WAIT_MS for the write lock: a busy store delays a
 * message, it never blocks the loop.  Rendering happens when a notice is
 * queued, so a message sent again after a restart is byte for byte the one
 * that was meant (same Message-ID, same webhook-id).
 */
#include "engine/notifier.h"
#include "lib/crypto.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "notice/email.h"
#include "notice/kinds.h"
#include "notice/messages.h"
#include "outbound/http_client.h"
#include "outbound/mailer.h"
#include "proto/jwt.h"
#include "state/config.h"
#include "state/leader.h"
#include "state/runtime.h"
#include "state/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define NOTIFY_LOCK_WAIT_MS	250
#define NOTIFY_IN_FLIGHT_MAX	16
#define NOTIFY_USERS_IN_FLIGHT	12	/* slots the users' mails may take; the rest stay for owners */
#define NOTIFY_IDLE_MS		2000	/* how often the outbox is read when nothing wakes it */
#define NOTIFY_BACKOFF_FIRST_MS	5000
#define NOTIFY_BACKOFF_MAX_MS	(4 * 3600 * 1000)
#define NOTIFY_TIMEOUT_MS	10000
#define NOTIFY_LEASE_MS		(15 * 60 * 1000)	/* a row being sent is not due again before */
#define NOTIFY_GAUGES_MS	NOTIFY_IDLE_MS		/* the outbox is counted at most this often */

struct sending {
	struct notifier *n;		/* NULL once the notifier is gone */
	struct store_outbox row;
	int64_t started_us;
};

struct notifier {
	struct runtime *rt;
	struct http_client *hc;
	struct mailer *mailer;		/* SMTP from a thread of its own (mailer.h) */
	char *mailer_ca;		/* the ca_file it trusts; a reload may change it */
	struct store *st;		/* NULL when it could not be opened: retried */
	struct event *timer;
	struct sending *flight[NOTIFY_IN_FLIGHT_MAX];
	size_t n_flight;
	int stopping;
	int64_t gauges_due_us;		/* monotonic: when the outbox is counted again */
};

/* ---- Queueing ---- */

/* A fresh id: "msg_" and 32 hex digits for webhooks, a Message-ID for mail. */
static char *
new_msg_id(const char *channel, const char *from)
{
	unsigned char rnd[16];
	char hex[33];
	const char *at;

	if (crypto_random(rnd, sizeof(rnd)) == -1)
		fatal("notify: no randomness for a message id");
	crypto_hex_encode(rnd, sizeof(rnd), hex);
	if (strcmp(channel, "email") != 0)
		return xasprintf("msg_%s", hex);
	at = from != NULL ? strrchr(from, '@') : NULL;
	return xasprintf("rekey.%s@%s", hex, at != NULL && at[1] != '\0' ? at + 1 : "rekey.invalid");
}

/*
 * The row's payload for channel: the whole mail for email (with X-Rekey-Kind
 * and X-Rekey-Ref first, for the owners' mail filters), else the channel's JSON.
 */
static char *
payload_for(const struct config *cfg, const struct message *m, const struct notice *n,
    const char *ref, const char *channel, const char *to, const char *msg_id)
{
	char *mail, *out;

	if (strcmp(channel, "email") == 0) {
		if ((mail = message_email(m, cfg->smtp_from, to, msg_id, n->now_ms)) == NULL ||
		    strpbrk(ref, "\r\n") != NULL) {
			free(mail);
			return NULL;
		}
		out = xasprintf("X-Rekey-Kind: %s\r\nX-Rekey-Ref: %s\r\n%s",
		    notice_kind_name(n->kind), ref, mail);
		free(mail);
		return out;
	}
	if (strcmp(channel, "slack") == 0)
		return xstrdup(m->slack_json);
	if (strcmp(channel, "teams") == 0)
		return xstrdup(m->teams_json);
	return xstrdup(m->webhook_json);
}

/* The fields every outbox row of notice n has; the strings are borrowed. */
static void
outbox_row(struct store_outbox *row, const struct notice *n, const char *ref,
    const char *channel, const char *recipient)
{
	memset(row, 0, sizeof(*row));
	row->app = (char *)n->app;
	row->kind = (char *)notice_kind_name(n->kind);
	row->ref = (char *)ref;
	row->channel = (char *)channel;
	row->recipient = (char *)recipient;
	row->created_at = n->now_ms;
	/* The owners hear first: a storm's thousands of user mails never hold up their alert. */
	row->priority = n->kind == NOTICE_USER_REAUTH;
}

/* The log fields of notice n: its app, and the incident and rotation it is about when set. */
static struct log_ids
notice_ids(const struct notice *n)
{
	struct log_ids ids = { .app = n->app, .incident = n->incident_id,
	    .rotation = n->rotation_id };

	return ids;
}

/*
 * Records a message that cannot be written to its recipient (a line break
 * in the address, not an address) as failed, so that it shows in status
 * and is not picked again at every sweep.  0, or -1 on a store error.
 */
static int
add_failed_row(struct store *st, const struct notice *n, const char *ref, const char *channel,
    const char *recipient, const char *why)
{
	const struct log_ids ids = notice_ids(n);
	struct store_outbox row;
	enum store_result r;

	outbox_row(&row, n, ref, channel, recipient);
	row.msg_id = (char *)"";
	row.payload = (char *)"";
	row.state = (char *)"failed";
	row.last_error = (char *)why;
	r = store_add_outbox(st, &row);
	if (r == STORE_STORED)
		log_with(LOG_LEVEL_WARN, &ids, "notify: cannot write %s about %s to %s (%s): "
		    "recorded as failed", row.kind, ref, recipient, why);
	return r == STORE_ERROR ? -1 : 0;
}

/* Adds one row; 1 added, 0 known already (or recorded as failed), -1 on error. */
static int
add_row(struct store *st, const struct config *cfg, const struct notice *n,
    const struct message *m, const char *ref, const char *channel, const char *recipient)
{
	struct store_outbox row;
	enum store_result r;
	char *msg_id = new_msg_id(channel, cfg->smtp_from);
	char *payload = payload_for(cfg, m, n, ref, channel, recipient, msg_id);

	if (payload == NULL) {
		free(msg_id);
		return add_failed_row(st, n, ref, channel, recipient,
		    "the address cannot be used in a mail");
	}
	outbox_row(&row, n, ref, channel, recipient);
	row.msg_id = msg_id;
	row.subject = m->subject;
	row.payload = payload;
	row.payload_len = strlen(payload);
	r = store_add_outbox(st, &row);
	free(msg_id);
	free(payload);
	return r == STORE_ERROR ? -1 : r == STORE_STORED;
}

/* Every row of one rendered notice; the count added, or -1. */
static int
add_rows(struct store *st, const struct config *cfg, const struct notice *n,
    const struct message *m, const char *ref, const char *const *owners, size_t n_owners)
{
	const char *names[4];
	size_t n_ch = config_notify_channels(cfg, names), i, j;
	int added = 0, r;

	for (i = 0; i < n_ch; i++) {
		if (strcmp(names[i], "email") != 0) {
			if ((r = add_row(st, cfg, n, m, ref, names[i], names[i])) == -1)
				return -1;
			added += r;
			continue;
		}
		for (j = 0; j < n_owners; j++) {
			if ((r = add_row(st, cfg, n, m, ref, "email", owners[j])) == -1)
				return -1;
			added += r;
		}
	}
	return added;
}

static int
queue_rendered(struct store *st, const struct config *cfg, const struct notice *n,
    const char *ref, const char *const *owners, size_t n_owners, const char *only_email)
{
	const struct log_ids ids = notice_ids(n);
	struct message m;
	char *err = NULL;
	int added, rendered;

	memset(&m, 0, sizeof(m));
	rendered = message_render(n, &m, &err) == 0;
	if (!rendered && only_email != NULL) {
		/* One user's mail (their address, their link): recorded, not tried at every sweep. */
		added = add_failed_row(st, n, ref, "email", only_email, err ? err : "cannot render");
		free(err);
		return added;
	}
	if (!rendered) {
		log_with(LOG_LEVEL_ERROR, &ids, "notify: cannot render %s about %s: %s",
		    notice_kind_name(n->kind), ref, err ? err : "no reason given");
		free(err);
		return -1;
	}
	if (store_begin(st) == -1) {
		message_clear(&m);
		return -1;
	}
	added = only_email != NULL ? add_row(st, cfg, n, &m, ref, "email", only_email) :
	    add_rows(st, cfg, n, &m, ref, owners, n_owners);
	message_clear(&m);
	if (added == -1 || store_commit(st) == -1) {
		store_rollback(st);
		return -1;
	}
	if (added > 0)
		log_with(LOG_LEVEL_INFO, &ids, "notify: queued %s about %s (%d messages)",
		    notice_kind_name(n->kind), ref, added);
	return added;
}

int
notify_queue(struct store *st, const struct config *cfg, const struct notice *n,
    const char *ref, const char *const *owners, size_t n_owners)
{
	return queue_rendered(st, cfg, n, ref, owners, n_owners, NULL);
}

int
notify_queue_email(struct store *st, const struct config *cfg, const struct notice *n,
    const char *ref, const char *to)
{
	const char *names[4];

	if (config_notify_channels(cfg, names) == 0 || strcmp(names[0], "email") != 0)
		return 0;
	return queue_rendered(st, cfg, n, ref, NULL, 0, to);
}

/* ---- Delivery ---- */

int64_t
notify_backoff_ms(int attempt, int64_t retry_after_ms)
{
	int64_t ms = NOTIFY_BACKOFF_FIRST_MS;
	int i;

	for (i = 1; i < attempt && ms < NOTIFY_BACKOFF_MAX_MS; i++)
		ms *= 2;
	if (ms > NOTIFY_BACKOFF_MAX_MS)
		ms = NOTIFY_BACKOFF_MAX_MS;
	return retry_after_ms > ms ? retry_after_ms : ms;
}

static void schedule(struct notifier *n, int64_t ms);

static void
count_delivery(const struct store_outbox *row, const char *result)
{
	char labels[192];

	snprintf(labels, sizeof(labels), "channel=\"%s\",kind=\"%s\",result=\"%s\"",
	    row->channel, row->kind, result);
	metrics_counter_add("rekey_notifications_total",
	    "Owner notifications by channel, kind and delivery result (sent, retry, failed).",
	    labels, 1);
}

static void
flight_remove(struct notifier *n, struct sending *s)
{
	size_t i;

	for (i = 0; i < n->n_flight; i++) {
		if (n->flight[i] == s) {
			n->flight[i] = n->flight[--n->n_flight];
			return;
		}
	}
}

static size_t
users_in_flight(const struct notifier *n)
{
	size_t i, k = 0;

	for (i = 0; i < n->n_flight; i++)
		k += n->flight[i]->row.priority > 0;
	return k;
}

static int
in_flight(const struct notifier *n, int64_t id)
{
	size_t i;

	for (i = 0; i < n->n_flight; i++)
		if (n->flight[i]->row.id == id)
			return 1;
	return 0;
}

static void
set_text(char **dst, const char *v)
{
	free(*dst);
	*dst = v != NULL ? xstrdup(v) : NULL;
}

/* Records how the attempt ended; the row stays "sending" when the store refuses (sent again later). */
static void
record(struct notifier *n, struct store_outbox *row, const struct http_response *resp)
{
	const char *ra = http_response_header(resp, "retry-after");
	int64_t retry_after = ra != NULL ? http_parse_retry_after(ra, (time_t)(util_now_ms() / 1000)) : -1;
	const char *result;

	if (resp->outcome == HTTP_OUTCOME_OK) {
		set_text(&row->state, "sent");
		set_text(&row->last_error, NULL);
		row->sent_at = util_now_ms();
		result = "sent";
	} else if (resp->outcome == HTTP_OUTCOME_RETRYABLE && row->attempts < NOTIFY_MAX_ATTEMPTS) {
		set_text(&row->state, "pending");
		set_text(&row->last_error, resp->error != NULL ? resp->error : "no answer");
		row->next_at = util_now_ms() + notify_backoff_ms(row->attempts, retry_after);
		result = "retry";
	} else {
		set_text(&row->state, "failed");
		set_text(&row->last_error, resp->error != NULL ? resp->error : "refused");
		result = "failed";
	}
	count_delivery(row, result);
	log_ctx(resp->outcome == HTTP_OUTCOME_OK ? LOG_LEVEL_INFO : LOG_LEVEL_WARN, resp->req_id,
	    row->app, "notify: %s %s to %s (%s about %s, attempt %d)%s%s", row->kind, result,
	    row->recipient, row->channel, row->ref, row->attempts,
	    row->last_error != NULL ? ": " : "", row->last_error != NULL ? row->last_error : "");
	if (n->st == NULL || store_update_outbox(n->st, row) == -1)
		log_ctx(LOG_LEVEL_WARN, NULL, row->app, "notify: cannot record the delivery of "
		    "message %lld; it will be sent again", (long long)row->id);
}

static void
sent_cb(const struct http_response *resp, void *arg)
{
	struct sending *s = arg;
	struct notifier *n = s->n;

	if (n != NULL && resp->outcome != HTTP_OUTCOME_CANCELLED) {
		record(n, &s->row, resp);
		flight_remove(n, s);
		if (!n->stopping)
			schedule(n, 0);
	} else if (n != NULL) {
		flight_remove(n, s);
	}
	store_outbox_clear(&s->row);
	free(s);
}

static int
send_mail(struct notifier *n, struct sending *s, const struct config *cfg)
{
	struct http_mail m;
	const char *rcpt[1] = { s->row.recipient };

	memset(&m, 0, sizeof(m));
	m.url = cfg->smtp_url;
	m.from = cfg->smtp_from;
	m.rcpt = rcpt;
	m.n_rcpt = 1;
	m.user = cfg->smtp_user;
	m.password = cfg->smtp_password;
	m.message = s->row.payload;
	m.message_len = s->row.payload_len;
	m.service = "smtp";
	m.app = s->row.app;
	m.timeout_ms = NOTIFY_TIMEOUT_MS;
	m.max_attempts = 2;
	return mailer_send(n->mailer, &m, sent_cb, s);
}

/* Slack, Teams and the signed webhook: one POST of the stored JSON. */
static int
send_post(struct notifier *n, struct sending *s, const struct config *cfg)
{
	struct http_request req;
	char id_h[160], ts_h[64], *sig_h = NULL, *sig;
	int64_t ts = util_now_ms() / 1000;
	int rc;

	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.content_type = "application/json";
	req.body = s->row.payload;
	req.body_len = s->row.payload_len;
	req.service = s->row.channel;
	req.app = s->row.app;
	req.timeout_ms = NOTIFY_TIMEOUT_MS;
	req.max_attempts = 2;
	req.max_response = 64 * 1024;
	req.url_is_secret = 1;
	if (strcmp(s->row.channel, "slack") == 0) {
		req.url = cfg->slack_webhook_url;
	} else if (strcmp(s->row.channel, "teams") == 0) {
		req.url = cfg->teams_webhook_url;
	} else {
		req.url = cfg->webhook_url;
		sig = crypto_standard_webhook_signature(cfg->webhook_secret, s->row.msg_id, ts,
		    s->row.payload, s->row.payload_len);
		if (sig == NULL)
			return -1;
		snprintf(id_h, sizeof(id_h), "webhook-id: %s", s->row.msg_id);
		snprintf(ts_h, sizeof(ts_h), "webhook-timestamp: %lld", (long long)ts);
		sig_h = xasprintf("webhook-signature: %s", sig);
		free(sig);
		req.headers[0] = id_h;
		req.headers[1] = ts_h;
		req.headers[2] = sig_h;
	}
	rc = req.url != NULL ? http_client_send(n->hc, &req, sent_cb, s) : -1;
	free(sig_h);
	return rc;
}

/* Nothing was sent: the row waits for its next try (or fails when tries are spent). */
static void
retry_later(struct notifier *n, struct store_outbox *row, const char *why)
{
	struct http_response resp;

	memset(&resp, 0, sizeof(resp));
	resp.outcome = HTTP_OUTCOME_RETRYABLE;
	resp.error = why;
	record(n, row, &resp);
}

/* The channel is no longer configured (reload): the row fails with a reason. */
static void
fail_unsendable(struct notifier *n, struct store_outbox *row, const char *why)
{
	struct http_response resp;

	memset(&resp, 0, sizeof(resp));
	resp.outcome = HTTP_OUTCOME_PERMANENT;
	resp.error = why;
	row->attempts = NOTIFY_MAX_ATTEMPTS;
	record(n, row, &resp);
}

static int
channel_ready(const struct config *cfg, const char *channel)
{
	const char *names[4];
	size_t i, k = config_notify_channels(cfg, names);

	for (i = 0; i < k; i++)
		if (strcmp(names[i], channel) == 0)
			return 1;
	return 0;
}

/* Marks the row "sending" (committed), then starts the call. */
static void
start(struct notifier *n, struct store_outbox *row)
{
	const struct config *cfg = n->rt->cfg;
	struct sending *s;
	int rc;

	if (!channel_ready(cfg, row->channel)) {
		fail_unsendable(n, row, "the channel is no longer configured");
		return;
	}
	/* A replica that lost the lead sends nothing (its client's gate refuses it too). */
	if (!leader_active())
		return;
	if (strcmp(row->state, "sending") == 0)
		log_ctx(LOG_LEVEL_WARN, NULL, row->app, "notify: message %lld (%s to %s) was being "
		    "sent when rekey stopped; sending it again (it may arrive twice, same id %s)",
		    (long long)row->id, row->kind, row->recipient, row->msg_id);
	row->attempts++;
	set_text(&row->state, "sending");
	/*
	 * A lease: should the answer fail to be recorded, the row is not due
	 * again while this process lives (no second send a moment later).
	 */
	row->next_at = util_now_ms() + NOTIFY_LEASE_MS;
	if (store_update_outbox(n->st, row) == -1) {
		row->attempts--;
		return;		/* the store is busy: next round */
	}
	s = xcalloc(1, sizeof(*s));
	s->n = n;
	s->row = *row;
	memset(row, 0, sizeof(*row));
	s->started_us = util_mono_us();
	n->flight[n->n_flight++] = s;
	rc = strcmp(s->row.channel, "email") == 0 ? send_mail(n, s, cfg) : send_post(n, s, cfg);
	if (rc == -1) {
		/* Refused before any byte went out (malformed, or too much in flight): later. */
		flight_remove(n, s);
		retry_later(n, &s->row, "the call could not be started");
		store_outbox_clear(&s->row);
		free(s);
	}
}

static void
gauges(struct notifier *n)
{
	const struct config *cfg = n->rt->cfg;
	struct store_outbox_stats stats;
	char labels[160];
	size_t i;

	if (util_mono_us() < n->gauges_due_us)
		return;
	n->gauges_due_us = util_mono_us() + (int64_t)NOTIFY_GAUGES_MS * 1000;

	for (i = 0; i < cfg->n_apps; i++) {
		if (store_outbox_stats(n->st, cfg->apps[i]->name, &stats) == -1)
			continue;
		snprintf(labels, sizeof(labels), "app=\"%s\",state=\"pending\"", cfg->apps[i]->name);
		metrics_gauge_set("rekey_outbox_messages", "Owner notifications in the outbox, "
		    "by app and state.", labels, (double)stats.pending);
		snprintf(labels, sizeof(labels), "app=\"%s\",state=\"failed\"", cfg->apps[i]->name);
		metrics_gauge_set("rekey_outbox_messages", "Owner notifications in the outbox, "
		    "by app and state.", labels, (double)stats.failed);
		free(stats.last_error);
	}
}

static int
same_text(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* After a reload that changed [outbound] ca_file: a new mail thread, once no mail is out. */
static void
follow_ca_file(struct notifier *n)
{
	size_t i;

	if (same_text(n->mailer_ca, n->rt->cfg->ca_file))
		return;
	for (i = 0; i < n->n_flight; i++)
		if (strcmp(n->flight[i]->row.channel, "email") == 0)
			return;
	mailer_free(n->mailer);
	free(n->mailer_ca);
	n->mailer_ca = n->rt->cfg->ca_file != NULL ? xstrdup(n->rt->cfg->ca_file) : NULL;
	n->mailer = mailer_new(n->rt->base, n->mailer_ca, NOTIFY_TIMEOUT_MS, leader_gate,
	    NULL);
}

static int
open_store(struct notifier *n)
{
	char *err = NULL;

	if (n->st != NULL)
		return 0;
	n->st = store_open(n->rt->cfg->store_url, &err);
	if (n->st == NULL) {
		log_warn("notify: cannot open the store: %s; retrying", err);
		free(err);
		return -1;
	}
	/* The leader's epoch: once another replica leads, the store refuses these writes. */
	if (store_set_epoch(n->st, n->rt->epoch) == -1) {
		log_warn("notify: the store did not take the leader's epoch; retrying");
		store_close(n->st);
		n->st = NULL;
		return -1;
	}
	store_lock_wait(n->st, NOTIFY_LOCK_WAIT_MS);
	/*
	 * No fsync per commit on the loop: a commit still survives the
	 * process dying (kill -9), which is the case the outbox promises
	 * about.  A power cut can lose the last marks: then a message is sent
	 * once more, and what was lost to queue is derived again by alerts.
	 */
	store_relax_durability(n->st);
	/* What a dead process was sending goes out again now: the one possible duplicate. */
	if (store_reclaim_outbox(n->st) == -1)
		log_warn("notify: cannot reclaim the messages left sending; they go out after "
		    "their lease");
	return 0;
}

static void
round_cb(evutil_socket_t fd, short what, void *arg)
{
	struct notifier *n = arg;
	struct store_outbox *due = NULL;
	size_t n_due = 0, i, room;

	(void)fd;
	(void)what;
	if (n->stopping)
		return;
	schedule(n, NOTIFY_IDLE_MS);
	follow_ca_file(n);
	if (open_store(n) == -1)
		return;
	room = NOTIFY_IN_FLIGHT_MAX - n->n_flight;
	if (room > 0 && store_due_outbox(n->st, util_now_ms(), NOTIFY_IN_FLIGHT_MAX * 2, &due,
	    &n_due) == 0) {
		for (i = 0; i < n_due && n->n_flight < NOTIFY_IN_FLIGHT_MAX; i++) {
			if (in_flight(n, due[i].id) || (due[i].priority > 0 &&
			    users_in_flight(n) >= NOTIFY_USERS_IN_FLIGHT))
				continue;
			start(n, &due[i]);
		}
	}
	store_outboxes_free(due, n_due);
	gauges(n);
}

static void
schedule(struct notifier *n, int64_t ms)
{
	struct timeval tv = { .tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000 };

	event_add(n->timer, &tv);
}

struct notifier *
notifier_new(struct runtime *rt, struct http_client *hc)
{
	struct notifier *n = xcalloc(1, sizeof(*n));
	const char *names[4];

	n->rt = rt;
	n->hc = hc;
	n->mailer_ca = rt->cfg->ca_file != NULL ? xstrdup(rt->cfg->ca_file) : NULL;
	n->mailer = mailer_new(rt->base, n->mailer_ca, NOTIFY_TIMEOUT_MS, leader_gate, NULL);
	n->timer = evtimer_new(rt->base, round_cb, n);
	if (n->timer == NULL)
		fatal("notify: cannot create a timer");
	if (config_notify_channels(rt->cfg, names) == 0)
		log_warn("notify: no channel is configured in [notify]: the owners will not hear "
		    "of expiries, incidents or rotations (set smtp_url, slack_webhook_url, "
		    "teams_webhook_url or webhook_url)");
	schedule(n, 0);
	return n;
}

void
notifier_free(struct notifier *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->n_flight; i++)
		n->flight[i]->n = NULL;	/* their callbacks (CANCELLED) free them */
	n->n_flight = 0;
	mailer_free(n->mailer);		/* mails not finished: CANCELLED now */
	free(n->mailer_ca);
	event_free(n->timer);
	store_close(n->st);
	free(n);
}

void
notifier_kick(struct notifier *n)
{
	if (n != NULL && !n->stopping)
		schedule(n, 0);
}

void
notifier_stop(struct notifier *n)
{
	if (n != NULL) {
		n->stopping = 1;
		event_del(n->timer);
	}
}

size_t
notifier_in_flight(const struct notifier *n)
{
	return n != NULL ? n->n_flight : 0;
}
