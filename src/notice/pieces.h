/*
 * pieces: the parts of the text that several kinds of notice share: the
 * incident (its cause, counts and evidence), the users still to sign in,
 * why a rotation runs, and the facts about the rotation, the app and where
 * to see details.  Each appends to a document whose notice is cleaned and
 * checked (notice/messages.c).
 */
#ifndef REKEY_NOTICE_PIECES_H
#define REKEY_NOTICE_PIECES_H

#include <stdint.h>

struct doc;
struct notice;

/* "Details": status_hint, else the rekey status command. */
void pieces_fact_details(struct doc *d);
/* The Azure app's client id (when known) and the rekey app. */
void pieces_fact_app(struct doc *d);
/* The affected users of an incident who have not signed in again; never negative. */
int64_t pieces_remaining(const struct notice *n);
/* The incident as facts, its cause explained and its evidence. */
void pieces_incident_block(struct doc *d);
/*
 * What is left for the affected users of an incident (fixed: the new secret
 * is in place), and where to see them.
 */
void pieces_users_left(struct doc *d, int fixed);
/* Why a rotation happens: its incident, or the secret's end, or an operator. */
void pieces_rotation_why(struct doc *d);
/* "Rotation": the rotation's id (which must be set), why and in which mode. */
void pieces_fact_rotation(struct doc *d);
/* "Lifetime", when the tenant granted a shorter one than asked for. */
void pieces_fact_lifetime(struct doc *d);

#endif
