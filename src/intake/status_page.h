/*
 * status_page: GET /status, /status.css, /status.js and /status.svg, the
 * page for people (DESIGN.md).  It has no data of its own: the script asks
 * for the admin token, keeps it in sessionStorage, and reads
 * /api/v1/status with it.
 * Answered with a Content-Security-Policy that lets the page load its
 * script and style from this origin and nothing else.
 */
#ifndef REKEY_INTAKE_STATUS_PAGE_H
#define REKEY_INTAKE_STATUS_PAGE_H

struct http_req;

/*
 * The listener's handler for the prefix "/status"; rest is the path after
 * it: "" (the page), ".css", ".js" or ".svg" (its icon), else 404.
 */
void status_page_handle(struct http_req *hr, const char *rest);

#endif
