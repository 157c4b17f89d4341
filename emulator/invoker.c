/* One invocation's life (see include/lemu/invoker.h). Every ending goes through inv_end(), which
 * logs END/REPORT once, answers the caller once, returns the environment to the pool state it
 * deserves, and frees the invocation: there is one place where an invocation dies. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "lemu/aws_errors.h"
#include "lemu/concurrency.h"
#include "lemu/envpool.h"
#include "lemu/fault_catalog.h"
#include "lemu/fault_rules.h"
#include <cjson/cJSON.h>
#include <signal.h>
#include "lemu/http_server.h"
#include "lemu/invoker.h"
#include "lemu/metrics.h"
#include "lemu/registry.h"
#include "lemu/server.h"

#define INV_STATUS_TIMEOUT "timeout"
#define INV_STATUS_ERROR "error"

static void on_timer(void *cls);

static void on_caller_closed(struct http_req *req, void *owner)
{
  struct invocation *inv = owner;

  (void)req;
  inv->caller = NULL; /* the function goes on running, as on Lambda */
}

static char *make_trace_id(void)
{
  char root[25], parent[17];

  util_random_hex(root, 24);
  util_random_hex(parent, 16);
  return util_asprintf("Root=1-%08llx-%s;Parent=%s;Sampled=0",
                       (unsigned long long)(util_epoch_ms() / 1000), root, parent);
}

struct invocation *invoker_create(struct lemu_ctx *ctx, struct function *fn, struct blob *payload_take,
                                  const char *invoked_arn)
{
  struct invocation *inv = calloc(1, sizeof(*inv));

  if (!inv) {
    blob_unref(payload_take);
    return NULL;
  }
  inv->ctx = ctx;
  inv->fn = function_ref(fn);
  inv->payload = payload_take;
  inv->version = fn->version;
  inv->fault = -1;
  inv->created_us = util_now_us();
  util_uuid(inv->request_id);
  inv->invoked_arn = util_strdup(invoked_arn);
  inv->trace_id = make_trace_id();
  loop_timer_init(&inv->timer, on_timer, inv);
  inv->all_next = ctx->invocations;
  if (ctx->invocations)
    ctx->invocations->all_prev = inv;
  ctx->invocations = inv;
  if (!inv->invoked_arn || !inv->trace_id) {
    invoker_abort(inv);
    return NULL;
  }
  return inv;
}

const char *invoker_admit(struct invocation *inv)
{
  struct function *counted = registry_find(inv->ctx->reg, inv->fn->cfg.name);
  enum concurrency_verdict v;

  if (!counted)
    counted = inv->fn; /* deleted meanwhile: count on the object itself */
  v = concurrency_acquire(inv->ctx, counted, &inv->slot_from_pool);
  if (v != CONCURRENCY_OK)
    metrics_record_throttle(inv->ctx->metrics, inv->fn->cfg.name, inv->request_id);
  if (v == CONCURRENCY_RESERVED_FULL)
    return AWS_REASON_RESERVED_CONCURRENCY;
  if (v == CONCURRENCY_ACCOUNT_FULL)
    return AWS_REASON_ACCOUNT_CONCURRENCY;
  inv->slot_fn = function_ref(counted);
  return NULL;
}

void invoker_attach_caller(struct invocation *inv, struct http_req *req)
{
  inv->caller = req;
  req->owner = inv;
  req->on_close = on_caller_closed;
}

static void inv_free(struct invocation *inv)
{
  if (inv->all_prev)
    inv->all_prev->all_next = inv->all_next;
  else if (inv->ctx->invocations == inv)
    inv->ctx->invocations = inv->all_next;
  if (inv->all_next)
    inv->all_next->all_prev = inv->all_prev;
  loop_timer_stop(inv->ctx->loop, &inv->timer);
  if (inv->caller) {
    inv->caller->on_close = NULL;
    inv->caller = NULL;
  }
  if (inv->slot_fn) {
    concurrency_release(inv->ctx, inv->slot_fn, inv->slot_from_pool);
    function_unref(inv->slot_fn);
  }
  blob_unref(inv->payload);
  free(inv->invoked_arn);
  free(inv->tail);
  free(inv->client_context);
  free(inv->trace_id);
  free(inv->fault_body);
  function_unref(inv->fn);
  free(inv);
}

void invoker_set_fault(struct invocation *inv, const struct fault_hit *hit)
{
  const cJSON *ms = hit->params ? cJSON_GetObjectItemCaseSensitive(hit->params, "Ms") : NULL;

  inv->fault = (int)hit->kind->action;
  switch (hit->kind->action) {
  case FAULT_LATENCY:
    inv->fault_latency_us = (uint64_t)((cJSON_IsNumber(ms) ? ms->valuedouble : 1000.0) * 1000.0);
    break;
  case FAULT_FUNCTION_ERROR:
    inv->fault_body = fault_catalog_function_error_body(hit->params);
    break;
  case FAULT_HTTP_RESPONSE:
    inv->fault_body = fault_catalog_http_response_body(hit->params);
    break;
  default:
    break;
  }
}

/* The one ending. fn_error: the answer carries X-Amz-Function-Error. status/error_type: REPORT's
 * Status and Error Type (NULL for a clean invoke). */
static void inv_end(struct invocation *inv, char *body, size_t len, const char *content_type,
                    bool fn_error, const char *status, const char *error_type, bool timed_out)
{
  struct env *env = inv->env;
  const char *name = inv->fn->cfg.name;
  struct logs_tail *tail = inv->tail;
  double duration_ms, init_ms = -1;
  int max_mb = 0;

  if (env) {
    envpool_drain_output(env);
    max_mb = envpool_max_memory_mb(env);
    if (env->init_ms >= 0) {
      init_ms = env->init_ms;
      env->init_ms = -1;
    }
  }
  if (inv->oom)
    max_mb = inv->fn->cfg.memory_mb;
  if (inv->phase != INV_RUNNING)
    logs_start(name, tail, inv->request_id, inv->version);
  if (timed_out)
    duration_ms = inv->fn->cfg.timeout_s * 1000.0;
  else
    duration_ms = (double)(util_now_us() - (inv->started_us ? inv->started_us : inv->created_us)) / 1000.0;
  logs_end(name, tail, inv->request_id);
  logs_report(name, tail, inv->request_id, duration_ms, inv->fn->cfg.memory_mb, max_mb, init_ms,
              status, error_type);
  {
    struct metrics_invocation mi = {
      .function = name, .request_id = inv->request_id, .duration_ms = duration_ms, .error = fn_error,
      .cold_start = init_ms >= 0, .async = inv->on_done != NULL,
      .outcome = timed_out ? METRICS_OUTCOME_TIMEOUT : inv->oom ? METRICS_OUTCOME_OOM
               : inv->fault >= 0 ? METRICS_OUTCOME_FAULT : fn_error ? METRICS_OUTCOME_ERROR
               : METRICS_OUTCOME_SUCCESS,
    };
    metrics_record_invocation(inv->ctx->metrics, &mi);
  }
  inv->phase = INV_DONE;
  loop_timer_stop(inv->ctx->loop, &inv->timer);
  if (inv->on_done)
    inv->on_done(inv, fn_error ? INV_OUTCOME_FUNCTION_ERROR : INV_OUTCOME_SUCCESS, body, len,
                 inv->on_done_cls);
  if (env) {
    env->inv = NULL;
    inv->env = NULL;
    if (env->state == ENV_BUSY) {
      env->state = ENV_ANSWERED;
      memcpy(env->last_request_id, inv->request_id, sizeof(env->last_request_id));
      env->last = fn_error ? ENV_LAST_ERROR : ENV_LAST_RESPONSE;
    }
    if (envpool_is_stale(env))
      envpool_kill(env); /* runs code or configuration that has since been replaced */
  }
  if (inv->caller) {
    struct http_req *req = inv->caller;
    struct MHD_Response *resp = http_resp_take(body, len);
    body = NULL;
    inv->caller = NULL;
    req->on_close = NULL;
    http_resp_header(resp, "Content-Type", content_type ? content_type : AWS_CONTENT_TYPE_JSON);
    http_resp_header(resp, AWS_HDR_REQUEST_ID, inv->request_id);
    http_resp_header(resp, AWS_HDR_EXECUTED_VERSION, inv->version);
    if (fn_error)
      http_resp_header(resp, AWS_HDR_FUNCTION_ERROR, AWS_FUNCTION_ERROR_UNHANDLED);
    if (tail) {
      char *b64 = logs_tail_base64(tail);
      http_resp_header(resp, AWS_HDR_LOG_RESULT, b64);
      free(b64);
    }
    http_req_send(req, 200, resp);
  }
  free(body);
  inv_free(inv);
}

static void spawn_for(struct invocation *inv, bool suppressed_init)
{
  struct env *env;
  int err;
  lemu_err_t rc;

  inv->phase = INV_QUEUED;
  rc = envpool_spawn(inv->ctx, inv->fn, inv, &env, &err);
  if (rc == LEMU_ERR_OK) {
    env->suppressed_init = suppressed_init;
    if (suppressed_init) /* its init runs under the invocation's deadline instead */
      loop_timer_stop(inv->ctx->loop, &env->init_timer);
    return;
  }
  {
    char text[128];
    aws_errno_text(err, text, sizeof(text));
    invoker_finish_platform_error(inv, AWS_FN_INVALID_ENTRYPOINT,
                                  aws_fn_error_body(AWS_FN_INVALID_ENTRYPOINT, inv->request_id,
                                                    inv->fn->exec_path, text));
  }
}

void invoker_start(struct invocation *inv)
{
  struct function *fn = inv->fn;
  struct env *env;

  if (inv->fault == FAULT_LATENCY && inv->fault_latency_us && !inv->delaying) {
    inv->delaying = true; /* dispatched when the timer fires (on_timer) */
    inv->phase = INV_QUEUED;
    loop_timer_start(inv->ctx->loop, &inv->timer, inv->fault_latency_us);
    return;
  }
  if (inv->fault == FAULT_FUNCTION_ERROR || inv->fault == FAULT_HTTP_RESPONSE) {
    /* Answered without running the handler, as the fault's table row says. */
    char *body = inv->fault_body;
    bool fn_error = inv->fault == FAULT_FUNCTION_ERROR;
    inv->fault_body = NULL;
    inv_end(inv, body, body ? strlen(body) : 0, NULL, fn_error, fn_error ? INV_STATUS_ERROR : NULL, NULL, false);
    return;
  }

  if (fn->missing_program) {
    invoker_finish_platform_error(inv, AWS_FN_RUNTIME_MISSING,
                                  aws_fn_error_body(AWS_FN_RUNTIME_MISSING, inv->request_id,
                                                    fn->missing_program));
    return;
  }
  env = envpool_take_idle(fn);
  if (env) {
    struct http_req *next_req = env->next_req;
    env->next_req = NULL;
    next_req->on_close = NULL;
    invoker_deliver(inv, env, next_req);
    return;
  }
  env = envpool_find_answered(inv->ctx, fn);
  if (env) {
    /* Its runtime is on its way back to GET /next: hand the invocation over there rather than
     * paying a cold start, but not for longer than the handoff window. */
    env->inv = inv;
    inv->env = env;
    inv->phase = INV_QUEUED;
    if (!inv->deadline_armed)
      loop_timer_start(inv->ctx->loop, &inv->timer, INVOKER_HANDOFF_US);
    return;
  }
  spawn_for(inv, false);
}

static void arm_deadline(struct invocation *inv)
{
  uint64_t timeout_ms = (uint64_t)inv->fn->cfg.timeout_s * 1000u;

  inv->deadline_armed = true;
  inv->deadline_epoch_ms = util_epoch_ms() + timeout_ms;
  loop_timer_start(inv->ctx->loop, &inv->timer, timeout_ms * 1000u);
}

void invoker_deliver(struct invocation *inv, struct env *env, struct http_req *next_req)
{
  struct MHD_Response *resp;
  char deadline[24];
  uint64_t now = util_now_us();

  if (env->state == ENV_STARTING) {
    env->init_ms = (double)(now - env->spawned_us) / 1000.0;
    loop_timer_stop(inv->ctx->loop, &env->init_timer);
  }
  env->state = ENV_BUSY;
  env->inv = inv;
  inv->env = env;
  inv->phase = INV_RUNNING;
  inv->started_us = now;
  if (!inv->deadline_armed)
    arm_deadline(inv);
  logs_start(inv->fn->cfg.name, inv->tail, inv->request_id, inv->version);
  resp = http_resp_blob(inv->payload);
  snprintf(deadline, sizeof(deadline), "%llu", (unsigned long long)inv->deadline_epoch_ms);
  http_resp_header(resp, "Content-Type", AWS_CONTENT_TYPE_JSON);
  http_resp_header(resp, AWS_HDR_RT_REQUEST_ID, inv->request_id);
  http_resp_header(resp, AWS_HDR_RT_DEADLINE_MS, deadline);
  http_resp_header(resp, AWS_HDR_RT_FUNCTION_ARN, inv->invoked_arn);
  http_resp_header(resp, AWS_HDR_RT_TRACE_ID, inv->trace_id);
  if (inv->client_context)
    http_resp_header(resp, AWS_HDR_RT_CLIENT_CONTEXT, inv->client_context);
  http_req_send(next_req, 200, resp);
  switch (inv->fault) {
  case FAULT_TIMEOUT:
    inv->hold_answer = true; /* it ends at its deadline, killed as a real timeout is */
    break;
  case FAULT_OOM:
    env->oom = true; /* reported as the memory limit's kill when reaped */
    kill(-env->pid, SIGKILL);
    break;
  case FAULT_CRASH:
    kill(-env->pid, SIGKILL);
    break;
  default:
    break;
  }
}

static void on_timer(void *cls)
{
  struct invocation *inv = cls;

  if (inv->delaying) {
    inv->fault_latency_us = 0; /* the injected latency is over: dispatch now */
    invoker_start(inv);
    return;
  }
  if (!inv->deadline_armed) {
    /* Handoff window over: the answered environment did not come back for it. */
    struct env *env = inv->env;
    if (env) {
      env->inv = NULL;
      inv->env = NULL;
    }
    spawn_for(inv, false);
    return;
  }
  {
    struct env *env = inv->env;
    char *body = aws_fn_error_body(AWS_FN_TIMEOUT, inv->request_id, (double)inv->fn->cfg.timeout_s);
    inv_end(inv, body, body ? strlen(body) : 0, NULL, true, INV_STATUS_TIMEOUT, NULL, true);
    if (env)
      envpool_kill(env); /* the whole process group; the next invoke is a cold start */
  }
}

void invoker_finish_response(struct invocation *inv, char *body_take, size_t len, const char *content_type)
{
  inv_end(inv, body_take, len, content_type, false, NULL, NULL, false);
}

void invoker_finish_function_error(struct invocation *inv, char *body_take, size_t len, const char *error_type)
{
  inv_end(inv, body_take, len, NULL, true, INV_STATUS_ERROR, error_type, false);
}

void invoker_finish_platform_error(struct invocation *inv, enum aws_fn_error id, char *body_take)
{
  inv_end(inv, body_take, body_take ? strlen(body_take) : 0, NULL, true, INV_STATUS_ERROR,
          aws_fn_error_type(id), false);
}

void invoker_env_died(struct invocation *inv, int wait_status, bool oom)
{
  char reason[64];
  char *body;

  if (oom) {
    inv->oom = true;
    aws_exit_reason(wait_status, reason, sizeof(reason));
    body = aws_fn_error_body(AWS_FN_OUT_OF_MEMORY, inv->request_id, reason);
    invoker_finish_platform_error(inv, AWS_FN_OUT_OF_MEMORY, body);
    return;
  }
  if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) {
    body = aws_fn_error_body(AWS_FN_EXIT_NO_REASON, inv->request_id);
  } else {
    aws_exit_reason(wait_status, reason, sizeof(reason));
    body = aws_fn_error_body(AWS_FN_EXIT, inv->request_id, reason);
  }
  invoker_finish_platform_error(inv, AWS_FN_EXIT, body);
}

void invoker_requeue(struct invocation *inv)
{
  uint64_t now_ms = util_epoch_ms(); /* read once: a second read past the deadline would make the
                                      * unsigned difference a timer of thousands of years */

  inv->env = NULL;
  loop_timer_stop(inv->ctx->loop, &inv->timer);
  if (inv->deadline_armed)
    loop_timer_start(inv->ctx->loop, &inv->timer,
                     (inv->deadline_epoch_ms > now_ms ? inv->deadline_epoch_ms - now_ms : 0) * 1000u);
  invoker_start(inv);
}

void invoker_init_timeout(struct invocation *inv)
{
  inv->env = NULL;
  if (!inv->deadline_armed)
    arm_deadline(inv);
  spawn_for(inv, true);
}

void invoker_abort(struct invocation *inv)
{
  if (inv->on_done)
    inv->on_done(inv, INV_OUTCOME_ABORTED, NULL, 0, inv->on_done_cls);
  if (inv->caller) {
    struct http_req *req = inv->caller;
    inv->caller = NULL;
    req->on_close = NULL;
    aws_error_send(req, inv->request_id, AWS_ERR_SERVICE);
  }
  inv_free(inv);
}

void invoker_abort_all(struct lemu_ctx *ctx)
{
  while (ctx->invocations) {
    struct invocation *inv = ctx->invocations;
    if (inv->env) {
      inv->env->inv = NULL;
      inv->env = NULL;
    }
    invoker_abort(inv);
  }
}
