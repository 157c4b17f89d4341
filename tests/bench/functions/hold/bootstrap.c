/* hold: the sleeping handler of the 1,000-environment benchmark row (a provided.al2023
 * bootstrap, in C with one keep-alive connection, so that 1,000 of them measure lemu's cost of
 * holding environments, not an interpreter's). Its event is a number of milliseconds: it holds
 * the invocation that long and answers {}.
 * When the harness sets HOLD_STARTED and HOLD_RELEASE (paths of two FIFOs), the handler writes
 * one byte to HOLD_STARTED as it starts holding (the harness counts the environments filled and
 * timestamps the last one), and ends early when the harness opens and closes HOLD_RELEASE (its
 * read end then reports POLLHUP): the row lasts as long as the fill, not a guessed sleep. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF_CAP 65536
#define REQUEST_ID_HEADER "Lambda-Runtime-Aws-Request-Id:"

static int fd = -1;
static char buf[BUF_CAP];

static void die(const char *what)
{
  fprintf(stderr, "hold bootstrap: %s\n", what);
  exit(1);
}

static void send_all(const char *p, size_t n)
{
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0)
      die("send failed");
    p += w;
    n -= (size_t)w;
  }
}

/* Reads one Content-Length framed response into buf; returns its body (NUL-terminated). */
static char *read_response(void)
{
  size_t got = 0, head, body_len;
  char *end, *cl;

  for (;;) {
    ssize_t n = recv(fd, buf + got, BUF_CAP - 1 - got, 0);
    if (n <= 0)
      die("connection closed");
    got += (size_t)n;
    buf[got] = '\0';
    end = strstr(buf, "\r\n\r\n");
    if (!end)
      continue;
    head = (size_t)(end - buf) + 4;
    cl = strcasestr(buf, "\r\nContent-Length:");
    body_len = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
    if (head + body_len >= BUF_CAP)
      die("response too large");
    if (got >= head + body_len) {
      buf[head + body_len] = '\0';
      return buf + head;
    }
  }
}

/* Holds for ms milliseconds, or until the harness releases every handler at once. */
static void hold(long ms)
{
  const char *started = getenv("HOLD_STARTED"), *release = getenv("HOLD_RELEASE");
  int rfd = release ? open(release, O_RDONLY | O_NONBLOCK | O_CLOEXEC) : -1;

  if (started) {
    int sfd = open(started, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (sfd >= 0) {
      if (write(sfd, "s", 1) != 1)
        fprintf(stderr, "hold bootstrap: cannot notify the harness\n");
      close(sfd);
    }
  }
  if (rfd >= 0) {
    struct pollfd p = {.fd = rfd, .events = POLLIN};
    poll(&p, 1, (int)ms); /* POLLHUP once a writer opened and closed it */
    close(rfd);
  } else {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
  }
}

int main(void)
{
  const char *env = getenv("AWS_LAMBDA_RUNTIME_API");
  struct sockaddr_in api = {0};
  char host[64], req[512];
  const char *colon;
  int one = 1;

  if (!env || !(colon = strrchr(env, ':')) || (size_t)(colon - env) >= sizeof(host))
    die("AWS_LAMBDA_RUNTIME_API is not host:port");
  memcpy(host, env, (size_t)(colon - env));
  host[colon - env] = '\0';
  api.sin_family = AF_INET;
  api.sin_port = htons((unsigned short)atoi(colon + 1));
  if (inet_pton(AF_INET, host, &api.sin_addr) != 1)
    die("AWS_LAMBDA_RUNTIME_API is not an IPv4 address");
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&api, sizeof(api)) < 0)
    die("cannot connect to the Runtime API");
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  for (;;) {
    char id[128], *h, *eol;
    size_t n;
    long ms;

    n = (size_t)snprintf(req, sizeof(req), "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: %s\r\n\r\n", env);
    send_all(req, n);
    ms = strtol(read_response(), NULL, 10);
    h = strcasestr(buf, REQUEST_ID_HEADER);
    if (!h)
      die("no request id");
    h += strlen(REQUEST_ID_HEADER);
    while (*h == ' ')
      h++;
    eol = strstr(h, "\r\n");
    if (!eol || (size_t)(eol - h) >= sizeof(id))
      die("bad request id");
    memcpy(id, h, (size_t)(eol - h));
    id[eol - h] = '\0';
    hold(ms);
    n = (size_t)snprintf(req, sizeof(req),
                         "POST /2018-06-01/runtime/invocation/%s/response HTTP/1.1\r\nHost: %s\r\n"
                         "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
                         id, env);
    send_all(req, n);
    read_response();
  }
}
