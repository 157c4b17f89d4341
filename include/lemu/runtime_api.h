/* The Runtime API (2018-06-01), server side, for every execution environment. Requests arrive on
 * the shared runtime daemon; the connection's tag (set when the environment's own socket accepted
 * it) says which environment is speaking, so no request can act on another environment. */
#ifndef LEMU_RUNTIME_API_H
#define LEMU_RUNTIME_API_H

#include <stddef.h>

#include "lemu/http_server.h"

#define RUNTIME_API_MAX_RESPONSE 6291556 /* 6 MiB + 100 bytes, as the RIE accepts */

extern const struct http_route runtime_api_routes[];
extern const size_t runtime_api_n_routes;
/* Answers paths that are not part of the Runtime API. */
void runtime_api_not_found(struct http_req *req, void *ctx);

#endif
