/*
 * client_addr: who a request comes from.  The peer's address, or, when the
 * peer is a trusted proxy (trusted_proxies), the X-Forwarded-For entry
 * nearest to it that is not itself trusted, and what X-Forwarded-Proto says
 * of the scheme.  The admin API's HTTPS-only rule and the per-IP limits
 * stand on it.  A trusted proxy's X-Request-ID, when it is short and plain,
 * replaces rekey's own request id.
 */
#include "intake/client_addr.h"
#include "intake/http_req.h"
#include "lib/util.h"
#include "state/config.h"
#include "state/runtime.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>


/* Parses one X-Forwarded-For entry (trimmed, maybe [v6]) into a sockaddr. */
static int
parse_addr(const char *s, size_t len, struct sockaddr_storage *ss, char *out, size_t outsize)
{
	char tmp[64];
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len > 1 && s[0] == '[' && s[len - 1] == ']') {
		s++;
		len -= 2;
	}
	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, tmp, &sin->sin_addr) == 1)
		ss->ss_family = AF_INET;
	else if (inet_pton(AF_INET6, tmp, &sin6->sin6_addr) == 1)
		ss->ss_family = AF_INET6;
	else
		return -1;
	util_strlcpy(out, tmp, outsize);
	return 0;
}

static int
is_loopback(const struct sockaddr *sa)
{
	const struct in6_addr *a6;

	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family != AF_INET6)
		return 0;
	a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	return IN6_IS_ADDR_LOOPBACK(a6) || (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
}

int
client_addr_request_id_ok(const char *s)
{
	size_t n;

	for (n = 0; s[n] != '\0'; n++) {
		if (n >= HTTP_REQ_ID_MAX)
			return 0;
		if (!((s[n] >= 'a' && s[n] <= 'z') || (s[n] >= 'A' && s[n] <= 'Z') ||
		    (s[n] >= '0' && s[n] <= '9') || s[n] == '.' || s[n] == '_' || s[n] == '-'))
			return 0;
	}
	return n > 0;
}

/*
 * A trusted proxy's X-Request-ID becomes the request id; one that is empty,
 * too long or has other characters is ignored (rekey's own id stays), so a
 * log line never carries what a client made up beyond that charset.
 */
static void
take_request_id(struct http_req *hr)
{
	const char *rid = http_header(hr, "X-Request-ID");

	if (rid != NULL && client_addr_request_id_ok(rid))
		util_strlcpy(hr->id, rid, sizeof(hr->id));
}

/*
 * The client is the peer, unless the peer is a trusted proxy: then it is
 * the rightmost X-Forwarded-For entry that is not itself a trusted proxy.
 */
void
client_addr_find(struct http_req *hr, const struct sockaddr *peer)
{
	const struct config *cfg = hr->rt->cfg;
	const char *xff, *proto, *end;
	struct sockaddr_storage ss;
	char addr[64];

	if (peer->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, hr->client,
		    sizeof(hr->client));
	else if (peer->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)peer)->sin6_addr, hr->client,
		    sizeof(hr->client));
	hr->peer_loopback = is_loopback(peer);
	if (!config_addr_trusted(cfg, peer))
		return;
	take_request_id(hr);
	proto = http_header(hr, "X-Forwarded-Proto");
	hr->forwarded_https = proto != NULL && strcasecmp(proto, "https") == 0;
	hr->forwarded_plain = proto != NULL && !hr->forwarded_https;
	xff = http_header(hr, "X-Forwarded-For");
	if (xff == NULL)
		return;
	end = xff + strlen(xff);
	while (end > xff) {
		const char *start = end;

		while (start > xff && start[-1] != ',')
			start--;
		if (parse_addr(start, (size_t)(end - start), &ss, addr, sizeof(addr)) == -1)
			return;	/* garbage: keep the last address we could believe */
		util_strlcpy(hr->client, addr, sizeof(hr->client));
		if (!config_addr_trusted(cfg, (struct sockaddr *)&ss))
			return;
		end = start > xff ? start - 1 : xff;
	}
}

/*
 * Request ids must be unique, not secret, so they are not drawn from the
 * CSPRNG for every request: a random start plus a counter, put through the
 * splitmix64 finaliser (a bijection, so distinct counters give distinct ids)
 * so that consecutive ids do not look alike in the logs.
 */
