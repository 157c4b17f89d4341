/* Pins util: request ids are RFC 4122 version-4 UUIDs (lowercase, version nibble 4, variant 10xx),
 * distinct over 10,000 draws; random hex has the asked length; base64 matches the RFC 4648 vectors,
 * round-trips any bytes and refuses malformed input with NULL; plus the clocks and string helpers. */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "unit.h"

#include "lemu/util.h"

#define UUIDS 10000

static bool is_lower_hex(char c)
{
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static int cmp_uuid(const void *a, const void *b)
{
  return memcmp(a, b, LEMU_UUID_LEN);
}

static void test_uuid_format_and_uniqueness(void **state)
{
  char (*ids)[LEMU_UUID_LEN + 1] = malloc(UUIDS * sizeof(*ids));
  unsigned seen_digits[LEMU_UUID_LEN] = {0}; /* bitmask of hex digits seen at each position */
  bool variants[4] = {false};
  size_t i, k;

  (void)state;
  assert_int_equal(LEMU_UUID_LEN, 36);
  for (i = 0; i < UUIDS; i++) {
    char *u = ids[i];
    memset(u, 'X', LEMU_UUID_LEN + 1);
    util_uuid(u);
    assert_int_equal(strlen(u), 36);
    for (k = 0; k < 36; k++) {
      if (k == 8 || k == 13 || k == 18 || k == 23) {
        assert_int_equal(u[k], '-');
        continue;
      }
      assert_true(is_lower_hex(u[k]));
      seen_digits[k] |= 1u << (u[k] <= '9' ? u[k] - '0' : u[k] - 'a' + 10);
    }
    assert_int_equal(u[14], '4'); /* version 4 */
    assert_non_null(strchr("89ab", u[19])); /* variant 10xx */
    variants[u[19] <= '9' ? u[19] - '8' : u[19] - 'a' + 2] = true;
  }
  for (k = 0; k < 4; k++)
    assert_true(variants[k]);
  /* every random position takes all 16 digits over 10,000 draws */
  for (k = 0; k < 36; k++)
    if (k != 8 && k != 13 && k != 18 && k != 23 && k != 14 && k != 19)
      assert_int_equal(seen_digits[k], 0xffff);
  qsort(ids, UUIDS, sizeof(*ids), cmp_uuid);
  for (i = 1; i < UUIDS; i++)
    assert_true(memcmp(ids[i - 1], ids[i], LEMU_UUID_LEN) != 0);
  free(ids);
}

static void test_random_hex(void **state)
{
  static const size_t lens[] = {0, 1, 15, 16, 17, 32, 33, 100};
  char out[128];
  size_t i, k;

  (void)state;
  for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
    memset(out, 'X', sizeof(out));
    util_random_hex(out, lens[i]);
    assert_int_equal(strlen(out), lens[i]);
    for (k = 0; k < lens[i]; k++)
      assert_true(is_lower_hex(out[k]));
  }
}

static void expect_b64(const char *plain, const char *encoded)
{
  char *e = util_base64_encode(plain, strlen(plain)), *d;
  size_t n = 999;

  assert_non_null(e);
  assert_string_equal(e, encoded);
  d = util_base64_decode(encoded, strlen(encoded), &n);
  assert_non_null(d);
  assert_int_equal(n, strlen(plain));
  assert_memory_equal(d, plain, n);
  assert_int_equal(d[n], '\0'); /* NUL-terminated for convenience */
  free(e);
  free(d);
}

/* RFC 4648 section 10, which covers no padding, "=" and "==". */
static void test_base64_rfc4648_vectors(void **state)
{
  (void)state;
  expect_b64("", "");
  expect_b64("f", "Zg==");
  expect_b64("fo", "Zm8=");
  expect_b64("foo", "Zm9v");
  expect_b64("foob", "Zm9vYg==");
  expect_b64("fooba", "Zm9vYmE=");
  expect_b64("foobar", "Zm9vYmFy");
  expect_b64("\xff\xfe\xfd", "//79");
  expect_b64("\xfb\xff", "+/8=");
}

static void test_base64_round_trip(void **state)
{
  unsigned char data[300];
  size_t len, i;

  (void)state;
  for (i = 0; i < sizeof(data); i++)
    data[i] = (unsigned char)(i * 7 + 3);
  for (len = 0; len <= sizeof(data); len++) {
    char *e = util_base64_encode(data, len), *d;
    size_t n = 0;
    assert_non_null(e);
    assert_int_equal(strlen(e), 4 * ((len + 2) / 3));
    d = util_base64_decode(e, strlen(e), &n);
    assert_non_null(d);
    assert_int_equal(n, len);
    assert_memory_equal(d, data, len);
    free(e);
    free(d);
  }
}

static void expect_invalid(const char *text)
{
  size_t n = 12345;

  print_message("invalid base64: '%s'\n", text);
  assert_null(util_base64_decode(text, strlen(text), &n));
}

static void test_base64_invalid(void **state)
{
  (void)state;
  expect_invalid("Z");
  expect_invalid("Zg=");
  expect_invalid("Zm9vY");
  expect_invalid("Zm9v!A==");
  expect_invalid("Zm 9");
  expect_invalid("Zm9v\n");
  expect_invalid("Zm-_");  /* URL-safe alphabet is not the standard one */
  expect_invalid("Zg==Zg=="); /* padding in the middle */
  expect_invalid("Zg=A");
  expect_invalid("Z===");
  expect_invalid("====");
  expect_invalid("\xc3\xa9\xc3\xa9");
}

/* Only len bytes are decoded. */
static void test_base64_decode_respects_len(void **state)
{
  size_t n = 0;
  char *d = util_base64_decode("Zm9vYmFy", 4, &n);

  (void)state;
  assert_non_null(d);
  assert_int_equal(n, 3);
  assert_string_equal(d, "foo");
  free(d);
}

static void test_clocks(void **state)
{
  uint64_t a, b, ms;
  struct timespec pause = {0, 20 * 1000 * 1000};

  (void)state;
  a = util_now_us();
  nanosleep(&pause, NULL);
  b = util_now_us();
  assert_true(b >= a + 20000);
  assert_true(b < a + 2000000);
  ms = util_epoch_ms();
  assert_true(ms / 1000 + 2 >= (uint64_t)time(NULL));
  assert_true(ms / 1000 <= (uint64_t)time(NULL) + 2);
}

static void test_strings(void **state)
{
  char *s;

  (void)state;
  assert_null(util_strdup(NULL));
  s = util_strdup("copy me");
  assert_string_equal(s, "copy me");
  free(s);
  s = util_asprintf("%d-%s-%.2f", 5, "x", 1.5);
  assert_string_equal(s, "5-x-1.50");
  free(s);
  s = util_asprintf("%s", "");
  assert_string_equal(s, "");
  free(s);
}

static void test_lemu_name_pid(void **state)
{
  (void)state;
  assert_int_equal(util_lemu_name_pid("lemu-1"), 1);
  assert_int_equal(util_lemu_name_pid("lemu-4194304"), 4194304);
  /* Not what a lemu leaves behind: left alone by the stale sweeps (TMPDIR, cgroups). */
  assert_int_equal(util_lemu_name_pid("lemu-"), 0);
  assert_int_equal(util_lemu_name_pid("lemu"), 0);
  assert_int_equal(util_lemu_name_pid("lemu-12a"), 0);
  assert_int_equal(util_lemu_name_pid("lemu-12 "), 0);
  assert_int_equal(util_lemu_name_pid("lemu--12"), 0);
  assert_int_equal(util_lemu_name_pid("lemu-head"), 0);
  assert_int_equal(util_lemu_name_pid("lemu-node-3kI5Ch"), 0);
  assert_int_equal(util_lemu_name_pid("xlemu-12"), 0);
  assert_int_equal(util_lemu_name_pid("LEMU-12"), 0);
  assert_int_equal(util_lemu_name_pid("lemu-99999999999999999999"), 0); /* no overflow */
  assert_int_equal(util_lemu_name_pid(""), 0);
}

static void test_gone_lemu(void **state)
{
  char name[32];

  (void)state;
  snprintf(name, sizeof(name), "lemu-%d", (int)getpid());
  assert_int_equal(util_gone_lemu(name), 0);     /* this process */
  assert_int_equal(util_gone_lemu("lemu-1"), 0);  /* init: alive */
  assert_int_equal(util_gone_lemu("lemu-99999999"), 99999999); /* above pid_max: no such process */
  assert_int_equal(util_gone_lemu("lemu-x"), 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_uuid_format_and_uniqueness),
    cmocka_unit_test(test_random_hex),
    cmocka_unit_test(test_base64_rfc4648_vectors),
    cmocka_unit_test(test_base64_round_trip),
    cmocka_unit_test(test_base64_invalid),
    cmocka_unit_test(test_base64_decode_respects_len),
    cmocka_unit_test(test_clocks),
    cmocka_unit_test(test_strings),
    cmocka_unit_test(test_lemu_name_pid),
    cmocka_unit_test(test_gone_lemu),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
