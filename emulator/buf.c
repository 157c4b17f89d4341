/* Bounded growable buffers and reference-counted blobs (see include/lemu/buf.h). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lemu/buf.h"

#define BUF_MIN_CAP 256

void buf_init(struct buf *b, size_t limit)
{
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  /* No object can exceed PTRDIFF_MAX bytes, so a larger limit (SIZE_MAX as "no limit") means
   * the same thing; clamping it keeps limit + 1 and len + n + 1 from wrapping. */
  b->limit = limit > (size_t)PTRDIFF_MAX ? (size_t)PTRDIFF_MAX : limit;
}

lemu_err_t buf_reserve(struct buf *b, size_t n)
{
  size_t want, cap;
  char *p;

  if (n > b->limit || b->len > b->limit - n)
    return LEMU_ERR_TOOBIG;
  want = b->len + n + 1; /* room for a NUL so text users can terminate */
  if (want <= b->cap)
    return LEMU_ERR_OK;
  /* limit <= PTRDIFF_MAX (buf_init), so want, limit + 1 and the doubling below cannot wrap */
  cap = b->cap ? b->cap : BUF_MIN_CAP;
  while (cap < want)
    cap *= 2;
  if (cap > b->limit + 1)
    cap = b->limit + 1;
  p = realloc(b->data, cap);
  if (!p)
    return LEMU_ERR_NOMEM;
  b->data = p;
  b->cap = cap;
  return LEMU_ERR_OK;
}

lemu_err_t buf_append(struct buf *b, const void *p, size_t n)
{
  lemu_err_t rc;

  if (n == 0)
    return LEMU_ERR_OK;
  rc = buf_reserve(b, n);
  if (rc)
    return rc;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return LEMU_ERR_OK;
}

lemu_err_t buf_append_str(struct buf *b, const char *s)
{
  return buf_append(b, s, strlen(s));
}

char *buf_take(struct buf *b, size_t *len)
{
  char *p = b->data;

  if (len)
    *len = b->len;
  if (!p)
    p = calloc(1, 1);
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}

void buf_reset(struct buf *b)
{
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
}

void buf_cleanup(struct buf *b)
{
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

struct blob *blob_new_take(char *data, size_t len)
{
  struct blob *b = malloc(sizeof(*b));

  if (!b) {
    free(data);
    return NULL;
  }
  b->refs = 1;
  b->len = len;
  b->data = data;
  return b;
}

struct blob *blob_ref(struct blob *b)
{
  b->refs++;
  return b;
}

void blob_unref(struct blob *b)
{
  if (!b || --b->refs > 0)
    return;
  free(b->data);
  free(b);
}
