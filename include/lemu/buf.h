/* Growable byte buffers with a hard limit fixed at init (curl's dynbuf idea), and a small
 * reference-counted blob for payloads that several owners share (an invocation and the HTTP
 * response that carries it to the runtime) so a payload is never copied. */
#ifndef LEMU_BUF_H
#define LEMU_BUF_H

#include <stddef.h>
#include "lemu/err.h"

struct buf {
  char *data;   /* owned; NUL-terminated when len > 0 is not guaranteed: use len */
  size_t len;
  size_t cap;
  size_t limit; /* appending past this fails with LEMU_ERR_TOOBIG; the buffer stays intact */
};

void buf_init(struct buf *b, size_t limit);
/* Append n bytes. LEMU_ERR_TOOBIG past the limit (nothing appended), LEMU_ERR_NOMEM. */
lemu_err_t buf_append(struct buf *b, const void *p, size_t n);
lemu_err_t buf_append_str(struct buf *b, const char *s);
/* Ensure room for n more bytes without appending. */
lemu_err_t buf_reserve(struct buf *b, size_t n);
/* Hand the bytes to the caller (who frees them with free()) and reset the buffer. */
char *buf_take(struct buf *b, size_t *len);
void buf_reset(struct buf *b);
void buf_cleanup(struct buf *b);

/* Immutable bytes with a reference count. blob_new_take() takes ownership of data (malloc'd),
 * frees it on failure too. The last blob_unref() frees everything. */
struct blob {
  int refs;
  size_t len;
  char *data;
};
struct blob *blob_new_take(char *data, size_t len);
struct blob *blob_ref(struct blob *b);
void blob_unref(struct blob *b);

#endif
