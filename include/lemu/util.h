/* Small helpers every module needs: clocks, request ids, base64, string duplication, the names
 * of what a lemu leaves behind. Kept in one place so there is exactly one way to do each. */
#ifndef LEMU_UTIL_H
#define LEMU_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LEMU_UUID_LEN 36 /* "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" without the NUL */

/* Monotonic clock in microseconds (durations, deadlines inside lemu). */
uint64_t util_now_us(void);
/* Wall clock in milliseconds since the epoch (the Runtime API deadline header). */
uint64_t util_epoch_ms(void);

/* Random version-4 UUID into out[LEMU_UUID_LEN + 1]. Seeded once from getrandom(). */
void util_uuid(char out[LEMU_UUID_LEN + 1]);
/* n random lowercase hex digits into out[n + 1]. */
void util_random_hex(char *out, size_t n);

/* Base64 (standard alphabet, padded). Encode: returns a malloc'd NUL-terminated string owned by
 * the caller, or NULL on allocation failure. Decode: returns a malloc'd buffer (NUL-terminated
 * for convenience) and sets *out_len; NULL when the input is not valid base64. */
char *util_base64_encode(const void *data, size_t len);
char *util_base64_decode(const char *text, size_t len, size_t *out_len);

/* The pid written right after prefix in name and ended by end ('\0' or a separator), else 0.
 * util_pid_gone: pid's process no longer exists (and is not this one) -- what a later lemu may
 * clean up after, never a live process's. */
pid_t util_name_pid(const char *name, const char *prefix, char end);
bool util_pid_gone(pid_t pid);
/* What a lemu leaves behind is named "lemu-<pid>" (its TMPDIR base, its cgroups). The pid in such
 * a name, or 0 when name is not one; util_gone_lemu: that pid when its process is gone (and not
 * this one), else 0 -- what a later lemu may clean up, never a live process's. */
pid_t util_lemu_name_pid(const char *name);
pid_t util_gone_lemu(const char *name);

/* strdup/strndup that return NULL only on allocation failure (never crash on NULL input). */
char *util_strdup(const char *s);

/* printf into a new malloc'd string owned by the caller; NULL on failure. */
char *util_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The first failure of loading a file (config, template): "FILE: PATH: text" ("FILE: text" when
 * PATH is NULL or empty). util_located_fail() keeps only the first; message is malloc'd, owned by
 * whoever holds the struct. */
struct util_located {
  const char *file; /* shown in messages */
  char *message;
};
void util_located_fail(struct util_located *loc, const char *path, const char *fmt, ...)
  __attribute__((format(printf, 3, 4)));

#endif
