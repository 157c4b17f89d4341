/*
 * hostile-garbage: after taking an invocation it opens extra connections to its Runtime API and
 * sends junk on each: NULs, bytes that are not HTTP, a bad HTTP version, a /response for its own
 * request id with a negative Content-Length, one with a broken chunked body, a request cut off in
 * the middle, 64 KB of random bytes, a 100 KB request line, a 200 KB header. After the junk it
 * half-closes the connection and records the status lemu answered (0 = closed without an answer,
 * -1 = neither answered nor closed within the wait, -3 = bytes that are not HTTP); "still_open"
 * counts the -1 connections that are still open one second after the last piece. Then:
 *   {"then": "answer"} (default) answers normally with {"junk": [{"name": ..., "status": N}, ...]}
 *   {"then": "exit"}   exits with status 3 without answering (Runtime.ExitError).
 * {"light": true} sends only the four small pieces lemu answers with an HTTP error (not_http,
 * bad_version, negative_content_length, bad_chunk), for long loops.
 * {"only": "<name>", "repeat": N} sends just that piece, N times (at most 500).
 * {"wait": S} waits S seconds (0.05 to 2, default 1) for each answer instead of 1 s.
 * {"pause": S} waits S seconds (at most 1) between connecting and sending, so lemu has accepted
 * the connection first; {"cork": true} sends the junk and the FIN in one TCP segment.
 * Junk is never a valid answer, so the real /response must still be accepted with 202.
 */
#define _GNU_SOURCE
#include <netinet/tcp.h>

#include "../rapi.h"

#define NAME "hostile-garbage"
#define ANSWER_WAIT_S 1.0
#define MAX_REPEAT 500

static double answer_wait_s = ANSWER_WAIT_S;
static double pause_s;    /* wait between connecting and sending */
static int cork;          /* send the junk and the FIN in one segment (TCP_CORK) */

/* Connections that gave no answer and were not closed within the wait: looked at once more
 * after the last piece (a slow close is not a connection left open). */
static int unanswered[MAX_REPEAT * 16];
static int n_unanswered;

/* Send data on a fresh connection, half-close, and return the status of the answer. A
 * connection that neither answers nor closes in time is kept in unanswered[] and -1 returned. */
static int junk(const char *data, size_t len)
{
  struct rapi_resp r;
  int fd = rapi_connect(answer_wait_s), status;

  if (fd < 0)
    return -2;
  rapi_sleep(pause_s);
  if (cork) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one));
  }
  rapi_send_all(fd, data, len);
  shutdown(fd, SHUT_WR);
  errno = 0;
  rapi_read_answer(fd, &r);
  status = r.status;
  if (status == 0 && r.len == 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
    status = -1;
  if (status == 0 && r.len > 0)
    status = -3; /* bytes that are not an HTTP answer */
  rapi_free(&r);
  if (status == -1 && n_unanswered < (int)(sizeof(unanswered) / sizeof(unanswered[0])))
    unanswered[n_unanswered++] = fd;
  else
    close(fd);
  return status;
}

/* After a grace second: how many of the unanswered connections are still open (no answer, no
 * EOF). Closes them all. */
static int still_open(void)
{
  int i, n = 0;

  if (n_unanswered)
    rapi_sleep(1.0);
  for (i = 0; i < n_unanswered; i++) {
    char b[256];
    ssize_t r = recv(unanswered[i], b, sizeof(b), MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      n++;
    close(unanswered[i]);
  }
  n_unanswered = 0;
  return n;
}

static char *repeat_char(const char *head, char c, size_t n, const char *tail, size_t *len)
{
  size_t h = strlen(head), t = strlen(tail);
  char *s = malloc(h + n + t + 1);

  if (!s)
    rapi_die(NAME, "out of memory");
  memcpy(s, head, h);
  memset(s + h, c, n);
  memcpy(s + h + n, tail, t + 1);
  *len = h + n + t;
  return s;
}

struct piece {
  const char *name;
  int light;      /* one of the small pieces lemu answers with an HTTP error */
  char *data;
  size_t len;
};

static void add(struct piece *p, size_t *n, const char *name, int light, char *data, size_t len)
{
  p[*n].name = name;
  p[*n].light = light;
  p[*n].data = data;
  p[*n].len = len;
  (*n)++;
}

static char *copy(const char *s, size_t len)
{
  char *d = malloc(len + 1);

  if (!d)
    rapi_die(NAME, "out of memory");
  memcpy(d, s, len);
  d[len] = '\0';
  return d;
}

static char *format(size_t *len, const char *fmt, const char *id)
{
  char buf[512];
  int n = snprintf(buf, sizeof(buf), fmt, id);

  *len = (size_t)n;
  return copy(buf, (size_t)n);
}

int main(void)
{
  signal(SIGPIPE, SIG_IGN);
  srand(12345);
  for (;;) {
    static char random_bytes[65536];
    struct piece pieces[16];
    struct rapi_resp ev;
    char then_buf[16], only_buf[64], *out = NULL, *data;
    const char *then, *only;
    size_t len = 0, cap = 0, n = 0, i, dlen;
    int light, first = 1, repeat, r;

    rapi_next(NAME, &ev);
    then = rapi_json_str(ev.body, "then", then_buf, sizeof(then_buf), "answer");
    only = rapi_json_str(ev.body, "only", only_buf, sizeof(only_buf), NULL);
    repeat = (int)rapi_json_num(ev.body, "repeat", 1);
    answer_wait_s = rapi_json_num(ev.body, "wait", ANSWER_WAIT_S);
    if (answer_wait_s < 0.05)
      answer_wait_s = 0.05;
    if (answer_wait_s > 2)
      answer_wait_s = 2;
    pause_s = rapi_json_num(ev.body, "pause", 0);
    if (pause_s < 0 || pause_s > 1)
      pause_s = 0;
    cork = strstr(ev.body, "\"cork\": true") || strstr(ev.body, "\"cork\":true");
    if (repeat < 1)
      repeat = 1;
    if (repeat > MAX_REPEAT)
      repeat = MAX_REPEAT;
    light = strstr(ev.body, "\"light\": true") || strstr(ev.body, "\"light\":true");
    for (i = 0; i < sizeof(random_bytes); i++)
      random_bytes[i] = (char)(rand() & 0xff);

    add(pieces, &n, "nul_bytes", 0, copy("\0\0\0\0\r\n\r\n", 8), 8);
    data = copy("\x01\x02 hello lemu \xff\xfe\r\n\r\n", 20);
    add(pieces, &n, "not_http", 1, data, 20);
    data = format(&dlen, "GET " RAPI_PREFIX "/runtime/invocation/next HTTP/9.9\r\n\r\n%s", "");
    add(pieces, &n, "bad_version", 1, data, dlen);
    data = format(&dlen, "POST " RAPI_PREFIX "/runtime/invocation/%s/response HTTP/1.1\r\n"
                         "Host: x\r\nContent-Length: -5\r\n\r\n{\"evil\": 1}", ev.request_id);
    add(pieces, &n, "negative_content_length", 1, data, dlen);
    data = format(&dlen, "POST " RAPI_PREFIX "/runtime/invocation/%s/response HTTP/1.1\r\n"
                         "Host: x\r\nTransfer-Encoding: chunked\r\n\r\nZZZ\r\n{\"evil\": 2}\r\n0\r\n\r\n",
                  ev.request_id);
    add(pieces, &n, "bad_chunk", 1, data, dlen);
    data = format(&dlen, "POST " RAPI_PREFIX "/runtime/invocation/%s/resp", ev.request_id);
    add(pieces, &n, "cut_off", 0, data, dlen);
    add(pieces, &n, "random_64k", 0, copy(random_bytes, sizeof(random_bytes)), sizeof(random_bytes));
    data = repeat_char("GET /", 'a', 100000, " HTTP/1.1\r\nHost: x\r\n\r\n", &dlen);
    add(pieces, &n, "request_line_100k", 0, data, dlen);
    data = repeat_char("GET " RAPI_PREFIX "/runtime/invocation/next HTTP/1.1\r\nHost: x\r\nX-Junk: ", 'b',
                       200000, "\r\n\r\n", &dlen);
    add(pieces, &n, "header_200k", 0, data, dlen);

    rapi_append(&out, &len, &cap, "{\"junk\": [", 0);
    for (i = 0; i < n; i++) {
      if (only ? strcmp(only, pieces[i].name) != 0 : (light && !pieces[i].light))
        continue;
      for (r = 0; r < (only ? repeat : 1); r++) {
        rapi_appendf(&out, &len, &cap, "%s{\"name\": \"%s\", \"status\": %d}", first ? "" : ", ",
                     pieces[i].name, junk(pieces[i].data, pieces[i].len));
        first = 0;
      }
    }
    for (i = 0; i < n; i++)
      free(pieces[i].data);
    rapi_appendf(&out, &len, &cap, "], \"still_open\": %d}", still_open());
    if (!only) {
      printf("junk statuses: %s\n", out);
      fflush(stdout);
    }
    if (!strcmp(then, "exit"))
      exit(3);
    if (rapi_respond(ev.request_id, out) != 202)
      rapi_die(NAME, "the real /response was refused");
    free(out);
    rapi_free(&ev);
  }
}
