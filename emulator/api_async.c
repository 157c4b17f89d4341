/* Event invoke config handlers (see include/lemu/api_async.h). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lemu/api_async.h"
#include "lemu/arn.h"
#include "lemu/aws_errors.h"
#include "lemu/event_queue.h"
#include "lemu/registry.h"
#include "lemu/server.h"
#include "lemu/util.h"

#define ASYNC_MAX_LIST_ITEMS 50

/* The function a path names, or NULL after answering 404/400. */
static struct function *async_function(struct http_req *req, struct lemu_ctx *ctx, const char *rid)
{
  struct function_ref ref;
  struct function *fn;
  char *arn;

  if (!arn_parse_function(req->params[0], &ref)) {
    char *msg = aws_validation_message(req->params[0], "functionName", AWS_CONSTRAINT_FUNCTION_NAME_PATTERN);
    aws_error_send(req, rid, AWS_ERR_VALIDATION, msg ? msg : "");
    free(msg);
    return NULL;
  }
  fn = registry_find(ctx->reg, ref.name);
  if (fn)
    return fn;
  arn = util_asprintf("arn:aws:lambda:%s:%s:function:%s", ctx->cfg.region, ctx->cfg.account_id, ref.name);
  aws_error_send(req, rid, AWS_ERR_RESOURCE_NOT_FOUND, arn ? arn : ref.name);
  free(arn);
  return NULL;
}

static bool check_int(struct http_req *req, const char *rid, const cJSON *body, const char *key,
                      const char *field, int lo, int hi)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
  char value[32], constraint[96];
  char *msg;

  if (!v || cJSON_IsNull(v))
    return true;
  if (cJSON_IsNumber(v) && v->valuedouble >= lo && v->valuedouble <= hi &&
      v->valuedouble == (double)(int)v->valuedouble)
    return true;
  if (cJSON_IsNumber(v))
    snprintf(value, sizeof(value), "%g", v->valuedouble);
  else
    snprintf(value, sizeof(value), "%s", cJSON_IsString(v) ? v->valuestring : "?");
  if (cJSON_IsNumber(v) && v->valuedouble > hi)
    snprintf(constraint, sizeof(constraint), "Member must have value less than or equal to %d", hi);
  else
    snprintf(constraint, sizeof(constraint), "Member must have value greater than or equal to %d", lo);
  msg = aws_validation_message(value, field, constraint);
  aws_error_send(req, rid, AWS_ERR_VALIDATION, msg ? msg : "");
  free(msg);
  return false;
}

/* Parse and validate a Put/Update body; NULL after answering the error. */
static cJSON *async_body(struct http_req *req, const char *rid)
{
  cJSON *body;
  const cJSON *d;

  body = req->body.len ? cJSON_ParseWithLength(req->body.data, req->body.len) : cJSON_CreateObject();
  if (!body || !cJSON_IsObject(body)) {
    cJSON_Delete(body);
    aws_error_send(req, rid, AWS_ERR_INVALID_PARAMETER_VALUE, "Could not parse request body into json");
    return NULL;
  }
  if (!check_int(req, rid, body, "MaximumRetryAttempts", "maximumRetryAttempts", 0, EVQ_DEFAULT_RETRIES) ||
      !check_int(req, rid, body, "MaximumEventAgeInSeconds", "maximumEventAgeInSeconds", EVQ_MIN_MAX_AGE_S,
                 EVQ_DEFAULT_MAX_AGE_S)) {
    cJSON_Delete(body);
    return NULL;
  }
  d = cJSON_GetObjectItemCaseSensitive(body, "DestinationConfig");
  if (d) {
    static const char *const which[] = {"OnSuccess", "OnFailure", NULL};
    size_t i;
    for (i = 0; which[i]; i++) {
      const cJSON *w = cJSON_GetObjectItemCaseSensitive(d, which[i]);
      const cJSON *arn = w ? cJSON_GetObjectItemCaseSensitive(w, "Destination") : NULL;
      if (arn && (!cJSON_IsString(arn) || strncmp(arn->valuestring, "arn:", 4) != 0)) {
        char *msg = aws_validation_message(cJSON_IsString(arn) ? arn->valuestring : "?",
                                           i ? "destinationConfig.onFailure.destination"
                                             : "destinationConfig.onSuccess.destination",
                                           "Member must satisfy regular expression pattern: "
                                           "^$|arn:(aws[a-zA-Z0-9-]*):([a-zA-Z0-9\\-])+:([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1})?:(\\d{12})?:(.*)");
        aws_error_send(req, rid, AWS_ERR_VALIDATION, msg ? msg : "");
        free(msg);
        cJSON_Delete(body);
        return NULL;
      }
    }
  }
  return body;
}

static void send_doc(struct http_req *req, const char *rid, unsigned status, char *text_take)
{
  struct MHD_Response *resp = http_resp_take(text_take, text_take ? strlen(text_take) : 0);

  http_resp_header(resp, "Content-Type", AWS_CONTENT_TYPE_JSON);
  http_resp_header(resp, AWS_HDR_REQUEST_ID, rid);
  http_req_send(req, status, resp);
}

static void put_or_update(struct http_req *req, void *cls, int merge)
{
  struct lemu_ctx *ctx = cls;
  char rid[LEMU_UUID_LEN + 1];
  struct function *fn;
  cJSON *body;

  util_uuid(rid);
  if (!(fn = async_function(req, ctx, rid)) || !(body = async_body(req, rid)))
    return;
  if (event_queue_put_config(ctx->evq, fn->cfg.name, body, merge) != LEMU_ERR_OK)
    aws_error_send(req, rid, AWS_ERR_SERVICE);
  else
    send_doc(req, rid, 200, event_queue_get_config(ctx->evq, fn->cfg.name, fn->arn));
  cJSON_Delete(body);
}

static void put_config(struct http_req *req, void *cls)
{
  put_or_update(req, cls, 0);
}

static void update_config(struct http_req *req, void *cls)
{
  put_or_update(req, cls, 1);
}

static void not_configured(struct http_req *req, const char *rid, const struct function *fn)
{
  char *msg = util_asprintf("The function %s:%s doesn't have an EventInvokeConfig", fn->arn, AWS_VERSION_LATEST);

  aws_error_send(req, rid, AWS_ERR_RESOURCE_NOT_FOUND_TEXT, msg ? msg : "");
  free(msg);
}

static void get_config(struct http_req *req, void *cls)
{
  struct lemu_ctx *ctx = cls;
  char rid[LEMU_UUID_LEN + 1], *doc;
  struct function *fn;

  util_uuid(rid);
  if (!(fn = async_function(req, ctx, rid)))
    return;
  doc = event_queue_get_config(ctx->evq, fn->cfg.name, fn->arn);
  if (!doc)
    not_configured(req, rid, fn);
  else
    send_doc(req, rid, 200, doc);
}

static void delete_config(struct http_req *req, void *cls)
{
  struct lemu_ctx *ctx = cls;
  char rid[LEMU_UUID_LEN + 1];
  struct function *fn;

  util_uuid(rid);
  if (!(fn = async_function(req, ctx, rid)))
    return;
  if (event_queue_delete_config(ctx->evq, fn->cfg.name) != LEMU_ERR_OK)
    not_configured(req, rid, fn);
  else
    send_doc(req, rid, 204, NULL);
}

static void list_configs(struct http_req *req, void *cls)
{
  struct lemu_ctx *ctx = cls;
  char rid[LEMU_UUID_LEN + 1], *doc;
  struct function *fn;
  cJSON *out, *arr;

  util_uuid(rid);
  if (!(fn = async_function(req, ctx, rid)))
    return;
  out = cJSON_CreateObject();
  arr = cJSON_AddArrayToObject(out, "FunctionEventInvokeConfigs");
  doc = event_queue_get_config(ctx->evq, fn->cfg.name, fn->arn);
  if (doc) {
    cJSON *one = cJSON_Parse(doc);
    if (one)
      cJSON_AddItemToArray(arr, one);
    free(doc);
  }
  send_doc(req, rid, 200, cJSON_PrintUnformatted(out));
  cJSON_Delete(out);
}

const struct http_route api_async_routes[] = {
  {.method = "PUT", .pattern = "/2019-09-25/functions/{}/event-invoke-config", .fn = put_config,
   .max_body = API_ASYNC_MAX_BODY},
  {.method = "POST", .pattern = "/2019-09-25/functions/{}/event-invoke-config", .fn = update_config,
   .max_body = API_ASYNC_MAX_BODY},
  {.method = "GET", .pattern = "/2019-09-25/functions/{}/event-invoke-config", .fn = get_config, .max_body = 0},
  {.method = "DELETE", .pattern = "/2019-09-25/functions/{}/event-invoke-config", .fn = delete_config,
   .max_body = 0},
  {.method = "GET", .pattern = "/2019-09-25/functions/{}/event-invoke-config/list", .fn = list_configs,
   .max_body = 0},
};
const size_t api_async_n_routes = sizeof(api_async_routes) / sizeof(api_async_routes[0]);
