/* Helpers shared by the libFuzzer targets: NUL-terminated copies of the input, a private scratch
 * directory (removed at exit) for targets that need files, and FUZZ_CHECK, which turns a broken
 * invariant into an abort() so libFuzzer saves the input as a crash like any sanitizer report. */
#ifndef LEMU_FUZZ_COMMON_H
#define LEMU_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lemu/code_package.h"
#include "lemu/util.h"

#define FUZZ_CHECK(cond)                                                                      \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, __LINE__, #cond);            \
      abort();                                                                                \
    }                                                                                         \
  } while (0)

/* data[0..size) as a malloc'd C string (stops at the first NUL, as a C caller would see it). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
  char *s = malloc(size + 1);

  if (!s)
    abort();
  memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

static char fuzz_scratch_dir[256];

static void fuzz_scratch_remove(void)
{
  if (fuzz_scratch_dir[0])
    code_package_remove_tree(fuzz_scratch_dir);
}

/* A private directory for this process (tmpfs when /dev/shm is there: extraction targets write
 * files on every input). Created on first use, removed at exit. */
static inline const char *fuzz_scratch(void)
{
  if (!fuzz_scratch_dir[0]) {
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    snprintf(fuzz_scratch_dir, sizeof(fuzz_scratch_dir), "%s/lemu-fuzz-XXXXXX", base);
    if (!mkdtemp(fuzz_scratch_dir))
      abort();
    atexit(fuzz_scratch_remove);
  }
  return fuzz_scratch_dir;
}

#endif
