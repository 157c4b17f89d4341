/* libmicrohttpd driven from lemu's loop (see include/lemu/http_server.h). The daemon runs in
 * external epoll mode: its epoll fd is one watcher in our loop, and MHD_run() is called when it is
 * readable or when MHD says it has buffered work. Requests are suspended with
 * MHD_suspend_connection() while they wait and resumed with their answer. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
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

struct http_server {
  struct MHD_Daemon *daemon;
  struct loop *loop;
  struct http_server_opts opts;
  int epoll_fd;
  struct http_req *suspended; /* doubly linked list of suspended requests */
  void **tags;                /* fd-indexed connection tags */
  size_t n_tags;
  bool in_handler;
  bool resumed;               /* a connection was resumed: run MHD before the loop sleeps */
  struct loop_timer idle_timer; /* wakes the loop when MHD has a connection to time out */
};

static void http_mhd_log(void *cls, const char *fmt, va_list ap)
{
  (void)cls;
  logs_vdebug(fmt, ap);
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

static void *tag_of(struct http_server *srv, struct MHD_Connection *conn)
{
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);

  if (!ci || ci->connect_fd < 0 || (size_t)ci->connect_fd >= srv->n_tags)
    return NULL;
  return srv->tags[ci->connect_fd];
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
    bool ok;
    size_t clen;

    req = calloc(1, sizeof(*req));
    if (!req)
      return MHD_NO;
    req->srv = srv;
    req->conn = conn;
    req->method = method;
    req->path = url;
    req->conn_tag = tag_of(srv, conn);
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

  (void)conn;
  (void)toe;
  if (!req)
    return;
  if (req->suspended)
    susp_unlink(srv, req);
  *con_cls = NULL;
  req_free(req);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
  struct http_server *srv = cls;
  const union MHD_ConnectionInfo *ci;

  (void)socket_context;
  if (toe != MHD_CONNECTION_NOTIFY_CLOSED)
    return;
  ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (ci && ci->connect_fd >= 0 && (size_t)ci->connect_fd < srv->n_tags)
    srv->tags[ci->connect_fd] = NULL;
}

static void http_run(struct http_server *srv)
{
  MHD_run(srv->daemon);
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
 * resumed connections); run it until it says it can wait. */
static bool on_prepare(void *cls)
{
  struct http_server *srv = cls;
  MHD_UNSIGNED_LONG_LONG timeout;
  int i;

  for (i = 0; i < HTTP_MAX_RUNS_PER_PREPARE; i++) {
    if (!srv->resumed) {
      enum MHD_Result have = MHD_get_timeout(srv->daemon, &timeout);
      if (have != MHD_YES || timeout > 0)
        return arm_idle_timer(srv, have, timeout);
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
                                 /* libmicrohttpd 0.9.75 in edge-triggered epoll mode can miss a FIN
                                  * that arrives with a partial request; the idle timeout reaps
                                  * such connections (suspended ones are exempt). */
                                 MHD_OPTION_CONNECTION_TIMEOUT, opts->idle_timeout_s,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
                                 MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
                                 MHD_OPTION_EXTERNAL_LOGGER, http_mhd_log, NULL,
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
  MHD_stop_daemon(srv->daemon);
  free(srv->tags);
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
  if ((size_t)fd >= srv->n_tags) {
    size_t n = srv->n_tags ? srv->n_tags : 256;
    void **t;
    while (n <= (size_t)fd)
      n *= 2;
    t = realloc(srv->tags, n * sizeof(*t));
    if (!t) {
      close(fd);
      return LEMU_ERR_NOMEM;
    }
    memset(t + srv->n_tags, 0, (n - srv->n_tags) * sizeof(*t));
    srv->tags = t;
    srv->n_tags = n;
  }
  srv->tags[fd] = tag;
  if (MHD_add_connection(srv->daemon, fd, addr, addrlen) != MHD_YES) {
    srv->tags[fd] = NULL; /* MHD closed the socket */
    return LEMU_ERR_HTTP;
  }
  return LEMU_ERR_OK;
}

void http_server_untag(struct http_server *srv, void *tag)
{
  size_t i;

  for (i = 0; i < srv->n_tags; i++)
    if (srv->tags[i] == tag)
      srv->tags[i] = NULL;
}

const char *http_req_header(struct http_req *req, const char *name)
{
  return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_req_query(struct http_req *req, const char *name)
{
  return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
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
