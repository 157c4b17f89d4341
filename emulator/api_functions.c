/* Management API handlers (see include/lemu/api_functions.h). Each handler checks its request in
 * AWS's order -- body size, function, body (mg_begin, shared), model constraints (ValidationException,
 * all failures in one message), then semantics (InvalidParameterValueException, conflicts, 404) --
 * before it changes anything, so a refused request leaves no trace. Changes go to the registry (what
 * runs), the function's record (what is reported) and the store (what survives a restart), in order. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lemu/api_functions.h"
#include "lemu/event_queue.h"
#include "lemu/fault_rules.h"
#include "lemu/arn.h"
#include "lemu/aws_errors.h"
#include "lemu/code_package.h"
#include "lemu/config.h"
#include "lemu/envpool.h"
#include "lemu/function_meta.h"
#include "lemu/json_check.h"
#include "lemu/logs.h"
#include "lemu/registry.h"
#include "lemu/server.h"
#include "lemu/store.h"
#include "lemu/util.h"

#define MG_STATUS_OK 200
#define MG_STATUS_CREATED 201
#define MG_STATUS_NO_CONTENT 204
#define MG_MAX_CREATE_NAME 140
#define MG_MAX_HANDLER 128
#define MG_MAX_DESCRIPTION 256
#define MG_MAX_ALIAS 128
#define MG_MAX_STATEMENT_ID 100
#define MG_MIN_TIMEOUT 1
#define MG_MIN_EPHEMERAL 512
#define MG_SMALL_GET_BODY 4096
#define MG_TMP_STATE_TEMPLATE "/tmp/lemu-state-XXXXXX"
#define MG_LOCAL_SHA_PREFIX "lemu-local:"

/* One request being handled, and what its preamble (mg_begin) found. */
struct mg {
  struct lemu_ctx *ctx;
  struct http_req *req;
  char rid[LEMU_UUID_LEN + 1];
  struct function_ref ref;  /* the function path parameter, parsed */
  struct function *fn;      /* its $LATEST */
  struct function *target;  /* what the qualifier names (= fn without one) */
  struct fnmeta *m;         /* fn's management record */
  const char *q;            /* the qualifier, "" when none (points into ref) */
  cJSON *body;              /* the request body, a JSON object; mg_end frees it */
};

/* What a handler needs before it runs (mg_begin), checked in this order. */
enum mg_needs {
  MG_FUNCTION = 1 << 0,  /* params[0] is a FunctionName: 400 when malformed, 404 when unknown */
  MG_QUALIFIER = 1 << 1, /* the same, with the Qualifier query (a version or an alias) */
  MG_RESOURCE = 1 << 2,  /* params[0] is a function's ARN (the tagging operations) */
  MG_BODY = 1 << 3,      /* the body is a JSON object ({} when empty) */
};

static void mg_init(struct mg *g, struct http_req *req, void *cls)
{
  memset(g, 0, sizeof(*g));
  g->ctx = cls;
  g->req = req;
  util_uuid(g->rid);
}

/* Answer with a JSON body (taken; NULL = empty body, for 204). */
static void mg_send(struct mg *g, unsigned status, cJSON *body)
{
  char *text = body ? cJSON_PrintUnformatted(body) : util_strdup("");
  struct MHD_Response *resp;

  cJSON_Delete(body);
  if (!text) {
    aws_error_send(g->req, g->rid, AWS_ERR_SERVICE);
    return;
  }
  resp = http_resp_take(text, strlen(text));
  if (status != MG_STATUS_NO_CONTENT)
    http_resp_header(resp, "Content-Type", AWS_CONTENT_TYPE_JSON);
  http_resp_header(resp, AWS_HDR_REQUEST_ID, g->rid);
  http_req_send(g->req, status, resp);
}

static void mg_validation(struct mg *g, struct aws_validation *v)
{
  char *msg = aws_validation_take(v);

  aws_error_send(g->req, g->rid, AWS_ERR_VALIDATION, msg ? msg : "");
  free(msg);
}

static void mg_validation1(struct mg *g, const char *value, const char *field, const char *constraint)
{
  struct aws_validation v = {0};

  aws_validation_add(&v, value, field, constraint);
  mg_validation(g, &v);
}

/* The request body as a JSON object ({} when empty). Answers and returns NULL when it is not. */
static cJSON *mg_body(struct mg *g)
{
  const char *p = g->req->body.data ? g->req->body.data : "";
  size_t len = g->req->body.len;
  char *detail = NULL;
  cJSON *o;

  if (json_check(p, len, &detail) && len > 0 && (o = cJSON_ParseWithLength(p, len)) != NULL) {
    if (cJSON_IsObject(o))
      return o;
    cJSON_Delete(o);
    aws_error_send(g->req, g->rid, AWS_ERR_REQUEST_NOT_JSON, "the request body is not a JSON object");
    return NULL;
  }
  if (!detail && len == 0) /* no body at all: an operation without input members */
    return cJSON_CreateObject();
  aws_error_send(g->req, g->rid, AWS_ERR_REQUEST_NOT_JSON, detail ? detail : "invalid JSON");
  free(detail);
  return NULL;
}

static char *function_arn(const struct lemu_ctx *ctx, const char *name, const char *qualifier)
{
  return util_asprintf("arn:aws:lambda:%s:%s:function:%s%s%s", ctx->cfg.region, ctx->cfg.account_id,
                       name, qualifier && *qualifier ? ":" : "", qualifier && *qualifier ? qualifier : "");
}

static void mg_not_found(struct mg *g, const char *name, const char *qualifier)
{
  char *arn = function_arn(g->ctx, name, qualifier);

  aws_error_send(g->req, g->rid, AWS_ERR_RESOURCE_NOT_FOUND, arn ? arn : name);
  free(arn);
}

/* The function the FunctionName path parameter (and, with use_query, the Qualifier query) names,
 * into g->ref, fn, target, m and q. Answers and returns false on failure. */
static bool mg_find(struct mg *g, bool use_query)
{
  const char *raw = g->req->params[0];
  const char *q = use_query ? http_req_query(g->req, "Qualifier") : NULL;
  struct function_ref *ref = &g->ref;
  struct function *fn;

  if (strlen(raw) > ARN_MAX_FUNCTION_NAME_INPUT) {
    mg_validation1(g, raw, "functionName", AWS_CONSTRAINT_FUNCTION_NAME_LENGTH);
    return false;
  }
  if (!arn_parse_function(raw, ref)) {
    mg_validation1(g, raw, "functionName", AWS_CONSTRAINT_FUNCTION_NAME_PATTERN);
    return false;
  }
  if (q && !arn_qualifier_valid(q)) {
    mg_validation1(g, q, "qualifier", AWS_CONSTRAINT_QUALIFIER_PATTERN);
    return false;
  }
  if (ref->qualifier[0] && q && strcmp(ref->qualifier, q) != 0) {
    aws_error_send(g->req, g->rid, AWS_ERR_QUALIFIER_MISMATCH);
    return false;
  }
  if (!ref->qualifier[0] && q)
    snprintf(ref->qualifier, sizeof(ref->qualifier), "%s", q);
  g->q = ref->qualifier;
  fn = registry_find(g->ctx->reg, ref->name);
  if (fn && ((ref->region[0] && strcmp(ref->region, g->ctx->cfg.region) != 0) ||
             (ref->account[0] && strcmp(ref->account, g->ctx->cfg.account_id) != 0)))
    fn = NULL;
  g->target = fn && fnmeta_of(fn) ? fnmeta_resolve(fn, ref->qualifier) : NULL;
  if (!g->target) {
    mg_not_found(g, ref->name, ref->qualifier);
    return false;
  }
  g->fn = fn;
  g->m = fnmeta_of(fn);
  return true;
}

/* The function a tagging operation's resource ARN names, into g->ref, fn and m. */
static bool mg_resource(struct mg *g)
{
  const char *raw = g->req->params[0];

  if (!arn_parse_function(raw, &g->ref)) {
    mg_validation1(g, raw, "resource", AWS_CONSTRAINT_FUNCTION_NAME_PATTERN);
    return false;
  }
  g->fn = registry_find(g->ctx->reg, g->ref.name);
  if (!g->fn || !fnmeta_of(g->fn)) {
    mg_not_found(g, g->ref.name, g->ref.qualifier);
    return false;
  }
  g->m = fnmeta_of(g->fn);
  return true;
}

/* The preamble of every handler but the two that need nothing: the request id, then what needs
 * asks for, in AWS's order. operation names the operation in RequestEntityTooLargeException (with
 * the route's body limit, the one http_server enforced); NULL for the routes with a small limit,
 * whose oversized bodies arrive empty. Answers and returns false when something fails; a handler
 * that asked for MG_BODY and got true ends with mg_end. */
static bool mg_begin(struct mg *g, struct http_req *req, void *cls, unsigned needs, const char *operation)
{
  mg_init(g, req, cls);
  if (operation && req->too_big) {
    aws_error_send(req, g->rid, AWS_ERR_REQUEST_TOO_LARGE, req->route->max_body, operation);
    return false;
  }
  if ((needs & (MG_FUNCTION | MG_QUALIFIER)) && !mg_find(g, needs & MG_QUALIFIER))
    return false;
  if ((needs & MG_RESOURCE) && !mg_resource(g))
    return false;
  return !(needs & MG_BODY) || (g->body = mg_body(g)) != NULL;
}

static void mg_end(struct mg *g)
{
  cJSON_Delete(g->body);
  g->body = NULL;
}

/* Code and configuration changes are refused while the function is Pending or updating. */
static bool mg_modifiable(struct mg *g)
{
  if (g->m->pending) {
    aws_error_send(g->req, g->rid, AWS_ERR_FUNCTION_STATE_CONFLICT, AWS_STATE_PENDING);
    return false;
  }
  if (g->m->updating) {
    aws_error_send(g->req, g->rid, AWS_ERR_UPDATE_IN_PROGRESS, g->fn->arn);
    return false;
  }
  return true;
}

/* The body's RevisionId, when it has one, must be the function's. */
static bool mg_revision_matches(struct mg *g)
{
  const cJSON *r = cJSON_GetObjectItemCaseSensitive(g->body, "RevisionId");

  if (cJSON_IsString(r) && strcmp(r->valuestring, g->m->revision_id) != 0) {
    aws_error_send(g->req, g->rid, AWS_ERR_REVISION_MISMATCH);
    return false;
  }
  return true;
}

/* ---- a function definition (CreateFunction / UpdateFunctionConfiguration input) ---- */

struct fdef {
  const char *name, *role, *runtime, *handler, *description;
  const char *tracing, *arch, *package_type, *log_format, *log_group;
  const char *dlq;    /* DeadLetterConfig.TargetArn ("" removes it on update) */
  bool has_timeout, has_memory, has_ephemeral, has_env, publish;
  int timeout, memory, ephemeral;
  int n_arch;
  const cJSON *vars;  /* Environment.Variables (object) */
  const cJSON *code;  /* Code (object) */
  const cJSON *tags;  /* Tags (object) */
  const char *bad;    /* first member with a JSON type the model does not allow */
};

static const cJSON *fd_get(const cJSON *o, const char *key)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

  return cJSON_IsNull(v) ? NULL : v;
}

static void fd_str(struct fdef *d, const cJSON *o, const char *key, const char **out)
{
  const cJSON *v = fd_get(o, key);

  if (!v)
    return;
  if (cJSON_IsString(v))
    *out = v->valuestring;
  else if (!d->bad)
    d->bad = key;
}

static void fd_int(struct fdef *d, const cJSON *o, const char *key, bool *has, int *out)
{
  const cJSON *v = fd_get(o, key);

  if (!v)
    return;
  /* Range first: casting 1e300 to an integer is undefined (found by tests/fuzz mgmt_body). */
  if (cJSON_IsNumber(v) && v->valuedouble > INT_MIN && v->valuedouble < INT_MAX &&
      v->valuedouble == (double)(int)v->valuedouble) {
    *has = true;
    *out = (int)v->valuedouble;
  } else if (!d->bad) {
    d->bad = key;
  }
}

static const cJSON *fd_obj(struct fdef *d, const cJSON *o, const char *key)
{
  const cJSON *v = fd_get(o, key);

  if (v && !cJSON_IsObject(v)) {
    if (!d->bad)
      d->bad = key;
    return NULL;
  }
  return v;
}

static bool fd_strings_only(const cJSON *o)
{
  const cJSON *it;

  cJSON_ArrayForEach(it, o)
    if (!cJSON_IsString(it))
      return false;
  return true;
}

static void fd_parse(const cJSON *body, struct fdef *d)
{
  const cJSON *o, *a;

  memset(d, 0, sizeof(*d));
  fd_str(d, body, "FunctionName", &d->name);
  fd_str(d, body, "Role", &d->role);
  fd_str(d, body, "Runtime", &d->runtime);
  fd_str(d, body, "Handler", &d->handler);
  fd_str(d, body, "Description", &d->description);
  fd_str(d, body, "PackageType", &d->package_type);
  fd_int(d, body, "Timeout", &d->has_timeout, &d->timeout);
  fd_int(d, body, "MemorySize", &d->has_memory, &d->memory);
  if ((o = fd_obj(d, body, "EphemeralStorage")))
    fd_int(d, o, "Size", &d->has_ephemeral, &d->ephemeral);
  if ((o = fd_obj(d, body, "TracingConfig")))
    fd_str(d, o, "Mode", &d->tracing);
  if ((o = fd_obj(d, body, "DeadLetterConfig"))) /* {} leaves the function's DLQ as it is */
    fd_str(d, o, "TargetArn", &d->dlq);
  if ((o = fd_obj(d, body, "LoggingConfig"))) {
    fd_str(d, o, "LogFormat", &d->log_format);
    fd_str(d, o, "LogGroup", &d->log_group);
  }
  if ((o = fd_obj(d, body, "Environment"))) {
    d->has_env = true;
    d->vars = fd_obj(d, o, "Variables");
    if (d->vars && !fd_strings_only(d->vars) && !d->bad)
      d->bad = "Variables";
  }
  a = fd_get(body, "Architectures");
  if (a) {
    if (!cJSON_IsArray(a) || (cJSON_GetArraySize(a) > 0 && !cJSON_IsString(a->child))) {
      if (!d->bad)
        d->bad = "Architectures";
    } else {
      d->n_arch = cJSON_GetArraySize(a);
      d->arch = d->n_arch > 0 ? a->child->valuestring : NULL;
    }
  }
  d->code = fd_obj(d, body, "Code");
  d->tags = fd_obj(d, body, "Tags");
  if (d->tags && !fd_strings_only(d->tags) && !d->bad)
    d->bad = "Tags";
  o = fd_get(body, "Publish");
  d->publish = cJSON_IsTrue(o);
}

/* arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+ */
static bool role_valid(const char *s)
{
  int i;

  if (strncmp(s, "arn:", 4) != 0)
    return false;
  s += 4;
  if (strncmp(s, "aws", 3) == 0)
    for (s += 3; isalpha((unsigned char)*s) || *s == '-'; s++)
      ;
  if (strncmp(s, ":iam::", 6) != 0)
    return false;
  s += 6;
  for (i = 0; i < 12; i++)
    if (!isdigit((unsigned char)s[i]))
      return false;
  s += 12;
  if (strncmp(s, ":role", 5) != 0)
    return false;
  s += 5;
  if (!*s)
    return false;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && !strchr("_+=,.@-/", *s))
      return false;
  return true;
}

/* (arn:(aws[a-zA-Z-]*)?:[a-z0-9-.]+:.*)|(), a whole match (no line break in .*) */
static bool dlq_pattern_valid(const char *s)
{
  const char *service;

  if (!*s)
    return true;
  if (strncmp(s, "arn:", 4) != 0)
    return false;
  s += 4;
  if (strncmp(s, "aws", 3) == 0)
    for (s += 3; isalpha((unsigned char)*s) || *s == '-'; s++)
      ;
  if (*s++ != ':')
    return false;
  for (service = s; islower((unsigned char)*s) || isdigit((unsigned char)*s) || *s == '-' || *s == '.'; s++)
    ;
  return s > service && *s == ':' && !strpbrk(s, "\r\n");
}

static bool handler_valid(const char *h)
{
  if (!h[0])
    return false;
  for (; *h; h++)
    if (isspace((unsigned char)*h))
      return false;
  return true;
}

static void add_range(struct aws_validation *v, bool has, int value, const char *field, int lo, int hi)
{
  char num[24], constraint[96];

  if (!has || (value >= lo && value <= hi))
    return;
  snprintf(num, sizeof(num), "%d", value);
  snprintf(constraint, sizeof(constraint), value < lo ? AWS_CONSTRAINT_MIN_FMT : AWS_CONSTRAINT_MAX_FMT,
           value < lo ? lo : hi);
  aws_validation_add(v, num, field, constraint);
}

static void add_max_length(struct aws_validation *v, const char *s, const char *field, int max)
{
  char constraint[96];

  if (!s || strlen(s) <= (size_t)max)
    return;
  snprintf(constraint, sizeof(constraint), AWS_CONSTRAINT_MAX_LENGTH_FMT, max);
  aws_validation_add(v, s, field, constraint);
}

/* Model constraints of a definition, in the model's member order. */
static void fd_validate(const struct fdef *d, bool create, struct aws_validation *v)
{
  if (create) {
    struct function_ref ref;
    char constraint[96];
    if (!d->name) {
      aws_validation_add(v, NULL, "functionName", AWS_CONSTRAINT_NOT_NULL);
    } else if (strlen(d->name) > MG_MAX_CREATE_NAME) {
      snprintf(constraint, sizeof(constraint), AWS_CONSTRAINT_MAX_LENGTH_FMT, MG_MAX_CREATE_NAME);
      aws_validation_add(v, d->name, "functionName", constraint);
    } else if (!arn_parse_function(d->name, &ref) || !config_function_name_valid(ref.name) ||
               (ref.qualifier[0] && strcmp(ref.qualifier, AWS_VERSION_LATEST) != 0)) {
      aws_validation_add(v, d->name, "functionName", AWS_CONSTRAINT_CREATE_NAME_PATTERN);
    }
  }
  if (create && !d->role)
    aws_validation_add(v, NULL, "role", AWS_CONSTRAINT_NOT_NULL);
  else if (d->role && !role_valid(d->role))
    aws_validation_add(v, d->role, "role", AWS_CONSTRAINT_ROLE_PATTERN);
  if (d->handler) {
    if (strlen(d->handler) > MG_MAX_HANDLER)
      add_max_length(v, d->handler, "handler", MG_MAX_HANDLER);
    else if (!handler_valid(d->handler))
      aws_validation_add(v, d->handler, "handler", AWS_CONSTRAINT_HANDLER_PATTERN);
  }
  if (create && !d->code)
    aws_validation_add(v, NULL, "code", AWS_CONSTRAINT_NOT_NULL);
  add_max_length(v, d->description, "description", MG_MAX_DESCRIPTION);
  add_range(v, d->has_timeout, d->timeout, "timeout", MG_MIN_TIMEOUT, CONFIG_MAX_TIMEOUT_S);
  add_range(v, d->has_memory, d->memory, "memorySize", CONFIG_MIN_MEMORY_MB, CONFIG_MAX_MEMORY_MB);
  if (d->package_type && strcmp(d->package_type, AWS_PACKAGE_ZIP) && strcmp(d->package_type, AWS_PACKAGE_IMAGE))
    aws_validation_add(v, d->package_type, "packageType", AWS_CONSTRAINT_PACKAGE_TYPE);
  if (d->dlq && !dlq_pattern_valid(d->dlq))
    aws_validation_add(v, d->dlq, "deadLetterConfig.targetArn", AWS_CONSTRAINT_DLQ_TARGET_PATTERN);
  if (d->vars) {
    const cJSON *it;
    cJSON_ArrayForEach(it, d->vars)
      if (!config_env_key_valid(it->string)) {
        aws_validation_add_sensitive(v, "environment.variables", AWS_CONSTRAINT_ENV_KEYS);
        break;
      }
  }
  if (d->tracing && strcmp(d->tracing, AWS_TRACING_ACTIVE) && strcmp(d->tracing, AWS_TRACING_PASS_THROUGH))
    aws_validation_add(v, d->tracing, "tracingConfig.mode", AWS_CONSTRAINT_TRACING_MODE);
  if (d->n_arch > 1)
    aws_validation_add(v, "[...]", "architectures", "Member must have length less than or equal to 1");
  else if (d->arch && strcmp(d->arch, AWS_ARCH_X86_64) && strcmp(d->arch, AWS_ARCH_ARM64))
    aws_validation_add(v, d->arch, "architectures", AWS_CONSTRAINT_ARCHITECTURES);
  add_range(v, d->has_ephemeral, d->ephemeral, "ephemeralStorage.size", MG_MIN_EPHEMERAL, CONFIG_MAX_EPHEMERAL_MB);
  if (d->log_format && strcmp(d->log_format, AWS_LOG_FORMAT_JSON) && strcmp(d->log_format, AWS_LOG_FORMAT_TEXT))
    aws_validation_add(v, d->log_format, "loggingConfig.logFormat", "Member must satisfy enum value set: [JSON, Text]");
}

/* The body as a function definition (CreateFunction, UpdateFunctionConfiguration). Answers and
 * returns false when a member has a JSON type the model does not allow or breaks a constraint. */
static bool mg_definition(struct mg *g, bool create, struct fdef *d)
{
  struct aws_validation v = {0};

  fd_parse(g->body, d);
  if (d->bad) {
    aws_error_send(g->req, g->rid, AWS_ERR_REQUEST_NOT_JSON, d->bad);
    return false;
  }
  fd_validate(d, create, &v);
  if (v.n) {
    mg_validation(g, &v);
    return false;
  }
  return true;
}

/* Runtimes Lambda still offers that lemu does not emulate (everything else unknown is worded as
 * a retired runtime, which is what Lambda answers for those). */
static bool runtime_is_real_but_not_emulated(const char *rt)
{
  static const char *const prefixes[] = {"java", "dotnet", "ruby", NULL};
  size_t i;

  for (i = 0; prefixes[i]; i++)
    if (strncmp(rt, prefixes[i], strlen(prefixes[i])) == 0)
      return true;
  return false;
}

static bool mg_runtime(struct mg *g, const char *rt, enum runtime_kind *kind)
{
  if (config_runtime_kind(rt, kind))
    return true;
  aws_error_send(g->req, g->rid, runtime_is_real_but_not_emulated(rt) ? AWS_ERR_RUNTIME_NOT_EMULATED
                                                                      : AWS_ERR_RUNTIME_DEPRECATED, rt);
  return false;
}

/* DeadLetterConfig.TargetArn past the model's pattern: an SQS queue or SNS topic; "" only
 * removes a DLQ (UpdateFunctionConfiguration), CreateFunction refuses it. */
static bool mg_dead_letter(struct mg *g, const char *arn, bool create)
{
  const char *service = arn ? strchr(arn, ':') : NULL;

  if (!arn || (!*arn && !create))
    return true;
  if (!*arn) {
    aws_error_send(g->req, g->rid, AWS_ERR_DLQ_ARN_EMPTY, arn);
    return false;
  }
  service = service ? strchr(service + 1, ':') : NULL; /* arn:PARTITION:SERVICE:... */
  if (service && (strncmp(service + 1, "sqs:", 4) == 0 || strncmp(service + 1, "sns:", 4) == 0))
    return true;
  aws_error_send(g->req, g->rid, AWS_ERR_DLQ_ARN_NOT_SQS_SNS, arn);
  return false;
}

static void strv_free(char **v)
{
  size_t i;

  for (i = 0; v && v[i]; i++)
    free(v[i]);
  free(v);
}

/* Environment.Variables: AWS's 4 KB limit (measured as compact JSON) and reserved keys. On
 * success *env is a NULL-terminated "K=V" list (malloc'd). */
static bool mg_env(struct mg *g, const cJSON *vars, char ***env, size_t *n_env)
{
  char *compact = vars ? cJSON_PrintUnformatted(vars) : NULL, *reserved = NULL;
  const cJSON *it;
  size_t n = 0;
  bool ok = false;

  *env = calloc((size_t)(vars ? cJSON_GetArraySize(vars) : 0) + 1, sizeof(char *));
  *n_env = 0;
  if (!*env || (vars && !compact)) {
    aws_error_send(g->req, g->rid, AWS_ERR_SERVICE);
    goto out;
  }
  if (compact && strlen(compact) > CONFIG_MAX_ENV_BYTES) {
    aws_error_send(g->req, g->rid, AWS_ERR_ENV_TOO_LARGE, compact);
    goto out;
  }
  cJSON_ArrayForEach(it, vars) {
    if (config_env_key_reserved(it->string)) {
      char *r = reserved ? util_asprintf("%s, %s", reserved, it->string) : util_strdup(it->string);
      free(reserved);
      reserved = r;
    }
  }
  if (reserved) {
    aws_error_send(g->req, g->rid, AWS_ERR_ENV_RESERVED, reserved);
    goto out;
  }
  cJSON_ArrayForEach(it, vars) {
    if (!((*env)[n] = util_asprintf("%s=%s", it->string, it->valuestring))) {
      aws_error_send(g->req, g->rid, AWS_ERR_SERVICE);
      goto out;
    }
    *n_env = ++n;
  }
  ok = true;
out:
  if (!ok) {
    strv_free(*env);
    *env = NULL;
    *n_env = 0;
  }
  free(reserved);
  free(compact);
  return ok;
}

/* ---- code ---- */

struct code_result {
  char *dir;                 /* code directory (malloc'd) */
  bool local;                /* served in place */
  char sha[CODE_PACKAGE_SHA_B64_LEN + 1];
  unsigned long long size;
};

static void code_result_discard(struct lemu_ctx *ctx, struct code_result *c)
{
  if (c->dir && !c->local && ctx->store)
    store_remove_code_dir(ctx->store, c->dir);
  free(c->dir);
  c->dir = NULL;
}

/* Materialise the code that src (Code for CreateFunction, the body for UpdateFunctionCode)
 * names: a ZipFile unpacked into the state dir, or a local directory (lemu-local). */
static bool mg_code(struct mg *g, const cJSON *src, const char *fn_name, const char *op,
                    struct code_result *out)
{
  const char *zip_b64 = NULL, *bucket = NULL, *key = NULL, *image = NULL;
  struct fdef scratch = {0};

  memset(out, 0, sizeof(*out));
  fd_str(&scratch, src, "ZipFile", &zip_b64);
  fd_str(&scratch, src, "S3Bucket", &bucket);
  fd_str(&scratch, src, "S3Key", &key);
  fd_str(&scratch, src, "ImageUri", &image);
  if (scratch.bad) {
    aws_error_send(g->req, g->rid, AWS_ERR_REQUEST_NOT_JSON, scratch.bad);
    return false;
  }
  if (zip_b64) {
    size_t len = 0;
    char *zip = util_base64_decode(zip_b64, strlen(zip_b64), &len), *reason = NULL;
    struct code_package info;
    lemu_err_t rc;
    if (!zip) {
      aws_error_send(g->req, g->rid, AWS_ERR_ZIP_CORRUPT);
      return false;
    }
    if (len > AWS_MAX_ZIPPED) {
      free(zip);
      aws_error_send(g->req, g->rid, AWS_ERR_REQUEST_TOO_LARGE, (size_t)AWS_MAX_CODE_REQUEST, op);
      return false;
    }
    out->dir = g->ctx->store ? store_new_code_dir(g->ctx->store) : NULL;
    if (!out->dir) {
      free(zip);
      aws_error_send(g->req, g->rid, AWS_ERR_SERVICE);
      return false;
    }
    rc = code_package_extract(zip, len, out->dir, AWS_MAX_UNZIPPED, &info, &reason);
    free(zip);
    if (rc) {
      free(out->dir);
      out->dir = NULL;
      if (rc == LEMU_ERR_INVAL) {
        logs_warn("refused the code package for %s: %s", fn_name, reason ? reason : "invalid");
        aws_error_send(g->req, g->rid, AWS_ERR_ZIP_CORRUPT);
      } else if (rc == LEMU_ERR_TOOBIG) {
        aws_error_send(g->req, g->rid, AWS_ERR_UNZIPPED_TOO_LARGE, AWS_MAX_UNZIPPED);
      } else {
        logs_error("could not unpack the code package for %s: %s", fn_name, lemu_strerror(rc));
        aws_error_send(g->req, g->rid, AWS_ERR_SERVICE);
      }
      free(reason);
      return false;
    }
    memcpy(out->sha, info.sha256_b64, sizeof(out->sha));
    out->size = info.code_size;
    return true;
  }
  if (bucket) {
    char resolved[PATH_MAX];
    struct stat st;
    char *tag;
    if (strcmp(bucket, AWS_LEMU_LOCAL_BUCKET) != 0) {
      aws_error_send(g->req, g->rid, AWS_ERR_S3_NO_SUCH_BUCKET);
      return false;
    }
    if (!key || key[0] != '/' || !realpath(key, resolved) || stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode)) {
      aws_error_send(g->req, g->rid, AWS_ERR_S3_NO_SUCH_KEY);
      return false;
    }
    out->dir = util_strdup(resolved);
    tag = util_asprintf("%s%s", MG_LOCAL_SHA_PREFIX, resolved);
    if (!out->dir || !tag) {
      free(tag);
      free(out->dir);
      out->dir = NULL;
      aws_error_send(g->req, g->rid, AWS_ERR_SERVICE);
      return false;
    }
    code_package_sha256_b64(tag, strlen(tag), out->sha);
    free(tag);
    out->local = true;
    return true;
  }
  if (image) {
    aws_error_send(g->req, g->rid, AWS_ERR_IMAGE_NOT_SUPPORTED);
    return false;
  }
  aws_error_send(g->req, g->rid, AWS_ERR_CODE_SOURCE_MISSING);
  return false;
}

/* Replace str with a copy of v (when v is not NULL). */
static bool set_copy(char **str, const char *v)
{
  char *c;

  if (!v)
    return true;
  c = util_strdup(v);
  if (!c)
    return false;
  free(*str);
  *str = c;
  return true;
}

/* The old code directory, once nothing refers to it any more. */
static void release_code_dir(struct lemu_ctx *ctx, const struct fnmeta *m, char *old_dir, bool was_local)
{
  if (old_dir && !was_local && ctx->store && !fnmeta_code_dir_in_use(m, old_dir))
    store_remove_code_dir(ctx->store, old_dir);
  free(old_dir);
}

/* ---- CreateFunction ---- */

static void create_function(struct http_req *req, void *cls)
{
  struct mg g;
  struct function_config fc = {0};
  struct code_result code = {0};
  struct function_ref ref;
  struct function *fn = NULL, *published = NULL;
  struct fnmeta *m;
  struct fdef d;
  enum runtime_kind kind;

  if (!mg_begin(&g, req, cls, MG_BODY, AWS_OPERATION_CREATE_FUNCTION))
    return;
  if (!mg_definition(&g, true, &d))
    goto out;
  arn_parse_function(d.name, &ref);
  if (d.package_type && !strcmp(d.package_type, AWS_PACKAGE_IMAGE)) {
    aws_error_send(req, g.rid, AWS_ERR_IMAGE_NOT_SUPPORTED);
    goto out;
  }
  if (!d.runtime || (!d.handler && (!config_runtime_kind(d.runtime, &kind) || kind != RUNTIME_PROVIDED))) {
    if (d.runtime && !config_runtime_kind(d.runtime, &kind)) {
      mg_runtime(&g, d.runtime, &kind);
      goto out;
    }
    aws_error_send(req, g.rid, AWS_ERR_RUNTIME_HANDLER_REQUIRED);
    goto out;
  }
  if (!mg_runtime(&g, d.runtime, &kind))
    goto out;
  if (!mg_env(&g, d.vars, &fc.env, &fc.n_env) || !mg_dead_letter(&g, d.dlq, true))
    goto out;
  if (registry_find(g.ctx->reg, ref.name)) {
    aws_error_send(req, g.rid, AWS_ERR_FUNCTION_EXISTS, ref.name);
    goto out;
  }
  if (!mg_code(&g, d.code, ref.name, AWS_OPERATION_CREATE_FUNCTION, &code))
    goto out;
  fc.name = util_strdup(ref.name);
  fc.runtime = util_strdup(d.runtime);
  fc.kind = kind;
  fc.handler = util_strdup(d.handler ? d.handler : "");
  fc.description = util_strdup(d.description ? d.description : "");
  fc.code_dir = code.dir;
  code.dir = NULL;
  fc.timeout_s = d.has_timeout ? d.timeout : CONFIG_DEFAULT_TIMEOUT_S;
  fc.memory_mb = d.has_memory ? d.memory : CONFIG_DEFAULT_MEMORY_MB;
  fc.ephemeral_mb = d.has_ephemeral ? d.ephemeral : CONFIG_DEFAULT_EPHEMERAL_MB;
  fc.reserved_concurrency = -1;
  if (!fc.name || !fc.runtime || !fc.handler || !fc.description) {
    code.dir = fc.code_dir;
    fc.code_dir = NULL;
    function_config_cleanup(&fc);
    aws_error_send(req, g.rid, AWS_ERR_SERVICE);
    goto out;
  }
  code.dir = util_strdup(fc.code_dir); /* to delete it if the rest fails */
  if (registry_add(g.ctx->reg, &fc, &fn) != LEMU_ERR_OK) {
    aws_error_send(req, g.rid, AWS_ERR_SERVICE);
    goto out;
  }
  m = fnmeta_attach(g.ctx, fn);
  if (!m || !set_copy(&m->role, d.role) || !set_copy(&m->architecture, d.arch) ||
      !set_copy(&m->tracing_mode, d.tracing) || !set_copy(&m->log_format, d.log_format) ||
      !set_copy(&m->log_group, d.log_group) || fnmeta_set_dead_letter(m, d.dlq) != LEMU_ERR_OK) {
    registry_remove(g.ctx->reg, fn);
    aws_error_send(req, g.rid, AWS_ERR_SERVICE);
    goto out;
  }
  m->local_code = code.local;
  memcpy(m->code_sha256, code.sha, sizeof(m->code_sha256));
  m->code_size = code.size;
  if (d.tags && cJSON_GetArraySize(d.tags) > 0)
    m->tags = cJSON_Duplicate(d.tags, true);
  free(code.dir);
  code.dir = NULL;
  fnmeta_begin_transition(m, true);
  if (d.publish && fnmeta_publish(m, NULL, &published) != LEMU_ERR_OK)
    logs_error("function %s: could not publish its first version", ref.name);
  fnmeta_persist(m);
  logs_info("created function %s (%s)%s", ref.name, fn->cfg.runtime, code.local ? " serving a local directory" : "");
  mg_send(&g, MG_STATUS_CREATED, fnmeta_configuration(published ? published : fn));
out:
  function_config_cleanup(&fc); /* empty once registry_add took it */
  code_result_discard(g.ctx, &code);
  mg_end(&g);
}

/* ---- reading ---- */

static cJSON *configuration_with_faults(struct lemu_ctx *ctx, const struct function *fn);

static void get_function(struct http_req *req, void *cls)
{
  struct mg g;
  cJSON *o, *code;
  char *loc;

  if (!mg_begin(&g, req, cls, MG_QUALIFIER, NULL))
    return;
  o = cJSON_CreateObject();
  cJSON_AddItemToObject(o, "Configuration", configuration_with_faults(g.ctx, g.target));
  code = cJSON_AddObjectToObject(o, "Code");
  loc = util_asprintf("file://%s", g.target->cfg.code_dir);
  if (code) {
    cJSON_AddStringToObject(code, "RepositoryType", AWS_CODE_REPOSITORY_S3);
    cJSON_AddStringToObject(code, "Location", loc ? loc : "");
  }
  free(loc);
  if (g.m->tags)
    cJSON_AddItemToObject(o, "Tags", cJSON_Duplicate(g.m->tags, true));
  if (g.fn->cfg.reserved_concurrency >= 0) {
    cJSON *c = cJSON_AddObjectToObject(o, "Concurrency");
    if (c)
      cJSON_AddNumberToObject(c, "ReservedConcurrentExecutions", g.fn->cfg.reserved_concurrency);
  }
  mg_send(&g, MG_STATUS_OK, o);
}

/* A "pending" fault rule makes the function report State Pending (fault_catalog). */
static cJSON *configuration_with_faults(struct lemu_ctx *ctx, const struct function *fn)
{
  cJSON *c = fnmeta_configuration(fn);

  if (c && ctx->faults && fault_engine_pending(ctx->faults, fn->cfg.name, util_epoch_ms())) {
    cJSON_ReplaceItemInObject(c, "State", cJSON_CreateString(AWS_STATE_PENDING));
    cJSON_DeleteItemFromObject(c, "StateReason");
    cJSON_DeleteItemFromObject(c, "StateReasonCode");
    cJSON_AddStringToObject(c, "StateReason", AWS_STATE_REASON_CREATING);
    cJSON_AddStringToObject(c, "StateReasonCode", AWS_STATE_REASON_CODE_CREATING);
  }
  return c;
}

static void get_function_configuration(struct http_req *req, void *cls)
{
  struct mg g;

  if (mg_begin(&g, req, cls, MG_QUALIFIER, NULL))
    mg_send(&g, MG_STATUS_OK, configuration_with_faults(g.ctx, g.target));
}

/* MaxItems query (1..10000): false after answering when invalid. *page = items per page. */
static bool mg_max_items(struct mg *g, int *page)
{
  const char *s = http_req_query(g->req, "MaxItems");
  char *end;
  long n;

  *page = API_FUNCTIONS_LIST_PAGE;
  if (!s)
    return true;
  errno = 0;
  n = strtol(s, &end, 10);
  if (errno || *end || end == s || n < 1 || n > API_FUNCTIONS_MAX_ITEMS) {
    char constraint[96];
    snprintf(constraint, sizeof(constraint), n < 1 ? AWS_CONSTRAINT_MIN_FMT : AWS_CONSTRAINT_MAX_FMT,
             n < 1 ? 1 : API_FUNCTIONS_MAX_ITEMS);
    mg_validation1(g, s, "maxItems", constraint);
    return false;
  }
  *page = n < API_FUNCTIONS_LIST_PAGE ? (int)n : API_FUNCTIONS_LIST_PAGE;
  return true;
}

static int fn_name_cmp(const void *a, const void *b)
{
  return strcmp((*(struct function *const *)a)->cfg.name, (*(struct function *const *)b)->cfg.name);
}

/* Key of a listed function object, which is also the Marker that resumes at it. */
static char *list_key(const struct function *fn)
{
  return util_asprintf("%s:%s", fn->cfg.name, fn->version);
}

/* Page through items[0..n) from Marker: fills arr with configurations, returns NextMarker or NULL. */
static char *list_page(struct mg *g, struct function **items, size_t n, int page, cJSON *arr)
{
  const char *marker = http_req_query(g->req, "Marker");
  size_t start = 0, i;
  int taken = 0;

  if (marker && *marker) {
    for (start = 0; start < n; start++) {
      char *k = list_key(items[start]);
      bool hit = k && strcmp(k, marker) == 0;
      free(k);
      if (hit)
        break;
    }
    if (start == n) { /* its item went away: resume at the next name */
      for (start = 0; start < n && strncmp(items[start]->cfg.name, marker, strcspn(marker, ":")) <= 0; start++)
        ;
    }
  }
  for (i = start; i < n && taken < page; i++, taken++)
    cJSON_AddItemToArray(arr, fnmeta_configuration(items[i]));
  return i < n ? list_key(items[i]) : NULL;
}

/* Answer {member: [a page of items from Marker], NextMarker}. Takes items (NULL: out of memory). */
static void mg_send_page(struct mg *g, const char *member, struct function **items, size_t n, int page)
{
  cJSON *o = cJSON_CreateObject(), *arr = o ? cJSON_AddArrayToObject(o, member) : NULL;
  char *next;

  if (!items || !arr) {
    free(items);
    cJSON_Delete(o);
    aws_error_send(g->req, g->rid, AWS_ERR_SERVICE);
    return;
  }
  next = list_page(g, items, n, page, arr);
  if (next)
    cJSON_AddStringToObject(o, "NextMarker", next);
  free(next);
  free(items);
  mg_send(g, MG_STATUS_OK, o);
}

static void list_functions(struct http_req *req, void *cls)
{
  struct mg g;
  const char *all = NULL;
  struct function **items = NULL;
  size_t n = 0, i, j, cap;
  int page;

  mg_init(&g, req, cls);
  all = http_req_query(req, "FunctionVersion");
  if (all && strcmp(all, AWS_FUNCTION_VERSION_ALL) != 0) {
    mg_validation1(&g, all, "functionVersion", AWS_CONSTRAINT_FUNCTION_VERSION);
    return;
  }
  if (!mg_max_items(&g, &page))
    return;
  cap = g.ctx->reg->n;
  for (i = 0; all && i < g.ctx->reg->n; i++)
    cap += fnmeta_of(g.ctx->reg->fns[i]) ? fnmeta_of(g.ctx->reg->fns[i])->n_versions : 0;
  items = calloc(cap + 1, sizeof(*items));
  for (i = 0; items && i < g.ctx->reg->n; i++)
    items[n++] = g.ctx->reg->fns[i];
  if (items)
    qsort(items, n, sizeof(*items), fn_name_cmp);
  if (items && all) { /* each function's versions right after its $LATEST */
    struct function **sorted = items;
    size_t k = n;
    items = calloc(cap + 1, sizeof(*items));
    for (n = 0, i = 0; items && i < k; i++) {
      const struct fnmeta *m = fnmeta_of(sorted[i]);
      items[n++] = sorted[i];
      for (j = 0; m && j < m->n_versions; j++)
        items[n++] = m->versions[j];
    }
    free(sorted);
  }
  mg_send_page(&g, "Functions", items, n, page);
}

static void list_versions(struct http_req *req, void *cls)
{
  struct mg g;
  struct function **items;
  size_t n = 0, i;
  int page;

  if (!mg_begin(&g, req, cls, MG_FUNCTION, NULL) || !mg_max_items(&g, &page))
    return;
  items = calloc(g.m->n_versions + 1, sizeof(*items));
  if (items) {
    items[n++] = g.fn;
    for (i = 0; i < g.m->n_versions; i++)
      items[n++] = g.m->versions[i];
  }
  mg_send_page(&g, "Versions", items, n, page);
}

/* ---- DeleteFunction ---- */

static void delete_function(struct http_req *req, void *cls)
{
  struct mg g;
  struct function *fn;
  char **dirs = NULL;
  size_t n_dirs = 0, i;
  bool local;

  if (!mg_begin(&g, req, cls, MG_QUALIFIER, NULL))
    return;
  if (g.q[0] && !strcmp(g.q, AWS_VERSION_LATEST)) {
    aws_error_send(req, g.rid, AWS_ERR_LATEST_NOT_DELETABLE);
    return;
  }
  if (g.q[0]) { /* one published version */
    char *dir;
    if (!isdigit((unsigned char)g.q[0])) {
      mg_not_found(&g, g.ref.name, g.q);
      return;
    }
    dir = util_strdup(g.target->cfg.code_dir);
    local = fnmeta_of(g.target)->local_code;
    envpool_retire(g.ctx, g.target);
    fnmeta_drop_version(g.m, g.target);
    release_code_dir(g.ctx, g.m, dir, local);
    fnmeta_persist(g.m);
    mg_send(&g, MG_STATUS_NO_CONTENT, NULL);
    return;
  }
  fn = g.fn;
  function_ref(fn);
  loop_timer_stop(g.ctx->loop, &g.m->timer);
  if (!g.m->local_code)
    fnmeta_code_dirs(g.m, &dirs, &n_dirs);
  envpool_retire(g.ctx, fn);
  for (i = 0; i < g.m->n_versions; i++) {
    g.m->versions[i]->removed = true;
    envpool_retire(g.ctx, g.m->versions[i]);
  }
  if (!g.m->from_config && g.ctx->store)
    store_delete(g.ctx->store, fn->cfg.name);
  if (g.ctx->evq) /* a new function of the same name starts without the old async settings */
    event_queue_delete_config(g.ctx->evq, fn->cfg.name);
  registry_remove(g.ctx->reg, fn);
  for (i = 0; i < n_dirs; i++) {
    if (g.ctx->store)
      store_remove_code_dir(g.ctx->store, dirs[i]);
    free(dirs[i]);
  }
  free(dirs);
  logs_info("deleted function %s", g.ref.name);
  function_unref(fn); /* in-flight invocations keep their own references */
  mg_send(&g, MG_STATUS_NO_CONTENT, NULL);
}

/* ---- UpdateFunctionCode / UpdateFunctionConfiguration / PublishVersion ---- */

static void update_function_code(struct http_req *req, void *cls)
{
  struct mg g;
  struct function *published = NULL;
  struct function_config fc;
  struct code_result code = {0};
  struct fdef d;
  char *old_dir = NULL;
  bool old_local;

  if (!mg_begin(&g, req, cls, MG_FUNCTION | MG_BODY, AWS_OPERATION_UPDATE_FUNCTION_CODE))
    return;
  fd_parse(g.body, &d);
  if (d.bad) {
    aws_error_send(req, g.rid, AWS_ERR_REQUEST_NOT_JSON, d.bad);
    goto out;
  }
  if (d.n_arch > 1 || (d.arch && strcmp(d.arch, AWS_ARCH_X86_64) && strcmp(d.arch, AWS_ARCH_ARM64))) {
    mg_validation1(&g, d.arch ? d.arch : "[...]", "architectures", AWS_CONSTRAINT_ARCHITECTURES);
    goto out;
  }
  if (!mg_modifiable(&g) || !mg_revision_matches(&g))
    goto out;
  if (!mg_code(&g, g.body, g.fn->cfg.name, AWS_OPERATION_UPDATE_FUNCTION_CODE, &code))
    goto out;
  if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(g.body, "DryRun"))) {
    mg_send(&g, MG_STATUS_OK, fnmeta_configuration(g.fn));
    goto out;
  }
  if (function_config_copy(&fc, &g.fn->cfg) != LEMU_ERR_OK) {
    aws_error_send(req, g.rid, AWS_ERR_SERVICE);
    goto out;
  }
  old_dir = fc.code_dir;
  old_local = g.m->local_code;
  fc.code_dir = code.dir;
  code.dir = NULL;
  if (registry_update(g.ctx->reg, g.fn, &fc) != LEMU_ERR_OK) {
    free(old_dir);
    aws_error_send(req, g.rid, AWS_ERR_SERVICE);
    goto out;
  }
  envpool_retire(g.ctx, g.fn); /* idle environments run the old code */
  g.m->local_code = code.local;
  memcpy(g.m->code_sha256, code.sha, sizeof(g.m->code_sha256));
  g.m->code_size = code.size;
  set_copy(&g.m->architecture, d.arch);
  fnmeta_touch(g.m);
  fnmeta_begin_transition(g.m, false);
  release_code_dir(g.ctx, g.m, old_dir, old_local);
  if (d.publish && fnmeta_publish(g.m, NULL, &published) != LEMU_ERR_OK)
    logs_error("function %s: could not publish a version", g.fn->cfg.name);
  fnmeta_persist(g.m);
  mg_send(&g, MG_STATUS_OK, fnmeta_configuration(published ? published : g.fn));
out:
  code_result_discard(g.ctx, &code);
  mg_end(&g);
}

static void update_function_configuration(struct http_req *req, void *cls)
{
  struct mg g;
  struct function_config fc;
  struct fdef d;
  char **env = NULL;
  size_t n_env = 0;
  enum runtime_kind kind;

  if (!mg_begin(&g, req, cls, MG_FUNCTION | MG_BODY, AWS_OPERATION_UPDATE_FUNCTION_CONFIGURATION))
    return;
  if (!mg_definition(&g, false, &d))
    goto out;
  if (d.runtime && !mg_runtime(&g, d.runtime, &kind))
    goto out;
  if ((d.has_env && !mg_env(&g, d.vars, &env, &n_env)) || !mg_dead_letter(&g, d.dlq, false))
    goto out;
  if (!mg_modifiable(&g) || !mg_revision_matches(&g))
    goto out;
  if (function_config_copy(&fc, &g.fn->cfg) != LEMU_ERR_OK) {
    aws_error_send(req, g.rid, AWS_ERR_SERVICE);
    goto out;
  }
  if ((d.runtime && !set_copy(&fc.runtime, d.runtime)) || !set_copy(&fc.handler, d.handler) ||
      !set_copy(&fc.description, d.description)) {
    function_config_cleanup(&fc);
    aws_error_send(req, g.rid, AWS_ERR_SERVICE);
    goto out;
  }
  if (d.runtime)
    fc.kind = kind;
  if (d.has_timeout)
    fc.timeout_s = d.timeout;
  if (d.has_memory)
    fc.memory_mb = d.memory;
  if (d.has_ephemeral)
    fc.ephemeral_mb = d.ephemeral;
  if (d.has_env) {
    strv_free(fc.env);
    fc.env = env;
    fc.n_env = n_env;
    env = NULL;
  }
  if (registry_update(g.ctx->reg, g.fn, &fc) != LEMU_ERR_OK) {
    aws_error_send(req, g.rid, AWS_ERR_SERVICE);
    goto out;
  }
  envpool_retire(g.ctx, g.fn); /* idle environments run the old configuration */
  set_copy(&g.m->role, d.role);
  set_copy(&g.m->tracing_mode, d.tracing);
  set_copy(&g.m->log_format, d.log_format);
  set_copy(&g.m->log_group, d.log_group);
  if (d.dlq && fnmeta_set_dead_letter(g.m, d.dlq) != LEMU_ERR_OK)
    logs_error("function %s: could not change its DeadLetterConfig", g.fn->cfg.name);
  fnmeta_touch(g.m);
  fnmeta_begin_transition(g.m, false);
  fnmeta_persist(g.m);
  mg_send(&g, MG_STATUS_OK, fnmeta_configuration(g.fn));
out:
  strv_free(env);
  mg_end(&g);
}

static void publish_version(struct http_req *req, void *cls)
{
  struct mg g;
  struct function *v = NULL;
  struct fdef d = {0};
  const char *sha = NULL, *description = NULL;

  if (!mg_begin(&g, req, cls, MG_FUNCTION | MG_BODY, NULL))
    return;
  fd_str(&d, g.body, "CodeSha256", &sha);
  fd_str(&d, g.body, "Description", &description);
  if (d.bad) {
    aws_error_send(req, g.rid, AWS_ERR_REQUEST_NOT_JSON, d.bad);
  } else if (description && strlen(description) > MG_MAX_DESCRIPTION) {
    struct aws_validation val = {0};
    add_max_length(&val, description, "description", MG_MAX_DESCRIPTION);
    mg_validation(&g, &val);
  } else if (mg_modifiable(&g) && mg_revision_matches(&g)) {
    if (sha && strcmp(sha, g.m->code_sha256) != 0)
      aws_error_send(req, g.rid, AWS_ERR_CODE_SHA_MISMATCH, sha, g.m->code_sha256);
    else if (fnmeta_publish(g.m, description, &v) != LEMU_ERR_OK)
      aws_error_send(req, g.rid, AWS_ERR_SERVICE);
    else {
      fnmeta_persist(g.m);
      mg_send(&g, MG_STATUS_CREATED, fnmeta_configuration(v));
    }
  }
  mg_end(&g);
}

/* ---- aliases ---- */

static bool alias_name_valid(const char *n)
{
  size_t i;
  bool digits_only = true;

  if (!n[0] || strlen(n) > MG_MAX_ALIAS)
    return false;
  for (i = 0; n[i]; i++) {
    if (!isalnum((unsigned char)n[i]) && n[i] != '-' && n[i] != '_')
      return false;
    if (!isdigit((unsigned char)n[i]))
      digits_only = false;
  }
  return !digits_only;
}

static bool version_exists(const struct fnmeta *m, const char *version)
{
  return !strcmp(version, AWS_VERSION_LATEST) || fnmeta_find_version(m, version) != NULL;
}

static void create_alias(struct http_req *req, void *cls)
{
  struct mg g;
  struct fnmeta_alias *grown, *a;
  struct fdef d = {0};
  const char *name = NULL, *version = NULL, *description = NULL;

  if (!mg_begin(&g, req, cls, MG_FUNCTION | MG_BODY, NULL))
    return;
  fd_str(&d, g.body, "Name", &name);
  fd_str(&d, g.body, "FunctionVersion", &version);
  fd_str(&d, g.body, "Description", &description);
  if (d.bad) {
    aws_error_send(req, g.rid, AWS_ERR_REQUEST_NOT_JSON, d.bad);
  } else if (!name || !alias_name_valid(name)) {
    mg_validation1(&g, name, "name", name ? AWS_CONSTRAINT_ALIAS_PATTERN : AWS_CONSTRAINT_NOT_NULL);
  } else if (!version) {
    mg_validation1(&g, NULL, "functionVersion", AWS_CONSTRAINT_NOT_NULL);
  } else if (!version_exists(g.m, version)) {
    mg_not_found(&g, g.fn->cfg.name, version);
  } else if (fnmeta_find_alias(g.m, name)) {
    char *arn = function_arn(g.ctx, g.fn->cfg.name, name);
    aws_error_send(req, g.rid, AWS_ERR_ALIAS_EXISTS, arn ? arn : name);
    free(arn);
  } else if (!(grown = realloc(g.m->aliases, (g.m->n_aliases + 1) * sizeof(*grown)))) {
    aws_error_send(req, g.rid, AWS_ERR_SERVICE);
  } else {
    g.m->aliases = grown;
    a = &g.m->aliases[g.m->n_aliases];
    memset(a, 0, sizeof(*a));
    a->name = util_strdup(name);
    a->version = util_strdup(version);
    a->description = util_strdup(description ? description : "");
    util_uuid(a->revision_id);
    if (!a->name || !a->version || !a->description) {
      free(a->name);
      free(a->version);
      free(a->description);
      aws_error_send(req, g.rid, AWS_ERR_SERVICE);
    } else {
      g.m->n_aliases++;
      fnmeta_persist(g.m);
      mg_send(&g, MG_STATUS_CREATED, fnmeta_alias_configuration(g.fn, a));
    }
  }
  mg_end(&g);
}

/* The alias named by params[1]; answers 404 and returns NULL when there is none. */
static struct fnmeta_alias *mg_alias(struct mg *g)
{
  struct fnmeta_alias *a = fnmeta_find_alias(g->m, g->req->params[1]);

  if (!a) {
    char *arn = function_arn(g->ctx, g->fn->cfg.name, g->req->params[1]);
    aws_error_send(g->req, g->rid, AWS_ERR_ALIAS_NOT_FOUND, arn ? arn : g->req->params[1]);
    free(arn);
  }
  return a;
}

static void get_alias(struct http_req *req, void *cls)
{
  struct mg g;
  struct fnmeta_alias *a;

  if (mg_begin(&g, req, cls, MG_FUNCTION, NULL) && (a = mg_alias(&g)))
    mg_send(&g, MG_STATUS_OK, fnmeta_alias_configuration(g.fn, a));
}

static void update_alias(struct http_req *req, void *cls)
{
  struct mg g;
  struct fnmeta_alias *a;
  struct fdef d = {0};
  const char *version = NULL, *description = NULL, *rev = NULL;

  /* The alias is looked for before the body is read: an unknown one is a 404 whatever the body. */
  if (!mg_begin(&g, req, cls, MG_FUNCTION, NULL) || !(a = mg_alias(&g)) || !(g.body = mg_body(&g)))
    return;
  fd_str(&d, g.body, "FunctionVersion", &version);
  fd_str(&d, g.body, "Description", &description);
  fd_str(&d, g.body, "RevisionId", &rev);
  if (d.bad)
    aws_error_send(req, g.rid, AWS_ERR_REQUEST_NOT_JSON, d.bad);
  else if (rev && strcmp(rev, a->revision_id) != 0)
    aws_error_send(req, g.rid, AWS_ERR_REVISION_MISMATCH);
  else if (version && !version_exists(g.m, version))
    mg_not_found(&g, g.fn->cfg.name, version);
  else if (!set_copy(&a->version, version) || !set_copy(&a->description, description))
    aws_error_send(req, g.rid, AWS_ERR_SERVICE);
  else {
    util_uuid(a->revision_id);
    fnmeta_persist(g.m);
    mg_send(&g, MG_STATUS_OK, fnmeta_alias_configuration(g.fn, a));
  }
  mg_end(&g);
}

static void delete_alias(struct http_req *req, void *cls)
{
  struct mg g;
  struct fnmeta_alias *a;
  size_t i;

  if (!mg_begin(&g, req, cls, MG_FUNCTION, NULL))
    return;
  a = fnmeta_find_alias(g.m, req->params[1]);
  if (a) { /* deleting an alias that does not exist succeeds, as on Lambda */
    i = (size_t)(a - g.m->aliases);
    free(a->name);
    free(a->version);
    free(a->description);
    memmove(&g.m->aliases[i], &g.m->aliases[i + 1], (g.m->n_aliases - i - 1) * sizeof(*g.m->aliases));
    g.m->n_aliases--;
    fnmeta_persist(g.m);
  }
  mg_send(&g, MG_STATUS_NO_CONTENT, NULL);
}

static void list_aliases(struct http_req *req, void *cls)
{
  struct mg g;
  const char *version = http_req_query(req, "FunctionVersion");
  cJSON *o, *arr;
  size_t i;

  if (!mg_begin(&g, req, cls, MG_FUNCTION, NULL))
    return;
  o = cJSON_CreateObject();
  arr = o ? cJSON_AddArrayToObject(o, "Aliases") : NULL;
  for (i = 0; arr && i < g.m->n_aliases; i++)
    if (!version || !strcmp(version, g.m->aliases[i].version))
      cJSON_AddItemToArray(arr, fnmeta_alias_configuration(g.fn, &g.m->aliases[i]));
  mg_send(&g, MG_STATUS_OK, o);
}

/* ---- resource policy ---- */

static bool statement_id_valid(const char *s)
{
  if (!s[0] || strlen(s) > MG_MAX_STATEMENT_ID)
    return false;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
      return false;
  return true;
}

static cJSON *find_statement(const cJSON *policy, const char *sid, int *index)
{
  cJSON *it;
  int i = 0;

  cJSON_ArrayForEach(it, policy) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(it, "Sid");
    if (cJSON_IsString(s) && !strcmp(s->valuestring, sid)) {
      *index = i;
      return it;
    }
    i++;
  }
  return NULL;
}

static cJSON *principal_json(const char *p)
{
  cJSON *o;
  size_t i;
  bool account = strlen(p) == 12;

  if (!strcmp(p, "*"))
    return cJSON_CreateString("*");
  for (i = 0; account && p[i]; i++)
    account = isdigit((unsigned char)p[i]) != 0;
  o = cJSON_CreateObject();
  if (!o)
    return NULL;
  if (account) {
    char *arn = util_asprintf("arn:aws:iam::%s:root", p);
    cJSON_AddStringToObject(o, "AWS", arn ? arn : p);
    free(arn);
  } else if (strncmp(p, "arn:", 4) != 0 && strchr(p, '.')) {
    cJSON_AddStringToObject(o, "Service", p);
  } else {
    cJSON_AddStringToObject(o, "AWS", p);
  }
  return o;
}

static void add_condition(cJSON *stmt, const char *op, const char *key, const char *value)
{
  cJSON *cond, *c;

  if (!value)
    return;
  cond = cJSON_GetObjectItemCaseSensitive(stmt, "Condition");
  if (!cond)
    cond = cJSON_AddObjectToObject(stmt, "Condition");
  c = cond ? cJSON_GetObjectItemCaseSensitive(cond, op) : NULL;
  if (cond && !c)
    c = cJSON_AddObjectToObject(cond, op);
  if (c)
    cJSON_AddStringToObject(c, key, value);
}

static void add_permission(struct http_req *req, void *cls)
{
  struct mg g;
  struct fdef d = {0};
  const char *sid = NULL, *action = NULL, *principal = NULL, *source_arn = NULL, *source_account = NULL,
             *org = NULL, *token = NULL, *url_auth = NULL, *rev = NULL;
  cJSON *stmt = NULL, *out;
  char *resource = NULL, *text = NULL;
  int idx;

  if (!mg_begin(&g, req, cls, MG_QUALIFIER | MG_BODY, NULL))
    return;
  fd_str(&d, g.body, "StatementId", &sid);
  fd_str(&d, g.body, "Action", &action);
  fd_str(&d, g.body, "Principal", &principal);
  fd_str(&d, g.body, "SourceArn", &source_arn);
  fd_str(&d, g.body, "SourceAccount", &source_account);
  fd_str(&d, g.body, "PrincipalOrgID", &org);
  fd_str(&d, g.body, "EventSourceToken", &token);
  fd_str(&d, g.body, "FunctionUrlAuthType", &url_auth);
  fd_str(&d, g.body, "RevisionId", &rev);
  if (d.bad) {
    aws_error_send(req, g.rid, AWS_ERR_REQUEST_NOT_JSON, d.bad);
    goto out;
  }
  if (!sid || !statement_id_valid(sid)) {
    mg_validation1(&g, sid, "statementId", sid ? AWS_CONSTRAINT_STATEMENT_ID_PATTERN : AWS_CONSTRAINT_NOT_NULL);
    goto out;
  }
  if (!action || !principal) {
    mg_validation1(&g, NULL, action ? "principal" : "action", AWS_CONSTRAINT_NOT_NULL);
    goto out;
  }
  if (rev && strcmp(rev, g.m->policy_revision[0] ? g.m->policy_revision : g.m->revision_id) != 0) {
    aws_error_send(req, g.rid, AWS_ERR_REVISION_MISMATCH);
    goto out;
  }
  if (g.m->policy && find_statement(g.m->policy, sid, &idx)) {
    aws_error_send(req, g.rid, AWS_ERR_STATEMENT_EXISTS, sid);
    goto out;
  }
  resource = function_arn(g.ctx, g.fn->cfg.name, g.q);
  stmt = cJSON_CreateObject();
  if (!resource || !stmt || (!g.m->policy && !(g.m->policy = cJSON_CreateArray()))) {
    aws_error_send(req, g.rid, AWS_ERR_SERVICE);
    goto out;
  }
  cJSON_AddStringToObject(stmt, "Sid", sid);
  cJSON_AddStringToObject(stmt, "Effect", AWS_POLICY_EFFECT_ALLOW);
  cJSON_AddItemToObject(stmt, "Principal", principal_json(principal));
  cJSON_AddStringToObject(stmt, "Action", action);
  cJSON_AddStringToObject(stmt, "Resource", resource);
  add_condition(stmt, "StringEquals", "AWS:SourceAccount", source_account);
  add_condition(stmt, "StringEquals", "aws:PrincipalOrgID", org);
  add_condition(stmt, "StringEquals", "lambda:EventSourceToken", token);
  add_condition(stmt, "StringEquals", "lambda:FunctionUrlAuthType", url_auth);
  add_condition(stmt, "ArnLike", "AWS:SourceArn", source_arn);
  text = cJSON_PrintUnformatted(stmt);
  cJSON_AddItemToArray(g.m->policy, stmt);
  stmt = NULL;
  util_uuid(g.m->policy_revision);
  fnmeta_persist(g.m);
  out = cJSON_CreateObject();
  if (out)
    cJSON_AddStringToObject(out, "Statement", text ? text : "");
  mg_send(&g, MG_STATUS_CREATED, out);
out:
  free(text);
  free(resource);
  cJSON_Delete(stmt);
  mg_end(&g);
}

static void get_policy(struct http_req *req, void *cls)
{
  struct mg g;
  cJSON *doc, *o;
  char *text;

  if (!mg_begin(&g, req, cls, MG_QUALIFIER, NULL))
    return;
  if (!g.m->policy || cJSON_GetArraySize(g.m->policy) == 0) {
    aws_error_send(req, g.rid, AWS_ERR_POLICY_NOT_FOUND);
    return;
  }
  doc = cJSON_CreateObject();
  o = cJSON_CreateObject();
  if (!doc || !o) {
    cJSON_Delete(doc);
    cJSON_Delete(o);
    aws_error_send(req, g.rid, AWS_ERR_SERVICE);
    return;
  }
  cJSON_AddStringToObject(doc, "Version", AWS_POLICY_VERSION);
  cJSON_AddStringToObject(doc, "Id", AWS_POLICY_ID);
  cJSON_AddItemToObject(doc, "Statement", cJSON_Duplicate(g.m->policy, true));
  text = cJSON_PrintUnformatted(doc);
  cJSON_Delete(doc);
  cJSON_AddStringToObject(o, "Policy", text ? text : "");
  cJSON_AddStringToObject(o, "RevisionId", g.m->policy_revision);
  free(text);
  mg_send(&g, MG_STATUS_OK, o);
}

static void remove_permission(struct http_req *req, void *cls)
{
  struct mg g;
  const char *rev = http_req_query(req, "RevisionId");
  int idx = -1;

  if (!mg_begin(&g, req, cls, MG_QUALIFIER, NULL))
    return;
  if (!g.m->policy || !find_statement(g.m->policy, req->params[1], &idx)) {
    if (!g.m->policy)
      aws_error_send(req, g.rid, AWS_ERR_POLICY_NOT_FOUND);
    else
      aws_error_send(req, g.rid, AWS_ERR_STATEMENT_NOT_FOUND, req->params[1]);
    return;
  }
  if (rev && strcmp(rev, g.m->policy_revision) != 0) {
    aws_error_send(req, g.rid, AWS_ERR_REVISION_MISMATCH);
    return;
  }
  cJSON_DeleteItemFromArray(g.m->policy, idx);
  if (cJSON_GetArraySize(g.m->policy) == 0) {
    cJSON_Delete(g.m->policy);
    g.m->policy = NULL;
  }
  util_uuid(g.m->policy_revision);
  fnmeta_persist(g.m);
  mg_send(&g, MG_STATUS_NO_CONTENT, NULL);
}

/* ---- concurrency and account settings (reference §6) ---- */

static int reserved_by_others(const struct lemu_ctx *ctx, const struct function *except)
{
  int sum = 0;
  size_t i;

  for (i = 0; i < ctx->reg->n; i++)
    if (ctx->reg->fns[i] != except && ctx->reg->fns[i]->cfg.reserved_concurrency > 0)
      sum += ctx->reg->fns[i]->cfg.reserved_concurrency;
  return sum;
}

static void set_reserved(struct function *fn, int n)
{
  struct fnmeta *m = fnmeta_of(fn);
  size_t i;

  fn->cfg.reserved_concurrency = n; /* the throttle decision reads this field */
  for (i = 0; i < m->n_versions; i++)
    m->versions[i]->cfg.reserved_concurrency = n;
}

static void put_function_concurrency(struct http_req *req, void *cls)
{
  struct mg g;
  struct fdef d = {0};
  bool has = false;
  int n = 0;
  cJSON *out;

  if (!mg_begin(&g, req, cls, MG_FUNCTION | MG_BODY, NULL))
    return;
  fd_int(&d, g.body, "ReservedConcurrentExecutions", &has, &n);
  if (d.bad) {
    aws_error_send(req, g.rid, AWS_ERR_REQUEST_NOT_JSON, d.bad);
  } else if (!has) {
    mg_validation1(&g, NULL, "reservedConcurrentExecutions", AWS_CONSTRAINT_NOT_NULL);
  } else if (n < 0) {
    struct aws_validation v = {0};
    add_range(&v, true, n, "reservedConcurrentExecutions", 0, INT_MAX);
    mg_validation(&g, &v);
  } else if (g.ctx->cfg.account_concurrency - reserved_by_others(g.ctx, g.fn) - n < AWS_UNRESERVED_MINIMUM) {
    aws_error_send(req, g.rid, AWS_ERR_CONCURRENCY_BELOW_MINIMUM, AWS_UNRESERVED_MINIMUM);
  } else {
    set_reserved(g.fn, n);
    fnmeta_persist(g.m);
    out = cJSON_CreateObject();
    if (out)
      cJSON_AddNumberToObject(out, "ReservedConcurrentExecutions", n);
    mg_send(&g, MG_STATUS_OK, out);
  }
  mg_end(&g);
}

static void get_function_concurrency(struct http_req *req, void *cls)
{
  struct mg g;
  cJSON *out;

  if (!mg_begin(&g, req, cls, MG_FUNCTION, NULL))
    return;
  out = cJSON_CreateObject();
  if (out && g.fn->cfg.reserved_concurrency >= 0)
    cJSON_AddNumberToObject(out, "ReservedConcurrentExecutions", g.fn->cfg.reserved_concurrency);
  mg_send(&g, MG_STATUS_OK, out);
}

static void delete_function_concurrency(struct http_req *req, void *cls)
{
  struct mg g;

  if (!mg_begin(&g, req, cls, MG_FUNCTION, NULL))
    return;
  set_reserved(g.fn, -1);
  fnmeta_persist(g.m);
  mg_send(&g, MG_STATUS_NO_CONTENT, NULL);
}

static void get_account_settings(struct http_req *req, void *cls)
{
  struct mg g;
  unsigned long long code = 0;
  size_t i, j;
  cJSON *o, *limit, *usage;

  mg_init(&g, req, cls);
  for (i = 0; i < g.ctx->reg->n; i++) {
    const struct fnmeta *m = fnmeta_of(g.ctx->reg->fns[i]);
    if (!m)
      continue;
    code += m->code_size;
    for (j = 0; j < m->n_versions; j++)
      code += fnmeta_of(m->versions[j])->code_size;
  }
  o = cJSON_CreateObject();
  limit = o ? cJSON_AddObjectToObject(o, "AccountLimit") : NULL;
  usage = o ? cJSON_AddObjectToObject(o, "AccountUsage") : NULL;
  if (limit && usage) {
    cJSON_AddNumberToObject(limit, "TotalCodeSize", (double)AWS_TOTAL_CODE_SIZE);
    cJSON_AddNumberToObject(limit, "CodeSizeUnzipped", (double)AWS_MAX_UNZIPPED);
    cJSON_AddNumberToObject(limit, "CodeSizeZipped", (double)AWS_MAX_ZIPPED);
    cJSON_AddNumberToObject(limit, "ConcurrentExecutions", g.ctx->cfg.account_concurrency);
    cJSON_AddNumberToObject(limit, "UnreservedConcurrentExecutions",
                            g.ctx->cfg.account_concurrency - reserved_by_others(g.ctx, NULL));
    cJSON_AddNumberToObject(usage, "TotalCodeSize", (double)code);
    cJSON_AddNumberToObject(usage, "FunctionCount", (double)g.ctx->reg->n);
  }
  mg_send(&g, MG_STATUS_OK, o);
}

/* ---- tags (the path parameter is the function's ARN) ---- */

static void tag_resource(struct http_req *req, void *cls)
{
  struct mg g;
  struct fdef d = {0};
  const cJSON *tags, *it;

  if (!mg_begin(&g, req, cls, MG_RESOURCE | MG_BODY, NULL))
    return;
  tags = fd_obj(&d, g.body, "Tags");
  if (d.bad || (tags && !fd_strings_only(tags))) {
    aws_error_send(req, g.rid, AWS_ERR_REQUEST_NOT_JSON, "Tags");
  } else if (!tags) {
    mg_validation1(&g, NULL, "tags", AWS_CONSTRAINT_NOT_NULL);
  } else if (!g.m->tags && !(g.m->tags = cJSON_CreateObject())) {
    aws_error_send(req, g.rid, AWS_ERR_SERVICE);
  } else {
    cJSON_ArrayForEach(it, tags) {
      if (cJSON_GetObjectItemCaseSensitive(g.m->tags, it->string))
        cJSON_ReplaceItemInObjectCaseSensitive(g.m->tags, it->string, cJSON_CreateString(it->valuestring));
      else
        cJSON_AddStringToObject(g.m->tags, it->string, it->valuestring);
    }
    fnmeta_persist(g.m);
    mg_send(&g, MG_STATUS_NO_CONTENT, NULL);
  }
  mg_end(&g);
}

static enum MHD_Result untag_one(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
  struct fnmeta *m = cls;

  (void)kind;
  if (value && !strcmp(key, "tagKeys") && m->tags)
    cJSON_DeleteItemFromObjectCaseSensitive(m->tags, value);
  return MHD_YES;
}

static void untag_resource(struct http_req *req, void *cls)
{
  struct mg g;

  if (!mg_begin(&g, req, cls, MG_RESOURCE, NULL))
    return;
  MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, untag_one, g.m);
  if (g.m->tags && cJSON_GetArraySize(g.m->tags) == 0) {
    cJSON_Delete(g.m->tags);
    g.m->tags = NULL;
  }
  fnmeta_persist(g.m);
  mg_send(&g, MG_STATUS_NO_CONTENT, NULL);
}

static void list_tags(struct http_req *req, void *cls)
{
  struct mg g;
  cJSON *o;

  if (!mg_begin(&g, req, cls, MG_RESOURCE, NULL))
    return;
  o = cJSON_CreateObject();
  if (o)
    cJSON_AddItemToObject(o, "Tags", g.m->tags ? cJSON_Duplicate(g.m->tags, true) : cJSON_CreateObject());
  mg_send(&g, MG_STATUS_OK, o);
}

/* ---- routes ---- */

#define MG_FN "/2015-03-31/functions"
const struct http_route api_functions_routes[] = {
  {.method = "POST", .pattern = MG_FN, .fn = create_function, .max_body = AWS_MAX_CODE_REQUEST},
  {.method = "GET", .pattern = MG_FN "/", .fn = list_functions, .max_body = MG_SMALL_GET_BODY},
  {.method = "GET", .pattern = MG_FN, .fn = list_functions, .max_body = MG_SMALL_GET_BODY},
  {.method = "GET", .pattern = MG_FN "/{}", .fn = get_function, .max_body = MG_SMALL_GET_BODY},
  {.method = "DELETE", .pattern = MG_FN "/{}", .fn = delete_function, .max_body = MG_SMALL_GET_BODY},
  {.method = "GET", .pattern = MG_FN "/{}/configuration", .fn = get_function_configuration,
   .max_body = MG_SMALL_GET_BODY},
  {.method = "PUT", .pattern = MG_FN "/{}/configuration", .fn = update_function_configuration,
   .max_body = AWS_MAX_UPDATE_CONFIG_REQUEST},
  {.method = "PUT", .pattern = MG_FN "/{}/code", .fn = update_function_code, .max_body = AWS_MAX_CODE_REQUEST},
  {.method = "POST", .pattern = MG_FN "/{}/versions", .fn = publish_version,
   .max_body = API_FUNCTIONS_MAX_SMALL_BODY},
  {.method = "GET", .pattern = MG_FN "/{}/versions", .fn = list_versions, .max_body = MG_SMALL_GET_BODY},
  {.method = "POST", .pattern = MG_FN "/{}/aliases", .fn = create_alias, .max_body = API_FUNCTIONS_MAX_SMALL_BODY},
  {.method = "GET", .pattern = MG_FN "/{}/aliases", .fn = list_aliases, .max_body = MG_SMALL_GET_BODY},
  {.method = "GET", .pattern = MG_FN "/{}/aliases/{}", .fn = get_alias, .max_body = MG_SMALL_GET_BODY},
  {.method = "PUT", .pattern = MG_FN "/{}/aliases/{}", .fn = update_alias, .max_body = API_FUNCTIONS_MAX_SMALL_BODY},
  {.method = "DELETE", .pattern = MG_FN "/{}/aliases/{}", .fn = delete_alias, .max_body = MG_SMALL_GET_BODY},
  {.method = "POST", .pattern = MG_FN "/{}/policy", .fn = add_permission, .max_body = API_FUNCTIONS_MAX_SMALL_BODY},
  {.method = "GET", .pattern = MG_FN "/{}/policy", .fn = get_policy, .max_body = MG_SMALL_GET_BODY},
  {.method = "DELETE", .pattern = MG_FN "/{}/policy/{}", .fn = remove_permission, .max_body = MG_SMALL_GET_BODY},
  {.method = "PUT", .pattern = "/2017-10-31/functions/{}/concurrency", .fn = put_function_concurrency,
   .max_body = API_FUNCTIONS_MAX_SMALL_BODY},
  {.method = "GET", .pattern = "/2019-09-30/functions/{}/concurrency", .fn = get_function_concurrency,
   .max_body = MG_SMALL_GET_BODY},
  {.method = "DELETE", .pattern = "/2017-10-31/functions/{}/concurrency", .fn = delete_function_concurrency,
   .max_body = MG_SMALL_GET_BODY},
  {.method = "GET", .pattern = "/2016-08-19/account-settings/", .fn = get_account_settings,
   .max_body = MG_SMALL_GET_BODY},
  {.method = "GET", .pattern = "/2016-08-19/account-settings", .fn = get_account_settings,
   .max_body = MG_SMALL_GET_BODY},
  {.method = "POST", .pattern = "/2017-03-31/tags/{}", .fn = tag_resource, .max_body = API_FUNCTIONS_MAX_SMALL_BODY},
  {.method = "DELETE", .pattern = "/2017-03-31/tags/{}", .fn = untag_resource, .max_body = MG_SMALL_GET_BODY},
  {.method = "GET", .pattern = "/2017-03-31/tags/{}", .fn = list_tags, .max_body = MG_SMALL_GET_BODY},
};
const size_t api_functions_n_routes = sizeof(api_functions_routes) / sizeof(api_functions_routes[0]);

/* ---- start and stop ---- */

struct load_ctx {
  struct lemu_ctx *ctx;
  char **dirs;
  size_t n_dirs;
  size_t loaded;
};

static void load_keep_dir(struct load_ctx *lc, const cJSON *o)
{
  const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "CodeDir");
  char **g;

  if (!cJSON_IsString(d) || !(g = realloc(lc->dirs, (lc->n_dirs + 1) * sizeof(*g))))
    return;
  lc->dirs = g;
  if ((g[lc->n_dirs] = util_strdup(d->valuestring)))
    lc->n_dirs++;
}

static void load_one(const char *name, const char *doc, void *cls)
{
  struct load_ctx *lc = cls;
  struct function *fn;
  char *why = NULL;
  lemu_err_t rc = fnmeta_load(lc->ctx, doc, &fn, &why);

  if (rc == LEMU_ERR_EXISTS) {
    cJSON *root = cJSON_Parse(doc);
    const cJSON *it;
    logs_warn("function %s: the config file (%s) defines it too, and the config wins; the one created "
              "through the API and stored in %s is kept but not served", name, lc->ctx->cfg.source,
              store_dir(lc->ctx->store));
    /* Its code must survive the garbage collection of unreferenced code directories. */
    load_keep_dir(lc, root);
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "Versions"))
      load_keep_dir(lc, it);
    cJSON_Delete(root);
    return;
  }
  if (rc) {
    logs_warn("function %s in %s not loaded: %s", name, store_dir(lc->ctx->store),
              why ? why : lemu_strerror(rc));
    free(why);
    return;
  }
  fnmeta_code_dirs(fnmeta_of(fn), &lc->dirs, &lc->n_dirs);
  lc->loaded++;
}

static lemu_err_t open_store(struct lemu_ctx *ctx, char **message)
{
  char *dir = ctx->cfg.state_dir ? util_strdup(ctx->cfg.state_dir) : config_default_state_dir();
  char cwd[PATH_MAX];
  lemu_err_t rc;

  if (dir && dir[0] != '/' && getcwd(cwd, sizeof(cwd))) { /* code paths are stored absolute */
    char *abs = util_asprintf("%s/%s", cwd, dir);
    free(dir);
    dir = abs;
  }

  if (dir) {
    rc = store_open(dir, &ctx->store, message);
    if (rc == LEMU_ERR_OK || ctx->cfg.state_dir) {
      free(dir);
      return rc;
    }
    logs_warn("%s; using a temporary state directory instead (functions created through the API "
              "will not survive a restart)", *message);
    free(*message);
    *message = NULL;
  }
  free(dir);
  ctx->tmp_state_dir = util_strdup(MG_TMP_STATE_TEMPLATE);
  if (!ctx->tmp_state_dir || !mkdtemp(ctx->tmp_state_dir)) {
    *message = util_asprintf("cannot create a temporary state directory: %s", strerror(errno));
    return LEMU_ERR_IO;
  }
  return store_open(ctx->tmp_state_dir, &ctx->store, message);
}

/* The config file's (or SAM template's) DeadLetterConfig of a function, into its record. */
static lemu_err_t config_dead_letter(struct lemu_ctx *ctx, const char *name, struct fnmeta *m)
{
  const cJSON *a = cJSON_GetObjectItemCaseSensitive(ctx->cfg.async, name);
  const cJSON *dlq = cJSON_GetObjectItemCaseSensitive(a, "DeadLetterConfig");
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(dlq, "TargetArn");

  return cJSON_IsString(t) ? fnmeta_set_dead_letter(m, t->valuestring) : LEMU_ERR_OK;
}

lemu_err_t api_functions_start(struct lemu_ctx *ctx, char **message)
{
  struct load_ctx lc = {.ctx = ctx};
  size_t i;
  lemu_err_t rc;

  *message = NULL;
  for (i = 0; i < ctx->reg->n; i++) {
    struct function *fn = ctx->reg->fns[i];
    struct fnmeta *m = fnmeta_attach(ctx, fn);
    char *tag;
    if (!m)
      return LEMU_ERR_NOMEM;
    m->from_config = true;
    m->local_code = true;
    if (config_dead_letter(ctx, fn->cfg.name, m) != LEMU_ERR_OK)
      return LEMU_ERR_NOMEM;
    tag = util_asprintf("%s%s", MG_LOCAL_SHA_PREFIX, fn->cfg.code_dir);
    if (tag)
      code_package_sha256_b64(tag, strlen(tag), m->code_sha256);
    free(tag);
  }
  rc = open_store(ctx, message);
  if (rc)
    return rc;
  rc = store_load(ctx->store, load_one, &lc);
  if (rc == LEMU_ERR_OK)
    store_gc_code(ctx->store, lc.dirs, lc.n_dirs);
  else
    logs_error("could not read the functions stored in %s", store_dir(ctx->store));
  if (lc.loaded)
    logs_info("loaded %zu function%s created through the API from %s", lc.loaded, lc.loaded == 1 ? "" : "s",
              store_dir(ctx->store));
  for (i = 0; i < lc.n_dirs; i++)
    free(lc.dirs[i]);
  free(lc.dirs);
  return LEMU_ERR_OK;
}

void api_functions_stop(struct lemu_ctx *ctx)
{
  store_close(ctx->store);
  ctx->store = NULL;
  if (ctx->tmp_state_dir) {
    code_package_remove_tree(ctx->tmp_state_dir);
    free(ctx->tmp_state_dir);
    ctx->tmp_state_dir = NULL;
  }
}
