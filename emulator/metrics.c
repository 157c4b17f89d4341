/* Metrics (see include/lemu/metrics.h). Counters live here, one record per function name (kept
 * after a function is deleted, so a counter never goes backwards) and one per fault rule id;
 * gauges (concurrency, environments, the async queue) are read from the server at render time,
 * so they can never drift from the state they describe. A handful of functions: lists are fine. */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lemu/buf.h"
#include "lemu/envpool.h"
#include "lemu/event_queue.h"
#include "lemu/metrics.h"
#include "lemu/registry.h"
#include "lemu/server.h"
#include "lemu/util.h"

#define METRICS_MAX_TEXT (64u * 1024u * 1024u)

/* Duration histogram bucket bounds in milliseconds (Lambda's range: 1 ms to the 900 s limit). */
static const double duration_bounds_ms[] = {1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
                                            30000, 60000, 300000, 900000};
#define N_BOUNDS (sizeof(duration_bounds_ms) / sizeof(duration_bounds_ms[0]))

struct metrics_fn {
  char *name;
  uint64_t invocations, errors, throttles, cold_starts;
  uint64_t async_received, async_dropped, dlq_errors;
  uint64_t buckets[N_BOUNDS]; /* per bucket (not cumulative); the +Inf bucket is the count */
  uint64_t duration_count;
  double duration_sum_ms;
  /* render scratch: gauges of this render */
  long concurrent, queued, in_flight, env_count[ENV_DEAD + 1];
  uint64_t oldest_ms;
  struct metrics_fn *next;
};

struct metrics_fault {
  char *id, *kind, *function;
  uint64_t fired;
  struct metrics_fault *next;
};

/* One entry of the live page's stream. */
struct metrics_event {
  unsigned long long seq;
  uint64_t at_ms;
  char type[12];             /* "invocation", "throttle", "fault", "async" */
  char function[80];
  char request_id[LEMU_UUID_LEN + 1];
  char outcome[16];
  char detail[64];
  double duration_ms;
  bool cold_start;
  bool async;
};

struct metrics {
  struct metrics_fn *fns;       /* sorted by name */
  struct metrics_fault *faults; /* in first-firing order */
  struct metrics_event ring[METRICS_EVENT_RING];
  unsigned long long last_seq;  /* ring[(seq - 1) % METRICS_EVENT_RING] holds event seq */
  metrics_listener_fn listener;
  void *listener_cls;
};

struct metrics *metrics_create(void)
{
  return calloc(1, sizeof(struct metrics));
}

void metrics_destroy(struct metrics *m)
{
  if (!m)
    return;
  while (m->fns) {
    struct metrics_fn *f = m->fns;
    m->fns = f->next;
    free(f->name);
    free(f);
  }
  while (m->faults) {
    struct metrics_fault *f = m->faults;
    m->faults = f->next;
    free(f->id);
    free(f->kind);
    free(f->function);
    free(f);
  }
  free(m);
}

static void fault_event(struct metrics *m, const char *rule_id, const char *kind, const char *function);

/* The record of function, created (in name order) when missing; NULL on allocation failure. */
static struct metrics_fn *fn_get(struct metrics *m, const char *name)
{
  struct metrics_fn **p = &m->fns, *f;
  int cmp = 1;

  while (*p && (cmp = strcmp((*p)->name, name)) < 0)
    p = &(*p)->next;
  if (*p && cmp == 0)
    return *p;
  f = calloc(1, sizeof(*f));
  if (!f || !(f->name = util_strdup(name))) {
    free(f);
    return NULL;
  }
  f->next = *p;
  *p = f;
  return f;
}

/* Append an event to the ring (overwriting the oldest) and tell the listener. */
static struct metrics_event *event_add(struct metrics *m, const char *type, const char *function)
{
  struct metrics_event *e = &m->ring[m->last_seq % METRICS_EVENT_RING];

  memset(e, 0, sizeof(*e));
  e->seq = ++m->last_seq;
  e->at_ms = util_epoch_ms();
  snprintf(e->type, sizeof(e->type), "%s", type);
  snprintf(e->function, sizeof(e->function), "%s", function ? function : "");
  return e;
}

static void event_done(struct metrics *m)
{
  if (m->listener)
    m->listener(m->listener_cls);
}

void metrics_record_invocation(struct metrics *m, const struct metrics_invocation *inv)
{
  struct metrics_fn *f = m ? fn_get(m, inv->function) : NULL;
  struct metrics_event *e;
  size_t i;

  if (!f)
    return;
  f->invocations++;
  f->errors += inv->error;
  f->cold_starts += inv->cold_start;
  f->duration_count++;
  f->duration_sum_ms += inv->duration_ms;
  for (i = 0; i < N_BOUNDS; i++)
    if (inv->duration_ms <= duration_bounds_ms[i]) {
      f->buckets[i]++;
      break;
    }
  e = event_add(m, "invocation", inv->function);
  snprintf(e->request_id, sizeof(e->request_id), "%s", inv->request_id ? inv->request_id : "");
  snprintf(e->outcome, sizeof(e->outcome), "%s", inv->outcome ? inv->outcome : METRICS_OUTCOME_SUCCESS);
  e->duration_ms = inv->duration_ms;
  e->cold_start = inv->cold_start;
  e->async = inv->async;
  event_done(m);
}

void metrics_record_throttle(struct metrics *m, const char *function, const char *request_id)
{
  struct metrics_fn *f = m ? fn_get(m, function) : NULL;
  struct metrics_event *e;

  if (!f)
    return;
  f->throttles++;
  e = event_add(m, "throttle", function);
  snprintf(e->request_id, sizeof(e->request_id), "%s", request_id ? request_id : "");
  snprintf(e->outcome, sizeof(e->outcome), "%s", METRICS_OUTCOME_THROTTLE);
  event_done(m);
}

void metrics_record_async(struct metrics *m, const char *function, enum metrics_async what)
{
  struct metrics_fn *f = m ? fn_get(m, function) : NULL;

  if (!f)
    return;
  switch (what) {
  case METRICS_ASYNC_RECEIVED:
    f->async_received++;
    break;
  case METRICS_ASYNC_DROPPED:
    f->async_dropped++;
    break;
  case METRICS_ASYNC_DLQ_ERROR:
    f->dlq_errors++;
    break;
  }
  {
    static const char *const names[] = {[METRICS_ASYNC_RECEIVED] = "queued", [METRICS_ASYNC_DROPPED] = "dropped",
                                        [METRICS_ASYNC_DLQ_ERROR] = "dlq-error"};
    struct metrics_event *e = event_add(m, "async", function);
    snprintf(e->detail, sizeof(e->detail), "%s", names[what]);
    event_done(m);
  }
}

void metrics_record_fault(struct metrics *m, const char *rule_id, const char *kind, const char *function)
{
  struct metrics_fault **p, *f;

  if (!m)
    return;
  for (p = &m->faults; *p; p = &(*p)->next)
    if (!strcmp((*p)->id, rule_id) && !strcmp((*p)->function, function)) {
      (*p)->fired++;
      fault_event(m, rule_id, kind, function);
      return;
    }
  f = calloc(1, sizeof(*f));
  if (!f)
    return;
  f->id = util_strdup(rule_id);
  f->kind = util_strdup(kind);
  f->function = util_strdup(function);
  if (!f->id || !f->kind || !f->function) {
    free(f->id);
    free(f->kind);
    free(f->function);
    free(f);
    return;
  }
  f->fired = 1;
  *p = f;
  fault_event(m, rule_id, kind, function);
}

/* Every firing is an event (the first one too). */
static void fault_event(struct metrics *m, const char *rule_id, const char *kind, const char *function)
{
  struct metrics_event *e = event_add(m, "fault", function);

  snprintf(e->outcome, sizeof(e->outcome), "%s", METRICS_OUTCOME_FAULT);
  snprintf(e->detail, sizeof(e->detail), "%s %s", rule_id, kind);
  event_done(m);
}

void metrics_on_fault_fired(void *cls, const char *rule_id, const char *kind, const char *function)
{
  metrics_record_fault(cls, rule_id, kind, function);
}

void metrics_set_listener(struct metrics *m, metrics_listener_fn fn, void *cls)
{
  m->listener = fn;
  m->listener_cls = cls;
}

unsigned long long metrics_last_event(const struct metrics *m)
{
  return m ? m->last_seq : 0;
}

char *metrics_events_sse(const struct metrics *m, unsigned long long after)
{
  struct buf b;
  unsigned long long seq, first = m->last_seq > METRICS_EVENT_RING ? m->last_seq - METRICS_EVENT_RING + 1 : 1;

  buf_init(&b, METRICS_MAX_TEXT);
  /* retry: how soon the browser's EventSource reconnects once this response ends */
  if (buf_append_str(&b, "retry: 100\n\n") != LEMU_ERR_OK)
    return NULL;
  for (seq = after + 1 > first ? after + 1 : first; seq <= m->last_seq; seq++) {
    const struct metrics_event *e = &m->ring[(seq - 1) % METRICS_EVENT_RING];
    cJSON *j = cJSON_CreateObject();
    char *text, head[48];
    cJSON_AddNumberToObject(j, "Seq", (double)e->seq);
    cJSON_AddNumberToObject(j, "Time", (double)e->at_ms);
    cJSON_AddStringToObject(j, "Type", e->type);
    cJSON_AddStringToObject(j, "Function", e->function);
    if (e->request_id[0])
      cJSON_AddStringToObject(j, "RequestId", e->request_id);
    if (e->outcome[0])
      cJSON_AddStringToObject(j, "Outcome", e->outcome);
    if (e->detail[0])
      cJSON_AddStringToObject(j, "Detail", e->detail);
    if (!strcmp(e->type, "invocation")) {
      cJSON_AddNumberToObject(j, "DurationMs", e->duration_ms);
      cJSON_AddBoolToObject(j, "ColdStart", e->cold_start);
      cJSON_AddBoolToObject(j, "Async", e->async);
    }
    text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    snprintf(head, sizeof(head), "id: %llu\nevent: lemu\ndata: ", e->seq);
    if (!text || buf_append_str(&b, head) || buf_append_str(&b, text) || buf_append_str(&b, "\n\n")) {
      free(text);
      buf_cleanup(&b);
      return NULL;
    }
    free(text);
  }
  {
    /* the newest id even when nothing was new: the browser reconnects with it as Last-Event-ID */
    char tail[40];
    snprintf(tail, sizeof(tail), "id: %llu\n\n", m->last_seq);
    if (buf_append_str(&b, tail) != LEMU_ERR_OK || buf_append(&b, "", 1) != LEMU_ERR_OK) {
      buf_cleanup(&b);
      return NULL;
    }
  }
  return buf_take(&b, NULL);
}

/* ---- rendering ---- */

struct out {
  struct buf b;
  bool failed;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
  char small[512], *s = small;
  va_list ap;
  int n;

  va_start(ap, fmt);
  n = vsnprintf(small, sizeof(small), fmt, ap);
  va_end(ap);
  if (n < 0) {
    o->failed = true;
    return;
  }
  if ((size_t)n >= sizeof(small)) {
    s = malloc((size_t)n + 1);
    if (!s) {
      o->failed = true;
      return;
    }
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
  }
  if (buf_append(&o->b, s, (size_t)n) != LEMU_ERR_OK)
    o->failed = true;
  if (s != small)
    free(s);
}

/* A label value with \ " and newline escaped, as the text format requires. */
static void put_label_value(struct out *o, const char *v)
{
  put(o, "\"");
  for (; *v; v++) {
    if (*v == '\\' || *v == '"')
      put(o, "\\%c", *v);
    else if (*v == '\n')
      put(o, "\\n");
    else
      put(o, "%c", *v);
  }
  put(o, "\"");
}

static void put_head(struct out *o, const char *name, const char *type, const char *help)
{
  put(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_fn_sample(struct out *o, const char *name, const struct metrics_fn *f, double value)
{
  put(o, "%s{function_name=", name);
  put_label_value(o, f->name);
  put(o, "} %.15g\n", value);
}

/* One counter or gauge family over every function: value(f) picks the number. */
#define PUT_FAMILY(o, m, name, type, help, expr)                                              \
  do {                                                                                        \
    const struct metrics_fn *f_;                                                              \
    put_head(o, name, type, help);                                                            \
    for (f_ = (m)->fns; f_; f_ = f_->next) {                                                  \
      const struct metrics_fn *f = f_;                                                        \
      put_fn_sample(o, name, f, (double)(expr));                                              \
    }                                                                                         \
  } while (0)

static void visit_event(void *cls, const char *function, uint64_t enqueued_ms, int attempts, bool running)
{
  struct metrics *m = cls;
  struct metrics_fn *f = fn_get(m, function);

  (void)attempts;
  if (!f)
    return;
  if (running)
    f->in_flight++;
  else
    f->queued++;
  if (!f->oldest_ms || enqueued_ms < f->oldest_ms)
    f->oldest_ms = enqueued_ms;
}

static const char *const env_state_names[] = {
  [ENV_STARTING] = "starting", [ENV_IDLE] = "idle", [ENV_BUSY] = "busy", [ENV_ANSWERED] = "answered",
  [ENV_DEAD] = "dead",
};

char *metrics_render(struct lemu_ctx *ctx)
{
  struct metrics *m = ctx->metrics;
  struct out o = {.failed = false};
  struct metrics_fn *f;
  struct metrics_fault *ft;
  struct env *env;
  uint64_t now = util_epoch_ms();
  size_t i;

  if (!m)
    return NULL;
  buf_init(&o.b, METRICS_MAX_TEXT);
  /* Every served function has a record, so its counters show 0 before its first invoke. */
  for (i = 0; ctx->reg && i < ctx->reg->n; i++)
    fn_get(m, ctx->reg->fns[i]->cfg.name);
  for (f = m->fns; f; f = f->next) {
    f->concurrent = f->queued = f->in_flight = 0;
    f->oldest_ms = 0;
    memset(f->env_count, 0, sizeof(f->env_count));
  }
  for (i = 0; ctx->reg && i < ctx->reg->n; i++) {
    f = fn_get(m, ctx->reg->fns[i]->cfg.name);
    if (f)
      f->concurrent = ctx->reg->fns[i]->in_flight;
  }
  for (env = ctx->envs; env; env = env->next) {
    f = fn_get(m, env->fn->cfg.name);
    if (f && env->state <= ENV_DEAD)
      f->env_count[env->state]++;
  }
  if (ctx->evq)
    event_queue_visit(ctx->evq, visit_event, m);

  PUT_FAMILY(&o, m, "aws_lambda_invocations_total", "counter",
             "CloudWatch Invocations: times the function code ran, successfully or with a function error "
             "(throttled requests are not counted; each async attempt is).", f->invocations);
  PUT_FAMILY(&o, m, "aws_lambda_errors_total", "counter",
             "CloudWatch Errors: invocations that ended in a function error (handler error, timeout, "
             "out of memory, runtime exit, init failure).", f->errors);
  PUT_FAMILY(&o, m, "aws_lambda_throttles_total", "counter",
             "CloudWatch Throttles: invocation requests refused with HTTP 429 "
             "(concurrency limits, async attempts held back, injected throttle faults).", f->throttles);
  PUT_FAMILY(&o, m, "aws_lambda_dead_letter_errors_total", "counter",
             "CloudWatch DeadLetterErrors: failed attempts to write an event to its dead-letter queue.",
             f->dlq_errors);
  put_head(&o, "aws_lambda_duration_milliseconds", "histogram",
           "CloudWatch Duration: time the function code ran, in milliseconds (REPORT's Duration).");
  for (f = m->fns; f; f = f->next) {
    uint64_t cum = 0;
    for (i = 0; i < N_BOUNDS; i++) {
      cum += f->buckets[i];
      put(&o, "aws_lambda_duration_milliseconds_bucket{function_name=");
      put_label_value(&o, f->name);
      put(&o, ",le=\"%g\"} %llu\n", duration_bounds_ms[i], (unsigned long long)cum);
    }
    put(&o, "aws_lambda_duration_milliseconds_bucket{function_name=");
    put_label_value(&o, f->name);
    put(&o, ",le=\"+Inf\"} %llu\n", (unsigned long long)f->duration_count);
    put_fn_sample(&o, "aws_lambda_duration_milliseconds_sum", f, f->duration_sum_ms);
    put_fn_sample(&o, "aws_lambda_duration_milliseconds_count", f, (double)f->duration_count);
  }
  PUT_FAMILY(&o, m, "aws_lambda_concurrent_executions", "gauge",
             "CloudWatch ConcurrentExecutions: invocations of the function running now.", f->concurrent);
  put_head(&o, "aws_lambda_unreserved_concurrent_executions", "gauge",
           "CloudWatch UnreservedConcurrentExecutions: running invocations of functions without reserved "
           "concurrency (the account's unreserved pool).");
  put(&o, "aws_lambda_unreserved_concurrent_executions %d\n", ctx->unreserved_in_flight);
  PUT_FAMILY(&o, m, "aws_lambda_async_events_received_total", "counter",
             "CloudWatch AsyncEventsReceived: events queued for asynchronous invocation.", f->async_received);
  PUT_FAMILY(&o, m, "aws_lambda_async_events_dropped_total", "counter",
             "CloudWatch AsyncEventsDropped: async events given up (retries exhausted, too old, function "
             "gone), after their OnFailure destination and dead-letter queue.", f->async_dropped);
  PUT_FAMILY(&o, m, "aws_lambda_async_event_age_milliseconds", "gauge",
             "CloudWatch AsyncEventAge, as a gauge: age of the oldest event in the async queue now "
             "(0 when empty).", f->oldest_ms && now > f->oldest_ms ? now - f->oldest_ms : 0);
  put_head(&o, "lemu_async_queue_depth", "gauge",
           "Async events of the function in lemu's queue, waiting (queued) or being delivered (in_flight).");
  for (f = m->fns; f; f = f->next) {
    put(&o, "lemu_async_queue_depth{function_name=");
    put_label_value(&o, f->name);
    put(&o, ",state=\"queued\"} %ld\nlemu_async_queue_depth{function_name=", f->queued);
    put_label_value(&o, f->name);
    put(&o, ",state=\"in_flight\"} %ld\n", f->in_flight);
  }
  PUT_FAMILY(&o, m, "lemu_cold_starts_total", "counter",
             "Invocations that ran in a new execution environment (REPORT shows an Init Duration).",
             f->cold_starts);
  put_head(&o, "lemu_environments", "gauge", "Execution environments of the function, by state.");
  for (f = m->fns; f; f = f->next)
    for (i = ENV_STARTING; i < ENV_DEAD; i++) {
      put(&o, "lemu_environments{function_name=");
      put_label_value(&o, f->name);
      put(&o, ",state=\"%s\"} %ld\n", env_state_names[i], f->env_count[i]);
    }
  put_head(&o, "lemu_fault_firings_total", "counter",
           "Times a fault rule fired, by rule id, fault kind and function (kept after the rule is removed).");
  for (ft = m->faults; ft; ft = ft->next) {
    put(&o, "lemu_fault_firings_total{rule_id=");
    put_label_value(&o, ft->id);
    put(&o, ",fault=");
    put_label_value(&o, ft->kind);
    put(&o, ",function_name=");
    put_label_value(&o, ft->function);
    put(&o, "} %llu\n", (unsigned long long)ft->fired);
  }
  if (o.failed) {
    buf_cleanup(&o.b);
    return NULL;
  }
  if (buf_append(&o.b, "", 1) != LEMU_ERR_OK) { /* the NUL */
    buf_cleanup(&o.b);
    return NULL;
  }
  return buf_take(&o.b, NULL);
}
