/*
 * store_floor: what rekey's own store costs per webhook of a storm, alone: no
 * TLS, no HTTP, no signature, no JSON parse, no correlation.  One thread
 * writes what the journal's writer writes for a storm's grant.expired
 * (state/storm.h): the event (distinct ids, grants and emails in no order, as
 * real ones are; the ~1 KB body), stored settled, with store_add_event, and
 * its grant listed in the open incident with store_add_incident_grants; BATCH
 * events to a transaction committed with the store's full durability
 * (fsync).  A second connection checkpoints every CHECKPOINT_EVENTS events as
 * the journal's checkpointer does.
 *
 *   build/bench/store_floor PATH EVENTS BATCH [keep]
 *
 * Prints "events=N batch=B cpu_us=X wall_us=Y": the process's CPU time and
 * the wall time per event.  intake.sh sets it beside the CPU budget of the
 * ratio target.  PATH is removed first, with its -wal and -shm files, and
 * again at the end unless "keep" is given (tests count what it stored).
 */
#include "lib/util.h"
#include "state/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

/* As journal.c's checkpointer: a pass after this many committed events. */
#define CHECKPOINT_EVENTS 2000
/* The body the load generator sends is about this long. */
#define BODY_SIZE 1024

static void
die(const char *what, const char *detail)
{
	fprintf(stderr, "store_floor: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	exit(1);
}

static double
cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void
remove_store(const char *path)
{
	const char *suffix[] = { "", "-wal", "-shm" };
	char name[4096];
	size_t i;

	for (i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
		snprintf(name, sizeof(name), "%s%s", path, suffix[i]);
		unlink(name);
	}
}

#define INCIDENT "floor-incident"

/* Event number seq, its strings in the caller's buffers. */
static void
make_event(struct store_event *ev, uint64_t seq, char *id, char *grant, char *email, char *body)
{
	/* In no order, as the load generator's (SplitMix64's finalizer of seq: distinct). */
	uint64_t x = seq + 1;
	int n;

	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	snprintf(id, 64, "floor-%016llx", (unsigned long long)(x ^ (x >> 31)));
	snprintf(grant, 64, "grant-%08x-%08x", (unsigned)rand(), (unsigned)rand());
	snprintf(email, 64, "user-%.14s@example.com", grant + 6);
	n = snprintf(body, BODY_SIZE + 1,
	    "{\"specversion\":\"1.0\",\"type\":\"grant.expired\",\"source\":\"/nylas/system\","
	    "\"id\":\"%s\",\"time\":1795964516,\"data\":{\"application_id\":\"app\","
	    "\"object\":{\"grant_id\":\"%s\",\"email\":\"%s\",\"provider\":"
	    "\"microsoft\",\"code\":25009,\"reauthentication_flag\":true,\"pad\":\"", id, grant,
	    email);
	memset(body + n, 'x', BODY_SIZE - 4 - (size_t)n);
	memcpy(body + BODY_SIZE - 4, "\"}}}", 5);
	memset(ev, 0, sizeof(*ev));
	ev->source = "nylas";
	ev->app = "prod";
	ev->event_id = id;
	ev->type = "grant.expired";
	ev->received_ms = util_now_ms();
	ev->remote_addr = "127.0.0.1";
	ev->grant_id = grant;
	ev->email = email;
	ev->provider = "microsoft";
	ev->integration_id = "integration";
	ev->code = 25009;
	ev->reauth_flag = 1;
	ev->event_time = 1795964516;
	ev->grant_updated_at = 1795964516;
	ev->body = body;
	ev->body_len = BODY_SIZE;
	/* Settled at intake, as the writer stores a storm's events. */
	ev->result = "incident";
	ev->processed_ms = ev->received_ms;
}

/* The open incident the events' grants are listed in. */
static void
open_incident(struct store *st)
{
	char id[] = INCIDENT, app[] = "prod", cause[] = "secret_expired", state[] = "open";
	char evidence[] = "[]";
	struct store_incident inc;
	int64_t now = util_now_ms();

	memset(&inc, 0, sizeof(inc));
	inc.id = id;
	inc.app = app;
	inc.cause = cause;
	inc.state = state;
	inc.evidence = evidence;
	inc.opened_at = inc.updated_at = now;
	if (store_put_incident(st, &inc) == -1)
		die("cannot open the incident", NULL);
}

/* A count of at least 1, or -1. */
static long
parse_count(const char *s)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && n >= 1 ? n : -1;
}

int
main(int argc, char **argv)
{
	char url[4200], *err = NULL;
	struct store *st, *ckpt;
	long events, batch, done = 0, since_checkpoint = 0, i;
	int64_t start_us;
	double cpu0;
	char body[BODY_SIZE + 1];
	struct store_event ev;
	struct ids { char id[64], grant[64], email[64]; } *ids;
	struct store_incident_grant *g;
	enum store_result *r;

	if (argc < 4 || argc > 5 || (argc == 5 && strcmp(argv[4], "keep") != 0) ||
	    (events = parse_count(argv[2])) < 1 || (batch = parse_count(argv[3])) < 1)
		die("usage: store_floor PATH EVENTS BATCH [keep]", NULL);
	remove_store(argv[1]);
	snprintf(url, sizeof(url), "sqlite:%s", argv[1]);
	if ((st = store_open(url, &err)) == NULL || (ckpt = store_open(url, &err)) == NULL)
		die("cannot open the store", err);
	open_incident(st);
	ids = xcalloc((size_t)batch, sizeof(*ids));
	g = xcalloc((size_t)batch, sizeof(*g));
	r = xcalloc((size_t)batch, sizeof(*r));
	srand(1);
	cpu0 = cpu_seconds();
	start_us = util_mono_us();
	while (done < events) {
		if (store_begin(st) == -1)
			die("begin failed", NULL);
		for (i = 0; i < batch && done < events; i++, done++) {
			make_event(&ev, (uint64_t)done, ids[i].id, ids[i].grant, ids[i].email, body);
			if (store_add_event(st, &ev) != STORE_STORED)
				die("an event was not stored", NULL);
			g[i].incident_id = INCIDENT;
			g[i].grant_id = ids[i].grant;
			g[i].email = ids[i].email;
			g[i].seen_ms = ev.received_ms;
		}
		if (store_add_incident_grants(st, g, (size_t)i, r) == -1)
			die("the grants were not listed", NULL);
		if (store_commit(st) == -1)
			die("commit failed", NULL);
		since_checkpoint += i;
		if (since_checkpoint >= CHECKPOINT_EVENTS) {
			since_checkpoint = 0;
			store_checkpoint(ckpt, 1, NULL, NULL);
		}
	}
	printf("events=%ld batch=%ld cpu_us=%.1f wall_us=%.1f\n", events, batch,
	    (cpu_seconds() - cpu0) * 1e6 / (double)events,
	    (double)(util_mono_us() - start_us) / (double)events);
	store_close(ckpt);
	store_close(st);
	free(ids);
	free(g);
	free(r);
	if (argc == 4)
		remove_store(argv[1]);
	return 0;
}
