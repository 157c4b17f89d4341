/* Function and diagnostic logging (see include/lemu/logs.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lemu/logs.h"
#include "lemu/util.h"

#define LOGS_STDOUT_BUFFER (64 * 1024)
#define LOGS_LINE_MAX 512

static bool logs_debug_on;
static char stdout_buffer[LOGS_STDOUT_BUFFER];

void logs_init(bool debug)
{
  logs_debug_on = debug;
  setvbuf(stdout, stdout_buffer, _IOFBF, sizeof(stdout_buffer));
}

void logs_flush(void)
{
  fflush(stdout);
}

static void logs_vprint(const char *level, const char *fmt, va_list ap)
{
  /* One fprintf per line so concurrent writers (none today) cannot interleave within it. */
  char msg[2048];

  vsnprintf(msg, sizeof(msg), fmt, ap);
  fprintf(stderr, "lemu: %s%s\n", level, msg);
}

#define LOGS_DEFINE(name, level, guard)                                                          \
  void name(const char *fmt, ...)                                                                \
  {                                                                                              \
    va_list ap;                                                                                  \
    if (!(guard))                                                                                \
      return;                                                                                    \
    va_start(ap, fmt);                                                                           \
    logs_vprint(level, fmt, ap);                                                                 \
    va_end(ap);                                                                                  \
  }
LOGS_DEFINE(logs_error, "error: ", true)
LOGS_DEFINE(logs_warn, "warning: ", true)
LOGS_DEFINE(logs_info, "", true)
LOGS_DEFINE(logs_debug, "debug: ", logs_debug_on)

void logs_vdebug(const char *fmt, va_list ap)
{
  if (logs_debug_on)
    logs_vprint("debug: ", fmt, ap);
}

void logs_tail_init(struct logs_tail *t)
{
  t->total = 0;
}

static void tail_append(struct logs_tail *t, const char *p, size_t n)
{
  if (n >= LOGS_TAIL_BYTES) {
    p += n - LOGS_TAIL_BYTES;
    t->total += n - LOGS_TAIL_BYTES;
    n = LOGS_TAIL_BYTES;
  }
  while (n > 0) {
    size_t pos = t->total % LOGS_TAIL_BYTES;
    size_t chunk = LOGS_TAIL_BYTES - pos < n ? LOGS_TAIL_BYTES - pos : n;
    memcpy(t->ring + pos, p, chunk);
    t->total += chunk;
    p += chunk;
    n -= chunk;
  }
}

char *logs_tail_base64(const struct logs_tail *t)
{
  char flat[LOGS_TAIL_BYTES];
  size_t n = t->total < LOGS_TAIL_BYTES ? t->total : LOGS_TAIL_BYTES;
  size_t start = t->total < LOGS_TAIL_BYTES ? 0 : t->total % LOGS_TAIL_BYTES;

  if (start == 0) {
    memcpy(flat, t->ring, n);
  } else { /* the ring wrapped: oldest byte is at start */
    memcpy(flat, t->ring + start, LOGS_TAIL_BYTES - start);
    memcpy(flat + (LOGS_TAIL_BYTES - start), t->ring, start);
  }
  return util_base64_encode(flat, n);
}

void logs_function_line(const char *fn, struct logs_tail *tail, const char *line, size_t len)
{
  /* Several lines per warm invoke: plain copies into stdout's buffer instead of a format string
   * (stdout is only written from the loop's thread). Up to a NUL, as "%.*s" printed it. */
  fputc_unlocked('[', stdout);
  fputs_unlocked(fn, stdout);
  fputs_unlocked("] ", stdout);
  fwrite_unlocked(line, 1, strnlen(line, len), stdout);
  fputc_unlocked('\n', stdout);
  if (tail) {
    tail_append(tail, line, len);
    tail_append(tail, "\n", 1);
  }
}

static void logs_platform(const char *fn, struct logs_tail *tail, const char *line, int len)
{
  if (len < 0)
    return;
  if (len >= LOGS_LINE_MAX)
    len = LOGS_LINE_MAX - 1;
  logs_function_line(fn, tail, line, (size_t)len);
}

void logs_start(const char *fn, struct logs_tail *tail, const char *request_id, const char *version)
{
  char line[LOGS_LINE_MAX];

  logs_platform(fn, tail, line, snprintf(line, sizeof(line), "START RequestId: %s Version: %s",
                                         request_id, version));
}

void logs_end(const char *fn, struct logs_tail *tail, const char *request_id)
{
  char line[LOGS_LINE_MAX];

  logs_platform(fn, tail, line, snprintf(line, sizeof(line), "END RequestId: %s", request_id));
}

void logs_report(const char *fn, struct logs_tail *tail, const char *request_id, double duration_ms,
                 int memory_mb, int max_memory_mb, double init_ms, const char *status,
                 const char *error_type)
{
  char line[LOGS_LINE_MAX];
  int n;

  n = snprintf(line, sizeof(line),
               "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %.0f ms\t"
               "Memory Size: %d MB\tMax Memory Used: %d MB\t",
               request_id, duration_ms, ceil(duration_ms), memory_mb, max_memory_mb);
  if (init_ms >= 0 && n > 0 && (size_t)n < sizeof(line))
    n += snprintf(line + n, sizeof(line) - (size_t)n, "Init Duration: %.2f ms\t", init_ms);
  if (status && n > 0 && (size_t)n < sizeof(line))
    n += snprintf(line + n, sizeof(line) - (size_t)n, "Status: %s\t", status);
  if (error_type && n > 0 && (size_t)n < sizeof(line))
    n += snprintf(line + n, sizeof(line) - (size_t)n, "Error Type: %s\t", error_type);
  logs_platform(fn, tail, line, n);
}
