/* Control API handlers (see include/lemu/api_control.h). Bad input is answered like AWS answers
 * bad input (400 ValidationException, {"Type","message"}), with the message naming the field.
 * Every /lemu/v1/ route is wrapped by control_allowed(): the control token when one is set,
 * otherwise loopback callers only (docs/security.md). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

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
#define CONTROL_MAX_SEED 9007199254740992.0 /* 2^53: the largest range of integers a double holds */
#define CONTROL_MAX_SEED_TEXT "9007199254740992"

/* a and want equal, in a time that depends only on want's length (the configured token): a
 * caller cannot learn the token a byte at a time by timing wrong guesses. */
static bool token_equal(const char *a, const char *want)
{
  size_t la = strlen(a), lw = strlen(want), i;
  unsigned char diff = la != lw;

  for (i = 0; i < lw; i++)
    diff |= (unsigned char)((i < la ? a[i] : 0) ^ want[i]);
  return diff == 0;
}

/* The token the request carries: "Authorization: Bearer TOKEN" (scheme case-insensitive) or
 * "X-Lemu-Control-Token: TOKEN"; NULL when it carries neither. */
static const char *request_token(struct http_req *req)
{
  const char *auth = http_req_header(req, API_CONTROL_AUTH_HEADER);
  const char *x = http_req_header(req, API_CONTROL_TOKEN_HEADER);
  size_t n = strlen(API_CONTROL_BEARER);

  if (auth && strncasecmp(auth, API_CONTROL_BEARER, n) == 0 && auth[n] == ' ') {
    auth += n;
    while (*auth == ' ')
      auth++;
    return auth;
  }
  return x;
}

/* May this request use /lemu/v1/? When not, it is answered (401 / 403, the control API's error
 * format). The token itself is never logged. */
static bool control_allowed(struct http_req *req, const struct lemu_ctx *ctx)
{
  const char *want = ctx->cfg.control_token, *got;
  char rid[LEMU_UUID_LEN + 1];

  if (want) {
    got = request_token(req);
    if (got && token_equal(got, want))
      return true;
    util_uuid(rid);
    logs_debug("control API: %s %s refused: %s control token", req->method, req->path, got ? "wrong" : "no");
    aws_error_send(req, rid, got ? AWS_ERR_CONTROL_TOKEN_WRONG : AWS_ERR_CONTROL_TOKEN_MISSING);
    return false;
  }
  if (http_req_peer_is_loopback(req))
    return true;
  util_uuid(rid);
  logs_debug("control API: %s %s refused: not a loopback caller and no control token set", req->method, req->path);
  aws_error_send(req, rid, AWS_ERR_CONTROL_NOT_LOOPBACK);
  return false;
}

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

/* The FIS import's seed: a whole number from 0 to 2^53 (a JSON number is a double: above 2^53 not
 * every integer exists, and converting a negative, NaN or >= 2^64 value is undefined). */
static bool seed_from_json(const cJSON *j, uint64_t *seed)
{
  double d = cJSON_IsNumber(j) ? j->valuedouble : -1;

  if (!isfinite(d) || d < 0 || d > CONTROL_MAX_SEED || d != floor(d))
    return false;
  *seed = (uint64_t)d;
  return true;
}

/* The ?Seed= query: decimal digits only, same range. */
static bool seed_from_text(const char *text, uint64_t *seed)
{
  unsigned long long v;
  char *end;

  if (text[0] < '0' || text[0] > '9')
    return false; /* strtoull would accept "-1", " 1" and "+1" */
  errno = 0;
  v = strtoull(text, &end, 10);
  if (errno || *end || v > (unsigned long long)CONTROL_MAX_SEED)
    return false;
  *seed = v;
  return true;
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
  if (seed_j && !seed_from_json(seed_j, &seed)) {
    send_invalid(req, "Seed: expected an integer from 0 to " CONTROL_MAX_SEED_TEXT);
    goto out;
  }
  if (!seed_j && seed_q && !seed_from_text(seed_q, &seed)) {
    send_invalid(req, "Seed: expected an integer from 0 to " CONTROL_MAX_SEED_TEXT);
    goto out;
  }
  if (fault_engine_add_fis(ctx->faults, tmpl, seed, util_epoch_ms(), &ids, &message) != LEMU_ERR_OK) {
    send_invalid(req, message ? message : "template: invalid");
  } else {
    char *text = util_asprintf("{\"Ids\":%s}", ids);
    logs_info("FIS template imported as fault rules %s", ids);
    send_json(req, CONTROL_CREATED, text);
  }
out:
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

/* Each /lemu/v1/ handler behind control_allowed(). The live page's files (/lemu/ui) are static
 * and open; the data the page shows comes from /lemu/v1/ and is guarded like every other call. */
#define CONTROL_GUARDED(fn)                                                                       \
  static void fn##_guarded(struct http_req *req, void *cls)                                       \
  {                                                                                               \
    if (control_allowed(req, cls))                                                                \
      fn(req, cls);                                                                               \
  }
CONTROL_GUARDED(metrics_get)
CONTROL_GUARDED(ui_state)
CONTROL_GUARDED(ui_events)
CONTROL_GUARDED(queue_list)
CONTROL_GUARDED(destinations_list)
CONTROL_GUARDED(faults_add)
CONTROL_GUARDED(faults_list)
CONTROL_GUARDED(faults_clear)
CONTROL_GUARDED(faults_fis)
CONTROL_GUARDED(faults_delete)

const struct http_route api_control_routes[] = {
  {.method = "GET", .pattern = "/lemu/v1/metrics", .fn = metrics_get_guarded, .max_body = 0},
  {.method = "GET", .pattern = "/lemu/v1/state", .fn = ui_state_guarded, .max_body = 0},
  {.method = "GET", .pattern = "/lemu/v1/events", .fn = ui_events_guarded, .max_body = 0},
  {.method = "GET", .pattern = "/lemu/ui", .fn = ui_page, .max_body = 0},
  {.method = "GET", .pattern = "/lemu/ui/", .fn = ui_page, .max_body = 0},
  {.method = "GET", .pattern = "/lemu/ui/{}", .fn = ui_asset, .max_body = 0},
  {.method = "GET", .pattern = "/lemu/v1/queue", .fn = queue_list_guarded, .max_body = 0},
  {.method = "GET", .pattern = "/lemu/v1/destinations", .fn = destinations_list_guarded, .max_body = 0},
  {.method = "POST", .pattern = "/lemu/v1/faults", .fn = faults_add_guarded, .max_body = API_CONTROL_MAX_BODY},
  {.method = "GET", .pattern = "/lemu/v1/faults", .fn = faults_list_guarded, .max_body = 0},
  {.method = "DELETE", .pattern = "/lemu/v1/faults", .fn = faults_clear_guarded, .max_body = 0},
  {.method = "POST", .pattern = "/lemu/v1/faults/fis", .fn = faults_fis_guarded, .max_body = API_CONTROL_MAX_BODY},
  {.method = "DELETE", .pattern = "/lemu/v1/faults/{}", .fn = faults_delete_guarded, .max_body = 0},
};
const size_t api_control_n_routes = sizeof(api_control_routes) / sizeof(api_control_routes[0]);
