/* lemu-relay: the throughput floor of the benchmark harness. lemu's design (design.md §2) is one
 * thread, one epoll loop, libmicrohttpd in external-epoll mode with suspended connections, and two
 * loopback HTTP exchanges per invoke. This program is that design with nothing else in it: an
 * Invoke daemon and a Runtime API daemon (lemu too serves every environment's connections from one
 * daemon) driven by one epoll loop, a FIFO of waiting invocations and a list of parked GET /next
 * requests. No validation, no logs, no
 * sandbox, no limits, no timers, no faults. It runs N copies of a real runtime (the C echo
 * sample's bootstrap) against its Runtime API, so the handlers, the load client and the kernel's
 * loopback path are those of lemu's row; what separates the two rates is lemu's own work.
 *
 *   lemu-relay N BOOTSTRAP   prints http://127.0.0.1:PORT on stdout (POST any path = an invoke),
 *                            serves until SIGTERM/SIGINT; the runtimes die with it.
 *
 * Answers carry the headers lemu's do (same counts, same sizes), so libmicrohttpd does the same
 * work per header, and the 202 leaves with the runtime's next event (TCP_CORK) as lemu's does for a
 * runtime that pipelines, which the echo bootstrap always does. Bench tool only: it trusts its
 * runtimes and its client. */
#define _GNU_SOURCE
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#define RELAY_MAX_INVOCATIONS 4096u /* in flight at once; the bench uses at most 64 connections */
#define RELAY_MAX_RUNTIMES 1024
#define RELAY_ACK "{\"status\":\"OK\"}"
#define RELAY_ARN "arn:aws:lambda:us-east-1:000000000000:function:echo"
#define RELAY_TRACE "Root=1-5e1b4151-5ac6c58f5b5daa6532e4f0ba;Parent=0000000000000000;Sampled=0"
#define RELAY_ID_FMT "%08x-0000-4000-8000-%012x" /* a request id of lemu's length: slot, serial */

struct body {
  char *data;
  size_t len;
};

struct invocation {
  char id[40];
  struct MHD_Connection *client; /* suspended until the result is in */
  struct body payload;           /* the event (owned) */
  struct body result;            /* the runtime's answer (owned; handed to the response) */
  bool done;
  struct invocation *next; /* in the waiting FIFO */
};

/* A daemon and its place on the list of daemons to run before the loop sleeps. */
struct server {
  struct MHD_Daemon *daemon;
  bool resumed;       /* a connection was resumed: run it before the loop sleeps */
  bool dirty;         /* on the list of servers to drain before the loop sleeps */
  struct server *next_dirty;
};

/* One request's state (con_cls), on either daemon. */
struct request {
  struct server *srv;
  struct body body;
  struct invocation *inv; /* client side: its invocation; runtime GET /next: the one handed to it */
  struct MHD_Connection *conn;
  struct request *next_parked;
  bool is_next; /* a runtime's GET /next: its answer is the one the corked 202 waits for */
};

static struct invocation *slots[RELAY_MAX_INVOCATIONS];
static unsigned serial;
static struct invocation *queue_head, *queue_tail;
static struct request *parked; /* GET /next requests waiting for work */
static struct server invoke_server, runtime_server;
static struct server *dirty; /* servers that ran or were resumed in this turn of the loop */

static void server_mark(struct server *srv, bool resumed)
{
  srv->resumed |= resumed;
  if (!srv->dirty) {
    srv->dirty = true;
    srv->next_dirty = dirty;
    dirty = srv;
  }
}

static int body_append(struct body *b, const char *data, size_t len)
{
  char *p = realloc(b->data, b->len + len + 1);

  if (!p)
    return -1;
  memcpy(p + b->len, data, len);
  b->data = p;
  b->len += len;
  return 0;
}

static struct invocation *invocation_new(struct request *req)
{
  unsigned i;

  for (i = 0; i < RELAY_MAX_INVOCATIONS; i++) {
    unsigned slot = (serial + i) % RELAY_MAX_INVOCATIONS;
    if (!slots[slot]) {
      struct invocation *inv = calloc(1, sizeof(*inv));
      if (!inv)
        return NULL;
      snprintf(inv->id, sizeof(inv->id), RELAY_ID_FMT, slot, ++serial);
      inv->client = req->conn;
      inv->payload = req->body;
      req->body = (struct body){0};
      slots[slot] = inv;
      return inv;
    }
  }
  return NULL;
}

static void invocation_free(struct invocation *inv)
{
  slots[strtoul(inv->id, NULL, 16) % RELAY_MAX_INVOCATIONS] = NULL;
  free(inv->payload.data);
  free(inv->result.data);
  free(inv);
}

static void cork(struct MHD_Connection *conn, int on)
{
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

  if (ci)
    setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));
}

static enum MHD_Result queue_buffer(struct MHD_Connection *conn, unsigned status, const char *data, size_t len,
                                    const char *const *headers)
{
  struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
  enum MHD_Result ret;

  if (!r)
    return MHD_NO;
  for (; headers && headers[0]; headers += 2)
    MHD_add_response_header(r, headers[0], headers[1]);
  ret = MHD_queue_response(conn, status, r);
  MHD_destroy_response(r);
  return ret;
}

/* Hands an invocation to a runtime's GET /next: the event, with the Runtime API's headers. */
static enum MHD_Result answer_next(struct MHD_Connection *conn, struct invocation *inv)
{
  const char *headers[] = {"Content-Type", "application/json",
                           "Lambda-Runtime-Aws-Request-Id", inv->id,
                           "Lambda-Runtime-Deadline-Ms", "1795000000000",
                           "Lambda-Runtime-Invoked-Function-Arn", RELAY_ARN,
                           "Lambda-Runtime-Trace-Id", RELAY_TRACE,
                           NULL};

  return queue_buffer(conn, MHD_HTTP_OK, inv->payload.data, inv->payload.len, headers);
}

static bool upload(struct request *req, const char *data, size_t *size)
{
  if (*size == 0)
    return false;
  if (body_append(&req->body, data, *size) != 0)
    abort(); /* a bench tool: out of memory ends the run */
  *size = 0;
  return true;
}

static enum MHD_Result on_invoke(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                 const char *version, const char *data, size_t *size, void **con_cls)
{
  struct request *req = *con_cls;
  struct invocation *inv;

  (void)url, (void)method, (void)version;
  if (!req) {
    if (!(req = calloc(1, sizeof(*req))))
      return MHD_NO;
    req->srv = cls;
    req->conn = conn;
    *con_cls = req;
    return MHD_YES;
  }
  if (upload(req, data, size))
    return MHD_YES;
  if (!req->inv) { /* the whole request is in: hand it to a parked runtime, or queue it */
    if (!(inv = req->inv = invocation_new(req)))
      return MHD_NO;
    if (parked) {
      struct request *next = parked;
      parked = next->next_parked;
      next->inv = inv;
      MHD_resume_connection(next->conn);
      server_mark(next->srv, true);
    } else {
      if (queue_tail)
        queue_tail->next = inv;
      else
        queue_head = inv;
      queue_tail = inv;
    }
    MHD_suspend_connection(conn);
    return MHD_YES;
  }
  inv = req->inv; /* resumed: the result is in */
  {
    const char *headers[] = {"Content-Type", "application/json",
                             "x-amzn-RequestId", inv->id,
                             "X-Amz-Executed-Version", "$LATEST",
                             NULL};
    enum MHD_Result ret = queue_buffer(conn, MHD_HTTP_OK, inv->result.data, inv->result.len, headers);
    req->inv = NULL;
    invocation_free(inv);
    return ret;
  }
}

static enum MHD_Result on_runtime(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *data, size_t *size, void **con_cls)
{
  struct request *req = *con_cls;
  struct invocation *inv;
  const char *id;

  (void)version;
  if (!req) {
    if (!(req = calloc(1, sizeof(*req))))
      return MHD_NO;
    req->srv = cls;
    req->conn = conn;
    *con_cls = req;
    return MHD_YES; /* answering before the request is whole would make MHD close the connection */
  }
  if (upload(req, data, size))
    return MHD_YES;
  if (strcmp(method, "GET") == 0) { /* /runtime/invocation/next */
    req->is_next = true;
    if (req->inv)
      return answer_next(conn, req->inv); /* resumed with work */
    if (queue_head) {
      inv = queue_head;
      if (!(queue_head = inv->next))
        queue_tail = NULL;
      req->inv = inv;
      return answer_next(conn, inv);
    }
    req->next_parked = parked;
    parked = req;
    MHD_suspend_connection(conn);
    return MHD_YES;
  }
  /* POST /2018-06-01/runtime/invocation/<id>/response */
  id = strstr(url, "/invocation/");
  inv = id ? slots[strtoul(id + strlen("/invocation/"), NULL, 16) % RELAY_MAX_INVOCATIONS] : NULL;
  if (inv && !inv->done) {
    inv->result = req->body;
    req->body = (struct body){0};
    inv->done = true;
    MHD_resume_connection(inv->client);
    server_mark(&invoke_server, true);
  }
  {
    const char *headers[] = {"Content-Type", "application/json", NULL};
    cork(conn, 1); /* the 202 waits for the pipelined GET /next's answer (on_completed) */
    return queue_buffer(conn, MHD_HTTP_ACCEPTED, RELAY_ACK, strlen(RELAY_ACK), headers);
  }
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
  struct request *req = *con_cls;

  (void)cls, (void)toe;
  if (req) {
    if (req->is_next)
      cork(conn, 0); /* the event is out: it leaves with the 202 before it */
    free(req->body.data);
    free(req);
    *con_cls = NULL;
  }
}

static int server_start(struct server *srv, MHD_AccessHandlerCallback handler, int ep)
{
  const union MHD_DaemonInfo *info;

  srv->daemon = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, handler, srv,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16 * 1024, /* lemu's */
                                 MHD_OPTION_CONNECTION_TIMEOUT, 0u,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
                                 MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
                                 MHD_OPTION_END);
  if (!srv->daemon || !(info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_EPOLL_FD)))
    return -1;
  return epoll_ctl(ep, EPOLL_CTL_ADD, info->epoll_fd, &(struct epoll_event){EPOLLIN, {.ptr = srv}});
}

static unsigned server_port(struct server *srv)
{
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
  return info ? info->port : 0;
}

/* Before the loop sleeps, as lemu's http_server does: run each server that ran or had a connection
 * resumed in this turn until it has nothing due now (resumed connections, data already read). */
static void servers_drain(void)
{
  MHD_UNSIGNED_LONG_LONG timeout;

  while (dirty) {
    struct server *srv = dirty;
    dirty = srv->next_dirty;
    srv->dirty = false;
    if (!srv->resumed && (MHD_get_timeout(srv->daemon, &timeout) != MHD_YES || timeout > 0))
      continue;
    srv->resumed = false;
    MHD_run(srv->daemon); /* may resume connections of other servers: they join the list */
    server_mark(srv, false);
  }
}

int main(int argc, char **argv)
{
  int n = argc > 2 ? atoi(argv[1]) : 0, ep, sfd, i;
  sigset_t set;
  char api[64];
  struct epoll_event ev[64];

  if (n < 1 || n > RELAY_MAX_RUNTIMES) {
    fprintf(stderr, "usage: lemu-relay N BOOTSTRAP   (1 <= N <= %d)\n", RELAY_MAX_RUNTIMES);
    return 2;
  }
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigprocmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  ep = epoll_create1(EPOLL_CLOEXEC);
  sfd = signalfd(-1, &set, SFD_CLOEXEC);
  if (ep < 0 || sfd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &(struct epoll_event){EPOLLIN, {.ptr = NULL}}) ||
      server_start(&invoke_server, on_invoke, ep) || server_start(&runtime_server, on_runtime, ep)) {
    fprintf(stderr, "lemu-relay: cannot start\n");
    return 1;
  }
  snprintf(api, sizeof(api), "127.0.0.1:%u", server_port(&runtime_server));
  for (i = 0; i < n; i++) {
    if (fork() == 0) {
      sigprocmask(SIG_UNBLOCK, &set, NULL);
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      setenv("AWS_LAMBDA_RUNTIME_API", api, 1);
      execl(argv[2], argv[2], (char *)NULL);
      _exit(127);
    }
  }
  printf("http://127.0.0.1:%u\n", server_port(&invoke_server));
  fflush(stdout);
  for (;;) {
    int k = epoll_wait(ep, ev, 64, -1);
    for (i = 0; i < k; i++) {
      struct server *srv = ev[i].data.ptr;
      if (!srv)
        return 0; /* SIGTERM / SIGINT: the runtimes die with us (PR_SET_PDEATHSIG) */
      MHD_run(srv->daemon);
      server_mark(srv, false);
    }
    servers_drain();
  }
}
