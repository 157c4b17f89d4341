/* Unit tests for the pure parts of emulator/ephemeral.c: which TMPDIR mode lemu picks, how it
 * recognises the directories of other (possibly dead) lemus, the first-try image size, and the
 * template cache's names, keys and validation. */
#include "unit.h"

#include <sys/stat.h>
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

/* ---- the template cache ---- */

static struct stat mkfs_stat(void)
{
  struct stat st;

  memset(&st, 0, sizeof(st));
  st.st_dev = 0x801;
  st.st_ino = 1234567;
  st.st_size = 133208;
  st.st_mtim.tv_sec = 1678000000;
  st.st_mtim.tv_nsec = 5;
  return st;
}

static void test_template_key(void **state)
{
  struct stat mkfs = mkfs_stat(), conf = mkfs_stat(), other;
  uint64_t k;

  (void)state;
  conf.st_ino = 99;
  k = ephemeral_template_key(&mkfs, &conf);
  assert_true(k == ephemeral_template_key(&mkfs, &conf)); /* same inputs: the same key */
  /* an upgraded or reinstalled mkfs.ext4 (e2fsprogs), or another /etc/mke2fs.conf: another key */
  other = mkfs;
  other.st_mtim.tv_sec++;
  assert_true(k != ephemeral_template_key(&other, &conf));
  other = mkfs;
  other.st_mtim.tv_nsec++;
  assert_true(k != ephemeral_template_key(&other, &conf));
  other = mkfs;
  other.st_size++;
  assert_true(k != ephemeral_template_key(&other, &conf));
  other = mkfs;
  other.st_ino++;
  assert_true(k != ephemeral_template_key(&other, &conf));
  other = conf;
  other.st_size++;
  assert_true(k != ephemeral_template_key(&mkfs, &other));
  assert_true(k != ephemeral_template_key(&mkfs, NULL));
}

static void test_template_name(void **state)
{
  char a[64], b[64];

  (void)state;
  assert_int_equal(ephemeral_template_name(a, sizeof(a), 512, 0x0123456789abcdefULL), 30);
  assert_string_equal(a, "ext4-512m-0123456789abcdef.img");
  ephemeral_template_name(b, sizeof(b), 10240, 0x1ULL);
  assert_string_equal(b, "ext4-10240m-0000000000000001.img");
  /* the size and the key are both in the name: a lookup never finds another size's template */
  ephemeral_template_name(a, sizeof(a), 5120, 0x1ULL);
  ephemeral_template_name(b, sizeof(b), 512, 0x1ULL);
  assert_string_not_equal(a, b);
}

static void test_temp_pid(void **state)
{
  (void)state;
  assert_int_equal(ephemeral_temp_pid(".tmp-1234-ext4-512m-0123456789abcdef.img"), 1234);
  assert_int_equal(ephemeral_temp_pid(".tmp-1-x"), 1);
  /* finished templates and anything else in the directory are not temporary files */
  assert_int_equal(ephemeral_temp_pid("ext4-512m-0123456789abcdef.img"), 0);
  assert_int_equal(ephemeral_temp_pid(".tmp--ext4"), 0);
  assert_int_equal(ephemeral_temp_pid(".tmp-12"), 0);
  assert_int_equal(ephemeral_temp_pid(".tmp-12x-"), 0);
  assert_int_equal(ephemeral_temp_pid(".tmp-99999999999999999999-x"), 0);
  assert_int_equal(ephemeral_temp_pid("tmp-12-x"), 0);
  assert_int_equal(ephemeral_temp_pid(""), 0);
}

static void test_hash(void **state)
{
  unsigned char buf[4096];
  uint64_t h;
  size_t i, n;

  (void)state;
  for (i = 0; i < sizeof(buf); i++)
    buf[i] = (unsigned char)(i * 7);
  h = ephemeral_hash(0, buf, sizeof(buf));
  assert_true(h == ephemeral_hash(0, buf, sizeof(buf)));
  assert_true(h != ephemeral_hash(1, buf, sizeof(buf)));
  /* one flipped bit anywhere, in the 32-byte lanes, the 8-byte words or the tail, changes it */
  for (n = 4096; n >= 4090; n -= 3) {
    uint64_t base = ephemeral_hash(0, buf, n);
    for (i = 0; i < n; i += 1 + i / 3) {
      buf[i] ^= 0x10;
      assert_true(base != ephemeral_hash(0, buf, n));
      buf[i] ^= 0x10;
    }
  }
  /* a zero tail is not the same as no tail */
  memset(buf, 0, 16);
  assert_true(ephemeral_hash(0, buf, 3) != ephemeral_hash(0, buf, 4));
}

#define T_BYTES (532ULL << 20) /* an image of a 512 MB template */

/* The head of a template lemu would accept: its record, then an ext4 superblock at 1024. */
static void make_head(unsigned char *head, uint64_t key)
{
  struct ephemeral_record r = {.size_mb = 512, .key = key, .image_bytes = T_BYTES, .checksum = 42};
  unsigned char *sb = head + 1024;
  uint64_t blocks = T_BYTES / 4096;

  memset(head, 0, EPHEMERAL_HEAD_BYTES);
  ephemeral_record_put(head, &r);
  sb[0x04] = (unsigned char)blocks; /* s_blocks_count_lo */
  sb[0x05] = (unsigned char)(blocks >> 8);
  sb[0x06] = (unsigned char)(blocks >> 16);
  sb[0x18] = 2;    /* s_log_block_size: 4096 */
  sb[0x38] = 0x53; /* s_magic 0xef53 */
  sb[0x39] = 0xef;
  sb[0x5c] = 0x38; /* s_feature_compat: ext_attr, resize_inode, dir_index (no has_journal) */
  memcpy(sb + 0x78, "lemu-tmp", 8);
}

static void test_template_check(void **state)
{
  unsigned char head[EPHEMERAL_HEAD_BYTES];
  struct ephemeral_record r;
  const uint64_t key = 0xfeedULL;

  (void)state;
  make_head(head, key);
  assert_null(ephemeral_template_check(head, T_BYTES, 512, key, &r));
  assert_int_equal(r.size_mb, 512);
  assert_true(r.image_bytes == T_BYTES);
  assert_true(r.checksum == 42);
  assert_true(r.key == key);

  /* truncated (a disk full, a copy cut short) or grown */
  assert_string_equal(ephemeral_template_check(head, T_BYTES / 2, 512, key, &r), "truncated or extended");
  assert_string_equal(ephemeral_template_check(head, T_BYTES + 4096, 512, key, &r), "truncated or extended");
  /* another size, another key (mke2fs upgraded), another format */
  assert_string_equal(ephemeral_template_check(head, T_BYTES, 1024, key, &r), "another size");
  assert_string_equal(ephemeral_template_check(head, T_BYTES, 512, key + 1, &r),
                      "another template format or mke2fs");
  head[16]++;                                    /* the format, without fixing the record's hash */
  assert_string_equal(ephemeral_template_check(head, T_BYTES, 512, key, &r), "no lemu template record");
  make_head(head, key);
  head[40] ^= 1; /* the checksum field itself damaged */
  assert_string_equal(ephemeral_template_check(head, T_BYTES, 512, key, &r), "no lemu template record");
  make_head(head, key);
  memset(head, 0, EPHEMERAL_RECORD_BYTES); /* a plain image, as mkfs.ext4 leaves it */
  assert_string_equal(ephemeral_template_check(head, T_BYTES, 512, key, &r), "no lemu template record");

  /* the ext4 superblock: magic, block size, size, journal, label */
  make_head(head, key);
  head[1024 + 0x38] = 0;
  assert_string_equal(ephemeral_template_check(head, T_BYTES, 512, key, &r),
                      "not an ext4 file system of 4 KiB blocks");
  make_head(head, key);
  head[1024 + 0x18] = 0; /* 1 KiB blocks */
  assert_string_equal(ephemeral_template_check(head, T_BYTES, 512, key, &r),
                      "not an ext4 file system of 4 KiB blocks");
  make_head(head, key);
  head[1024 + 0x04]++;
  assert_string_equal(ephemeral_template_check(head, T_BYTES, 512, key, &r),
                      "file system size differs from the image");
  make_head(head, key);
  head[1024 + 0x60] = 0x80; /* 64bit: the high word counts, and it is not zero here */
  head[1024 + 0x150] = 1;
  assert_string_equal(ephemeral_template_check(head, T_BYTES, 512, key, &r),
                      "file system size differs from the image");
  head[1024 + 0x150] = 0;
  assert_null(ephemeral_template_check(head, T_BYTES, 512, key, &r));
  make_head(head, key);
  head[1024 + 0x5c] |= 0x4; /* has_journal */
  assert_string_equal(ephemeral_template_check(head, T_BYTES, 512, key, &r), "not a file system lemu made");
  make_head(head, key);
  head[1024 + 0x78] = 'L';
  assert_string_equal(ephemeral_template_check(head, T_BYTES, 512, key, &r), "not a file system lemu made");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_mode_choice),
    cmocka_unit_test(test_image_bytes),
    cmocka_unit_test(test_template_key),
    cmocka_unit_test(test_template_name),
    cmocka_unit_test(test_temp_pid),
    cmocka_unit_test(test_hash),
    cmocka_unit_test(test_template_check),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
