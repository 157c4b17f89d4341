/* lemu demo (see include/lemu/demo.h). A scenario is a function that talks HTTP to a running lemu
 * (its own tiny HTTP/1.1 client: one connection per request, Connection: close, so two requests
 * can be in flight for the throttling scene) and narrates what it sends and what comes back. What
 * AWS answers is never written here: the scenes print lemu's bytes and check status codes,
 * headers and the catalog's error types. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lemu/api_control.h"
#include "lemu/aws_errors.h"
#include "lemu/buf.h"
#include "lemu/demo.h"
#include "lemu/fault_catalog.h"
#include "lemu/fault_client.h"
#include "lemu/util.h"

#define DEMO_DEFAULT_API_URL "http://127.0.0.1:3000"
#define DEMO_MAX_RESPONSE (8u * 1024u * 1024u)
#define DEMO_TICK_MS 100
#define DEMO_ASYNC_LIMIT_S 600          /* the async scene gives up after 10 minutes */
#define DEMO_PENDING_S 2
#define DEMO_TIMEOUT_EVENT "5"          /* seconds the sleep sample is asked to sleep (Timeout 3) */
#define DEMO_SHORT_EVENT "0.1"
#define DEMO_HOLD_EVENT "1.5"           /* the invoke that holds the only slot */
#define DEMO_HOLD_HEADSTART_MS 500
#define DEMO_QUEUE_NAME "lemu-demo-failures"
#define PATH_INVOKE "/2015-03-31/functions/%s/invocations"
#define PATH_FUNCTION "/2015-03-31/functions/%s"
#define PATH_CONCURRENCY "/2017-10-31/functions/%s/concurrency"
#define PATH_EVENT_CONFIG "/2019-09-25/functions/%s/event-invoke-config"
#define PATH_FAULTS "/lemu/v1/faults"
#define PATH_QUEUE "/lemu/v1/queue"
#define PATH_DESTINATIONS "/lemu/v1/destinations"
#define PATH_METRICS "/lemu/v1/metrics"

struct demo {
  const char *url;        /* lemu's API */
  const char *api_url;    /* the API Gateway front */
  bool color;
  bool tty;
  char *rules[16];        /* fault rules added, removed at the end */
  size_t n_rules;
};

struct resp {
  int status;
  char *head;             /* status line and headers */
  char *body;
  size_t len;
};

/* ---- output ---- */

static const char *c_(const struct demo *d, const char *code)
{
  return d->color ? code : "";
}
#define BOLD(d) c_(d, "\033[1m")
#define DIM(d) c_(d, "\033[2m")
#define RED(d) c_(d, "\033[31m")
#define GREEN(d) c_(d, "\033[32m")
#define YELLOW(d) c_(d, "\033[33m")
#define CYAN(d) c_(d, "\033[36m")
#define RESET(d) c_(d, "\033[0m")

static void title(const struct demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void title(const struct demo *d, const char *fmt, ...)
{
  va_list ap;

  printf("\n%s== ", BOLD(d));
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("%s\n", RESET(d));
}

static void say(const struct demo *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct demo *d, const char *fmt, ...)
{
  va_list ap;

  (void)d;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  fflush(stdout);
}

static void request_line(const struct demo *d, const char *method, const char *path, const char *body)
{
  printf("%s  > %s %s%s%s%s\n", CYAN(d), method, path, body && *body ? "  " : "", body ? body : "", RESET(d));
}

static const char *header(const struct resp *r, const char *name, char *out, size_t n)
{
  const char *p = r->head;
  size_t len = strlen(name);

  while (p && (p = strstr(p, "\r\n")) != NULL) {
    p += 2;
    if (!strncasecmp(p, name, len) && p[len] == ':') {
      const char *v = p + len + 1, *end = strstr(v, "\r\n");
      while (*v == ' ')
        v++;
      snprintf(out, n, "%.*s", (int)(end ? end - v : (long)strlen(v)), v);
      return out;
    }
  }
  return NULL;
}

static void show(const struct demo *d, const struct resp *r, const char *const *headers)
{
  const char *colour = r->status >= 400 ? RED(d) : r->status >= 300 ? YELLOW(d) : GREEN(d);
  char v[256];
  size_t i;

  printf("  %s< %d%s", colour, r->status, RESET(d));
  for (i = 0; headers && headers[i]; i++)
    if (header(r, headers[i], v, sizeof(v)))
      printf("  %s%s: %s%s", YELLOW(d), headers[i], v, RESET(d));
  printf("\n");
  if (r->len)
    printf("    %.*s\n", (int)(r->len > 600 ? 600 : r->len), r->body);
  fflush(stdout);
}

/* A progress line, redrawn in place on a terminal; plain output gets nothing until done(). */
static void progress(const struct demo *d, double elapsed_s, double total_s, const char *what)
{
  static const char spin[] = "|/-\\";
  char bar[31];
  int i, fill = total_s > 0 ? (int)(30.0 * (elapsed_s > total_s ? 1.0 : elapsed_s / total_s)) : 0;

  if (!d->tty)
    return;
  for (i = 0; i < 30; i++)
    bar[i] = i < fill ? '#' : '.';
  bar[30] = '\0';
  if (total_s > 0)
    printf("\r  %s[%s] %5.1f s / %.0f s  %s%s\033[K", DIM(d), bar, elapsed_s, total_s, what, RESET(d));
  else
    printf("\r  %s%c %5.1f s  %s%s\033[K", DIM(d), spin[(int)(elapsed_s * 10) % 4], elapsed_s, what, RESET(d));
  fflush(stdout);
}

static void progress_done(const struct demo *d, double elapsed_s, const char *what)
{
  if (d->tty)
    printf("\r\033[K");
  printf("  %s(%s: %.1f s)%s\n", DIM(d), what, elapsed_s, RESET(d));
}

static double now_s(void)
{
  return (double)util_now_us() / 1e6;
}

static void pause_ms(int ms)
{
  struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

  nanosleep(&ts, NULL);
}

/* ---- HTTP ---- */

static int parse_url(const char *url, struct sockaddr_in *addr)
{
  char host[64];
  const char *p = url, *colon;
  long port;

  if (!strncmp(p, "http://", 7))
    p += 7;
  colon = strchr(p, ':');
  if (!colon || (size_t)(colon - p) >= sizeof(host))
    return -1;
  memcpy(host, p, (size_t)(colon - p));
  host[colon - p] = '\0';
  port = strtol(colon + 1, NULL, 10);
  if (!strcmp(host, "localhost"))
    snprintf(host, sizeof(host), "127.0.0.1");
  memset(addr, 0, sizeof(*addr));
  addr->sin_family = AF_INET;
  addr->sin_port = htons((uint16_t)port);
  return port > 0 && port < 65536 && inet_pton(AF_INET, host, &addr->sin_addr) == 1 ? 0 : -1;
}

/* Send a request; the connection's fd, or -1. extra: "Name: value\r\n" lines or NULL. A control
 * API request carries $LEMU_CONTROL_TOKEN when it is set. */
static int http_send(const char *url, const char *method, const char *path, const char *extra, const char *body)
{
  const char *token = getenv(API_CONTROL_TOKEN_ENV);
  bool control = !strncmp(path, API_CONTROL_PREFIX "/", strlen(API_CONTROL_PREFIX) + 1);
  struct sockaddr_in addr;
  char *head, *auth = NULL;
  int fd;
  size_t blen = body ? strlen(body) : 0;
  bool ok;

  if (parse_url(url, &addr) != 0)
    return -1;
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  if (control && token && *token && !strpbrk(token, "\r\n"))
    auth = util_asprintf("%s: %s\r\n", API_CONTROL_TOKEN_HEADER, token);
  head = util_asprintf("%s %s HTTP/1.1\r\nHost: lemu\r\nConnection: close\r\nContent-Type: application/json\r\n"
                       "Authorization: AWS4-HMAC-SHA256 Credential=demo/20260101/us-east-1/lambda/aws4_request\r\n"
                       "%s%sContent-Length: %zu\r\n\r\n", method, path, auth ? auth : "", extra ? extra : "", blen);
  free(auth);
  ok = head && send(fd, head, strlen(head), MSG_NOSIGNAL) == (ssize_t)strlen(head) &&
       (!blen || send(fd, body, blen, MSG_NOSIGNAL) == (ssize_t)blen);
  free(head);
  if (!ok) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Read the whole answer (the server closes the connection); while waiting, draw progress for
 * total_s seconds (0: a spinner) labelled what, when what is not NULL. Closes fd. */
static int http_recv(const struct demo *d, int fd, struct resp *r, double total_s, const char *what)
{
  struct buf b;
  char chunk[8192], *sep;
  double t0 = now_s();
  int rc = -1;

  memset(r, 0, sizeof(*r));
  buf_init(&b, DEMO_MAX_RESPONSE);
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    ssize_t n;
    int ready = poll(&p, 1, DEMO_TICK_MS);
    if (ready < 0 && errno != EINTR)
      break;
    if (ready <= 0) {
      if (what)
        progress(d, now_s() - t0, total_s, what);
      continue;
    }
    n = read(fd, chunk, sizeof(chunk));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      rc = n == 0 ? 0 : -1;
      break;
    }
    if (buf_append(&b, chunk, (size_t)n) != LEMU_ERR_OK)
      break;
  }
  close(fd);
  if (what)
    progress_done(d, now_s() - t0, what);
  if (rc == 0 && buf_append(&b, "", 1) == LEMU_ERR_OK && b.len > 12 &&
      sscanf(b.data, "HTTP/1.%*c %d", &r->status) == 1 && (sep = strstr(b.data, "\r\n\r\n")) != NULL) {
    size_t head_len = (size_t)(sep - b.data);
    r->head = strndup(b.data, head_len);
    r->len = b.len - 1 - head_len - 4;
    r->body = malloc(r->len + 1);
    if (r->head && r->body) {
      memcpy(r->body, sep + 4, r->len);
      r->body[r->len] = '\0';
      buf_cleanup(&b);
      return 0;
    }
  }
  buf_cleanup(&b);
  free(r->head);
  free(r->body);
  memset(r, 0, sizeof(*r));
  return -1;
}

static void resp_free(struct resp *r)
{
  free(r->head);
  free(r->body);
  memset(r, 0, sizeof(*r));
}

/* One request, echoed to the terminal; -1 when lemu did not answer (said so). */
static int call(struct demo *d, const char *url, const char *method, const char *path, const char *extra,
                const char *body, struct resp *r, bool quiet)
{
  int fd;

  if (!quiet)
    request_line(d, method, path, body);
  fd = http_send(url, method, path, extra, body);
  if (fd < 0 || http_recv(d, fd, r, 0, NULL) != 0) {
    say(d, "%scannot reach %s: is `lemu serve` running there? (--endpoint-url URL)%s", RED(d), url, RESET(d));
    return -1;
  }
  return 0;
}

static char *fmt_path(const char *fmt, const char *name)
{
  return util_asprintf(fmt, name);
}

/* ---- shared steps ---- */

static int need_function(struct demo *d, const char *name, char **arn_out)
{
  char *path = fmt_path(PATH_FUNCTION, name);
  struct resp r;
  int rc = -1;

  if (path && call(d, d->url, "GET", path, NULL, NULL, &r, true) == 0) {
    if (r.status == 200) {
      cJSON *j = cJSON_ParseWithLength(r.body, r.len);
      const cJSON *cfg = cJSON_GetObjectItemCaseSensitive(j, "Configuration");
      const cJSON *arn = cJSON_GetObjectItemCaseSensitive(cfg, "FunctionArn");
      if (arn_out)
        *arn_out = cJSON_IsString(arn) ? util_strdup(arn->valuestring) : NULL;
      cJSON_Delete(j);
      rc = 0;
    } else {
      say(d, "%sthis demo needs the sample function \"%s\", which this lemu does not serve: run it with "
          "`lemu serve` (no -c) or add the function%s", RED(d), name, RESET(d));
    }
    resp_free(&r);
  }
  free(path);
  return rc;
}

static int add_fault(struct demo *d, const char *rule_json)
{
  struct resp r;
  cJSON *j;
  const cJSON *id;
  int rc = -1;

  if (call(d, d->url, "POST", PATH_FAULTS, NULL, rule_json, &r, false) != 0)
    return -1;
  j = cJSON_ParseWithLength(r.body, r.len);
  id = cJSON_GetObjectItemCaseSensitive(j, "Id");
  if (r.status == 201 && cJSON_IsString(id) && d->n_rules < sizeof(d->rules) / sizeof(d->rules[0])) {
    d->rules[d->n_rules++] = util_strdup(id->valuestring);
    say(d, "  %srule %s added%s", DIM(d), id->valuestring, RESET(d));
    rc = 0;
  } else {
    show(d, &r, NULL);
  }
  cJSON_Delete(j);
  resp_free(&r);
  return rc;
}

static void clear_faults(struct demo *d)
{
  size_t i;

  for (i = 0; i < d->n_rules; i++) {
    char *path = util_asprintf("%s/%s", PATH_FAULTS, d->rules[i]);
    struct resp r;
    if (path && call(d, d->url, "DELETE", path, NULL, NULL, &r, true) == 0)
      resp_free(&r);
    free(path);
    free(d->rules[i]);
  }
  d->n_rules = 0;
}

/* Invoke name synchronously with event; shows the answer. */
static int invoke(struct demo *d, const char *name, const char *event, bool tail, struct resp *r, double wait_s,
                  const char *what)
{
  static const char *const hdrs[] = {AWS_HDR_FUNCTION_ERROR, AWS_HDR_ERROR_TYPE, AWS_HDR_RETRY_AFTER, NULL};
  char *path = fmt_path(PATH_INVOKE, name), *extra = NULL;
  int fd;

  if (tail)
    extra = util_asprintf("%s: %s\r\n", AWS_HDR_LOG_TYPE, AWS_LOG_TYPE_TAIL);
  request_line(d, "POST", path ? path : "", event);
  fd = path ? http_send(d->url, "POST", path, extra, event) : -1;
  free(path);
  free(extra);
  if (fd < 0 || http_recv(d, fd, r, wait_s, what) != 0) {
    say(d, "%scannot reach %s%s", RED(d), d->url, RESET(d));
    return -1;
  }
  show(d, r, hdrs);
  return 0;
}

/* The REPORT line of an answer's X-Amz-Log-Result, printed. */
static void show_report(const struct demo *d, const struct resp *r)
{
  char b64[8192];
  size_t len = 0;
  char *log, *rep;

  if (!header(r, AWS_HDR_LOG_RESULT, b64, sizeof(b64)))
    return;
  log = util_base64_decode(b64, strlen(b64), &len);
  rep = log ? strstr(log, "REPORT ") : NULL;
  if (rep) {
    char *nl = strchr(rep, '\n');
    if (nl)
      *nl = '\0';
    printf("    %slog: %s%s\n", DIM(d), rep, RESET(d));
  }
  free(log);
}

static bool has_header(const struct resp *r, const char *name)
{
  char v[128];

  return header(r, name, v, sizeof(v)) != NULL;
}

static bool body_error_type(const struct resp *r, const char *type)
{
  cJSON *j = cJSON_ParseWithLength(r->body, r->len);
  const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "errorType");
  bool ok = cJSON_IsString(t) && !strcmp(t->valuestring, type);

  cJSON_Delete(j);
  return ok;
}

static void show_metric(struct demo *d, const char *name, const char *function)
{
  struct resp r;
  char *want = util_asprintf("%s{function_name=\"%s\"} ", name, function);
  const char *p;

  if (want && call(d, d->url, "GET", PATH_METRICS, NULL, NULL, &r, true) == 0) {
    if ((p = strstr(r.body, want)) != NULL)
      printf("  %smetrics: %.*s%s\n", DIM(d), (int)strcspn(p, "\n"), p, RESET(d));
    resp_free(&r);
  }
  free(want);
}

static int verdict(struct demo *d, bool ok, const char *what)
{
  if (ok)
    say(d, "\n%s%s%s", GREEN(d), what, RESET(d));
  else
    say(d, "\n%sunexpected answer: %s was not shown%s", RED(d), what, RESET(d));
  return ok ? 0 : 1;
}

/* ---- scenes ---- */

static int demo_timeout(struct demo *d)
{
  struct resp r1, r2;
  bool ok;

  title(d, "Timeout: a handler that runs past its Timeout is killed");
  if (need_function(d, "sleep", NULL))
    return 1;
  say(d, "The sample function `sleep` has Timeout 3 s and sleeps for the seconds in its event.\n"
         "Ask it to sleep %s s. Lambda kills the environment at the deadline; the caller still gets\n"
         "HTTP 200, with X-Amz-Function-Error and an error body.", DEMO_TIMEOUT_EVENT);
  if (invoke(d, "sleep", DEMO_TIMEOUT_EVENT, true, &r1, 3.0, "waiting for the 3 s deadline"))
    return 1;
  show_report(d, &r1);
  say(d, "\nThe environment is gone, so the next invoke starts a new one: its REPORT has an Init Duration.");
  if (invoke(d, "sleep", DEMO_SHORT_EVENT, true, &r2, 0, "cold start")) {
    resp_free(&r1);
    return 1;
  }
  show_report(d, &r2);
  ok = r1.status == 200 && has_header(&r1, AWS_HDR_FUNCTION_ERROR) &&
       body_error_type(&r1, aws_fn_error_type(AWS_FN_TIMEOUT)) && r2.status == 200 &&
       !has_header(&r2, AWS_HDR_FUNCTION_ERROR);
  resp_free(&r1);
  resp_free(&r2);
  return verdict(d, ok, "a timeout is a 200 with a function error; the next invoke is a cold start");
}

static int demo_throttling(struct demo *d)
{
  char *conc = fmt_path(PATH_CONCURRENCY, "sleep"), *inv = fmt_path(PATH_INVOKE, "sleep");
  struct resp r, held, extra, e1, e2, e3;
  int fd;
  bool ok = false;

  title(d, "Throttling: 429 %s when concurrency runs out", aws_error_type(AWS_ERR_TOO_MANY_REQUESTS));
  if (!conc || !inv || need_function(d, "sleep", NULL) || need_function(d, "echo", NULL))
    goto out;
  say(d, "Reserve exactly 1 concurrent execution for `sleep` (PutFunctionConcurrency):");
  if (call(d, d->url, "PUT", conc, NULL, "{\"ReservedConcurrentExecutions\": 1}", &r, false))
    goto out;
  show(d, &r, NULL);
  resp_free(&r);
  say(d, "\nOne invoke takes the only slot (it sleeps %s s); a second one while it runs is throttled.",
      DEMO_HOLD_EVENT);
  request_line(d, "POST", inv, DEMO_HOLD_EVENT);
  fd = http_send(d->url, "POST", inv, NULL, DEMO_HOLD_EVENT);
  if (fd < 0)
    goto restore;
  pause_ms(DEMO_HOLD_HEADSTART_MS);
  if (invoke(d, "sleep", DEMO_SHORT_EVENT, false, &extra, 0, NULL)) {
    close(fd);
    goto restore;
  }
  if (http_recv(d, fd, &held, 0, "the first invoke finishing") != 0) {
    resp_free(&extra);
    goto restore;
  }
  say(d, "  the first invoke:");
  show(d, &held, NULL);
  say(d, "\nThrottles can also be injected: a rule that throttles every 2nd invoke of `echo`.");
  if (add_fault(d, "{\"Function\": \"echo\", \"Fault\": \"throttle\", \"When\": {\"Every\": 2}}") == 0 &&
      invoke(d, "echo", "{\"n\": 1}", false, &e1, 0, NULL) == 0) {
    if (invoke(d, "echo", "{\"n\": 2}", false, &e2, 0, NULL) == 0) {
      if (invoke(d, "echo", "{\"n\": 3}", false, &e3, 0, NULL) == 0) {
        ok = extra.status == 429 && held.status == 200 && e1.status == 200 && e2.status == 429 &&
             e3.status == 200;
        resp_free(&e3);
      }
      resp_free(&e2);
    }
    resp_free(&e1);
  }
  show_metric(d, "aws_lambda_throttles_total", "sleep");
  show_metric(d, "aws_lambda_throttles_total", "echo");
  say(d, "SDKs retry 429 by default (with backoff); turn retries off in tests to see each one.");
  resp_free(&extra);
  resp_free(&held);
restore:
  clear_faults(d);
  if (call(d, d->url, "DELETE", conc, NULL, NULL, &r, false) == 0) {
    show(d, &r, NULL);
    resp_free(&r);
  }
out:
  free(conc);
  free(inv);
  return verdict(d, ok, "over the reserved concurrency, and by an injected rule, the caller gets 429");
}

static const char *function_state(struct demo *d, const char *name, char *out, size_t n)
{
  char *path = fmt_path(PATH_FUNCTION, name);
  struct resp r;

  snprintf(out, n, "?");
  if (path && call(d, d->url, "GET", path, NULL, NULL, &r, false) == 0) {
    cJSON *j = cJSON_ParseWithLength(r.body, r.len);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "Configuration"), "State");
    if (cJSON_IsString(s))
      snprintf(out, n, "%s", s->valuestring);
    printf("  %s< %d%s  Configuration.State: %s%s%s\n", GREEN(d), r.status, RESET(d), BOLD(d), out, RESET(d));
    cJSON_Delete(j);
    resp_free(&r);
  }
  free(path);
  return out;
}

static int demo_pending(struct demo *d)
{
  char rule[160], state1[32], state2[32];
  struct resp r1, r2;
  double t0;
  bool ok = false;

  title(d, "Pending: invoking a function that is still being created or updated");
  if (need_function(d, "echo", NULL))
    return 1;
  say(d, "Right after CreateFunction (and during updates) a function is Pending; an invoke then fails\n"
         "with 409 %s. A `pending` rule puts `echo` in that state for %d s.",
      aws_error_type(AWS_ERR_FUNCTION_STATE_CONFLICT), DEMO_PENDING_S);
  snprintf(rule, sizeof(rule), "{\"Function\": \"echo\", \"Fault\": \"pending\", \"Params\": {\"Seconds\": %d}}",
           DEMO_PENDING_S);
  if (add_fault(d, rule))
    return 1;
  function_state(d, "echo", state1, sizeof(state1));
  if (invoke(d, "echo", "{}", false, &r1, 0, NULL) == 0) {
    say(d, "\nWait until the function is Active (a waiter such as `aws lambda wait function-active` does this):");
    for (t0 = now_s(); now_s() - t0 < DEMO_PENDING_S + 0.2;) {
      progress(d, now_s() - t0, DEMO_PENDING_S, "Pending");
      pause_ms(DEMO_TICK_MS);
    }
    progress_done(d, now_s() - t0, "waited");
    function_state(d, "echo", state2, sizeof(state2));
    if (invoke(d, "echo", "{}", false, &r2, 0, NULL) == 0) {
      ok = !strcmp(state1, AWS_STATE_PENDING) && r1.status == 409 && !strcmp(state2, AWS_STATE_ACTIVE) &&
           r2.status == 200;
      resp_free(&r2);
    }
    resp_free(&r1);
  }
  clear_faults(d);
  return verdict(d, ok, "a Pending function refuses invokes with 409 until it is Active");
}

/* One API-error fault kind per invoke: the caller's exact bytes. */
static int demo_kinds(struct demo *d, const char *heading, const char *intro, const char *const *kinds)
{
  size_t i;
  bool ok = true;

  title(d, "%s", heading);
  if (need_function(d, "echo", NULL))
    return 1;
  say(d, "%s", intro);
  for (i = 0; kinds[i]; i++) {
    const struct fault_kind *k = fault_kind_find(kinds[i]);
    char rule[160];
    struct resp r;
    if (!k)
      continue;
    say(d, "\n%s%s%s: %s%s", BOLD(d), k->name, RESET(d), k->what, k->sdk_retries ? " (SDKs retry it)" : "");
    snprintf(rule, sizeof(rule), "{\"Function\": \"echo\", \"Fault\": \"%s\", \"Times\": 1}", k->name);
    if (add_fault(d, rule) || invoke(d, "echo", "{}", false, &r, 0, NULL)) {
      ok = false;
      break;
    }
    ok &= r.status == (int)k->status;
    resp_free(&r);
  }
  clear_faults(d);
  return verdict(d, ok, "each fault answers with AWS's status, error type and message");
}

static int demo_efs(struct demo *d)
{
  static const char *const kinds[] = {"efs-mount-failure", "efs-mount-connectivity", "efs-mount-timeout",
                                      "efs-io", NULL};

  return demo_kinds(d, "EFS: a function with a file system that cannot be mounted or read",
                    "A function configured with an EFS access point fails before its handler runs when the\n"
                    "mount fails or times out, and with an I/O error when the file system misbehaves.",
                    kinds);
}

static int demo_kms(struct demo *d)
{
  static const char *const kinds[] = {"kms-disabled", "kms-access-denied", "kms-invalid-state", "kms-not-found",
                                      NULL};

  return demo_kinds(d, "KMS: environment variables that cannot be decrypted",
                    "Lambda decrypts a function's environment variables with its KMS key before it starts;\n"
                    "a disabled, missing or inaccessible key fails the invoke (502), before any code runs.",
                    kinds);
}

static int demo_vpc(struct demo *d)
{
  static const char *const kinds[] = {"eni-limit", "subnet-ip-limit", "invalid-subnet", "invalid-security-group",
                                      "ec2-throttled", "ec2-access-denied", "resource-not-ready", NULL};

  return demo_kinds(d, "VPC: a function whose network interface cannot be set up",
                    "A function attached to a VPC needs an elastic network interface in one of its subnets;\n"
                    "when Lambda cannot create or reach it, the invoke fails (502) before any code runs.",
                    kinds);
}

/* The same call three ways (sync, Event, DryRun): IAM refuses each before Lambda looks at it. */
static int demo_access_denied(struct demo *d)
{
  static const char *const hdrs[] = {AWS_HDR_ERROR_TYPE, NULL};
  static const char *const types[] = {AWS_INVOCATION_REQUEST_RESPONSE, AWS_INVOCATION_EVENT, AWS_INVOCATION_DRY_RUN};
  char *path = fmt_path(PATH_INVOKE, "echo");
  bool ok = path != NULL;
  size_t i;

  title(d, "Access denied: a caller without lambda:InvokeFunction");
  if (!path || need_function(d, "echo", NULL)) {
    free(path);
    return 1;
  }
  say(d, "IAM checks the caller before Lambda looks at the request, so every invocation type gets the\n"
         "403: an Event call is refused instead of queued, and a DryRun (which is that check) too.");
  if (add_fault(d, "{\"Function\": \"echo\", \"Fault\": \"access-denied\", \"Times\": 3}")) {
    free(path);
    return 1;
  }
  for (i = 0; ok && i < sizeof(types) / sizeof(types[0]); i++) {
    char *extra = util_asprintf("%s: %s\r\n", AWS_HDR_INVOCATION_TYPE, types[i]);
    struct resp r;
    say(d, "\n%s%s%s:", BOLD(d), types[i], RESET(d));
    if (!extra || call(d, d->url, "POST", path, extra, "{}", &r, false) != 0) {
      free(extra);
      ok = false;
      break;
    }
    show(d, &r, hdrs);
    ok &= r.status == 403;
    resp_free(&r);
    free(extra);
  }
  if (ok) {
    char *extra = util_asprintf("%s: %s\r\n", AWS_HDR_INVOCATION_TYPE, AWS_INVOCATION_EVENT);
    struct resp r;
    say(d, "\nWith the permission back (the rule fired its 3 times), the same Event call is queued:");
    if (extra && call(d, d->url, "POST", path, extra, "{}", &r, false) == 0) {
      show(d, &r, hdrs);
      ok &= r.status == 202;
      resp_free(&r);
    } else {
      ok = false;
    }
    free(extra);
  }
  free(path);
  clear_faults(d);
  return verdict(d, ok, "every invocation type is refused with 403 AccessDeniedException until the permission is back");
}

/* The invocation record for request_id in the destination, or NULL (malloc'd JSON text). */
static char *find_record(struct demo *d, const char *dest, const char *request_id)
{
  char *path = util_asprintf("%s?arn=%s", PATH_DESTINATIONS, dest), *found = NULL;
  struct resp r;

  if (path && call(d, d->url, "GET", path, NULL, NULL, &r, true) == 0) {
    cJSON *j = cJSON_ParseWithLength(r.body, r.len);
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "Records")) {
      const cJSON *rec = cJSON_GetObjectItemCaseSensitive(it, "Record");
      const cJSON *rc = cJSON_GetObjectItemCaseSensitive(rec, "requestContext");
      const cJSON *id = cJSON_GetObjectItemCaseSensitive(rc, "requestId");
      if (cJSON_IsString(id) && !strcmp(id->valuestring, request_id)) {
        found = cJSON_Print(rec);
        break;
      }
    }
    cJSON_Delete(j);
    resp_free(&r);
  }
  free(path);
  return found;
}

static int queue_attempts(struct demo *d, const char *request_id)
{
  struct resp r;
  int attempts = -1;

  if (call(d, d->url, "GET", PATH_QUEUE, NULL, NULL, &r, true) == 0) {
    cJSON *j = cJSON_ParseWithLength(r.body, r.len);
    const cJSON *it;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "Events")) {
      const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "RequestId");
      const cJSON *a = cJSON_GetObjectItemCaseSensitive(it, "Attempts");
      if (cJSON_IsString(id) && !strcmp(id->valuestring, request_id) && cJSON_IsNumber(a))
        attempts = a->valueint;
    }
    cJSON_Delete(j);
    resp_free(&r);
  }
  return attempts;
}

static int demo_async(struct demo *d)
{
  char *arn = NULL, *cfg_path = fmt_path(PATH_EVENT_CONFIG, "fail"), *dest = NULL, *cfg = NULL;
  char *extra = util_asprintf("%s: %s\r\n", AWS_HDR_INVOCATION_TYPE, AWS_INVOCATION_EVENT);
  char *inv = fmt_path(PATH_INVOKE, "fail"), rid[LEMU_UUID_LEN + 1] = "", *record = NULL;
  char region[32] = "", account[16] = "";
  struct resp r;
  double t0;
  int last = -2;
  bool ok = false;

  title(d, "Async retries: an Event invoke that keeps failing ends in its OnFailure destination");
  if (!cfg_path || !extra || !inv || need_function(d, "fail", &arn) || !arn)
    goto out;
  /* arn:aws:lambda:REGION:ACCOUNT:function:fail → the queue's ARN in the same account */
  sscanf(arn, "arn:aws:lambda:%31[^:]:%15[^:]:", region, account);
  dest = util_asprintf("arn:aws:sqs:%s:%s:%s", region, account, DEMO_QUEUE_NAME);
  cfg = util_asprintf("{\"MaximumRetryAttempts\": 2, \"DestinationConfig\": {\"OnFailure\": "
                      "{\"Destination\": \"%s\"}}}", dest ? dest : "");
  if (!dest || !cfg)
    goto out;
  say(d, "The sample function `fail` always returns an error. Configure 2 retries and an SQS queue as\n"
         "the OnFailure destination (PutFunctionEventInvokeConfig):");
  if (call(d, d->url, "PUT", cfg_path, NULL, cfg, &r, false))
    goto out;
  show(d, &r, NULL);
  resp_free(&r);
  say(d, "\nInvoke it asynchronously: the 202 comes at once; Lambda runs it, then retries after 1 and\n"
         "2 minutes (lemu multiplies both by --time-scale: `lemu serve --time-scale 0.01` shows it in\n"
         "seconds), then sends an invocation record to the destination.");
  request_line(d, "POST", inv, "{}");
  {
    int fd = http_send(d->url, "POST", inv, extra, "{}");
    if (fd < 0 || http_recv(d, fd, &r, 0, NULL) != 0)
      goto restore;
  }
  show(d, &r, NULL);
  header(&r, AWS_HDR_REQUEST_ID, rid, sizeof(rid));
  resp_free(&r);
  for (t0 = now_s(); !record && now_s() - t0 < DEMO_ASYNC_LIMIT_S; pause_ms(DEMO_TICK_MS * 2)) {
    int attempts = queue_attempts(d, rid);
    char what[64];
    if (attempts != last && attempts >= 0) {
      if (d->tty)
        printf("\r\033[K");
      say(d, "  %s%.1f s: attempt %d of 3 %s%s", DIM(d), now_s() - t0, attempts,
          attempts ? "failed, waiting to retry" : "queued", RESET(d));
      last = attempts;
    }
    snprintf(what, sizeof(what), "attempts so far: %d", attempts < 0 ? last : attempts);
    progress(d, now_s() - t0, 0, what);
    record = find_record(d, dest, rid);
  }
  progress_done(d, now_s() - t0, record ? "delivered to the destination" : "gave up waiting");
  if (record) {
    cJSON *j = cJSON_Parse(record);
    const cJSON *rc = cJSON_GetObjectItemCaseSensitive(j, "requestContext");
    const cJSON *cond = cJSON_GetObjectItemCaseSensitive(rc, "condition");
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(rc, "approximateInvokeCount");
    say(d, "\nThe record in %s:\n%s", dest, record);
    ok = cJSON_IsString(cond) && cJSON_IsNumber(count) && count->valueint == 3;
    cJSON_Delete(j);
  }
  show_metric(d, "aws_lambda_invocations_total", "fail");
restore:
  if (call(d, d->url, "DELETE", cfg_path, NULL, NULL, &r, false) == 0) {
    show(d, &r, NULL);
    resp_free(&r);
  }
out:
  free(record);
  free(arn);
  free(cfg_path);
  free(dest);
  free(cfg);
  free(extra);
  free(inv);
  return verdict(d, ok, "three attempts, then the invocation record in the OnFailure destination");
}

static int demo_proxy(struct demo *d)
{
  static const char *const path = "/py/items/42";
  struct resp r1, r2;
  bool ok = false;

  title(d, "Malformed proxy response: API Gateway answers 502 when the function's answer is not a proxy response");
  if (need_function(d, "api-python", NULL))
    return 1;
  say(d, "`api-python` serves GET %s through lemu's API Gateway front (%s). A Lambda proxy\n"
         "integration must return {\"statusCode\": ..., \"body\": ...}; anything else is a 502 for the caller,\n"
         "however fine the function thinks it did. A `malformed-proxy-response` rule mangles one answer.",
      path, d->api_url);
  if (add_fault(d, "{\"Function\": \"api-python\", \"Fault\": \"malformed-proxy-response\", \"Times\": 1}"))
    return 1;
  if (call(d, d->api_url, "GET", path, NULL, NULL, &r1, false) == 0) {
    show(d, &r1, NULL);
    say(d, "\nThe rule fired once; the same request again:");
    if (call(d, d->api_url, "GET", path, NULL, NULL, &r2, false) == 0) {
      show(d, &r2, NULL);
      ok = r1.status == 502 && r2.status == 200;
      resp_free(&r2);
    }
    resp_free(&r1);
  } else {
    say(d, "(lemu names the API Gateway front's URL on stderr; pass it with --api-url)");
  }
  clear_faults(d);
  return verdict(d, ok, "a malformed proxy response is a 502 for the API's caller");
}

static const struct {
  const char *name;
  int (*run)(struct demo *d);
  const char *what;
} demos[] = {
  {"timeout", demo_timeout, "a handler killed at its Timeout; the next invoke is a cold start"},
  {"throttling", demo_throttling, "429 when reserved concurrency runs out, and injected throttles"},
  {"pending", demo_pending, "409 while a function is Pending, then Active"},
  {"proxy-502", demo_proxy, "API Gateway's 502 for a malformed Lambda proxy response"},
  {"efs", demo_efs, "the EFS mount and I/O errors an invoke can meet"},
  {"kms", demo_kms, "the KMS errors of encrypted environment variables"},
  {"vpc", demo_vpc, "the VPC set-up errors: ENI and subnet limits, bad subnet or group, EC2"},
  {"access-denied", demo_access_denied, "403 for a caller without lambda:InvokeFunction, Event and DryRun too"},
  {"async", demo_async, "an async invoke retried twice, then sent to its OnFailure destination"},
};

static void demo_usage(FILE *f)
{
  size_t i;

  fprintf(f, "usage: lemu demo [--endpoint-url URL] [--api-url URL] [--color auto|always|never] NAME\n"
             "       lemu demo --list\n"
             "\n"
             "Run a scripted scenario against a running lemu (`lemu serve`, with its sample functions)\n"
             "and narrate it. It undoes what it changed, so scenarios can run one after another.\n"
             "\n"
             "scenarios:\n");
  for (i = 0; i < sizeof(demos) / sizeof(demos[0]); i++)
    fprintf(f, "  %-14s %s\n", demos[i].name, demos[i].what);
  fprintf(f, "\n"
             "  --endpoint-url URL   the lemu to talk to (default $LEMU_URL, else %s)\n"
             "  --api-url URL        its API Gateway front, for proxy-502 (default %s)\n"
             "  --color WHEN         auto (colour on a terminal, the default), always or never\n"
             "  --list               the scenario names, one per line\n"
             "  -h, --help           this help\n",
          FAULT_CLIENT_DEFAULT_URL, DEMO_DEFAULT_API_URL);
}

int demo_main(int argc, char **argv)
{
  struct demo d = {.url = getenv("LEMU_URL"), .api_url = DEMO_DEFAULT_API_URL};
  const char *name = NULL, *color = "auto", *no_color = getenv("NO_COLOR");
  size_t i;
  int a, rc;

  if (!d.url || !*d.url)
    d.url = FAULT_CLIENT_DEFAULT_URL;
  for (a = 0; a < argc; a++) {
    if (!strcmp(argv[a], "--endpoint-url") && a + 1 < argc) {
      d.url = argv[++a];
    } else if (!strcmp(argv[a], "--api-url") && a + 1 < argc) {
      d.api_url = argv[++a];
    } else if (!strcmp(argv[a], "--color") && a + 1 < argc) {
      color = argv[++a];
    } else if (!strcmp(argv[a], "--list")) {
      for (i = 0; i < sizeof(demos) / sizeof(demos[0]); i++)
        printf("%s\n", demos[i].name);
      return 0;
    } else if (!strcmp(argv[a], "-h") || !strcmp(argv[a], "--help")) {
      demo_usage(stdout);
      return 0;
    } else if (argv[a][0] != '-' && !name) {
      name = argv[a];
    } else {
      fprintf(stderr, "lemu: demo: unknown or incomplete option '%s'\n", argv[a]);
      demo_usage(stderr);
      return 2;
    }
  }
  if (strcmp(color, "auto") && strcmp(color, "always") && strcmp(color, "never")) {
    fprintf(stderr, "lemu: demo: --color: expected auto, always or never, got \"%s\"\n", color);
    return 2;
  }
  d.tty = isatty(STDOUT_FILENO);
  d.color = !strcmp(color, "always") || (!strcmp(color, "auto") && d.tty && !(no_color && *no_color));
  for (i = 0; name && i < sizeof(demos) / sizeof(demos[0]); i++)
    if (!strcmp(name, demos[i].name)) {
      rc = demos[i].run(&d);
      clear_faults(&d);
      fflush(stdout);
      return rc;
    }
  if (name)
    fprintf(stderr, "lemu: demo: no scenario \"%s\"\n", name);
  demo_usage(stderr);
  return 2;
}
