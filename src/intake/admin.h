/*
 * admin: the operator API under /api/v1/: GET status, POST
 * apps/{app}/rotate and POST rotations/{id}/approve.  Every request needs
 * "Authorization: Bearer <token>" matching admin_token_file (compared in
 * constant time); without admin_token_file the API answers 401 to everyone.
 * Answers are JSON.  Runs on the event loop with short store transactions.
 */
#ifndef REKEY_INTAKE_ADMIN_H
#define REKEY_INTAKE_ADMIN_H

struct http_req;

/* The listener's handler for the prefix "/api/v1/"; rest is the path after it. */
void admin_handle(struct http_req *hr, const char *rest);

#endif
