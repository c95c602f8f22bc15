/*
 * loadgen: the load generator of the intake benchmark (tests/bench/intake.sh).
 *
 *   loadgen --host ADDR --port P --ca CAFILE --path PATH --secret-file F
 *           [--connections C] (--requests N | --duration S) [--body-size B]
 *           [--ids scrambled|sequential]
 *   loadgen --host ADDR --port P --ca CAFILE --path PATH --graph-batch K
 *           --client-state-file F [--connections C] (--requests N | --duration S)
 *   loadgen --host ADDR --port P --ca CAFILE --idle N [--hold S]
 *
 * Load mode opens C TLS keep-alive connections (the server certificate is
 * verified against CAFILE for the name "localhost", which is also sent as SNI)
 * and on each sends POST requests one at a time, without pipelining.  Every body
 * is a Nylas grant.expired envelope of about B bytes (default 1024) with an id,
 * a grant id and an email that are unique across runs, signed with
 * X-Nylas-Signature = lowercase hex HMAC-SHA256(secret, body), the secret being
 * the first line of F.
 *
 * The ids are shaped as the providers' are: Nylas grant ids and Graph user ids
 * are GUIDs, in no order (developer.nylas.com's grant examples; Graph's user
 * resource), so each is a GUID scrambled from the request's sequence number
 * and the run's random id (scrambled_id).  Consecutive requests' ids then land
 * far apart in any index keyed by them, as a real storm's do.  With
 * --ids sequential they are the run prefix plus the sequence number instead
 * (the benchmark's shape before 2026-12-06), which a B-tree appends to: cheaper,
 * and a flattering picture.
 *
 * With --graph-batch K, every body is instead a Microsoft Graph change
 * notification batch {"value":[...]} of K user "updated" items, unsigned, each
 * with an id and a user id that are unique across runs (the run prefix plus
 * an item number) and the clientState read from the first line of F.  A
 * request then counts as ok when answered 202, as Graph expects.
 *
 * With --rate R the load is paced (open loop) instead of closed: request k is
 * due R-th of a second after request k-1, whatever the answers, and goes out on
 * the first connection free at or after its due time.  Its latency runs from
 * the due time, not from the write, so that a server which falls behind is
 * charged for the wait of the requests queued behind it (wrk2's correction for
 * coordinated omission).  A closed loop of C connections measures the server at
 * saturation; a paced load measures it at a stated arrival rate.
 *
 * At the end it prints one line:
 *
 *   requests=N ok=N errors=N seconds=S rps=R p50_ms=X p99_ms=Y max_ms=Z
 *
 * followed on the same line, with --rate, by "rate=R max_lag_ms=L": L is the
 * longest a due request waited for a free connection (0 when C kept up); and
 * last by "start_ms=T", when the clock started as Unix time in milliseconds.
 *
 * requests counts the requests sent, ok those answered 200 (202 with
 * --graph-batch), errors those that got no complete response (connection
 * reset, timeout, malformed reply).  rps counts ok answers only, so that a
 * server answering 503 fast does not look fast.  Latencies run from the start
 * of the write to the last byte of the response, over every complete
 * response.  The clock starts once all C connections have finished their
 * handshakes.  Status counts, reconnects and the generator's own CPU time go
 * to stderr.
 *
 * Idle mode opens N TLS connections (at most IDLE_CONCURRENCY handshakes at a
 * time, so that the server's accept queue never overflows), sends nothing,
 * prints "idle_connected=N" (and "idle_failed=M" when some failed), then waits
 * until --hold seconds have passed or until SIGTERM/SIGINT, and prints
 * "idle_open=N": how many of them the server had not closed by then.
 *
 * Single-threaded: libevent with bufferevent_openssl, one event loop.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#define SERVER_NAME "localhost"		/* SNI and the name checked in the certificate */
#define DEFAULT_BODY_SIZE 1024
#define MIN_BODY_SIZE 512		/* the envelope without padding must fit */
#define MAX_BODY_SIZE (1024 * 1024)
#define MAX_CONNECTIONS 100000
#define MAX_LINE 8192			/* longest response status or header line */
#define IO_TIMEOUT_S 30			/* a request with no progress for this long fails */
#define IDLE_CONCURRENCY 64		/* handshakes in flight in idle mode */
#define MAX_CONNECT_FAILS 100		/* failed connects in a row before giving up */
#define MAX_ERRORS_SHOWN 5		/* connection errors described on stderr */
#define SECRET_MAX 4096
#define GRAPH_BATCH_MAX 1000		/* rekey's limit on the items of one batch */
#define CLIENT_STATE_MAX 128		/* Graph's limit on a subscription's clientState */
#define GRAPH_ITEM_MAX 1024		/* one item and its comma, the clientState aside */

enum conn_state {
	CONN_CLOSED,		/* no bufferevent */
	CONN_CONNECTING,	/* TCP connect and TLS handshake in progress */
	CONN_READY,		/* connected, no request in flight */
	CONN_STATUS,		/* request written, waiting for the status line */
	CONN_HEADERS,		/* reading response header lines */
	CONN_BODY,		/* reading a Content-Length body */
	CONN_BODY_EOF,		/* reading a body that ends when the server closes */
};

struct loadgen;

struct conn {
	struct loadgen *lg;
	struct bufferevent *bev;
	enum conn_state state;
	int64_t started_us;	/* when the request in flight was written */
	int status;
	int64_t body_left;
	int has_length;
	int chunked;
	int close_after;	/* the server will close after this response */
	uint64_t gen;		/* bumped when the bufferevent is freed */
};

struct options {
	const char *host;
	const char *port;
	const char *ca_file;
	const char *path;
	const char *secret_file;
	uint64_t connections;
	uint64_t requests;	/* 0 with duration mode */
	uint64_t duration_s;	/* 0 with requests mode */
	uint64_t body_size;
	uint64_t graph_batch;	/* 0 unless Graph mode */
	const char *client_state_file;
	uint64_t idle;		/* 0 unless idle mode */
	uint64_t hold_s;	/* 0 = until a signal */
	uint64_t rate;		/* requests per second of a paced load; 0 = closed loop */
	int sequential_ids;	/* --ids sequential */
};

struct loadgen {
	struct options opt;
	struct event_base *base;
	SSL_CTX *ssl_ctx;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	EVP_MAC_CTX *mac;	/* keyed once; re-initialised per body */
	char run_id[17];
	uint64_t run_seed;	/* run_id as a number, mixed into every scrambled id */
	char client_state[CLIENT_STATE_MAX + 1];	/* Graph mode */
	int ok_status;		/* the answer that counts as ok: 200, or 202 in Graph mode */
	char host_header[300];
	struct conn *conns;
	size_t n_conns;
	struct event *sig_term;
	struct event *sig_int;
	struct event *hold_timer;

	/* Load mode. */
	int started;		/* all connections were up once and the clock runs */
	uint64_t issued;
	uint64_t answered;	/* complete responses */
	uint64_t ok;
	uint64_t errors;
	uint64_t reconnects;
	uint64_t connect_fails_in_row;
	uint64_t errors_shown;
	uint64_t status_counts[600];
	int64_t start_us;
	int64_t start_unix_ms;	/* the same moment on the wall clock, for other logs */
	int64_t end_us;
	int64_t deadline_us;
	struct event *pace_timer;	/* paced load: fires when the next request is due */
	int64_t max_lag_us;	/* paced load: the longest a due request waited for a connection */
	uint32_t *lat_us;
	size_t n_lat;
	size_t cap_lat;
	char *body;
	size_t body_cap;
	char *req;
	size_t req_cap;

	/* Idle mode. */
	size_t idle_opened;
	size_t idle_connected;
	size_t idle_failed;
	size_t idle_closed;
	int idle_reported;
};

static void conn_open(struct conn *c);
static void conn_send_next(struct conn *c);
static void send_due(struct loadgen *lg);
static void pace_cb(evutil_socket_t fd, short what, void *arg);

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	fputs("loadgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *
xmalloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL)
		die("out of memory");
	return p;
}

static void *
xreallocarray(void *p, size_t n, size_t size)
{
	void *q = reallocarray(p, n, size);

	if (q == NULL)
		die("out of memory");
	return q;
}

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
unix_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t
parse_u64(const char *s, uint64_t min, uint64_t max, const char *what)
{
	char *end = NULL;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v < min || v > max)
		die("%s: want a whole number from %" PRIu64 " to %" PRIu64 ", got \"%s\"",
		    what, min, max, s);
	return v;
}

static void
usage(void)
{
	fputs("usage: loadgen --host ADDR --port P --ca CAFILE --path PATH --secret-file F\n"
	    "               [--connections C] (--requests N | --duration S) [--body-size B]\n"
	    "       (either load form also takes --ids scrambled|sequential; default scrambled)\n"
	    "       loadgen --host ADDR --port P --ca CAFILE --path PATH --graph-batch K\n"
	    "               --client-state-file F [--connections C] (--requests N | --duration S)\n"
	    "       (either load form also takes --rate R: R requests a second, paced)\n"
	    "       loadgen --host ADDR --port P --ca CAFILE --idle N [--hold S]\n", stderr);
	exit(2);
}

static void
parse_options(struct options *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "host", required_argument, NULL, 'H' },
		{ "port", required_argument, NULL, 'p' },
		{ "ca", required_argument, NULL, 'a' },
		{ "path", required_argument, NULL, 'u' },
		{ "secret-file", required_argument, NULL, 's' },
		{ "connections", required_argument, NULL, 'c' },
		{ "requests", required_argument, NULL, 'n' },
		{ "duration", required_argument, NULL, 'd' },
		{ "body-size", required_argument, NULL, 'b' },
		{ "graph-batch", required_argument, NULL, 'g' },
		{ "client-state-file", required_argument, NULL, 'S' },
		{ "idle", required_argument, NULL, 'i' },
		{ "hold", required_argument, NULL, 'h' },
		{ "rate", required_argument, NULL, 'r' },
		{ "ids", required_argument, NULL, 'I' },
		{ NULL, 0, NULL, 0 },
	};
	int ch;

	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->connections = 32;
	o->body_size = DEFAULT_BODY_SIZE;
	for (;;) {
		ch = getopt_long(argc, argv, "", longopts, NULL);
		if (ch == -1)
			break;
		switch (ch) {
		case 'H': o->host = optarg; break;
		case 'p': parse_u64(optarg, 1, 65535, "--port"); o->port = optarg; break;
		case 'a': o->ca_file = optarg; break;
		case 'u': o->path = optarg; break;
		case 's': o->secret_file = optarg; break;
		case 'c': o->connections = parse_u64(optarg, 1, MAX_CONNECTIONS, "--connections"); break;
		case 'n': o->requests = parse_u64(optarg, 1, UINT32_MAX, "--requests"); break;
		case 'd': o->duration_s = parse_u64(optarg, 1, 86400, "--duration"); break;
		case 'b': o->body_size = parse_u64(optarg, MIN_BODY_SIZE, MAX_BODY_SIZE, "--body-size"); break;
		case 'g': o->graph_batch = parse_u64(optarg, 1, GRAPH_BATCH_MAX, "--graph-batch"); break;
		case 'S': o->client_state_file = optarg; break;
		case 'i': o->idle = parse_u64(optarg, 1, 1000000, "--idle"); break;
		case 'h': o->hold_s = parse_u64(optarg, 1, 86400 * 365, "--hold"); break;
		case 'r': o->rate = parse_u64(optarg, 1, 1000000, "--rate"); break;
		case 'I':
			if (strcmp(optarg, "sequential") != 0 && strcmp(optarg, "scrambled") != 0)
				usage();
			o->sequential_ids = strcmp(optarg, "sequential") == 0;
			break;
		default: usage();
		}
	}
	if (optind != argc || o->port == NULL || o->ca_file == NULL)
		usage();
	if (o->idle > 0)
		return;
	if (o->path == NULL || o->path[0] != '/' || (o->requests == 0) == (o->duration_s == 0))
		usage();
	/* Exactly one kind of body: signed Nylas envelopes or Graph batches. */
	if (o->graph_batch > 0 ? o->client_state_file == NULL || o->secret_file != NULL :
	    o->secret_file == NULL || o->client_state_file != NULL)
		usage();
}

/* Idle mode needs one descriptor per connection: take all the kernel allows us. */
static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		die("getrlimit: %s", strerror(errno));
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		die("setrlimit: %s", strerror(errno));
}

static void
resolve(struct loadgen *lg)
{
	struct addrinfo hints, *ai = NULL;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	rc = getaddrinfo(lg->opt.host, lg->opt.port, &hints, &ai);
	if (rc != 0)
		die("--host %s: %s", lg->opt.host, gai_strerror(rc));
	memcpy(&lg->addr, ai->ai_addr, ai->ai_addrlen);
	lg->addr_len = ai->ai_addrlen;
	freeaddrinfo(ai);
	snprintf(lg->host_header, sizeof(lg->host_header), "%s:%s", SERVER_NAME, lg->opt.port);
}

static void
setup_tls(struct loadgen *lg)
{
	lg->ssl_ctx = SSL_CTX_new(TLS_client_method());
	if (lg->ssl_ctx == NULL)
		die("SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(lg->ssl_ctx, TLS1_2_VERSION);
	if (SSL_CTX_load_verify_locations(lg->ssl_ctx, lg->opt.ca_file, NULL) != 1)
		die("cannot load CA file %s", lg->opt.ca_file);
	SSL_CTX_set_verify(lg->ssl_ctx, SSL_VERIFY_PEER, NULL);
	/*
	 * OpenSSL 3 turns a close without close_notify into an error, which would
	 * fail a body delimited by the close; lengths are checked by the parser.
	 */
	SSL_CTX_set_options(lg->ssl_ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* Thousands of idle connections would otherwise each hold ~34 KB of buffers. */
	if (lg->opt.idle > 0)
		SSL_CTX_set_mode(lg->ssl_ctx, SSL_MODE_RELEASE_BUFFERS);
}

/* Reads the first line of path, without its line end, into buf; returns its length. */
static size_t
read_first_line(const char *path, char *buf, size_t size)
{
	size_t len;
	FILE *f;

	f = fopen(path, "r");
	if (f == NULL)
		die("%s: %s", path, strerror(errno));
	if (fgets(buf, (int)size, f) == NULL)
		die("%s: empty", path);
	fclose(f);
	len = strcspn(buf, "\r\n");
	if (len == 0)
		die("%s: the first line is empty", path);
	buf[len] = '\0';
	return len;
}

/* Reads the first line of the secret file and keys the HMAC with it. */
static void
setup_mac(struct loadgen *lg)
{
	char secret[SECRET_MAX];
	OSSL_PARAM params[2];
	EVP_MAC *mac;
	size_t len;

	len = read_first_line(lg->opt.secret_file, secret, sizeof(secret));
	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	lg->mac = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
	EVP_MAC_free(mac);
	if (lg->mac == NULL)
		die("HMAC is not available");
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	if (EVP_MAC_init(lg->mac, (const unsigned char *)secret, len, params) != 1)
		die("HMAC init failed");
	OPENSSL_cleanse(secret, sizeof(secret));
}

/*
 * Reads the clientState that every Graph item carries.  It goes into the body
 * as it is, so it must need no JSON escaping (rekey's are letters and digits).
 */
static void
setup_client_state(struct loadgen *lg)
{
	const char *path = lg->opt.client_state_file;
	char line[SECRET_MAX];
	size_t len, i;

	len = read_first_line(path, line, sizeof(line));
	if (len > CLIENT_STATE_MAX)
		die("%s: the client state is longer than %d bytes", path, CLIENT_STATE_MAX);
	for (i = 0; i < len; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == '"' || line[i] == '\\')
			die("%s: the client state would need JSON escaping", path);
	memcpy(lg->client_state, line, len + 1);
	OPENSSL_cleanse(line, sizeof(line));
}

static void
make_run_id(struct loadgen *lg)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[8];
	size_t i;

	if (RAND_bytes(r, sizeof(r)) != 1)
		die("RAND_bytes failed");
	for (i = 0; i < sizeof(r); i++) {
		lg->run_id[2 * i] = hex[r[i] >> 4];
		lg->run_id[2 * i + 1] = hex[r[i] & 15];
		lg->run_seed = lg->run_seed << 8 | r[i];
	}
	lg->run_id[16] = '\0';
}

/* SplitMix64's finalizer: a bijection on 64 bits that scatters neighbours. */
static uint64_t
mix64(uint64_t x)
{
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

/*
 * Writes the GUID of item n of kind (a small constant per kind of id) into
 * out: its first half is mix64 of n and kind, distinct for every n of a kind
 * and in no order; its second half is the run's, so that runs do not collide.
 */
static void
scrambled_id(const struct loadgen *lg, unsigned kind, uint64_t n, char out[37])
{
	uint64_t hi = mix64(n ^ (uint64_t)kind << 56), lo = mix64(lg->run_seed + kind);

	snprintf(out, 37, "%08" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%04" PRIx64 "-%012" PRIx64,
	    hi >> 32, (hi >> 16) & 0xffff, hi & 0xffff, lo >> 48, lo & UINT64_C(0xffffffffffff));
}

enum { ID_EVENT = 1, ID_GRANT, ID_GRAPH_ITEM, ID_GRAPH_USER };

/* Writes request seq's id of kind into out: scrambled, or run prefix and number. */
static void
make_id(const struct loadgen *lg, unsigned kind, uint64_t n, char out[40])
{
	if (lg->opt.sequential_ids)
		snprintf(out, 40, "%s-%" PRIu64, lg->run_id, n);
	else
		scrambled_id(lg, kind, n, out);
}

/* Writes body number seq into lg->body (exactly opt.body_size bytes); returns its length. */
static size_t
make_body(struct loadgen *lg, uint64_t seq)
{
	static const char tail[] = "\"}}}";
	size_t size = lg->opt.body_size, tail_len = sizeof(tail) - 1;
	char event_id[40], grant_id[40];
	int n;

	make_id(lg, ID_EVENT, seq, event_id);
	make_id(lg, ID_GRANT, seq, grant_id);
	n = snprintf(lg->body, size + 1,
	    "{\"specversion\":\"1.0\",\"type\":\"grant.expired\",\"source\":\"/nylas/system\","
	    "\"id\":\"%s\",\"time\":%lld,\"webhook_delivery_attempt\":1,"
	    "\"data\":{\"application_id\":\"bench-app\",\"object\":{\"code\":25009,"
	    "\"grant_id\":\"%s\",\"integration_id\":\"int-1\","
	    "\"provider\":\"microsoft\",\"email\":\"user-%.13s@example.com\","
	    "\"grant_updated_at\":1734200000,\"pad\":\"",
	    event_id, (long long)time(NULL), grant_id, grant_id);
	if (n < 0 || (size_t)n + tail_len > size)
		die("--body-size %zu is too small for the envelope", size);
	memset(lg->body + n, 'x', size - tail_len - (size_t)n);
	memcpy(lg->body + size - tail_len, tail, tail_len);
	return size;
}

static void
sign_body(struct loadgen *lg, const char *body, size_t len, char hex[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[32];
	size_t md_len = 0, i;

	if (EVP_MAC_init(lg->mac, NULL, 0, NULL) != 1 ||
	    EVP_MAC_update(lg->mac, (const unsigned char *)body, len) != 1 ||
	    EVP_MAC_final(lg->mac, md, &md_len, sizeof(md)) != 1 || md_len != sizeof(md))
		die("HMAC failed");
	for (i = 0; i < sizeof(md); i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[64] = '\0';
}

/* Writes Graph item number n at out (at most cap bytes); returns its length. */
static size_t
make_graph_item(struct loadgen *lg, char *out, size_t cap, uint64_t n)
{
	char uuid[37], item_id[40];
	int len;

	/* A distinct user per item. */
	if (lg->opt.sequential_ids)
		snprintf(uuid, sizeof(uuid), "%.8s-%.4s-%.4s-%04" PRIx64 "-%012" PRIx64,
		    lg->run_id, lg->run_id + 8, lg->run_id + 12, (n >> 48) & 0xffff,
		    n & UINT64_C(0xffffffffffff));
	else
		scrambled_id(lg, ID_GRAPH_USER, n, uuid);
	make_id(lg, ID_GRAPH_ITEM, n, item_id);
	len = snprintf(out, cap,
	    "{\"id\":\"%s\","
	    "\"subscriptionId\":\"7f105c7d-2dc5-4530-97cd-4e7ae6534c07\","
	    "\"subscriptionExpirationDateTime\":\"2026-12-20T00:00:00Z\","
	    "\"clientState\":\"%s\",\"changeType\":\"updated\",\"resource\":\"Users/%s\","
	    "\"tenantId\":\"72f988bf-86f1-41af-91ab-2d7cd011db47\","
	    "\"resourceData\":{\"@odata.type\":\"#Microsoft.Graph.User\","
	    "\"@odata.id\":\"Users/%s\",\"id\":\"%s\"}}",
	    item_id, lg->client_state, uuid, uuid, uuid);
	if (len < 0 || (size_t)len >= cap)
		die("a Graph item does not fit");
	return (size_t)len;
}

/* Writes Graph batch number seq (opt.graph_batch items) into lg->body; returns its length. */
static size_t
make_graph_body(struct loadgen *lg, uint64_t seq)
{
	static const char head[] = "{\"value\":[", tail[] = "]}";
	size_t len = sizeof(head) - 1, i;

	memcpy(lg->body, head, len);
	for (i = 0; i < lg->opt.graph_batch; i++) {
		if (i > 0)
			lg->body[len++] = ',';
		len += make_graph_item(lg, lg->body + len, lg->body_cap - len - sizeof(tail),
		    seq * lg->opt.graph_batch + i);
	}
	memcpy(lg->body + len, tail, sizeof(tail));
	return len + sizeof(tail) - 1;
}

/* Builds request seq, head and body contiguous so that they go out in one write. */
static size_t
make_request(struct loadgen *lg, uint64_t seq)
{
	char sig[65], sig_header[100] = "";
	size_t body_len;
	int n;

	if (lg->opt.graph_batch > 0) {
		body_len = make_graph_body(lg, seq);
	} else {
		body_len = make_body(lg, seq);
		sign_body(lg, lg->body, body_len, sig);
		snprintf(sig_header, sizeof(sig_header), "X-Nylas-Signature: %s\r\n", sig);
	}
	n = snprintf(lg->req, lg->req_cap,
	    "POST %s HTTP/1.1\r\n"
	    "Host: %s\r\n"
	    "User-Agent: rekey-loadgen\r\n"
	    "Content-Type: application/json\r\n"
	    "%s"
	    "Content-Length: %zu\r\n"
	    "\r\n",
	    lg->opt.path, lg->host_header, sig_header, body_len);
	if (n < 0 || (size_t)n + body_len > lg->req_cap)
		die("request too large");
	memcpy(lg->req + n, lg->body, body_len);
	return (size_t)n + body_len;
}

static void
describe_error(struct conn *c, short what, const char *context)
{
	struct loadgen *lg = c->lg;
	unsigned long ssl_err;
	char buf[256] = "";

	if (lg->errors_shown++ >= MAX_ERRORS_SHOWN)
		return;
	ssl_err = c->bev != NULL ? bufferevent_get_openssl_error(c->bev) : 0;
	if (ssl_err != 0)
		ERR_error_string_n(ssl_err, buf, sizeof(buf));
	else if (what & BEV_EVENT_ERROR)
		snprintf(buf, sizeof(buf), "%s", strerror(EVUTIL_SOCKET_ERROR()));
	else if (what & BEV_EVENT_TIMEOUT)
		snprintf(buf, sizeof(buf), "no progress for %d s", IO_TIMEOUT_S);
	else if (what & BEV_EVENT_EOF)
		snprintf(buf, sizeof(buf), "closed by the server");
	fprintf(stderr, "loadgen: %s: %s\n", context, buf);
}

static int
in_flight(const struct conn *c)
{
	return c->state >= CONN_STATUS;
}

static void
conn_close(struct conn *c)
{
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	c->bev = NULL;
	c->gen++;
	c->state = CONN_CLOSED;
}

/* Load mode: stops the loop once nothing more will be sent and nothing is in flight. */
static void
check_finished(struct loadgen *lg)
{
	size_t i;

	if (lg->opt.requests > 0 && lg->issued < lg->opt.requests)
		return;
	if (lg->opt.duration_s > 0 && now_us() < lg->deadline_us)
		return;
	for (i = 0; i < lg->n_conns; i++)
		if (in_flight(&lg->conns[i]))
			return;
	if (lg->end_us == 0)
		lg->end_us = now_us();
	event_base_loopbreak(lg->base);
}

static int
more_to_send(struct loadgen *lg)
{
	if (!lg->started)
		return 1;
	if (lg->opt.requests > 0)
		return lg->issued < lg->opt.requests;
	return now_us() < lg->deadline_us;
}

static void
record_latency(struct loadgen *lg, int64_t us)
{
	if (lg->n_lat == lg->cap_lat) {
		lg->cap_lat = lg->cap_lat ? 2 * lg->cap_lat : 65536;
		lg->lat_us = xreallocarray(lg->lat_us, lg->cap_lat, sizeof(*lg->lat_us));
	}
	lg->lat_us[lg->n_lat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static void
start_load(struct loadgen *lg)
{
	size_t i;

	lg->started = 1;
	lg->start_us = now_us();
	lg->start_unix_ms = unix_ms();
	lg->deadline_us = lg->start_us + (int64_t)lg->opt.duration_s * 1000000;
	if (lg->opt.rate > 0) {
		lg->pace_timer = evtimer_new(lg->base, pace_cb, lg);
		if (lg->pace_timer == NULL)
			die("out of memory");
		send_due(lg);
		return;
	}
	for (i = 0; i < lg->n_conns; i++)
		if (lg->conns[i].state == CONN_READY)
			conn_send_next(&lg->conns[i]);
	check_finished(lg);
}

/* Writes request number lg->issued on c; its latency will run from intended_us. */
static void
conn_send(struct conn *c, int64_t intended_us)
{
	struct loadgen *lg = c->lg;
	size_t len;

	len = make_request(lg, lg->issued++);
	c->state = CONN_STATUS;
	c->status = 0;
	c->has_length = 0;
	c->chunked = 0;
	c->close_after = 0;
	c->body_left = 0;
	c->started_us = intended_us;
	if (bufferevent_write(c->bev, lg->req, len) == -1)
		die("out of memory queueing a request");
}

/* Paced load: when request number seq is due. */
static int64_t
due_us(const struct loadgen *lg, uint64_t seq)
{
	return lg->start_us + (int64_t)(seq * 1000000 / lg->opt.rate);
}

static struct conn *
free_conn(struct loadgen *lg)
{
	size_t i;

	for (i = 0; i < lg->n_conns; i++)
		if (lg->conns[i].state == CONN_READY)
			return &lg->conns[i];
	return NULL;
}

static void
pace_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	send_due(arg);
}

/*
 * Paced load: sends every request that is due on the free connections, then
 * sleeps until the next one is due.  A due request with no free connection
 * waits for the next answer, which calls this again.
 */
static void
send_due(struct loadgen *lg)
{
	int64_t now = now_us(), due;
	struct timeval tv;
	struct conn *c;

	for (;;) {
		if (!more_to_send(lg)) {
			check_finished(lg);
			return;
		}
		due = due_us(lg, lg->issued);
		if (due > now)
			break;
		c = free_conn(lg);
		if (c == NULL)
			return;
		if (now - due > lg->max_lag_us)
			lg->max_lag_us = now - due;
		conn_send(c, due);
	}
	tv.tv_sec = (due - now) / 1000000;
	tv.tv_usec = (due - now) % 1000000;
	evtimer_add(lg->pace_timer, &tv);
}

static void
conn_send_next(struct conn *c)
{
	struct loadgen *lg = c->lg;

	if (lg->opt.rate > 0) {
		send_due(lg);
		return;
	}
	if (!more_to_send(lg)) {
		check_finished(lg);
		return;
	}
	conn_send(c, now_us());
}

/* A complete response arrived: count it, then reuse or replace the connection. */
static void
response_done(struct conn *c)
{
	struct loadgen *lg = c->lg;

	record_latency(lg, now_us() - c->started_us);
	lg->answered++;
	lg->status_counts[c->status]++;
	if (c->status == lg->ok_status)
		lg->ok++;
	if (c->close_after) {
		conn_close(c);
		if (more_to_send(lg)) {
			lg->reconnects++;
			conn_open(c);
		}
		check_finished(lg);
		return;
	}
	c->state = CONN_READY;
	conn_send_next(c);
}

/* The request in flight on c failed; drop the connection and open another if needed. */
static void
request_failed(struct conn *c, short what, const char *why)
{
	struct loadgen *lg = c->lg;

	if (in_flight(c))
		lg->errors++;
	describe_error(c, what, why);
	conn_close(c);
	if (more_to_send(lg)) {
		lg->reconnects++;
		conn_open(c);
	}
	check_finished(lg);
}

/* Parses "HTTP/1.x NNN reason"; returns the status or -1. */
static int
parse_status_line(const char *line, int *http10)
{
	if (strncmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') ||
	    line[8] != ' ' || line[9] < '1' || line[9] > '5' ||
	    line[10] < '0' || line[10] > '9' || line[11] < '0' || line[11] > '9' ||
	    (line[12] != ' ' && line[12] != '\0'))
		return -1;
	*http10 = line[7] == '0';
	return (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
}

/* Applies one response header line; returns -1 when the response is unusable. */
static int
parse_header(struct conn *c, const char *line)
{
	const char *colon = strchr(line, ':'), *v;
	size_t name_len;
	char *end = NULL;
	long long n;

	if (colon == NULL)
		return -1;
	name_len = (size_t)(colon - line);
	v = colon + 1 + strspn(colon + 1, " \t");
	if (name_len == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
		errno = 0;
		n = strtoll(v, &end, 10);
		if (errno != 0 || end == v || n < 0 || (c->has_length && n != c->body_left))
			return -1;
		c->has_length = 1;
		c->body_left = n;
	} else if (name_len == 10 && strncasecmp(line, "Connection", 10) == 0) {
		if (strcasestr(v, "close") != NULL)
			c->close_after = 1;
		else if (strcasestr(v, "keep-alive") != NULL)
			c->close_after = 0;
	} else if (name_len == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
		c->chunked = 1;
	}
	return 0;
}

/* The blank line after the headers: decide how the body is delimited. */
static int
headers_done(struct conn *c)
{
	if (c->status < 200) {
		c->state = CONN_STATUS;	/* an interim response: the real one follows */
		return 0;
	}
	if (c->chunked)
		return -1;	/* neither server under test sends chunked replies */
	if (c->status == 204 || c->status == 304 || (c->has_length && c->body_left == 0)) {
		response_done(c);
		return 0;
	}
	if (c->has_length) {
		c->state = CONN_BODY;
	} else {
		c->state = CONN_BODY_EOF;
		c->close_after = 1;
	}
	return 0;
}

/* Reads one line; 1 = got one in *line (caller frees), 0 = need more, -1 = too long. */
static int
read_line(struct evbuffer *in, char **line)
{
	size_t n = 0;

	*line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF);
	if (*line != NULL)
		return n > MAX_LINE ? -1 : 1;
	return evbuffer_get_length(in) > MAX_LINE ? -1 : 0;
}

/*
 * Advances the response parser over what is buffered.  Returns 0 when it needs
 * more bytes or the connection was replaced (in is gone then), -1 on a
 * malformed response.
 */
static int
parse_response(struct conn *c, struct evbuffer *in)
{
	uint64_t gen = c->gen;
	char *line = NULL;
	size_t n;
	int http10 = 0, rc;

	for (;;) {
		if (c->gen != gen)
			return 0;
		switch (c->state) {
		case CONN_STATUS:
		case CONN_HEADERS:
			rc = read_line(in, &line);
			if (rc <= 0) {
				free(line);
				return rc;
			}
			if (c->state == CONN_STATUS) {
				c->status = parse_status_line(line, &http10);
				c->close_after = http10;
				c->state = CONN_HEADERS;
				rc = c->status < 0 ? -1 : 0;
			} else if (line[0] == '\0') {
				rc = headers_done(c);
			} else {
				rc = parse_header(c, line);
			}
			free(line);
			line = NULL;
			if (rc == -1)
				return -1;
			break;
		case CONN_BODY:
			n = evbuffer_get_length(in);
			if (n == 0)
				return 0;
			if ((int64_t)n > c->body_left)
				n = (size_t)c->body_left;
			evbuffer_drain(in, n);
			c->body_left -= (int64_t)n;
			if (c->body_left == 0)
				response_done(c);
			break;
		case CONN_BODY_EOF:
			evbuffer_drain(in, evbuffer_get_length(in));
			return 0;
		default:
			/* Bytes nobody asked for: pipelining is not used, so this is a broken server. */
			if (evbuffer_get_length(in) > 0 && c->state == CONN_READY)
				return -1;
			return 0;
		}
	}
}

static void
load_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (parse_response(c, bufferevent_get_input(bev)) == -1)
		request_failed(c, 0, "malformed response");
}

static int
all_ready(const struct loadgen *lg)
{
	size_t i;

	for (i = 0; i < lg->n_conns; i++)
		if (lg->conns[i].state != CONN_READY)
			return 0;
	return 1;
}

static void
load_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	struct loadgen *lg = c->lg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		c->state = CONN_READY;
		lg->connect_fails_in_row = 0;
		if (lg->started)
			conn_send_next(c);
		else if (all_ready(lg))
			start_load(lg);
		return;
	}
	if ((what & BEV_EVENT_EOF) && c->state == CONN_BODY_EOF) {
		response_done(c);
		return;
	}
	if (c->state == CONN_CONNECTING) {
		describe_error(c, what, "connect");
		if (!lg->started)
			die("cannot connect to %s port %s", lg->opt.host, lg->opt.port);
		if (++lg->connect_fails_in_row > MAX_CONNECT_FAILS)
			die("%d connects failed in a row, giving up", MAX_CONNECT_FAILS);
		conn_close(c);
		conn_open(c);
		return;
	}
	request_failed(c, what, in_flight(c) ? "request" : "idle connection");
}

static void
idle_report(struct loadgen *lg)
{
	if (lg->idle_reported || lg->idle_connected + lg->idle_failed < lg->opt.idle)
		return;
	lg->idle_reported = 1;
	printf("idle_connected=%zu\n", lg->idle_connected);
	if (lg->idle_failed > 0)
		printf("idle_failed=%zu\n", lg->idle_failed);
	fflush(stdout);
}

static void
idle_open_next(struct loadgen *lg)
{
	if (lg->idle_opened < lg->opt.idle)
		conn_open(&lg->conns[lg->idle_opened++]);
}

static void
idle_read_cb(struct bufferevent *bev, void *arg)
{
	(void)arg;
	evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
}

static void
idle_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	struct loadgen *lg = c->lg;

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		c->state = CONN_READY;
		lg->idle_connected++;
		idle_open_next(lg);
		idle_report(lg);
		return;
	}
	if (c->state == CONN_CONNECTING) {
		describe_error(c, what, "idle connect");
		lg->idle_failed++;
		conn_close(c);
		idle_open_next(lg);
		idle_report(lg);
		return;
	}
	lg->idle_closed++;
	conn_close(c);
}

static void
conn_open(struct conn *c)
{
	struct loadgen *lg = c->lg;
	SSL *ssl = SSL_new(lg->ssl_ctx);
	struct timeval tv = { IO_TIMEOUT_S, 0 };
	int one = 1;

	if (ssl == NULL)
		die("SSL_new failed");
	if (SSL_set_tlsext_host_name(ssl, SERVER_NAME) != 1 || SSL_set1_host(ssl, SERVER_NAME) != 1)
		die("cannot set the TLS server name");
	/* The bufferevent owns ssl from here on and frees it with itself. */
	c->bev = bufferevent_openssl_socket_new(lg->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL)
		die("out of memory creating a connection");
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	if (lg->opt.idle > 0) {
		bufferevent_setcb(c->bev, idle_read_cb, NULL, idle_event_cb, c);
	} else {
		bufferevent_setcb(c->bev, load_read_cb, NULL, load_event_cb, c);
		bufferevent_set_timeouts(c->bev, &tv, &tv);
	}
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->state = CONN_CONNECTING;
	/* A failure here (no local port left, say) is reported through the event callback. */
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&lg->addr, (int)lg->addr_len) == 0)
		setsockopt(bufferevent_getfd(c->bev), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Nearest-rank percentile of the sorted latencies, in milliseconds. */
static double
percentile_ms(const struct loadgen *lg, double q)
{
	size_t rank;

	if (lg->n_lat == 0)
		return 0.0;
	rank = (size_t)((double)lg->n_lat * q + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > lg->n_lat)
		rank = lg->n_lat;
	return lg->lat_us[rank - 1] / 1000.0;
}

static void
print_cpu(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) == -1)
		return;
	fprintf(stderr, "loadgen: cpu user %.2f s, sys %.2f s\n",
	    ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
	    ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
}

static void
print_load_results(struct loadgen *lg)
{
	double seconds;
	size_t i;

	if (lg->end_us == 0)
		lg->end_us = now_us();
	seconds = (lg->end_us - lg->start_us) / 1e6;
	qsort(lg->lat_us, lg->n_lat, sizeof(*lg->lat_us), cmp_u32);
	if (seconds <= 0)
		seconds = 1e-6;
	fprintf(stderr, "loadgen: run %s, statuses:", lg->run_id);
	for (i = 0; i < 600; i++)
		if (lg->status_counts[i] > 0)
			fprintf(stderr, " %zu=%" PRIu64, i, lg->status_counts[i]);
	fprintf(stderr, ", reconnects %" PRIu64 "\n", lg->reconnects);
	print_cpu();
	printf("requests=%" PRIu64 " ok=%" PRIu64 " errors=%" PRIu64
	    " seconds=%.3f rps=%.1f p50_ms=%.3f p99_ms=%.3f max_ms=%.3f",
	    lg->issued, lg->ok, lg->errors, seconds, lg->ok / seconds,
	    percentile_ms(lg, 0.50), percentile_ms(lg, 0.99),
	    lg->n_lat ? lg->lat_us[lg->n_lat - 1] / 1000.0 : 0.0);
	if (lg->opt.rate > 0)
		printf(" rate=%" PRIu64 " max_lag_ms=%.3f", lg->opt.rate, lg->max_lag_us / 1000.0);
	printf(" start_ms=%" PRId64 "\n", lg->start_unix_ms);
	fflush(stdout);
}

static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct loadgen *lg = arg;

	(void)fd;
	(void)what;
	event_base_loopbreak(lg->base);
}

static void
setup_idle_stop(struct loadgen *lg)
{
	struct timeval tv = { (time_t)lg->opt.hold_s, 0 };

	lg->sig_term = evsignal_new(lg->base, SIGTERM, stop_cb, lg);
	lg->sig_int = evsignal_new(lg->base, SIGINT, stop_cb, lg);
	if (lg->sig_term == NULL || lg->sig_int == NULL)
		die("cannot watch signals");
	evsignal_add(lg->sig_term, NULL);
	evsignal_add(lg->sig_int, NULL);
	if (lg->opt.hold_s > 0) {
		lg->hold_timer = evtimer_new(lg->base, stop_cb, lg);
		if (lg->hold_timer == NULL)
			die("out of memory");
		evtimer_add(lg->hold_timer, &tv);
	}
}

static void
run_idle(struct loadgen *lg)
{
	size_t i;

	raise_nofile();
	setup_idle_stop(lg);
	for (i = 0; i < IDLE_CONCURRENCY; i++)
		idle_open_next(lg);
	event_base_dispatch(lg->base);
	idle_report(lg);
	printf("idle_open=%zu\n", lg->idle_connected - lg->idle_closed);
	fflush(stdout);
}

static void
run_load(struct loadgen *lg)
{
	size_t i;

	if (lg->opt.graph_batch > 0) {
		setup_client_state(lg);
		lg->ok_status = 202;
		lg->body_cap = lg->opt.graph_batch * (GRAPH_ITEM_MAX + CLIENT_STATE_MAX) + 64;
	} else {
		setup_mac(lg);
		lg->ok_status = 200;
		lg->body_cap = lg->opt.body_size + 1;
	}
	make_run_id(lg);
	lg->body = xmalloc(lg->body_cap);
	lg->req_cap = lg->body_cap + strlen(lg->opt.path) + 1024;
	lg->req = xmalloc(lg->req_cap);
	if (lg->opt.requests > 0) {
		lg->cap_lat = lg->opt.requests;
		lg->lat_us = xreallocarray(NULL, lg->cap_lat, sizeof(*lg->lat_us));
	}
	for (i = 0; i < lg->n_conns; i++)
		conn_open(&lg->conns[i]);
	event_base_dispatch(lg->base);
	if (lg->pace_timer != NULL)
		event_free(lg->pace_timer);
	print_load_results(lg);
}

/*
 * The event loop.  epoll_wait sleeps in whole milliseconds, which would make a
 * paced request leave up to a millisecond after it is due, and that wait would
 * count in its latency: a precise timer (timerfd) avoids it.
 */
static struct event_base *
new_base(void)
{
	struct event_config *cfg = event_config_new();
	struct event_base *base;

	if (cfg == NULL)
		die("out of memory");
	event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	if (base == NULL)
		die("event_base_new failed");
	return base;
}

int
main(int argc, char **argv)
{
	struct loadgen lg;
	size_t i;

	memset(&lg, 0, sizeof(lg));
	parse_options(&lg.opt, argc, argv);
	/* A server closing while we write must be an error to count, not a death. */
	signal(SIGPIPE, SIG_IGN);
	resolve(&lg);
	setup_tls(&lg);
	lg.base = new_base();
	lg.n_conns = lg.opt.idle > 0 ? lg.opt.idle : lg.opt.connections;
	lg.conns = xreallocarray(NULL, lg.n_conns, sizeof(*lg.conns));
	memset(lg.conns, 0, lg.n_conns * sizeof(*lg.conns));
	for (i = 0; i < lg.n_conns; i++)
		lg.conns[i].lg = &lg;
	if (lg.opt.idle > 0)
		run_idle(&lg);
	else
		run_load(&lg);
	for (i = 0; i < lg.n_conns; i++)
		conn_close(&lg.conns[i]);
	if (lg.sig_term != NULL)
		event_free(lg.sig_term);
	if (lg.sig_int != NULL)
		event_free(lg.sig_int);
	if (lg.hold_timer != NULL)
		event_free(lg.hold_timer);
	EVP_MAC_CTX_free(lg.mac);
	OPENSSL_cleanse(lg.client_state, sizeof(lg.client_state));
	SSL_CTX_free(lg.ssl_ctx);
	event_base_free(lg.base);
	free(lg.conns);
	free(lg.lat_us);
	free(lg.body);
	free(lg.req);
	return lg.opt.idle > 0 ? (lg.idle_connected > 0 ? 0 : 1) : (lg.ok > 0 ? 0 : 1);
}
