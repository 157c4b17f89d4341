/*
 * hostile-stdoutflood: writes {"mb": N} MB to stdout as fast as the pipe takes it, then answers
 * {"written": bytes, "seconds": t}. {"line": L} sets the line length (L bytes of 'x' plus a
 * newline; default 1023); {"line": 0} writes one endless line without any newline, which lemu
 * must cut into pieces instead of buffering it. Bounded: at most 1024 MB, and it stops writing
 * after 50 s.
 */
#define _GNU_SOURCE
#include "../rapi.h"

#define NAME "hostile-stdoutflood"
#define CAP_MB 1024
#define CHUNK (64 * 1024)
#define MAX_WRITE_S 50.0

int main(void)
{
  static char chunk[CHUNK];

  signal(SIGPIPE, SIG_IGN);
  for (;;) {
    struct rapi_resp ev;
    long long total, written = 0;
    double start, mb;
    int line;
    char answer[128];
    size_t i;

    rapi_next(NAME, &ev);
    mb = rapi_json_num(ev.body, "mb", 1);
    line = (int)rapi_json_num(ev.body, "line", 1023);
    if (mb > CAP_MB)
      mb = CAP_MB;
    if (mb < 0)
      mb = 0;
    total = (long long)(mb * 1024 * 1024);
    /* A chunk of lines of `line` bytes; line 0 = no newline at all. */
    for (i = 0; i < CHUNK; i++)
      chunk[i] = (line > 0 && i % (size_t)(line + 1) == (size_t)line) ? '\n' : 'x';
    start = rapi_now();
    while (written < total && rapi_now() - start < MAX_WRITE_S) {
      size_t n = total - written < CHUNK ? (size_t)(total - written) : CHUNK;
      ssize_t w = write(STDOUT_FILENO, chunk, n);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        break;
      written += w;
    }
    if (line > 0 && written > 0 && chunk[(written - 1) % CHUNK] != '\n' && write(STDOUT_FILENO, "\n", 1) == 1)
      written++;
    snprintf(answer, sizeof(answer), "{\"written\": %lld, \"seconds\": %.3f}", written, rapi_now() - start);
    rapi_respond(ev.request_id, answer);
    rapi_free(&ev);
  }
}
