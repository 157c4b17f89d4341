/* Runtime API handlers (see include/lemu/runtime_api.h). Each handler checks the environment's
 * state first and answers a request that does not fit it as the RIE does (InvalidRequestID,
 * InvalidStateTransition), so a confused or hostile runtime cannot disturb any invocation. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lemu/aws_errors.h"
#include "lemu/envpool.h"
#include "lemu/invoker.h"
#include "lemu/registry.h"
#include "lemu/runtime_api.h"
#include "lemu/server.h"

#define RT_ACCEPTED 202

static void rt_accepted(struct http_req *req)
{
  struct MHD_Response *resp = http_resp_copy(AWS_RAPI_OK_BODY, strlen(AWS_RAPI_OK_BODY));

  http_resp_header(resp, "Content-Type", AWS_CONTENT_TYPE_JSON);
  http_req_send_coalesced(req, RT_ACCEPTED, resp); /* with the next event when the runtime pipelines */
}

static struct env *rt_env(struct http_req *req)
{
  struct env *env = req->conn_tag;

  if (!env || env->state == ENV_DEAD) {
    aws_rapi_error_send(req, AWS_RAPI_INTERNAL);
    return NULL;
  }
  return env;
}

static const char *rt_state_name(const struct env *env)
{
  switch (env->state) {
  case ENV_STARTING:
    return AWS_RAPI_STATE_STARTED;
  case ENV_IDLE:
    return AWS_RAPI_STATE_READY;
  case ENV_BUSY:
    return AWS_RAPI_STATE_RUNNING;
  case ENV_ANSWERED:
    return AWS_RAPI_STATE_RESPONSE_SENT;
  default:
    return AWS_RAPI_STATE_READY;
  }
}

static void rt_bad_transition(struct http_req *req, const struct env *env, const char *to)
{
  aws_rapi_error_send(req, AWS_RAPI_INVALID_STATE_TRANSITION, rt_state_name(env), to,
                      AWS_RAPI_REASON_NOT_ALLOWED);
}

static void rt_next(struct http_req *req, void *cls)
{
  struct env *env = rt_env(req);

  (void)cls;
  if (!env)
    return;
  if (env->held) {
    /* Its invocation is held until its deadline by a timeout fault; the environment is killed
     * then, so this request just waits (answered when the environment goes). */
    envpool_hold_next(env, req);
    return;
  }
  if (env->state == ENV_BUSY || env->state == ENV_IDLE) {
    rt_bad_transition(req, env, AWS_RAPI_STATE_READY);
    return;
  }
  if (env->inv) {
    invoker_deliver(env->inv, env, req);
    return;
  }
  if (env->state == ENV_STARTING) {
    env->init_ms = (double)(util_now_us() - env->spawned_us) / 1000.0;
    loop_timer_stop(env->ctx->loop, &env->init_timer);
  }
  envpool_park(env, req); /* answered when an invocation arrives */
}

/* The invocation env runs, if id names it; otherwise answers req with the RIE's error. */
static struct invocation *rt_running(struct http_req *req, struct env *env, const char *to)
{
  const char *id = req->params[0];

  if (env->state == ENV_BUSY && env->inv && strcmp(id, env->inv->request_id) == 0)
    return env->inv;
  if (env->state == ENV_ANSWERED && strcmp(id, env->last_request_id) == 0)
    rt_bad_transition(req, env, to); /* already answered this one */
  else
    aws_rapi_error_send(req, AWS_RAPI_INVALID_REQUEST_ID);
  return NULL;
}

/* POST .../{id}/response and .../{id}/error: the same checks and the same 202; they differ in
 * the state they move to and in how the invocation ends (a result, or the function's error). */
static void rt_answer(struct http_req *req, const char *to, bool is_error)
{
  struct env *env = rt_env(req);
  struct invocation *inv;
  char *body;
  size_t len;

  if (!env || !(inv = rt_running(req, env, to)))
    return;
  if (req->too_big) {
    aws_rapi_error_send(req, AWS_RAPI_PAYLOAD_TOO_LARGE);
    invoker_finish_platform_error(inv, AWS_FN_RESPONSE_TOO_LARGE,
                                  aws_fn_error_body(AWS_FN_RESPONSE_TOO_LARGE));
    return;
  }
  if (inv->hold_answer) { /* a timeout fault: the answer is dropped, the deadline ends it */
    env->held = true;
    rt_accepted(req);
    return;
  }
  body = buf_take(&req->body, &len);
  rt_accepted(req);
  if (is_error)
    invoker_finish_function_error(inv, body, len, http_req_header(req, AWS_HDR_RT_ERROR_TYPE));
  else
    invoker_finish_response(inv, body, len, http_req_header(req, "Content-Type"));
}

static void rt_response(struct http_req *req, void *cls)
{
  (void)cls;
  rt_answer(req, AWS_RAPI_STATE_INVOCATION_RESPONSE, false);
}

static void rt_error(struct http_req *req, void *cls)
{
  (void)cls;
  rt_answer(req, AWS_RAPI_STATE_INVOCATION_ERROR, true);
}

static void rt_init_error(struct http_req *req, void *cls)
{
  struct env *env = rt_env(req);
  struct invocation *inv;
  char *body;
  size_t len;

  (void)cls;
  if (!env)
    return;
  if (env->state != ENV_STARTING) {
    rt_bad_transition(req, env, AWS_RAPI_STATE_INIT_ERROR);
    return;
  }
  if (req->too_big) {
    aws_rapi_error_send(req, AWS_RAPI_PAYLOAD_TOO_LARGE);
    return;
  }
  body = buf_take(&req->body, &len);
  rt_accepted(req);
  inv = env->inv;
  if (inv)
    invoker_finish_function_error(inv, body, len, http_req_header(req, AWS_HDR_RT_ERROR_TYPE));
  else
    free(body);
  envpool_kill(env); /* Lambda resets the sandbox after a failed init; the next invoke re-inits */
}

void runtime_api_not_found(struct http_req *req, void *ctx)
{
  (void)ctx;
  aws_rapi_error_send(req, AWS_RAPI_NOT_FOUND);
}

const struct http_route runtime_api_routes[] = {
  {.method = "GET", .pattern = "/2018-06-01/runtime/invocation/next", .fn = rt_next, .max_body = 0},
  {.method = "POST", .pattern = "/2018-06-01/runtime/invocation/{}/response", .fn = rt_response,
   .max_body = RUNTIME_API_MAX_RESPONSE},
  {.method = "POST", .pattern = "/2018-06-01/runtime/invocation/{}/error", .fn = rt_error,
   .max_body = RUNTIME_API_MAX_RESPONSE},
  {.method = "POST", .pattern = "/2018-06-01/runtime/init/error", .fn = rt_init_error,
   .max_body = RUNTIME_API_MAX_RESPONSE},
};
const size_t runtime_api_n_routes = sizeof(runtime_api_routes) / sizeof(runtime_api_routes[0]);
