/* Shared by the fuzz targets that drive lemu's real server core in-process (invoke_request,
 * runtime_api): build the server from a config file the way `lemu serve` does (server_create on
 * lemu's loop), hand the daemons connected sockets as if they had been accepted, run the loop
 * until the client side has its answer, parse HTTP/1.1 responses, and count this process's open
 * file descriptors. */
#ifndef LEMU_FUZZ_SERVER_H
#define LEMU_FUZZ_SERVER_H

#include "fuzz_common.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "lemu/buf.h"
#include "lemu/config.h"
#include "lemu/http_server.h"
#include "lemu/logs.h"
#include "lemu/loop.h"
#include "lemu/server.h"

/* Writes text as <scratch>/lemu.json and builds the server from it, as cmd_serve() does. */
static inline struct lemu_ctx *fuzz_server_create(const char *config_text)
{
  char path[512], *message = NULL;
  struct lemu_config cfg;
  struct server_opts opts = {.no_sandbox = false};
  struct lemu_ctx *ctx = NULL;
  FILE *f;

  snprintf(path, sizeof(path), "%s/lemu.json", fuzz_scratch());
  f = fopen(path, "w");
  if (!f || fputs(config_text, f) < 0 || fclose(f) != 0)
    abort();
  logs_init(false);
  if (config_load(path, &cfg, &message) != LEMU_ERR_OK) {
    fprintf(stderr, "fuzz: config: %s\n", message ? message : "?");
    abort();
  }
  if (server_create(&ctx, &cfg, &opts) != LEMU_ERR_OK || !ctx)
    abort();
  return ctx;
}

/* A connected pair: *client stays here (non-blocking), the other end goes to srv as an accepted
 * connection from 127.0.0.1. */
static inline int fuzz_connect(struct http_server *srv, void *tag)
{
  int sv[2], big = 1 << 20;
  struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(40000),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 || fcntl(sv[0], F_SETFL, O_NONBLOCK) != 0)
    abort();
  setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
  setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
  if (http_server_add_connection(srv, sv[1], (struct sockaddr *)&peer, sizeof(peer), tag) != LEMU_ERR_OK)
    abort();
  return sv[0];
}

/* ---- one client connection read through lemu's loop ---- */
struct fuzz_client {
  struct loop *loop;
  int fd;
  struct buf in;      /* bytes received */
  size_t want;        /* stop once this many complete responses are in (0: only at EOF) */
  bool eof, timed_out;
  struct loop_timer bound;
};

/* Complete responses at the start of data: returns how many, with *used the bytes they (and any
 * interim answers) span and *malformed set when what follows them cannot be (the start of) a response. The first max go to
 * out (status, x-amzn-ErrorType, whether x-amzn-RequestId is there, body). Interim 1xx answers
 * are skipped. head_request: the answers are to HEAD, so they have no body whatever their length. */
struct fuzz_resp {
  unsigned status;
  char error_type[128];
  char rt_request_id[128];  /* Lambda-Runtime-Aws-Request-Id (a /next delivery) */
  bool has_request_id;
  const char *body;
  size_t body_len;
};

static inline const char *fuzz_find(const char *s, size_t n, const char *needle)
{
  size_t k = strlen(needle), i;

  for (i = 0; i + k <= n; i++)
    if (memcmp(s + i, needle, k) == 0)
      return s + i;
  return NULL;
}

static inline size_t fuzz_parse_responses(const char *data, size_t len, bool head_request, struct fuzz_resp *out,
                                          size_t max, bool *malformed, size_t *used)
{
  size_t count = 0, pos = 0;

  *malformed = false;
  for (;;) {
    const char *p = data + pos, *end, *line;
    struct fuzz_resp r = {0};
    long long clen = -1;
    unsigned st;
    size_t head;

    *used = pos;
    if (pos >= len)
      return count;
    end = fuzz_find(p, len - pos, "\r\n\r\n");

    if (!end) {
      *malformed = len - pos >= 9 && memcmp(p, "HTTP/1.1 ", 9) != 0;
      return count;
    }
    head = (size_t)(end - p) + 4;
    if (head < 13 || memcmp(p, "HTTP/1.1 ", 9) != 0 || !isdigit((unsigned char)p[9]) ||
        !isdigit((unsigned char)p[10]) || !isdigit((unsigned char)p[11]) || p[12] != ' ') {
      *malformed = true;
      return count;
    }
    st = (unsigned)((p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0'));
    r.status = st;
    line = fuzz_find(p, head, "\r\n") + 2;
    while (line < end) {
      const char *eol = fuzz_find(line, (size_t)(end + 2 - line), "\r\n"), *colon;
      size_t nlen;
      if (!eol || !(colon = memchr(line, ':', (size_t)(eol - line)))) {
        *malformed = true;
        return count;
      }
      nlen = (size_t)(colon - line);
      colon++;
      while (colon < eol && *colon == ' ')
        colon++;
      if (nlen == 14 && !strncasecmp(line, "Content-Length", 14)) {
        char num[24];
        size_t vlen = (size_t)(eol - colon);
        if (vlen == 0 || vlen >= sizeof(num)) {
          *malformed = true;
          return count;
        }
        memcpy(num, colon, vlen);
        num[vlen] = '\0';
        clen = strtoll(num, NULL, 10);
      } else if (nlen == 16 && !strncasecmp(line, "x-amzn-ErrorType", 16)) {
        size_t vlen = (size_t)(eol - colon);
        if (vlen >= sizeof(r.error_type))
          vlen = sizeof(r.error_type) - 1;
        memcpy(r.error_type, colon, vlen);
        r.error_type[vlen] = '\0';
      } else if (nlen == 29 && !strncasecmp(line, "Lambda-Runtime-Aws-Request-Id", 29)) {
        size_t vlen = (size_t)(eol - colon);
        if (vlen >= sizeof(r.rt_request_id))
          vlen = sizeof(r.rt_request_id) - 1;
        memcpy(r.rt_request_id, colon, vlen);
        r.rt_request_id[vlen] = '\0';
      } else if (nlen == 16 && !strncasecmp(line, "x-amzn-RequestId", 16)) {
        r.has_request_id = eol > colon;
      } else if (nlen == 17 && !strncasecmp(line, "Transfer-Encoding", 17)) {
        *malformed = true; /* lemu's answers all have a known length */
        return count;
      }
      line = eol + 2;
    }
    if (st >= 100 && st < 200) {
      pos += head; /* an interim answer (100 Continue): no body, not a response of its own */
      continue;
    }
    if (head_request)
      clen = 0;
    if (clen < 0) {
      /* no length: 204 / 304 have no body; anything else would need to end at EOF */
      if (st != 204 && st != 304) {
        *malformed = true;
        return count;
      }
      clen = 0;
    }
    if ((size_t)clen > len - pos - head)
      return count; /* body not all in yet */
    r.body = p + head;
    r.body_len = (size_t)clen;
    if (count < max)
      out[count] = r;
    count++;
    pos += head + (size_t)clen;
  }
}

static inline void fuzz_client_stop(struct fuzz_client *c)
{
  if (c->fd >= 0)
    loop_unwatch(c->loop, c->fd);
  loop_timer_stop(c->loop, &c->bound);
  loop_stop(c->loop);
}

/* Append everything readable on the non-blocking fd to in. Returns whether the peer closed (EOF
 * or an error); *got counts the bytes read. */
static inline bool fuzz_read_available(int fd, struct buf *in, size_t *got)
{
  char chunk[16384];

  *got = 0;
  for (;;) {
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n > 0) {
      if (buf_append(in, chunk, (size_t)n) != LEMU_ERR_OK)
        abort();
      *got += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    return !(n < 0 && errno == EAGAIN);
  }
}

static inline void fuzz_client_on_io(int fd, uint32_t events, void *cls)
{
  struct fuzz_client *c = cls;
  size_t got;

  (void)events;
  if (fuzz_read_available(fd, &c->in, &got)) {
    c->eof = true;
    fuzz_client_stop(c);
    return;
  }
  if (c->want) {
    bool bad;
    size_t used;
    if (fuzz_parse_responses(c->in.data, c->in.len, false, NULL, 0, &bad, &used) >= c->want || bad)
      fuzz_client_stop(c);
  }
}

static inline void fuzz_client_on_timeout(void *cls)
{
  struct fuzz_client *c = cls;

  c->timed_out = true;
  fuzz_client_stop(c);
}

/* Run the loop until c has `want` responses (or EOF when want is 0), at most bound_ms. */
static inline void fuzz_client_run(struct fuzz_client *c, size_t want, unsigned bound_ms)
{
  c->want = want;
  c->eof = c->timed_out = false;
  loop_timer_init(&c->bound, fuzz_client_on_timeout, c);
  if (loop_watch(c->loop, c->fd, EPOLLIN | EPOLLRDHUP, fuzz_client_on_io, c) != LEMU_ERR_OK ||
      loop_timer_start(c->loop, &c->bound, (uint64_t)bound_ms * 1000u) != LEMU_ERR_OK)
    abort();
  loop_run(c->loop);
}

/* Write all of data to a non-blocking fd (the peer's buffer is large enough for our inputs). */
static inline void fuzz_write_all(int fd, const char *data, size_t len)
{
  while (len > 0) {
    ssize_t n = write(fd, data, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      abort();
    data += n;
    len -= (size_t)n;
  }
}

/* Pump the loop for about ms milliseconds (lets the daemons notice closed connections). */
static inline void fuzz_loop_settle(struct loop *loop, unsigned ms)
{
  struct fuzz_client idle = {.loop = loop, .fd = -1};

  loop_timer_init(&idle.bound, fuzz_client_on_timeout, &idle);
  if (loop_timer_start(loop, &idle.bound, (uint64_t)ms * 1000u) != LEMU_ERR_OK)
    abort();
  loop_run(loop);
}

/* With FUZZ_VERBOSE set (replaying a reproducer), show what went over a connection. */
static inline void fuzz_dump(const char *what, const char *data, size_t len)
{
  size_t i;

  if (!getenv("FUZZ_VERBOSE"))
    return;
  fprintf(stderr, "---- %s (%zu bytes)\n", what, len);
  for (i = 0; i < len && i < 2000; i++) {
    unsigned char ch = (unsigned char)data[i];
    if (ch == '\n' || (ch >= 32 && ch < 127))
      fputc(ch, stderr);
    else if (ch != '\r')
      fprintf(stderr, "\\x%02x", ch);
  }
  fputs("\n----\n", stderr);
}

static inline int fuzz_count_fds(void)
{
  DIR *d = opendir("/proc/self/fd");
  struct dirent *e;
  int n = 0;

  if (!d)
    return -1;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n - 1; /* the directory's own fd */
}

/* The server targets' leak check: the process holds at most slack fds more than at the first
 * count (*baseline, -1 until then); after_first names that count in the message. */
static inline void fuzz_check_fds(int *baseline, int slack, unsigned long runs, unsigned long after_first)
{
  int fds = fuzz_count_fds();

  if (*baseline < 0)
    *baseline = fds;
  if (fds > *baseline + slack)
    fprintf(stderr, "fuzz: %d open fds after %lu inputs, %d after the first %lu\n", fds, runs, *baseline,
            after_first);
  FUZZ_CHECK(fds <= *baseline + slack);
}

#endif
