/*
 * doctor: `rekey doctor`, a live preflight of a config against the real
 * services.  One line per check (ok, warn, FAIL), what was seen and the
 * exact fix.  Read-only: it signs in, reads Graph and Nylas, probes the
 * in-use secret at the token endpoint and opens an SMTP session without
 * sending; Slack, Teams and the webhook get a message only with send_test.
 * Runs on a private event loop with the config's ca_file and timeout_ms,
 * whether or not the daemon runs (the store is only read).
 */
#ifndef REKEY_ENGINE_DOCTOR_H
#define REKEY_ENGINE_DOCTOR_H

#include <stdio.h>

struct config;

enum doctor_level {
	DOCTOR_OK,
	DOCTOR_WARN,
	DOCTOR_FAIL,
};

/*
 * Checks every app of cfg (only app_name's when it is not NULL; an unknown
 * name is one FAIL line), then the notification channels, and prints the
 * lines on out as text, or as one JSON object when json.  Returns the exit
 * status: 0 all ok, 1 a warning, 2 a failure.
 */
int doctor_run(const struct config *cfg, const char *app_name, int json, int send_test,
    FILE *out);

/* "ok", "warn", "fail". */
const char *doctor_level_name(enum doctor_level level);

#endif
