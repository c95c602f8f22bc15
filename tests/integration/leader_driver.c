/*
 * leader_driver: one replica's election (state/leader.c) on a real event
 * loop, for tests/integration/test_leader.py.  It prints what the loop hears,
 * one line each, and answers commands on stdin; at the end of stdin it frees
 * the election (which ends its session) and exits.
 *
 *   leader_driver URL PASSWORD_FILE|- NODE
 *
 * Prints:  lead EPOCH | lost EPOCH | wake nylas | wake graph
 * Commands: "active" -> "active 0|1" (leader_active, the lease);
 *           "info" -> "info EPOCH NODE SINCE_MS" (the row as last read; "info -" before);
 *           "read" -> "read RC EPOCH NODE" (leader_read, a connection of its own).
 */
#include "lib/log.h"
#include "lib/util.h"
#include "state/leader.h"
#include "state/wake.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

struct driver {
	struct event_base *base;
	struct leader *leader;
	const char *url, *password_file;
	char line[256];
	size_t len;
};

static void
change_cb(int is_leader, int64_t epoch, void *arg)
{
	(void)arg;
	printf("%s %" PRId64 "\n", is_leader ? "lead" : "lost", epoch);
}

static void
wake_nylas_cb(void *arg)
{
	(void)arg;
	printf("wake nylas\n");
}

static void
wake_graph_cb(void *arg)
{
	(void)arg;
	printf("wake graph\n");
}

static void
command(struct driver *d, const char *cmd)
{
	struct leader_info info;
	char *err = NULL;
	int rc;

	if (strcmp(cmd, "active") == 0) {
		printf("active %d\n", leader_active());
	} else if (strcmp(cmd, "info") == 0) {
		leader_snapshot(d->leader, &info);
		if (info.known)
			printf("info %" PRId64 " %s %" PRId64 "\n", info.epoch, info.node,
			    info.since_ms);
		else
			printf("info -\n");
	} else if (strcmp(cmd, "read") == 0) {
		rc = leader_read(d->url, d->password_file, &info, &err);
		printf("read %d %" PRId64 " %s\n", rc, info.epoch, rc == 1 ? info.node :
		    err != NULL ? "error" : "-");
		free(err);
	} else {
		printf("unknown %s\n", cmd);
	}
}

static void
stdin_cb(evutil_socket_t fd, short what, void *arg)
{
	struct driver *d = arg;
	ssize_t n;
	char *nl;

	(void)what;
	n = read(fd, d->line + d->len, sizeof(d->line) - 1 - d->len);
	if (n <= 0) {
		event_base_loopexit(d->base, NULL);
		return;
	}
	d->len += (size_t)n;
	d->line[d->len] = '\0';
	while ((nl = strchr(d->line, '\n')) != NULL) {
		*nl = '\0';
		command(d, d->line);
		d->len -= (size_t)(nl + 1 - d->line);
		memmove(d->line, nl + 1, d->len + 1);
	}
	if (d->len == sizeof(d->line) - 1)
		d->len = 0;
}

int
main(int argc, char **argv)
{
	struct driver d;
	struct event *in;

	if (argc != 4) {
		fprintf(stderr, "usage: leader_driver URL PASSWORD_FILE|- NODE\n");
		return 2;
	}
	memset(&d, 0, sizeof(d));
	setvbuf(stdout, NULL, _IOLBF, 0);
	d.url = argv[1];
	d.password_file = strcmp(argv[2], "-") == 0 ? NULL : argv[2];
	d.base = event_base_new();
	if (d.base == NULL || event_base_priority_init(d.base, 3) == -1)
		fatal("cannot create the event loop");
	wake_subscribe(WAKE_NYLAS_EVENTS, wake_nylas_cb, NULL);
	wake_subscribe(WAKE_GRAPH_NOTIFICATIONS, wake_graph_cb, NULL);
	d.leader = leader_new(d.base, d.url, d.password_file, argv[3], change_cb, NULL);
	in = event_new(d.base, 0, EV_READ | EV_PERSIST, stdin_cb, &d);
	if (in == NULL || event_add(in, NULL) == -1)
		fatal("cannot watch stdin");
	event_base_dispatch(d.base);
	leader_free(d.leader);
	event_free(in);
	event_base_free(d.base);
	printf("bye\n");
	return 0;
}
