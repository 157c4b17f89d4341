/* One invocation's life: it gets an environment (idle, soon idle, or spawned), is delivered to the
 * runtime's GET /next, runs under its deadline, and ends exactly once with a result that goes back
 * to the waiting Invoke request (sync) or nowhere (Event), with START/END/REPORT logged. */
#ifndef LEMU_INVOKER_H
#define LEMU_INVOKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lemu/aws_errors.h"
#include "lemu/buf.h"
#include "lemu/logs.h"
#include "lemu/loop.h"
#include "lemu/util.h"

struct lemu_ctx;
struct function;
struct env;
struct http_req;
struct invocation;

#define INVOKER_HANDOFF_US (200u * 1000u) /* wait for an answered env's /next before spawning */

/* How an invocation ended, for whoever waits on it without a connection (the async queue). */
enum inv_outcome {
  INV_OUTCOME_SUCCESS,
  INV_OUTCOME_FUNCTION_ERROR,   /* handler error, timeout, crash, OOM, init failure */
  INV_OUTCOME_ABORTED,          /* lemu stopped before it ended */
};
/* Called once when inv ends, before it is freed; body is the answer (borrowed). */
typedef void (*invoker_done_fn)(struct invocation *inv, enum inv_outcome outcome, const char *body,
                                size_t len, void *cls);

enum inv_phase {
  INV_QUEUED,     /* assigned to an environment that has not asked for it yet */
  INV_RUNNING,    /* delivered to the runtime */
  INV_DONE,
};

struct invocation {
  struct lemu_ctx *ctx;
  struct function *fn;          /* the function object that runs (a reference) */
  struct function *slot_fn;     /* holds its concurrency slot (a reference), NULL before admit */
  bool slot_from_pool;
  char request_id[LEMU_UUID_LEN + 1];
  char *invoked_arn;            /* the ARN as the caller named it (qualifier kept) */
  const char *version;          /* executed version ("$LATEST") */
  struct blob *payload;         /* the event, shared with the /next response */
  char *client_context;         /* decoded JSON, or NULL */
  char *trace_id;
  struct http_req *caller;      /* the suspended Invoke, NULL for Event or when it went away */
  invoker_done_fn on_done;      /* optional completion callback (async delivery) */
  void *on_done_cls;
  struct env *env;
  enum inv_phase phase;
  bool oom;                     /* ended by the memory limit: REPORT shows Max Memory = Memory Size */
  /* An injected fault (fault_catalog's FAULT_* action) and what it needs, copied from the rule so
   * a rule deleted meanwhile cannot pull it away. */
  int fault;                    /* -1 = none */
  uint64_t fault_latency_us;
  char *fault_body;             /* answer of a function-error / http-integration-response fault */
  bool delaying;                /* waiting out an injected latency */
  bool hold_answer;             /* timeout fault: the runtime's answer is ignored */
  bool deadline_armed;
  uint64_t created_us;
  uint64_t started_us;          /* when it was delivered (Duration starts here), 0 before */
  uint64_t deadline_epoch_ms;
  struct loop_timer timer;      /* the deadline while running; the handoff wait while queued */
  struct logs_tail *tail;       /* LogType=Tail: the last 4 KB of its log (owned), else NULL */
  struct invocation *all_prev, *all_next; /* ctx->invocations: every live invocation */
};

/* Create an invocation of fn; takes the payload reference. NULL on allocation failure. */
struct invocation *invoker_create(struct lemu_ctx *ctx, struct function *fn, struct blob *payload_take,
                                  const char *invoked_arn);
/* Take a concurrency slot for inv (reference §6). Returns the throttle Reason to answer with, or
 * NULL when admitted; the slot is released when inv ends, whichever way. */
const char *invoker_admit(struct invocation *inv);
/* Attach the suspended Invoke request that waits for the result. */
void invoker_attach_caller(struct invocation *inv, struct http_req *req);
/* Find or start an environment for inv. Ends inv (with the platform error) if none can start. */
void invoker_start(struct invocation *inv);
/* Deliver inv to env's GET /next request (env was STARTING or ANSWERED with inv assigned, or is
 * idle). */
void invoker_deliver(struct invocation *inv, struct env *env, struct http_req *next_req);

/* Endings. Each frees inv. */
/* The runtime's /response: body taken. */
void invoker_finish_response(struct invocation *inv, char *body_take, size_t len, const char *content_type);
/* The runtime's /error or /init/error: the posted body is the caller's body; error_type from the
 * Lambda-Runtime-Function-Error-Type header (may be NULL). */
void invoker_finish_function_error(struct invocation *inv, char *body_take, size_t len, const char *error_type);
/* A platform error (timeout, exit, entrypoint, size): body from the catalog. status_word is the
 * REPORT Status ("timeout" or "error"). */
void invoker_finish_platform_error(struct invocation *inv, enum aws_fn_error id, char *body_take);
/* The environment running or holding inv died (not by our timeout); oom: at its memory limit. */
void invoker_env_died(struct invocation *inv, int wait_status, bool oom);
/* The environment holding inv (queued) went away before delivering it: find another. */
void invoker_requeue(struct invocation *inv);
/* The environment initialising for inv overran the init limit: start a fresh one whose init runs
 * inside the invoke phase, under the function's timeout (Lambda's suppressed init). */
void invoker_init_timeout(struct invocation *inv);
/* Apply a fired fault rule to inv (kinds acting on an invocation: latency, timeout, oom, crash,
 * function-error, http-integration-response). */
struct fault_hit;
void invoker_set_fault(struct invocation *inv, const struct fault_hit *hit);
/* lemu is stopping: the caller gets ServiceException. Frees inv. */
void invoker_abort(struct invocation *inv);
/* Abort every live invocation (shutdown). */
void invoker_abort_all(struct lemu_ctx *ctx);

#endif
