/* Unit tests for the pure parts of emulator/ephemeral.c: which TMPDIR mode lemu picks, how it
 * recognises the directories of other (possibly dead) lemus, and the first-try image size. */
#include "unit.h"

#include <sys/types.h>

#include "lemu/ephemeral.h"

static void test_mode_choice(void **state)
{
  (void)state;
  /* No memory cgroup: a tmpfs where lemu may mount (RSS sampling does not see tmpfs pages). */
  assert_int_equal(ephemeral_choose_mode(false, true, false), EPHEMERAL_TMPFS);
  assert_int_equal(ephemeral_choose_mode(false, true, true), EPHEMERAL_TMPFS);
  /* Memory cgroups: never a tmpfs (its pages would count against MemorySize). */
  assert_int_equal(ephemeral_choose_mode(true, true, true), EPHEMERAL_LOOP);
  assert_int_equal(ephemeral_choose_mode(true, true, false), EPHEMERAL_DIR);
  /* No mount at all: a plain directory, whatever else holds. */
  assert_int_equal(ephemeral_choose_mode(false, false, false), EPHEMERAL_DIR);
  assert_int_equal(ephemeral_choose_mode(false, false, true), EPHEMERAL_DIR);
  assert_int_equal(ephemeral_choose_mode(true, false, true), EPHEMERAL_DIR);
  assert_int_equal(ephemeral_choose_mode(true, false, false), EPHEMERAL_DIR);
}

static void test_base_pid(void **state)
{
  (void)state;
  assert_int_equal(ephemeral_base_pid("lemu-1"), 1);
  assert_int_equal(ephemeral_base_pid("lemu-4194304"), 4194304);
  /* Not lemu's per-process directories: left alone by the stale-directory sweep. */
  assert_int_equal(ephemeral_base_pid("lemu-"), 0);
  assert_int_equal(ephemeral_base_pid("lemu"), 0);
  assert_int_equal(ephemeral_base_pid("lemu-12a"), 0);
  assert_int_equal(ephemeral_base_pid("lemu-12 "), 0);
  assert_int_equal(ephemeral_base_pid("lemu--12"), 0);
  assert_int_equal(ephemeral_base_pid("lemu-head"), 0);
  assert_int_equal(ephemeral_base_pid("lemu-node-3kI5Ch"), 0);
  assert_int_equal(ephemeral_base_pid("xlemu-12"), 0);
  assert_int_equal(ephemeral_base_pid("LEMU-12"), 0);
  assert_int_equal(ephemeral_base_pid("lemu-99999999999999999999"), 0); /* no overflow */
  assert_int_equal(ephemeral_base_pid(""), 0);
}

static void test_image_bytes(void **state)
{
  static const int sizes[] = {512, 513, 1024, 4096, 10240};
  size_t i;

  (void)state;
  for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
    unsigned long long want = (unsigned long long)sizes[i] << 20, b = ephemeral_image_bytes(sizes[i]);
    assert_int_equal(b % 4096, 0);
    /* room for ext4's inode tables (1/64 of the size at 16 KiB per inode) and its fixed part */
    assert_true(b >= want + want / 64 + (4ULL << 20));
    assert_true(b <= want + want / 32 + (16ULL << 20));
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_mode_choice),
    cmocka_unit_test(test_base_pid),
    cmocka_unit_test(test_image_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
