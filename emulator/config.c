/* Loading and validating lemu.json and the sample-function default (see include/lemu/config.h).
 * Every check reports through cfg_fail(), which formats the single message lemu exits with:
 * "<file>: <key path>: expected <what>, got <value>". */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lemu/apigw.h"
#include "lemu/buf.h"
#include "lemu/aws_errors.h"
#include "lemu/config.h"
#include "lemu/util.h"

#define CFG_MAX_FILE_BYTES (16 * 1024 * 1024)
#define CFG_GOT_MAX 60
#define CFG_MAX_HANDLER 128
#define CFG_MAX_DESCRIPTION 256
#define CFG_SAMPLE_FILE "function.json"
#define CFG_SAMPLE_DEPTH 2

struct cfg_ctx {
  struct util_located loc; /* the file, and the first failure */
  const char *base_dir;    /* relative CodeUri resolves against this */
};

#define cfg_fail(c, ...) util_located_fail(&(c)->loc, __VA_ARGS__)

/* A short rendering of a JSON value for "got ..." (truncated). */
static void cfg_got(const cJSON *v, char *out, size_t n)
{
  char *s = v ? cJSON_PrintUnformatted(v) : NULL;

  if (!s) {
    snprintf(out, n, "nothing");
    return;
  }
  if (strlen(s) > CFG_GOT_MAX)
    snprintf(out, n, "%.*s...", CFG_GOT_MAX, s);
  else
    snprintf(out, n, "%s", s);
  free(s);
}

static void cfg_expected(struct cfg_ctx *c, const char *path, const cJSON *v, const char *what)
{
  char got[CFG_GOT_MAX + 8];

  cfg_got(v, got, sizeof(got));
  cfg_fail(c, path, "expected %s, got %s", what, got);
}

static char *cfg_path(const char *parent, const char *key)
{
  return parent && *parent ? util_asprintf("%s.%s", parent, key) : util_strdup(key);
}

/* Reject keys not in allowed (NULL-terminated). */
static bool cfg_known_keys(struct cfg_ctx *c, const char *path, const cJSON *obj,
                           const char *const *allowed, const char *expected)
{
  const cJSON *it;

  cJSON_ArrayForEach(it, obj) {
    size_t k;
    bool ok = false;
    for (k = 0; allowed[k]; k++)
      if (strcmp(it->string, allowed[k]) == 0)
        ok = true;
    if (!ok) {
      char *p = cfg_path(path, it->string);
      cfg_fail(c, p, "unknown key (expected one of: %s)", expected);
      free(p);
      return false;
    }
  }
  return true;
}

static bool cfg_string(struct cfg_ctx *c, const char *parent, const cJSON *obj, const char *key,
                       bool required, size_t max_len, char **out)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  char *p;
  bool ok = true;

  if (!v) {
    if (required) {
      p = cfg_path(parent, key);
      cfg_fail(c, p, "missing (required)");
      free(p);
      return false;
    }
    return true;
  }
  p = cfg_path(parent, key);
  if (!cJSON_IsString(v) || (required && !v->valuestring[0]) || strlen(v->valuestring) > max_len) {
    char what[96];
    snprintf(what, sizeof(what), "a %sstring of at most %zu characters", required ? "non-empty " : "",
             max_len);
    cfg_expected(c, p, v, what);
    ok = false;
  } else {
    free(*out);
    *out = util_strdup(v->valuestring);
  }
  free(p);
  return ok;
}

static bool cfg_int(struct cfg_ctx *c, const char *parent, const cJSON *obj, const char *key, int lo,
                    int hi, int *out)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
  char *p;
  bool ok = true;

  if (!v)
    return true;
  p = cfg_path(parent, key);
  /* Range before the integer test: converting a double out of long long's range (say 1e300) is
   * undefined behaviour (found by tests/fuzz). */
  if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi ||
      v->valuedouble != (double)(long long)v->valuedouble) {
    char what[96];
    snprintf(what, sizeof(what), "an integer from %d to %d", lo, hi);
    cfg_expected(c, p, v, what);
    ok = false;
  } else {
    *out = (int)v->valuedouble;
  }
  free(p);
  return ok;
}

static bool cfg_object(struct cfg_ctx *c, const char *path, const cJSON *v)
{
  if (cJSON_IsObject(v))
    return true;
  cfg_expected(c, path, v, "an object");
  return false;
}

static const char *const reserved_env_keys[] = {
  "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV",
  "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
  "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
  "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
  "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TZ", NULL,
};

bool config_env_key_reserved(const char *key)
{
  size_t i;

  for (i = 0; reserved_env_keys[i]; i++)
    if (strcmp(key, reserved_env_keys[i]) == 0)
      return true;
  return false;
}

bool config_env_key_valid(const char *k)
{
  size_t i;

  if (!((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= 'A' && k[0] <= 'Z')) || !k[1])
    return false;
  for (i = 1; k[i]; i++)
    if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') ||
          (k[i] >= '0' && k[i] <= '9') || k[i] == '_'))
      return false;
  return true;
}

static bool cfg_environment(struct cfg_ctx *c, const char *parent, const cJSON *obj,
                            struct function_config *fc)
{
  static const char *const keys[] = {"Variables", NULL};
  const cJSON *env = cJSON_GetObjectItemCaseSensitive(obj, "Environment"), *vars, *it;
  char *p = cfg_path(parent, "Environment"), *vp = NULL, *compact = NULL;
  bool ok = false;
  size_t n = 0;

  if (!env) {
    free(p);
    return true;
  }
  if (!cfg_object(c, p, env) || !cfg_known_keys(c, p, env, keys, "Variables"))
    goto out;
  vars = cJSON_GetObjectItemCaseSensitive(env, "Variables");
  vp = cfg_path(p, "Variables");
  if (!vars) {
    ok = true;
    goto out;
  }
  if (!cfg_object(c, vp, vars))
    goto out;
  compact = cJSON_PrintUnformatted(vars);
  if (compact && strlen(compact) > CONFIG_MAX_ENV_BYTES) {
    cfg_fail(c, vp, "expected at most %d bytes of variables (AWS's 4 KB limit, measured as compact "
             "JSON), got %zu", CONFIG_MAX_ENV_BYTES, strlen(compact));
    goto out;
  }
  fc->env = calloc((size_t)cJSON_GetArraySize(vars) + 1, sizeof(char *));
  if (!fc->env) {
    cfg_fail(c, vp, "out of memory");
    goto out;
  }
  cJSON_ArrayForEach(it, vars) {
    char *kp = cfg_path(vp, it->string);
    bool bad = false;
    if (!config_env_key_valid(it->string)) {
      cfg_fail(c, kp, "expected a variable name matching [a-zA-Z]([a-zA-Z0-9_])+");
      bad = true;
    }
    if (!bad && config_env_key_reserved(it->string)) {
      cfg_fail(c, kp, "expected a name that is not one of Lambda's reserved keys");
      bad = true;
    }
    if (!bad && !cJSON_IsString(it)) {
      cfg_expected(c, kp, it, "a string");
      bad = true;
    }
    free(kp);
    if (bad)
      goto out;
    fc->env[n] = util_asprintf("%s=%s", it->string, it->valuestring);
    if (!fc->env[n])
      goto out;
    fc->n_env = ++n;
  }
  ok = true;
out:
  free(compact);
  free(vp);
  free(p);
  return ok;
}

bool config_runtime_kind(const char *rt, enum runtime_kind *kind)
{
  static const char *const provided[] = {"provided", "provided.al2", "provided.al2023", NULL};
  static const char *const python[] = {"python3.8", "python3.9", "python3.10", "python3.11",
                                       "python3.12", "python3.13", "python3.14", NULL};
  static const char *const node[] = {"nodejs16.x", "nodejs18.x", "nodejs20.x", "nodejs22.x",
                                     "nodejs24.x", NULL};
  size_t i;

  for (i = 0; provided[i]; i++)
    if (!strcmp(rt, provided[i])) {
      *kind = RUNTIME_PROVIDED;
      return true;
    }
  for (i = 0; python[i]; i++)
    if (!strcmp(rt, python[i])) {
      *kind = RUNTIME_PYTHON;
      return true;
    }
  for (i = 0; node[i]; i++)
    if (!strcmp(rt, node[i])) {
      *kind = RUNTIME_NODE;
      return true;
    }
  return false;
}

bool config_function_name_valid(const char *n)
{
  size_t i;

  if (!n[0] || strlen(n) > CONFIG_MAX_FUNCTION_NAME)
    return false;
  for (i = 0; n[i]; i++)
    if (!((n[i] >= 'a' && n[i] <= 'z') || (n[i] >= 'A' && n[i] <= 'Z') ||
          (n[i] >= '0' && n[i] <= '9') || n[i] == '-' || n[i] == '_'))
      return false;
  return true;
}

/* One function entry. default_code_dir is the sample folder (NULL for lemu.json entries). */
static bool cfg_function(struct cfg_ctx *c, const char *path, const cJSON *obj,
                         const char *default_code_dir, struct function_config *fc)
{
  static const char *const keys[] = {
    "FunctionName", "Runtime", "Handler", "CodeUri", "Timeout", "MemorySize", "Description",
    "Environment", "ReservedConcurrentExecutions", "EphemeralStorage", "Architectures",
    "EventInvokeConfig", "DeadLetterConfig", "Events", NULL};
  static const char keys_text[] =
    "FunctionName, Runtime, Handler, CodeUri, Timeout, MemorySize, Description, Environment, "
    "ReservedConcurrentExecutions, EphemeralStorage, Architectures, EventInvokeConfig, "
    "DeadLetterConfig, Events";
  char *code_uri = NULL, *p = NULL;
  const cJSON *v;
  bool ok = false;

  memset(fc, 0, sizeof(*fc));
  fc->timeout_s = CONFIG_DEFAULT_TIMEOUT_S;
  fc->memory_mb = CONFIG_DEFAULT_MEMORY_MB;
  fc->ephemeral_mb = CONFIG_DEFAULT_EPHEMERAL_MB;
  fc->reserved_concurrency = -1;
  if (!cfg_object(c, path, obj) || !cfg_known_keys(c, path, obj, keys, keys_text))
    goto out;
  if (!cfg_string(c, path, obj, "FunctionName", true, CONFIG_MAX_FUNCTION_NAME, &fc->name))
    goto out;
  if (!config_function_name_valid(fc->name)) {
    p = cfg_path(path, "FunctionName");
    cfg_expected(c, p, cJSON_GetObjectItemCaseSensitive(obj, "FunctionName"),
                 "1 to 64 characters of a-z, A-Z, 0-9, - and _");
    goto out;
  }
  if (!cfg_string(c, path, obj, "Runtime", true, 64, &fc->runtime))
    goto out;
  if (!config_runtime_kind(fc->runtime, &fc->kind)) {
    free(p);
    p = cfg_path(path, "Runtime");
    cfg_expected(c, p, cJSON_GetObjectItemCaseSensitive(obj, "Runtime"),
                 "one of provided, provided.al2, provided.al2023, python3.8 ... python3.14, "
                 "nodejs16.x ... nodejs24.x");
    goto out;
  }
  fc->handler = util_strdup("");
  if (!cfg_string(c, path, obj, "Handler", fc->kind != RUNTIME_PROVIDED, CFG_MAX_HANDLER, &fc->handler))
    goto out;
  fc->description = util_strdup("");
  if (!cfg_string(c, path, obj, "Description", false, CFG_MAX_DESCRIPTION, &fc->description))
    goto out;
  if (!cfg_int(c, path, obj, "Timeout", 1, CONFIG_MAX_TIMEOUT_S, &fc->timeout_s) ||
      !cfg_int(c, path, obj, "MemorySize", CONFIG_MIN_MEMORY_MB, CONFIG_MAX_MEMORY_MB, &fc->memory_mb) ||
      !cfg_int(c, path, obj, "ReservedConcurrentExecutions", 0, 1000000, &fc->reserved_concurrency))
    goto out;
  v = cJSON_GetObjectItemCaseSensitive(obj, "EphemeralStorage");
  if (v) {
    static const char *const eskeys[] = {"Size", NULL};
    free(p);
    p = cfg_path(path, "EphemeralStorage");
    if (!cfg_object(c, p, v) || !cfg_known_keys(c, p, v, eskeys, "Size") ||
        !cfg_int(c, p, v, "Size", CONFIG_DEFAULT_EPHEMERAL_MB, CONFIG_MAX_EPHEMERAL_MB, &fc->ephemeral_mb))
      goto out;
  }
  v = cJSON_GetObjectItemCaseSensitive(obj, "Architectures");
  if (v) {
    free(p);
    p = cfg_path(path, "Architectures");
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 1 || !cJSON_IsString(v->child) ||
        (strcmp(v->child->valuestring, AWS_ARCH_X86_64) && strcmp(v->child->valuestring, AWS_ARCH_ARM64))) {
      cfg_expected(c, p, v, "[\"" AWS_ARCH_X86_64 "\"] or [\"" AWS_ARCH_ARM64 "\"]");
      goto out;
    }
    fc->arm64 = strcmp(v->child->valuestring, AWS_ARCH_ARM64) == 0;
  }
  if (!cfg_environment(c, path, obj, fc))
    goto out;
  if (default_code_dir) {
    code_uri = util_strdup(default_code_dir);
    if (cJSON_GetObjectItemCaseSensitive(obj, "CodeUri") &&
        !cfg_string(c, path, obj, "CodeUri", true, PATH_MAX, &code_uri))
      goto out;
  } else if (!cfg_string(c, path, obj, "CodeUri", true, PATH_MAX, &code_uri)) {
    goto out;
  }
  {
    char *joined = code_uri[0] == '/' ? util_strdup(code_uri)
                                      : util_asprintf("%s/%s", c->base_dir, code_uri);
    char resolved[PATH_MAX];
    struct stat st;
    free(p);
    p = cfg_path(path, "CodeUri");
    if (!joined || !realpath(joined, resolved) || stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode)) {
      cfg_fail(c, p, "expected an existing directory, got \"%s\"%s%s", code_uri,
               joined && code_uri[0] != '/' ? " (resolved to " : "",
               joined && code_uri[0] != '/' ? joined : "");
      if (c->loc.message && joined && code_uri[0] != '/') {
        char *m = util_asprintf("%s)", c->loc.message);
        free(c->loc.message);
        c->loc.message = m;
      }
      free(joined);
      goto out;
    }
    free(joined);
    fc->code_dir = util_strdup(resolved);
  }
  ok = fc->code_dir != NULL;
out:
  free(code_uri);
  free(p);
  if (!ok)
    function_config_cleanup(fc);
  return ok;
}

/* EventInvokeConfig and DeadLetterConfig of a function entry, kept for the async queue. */
static bool cfg_async(struct cfg_ctx *c, struct lemu_config *cfg, const char *path, const cJSON *obj,
                      const char *name)
{
  const cJSON *eic = cJSON_GetObjectItemCaseSensitive(obj, "EventInvokeConfig");
  const cJSON *dlq = cJSON_GetObjectItemCaseSensitive(obj, "DeadLetterConfig");
  cJSON *entry;
  char *p = NULL;
  bool ok = false;

  if (!eic && !dlq)
    return true;
  if (eic) {
    static const char *const keys[] = {"MaximumRetryAttempts", "MaximumEventAgeInSeconds", "DestinationConfig", NULL};
    const cJSON *d;
    int dummy;
    p = cfg_path(path, "EventInvokeConfig");
    if (!cfg_object(c, p, eic) ||
        !cfg_known_keys(c, p, eic, keys, "MaximumRetryAttempts, MaximumEventAgeInSeconds, DestinationConfig") ||
        !cfg_int(c, p, eic, "MaximumRetryAttempts", 0, 2, &dummy) ||
        !cfg_int(c, p, eic, "MaximumEventAgeInSeconds", 60, 21600, &dummy))
      goto out;
    d = cJSON_GetObjectItemCaseSensitive(eic, "DestinationConfig");
    if (d) {
      static const char *const which[] = {"OnSuccess", "OnFailure", NULL};
      size_t i;
      char *dp = cfg_path(p, "DestinationConfig");
      bool bad = !cfg_object(c, dp, d) || !cfg_known_keys(c, dp, d, which, "OnSuccess, OnFailure");
      for (i = 0; !bad && which[i]; i++) {
        const cJSON *w = cJSON_GetObjectItemCaseSensitive(d, which[i]);
        const cJSON *arn = w ? cJSON_GetObjectItemCaseSensitive(w, "Destination") : NULL;
        if (w && (!cJSON_IsString(arn) || strncmp(arn->valuestring, "arn:", 4) != 0)) {
          char *wp = cfg_path(dp, which[i]), *ap = wp ? cfg_path(wp, "Destination") : NULL;
          cfg_expected(c, ap, arn, "an ARN (arn:aws:sqs:..., arn:aws:sns:..., arn:aws:lambda:..., arn:aws:events:...)");
          free(ap);
          free(wp);
          bad = true;
        }
      }
      free(dp);
      if (bad)
        goto out;
    }
  }
  if (dlq) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(dlq, "TargetArn");
    free(p);
    p = cfg_path(path, "DeadLetterConfig");
    if (!cfg_object(c, p, dlq) || !cJSON_IsString(t) || strncmp(t->valuestring, "arn:", 4) != 0) {
      char *tp = cfg_path(p, "TargetArn");
      cfg_expected(c, tp, t, "the ARN of an SQS queue or SNS topic");
      free(tp);
      goto out;
    }
  }
  if (!cfg->async)
    cfg->async = cJSON_CreateObject();
  entry = cJSON_CreateObject();
  if (eic)
    cJSON_AddItemToObject(entry, "EventInvokeConfig", cJSON_Duplicate(eic, true));
  if (dlq)
    cJSON_AddItemToObject(entry, "DeadLetterConfig", cJSON_Duplicate(dlq, true));
  cJSON_AddItemToObject(cfg->async, name, entry);
  ok = true;
out:
  free(p);
  return ok;
}

/* SAM's Events of a function entry (Api / HttpApi), checked by apigw and kept for the front. */
static bool cfg_events(struct cfg_ctx *c, struct lemu_config *cfg, const char *path, const cJSON *obj,
                       const char *name)
{
  const cJSON *ev = cJSON_GetObjectItemCaseSensitive(obj, "Events");
  char *sub = NULL, *message = NULL, *ep, *p;

  if (!ev)
    return true;
  if (!apigw_events_check(ev, &sub, &message)) {
    ep = cfg_path(path, "Events");
    p = sub && *sub ? cfg_path(ep, sub) : util_strdup(ep);
    cfg_fail(c, p, "%s", message ? message : "expected Api or HttpApi events");
    free(p);
    free(ep);
    free(sub);
    free(message);
    return false;
  }
  if (!cfg->api_events)
    cfg->api_events = cJSON_CreateObject();
  cJSON_AddItemToObject(cfg->api_events, name, cJSON_Duplicate(ev, true));
  return true;
}

static bool cfg_add_function(struct cfg_ctx *c, struct lemu_config *cfg, const char *path,
                             const cJSON *obj, const char *default_code_dir)
{
  struct function_config fc, *grown;
  size_t i;

  if (!cfg_function(c, path, obj, default_code_dir, &fc))
    return false;
  for (i = 0; i < cfg->n_functions; i++)
    if (strcmp(cfg->functions[i].name, fc.name) == 0) {
      char *p = cfg_path(path, "FunctionName");
      cfg_fail(c, p, "expected a unique name, got \"%s\" a second time", fc.name);
      free(p);
      function_config_cleanup(&fc);
      return false;
    }
  grown = realloc(cfg->functions, (cfg->n_functions + 1) * sizeof(*grown));
  if (!grown) {
    function_config_cleanup(&fc);
    cfg_fail(c, path, "out of memory");
    return false;
  }
  cfg->functions = grown;
  if (!cfg_async(c, cfg, path, obj, fc.name) || !cfg_events(c, cfg, path, obj, fc.name)) {
    function_config_cleanup(&fc);
    return false;
  }
  cfg->functions[cfg->n_functions++] = fc;
  return true;
}

static bool cfg_listen(struct cfg_ctx *c, const cJSON *v, struct lemu_config *cfg)
{
  char *host = NULL, *colon, *end;
  long port;

  if (!cJSON_IsString(v) || !(colon = strrchr(v->valuestring, ':')) || colon == v->valuestring) {
    cfg_expected(c, "Listen", v, "\"HOST:PORT\" such as \"127.0.0.1:9001\"");
    return false;
  }
  errno = 0;
  port = strtol(colon + 1, &end, 10);
  if (errno || *end || end == colon + 1 || port < 0 || port > 65535) {
    cfg_expected(c, "Listen", v, "\"HOST:PORT\" with a port from 0 to 65535");
    return false;
  }
  host = strndup(v->valuestring, (size_t)(colon - v->valuestring));
  free(cfg->listen_host);
  cfg->listen_host = host;
  cfg->listen_port = (unsigned)port;
  return host != NULL;
}

static bool cfg_account(struct cfg_ctx *c, const cJSON *v, struct lemu_config *cfg)
{
  static const char *const keys[] = {"ConcurrentExecutions", "Region", "AccountId", NULL};
  size_t i;

  if (!cfg_object(c, "Account", v) ||
      !cfg_known_keys(c, "Account", v, keys, "ConcurrentExecutions, Region, AccountId") ||
      !cfg_int(c, "Account", v, "ConcurrentExecutions", 1, 1000000, &cfg->account_concurrency) ||
      !cfg_string(c, "Account", v, "Region", false, 32, &cfg->region) ||
      !cfg_string(c, "Account", v, "AccountId", false, 12, &cfg->account_id))
    return false;
  for (i = 0; cfg->account_id[i]; i++)
    if (cfg->account_id[i] < '0' || cfg->account_id[i] > '9')
      break;
  if (i != 12 || cfg->account_id[i]) {
    cfg_expected(c, "Account.AccountId", cJSON_GetObjectItemCaseSensitive(v, "AccountId"), "12 digits");
    return false;
  }
  return true;
}

/* lemu's own settings: {"PendingSeconds": 0..600, "StateDir": "path"}. A relative StateDir is
 * taken relative to the config file's folder. */
static bool cfg_lemu(struct cfg_ctx *c, const cJSON *v, struct lemu_config *cfg)
{
  static const char *const keys[] = {"PendingSeconds", "StateDir", "TimeScale", "ApiListen",
                                     "ApiTimeoutSeconds", "ControlToken", NULL};
  const cJSON *ps, *ts, *al, *at, *ct;
  char *dir = NULL;

  if (!cfg_object(c, "Lemu", v) ||
      !cfg_known_keys(c, "Lemu", v, keys,
                      "PendingSeconds, StateDir, TimeScale, ApiListen, ApiTimeoutSeconds, ControlToken"))
    return false;
  ct = cJSON_GetObjectItemCaseSensitive(v, "ControlToken");
  if (ct) {
    if (!cJSON_IsString(ct) || !config_control_token_valid(ct->valuestring)) {
      /* the value is a secret: the message describes it without echoing it */
      cfg_fail(c, "Lemu.ControlToken", "expected 1 to %d visible ASCII characters (no spaces)",
               CONFIG_MAX_CONTROL_TOKEN);
      return false;
    }
    free(cfg->control_token);
    cfg->control_token = util_strdup(ct->valuestring);
  }
  al = cJSON_GetObjectItemCaseSensitive(v, "ApiListen");
  if (al && (!cJSON_IsString(al) ||
             !config_parse_listen(al->valuestring, &cfg->api_listen_host, &cfg->api_listen_port))) {
    cfg_expected(c, "Lemu.ApiListen", al, "\"HOST:PORT\" such as \"127.0.0.1:3000\" (port 0: any free port)");
    return false;
  }
  at = cJSON_GetObjectItemCaseSensitive(v, "ApiTimeoutSeconds");
  if (at) {
    if (!cJSON_IsNumber(at) || at->valuedouble <= 0 || at->valuedouble > CONFIG_MAX_TIMEOUT_S) {
      cfg_expected(c, "Lemu.ApiTimeoutSeconds", at, "a number of seconds greater than 0, at most 900");
      return false;
    }
    cfg->api_timeout_s = at->valuedouble;
  }
  ts = cJSON_GetObjectItemCaseSensitive(v, "TimeScale");
  if (ts) {
    if (!cJSON_IsNumber(ts) || ts->valuedouble <= 0 || ts->valuedouble > 1000) {
      cfg_expected(c, "Lemu.TimeScale", ts, "a number greater than 0 (1 = real time, 0.001 = 1000 times faster)");
      return false;
    }
    cfg->time_scale = ts->valuedouble;
  }
  ps = cJSON_GetObjectItemCaseSensitive(v, "PendingSeconds");
  if (ps) {
    if (!cJSON_IsNumber(ps) || ps->valuedouble < 0 || ps->valuedouble > CONFIG_MAX_PENDING_S) {
      cfg_expected(c, "Lemu.PendingSeconds", ps, "a number of seconds from 0 to 600");
      return false;
    }
    cfg->pending_seconds = ps->valuedouble;
  }
  if (!cfg_string(c, "Lemu", v, "StateDir", false, PATH_MAX, &dir))
    return false;
  if (dir) {
    free(cfg->state_dir);
    cfg->state_dir = dir[0] == '/' || !dir[0] ? dir : util_asprintf("%s/%s", c->base_dir, dir);
    if (cfg->state_dir != dir)
      free(dir);
    if (!cfg->state_dir || !cfg->state_dir[0]) {
      cfg_expected(c, "Lemu.StateDir", cJSON_GetObjectItemCaseSensitive(v, "StateDir"), "a directory path");
      return false;
    }
  }
  return true;
}

static char *read_file(const char *path, size_t *len, int *err)
{
  FILE *f = fopen(path, "rb");
  struct buf b;
  char chunk[8192];
  size_t n;

  *err = 0;
  if (!f) {
    *err = errno;
    return NULL;
  }
  buf_init(&b, CFG_MAX_FILE_BYTES);
  while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
    if (buf_append(&b, chunk, n) != LEMU_ERR_OK) {
      *err = EFBIG;
      buf_cleanup(&b);
      fclose(f);
      return NULL;
    }
  fclose(f);
  return buf_take(&b, len);
}

/* Parse a JSON file, reporting syntax errors by line and column. */
static cJSON *cfg_parse_file(struct cfg_ctx *c, const char *path)
{
  size_t len, line = 1, col = 1, i, at;
  int err;
  char *text = read_file(path, &len, &err);
  const char *end = NULL;
  cJSON *root;

  if (!text) {
    cfg_fail(c, NULL, "cannot read the file: %s", strerror(err));
    return NULL;
  }
  root = cJSON_ParseWithLengthOpts(text, len, &end, false);
  if (!root) {
    at = end && end >= text ? (size_t)(end - text) : 0;
    for (i = 0; i < at && i < len; i++) {
      if (text[i] == '\n') {
        line++;
        col = 1;
      } else {
        col++;
      }
    }
    cfg_fail(c, NULL, "line %zu column %zu: expected valid JSON", line, col);
  }
  free(text);
  return root;
}

static void cfg_defaults(struct lemu_config *cfg)
{
  memset(cfg, 0, sizeof(*cfg));
  cfg->listen_host = util_strdup(CONFIG_DEFAULT_HOST);
  cfg->listen_port = CONFIG_DEFAULT_PORT;
  cfg->region = util_strdup(CONFIG_DEFAULT_REGION);
  cfg->account_id = util_strdup(CONFIG_DEFAULT_ACCOUNT);
  cfg->account_concurrency = CONFIG_DEFAULT_CONCURRENCY;
  cfg->pending_seconds = CONFIG_DEFAULT_PENDING_S;
  cfg->time_scale = 1.0;
}

static bool cfg_load_file(struct cfg_ctx *c, const char *path, struct lemu_config *cfg)
{
  static const char *const keys[] = {"Listen", "Account", "Functions", "Lemu", "Faults", NULL};
  cJSON *root = cfg_parse_file(c, path), *v;
  bool ok = false;
  int i = 0;

  if (!root)
    return false;
  if (!cJSON_IsObject(root)) {
    cfg_expected(c, NULL, root, "a JSON object at the top level");
    goto out;
  }
  if (!cfg_known_keys(c, "", root, keys, "Listen, Account, Functions, Lemu, Faults"))
    goto out;
  v = cJSON_GetObjectItemCaseSensitive(root, "Faults");
  if (v) {
    if (!cJSON_IsArray(v)) {
      cfg_expected(c, "Faults", v, "an array of fault rules");
      goto out;
    }
    cfg->faults = cJSON_Duplicate(v, true); /* each rule is checked by the fault engine */
  }
  v = cJSON_GetObjectItemCaseSensitive(root, "Listen");
  if (v && !cfg_listen(c, v, cfg))
    goto out;
  v = cJSON_GetObjectItemCaseSensitive(root, "Account");
  if (v && !cfg_account(c, v, cfg))
    goto out;
  v = cJSON_GetObjectItemCaseSensitive(root, "Lemu");
  if (v && !cfg_lemu(c, v, cfg))
    goto out;
  v = cJSON_GetObjectItemCaseSensitive(root, "Functions");
  if (v) {
    const cJSON *it;
    if (!cJSON_IsArray(v)) {
      cfg_expected(c, "Functions", v, "an array of functions");
      goto out;
    }
    cJSON_ArrayForEach(it, v) {
      char path_buf[32];
      snprintf(path_buf, sizeof(path_buf), "Functions[%d]", i++);
      if (!cfg_add_function(c, cfg, path_buf, it, NULL))
        goto out;
    }
  }
  ok = true;
out:
  cJSON_Delete(root);
  return ok;
}

static int name_cmp(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Load every function.json under dir (depth-limited) as a function whose code is its folder. */
static bool cfg_load_samples(struct cfg_ctx *outer, const char *dir, int depth, struct lemu_config *cfg)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  char **names = NULL;
  size_t n = 0, i;
  bool ok = true;

  if (!d) {
    if (depth == 0)
      cfg_fail(outer, NULL, "cannot open the sample functions directory: %s", strerror(errno));
    return depth != 0;
  }
  while ((e = readdir(d)) != NULL) {
    char **g;
    if (e->d_name[0] == '.')
      continue;
    g = realloc(names, (n + 1) * sizeof(*g));
    if (!g)
      break;
    names = g;
    names[n++] = util_strdup(e->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof(*names), name_cmp);
  for (i = 0; i < n && ok; i++) {
    char *sub = util_asprintf("%s/%s", dir, names[i]);
    char *json = util_asprintf("%s/%s", sub, CFG_SAMPLE_FILE);
    struct stat st;
    if (sub && json && stat(sub, &st) == 0 && S_ISDIR(st.st_mode)) {
      if (stat(json, &st) == 0) {
        struct cfg_ctx c = {.loc.file = json, .base_dir = sub};
        cJSON *root = cfg_parse_file(&c, json);
        ok = root && cfg_add_function(&c, cfg, "", root, sub);
        cJSON_Delete(root);
        if (!ok)
          outer->loc.message = c.loc.message;
      } else if (depth + 1 < CFG_SAMPLE_DEPTH) {
        ok = cfg_load_samples(outer, sub, depth + 1, cfg);
      }
    }
    free(json);
    free(sub);
  }
  for (i = 0; i < n; i++)
    free(names[i]);
  free(names);
  return ok;
}

const char *config_samples_dir(void)
{
  const char *env = getenv("LEMU_SAMPLES_DIR");

  return env && *env ? env : LEMU_SAMPLES_DIR;
}

lemu_err_t config_load(const char *path, struct lemu_config *out, char **message)
{
  struct cfg_ctx c = {0};
  bool ok;

  *message = NULL;
  cfg_defaults(out);
  if (path) {
    char resolved[PATH_MAX], *slash;
    c.loc.file = path;
    if (realpath(path, resolved)) {
      slash = strrchr(resolved, '/');
      if (slash)
        *slash = '\0';
      c.base_dir = resolved;
    } else {
      c.base_dir = ".";
    }
    out->source = util_strdup(path);
    ok = cfg_load_file(&c, path, out);
  } else {
    char resolved[PATH_MAX];
    /* Absolute, so each sample's code directory is absolute too. */
    c.loc.file = realpath(config_samples_dir(), resolved) ? resolved : config_samples_dir();
    out->source = util_strdup(c.loc.file);
    ok = cfg_load_samples(&c, c.loc.file, 0, out);
  }
  if (!ok) {
    *message = c.loc.message ? c.loc.message : util_strdup("invalid configuration");
    config_cleanup(out);
    return LEMU_ERR_CONFIG;
  }
  return LEMU_ERR_OK;
}

void config_defaults(struct lemu_config *out)
{
  cfg_defaults(out);
}

lemu_err_t config_load_functions_json(const cJSON *functions, const char *file, const char *base_dir,
                                      struct lemu_config *out, char **message)
{
  struct cfg_ctx c = {.loc.file = file, .base_dir = base_dir};
  const cJSON *it;
  int i = 0;

  *message = NULL;
  cJSON_ArrayForEach(it, functions) {
    char path_buf[32];
    const char *path = it->string;
    if (!cJSON_IsObject(functions)) {
      snprintf(path_buf, sizeof(path_buf), "Functions[%d]", i++);
      path = path_buf;
    }
    if (!cfg_add_function(&c, out, path, it, NULL)) {
      *message = c.loc.message ? c.loc.message : util_strdup("invalid configuration");
      return LEMU_ERR_CONFIG;
    }
  }
  return LEMU_ERR_OK;
}

void function_config_cleanup(struct function_config *fc)
{
  size_t i;

  free(fc->name);
  free(fc->runtime);
  free(fc->handler);
  free(fc->code_dir);
  free(fc->description);
  for (i = 0; fc->env && fc->env[i]; i++)
    free(fc->env[i]);
  free(fc->env);
  memset(fc, 0, sizeof(*fc));
}

void config_cleanup(struct lemu_config *cfg)
{
  size_t i;

  for (i = 0; i < cfg->n_functions; i++)
    function_config_cleanup(&cfg->functions[i]);
  free(cfg->functions);
  free(cfg->listen_host);
  free(cfg->region);
  free(cfg->account_id);
  free(cfg->source);
  cJSON_Delete(cfg->faults);
  cJSON_Delete(cfg->async);
  cJSON_Delete(cfg->api_events);
  free(cfg->api_listen_host);
  free(cfg->state_dir);
  free(cfg->control_token);
  memset(cfg, 0, sizeof(*cfg));
}

bool config_parse_listen(const char *text, char **host, unsigned *port)
{
  const char *colon = strrchr(text, ':');
  char *end, *h;
  long n;

  if (!colon || colon == text)
    return false;
  errno = 0;
  n = strtol(colon + 1, &end, 10);
  if (errno || *end || end == colon + 1 || n < 0 || n > 65535)
    return false;
  h = strndup(text, (size_t)(colon - text));
  if (!h)
    return false;
  free(*host);
  *host = h;
  *port = (unsigned)n;
  return true;
}

bool config_control_token_valid(const char *token)
{
  size_t i;

  for (i = 0; token[i]; i++)
    if (i >= CONFIG_MAX_CONTROL_TOKEN || token[i] < '!' || token[i] > '~')
      return false;
  return i > 0;
}

bool config_host_is_loopback(const char *host)
{
  struct in_addr a;

  if (!strcmp(host, "localhost"))
    return true;
  return inet_pton(AF_INET, host, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

char *config_default_state_dir(void)
{
  const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");

  if (xdg && xdg[0] == '/')
    return util_asprintf("%s/%s", xdg, CONFIG_STATE_SUBDIR);
  if (home && home[0])
    return util_asprintf("%s/.local/state/%s", home, CONFIG_STATE_SUBDIR);
  return NULL;
}

static char **strv_copy(char *const *v, size_t n, bool *ok)
{
  char **out = calloc(n + 1, sizeof(char *));
  size_t i;

  *ok = out != NULL;
  for (i = 0; out && i < n; i++)
    if (!(out[i] = util_strdup(v[i])))
      *ok = false;
  return out;
}

lemu_err_t function_config_copy(struct function_config *dst, const struct function_config *src)
{
  bool ok = true;

  *dst = *src;
  dst->name = util_strdup(src->name);
  dst->runtime = util_strdup(src->runtime);
  dst->handler = util_strdup(src->handler ? src->handler : "");
  dst->code_dir = util_strdup(src->code_dir);
  dst->description = util_strdup(src->description ? src->description : "");
  dst->env = strv_copy(src->env, src->n_env, &ok);
  if (!ok || !dst->name || !dst->runtime || !dst->handler || !dst->code_dir || !dst->description) {
    function_config_cleanup(dst);
    return LEMU_ERR_NOMEM;
  }
  return LEMU_ERR_OK;
}
