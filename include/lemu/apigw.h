/* API Gateway proxy front (reference §8): a second HTTP port where the routes of the config's
 * SAM-style Events ({"Type": "Api" | "HttpApi", "Properties": {"Path", "Method"}}) turn requests
 * into Lambda proxy events (REST payload 1.0, HTTP API payload 2.0), run the function through the
 * invoker, and map its answer back to HTTP as API Gateway does: the proxy response contract,
 * HTTP API's inference, and the 502/500/504/503/403/404 gateway responses with their log lines. */
#ifndef LEMU_APIGW_H
#define LEMU_APIGW_H

#include <stdbool.h>
#include <stddef.h>

#include "lemu/err.h"

struct cJSON;
struct lemu_ctx;

#define APIGW_DEFAULT_HOST "127.0.0.1"
#define APIGW_DEFAULT_PORT 3000              /* as `sam local start-api` */
#define APIGW_REST_TIMEOUT_MS 29000u         /* REST integration timeout (hard limit) */
#define APIGW_HTTP_TIMEOUT_MS 30000u         /* HTTP API integration timeout */
#define APIGW_MIN_TIMEOUT_MS 50u             /* smallest TimeoutInMillis API Gateway accepts */
#define APIGW_MAX_REQUEST_BODY 10485760u     /* API Gateway's 10 MB payload quota */
#define APIGW_MAX_RESPONSE_HEADERS 10240u    /* header bytes of a mapped response, at most */
#define APIGW_MAX_SEGMENTS 64                /* path segments of a route or request */

/* Check one function's "Events" object. On a bad value returns false with *sub the key path below
 * Events ("Api.Properties.Path", "" for Events itself) and *message the reason in config's words
 * ("expected ..., got ..." or "unknown key (expected one of: ...)"); both malloc'd. */
bool apigw_events_check(const struct cJSON *events, char **sub, char **message);

/* Start the front when a function of ctx->cfg has Api / HttpApi events (ctx->apigw stays NULL
 * otherwise). On the default address a port already in use is a warning and no front; an address
 * given with --api-listen / Lemu.ApiListen must be bound (LEMU_ERR_HTTP). Routes that clash are a
 * configuration error (LEMU_ERR_CONFIG, reported on stderr). */
lemu_err_t apigw_start(struct lemu_ctx *ctx);
/* Tell the user where the front listens: "lemu: api gateway front on http://HOST:PORT" on
 * stderr (stdout's first line stays the Invoke URL). No-op without a front. */
void apigw_announce(struct lemu_ctx *ctx);
/* Stop the front: requests still waiting get 503, routes are freed. Safe when there is none. */
void apigw_stop(struct lemu_ctx *ctx);

/* ---- the proxy response contract, exposed for unit tests ---- */
struct apigw_header {
  char *name;
  char *value;
};

/* An HTTP answer built from a function's proxy response. All owned. */
struct apigw_response {
  unsigned status;
  struct apigw_header *headers;
  size_t n_headers;
  char *body;
  size_t body_len;
};

/* Map the function's answer (text, len bytes) to HTTP. rest: a REST API (unknown keys are
 * malformed); v2: payload format 2.0 (HTTP API's inference when statusCode is absent, cookies).
 * Returns false when the answer is malformed; *why (static text) says how. out is filled on
 * success only; free it with apigw_response_cleanup(). */
bool apigw_response_map(const char *text, size_t len, bool rest, bool v2, struct apigw_response *out,
                        const char **why);
void apigw_response_cleanup(struct apigw_response *r);

#endif
