/*
 * invalid_grants: the re-authentication tracking of a secret incident.  Its
 * affected grants include Nylas's invalid Microsoft grants (GET /v3/grants,
 * every page) that went invalid since a day before the incident opened and
 * belong to the app's connector: each joins the incident, so that its user is
 * counted and, with reauth_url_template, mailed their link.  Part of the
 * alerts' sweep (alerts_int.h).
 */
#ifndef REKEY_ENGINE_INVALID_GRANTS_H
#define REKEY_ENGINE_INVALID_GRANTS_H

struct app_alerts;
struct store_incident;

#define INVALID_GRANTS_LIST_S	600	/* Nylas's invalid grants, while a secret incident is open */

/*
 * Lists Nylas's invalid grants for open incident inc, unless a listing is in
 * flight or the last one was less than INVALID_GRANTS_LIST_S ago (60 s after
 * a failure).  Nothing without the app's Nylas API key.
 */
void invalid_grants_list(struct app_alerts *a, const struct store_incident *inc);

#endif
