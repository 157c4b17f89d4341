/* Management records of functions (see include/lemu/function_meta.h). The FunctionConfiguration
 * writer follows the member order of botocore's model, so the JSON reads like AWS's; the stored
 * document uses the same field names plus lemu's own (CodeDir, LocalCode, Versions, ...). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "lemu/aws_errors.h"
#include "lemu/envpool.h"
#include "lemu/function_meta.h"
#include "lemu/logs.h"
#include "lemu/registry.h"
#include "lemu/server.h"
#include "lemu/store.h"

#define FNMETA_US_PER_S 1000000.0
#define FNMETA_DEFAULT_ROLE_FMT "arn:aws:iam::%s:role/lemu-local"
#define FNMETA_LOG_GROUP_FMT "/aws/lambda/%s"
#define FNMETA_VERSION_MAX 16

void fnmeta_now(char out[FNMETA_TIME_LEN + 1])
{
  struct timespec ts;
  struct tm tm;
  char base[24], text[64];

  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(text, sizeof(text), "%.19s.%03d+0000", base, (int)((ts.tv_nsec / 1000000) % 1000));
  memcpy(out, text, FNMETA_TIME_LEN);
  out[FNMETA_TIME_LEN] = '\0';
}

static void fnmeta_free(struct function *fn)
{
  struct fnmeta *m = fn->ext;
  size_t i;

  if (!m)
    return;
  loop_timer_stop(m->ctx->loop, &m->timer);
  free(m->role);
  free(m->architecture);
  free(m->tracing_mode);
  free(m->log_format);
  free(m->log_group);
  free(m->dead_letter_arn);
  cJSON_Delete(m->tags);
  cJSON_Delete(m->policy);
  for (i = 0; i < m->n_versions; i++)
    function_unref(m->versions[i]);
  free(m->versions);
  for (i = 0; i < m->n_aliases; i++) {
    free(m->aliases[i].name);
    free(m->aliases[i].version);
    free(m->aliases[i].description);
  }
  free(m->aliases);
  free(m);
  fn->ext = NULL;
  fn->ext_free = NULL;
}

static char *fnmeta_doc(const struct fnmeta *m);

static void on_transition_done(void *cls)
{
  struct fnmeta *m = cls;

  m->pending = false;
  m->updating = false;
  util_uuid(m->revision_id); /* Lambda gives every state change a new revision */
  fnmeta_persist(m);
}

struct fnmeta *fnmeta_attach(struct lemu_ctx *ctx, struct function *fn)
{
  struct fnmeta *m = calloc(1, sizeof(*m));

  if (!m)
    return NULL;
  m->ctx = ctx;
  m->fn = fn;
  m->next_version = 1;
  loop_timer_init(&m->timer, on_transition_done, m);
  m->role = util_asprintf(FNMETA_DEFAULT_ROLE_FMT, ctx->cfg.account_id);
  m->architecture = util_strdup(fn->cfg.arm64 ? AWS_ARCH_ARM64 : AWS_ARCH_X86_64);
  m->tracing_mode = util_strdup(AWS_TRACING_PASS_THROUGH);
  m->log_format = util_strdup(AWS_LOG_FORMAT_TEXT);
  m->log_group = util_asprintf(FNMETA_LOG_GROUP_FMT, fn->cfg.name);
  fn->ext = m;
  fn->ext_free = fnmeta_free;
  if (!m->role || !m->architecture || !m->tracing_mode || !m->log_format || !m->log_group) {
    fnmeta_free(fn);
    return NULL;
  }
  fnmeta_touch(m);
  return m;
}

lemu_err_t fnmeta_set_dead_letter(struct fnmeta *m, const char *target_arn)
{
  char *c = NULL;

  if (target_arn && *target_arn && !(c = util_strdup(target_arn)))
    return LEMU_ERR_NOMEM;
  free(m->dead_letter_arn);
  m->dead_letter_arn = c;
  return LEMU_ERR_OK;
}

void fnmeta_touch(struct fnmeta *m)
{
  util_uuid(m->revision_id);
  fnmeta_now(m->last_modified);
}

void fnmeta_begin_transition(struct fnmeta *m, bool create)
{
  double s = m->ctx->cfg.pending_seconds;

  if (s <= 0) {
    m->pending = m->updating = false;
    return;
  }
  if (create)
    m->pending = true;
  m->updating = true;
  loop_timer_start(m->ctx->loop, &m->timer, (uint64_t)(s * FNMETA_US_PER_S));
}

struct function *fnmeta_find_version(const struct fnmeta *m, const char *version)
{
  size_t i;

  for (i = 0; m && i < m->n_versions; i++)
    if (strcmp(m->versions[i]->version, version) == 0)
      return m->versions[i];
  return NULL;
}

struct fnmeta_alias *fnmeta_find_alias(const struct fnmeta *m, const char *name)
{
  size_t i;

  for (i = 0; m && i < m->n_aliases; i++)
    if (strcmp(m->aliases[i].name, name) == 0)
      return &m->aliases[i];
  return NULL;
}

struct function *fnmeta_resolve(struct function *fn, const char *q)
{
  const struct fnmeta *m = fnmeta_of(fn);
  const struct fnmeta_alias *a;

  if (!q || !q[0] || strcmp(q, AWS_VERSION_LATEST) == 0)
    return fn;
  if (q[0] >= '0' && q[0] <= '9')
    return fnmeta_find_version(m, q);
  a = fnmeta_find_alias(m, q);
  if (!a)
    return NULL;
  return strcmp(a->version, AWS_VERSION_LATEST) == 0 ? fn : fnmeta_find_version(m, a->version);
}

/* Copy the record fields a version inherits from $LATEST. */
static lemu_err_t copy_meta_fields(struct fnmeta *dst, const struct fnmeta *src)
{
  bool dlq_ok = fnmeta_set_dead_letter(dst, src->dead_letter_arn) == LEMU_ERR_OK;

  free(dst->role);
  free(dst->architecture);
  free(dst->tracing_mode);
  free(dst->log_format);
  free(dst->log_group);
  dst->role = util_strdup(src->role);
  dst->architecture = util_strdup(src->architecture);
  dst->tracing_mode = util_strdup(src->tracing_mode);
  dst->log_format = util_strdup(src->log_format);
  dst->log_group = util_strdup(src->log_group);
  dst->local_code = src->local_code;
  dst->from_config = src->from_config;
  memcpy(dst->code_sha256, src->code_sha256, sizeof(dst->code_sha256));
  dst->code_size = src->code_size;
  return dlq_ok && dst->role && dst->architecture && dst->tracing_mode && dst->log_format && dst->log_group
           ? LEMU_ERR_OK : LEMU_ERR_NOMEM;
}

static lemu_err_t versions_push(struct fnmeta *m, struct function *v)
{
  struct function **g = realloc(m->versions, (m->n_versions + 1) * sizeof(*g));

  if (!g)
    return LEMU_ERR_NOMEM;
  m->versions = g;
  m->versions[m->n_versions++] = v;
  return LEMU_ERR_OK;
}

lemu_err_t fnmeta_publish(struct fnmeta *m, const char *description, struct function **out)
{
  struct function_config fc;
  struct function *v = NULL;
  struct fnmeta *vm;
  char num[FNMETA_VERSION_MAX];
  lemu_err_t rc;

  *out = NULL;
  /* Nothing changed since the last version: Lambda returns that version. */
  if (m->n_versions > 0 &&
      strcmp(fnmeta_of(m->versions[m->n_versions - 1])->published_from, m->revision_id) == 0) {
    *out = m->versions[m->n_versions - 1];
    return LEMU_ERR_OK;
  }
  rc = function_config_copy(&fc, &m->fn->cfg);
  if (rc)
    return rc;
  if (description) {
    char *d = util_strdup(description);
    if (!d) {
      function_config_cleanup(&fc);
      return LEMU_ERR_NOMEM;
    }
    free(fc.description);
    fc.description = d;
  }
  snprintf(num, sizeof(num), "%lu", m->next_version);
  rc = function_create(m->ctx->reg, &fc, num, &v);
  if (rc)
    return rc;
  vm = fnmeta_attach(m->ctx, v);
  if (!vm || copy_meta_fields(vm, m) || versions_push(m, v)) {
    function_unref(v);
    return LEMU_ERR_NOMEM;
  }
  memcpy(vm->published_from, m->revision_id, sizeof(vm->published_from));
  m->next_version++;
  *out = v;
  return LEMU_ERR_OK;
}

void fnmeta_drop_version(struct fnmeta *m, struct function *v)
{
  size_t i;

  for (i = 0; i < m->n_versions; i++)
    if (m->versions[i] == v) {
      memmove(&m->versions[i], &m->versions[i + 1], (m->n_versions - i - 1) * sizeof(*m->versions));
      m->n_versions--;
      v->removed = true;
      function_unref(v);
      return;
    }
}

bool fnmeta_code_dir_in_use(const struct fnmeta *m, const char *dir)
{
  size_t i;

  if (strcmp(m->fn->cfg.code_dir, dir) == 0)
    return true;
  for (i = 0; i < m->n_versions; i++)
    if (strcmp(m->versions[i]->cfg.code_dir, dir) == 0)
      return true;
  return false;
}

static cJSON *env_object(const struct function_config *fc)
{
  cJSON *vars = cJSON_CreateObject();
  size_t i;

  for (i = 0; vars && i < fc->n_env; i++) {
    const char *eq = strchr(fc->env[i], '=');
    char *key = eq ? strndup(fc->env[i], (size_t)(eq - fc->env[i])) : NULL;
    if (key)
      cJSON_AddStringToObject(vars, key, eq + 1);
    free(key);
  }
  return vars;
}

static char *version_arn(const struct function *fn)
{
  return strcmp(fn->version, AWS_VERSION_LATEST) == 0 ? util_strdup(fn->arn)
                                                      : util_asprintf("%s:%s", fn->arn, fn->version);
}

cJSON *fnmeta_configuration(const struct function *fn)
{
  const struct fnmeta *m = fnmeta_of(fn);
  const struct function_config *fc = &fn->cfg;
  cJSON *o = cJSON_CreateObject(), *x;
  char *arn = version_arn(fn);

  if (!o || !m || !arn) {
    free(arn);
    cJSON_Delete(o);
    return NULL;
  }
  cJSON_AddStringToObject(o, "FunctionName", fc->name);
  cJSON_AddStringToObject(o, "FunctionArn", arn);
  cJSON_AddStringToObject(o, "Runtime", fc->runtime);
  cJSON_AddStringToObject(o, "Role", m->role);
  if (fc->handler && fc->handler[0])
    cJSON_AddStringToObject(o, "Handler", fc->handler);
  cJSON_AddNumberToObject(o, "CodeSize", (double)m->code_size);
  cJSON_AddStringToObject(o, "Description", fc->description ? fc->description : "");
  cJSON_AddNumberToObject(o, "Timeout", fc->timeout_s);
  cJSON_AddNumberToObject(o, "MemorySize", fc->memory_mb);
  cJSON_AddStringToObject(o, "LastModified", m->last_modified);
  cJSON_AddStringToObject(o, "CodeSha256", m->code_sha256);
  cJSON_AddStringToObject(o, "Version", fn->version);
  if (m->dead_letter_arn && (x = cJSON_AddObjectToObject(o, "DeadLetterConfig")))
    cJSON_AddStringToObject(x, "TargetArn", m->dead_letter_arn);
  if (fc->n_env > 0 && (x = cJSON_AddObjectToObject(o, "Environment")))
    cJSON_AddItemToObject(x, "Variables", env_object(fc));
  if ((x = cJSON_AddObjectToObject(o, "TracingConfig")))
    cJSON_AddStringToObject(x, "Mode", m->tracing_mode);
  cJSON_AddStringToObject(o, "RevisionId", m->revision_id);
  cJSON_AddStringToObject(o, "State", m->pending ? AWS_STATE_PENDING : AWS_STATE_ACTIVE);
  if (m->pending) {
    cJSON_AddStringToObject(o, "StateReason", AWS_STATE_REASON_CREATING);
    cJSON_AddStringToObject(o, "StateReasonCode", AWS_STATE_REASON_CODE_CREATING);
  }
  cJSON_AddStringToObject(o, "LastUpdateStatus", m->updating ? AWS_UPDATE_IN_PROGRESS : AWS_UPDATE_SUCCESSFUL);
  if (m->updating) {
    cJSON_AddStringToObject(o, "LastUpdateStatusReason", AWS_STATE_REASON_CREATING);
    cJSON_AddStringToObject(o, "LastUpdateStatusReasonCode", AWS_STATE_REASON_CODE_CREATING);
  }
  cJSON_AddStringToObject(o, "PackageType", AWS_PACKAGE_ZIP);
  if ((x = cJSON_AddArrayToObject(o, "Architectures")))
    cJSON_AddItemToArray(x, cJSON_CreateString(m->architecture));
  if ((x = cJSON_AddObjectToObject(o, "EphemeralStorage")))
    cJSON_AddNumberToObject(x, "Size", fc->ephemeral_mb);
  if ((x = cJSON_AddObjectToObject(o, "SnapStart"))) {
    cJSON_AddStringToObject(x, "ApplyOn", "None");
    cJSON_AddStringToObject(x, "OptimizationStatus", "Off");
  }
  if ((x = cJSON_AddObjectToObject(o, "LoggingConfig"))) {
    cJSON_AddStringToObject(x, "LogFormat", m->log_format);
    cJSON_AddStringToObject(x, "LogGroup", m->log_group);
  }
  free(arn);
  return o;
}

cJSON *fnmeta_alias_configuration(const struct function *fn, const struct fnmeta_alias *a)
{
  cJSON *o = cJSON_CreateObject();
  char *arn = util_asprintf("%s:%s", fn->arn, a->name);

  if (o && arn) {
    cJSON_AddStringToObject(o, "AliasArn", arn);
    cJSON_AddStringToObject(o, "Name", a->name);
    cJSON_AddStringToObject(o, "FunctionVersion", a->version);
    cJSON_AddStringToObject(o, "Description", a->description ? a->description : "");
    cJSON_AddStringToObject(o, "RevisionId", a->revision_id);
  }
  free(arn);
  return o;
}

/* ---- the stored document ---- */

static cJSON *doc_function(const struct function *fn)
{
  const struct fnmeta *m = fnmeta_of(fn);
  const struct function_config *fc = &fn->cfg;
  cJSON *o = cJSON_CreateObject();

  if (!o)
    return NULL;
  cJSON_AddStringToObject(o, "FunctionName", fc->name);
  cJSON_AddStringToObject(o, "Version", fn->version);
  cJSON_AddStringToObject(o, "Runtime", fc->runtime);
  cJSON_AddStringToObject(o, "Handler", fc->handler ? fc->handler : "");
  cJSON_AddStringToObject(o, "Role", m->role);
  cJSON_AddStringToObject(o, "Description", fc->description ? fc->description : "");
  cJSON_AddNumberToObject(o, "Timeout", fc->timeout_s);
  cJSON_AddNumberToObject(o, "MemorySize", fc->memory_mb);
  cJSON_AddNumberToObject(o, "EphemeralStorage", fc->ephemeral_mb);
  cJSON_AddItemToObject(o, "Variables", env_object(fc));
  cJSON_AddStringToObject(o, "Architecture", m->architecture);
  cJSON_AddStringToObject(o, "TracingMode", m->tracing_mode);
  cJSON_AddStringToObject(o, "LogFormat", m->log_format);
  cJSON_AddStringToObject(o, "LogGroup", m->log_group);
  if (m->dead_letter_arn)
    cJSON_AddStringToObject(o, "DeadLetterTargetArn", m->dead_letter_arn);
  cJSON_AddStringToObject(o, "CodeDir", fc->code_dir);
  cJSON_AddBoolToObject(o, "LocalCode", m->local_code);
  cJSON_AddStringToObject(o, "CodeSha256", m->code_sha256);
  cJSON_AddNumberToObject(o, "CodeSize", (double)m->code_size);
  cJSON_AddStringToObject(o, "LastModified", m->last_modified);
  cJSON_AddStringToObject(o, "RevisionId", m->revision_id);
  cJSON_AddStringToObject(o, "PublishedFrom", m->published_from);
  return o;
}

static char *fnmeta_doc(const struct fnmeta *m)
{
  cJSON *o = doc_function(m->fn), *arr;
  char *text = NULL;
  size_t i;

  if (!o)
    return NULL;
  if (m->fn->cfg.reserved_concurrency >= 0)
    cJSON_AddNumberToObject(o, "ReservedConcurrentExecutions", m->fn->cfg.reserved_concurrency);
  if (m->tags)
    cJSON_AddItemToObject(o, "Tags", cJSON_Duplicate(m->tags, true));
  if (m->policy) {
    cJSON_AddItemToObject(o, "Policy", cJSON_Duplicate(m->policy, true));
    cJSON_AddStringToObject(o, "PolicyRevisionId", m->policy_revision);
  }
  cJSON_AddNumberToObject(o, "NextVersion", (double)m->next_version);
  if ((arr = cJSON_AddArrayToObject(o, "Versions")))
    for (i = 0; i < m->n_versions; i++)
      cJSON_AddItemToArray(arr, doc_function(m->versions[i]));
  if ((arr = cJSON_AddArrayToObject(o, "Aliases")))
    for (i = 0; i < m->n_aliases; i++) {
      cJSON *a = cJSON_CreateObject();
      if (!a)
        break;
      cJSON_AddStringToObject(a, "Name", m->aliases[i].name);
      cJSON_AddStringToObject(a, "FunctionVersion", m->aliases[i].version);
      cJSON_AddStringToObject(a, "Description", m->aliases[i].description ? m->aliases[i].description : "");
      cJSON_AddStringToObject(a, "RevisionId", m->aliases[i].revision_id);
      cJSON_AddItemToArray(arr, a);
    }
  text = cJSON_PrintUnformatted(o);
  cJSON_Delete(o);
  return text;
}

void fnmeta_persist(const struct fnmeta *m)
{
  char *doc;

  if (m->from_config || !m->ctx->store || m->fn->removed)
    return;
  doc = fnmeta_doc(m);
  if (!doc || store_put(m->ctx->store, m->fn->cfg.name, doc) != LEMU_ERR_OK)
    logs_error("function %s: could not save its state; it may not survive a restart", m->fn->cfg.name);
  free(doc);
}

static const char *doc_str(const cJSON *o, const char *key)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double doc_num(const cJSON *o, const char *key, double dflt)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

  return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

static void set_str(char **dst, const char *v)
{
  if (v) {
    char *c = util_strdup(v);
    if (c) {
      free(*dst);
      *dst = c;
    }
  }
}

/* function_config from a stored function object. false when a required field is missing. */
static bool doc_config(const cJSON *o, struct function_config *fc)
{
  const cJSON *vars = cJSON_GetObjectItemCaseSensitive(o, "Variables"), *it;
  size_t n = 0;

  memset(fc, 0, sizeof(*fc));
  fc->name = util_strdup(doc_str(o, "FunctionName"));
  fc->runtime = util_strdup(doc_str(o, "Runtime"));
  fc->handler = util_strdup(doc_str(o, "Handler") ? doc_str(o, "Handler") : "");
  fc->description = util_strdup(doc_str(o, "Description") ? doc_str(o, "Description") : "");
  fc->code_dir = util_strdup(doc_str(o, "CodeDir"));
  fc->timeout_s = (int)doc_num(o, "Timeout", CONFIG_DEFAULT_TIMEOUT_S);
  fc->memory_mb = (int)doc_num(o, "MemorySize", CONFIG_DEFAULT_MEMORY_MB);
  fc->ephemeral_mb = (int)doc_num(o, "EphemeralStorage", CONFIG_DEFAULT_EPHEMERAL_MB);
  fc->reserved_concurrency = -1;
  fc->env = calloc((size_t)cJSON_GetArraySize(vars) + 1, sizeof(char *));
  cJSON_ArrayForEach(it, vars) {
    if (fc->env && cJSON_IsString(it) && (fc->env[n] = util_asprintf("%s=%s", it->string, it->valuestring)))
      fc->n_env = ++n;
  }
  if (!fc->name || !fc->runtime || !fc->handler || !fc->description || !fc->code_dir || !fc->env ||
      !config_runtime_kind(fc->runtime, &fc->kind)) {
    function_config_cleanup(fc);
    return false;
  }
  return true;
}

static void doc_meta(const cJSON *o, struct fnmeta *m)
{
  set_str(&m->role, doc_str(o, "Role"));
  set_str(&m->architecture, doc_str(o, "Architecture"));
  set_str(&m->tracing_mode, doc_str(o, "TracingMode"));
  set_str(&m->log_format, doc_str(o, "LogFormat"));
  set_str(&m->log_group, doc_str(o, "LogGroup"));
  set_str(&m->dead_letter_arn, doc_str(o, "DeadLetterTargetArn"));
  m->local_code = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "LocalCode"));
  snprintf(m->code_sha256, sizeof(m->code_sha256), "%s", doc_str(o, "CodeSha256") ? doc_str(o, "CodeSha256") : "");
  m->code_size = (unsigned long long)doc_num(o, "CodeSize", 0);
  if (doc_str(o, "LastModified"))
    snprintf(m->last_modified, sizeof(m->last_modified), "%s", doc_str(o, "LastModified"));
  if (doc_str(o, "RevisionId"))
    snprintf(m->revision_id, sizeof(m->revision_id), "%s", doc_str(o, "RevisionId"));
  if (doc_str(o, "PublishedFrom"))
    snprintf(m->published_from, sizeof(m->published_from), "%s", doc_str(o, "PublishedFrom"));
}

lemu_err_t fnmeta_load(struct lemu_ctx *ctx, const char *doc, struct function **out, char **why)
{
  cJSON *root = cJSON_Parse(doc), *it;
  struct function_config fc;
  struct function *fn = NULL;
  struct fnmeta *m;
  lemu_err_t rc = LEMU_ERR_INVAL;
  const cJSON *v;

  *out = NULL;
  *why = NULL;
  if (!root || !doc_config(root, &fc)) {
    *why = util_strdup("its stored document is incomplete or names a runtime lemu does not run");
    goto out;
  }
  if (registry_find(ctx->reg, fc.name)) {
    function_config_cleanup(&fc);
    rc = LEMU_ERR_EXISTS;
    goto out;
  }
  fc.reserved_concurrency = (int)doc_num(root, "ReservedConcurrentExecutions", -1);
  rc = registry_add(ctx->reg, &fc, &fn);
  if (rc)
    goto out;
  rc = LEMU_ERR_NOMEM;
  m = fnmeta_attach(ctx, fn);
  if (!m)
    goto fail;
  doc_meta(root, m);
  v = cJSON_GetObjectItemCaseSensitive(root, "Tags");
  if (cJSON_IsObject(v))
    m->tags = cJSON_Duplicate(v, true);
  v = cJSON_GetObjectItemCaseSensitive(root, "Policy");
  if (cJSON_IsArray(v)) {
    m->policy = cJSON_Duplicate(v, true);
    snprintf(m->policy_revision, sizeof(m->policy_revision), "%s",
             doc_str(root, "PolicyRevisionId") ? doc_str(root, "PolicyRevisionId") : m->revision_id);
  }
  m->next_version = (unsigned long)doc_num(root, "NextVersion", 1);
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "Versions")) {
    struct function_config vfc;
    struct function *vf;
    struct fnmeta *vm;
    const char *num = doc_str(it, "Version");
    if (!num || !doc_config(it, &vfc))
      continue;
    vfc.reserved_concurrency = fn->cfg.reserved_concurrency;
    if (function_create(ctx->reg, &vfc, num, &vf) != LEMU_ERR_OK)
      goto fail;
    vm = fnmeta_attach(ctx, vf);
    if (!vm || versions_push(m, vf) != LEMU_ERR_OK) {
      function_unref(vf);
      goto fail;
    }
    doc_meta(it, vm);
  }
  cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(root, "Aliases")) {
    struct fnmeta_alias *g, *a;
    if (!doc_str(it, "Name") || !doc_str(it, "FunctionVersion"))
      continue;
    g = realloc(m->aliases, (m->n_aliases + 1) * sizeof(*g));
    if (!g)
      goto fail;
    m->aliases = g;
    a = &m->aliases[m->n_aliases++];
    memset(a, 0, sizeof(*a));
    a->name = util_strdup(doc_str(it, "Name"));
    a->version = util_strdup(doc_str(it, "FunctionVersion"));
    a->description = util_strdup(doc_str(it, "Description") ? doc_str(it, "Description") : "");
    snprintf(a->revision_id, sizeof(a->revision_id), "%s", doc_str(it, "RevisionId") ? doc_str(it, "RevisionId") : "");
    if (!a->name || !a->version || !a->description)
      goto fail;
  }
  *out = fn;
  rc = LEMU_ERR_OK;
  goto out;
fail:
  registry_remove(ctx->reg, fn);
out:
  cJSON_Delete(root);
  return rc;
}

static void dirs_push(char ***dirs, size_t *n, const char *d)
{
  char **g = realloc(*dirs, (*n + 1) * sizeof(*g));

  if (!g)
    return;
  *dirs = g;
  if ((g[*n] = util_strdup(d)))
    (*n)++;
}

void fnmeta_code_dirs(const struct fnmeta *m, char ***dirs, size_t *n)
{
  size_t i;

  dirs_push(dirs, n, m->fn->cfg.code_dir);
  for (i = 0; i < m->n_versions; i++)
    dirs_push(dirs, n, m->versions[i]->cfg.code_dir);
}
