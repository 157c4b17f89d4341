/* Unit tests for the fault engine's scopes (faults/fault_rules.c) and the catalog's kind
 * predicates (faults/fault_catalog.c): an at-call kind (access-denied) counts Invoke calls of
 * every type, every other kind counts synchronous calls and async attempts, and no rule counts
 * both. The wire behaviour is pinned by tests/integration/test_faults.py. */
#include <cjson/cJSON.h>

#include "unit.h"

#include "lemu/fault_catalog.h"
#include "lemu/fault_rules.h"

#define NOW_MS 1700000000000ull

static char *add_rule(struct fault_engine *e, const char *json)
{
  cJSON *rule = cJSON_Parse(json);
  char *id = NULL, *message = NULL;

  assert_non_null(rule);
  assert_int_equal(fault_engine_add(e, rule, NOW_MS, &id, &message), LEMU_ERR_OK);
  assert_null(message);
  cJSON_Delete(rule);
  return id;
}

static bool decide(struct fault_engine *e, enum fault_scope scope, struct fault_hit *hit)
{
  return fault_engine_decide(e, "f", "{}", 2, NULL, NOW_MS, scope, hit);
}

static void test_each_rule_counts_calls_or_attempts(void **state)
{
  struct fault_engine *e = fault_engine_create();
  struct fault_hit hit;
  char *denied, *throttle;

  (void)state;
  assert_non_null(e);
  denied = add_rule(e, "{\"Function\": \"f\", \"Fault\": \"access-denied\", \"When\": {\"Nth\": [2, 4]}}");
  throttle = add_rule(e, "{\"Function\": \"f\", \"Fault\": \"throttle\", \"When\": {\"Nth\": [2, 4]}}");

  /* An Event call (scope CALL) and its attempt (scope ATTEMPT), twice: each rule sees its own. */
  assert_false(decide(e, FAULT_SCOPE_CALL, &hit));    /* access-denied: call 1 */
  assert_false(decide(e, FAULT_SCOPE_ATTEMPT, &hit)); /* throttle: attempt 1 */
  assert_true(decide(e, FAULT_SCOPE_CALL, &hit));     /* access-denied: call 2 fires */
  assert_string_equal(hit.id, denied);
  assert_string_equal(hit.kind->name, "access-denied");
  assert_true(decide(e, FAULT_SCOPE_ATTEMPT, &hit)); /* throttle: attempt 2 fires */
  assert_string_equal(hit.id, throttle);
  assert_string_equal(hit.kind->name, "throttle");

  /* A synchronous call counts for both: the 3rd of each, neither fires; the 4th fires the first
   * rule that matches (rules are tried in the order they were added). */
  assert_false(decide(e, FAULT_SCOPE_ALL, &hit));
  assert_true(decide(e, FAULT_SCOPE_ALL, &hit));
  assert_string_equal(hit.id, denied);
  free(denied);
  free(throttle);
  fault_engine_destroy(e);
}

static void test_out_of_scope_rules_never_fire(void **state)
{
  struct fault_engine *e = fault_engine_create();
  struct fault_hit hit;
  char *id;

  (void)state;
  id = add_rule(e, "{\"Function\": \"*\", \"Fault\": \"timeout\"}");
  assert_false(decide(e, FAULT_SCOPE_CALL, &hit)); /* a DryRun or Event call: not an attempt */
  assert_true(decide(e, FAULT_SCOPE_ATTEMPT, &hit));
  assert_true(decide(e, FAULT_SCOPE_ALL, &hit));
  free(id);
  fault_engine_clear(e);
  id = add_rule(e, "{\"Function\": \"*\", \"Fault\": \"access-denied\"}");
  assert_false(decide(e, FAULT_SCOPE_ATTEMPT, &hit)); /* an async attempt is past IAM */
  assert_true(decide(e, FAULT_SCOPE_CALL, &hit));
  assert_true(decide(e, FAULT_SCOPE_ALL, &hit));
  free(id);
  fault_engine_destroy(e);
}

static void test_kind_predicates(void **state)
{
  static const char *const answers[] = {"access-denied", "throttle", "pending", "efs-io", "kms-disabled",
                                        "ec2-throttled", "invalid-runtime", "request-too-large"};
  static const char *const runs[] = {"timeout", "oom", "crash", "latency", "function-error",
                                     "http-integration-response", "malformed-proxy-response"};
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(answers) / sizeof(answers[0]); i++) {
    const struct fault_kind *k = fault_kind_find(answers[i]);
    assert_non_null(k);
    assert_true(fault_kind_answers_call(k));
    assert_int_equal(fault_kind_at_call(k), strcmp(answers[i], "access-denied") == 0);
  }
  for (i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
    const struct fault_kind *k = fault_kind_find(runs[i]);
    assert_non_null(k);
    assert_false(fault_kind_answers_call(k));
    assert_false(fault_kind_at_call(k));
  }
}

static void test_access_denied_in_the_catalog_doc(void **state)
{
  char *doc = fault_catalog_markdown();

  (void)state;
  assert_non_null(doc);
  /* The seed's words, its principal and its function; 403; SDKs do not retry it. */
  assert_non_null(strstr(doc, "| 403 | AccessDeniedException | User: arn:aws:iam::123456789012:user/developer "
                              "is not authorized to perform: lambda:InvokeFunction on resource: my-function | no |"));
  free(doc);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_each_rule_counts_calls_or_attempts),
    cmocka_unit_test(test_out_of_scope_rules_never_fire),
    cmocka_unit_test(test_kind_predicates),
    cmocka_unit_test(test_access_denied_in_the_catalog_doc),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
