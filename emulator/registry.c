/* The function registry (see include/lemu/registry.h). Per-function work that does not change
 * between invocations (ARN, base environment, program path) is done once here, so spawning an
 * environment only adds the two per-environment variables. */
#include <stdio.h>
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

static lemu_err_t build_base_env(struct function *fn, const struct registry *reg, const char *runtime_dir)
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
  rc |= env_push(e, &n, util_asprintf("AWS_LAMBDA_FUNCTION_VERSION=%s", fn->version));
  rc |= env_push(e, &n, util_asprintf("AWS_LAMBDA_LOG_GROUP_NAME=/aws/lambda/%s", fc->name));
  rc |= env_push(e, &n, util_asprintf("AWS_LAMBDA_INITIALIZATION_TYPE=on-demand"));
  rc |= env_push(e, &n, util_asprintf("AWS_REGION=%s", reg->region));
  rc |= env_push(e, &n, util_asprintf("AWS_DEFAULT_REGION=%s", reg->region));
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

/* Free what is derived from fn->cfg (ARN, environment, program). */
static void function_derived_cleanup(struct function *fn)
{
  size_t k;

  free(fn->arn);
  fn->arn = NULL;
  for (k = 0; fn->base_env && fn->base_env[k]; k++)
    free(fn->base_env[k]);
  free(fn->base_env);
  fn->base_env = NULL;
  fn->n_base_env = 0;
  free(fn->exec_path);
  fn->exec_path = NULL;
  for (k = 0; k < 3; k++) {
    free(fn->argv[k]);
    fn->argv[k] = NULL;
  }
  free(fn->missing_program);
  fn->missing_program = NULL;
}

/* (Re)compute what is derived from fn->cfg. */
static lemu_err_t function_derive(struct function *fn, const struct registry *reg)
{
  const char *runtimes_dir = reg->runtimes_dir;
  char *runtime_dir = NULL;
  lemu_err_t rc = LEMU_ERR_NOMEM;

  function_derived_cleanup(fn);
  fn->arn = util_asprintf("arn:aws:lambda:%s:%s:function:%s", reg->region, reg->account_id, fn->cfg.name);
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
    /* The absolute path as argv[0]: a python found through a shim (pyenv) locates its own
     * library from it, not from the bare name lemu's PATH would resolve elsewhere. */
    fn->argv[0] = util_strdup(fn->exec_path ? fn->exec_path : prog);
    fn->argv[1] = util_asprintf("%s/%s", runtimes_dir, py ? REG_PYTHON_SHIM : REG_NODE_SHIM);
    break;
  }
  }
  if (!fn->arn || !fn->argv[0] || !runtime_dir)
    goto out;
  rc = build_base_env(fn, reg, runtime_dir);
out:
  free(runtime_dir);
  return rc;
}

struct function *function_ref(struct function *fn)
{
  fn->refs++;
  return fn;
}

void function_unref(struct function *fn)
{
  if (!fn || --fn->refs > 0)
    return;
  if (fn->ext_free)
    fn->ext_free(fn);
  function_derived_cleanup(fn);
  function_config_cleanup(&fn->cfg);
  free(fn);
}

lemu_err_t function_create(struct registry *reg, struct function_config *fc, const char *version,
                           struct function **out)
{
  struct function *fn = calloc(1, sizeof(*fn));
  lemu_err_t rc;

  *out = NULL;
  if (!fn) {
    function_config_cleanup(fc);
    return LEMU_ERR_NOMEM;
  }
  fn->refs = 1;
  fn->generation = 1;
  snprintf(fn->version, sizeof(fn->version), "%s", version);
  fn->cfg = *fc;
  memset(fc, 0, sizeof(*fc)); /* moved */
  rc = function_derive(fn, reg);
  if (rc) {
    function_unref(fn);
    return rc;
  }
  *out = fn;
  return LEMU_ERR_OK;
}

lemu_err_t registry_add(struct registry *reg, struct function_config *fc, struct function **out)
{
  struct function *fn;
  lemu_err_t rc;

  if (out)
    *out = NULL;
  if (registry_find(reg, fc->name)) {
    function_config_cleanup(fc);
    return LEMU_ERR_EXISTS;
  }
  if (reg->n == reg->cap) {
    size_t cap = reg->cap ? reg->cap * 2 : 16;
    struct function **g = realloc(reg->fns, cap * sizeof(*g));
    if (!g) {
      function_config_cleanup(fc);
      return LEMU_ERR_NOMEM;
    }
    reg->fns = g;
    reg->cap = cap;
  }
  rc = function_create(reg, fc, AWS_VERSION_LATEST, &fn);
  if (rc)
    return rc;
  reg->fns[reg->n++] = fn;
  if (out)
    *out = fn;
  return LEMU_ERR_OK;
}

lemu_err_t registry_update(struct registry *reg, struct function *fn, struct function_config *fc)
{
  function_config_cleanup(&fn->cfg);
  fn->cfg = *fc;
  memset(fc, 0, sizeof(*fc));
  fn->generation++;
  return function_derive(fn, reg);
}

void registry_remove(struct registry *reg, struct function *fn)
{
  size_t i;

  for (i = 0; i < reg->n; i++)
    if (reg->fns[i] == fn) {
      memmove(&reg->fns[i], &reg->fns[i + 1], (reg->n - i - 1) * sizeof(*reg->fns));
      reg->n--;
      fn->removed = true;
      function_unref(fn);
      return;
    }
}

lemu_err_t registry_create(struct registry **out, struct lemu_config *cfg, const char *runtimes_dir)
{
  struct registry *reg = calloc(1, sizeof(*reg));
  size_t i;
  lemu_err_t rc = LEMU_ERR_NOMEM;

  *out = NULL;
  if (!reg)
    return rc;
  reg->region = util_strdup(cfg->region);
  reg->account_id = util_strdup(cfg->account_id);
  reg->runtimes_dir = util_strdup(runtimes_dir);
  if (!reg->region || !reg->account_id || !reg->runtimes_dir)
    goto fail;
  for (i = 0; i < cfg->n_functions; i++) {
    rc = registry_add(reg, &cfg->functions[i], NULL);
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
  if (!reg)
    return;
  while (reg->n > 0)
    registry_remove(reg, reg->fns[reg->n - 1]);
  free(reg->fns);
  free(reg->region);
  free(reg->account_id);
  free(reg->runtimes_dir);
  free(reg);
}

struct function *registry_find(struct registry *reg, const char *name)
{
  size_t i;

  for (i = 0; i < reg->n; i++)
    if (strcmp(reg->fns[i]->cfg.name, name) == 0)
      return reg->fns[i];
  return NULL;
}
