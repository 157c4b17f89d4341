/* The management API: the part of Lambda's control plane that SDKs, the AWS CLI and IaC tools
 * call (CreateFunction, GetFunction, ListFunctions, UpdateFunctionCode/Configuration,
 * DeleteFunction, versions, concurrency, tags, policies), with AWS's validation errors and
 * function states. */
#ifndef LEMU_API_FUNCTIONS_H
#define LEMU_API_FUNCTIONS_H

#include <stddef.h>

#include "lemu/err.h"
#include "lemu/http_server.h"

struct lemu_ctx;

#define API_FUNCTIONS_MAX_SMALL_BODY 65536 /* bodies of the small operations (tags, policy, ...) */
#define API_FUNCTIONS_LIST_PAGE 50         /* ListFunctions returns at most 50 per page */
#define API_FUNCTIONS_MAX_ITEMS 10000

extern const struct http_route api_functions_routes[];
extern const size_t api_functions_n_routes;

/* At start, after the registry holds the config file's functions: open the state dir's store
 * (cfg.state_dir, else the default; a temporary one when the default cannot be used), attach a
 * management record to every config function, load the stored functions (a config function of
 * the same name wins, and lemu says so) and delete unreferenced code directories. On failure
 * *message (malloc'd) says why. */
lemu_err_t api_functions_start(struct lemu_ctx *ctx, char **message);
/* At exit, after the registry is gone: close the store (and remove a temporary state dir). */
void api_functions_stop(struct lemu_ctx *ctx);

#endif
