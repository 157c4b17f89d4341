/* lemu's own control API, on the Invoke port but outside AWS's namespace (design.md §4):
 * POST/GET/DELETE /lemu/v1/faults, DELETE /lemu/v1/faults/{id}, POST /lemu/v1/faults/fis. */
#ifndef LEMU_API_CONTROL_H
#define LEMU_API_CONTROL_H

#include <stddef.h>

#include "lemu/http_server.h"

#define API_CONTROL_MAX_BODY (1024 * 1024)
#define API_CONTROL_PREFIX "/lemu/v1"
/* With a control token set (Lemu.ControlToken, LEMU_CONTROL_TOKEN, --control-token), every
 * /lemu/v1/ request carries it in one of these headers (401 otherwise); without one, /lemu/v1/
 * answers loopback callers only (403 otherwise). The live page's files (/lemu/ui) stay open. */
#define API_CONTROL_TOKEN_HEADER "X-Lemu-Control-Token"
#define API_CONTROL_AUTH_HEADER "Authorization"
#define API_CONTROL_BEARER "Bearer" /* Authorization: Bearer TOKEN */
#define API_CONTROL_TOKEN_ENV "LEMU_CONTROL_TOKEN"

extern const struct http_route api_control_routes[];
extern const size_t api_control_n_routes;

#endif
