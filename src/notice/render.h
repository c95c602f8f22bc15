/*
 * render: a notice's document in each channel's form: plain text for email,
 * a Slack incoming webhook body, a Teams message with an Adaptive Card, and
 * a Standard Webhooks JSON payload.  Each returns a new string the caller
 * frees.
 */
#ifndef REKEY_NOTICE_RENDER_H
#define REKEY_NOTICE_RENDER_H

struct doc;
struct notice;

/* Plain text, "\n" lines: headings underlined, facts aligned, commands indented. */
char *render_text(const struct doc *d);
/* {"text": subject, "blocks": [sections of mrkdwn..., a context with event_type and the time]}. */
char *render_slack(const struct doc *d, const char *event_type);
/* {"type":"message","attachments":[an Adaptive Card 1.4: TextBlocks, FactSets, link actions]}. */
char *render_teams(const struct doc *d);
/*
 * {"type": event_type, "timestamp", "data": {kind, summary, every field that
 * is set, ...}}: n is raw cleaned and says which fields are set; the values
 * come from raw, line breaks kept.
 */
char *render_webhook(const struct notice *raw, const struct notice *n, const struct doc *d,
    const char *event_type);

#endif
