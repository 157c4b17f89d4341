/* Metrics: counters recorded where things happen (an invocation ends, a throttle is decided, a
 * fault fires, an async event arrives or is dropped) and gauges read live from the server when
 * GET /lemu/v1/metrics renders them in the Prometheus text format. Names follow CloudWatch's
 * AWS/Lambda metrics where one exists (Invocations → aws_lambda_invocations_total, as the
 * CloudWatch exporters name them, label function_name); lemu-only ones start with lemu_. */
#ifndef LEMU_METRICS_H
#define LEMU_METRICS_H

#include <stdbool.h>

struct lemu_ctx;
struct metrics;

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics *metrics_create(void);
void metrics_destroy(struct metrics *m);

/* Recording. m may be NULL (a context built without metrics): then they do nothing. Each also
 * appends an event to the live page's stream (metrics_events_sse). */
/* How an invocation ended, as the live page colours it. */
#define METRICS_OUTCOME_SUCCESS "success"
#define METRICS_OUTCOME_ERROR "error"       /* a function error */
#define METRICS_OUTCOME_TIMEOUT "timeout"
#define METRICS_OUTCOME_OOM "oom"
#define METRICS_OUTCOME_FAULT "fault"       /* an injected fault decided the answer */
#define METRICS_OUTCOME_THROTTLE "throttle"
struct metrics_invocation {
  const char *function;
  const char *request_id;
  const char *outcome;        /* METRICS_OUTCOME_* */
  double duration_ms;
  bool error;                 /* counts as a CloudWatch Error */
  bool cold_start;
  bool async;                 /* an attempt of the async queue */
};
/* An invocation ended (not throttled, not aborted): Invocations, Errors, Duration, cold starts. */
void metrics_record_invocation(struct metrics *m, const struct metrics_invocation *inv);
/* An invocation request was refused with 429 TooManyRequestsException (concurrency or fault). */
void metrics_record_throttle(struct metrics *m, const char *function, const char *request_id);
/* A fault rule fired for an invocation of function. */
void metrics_record_fault(struct metrics *m, const char *rule_id, const char *kind, const char *function);
/* metrics_record_fault as a fault engine observer (fault_engine_set_observer): cls is the metrics. */
void metrics_on_fault_fired(void *cls, const char *rule_id, const char *kind, const char *function);

enum metrics_async {
  METRICS_ASYNC_RECEIVED,  /* AsyncEventsReceived: an event was queued */
  METRICS_ASYNC_DROPPED,   /* AsyncEventsDropped: an event was given up (after destinations/DLQ) */
  METRICS_ASYNC_DLQ_ERROR, /* DeadLetterErrors: the dead-letter record could not be written */
};
void metrics_record_async(struct metrics *m, const char *function, enum metrics_async what);

/* Called after every event appended to the stream (the live page wakes its waiting clients). */
typedef void (*metrics_listener_fn)(void *cls);
void metrics_set_listener(struct metrics *m, metrics_listener_fn fn, void *cls);
/* The newest event's sequence number (0 before any). */
unsigned long long metrics_last_event(const struct metrics *m);
/* Server-sent events text ("id: N\nevent: lemu\ndata: {json}\n\n"...) of the events after
 * sequence after (at most the ring's last METRICS_EVENT_RING), then "id: <newest>", malloc'd;
 * NULL on failure. */
#define METRICS_EVENT_RING 512
char *metrics_events_sse(const struct metrics *m, unsigned long long after);

/* The Prometheus text exposition of ctx (counters plus live gauges), malloc'd; NULL on failure. */
char *metrics_render(struct lemu_ctx *ctx);

#endif
