/* Pins the metrics module: counters per function (created in name order, kept for functions that
 * are gone), the Duration histogram's cumulative buckets, label escaping in the text format, fault
 * firings per rule, a NULL recorder doing nothing, and the live page's event ring (ids, wrap-around,
 * the trailing id line, the listener). metrics_render runs on a bare context: no registry,
 * environments or queue. */
#include "unit.h"

#include "lemu/metrics.h"
#include "lemu/server.h"

static char *render(struct metrics *m)
{
  struct lemu_ctx ctx;

  memset(&ctx, 0, sizeof(ctx));
  ctx.metrics = m;
  return metrics_render(&ctx);
}

static void invoke(struct metrics *m, const char *fn, double ms, bool error, bool cold)
{
  struct metrics_invocation inv = {.function = fn, .request_id = "rid", .duration_ms = ms, .error = error,
                                   .cold_start = cold,
                                   .outcome = error ? METRICS_OUTCOME_ERROR : METRICS_OUTCOME_SUCCESS};
  metrics_record_invocation(m, &inv);
}

static void test_counters_and_histogram(void **state)
{
  struct metrics *m = metrics_create();
  char *text;

  (void)state;
  invoke(m, "zeta", 0.5, false, true);
  invoke(m, "alpha", 7, true, false);
  invoke(m, "alpha", 7000, false, false);
  metrics_record_throttle(m, "alpha", "r1");
  metrics_record_async(m, "alpha", METRICS_ASYNC_RECEIVED);
  metrics_record_async(m, "alpha", METRICS_ASYNC_DROPPED);
  text = render(m);
  assert_non_null(text);
  assert_non_null(strstr(text, "# TYPE aws_lambda_invocations_total counter\n"
                               "aws_lambda_invocations_total{function_name=\"alpha\"} 2\n"
                               "aws_lambda_invocations_total{function_name=\"zeta\"} 1\n"));
  assert_non_null(strstr(text, "aws_lambda_errors_total{function_name=\"alpha\"} 1\n"));
  assert_non_null(strstr(text, "aws_lambda_throttles_total{function_name=\"alpha\"} 1\n"));
  assert_non_null(strstr(text, "aws_lambda_async_events_received_total{function_name=\"alpha\"} 1\n"));
  assert_non_null(strstr(text, "aws_lambda_async_events_dropped_total{function_name=\"alpha\"} 1\n"));
  assert_non_null(strstr(text, "lemu_cold_starts_total{function_name=\"zeta\"} 1\n"));
  /* 7 ms falls in le=10; 7000 ms in le=10000; buckets are cumulative */
  assert_non_null(strstr(text, "aws_lambda_duration_milliseconds_bucket{function_name=\"alpha\",le=\"5\"} 0\n"));
  assert_non_null(strstr(text, "aws_lambda_duration_milliseconds_bucket{function_name=\"alpha\",le=\"10\"} 1\n"));
  assert_non_null(strstr(text, "aws_lambda_duration_milliseconds_bucket{function_name=\"alpha\",le=\"5000\"} 1\n"));
  assert_non_null(strstr(text, "aws_lambda_duration_milliseconds_bucket{function_name=\"alpha\",le=\"10000\"} 2\n"));
  assert_non_null(strstr(text, "aws_lambda_duration_milliseconds_bucket{function_name=\"alpha\",le=\"+Inf\"} 2\n"));
  assert_non_null(strstr(text, "aws_lambda_duration_milliseconds_sum{function_name=\"alpha\"} 7007\n"));
  assert_non_null(strstr(text, "aws_lambda_duration_milliseconds_count{function_name=\"alpha\"} 2\n"));
  assert_non_null(strstr(text, "aws_lambda_unreserved_concurrent_executions 0\n"));
  free(text);
  metrics_destroy(m);
}

static void test_fault_firings_and_escaping(void **state)
{
  struct metrics *m = metrics_create();
  char *text;

  (void)state;
  metrics_on_fault_fired(m, "f-1", "throttle", "echo");
  metrics_on_fault_fired(m, "f-1", "throttle", "echo");
  metrics_on_fault_fired(m, "f-2", "timeout", "we\"ird\\name\n");
  text = render(m);
  assert_non_null(strstr(text, "lemu_fault_firings_total{rule_id=\"f-1\",fault=\"throttle\",function_name=\"echo\"} 2\n"));
  assert_non_null(strstr(text, "function_name=\"we\\\"ird\\\\name\\n\"} 1\n"));
  free(text);
  metrics_destroy(m);
}

static void test_null_recorder_is_a_no_op(void **state)
{
  struct metrics_invocation inv = {.function = "x", .outcome = METRICS_OUTCOME_SUCCESS};

  (void)state;
  metrics_record_invocation(NULL, &inv);
  metrics_record_throttle(NULL, "x", NULL);
  metrics_record_fault(NULL, "f-1", "throttle", "x");
  metrics_record_async(NULL, "x", METRICS_ASYNC_RECEIVED);
  assert_int_equal(metrics_last_event(NULL), 0);
}

static void count_news(void *cls)
{
  (*(int *)cls)++;
}

static void test_event_ring(void **state)
{
  struct metrics *m = metrics_create();
  int news = 0, i;
  char *sse, want[64];

  (void)state;
  sse = metrics_events_sse(m, 0);
  assert_string_equal(sse, "retry: 100\n\nid: 0\n\n");
  free(sse);
  metrics_set_listener(m, count_news, &news);
  invoke(m, "echo", 1, false, true);
  metrics_record_throttle(m, "echo", "r-throttled");
  assert_int_equal(news, 2);
  assert_int_equal(metrics_last_event(m), 2);
  sse = metrics_events_sse(m, 1);
  assert_non_null(strstr(sse, "id: 2\nevent: lemu\ndata: {\"Seq\":2,"));
  assert_non_null(strstr(sse, "\"Type\":\"throttle\",\"Function\":\"echo\",\"RequestId\":\"r-throttled\","
                              "\"Outcome\":\"throttle\"}"));
  assert_null(strstr(sse, "id: 1\n"));
  free(sse);
  /* wrap-around: only the last METRICS_EVENT_RING events are kept */
  for (i = 0; i < METRICS_EVENT_RING + 10; i++)
    metrics_record_throttle(m, "echo", "r");
  sse = metrics_events_sse(m, 0);
  snprintf(want, sizeof(want), "id: %d\nevent", 2 + 10 + 1);
  assert_non_null(strstr(sse, want));
  snprintf(want, sizeof(want), "id: %d\nevent", 2 + 10);
  assert_null(strstr(sse, want));
  free(sse);
  metrics_destroy(m);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_counters_and_histogram),
    cmocka_unit_test(test_fault_firings_and_escaping),
    cmocka_unit_test(test_null_recorder_is_a_no_op),
    cmocka_unit_test(test_event_ring),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
