/* Control API handlers (see include/lemu/api_control.h). Bad input is answered like AWS answers
 * bad input (400 ValidationException, {"Type","message"}), with the message naming the field. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "lemu/api_control.h"
#include "lemu/aws_errors.h"
#include "lemu/event_queue.h"
#include "lemu/fault_rules.h"
#include "lemu/logs.h"
#include "lemu/metrics.h"
#include "lemu/ui.h"
#include "lemu/server.h"
#include "lemu/util.h"

#define CONTROL_CREATED 201
#define CONTROL_NO_CONTENT 204
#define CONTROL_OK 200

static void send_json(struct http_req *req, unsigned status, char *text_take)
{
  struct MHD_Response *resp = text_take ? http_resp_take(text_take, strlen(text_take)) : NULL;
  char rid[LEMU_UUID_LEN + 1];

  util_uuid(rid);
  http_resp_header(resp, "Content-Type", AWS_CONTENT_TYPE_JSON);
  http_resp_header(resp, AWS_HDR_REQUEST_ID, rid);
  http_req_send(req, status, resp);
}

static void send_invalid(struct http_req *req, const char *message)
{
  char rid[LEMU_UUID_LEN + 1];

  util_uuid(rid);
  aws_error_send(req, rid, AWS_ERR_VALIDATION, message);
}

static cJSON *parse_body(struct http_req *req)
{
  if (req->too_big) {
    send_invalid(req, "body: larger than 1 MB");
    return NULL;
  }
  {
    cJSON *j = cJSON_ParseWithLength(req->body.data ? req->body.data : "", req->body.len);
    if (!j)
      send_invalid(req, "body: expected JSON");
    return j;
  }
}

static void faults_add(struct http_req *req, void *cls)
{
  struct lemu_ctx *ctx = cls;
  cJSON *rule = parse_body(req);
  char *id = NULL, *message = NULL;

  if (!rule)
    return;
  if (fault_engine_add(ctx->faults, rule, util_epoch_ms(), &id, &message) != LEMU_ERR_OK) {
    send_invalid(req, message ? message : "rule: invalid");
  } else {
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "Id", id);
    logs_info("fault rule %s added: %s", id, req->body.data);
    send_json(req, CONTROL_CREATED, cJSON_PrintUnformatted(out));
    cJSON_Delete(out);
  }
  free(id);
  free(message);
  cJSON_Delete(rule);
}

static void faults_list(struct http_req *req, void *cls)
{
  struct lemu_ctx *ctx = cls;

  send_json(req, CONTROL_OK, fault_engine_list(ctx->faults));
}

static void faults_clear(struct http_req *req, void *cls)
{
  struct lemu_ctx *ctx = cls;

  fault_engine_clear(ctx->faults);
  logs_info("fault rules cleared");
  send_json(req, CONTROL_NO_CONTENT, util_strdup(""));
}

static void faults_delete(struct http_req *req, void *cls)
{
  struct lemu_ctx *ctx = cls;
  char rid[LEMU_UUID_LEN + 1];

  if (fault_engine_remove(ctx->faults, req->params[0])) {
    logs_info("fault rule %s removed", req->params[0]);
    send_json(req, CONTROL_NO_CONTENT, util_strdup(""));
    return;
  }
  util_uuid(rid);
  aws_error_send_raw(req, rid, 404, aws_error_type(AWS_ERR_RESOURCE_NOT_FOUND), false, false,
                     "No fault rule with this id");
}

static void faults_fis(struct http_req *req, void *cls)
{
  struct lemu_ctx *ctx = cls;
  cJSON *body = parse_body(req);
  const cJSON *tmpl, *seed_j;
  const char *seed_q = http_req_query(req, "Seed");
  char *ids = NULL, *message = NULL;
  uint64_t seed = 0;

  if (!body)
    return;
  /* Either the bare template, or {"Template": {...}, "Seed": N} (lemu extension). */
  tmpl = cJSON_GetObjectItemCaseSensitive(body, "Template");
  seed_j = cJSON_GetObjectItemCaseSensitive(body, "Seed");
  if (!tmpl)
    tmpl = body;
  if (cJSON_IsNumber(seed_j))
    seed = (uint64_t)seed_j->valuedouble;
  else if (seed_q)
    seed = strtoull(seed_q, NULL, 10);
  if (fault_engine_add_fis(ctx->faults, tmpl, seed, util_epoch_ms(), &ids, &message) != LEMU_ERR_OK) {
    send_invalid(req, message ? message : "template: invalid");
  } else {
    char *out = util_asprintf("{\"Ids\":%s}", ids);
    logs_info("FIS template imported as fault rules %s", ids);
    send_json(req, CONTROL_CREATED, out);
  }
  free(ids);
  free(message);
  cJSON_Delete(body);
}

static void queue_list(struct http_req *req, void *cls)
{
  struct lemu_ctx *ctx = cls;

  send_json(req, CONTROL_OK, event_queue_list(ctx->evq));
}

static void destinations_list(struct http_req *req, void *cls)
{
  struct lemu_ctx *ctx = cls;

  send_json(req, CONTROL_OK, event_queue_sink_list(ctx->evq, http_req_query(req, "arn")));
}

static void metrics_get(struct http_req *req, void *cls)
{
  char *text = metrics_render(cls);
  struct MHD_Response *resp;

  if (!text) {
    char rid[LEMU_UUID_LEN + 1];
    util_uuid(rid);
    aws_error_send(req, rid, AWS_ERR_SERVICE);
    return;
  }
  resp = http_resp_take(text, strlen(text));
  http_resp_header(resp, "Content-Type", METRICS_CONTENT_TYPE);
  http_req_send(req, CONTROL_OK, resp);
}

const struct http_route api_control_routes[] = {
  {.method = "GET", .pattern = "/lemu/v1/metrics", .fn = metrics_get, .max_body = 0},
  {.method = "GET", .pattern = "/lemu/v1/state", .fn = ui_state, .max_body = 0},
  {.method = "GET", .pattern = "/lemu/v1/events", .fn = ui_events, .max_body = 0},
  {.method = "GET", .pattern = "/lemu/ui", .fn = ui_page, .max_body = 0},
  {.method = "GET", .pattern = "/lemu/ui/", .fn = ui_page, .max_body = 0},
  {.method = "GET", .pattern = "/lemu/ui/{}", .fn = ui_asset, .max_body = 0},
  {.method = "GET", .pattern = "/lemu/v1/queue", .fn = queue_list, .max_body = 0},
  {.method = "GET", .pattern = "/lemu/v1/destinations", .fn = destinations_list, .max_body = 0},
  {.method = "POST", .pattern = "/lemu/v1/faults", .fn = faults_add, .max_body = API_CONTROL_MAX_BODY},
  {.method = "GET", .pattern = "/lemu/v1/faults", .fn = faults_list, .max_body = 0},
  {.method = "DELETE", .pattern = "/lemu/v1/faults", .fn = faults_clear, .max_body = 0},
  {.method = "POST", .pattern = "/lemu/v1/faults/fis", .fn = faults_fis, .max_body = API_CONTROL_MAX_BODY},
  {.method = "DELETE", .pattern = "/lemu/v1/faults/{}", .fn = faults_delete, .max_body = 0},
};
const size_t api_control_n_routes = sizeof(api_control_routes) / sizeof(api_control_routes[0]);
