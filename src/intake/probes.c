#include "intake/probes.h"
#include "intake/listener.h"
#include "intake/loops.h"
#include "lib/log.h"
#include "lib/metrics.h"
#include "lib/util.h"
#include "state/journal.h"
#include "state/runtime.h"
#include "state/store.h"

#include <stdlib.h>

#include <event2/buffer.h>

void
probes_healthz(struct http_req *hr, const char *rest)
{
	(void)rest;
	http_reply_text(hr, 200, "ok");
}

void
probes_readyz(struct http_req *hr, const char *rest)
{
	(void)rest;
	if (hr->rt->draining)
		http_reply_text(hr, 503, "stopping");
	else if (hr->rt->cfg == NULL)
		http_reply_text(hr, 503, "config not loaded");
	else if (store_ping(hr->rt->store) == -1)
		http_reply_text(hr, 503, "store not writable");
	else
		http_reply_text(hr, 200, "ready");
}

void
probes_metrics(struct http_req *hr, const char *rest)
{
	struct evbuffer *buf = evbuffer_new();
	size_t len;
	char *text;

	(void)rest;
	if (buf == NULL)
		fatal("out of memory rendering metrics");
	/* On the main loop (its route says so): the loops are read from here. */
	if (hr->rt->loops != NULL)
		loops_publish_metrics(hr->rt->loops);
	metrics_gauge_set("rekey_journal_pending", "Events waiting for their batch to commit.", "",
	    (double)journal_pending_all(hr->rt->journal));
	metrics_render(buf);
	len = evbuffer_get_length(buf);
	text = xmalloc(len + 1);
	evbuffer_remove(buf, text, len);
	evbuffer_free(buf);
	http_reply(hr, 200, "text/plain; version=0.0.4", text, len);
	free(text);
}
