#include "outbound/admin_client.h"
#include "lib/secret.h"
#include "lib/util.h"
#include "lib/wbuf.h"
#include "state/config.h"

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

/* The daemon's answers are short JSON documents. */
#define ANSWER_MAX (64 * 1024)

char *
admin_client_base(const struct config *cfg)
{
	const char *listen = cfg->listen, *colon = strrchr(listen, ':');
	const char *scheme = cfg->tls_cert != NULL ? "https" : "http";
	size_t hostlen = colon != NULL ? (size_t)(colon - listen) : strlen(listen);
	const char *port = colon != NULL ? colon + 1 : "";

	/* A wildcard listen address is reached on loopback. */
	if (hostlen == 0 || (hostlen == 7 && strncmp(listen, "0.0.0.0", 7) == 0))
		return xasprintf("%s://127.0.0.1:%s", scheme, port);
	if (hostlen == 4 && strncmp(listen, "[::]", 4) == 0)
		return xasprintf("%s://[::1]:%s", scheme, port);
	return xasprintf("%s://%.*s:%s", scheme, (int)hostlen, listen, port);
}

static size_t
write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct wbuf *b = arg;

	if (b->len + size * n > ANSWER_MAX)
		return 0;
	wbuf_add(b, data, size * n);
	return size * n;
}

static struct curl_slist *
headers_for(const struct config *cfg)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	struct wbuf auth = WBUF_INIT;
	struct secret *line;

	wbuf_add_str(&auth, "Authorization: Bearer ");
	if (cfg->admin_token != NULL)
		wbuf_add(&auth, cfg->admin_token->data, cfg->admin_token->len);
	line = wbuf_to_secret(&auth);
	h = curl_slist_append(h, (const char *)line->data);
	secret_free(line);
	return h;
}

int
admin_client_post(const struct config *cfg, const char *path, const char *body,
    long *status, char **answer, char **err)
{
	char *base = admin_client_base(cfg), *url = xasprintf("%s/api/v1/%s", base, path);
	struct curl_slist *h = headers_for(cfg);
	struct wbuf out = WBUF_INIT;
	CURL *c = curl_easy_init();
	CURLcode rc = CURLE_FAILED_INIT;

	if (c != NULL) {
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body != NULL ? body : "");
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
		curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)ADMIN_CLIENT_TIMEOUT_S);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		/* The daemon's certificate is checked like any other, against ca_file when set. */
		if (cfg->ca_file != NULL)
			curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca_file);
		rc = curl_easy_perform(c);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
		curl_easy_cleanup(c);
	}
	curl_slist_free_all(h);
	if (rc != CURLE_OK)
		*err = xasprintf("no daemon answered at %s (%s)", base, curl_easy_strerror(rc));
	free(url);
	free(base);
	if (rc != CURLE_OK) {
		wbuf_clear(&out);
		return -1;
	}
	*answer = wbuf_to_str(&out);
	return 0;
}

int
admin_client_listening(const struct config *cfg, char **where)
{
	char *base = admin_client_base(cfg), *url;
	const char *host = strstr(base, "://") + 3;
	CURL *c = curl_easy_init();
	CURLcode rc = CURLE_FAILED_INIT;

	/* A TCP connect only: whatever answers there, TLS or not, counts. */
	url = xasprintf("http://%s/", host);
	if (c != NULL) {
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_CONNECT_ONLY, 1L);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)ADMIN_CLIENT_CONNECT_S);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		rc = curl_easy_perform(c);
		curl_easy_cleanup(c);
	}
	free(url);
	*where = base;
	return rc == CURLE_OK ? 1 : 0;
}
