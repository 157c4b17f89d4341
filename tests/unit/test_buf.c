/* Pins struct buf's contract: the limit fixed at init is exact (appending up to it works, one byte
 * past it fails with LEMU_ERR_TOOBIG and leaves the buffer untouched), take hands over the bytes and
 * resets, reset keeps the storage; and blob reference counting (run the ASan build: a missing or
 * extra free shows up there). */
#include <stdio.h>

#include "unit.h"

#include "lemu/buf.h"

static void test_append_and_nul(void **state)
{
  struct buf b;

  (void)state;
  buf_init(&b, 1024);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(buf_append(&b, "hello", 5), LEMU_ERR_OK);
  assert_int_equal(buf_append_str(&b, ", world"), LEMU_ERR_OK);
  assert_int_equal(b.len, 12);
  assert_memory_equal(b.data, "hello, world", 12);
  assert_int_equal(b.data[b.len], '\0'); /* room for a NUL is kept after the bytes */
  assert_int_equal(buf_append(&b, "ignored", 0), LEMU_ERR_OK);
  assert_int_equal(b.len, 12);
  buf_cleanup(&b);
  assert_null(b.data);
  assert_int_equal(b.len, 0);
}

static void test_limit_is_exact(void **state)
{
  struct buf b;
  char chunk[10];

  (void)state;
  memset(chunk, 'x', sizeof(chunk));
  buf_init(&b, 10);
  assert_int_equal(buf_append(&b, chunk, 4), LEMU_ERR_OK);
  assert_int_equal(buf_append(&b, chunk, 6), LEMU_ERR_OK); /* exactly the limit */
  assert_int_equal(b.len, 10);
  assert_int_equal(buf_append(&b, "y", 1), LEMU_ERR_TOOBIG);
  assert_int_equal(b.len, 10);
  assert_memory_equal(b.data, "xxxxxxxxxx", 10);
  assert_int_equal(buf_append_str(&b, "yy"), LEMU_ERR_TOOBIG);
  assert_int_equal(buf_reserve(&b, 1), LEMU_ERR_TOOBIG);
  assert_int_equal(buf_reserve(&b, 0), LEMU_ERR_OK);
  assert_int_equal(b.len, 10);
  assert_memory_equal(b.data, "xxxxxxxxxx", 10);
  buf_cleanup(&b);
}

/* One append larger than the whole limit fails without touching an existing buffer, and a huge n
 * cannot overflow len + n into something that passes. */
static void test_oversized_append_leaves_buffer_intact(void **state)
{
  struct buf b;
  char *big = malloc(5000);

  (void)state;
  memset(big, 'z', 5000);
  buf_init(&b, 4096);
  assert_int_equal(buf_append_str(&b, "keep"), LEMU_ERR_OK);
  assert_int_equal(buf_append(&b, big, 5000), LEMU_ERR_TOOBIG);
  assert_int_equal(buf_append(&b, big, 4093), LEMU_ERR_TOOBIG); /* 4 + 4093 = 4097 */
  assert_int_equal(b.len, 4);
  assert_memory_equal(b.data, "keep", 4);
  assert_int_equal(buf_reserve(&b, SIZE_MAX), LEMU_ERR_TOOBIG);
  assert_int_equal(buf_reserve(&b, SIZE_MAX - 2), LEMU_ERR_TOOBIG);
  assert_int_equal(buf_append(&b, big, 4092), LEMU_ERR_OK); /* 4096 exactly */
  assert_int_equal(b.len, 4096);
  assert_memory_equal(b.data, "keep", 4);
  buf_cleanup(&b);
  free(big);
}

/* A zero limit (GET /next has no body) refuses every byte. */
static void test_zero_limit(void **state)
{
  struct buf b;

  (void)state;
  buf_init(&b, 0);
  assert_int_equal(buf_append(&b, "a", 1), LEMU_ERR_TOOBIG);
  assert_int_equal(buf_append(&b, "", 0), LEMU_ERR_OK);
  assert_int_equal(b.len, 0);
  buf_cleanup(&b);
}

/* Many small appends grow the storage past several doublings and keep every byte. */
static void test_growth_keeps_bytes(void **state)
{
  struct buf b;
  size_t i;

  (void)state;
  buf_init(&b, 100000);
  for (i = 0; i < 10000; i++) {
    char c = (char)('a' + i % 26);
    assert_int_equal(buf_append(&b, &c, 1), LEMU_ERR_OK);
  }
  assert_int_equal(b.len, 10000);
  assert_true(b.cap >= b.len + 1);
  assert_true(b.cap <= b.limit + 1);
  for (i = 0; i < 10000; i++)
    assert_int_equal(b.data[i], (char)('a' + i % 26));
  buf_cleanup(&b);
}

static void test_take(void **state)
{
  struct buf b;
  size_t len = 99;
  char *p;

  (void)state;
  buf_init(&b, 64);
  assert_int_equal(buf_append_str(&b, "payload"), LEMU_ERR_OK);
  p = buf_take(&b, &len);
  assert_non_null(p);
  assert_int_equal(len, 7);
  assert_string_equal(p, "payload");
  assert_null(b.data);
  assert_int_equal(b.len, 0);
  assert_int_equal(b.cap, 0);
  free(p);

  /* the buffer is reusable after take, with the same limit */
  assert_int_equal(buf_append_str(&b, "again"), LEMU_ERR_OK);
  p = buf_take(&b, NULL);
  assert_string_equal(p, "again");
  free(p);

  /* taking an empty buffer still returns a string the caller can free */
  p = buf_take(&b, &len);
  assert_non_null(p);
  assert_int_equal(len, 0);
  assert_string_equal(p, "");
  free(p);
  assert_int_equal(b.limit, 64);
  buf_cleanup(&b);
}

static void test_reset_keeps_storage(void **state)
{
  struct buf b;
  char *before;
  size_t cap;

  (void)state;
  buf_init(&b, 1000);
  assert_int_equal(buf_append_str(&b, "first contents"), LEMU_ERR_OK);
  before = b.data;
  cap = b.cap;
  buf_reset(&b);
  assert_int_equal(b.len, 0);
  assert_ptr_equal(b.data, before);
  assert_int_equal(b.cap, cap);
  assert_int_equal(b.data[0], '\0');
  assert_int_equal(buf_append_str(&b, "second"), LEMU_ERR_OK);
  assert_int_equal(b.len, 6);
  assert_memory_equal(b.data, "second", 6);
  buf_reset(&b);
  buf_reset(&b);
  buf_cleanup(&b);
  buf_cleanup(&b); /* idempotent */

  buf_init(&b, 10);
  buf_reset(&b); /* on a never-used buffer */
  assert_null(b.data);
  buf_cleanup(&b);
}

static void test_blob_refcount(void **state)
{
  char *data = strdup("shared payload");
  struct blob *b, *r;

  (void)state;
  b = blob_new_take(data, strlen(data));
  assert_non_null(b);
  assert_int_equal(b->refs, 1);
  assert_int_equal(b->len, 14);
  assert_ptr_equal(b->data, data);
  r = blob_ref(b);
  assert_ptr_equal(r, b);
  assert_int_equal(b->refs, 2);
  blob_ref(b);
  assert_int_equal(b->refs, 3);
  blob_unref(b);
  blob_unref(b);
  assert_int_equal(b->refs, 1);
  assert_string_equal(b->data, "shared payload"); /* still alive: ASan would flag a use after free */
  blob_unref(b); /* last one frees data and blob; LeakSanitizer flags it if not */
  blob_unref(NULL);
}

static void test_blob_from_buf_take(void **state)
{
  struct buf b;
  struct blob *bl;
  size_t len;
  char *p;

  (void)state;
  buf_init(&b, 100);
  assert_int_equal(buf_append(&b, "a\0b", 3), LEMU_ERR_OK);
  p = buf_take(&b, &len);
  bl = blob_new_take(p, len);
  assert_non_null(bl);
  assert_int_equal(bl->len, 3);
  assert_memory_equal(bl->data, "a\0b", 3);
  blob_unref(bl);
  buf_cleanup(&b);
}

/* Nothing in buf.h forbids SIZE_MAX as "no limit", but limit + 1 wraps to 0, so the first append
 * reallocs to 0 bytes and writes past it (ASan: heap-buffer-overflow). */
static void test_known_bug_size_max_limit(void **state)
{
  struct buf b;

  (void)state;
  buf_init(&b, SIZE_MAX);
  assert_int_equal(buf_append_str(&b, "hello"), LEMU_ERR_OK);
  assert_true(b.cap >= 6);
  assert_memory_equal(b.data, "hello", 6);
  buf_cleanup(&b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_append_and_nul),
    cmocka_unit_test(test_limit_is_exact),
    cmocka_unit_test(test_oversized_append_leaves_buffer_intact),
    cmocka_unit_test(test_zero_limit),
    cmocka_unit_test(test_growth_keeps_bytes),
    cmocka_unit_test(test_take),
    cmocka_unit_test(test_reset_keeps_storage),
    cmocka_unit_test(test_blob_refcount),
    cmocka_unit_test(test_blob_from_buf_take),
    cmocka_unit_test(test_known_bug_size_max_limit),
  };

  return cmocka_run_group_tests(tests, NULL, NULL);
}
