/*
 * doctor_notify: the checks of the notification channels: an SMTP session
 * up to AUTH with nothing sent, and with --send-test a test message to
 * Slack, Teams and the signed webhook (otherwise only "configured").
 */
#include "engine/doctor_int.h"
#include "lib/crypto.h"
#include "lib/util.h"
#include "outbound/http_client.h"
#include "state/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- notification channels ---------------------------------------------------------------- */

static void
smtp_cb(const struct http_response *resp, void *arg)
{
	struct doctor *d = arg;
	char *shown;

	/* Freed clients tell their pending calls: the doctor is being torn down. */
	if (resp->outcome == HTTP_OUTCOME_CANCELLED)
		return;
	shown = util_url_shown(d->cfg->smtp_url, 1);
	if (resp->outcome == HTTP_OUTCOME_OK)
		doctor_add_line(d, DOCTOR_OK, "notify_smtp", NULL, "%s: connected, STARTTLS%s; nothing "
		    "sent", shown, d->cfg->smtp_user != NULL ? ", AUTH accepted" : "");
	else
		doctor_add_line(d, DOCTOR_FAIL, "notify_smtp", resp->status == 535 || resp->status == 534 ?
		    "check smtp_user and smtp_password_file (and that the account may send over "
		    "SMTP AUTH)" : "check smtp_url, that the server offers STARTTLS and that "
		    "ca_file trusts it", "%s: %s", shown, str_or(resp->error, "failed"));
	free(shown);
	doctor_advance(d);
}

int
doctor_step_smtp(struct doctor *d)
{
	struct http_mail m;
	char *shown;

	if (d->cfg->smtp_url == NULL)
		return 1;
	memset(&m, 0, sizeof(m));
	m.url = d->cfg->smtp_url;
	m.user = d->cfg->smtp_user;
	m.password = d->cfg->smtp_password;
	m.service = "smtp";
	m.max_attempts = 1;
	m.connect_only = 1;
	if (http_client_send_mail(d->hc, &m, smtp_cb, d) == 0)
		return 0;
	shown = util_url_shown(d->cfg->smtp_url, 1);
	doctor_add_line(d, DOCTOR_FAIL, "notify_smtp", "check smtp_url, smtp_user and "
	    "smtp_password_file", "%s: refused before connecting (see the log line)", shown);
	free(shown);
	return 1;
}

static const char *
channel_check(enum doctor_step step)
{
	if (step == STEP_SLACK)
		return "notify_slack";
	return step == STEP_TEAMS ? "notify_teams" : "notify_webhook";
}

static void
post_cb(const struct http_response *resp, void *arg)
{
	struct doctor *d = arg;
	const char *check = channel_check(d->step);

	/* Freed clients tell their pending calls: the doctor is being torn down. */
	if (resp->outcome == HTTP_OUTCOME_CANCELLED)
		return;
	if (resp->outcome == HTTP_OUTCOME_OK)
		doctor_add_line(d, DOCTOR_OK, check, NULL, "test message accepted (HTTP %ld)",
		    resp->status);
	else if (resp->outcome != HTTP_OUTCOME_CANCELLED)
		doctor_add_line(d, DOCTOR_FAIL, check, d->step == STEP_WEBHOOK ? "check webhook_url and "
		    "that webhook_secret_file holds the receiver's secret" : "check the URL in "
		    "[notify] (a revoked incoming webhook answers 403, 404 or 410)",
		    "test message refused: %s", str_or(resp->error, "failed"));
	doctor_advance(d);
}

/* The test message of a channel (Slack and Teams incoming webhooks; Standard Webhooks JSON). */
static char *
test_body(const struct doctor *d, enum doctor_step step)
{
	char when[32];

	util_format_time(d->now, when, sizeof(when));
	if (step == STEP_SLACK)
		return xstrdup("{\"text\":\"rekey doctor: test message; nothing is wrong.\"}");
	if (step == STEP_TEAMS)
		return xstrdup("{\"type\":\"message\",\"attachments\":[{\"contentType\":"
		    "\"application/vnd.microsoft.card.adaptive\",\"content\":{\"type\":"
		    "\"AdaptiveCard\",\"version\":\"1.4\",\"body\":[{\"type\":\"TextBlock\","
		    "\"text\":\"rekey doctor: test message; nothing is wrong.\"}]}}]}");
	return xasprintf("{\"type\":\"rekey.test\",\"timestamp\":\"%s\",\"data\":{\"message\":"
	    "\"rekey doctor: test message; nothing is wrong.\"}}", when);
}

/* The signed webhook's headers (Standard Webhooks); -1 without a usable secret. */
static int
sign_test(const struct doctor *d, struct http_request *req, char *id_h, char *ts_h, size_t hsz,
    char **sig_h)
{
	char *sig, guid[CRYPTO_GUID_LEN + 1], id[CRYPTO_GUID_LEN + 8];

	if (crypto_guid(guid) == -1)
		return -1;
	/* The id signed is the header's exactly (Standard Webhooks: "{id}.{timestamp}.{body}"). */
	snprintf(id, sizeof(id), "msg_%s", guid);
	sig = crypto_standard_webhook_signature(d->cfg->webhook_secret, id, d->now, req->body,
	    req->body_len);
	if (sig == NULL)
		return -1;
	snprintf(id_h, hsz, "webhook-id: %s", id);
	snprintf(ts_h, hsz, "webhook-timestamp: %lld", (long long)d->now);
	*sig_h = xasprintf("webhook-signature: %s", sig);
	free(sig);
	req->headers[0] = id_h;
	req->headers[1] = ts_h;
	req->headers[2] = *sig_h;
	return 0;
}

static int
post_test(struct doctor *d, const char *url)
{
	struct http_request req;
	char *body = test_body(d, d->step), *sig_h = NULL, id_h[96], ts_h[96];
	int rc = -1;

	memset(&req, 0, sizeof(req));
	req.method = "POST";
	req.url = url;
	req.content_type = "application/json";
	req.body = body;
	req.body_len = strlen(body);
	req.service = d->step == STEP_SLACK ? "slack" : d->step == STEP_TEAMS ? "teams" : "webhook";
	req.max_attempts = 1;
	req.max_response = 64 * 1024;
	req.url_is_secret = 1;
	if (d->step != STEP_WEBHOOK || sign_test(d, &req, id_h, ts_h, sizeof(id_h), &sig_h) == 0)
		rc = http_client_send(d->hc, &req, post_cb, d);
	free(body);
	free(sig_h);
	return rc;
}

int
doctor_step_channel(struct doctor *d)
{
	const char *url = d->step == STEP_SLACK ? d->cfg->slack_webhook_url :
	    d->step == STEP_TEAMS ? d->cfg->teams_webhook_url : d->cfg->webhook_url;

	if (url == NULL)
		return 1;
	if (!d->send_test) {
		doctor_add_line(d, DOCTOR_OK, channel_check(d->step), NULL, "configured; not tested (use "
		    "--send-test)");
		return 1;
	}
	if (post_test(d, url) == 0)
		return 0;
	doctor_add_line(d, DOCTOR_FAIL, channel_check(d->step), "check the channel's settings in "
	    "[notify]", "the test message could not be sent");
	return 1;
}

