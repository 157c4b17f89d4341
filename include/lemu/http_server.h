/* libmicrohttpd glue: one daemon in external-epoll mode driven by lemu's loop, a routing table
 * given as data, bounded request bodies, and suspend/resume so a request can wait for an event
 * (an Invoke for its handler, a runtime's /next for work) without blocking anything. */
#ifndef LEMU_HTTP_SERVER_H
#define LEMU_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "lemu/buf.h"
#include "lemu/err.h"

struct loop;
struct http_server;
struct http_req;
struct MHD_Connection;
struct MHD_Response;

#define HTTP_MAX_PARAMS 4

/* Called once the whole body is in (or was refused as too big: req->too_big). The handler must
 * answer with http_req_send(), now or later after http_req_suspend(). */
typedef void (*http_handler_fn)(struct http_req *req, void *cls);

struct http_route {
  const char *method;  /* "GET", "POST", ...; NULL = any */
  const char *pattern; /* "/2015-03-31/functions/{}/invocations": {} matches one segment */
  http_handler_fn fn;
  size_t max_body;     /* bytes buffered at most; beyond, the body is drained and too_big set */
};

struct http_req {
  struct http_server *srv;
  struct MHD_Connection *conn;
  const char *method;   /* borrowed from MHD, valid for the request's life */
  const char *path;
  const struct http_route *route; /* NULL when nothing matched */
  char *params[HTTP_MAX_PARAMS];  /* path parameters, owned by the request */
  size_t n_params;
  struct buf body;
  bool too_big;
  void *conn_tag;       /* tag given to http_server_add_connection() for this connection */
  /* Whoever keeps a pointer to a suspended request sets these; if the request dies first (server
   * shut down, connection gone) on_close is called so the owner can forget it. */
  void *owner;
  void (*on_close)(struct http_req *req, void *owner);
  /* Set by the handler: while suspended, the peer's FIN ends the request (connection closed,
   * on_close called) instead of waiting for the answer. For a runtime's parked GET /next: a
   * runtime that hung up will not read an invocation, so none may be given to it. */
  bool close_on_peer_fin;
  /* internal */
  int conn_fd;          /* the connection's socket (-1 if unknown) */
  bool suspended, dispatched, answered, aborted;
  unsigned pending_status;
  struct MHD_Response *pending;
  struct http_req *susp_prev, *susp_next;
};

struct http_server_opts {
  const struct http_route *routes;
  size_t n_routes;
  http_handler_fn not_found;    /* answers requests that match no route */
  size_t not_found_max_body;    /* body bytes buffered for those (0: none, too_big set) */
  void *cls;                    /* passed to every handler */
  const char *listen_host;      /* NULL with no_listen */
  unsigned listen_port;         /* 0 = ephemeral */
  bool no_listen;               /* connections come only from http_server_add_connection() */
  unsigned idle_timeout_s;      /* close a connection idle this long (suspended ones never); 0 = never */
  const char *name;             /* for lemu's own warnings ("the Runtime API") */
  const char *oversize_hint;    /* appended to the warning for a request refused as too large */
};

/* Start a daemon driven by loop. NULL on failure (the reason is logged). */
struct http_server *http_server_create(struct loop *loop, const struct http_server_opts *opts);
/* Answers every suspended request with 503, then stops the daemon and frees it. */
void http_server_destroy(struct http_server *srv);
/* The bound port (useful with port 0). */
unsigned http_server_port(const struct http_server *srv);
/* Hand an accepted socket to the daemon; every request on it carries tag. Takes the fd (closed
 * on failure). */
lemu_err_t http_server_add_connection(struct http_server *srv, int fd, const struct sockaddr *addr,
                                      socklen_t addrlen, void *tag);
/* Forget the tag of every connection carrying it (its owner is going away). */
void http_server_untag(struct http_server *srv, void *tag);

/* Request accessors: header and query lookups are case-insensitive for headers; NULL if absent. */
const char *http_req_header(struct http_req *req, const char *name);
const char *http_req_query(struct http_req *req, const char *name);
/* Whether the request's peer is a loopback address (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104).
 * false when the address is unknown. */
bool http_req_peer_is_loopback(struct http_req *req);

/* Keep the request open after its handler returns; answer later with http_req_send(). */
void http_req_suspend(struct http_req *req);
/* Answer the request. Takes resp. Works from the handler or, for a suspended request, from any
 * later event (it is resumed). A request is answered once; later calls just free resp. */
void http_req_send(struct http_req *req, unsigned status, struct MHD_Response *resp);

/* Answer like http_req_send(), from inside the handler; when the connection's peer pipelines
 * (it sent its next request before reading this answer, as a runtime sending POST /response and
 * GET /next in one write does), the answer's bytes wait in the socket (TCP_CORK) and leave with
 * the connection's next answer: one segment and one wake-up of the peer instead of two. The
 * answer is held no longer than the next answer, or the end of this MHD_run() when the next
 * request did not come with it, or the kernel's 200 ms cork ceiling. Meant for answers a peer
 * that pipelines does not wait for (the Runtime API's 202). */
void http_req_send_coalesced(struct http_req *req, unsigned status, struct MHD_Response *resp);

/* Response bodies. _take frees body with free() when done; _blob holds a reference on b;
 * _copy copies. All return NULL on allocation failure. */
struct MHD_Response *http_resp_take(char *body, size_t len);
struct MHD_Response *http_resp_blob(struct blob *b);
struct MHD_Response *http_resp_copy(const void *body, size_t len);
/* Add a header to a response (name and value are copied). */
void http_resp_header(struct MHD_Response *resp, const char *name, const char *value);
void http_resp_free(struct MHD_Response *resp);

#endif
