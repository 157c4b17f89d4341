/* libmicrohttpd driven from lemu's loop (see include/lemu/http_server.h). The daemon runs in
 * external epoll mode: its epoll fd is one watcher in our loop, and MHD_run() is called when it is
 * readable or when MHD says it has buffered work. Requests are suspended with
 * MHD_suspend_connection() while they wait and resumed with their answer. Each connection's
 * socket is also watched in our loop for the peer's FIN (EPOLLRDHUP), which libmicrohttpd 0.9.75
 * can miss (see on_conn_event). */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lemu/http_server.h"
#include "lemu/logs.h"
#include "lemu/loop.h"
#include "lemu/util.h"

/* Per-connection pool: request headers, the read buffer (half the pool: upload chunks) and the
 * response headers. libmicrohttpd 0.9.75 zeroes the whole pool after every keep-alive request,
 * which also makes all of it resident: at 64 KB that was 3 x 64 KB of memset per warm invoke and
 * 64 KB of RSS per environment's runtime connection (tests/bench, docs/performance.md). 16 KB
 * still holds the largest headers either side sends (X-Amz-Client-Context, X-Amz-Log-Result). */
#define HTTP_CONNECTION_MEMORY 16384
#define HTTP_MAX_RUNS_PER_PREPARE 8
#define HTTP_MAX_IDLE_WAIT_MS (3600u * 1000u) /* longest single sleep for MHD's idle timeouts */

/* What lemu knows about one connection, in srv->conns[fd]. A slot is valid from MHD's
 * NOTIFY_STARTED to NOTIFY_CLOSED (then zeroed), except tag, set just before MHD sees the fd. */
struct http_conn {
  void *tag;               /* from http_server_add_connection() */
  struct http_req *req;    /* the request lemu holds (headers in, not yet completed), or NULL */
  bool watched;            /* the socket is in lemu's loop for EPOLLRDHUP */
  bool peer_closed;        /* the peer sent its FIN (or reset the connection) */
  bool queued;             /* in srv->half_closed */
  /* Answers held for the next one (http_req_send_coalesced): */
  bool pipelines;          /* the peer sent its last request before reading the answer before it */
  bool corked;             /* TCP_CORK is on: an answer waits in the socket for the next one */
  bool follower_seen;      /* the request after the corked answer has arrived */
  struct http_req *cork_req; /* the request whose answer was corked */
  uint64_t last_done_run;  /* srv->run_seq when the last request on it completed */
};

struct http_server {
  struct MHD_Daemon *daemon;
  struct loop *loop;
  struct http_server_opts opts;
  int epoll_fd;
  struct http_req *suspended; /* doubly linked list of suspended requests */
  struct http_conn *conns;    /* fd-indexed, grown on demand, never shrunk */
  size_t n_conns;
  int *half_closed;           /* fds whose peer half-closed, looked at in on_prepare */
  size_t n_half_closed, cap_half_closed;
  bool in_handler;
  bool resumed;               /* a connection was resumed: run MHD before the loop sleeps */
  uint64_t run_seq;           /* MHD_run() calls so far */
  int *corked;                /* fds corked in this MHD_run (conns[fd].corked), checked after it */
  size_t n_corked, cap_corked;
  struct loop_timer idle_timer; /* wakes the loop when MHD has a connection to time out */
};

/* libmicrohttpd's own messages are debug lines, except one a user must see: a request whose
 * header fields do not fit the connection's pool is answered 431 by libmicrohttpd before lemu sees
 * it, so nothing else would say why the request (a runtime's result, say) went missing. */
static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
  struct http_server *srv = cls;
  char msg[512] = "";

  if (srv && strstr(fmt, "response code is")) { /* the only message formatted here */
    va_list copy;
    va_copy(copy, ap);
    vsnprintf(msg, sizeof(msg), fmt, copy);
    va_end(copy);
  }
  logs_vdebug(fmt, ap);
  if (strstr(msg, "response code is 431"))
    logs_warn("%s refused a request whose header fields are larger than lemu's %u KB per-connection "
              "limit (431 Request Header Fields Too Large; Lambda accepts up to 1 MB of headers)%s%s",
              srv->opts.name ? srv->opts.name : "an HTTP server", HTTP_CONNECTION_MEMORY / 1024,
              srv->opts.oversize_hint ? ": " : "", srv->opts.oversize_hint ? srv->opts.oversize_hint : "");
}

static bool route_match(const char *pattern, const char *path, char **params, size_t *n_params)
{
  size_t n = 0;

  while (*pattern && *path) {
    if (pattern[0] == '{' && pattern[1] == '}') {
      const char *end = strchr(path, '/');
      size_t len = end ? (size_t)(end - path) : strlen(path);
      if (len == 0 || n == HTTP_MAX_PARAMS)
        goto fail;
      params[n] = strndup(path, len);
      if (!params[n])
        goto fail;
      n++;
      path += len;
      pattern += 2;
      continue;
    }
    if (*pattern != *path)
      goto fail;
    pattern++;
    path++;
  }
  if (*pattern || *path)
    goto fail;
  *n_params = n;
  return true;
fail:
  while (n > 0)
    free(params[--n]);
  return false;
}

static void req_free(struct http_req *req)
{
  size_t i;

  if (req->on_close)
    req->on_close(req, req->owner);
  for (i = 0; i < req->n_params; i++)
    free(req->params[i]);
  buf_cleanup(&req->body);
  if (req->pending)
    MHD_destroy_response(req->pending);
  free(req);
}

static void susp_unlink(struct http_server *srv, struct http_req *req)
{
  if (req->susp_prev)
    req->susp_prev->susp_next = req->susp_next;
  else if (srv->suspended == req)
    srv->suspended = req->susp_next;
  if (req->susp_next)
    req->susp_next->susp_prev = req->susp_prev;
  req->susp_prev = req->susp_next = NULL;
}

static size_t parse_content_length(const char *v, bool *ok)
{
  char *end;
  unsigned long long n;

  *ok = false;
  if (!v || !*v)
    return 0;
  errno = 0;
  n = strtoull(v, &end, 10);
  if (errno || *end || v[0] == '-')
    return 0;
  *ok = true;
  return (size_t)n;
}

/* The connection's socket, or -1. */
static int conn_fd(struct MHD_Connection *conn)
{
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

  return ci && ci->connect_fd >= 0 ? ci->connect_fd : -1;
}

static struct http_conn *conn_slot(struct http_server *srv, int fd)
{
  return fd >= 0 && (size_t)fd < srv->n_conns ? &srv->conns[fd] : NULL;
}

static lemu_err_t conns_reserve(struct http_server *srv, int fd)
{
  size_t n = srv->n_conns ? srv->n_conns : 256;
  struct http_conn *c;

  if ((size_t)fd < srv->n_conns)
    return LEMU_ERR_OK;
  while (n <= (size_t)fd)
    n *= 2;
  c = realloc(srv->conns, n * sizeof(*c));
  if (!c)
    return LEMU_ERR_NOMEM;
  memset(c + srv->n_conns, 0, (n - srv->n_conns) * sizeof(*c));
  srv->conns = c;
  srv->n_conns = n;
  return LEMU_ERR_OK;
}

/* Queue fd for conns_reap_half_closed(). If the queue cannot grow, the connection is left to
 * the idle timeout (opts.idle_timeout_s), as before this watch existed. */
static void conn_queue_half_closed(struct http_server *srv, int fd)
{
  struct http_conn *c = &srv->conns[fd];

  if (c->queued)
    return;
  if (srv->n_half_closed == srv->cap_half_closed) {
    size_t cap = srv->cap_half_closed ? srv->cap_half_closed * 2 : 16;
    int *q = realloc(srv->half_closed, cap * sizeof(*q));
    if (!q)
      return;
    srv->half_closed = q;
    srv->cap_half_closed = cap;
  }
  srv->half_closed[srv->n_half_closed++] = fd;
  c->queued = true;
}

/* End a suspended request whose peer has gone (close_on_peer_fin): resumed with `aborted` set,
 * on_access refuses it, so MHD closes the connection and on_completed runs the owner's on_close. */
static void req_abort(struct http_server *srv, struct http_req *req, int fd)
{
  req->aborted = true;
  req->suspended = false;
  susp_unlink(srv, req);
  shutdown(fd, SHUT_RDWR);
  MHD_resume_connection(req->conn);
  srv->resumed = true;
}

/* Called only when MHD is idle (it has read everything that came before the peer's FIN): a
 * half-closed connection with no complete request in progress can never get one, so its read
 * side is shut and MHD, woken by that, reads EOF and closes it. One whose request is dispatched
 * (suspended waiting for its answer, or writing the response) keeps it: on_completed queues it
 * again and it is closed once the response is out -- unless the request asked to end with its
 * peer (close_on_peer_fin: a runtime's parked GET /next), which ends it now. */
static void conns_reap_half_closed(struct http_server *srv)
{
  size_t i, n = srv->n_half_closed;

  srv->n_half_closed = 0;
  for (i = 0; i < n; i++) {
    int fd = srv->half_closed[i];
    struct http_conn *c = &srv->conns[fd];
    if (!c->queued)
      continue; /* closed (and its slot zeroed) since it was queued */
    c->queued = false;
    if (c->req && c->req->suspended && c->req->close_on_peer_fin) {
      req_abort(srv, c->req, fd);
      continue;
    }
    if (c->req && c->req->dispatched)
      continue;
    shutdown(fd, SHUT_RD);
  }
}

/* TCP_CORK on or off; off sends what the socket holds. */
static void conn_cork(struct http_conn *c, int fd, bool on)
{
  int v = on;

  if (setsockopt(fd, IPPROTO_TCP, TCP_CORK, &v, sizeof(v)) == 0 || !on)
    c->corked = on;
}

/* After every MHD_run(): an answer corked in it whose next request did not come with it (the
 * peer waits for the answer before sending more) goes out now, and the connection is no longer
 * taken for a pipelining one. One whose next request came stays corked until that request's
 * answer is out (on_completed). */
static void conns_flush_corked(struct http_server *srv)
{
  size_t i;

  for (i = 0; i < srv->n_corked; i++) {
    int fd = srv->corked[i];
    struct http_conn *c = conn_slot(srv, fd);
    if (c && c->corked && !c->follower_seen) {
      conn_cork(c, fd, false);
      c->pipelines = false;
    }
  }
  srv->n_corked = 0;
}

static enum MHD_Result queue_answer(struct http_req *req, unsigned status, struct MHD_Response *resp)
{
  enum MHD_Result r = MHD_queue_response(req->conn, status, resp);

  MHD_destroy_response(resp);
  req->answered = true;
  return r;
}

static void dispatch(struct http_server *srv, struct http_req *req)
{
  http_handler_fn fn = req->route ? req->route->fn : srv->opts.not_found;

  req->dispatched = true;
  srv->in_handler = true;
  fn(req, srv->opts.cls);
  srv->in_handler = false;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
  struct http_server *srv = cls;
  struct http_req *req = *con_cls;
  size_t i;

  (void)version;
  if (!req) {
    struct http_conn *hc;
    bool ok;
    size_t clen;

    req = calloc(1, sizeof(*req));
    if (!req)
      return MHD_NO;
    req->srv = srv;
    req->conn = conn;
    req->method = method;
    req->path = url;
    req->conn_fd = conn_fd(conn);
    if ((hc = conn_slot(srv, req->conn_fd))) {
      req->conn_tag = hc->tag;
      hc->req = req;
      /* Here in the same MHD_run() as the previous request's completion: this one was sent
       * before that answer could be read (HTTP/1.1 pipelining). */
      if (hc->last_done_run == srv->run_seq)
        hc->pipelines = true;
      if (hc->corked)
        hc->follower_seen = true;
    }
    for (i = 0; i < srv->opts.n_routes; i++) {
      const struct http_route *r = &srv->opts.routes[i];
      if (r->method && strcmp(r->method, method) != 0)
        continue;
      if (route_match(r->pattern, url, req->params, &req->n_params)) {
        req->route = r;
        break;
      }
    }
    buf_init(&req->body, req->route ? req->route->max_body : srv->opts.not_found_max_body);
    clen = parse_content_length(
      MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH), &ok);
    *con_cls = req;
    if (ok && clen > req->body.limit) {
      const char *expect = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_EXPECT);
      req->too_big = true;
      /* A client that sends the body at once (botocore) must be able to finish sending it and
       * read the answer: its body is read and dropped, never buffered. A client that waits for
       * "100 Continue" is refused from the headers alone (then MHD closes the connection). */
      if (!expect || strcasecmp(expect, "100-continue") != 0)
        return MHD_YES;
      dispatch(srv, req);
      if (!req->answered)
        http_req_send(req, 500, NULL);
      return MHD_YES;
    }
    if (ok && clen > 0)
      buf_reserve(&req->body, clen);
    return MHD_YES;
  }
  if (req->aborted) /* resumed by req_abort(): MHD closes the connection */
    return MHD_NO;
  if (req->pending) { /* resumed with its answer */
    struct MHD_Response *resp = req->pending;
    req->pending = NULL;
    return queue_answer(req, req->pending_status, resp);
  }
  if (*upload_data_size) {
    if (!req->too_big && buf_append(&req->body, upload_data, *upload_data_size) != LEMU_ERR_OK) {
      req->too_big = true;
      buf_cleanup(&req->body);
    }
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (req->dispatched || req->answered)
    return MHD_YES;
  dispatch(srv, req);
  if (!req->answered && !req->suspended) {
    /* The handler chose to wait: park the connection until http_req_send(). */
    req->suspended = true;
    req->susp_next = srv->suspended;
    if (srv->suspended)
      srv->suspended->susp_prev = req;
    srv->suspended = req;
    MHD_suspend_connection(conn);
  }
  return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
  struct http_server *srv = cls;
  struct http_req *req = *con_cls;
  struct http_conn *hc;

  (void)conn;
  (void)toe;
  if (!req)
    return;
  if (req->suspended)
    susp_unlink(srv, req);
  if ((hc = conn_slot(srv, req->conn_fd)) && hc->req == req) {
    hc->req = NULL;
    hc->last_done_run = srv->run_seq;
    if (hc->cork_req == req)
      hc->cork_req = NULL; /* its answer is in the socket, held for the next one */
    else if (hc->corked)
      conn_cork(hc, req->conn_fd, false); /* the next answer is out too: both leave now */
    if (hc->peer_closed) /* the response is out: nothing more can come on this connection */
      conn_queue_half_closed(srv, req->conn_fd);
  }
  *con_cls = NULL;
  req_free(req);
}

/* The peer's FIN (EPOLLRDHUP) or a reset on a connection's socket. libmicrohttpd 0.9.75 registers
 * sockets edge-triggered and takes a short recv() to mean "drained" (recv_param_adapter in
 * connection.c), so when the FIN arrives in the same segment as a partial request it reads the
 * data, never reads the EOF and gets no further edge: the connection would wait for the idle
 * timeout. (Fixed upstream in 1.0.0 by 08f933a6, "epoll: immediately notice when other side
 * closes the socket", bug #7192.) Here the connection is only queued: on_prepare first lets MHD
 * read what came before the FIN, then conns_reap_half_closed() decides. Watching costs one
 * epoll_ctl when a connection opens and one when it closes, nothing per request: data arriving
 * does not wake this watch, only the FIN does. */
static void on_conn_event(int fd, uint32_t events, void *cls)
{
  struct http_server *srv = cls;
  struct http_conn *c = conn_slot(srv, fd);

  (void)events; /* EPOLLRDHUP, EPOLLHUP or EPOLLERR: all say nothing more will come */
  if (!c || !c->watched || c->peer_closed)
    return;
  c->peer_closed = true;
  conn_queue_half_closed(srv, fd);
  srv->resumed = true; /* run MHD before deciding: its own epoll may hold the data's edge */
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
  struct http_server *srv = cls;
  int fd = conn_fd(conn);
  struct http_conn *c;

  (void)socket_context;
  if (fd < 0)
    return;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    if (conns_reserve(srv, fd) != LEMU_ERR_OK)
      return; /* unwatched: the idle timeout still reaps it */
    c = &srv->conns[fd];
    c->req = NULL;
    c->peer_closed = c->queued = false;
    c->watched = loop_watch(srv->loop, fd, EPOLLRDHUP | EPOLLET, on_conn_event, srv) == LEMU_ERR_OK;
    return;
  }
  if (toe != MHD_CONNECTION_NOTIFY_CLOSED || !(c = conn_slot(srv, fd)))
    return;
  if (c->watched)
    loop_unwatch(srv->loop, fd); /* MHD closes the socket right after this notification */
  memset(c, 0, sizeof(*c));
}

static void http_run(struct http_server *srv)
{
  srv->run_seq++;
  MHD_run(srv->daemon);
  if (srv->n_corked)
    conns_flush_corked(srv);
}

static void on_epoll_ready(int fd, uint32_t events, void *cls)
{
  (void)fd;
  (void)events;
  http_run(cls);
}

static void on_idle_timer(void *cls)
{
  http_run(cls); /* MHD closes the connections whose idle timeout has passed */
}

/* MHD can wait: if it has a connection to time out (opts.idle_timeout_s), make sure the loop
 * wakes up for it even when nothing else happens. The timer is only moved earlier; when a later
 * deadline is due instead, it fires early once and is re-armed here, so a busy server does not
 * touch the timer heap per request. */
static bool arm_idle_timer(struct http_server *srv, enum MHD_Result have, MHD_UNSIGNED_LONG_LONG ms)
{
  uint64_t due;

  if (have != MHD_YES) {
    loop_timer_stop(srv->loop, &srv->idle_timer);
    return false;
  }
  if (ms > HTTP_MAX_IDLE_WAIT_MS)
    ms = HTTP_MAX_IDLE_WAIT_MS; /* waking early is harmless: MHD_run then finds nothing due */
  due = util_now_us() + (uint64_t)ms * 1000u;
  if (!loop_timer_armed(&srv->idle_timer) || srv->idle_timer.due_us > due)
    loop_timer_start(srv->loop, &srv->idle_timer, (uint64_t)ms * 1000u);
  return false;
}

/* Before the loop sleeps: MHD may hold buffered work (edge-triggered sockets with data left, or
 * resumed connections); run it until it says it can wait. Half-closed connections are looked at
 * only then, when MHD has read all it can. */
static bool on_prepare(void *cls)
{
  struct http_server *srv = cls;
  MHD_UNSIGNED_LONG_LONG timeout;
  int i;

  for (i = 0; i < HTTP_MAX_RUNS_PER_PREPARE; i++) {
    if (!srv->resumed) {
      enum MHD_Result have = MHD_get_timeout(srv->daemon, &timeout);
      if (have != MHD_YES || timeout > 0) {
        if (srv->n_half_closed)
          conns_reap_half_closed(srv);
        return arm_idle_timer(srv, have, timeout);
      }
    }
    srv->resumed = false;
    http_run(srv);
  }
  /* Still busy (a large upload in progress): let other fds have a turn, then come back. */
  return srv->resumed || (MHD_get_timeout(srv->daemon, &timeout) == MHD_YES && timeout == 0);
}

struct http_server *http_server_create(struct loop *loop, const struct http_server_opts *opts)
{
  struct http_server *srv = calloc(1, sizeof(*srv));
  struct sockaddr_in addr;
  unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  const union MHD_DaemonInfo *info;

  if (!srv)
    return NULL;
  srv->loop = loop;
  srv->opts = *opts;
  srv->epoll_fd = -1;
  loop_timer_init(&srv->idle_timer, on_idle_timer, srv);
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_port = htons((uint16_t)opts->listen_port);
  if (opts->no_listen) {
    flags |= MHD_USE_NO_LISTEN_SOCKET;
  } else if (inet_pton(AF_INET, opts->listen_host ? opts->listen_host : "127.0.0.1", &addr.sin_addr) != 1) {
    logs_error("invalid listen address '%s': expected an IPv4 address", opts->listen_host);
    free(srv);
    return NULL;
  }
  srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_access, srv,
                                 MHD_OPTION_SOCK_ADDR, opts->no_listen ? NULL : (struct sockaddr *)&addr,
                                 MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONNECTION_MEMORY,
                                 /* Clients that stop sending without closing (suspended
                                  * connections are exempt). */
                                 MHD_OPTION_CONNECTION_TIMEOUT, opts->idle_timeout_s,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                                 MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
                                 MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, srv,
                                 MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
                                 MHD_OPTION_END);
  if (!srv->daemon) {
    if (!opts->no_listen)
      logs_error("cannot listen on %s:%u: %s", opts->listen_host ? opts->listen_host : "127.0.0.1",
                 opts->listen_port, strerror(errno ? errno : EADDRINUSE));
    free(srv);
    return NULL;
  }
  info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_EPOLL_FD);
  if (!info || loop_watch(loop, info->epoll_fd, EPOLLIN, on_epoll_ready, srv) != LEMU_ERR_OK ||
      loop_add_prepare(loop, on_prepare, srv) != LEMU_ERR_OK) {
    logs_error("cannot attach the HTTP daemon to the event loop");
    MHD_stop_daemon(srv->daemon);
    free(srv);
    return NULL;
  }
  srv->epoll_fd = info->epoll_fd;
  return srv;
}

void http_server_destroy(struct http_server *srv)
{
  if (!srv)
    return;
  /* MHD refuses to stop with suspended connections: answer each one first. */
  while (srv->suspended) {
    struct http_req *req = srv->suspended;
    struct MHD_Response *resp = http_resp_copy("", 0);
    req->on_close = NULL;
    http_req_send(req, 503, resp);
  }
  MHD_run(srv->daemon);
  loop_timer_stop(srv->loop, &srv->idle_timer);
  loop_unwatch(srv->loop, srv->epoll_fd);
  MHD_stop_daemon(srv->daemon); /* closes every connection: each slot's watch is dropped */
  free(srv->conns);
  free(srv->half_closed);
  free(srv->corked);
  free(srv);
}

unsigned http_server_port(const struct http_server *srv)
{
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);

  return info ? info->port : 0;
}

lemu_err_t http_server_add_connection(struct http_server *srv, int fd, const struct sockaddr *addr,
                                      socklen_t addrlen, void *tag)
{
  if (fd < 0)
    return LEMU_ERR_INVAL;
  if (conns_reserve(srv, fd) != LEMU_ERR_OK) {
    close(fd);
    return LEMU_ERR_NOMEM;
  }
  srv->conns[fd].tag = tag;
  if (MHD_add_connection(srv->daemon, fd, addr, addrlen) != MHD_YES) {
    srv->conns[fd].tag = NULL; /* MHD closed the socket */
    return LEMU_ERR_HTTP;
  }
  return LEMU_ERR_OK;
}

void http_server_untag(struct http_server *srv, void *tag)
{
  size_t i;

  for (i = 0; i < srv->n_conns; i++)
    if (srv->conns[i].tag == tag)
      srv->conns[i].tag = NULL;
}

const char *http_req_header(struct http_req *req, const char *name)
{
  return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_req_query(struct http_req *req, const char *name)
{
  return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

bool http_req_peer_is_loopback(struct http_req *req)
{
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(req->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  const struct sockaddr *sa = ci ? ci->client_addr : NULL;

  if (!sa)
    return false;
  if (sa->sa_family == AF_INET)
    return (ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr) >> 24) == 127;
  if (sa->sa_family == AF_INET6) {
    const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
  }
  return false;
}

void http_req_suspend(struct http_req *req)
{
  (void)req; /* the connection is parked when the handler returns unanswered */
}

void http_req_send(struct http_req *req, unsigned status, struct MHD_Response *resp)
{
  struct http_server *srv = req->srv;

  if (!resp) { /* allocation failed while building the answer: close the connection */
    resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    status = 500;
    if (!resp)
      return;
  }
  if (req->answered || req->pending) {
    MHD_destroy_response(resp);
    return;
  }
  if (!req->suspended) {
    /* Still inside the handler (or a synchronous path from it): queue right away. */
    queue_answer(req, status, resp);
    return;
  }
  req->pending = resp;
  req->pending_status = status;
  req->suspended = false;
  susp_unlink(srv, req);
  MHD_resume_connection(req->conn);
  /* Run this daemon before the loop sleeps: the resume may come from another daemon's callback
   * after this one's prepare already ran, and MHD's wake-up is not reliable in external epoll. */
  srv->resumed = true;
  loop_poke(srv->loop);
}

void http_req_send_coalesced(struct http_req *req, unsigned status, struct MHD_Response *resp)
{
  struct http_server *srv = req->srv;
  struct http_conn *c = conn_slot(srv, req->conn_fd);

  /* Only an answer given inside its handler: MHD sends it in this MHD_run(), so the check after
   * the run (conns_flush_corked) sees whether the next request came with it. */
  if (c && c->pipelines && !c->corked && srv->in_handler && !req->suspended && !req->answered &&
      resp) {
    if (srv->n_corked == srv->cap_corked) {
      size_t cap = srv->cap_corked ? srv->cap_corked * 2 : 16;
      int *q = realloc(srv->corked, cap * sizeof(*q));
      if (q) {
        srv->corked = q;
        srv->cap_corked = cap;
      }
    }
    if (srv->n_corked < srv->cap_corked) {
      conn_cork(c, req->conn_fd, true);
      if (c->corked) {
        srv->corked[srv->n_corked++] = req->conn_fd;
        c->cork_req = req;
        c->follower_seen = false;
      }
    }
  }
  http_req_send(req, status, resp);
}

struct MHD_Response *http_resp_take(char *body, size_t len)
{
  struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, body, free);

  if (!r)
    free(body);
  return r;
}

static void blob_free_cb(void *cls)
{
  blob_unref(cls);
}

struct MHD_Response *http_resp_blob(struct blob *b)
{
  struct MHD_Response *r =
    MHD_create_response_from_buffer_with_free_callback_cls(b->len, b->data, blob_free_cb, b);

  if (r)
    blob_ref(b);
  return r;
}

struct MHD_Response *http_resp_copy(const void *body, size_t len)
{
  return MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
}

void http_resp_header(struct MHD_Response *resp, const char *name, const char *value)
{
  if (resp && name && value)
    MHD_add_response_header(resp, name, value);
}

void http_resp_free(struct MHD_Response *resp)
{
  if (resp)
    MHD_destroy_response(resp);
}
