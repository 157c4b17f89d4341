/* Event invoke config API (reference §5): Put/Update/Get/Delete/List FunctionEventInvokeConfig
 * under /2019-09-25/functions/{FunctionName}/event-invoke-config, with AWS's validation errors;
 * the settings drive the async queue (event_queue). */
#ifndef LEMU_API_ASYNC_H
#define LEMU_API_ASYNC_H

#include <stddef.h>

#include "lemu/http_server.h"

#define API_ASYNC_MAX_BODY (64 * 1024)

extern const struct http_route api_async_routes[];
extern const size_t api_async_n_routes;

#endif
