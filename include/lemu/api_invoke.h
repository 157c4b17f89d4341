/* The Invoke API: POST /2015-03-31/functions/{FunctionName}/invocations. Validates the request in
 * AWS's order and words (ValidationException, 413, ResourceNotFoundException,
 * InvalidRequestContentException), then hands a RequestResponse invocation to the invoker and keeps
 * the connection suspended until its result, answers Event with 202 and DryRun with 204.
 * Also the deprecated InvokeAsync (POST /2014-11-13/functions/{FunctionName}/invoke-async): an
 * Event, 256 KB at most, answered 202. */
#ifndef LEMU_API_INVOKE_H
#define LEMU_API_INVOKE_H

#include <stddef.h>

#include "lemu/http_server.h"

#define API_INVOKE_MAX_SYNC 6291456   /* 6 MB request body (reference §1.3) */
#define API_INVOKE_MAX_ASYNC 1048576  /* 1 MB for Event */
#define API_INVOKE_MAX_LEGACY_ASYNC 262144 /* 256 KB for InvokeAsync (its API page) */
#define API_INVOKE_MAX_CLIENT_CONTEXT 3583

extern const struct http_route api_invoke_routes[];
extern const size_t api_invoke_n_routes;
/* Answers any request under the API port that no route takes, as AWS does. */
void api_not_found(struct http_req *req, void *ctx);

#endif
