#include "intake/status_page.h"
#include "intake/listener.h"
#include "intake/status_assets.h"

#include <string.h>


/* The page's files by what follows "/status" in the path. */
struct asset {
	const char *suffix;
	const char *type;
	const unsigned char *data;
	const size_t *len;
};

/*
 * The icon spares the browser a request for /favicon.ico, which would be a
 * 404 in its console.
 */
static const struct asset assets[] = {
	{ "", "text/html; charset=utf-8", status_page_html, &status_page_html_len },
	{ ".css", "text/css; charset=utf-8", status_page_css, &status_page_css_len },
	{ ".js", "text/javascript; charset=utf-8", status_page_js, &status_page_js_len },
	{ ".svg", "image/svg+xml", status_page_svg, &status_page_svg_len },
};

void
status_page_handle(struct http_req *hr, const char *rest)
{
	enum http_method cmd = hr->method;
	static const char refused[] = "method not allowed: GET or HEAD\n";
	static const char missing[] = "not found\n";
	const struct asset *a = NULL;
	size_t i;

	for (i = 0; i < sizeof(assets) / sizeof(assets[0]) && a == NULL; i++)
		if (strcmp(rest, assets[i].suffix) == 0)
			a = &assets[i];
	if (a == NULL) {
		http_reply_page(hr, 404, "text/plain; charset=utf-8", missing, sizeof(missing) - 1);
		return;
	}
	/* The page's files change nothing: GET and HEAD only, refused with the page's headers too. */
	if (cmd != HTTP_GET && cmd != HTTP_HEAD) {
		http_add_header(hr, "Allow", "GET, HEAD");
		http_reply_page(hr, 405, "text/plain; charset=utf-8", refused, sizeof(refused) - 1);
		return;
	}
	http_reply_page(hr, 200, a->type, a->data, *a->len);
}
