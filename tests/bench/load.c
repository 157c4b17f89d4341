/* lemu-load: the one load client of the benchmark harness (tests/bench/run). Every row of
 * docs/performance.md -- the loopback floor, lemu, the serverless-offline peer -- is measured by
 * this program, so ratios compare like with like. One thread, one epoll set, N keep-alive
 * HTTP/1.1 connections with one request in flight each, latencies in an HDR-style log-linear
 * histogram (< 0.8% relative error). A second mode times `lemu serve` to its first answer.
 *
 *   lemu-load [-c CONNS] [-n COUNT] [-d SECONDS] [-b BODY] [-H 'K: V'] [-m METHOD] [-s] URL
 *       URL's path may hold "{i}": replaced by the request's sequence number (0, 1, ...), so one
 *       run can address a different function per request (cold starts).
 *   lemu-load startup [-r REPEATS] [-b BODY] -p PATH -- COMMAND ARGS...
 *       starts COMMAND (which prints its URL as the first stdout line), sends one request to
 *       PATH, and measures from before the spawn to the complete answer; REPEATS times.
 *   lemu-load exec [-r REPEATS] -- COMMAND ARGS...
 *       times COMMAND from posix_spawn to its exit (e.g. `python3 -c pass`, the yardstick of
 *       the Python cold start), REPEATS times.
 * Output: one JSON object on stdout. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define MAX_HEADERS 16
#define RBUF_CAP (1 << 20)           /* a response (head + body) must fit: echo bodies are small */
#define REQ_CAP (64 * 1024)
#define DEFAULT_TIMEOUT_S 60.0       /* -n runs end here even if answers are missing */
#define SUB_BITS 7                   /* histogram: 128 sub-buckets per power of two */
#define SUB_COUNT (1 << SUB_BITS)
#define LINEAR_MAX (2 * SUB_COUNT)   /* values below this (ns) are counted exactly */
#define HIST_SIZE (LINEAR_MAX + (64 - (SUB_BITS + 1)) * SUB_COUNT)
#define MAX_SAMPLES 4096             /* -s: individual latencies printed (cold-start runs) */
#define STARTUP_MAX_REPEATS 100
#define STARTUP_LINE_TIMEOUT_MS 10000

static uint64_t now_ns(void)
{
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *fmt, const char *arg)
{
  fprintf(stderr, "lemu-load: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n");
  exit(2);
}

/* ---- HDR-style histogram: exact below 256 ns, then 128 linear sub-buckets per octave ---- */

struct hist {
  uint64_t counts[HIST_SIZE];
  uint64_t n, min, max;
  double sum;
};

static size_t hist_index(uint64_t v)
{
  int e;

  if (v < LINEAR_MAX)
    return (size_t)v;
  e = 63 - __builtin_clzll(v); /* >= SUB_BITS + 1 */
  return LINEAR_MAX + (size_t)(e - (SUB_BITS + 1)) * SUB_COUNT + ((v >> (e - SUB_BITS)) & (SUB_COUNT - 1));
}

static uint64_t hist_value(size_t i)
{
  size_t oct, sub;
  int e;

  if (i < LINEAR_MAX)
    return i;
  oct = (i - LINEAR_MAX) / SUB_COUNT;
  sub = (i - LINEAR_MAX) % SUB_COUNT;
  e = (int)oct + SUB_BITS + 1;
  /* the middle of the bucket */
  return ((uint64_t)(SUB_COUNT | sub) << (e - SUB_BITS)) + ((1ull << (e - SUB_BITS)) >> 1);
}

static void hist_add(struct hist *h, uint64_t v)
{
  h->counts[hist_index(v)]++;
  if (h->n == 0 || v < h->min)
    h->min = v;
  if (v > h->max)
    h->max = v;
  h->n++;
  h->sum += (double)v;
}

static uint64_t hist_pct(const struct hist *h, double p)
{
  uint64_t want, seen = 0;
  size_t i;

  if (h->n == 0)
    return 0;
  want = (uint64_t)(p / 100.0 * (double)h->n + 0.5);
  if (want < 1)
    want = 1;
  if (want > h->n)
    want = h->n;
  for (i = 0; i < HIST_SIZE; i++) {
    seen += h->counts[i];
    if (seen >= want) {
      uint64_t v = hist_value(i);
      return v < h->min ? h->min : v > h->max ? h->max : v;
    }
  }
  return h->max;
}

/* ---- URL ---- */

struct target {
  struct sockaddr_in addr;
  char hostport[96];
  char path[1024];
};

static void parse_url(const char *url, struct target *t)
{
  const char *p = url, *slash, *colon;
  char host[64];
  long port = 80;

  if (strncmp(p, "http://", 7) != 0)
    die("URL must start with http://: %s", url);
  p += 7;
  slash = strchr(p, '/');
  if (!slash)
    slash = p + strlen(p);
  colon = memchr(p, ':', (size_t)(slash - p));
  if ((size_t)((colon ? colon : slash) - p) >= sizeof(host))
    die("host too long: %s", url);
  memcpy(host, p, (size_t)((colon ? colon : slash) - p));
  host[(colon ? colon : slash) - p] = '\0';
  if (colon)
    port = strtol(colon + 1, NULL, 10);
  memset(&t->addr, 0, sizeof(t->addr));
  t->addr.sin_family = AF_INET;
  t->addr.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, strcmp(host, "localhost") ? host : "127.0.0.1", &t->addr.sin_addr) != 1)
    die("host must be an IPv4 address: %s", url);
  snprintf(t->hostport, sizeof(t->hostport), "%s:%ld", host, port);
  snprintf(t->path, sizeof(t->path), "%s", *slash ? slash : "/");
}

/* ---- request and response framing ---- */

struct opts {
  const char *method;
  const char *body;
  const char *headers[MAX_HEADERS];
  int n_headers;
};

/* Builds the request for sequence number seq into out; returns its length. */
static size_t build_request(char *out, size_t cap, const struct target *t, const struct opts *o, uint64_t seq)
{
  char path[2048];
  const char *brace = strstr(t->path, "{i}");
  size_t blen = o->body ? strlen(o->body) : 0;
  int n, i;

  if (brace)
    snprintf(path, sizeof(path), "%.*s%llu%s", (int)(brace - t->path), t->path,
             (unsigned long long)seq, brace + 3);
  else
    snprintf(path, sizeof(path), "%s", t->path);
  n = snprintf(out, cap, "%s %s HTTP/1.1\r\nHost: %s\r\n", o->method, path, t->hostport);
  for (i = 0; i < o->n_headers; i++)
    n += snprintf(out + n, cap - (size_t)n, "%s\r\n", o->headers[i]);
  if (o->body || strcmp(o->method, "GET") != 0)
    n += snprintf(out + n, cap - (size_t)n, "Content-Type: application/json\r\nContent-Length: %zu\r\n", blen);
  n += snprintf(out + n, cap - (size_t)n, "\r\n");
  if ((size_t)n + blen >= cap)
    die("request too large%s", "");
  memcpy(out + n, o->body ? o->body : "", blen);
  return (size_t)n + blen;
}

/* Case-insensitive header lookup inside head[0..len); value trimmed into out. */
static bool find_header(const char *head, size_t len, const char *name, char *out, size_t outn)
{
  size_t nl = strlen(name);
  const char *p = memchr(head, '\n', len), *end = head + len;

  while (p && p + 1 < end) {
    const char *line = p + 1, *eol = memchr(line, '\n', (size_t)(end - line));
    if (!eol)
      break;
    if ((size_t)(eol - line) > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
      const char *v = line + nl + 1;
      const char *ve = eol;
      size_t k;
      while (v < ve && (*v == ' ' || *v == '\t'))
        v++;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
        ve--;
      k = (size_t)(ve - v) < outn - 1 ? (size_t)(ve - v) : outn - 1;
      memcpy(out, v, k);
      out[k] = '\0';
      return true;
    }
    p = eol;
  }
  return false;
}

enum parse_result { PARSE_MORE, PARSE_DONE, PARSE_BAD };

/* Is a complete response in buf[0..len)? Sets its status, total size and whether the server
 * will close the connection after it. Handles Content-Length and chunked bodies. */
static enum parse_result parse_response(const char *buf, size_t len, int *status, size_t *total, bool *closes)
{
  const char *hend = memmem(buf, len, "\r\n\r\n", 4);
  char v[64];
  size_t head_len;

  if (!hend)
    return len > RBUF_CAP / 2 ? PARSE_BAD : PARSE_MORE;
  head_len = (size_t)(hend - buf) + 4;
  if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0)
    return PARSE_BAD;
  *status = atoi(buf + 9);
  *closes = (find_header(buf, head_len, "Connection", v, sizeof(v)) && strcasecmp(v, "close") == 0) ||
            buf[7] == '0';
  if (find_header(buf, head_len, "Transfer-Encoding", v, sizeof(v)) && strcasestr(v, "chunked")) {
    size_t pos = head_len;
    for (;;) { /* walk the chunks: size CRLF data CRLF ... 0 CRLF CRLF (no trailers expected) */
      const char *crlf = memmem(buf + pos, len - pos, "\r\n", 2);
      unsigned long sz;
      if (!crlf)
        return PARSE_MORE;
      sz = strtoul(buf + pos, NULL, 16);
      pos = (size_t)(crlf - buf) + 2;
      if (sz == 0) {
        if (len < pos + 2)
          return PARSE_MORE;
        *total = pos + 2;
        return PARSE_DONE;
      }
      if (len < pos + sz + 2)
        return PARSE_MORE;
      pos += sz + 2;
    }
  }
  if (find_header(buf, head_len, "Content-Length", v, sizeof(v))) {
    size_t cl = strtoul(v, NULL, 10);
    if (head_len + cl > RBUF_CAP)
      return PARSE_BAD;
    if (len < head_len + cl)
      return PARSE_MORE;
    *total = head_len + cl;
    return PARSE_DONE;
  }
  if (*status == 204 || *status == 304 || (*status >= 100 && *status < 200)) {
    *total = head_len;
    return PARSE_DONE;
  }
  return PARSE_BAD; /* read-until-close bodies are not used by any server measured here */
}

/* ---- the load run ---- */

struct conn {
  int fd;
  char req[REQ_CAP];
  size_t req_len, req_off;
  char *rbuf;
  size_t rlen;
  uint64_t sent_ns;
  uint32_t events; /* what epoll watches for now */
  bool busy, connecting;
};

struct run {
  struct target t;
  struct opts o;
  int n_conns;
  uint64_t max_requests; /* 0 = no count limit */
  double duration_s;     /* 0 = no time limit (then the default timeout bounds it) */
  bool print_samples;
  int epfd;
  struct conn *conns;
  uint64_t issued, completed, errors, non2xx, reconnects;
  struct hist *h;
  uint64_t samples[MAX_SAMPLES];
  size_t n_samples;
  int status_seen[6];
};

static int open_conn(struct run *r, struct conn *c)
{
  int one = 1;
  struct epoll_event ev;

  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0)
    return -1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  c->connecting = true;
  if (connect(c->fd, (struct sockaddr *)&r->t.addr, sizeof(r->t.addr)) < 0 && errno != EINPROGRESS) {
    close(c->fd);
    c->fd = -1;
    return -1;
  }
  ev.events = EPOLLOUT;
  ev.data.ptr = c;
  c->events = EPOLLOUT;
  epoll_ctl(r->epfd, EPOLL_CTL_ADD, c->fd, &ev);
  c->rlen = 0;
  c->req_off = 0;
  return 0;
}

static void close_conn(struct run *r, struct conn *c)
{
  if (c->fd >= 0) {
    epoll_ctl(r->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
  }
  c->fd = -1;
  c->busy = false;
}

static bool may_issue(const struct run *r)
{
  return r->max_requests == 0 || r->issued < r->max_requests;
}

static void set_events(struct run *r, struct conn *c, uint32_t events)
{
  struct epoll_event ev = {.events = events, .data.ptr = c};

  if (c->events == events)
    return; /* one syscall less per request in the steady state */
  c->events = events;
  epoll_ctl(r->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Starts the next request on c (c is connected and idle); writes as much as the socket takes. */
static void issue(struct run *r, struct conn *c)
{
  ssize_t w;

  if (!may_issue(r)) {
    set_events(r, c, 0);
    return;
  }
  c->req_len = build_request(c->req, sizeof(c->req), &r->t, &r->o, r->issued);
  r->issued++;
  c->req_off = 0;
  c->rlen = 0;
  c->busy = true;
  c->sent_ns = now_ns();
  w = send(c->fd, c->req, c->req_len, MSG_NOSIGNAL);
  if (w > 0)
    c->req_off = (size_t)w;
  set_events(r, c, c->req_off < c->req_len ? EPOLLOUT : EPOLLIN);
}

static void fail_conn(struct run *r, struct conn *c)
{
  if (c->busy)
    r->errors++;
  close_conn(r, c);
  r->reconnects++;
  if (may_issue(r) && open_conn(r, c) < 0)
    r->errors++;
}

static void on_event(struct run *r, struct conn *c, uint32_t events)
{
  if (c->connecting) {
    int err = 0;
    socklen_t l = sizeof(err);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err || (events & (EPOLLERR | EPOLLHUP))) {
      r->errors++;
      close_conn(r, c);
      return; /* a refused connection is not retried: the server is not there */
    }
    c->connecting = false;
    issue(r, c);
    return;
  }
  if (c->busy && c->req_off < c->req_len) {
    ssize_t w = send(c->fd, c->req + c->req_off, c->req_len - c->req_off, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN) {
      fail_conn(r, c);
      return;
    }
    if (w > 0)
      c->req_off += (size_t)w;
    if (c->req_off == c->req_len)
      set_events(r, c, EPOLLIN);
    return;
  }
  for (;;) {
    ssize_t n = recv(c->fd, c->rbuf + c->rlen, RBUF_CAP - c->rlen, 0);
    int status = 0;
    size_t total = 0;
    bool closes = false;
    enum parse_result pr;

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      fail_conn(r, c);
      return;
    }
    if (n < 0)
      return;
    c->rlen += (size_t)n;
    pr = parse_response(c->rbuf, c->rlen, &status, &total, &closes);
    if (pr == PARSE_MORE)
      continue;
    if (pr == PARSE_BAD || !c->busy) {
      fail_conn(r, c);
      return;
    }
    {
      uint64_t lat = now_ns() - c->sent_ns;
      hist_add(r->h, lat);
      if (r->print_samples && r->n_samples < MAX_SAMPLES)
        r->samples[r->n_samples++] = lat;
      r->completed++;
      if (status < 200 || status >= 300)
        r->non2xx++;
      if (status >= 100 && status < 600)
        r->status_seen[status / 100]++;
    }
    c->busy = false;
    if (closes) {
      close_conn(r, c);
      if (may_issue(r) && open_conn(r, c) < 0)
        r->errors++;
      return;
    }
    if (total < c->rlen) { /* no pipelining: extra bytes mean a confused server */
      fail_conn(r, c);
      return;
    }
    issue(r, c);
    return;
  }
}

static int run_load(struct run *r)
{
  struct epoll_event evs[256];
  uint64_t start, deadline, end;
  double limit_s = r->duration_s > 0 ? r->duration_s : DEFAULT_TIMEOUT_S;
  int i, n_open = 0;

  r->epfd = epoll_create1(EPOLL_CLOEXEC);
  r->conns = calloc((size_t)r->n_conns, sizeof(*r->conns));
  r->h = calloc(1, sizeof(*r->h));
  if (r->epfd < 0 || !r->conns || !r->h)
    die("out of memory%s", "");
  for (i = 0; i < r->n_conns; i++) {
    r->conns[i].rbuf = malloc(RBUF_CAP);
    if (!r->conns[i].rbuf)
      die("out of memory%s", "");
  }
  start = now_ns();
  deadline = start + (uint64_t)(limit_s * 1e9);
  for (i = 0; i < r->n_conns; i++) {
    if (open_conn(r, &r->conns[i]) < 0)
      r->errors++;
    else
      n_open++;
  }
  for (;;) {
    uint64_t t = now_ns();
    int n, busy = 0;

    for (i = 0; i < r->n_conns; i++)
      busy += r->conns[i].fd >= 0 && (r->conns[i].busy || r->conns[i].connecting);
    if (t >= deadline || (!may_issue(r) && busy == 0) || busy == 0)
      break;
    n = epoll_wait(r->epfd, evs, 256, (int)((deadline - t) / 1000000 + 1));
    for (i = 0; i < n; i++)
      on_event(r, evs[i].data.ptr, evs[i].events);
  }
  end = now_ns();
  {
    double secs = (double)(end - start) / 1e9;
    const struct hist *h = r->h;
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    printf("{\"client_cpu_s\": %.4f, ", (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                                          (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
    printf("\"conns\": %d, \"requests\": %llu, \"errors\": %llu, \"non2xx\": %llu, "
           "\"reconnects\": %llu, \"secs\": %.4f, \"rps\": %.1f, "
           "\"min_us\": %.1f, \"mean_us\": %.1f, \"p50_us\": %.1f, \"p90_us\": %.1f, "
           "\"p99_us\": %.1f, \"p999_us\": %.1f, \"max_us\": %.1f, \"timed_out\": %s, "
           "\"status\": {\"2xx\": %d, \"4xx\": %d, \"5xx\": %d}",
           r->n_conns, (unsigned long long)r->completed, (unsigned long long)r->errors,
           (unsigned long long)r->non2xx, (unsigned long long)r->reconnects, secs,
           secs > 0 ? (double)r->completed / secs : 0.0, (double)h->min / 1e3,
           h->n ? h->sum / (double)h->n / 1e3 : 0.0, (double)hist_pct(h, 50) / 1e3,
           (double)hist_pct(h, 90) / 1e3, (double)hist_pct(h, 99) / 1e3, (double)hist_pct(h, 99.9) / 1e3,
           (double)h->max / 1e3,
           (r->duration_s <= 0 && r->max_requests && r->completed < r->max_requests) ? "true" : "false",
           r->status_seen[2], r->status_seen[4], r->status_seen[5]);
    if (r->print_samples) {
      size_t k;
      printf(", \"samples_us\": [");
      for (k = 0; k < r->n_samples; k++)
        printf("%s%.1f", k ? ", " : "", (double)r->samples[k] / 1e3);
      printf("]");
    }
    printf("}\n");
  }
  (void)n_open;
  return r->completed ? 0 : 1;
}

/* ---- startup: COMMAND's first stdout line is its URL; time spawn -> first complete answer ---- */

static int read_line_fd(int fd, char *out, size_t cap, int timeout_ms)
{
  size_t n = 0;
  uint64_t until = now_ns() + (uint64_t)timeout_ms * 1000000ull;

  while (n + 1 < cap) {
    struct timespec ts = {0, 200000};
    ssize_t r = read(fd, out + n, 1);
    if (r == 1) {
      if (out[n] == '\n')
        break;
      n++;
      continue;
    }
    if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
      return -1;
    if (now_ns() > until)
      return -1;
    nanosleep(&ts, NULL);
  }
  out[n] = '\0';
  return 0;
}

static int one_request_blocking(const struct target *t, const struct opts *o, int *status)
{
  char req[REQ_CAP];
  char *buf = malloc(RBUF_CAP);
  size_t len = build_request(req, sizeof(req), t, o, 0), got = 0, total;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, rc = -1;
  bool closes;

  if (!buf || fd < 0)
    goto out;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (connect(fd, (const struct sockaddr *)&t->addr, sizeof(t->addr)) < 0 ||
      send(fd, req, len, MSG_NOSIGNAL) != (ssize_t)len)
    goto out;
  for (;;) {
    ssize_t n = recv(fd, buf + got, RBUF_CAP - got, 0);
    enum parse_result pr;
    if (n <= 0)
      goto out;
    got += (size_t)n;
    pr = parse_response(buf, got, status, &total, &closes);
    if (pr == PARSE_BAD)
      goto out;
    if (pr == PARSE_DONE)
      break;
  }
  rc = 0;
out:
  if (fd >= 0)
    close(fd);
  free(buf);
  return rc;
}

static int cmp_u64(const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

  return x < y ? -1 : x > y;
}

static int run_startup(int repeats, const char *path, const struct opts *o, char **cmd)
{
  uint64_t lat[STARTUP_MAX_REPEATS];
  int ok = 0, i, bad_status = 0;

  for (i = 0; i < repeats && i < STARTUP_MAX_REPEATS; i++) {
    int pfd[2], status = 0, ws;
    posix_spawn_file_actions_t fa;
    char line[256], url[1300];
    struct target t;
    uint64_t t0;
    pid_t pid;

    if (pipe2(pfd, O_CLOEXEC) < 0)
      die("pipe: %s", strerror(errno));
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], STDOUT_FILENO);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    t0 = now_ns();
    if (posix_spawn(&pid, cmd[0], &fa, NULL, cmd, environ) != 0)
      die("cannot start %s", cmd[0]);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    fcntl(pfd[0], F_SETFL, O_NONBLOCK);
    if (read_line_fd(pfd[0], line, sizeof(line), STARTUP_LINE_TIMEOUT_MS) == 0) {
      snprintf(url, sizeof(url), "%s%s", line, path);
      parse_url(url, &t);
      if (one_request_blocking(&t, o, &status) == 0) {
        lat[ok++] = now_ns() - t0;
        bad_status += status != 200;
      }
    }
    kill(pid, SIGTERM);
    while (read(pfd[0], line, sizeof(line)) > 0 || errno == EINTR)
      ;
    close(pfd[0]);
    waitpid(pid, &ws, 0);
  }
  qsort(lat, (size_t)ok, sizeof(lat[0]), cmp_u64);
  printf("{\"repeats\": %d, \"ok\": %d, \"non200\": %d, \"min_ms\": %.3f, \"p50_ms\": %.3f, \"max_ms\": %.3f, "
         "\"samples_ms\": [",
         repeats, ok, bad_status, ok ? (double)lat[0] / 1e6 : 0.0, ok ? (double)lat[ok / 2] / 1e6 : 0.0,
         ok ? (double)lat[ok - 1] / 1e6 : 0.0);
  for (i = 0; i < ok; i++)
    printf("%s%.3f", i ? ", " : "", (double)lat[i] / 1e6);
  printf("]}\n");
  return ok ? 0 : 1;
}

static int run_exec(int repeats, char **cmd)
{
  uint64_t lat[STARTUP_MAX_REPEATS];
  int ok = 0, i;

  for (i = 0; i < repeats && i < STARTUP_MAX_REPEATS; i++) {
    posix_spawn_file_actions_t fa;
    uint64_t t0;
    pid_t pid;
    int ws;

    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    t0 = now_ns();
    if (posix_spawnp(&pid, cmd[0], &fa, NULL, cmd, environ) != 0)
      die("cannot start %s", cmd[0]);
    posix_spawn_file_actions_destroy(&fa);
    if (waitpid(pid, &ws, 0) == pid && WIFEXITED(ws) && WEXITSTATUS(ws) == 0)
      lat[ok++] = now_ns() - t0;
  }
  qsort(lat, (size_t)ok, sizeof(lat[0]), cmp_u64);
  printf("{\"repeats\": %d, \"ok\": %d, \"min_ms\": %.3f, \"p50_ms\": %.3f, \"max_ms\": %.3f}\n", repeats, ok,
         ok ? (double)lat[0] / 1e6 : 0.0, ok ? (double)lat[ok / 2] / 1e6 : 0.0, ok ? (double)lat[ok - 1] / 1e6 : 0.0);
  return ok ? 0 : 1;
}

static void usage(void)
{
  fprintf(stderr,
          "usage: lemu-load [-c CONNS] [-n COUNT] [-d SECONDS] [-m METHOD] [-b BODY] [-H 'K: V'] [-s] URL\n"
          "       lemu-load startup [-r REPEATS] [-b BODY] [-H 'K: V'] -p PATH -- COMMAND ARGS...\n"
          "       lemu-load exec [-r REPEATS] -- COMMAND ARGS...\n");
  exit(2);
}

int main(int argc, char **argv)
{
  static struct run r;
  struct rlimit rl;
  const char *url = NULL, *path = NULL;
  bool startup = argc > 1 && strcmp(argv[1], "startup") == 0;
  bool exec_mode = argc > 1 && strcmp(argv[1], "exec") == 0;
  int i, repeats = 10;

  signal(SIGPIPE, SIG_IGN);
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  r.n_conns = 1;
  r.o.method = "POST";
  for (i = startup || exec_mode ? 2 : 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--")) {
      i++;
      break;
    }
    if (i + 1 < argc && !strcmp(a, "-c"))
      r.n_conns = atoi(argv[++i]);
    else if (i + 1 < argc && !strcmp(a, "-n"))
      r.max_requests = strtoull(argv[++i], NULL, 10);
    else if (i + 1 < argc && !strcmp(a, "-d"))
      r.duration_s = atof(argv[++i]);
    else if (i + 1 < argc && !strcmp(a, "-m"))
      r.o.method = argv[++i];
    else if (i + 1 < argc && !strcmp(a, "-b"))
      r.o.body = argv[++i];
    else if (i + 1 < argc && !strcmp(a, "-H") && r.o.n_headers < MAX_HEADERS)
      r.o.headers[r.o.n_headers++] = argv[++i];
    else if (i + 1 < argc && !strcmp(a, "-r"))
      repeats = atoi(argv[++i]);
    else if (i + 1 < argc && !strcmp(a, "-p"))
      path = argv[++i];
    else if (!strcmp(a, "-s"))
      r.print_samples = true;
    else if (a[0] != '-' && !startup && !exec_mode && !url)
      url = a;
    else
      usage();
  }
  if (exec_mode) {
    if (i >= argc || repeats < 1)
      usage();
    return run_exec(repeats, argv + i);
  }
  if (startup) {
    if (!path || i >= argc || repeats < 1)
      usage();
    return run_startup(repeats, path, &r.o, argv + i);
  }
  if (!url || r.n_conns < 1)
    usage();
  parse_url(url, &r.t);
  return run_load(&r);
}
