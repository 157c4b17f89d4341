/* The function registry (see include/lemu/registry.h). Per-function work that does not change
 * between invocations (ARN, base environment, program path) is done once here, so spawning an
 * environment only adds the two per-environment variables. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lemu/aws_errors.h"
#include "lemu/logs.h"
#include "lemu/registry.h"
#include "lemu/util.h"

#define REG_LAMBDA_PATH "/usr/local/bin:/usr/bin/:/bin:/opt/bin"
#define REG_PYTHON_PROGRAM "python3"
#define REG_NODE_PROGRAM "node"
#define REG_PYTHON_SHIM "python/bootstrap.py"
#define REG_NODE_SHIM "node/bootstrap.js"
#define REG_BOOTSTRAP "bootstrap"
#define REG_MAX_BASE_ENV 40

/* Look a program up on lemu's PATH; malloc'd absolute path or NULL. */
static char *find_on_path(const char *prog)
{
  const char *path = getenv("PATH");
  char *copy, *dir, *save = NULL, *found = NULL;

  if (!path)
    return NULL;
  copy = util_strdup(path);
  for (dir = copy ? strtok_r(copy, ":", &save) : NULL; dir && !found; dir = strtok_r(NULL, ":", &save)) {
    char *cand = util_asprintf("%s/%s", *dir ? dir : ".", prog);
    if (cand && access(cand, X_OK) == 0)
      found = cand;
    else
      free(cand);
  }
  free(copy);
  return found;
}

static lemu_err_t env_push(char **list, size_t *n, char *kv)
{
  if (!kv)
    return LEMU_ERR_NOMEM;
  if (*n + 1 >= REG_MAX_BASE_ENV + 64) {
    free(kv);
    return LEMU_ERR_NOMEM;
  }
  list[(*n)++] = kv;
  list[*n] = NULL;
  return LEMU_ERR_OK;
}

static bool user_sets(const struct function_config *fc, const char *key)
{
  size_t i, k = strlen(key);

  for (i = 0; i < fc->n_env; i++)
    if (strncmp(fc->env[i], key, k) == 0 && fc->env[i][k] == '=')
      return true;
  return false;
}

static lemu_err_t build_base_env(struct function *fn, const struct lemu_config *cfg, const char *runtime_dir)
{
  const struct function_config *fc = &fn->cfg;
  size_t cap = REG_MAX_BASE_ENV + 64 + fc->n_env, n = 0, i;
  char **e = calloc(cap, sizeof(char *));
  const char *host_path = getenv("PATH");
  static const char *const passthrough[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", NULL};
  lemu_err_t rc = LEMU_ERR_OK;

  if (!e)
    return LEMU_ERR_NOMEM;
  fn->base_env = e;
  rc |= env_push(e, &n, util_asprintf("AWS_LAMBDA_FUNCTION_NAME=%s", fc->name));
  rc |= env_push(e, &n, util_asprintf("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=%d", fc->memory_mb));
  rc |= env_push(e, &n, util_asprintf("AWS_LAMBDA_FUNCTION_VERSION=%s", AWS_VERSION_LATEST));
  rc |= env_push(e, &n, util_asprintf("AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/%s", fc->name));
  rc |= env_push(e, &n, util_asprintf("AWS_LAMBDA_INITIALIZATION_TYPE=on-demand"));
  rc |= env_push(e, &n, util_asprintf("AWS_REGION=%s", cfg->region));
  rc |= env_push(e, &n, util_asprintf("AWS_DEFAULT_REGION=%s", cfg->region));
  rc |= env_push(e, &n, util_asprintf("LAMBDA_TASK_ROOT=%s", fc->code_dir));
  rc |= env_push(e, &n, util_asprintf("LAMBDA_RUNTIME_DIR=%s", runtime_dir));
  rc |= env_push(e, &n, util_asprintf("_HANDLER=%s", fc->handler));
  rc |= env_push(e, &n, util_asprintf("TZ=:UTC"));
  if (fc->kind != RUNTIME_PROVIDED)
    rc |= env_push(e, &n, util_asprintf("AWS_EXECUTION_ENV=AWS_Lambda_%s", fc->runtime));
  if (!user_sets(fc, "LANG"))
    rc |= env_push(e, &n, util_asprintf("LANG=en_US.UTF-8"));
  /* Lambda's PATH first; then lemu's own, so local interpreters and tools are still found. */
  if (!user_sets(fc, "PATH"))
    rc |= env_push(e, &n, util_asprintf("PATH=%s%s%s", REG_LAMBDA_PATH, host_path ? ":" : "",
                                       host_path ? host_path : ""));
  if (!user_sets(fc, "LD_LIBRARY_PATH"))
    rc |= env_push(e, &n, util_asprintf("LD_LIBRARY_PATH=/lib64:/usr/lib64:%s:%s/lib:%s:%s/lib:/opt/lib",
                                       runtime_dir, runtime_dir, fc->code_dir, fc->code_dir));
  if (!user_sets(fc, "AWS_XRAY_CONTEXT_MISSING"))
    rc |= env_push(e, &n, util_asprintf("AWS_XRAY_CONTEXT_MISSING=LOG_ERROR"));
  if (!user_sets(fc, "AWS_XRAY_DAEMON_ADDRESS"))
    rc |= env_push(e, &n, util_asprintf("AWS_XRAY_DAEMON_ADDRESS=127.0.0.1:2000"));
  for (i = 0; passthrough[i]; i++) {
    const char *v = getenv(passthrough[i]);
    if (v) {
      rc |= env_push(e, &n, util_asprintf("%s=%s", passthrough[i], v));
      if (i == 0)
        rc |= env_push(e, &n, util_asprintf("AWS_ACCESS_KEY=%s", v));
    }
  }
  for (i = 0; i < fc->n_env; i++)
    rc |= env_push(e, &n, util_strdup(fc->env[i]));
  fn->n_base_env = n;
  return rc ? LEMU_ERR_NOMEM : LEMU_ERR_OK;
}

static lemu_err_t function_init(struct function *fn, struct lemu_config *cfg, size_t idx,
                                const char *runtimes_dir)
{
  char *runtime_dir = NULL;
  lemu_err_t rc = LEMU_ERR_NOMEM;

  fn->cfg = cfg->functions[idx];
  memset(&cfg->functions[idx], 0, sizeof(cfg->functions[idx])); /* moved */
  fn->arn = util_asprintf("arn:aws:lambda:%s:%s:function:%s", cfg->region, cfg->account_id, fn->cfg.name);
  switch (fn->cfg.kind) {
  case RUNTIME_PROVIDED:
    runtime_dir = util_strdup(fn->cfg.code_dir);
    fn->exec_path = util_asprintf("%s/%s", fn->cfg.code_dir, REG_BOOTSTRAP);
    fn->argv[0] = util_strdup(fn->exec_path);
    break;
  case RUNTIME_PYTHON:
  case RUNTIME_NODE: {
    bool py = fn->cfg.kind == RUNTIME_PYTHON;
    const char *prog = py ? REG_PYTHON_PROGRAM : REG_NODE_PROGRAM;
    runtime_dir = util_asprintf("%s/%s", runtimes_dir, py ? "python" : "node");
    fn->exec_path = find_on_path(prog);
    if (!fn->exec_path) {
      fn->missing_program = util_strdup(prog);
      logs_warn("function %s: runtime %s needs '%s', which is not on PATH; its invokes will fail "
                "with Runtime.InvalidEntrypoint", fn->cfg.name, fn->cfg.runtime, prog);
    }
    fn->argv[0] = util_strdup(prog);
    fn->argv[1] = util_asprintf("%s/%s", runtimes_dir, py ? REG_PYTHON_SHIM : REG_NODE_SHIM);
    break;
  }
  }
  if (!fn->arn || !fn->argv[0] || !runtime_dir)
    goto out;
  rc = build_base_env(fn, cfg, runtime_dir);
out:
  free(runtime_dir);
  return rc;
}

lemu_err_t registry_create(struct registry **out, struct lemu_config *cfg, const char *runtimes_dir)
{
  struct registry *reg = calloc(1, sizeof(*reg));
  size_t i;
  lemu_err_t rc = LEMU_ERR_NOMEM;

  *out = NULL;
  if (!reg)
    return rc;
  reg->fns = calloc(cfg->n_functions ? cfg->n_functions : 1, sizeof(*reg->fns));
  if (!reg->fns)
    goto fail;
  for (i = 0; i < cfg->n_functions; i++) {
    reg->n = i + 1;
    rc = function_init(&reg->fns[i], cfg, i, runtimes_dir);
    if (rc)
      goto fail;
  }
  *out = reg;
  return LEMU_ERR_OK;
fail:
  registry_destroy(reg);
  return rc;
}

void registry_destroy(struct registry *reg)
{
  size_t i, k;

  if (!reg)
    return;
  for (i = 0; i < reg->n; i++) {
    struct function *fn = &reg->fns[i];
    function_config_cleanup(&fn->cfg);
    free(fn->arn);
    for (k = 0; fn->base_env && fn->base_env[k]; k++)
      free(fn->base_env[k]);
    free(fn->base_env);
    free(fn->exec_path);
    for (k = 0; k < 3; k++)
      free(fn->argv[k]);
    free(fn->missing_program);
  }
  free(reg->fns);
  free(reg);
}

struct function *registry_find(struct registry *reg, const char *name)
{
  size_t i;

  for (i = 0; i < reg->n; i++)
    if (strcmp(reg->fns[i].cfg.name, name) == 0)
      return &reg->fns[i];
  return NULL;
}
