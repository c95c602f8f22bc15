/*
 * email: a rendered message (notice/messages.h) as a complete RFC 5322
 * email: quoted-printable body, RFC 2047 subject when it is not ASCII.
 * Pure, no I/O; notifier.c hands the result to the mailer.
 */
#ifndef REKEY_NOTICE_EMAIL_H
#define REKEY_NOTICE_EMAIL_H

#include <stdint.h>

struct message;

/*
 * A complete RFC 5322 message, CRLF line endings: From, To, Subject (RFC 2047
 * encoded-words when not ASCII), Date (from date_ms), Message-ID
 * <message_id> (brackets added unless given), MIME-Version 1.0, Content-Type
 * text/plain; charset=utf-8, Content-Transfer-Encoding quoted-printable
 * (lines <= 76), Auto-Submitted: auto-generated, X-Auto-Response-Suppress:
 * All; the body quoted-printable encoded.  NULL when a header value holds CR,
 * LF or another control character, or is empty or too long.  Caller frees.
 */
char *message_email(const struct message *m, const char *from, const char *to,
    const char *message_id, int64_t date_ms);

#endif
