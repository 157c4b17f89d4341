/* Pins code_package on archives built here with libzip: files and modes unpack, CodeSha256 is
 * base64(SHA-256(zip)), every escape (.., absolute path, link out of the tree, a write through
 * a link, a chain of links) is refused with nothing written outside and no directory left, and a
 * zip bomb is refused by its compression ratio, declared or (when the header lies) written. The
 * test links libzip to build archives; code_package itself reaches it through dlopen(), the same
 * path lemu takes. */
#include "unit.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "lemu/code_package.h"
#include "lemu/util.h"

#define TP_MAX_UNZIPPED (1024ULL * 1024ULL)
/* code_package.c's ratio bound: CP_RATIO_MAX times, for entries over CP_RATIO_MIN_BYTES. */
#define TP_RATIO_MAX 200
#define TP_RATIO_MIN_BYTES (1024 * 1024)
#define TP_BIG_MAX_UNZIPPED (64ULL * 1024ULL * 1024ULL) /* the total cap out of the ratio tests' way */

struct entry {
  const char *name;
  const char *data;  /* file content, or the link target */
  unsigned mode;     /* S_IFREG | 0644, S_IFLNK | 0777, ... */
};

static char base[64];

static int setup(void **state)
{
  (void)state;
  snprintf(base, sizeof(base), "/tmp/lemu-unit-cp-XXXXXX");
  return mkdtemp(base) ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  return code_package_remove_tree(base) == LEMU_ERR_OK ? 0 : -1;
}

/* An archive of entries, in memory (malloc'd, *len set). sizes: each entry's data length (data
 * may then hold NULs), or NULL for strlen(). */
static char *make_zip_sized(const struct entry *e, const size_t *sizes, size_t n, size_t *len)
{
  char *path = util_asprintf("%s/archive.zip", base), *data = NULL;
  zip_t *za;
  FILE *f;
  size_t i;
  long size;

  assert_non_null(path);
  za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, NULL);
  assert_non_null(za);
  for (i = 0; i < n; i++) {
    zip_source_t *src = zip_source_buffer(za, e[i].data, sizes ? sizes[i] : strlen(e[i].data), 0);
    zip_int64_t idx = zip_file_add(za, e[i].name, src, ZIP_FL_ENC_UTF_8);
    assert_true(idx >= 0);
    assert_int_equal(zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX,
                                                      (zip_uint32_t)e[i].mode << 16), 0);
  }
  assert_int_equal(zip_close(za), 0);
  f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  size = ftell(f);
  rewind(f);
  data = malloc((size_t)size);
  assert_int_equal(fread(data, 1, (size_t)size, f), (size_t)size);
  fclose(f);
  unlink(path);
  free(path);
  *len = (size_t)size;
  return data;
}

static char *make_zip(const struct entry *e, size_t n, size_t *len)
{
  return make_zip_sized(e, NULL, n, len);
}

static lemu_err_t extract(const struct entry *e, size_t n, const char *dest_name, struct code_package *info)
{
  size_t len;
  char *zip = make_zip(e, n, &len), *reason = NULL;
  char *dest = util_asprintf("%s/%s", base, dest_name);
  lemu_err_t rc = code_package_extract(zip, len, dest, TP_MAX_UNZIPPED, info, &reason);

  if (rc == LEMU_ERR_INVAL)
    assert_non_null(reason);
  free(reason);
  free(dest);
  free(zip);
  return rc;
}

static void assert_absent(const char *rel)
{
  char *p = util_asprintf("%s/%s", base, rel);
  struct stat st;

  assert_int_not_equal(lstat(p, &st), 0);
  free(p);
}

static void unpacks_files_modes_and_inner_links(void **state)
{
  const struct entry e[] = {
    {"bootstrap", "#!/bin/sh\n", S_IFREG | 0755},
    {"lib/data.txt", "hello", S_IFREG | 0644},
    {"lib/alias.txt", "data.txt", S_IFLNK | 0777},
    {"empty/", "", S_IFDIR | 0755},
  };
  struct code_package info;
  char *p;
  struct stat st;
  char buf[16] = {0};
  FILE *f;

  (void)state;
  assert_int_equal(extract(e, 4, "ok", &info), LEMU_ERR_OK);
  p = util_asprintf("%s/ok/bootstrap", base);
  assert_int_equal(stat(p, &st), 0);
  assert_true(st.st_mode & S_IXUSR);
  free(p);
  p = util_asprintf("%s/ok/lib/alias.txt", base);
  f = fopen(p, "r");
  assert_non_null(f);
  assert_int_equal(fread(buf, 1, sizeof(buf) - 1, f), 5);
  assert_string_equal(buf, "hello");
  fclose(f);
  free(p);
  assert_int_equal(info.unzipped_size, strlen("#!/bin/sh\n") + 5);
  assert_int_equal(strlen(info.sha256_b64), CODE_PACKAGE_SHA_B64_LEN);
}

static void sha256_is_base64_of_the_digest(void **state)
{
  char out[CODE_PACKAGE_SHA_B64_LEN + 1];

  (void)state;
  code_package_sha256_b64("abc", 3, out); /* FIPS 180-2 test vector */
  assert_string_equal(out, "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=");
}

static void refuses_every_escape(void **state)
{
  const struct entry dotdot[] = {{"ok.txt", "x", S_IFREG | 0644}, {"../../escaped.txt", "x", S_IFREG | 0644}};
  const struct entry inner_dotdot[] = {{"a/../../escaped.txt", "x", S_IFREG | 0644}};
  const struct entry absolute[] = {{"/tmp/lemu-unit-cp-absolute.txt", "x", S_IFREG | 0644}};
  const struct entry backslash[] = {{"..\\..\\escaped.txt", "x", S_IFREG | 0644}};
  const struct entry link_out[] = {{"l", "../..", S_IFLNK | 0777}};
  const struct entry link_abs[] = {{"l", "/etc", S_IFLNK | 0777}};
  const struct entry through_link[] = {{"d", "..", S_IFLNK | 0777}, {"d/escaped.txt", "x", S_IFREG | 0644}};
  const struct entry chain[] = {{"a/b", "..", S_IFLNK | 0777}, {"a/c", "b/../..", S_IFLNK | 0777}};
  const struct { const struct entry *e; size_t n; } cases[] = {
    {dotdot, 2}, {inner_dotdot, 1}, {absolute, 1}, {backslash, 1}, {link_out, 1}, {link_abs, 1},
    {through_link, 2}, {chain, 2},
  };
  struct code_package info;
  size_t i;

  (void)state;
  {
    char *x = util_asprintf("%s/x", base); /* the packages unpack one level down */
    assert_int_equal(mkdir(x, 0755), 0);
    free(x);
  }
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char name[32];
    snprintf(name, sizeof(name), "x/evil%zu", i);
    assert_int_equal(extract(cases[i].e, cases[i].n, name, &info), LEMU_ERR_INVAL);
    assert_absent(name); /* nothing left behind */
  }
  assert_absent("escaped.txt");
  assert_absent("x/escaped.txt");
  assert_int_not_equal(access("/tmp/lemu-unit-cp-absolute.txt", F_OK), 0);
}

static void refuses_too_big_and_garbage(void **state)
{
  static char big[TP_MAX_UNZIPPED + 2];
  const struct entry e[] = {{"big.bin", big, S_IFREG | 0644}};
  struct code_package info;
  char *reason = NULL, *dest = util_asprintf("%s/garbage", base);

  (void)state;
  memset(big, 'a', sizeof(big) - 1);
  assert_int_equal(extract(e, 1, "big", &info), LEMU_ERR_TOOBIG);
  assert_absent("big");
  assert_int_equal(code_package_extract("PK\x03\x04garbage", 11, dest, TP_MAX_UNZIPPED, &info, &reason),
                   LEMU_ERR_INVAL);
  assert_non_null(reason);
  assert_absent("garbage");
  free(reason);
  free(dest);
}

/* Extract an archive already in memory under max; returns the reason (malloc'd) through *reason. */
static lemu_err_t extract_zip(const char *zip, size_t len, const char *dest_name,
                              unsigned long long max, char **reason)
{
  struct code_package info;
  char *dest = util_asprintf("%s/%s", base, dest_name);
  lemu_err_t rc = code_package_extract(zip, len, dest, max, &info, reason);

  free(dest);
  return rc;
}

/* 4 MiB of zeros deflates ~1000x: refused from the central directory, nothing written. */
static void refuses_a_bomb_by_its_declared_ratio(void **state)
{
  const size_t size = 4 * TP_RATIO_MIN_BYTES;
  char *zeros = calloc(1, size), *zip, *reason = NULL;
  const struct entry e[] = {{"ok.txt", "fine", S_IFREG | 0644}, {"bomb.bin", zeros, S_IFREG | 0644}};
  const size_t sizes[] = {4, size};
  size_t len;

  (void)state;
  assert_non_null(zeros);
  zip = make_zip_sized(e, sizes, 2, &len);
  assert_true(len * TP_RATIO_MAX < size); /* it is a bomb by the bound */
  assert_int_equal(extract_zip(zip, len, "bomb", TP_BIG_MAX_UNZIPPED, &reason), LEMU_ERR_INVAL);
  assert_non_null(reason);
  assert_non_null(strstr(reason, "'bomb.bin' declares"));
  assert_absent("bomb");
  free(reason);
  reason = NULL;
  /* Over the total cap as well: too big wins (AWS's answer), whatever the ratio. */
  assert_int_equal(extract_zip(zip, len, "bomb2", TP_MAX_UNZIPPED, &reason), LEMU_ERR_TOOBIG);
  assert_null(reason);
  assert_absent("bomb2");
  free(zip);
  free(zeros);
}

/* What packages hold passes: a small file of one byte repeated (any ratio under the minimum
 * size) and 2 MiB of repetitive JSON lines (compressible text, well under the bound). */
static void accepts_real_compressible_files(void **state)
{
  const size_t small = TP_RATIO_MIN_BYTES / 2, text_max = 2 * TP_RATIO_MIN_BYTES + 128;
  char *spaces = malloc(small), *text = malloc(text_max), *zip, *reason = NULL;
  size_t text_len = 0, len;
  unsigned i;

  (void)state;
  assert_non_null(spaces);
  assert_non_null(text);
  memset(spaces, ' ', small);
  for (i = 0; text_len < 2 * TP_RATIO_MIN_BYTES; i++)
    text_len += (size_t)snprintf(text + text_len, text_max - text_len,
                                 "{\"id\": %u, \"name\": \"item %u\", \"price\": %u.%02u, \"tags\": [\"a\", \"b\"]}\n",
                                 i, i * 7919u % 100000u, i % 997u, i % 100u);
  {
    const struct entry e[] = {{"padding.txt", spaces, S_IFREG | 0644}, {"data.jsonl", text, S_IFREG | 0644}};
    const size_t sizes[] = {small, text_len};
    zip = make_zip_sized(e, sizes, 2, &len);
  }
  assert_true(len * 5 < small + text_len); /* really compressible */
  assert_int_equal(extract_zip(zip, len, "real", TP_BIG_MAX_UNZIPPED, &reason), LEMU_ERR_OK);
  assert_null(reason);
  {
    char *p = util_asprintf("%s/real/data.jsonl", base);
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    assert_int_equal((size_t)st.st_size, text_len);
    free(p);
  }
  free(zip);
  free(text);
  free(spaces);
}

/* Write v little-endian into 4 bytes. */
static void put_le32(char *p, uint32_t v)
{
  p[0] = (char)(v & 0xff);
  p[1] = (char)((v >> 8) & 0xff);
  p[2] = (char)((v >> 16) & 0xff);
  p[3] = (char)((v >> 24) & 0xff);
}

/* A bomb whose headers (local and central) declare 1000 bytes: the declared ratio passes, and
 * the bytes written stop it, before it is all written. */
static void refuses_a_lying_bomb_by_the_bytes_written(void **state)
{
  const size_t size = 8 * TP_RATIO_MIN_BYTES;
  char *zeros = calloc(1, size), *zip, *reason = NULL;
  const struct entry e[] = {{"liar.bin", zeros, S_IFREG | 0644}};
  size_t len, i, patched = 0;

  (void)state;
  assert_non_null(zeros);
  zip = make_zip_sized(e, &size, 1, &len);
  for (i = 0; i + 46 <= len; i++) {
    if (!memcmp(zip + i, "PK\x03\x04", 4)) { /* local header: uncompressed size at 22 */
      put_le32(zip + i + 22, 1000);
      patched++;
    } else if (!memcmp(zip + i, "PK\x01\x02", 4)) { /* central directory: at 24 */
      put_le32(zip + i + 24, 1000);
      patched++;
    }
  }
  assert_int_equal(patched, 2);
  assert_int_equal(extract_zip(zip, len, "liar", TP_BIG_MAX_UNZIPPED, &reason), LEMU_ERR_INVAL);
  assert_non_null(reason);
  assert_non_null(strstr(reason, "whatever its header says"));
  assert_absent("liar");
  free(reason);
  free(zip);
  free(zeros);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(unpacks_files_modes_and_inner_links),
    cmocka_unit_test(sha256_is_base64_of_the_digest),
    cmocka_unit_test(refuses_every_escape),
    cmocka_unit_test(refuses_too_big_and_garbage),
    cmocka_unit_test(refuses_a_bomb_by_its_declared_ratio),
    cmocka_unit_test(accepts_real_compressible_files),
    cmocka_unit_test(refuses_a_lying_bomb_by_the_bytes_written),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
