/* Fuzzes the fault engine (faults/fault_rules.c) through every door a rule comes in by. The input
 * is JSON text, optionally followed by a NUL and an event payload. A JSON object with "actions"
 * is an AWS FIS experiment template (fault_engine_add_fis); an array is a config file's Faults
 * (fault_engine_add per rule); anything else is one control-API rule. Then a series of
 * invocations is decided (fault_engine_decide with that payload as event and client context),
 * the rules are listed, checked for pending state, removed one by one and cleared. Invariants:
 * an accepted rule has an id, a refused one a message; the listing is valid JSON naming every
 * rule; decisions are deterministic (a second engine fed the same rules decides the same). */
#include "fuzz_common.h"

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "lemu/fault_catalog.h"
#include "lemu/fault_rules.h"

#define FZ_NOW_MS 1700000000000ull
#define FZ_DECISIONS 12
#define FZ_MAX_IDS 64

static const char *const fz_functions[] = {"echo", "other", "*", ""};

/* Feed rules into e; ids collected into ids[] (malloc'd strings). Returns how many. */
static size_t feed(struct fault_engine *e, const cJSON *root, uint64_t seed, char **ids)
{
  size_t n = 0;
  char *id = NULL, *message = NULL;

  if (cJSON_IsObject(root) && cJSON_GetObjectItemCaseSensitive(root, "actions")) {
    char *list = NULL;
    lemu_err_t rc = fault_engine_add_fis(e, root, seed, FZ_NOW_MS, &list, &message);
    if (rc == LEMU_ERR_OK) {
      cJSON *arr = cJSON_Parse(list), *it;
      FUZZ_CHECK(cJSON_IsArray(arr) && cJSON_GetArraySize(arr) > 0);
      cJSON_ArrayForEach(it, arr)
        if (n < FZ_MAX_IDS && cJSON_IsString(it))
          ids[n++] = util_strdup(it->valuestring);
      cJSON_Delete(arr);
    } else {
      FUZZ_CHECK(message && message[0]);
    }
    free(list);
    free(message);
    return n;
  }
  if (cJSON_IsArray(root)) {
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
      lemu_err_t rc = fault_engine_add(e, it, FZ_NOW_MS, &id, &message);
      if (rc == LEMU_ERR_OK) {
        FUZZ_CHECK(id && !message);
        if (n < FZ_MAX_IDS)
          ids[n++] = id;
        else
          free(id);
      } else {
        FUZZ_CHECK(!id && message && message[0]);
        free(message);
      }
      id = message = NULL;
    }
    return n;
  }
  if (fault_engine_add(e, root, FZ_NOW_MS, &id, &message) == LEMU_ERR_OK) {
    FUZZ_CHECK(id && !message);
    ids[n++] = id;
  } else {
    FUZZ_CHECK(!id && message && message[0]);
    free(message);
  }
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const uint8_t *nul = memchr(data, '\0', size);
  size_t json_len = nul ? (size_t)(nul - data) : size;
  const char *payload = nul ? (const char *)nul + 1 : "";
  size_t payload_len = nul ? size - json_len - 1 : 0;
  char *payload_copy = fuzz_cstr((const uint8_t *)payload, payload_len);
  cJSON *root = cJSON_ParseWithLength((const char *)data, json_len);
  struct fault_engine *a = fault_engine_create(), *b = fault_engine_create();
  char *ids_a[FZ_MAX_IDS], *ids_b[FZ_MAX_IDS], *list;
  size_t na, nb, i;

  FUZZ_CHECK(a && b);
  if (!root) {
    /* Not JSON: still a valid call with a JSON null, as the control API never passes NULL. */
    root = cJSON_CreateNull();
  }
  na = feed(a, root, size, ids_a);
  nb = feed(b, root, size, ids_b);
  FUZZ_CHECK(na == nb);
  for (i = 0; i < FZ_DECISIONS; i++) {
    const char *fn = fz_functions[i % 4];
    const char *cc = (i & 1) ? payload_copy : NULL;
    uint64_t now = FZ_NOW_MS + i * 60000ull;
    struct fault_hit ha, hb;
    bool fa = fault_engine_decide(a, fn, payload, payload_len, cc, now, FAULT_SCOPE_ALL, &ha);
    bool fb = fault_engine_decide(b, fn, payload, payload_len, cc, now, FAULT_SCOPE_ALL, &hb);
    FUZZ_CHECK(fa == fb);
    if (fa) {
      const cJSON *ms = cJSON_GetObjectItemCaseSensitive(ha.params, "Ms");
      FUZZ_CHECK(!strcmp(ha.id, hb.id) && ha.kind == hb.kind && ha.kind && ha.kind->name);
      /* The invoker turns Ms into microseconds with a cast: it must be finite and in range. */
      if (cJSON_IsNumber(ms))
        FUZZ_CHECK(ms->valuedouble >= 0 && ms->valuedouble <= 1e12);
    }
    (void)fault_engine_pending(a, fn, now);
  }
  list = fault_engine_list(a);
  FUZZ_CHECK(list);
  {
    cJSON *l = cJSON_Parse(list), *faults = cJSON_GetObjectItemCaseSensitive(l, "Faults");
    FUZZ_CHECK(cJSON_IsArray(faults));
    /* Every id handed out is listed (when fewer than FZ_MAX_IDS were kept, all of them). */
    if (na < FZ_MAX_IDS)
      FUZZ_CHECK((size_t)cJSON_GetArraySize(faults) == na);
    cJSON_Delete(l);
  }
  free(list);
  for (i = 0; i < na; i++) {
    FUZZ_CHECK(fault_engine_remove(a, ids_a[i]));
    FUZZ_CHECK(!fault_engine_remove(a, ids_a[i]));
    free(ids_a[i]);
  }
  for (i = 0; i < nb; i++)
    free(ids_b[i]);
  fault_engine_clear(b);
  fault_engine_destroy(a);
  fault_engine_destroy(b);
  cJSON_Delete(root);
  free(payload_copy);
  return 0;
}
