/* The running server: one struct lemu_ctx holds everything a `lemu serve` owns (loop, HTTP
 * daemons, functions, environments), passed explicitly so a test can build two. */
#ifndef LEMU_SERVER_H
#define LEMU_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "lemu/cgroup.h"
#include "lemu/config.h"
#include "lemu/err.h"
#include "lemu/loop.h"
#include "lemu/sandbox.h"

struct loop;
struct http_server;
struct registry;
struct env;
struct invocation;
struct store;
struct fault_engine;
struct event_queue;
struct http_route;
struct metrics;
struct ui;
struct apigw;

struct lemu_ctx {
  struct loop *loop;
  struct lemu_config cfg;        /* owned */
  struct registry *reg;
  struct http_server *api;       /* Invoke API, management API (later the control API) */
  struct http_route *api_routes; /* the API port's routing table (owned) */
  size_t n_api_routes;
  struct http_server *rt;        /* Runtime API: connections arrive from per-environment sockets */
  struct env *envs;              /* every live environment (envpool owns them) */
  struct invocation *invocations; /* every live invocation (invoker owns them) */
  int unreserved_in_flight;      /* invocations drawing on the unreserved pool (concurrency.c) */
  size_t n_envs;
  const char *runtimes_dir;      /* lemu's python/node runtime shims */
  struct store *store;           /* state dir: API-created functions (function_meta, store) */
  char *tmp_state_dir;           /* a temporary state dir lemu made itself, removed at exit */
  struct fault_engine *faults;   /* fault rules (config, control API, CLI) */
  struct event_queue *evq;       /* async invocations */
  struct metrics *metrics;       /* counters for GET /lemu/v1/metrics (metrics.c) */
  struct ui *ui;                 /* the live page's waiting event streams (ui.c) */
  struct sandbox sb;             /* seccomp program, TMPDIR base */
  struct cgroup_sys cg;          /* memory/pids limits backend */
  unsigned long next_env_id;
  struct loop_timer rss_timer;   /* memory limit by RSS sampling when there are no cgroups */
  struct apigw *apigw;           /* API Gateway front, NULL when no function has Api events */
};

/* Build the server from a loaded configuration (takes ownership of cfg's contents). */
#define SERVER_API_IDLE_TIMEOUT_S 60       /* keep-alive clients reconnect transparently */
#define SERVER_RUNTIME_IDLE_TIMEOUT_S 1000 /* longer than any invocation (900 s) */

struct server_opts {
  bool no_sandbox;               /* --no-sandbox: no seccomp filter */
  double time_scale;             /* --time-scale (0 = keep the config's) */
};
lemu_err_t server_create(struct lemu_ctx **out, struct lemu_config *cfg, const struct server_opts *opts);
/* Print the URL line, run the loop until SIGTERM/SIGINT, then stop every environment. */
int server_run(struct lemu_ctx *ctx);
void server_destroy(struct lemu_ctx *ctx);

#endif
