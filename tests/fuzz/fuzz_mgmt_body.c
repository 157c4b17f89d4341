/* Fuzzes management API request bodies: the input is a CreateFunction / UpdateFunctionConfiguration
 * / AddPermission / CreateAlias body. It compiles emulator/api_functions.c into itself (h2o's unit
 * test pattern) to run the module's own static request parser and validators exactly as the
 * handlers do: mg_body's acceptance test (json_check, then cJSON), fd_parse, fd_validate for create
 * and update, the runtime, role, handler, alias, statement id and principal checks, the
 * environment variables' reserved-key and size checks, and Code.ZipFile through base64 and
 * code_package_extract (libzip) into a scratch directory, as mg_code does. The handlers' HTTP
 * answering is not reached (that needs a live server: see tests/fuzz/wire_fuzz.py). */
#include "fuzz_common.h"

#include "api_functions.c"

#define FZ_MAX_UNZIPPED (4ull * 1024ull * 1024ull)

static void check_validation(struct aws_validation *v)
{
  int n = v->n;
  char *msg = aws_validation_take(v);

  if (n == 0) {
    FUZZ_CHECK(msg == NULL);
    return;
  }
  FUZZ_CHECK(msg && strstr(msg, "validation error"));
  free(msg);
  FUZZ_CHECK(v->n == 0 && v->parts == NULL);
}

static const char *str_member(const cJSON *o, const char *key)
{
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void check_code(const cJSON *code)
{
  struct fdef scratch = {0};
  const char *zip_b64 = NULL;
  size_t len = 0;
  char *zip, *dest, *reason = NULL;
  struct code_package info;

  fd_str(&scratch, code, "ZipFile", &zip_b64);
  if (!zip_b64)
    return;
  zip = util_base64_decode(zip_b64, strlen(zip_b64), &len);
  if (!zip || len > AWS_MAX_ZIPPED) {
    free(zip);
    return;
  }
  dest = util_asprintf("%s/code", fuzz_scratch());
  FUZZ_CHECK(dest);
  if (code_package_extract(zip, len, dest, FZ_MAX_UNZIPPED, &info, &reason) == LEMU_ERR_OK)
    FUZZ_CHECK(info.code_size == len);
  free(reason);
  FUZZ_CHECK(code_package_remove_tree(dest) == LEMU_ERR_OK);
  free(dest);
  free(zip);
}

/* mg_env without the HTTP answer: the same measurements and the same "K=V" strings. */
static void check_env(const cJSON *vars)
{
  char *compact = vars ? cJSON_PrintUnformatted(vars) : NULL;
  const cJSON *it;

  cJSON_ArrayForEach(it, vars) {
    char *kv;
    (void)config_env_key_reserved(it->string);
    (void)config_env_key_valid(it->string);
    FUZZ_CHECK(cJSON_IsString(it)); /* fd_parse set d->bad otherwise; callers stop there */
    kv = util_asprintf("%s=%s", it->string, it->valuestring);
    FUZZ_CHECK(kv);
    free(kv);
  }
  free(compact);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  char *copy = malloc(size ? size : 1), *detail = NULL;
  struct aws_validation v = {0};
  enum runtime_kind kind;
  struct fdef d;
  cJSON *body;
  const char *s;

  if (!copy)
    return 0;
  memcpy(copy, data, size);
  /* mg_body: a body is taken only when json_check accepts it and cJSON parses it to an object. */
  if (!json_check(copy, size, &detail) || size == 0 || !(body = cJSON_ParseWithLength(copy, size))) {
    free(detail);
    free(copy);
    return 0;
  }
  if (!cJSON_IsObject(body))
    goto out;
  fd_parse(body, &d);
  fd_validate(&d, true, &v);
  check_validation(&v);
  fd_validate(&d, false, &v);
  check_validation(&v);
  if (!d.bad) {
    if (d.runtime && !config_runtime_kind(d.runtime, &kind))
      (void)runtime_is_real_but_not_emulated(d.runtime);
    if (d.vars)
      check_env(d.vars);
    if (d.code)
      check_code(d.code);
  }
  if ((s = str_member(body, "Name")))
    (void)alias_name_valid(s);
  if ((s = str_member(body, "StatementId")))
    (void)statement_id_valid(s);
  if ((s = str_member(body, "Principal"))) {
    cJSON *p = principal_json(s);
    cJSON_Delete(p);
  }
  if ((s = str_member(body, "FunctionVersion")) || (s = str_member(body, "Qualifier")))
    (void)arn_qualifier_valid(s);
out:
  cJSON_Delete(body);
  free(copy);
  return 0;
}
