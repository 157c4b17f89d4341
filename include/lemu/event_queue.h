/* Asynchronous invocation (InvocationType Event, reference §5): a durable queue (sqlite in WAL mode
 * in the state directory; an event is committed before its 202 is sent), delivery as concurrency
 * allows, retries of function errors after 1 then 2 minutes up to MaximumRetryAttempts, backoff on
 * throttles from 1 s to 5 min until MaximumEventAgeInSeconds, then OnSuccess / OnFailure
 * destinations and the dead-letter queue (the function's DeadLetterConfig, read from its record
 * when the event fails). Every delay is multiplied by the time scale (lemu extension
 * --time-scale), so a test sees the retry schedule in milliseconds. After a crash, events that
 * were queued or in flight are delivered again (at least once, attempts kept). */
#ifndef LEMU_EVENT_QUEUE_H
#define LEMU_EVENT_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lemu/err.h"

struct lemu_ctx;
struct event_queue;
struct cJSON;

#define EVQ_DEFAULT_RETRIES 2
#define EVQ_DEFAULT_MAX_AGE_S 21600
#define EVQ_MIN_MAX_AGE_S 60
#define EVQ_FIRST_RETRY_S 60
#define EVQ_SECOND_RETRY_S 120
#define EVQ_THROTTLE_MIN_S 1
#define EVQ_THROTTLE_MAX_S 300
#define EVQ_DB_FILE "events.db"

/* Open (or create) dir/events.db and schedule every event found there. */
lemu_err_t event_queue_open(struct lemu_ctx *ctx, const char *dir, double time_scale,
                            struct event_queue **out, char **message);
void event_queue_close(struct event_queue *q);

/* Durably enqueue an event for function (qualifier may be NULL); request_id is the 202's id.
 * Returns only after the event is committed. */
lemu_err_t event_queue_push(struct event_queue *q, const char *function, const char *qualifier,
                            const char *request_id, const char *payload, size_t len);

/* Per-function EventInvokeConfig (management API and config file). The JSON is AWS's shape
 * {"MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig"}; get returns a
 * malloc'd response document with FunctionArn and LastModified, or NULL when none is set. */
lemu_err_t event_queue_put_config(struct event_queue *q, const char *function, const struct cJSON *cfg,
                                  int merge);
char *event_queue_get_config(struct event_queue *q, const char *function, const char *function_arn);
lemu_err_t event_queue_delete_config(struct event_queue *q, const char *function);

/* {"Events":[{"RequestId","Function","Attempts","NextAttempt","State"}...]} (malloc'd). */
char *event_queue_list(struct event_queue *q);
/* {"Records":[...]} written to SQS/SNS/EventBridge destinations and DLQs matching arn (all when
 * NULL) (malloc'd): the newest 1,000 records, oldest first, those of earlier runs on the same
 * state directory included (read back from its destinations.jsonl at open). */
char *event_queue_sink_list(struct event_queue *q, const char *arn);
size_t event_queue_depth(const struct event_queue *q);
/* Call fn for every event waiting or in flight (metrics, the live page). */
typedef void (*event_queue_visit_fn)(void *cls, const char *function, uint64_t enqueued_ms, int attempts,
                                     bool running);
void event_queue_visit(const struct event_queue *q, event_queue_visit_fn fn, void *cls);

#endif
