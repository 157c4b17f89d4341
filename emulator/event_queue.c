/* Asynchronous invocation queue (see include/lemu/event_queue.h). The events live in memory (a
 * list ordered by nothing: the queue is small and the scan is cheap) and in sqlite; every change of
 * an event's state is written before lemu acts on it, so a crash at any point loses nothing: on
 * restart an event that was in flight is delivered again with its attempt count. */
#include <cjson/cJSON.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lemu/aws_errors.h"
#include "lemu/buf.h"
#include "lemu/event_queue.h"
#include "lemu/fault_catalog.h"
#include "lemu/fault_rules.h"
#include "lemu/function_meta.h"
#include "lemu/invoker.h"
#include "lemu/logs.h"
#include "lemu/loop.h"
#include "lemu/metrics.h"
#include "lemu/registry.h"
#include "lemu/server.h"
#include "lemu/util.h"

#define EVQ_BUSY_TIMEOUT_MS 2000
#define EVQ_DISPATCH_PER_TICK 16 /* each may spawn an environment: keep a tick short */
#define EVQ_DLQ_MESSAGE_MAX 1024
#define EVQ_SINK_FILE "destinations.jsonl"
#define EVQ_SINK_KEEP 1000       /* records GET /lemu/v1/destinations lists: the newest (the file keeps all) */
#define EVQ_SINK_READ_CHUNK 65536
#define EVQ_CONDITION_SUCCESS "Success"
#define EVQ_CONDITION_RETRIES "RetriesExhausted"
#define EVQ_CONDITION_AGE "EventAgeExceeded"

struct evq_event {
  char id[LEMU_UUID_LEN + 1];
  char *function;
  char *qualifier;
  char *payload;
  size_t len;
  uint64_t enqueued_ms;
  uint64_t next_ms;
  uint64_t backoff_ms;       /* last throttle backoff (unscaled) */
  int attempts;
  bool running;
  char *last_error;          /* body of the last failed attempt */
  struct evq_event *next;
};

struct evq_config {
  char *function;
  cJSON *doc;                /* MaximumRetryAttempts, MaximumEventAgeInSeconds, DestinationConfig */
  double last_modified;      /* epoch seconds */
  struct evq_config *next;
};

struct event_queue {
  struct lemu_ctx *ctx;
  sqlite3 *db;
  char *dir;
  double scale;
  struct evq_event *events;
  size_t n_events;
  struct evq_config *configs;
  struct loop_timer timer;
  cJSON *sink;               /* records delivered to SQS/SNS/EventBridge/DLQ targets, oldest first */
  size_t n_sink;             /* at most EVQ_SINK_KEEP */
  FILE *sink_file;
};

static void evq_schedule(struct event_queue *q);

/* ---- persistence ---- */

static bool db_exec(struct event_queue *q, const char *sql)
{
  char *err = NULL;

  if (sqlite3_exec(q->db, sql, NULL, NULL, &err) != SQLITE_OK) {
    logs_error("event queue: %s", err ? err : "sqlite error");
    sqlite3_free(err);
    return false;
  }
  return true;
}

static bool db_save(struct event_queue *q, const struct evq_event *ev, bool insert)
{
  sqlite3_stmt *st = NULL;
  bool ok;
  const char *sql = insert
    ? "INSERT INTO events(id, function, qualifier, payload, enqueued_ms, next_ms, attempts, running, "
      "last_error) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    : "UPDATE events SET next_ms = ?6, attempts = ?7, running = ?8, last_error = ?9 WHERE id = ?1";

  if (sqlite3_prepare_v2(q->db, sql, -1, &st, NULL) != SQLITE_OK)
    return false;
  sqlite3_bind_text(st, 1, ev->id, -1, SQLITE_STATIC);
  if (insert) {
    sqlite3_bind_text(st, 2, ev->function, -1, SQLITE_STATIC);
    if (ev->qualifier)
      sqlite3_bind_text(st, 3, ev->qualifier, -1, SQLITE_STATIC);
    else
      sqlite3_bind_null(st, 3);
    sqlite3_bind_blob(st, 4, ev->payload, (int)ev->len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)ev->enqueued_ms);
  }
  sqlite3_bind_int64(st, 6, (sqlite3_int64)ev->next_ms);
  sqlite3_bind_int(st, 7, ev->attempts);
  sqlite3_bind_int(st, 8, ev->running);
  if (ev->last_error)
    sqlite3_bind_text(st, 9, ev->last_error, -1, SQLITE_STATIC);
  else
    sqlite3_bind_null(st, 9);
  ok = sqlite3_step(st) == SQLITE_DONE;
  sqlite3_finalize(st);
  if (!ok)
    logs_error("event queue: cannot save event %s: %s", ev->id, sqlite3_errmsg(q->db));
  return ok;
}

static void db_delete(struct event_queue *q, const char *id)
{
  sqlite3_stmt *st = NULL;

  if (sqlite3_prepare_v2(q->db, "DELETE FROM events WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
    return;
  sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
  sqlite3_step(st);
  sqlite3_finalize(st);
}

static void db_save_config(struct event_queue *q, const struct evq_config *c)
{
  sqlite3_stmt *st = NULL;
  char *doc = cJSON_PrintUnformatted(c->doc);

  if (!c->doc) { /* nothing left: forget the row */
    if (sqlite3_prepare_v2(q->db, "DELETE FROM invoke_config WHERE function = ?1", -1, &st, NULL) == SQLITE_OK) {
      sqlite3_bind_text(st, 1, c->function, -1, SQLITE_STATIC);
      sqlite3_step(st);
    }
    sqlite3_finalize(st);
    free(doc);
    return;
  }
  if (sqlite3_prepare_v2(q->db, "INSERT OR REPLACE INTO invoke_config(function, doc, last_modified) "
                         "VALUES(?1, ?2, ?3)", -1, &st, NULL) == SQLITE_OK) {
    sqlite3_bind_text(st, 1, c->function, -1, SQLITE_STATIC);
    if (doc)
      sqlite3_bind_text(st, 2, doc, -1, SQLITE_STATIC);
    else
      sqlite3_bind_null(st, 2);
    sqlite3_bind_double(st, 3, c->last_modified);
    sqlite3_step(st);
  }
  sqlite3_finalize(st);
  free(doc);
}

/* ---- events ---- */

static void event_free(struct evq_event *ev)
{
  free(ev->function);
  free(ev->qualifier);
  free(ev->payload);
  free(ev->last_error);
  free(ev);
}

static void event_unlink(struct event_queue *q, struct evq_event *ev)
{
  struct evq_event **p;

  for (p = &q->events; *p; p = &(*p)->next)
    if (*p == ev) {
      *p = ev->next;
      q->n_events--;
      return;
    }
}

static void event_done(struct event_queue *q, struct evq_event *ev)
{
  db_delete(q, ev->id);
  event_unlink(q, ev);
  event_free(ev);
}

static uint64_t scaled_ms(const struct event_queue *q, double seconds)
{
  double ms = seconds * 1000.0 * q->scale;

  return ms < 0 ? 0 : (uint64_t)ms;
}

static struct evq_config *config_find(struct event_queue *q, const char *function)
{
  struct evq_config *c;

  for (c = q->configs; c; c = c->next)
    if (!strcmp(c->function, function))
      return c;
  return NULL;
}

static int config_int(struct event_queue *q, const char *function, const char *key, int dflt)
{
  struct evq_config *c = config_find(q, function);
  const cJSON *v = c && c->doc ? cJSON_GetObjectItemCaseSensitive(c->doc, key) : NULL;

  return cJSON_IsNumber(v) ? v->valueint : dflt;
}

static const char *config_destination(struct event_queue *q, const char *function, const char *which)
{
  struct evq_config *c = config_find(q, function);
  const cJSON *d = c && c->doc ? cJSON_GetObjectItemCaseSensitive(c->doc, "DestinationConfig") : NULL;
  const cJSON *w = d ? cJSON_GetObjectItemCaseSensitive(d, which) : NULL;
  const cJSON *arn = w ? cJSON_GetObjectItemCaseSensitive(w, "Destination") : NULL;

  return cJSON_IsString(arn) && arn->valuestring[0] ? arn->valuestring : NULL;
}

/* ---- destinations ---- */

static void iso_time(uint64_t ms, char *out, size_t n)
{
  time_t s = (time_t)(ms / 1000);
  struct tm tm;
  char base[32];

  gmtime_r(&s, &tm);
  strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(out, n, "%s.%03uZ", base, (unsigned)(ms % 1000));
}

/* JSON value of bytes: parsed when they are JSON, else a string. */
static cJSON *json_or_string(const char *p, size_t len)
{
  cJSON *v = p ? cJSON_ParseWithLength(p, len) : NULL;
  char *s;

  if (v)
    return v;
  s = p ? strndup(p, len) : NULL;
  v = cJSON_CreateString(s ? s : "");
  free(s);
  return v;
}

/* Append a record to the in-memory list, dropping the oldest beyond EVQ_SINK_KEEP. */
static void sink_keep(struct event_queue *q, cJSON *entry_take)
{
  cJSON_AddItemToArray(q->sink, entry_take);
  if (++q->n_sink > EVQ_SINK_KEEP) {
    cJSON_DeleteItemFromArray(q->sink, 0);
    q->n_sink--;
  }
}

/* Where the newest EVQ_SINK_KEEP lines of f start (0 when it has fewer), found by reading back
 * from the end, so a restart reads only what it keeps however long the file has grown. */
static off_t sink_tail_start(FILE *f, off_t end)
{
  char buf[EVQ_SINK_READ_CHUNK];
  size_t lines = 0, need = EVQ_SINK_KEEP;
  off_t pos = end;

  while (pos > 0) {
    size_t len = pos > EVQ_SINK_READ_CHUNK ? EVQ_SINK_READ_CHUNK : (size_t)pos, i;
    pos -= (off_t)len;
    if (pread(fileno(f), buf, len, pos) != (ssize_t)len)
      return 0;
    for (i = len; i-- > 0;) {
      if (pos + (off_t)i == end - 1) { /* the last byte: a torn line is not one of those kept */
        need += buf[i] != '\n';
        continue;
      }
      if (buf[i] == '\n' && ++lines == need)
        return pos + (off_t)i + 1;
    }
  }
  return 0;
}

/* The records of earlier runs (the sink file in the state dir), so GET /lemu/v1/destinations
 * lists them after a restart. A torn last line (lemu killed mid-write) is skipped; returns true
 * when there is one, so the next record starts on a line of its own. */
static bool sink_load(struct event_queue *q, const char *path)
{
  FILE *f = fopen(path, "re");
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  off_t end;
  bool torn = false;

  if (!f)
    return false;
  if (fseeko(f, 0, SEEK_END) == 0 && (end = ftello(f)) > 0 && fseeko(f, sink_tail_start(f, end), SEEK_SET) == 0) {
    while (!torn && (n = getline(&line, &cap, f)) > 0) {
      cJSON *entry;
      torn = line[n - 1] != '\n';
      entry = torn ? NULL : cJSON_Parse(line);
      if (cJSON_IsObject(entry))
        sink_keep(q, entry);
      else
        cJSON_Delete(entry);
    }
  }
  free(line);
  fclose(f);
  return torn;
}

static void sink_write(struct event_queue *q, const char *arn, const char *kind, cJSON *entry_take)
{
  char ts[40], *line;

  iso_time(util_epoch_ms(), ts, sizeof(ts));
  cJSON_AddStringToObject(entry_take, "Destination", arn);
  cJSON_AddStringToObject(entry_take, "Type", kind);
  cJSON_AddStringToObject(entry_take, "Timestamp", ts);
  line = cJSON_PrintUnformatted(entry_take);
  if (line && q->sink_file) {
    fprintf(q->sink_file, "%s\n", line);
    fflush(q->sink_file);
  }
  logs_info("async: %s record sent to %s", kind, arn);
  free(line);
  sink_keep(q, entry_take);
}

/* The service an ARN names: "lambda", "sqs", "sns", "events", "s3", or NULL. */
static const char *arn_service(const char *arn, char *fn_name, size_t n)
{
  static const char *const services[] = {"lambda", "sqs", "sns", "events", "s3", NULL};
  size_t i;

  if (strncmp(arn, "arn:", 4) != 0)
    return NULL;
  for (i = 0; services[i]; i++) {
    const char *p = strchr(arn + 4, ':');
    size_t l = strlen(services[i]);
    if (p && !strncmp(p + 1, services[i], l) && p[1 + l] == ':') {
      if (!strcmp(services[i], "lambda")) {
        const char *f = strstr(arn, ":function:");
        if (!f)
          return NULL;
        snprintf(fn_name, n, "%s", f + 10);
        if (strchr(fn_name, ':'))
          *strchr(fn_name, ':') = '\0';
      }
      return services[i];
    }
  }
  return NULL;
}

static void deliver_record(struct event_queue *q, const char *arn, cJSON *record_take)
{
  char fn_name[128] = "";
  const char *svc = arn_service(arn, fn_name, sizeof(fn_name));

  if (svc && !strcmp(svc, "lambda")) {
    char *text = cJSON_PrintUnformatted(record_take), id[LEMU_UUID_LEN + 1];
    util_uuid(id);
    if (text)
      event_queue_push(q, fn_name, NULL, id, text, strlen(text));
    logs_info("async: invocation record sent to function %s", fn_name);
    free(text);
    cJSON_Delete(record_take);
    return;
  }
  {
    cJSON *entry = cJSON_CreateObject();
    cJSON_AddItemToObject(entry, "Record", record_take);
    sink_write(q, arn, svc ? svc : "unknown", entry);
  }
}

/* AWS's invocation record (reference §5). */
static cJSON *make_record(struct event_queue *q, const struct evq_event *ev, const char *condition,
                          bool has_response, bool fn_error, const char *resp, size_t resp_len)
{
  struct function *fn = registry_find(q->ctx->reg, ev->function);
  cJSON *r = cJSON_CreateObject(), *rc;
  char ts[40], *arn;

  iso_time(util_epoch_ms(), ts, sizeof(ts));
  arn = util_asprintf("%s:%s", fn ? fn->arn : ev->function, ev->qualifier ? ev->qualifier : AWS_VERSION_LATEST);
  cJSON_AddStringToObject(r, "version", "1.0");
  cJSON_AddStringToObject(r, "timestamp", ts);
  rc = cJSON_AddObjectToObject(r, "requestContext");
  cJSON_AddStringToObject(rc, "requestId", ev->id);
  cJSON_AddStringToObject(rc, "functionArn", arn ? arn : "");
  cJSON_AddStringToObject(rc, "condition", condition);
  cJSON_AddNumberToObject(rc, "approximateInvokeCount", ev->attempts);
  cJSON_AddItemToObject(r, "requestPayload", json_or_string(ev->payload, ev->len));
  if (has_response) {
    cJSON *ctx = cJSON_AddObjectToObject(r, "responseContext");
    cJSON_AddNumberToObject(ctx, "statusCode", 200);
    cJSON_AddStringToObject(ctx, "executedVersion", ev->qualifier ? ev->qualifier : AWS_VERSION_LATEST);
    if (fn_error)
      cJSON_AddStringToObject(ctx, "functionError", AWS_FUNCTION_ERROR_UNHANDLED);
    cJSON_AddItemToObject(r, "responsePayload", json_or_string(resp, resp_len));
  }
  free(arn);
  return r;
}

static void dead_letter(struct event_queue *q, const struct evq_event *ev, const char *arn)
{
  cJSON *entry = cJSON_CreateObject(), *attrs, *a;
  char msg[EVQ_DLQ_MESSAGE_MAX + 1] = "";

  if (ev->last_error)
    snprintf(msg, sizeof(msg), "%s", ev->last_error);
  cJSON_AddItemToObject(entry, "Body", cJSON_CreateString(""));
  {
    char *body = strndup(ev->payload ? ev->payload : "", ev->len);
    cJSON_ReplaceItemInObject(entry, "Body", cJSON_CreateString(body ? body : ""));
    free(body);
  }
  attrs = cJSON_AddObjectToObject(entry, "MessageAttributes");
  a = cJSON_AddObjectToObject(attrs, "RequestID");
  cJSON_AddStringToObject(a, "DataType", "String");
  cJSON_AddStringToObject(a, "StringValue", ev->id);
  a = cJSON_AddObjectToObject(attrs, "ErrorCode");
  cJSON_AddStringToObject(a, "DataType", "Number");
  cJSON_AddStringToObject(a, "StringValue", "200");
  a = cJSON_AddObjectToObject(attrs, "ErrorMessage");
  cJSON_AddStringToObject(a, "DataType", "String");
  cJSON_AddStringToObject(a, "StringValue", msg);
  if (!q->sink_file)
    metrics_record_async(q->ctx->metrics, ev->function, METRICS_ASYNC_DLQ_ERROR); /* kept in memory only */
  sink_write(q, arn, "dlq", entry);
}

/* The DeadLetterConfig of the function (or the version) the event is for, read now from its
 * management record, which every function in the registry has (config file, SAM, the API, stored,
 * versions): a change made through UpdateFunctionConfiguration while the event waited applies to
 * it. A function deleted while its event ran has none. */
static const char *event_dead_letter(struct event_queue *q, const struct evq_event *ev)
{
  struct function *fn = registry_find(q->ctx->reg, ev->function);
  const struct function *target = fn && ev->qualifier ? fnmeta_resolve(fn, ev->qualifier) : fn;
  const struct fnmeta *m = fn ? fnmeta_of(target ? target : fn) : NULL;

  return m ? m->dead_letter_arn : NULL;
}

/* The event failed for good: OnFailure destination and/or DLQ, then forget it. */
static void event_failed(struct event_queue *q, struct evq_event *ev, const char *condition)
{
  const char *on_failure = config_destination(q, ev->function, "OnFailure");
  const char *dlq = event_dead_letter(q, ev);

  logs_info("async: event %s for %s failed (%s after %d attempt%s)", ev->id, ev->function, condition,
            ev->attempts, ev->attempts == 1 ? "" : "s");
  if (on_failure)
    deliver_record(q, on_failure, make_record(q, ev, condition, ev->attempts > 0, true, ev->last_error,
                                              ev->last_error ? strlen(ev->last_error) : 0));
  if (dlq)
    dead_letter(q, ev, dlq);
  metrics_record_async(q->ctx->metrics, ev->function, METRICS_ASYNC_DROPPED);
  event_done(q, ev);
}

/* ---- delivery ---- */

static void on_event_done(struct invocation *inv, enum inv_outcome outcome, const char *body,
                          size_t len, void *cls)
{
  struct event_queue *q = inv->ctx->evq;
  struct evq_event *ev = cls, *it;
  int max_retries;
  uint64_t now = util_epoch_ms();

  for (it = q->events; it && it != ev; it = it->next)
    ;
  if (!it)
    return;
  ev->running = false;
  /* Its concurrency slot is free again: events of this function waiting out a throttle backoff
   * may go now instead of at the end of their backoff. */
  for (it = q->events; it; it = it->next)
    if (it != ev && !it->running && it->backoff_ms && !strcmp(it->function, ev->function) && it->next_ms > now)
      it->next_ms = now;
  if (outcome == INV_OUTCOME_ABORTED)
    return; /* lemu is stopping: the row says running, so a restart delivers it again */
  if (outcome == INV_OUTCOME_SUCCESS) {
    const char *on_success = config_destination(q, ev->function, "OnSuccess");
    if (on_success)
      deliver_record(q, on_success, make_record(q, ev, EVQ_CONDITION_SUCCESS, true, false, body, len));
    event_done(q, ev);
    evq_schedule(q);
    return;
  }
  free(ev->last_error);
  ev->last_error = body ? strndup(body, len) : NULL;
  max_retries = config_int(q, ev->function, "MaximumRetryAttempts", EVQ_DEFAULT_RETRIES);
  if (ev->attempts > max_retries) {
    event_failed(q, ev, EVQ_CONDITION_RETRIES);
  } else {
    ev->next_ms = util_epoch_ms() +
                  scaled_ms(q, ev->attempts == 1 ? EVQ_FIRST_RETRY_S : EVQ_SECOND_RETRY_S);
    db_save(q, ev, false);
    logs_info("async: event %s for %s will be retried (attempt %d of %d)", ev->id, ev->function,
              ev->attempts + 1, max_retries + 1);
  }
  evq_schedule(q);
}

/* Try to start one due event. */
static void dispatch(struct event_queue *q, struct evq_event *ev, uint64_t now)
{
  struct function *fn = registry_find(q->ctx->reg, ev->function);
  int max_age = config_int(q, ev->function, "MaximumEventAgeInSeconds", EVQ_DEFAULT_MAX_AGE_S);

  if (fn && ev->qualifier)
    fn = fnmeta_resolve(fn, ev->qualifier); /* a version or alias runs that version */
  struct invocation *inv;
  struct blob *payload;
  char *copy;

  if (!fn) {
    logs_warn("async: event %s dropped: function %s no longer exists", ev->id, ev->function);
    metrics_record_async(q->ctx->metrics, ev->function, METRICS_ASYNC_DROPPED);
    event_done(q, ev);
    return;
  }
  if (now - ev->enqueued_ms > scaled_ms(q, max_age)) {
    event_failed(q, ev, EVQ_CONDITION_AGE);
    return;
  }
  if (fn->cfg.reserved_concurrency == 0) {
    event_failed(q, ev, EVQ_CONDITION_RETRIES); /* fully throttled: no retries (reference §5) */
    return;
  }
  copy = malloc(ev->len + 1);
  if (!copy)
    return;
  memcpy(copy, ev->payload, ev->len);
  payload = blob_new_take(copy, ev->len);
  inv = payload ? invoker_create(q->ctx, fn, payload, fn->arn) : NULL;
  if (!inv)
    return;
  memcpy(inv->request_id, ev->id, sizeof(inv->request_id)); /* retries keep the request id */
  {
    struct fault_hit hit;
    if (fault_engine_decide(q->ctx->faults, ev->function, ev->payload, ev->len, NULL, now,
                            FAULT_SCOPE_ATTEMPT, &hit)) {
      logs_info("fault %s (%s) fired for async request %s of %s (attempt %d)", hit.id, hit.kind->name,
                ev->id, ev->function, ev->attempts + 1);
      if (fault_kind_answers_call(hit.kind)) {
        /* Throttles and service errors on an async invoke: back to the queue with backoff. */
        ev->backoff_ms = ev->backoff_ms ? ev->backoff_ms * 2 : EVQ_THROTTLE_MIN_S * 1000u;
        if (ev->backoff_ms > EVQ_THROTTLE_MAX_S * 1000u)
          ev->backoff_ms = EVQ_THROTTLE_MAX_S * 1000u;
        ev->next_ms = now + scaled_ms(q, (double)ev->backoff_ms / 1000.0);
        invoker_abort(inv);
        return;
      }
      invoker_set_fault(inv, &hit);
    }
  }
  if (invoker_admit(inv)) {
    /* Throttled: back to the queue with exponential backoff, 1 s to 5 min. */
    ev->backoff_ms = ev->backoff_ms ? ev->backoff_ms * 2 : EVQ_THROTTLE_MIN_S * 1000u;
    if (ev->backoff_ms > EVQ_THROTTLE_MAX_S * 1000u)
      ev->backoff_ms = EVQ_THROTTLE_MAX_S * 1000u;
    /* Jitter (50..100 %) keeps events throttled in one tick from retrying in lockstep. */
    ev->next_ms = now + scaled_ms(q, (double)ev->backoff_ms / 1000.0 * (0.5 + (double)(util_now_us() % 500) / 1000.0));
    invoker_abort(inv);
    return;
  }
  ev->attempts++;
  ev->running = true;
  ev->backoff_ms = 0;
  db_save(q, ev, false);
  inv->on_done = on_event_done;
  inv->on_done_cls = ev;
  invoker_start(inv);
}

static void on_timer(void *cls)
{
  struct event_queue *q = cls;
  uint64_t now = util_epoch_ms();
  struct evq_event *ev, *next;
  int n = 0;

  for (ev = q->events; ev && n < EVQ_DISPATCH_PER_TICK; ev = next) {
    next = ev->next; /* dispatch may free ev */
    if (ev->running || ev->next_ms > now)
      continue;
    dispatch(q, ev, now);
    n++;
  }
  evq_schedule(q);
}

/* Arm the timer for the earliest waiting event. */
static void evq_schedule(struct event_queue *q)
{
  uint64_t now = util_epoch_ms(), due = UINT64_MAX;
  struct evq_event *ev;

  for (ev = q->events; ev; ev = ev->next)
    if (!ev->running && ev->next_ms < due)
      due = ev->next_ms;
  if (due == UINT64_MAX) {
    loop_timer_stop(q->ctx->loop, &q->timer);
    return;
  }
  loop_timer_start(q->ctx->loop, &q->timer, due > now ? (due - now) * 1000u : 0);
}

/* ---- public ---- */

lemu_err_t event_queue_push(struct event_queue *q, const char *function, const char *qualifier,
                            const char *request_id, const char *payload, size_t len)
{
  struct evq_event *ev = calloc(1, sizeof(*ev));

  if (!ev)
    return LEMU_ERR_NOMEM;
  snprintf(ev->id, sizeof(ev->id), "%s", request_id);
  ev->function = util_strdup(function);
  ev->qualifier = qualifier ? util_strdup(qualifier) : NULL;
  ev->payload = malloc(len + 1);
  if (!ev->function || !ev->payload) {
    event_free(ev);
    return LEMU_ERR_NOMEM;
  }
  memcpy(ev->payload, payload, len);
  ev->payload[len] = '\0';
  ev->len = len;
  ev->enqueued_ms = ev->next_ms = util_epoch_ms();
  if (!db_save(q, ev, true)) { /* durable before the caller's 202 */
    event_free(ev);
    return LEMU_ERR_IO;
  }
  ev->next = q->events;
  q->events = ev;
  q->n_events++;
  metrics_record_async(q->ctx->metrics, function, METRICS_ASYNC_RECEIVED);
  evq_schedule(q);
  return LEMU_ERR_OK;
}

static void load_events(struct event_queue *q)
{
  sqlite3_stmt *st = NULL;

  if (sqlite3_prepare_v2(q->db, "SELECT id, function, qualifier, payload, enqueued_ms, next_ms, attempts, "
                         "last_error FROM events ORDER BY enqueued_ms DESC", -1, &st, NULL) != SQLITE_OK)
    return;
  while (sqlite3_step(st) == SQLITE_ROW) {
    struct evq_event *ev = calloc(1, sizeof(*ev));
    const void *blob = sqlite3_column_blob(st, 3);
    int len = sqlite3_column_bytes(st, 3);
    if (!ev)
      break;
    snprintf(ev->id, sizeof(ev->id), "%s", (const char *)sqlite3_column_text(st, 0));
    ev->function = util_strdup((const char *)sqlite3_column_text(st, 1));
    if (sqlite3_column_type(st, 2) != SQLITE_NULL)
      ev->qualifier = util_strdup((const char *)sqlite3_column_text(st, 2));
    ev->payload = malloc((size_t)len + 1);
    if (ev->payload) {
      if (len)
        memcpy(ev->payload, blob, (size_t)len);
      ev->payload[len] = '\0';
    }
    ev->len = (size_t)len;
    ev->enqueued_ms = (uint64_t)sqlite3_column_int64(st, 4);
    ev->next_ms = (uint64_t)sqlite3_column_int64(st, 5);
    ev->attempts = sqlite3_column_int(st, 6);
    if (sqlite3_column_type(st, 7) != SQLITE_NULL)
      ev->last_error = util_strdup((const char *)sqlite3_column_text(st, 7));
    ev->next = q->events;
    q->events = ev;
    q->n_events++;
  }
  sqlite3_finalize(st);
  if (q->n_events)
    logs_info("async: %zu queued event%s recovered from %s", q->n_events, q->n_events == 1 ? "" : "s", q->dir);
}

static void load_configs(struct event_queue *q)
{
  sqlite3_stmt *st = NULL;

  if (sqlite3_prepare_v2(q->db, "SELECT function, doc, last_modified FROM invoke_config", -1, &st, NULL) !=
      SQLITE_OK)
    return;
  while (sqlite3_step(st) == SQLITE_ROW) {
    struct evq_config *c = calloc(1, sizeof(*c));
    if (!c)
      break;
    c->function = util_strdup((const char *)sqlite3_column_text(st, 0));
    c->doc = sqlite3_column_type(st, 1) != SQLITE_NULL ? cJSON_Parse((const char *)sqlite3_column_text(st, 1)) : NULL;
    c->last_modified = sqlite3_column_double(st, 2);
    c->next = q->configs;
    q->configs = c;
  }
  sqlite3_finalize(st);
}

lemu_err_t event_queue_open(struct lemu_ctx *ctx, const char *dir, double time_scale,
                            struct event_queue **out, char **message)
{
  struct event_queue *q = calloc(1, sizeof(*q));
  char *path = NULL, *sink = NULL;
  bool torn;

  *out = NULL;
  *message = NULL;
  if (!q)
    return LEMU_ERR_NOMEM;
  q->ctx = ctx;
  q->scale = time_scale > 0 ? time_scale : 1.0;
  q->dir = util_strdup(dir);
  q->sink = cJSON_CreateArray();
  loop_timer_init(&q->timer, on_timer, q);
  path = util_asprintf("%s/%s", dir, EVQ_DB_FILE);
  sink = util_asprintf("%s/%s", dir, EVQ_SINK_FILE);
  if (!path || !sink || !q->sink || sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                                                    NULL) != SQLITE_OK) {
    *message = util_asprintf("cannot open %s: %s", path ? path : EVQ_DB_FILE,
                             q->db ? sqlite3_errmsg(q->db) : "out of memory");
    goto fail;
  }
  sqlite3_busy_timeout(q->db, EVQ_BUSY_TIMEOUT_MS); /* another lemu on the same state dir */
  /* WAL: a commit is on disk (in the log) before push returns; NORMAL syncs at checkpoints, which
   * keeps every event across a crash of lemu (not across a power cut of the machine). */
  if (!db_exec(q, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                  "CREATE TABLE IF NOT EXISTS events(id TEXT PRIMARY KEY, function TEXT NOT NULL, "
                  "qualifier TEXT, payload BLOB, enqueued_ms INTEGER, next_ms INTEGER, attempts INTEGER, "
                  "running INTEGER, last_error TEXT);"
                  "CREATE TABLE IF NOT EXISTS invoke_config(function TEXT PRIMARY KEY, doc TEXT, "
                  "last_modified REAL);"
                  /* An older events.db also has a dlq column (the queue's own copy of each
                   * DLQ, now read from the function): no query names it, and rows that held
                   * only that copy go. */
                  "DELETE FROM invoke_config WHERE doc IS NULL;"
                  "UPDATE events SET running = 0;")) {
    *message = util_asprintf("cannot prepare %s", path);
    goto fail;
  }
  torn = sink_load(q, sink);
  q->sink_file = fopen(sink, "ae");
  if (torn && q->sink_file)
    fputc('\n', q->sink_file); /* the torn line stays alone on its line */
  load_configs(q);
  load_events(q);
  free(path);
  free(sink);
  *out = q;
  evq_schedule(q);
  return LEMU_ERR_OK;
fail:
  free(path);
  free(sink);
  event_queue_close(q);
  return LEMU_ERR_IO;
}

void event_queue_close(struct event_queue *q)
{
  if (!q)
    return;
  if (q->ctx && q->ctx->loop)
    loop_timer_stop(q->ctx->loop, &q->timer);
  while (q->events) {
    struct evq_event *ev = q->events;
    q->events = ev->next;
    event_free(ev);
  }
  while (q->configs) {
    struct evq_config *c = q->configs;
    q->configs = c->next;
    free(c->function);
    cJSON_Delete(c->doc);
    free(c);
  }
  if (q->sink_file)
    fclose(q->sink_file);
  cJSON_Delete(q->sink);
  if (q->db)
    sqlite3_close(q->db);
  free(q->dir);
  free(q);
}

static struct evq_config *config_get_or_add(struct event_queue *q, const char *function)
{
  struct evq_config *c = config_find(q, function);

  if (c)
    return c;
  c = calloc(1, sizeof(*c));
  if (!c)
    return NULL;
  c->function = util_strdup(function);
  c->next = q->configs;
  q->configs = c;
  return c;
}

lemu_err_t event_queue_put_config(struct event_queue *q, const char *function, const cJSON *cfg, int merge)
{
  struct evq_config *c = config_get_or_add(q, function);
  const cJSON *it;

  if (!c)
    return LEMU_ERR_NOMEM;
  if (!merge || !c->doc) {
    cJSON_Delete(c->doc);
    c->doc = cJSON_CreateObject();
  }
  cJSON_ArrayForEach(it, cfg) {
    cJSON_DeleteItemFromObjectCaseSensitive(c->doc, it->string);
    cJSON_AddItemToObject(c->doc, it->string, cJSON_Duplicate(it, true));
  }
  c->last_modified = (double)util_epoch_ms() / 1000.0;
  db_save_config(q, c);
  return LEMU_ERR_OK;
}

char *event_queue_get_config(struct event_queue *q, const char *function, const char *function_arn)
{
  struct evq_config *c = config_find(q, function);
  cJSON *out, *d;
  char *text, *arn;

  if (!c || !c->doc)
    return NULL;
  out = cJSON_Duplicate(c->doc, true);
  if (!out)
    return NULL;
  arn = util_asprintf("%s:%s", function_arn, AWS_VERSION_LATEST);
  cJSON_AddNumberToObject(out, "LastModified", c->last_modified);
  cJSON_AddStringToObject(out, "FunctionArn", arn ? arn : function_arn);
  free(arn);
  d = cJSON_GetObjectItemCaseSensitive(out, "DestinationConfig");
  if (!d)
    d = cJSON_AddObjectToObject(out, "DestinationConfig");
  if (!cJSON_GetObjectItemCaseSensitive(d, "OnSuccess"))
    cJSON_AddObjectToObject(d, "OnSuccess");
  if (!cJSON_GetObjectItemCaseSensitive(d, "OnFailure"))
    cJSON_AddObjectToObject(d, "OnFailure");
  text = cJSON_PrintUnformatted(out);
  cJSON_Delete(out);
  return text;
}

lemu_err_t event_queue_delete_config(struct event_queue *q, const char *function)
{
  struct evq_config *c = config_find(q, function);

  if (!c || !c->doc)
    return LEMU_ERR_NOTFOUND;
  cJSON_Delete(c->doc);
  c->doc = NULL;
  db_save_config(q, c);
  return LEMU_ERR_OK;
}

char *event_queue_list(struct event_queue *q)
{
  cJSON *out = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(out, "Events");
  struct evq_event *ev;
  char *text;

  for (ev = q->events; ev; ev = ev->next) {
    cJSON *o = cJSON_CreateObject();
    char ts[40];
    iso_time(ev->next_ms, ts, sizeof(ts));
    cJSON_AddStringToObject(o, "RequestId", ev->id);
    cJSON_AddStringToObject(o, "Function", ev->function);
    cJSON_AddNumberToObject(o, "Attempts", ev->attempts);
    cJSON_AddStringToObject(o, "NextAttempt", ts);
    cJSON_AddStringToObject(o, "State", ev->running ? "InFlight" : "Queued");
    cJSON_AddItemToArray(arr, o);
  }
  text = cJSON_PrintUnformatted(out);
  cJSON_Delete(out);
  return text;
}

char *event_queue_sink_list(struct event_queue *q, const char *arn)
{
  cJSON *out = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(out, "Records");
  const cJSON *it;
  char *text;

  cJSON_ArrayForEach(it, q->sink) {
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(it, "Destination");
    if (!arn || (cJSON_IsString(d) && !strcmp(d->valuestring, arn)))
      cJSON_AddItemToArray(arr, cJSON_Duplicate(it, true));
  }
  text = cJSON_PrintUnformatted(out);
  cJSON_Delete(out);
  return text;
}

size_t event_queue_depth(const struct event_queue *q)
{
  return q->n_events;
}

void event_queue_visit(const struct event_queue *q, event_queue_visit_fn fn, void *cls)
{
  const struct evq_event *ev;

  for (ev = q->events; ev; ev = ev->next)
    fn(cls, ev->function, ev->enqueued_ms, ev->attempts, ev->running);
}
