/*
 * loops: the intake event loops.  Each is a thread with its own event base,
 * its own listening socket on the same address (SO_REUSEPORT: the kernel
 * spreads connections over them), its own TLS context and its own handle on
 * the one journal writer, so a request is read, verified, journaled and
 * answered on one loop, and the loops share no lock on the way but the
 * journal's and the metrics'.  The engines stay on the main loop; routes
 * marked on_main are handed there (intake/handoff.h).
 *
 * Everything here is called on the main loop's thread.  A change for the
 * loops (a new config, stop accepting, quit) is posted to each loop, which
 * takes it up between two of its callbacks.
 */
#ifndef REKEY_INTAKE_LOOPS_H
#define REKEY_INTAKE_LOOPS_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct event_base;
struct intake_loops;
struct listener_route;
struct runtime;

/* An event loop for the main loop or an intake loop; fatal when it cannot be made. */
struct event_base *loops_base_new(void);

/*
 * n loops (0: one per CPU) serving routes (which must outlive them) for
 * main_rt (its base, cfg, journal, inbox and nylas_secrets set), bound and
 * running.  NULL and *err (caller frees) when an address cannot be bound or
 * the certificate does not load.
 */
struct intake_loops *loops_new(struct runtime *main_rt, const struct listener_route *routes,
    size_t n_routes, size_t n, char **err);
/* After loops_quit has finished (or without it: the loops are stopped first). */
void loops_free(struct intake_loops *ls);

size_t loops_count(const struct intake_loops *ls);
/* The bound port (useful with port 0). */
int loops_port(const struct intake_loops *ls);

/*
 * Every loop takes cfg (its TLS certificate and limits) at its next turn;
 * old, the config they had, is freed once all have.  0; or -1 and *err
 * (caller frees) when the certificate does not load, with nothing changed
 * (cfg stays the caller's).
 */
int loops_reload(struct intake_loops *ls, struct config *cfg, struct config *old, char **err);

/* Every loop stops accepting (connections already open are still served). */
void loops_stop_accepting(struct intake_loops *ls);
/* Requests read but not yet answered, over every loop. */
size_t loops_active_requests(const struct intake_loops *ls);

/*
 * Each loop answers what it has in flight (until deadline_us, monotonic),
 * then stops; when all have, done(arg) runs on the main loop.
 */
void loops_quit(struct intake_loops *ls, int64_t deadline_us, void (*done)(void *), void *arg);

/* The loops' connections and per-loop request counts, into the metrics. */
void loops_publish_metrics(const struct intake_loops *ls);

#endif
