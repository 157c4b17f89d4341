/*
 * echo: a custom-runtime bootstrap (provided.al2023) that returns every event unchanged.
 * It is also a complete Lambda Runtime API client in one dependency-free file: POSIX sockets,
 * one keep-alive HTTP/1.1 connection, Content-Length bodies of any bytes (NULs included).
 * Read it top to bottom: helpers, the connection, one HTTP exchange, then the loop in main().
 */
#define _XOPEN_SOURCE 700 /* POSIX.1-2008 with putenv() */

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* Every Runtime API path starts with the API version. */
#define API_PREFIX "/2018-06-01"

/* Headers of a /next response that a runtime reads (lambda-reference.md §4). */
#define HDR_REQUEST_ID "Lambda-Runtime-Aws-Request-Id"
#define HDR_TRACE_ID "Lambda-Runtime-Trace-Id"
#define TRACE_ENV_NAME "_X_AMZN_TRACE_ID" /* where a custom runtime puts the trace header */

/* Limits: the status line plus all headers, the longest body we accept (events are at most
 * 6 MiB; anything far larger means a confused server), and a sane request id length. */
#define MAX_HEAD_BYTES (32 * 1024)
#define MAX_BODY_BYTES ((size_t)32 * 1024 * 1024)
#define MAX_REQUEST_ID_BYTES 128

/* Results up to this size are posted together with the next GET /next (see main()). */
#define PIPELINE_MAX_BODY ((size_t)1024 * 1024)

/* ---- errors: any surprise ends the process with a message, and Lambda reports the exit ---- */

static _Noreturn void fatal(const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  fputs("echo bootstrap: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(1);
}

static void *xmalloc(size_t n)
{
  void *p = malloc(n ? n : 1);

  if (p == NULL)
    fatal("out of memory (%zu bytes)", n);
  return p;
}

/* ---- the connection: one socket plus the bytes read from it but not yet consumed ---- */

struct conn {
  const char *api;         /* "host:port" from AWS_LAMBDA_RUNTIME_API, also the Host header */
  char host[256];          /* api split for getaddrinfo(); brackets of [v6] removed */
  char port[16];           /* the part after the last ':' */
  int fd;                  /* -1 while not connected */
  char in[MAX_HEAD_BYTES]; /* receive buffer: response head, maybe the start of its body */
  size_t in_len;
};

static void conn_init(struct conn *c, const char *api)
{
  const char *colon = strrchr(api, ':');
  const char *host = api;
  size_t host_len;

  if (colon == NULL || colon[1] == '\0')
    fatal("AWS_LAMBDA_RUNTIME_API='%s' is not host:port", api);
  host_len = (size_t)(colon - api);
  if (host_len >= 2 && host[0] == '[' && host[host_len - 1] == ']') {
    host++;
    host_len -= 2;
  }
  if (host_len == 0 || host_len >= sizeof(c->host) || strlen(colon + 1) >= sizeof(c->port))
    fatal("AWS_LAMBDA_RUNTIME_API='%s' is not host:port", api);
  memcpy(c->host, host, host_len);
  c->host[host_len] = '\0';
  memcpy(c->port, colon + 1, strlen(colon + 1) + 1); /* lengths checked above */
  c->api = api;
  c->fd = -1;
  c->in_len = 0;
}

static void conn_close(struct conn *c)
{
  if (c->fd >= 0)
    close(c->fd);
  c->fd = -1;
  c->in_len = 0;
}

/* Connects to the first address of the Runtime API that accepts; dies if none does. */
static void conn_open(struct conn *c)
{
  struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
  struct addrinfo *list, *ai;
  int rc, err = 0, one = 1;

  rc = getaddrinfo(c->host, c->port, &hints, &list);
  if (rc != 0)
    fatal("cannot resolve %s: %s", c->api, gai_strerror(rc));
  for (ai = list; ai != NULL;) {
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);

    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      c->fd = fd;
      break;
    }
    err = errno;
    if (fd >= 0)
      close(fd);
    /* A connect() interrupted by a signal carries on in the background and cannot simply
     * be called again; on loopback it is cheapest to start over with a new socket. */
    if (err != EINTR)
      ai = ai->ai_next;
  }
  freeaddrinfo(list);
  if (c->fd < 0)
    fatal("cannot connect to %s: %s", c->api, strerror(err));

  /* We send a request as two writes (head, then body). Without TCP_NODELAY, Nagle's
   * algorithm holds the second write until the first is acknowledged, and a delayed ACK
   * turns that into ~40 ms per invoke. */
  (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  c->in_len = 0;
}

/* ---- socket I/O: loop over partial transfers, retry on EINTR ---- */

/* Outcome of sending a request or reading its response. */
enum io_result {
  IO_OK,
  IO_PEER_CLOSED, /* the server closed the connection (EOF, EPIPE, ECONNRESET) */
};

static enum io_result send_all(struct conn *c, const void *data, size_t len)
{
  const char *p = data;

  while (len > 0) {
    /* MSG_NOSIGNAL: a closed peer gives EPIPE here instead of killing us with SIGPIPE. */
    ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);

    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
      return IO_PEER_CLOSED;
    if (n < 0)
      fatal("send to %s: %s", c->api, strerror(errno));
    p += n;
    len -= (size_t)n;
  }
  return IO_OK;
}

/* Reads at most cap bytes into dst; returns how many, 0 meaning the server closed. */
static size_t recv_some(struct conn *c, void *dst, size_t cap)
{
  for (;;) {
    ssize_t n = recv(c->fd, dst, cap, 0);

    if (n >= 0)
      return (size_t)n;
    if (errno == ECONNRESET)
      return 0;
    if (errno != EINTR)
      fatal("recv from %s: %s", c->api, strerror(errno));
  }
}

/* ---- HTTP/1.1 responses ---- */

struct response {
  int status;
  int must_close;                /* "Connection: close" or HTTP/1.0: socket ends after it */
  char head[MAX_HEAD_BYTES + 1]; /* status line and headers, CRLF-separated, NUL-terminated */
  char *body;                    /* malloc'd, body_len bytes (+ a NUL, for printing) */
  size_t body_len;
};

/* Finds header `name` (case-insensitive, as HTTP requires) in r->head. Returns a pointer to
 * its value with surrounding blanks trimmed, and the value's length in *len; NULL if absent. */
static const char *header_find(const struct response *r, const char *name, size_t *len)
{
  size_t name_len = strlen(name);
  const char *line = strstr(r->head, "\r\n"); /* skip the status line */

  while (line != NULL && line[2] != '\0') {
    const char *start = line + 2;
    const char *end = strstr(start, "\r\n");

    if (end == NULL)
      end = start + strlen(start);
    if ((size_t)(end - start) > name_len && start[name_len] == ':' &&
        strncasecmp(start, name, name_len) == 0) {
      const char *v = start + name_len + 1;

      while (v < end && (*v == ' ' || *v == '\t'))
        v++;
      while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
      *len = (size_t)(end - v);
      return v;
    }
    line = *end ? end : NULL;
  }
  return NULL;
}

/* True if header `name` is present and its value contains `token` (case-insensitive). */
static int header_has_token(const struct response *r, const char *name, const char *token)
{
  size_t len, tlen = strlen(token);
  const char *v = header_find(r, name, &len);

  for (size_t i = 0; v != NULL && i + tlen <= len; i++)
    if (strncasecmp(v + i, token, tlen) == 0)
      return 1;
  return 0;
}

/* Parses Content-Length; a response without one cannot be framed on a keep-alive socket. */
static size_t content_length(const struct conn *c, const struct response *r)
{
  size_t len, n = 0;
  const char *v;

  if (header_find(r, "Transfer-Encoding", &len) != NULL)
    fatal("%s sent Transfer-Encoding; this client expects Content-Length", c->api);
  v = header_find(r, "Content-Length", &len);
  if (v == NULL) {
    if (r->status == 204 || r->status == 304)
      return 0;
    fatal("%s sent a %d response without Content-Length", c->api, r->status);
  }
  if (len == 0)
    fatal("%s sent an empty Content-Length", c->api);
  for (size_t i = 0; i < len; i++) {
    if (v[i] < '0' || v[i] > '9')
      fatal("%s sent a bad Content-Length: '%.*s'", c->api, (int)len, v);
    n = n * 10 + (size_t)(v[i] - '0');
    if (n > MAX_BODY_BYTES)
      fatal("%s sent a body longer than %zu bytes", c->api, MAX_BODY_BYTES);
  }
  return n;
}

/* Parses "HTTP/1.1 200 OK": the version, a space, three digits, then a space or the line's end.
 * Returns 0 and the status code in *status, or -1 if the line is not a status line. */
static int parse_status_line(const char *line, int *status)
{
  const char *code = line + 9;

  if (strncmp(line, "HTTP/1.", 7) != 0 || (line[7] != '0' && line[7] != '1') || line[8] != ' ')
    return -1;
  for (int i = 0; i < 3; i++)
    if (!isdigit((unsigned char)code[i]))
      return -1;
  if (code[3] != ' ' && code[3] != '\r')
    return -1;
  *status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
  return 0;
}

/* Reads one response head into r->head. Returns IO_PEER_CLOSED if the server closed the
 * socket before sending a single byte (the caller may reconnect); dies on anything else. */
static enum io_result read_head(struct conn *c, struct response *r)
{
  char *end;
  size_t head_len;

  /* Receive until the blank line that ends the head. memmem() is not POSIX, so look for
   * it by hand, scanning only bytes we have not scanned before. */
  for (size_t scanned = 0;;) {
    end = NULL;
    for (size_t i = scanned; i + 4 <= c->in_len && end == NULL; i++)
      if (memcmp(c->in + i, "\r\n\r\n", 4) == 0)
        end = c->in + i + 4;
    if (end != NULL)
      break;
    scanned = c->in_len >= 3 ? c->in_len - 3 : 0;
    if (c->in_len == sizeof(c->in))
      fatal("%s sent a response head over %d bytes", c->api, MAX_HEAD_BYTES);
    size_t n = recv_some(c, c->in + c->in_len, sizeof(c->in) - c->in_len);
    if (n == 0) {
      if (c->in_len == 0)
        return IO_PEER_CLOSED;
      fatal("%s closed the connection in the middle of a response head", c->api);
    }
    c->in_len += n;
  }

  /* Keep the head minus its final blank line's CRLF, NUL-terminated, for header_find(). */
  head_len = (size_t)(end - c->in);
  memcpy(r->head, c->in, head_len - 2);
  r->head[head_len - 2] = '\0';
  if (memchr(r->head, '\0', head_len - 2) != NULL)
    fatal("%s sent a NUL byte in a response head", c->api);
  memmove(c->in, end, c->in_len - head_len); /* what follows is body */
  c->in_len -= head_len;

  if (parse_status_line(r->head, &r->status) != 0)
    fatal("%s sent a bad status line: '%.*s'", c->api, (int)strcspn(r->head, "\r\n"), r->head);
  r->must_close =
      strncmp(r->head, "HTTP/1.0", 8) == 0 || header_has_token(r, "Connection", "close");
  return IO_OK;
}

/* Reads one complete response: skips interim 1xx responses, then reads exactly Content-Length
 * body bytes into a fresh buffer. Same IO_PEER_CLOSED contract as read_head(). */
static enum io_result read_response(struct conn *c, struct response *r)
{
  size_t have;

  do {
    if (read_head(c, r) == IO_PEER_CLOSED)
      return IO_PEER_CLOSED;
  } while (r->status >= 100 && r->status < 200);

  r->body_len = content_length(c, r);
  r->body = xmalloc(r->body_len + 1);
  /* Body bytes that arrived with the head come first; recv the rest straight into place. */
  have = c->in_len < r->body_len ? c->in_len : r->body_len;
  memcpy(r->body, c->in, have);
  memmove(c->in, c->in + have, c->in_len - have);
  c->in_len -= have;
  while (have < r->body_len) {
    size_t n = recv_some(c, r->body + have, r->body_len - have);

    if (n == 0)
      fatal("%s closed the connection after %zu of %zu body bytes", c->api, have, r->body_len);
    have += n;
  }
  r->body[r->body_len] = '\0';
  if (r->must_close)
    conn_close(c);
  return IO_OK;
}

/* Formats a request head into out (a GET when body_len is SIZE_MAX, else a POST-style request
 * with content_type and Content-Length). Returns its length; dies if it does not fit. */
static size_t format_head(char *out, size_t cap, const struct conn *c, const char *method,
                          const char *path, const char *content_type, size_t body_len)
{
  int n;

  /* Request line, Host (HTTP/1.1 requires it), and for a request with a body its framing. */
  if (body_len == SIZE_MAX)
    n = snprintf(out, cap, "%s %s HTTP/1.1\r\nHost: %s\r\n\r\n", method, path, c->api);
  else
    n = snprintf(out, cap,
                 "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n\r\n",
                 method, path, c->api, content_type, body_len);
  if (n < 0 || (size_t)n >= cap)
    fatal("request head for %s does not fit in %zu bytes", path, cap);
  return (size_t)n;
}

/* Sends the request parts[0..n_parts) as one write where they fit (one TCP segment, so the server
 * wakes once, not once per part), then reads the response to the first request into *r (r->body
 * is malloc'd; the caller frees it). When the parts hold a second, pipelined request, the caller
 * reads its response next with read_response(). A kept-alive connection may have been closed by
 * the server while we were idle; we learn that only when using it, so on a reused socket a close
 * before any response byte means "reconnect and send again", once. On a fresh socket it is an
 * error. */
static void http_exchange(struct conn *c, const struct iovec *parts, int n_parts, const char *what,
                          struct response *r)
{
  for (int attempt = 1;; attempt++) {
    int reused = c->fd >= 0;
    int sent = IO_OK;

    if (!reused)
      conn_open(c);
    /* sendmsg() rather than writev(): MSG_NOSIGNAL, as in send_all(). A partial write (a large
     * body) is finished part by part. */
    {
      struct msghdr msg = {.msg_iov = (struct iovec *)parts, .msg_iovlen = (size_t)n_parts};
      ssize_t n;
      size_t done;

      do
        n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
      while (n < 0 && errno == EINTR);
      if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
        sent = IO_PEER_CLOSED;
      else if (n < 0)
        fatal("send to %s: %s", c->api, strerror(errno));
      done = n < 0 ? 0 : (size_t)n;
      for (int i = 0; i < n_parts && sent == IO_OK; i++) {
        if (done >= parts[i].iov_len) {
          done -= parts[i].iov_len;
          continue;
        }
        sent = send_all(c, (const char *)parts[i].iov_base + done, parts[i].iov_len - done);
        done = 0;
      }
    }
    if (sent == IO_OK && read_response(c, r) == IO_OK)
      return;
    conn_close(c);
    if (!reused || attempt > 1)
      fatal("%s closed the connection without answering %s", c->api, what);
  }
}

/* ---- the runtime: GET an event, POST it back, forever ---- */

/* The request id goes into a URL path, so accept only URL-safe characters (ids are UUIDs). */
static int request_id_ok(const char *id, size_t len)
{
  if (len == 0 || len > MAX_REQUEST_ID_BYTES)
    return 0;
  for (size_t i = 0; i < len; i++) {
    char ch = id[i];

    if (!isalnum((unsigned char)ch) && ch != '-' && ch != '_' && ch != '.' && ch != '~')
      return 0;
  }
  return 1;
}

int main(void)
{
  const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
  static struct conn c; /* static: the buffers are too big to want on the stack */
  static struct response event, ack;
  char path[256], content_type[256], post_head[1024], next_req[512];
  size_t next_len;

  if (api == NULL || api[0] == '\0')
    fatal("AWS_LAMBDA_RUNTIME_API is not set; run this under lemu or AWS Lambda");
  conn_init(&c, api);
  next_len = format_head(next_req, sizeof(next_req), &c, "GET", API_PREFIX "/runtime/invocation/next",
                         NULL, SIZE_MAX);

  /* 1. Wait for the first event. The server holds this request open, possibly for minutes,
   *    until there is one; we wait as long as it takes (no client timeout). */
  http_exchange(&c, &(struct iovec){next_req, next_len}, 1, "GET /next", &event);
  for (;;) {
    const char *v;
    size_t len;

    if (event.status != 200)
      fatal("GET /next answered %d: %.200s", event.status, event.body);
    v = header_find(&event, HDR_REQUEST_ID, &len);
    if (v == NULL || !request_id_ok(v, len))
      fatal("GET /next answered without a usable %s header", HDR_REQUEST_ID);
    snprintf(path, sizeof(path), API_PREFIX "/runtime/invocation/%.*s/response", (int)len, v);

    /* Custom runtimes hand the X-Ray trace header to the handler through the environment. With
     * putenv() on a buffer of ours, not setenv(): glibc keeps a copy of every value setenv() was
     * ever given (it cannot know whether a getenv() caller still holds one), and every
     * invocation's trace id is new, so setenv() grew the process by ~100 bytes per invoke, and
     * its lookups with it, for as long as the environment lived. */
    v = header_find(&event, HDR_TRACE_ID, &len);
    if (v != NULL) {
      static char trace_env[sizeof(TRACE_ENV_NAME "=") + 1024];

      snprintf(trace_env, sizeof(trace_env), TRACE_ENV_NAME "=%.*s", (int)len, v);
      putenv(trace_env);
    } else {
      unsetenv(TRACE_ENV_NAME);
    }

    /* 2. The "handler": the result is the event, byte for byte, with its Content-Type. */
    v = header_find(&event, "Content-Type", &len);
    if (v != NULL)
      snprintf(content_type, sizeof(content_type), "%.*s", (int)len, v);
    else
      snprintf(content_type, sizeof(content_type), "application/json");

    /* 3. Report the result (Lambda acknowledges it with 202 Accepted) and, when it is small, ask
     *    for the next event in the same write: HTTP/1.1 pipelining, answered in order. One write
     *    and one wake-up of the server per invoke instead of three. Only a result far below the
     *    size limit goes that way, so a refused POST never leaves a GET /next outstanding while
     *    we exit with an invocation promised to us. */
    {
      size_t head_len = format_head(post_head, sizeof(post_head), &c, "POST", path, content_type,
                                    event.body_len);
      struct iovec parts[3] = {{post_head, head_len}, {event.body, event.body_len}, {next_req, next_len}};
      int pipelined = event.body_len <= PIPELINE_MAX_BODY;

      http_exchange(&c, parts, pipelined ? 3 : 2, "POST /response", &ack);
      if (ack.status != 202)
        fatal("POST %s answered %d: %.200s", path, ack.status, ack.body);
      free(event.body);
      free(ack.body);
      /* 4. The next event: the pipelined GET's answer. A server that closed the connection
       *    after the 202 (Connection: close, or a close before answering) never read it: ask
       *    again on a new connection. */
      if (pipelined && c.fd >= 0 && read_response(&c, &event) == IO_OK)
        continue;
      if (pipelined)
        conn_close(&c);
      http_exchange(&c, &(struct iovec){next_req, next_len}, 1, "GET /next", &event);
    }
  }
}
