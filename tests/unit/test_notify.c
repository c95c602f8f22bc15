/*
 * Unit tests: the notifier's queueing (one row per recipient and channel,
 * never twice, rendered once with the headers mail filters use), the
 * channels a config enables, and the retry backoff.
 */
#include "engine/notifier.h"
#include "notice/notice.h"
#include "state/config.h"
#include "state/store.h"
#include "tap.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W(s) ((char *)(s))

static void
test_backoff(void)
{
	int64_t prev = 0, ms;
	int i, grows = 1;

	for (i = 1; i <= NOTIFY_MAX_ATTEMPTS; i++) {
		ms = notify_backoff_ms(i, -1);
		grows &= ms >= prev && ms <= 4 * 3600 * 1000;
		prev = ms;
	}
	TAP_OK(notify_backoff_ms(1, -1) == 5000, "backoff: 5 s first");
	TAP_OK(notify_backoff_ms(2, -1) == 10000, "backoff: doubles");
	TAP_OK(grows && prev == 4 * 3600 * 1000, "backoff: grows to the 4 h cap and stays there");
	TAP_OK(notify_backoff_ms(1, 60000) == 60000, "backoff: a longer Retry-After wins");
	TAP_OK(notify_backoff_ms(3, 1000) == 20000, "backoff: a shorter Retry-After does not");
}

static void
test_channels(void)
{
	struct config cfg;
	const char *names[4];

	memset(&cfg, 0, sizeof(cfg));
	TAP_OK(config_notify_channels(&cfg, names) == 0, "channels: none configured");
	cfg.smtp_url = W("smtp://127.0.0.1:25");
	TAP_OK(config_notify_channels(&cfg, names) == 0, "channels: email needs smtp_from too");
	cfg.smtp_from = W("rekey@example.com");
	cfg.teams_webhook_url = W("https://t.example.com/x");
	cfg.webhook_url = W("https://w.example.com/x");
	TAP_OK(config_notify_channels(&cfg, names) == 2 && strcmp(names[0], "email") == 0 &&
	    strcmp(names[1], "teams") == 0, "channels: the webhook needs its secret");
}

static struct notice
incident_notice(void)
{
	static const char *const ev[] = { "AADSTS7000222 for the in-use secret (hint abc)" };
	struct notice n;

	memset(&n, 0, sizeof(n));
	n.kind = NOTICE_INCIDENT_OPENED;
	n.app = "prod";
	n.now_ms = 1790000000000;
	n.incident_id = "inc-1";
	n.cause = "secret_expired";
	n.evidence = ev;
	n.n_evidence = 1;
	n.affected = 10000;
	return n;
}

static void
test_queue(struct store *st)
{
	struct config cfg;
	struct notice n = incident_notice();
	const char *owners[] = { "a@example.com", "b@example.com" };
	struct store_outbox *due = NULL;
	struct store_outbox_stats stats;
	size_t k = 0, i, mails = 0;
	int headers = 1, ids_differ = 1;

	memset(&cfg, 0, sizeof(cfg));
	cfg.smtp_url = W("smtp://127.0.0.1:25");
	cfg.smtp_from = W("rekey@example.com");
	cfg.slack_webhook_url = W("https://s.example.com/x");
	TAP_OK(notify_queue(st, &cfg, &n, "inc-1", owners, 2) == 3,
	    "queue: one email per owner and one Slack post");
	TAP_OK(notify_queue(st, &cfg, &n, "inc-1", owners, 2) == 0,
	    "queue: the same notice again adds nothing");
	n.affected = 12000;	/* a later sweep sees more grants: still the same alert */
	TAP_OK(notify_queue(st, &cfg, &n, "inc-1", owners, 2) == 0,
	    "queue: a storm growing does not make a second alert");
	cfg.teams_webhook_url = W("https://t.example.com/x");
	TAP_OK(notify_queue(st, &cfg, &n, "inc-1", owners, 2) == 1,
	    "queue: a channel added later gets the notice once");
	TAP_OK(store_due_outbox(st, n.now_ms, 10, &due, &k) == 0 && k == 4, "queue: 4 rows due");
	for (i = 0; i < k; i++) {
		if (strcmp(due[i].channel, "email") != 0)
			continue;
		mails++;
		headers &= strncmp(due[i].payload, "X-Rekey-Kind: incident_opened\r\nX-Rekey-Ref: inc-1\r\n",
		    50) == 0 && strstr(due[i].payload, "\r\nTo: ") != NULL &&
		    strstr(due[i].payload, due[i].msg_id) != NULL;
		if (i > 0 && strcmp(due[i].msg_id, due[i - 1].msg_id) == 0)
			ids_differ = 0;
	}
	TAP_OK(mails == 2 && headers, "queue: each mail is whole, with X-Rekey-Kind/Ref and its "
	    "Message-ID");
	TAP_OK(ids_differ, "queue: every message has an id of its own");
	store_outboxes_free(due, k);

	n.kind = NOTICE_USER_REAUTH;
	n.email = "user1@example.com";
	n.reauth_url = "https://app.example.com/login?hint=user1%40example.com";
	TAP_OK(notify_queue_email(st, &cfg, &n, "inc-1", "user1@example.com") == 1 &&
	    notify_queue_email(st, &cfg, &n, "inc-1", "user1@example.com") == 0,
	    "queue: a user's re-auth email once");
	n.email = "user4@example.com\r\nBcc: all@example.com";
	TAP_OK(notify_queue_email(st, &cfg, &n, "inc-1", n.email) == 0 &&
	    notify_queue_email(st, &cfg, &n, "inc-1", n.email) == 0,
	    "queue: an address that cannot be used queues no mail");
	TAP_OK(store_outbox_stats(st, "prod", &stats) == 0 && stats.failed == 1 &&
	    stats.last_error != NULL && strstr(stats.last_error, "address") != NULL,
	    "queue: it is recorded once as failed, with why");
	free(stats.last_error);
	TAP_OK(store_due_outbox(st, n.now_ms + 86400000, 10, &due, &k) == 0 && k == 5,
	    "queue: and is never due (the 4 owners' rows and user1's are)");
	store_outboxes_free(due, k);
	n.email = "user2@example.com";
	n.reauth_url = "ftp://nope";
	TAP_OK(notify_queue_email(st, &cfg, &n, "inc-1", "user2@example.com") == 0 &&
	    store_outbox_stats(st, "prod", &stats) == 0 && stats.failed == 2,
	    "queue: a user's mail that does not render is recorded as failed, not queued");
	free(stats.last_error);
	cfg.smtp_url = NULL;
	n.reauth_url = "https://app.example.com/login";
	TAP_OK(notify_queue_email(st, &cfg, &n, "inc-1", "user3@example.com") == 0,
	    "queue: no email channel, no user email");
}

int
main(void)
{
	char dir[64], url[128], *err = NULL;
	struct store *st;

	test_backoff();
	test_channels();
	snprintf(dir, sizeof(dir), "/tmp/rekey-notify-test.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	snprintf(url, sizeof(url), "sqlite:%s/t.db", dir);
	st = store_open(url, &err);
	TAP_OK(st != NULL, "store opens");
	if (st == NULL)
		return tap_done();
	test_queue(st);
	store_close(st);
	snprintf(url, sizeof(url), "rm -rf %s", dir);
	if (system(url) != 0)
		return 1;
	return tap_done();
}
