/* Pins the AWS error catalog: Go's wording of wait statuses ("exit status 1", "signal: killed",
 * "signal: aborted (core dumped)") from built statuses and from real children, Go's lowercase errno
 * texts, the exact function-error bodies (key order included), the API error rows (status, type)
 * and the ValidationException text. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

#include "lemu/aws_errors.h"

static void expect_reason(int status, const char *want)
{
  char out[128];

  memset(out, 'X', sizeof(out));
  aws_exit_reason(status, out, sizeof(out));
  print_message("status 0x%x -> %s\n", (unsigned)status, out);
  assert_string_equal(out, want);
}

static void test_exit_reason_exit_codes(void **state)
{
  (void)state;
  expect_reason(W_EXITCODE(0, 0), "exit status 0");
  expect_reason(W_EXITCODE(1, 0), "exit status 1");
  expect_reason(W_EXITCODE(2, 0), "exit status 2");
  expect_reason(W_EXITCODE(127, 0), "exit status 127");
  expect_reason(W_EXITCODE(255, 0), "exit status 255");
}

static void test_exit_reason_signals(void **state)
{
  (void)state;
  expect_reason(W_EXITCODE(0, SIGKILL), "signal: killed");
  expect_reason(W_EXITCODE(0, SIGSEGV), "signal: segmentation fault");
  expect_reason(W_EXITCODE(0, SIGSEGV) | WCOREFLAG, "signal: segmentation fault (core dumped)");
  expect_reason(W_EXITCODE(0, SIGABRT) | WCOREFLAG, "signal: aborted (core dumped)");
  expect_reason(W_EXITCODE(0, SIGABRT), "signal: aborted");
  expect_reason(W_EXITCODE(0, SIGTERM), "signal: terminated");
  expect_reason(W_EXITCODE(0, SIGSYS) | WCOREFLAG, "signal: bad system call (core dumped)");
  /* a signal Go has no name for */
  expect_reason(W_EXITCODE(0, 36), "signal: signal 36");
}

/* Go's syscall signal table (src/syscall/zerrors_linux_amd64.go) for every signal in lemu's table. */
static void test_exit_reason_go_names(void **state)
{
  static const struct {
    int sig;
    const char *go;
  } names[] = {
    {SIGHUP, "hangup"}, {SIGINT, "interrupt"}, {SIGQUIT, "quit"}, {SIGILL, "illegal instruction"},
    {SIGTRAP, "trace/breakpoint trap"}, {SIGABRT, "aborted"}, {SIGBUS, "bus error"},
    {SIGFPE, "floating point exception"}, {SIGKILL, "killed"}, {SIGUSR1, "user defined signal 1"},
    {SIGSEGV, "segmentation fault"}, {SIGUSR2, "user defined signal 2"}, {SIGPIPE, "broken pipe"},
    {SIGALRM, "alarm clock"}, {SIGTERM, "terminated"}, {SIGXCPU, "CPU time limit exceeded"},
    {SIGXFSZ, "file size limit exceeded"}, {SIGSYS, "bad system call"},
  };
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    char want[96];
    snprintf(want, sizeof(want), "signal: %s", names[i].go);
    expect_reason(W_EXITCODE(0, names[i].sig), want);
  }
}

/* Signals whose default action terminates a process but that lemu's table lacks: Go names them. */
static void test_known_bug_exit_reason_missing_go_names(void **state)
{
  (void)state;
  KNOWN_BUG();
  expect_reason(W_EXITCODE(0, SIGSTKFLT), "signal: stack fault");
  expect_reason(W_EXITCODE(0, SIGVTALRM), "signal: virtual timer expired");
  expect_reason(W_EXITCODE(0, SIGPROF), "signal: profiling timer expired");
  expect_reason(W_EXITCODE(0, SIGIO), "signal: I/O possible");
  expect_reason(W_EXITCODE(0, SIGPWR), "signal: power failure");
}

static void test_exit_reason_truncates_to_outlen(void **state)
{
  char out[8];

  (void)state;
  memset(out, 'X', sizeof(out));
  aws_exit_reason(W_EXITCODE(0, SIGSEGV), out, sizeof(out));
  assert_string_equal(out, "signal:");
}

/* A child that really dies: fork, make it exit or kill itself, reap it, word the status. */
enum child_end { CHILD_EXIT3, CHILD_SIGKILL, CHILD_SIGTERM, CHILD_ABORT };

static int run_child(enum child_end how)
{
  int status = 0;
  pid_t pid = fork();

  assert_true(pid >= 0);
  if (pid == 0) {
    struct rlimit no_core = {0, 0};
    setrlimit(RLIMIT_CORE, &no_core);
    prctl(PR_SET_DUMPABLE, 0); /* no core file, whatever core_pattern says */
    switch (how) {
    case CHILD_EXIT3:
      _exit(3);
    case CHILD_SIGKILL:
      kill(getpid(), SIGKILL);
      break;
    case CHILD_SIGTERM:
      signal(SIGTERM, SIG_DFL);
      kill(getpid(), SIGTERM);
      break;
    case CHILD_ABORT:
      signal(SIGABRT, SIG_DFL);
      kill(getpid(), SIGABRT);
      break;
    }
    _exit(99); /* not reached */
  }
  assert_int_equal(waitpid(pid, &status, 0), pid);
  return status;
}

static void test_exit_reason_real_children(void **state)
{
  int st;

  (void)state;
  expect_reason(run_child(CHILD_EXIT3), "exit status 3");
  expect_reason(run_child(CHILD_SIGKILL), "signal: killed");
  expect_reason(run_child(CHILD_SIGTERM), "signal: terminated");
  st = run_child(CHILD_ABORT);
  assert_true(WIFSIGNALED(st));
  expect_reason(st, WCOREDUMP(st) ? "signal: aborted (core dumped)" : "signal: aborted");
}

static void test_errno_text_matches_go(void **state)
{
  /* Go's syscall errors table, for every errno fork/exec can report. */
  static const struct {
    int err;
    const char *go;
  } texts[] = {
    {ENOENT, "no such file or directory"}, {EACCES, "permission denied"},
    {ENOEXEC, "exec format error"}, {E2BIG, "argument list too long"},
    {ENOMEM, "cannot allocate memory"}, {ETXTBSY, "text file busy"},
    {ELOOP, "too many levels of symbolic links"}, {ENAMETOOLONG, "file name too long"},
    {ENOTDIR, "not a directory"}, {EISDIR, "is a directory"}, {EPERM, "operation not permitted"},
    {EIO, "input/output error"}, {ELIBBAD, "accessing a corrupted shared library"},
    {EMFILE, "too many open files"}, {ENFILE, "too many open files in system"},
    {EAGAIN, "resource temporarily unavailable"}, {EINVAL, "invalid argument"},
    {EFAULT, "bad address"},
  };
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
    char out[128];
    aws_errno_text(texts[i].err, out, sizeof(out));
    print_message("errno %d -> %s\n", texts[i].err, out);
    assert_string_equal(out, texts[i].go);
  }
}

static void test_errno_text_truncates(void **state)
{
  char out[5];

  (void)state;
  aws_errno_text(ENOENT, out, sizeof(out));
  assert_string_equal(out, "no s");
}

static void expect_body(char *body, const char *want)
{
  assert_non_null(body);
  assert_string_equal(body, want);
  free(body);
}

static void test_fn_error_bodies(void **state)
{
  (void)state;
  expect_body(aws_fn_error_body(AWS_FN_TIMEOUT, "abc", 3.0),
              "{\"errorType\":\"Sandbox.Timedout\",\"errorMessage\":\"RequestId: abc Error: Task timed out "
              "after 3.00 seconds\"}");
  expect_body(aws_fn_error_body(AWS_FN_TIMEOUT, "abc", 900.0),
              "{\"errorType\":\"Sandbox.Timedout\",\"errorMessage\":\"RequestId: abc Error: Task timed out "
              "after 900.00 seconds\"}");
  expect_body(aws_fn_error_body(AWS_FN_EXIT, "abc", "exit status 1"),
              "{\"errorType\":\"Runtime.ExitError\",\"errorMessage\":\"RequestId: abc Error: Runtime exited "
              "with error: exit status 1\"}");
  expect_body(aws_fn_error_body(AWS_FN_EXIT, "abc", "signal: killed"),
              "{\"errorType\":\"Runtime.ExitError\",\"errorMessage\":\"RequestId: abc Error: Runtime exited "
              "with error: signal: killed\"}");
  expect_body(aws_fn_error_body(AWS_FN_EXIT_NO_REASON, "abc"),
              "{\"errorType\":\"Runtime.ExitError\",\"errorMessage\":\"RequestId: abc Error: Runtime exited "
              "without providing a reason\"}");
  expect_body(aws_fn_error_body(AWS_FN_INVALID_ENTRYPOINT, "abc", "/var/task/bootstrap",
                                "no such file or directory"),
              "{\"errorType\":\"Runtime.InvalidEntrypoint\",\"errorMessage\":\"RequestId: abc Error: "
              "fork/exec /var/task/bootstrap: no such file or directory\"}");
  expect_body(aws_fn_error_body(AWS_FN_RUNTIME_MISSING, "abc", "python3"),
              "{\"errorType\":\"Runtime.InvalidEntrypoint\",\"errorMessage\":\"RequestId: abc Error: exec: "
              "\\\"python3\\\": executable file not found in $PATH\"}");
  /* the one body AWS sends with errorMessage first */
  expect_body(aws_fn_error_body(AWS_FN_RESPONSE_TOO_LARGE),
              "{\"errorMessage\":\"Response payload size exceeded maximum allowed payload size (6291556 "
              "bytes).\",\"errorType\":\"Function.ResponseSizeTooLarge\"}");
}

/* Arguments are data, not JSON: quotes, backslashes and control bytes come out escaped. */
static void test_fn_error_body_escapes(void **state)
{
  char *body = aws_fn_error_body(AWS_FN_EXIT, "id\"\\\n\x01", "x");
  cJSON *j;

  (void)state;
  assert_non_null(body);
  assert_string_equal(body, "{\"errorType\":\"Runtime.ExitError\",\"errorMessage\":\"RequestId: "
                            "id\\\"\\\\\\n\\u0001 Error: Runtime exited with error: x\"}");
  j = cJSON_Parse(body);
  assert_non_null(j);
  assert_string_equal(cJSON_GetObjectItemCaseSensitive(j, "errorMessage")->valuestring,
                      "RequestId: id\"\\\n\x01 Error: Runtime exited with error: x");
  cJSON_Delete(j);
  free(body);
}

static void test_fn_error_types(void **state)
{
  (void)state;
  assert_string_equal(aws_fn_error_type(AWS_FN_TIMEOUT), "Sandbox.Timedout");
  assert_string_equal(aws_fn_error_type(AWS_FN_EXIT), "Runtime.ExitError");
  assert_string_equal(aws_fn_error_type(AWS_FN_EXIT_NO_REASON), "Runtime.ExitError");
  assert_string_equal(aws_fn_error_type(AWS_FN_INVALID_ENTRYPOINT), "Runtime.InvalidEntrypoint");
  assert_string_equal(aws_fn_error_type(AWS_FN_RUNTIME_MISSING), "Runtime.InvalidEntrypoint");
  assert_string_equal(aws_fn_error_type(AWS_FN_RESPONSE_TOO_LARGE), "Function.ResponseSizeTooLarge");
  assert_string_equal(aws_fn_error_type(AWS_FN__COUNT), "Runtime.ExitError");
}

static void test_api_error_rows(void **state)
{
  static const struct {
    enum aws_api_error id;
    unsigned status;
    const char *type;
  } rows[] = {
    {AWS_ERR_RESOURCE_NOT_FOUND, 404, "ResourceNotFoundException"},
    {AWS_ERR_QUALIFIER_MISMATCH, 400, "InvalidParameterValueException"},
    {AWS_ERR_INVALID_PARAMETER_VALUE, 400, "InvalidParameterValueException"},
    {AWS_ERR_INVALID_REQUEST_CONTENT, 400, "InvalidRequestContentException"},
    {AWS_ERR_INVALID_CLIENT_CONTEXT, 400, "InvalidRequestContentException"},
    {AWS_ERR_CLIENT_CONTEXT_TOO_LARGE, 400, "InvalidParameterValueException"},
    {AWS_ERR_REQUEST_TOO_LARGE, 413, "RequestEntityTooLargeException"},
    {AWS_ERR_VALIDATION, 400, "ValidationException"},
    {AWS_ERR_UNKNOWN_OPERATION, 404, "UnknownOperationException"},
    {AWS_ERR_SERVICE, 500, "ServiceException"},
    {AWS_ERR_TOO_MANY_REQUESTS, 429, "TooManyRequestsException"},
  };
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
    print_message("row %d\n", (int)rows[i].id);
    assert_int_equal(aws_error_status(rows[i].id), rows[i].status);
    assert_string_equal(aws_error_type(rows[i].id), rows[i].type);
  }
  /* out of range: a service error, never a crash */
  assert_int_equal(aws_error_status(AWS_ERR__COUNT), 500);
  assert_string_equal(aws_error_type(AWS_ERR__COUNT), "ServiceException");
}

static void test_validation_message(void **state)
{
  char *m;

  (void)state;
  m = aws_validation_message("300000", "timeout", "Member must have value less than or equal to 900");
  assert_non_null(m);
  assert_string_equal(m, "1 validation error detected: Value '300000' at 'timeout' failed to satisfy "
                         "constraint: Member must have value less than or equal to 900");
  free(m);

  m = aws_validation_message("bad name", "functionName", AWS_CONSTRAINT_FUNCTION_NAME_PATTERN);
  assert_non_null(m);
  assert_string_equal(m, "1 validation error detected: Value 'bad name' at 'functionName' failed to "
                         "satisfy constraint: Member must satisfy regular expression pattern: "
                         "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:)?"
                         "(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST(\\.PUBLISHED)?|"
                         "[a-zA-Z0-9-_]+))?");
  free(m);

  m = aws_validation_message("Sync", "invocationType", AWS_CONSTRAINT_INVOCATION_TYPE);
  assert_non_null(m);
  assert_string_equal(m, "1 validation error detected: Value 'Sync' at 'invocationType' failed to "
                         "satisfy constraint: Member must satisfy enum value set: [Event, RequestResponse, "
                         "DryRun]");
  free(m);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_exit_reason_exit_codes),
    cmocka_unit_test(test_exit_reason_signals),
    cmocka_unit_test(test_exit_reason_go_names),
    cmocka_unit_test(test_known_bug_exit_reason_missing_go_names),
    cmocka_unit_test(test_exit_reason_truncates_to_outlen),
    cmocka_unit_test(test_exit_reason_real_children),
    cmocka_unit_test(test_errno_text_matches_go),
    cmocka_unit_test(test_errno_text_truncates),
    cmocka_unit_test(test_fn_error_bodies),
    cmocka_unit_test(test_fn_error_body_escapes),
    cmocka_unit_test(test_fn_error_types),
    cmocka_unit_test(test_api_error_rows),
    cmocka_unit_test(test_validation_message),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
