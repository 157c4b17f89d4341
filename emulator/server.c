/* Wiring of a running server (see include/lemu/server.h): the loop, the API daemon on the
 * configured address, the runtime daemon fed by per-environment sockets, and orderly shutdown
 * (every environment's process group killed and reaped before lemu exits). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cjson/cJSON.h>

#include "lemu/api_async.h"
#include "lemu/apigw.h"
#include "lemu/api_control.h"
#include "lemu/api_functions.h"
#include "lemu/event_queue.h"
#include "lemu/fault_rules.h"
#include "lemu/store.h"
#include "lemu/api_invoke.h"
#include "lemu/envpool.h"
#include "lemu/invoker.h"
#include "lemu/http_server.h"
#include "lemu/logs.h"
#include "lemu/metrics.h"
#include "lemu/ui.h"
#include "lemu/loop.h"
#include "lemu/registry.h"
#include "lemu/runtime_api.h"
#include "lemu/sandbox.h"
#include "lemu/server.h"

static void raise_fd_limit(void)
{
  struct rlimit rl;

  /* Each environment holds a socket, a pipe end and its connections. */
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

static bool flush_logs(void *cls)
{
  (void)cls;
  logs_flush();
  return false;
}

/* The fault engine, with the config file's rules: a bad rule is a config error (exit 2). */
static lemu_err_t server_start_faults(struct lemu_ctx *ctx)
{
  const cJSON *rule;
  int i = 0;

  ctx->faults = fault_engine_create();
  if (!ctx->faults)
    return LEMU_ERR_NOMEM;
  fault_engine_set_observer(ctx->faults, metrics_on_fault_fired, ctx->metrics);
  cJSON_ArrayForEach(rule, ctx->cfg.faults) {
    char *id = NULL, *message = NULL;
    if (fault_engine_add(ctx->faults, rule, util_epoch_ms(), &id, &message) != LEMU_ERR_OK) {
      fprintf(stderr, "lemu: %s: Faults[%d].%s\n", ctx->cfg.source, i, message ? message : "invalid rule");
      free(message);
      return LEMU_ERR_CONFIG;
    }
    free(id);
    i++;
  }
  if (i > 0)
    logs_info("%d fault rule%s loaded from the config file", i, i == 1 ? "" : "s");
  return LEMU_ERR_OK;
}

/* The async queue in the state directory, with the config file's EventInvokeConfig (its DLQs are in
 * the functions' records: api_functions_start). */
static lemu_err_t server_start_async(struct lemu_ctx *ctx)
{
  char *message = NULL;
  const cJSON *fn;
  lemu_err_t rc = event_queue_open(ctx, store_dir(ctx->store), ctx->cfg.time_scale, &ctx->evq, &message);

  if (rc) {
    logs_error("%s", message ? message : "cannot open the async event queue");
    free(message);
    return rc;
  }
  cJSON_ArrayForEach(fn, ctx->cfg.async) {
    const cJSON *eic = cJSON_GetObjectItemCaseSensitive(fn, "EventInvokeConfig");
    if (eic)
      event_queue_put_config(ctx->evq, fn->string, eic, 0);
  }
  if (ctx->cfg.time_scale != 1.0)
    logs_info("async: delays and event ages scaled by %g (--time-scale)", ctx->cfg.time_scale);
  return LEMU_ERR_OK;
}

lemu_err_t server_create(struct lemu_ctx **out, struct lemu_config *cfg, const struct server_opts *opts)
{
  struct lemu_ctx *ctx = calloc(1, sizeof(*ctx));
  lemu_err_t rc = LEMU_ERR_NOMEM;
  const char *rt_env = getenv("LEMU_RUNTIMES_DIR");

  *out = NULL;
  if (!ctx)
    return rc;
  ctx->cfg = *cfg;
  memset(cfg, 0, sizeof(*cfg));
  ctx->runtimes_dir = rt_env && *rt_env ? rt_env : LEMU_RUNTIMES_DIR;
  raise_fd_limit();
  ctx->loop = loop_create();
  if (!ctx->loop)
    goto fail;
  if (sandbox_init(&ctx->sb, !opts->no_sandbox) != LEMU_ERR_OK) {
    logs_error("cannot prepare the sandbox (seccomp filter or TMPDIR base)");
    rc = LEMU_ERR_IO;
    goto fail;
  }
  cgroup_sys_init(&ctx->cg);
  if (ctx->cg.mode != CGROUP_NONE)
    sandbox_tmpdir_on_disk(&ctx->sb);
  loop_timer_init(&ctx->rss_timer, NULL, NULL);
  if (ctx->cg.mode == CGROUP_NONE)
    envpool_start_rss_sampler(ctx);
  loop_set_child_handler(ctx->loop, envpool_on_child_exit, ctx);
  rc = registry_create(&ctx->reg, &ctx->cfg, ctx->runtimes_dir);
  if (rc)
    goto fail;
  {
    /* The state dir: functions created through the management API (config functions win). */
    char *message = NULL;
    rc = api_functions_start(ctx, &message);
    if (rc) {
      logs_error("%s", message ? message : lemu_strerror(rc));
      free(message);
      goto fail;
    }
  }
  if (opts->time_scale > 0)
    ctx->cfg.time_scale = opts->time_scale;
  ctx->metrics = metrics_create();
  ctx->ui = ctx->metrics ? ui_create(ctx) : NULL;
  if (!ctx->ui)
    goto fail;
  rc = server_start_faults(ctx);
  if (rc)
    goto fail;
  rc = server_start_async(ctx);
  if (rc)
    goto fail;
  /* One routing table for the API port: Invoke first (the hot path), then management, async
   * configuration and lemu's control API. */
  {
    const struct {
      const struct http_route *routes;
      size_t n;
    } tables[] = {
      {api_invoke_routes, api_invoke_n_routes}, {api_functions_routes, api_functions_n_routes},
      {api_async_routes, api_async_n_routes}, {api_control_routes, api_control_n_routes},
    };
    size_t t;
    ctx->n_api_routes = 0;
    for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
      ctx->n_api_routes += tables[t].n;
    ctx->api_routes = calloc(ctx->n_api_routes, sizeof(*ctx->api_routes));
    if (!ctx->api_routes)
      goto fail;
    ctx->n_api_routes = 0;
    for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
      memcpy(ctx->api_routes + ctx->n_api_routes, tables[t].routes, tables[t].n * sizeof(*ctx->api_routes));
      ctx->n_api_routes += tables[t].n;
    }
  }
  {
    struct http_server_opts api = {
      .routes = ctx->api_routes, .n_routes = ctx->n_api_routes,
      .not_found = api_not_found,
      .cls = ctx, .listen_host = ctx->cfg.listen_host, .listen_port = ctx->cfg.listen_port,
      .idle_timeout_s = SERVER_API_IDLE_TIMEOUT_S, .name = "the Invoke API",
    };
    struct http_server_opts rt = {
      .routes = runtime_api_routes, .n_routes = runtime_api_n_routes,
      .not_found = runtime_api_not_found, .cls = ctx, .no_listen = true,
      .idle_timeout_s = SERVER_RUNTIME_IDLE_TIMEOUT_S, .name = "the Runtime API",
      .oversize_hint = "usually a runtime's Lambda-Runtime-Function-XRay-Error-Cause header "
                       "(awslambdaric puts a deep stack trace there); that invocation's result is "
                       "lost and it ends at its timeout (docs/reliability.md)",
    };
    rc = LEMU_ERR_HTTP;
    ctx->api = http_server_create(ctx->loop, &api);
    if (!ctx->api)
      goto fail;
    ctx->rt = http_server_create(ctx->loop, &rt);
    if (!ctx->rt)
      goto fail;
  }
  rc = apigw_start(ctx); /* only when some function has Api / HttpApi events */
  if (rc)
    goto fail;
  if (loop_add_prepare(ctx->loop, flush_logs, NULL) != LEMU_ERR_OK)
    goto fail;
  *out = ctx;
  return LEMU_ERR_OK;
fail:
  server_destroy(ctx);
  return rc;
}

int server_run(struct lemu_ctx *ctx)
{
  size_t i;
  int sig;

  /* The first stdout line is the URL: tests and scripts read it to find an ephemeral port. */
  printf("http://%s:%u\n", ctx->cfg.listen_host, http_server_port(ctx->api));
  apigw_announce(ctx); /* stderr: "lemu: api gateway front on http://HOST:PORT" */
  logs_flush();
  logs_info("serving %zu function%s from %s", ctx->reg->n, ctx->reg->n == 1 ? "" : "s", ctx->cfg.source);
  for (i = 0; i < ctx->reg->n; i++)
    logs_info("  %s (%s)", ctx->reg->fns[i]->cfg.name, ctx->reg->fns[i]->cfg.runtime);
  {
    char sb[256];
    sandbox_describe(&ctx->sb, sb, sizeof(sb));
    if (ctx->cg.mode != CGROUP_NONE)
      logs_info("limits: MemorySize enforced by %s per environment, processes capped at %d; %s",
                cgroup_mode_name(&ctx->cg), CGROUP_MAX_PIDS, sb);
    else
      logs_info("limits: MemorySize enforced by sampling each handler's RSS every 50 ms (%s); %s",
                ctx->cg.reason, sb);
  }
  sig = loop_run(ctx->loop);
  if (sig)
    logs_info("stopping on signal %d", sig);
  return 0;
}

void server_destroy(struct lemu_ctx *ctx)
{
  if (!ctx)
    return;
  if (ctx->loop) {
    invoker_abort_all(ctx);
    envpool_shutdown(ctx);
    loop_timer_stop(ctx->loop, &ctx->rss_timer);
  }
  cgroup_sys_cleanup(&ctx->cg);
  sandbox_cleanup(&ctx->sb);
  ui_destroy(ctx->ui); /* answers its waiting requests before the daemon goes */
  http_server_destroy(ctx->api);
  http_server_destroy(ctx->rt);
  apigw_stop(ctx);
  registry_destroy(ctx->reg);
  event_queue_close(ctx->evq);
  fault_engine_destroy(ctx->faults);
  metrics_destroy(ctx->metrics);
  api_functions_stop(ctx);
  loop_destroy(ctx->loop);
  free(ctx->api_routes);
  config_cleanup(&ctx->cfg);
  logs_flush();
  free(ctx);
}
