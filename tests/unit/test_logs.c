/* Pins the platform log lines in AWS's exact format (START, END, REPORT with and without
 * Init Duration, Status, Error Type), their copy on stdout as "[fn] line", and the LogType Tail ring:
 * logs_tail_base64 decodes to exactly the last 4096 bytes written, across wraps. */
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "unit.h"

#include "lemu/logs.h"
#include "lemu/util.h"

/* The tail's content, decoded. Caller frees. */
static char *tail_text(const struct logs_tail *t, size_t *len)
{
  char *b64 = logs_tail_base64(t), *text;

  assert_non_null(b64);
  text = util_base64_decode(b64, strlen(b64), len);
  assert_non_null(text);
  free(b64);
  return text;
}

static void expect_tail(const struct logs_tail *t, const char *want, size_t want_len)
{
  size_t len = 0;
  char *text = tail_text(t, &len);

  assert_int_equal(len, want_len);
  assert_memory_equal(text, want, want_len);
  free(text);
}

static void expect_tail_str(const struct logs_tail *t, const char *want)
{
  expect_tail(t, want, strlen(want));
}

/* ---- stdout capture: point fd 1 at a memfd around a call ---- */
static int saved_stdout = -1, capture_fd = -1;

static void capture_begin(void)
{
  fflush(stdout);
  capture_fd = memfd_create("lemu-test-stdout", 0);
  assert_true(capture_fd >= 0);
  saved_stdout = dup(STDOUT_FILENO);
  assert_true(saved_stdout >= 0);
  assert_int_equal(dup2(capture_fd, STDOUT_FILENO), STDOUT_FILENO);
}

static char *capture_end(void)
{
  char *out;
  off_t n;

  fflush(stdout);
  assert_int_equal(dup2(saved_stdout, STDOUT_FILENO), STDOUT_FILENO);
  close(saved_stdout);
  n = lseek(capture_fd, 0, SEEK_END);
  out = calloc(1, (size_t)n + 1);
  assert_int_equal(pread(capture_fd, out, (size_t)n, 0), n);
  close(capture_fd);
  return out;
}

static void test_start_end(void **state)
{
  struct logs_tail t;
  char *out;

  (void)state;
  logs_tail_init(&t);
  capture_begin();
  logs_start("echo", &t, "8f507cfc-xmpl-4697-b07a-ac58fc914c95", "$LATEST");
  logs_end("echo", &t, "8f507cfc-xmpl-4697-b07a-ac58fc914c95");
  out = capture_end();
  expect_tail_str(&t, "START RequestId: 8f507cfc-xmpl-4697-b07a-ac58fc914c95 Version: $LATEST\n"
                      "END RequestId: 8f507cfc-xmpl-4697-b07a-ac58fc914c95\n");
  assert_string_equal(out, "[echo] START RequestId: 8f507cfc-xmpl-4697-b07a-ac58fc914c95 Version: $LATEST\n"
                           "[echo] END RequestId: 8f507cfc-xmpl-4697-b07a-ac58fc914c95\n");
  free(out);
}

static void test_report_warm(void **state)
{
  struct logs_tail t;
  char *out;

  (void)state;
  logs_tail_init(&t);
  capture_begin();
  logs_report("fn", &t, "id", 1.5, 128, 10, -1, NULL, NULL);
  out = capture_end();
  expect_tail_str(&t, "REPORT RequestId: id\tDuration: 1.50 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\t"
                      "Max Memory Used: 10 MB\t\n");
  assert_string_equal(out, "[fn] REPORT RequestId: id\tDuration: 1.50 ms\tBilled Duration: 2 ms\t"
                           "Memory Size: 128 MB\tMax Memory Used: 10 MB\t\n");
  free(out);
}

static void test_report_cold(void **state)
{
  struct logs_tail t;

  (void)state;
  logs_tail_init(&t);
  capture_begin();
  logs_report("fn", &t, "id", 1.5, 128, 10, 3.0, NULL, NULL);
  free(capture_end());
  expect_tail_str(&t, "REPORT RequestId: id\tDuration: 1.50 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\t"
                      "Max Memory Used: 10 MB\tInit Duration: 3.00 ms\t\n");

  /* the reference's example line; an Init Duration of 0 is still printed (only < 0 means warm) */
  logs_tail_init(&t);
  capture_begin();
  logs_report("fn", &t, "8f507cfc-xmpl-4697-b07a-ac58fc914c95", 15.74, 128, 56, 130.49, NULL, NULL);
  logs_report("fn", &t, "x", 1.0, 256, 1, 0.0, NULL, NULL);
  free(capture_end());
  expect_tail_str(&t, "REPORT RequestId: 8f507cfc-xmpl-4697-b07a-ac58fc914c95\tDuration: 15.74 ms\t"
                      "Billed Duration: 16 ms\tMemory Size: 128 MB\tMax Memory Used: 56 MB\t"
                      "Init Duration: 130.49 ms\t\n"
                      "REPORT RequestId: x\tDuration: 1.00 ms\tBilled Duration: 1 ms\tMemory Size: 256 MB\t"
                      "Max Memory Used: 1 MB\tInit Duration: 0.00 ms\t\n");
}

/* Billed Duration is the duration rounded up to the millisecond. */
static void test_report_billing(void **state)
{
  static const struct {
    double ms;
    const char *duration, *billed;
  } cases[] = {
    {0.2, "0.20", "1"}, {1.0, "1.00", "1"}, {1.01, "1.01", "2"}, {99.99, "99.99", "100"},
    {3000.0, "3000.00", "3000"},
  };
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    struct logs_tail t;
    char want[256];
    logs_tail_init(&t);
    capture_begin();
    logs_report("fn", &t, "r", cases[i].ms, 128, 20, -1, NULL, NULL);
    free(capture_end());
    snprintf(want, sizeof(want), "REPORT RequestId: r\tDuration: %s ms\tBilled Duration: %s ms\t"
             "Memory Size: 128 MB\tMax Memory Used: 20 MB\t\n", cases[i].duration, cases[i].billed);
    expect_tail_str(&t, want);
  }
}

static void test_report_status(void **state)
{
  struct logs_tail t;

  (void)state;
  logs_tail_init(&t);
  capture_begin();
  logs_report("fn", &t, "id", 3000.0, 128, 128, -1, "timeout", NULL);
  logs_report("fn", &t, "id", 12.0, 128, 128, 40.0, "error", "Runtime.ExitError");
  free(capture_end());
  expect_tail_str(&t, "REPORT RequestId: id\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\t"
                      "Memory Size: 128 MB\tMax Memory Used: 128 MB\tStatus: timeout\t\n"
                      "REPORT RequestId: id\tDuration: 12.00 ms\tBilled Duration: 12 ms\t"
                      "Memory Size: 128 MB\tMax Memory Used: 128 MB\tInit Duration: 40.00 ms\t"
                      "Status: error\tError Type: Runtime.ExitError\t\n");
}

static void test_function_lines(void **state)
{
  struct logs_tail t;
  char *out;

  (void)state;
  logs_tail_init(&t);
  capture_begin();
  logs_function_line("fn", &t, "hello", 5);
  logs_function_line("fn", &t, "", 0);
  logs_function_line("fn", &t, "partly ignored", 6);
  logs_function_line("fn", NULL, "stdout only", 11);
  out = capture_end();
  expect_tail_str(&t, "hello\n\npartly\n");
  assert_string_equal(out, "[fn] hello\n[fn] \n[fn] partly\n[fn] stdout only\n");
  free(out);

  /* NULL tail: platform lines go to stdout only and nothing crashes */
  capture_begin();
  logs_start("fn", NULL, "id", "$LATEST");
  logs_report("fn", NULL, "id", 1.0, 128, 1, -1, NULL, NULL);
  logs_end("fn", NULL, "id");
  out = capture_end();
  assert_non_null(strstr(out, "[fn] START RequestId: id Version: $LATEST\n"));
  assert_non_null(strstr(out, "[fn] END RequestId: id\n"));
  free(out);
}

static void test_empty_tail(void **state)
{
  struct logs_tail t;
  char *b64;

  (void)state;
  logs_tail_init(&t);
  b64 = logs_tail_base64(&t);
  assert_non_null(b64);
  assert_string_equal(b64, "");
  free(b64);
}

/* Write lines of the given lengths (each + "\n") to a tail and to a flat copy; the tail must hold
 * exactly the last 4096 bytes of the copy. */
static void check_ring(const size_t *lens, size_t n)
{
  struct logs_tail t;
  char *all = NULL, *line;
  size_t total = 0, i, k, want;

  logs_tail_init(&t);
  capture_begin();
  for (i = 0; i < n; i++) {
    line = malloc(lens[i] + 1);
    for (k = 0; k < lens[i]; k++)
      line[k] = (char)('A' + (total + k) % 53); /* position-dependent, so a misplaced byte shows */
    all = realloc(all, total + lens[i] + 1);
    memcpy(all + total, line, lens[i]);
    all[total + lens[i]] = '\n';
    logs_function_line("ring", &t, line, lens[i]);
    total += lens[i] + 1;
    free(line);
  }
  free(capture_end());
  assert_int_equal(t.total, total);
  want = total < LOGS_TAIL_BYTES ? total : LOGS_TAIL_BYTES;
  expect_tail(&t, all + total - want, want);
  free(all);
}

static void test_ring_wrap(void **state)
{
  static const size_t under[] = {100, 200, 300};
  static const size_t exact[] = {4095};            /* 4096 with its newline */
  static const size_t one_over[] = {4095, 0};       /* 4097: first byte drops */
  static const size_t many[] = {99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
                                99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
                                99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99};
  static const size_t huge_line[] = {10, 5000};     /* one line longer than the ring */
  static const size_t huge_first[] = {9000, 7};
  static const size_t aligned[] = {2047, 2047, 2047, 2047}; /* total 8192: ring position back to 0 */
  static const size_t odd[] = {1, 4093, 1, 3000, 1500, 4095, 17};

  (void)state;
  check_ring(under, 3);
  check_ring(exact, 1);
  check_ring(one_over, 2);
  check_ring(many, sizeof(many) / sizeof(many[0]));
  check_ring(huge_line, 2);
  check_ring(huge_first, 2);
  check_ring(aligned, 4);
  check_ring(odd, sizeof(odd) / sizeof(odd[0]));
}

/* A whole invocation's log in one tail, in order. */
static void test_invocation_tail(void **state)
{
  struct logs_tail t;

  (void)state;
  logs_tail_init(&t);
  capture_begin();
  logs_start("fn", &t, "rid", "$LATEST");
  logs_function_line("fn", &t, "handler says hi", 15);
  logs_end("fn", &t, "rid");
  logs_report("fn", &t, "rid", 2.25, 128, 30, 100.0, NULL, NULL);
  free(capture_end());
  expect_tail_str(&t, "START RequestId: rid Version: $LATEST\nhandler says hi\nEND RequestId: rid\n"
                      "REPORT RequestId: rid\tDuration: 2.25 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\t"
                      "Max Memory Used: 30 MB\tInit Duration: 100.00 ms\t\n");
  /* re-init empties it */
  logs_tail_init(&t);
  expect_tail_str(&t, "");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_start_end),
    cmocka_unit_test(test_report_warm),
    cmocka_unit_test(test_report_cold),
    cmocka_unit_test(test_report_billing),
    cmocka_unit_test(test_report_status),
    cmocka_unit_test(test_function_lines),
    cmocka_unit_test(test_empty_tail),
    cmocka_unit_test(test_ring_wrap),
    cmocka_unit_test(test_invocation_tail),
  };

  logs_init(false); /* before anything is written to stdout (setvbuf) */
  return cmocka_run_group_tests(tests, NULL, NULL);
}
