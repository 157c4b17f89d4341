/*
 * rapi.h: the small Runtime API client every C sample under hostile/ shares. The hostile samples
 * are about what a handler does wrong, not about HTTP, so the plumbing lives here once: one
 * request per connection (Connection: close), the answer read until the server closes, the
 * status, the request id header and the body handed back. Everything is `static inline` so a
 * sample that uses only part of it still compiles warning-free. Include it after defining
 * _GNU_SOURCE. Not a sample itself (no function.json here), so it is never staged.
 *
 * Safety rule for every hostile sample: each one bounds itself (time, bytes, processes), so it
 * is harmless even on a machine where lemu's limits did not work.
 */
#ifndef LEMU_HOSTILE_RAPI_H
#define LEMU_HOSTILE_RAPI_H

#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define RAPI_PREFIX "/2018-06-01"
#define RAPI_MAX_ANSWER ((size_t)16 * 1024 * 1024)

struct rapi_resp {
  int status;             /* HTTP status, 0 when the server closed without an answer */
  char request_id[128];   /* Lambda-Runtime-Aws-Request-Id, "" if absent */
  char *body;             /* NUL-terminated (malloc'd), never NULL after a call */
  size_t len;
};

static inline _Noreturn void rapi_die(const char *name, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  fprintf(stderr, "%s bootstrap: ", name);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static inline double rapi_now(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void rapi_sleep(double seconds)
{
  struct timespec ts;

  if (seconds <= 0)
    return;
  ts.tv_sec = (time_t)seconds;
  ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

/* A connected socket to AWS_LAMBDA_RUNTIME_API (always 127.0.0.1:port under lemu), -1 on error.
 * timeout_s bounds every later send/recv on it (0 = none). */
static inline int rapi_connect(double timeout_s)
{
  const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
  const char *colon = api ? strrchr(api, ':') : NULL;
  struct sockaddr_in sa;
  char host[64];
  int fd;

  if (!colon || (size_t)(colon - api) >= sizeof(host))
    return -1;
  memcpy(host, api, (size_t)(colon - api));
  host[colon - api] = '\0';
  memset(&sa, 0, sizeof(sa));
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)atoi(colon + 1));
  if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
    return -1;
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  if (timeout_s > 0) {
    struct timeval tv;
    tv.tv_sec = (time_t)timeout_s;
    tv.tv_usec = (suseconds_t)((timeout_s - (double)tv.tv_sec) * 1e6);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  }
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Send all of buf; false when the peer went away (EPIPE etc.). SIGPIPE must be ignored. */
static inline int rapi_send_all(int fd, const void *buf, size_t len)
{
  const char *p = buf;

  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return 0;
    p += n;
    len -= (size_t)n;
  }
  return 1;
}

/* Read until EOF (or the socket timeout, or RAPI_MAX_ANSWER) and parse the answer into r. */
static inline void rapi_read_answer(int fd, struct rapi_resp *r)
{
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap + 1), *head_end, *p, *line;

  memset(r, 0, sizeof(*r));
  if (!buf)
    rapi_die("rapi", "out of memory");
  for (;;) {
    ssize_t n;
    if (len == cap) {
      char *g;
      if (cap >= RAPI_MAX_ANSWER)
        break;
      cap *= 2;
      g = realloc(buf, cap + 1);
      if (!g)
        rapi_die("rapi", "out of memory");
      buf = g;
    }
    n = recv(fd, buf + len, cap - len, 0);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    len += (size_t)n;
  }
  buf[len] = '\0';
  head_end = strstr(buf, "\r\n\r\n");
  if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0 || !head_end) {
    r->body = buf;
    r->len = len;
    r->body[len] = '\0';
    r->status = 0;
    if (len >= 12 && strncmp(buf, "HTTP/1.", 7) == 0)
      r->status = atoi(buf + 9);
    return;
  }
  r->status = atoi(buf + 9);
  *head_end = '\0';
  for (line = strstr(buf, "\r\n"); line; line = strstr(line, "\r\n")) {
    line += 2;
    if (strncasecmp(line, "Lambda-Runtime-Aws-Request-Id:", 30) == 0) {
      p = line + 30;
      while (*p == ' ')
        p++;
      snprintf(r->request_id, sizeof(r->request_id), "%.*s", (int)strcspn(p, "\r\n"), p);
    }
  }
  p = head_end + 4;
  r->len = len - (size_t)(p - buf);
  r->body = malloc(r->len + 1);
  if (!r->body)
    rapi_die("rapi", "out of memory");
  memcpy(r->body, p, r->len);
  r->body[r->len] = '\0';
  free(buf);
}

/* One request on a fresh connection. extra: additional header lines, each ending in \r\n, or
 * NULL. Returns r->status (0 = no answer). */
static inline int rapi_request(const char *method, const char *path, const char *body, size_t len,
                               const char *extra, struct rapi_resp *r)
{
  char head[1024];
  int fd = rapi_connect(0), n;

  memset(r, 0, sizeof(*r));
  if (fd < 0) {
    r->body = calloc(1, 1);
    return 0;
  }
  n = snprintf(head, sizeof(head),
               "%s " RAPI_PREFIX "%s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
               "Content-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n",
               method, path, getenv("AWS_LAMBDA_RUNTIME_API"), len, extra ? extra : "");
  if (n < 0 || (size_t)n >= sizeof(head) || !rapi_send_all(fd, head, (size_t)n) ||
      (len && !rapi_send_all(fd, body, len))) {
    close(fd);
    r->body = calloc(1, 1);
    return 0;
  }
  rapi_read_answer(fd, r);
  close(fd);
  return r->status;
}

static inline void rapi_free(struct rapi_resp *r)
{
  free(r->body);
  r->body = NULL;
}

/* GET /next; dies (exit 1) unless the answer is a 200 with a request id. */
static inline void rapi_next(const char *name, struct rapi_resp *r)
{
  if (rapi_request("GET", "/runtime/invocation/next", NULL, 0, NULL, r) != 200 || !r->request_id[0])
    rapi_die(name, "GET /next answered %d: %s", r->status, r->body ? r->body : "");
}

/* POST /response with body; returns the status. */
static inline int rapi_respond(const char *id, const char *body)
{
  char path[256];
  struct rapi_resp r;
  int status;

  snprintf(path, sizeof(path), "/runtime/invocation/%s/response", id);
  status = rapi_request("POST", path, body, strlen(body), NULL, &r);
  rapi_free(&r);
  return status;
}

/* ---- tiny JSON helpers: events are written by the tests, so a key lookup is enough ---- */

/* The number after "key": in json, or dflt. */
static inline double rapi_json_num(const char *json, const char *key, double dflt)
{
  char pat[128];
  const char *p;

  snprintf(pat, sizeof(pat), "\"%s\"", key);
  p = json ? strstr(json, pat) : NULL;
  if (!p)
    return dflt;
  p += strlen(pat);
  while (*p == ' ' || *p == ':')
    p++;
  if (!(*p == '-' || (*p >= '0' && *p <= '9')))
    return dflt;
  return strtod(p, NULL);
}

/* The string value of "key" (no escapes inside) copied into out, or dflt. */
static inline const char *rapi_json_str(const char *json, const char *key, char *out, size_t n,
                                        const char *dflt)
{
  char pat[128];
  const char *p, *end;

  snprintf(pat, sizeof(pat), "\"%s\"", key);
  p = json ? strstr(json, pat) : NULL;
  if (!p)
    return dflt;
  p += strlen(pat);
  while (*p == ' ' || *p == ':')
    p++;
  if (*p != '"')
    return dflt;
  end = strchr(++p, '"');
  if (!end || (size_t)(end - p) >= n)
    return dflt;
  memcpy(out, p, (size_t)(end - p));
  out[end - p] = '\0';
  return out;
}

/* Append s to a growing string (*buf, *len, *cap), JSON-escaped when escape is true. */
static inline void rapi_append(char **buf, size_t *len, size_t *cap, const char *s, int escape)
{
  for (; *s; s++) {
    char tmp[8];
    const char *piece = tmp;
    unsigned char c = (unsigned char)*s;
    size_t k;
    if (!escape) {
      tmp[0] = (char)c;
      tmp[1] = '\0';
    } else if (c == '"' || c == '\\') {
      tmp[0] = '\\';
      tmp[1] = (char)c;
      tmp[2] = '\0';
    } else if (c < 0x20 || c >= 0x7f) {
      snprintf(tmp, sizeof(tmp), "\\u%04x", c);
    } else {
      tmp[0] = (char)c;
      tmp[1] = '\0';
    }
    k = strlen(piece);
    if (*len + k + 1 > *cap) {
      size_t ncap = (*cap ? *cap * 2 : 256) + k;
      char *g = realloc(*buf, ncap);
      if (!g)
        rapi_die("rapi", "out of memory");
      *buf = g;
      *cap = ncap;
    }
    memcpy(*buf + *len, piece, k);
    *len += k;
    (*buf)[*len] = '\0';
  }
}

static inline void rapi_appendf(char **buf, size_t *len, size_t *cap, const char *fmt, ...)
{
  char tmp[4096];
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(tmp, sizeof(tmp), fmt, ap);
  va_end(ap);
  rapi_append(buf, len, cap, tmp, 0);
}

#endif
