/* The management API: the part of Lambda's control plane that SDKs, the AWS CLI and IaC tools
 * call (CreateFunction, GetFunction, ListFunctions, UpdateFunctionCode/Configuration,
 * DeleteFunction, versions, concurrency, tags, policies), with AWS's validation errors and
 * function states. */
#ifndef LEMU_API_FUNCTIONS_H
#define LEMU_API_FUNCTIONS_H

#include <stddef.h>

#include "lemu/http_server.h"

extern const struct http_route api_functions_routes[];
extern const size_t api_functions_n_routes;

#endif
