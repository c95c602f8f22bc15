/*
 * libFuzzer target: a request head as rekey's handlers receive it.  The
 * bytes go through http_head's check whole and split where the first byte
 * says (both must agree); a head it accepts is split into a request
 * (http_req_take_head), which must then see the body length http_head saw
 * (the two disagreeing is how one request hides inside another); then what
 * the handlers read of it: the path, the query with ?challenge=, and the
 * client address found from X-Forwarded-For behind a trusted proxy and
 * without one.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "intake/client_addr.h"
#include "intake/http_req.h"
#include "lib/http_head.h"
#include "state/config.h"
#include "state/runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config cfg;
static struct runtime rt;

static void
setup(void)
{
	static struct cidr proxies[2];

	if (rt.cfg != NULL)
		return;
	if (config_parse_cidr("127.0.0.0/8", &proxies[0]) == -1 ||
	    config_parse_cidr("10.0.0.0/8", &proxies[1]) == -1)
		abort();
	cfg.trusted_proxies = proxies;
	cfg.n_trusted_proxies = 2;
	rt.cfg = &cfg;
}

/* The two feeds of one head must end alike. */
static void
check_split(const char *p, size_t size, size_t split, const struct http_head *whole,
    enum http_head_result r_whole, size_t used_whole)
{
	struct http_head h;
	enum http_head_result r;
	size_t used1 = 0, used2 = 0;

	http_head_init(&h);
	r = http_head_feed(&h, p, split, &used1);
	if (r == HTTP_HEAD_MORE)
		r = http_head_feed(&h, p + split, size - split, &used2);
	if (r != r_whole || used1 + used2 != used_whole || h.bad != whole->bad ||
	    h.content_length != whole->content_length)
		__builtin_trap();
}

/* What the handlers read: the client address, behind a trusted proxy and not. */
static void
check_handlers_view(const struct http_req *req)
{
	static const char *const peers[] = { "127.0.0.1", "192.0.2.1" };
	struct sockaddr_in sin;
	struct http_req hr;
	unsigned char addr[16];
	size_t i;

	free(http_query_param(req, "challenge"));
	for (i = 0; i < sizeof(peers) / sizeof(peers[0]); i++) {
		hr = *req;
		hr.rt = &rt;
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		inet_pton(AF_INET, peers[i], &sin.sin_addr);
		client_addr_find(&hr, (struct sockaddr *)&sin);
		/* Whatever the headers say, the client is an address. */
		if (inet_pton(AF_INET, hr.client, addr) != 1 && inet_pton(AF_INET6, hr.client, addr) != 1)
			__builtin_trap();
		if (i == 1 && (hr.forwarded_https || hr.forwarded_plain ||
		    strcmp(hr.client, peers[i]) != 0))
			__builtin_trap();	/* an untrusted peer is believed */
	}
}

/* The request split from the head must find the body length http_head found. */
static void
check_request(const char *p, size_t used, const struct http_head *h)
{
	struct http_req req;
	char *text = malloc(used + 1), *end;
	const char *cl, *why = NULL;
	long long n;

	if (text == NULL)
		abort();
	memcpy(text, p, used);
	text[used] = '\0';
	memset(&req, 0, sizeof(req));
	if (http_req_take_head(&req, text, used, &why) == 0) {
		cl = http_header(&req, "Content-Length");
		if ((cl == NULL) != (h->content_length == -1))
			__builtin_trap();
		if (cl != NULL) {
			n = strtoll(cl, &end, 10);
			if (*end != '\0' || n != h->content_length)
				__builtin_trap();
		}
		if (req.path == NULL || req.path[0] != '/')
			__builtin_trap();
		check_handlers_view(&req);
	} else if (why == NULL) {
		__builtin_trap();
	}
	free(req.head);
	free(req.fields);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	struct http_head h;
	enum http_head_result r;
	size_t used;

	if (size < 1)
		return 0;
	setup();
	http_head_init(&h);
	r = http_head_feed(&h, p + 1, size - 1, &used);
	check_split(p + 1, size - 1, data[0] % size, &h, r, used);
	if (r == HTTP_HEAD_DONE)
		check_request(p + 1, used, &h);
	return 0;
}
