/*
 * conn_limit: an atomic total and a hash of per-address counts under one
 * mutex (taken once per accepted connection and once per closed one, never
 * per request).  An address is in the table only while it has connections.
 */
#include "intake/conn_limit.h"
#include "lib/log.h"
#include "lib/util.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BUCKETS 1024

struct addr_count {
	unsigned char addr[16];		/* IPv4 in the first 4 bytes */
	int family;
	long long n;
	struct addr_count *next;
};

struct conn_limit {
	atomic_size_t total;
	pthread_mutex_t mu;
	struct addr_count *table[BUCKETS];	/* under mu */
};

struct conn_limit *
conn_limit_new(void)
{
	struct conn_limit *cl = xcalloc(1, sizeof(*cl));

	atomic_init(&cl->total, 0);
	pthread_mutex_init(&cl->mu, NULL);
	return cl;
}

void
conn_limit_free(struct conn_limit *cl)
{
	struct addr_count *a, *next;
	size_t i;

	if (cl == NULL)
		return;
	for (i = 0; i < BUCKETS; i++) {
		for (a = cl->table[i]; a != NULL; a = next) {
			next = a->next;
			free(a);
		}
	}
	pthread_mutex_destroy(&cl->mu);
	free(cl);
}

void
conn_limit_opened(struct conn_limit *cl)
{
	atomic_fetch_add_explicit(&cl->total, 1, memory_order_relaxed);
}

void
conn_limit_closed(struct conn_limit *cl)
{
	atomic_fetch_sub_explicit(&cl->total, 1, memory_order_relaxed);
}

size_t
conn_limit_total(const struct conn_limit *cl)
{
	return atomic_load_explicit(&cl->total, memory_order_relaxed);
}

/* The address bytes of ss into key; its length, or 0 for another family. */
static size_t
key_of(const struct sockaddr_storage *ss, unsigned char key[16])
{
	memset(key, 0, 16);
	if (ss->ss_family == AF_INET) {
		memcpy(key, &((const struct sockaddr_in *)ss)->sin_addr, 4);
		return 4;
	}
	if (ss->ss_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
		return 16;
	}
	return 0;
}

static size_t
bucket_of(const unsigned char key[16])
{
	unsigned h = 2166136261u;
	size_t i;

	for (i = 0; i < 16; i++)
		h = (h ^ key[i]) * 16777619u;
	return h % BUCKETS;
}

/* Under mu: the address's slot, or where to link a new one (*pp). */
static struct addr_count *
find(struct conn_limit *cl, const unsigned char key[16], int family, struct addr_count ***pp)
{
	struct addr_count **p = &cl->table[bucket_of(key)];

	for (; *p != NULL; p = &(*p)->next)
		if ((*p)->family == family && memcmp((*p)->addr, key, 16) == 0)
			break;
	*pp = p;
	return *p;
}

int
conn_limit_admit(struct conn_limit *cl, const struct sockaddr_storage *addr, long long max)
{
	unsigned char key[16];
	struct addr_count *a, **pp;
	int rc = 0;

	if (key_of(addr, key) == 0)
		return 0;
	pthread_mutex_lock(&cl->mu);
	a = find(cl, key, addr->ss_family, &pp);
	if (a == NULL) {
		a = xcalloc(1, sizeof(*a));
		memcpy(a->addr, key, 16);
		a->family = addr->ss_family;
		*pp = a;
	}
	if (a->n + 1 > max)
		rc = -1;
	else
		a->n++;
	if (a->n == 0) {
		*pp = a->next;
		free(a);
	}
	pthread_mutex_unlock(&cl->mu);
	return rc;
}

void
conn_limit_release(struct conn_limit *cl, const struct sockaddr_storage *addr)
{
	unsigned char key[16];
	struct addr_count *a, **pp;

	if (key_of(addr, key) == 0)
		return;
	pthread_mutex_lock(&cl->mu);
	a = find(cl, key, addr->ss_family, &pp);
	if (a == NULL || a->n <= 0)
		fatal("conn_limit: a connection given back that was never counted");
	if (--a->n == 0) {
		*pp = a->next;
		free(a);
	}
	pthread_mutex_unlock(&cl->mu);
}
