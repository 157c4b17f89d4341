/* Everything lemu writes about functions and about itself. Function log lines (handler output,
 * START/END/REPORT) go to stdout tagged "[function] " and, for an invocation that asked for
 * LogType Tail, into its tail buffer (the last 4 KB, reference §3). lemu's own diagnostics go to
 * stderr prefixed "lemu: ". stdout is block-buffered and flushed once per loop iteration, so a
 * warm invoke costs one write for all its lines. */
#ifndef LEMU_LOGS_H
#define LEMU_LOGS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#define LOGS_TAIL_BYTES 4096

/* The last LOGS_TAIL_BYTES bytes written to it (a ring); caller-embedded. */
struct logs_tail {
  char ring[LOGS_TAIL_BYTES];
  size_t total; /* bytes ever appended; ring position = total % size */
};

void logs_init(bool debug);
void logs_flush(void);

void logs_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void logs_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void logs_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void logs_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void logs_vdebug(const char *fmt, va_list ap);

/* One line of a function's log (no trailing newline in line): to stdout as "[fn] line" and,
 * when tail is not NULL, appended with its newline to tail. */
void logs_function_line(const char *fn, struct logs_tail *tail, const char *line, size_t len);

/* Platform lines, in AWS's exact format. init_ms < 0 = no Init Duration (warm). status is NULL
 * for a normal invoke, "timeout", or "error" (then error_type names it). */
void logs_start(const char *fn, struct logs_tail *tail, const char *request_id, const char *version);
void logs_end(const char *fn, struct logs_tail *tail, const char *request_id);
void logs_report(const char *fn, struct logs_tail *tail, const char *request_id, double duration_ms,
                 int memory_mb, int max_memory_mb, double init_ms, const char *status,
                 const char *error_type);

void logs_tail_init(struct logs_tail *t);
/* base64 of the tail's content, malloc'd, caller frees; NULL on failure. */
char *logs_tail_base64(const struct logs_tail *t);

#endif
