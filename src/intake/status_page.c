#include "intake/status_page.h"
#include "intake/listener.h"
#include "intake/status_assets.h"

#include <event2/http.h>

/*
 * Answers GET and HEAD with one of the page's files; any other method gets
 * 405 (the page's routes change nothing), with the page's headers too.
 */
static void
serve(struct http_req *hr, const char *type, const unsigned char *data, size_t len)
{
	enum evhttp_cmd_type cmd = evhttp_request_get_command(hr->req);
	static const char refused[] = "method not allowed: GET or HEAD\n";

	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(hr->req), "Allow", "GET, HEAD");
		http_reply_page(hr, 405, "text/plain; charset=utf-8", refused, sizeof(refused) - 1);
		return;
	}
	http_reply_page(hr, 200, type, data, len);
}

void
status_page_html_handle(struct http_req *hr, const char *rest)
{
	(void)rest;
	serve(hr, "text/html; charset=utf-8", status_page_html, status_page_html_len);
}

void
status_page_css_handle(struct http_req *hr, const char *rest)
{
	(void)rest;
	serve(hr, "text/css; charset=utf-8", status_page_css, status_page_css_len);
}

void
status_page_js_handle(struct http_req *hr, const char *rest)
{
	(void)rest;
	serve(hr, "text/javascript; charset=utf-8", status_page_js, status_page_js_len);
}

/* The page's icon: without one the browser asks for /favicon.ico, a 404 in its console. */
void
status_page_svg_handle(struct http_req *hr, const char *rest)
{
	(void)rest;
	serve(hr, "image/svg+xml", status_page_svg, status_page_svg_len);
}
