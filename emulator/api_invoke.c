/* Invoke API handler (see include/lemu/api_invoke.h). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lemu/api_invoke.h"
#include "lemu/arn.h"
#include "lemu/aws_errors.h"
#include "lemu/function_meta.h"
#include "lemu/invoker.h"
#include "lemu/event_queue.h"
#include "lemu/fault_catalog.h"
#include "lemu/fault_rules.h"
#include "lemu/json_check.h"
#include "lemu/logs.h"
#include "lemu/metrics.h"
#include "lemu/registry.h"
#include "lemu/server.h"

#define INVOKE_DRY_RUN_STATUS 204
#define INVOKE_EVENT_STATUS 202
#define CREDENTIAL_KEY "Credential="

/* The region the caller signed for (Authorization: ... Credential=AKID/date/REGION/lambda/...),
 * else the configured one. Writes into out. */
static void caller_region(struct http_req *req, const struct lemu_ctx *ctx, char *out, size_t n)
{
  const char *auth = http_req_header(req, "Authorization");
  const char *c = auth ? strstr(auth, CREDENTIAL_KEY) : NULL;
  int slash = 0;

  snprintf(out, n, "%s", ctx->cfg.region);
  if (!c)
    return;
  for (c += strlen(CREDENTIAL_KEY); *c && *c != ',' && *c != ' '; c++) {
    if (*c == '/') {
      if (++slash == 2) {
        const char *end = strchr(c + 1, '/');
        size_t len = end ? (size_t)(end - c - 1) : 0;
        if (len > 0 && len < n) {
          memcpy(out, c + 1, len);
          out[len] = '\0';
        }
        return;
      }
    }
  }
}

static void send_validation(struct http_req *req, const char *rid, const char *value,
                            const char *field, const char *constraint)
{
  char *msg = aws_validation_message(value, field, constraint);

  aws_error_send(req, rid, AWS_ERR_VALIDATION, msg ? msg : "");
  free(msg);
}

/* Invoke, or with legacy_async the deprecated InvokeAsync: the same checks in the same order, an
 * Event that takes no qualifier, log type or client context, and its own size limit. */
static void invoke_serve(struct http_req *req, struct lemu_ctx *ctx, bool legacy_async)
{
  const char *raw_name = req->params[0];
  const char *q = legacy_async ? NULL : http_req_query(req, "Qualifier");
  const char *type = legacy_async ? AWS_INVOCATION_EVENT : http_req_header(req, AWS_HDR_INVOCATION_TYPE);
  const char *log_type = legacy_async ? NULL : http_req_header(req, AWS_HDR_LOG_TYPE);
  const char *cc = legacy_async ? NULL : http_req_header(req, AWS_HDR_CLIENT_CONTEXT);
  char rid[LEMU_UUID_LEN + 1], region[32], *arn = NULL, *detail = NULL, *cc_json = NULL;
  const char *qualifier;
  struct function_ref ref;
  struct function *fn;
  struct invocation *inv;
  struct blob *payload;
  bool event, dry_run, fired;
  struct fault_hit hit;
  char *body;
  size_t len;

  util_uuid(rid);
  caller_region(req, ctx, region, sizeof(region));
  if (strlen(raw_name) > ARN_MAX_FUNCTION_NAME_INPUT) {
    send_validation(req, rid, raw_name, "functionName", AWS_CONSTRAINT_FUNCTION_NAME_LENGTH);
    return;
  }
  if (!arn_parse_function(raw_name, &ref)) {
    send_validation(req, rid, raw_name, "functionName", AWS_CONSTRAINT_FUNCTION_NAME_PATTERN);
    return;
  }
  if (q && !arn_qualifier_valid(q)) {
    send_validation(req, rid, q, "qualifier", AWS_CONSTRAINT_QUALIFIER_PATTERN);
    return;
  }
  if (type && strcmp(type, AWS_INVOCATION_REQUEST_RESPONSE) && strcmp(type, AWS_INVOCATION_EVENT) &&
      strcmp(type, AWS_INVOCATION_DRY_RUN)) {
    send_validation(req, rid, type, "invocationType", AWS_CONSTRAINT_INVOCATION_TYPE);
    return;
  }
  if (log_type && strcmp(log_type, AWS_LOG_TYPE_NONE) && strcmp(log_type, AWS_LOG_TYPE_TAIL)) {
    send_validation(req, rid, log_type, "logType", AWS_CONSTRAINT_LOG_TYPE);
    return;
  }
  event = type && !strcmp(type, AWS_INVOCATION_EVENT);
  dry_run = type && !strcmp(type, AWS_INVOCATION_DRY_RUN);
  if (legacy_async && req->too_big) {
    aws_error_send(req, rid, AWS_ERR_REQUEST_TOO_LARGE, (size_t)API_INVOKE_MAX_LEGACY_ASYNC,
                   AWS_OPERATION_INVOKE_ASYNC);
    return;
  }
  if (req->too_big || (event && req->body.len > API_INVOKE_MAX_ASYNC)) {
    aws_error_send(req, rid, AWS_ERR_REQUEST_TOO_LARGE,
                   (size_t)(event ? API_INVOKE_MAX_ASYNC : API_INVOKE_MAX_SYNC), AWS_OPERATION_INVOKE);
    return;
  }
  if (ref.qualifier[0] && q && strcmp(ref.qualifier, q) != 0) {
    aws_error_send(req, rid, AWS_ERR_QUALIFIER_MISMATCH);
    return;
  }
  qualifier = ref.qualifier[0] ? ref.qualifier : q;
  arn = util_asprintf("arn:aws:lambda:%s:%s:function:%s%s%s", ref.region[0] ? ref.region : region,
                      ref.account[0] ? ref.account : ctx->cfg.account_id, ref.name,
                      qualifier ? ":" : "", qualifier ? qualifier : "");
  if (!arn) {
    aws_error_send(req, rid, AWS_ERR_SERVICE);
    return;
  }
  fn = registry_find(ctx->reg, ref.name);
  if (fn && ((ref.region[0] && strcmp(ref.region, region) != 0) ||
             (ref.account[0] && strcmp(ref.account, ctx->cfg.account_id) != 0)))
    fn = NULL;
  /* A version number or an alias runs that published version's own function object, so
   * X-Amz-Executed-Version is the version it resolved to. */
  if (fn)
    fn = fnmeta_resolve(fn, qualifier);
  if (!fn) {
    aws_error_send(req, rid, AWS_ERR_RESOURCE_NOT_FOUND, arn);
    goto out;
  }
  if (fnmeta_of(fn) && fnmeta_of(fn)->pending) {
    aws_error_send(req, rid, AWS_ERR_FUNCTION_STATE_CONFLICT, AWS_STATE_PENDING);
    goto out;
  }
  if (!json_check(req->body.data ? req->body.data : "", req->body.len, &detail)) {
    aws_error_send(req, rid, AWS_ERR_INVALID_REQUEST_CONTENT, detail ? detail : "");
    goto out;
  }
  if (cc && !event) {
    size_t cc_len = 0;
    cJSON *parsed;
    if (strlen(cc) > API_INVOKE_MAX_CLIENT_CONTEXT) {
      aws_error_send(req, rid, AWS_ERR_CLIENT_CONTEXT_TOO_LARGE);
      goto out;
    }
    cc_json = util_base64_decode(cc, strlen(cc), &cc_len);
    parsed = cc_json ? cJSON_ParseWithLength(cc_json, cc_len) : NULL;
    if (!parsed || !cJSON_IsObject(parsed)) {
      cJSON_Delete(parsed);
      aws_error_send(req, rid, AWS_ERR_INVALID_CLIENT_CONTEXT);
      goto out;
    }
    cJSON_Delete(parsed);
  }
  /* Faults: a synchronous call considers every rule. An Event or a DryRun call considers only the
   * kinds decided at the call (access denied: IAM answers before any queue, and a DryRun is that
   * very check); an Event's attempts are decided in the async queue. */
  fired = fault_engine_decide(ctx->faults, fn->cfg.name, req->body.data, req->body.len, cc_json,
                              util_epoch_ms(), event || dry_run ? FAULT_SCOPE_CALL : FAULT_SCOPE_ALL, &hit);
  if (fired) {
    logs_info("fault %s (%s) fired for request %s of %s", hit.id, hit.kind->name, rid, fn->cfg.name);
    if (fault_kind_answers_call(hit.kind)) {
      if (hit.kind->action == FAULT_THROTTLE)
        metrics_record_throttle(ctx->metrics, fn->cfg.name, rid);
      fault_catalog_send(req, rid, hit.kind, hit.params, raw_name); /* AWS's bytes, before any handler */
      goto out;
    }
  }
  if (dry_run) {
    struct MHD_Response *resp = http_resp_copy("", 0);
    http_resp_header(resp, AWS_HDR_REQUEST_ID, rid);
    http_req_send(req, INVOKE_DRY_RUN_STATUS, resp);
    goto out;
  }
  if (event) {
    /* Durable before the 202: the queue commits the event, then delivers it as capacity allows. */
    if (event_queue_push(ctx->evq, fn->cfg.name, qualifier, rid, req->body.data ? req->body.data : "",
                         req->body.len) != LEMU_ERR_OK) {
      aws_error_send(req, rid, AWS_ERR_SERVICE);
    } else {
      struct MHD_Response *resp = http_resp_copy("", 0);
      http_resp_header(resp, AWS_HDR_REQUEST_ID, rid);
      http_req_send(req, INVOKE_EVENT_STATUS, resp);
    }
    goto out;
  }
  body = buf_take(&req->body, &len);
  payload = blob_new_take(body, len);
  inv = payload ? invoker_create(ctx, fn, payload,
                                 qualifier || ref.region[0] || ref.account[0] ? arn : fn->arn)
                : NULL;
  if (!inv) {
    aws_error_send(req, rid, AWS_ERR_SERVICE);
    goto out;
  }
  memcpy(inv->request_id, rid, sizeof(inv->request_id)); /* the id any fault log line named */
  inv->client_context = cc_json;
  cc_json = NULL;
  if (log_type && !strcmp(log_type, AWS_LOG_TYPE_TAIL)) {
    /* Only these invocations carry the 4 KB ring: the rest stay small (a calloc per invoke). */
    inv->tail = malloc(sizeof(*inv->tail));
    if (!inv->tail) {
      aws_error_send(req, rid, AWS_ERR_SERVICE);
      invoker_abort(inv);
      goto out;
    }
    logs_tail_init(inv->tail);
  }
  if (fired)
    invoker_set_fault(inv, &hit);
  {
    const char *throttle = invoker_admit(inv);
    if (throttle) {
      aws_throttle_send(req, inv->request_id, throttle);
      invoker_abort(inv);
      goto out;
    }
  }
  invoker_attach_caller(inv, req); /* answered when the invocation ends */
  invoker_start(inv);
out:
  free(cc_json);
  free(detail);
  free(arn);
}

static void invoke_handler(struct http_req *req, void *cls)
{
  invoke_serve(req, cls, false);
}

static void invoke_async_handler(struct http_req *req, void *cls)
{
  invoke_serve(req, cls, true);
}

void api_not_found(struct http_req *req, void *ctx)
{
  char rid[LEMU_UUID_LEN + 1];

  (void)ctx;
  util_uuid(rid);
  aws_error_send(req, rid, AWS_ERR_UNKNOWN_OPERATION);
}

const struct http_route api_invoke_routes[] = {
  {.method = "POST", .pattern = "/2015-03-31/functions/{}/invocations", .fn = invoke_handler,
   .max_body = API_INVOKE_MAX_SYNC},
  /* InvokeAsync (deprecated): botocore's model puts a slash at the end, AWS's page does not. */
  {.method = "POST", .pattern = "/2014-11-13/functions/{}/invoke-async/", .fn = invoke_async_handler,
   .max_body = API_INVOKE_MAX_LEGACY_ASYNC},
  {.method = "POST", .pattern = "/2014-11-13/functions/{}/invoke-async", .fn = invoke_async_handler,
   .max_body = API_INVOKE_MAX_LEGACY_ASYNC},
};
const size_t api_invoke_n_routes = sizeof(api_invoke_routes) / sizeof(api_invoke_routes[0]);
