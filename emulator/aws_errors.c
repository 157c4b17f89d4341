/* The AWS error catalog's tables and body builders (see include/lemu/aws_errors.h). Bodies are
 * built with cJSON, never with printf, so any message (quotes, control bytes) stays valid JSON. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "lemu/aws_errors.h"
#include "lemu/http_server.h"
#include "lemu/util.h"

#define AWS_TYPE_USER "User"
#define AWS_TYPE_SERVICE "Service"

struct api_error_row {
  unsigned status;
  const char *type;
  int body;
  const char *fmt;
};

static const struct api_error_row api_errors[] = {
#define AWS_API_ERROR_ROW(id, status, type, flags, fmt) {status, type, flags, fmt},
  AWS_API_ERROR_MAP(AWS_API_ERROR_ROW)
#undef AWS_API_ERROR_ROW
};

struct fn_error_row {
  const char *type;
  const char *fmt;
  bool message_first;
};

static const struct fn_error_row fn_errors[] = {
#define AWS_FN_ERROR_ROW(id, type, fmt, msg_first) {type, fmt, msg_first},
  AWS_FN_ERROR_MAP(AWS_FN_ERROR_ROW)
#undef AWS_FN_ERROR_ROW
};

struct rapi_error_row {
  unsigned status;
  const char *type;
  const char *fmt;
};

static const struct rapi_error_row rapi_errors[] = {
#define AWS_RAPI_ERROR_ROW(id, status, type, fmt) {status, type, fmt},
  AWS_RAPI_ERROR_MAP(AWS_RAPI_ERROR_ROW)
#undef AWS_RAPI_ERROR_ROW
};

unsigned aws_error_status(enum aws_api_error id)
{
  return id < AWS_ERR__COUNT ? api_errors[id].status : 500;
}

const char *aws_error_type(enum aws_api_error id)
{
  return id < AWS_ERR__COUNT ? api_errors[id].type : api_errors[AWS_ERR_SERVICE].type;
}

static char *vformat(const char *fmt, va_list ap)
{
  char *s = NULL;

  if (vasprintf(&s, fmt, ap) < 0)
    return NULL;
  return s;
}

void aws_error_send(struct http_req *req, const char *request_id, enum aws_api_error id, ...)
{
  const struct api_error_row *row = &api_errors[id < AWS_ERR__COUNT ? id : AWS_ERR_SERVICE];
  cJSON *body = cJSON_CreateObject();
  struct MHD_Response *resp = NULL;
  char *msg, *text = NULL;
  va_list ap;

  va_start(ap, id);
  msg = vformat(row->fmt, ap);
  va_end(ap);
  if (!body || !msg)
    goto out;
  if (row->body != AWS_BODY_UPPER_ONLY)
    cJSON_AddStringToObject(body, "Type", row->status >= 500 ? AWS_TYPE_SERVICE : AWS_TYPE_USER);
  cJSON_AddStringToObject(body, row->body == AWS_BODY_TYPE_LOWER ? "message" : "Message", msg);
  text = cJSON_PrintUnformatted(body);
  if (!text)
    goto out;
  resp = http_resp_take(text, strlen(text));
  http_resp_header(resp, "Content-Type", AWS_CONTENT_TYPE_JSON);
  http_resp_header(resp, AWS_HDR_ERROR_TYPE, row->type);
  http_resp_header(resp, AWS_HDR_REQUEST_ID, request_id);
out:
  free(msg);
  cJSON_Delete(body);
  http_req_send(req, row->status, resp); /* NULL resp: answered with a bare 500 */
}

void aws_throttle_send(struct http_req *req, const char *request_id, const char *reason)
{
  const struct api_error_row *row = &api_errors[AWS_ERR_TOO_MANY_REQUESTS];
  cJSON *body = cJSON_CreateObject();
  struct MHD_Response *resp = NULL;
  char *text = NULL;

  if (body) {
    cJSON_AddStringToObject(body, "Reason", reason);
    cJSON_AddStringToObject(body, "Type", AWS_TYPE_USER);
    /* The API's own rate limit says "Rate exceeded"; concurrency throttles "Rate Exceeded." */
    cJSON_AddStringToObject(body, "message", strcmp(reason, AWS_REASON_CALLER_RATE) == 0
                                               ? AWS_MESSAGE_CALLER_RATE : row->fmt);
    text = cJSON_PrintUnformatted(body);
  }
  cJSON_Delete(body);
  if (text) {
    resp = http_resp_take(text, strlen(text));
    http_resp_header(resp, "Content-Type", AWS_CONTENT_TYPE_JSON);
    http_resp_header(resp, AWS_HDR_ERROR_TYPE, row->type);
    http_resp_header(resp, AWS_HDR_REQUEST_ID, request_id);
    http_resp_header(resp, AWS_HDR_RETRY_AFTER, AWS_RETRY_AFTER_SECONDS);
  }
  http_req_send(req, row->status, resp);
}

char *aws_validation_message(const char *value, const char *field, const char *constraint)
{
  return util_asprintf("1 validation error detected: Value '%s' at '%s' failed to satisfy "
                       "constraint: %s", value, field, constraint);
}

static void validation_push(struct aws_validation *v, char *one);

void aws_validation_add(struct aws_validation *v, const char *value, const char *field,
                        const char *constraint)
{
  validation_push(v, value ? util_asprintf("Value '%s' at '%s' failed to satisfy constraint: %s", value, field, constraint)
                           : util_asprintf("Value null at '%s' failed to satisfy constraint: %s", field, constraint));
}

void aws_validation_add_sensitive(struct aws_validation *v, const char *field, const char *constraint)
{
  validation_push(v, util_asprintf("Value at '%s' failed to satisfy constraint: %s", field, constraint));
}

static void validation_push(struct aws_validation *v, char *one)
{
  char *joined;

  if (!one)
    return;
  joined = v->parts ? util_asprintf("%s; %s", v->parts, one) : one;
  if (joined != one)
    free(one);
  if (!joined)
    return;
  free(v->parts);
  v->parts = joined;
  v->n++;
}

char *aws_validation_take(struct aws_validation *v)
{
  char *msg = NULL;

  if (v->n > 0 && v->parts)
    msg = util_asprintf("%d validation error%s detected: %s", v->n, v->n == 1 ? "" : "s", v->parts);
  free(v->parts);
  v->parts = NULL;
  v->n = 0;
  return msg;
}

const char *aws_fn_error_type(enum aws_fn_error id)
{
  return id < AWS_FN__COUNT ? fn_errors[id].type : fn_errors[AWS_FN_EXIT].type;
}

char *aws_fn_error_body(enum aws_fn_error id, ...)
{
  const struct fn_error_row *row = &fn_errors[id < AWS_FN__COUNT ? id : AWS_FN_EXIT];
  cJSON *body = cJSON_CreateObject();
  char *msg, *text = NULL;
  va_list ap;

  va_start(ap, id);
  msg = vformat(row->fmt, ap);
  va_end(ap);
  if (body && msg) {
    if (row->message_first) {
      cJSON_AddStringToObject(body, "errorMessage", msg);
      cJSON_AddStringToObject(body, "errorType", row->type);
    } else {
      cJSON_AddStringToObject(body, "errorType", row->type);
      cJSON_AddStringToObject(body, "errorMessage", msg);
    }
    text = cJSON_PrintUnformatted(body);
  }
  free(msg);
  cJSON_Delete(body);
  return text;
}

/* Go's syscall.Signal strings, which is what Lambda's "signal: ..." texts are made of. */
static const struct {
  int sig;
  const char *text;
} go_signal_names[] = {
  {SIGHUP, "hangup"}, {SIGINT, "interrupt"}, {SIGQUIT, "quit"}, {SIGILL, "illegal instruction"},
  {SIGTRAP, "trace/breakpoint trap"}, {SIGABRT, "aborted"}, {SIGBUS, "bus error"},
  {SIGFPE, "floating point exception"}, {SIGKILL, "killed"}, {SIGUSR1, "user defined signal 1"},
  {SIGSEGV, "segmentation fault"}, {SIGUSR2, "user defined signal 2"}, {SIGPIPE, "broken pipe"},
  {SIGALRM, "alarm clock"}, {SIGTERM, "terminated"}, {SIGXCPU, "CPU time limit exceeded"},
  {SIGXFSZ, "file size limit exceeded"}, {SIGSYS, "bad system call"},
};

void aws_exit_reason(int st, char *out, size_t outlen)
{
  size_t i;

  if (WIFEXITED(st)) {
    snprintf(out, outlen, "exit status %d", WEXITSTATUS(st));
    return;
  }
  if (WIFSIGNALED(st)) {
    const char *name = NULL;
    for (i = 0; i < sizeof(go_signal_names) / sizeof(go_signal_names[0]); i++)
      if (go_signal_names[i].sig == WTERMSIG(st))
        name = go_signal_names[i].text;
    if (name)
      snprintf(out, outlen, "signal: %s%s", name, WCOREDUMP(st) ? " (core dumped)" : "");
    else
      snprintf(out, outlen, "signal: signal %d%s", WTERMSIG(st), WCOREDUMP(st) ? " (core dumped)" : "");
    return;
  }
  snprintf(out, outlen, "exit status %d", st);
}

void aws_errno_text(int err, char *out, size_t outlen)
{
  char tmp[128];
  const char *s = strerror_r(err, tmp, sizeof(tmp));

  snprintf(out, outlen, "%s", s);
  if (out[0])
    out[0] = (char)tolower((unsigned char)out[0]);
}

void aws_rapi_error_send(struct http_req *req, enum aws_rapi_error id, ...)
{
  const struct rapi_error_row *row = &rapi_errors[id < AWS_RAPI__COUNT ? id : AWS_RAPI_INTERNAL];
  cJSON *body = cJSON_CreateObject();
  struct MHD_Response *resp = NULL;
  char *msg, *text = NULL;
  va_list ap;

  va_start(ap, id);
  msg = vformat(row->fmt, ap);
  va_end(ap);
  if (body && msg) {
    cJSON_AddStringToObject(body, "errorMessage", msg);
    cJSON_AddStringToObject(body, "errorType", row->type);
    text = cJSON_PrintUnformatted(body);
  }
  if (text) {
    resp = http_resp_take(text, strlen(text));
    http_resp_header(resp, "Content-Type", AWS_CONTENT_TYPE_JSON);
  }
  free(msg);
  cJSON_Delete(body);
  http_req_send(req, row->status, resp);
}

void aws_error_send_raw(struct http_req *req, const char *request_id, unsigned status,
                        const char *type, bool lower_message_key, bool message_only,
                        const char *message)
{
  cJSON *body = cJSON_CreateObject();
  struct MHD_Response *resp = NULL;
  char *text = NULL;

  if (body) {
    if (!message_only)
      cJSON_AddStringToObject(body, "Type", status >= 500 ? AWS_TYPE_SERVICE : AWS_TYPE_USER);
    cJSON_AddStringToObject(body, lower_message_key ? "message" : "Message", message);
    text = cJSON_PrintUnformatted(body);
  }
  cJSON_Delete(body);
  if (text) {
    resp = http_resp_take(text, strlen(text));
    http_resp_header(resp, "Content-Type", AWS_CONTENT_TYPE_JSON);
    http_resp_header(resp, AWS_HDR_ERROR_TYPE, type);
    http_resp_header(resp, AWS_HDR_REQUEST_ID, request_id);
  }
  http_req_send(req, status, resp);
}

/* API Gateway: the proxy front's gateway responses (rows in aws_errors.h). */
struct apigw_response_row {
  unsigned status;
  const char *type;
  const char *body;
};

static const struct apigw_response_row apigw_responses[] = {
#define AWS_APIGW_RESPONSE_ROW(id, status, type, body) {status, type, body},
  AWS_APIGW_RESPONSE_MAP(AWS_APIGW_RESPONSE_ROW)
#undef AWS_APIGW_RESPONSE_ROW
};

unsigned aws_apigw_status(enum aws_apigw_response id)
{
  return apigw_responses[id < AWS_APIGW__COUNT ? id : AWS_APIGW_REST_INTERNAL].status;
}

const char *aws_apigw_error_type(enum aws_apigw_response id)
{
  return apigw_responses[id < AWS_APIGW__COUNT ? id : AWS_APIGW_REST_INTERNAL].type;
}

const char *aws_apigw_body(enum aws_apigw_response id)
{
  return apigw_responses[id < AWS_APIGW__COUNT ? id : AWS_APIGW_REST_INTERNAL].body;
}
