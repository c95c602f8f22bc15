/*
 * explain: what an error answer from the identity platform, Graph or Nylas
 * means for rekey and what an operator does about it, in one line of static
 * text.  Pure: no I/O, no allocation.  `rekey doctor` and the daemon's
 * health conditions word the same fault the same way through it.
 */
#ifndef REKEY_PROTO_EXPLAIN_H
#define REKEY_PROTO_EXPLAIN_H

#include <stdint.h>

/* What an identity-platform error code means and its fix (static text), or NULL. */
const char *explain_aadsts(int64_t code);
/* What a Graph error answer means for the rotator and its fix (static text), or NULL. */
const char *explain_graph(long http_status, const char *graph_code);
/* What a Nylas API error answer means and its fix (static text), or NULL. */
const char *explain_nylas(long http_status, const char *nylas_type);

#endif
