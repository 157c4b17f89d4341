/* API Gateway proxy front (see include/lemu/apigw.h). The route table is built once from the
 * config's Events. Each request becomes one `call`: its proxy event is built from the request,
 * the invocation runs with on_done pointing back here, and whichever comes first (the invocation's
 * end, the integration timeout, the client leaving) settles the call exactly once. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "lemu/api_invoke.h"
#include "lemu/apigw.h"
#include "lemu/aws_errors.h"
#include "lemu/buf.h"
#include "lemu/fault_catalog.h"
#include "lemu/fault_rules.h"
#include "lemu/function_meta.h"
#include "lemu/http_server.h"
#include "lemu/invoker.h"
#include "lemu/logs.h"
#include "lemu/registry.h"
#include "lemu/server.h"
#include "lemu/util.h"

#define APIGW_ID_LEN 10           /* API ids: 10 characters of [a-z0-9] */
#define APIGW_RESOURCE_ID_LEN 6   /* REST resource ids */
#define APIGW_EXT_ID_BYTES 11     /* x-amz-apigw-id / HTTP API request id: base64 of 11 bytes */
#define APIGW_EXT_ID_LEN 16
#define APIGW_LOG_BODY_MAX 1000   /* bytes of an answer quoted in the execution log */
#define APIGW_LOG_LINE_MAX 2048
#define APIGW_GOT_MAX 60          /* a value quoted in a config message, at most */
#define APIGW_METHOD_MAX 16
#define APIGW_STATUS_MIN 200      /* statusCode range lemu passes on (1xx cannot end a response) */
#define APIGW_STATUS_MAX 599
#define APIGW_PROTOCOL "HTTP/1.1"
#define APIGW_TIME_LEN 40
#define APIGW_TIME_FORMAT "%d/%b/%Y:%H:%M:%S +0000"
#define APIGW_TYPE_REST "Api"
#define APIGW_TYPE_HTTP "HttpApi"
#define APIGW_METHOD_ANY "ANY"
#define APIGW_METHOD_ANY_OPENAPI "x-amazon-apigateway-any-method" /* SAM accepts it for ANY */
#define APIGW_UTF8_REPLACEMENT "\xEF\xBF\xBD"

enum seg_kind { SEG_LITERAL, SEG_PARAM, SEG_GREEDY }; /* in order of precedence */

struct route_seg {
  enum seg_kind kind;
  char *text; /* the literal, or the parameter's name */
};

struct route {
  char *function;
  char *event;                    /* the event's name (messages) */
  bool rest;                      /* Type Api; else HttpApi */
  bool v2;                        /* payload format 2.0 */
  char method[APIGW_METHOD_MAX];  /* uppercase, or "ANY" */
  char *path;                     /* "/items/{id}"; NULL: HTTP API's $default route */
  char *route_key;                /* "GET /items/{id}" or "$default" */
  char resource_id[APIGW_RESOURCE_ID_LEN + 1];
  struct route_seg *segs;
  size_t n_segs;
  uint64_t timeout_ms;
};

struct call;

struct apigw {
  struct lemu_ctx *ctx;
  struct http_server *srv;
  char *host;
  struct route *routes;
  size_t n_routes;
  bool has_rest;
  char rest_id[APIGW_ID_LEN + 1];
  char http_id[APIGW_ID_LEN + 1];
  char *rest_log_group;
  char *http_log_group;
  struct call *calls;             /* every request waiting for its function */
};

/* One request waiting for its invocation. */
struct call {
  struct apigw *gw;
  const struct route *route;
  struct http_req *req;           /* NULL once answered or gone */
  struct invocation *inv;         /* NULL once ended or let go */
  char rid[LEMU_UUID_LEN + 1];    /* REST requestId / x-amzn-RequestId */
  char ext_id[APIGW_EXT_ID_LEN + 1]; /* x-amz-apigw-id; HTTP API's requestId */
  char lambda_rid[LEMU_UUID_LEN + 1];
  struct loop_timer timer;        /* the integration timeout */
  struct call *prev, *next;
};

/* ------------------------------------------------------------------------------------------ */
/* small text helpers */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
  unsigned c = s[0], cp;
  size_t len, i;

  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (n < len)
    return 0;
  for (i = 1; i < len; i++) {
    if ((s[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (s[i] & 0x3F);
  }
  if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
      (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
    return 0;
  return len;
}

/* Valid UTF-8 without NUL bytes: what a JSON string can carry unchanged. */
static bool utf8_text(const char *s, size_t n)
{
  size_t i = 0, k;

  while (i < n) {
    if (s[i] == '\0' || !(k = utf8_seq((const unsigned char *)s + i, n - i)))
      return false;
    i += k;
  }
  return true;
}

/* A copy of s with every byte that is not valid UTF-8 replaced by U+FFFD (caller frees): request
 * headers and paths may hold any bytes, and the event must stay valid JSON for the runtime. */
static char *utf8_clean(const char *s)
{
  size_t n = strlen(s), i = 0, k;
  struct buf b;

  buf_init(&b, n * 3 + 1);
  while (i < n) {
    k = utf8_seq((const unsigned char *)s + i, n - i);
    if (k) {
      buf_append(&b, s + i, k);
      i += k;
    } else {
      buf_append_str(&b, APIGW_UTF8_REPLACEMENT);
      i++;
    }
  }
  buf_append(&b, "", 1);
  return buf_take(&b, NULL);
}

/* A one-line, bounded quote of an answer for the execution log (caller frees). */
static char *log_quote(const char *s, size_t n)
{
  size_t i, m = n > APIGW_LOG_BODY_MAX ? APIGW_LOG_BODY_MAX : n;
  char *q = malloc(m + sizeof(AWS_APIGW_LOG_TRUNCATED));

  if (!q)
    return NULL;
  for (i = 0; i < m; i++)
    q[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
  q[m] = '\0';
  if (m < n)
    memcpy(q + m, AWS_APIGW_LOG_TRUNCATED, sizeof(AWS_APIGW_LOG_TRUNCATED));
  return q;
}

static void upper(char *s)
{
  for (; *s; s++)
    if (*s >= 'a' && *s <= 'z')
      *s = (char)(*s - 'a' + 'A');
}

static void lower(char *s)
{
  for (; *s; s++)
    if (*s >= 'A' && *s <= 'Z')
      *s = (char)(*s - 'A' + 'a');
}

/* x-amz-apigw-id / HTTP API request id: 16 base64 characters, as "JKJaXmPLvHcESHA=". */
static void ext_id_new(char out[APIGW_EXT_ID_LEN + 1])
{
  char hex[APIGW_EXT_ID_BYTES * 2 + 1];
  unsigned char raw[APIGW_EXT_ID_BYTES];
  char *b64;
  size_t i;

  util_random_hex(hex, sizeof(hex) - 1);
  for (i = 0; i < APIGW_EXT_ID_BYTES; i++) {
    unsigned v;
    sscanf(hex + 2 * i, "%2x", &v);
    raw[i] = (unsigned char)v;
  }
  b64 = util_base64_encode(raw, sizeof(raw));
  snprintf(out, APIGW_EXT_ID_LEN + 1, "%s", b64 ? b64 : "AAAAAAAAAAAAAAA=");
  free(b64);
}

/* ------------------------------------------------------------------------------------------ */
/* routes: SAM's Path and Method */

static const char *const apigw_methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD",
                                            "OPTIONS", APIGW_METHOD_ANY, NULL};

static bool method_norm(const char *in, char out[APIGW_METHOD_MAX])
{
  size_t i;

  if (!strcasecmp(in, APIGW_METHOD_ANY_OPENAPI))
    in = APIGW_METHOD_ANY;
  if (strlen(in) >= APIGW_METHOD_MAX)
    return false;
  snprintf(out, APIGW_METHOD_MAX, "%s", in);
  upper(out);
  for (i = 0; apigw_methods[i]; i++)
    if (!strcmp(out, apigw_methods[i]))
      return true;
  return false;
}

static bool param_name_ok(const char *s, size_t n)
{
  size_t i;

  if (n == 0)
    return false;
  for (i = 0; i < n; i++)
    if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9') ||
          s[i] == '_' || s[i] == '-' || s[i] == '.'))
      return false;
  return true;
}

static void segs_free(struct route_seg *segs, size_t n)
{
  size_t i;

  for (i = 0; segs && i < n; i++)
    free(segs[i].text);
  free(segs);
}

/* Parse a route path into segments (out may be NULL: check only). false when it is not one. */
static bool path_parse(const char *path, struct route_seg **out, size_t *n_out)
{
  struct route_seg *segs = calloc(APIGW_MAX_SEGMENTS, sizeof(*segs));
  const char *p = path;
  size_t n = 0, i;
  bool ok = false;

  if (!segs || path[0] != '/')
    goto out;
  p++;
  if (*p == '\0') { /* the root resource "/" */
    ok = true;
    goto out;
  }
  for (;;) {
    const char *end = strchr(p, '/');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    struct route_seg *s;
    if (len == 0 || n == APIGW_MAX_SEGMENTS || (n > 0 && segs[n - 1].kind == SEG_GREEDY))
      goto out;
    s = &segs[n];
    if (p[0] == '{') {
      bool greedy = len >= 3 && p[len - 2] == '+';
      size_t name_len = len - 2 - (greedy ? 1 : 0);
      if (len < 3 || p[len - 1] != '}' || !param_name_ok(p + 1, name_len))
        goto out;
      s->kind = greedy ? SEG_GREEDY : SEG_PARAM;
      s->text = strndup(p + 1, name_len);
      for (i = 0; s->text && i < n; i++)
        if (segs[i].kind != SEG_LITERAL && !strcmp(segs[i].text, s->text))
          goto out_n; /* a parameter named twice */
    } else {
      if (memchr(p, '{', len) || memchr(p, '}', len))
        goto out;
      s->kind = SEG_LITERAL;
      s->text = strndup(p, len);
    }
    n++;
    if (!s->text)
      goto out;
    if (!end)
      break;
    p = end + 1;
  }
  ok = true;
  goto out;
out_n:
  n++;
out:
  if (ok && out) {
    *out = segs;
    *n_out = n;
  } else {
    segs_free(segs, n);
  }
  return ok;
}

/* ------------------------------------------------------------------------------------------ */
/* Events validation (config time) */

#define EV_WHAT_EVENTS "an object of events such as {\"Api\": {\"Type\": \"Api\", \"Properties\": " \
                       "{\"Path\": \"/items/{id}\", \"Method\": \"get\"}}}"
#define EV_WHAT_PATH "a path such as \"/items/{id}\" or \"/{proxy+}\" (starts with /, no empty " \
                     "segment, {name} and a last {name+} as whole segments)"

static char *got_text(const cJSON *v)
{
  char *s = v ? cJSON_PrintUnformatted(v) : NULL, *out;

  if (!s)
    return util_strdup("nothing");
  if (strlen(s) > APIGW_GOT_MAX) {
    out = util_asprintf("%.*s...", APIGW_GOT_MAX, s);
    free(s);
    return out;
  }
  return s;
}

static bool ev_fail(char **sub, char **message, const char *ev_name, const char *key, const cJSON *got,
                    const char *expected)
{
  char *g = got_text(got);

  *sub = key ? util_asprintf("%s.%s", ev_name, key) : util_strdup(ev_name);
  *message = util_asprintf("expected %s, got %s", expected, g ? g : "");
  free(g);
  return false;
}

static bool ev_unknown(char **sub, char **message, const char *ev_name, const char *key,
                       const char *expected)
{
  *sub = util_asprintf("%s.%s", ev_name, key);
  *message = util_asprintf("unknown key (expected one of: %s)", expected);
  return false;
}

static bool keys_known(const cJSON *obj, const char *const *keys, const char **unknown)
{
  const cJSON *it;
  size_t k;

  cJSON_ArrayForEach(it, obj) {
    bool ok = false;
    for (k = 0; keys[k]; k++)
      ok |= !strcmp(it->string, keys[k]);
    if (!ok) {
      *unknown = it->string;
      return false;
    }
  }
  return true;
}

static bool event_check(const cJSON *ev, char **sub, char **message)
{
  static const char *const ev_keys[] = {"Type", "Properties", NULL};
  static const char *const prop_keys[] = {"Path", "Method", "PayloadFormatVersion", "TimeoutInMillis", NULL};
  const cJSON *type, *props, *path, *method, *pfv, *tim;
  const char *unknown = NULL, *name = ev->string;
  char m[APIGW_METHOD_MAX];
  char *pp = NULL;
  bool rest;
  unsigned max_ms;

  if (!cJSON_IsObject(ev))
    return ev_fail(sub, message, name, NULL, ev,
                   "an event {\"Type\": \"Api\" | \"HttpApi\", \"Properties\": {\"Path\": ..., \"Method\": ...}}");
  if (!keys_known(ev, ev_keys, &unknown))
    return ev_unknown(sub, message, name, unknown, "Type, Properties");
  type = cJSON_GetObjectItemCaseSensitive(ev, "Type");
  if (!cJSON_IsString(type) || (strcmp(type->valuestring, APIGW_TYPE_REST) && strcmp(type->valuestring, APIGW_TYPE_HTTP)))
    return ev_fail(sub, message, name, "Type", type,
                   "\"Api\" or \"HttpApi\" (lemu emulates the API Gateway event sources)");
  rest = !strcmp(type->valuestring, APIGW_TYPE_REST);
  props = cJSON_GetObjectItemCaseSensitive(ev, "Properties");
  if (!props && !rest)
    return true; /* HttpApi without Properties: the $default route */
  if (!cJSON_IsObject(props))
    return ev_fail(sub, message, name, "Properties", props, "an object with Path and Method");
  pp = util_asprintf("%s.Properties", name);
  if (!pp)
    return ev_fail(sub, message, name, NULL, NULL, "memory");
  if (!keys_known(props, prop_keys, &unknown)) {
    ev_unknown(sub, message, pp, unknown, "Path, Method, PayloadFormatVersion, TimeoutInMillis");
    goto fail;
  }
  path = cJSON_GetObjectItemCaseSensitive(props, "Path");
  method = cJSON_GetObjectItemCaseSensitive(props, "Method");
  pfv = cJSON_GetObjectItemCaseSensitive(props, "PayloadFormatVersion");
  tim = cJSON_GetObjectItemCaseSensitive(props, "TimeoutInMillis");
  if ((rest || path || method) && (!cJSON_IsString(path) || !path_parse(path->valuestring, NULL, NULL))) {
    ev_fail(sub, message, pp, "Path", path, EV_WHAT_PATH);
    goto fail;
  }
  if ((rest || path || method) && (!cJSON_IsString(method) || !method_norm(method->valuestring, m))) {
    ev_fail(sub, message, pp, "Method", method,
            "an HTTP method: get, post, put, patch, delete, head, options or any");
    goto fail;
  }
  if (pfv && (rest || !cJSON_IsString(pfv) || (strcmp(pfv->valuestring, "1.0") && strcmp(pfv->valuestring, "2.0")))) {
    ev_fail(sub, message, pp, "PayloadFormatVersion", pfv,
            rest ? "no PayloadFormatVersion for Type Api (REST APIs send payload 1.0)" : "\"1.0\" or \"2.0\"");
    goto fail;
  }
  max_ms = rest ? APIGW_REST_TIMEOUT_MS : APIGW_HTTP_TIMEOUT_MS;
  if (tim && (!cJSON_IsNumber(tim) || tim->valuedouble != floor(tim->valuedouble) ||
              tim->valuedouble < APIGW_MIN_TIMEOUT_MS || tim->valuedouble > max_ms)) {
    ev_fail(sub, message, pp, "TimeoutInMillis", tim,
            rest ? "an integer from 50 to 29000" : "an integer from 50 to 30000");
    goto fail;
  }
  free(pp);
  return true;
fail:
  free(pp);
  return false;
}

bool apigw_events_check(const cJSON *events, char **sub, char **message)
{
  const cJSON *ev;

  *sub = NULL;
  *message = NULL;
  if (!cJSON_IsObject(events)) {
    char *g = got_text(events);
    *sub = util_strdup("");
    *message = util_asprintf("expected %s, got %s", EV_WHAT_EVENTS, g ? g : "");
    free(g);
    return false;
  }
  cJSON_ArrayForEach(ev, events)
    if (!event_check(ev, sub, message))
      return false;
  return true;
}

/* ------------------------------------------------------------------------------------------ */
/* route table */

static void route_cleanup(struct route *rt)
{
  free(rt->function);
  free(rt->event);
  free(rt->path);
  free(rt->route_key);
  segs_free(rt->segs, rt->n_segs);
  memset(rt, 0, sizeof(*rt));
}

/* Build a route from a checked event. */
static lemu_err_t route_init(struct route *rt, const char *function, const cJSON *ev, double timeout_s)
{
  const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev, "Type");
  const cJSON *props = cJSON_GetObjectItemCaseSensitive(ev, "Properties");
  const cJSON *path = props ? cJSON_GetObjectItemCaseSensitive(props, "Path") : NULL;
  const cJSON *method = props ? cJSON_GetObjectItemCaseSensitive(props, "Method") : NULL;
  const cJSON *pfv = props ? cJSON_GetObjectItemCaseSensitive(props, "PayloadFormatVersion") : NULL;
  const cJSON *tim = props ? cJSON_GetObjectItemCaseSensitive(props, "TimeoutInMillis") : NULL;

  memset(rt, 0, sizeof(*rt));
  rt->rest = !strcmp(type->valuestring, APIGW_TYPE_REST);
  rt->v2 = !rt->rest && !(cJSON_IsString(pfv) && !strcmp(pfv->valuestring, "1.0"));
  rt->function = util_strdup(function);
  rt->event = util_strdup(ev->string);
  if (cJSON_IsNumber(tim))
    rt->timeout_ms = (uint64_t)tim->valuedouble;
  else if (timeout_s > 0)
    rt->timeout_ms = (uint64_t)(timeout_s * 1000.0);
  else
    rt->timeout_ms = rt->rest ? APIGW_REST_TIMEOUT_MS : APIGW_HTTP_TIMEOUT_MS;
  util_random_hex(rt->resource_id, APIGW_RESOURCE_ID_LEN);
  if (cJSON_IsString(path)) {
    method_norm(method->valuestring, rt->method);
    rt->path = util_strdup(path->valuestring);
    rt->route_key = util_asprintf("%s %s", rt->method, path->valuestring);
    if (!rt->path || !path_parse(rt->path, &rt->segs, &rt->n_segs))
      goto fail;
  } else {
    snprintf(rt->method, sizeof(rt->method), "%s", APIGW_METHOD_ANY);
    rt->route_key = util_strdup(AWS_APIGW_ROUTE_DEFAULT);
  }
  if (!rt->function || !rt->event || !rt->route_key)
    goto fail;
  return LEMU_ERR_OK;
fail:
  route_cleanup(rt);
  return LEMU_ERR_NOMEM;
}

/* Two routes API Gateway could not tell apart (same method, same shape of path). */
static bool route_clash(const struct route *a, const struct route *b)
{
  size_t i;

  if (strcmp(a->method, b->method) || !a->path != !b->path || a->n_segs != b->n_segs)
    return false;
  for (i = 0; i < a->n_segs; i++)
    if (a->segs[i].kind != b->segs[i].kind ||
        (a->segs[i].kind == SEG_LITERAL && strcmp(a->segs[i].text, b->segs[i].text)))
      return false;
  return true;
}

struct seg_view {
  const char *p;
  size_t len;
};

/* Split a request path; SIZE_MAX when it has too many segments to match any route. */
static size_t path_split(const char *path, struct seg_view *segs)
{
  size_t n = 0;
  const char *p = path;

  while (*p) {
    const char *end;
    size_t len;
    while (*p == '/')
      p++;
    if (!*p)
      break;
    end = strchr(p, '/');
    len = end ? (size_t)(end - p) : strlen(p);
    if (n == APIGW_MAX_SEGMENTS)
      return SIZE_MAX;
    segs[n].p = p;
    segs[n].len = len;
    n++;
    p += len;
  }
  return n;
}

static bool route_match_path(const struct route *rt, const struct seg_view *segs, size_t n)
{
  size_t i;

  if (!rt->path)
    return true;
  for (i = 0; i < rt->n_segs; i++) {
    const struct route_seg *s = &rt->segs[i];
    if (s->kind == SEG_GREEDY)
      return i < n; /* one or more segments */
    if (i >= n)
      return false;
    if (s->kind == SEG_LITERAL && (strlen(s->text) != segs[i].len || memcmp(s->text, segs[i].p, segs[i].len)))
      return false;
  }
  return n == rt->n_segs;
}

/* < 0 when a is the more specific route (API Gateway's precedence: literal segments over
 * {param} over {proxy+}, a method over ANY, $default last). */
static int route_cmp(const struct route *a, const struct route *b)
{
  size_t i;

  if (!a->path || !b->path)
    return !a->path - !b->path;
  for (i = 0; i < a->n_segs && i < b->n_segs; i++)
    if (a->segs[i].kind != b->segs[i].kind)
      return (int)a->segs[i].kind - (int)b->segs[i].kind;
  if (a->n_segs != b->n_segs)
    return a->n_segs > b->n_segs ? -1 : 1;
  return !strcmp(a->method, APIGW_METHOD_ANY) - !strcmp(b->method, APIGW_METHOD_ANY);
}

/* The route for method + path and its path parameters (*params: a new object, maybe empty).
 * Without one, *rest_path / *http_path say whether a route of that kind has this path. */
static const struct route *route_find(const struct apigw *gw, const char *method, const char *path,
                                      cJSON **params, bool *rest_path, bool *http_path)
{
  struct seg_view segs[APIGW_MAX_SEGMENTS];
  size_t n = path_split(path, segs), i;
  const struct route *best = NULL;

  *params = NULL;
  *rest_path = *http_path = false;
  if (n == SIZE_MAX)
    return NULL;
  for (i = 0; i < gw->n_routes; i++) {
    const struct route *rt = &gw->routes[i];
    if (!route_match_path(rt, segs, n))
      continue;
    if (rt->path) {
      *rest_path |= rt->rest;
      *http_path |= !rt->rest;
    }
    if (strcmp(rt->method, APIGW_METHOD_ANY) && strcmp(rt->method, method))
      continue;
    if (!best || route_cmp(rt, best) < 0)
      best = rt;
  }
  if (!best)
    return NULL;
  *params = cJSON_CreateObject();
  for (i = 0; *params && i < best->n_segs; i++) {
    const struct route_seg *s = &best->segs[i];
    const char *end;
    char *v, *clean;
    if (s->kind == SEG_LITERAL)
      continue;
    end = s->kind == SEG_GREEDY ? segs[n - 1].p + segs[n - 1].len : segs[i].p + segs[i].len;
    v = strndup(segs[i].p, (size_t)(end - segs[i].p));
    clean = v ? utf8_clean(v) : NULL;
    if (clean)
      cJSON_AddStringToObject(*params, s->text, clean);
    free(clean);
    free(v);
  }
  return best;
}

/* ------------------------------------------------------------------------------------------ */
/* the proxy event (reference §8.1) */

struct req_view {
  bool v2;
  cJSON *headers, *mv_headers, *query, *mv_query, *cookies;
  struct buf raw_query;
};

static void obj_set(cJSON *o, const char *k, const char *v)
{
  if (cJSON_GetObjectItemCaseSensitive(o, k))
    cJSON_ReplaceItemInObjectCaseSensitive(o, k, cJSON_CreateString(v));
  else
    cJSON_AddStringToObject(o, k, v);
}

/* payload 2.0: duplicates are comma-joined */
static void obj_join(cJSON *o, const char *k, const char *v)
{
  const cJSON *old = cJSON_GetObjectItemCaseSensitive(o, k);
  char *j;

  if (!cJSON_IsString(old)) {
    cJSON_AddStringToObject(o, k, v);
    return;
  }
  j = util_asprintf("%s,%s", old->valuestring, v);
  if (j)
    cJSON_ReplaceItemInObjectCaseSensitive(o, k, cJSON_CreateString(j));
  free(j);
}

static void obj_push(cJSON *o, const char *k, const char *v)
{
  cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, k);

  if (!arr)
    arr = cJSON_AddArrayToObject(o, k);
  if (arr)
    cJSON_AddItemToArray(arr, cJSON_CreateString(v));
}

static void add_cookies(cJSON *cookies, const char *v)
{
  while (*v) {
    const char *end = strchr(v, ';');
    size_t len = end ? (size_t)(end - v) : strlen(v);
    while (len > 0 && *v == ' ') {
      v++;
      len--;
    }
    while (len > 0 && v[len - 1] == ' ')
      len--;
    if (len > 0) {
      char *c = strndup(v, len);
      if (c)
        cJSON_AddItemToArray(cookies, cJSON_CreateString(c));
      free(c);
    }
    if (!end)
      break;
    v = end + 1;
  }
}

static enum MHD_Result on_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
  struct req_view *v = cls;
  char *name = utf8_clean(key ? key : ""), *val = utf8_clean(value ? value : "");

  (void)kind;
  if (name && val) {
    if (v->v2) {
      lower(name);
      if (!strcmp(name, "cookie"))
        add_cookies(v->cookies, val);
      else
        obj_join(v->headers, name, val);
    } else {
      obj_set(v->headers, name, val);
      obj_push(v->mv_headers, name, val);
    }
  }
  free(name);
  free(val);
  return MHD_YES;
}

static void url_encode(struct buf *b, const char *s)
{
  static const char hex[] = "0123456789ABCDEF";

  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '.' || c == '_' || c == '~') {
      buf_append(b, s, 1);
    } else {
      char e[3] = {'%', hex[c >> 4], hex[c & 15]};
      buf_append(b, e, 3);
    }
  }
}

static enum MHD_Result on_query(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
  struct req_view *v = cls;
  char *name = utf8_clean(key ? key : ""), *val = utf8_clean(value ? value : "");

  (void)kind;
  /* rawQueryString: MHD hands out decoded arguments, so this is their canonical re-encoding */
  if (v->raw_query.len)
    buf_append(&v->raw_query, "&", 1);
  url_encode(&v->raw_query, key ? key : "");
  if (value) {
    buf_append(&v->raw_query, "=", 1);
    url_encode(&v->raw_query, value);
  }
  if (name && val) {
    if (v->v2) {
      obj_join(v->query, name, val);
    } else {
      obj_set(v->query, name, val);
      obj_push(v->mv_query, name, val);
    }
  }
  free(name);
  free(val);
  return MHD_YES;
}

/* Bodies API Gateway passes as text; anything else (or bytes that are not UTF-8) is base64. */
static bool content_type_textual(const char *ct)
{
  static const char *const marks[] = {"json", "xml", "javascript", "x-www-form-urlencoded",
                                      "graphql", "yaml", NULL};
  size_t n, i;

  if (!ct)
    return true;
  while (*ct == ' ')
    ct++;
  n = strcspn(ct, ";");
  if (n == 0 || (n >= 5 && !strncasecmp(ct, "text/", 5)))
    return true;
  for (i = 0; marks[i]; i++) {
    size_t m = strlen(marks[i]), k;
    for (k = 0; k + m <= n; k++)
      if (!strncasecmp(ct + k, marks[i], m))
        return true;
  }
  return false;
}

static void peer_ip(struct http_req *req, char *out, size_t n)
{
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

  snprintf(out, n, "%s", APIGW_DEFAULT_HOST);
  if (!ci || !ci->client_addr)
    return;
  if (ci->client_addr->sa_family == AF_INET)
    inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)ci->client_addr)->sin_addr, out, (socklen_t)n);
  else if (ci->client_addr->sa_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)ci->client_addr)->sin6_addr, out, (socklen_t)n);
}

/* The event for req on rt, as JSON text (caller frees; *len its length); NULL when out of memory. */
static char *event_build(struct apigw *gw, struct call *call, struct http_req *req, const struct route *rt,
                         cJSON *params, size_t *len)
{
  struct lemu_ctx *ctx = gw->ctx;
  struct req_view v = {.v2 = rt->v2};
  const char *api_id = rt->rest ? gw->rest_id : gw->http_id;
  const char *stage = rt->rest ? AWS_APIGW_STAGE_REST : AWS_APIGW_STAGE_HTTP;
  const char *ua = http_req_header(req, "User-Agent");
  const char *ct = http_req_header(req, "Content-Type");
  uint64_t now = util_epoch_ms();
  char ip[INET6_ADDRSTRLEN], when[APIGW_TIME_LEN], *path = utf8_clean(req->path), *ua_clean = NULL;
  char *domain = util_asprintf(AWS_APIGW_DOMAIN_FMT, api_id, ctx->cfg.region), *text = NULL, *raw = NULL;
  char *stage_path = NULL, *body = NULL;
  cJSON *ev = cJSON_CreateObject(), *rc, *o;
  bool binary = req->body.len > 0 && !(content_type_textual(ct) && utf8_text(req->body.data, req->body.len));
  time_t secs = (time_t)(now / 1000);
  struct tm tm;

  buf_init(&v.raw_query, APIGW_MAX_REQUEST_BODY);
  v.headers = cJSON_CreateObject();
  v.query = cJSON_CreateObject();
  v.mv_headers = v.v2 ? NULL : cJSON_CreateObject();
  v.mv_query = v.v2 ? NULL : cJSON_CreateObject();
  v.cookies = v.v2 ? cJSON_CreateArray() : NULL;
  ua_clean = utf8_clean(ua ? ua : "");
  if (!ev || !path || !domain || !ua_clean || !v.headers || !v.query || (!v.v2 && (!v.mv_headers || !v.mv_query)) ||
      (v.v2 && !v.cookies))
    goto out;
  gmtime_r(&secs, &tm);
  strftime(when, sizeof(when), APIGW_TIME_FORMAT, &tm);
  peer_ip(req, ip, sizeof(ip));
  MHD_get_connection_values(req->conn, MHD_HEADER_KIND, on_header, &v);
  MHD_get_connection_values(req->conn, MHD_GET_ARGUMENT_KIND, on_query, &v);
  if (req->body.len > 0) {
    /* the buffer is not NUL-terminated; text bodies hold no NUL (utf8_text) */
    body = binary ? util_base64_encode(req->body.data, req->body.len) : strndup(req->body.data, req->body.len);
    if (!body)
      goto out;
  }
  if (rt->v2) {
    raw = buf_take(&v.raw_query, NULL);
    cJSON_AddStringToObject(ev, "version", "2.0");
    cJSON_AddStringToObject(ev, "routeKey", rt->route_key);
    cJSON_AddStringToObject(ev, "rawPath", path);
    cJSON_AddStringToObject(ev, "rawQueryString", raw ? raw : "");
    if (cJSON_GetArraySize(v.cookies) > 0) {
      cJSON_AddItemToObject(ev, "cookies", v.cookies);
      v.cookies = NULL;
    }
    cJSON_AddItemToObject(ev, "headers", v.headers);
    v.headers = NULL;
    if (cJSON_GetArraySize(v.query) > 0) {
      cJSON_AddItemToObject(ev, "queryStringParameters", v.query);
      v.query = NULL;
    }
    rc = cJSON_AddObjectToObject(ev, "requestContext");
    cJSON_AddStringToObject(rc, "accountId", ctx->cfg.account_id);
    cJSON_AddStringToObject(rc, "apiId", api_id);
    cJSON_AddStringToObject(rc, "domainName", domain);
    cJSON_AddStringToObject(rc, "domainPrefix", api_id);
    o = cJSON_AddObjectToObject(rc, "http");
    cJSON_AddStringToObject(o, "method", req->method);
    cJSON_AddStringToObject(o, "path", path);
    cJSON_AddStringToObject(o, "protocol", APIGW_PROTOCOL);
    cJSON_AddStringToObject(o, "sourceIp", ip);
    cJSON_AddStringToObject(o, "userAgent", ua_clean);
    cJSON_AddStringToObject(rc, "requestId", call->ext_id);
    cJSON_AddStringToObject(rc, "routeKey", rt->route_key);
    cJSON_AddStringToObject(rc, "stage", stage);
    cJSON_AddStringToObject(rc, "time", when);
    cJSON_AddNumberToObject(rc, "timeEpoch", (double)now);
    if (req->body.len > 0)
      cJSON_AddStringToObject(ev, "body", body);
    if (cJSON_GetArraySize(params) > 0)
      cJSON_AddItemReferenceToObject(ev, "pathParameters", params);
    cJSON_AddBoolToObject(ev, "isBase64Encoded", binary);
  } else {
    if (!rt->rest)
      cJSON_AddStringToObject(ev, "version", "1.0");
    cJSON_AddStringToObject(ev, "resource", rt->path ? rt->path : "/");
    cJSON_AddStringToObject(ev, "path", path);
    cJSON_AddStringToObject(ev, "httpMethod", req->method);
    cJSON_AddItemToObject(ev, "headers", v.headers);
    cJSON_AddItemToObject(ev, "multiValueHeaders", v.mv_headers);
    v.headers = v.mv_headers = NULL;
    if (cJSON_GetArraySize(v.query) > 0) {
      cJSON_AddItemToObject(ev, "queryStringParameters", v.query);
      cJSON_AddItemToObject(ev, "multiValueQueryStringParameters", v.mv_query);
      v.query = v.mv_query = NULL;
    } else {
      cJSON_AddNullToObject(ev, "queryStringParameters");
      cJSON_AddNullToObject(ev, "multiValueQueryStringParameters");
    }
    if (cJSON_GetArraySize(params) > 0)
      cJSON_AddItemReferenceToObject(ev, "pathParameters", params);
    else
      cJSON_AddNullToObject(ev, "pathParameters");
    cJSON_AddNullToObject(ev, "stageVariables");
    rc = cJSON_AddObjectToObject(ev, "requestContext");
    cJSON_AddStringToObject(rc, "resourceId", rt->resource_id);
    cJSON_AddStringToObject(rc, "resourcePath", rt->path ? rt->path : "/");
    cJSON_AddStringToObject(rc, "httpMethod", req->method);
    cJSON_AddStringToObject(rc, "extendedRequestId", call->ext_id);
    cJSON_AddStringToObject(rc, "requestTime", when);
    stage_path = rt->rest ? util_asprintf("/%s%s", stage, path) : util_strdup(path);
    cJSON_AddStringToObject(rc, "path", stage_path ? stage_path : path);
    cJSON_AddStringToObject(rc, "accountId", ctx->cfg.account_id);
    cJSON_AddStringToObject(rc, "protocol", APIGW_PROTOCOL);
    cJSON_AddStringToObject(rc, "stage", stage);
    cJSON_AddStringToObject(rc, "domainPrefix", api_id);
    cJSON_AddNumberToObject(rc, "requestTimeEpoch", (double)now);
    cJSON_AddStringToObject(rc, "requestId", rt->rest ? call->rid : call->ext_id);
    o = cJSON_AddObjectToObject(rc, "identity");
    cJSON_AddNullToObject(o, "cognitoIdentityPoolId");
    cJSON_AddNullToObject(o, "accountId");
    cJSON_AddNullToObject(o, "cognitoIdentityId");
    cJSON_AddNullToObject(o, "caller");
    cJSON_AddStringToObject(o, "sourceIp", ip);
    cJSON_AddNullToObject(o, "principalOrgId");
    cJSON_AddNullToObject(o, "accessKey");
    cJSON_AddNullToObject(o, "cognitoAuthenticationType");
    cJSON_AddNullToObject(o, "cognitoAuthenticationProvider");
    cJSON_AddNullToObject(o, "userArn");
    cJSON_AddStringToObject(o, "userAgent", ua_clean);
    cJSON_AddNullToObject(o, "user");
    cJSON_AddStringToObject(rc, "domainName", domain);
    cJSON_AddStringToObject(rc, "apiId", api_id);
    if (req->body.len > 0)
      cJSON_AddStringToObject(ev, "body", body);
    else
      cJSON_AddNullToObject(ev, "body");
    cJSON_AddBoolToObject(ev, "isBase64Encoded", binary);
  }
  text = cJSON_PrintUnformatted(ev);
  if (text)
    *len = strlen(text);
out:
  cJSON_Delete(ev);
  cJSON_Delete(v.headers);
  cJSON_Delete(v.mv_headers);
  cJSON_Delete(v.query);
  cJSON_Delete(v.mv_query);
  cJSON_Delete(v.cookies);
  buf_cleanup(&v.raw_query);
  free(raw);
  free(path);
  free(ua_clean);
  free(domain);
  free(stage_path);
  free(body);
  return text;
}

/* ------------------------------------------------------------------------------------------ */
/* the proxy response (reference §8.2) */

static const char *const rest_response_keys[] = {"statusCode", "headers", "multiValueHeaders", "body",
                                                 "isBase64Encoded", NULL};
/* Response headers API Gateway renames to X-Amzn-Remapped-<name> rather than pass on. */
static const char *const remapped_headers[] = {"Authorization", "Connection", "Content-Length", "Date",
                                               "Server", "WWW-Authenticate", NULL};
/* Hop-by-hop headers that would break the connection's framing: dropped. */
static const char *const dropped_headers[] = {"Transfer-Encoding", "Keep-Alive", "Upgrade", "TE", "Trailer",
                                              "Proxy-Connection", NULL};

#define WHY_NOT_JSON "the answer is not JSON"
#define WHY_NOT_OBJECT "the answer is not a JSON object (null, a string, a number or an array)"
#define WHY_UNKNOWN_KEY "the answer has a key other than statusCode, headers, multiValueHeaders, body, isBase64Encoded"
#define WHY_STATUS "statusCode is missing or not an integer from 200 to 599"
#define WHY_HEADERS "headers is not an object of string (or number or boolean) values"
#define WHY_MV_HEADERS "multiValueHeaders is not an object of arrays of strings"
#define WHY_COOKIES "cookies is not an array of strings"
#define WHY_BODY "body is not a string"
#define WHY_BASE64_FLAG "isBase64Encoded is not a boolean"
#define WHY_BASE64 "isBase64Encoded is true but body is not valid base64"
#define WHY_HEADER_TEXT "a header name or value is not valid in HTTP (control characters, empty name)"
#define WHY_HEADER_SIZE "the headers exceed 10240 bytes"

void apigw_response_cleanup(struct apigw_response *r)
{
  size_t i;

  for (i = 0; i < r->n_headers; i++) {
    free(r->headers[i].name);
    free(r->headers[i].value);
  }
  free(r->headers);
  free(r->body);
  memset(r, 0, sizeof(*r));
}

static bool in_list(const char *name, const char *const *list)
{
  size_t i;

  for (i = 0; list[i]; i++)
    if (!strcasecmp(name, list[i]))
      return true;
  return false;
}

static bool header_name_ok(const char *s)
{
  if (!*s)
    return false;
  for (; *s; s++)
    if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", *s))
      return false;
  return true;
}

static bool header_value_ok(const char *s)
{
  for (; *s; s++)
    if ((unsigned char)*s < 0x20 && *s != '\t')
      return false;
  return true;
}

struct hdr_acc {
  struct apigw_response *r;
  size_t bytes;
  size_t cap;
};

/* Append one header (remapped or dropped as API Gateway does). false with *why when invalid. */
static bool hdr_add(struct hdr_acc *a, const char *name, const char *value, const char **why)
{
  struct apigw_header *h;
  char *n, *v;

  if (!header_name_ok(name) || !header_value_ok(value)) {
    *why = WHY_HEADER_TEXT;
    return false;
  }
  if (in_list(name, dropped_headers))
    return true;
  a->bytes += strlen(name) + strlen(value) + 4;
  if (a->bytes > APIGW_MAX_RESPONSE_HEADERS) {
    *why = WHY_HEADER_SIZE;
    return false;
  }
  if (a->r->n_headers == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 8;
    struct apigw_header *g = realloc(a->r->headers, cap * sizeof(*g));
    if (!g) {
      *why = WHY_HEADER_SIZE;
      return false;
    }
    a->r->headers = g;
    a->cap = cap;
  }
  n = in_list(name, remapped_headers) ? util_asprintf("%s%s", AWS_APIGW_HDR_REMAPPED_PREFIX, name)
                                      : util_strdup(name);
  v = util_strdup(value);
  if (!n || !v) {
    free(n);
    free(v);
    *why = WHY_HEADER_SIZE;
    return false;
  }
  h = &a->r->headers[a->r->n_headers++];
  h->name = n;
  h->value = v;
  return true;
}

/* A header value as API Gateway takes it: strings, numbers and booleans (in their JSON spelling). */
static char *scalar_text(const cJSON *v)
{
  if (cJSON_IsString(v))
    return util_strdup(v->valuestring);
  if (cJSON_IsNumber(v) || cJSON_IsBool(v))
    return cJSON_PrintUnformatted(v);
  return NULL;
}

static bool has_header(const struct apigw_response *r, const char *name)
{
  size_t i;

  for (i = 0; i < r->n_headers; i++)
    if (!strcasecmp(r->headers[i].name, name))
      return true;
  return false;
}

static bool status_of(const cJSON *v, unsigned *out)
{
  double d;

  if (cJSON_IsNumber(v)) {
    d = v->valuedouble;
  } else if (cJSON_IsString(v) && v->valuestring[0] && strlen(v->valuestring) <= 3 &&
             strspn(v->valuestring, "0123456789") == strlen(v->valuestring)) {
    d = atof(v->valuestring); /* a numeric string (accepted; unconfirmed) */
  } else {
    return false;
  }
  if (d != floor(d) || d < APIGW_STATUS_MIN || d > APIGW_STATUS_MAX)
    return false;
  *out = (unsigned)d;
  return true;
}

static bool body_set(struct apigw_response *r, const char *data, size_t len)
{
  r->body = malloc(len + 1);
  if (!r->body)
    return false;
  if (len)
    memcpy(r->body, data, len);
  r->body[len] = '\0';
  r->body_len = len;
  return true;
}

/* HTTP API 2.0 without statusCode: 200, application/json, the answer itself as the body. */
static bool response_infer(const cJSON *root, const char *text, size_t len, struct apigw_response *out,
                           const char **why)
{
  struct hdr_acc a = {.r = out};

  out->status = 200;
  if (!hdr_add(&a, "Content-Type", AWS_CONTENT_TYPE_JSON, why))
    return false;
  if (cJSON_IsString(root))
    return body_set(out, root->valuestring, strlen(root->valuestring));
  return body_set(out, text, len);
}

bool apigw_response_map(const char *text, size_t len, bool rest, bool v2, struct apigw_response *out,
                        const char **why)
{
  cJSON *root = text && len ? cJSON_ParseWithLength(text, len) : NULL;
  const cJSON *it, *headers, *mv, *cookies, *body, *b64;
  struct apigw_response r = {0};
  struct hdr_acc a = {.r = &r};
  bool ok = false, decode = false;

  *why = NULL;
  if (!root) {
    *why = WHY_NOT_JSON;
    goto out;
  }
  if (v2 && !(cJSON_IsObject(root) && cJSON_GetObjectItemCaseSensitive(root, "statusCode"))) {
    ok = response_infer(root, text, len, &r, why);
    goto out;
  }
  if (!cJSON_IsObject(root)) {
    *why = WHY_NOT_OBJECT;
    goto out;
  }
  if (rest)
    cJSON_ArrayForEach(it, root)
      if (!in_list(it->string, rest_response_keys)) {
        *why = WHY_UNKNOWN_KEY;
        goto out;
      }
  if (!status_of(cJSON_GetObjectItemCaseSensitive(root, "statusCode"), &r.status)) {
    *why = WHY_STATUS;
    goto out;
  }
  headers = cJSON_GetObjectItemCaseSensitive(root, "headers");
  mv = v2 ? NULL : cJSON_GetObjectItemCaseSensitive(root, "multiValueHeaders");
  cookies = v2 ? cJSON_GetObjectItemCaseSensitive(root, "cookies") : NULL;
  body = cJSON_GetObjectItemCaseSensitive(root, "body");
  b64 = cJSON_GetObjectItemCaseSensitive(root, "isBase64Encoded");
  if (headers && !cJSON_IsNull(headers) && !cJSON_IsObject(headers)) {
    *why = WHY_HEADERS;
    goto out;
  }
  if (mv && !cJSON_IsNull(mv) && !cJSON_IsObject(mv)) {
    *why = WHY_MV_HEADERS;
    goto out;
  }
  if (cookies && !cJSON_IsNull(cookies) && !cJSON_IsArray(cookies)) {
    *why = WHY_COOKIES;
    goto out;
  }
  if (body && !cJSON_IsNull(body) && !cJSON_IsString(body)) {
    *why = WHY_BODY;
    goto out;
  }
  if (b64 && !cJSON_IsNull(b64) && !cJSON_IsBool(b64)) {
    *why = WHY_BASE64_FLAG;
    goto out;
  }
  decode = cJSON_IsTrue(b64);
  /* multiValueHeaders first: for a name in both, only its values count (AWS merges them so) */
  if (cJSON_IsObject(mv))
    cJSON_ArrayForEach(it, mv) {
      const cJSON *x;
      if (cJSON_IsNull(it))
        continue;
      if (!cJSON_IsArray(it)) {
        *why = WHY_MV_HEADERS;
        goto out;
      }
      cJSON_ArrayForEach(x, it) {
        char *s = cJSON_IsNull(x) ? NULL : scalar_text(x);
        bool added;
        if (cJSON_IsNull(x))
          continue;
        if (!s) {
          *why = WHY_MV_HEADERS;
          goto out;
        }
        added = hdr_add(&a, it->string, s, why);
        free(s);
        if (!added)
          goto out;
      }
    }
  if (cJSON_IsObject(headers))
    cJSON_ArrayForEach(it, headers) {
      char *s;
      bool added;
      if (cJSON_IsNull(it))
        continue;
      if (!(s = scalar_text(it))) {
        *why = WHY_HEADERS;
        goto out;
      }
      if (cJSON_IsObject(mv) && cJSON_GetObjectItem(mv, it->string)) {
        free(s);
        continue;
      }
      added = hdr_add(&a, it->string, s, why);
      free(s);
      if (!added)
        goto out;
    }
  if (cJSON_IsArray(cookies))
    cJSON_ArrayForEach(it, cookies) {
      if (!cJSON_IsString(it)) {
        *why = WHY_COOKIES;
        goto out;
      }
      if (!hdr_add(&a, "Set-Cookie", it->valuestring, why))
        goto out;
    }
  if (!has_header(&r, "Content-Type") && !hdr_add(&a, "Content-Type", AWS_CONTENT_TYPE_JSON, why))
    goto out;
  if (decode && cJSON_IsString(body)) {
    size_t n = 0;
    r.body = util_base64_decode(body->valuestring, strlen(body->valuestring), &n);
    if (!r.body) {
      *why = WHY_BASE64;
      goto out;
    }
    r.body_len = n;
  } else if (!body_set(&r, cJSON_IsString(body) ? body->valuestring : "",
                       cJSON_IsString(body) ? strlen(body->valuestring) : 0)) {
    *why = WHY_HEADER_SIZE;
    goto out;
  }
  ok = true;
out:
  cJSON_Delete(root);
  if (ok)
    *out = r;
  else
    apigw_response_cleanup(&r);
  return ok;
}

/* ------------------------------------------------------------------------------------------ */
/* answering */

static void exec_log(struct apigw *gw, const struct route *rt, const char *rid, const char *fmt, ...)
  __attribute__((format(printf, 4, 5)));

/* One execution-log line, "(<request id>) <text>", in the API's log group (stdout). */
static void exec_log(struct apigw *gw, const struct route *rt, const char *rid, const char *fmt, ...)
{
  char line[APIGW_LOG_LINE_MAX];
  int n = snprintf(line, sizeof(line), "(%s) ", rid);
  va_list ap;

  if (n < 0 || (size_t)n >= sizeof(line))
    return;
  va_start(ap, fmt);
  vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
  va_end(ap);
  logs_function_line(rt && !rt->rest ? gw->http_log_group : gw->rest_log_group, NULL, line, strlen(line));
}

/* The request ids on a response: REST's x-amzn-RequestId and x-amz-apigw-id, HTTP API's
 * Apigw-Requestid. */
static void id_headers(struct MHD_Response *resp, bool rest, const char *rid, const char *ext_id)
{
  if (rest) {
    http_resp_header(resp, AWS_HDR_REQUEST_ID, rid);
    http_resp_header(resp, AWS_APIGW_HDR_ID, ext_id);
  } else {
    http_resp_header(resp, AWS_APIGW_HDR_HTTP_REQUEST_ID, ext_id);
  }
}

static void gateway_send(struct http_req *req, bool rest, enum aws_apigw_response id, const char *rid,
                         const char *ext_id)
{
  const char *body = aws_apigw_body(id);
  struct MHD_Response *resp = http_resp_copy(body, strlen(body));

  http_resp_header(resp, "Content-Type", AWS_CONTENT_TYPE_JSON);
  id_headers(resp, rest, rid, ext_id);
  if (rest && aws_apigw_error_type(id))
    http_resp_header(resp, AWS_HDR_ERROR_TYPE, aws_apigw_error_type(id));
  http_req_send(req, aws_apigw_status(id), resp);
}

/* The gateway's own failure answer for rt: REST's 502 or 500, HTTP API's 500. */
static void gateway_fail(struct apigw *gw, struct http_req *req, const struct route *rt, bool bad_gateway,
                         const char *rid, const char *ext_id)
{
  enum aws_apigw_response id = rt->rest ? (bad_gateway ? AWS_APIGW_REST_BAD_GATEWAY : AWS_APIGW_REST_INTERNAL)
                                        : AWS_APIGW_HTTP_INTERNAL;

  exec_log(gw, rt, rt->rest ? rid : ext_id, AWS_APIGW_LOG_COMPLETED, aws_apigw_status(id));
  gateway_send(req, rt->rest, id, rid, ext_id);
}

/* The Invoke call itself failed (throttled, not found, pending, too large, fault): API Gateway
 * answers 500. */
static void invoke_failed(struct apigw *gw, struct http_req *req, const struct route *rt, const char *rid,
                          const char *ext_id, unsigned status, const char *error_type)
{
  char lambda_rid[LEMU_UUID_LEN + 1];
  const char *log_rid = rt->rest ? rid : ext_id;

  util_uuid(lambda_rid);
  exec_log(gw, rt, log_rid, AWS_APIGW_LOG_INVOKE_FAILED, status, lambda_rid);
  exec_log(gw, rt, log_rid, AWS_APIGW_LOG_CONFIG_ERROR, error_type ? error_type : "");
  gateway_fail(gw, req, rt, false, rid, ext_id);
}

/* The function's errorMessage, for the execution log (caller frees). */
static char *error_message(const char *body, size_t len)
{
  cJSON *root = body && len ? cJSON_ParseWithLength(body, len) : NULL;
  const cJSON *m = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "errorMessage") : NULL;
  char *out = cJSON_IsString(m) ? log_quote(m->valuestring, strlen(m->valuestring)) : log_quote(body ? body : "", len);

  cJSON_Delete(root);
  return out;
}

/* Answer req with the function's result: body is its answer (error: a function error's body). */
static void answer_result(struct apigw *gw, struct http_req *req, const struct route *rt, const char *rid,
                          const char *ext_id, const char *lambda_rid, const char *body, size_t len, bool error)
{
  const char *log_rid = rt->rest ? rid : ext_id, *why = NULL;
  struct apigw_response r;
  struct MHD_Response *resp;
  size_t i;

  if (error) {
    char *msg = error_message(body, len);
    exec_log(gw, rt, log_rid, AWS_APIGW_LOG_FUNCTION_ERROR, msg ? msg : "", lambda_rid);
    free(msg);
    gateway_fail(gw, req, rt, true, rid, ext_id);
    return;
  }
  if (!apigw_response_map(body, len, rt->rest, rt->v2, &r, &why)) {
    char *quoted = log_quote(body ? body : "", len);
    exec_log(gw, rt, log_rid, "%s%s", AWS_APIGW_LOG_BODY_BEFORE, quoted ? quoted : "");
    exec_log(gw, rt, log_rid, "%s", AWS_APIGW_LOG_MALFORMED);
    free(quoted);
    logs_warn("api gateway: %s -> %s: malformed proxy response: %s", rt->route_key, rt->function,
              why ? why : "");
    gateway_fail(gw, req, rt, true, rid, ext_id);
    return;
  }
  resp = http_resp_take(r.body, r.body_len);
  r.body = NULL;
  for (i = 0; i < r.n_headers; i++)
    http_resp_header(resp, r.headers[i].name, r.headers[i].value);
  id_headers(resp, rt->rest, rid, ext_id);
  http_req_send(req, r.status, resp);
  apigw_response_cleanup(&r);
}

/* ------------------------------------------------------------------------------------------ */
/* calls */

static void call_free(struct call *call)
{
  struct apigw *gw = call->gw;

  if (call->prev)
    call->prev->next = call->next;
  else if (gw->calls == call)
    gw->calls = call->next;
  if (call->next)
    call->next->prev = call->prev;
  loop_timer_stop(gw->ctx->loop, &call->timer);
  if (call->inv) { /* let the invocation run on without us, as on AWS */
    call->inv->on_done = NULL;
    call->inv->on_done_cls = NULL;
  }
  if (call->req) {
    call->req->on_close = NULL;
    call->req->owner = NULL;
  }
  free(call);
}

/* The request to answer, detached from the call (NULL when the client is gone). */
static struct http_req *call_take_req(struct call *call)
{
  struct http_req *req = call->req;

  if (req) {
    req->on_close = NULL;
    req->owner = NULL;
    call->req = NULL;
  }
  return req;
}

static void call_done(struct invocation *inv, enum inv_outcome outcome, const char *body, size_t len, void *cls)
{
  struct call *call = cls;
  struct http_req *req = call_take_req(call);

  (void)inv;
  call->inv = NULL;
  if (req && outcome == INV_OUTCOME_ABORTED)
    gateway_fail(call->gw, req, call->route, false, call->rid, call->ext_id);
  else if (req)
    answer_result(call->gw, req, call->route, call->rid, call->ext_id, call->lambda_rid, body, len,
                  outcome == INV_OUTCOME_FUNCTION_ERROR);
  call_free(call);
}

static void call_timeout(void *cls)
{
  struct call *call = cls;
  const struct route *rt = call->route;
  struct http_req *req = call_take_req(call);
  enum aws_apigw_response id = rt->rest ? AWS_APIGW_REST_TIMEOUT : AWS_APIGW_HTTP_TIMEOUT;
  const char *log_rid = rt->rest ? call->rid : call->ext_id;

  exec_log(call->gw, rt, log_rid, "%s", AWS_APIGW_LOG_TIMEOUT);
  exec_log(call->gw, rt, log_rid, AWS_APIGW_LOG_COMPLETED, aws_apigw_status(id));
  if (req)
    gateway_send(req, rt->rest, id, call->rid, call->ext_id);
  call_free(call);
}

static void call_client_gone(struct http_req *req, void *owner)
{
  struct call *call = owner;

  (void)req;
  call->req = NULL;
  call_free(call);
}

static void apigw_handle(struct http_req *req, void *cls)
{
  struct apigw *gw = cls;
  struct lemu_ctx *ctx = gw->ctx;
  char rid[LEMU_UUID_LEN + 1], ext_id[APIGW_EXT_ID_LEN + 1];
  const struct route *rt;
  cJSON *params = NULL;
  bool rest_path, http_path, fired;
  struct function *fn;
  struct fault_hit hit;
  struct invocation *inv;
  struct blob *payload;
  struct call *call = NULL;
  char *event = NULL;
  size_t len = 0;

  util_uuid(rid);
  ext_id_new(ext_id);
  rt = route_find(gw, req->method, req->path, &params, &rest_path, &http_path);
  if (!rt) {
    bool rest = rest_path || (!http_path && gw->has_rest);
    gateway_send(req, rest, rest ? AWS_APIGW_REST_NO_ROUTE : AWS_APIGW_HTTP_NO_ROUTE, rid, ext_id);
    goto out;
  }
  if (req->too_big) {
    gateway_send(req, rt->rest, rt->rest ? AWS_APIGW_REST_TOO_LARGE : AWS_APIGW_HTTP_TOO_LARGE, rid, ext_id);
    goto out;
  }
  call = calloc(1, sizeof(*call));
  if (!call || !params) {
    gateway_fail(gw, req, rt, false, rid, ext_id);
    goto out;
  }
  call->gw = gw;
  call->route = rt;
  memcpy(call->rid, rid, sizeof(rid));
  memcpy(call->ext_id, ext_id, sizeof(ext_id));
  loop_timer_init(&call->timer, call_timeout, call);
  event = event_build(gw, call, req, rt, params, &len);
  if (!event) {
    gateway_fail(gw, req, rt, false, rid, ext_id);
    goto out;
  }
  fn = registry_find(ctx->reg, rt->function);
  if (!fn) {
    invoke_failed(gw, req, rt, rid, ext_id, aws_error_status(AWS_ERR_RESOURCE_NOT_FOUND),
                  aws_error_type(AWS_ERR_RESOURCE_NOT_FOUND));
    goto out;
  }
  if (fnmeta_of(fn) && fnmeta_of(fn)->pending) {
    invoke_failed(gw, req, rt, rid, ext_id, aws_error_status(AWS_ERR_FUNCTION_STATE_CONFLICT),
                  aws_error_type(AWS_ERR_FUNCTION_STATE_CONFLICT));
    goto out;
  }
  if (len > API_INVOKE_MAX_SYNC) {
    invoke_failed(gw, req, rt, rid, ext_id, aws_error_status(AWS_ERR_REQUEST_TOO_LARGE),
                  aws_error_type(AWS_ERR_REQUEST_TOO_LARGE));
    goto out;
  }
  fired = fault_engine_decide(ctx->faults, fn->cfg.name, event, len, NULL, util_epoch_ms(), FAULT_SCOPE_ALL, &hit);
  if (fired) {
    logs_info("fault %s (%s) fired for API Gateway request %s of %s", hit.id, hit.kind->name,
              rt->rest ? rid : ext_id, fn->cfg.name);
    if (hit.kind->action == FAULT_PROXY) {
      /* The function is not run: its answer is the malformed one the rule names. */
      char *answer = fault_catalog_proxy_response_body(hit.params);
      char lambda_rid[LEMU_UUID_LEN + 1];
      util_uuid(lambda_rid);
      answer_result(gw, req, rt, rid, ext_id, lambda_rid, answer, answer ? strlen(answer) : 0, false);
      free(answer);
      goto out;
    }
    if (fault_kind_answers_call(hit.kind)) {
      invoke_failed(gw, req, rt, rid, ext_id, hit.kind->status, hit.kind->error_type);
      goto out;
    }
  }
  payload = blob_new_take(event, len);
  event = NULL;
  inv = payload ? invoker_create(ctx, fn, payload, fn->arn) : NULL;
  if (!inv) {
    invoke_failed(gw, req, rt, rid, ext_id, aws_error_status(AWS_ERR_SERVICE), aws_error_type(AWS_ERR_SERVICE));
    goto out;
  }
  if (fired)
    invoker_set_fault(inv, &hit);
  if (invoker_admit(inv)) {
    invoker_abort(inv);
    invoke_failed(gw, req, rt, rid, ext_id, aws_error_status(AWS_ERR_TOO_MANY_REQUESTS),
                  aws_error_type(AWS_ERR_TOO_MANY_REQUESTS));
    goto out;
  }
  memcpy(call->lambda_rid, inv->request_id, sizeof(call->lambda_rid));
  call->inv = inv;
  call->req = req;
  req->owner = call;
  req->on_close = call_client_gone;
  call->next = gw->calls;
  if (gw->calls)
    gw->calls->prev = call;
  gw->calls = call;
  inv->on_done = call_done;
  inv->on_done_cls = call;
  loop_timer_start(ctx->loop, &call->timer, rt->timeout_ms * 1000u);
  call = NULL; /* from here the call ends itself (it may already have: invoker_start can finish) */
  invoker_start(inv);
out:
  free(call);
  free(event);
  cJSON_Delete(params);
}

/* ------------------------------------------------------------------------------------------ */
/* start / stop */

static void apigw_free(struct apigw *gw)
{
  size_t i;

  if (!gw)
    return;
  while (gw->calls)
    call_free(gw->calls);
  http_server_destroy(gw->srv);
  for (i = 0; i < gw->n_routes; i++)
    route_cleanup(&gw->routes[i]);
  free(gw->routes);
  free(gw->host);
  free(gw->rest_log_group);
  free(gw->http_log_group);
  free(gw);
}

lemu_err_t apigw_start(struct lemu_ctx *ctx)
{
  const cJSON *fev, *ev;
  struct apigw *gw = NULL;
  bool chosen = ctx->cfg.api_listen_host != NULL;
  lemu_err_t rc = LEMU_ERR_NOMEM;
  size_t n = 0, i;

  ctx->apigw = NULL;
  cJSON_ArrayForEach(fev, ctx->cfg.api_events)
    n += (size_t)cJSON_GetArraySize(fev);
  if (n == 0)
    return LEMU_ERR_OK;
  gw = calloc(1, sizeof(*gw));
  if (!gw)
    return LEMU_ERR_NOMEM;
  gw->ctx = ctx;
  gw->routes = calloc(n, sizeof(*gw->routes));
  gw->host = util_strdup(chosen ? ctx->cfg.api_listen_host : APIGW_DEFAULT_HOST);
  if (!gw->routes || !gw->host)
    goto fail;
  cJSON_ArrayForEach(fev, ctx->cfg.api_events) {
    cJSON_ArrayForEach(ev, fev) {
      struct route *rt = &gw->routes[gw->n_routes];
      if (route_init(rt, fev->string, ev, ctx->cfg.api_timeout_s) != LEMU_ERR_OK)
        goto fail;
      gw->n_routes++;
      gw->has_rest |= rt->rest;
      for (i = 0; i + 1 < gw->n_routes; i++)
        if (route_clash(&gw->routes[i], rt)) {
          fprintf(stderr, "lemu: %s: %s.Events.%s: the route \"%s\" is also %s.Events.%s's (one front "
                  "serves every Api and HttpApi route, so each method and path can appear once)\n",
                  ctx->cfg.source, rt->function, rt->event, rt->route_key, gw->routes[i].function,
                  gw->routes[i].event);
          rc = LEMU_ERR_CONFIG;
          goto fail;
        }
    }
  }
  util_random_hex(gw->rest_id, APIGW_ID_LEN);
  util_random_hex(gw->http_id, APIGW_ID_LEN);
  gw->rest_log_group = util_asprintf(AWS_APIGW_LOG_GROUP_FMT, gw->rest_id, AWS_APIGW_STAGE_REST);
  gw->http_log_group = util_asprintf(AWS_APIGW_LOG_GROUP_FMT, gw->http_id, AWS_APIGW_STAGE_HTTP);
  if (!gw->rest_log_group || !gw->http_log_group)
    goto fail;
  {
    struct http_server_opts o = {
      .routes = NULL, .n_routes = 0, .not_found = apigw_handle,
      .not_found_max_body = APIGW_MAX_REQUEST_BODY, .cls = gw, .listen_host = gw->host,
      .listen_port = chosen ? ctx->cfg.api_listen_port : APIGW_DEFAULT_PORT,
      .name = "the API Gateway front",
    };
    gw->srv = http_server_create(ctx->loop, &o);
    if (!gw->srv) {
      if (chosen) {
        rc = LEMU_ERR_HTTP;
        goto fail;
      }
      /* The default port is taken (another lemu, sam local...): serve Invoke anyway. */
      logs_warn("no API Gateway front: %s:%u is not available; choose an address with --api-listen "
                "HOST:PORT (port 0: any free port)", gw->host, o.listen_port);
      apigw_free(gw);
      return LEMU_ERR_OK;
    }
  }
  ctx->apigw = gw;
  return LEMU_ERR_OK;
fail:
  apigw_free(gw);
  return rc;
}

void apigw_announce(struct lemu_ctx *ctx)
{
  struct apigw *gw = ctx->apigw;
  size_t i;

  if (!gw)
    return;
  logs_info("api gateway front on http://%s:%u", gw->host, http_server_port(gw->srv));
  if (!config_host_is_loopback(gw->host)) /* issue 11: say so when other machines can reach it */
    logs_warn("the API Gateway front listens on %s:%u, which is not a loopback address: anyone who can "
              "reach this port can invoke the functions behind it, running code as this user "
              "(docs/security.md)", gw->host, http_server_port(gw->srv));
  for (i = 0; i < gw->n_routes; i++) {
    const struct route *rt = &gw->routes[i];
    logs_info("  %s %s -> %s (%s, payload %s, timeout %.3g s)", rt->method, rt->path ? rt->path : "/*",
              rt->function, rt->rest ? "REST API" : "HTTP API", rt->v2 ? "2.0" : "1.0",
              (double)rt->timeout_ms / 1000.0);
  }
}

void apigw_stop(struct lemu_ctx *ctx)
{
  apigw_free(ctx->apigw);
  ctx->apigw = NULL;
}
