/* The live page (see include/lemu/ui.h). Server-sent events without a streaming response: an
 * events request with nothing new is suspended until the metrics ring gets an event (or
 * UI_EVENTS_HOLD_US passes), then answered with every event after the client's Last-Event-ID and
 * closed; the client asks again at once with the last id it saw (an EventSource reconnects after
 * "retry: 100"; the page's own loop sends Last-Event-ID with fetch(), which can also carry the
 * control token). That keeps the HTTP layer's one-answer-per-request model and loses nothing
 * between answers. Access to /lemu/v1/state and /lemu/v1/events is checked by api_control.c. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lemu/aws_errors.h"
#include "lemu/buf.h"
#include "lemu/envpool.h"
#include "lemu/event_queue.h"
#include "lemu/fault_catalog.h"
#include "lemu/fault_rules.h"
#include "lemu/function_meta.h"
#include "lemu/logs.h"
#include "lemu/loop.h"
#include "lemu/metrics.h"
#include "lemu/registry.h"
#include "lemu/server.h"
#include "lemu/ui.h"
#include "lemu/util.h"

#define UI_OK 200
#define UI_NOT_FOUND 404
#define UI_ERROR 500
#define UI_SSE_TYPE "text/event-stream"

struct ui_waiter {
  struct http_req *req;
  unsigned long long after;
  struct ui_waiter *next;
};

struct ui {
  struct lemu_ctx *ctx;
  struct ui_waiter *waiters;
  struct loop_timer timer;   /* answers waiters that held UI_EVENTS_HOLD_US without news */
  bool timer_on;
};

/* The files of the page, by the name in the URL: nothing else under ui/ is ever read. */
static const struct {
  const char *name, *type;
} ui_files[] = {
  {"index.html", "text/html; charset=utf-8"},
  {"app.js", "text/javascript; charset=utf-8"},
  {"style.css", "text/css; charset=utf-8"},
};

static const char *ui_dir(void)
{
  const char *env = getenv("LEMU_UI_DIR");

  return env && *env ? env : LEMU_UI_DIR;
}

static void send_text(struct http_req *req, unsigned status, const char *type, char *body_take, size_t len)
{
  struct MHD_Response *resp = http_resp_take(body_take, len);

  http_resp_header(resp, "Content-Type", type);
  http_resp_header(resp, "Cache-Control", "no-store");
  http_req_send(req, status, resp);
}

static void send_file(struct http_req *req, const char *name)
{
  size_t i;

  for (i = 0; i < sizeof(ui_files) / sizeof(ui_files[0]); i++) {
    if (strcmp(name, ui_files[i].name) == 0) {
      char *path = util_asprintf("%s/%s", ui_dir(), name), chunk[8192];
      FILE *f = path ? fopen(path, "rbe") : NULL;
      struct buf b;
      size_t n;
      bool ok = f != NULL;
      buf_init(&b, UI_MAX_FILE);
      while (ok && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        ok = buf_append(&b, chunk, n) == LEMU_ERR_OK;
      if (f)
        fclose(f);
      if (!ok) {
        logs_warn("live page: cannot read %s", path ? path : name);
        buf_cleanup(&b);
        free(path);
        send_text(req, UI_ERROR, "text/plain; charset=utf-8", util_strdup("cannot read the page's files\n"), 29);
        return;
      }
      free(path);
      {
        size_t len = b.len;
        char *body = buf_take(&b, NULL);
        send_text(req, UI_OK, ui_files[i].type, body, body ? len : 0);
      }
      return;
    }
  }
  send_text(req, UI_NOT_FOUND, "text/plain; charset=utf-8", util_strdup("not found\n"), 10);
}

void ui_page(struct http_req *req, void *cls)
{
  (void)cls;
  send_file(req, "index.html");
}

void ui_asset(struct http_req *req, void *cls)
{
  (void)cls;
  send_file(req, req->params[0][0] ? req->params[0] : "index.html");
}

/* ---- state ---- */

static const char *const env_states[] = {
  [ENV_STARTING] = "Starting", [ENV_IDLE] = "Idle", [ENV_BUSY] = "Busy", [ENV_ANSWERED] = "Answered",
  [ENV_DEAD] = "Dead",
};

void ui_state(struct http_req *req, void *cls)
{
  struct lemu_ctx *ctx = cls;
  cJSON *out = cJSON_CreateObject(), *fns = cJSON_AddArrayToObject(out, "Functions");
  cJSON *envs = cJSON_AddArrayToObject(out, "Environments"), *kinds = cJSON_AddArrayToObject(out, "FaultKinds");
  cJSON *acct = cJSON_AddObjectToObject(out, "Account");
  uint64_t now = util_epoch_ms();
  struct env *env;
  size_t i;
  char *text;

  cJSON_AddNumberToObject(acct, "ConcurrentExecutions", ctx->cfg.account_concurrency);
  cJSON_AddNumberToObject(acct, "UnreservedConcurrentExecutions", ctx->unreserved_in_flight);
  for (i = 0; i < ctx->reg->n; i++) {
    const struct function *fn = ctx->reg->fns[i];
    const struct fnmeta *meta = fnmeta_of(fn);
    bool pending = (meta && meta->pending) || fault_engine_pending(ctx->faults, fn->cfg.name, now);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "FunctionName", fn->cfg.name);
    cJSON_AddStringToObject(o, "Runtime", fn->cfg.runtime);
    cJSON_AddStringToObject(o, "State", pending ? AWS_STATE_PENDING : AWS_STATE_ACTIVE);
    cJSON_AddNumberToObject(o, "Timeout", fn->cfg.timeout_s);
    cJSON_AddNumberToObject(o, "MemorySize", fn->cfg.memory_mb);
    if (fn->cfg.reserved_concurrency >= 0)
      cJSON_AddNumberToObject(o, "ReservedConcurrentExecutions", fn->cfg.reserved_concurrency);
    else
      cJSON_AddNullToObject(o, "ReservedConcurrentExecutions");
    cJSON_AddNumberToObject(o, "ConcurrentExecutions", fn->in_flight);
    cJSON_AddItemToArray(fns, o);
  }
  for (env = ctx->envs; env; env = env->next) {
    cJSON *o;
    if (env->state == ENV_DEAD)
      continue;
    o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "Id", (double)env->id);
    cJSON_AddStringToObject(o, "Function", env->fn->cfg.name);
    cJSON_AddStringToObject(o, "State", env_states[env->state]);
    cJSON_AddBoolToObject(o, "Warm", env->state != ENV_STARTING);
    cJSON_AddNumberToObject(o, "Pid", env->pid);
    cJSON_AddNumberToObject(o, "AgeMs", (double)(util_now_us() - env->spawned_us) / 1000.0);
    cJSON_AddItemToArray(envs, o);
  }
  for (i = 0; i < fault_kinds_count; i++)
    cJSON_AddItemToArray(kinds, cJSON_CreateString(fault_kinds[i].name));
  {
    char *q = ctx->evq ? event_queue_list(ctx->evq) : NULL, *f = fault_engine_list(ctx->faults);
    cJSON *qj = q ? cJSON_Parse(q) : NULL, *fj = f ? cJSON_Parse(f) : NULL;
    cJSON_AddItemToObject(out, "Queue", qj ? cJSON_DetachItemFromObject(qj, "Events") : cJSON_CreateArray());
    cJSON_AddItemToObject(out, "Faults", fj ? cJSON_DetachItemFromObject(fj, "Faults") : cJSON_CreateArray());
    cJSON_Delete(qj);
    cJSON_Delete(fj);
    free(q);
    free(f);
  }
  cJSON_AddNumberToObject(out, "LastEvent", (double)metrics_last_event(ctx->metrics));
  text = cJSON_PrintUnformatted(out);
  cJSON_Delete(out);
  if (!text) {
    send_text(req, UI_ERROR, "text/plain; charset=utf-8", util_strdup("out of memory\n"), 14);
    return;
  }
  send_text(req, UI_OK, "application/json", text, strlen(text));
}

/* ---- events ---- */

static void answer(struct ui *ui, struct http_req *req, unsigned long long after)
{
  char *text = metrics_events_sse(ui->ctx->metrics, after);

  if (!text) {
    send_text(req, UI_ERROR, "text/plain; charset=utf-8", util_strdup("out of memory\n"), 14);
    return;
  }
  send_text(req, UI_OK, UI_SSE_TYPE, text, strlen(text));
}

static void waiter_remove(struct ui *ui, struct http_req *req)
{
  struct ui_waiter **p;

  for (p = &ui->waiters; *p; p = &(*p)->next)
    if ((*p)->req == req) {
      struct ui_waiter *w = *p;
      *p = w->next;
      free(w);
      return;
    }
}

static void on_waiter_closed(struct http_req *req, void *owner)
{
  waiter_remove(owner, req); /* the browser went away while it waited */
}

/* Answer every waiter (news, the hold time is over, or shutdown). */
static void flush_waiters(struct ui *ui)
{
  while (ui->waiters) {
    struct ui_waiter *w = ui->waiters;
    ui->waiters = w->next;
    w->req->on_close = NULL;
    w->req->owner = NULL;
    answer(ui, w->req, w->after);
    free(w);
  }
  if (ui->timer_on) {
    loop_timer_stop(ui->ctx->loop, &ui->timer);
    ui->timer_on = false;
  }
}

static void on_news(void *cls)
{
  flush_waiters(cls);
}

static void on_hold_over(void *cls)
{
  struct ui *ui = cls;

  ui->timer_on = false;
  flush_waiters(ui);
}

void ui_events(struct http_req *req, void *cls)
{
  struct lemu_ctx *ctx = cls;
  struct ui *ui = ctx->ui;
  const char *last = http_req_header(req, "Last-Event-ID");
  const char *since = http_req_query(req, "since");
  unsigned long long after = last ? strtoull(last, NULL, 10) : since ? strtoull(since, NULL, 10) : 0;
  unsigned long long newest = metrics_last_event(ctx->metrics);
  struct ui_waiter *w;

  if (after > newest)
    after = 0; /* a client of an earlier run of lemu: it gets everything again */
  if (ui && (after < newest || (!last && !since))) { /* news, or a first request: answer now */
    answer(ui, req, after);
    return;
  }
  w = ui ? calloc(1, sizeof(*w)) : NULL;
  if (!w) {
    send_text(req, UI_ERROR, "text/plain; charset=utf-8", util_strdup("unavailable\n"), 12);
    return;
  }
  w->req = req;
  w->after = after;
  w->next = ui->waiters;
  ui->waiters = w;
  req->owner = ui;
  req->on_close = on_waiter_closed;
  http_req_suspend(req);
  if (!ui->timer_on && loop_timer_start(ctx->loop, &ui->timer, UI_EVENTS_HOLD_US) == LEMU_ERR_OK)
    ui->timer_on = true;
}

struct ui *ui_create(struct lemu_ctx *ctx)
{
  struct ui *ui = calloc(1, sizeof(*ui));

  if (!ui)
    return NULL;
  ui->ctx = ctx;
  loop_timer_init(&ui->timer, on_hold_over, ui);
  metrics_set_listener(ctx->metrics, on_news, ui);
  return ui;
}

void ui_destroy(struct ui *ui)
{
  if (!ui)
    return;
  metrics_set_listener(ui->ctx->metrics, NULL, NULL);
  flush_waiters(ui);
  free(ui);
}
