/*
 * Unit tests: intake/conn_limit, the connection tally every intake loop
 * counts into.  It counts per address up to the limit, keeps addresses and
 * families apart, gives a slot back on release, and keeps the total.
 */
#include "intake/conn_limit.h"
#include "tap.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

static struct sockaddr_storage
addr(int family, const char *text)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET)
		inet_pton(AF_INET, text, &((struct sockaddr_in *)&ss)->sin_addr);
	else
		inet_pton(AF_INET6, text, &((struct sockaddr_in6 *)&ss)->sin6_addr);
	return ss;
}

static void
test_conn_limit(void)
{
	struct conn_limit *cl = conn_limit_new();
	struct sockaddr_storage a = addr(AF_INET, "10.0.0.1"), b = addr(AF_INET, "10.0.0.2");
	struct sockaddr_storage v6 = addr(AF_INET6, "::ffff:10.0.0.1");

	TAP_OK(conn_limit_admit(cl, &a, 2) == 0 && conn_limit_admit(cl, &a, 2) == 0,
	    "two connections from one address at a limit of 2");
	TAP_OK(conn_limit_admit(cl, &a, 2) == -1, "the third is refused");
	TAP_OK(conn_limit_admit(cl, &b, 2) == 0, "another address counts apart");
	TAP_OK(conn_limit_admit(cl, &v6, 1) == 0, "an IPv6 address counts apart from IPv4");
	conn_limit_release(cl, &a);
	TAP_OK(conn_limit_admit(cl, &a, 2) == 0, "a released slot is free again");
	TAP_OK(conn_limit_admit(cl, &a, 2) == -1, "and only that one");
	conn_limit_release(cl, &a);
	conn_limit_release(cl, &a);
	conn_limit_release(cl, &b);
	conn_limit_release(cl, &v6);
	TAP_OK(conn_limit_admit(cl, &a, 1) == 0, "all given back: the address starts afresh");
	conn_limit_release(cl, &a);
	conn_limit_opened(cl);
	conn_limit_opened(cl);
	conn_limit_closed(cl);
	TAP_OK(conn_limit_total(cl) == 1, "the total counts opened less closed");
	conn_limit_closed(cl);
	conn_limit_free(cl);
}

int
main(void)
{
	test_conn_limit();
	return tap_done();
}
