/* Fuzzes the Runtime API (runtime-api/runtime_api.c with the invoker and envpool behind it)
 * in-process, against one real environment: lemu's server core (server_create, as `lemu serve`)
 * with one function "rt" (ReservedConcurrentExecutions 1) whose bootstrap only sleeps and never
 * calls the Runtime API itself. The first input spawns its environment through a real Invoke;
 * every input then starts from the same state (the environment idle in a GET /next this harness
 * holds) and is read as a sequence of operations, each a request on a connection of its own:
 *   0 GET /next               1 POST /invocation/ID/response   2 POST /invocation/ID/error
 *   3 POST /init/error        4 Invoke rt (sync, on the API)    5 close the oldest open connection
 *   6 METHOD /2018-06-01/runtime/PATH (anything)
 *   7 'K': SIGKILL the environment's process group (a crash; the next request needs a new one, so
 *     a Runtime API request while there is none becomes an Invoke, which spawns it); 7 'N': close
 *     the parked GET /next's connection (a runtime that hangs up while idle; op 5 may close it
 *     too); 7 'P': a runtime that pipelines: POST /invocation/ID/response (ID the last delivery's,
 *     the body input text) and GET /next in one write, on one connection kept open across
 *     operations until the input ends (from its second pair on, lemu holds that connection's 202
 *     in a corked socket until its next answer); 7 followed by any other byte just runs the loop
 * ID is the request id of the last or the one before last delivery (from the Lambda-Runtime-Aws-
 * Request-Id of a /next answer) or text from the input; bodies, the Lambda-Runtime-Function-Error-
 * Type header and paths are input text. Runtime API connections are handed to the runtime daemon
 * tagged with the environment, as envpool does for a connection accepted on the environment's own
 * socket. Every request but GET /next is followed by a half-close (one request per connection:
 * lemu answers, then closes); a GET /next connection stays open while it waits, as a runtime's
 * does (a half-closed one is a runtime that hung up), and the harness closes it once it is
 * answered. After the operations the harness brings the environment back to idle: it answers an
 * invocation still running, calls /next, and when an operation killed the environment (an init
 * error, op 7) invokes again, which spawns a new one. Spawns and hang-ups of a parked /next are
 * counted and printed at exit.
 *
 * Invariants: every Runtime API request is answered once, with a status the RIE uses (200 for a
 * /next delivery, which names its request id; 202, 400, 403, 404, 413, 500), and a request that
 * cannot wait (all but /next) is answered at once, but for a pipelined pair's POST, whose answer
 * may wait for its GET /next's; a pipelined connection's answers come in the order of its
 * requests, never more of them; every Invoke is answered exactly once, 200 or
 * an error row of the catalog with its own status; every answer is well-formed HTTP with a length;
 * a parked GET /next whose connection the harness closes is dropped by lemu within the bound,
 * and its environment is no longer idle (it gets no invocation until it asks again); a running
 * invocation is always the last one delivered to a /next the harness held (never one sent into
 * a dead connection); afterwards one environment is idle, no invocation is left, nothing holds a
 * concurrency slot; the process's open fds do not grow. */
#include "fuzz_server.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "lemu/aws_errors.h"
#include "lemu/envpool.h"
#include "lemu/invoker.h"
#include "lemu/registry.h"

#define FZ_MAX_OPS 24
#define FZ_MAX_CONNS 40
#define FZ_QUIET_ITERATIONS 4
#define FZ_BOUND_MS 5000
#define FZ_FD_EVERY 256
#define FZ_FD_SLACK 8
#define FZ_RT_PREFIX "/2018-06-01/runtime/"
#define FZ_KILL_KEY 'K'      /* op 7 kills only when this byte follows; otherwise it only pumps the loop */
#define FZ_HANG_UP_KEY 'N'   /* op 7 then this: the runtime hangs up its parked GET /next */
#define FZ_PIPE_KEY 'P'      /* op 7 then this: a pipelined POST /response + GET /next */

enum conn_kind { C_NEXT, C_RT, C_INVOKE, C_PIPE };

struct conn {
  int fd;                 /* -1: slot free */
  enum conn_kind kind;
  bool eof, closed_by_us;
  bool head;              /* a HEAD request: its answer has no body */
  unsigned want, got;     /* C_PIPE: answers its requests call for, answers read */
  struct buf in;
};

static struct lemu_ctx *ctx;
static struct function *fn;
static struct conn conns[FZ_MAX_CONNS];
static struct conn *pipe_conn; /* the pipelining runtime's connection (7 'P'), or NULL */
static char ids[2][LEMU_UUID_LEN + 1]; /* request ids of the last two /next deliveries */
static unsigned long runs, first_env_id, activity, next_hang_ups;
static int fd_baseline = -1;

static const char config_json[] =
  "{\"Listen\": \"127.0.0.1:0\",\n"
  " \"Functions\": [{\"FunctionName\": \"rt\", \"Runtime\": \"provided.al2023\", \"Handler\": \"none\",\n"
  "                 \"CodeUri\": \"rtcode\", \"Timeout\": 900, \"ReservedConcurrentExecutions\": 1}],\n"
  " \"Lemu\": {\"StateDir\": \"state\", \"PendingSeconds\": 0}}\n";

/* ---- the input as a stream ---- */
struct reader {
  const uint8_t *p, *end;
};

static unsigned take_byte(struct reader *r)
{
  return r->p < r->end ? *r->p++ : 0;
}

/* A length byte (0..63 used) then that many bytes. */
static size_t take_text(struct reader *r, const uint8_t **out)
{
  size_t n = take_byte(r) & 63;

  if (n > (size_t)(r->end - r->p))
    n = (size_t)(r->end - r->p);
  *out = r->p;
  r->p += n;
  return n;
}

static size_t take_body(struct reader *r, const uint8_t **out)
{
  size_t n = (size_t)take_byte(r) << 4;

  if (n > (size_t)(r->end - r->p))
    n = (size_t)(r->end - r->p);
  *out = r->p;
  r->p += n;
  return n;
}

/* ---- connections ---- */
static void on_conn_io(int fd, uint32_t events, void *cls)
{
  struct conn *c = cls;
  size_t got;
  bool closed;

  (void)events;
  closed = fuzz_read_available(fd, &c->in, &got);
  activity += got > 0;
  if (closed) {
    c->eof = true;
    activity++;
    loop_unwatch(ctx->loop, fd);
  }
}

static struct env *live_env(void)
{
  struct env *e;

  for (e = ctx->envs; e; e = e->next)
    if (e->state != ENV_DEAD)
      return e;
  return NULL;
}

static struct conn *conn_open(enum conn_kind kind)
{
  size_t i;

  for (i = 0; i < FZ_MAX_CONNS; i++)
    if (conns[i].fd < 0)
      break;
  FUZZ_CHECK(i < FZ_MAX_CONNS);
  conns[i].kind = kind;
  conns[i].eof = conns[i].closed_by_us = conns[i].head = false;
  conns[i].want = conns[i].got = 0;
  buf_init(&conns[i].in, SIZE_MAX);
  if (kind == C_INVOKE) {
    conns[i].fd = fuzz_connect(ctx->api, NULL);
  } else {
    struct env *env = live_env();
    /* a Runtime API connection needs an environment to belong to; without one, an Invoke */
    if (!env) {
      conns[i].kind = kind = C_INVOKE;
      conns[i].fd = fuzz_connect(ctx->api, NULL);
    } else {
      conns[i].fd = fuzz_connect(ctx->rt, env);
    }
  }
  if (loop_watch(ctx->loop, conns[i].fd, EPOLLIN | EPOLLRDHUP, on_conn_io, &conns[i]) != LEMU_ERR_OK)
    abort();
  return &conns[i];
}

static void conn_send(struct conn *c, struct buf *req)
{
  fuzz_write_all(c->fd, req->data, req->len);
  /* One request per connection: answered, then closed by lemu. Not a GET /next: a runtime keeps
   * that connection open while it waits, and check_conns() closes it once it is answered. */
  if (c->kind != C_NEXT)
    shutdown(c->fd, SHUT_WR);
  buf_cleanup(req);
}

static void conn_free(struct conn *c)
{
  if (c == pipe_conn)
    pipe_conn = NULL;
  if (c->fd < 0)
    return;
  if (!c->eof)
    loop_unwatch(ctx->loop, c->fd);
  close(c->fd);
  buf_cleanup(&c->in);
  c->fd = -1;
}

/* ---- requests ---- */
static void append(struct buf *b, const void *p, size_t n)
{
  if (buf_append(b, p, n) != LEMU_ERR_OK)
    abort();
}

static void append_str(struct buf *b, const char *s)
{
  append(b, s, strlen(s));
}

static void append_encoded(struct buf *b, const uint8_t *p, size_t n, const char *keep)
{
  static const char hex[] = "0123456789ABCDEF";
  size_t i;

  for (i = 0; i < n; i++) {
    if (isalnum(p[i]) || strchr(keep, p[i])) {
      append(b, &p[i], 1);
    } else {
      char e[3] = {'%', hex[p[i] >> 4], hex[p[i] & 15]};
      append(b, e, 3);
    }
  }
}

static void append_value(struct buf *b, const uint8_t *v, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (v[i] != '\r' && v[i] != '\n' && v[i] != '\0')
      append(b, &v[i], 1);
}

static void append_body(struct buf *b, const uint8_t *body, size_t n)
{
  char num[48];

  snprintf(num, sizeof(num), "Content-Length: %zu\r\n\r\n", n);
  append_str(b, num);
  append(b, body, n);
}

static void send_next(void)
{
  struct buf req;
  struct conn *c = conn_open(C_NEXT);

  buf_init(&req, SIZE_MAX);
  append_str(&req, c->kind == C_INVOKE ? "POST /2015-03-31/functions/rt/invocations HTTP/1.1\r\n"
                                         "Content-Length: 2\r\n\r\n{}"
                                       : "GET " FZ_RT_PREFIX "invocation/next HTTP/1.1\r\n\r\n");
  conn_send(c, &req);
}

static void send_invoke(const uint8_t *body, size_t n)
{
  struct buf req;
  struct conn *c = conn_open(C_INVOKE);

  buf_init(&req, SIZE_MAX);
  append_str(&req, "POST /2015-03-31/functions/rt/invocations HTTP/1.1\r\n");
  append_body(&req, body, n);
  conn_send(c, &req);
}

/* 7 'P': POST /invocation/<last delivery>/response and GET /next in one write, on the pipelining
 * runtime's connection (opened on first use, kept until the input ends). A pair sent while this
 * connection's GET /next is parked waits behind it, as libmicrohttpd answers in order. */
static void send_pipelined(const uint8_t *body, size_t n)
{
  struct buf req;

  if (!pipe_conn) {
    if (!live_env())
      return; /* nothing to belong to: conn_open() would make it an Invoke */
    pipe_conn = conn_open(C_PIPE);
  }
  buf_init(&req, SIZE_MAX);
  append_str(&req, "POST " FZ_RT_PREFIX "invocation/");
  append_str(&req, ids[0]);
  append_str(&req, "/response HTTP/1.1\r\n");
  append_body(&req, body, n);
  append_str(&req, "GET " FZ_RT_PREFIX "invocation/next HTTP/1.1\r\n\r\n");
  fuzz_write_all(pipe_conn->fd, req.data, req.len);
  buf_cleanup(&req);
  pipe_conn->want += 2;
}

/* Opens a runtime-side connection and starts req on it; false when conn_open() handed out an
 * Invoke connection instead (the runtime ones are all taken), whose request is then complete
 * but for its body. */
static bool rt_request_start(struct conn **c, struct buf *req)
{
  *c = conn_open(C_RT);
  buf_init(req, SIZE_MAX);
  if ((*c)->kind != C_INVOKE)
    return true;
  append_str(req, "POST /2015-03-31/functions/rt/invocations HTTP/1.1\r\n");
  return false;
}

/* POST /invocation/ID/{response,error} or /init/error. */
static void send_post(const char *what, const uint8_t *id, size_t id_len, const uint8_t *etype, size_t etype_len,
                      bool with_etype, const uint8_t *body, size_t n)
{
  struct buf req;
  struct conn *c;

  if (rt_request_start(&c, &req)) {
    append_str(&req, "POST " FZ_RT_PREFIX);
    if (!strcmp(what, "init/error")) {
      append_str(&req, what);
    } else {
      append_str(&req, "invocation/");
      append_encoded(&req, id, id_len, "-_.~");
      append_str(&req, "/");
      append_str(&req, what);
    }
    append_str(&req, " HTTP/1.1\r\n");
    if (with_etype) {
      append_str(&req, AWS_HDR_RT_ERROR_TYPE ": ");
      append_value(&req, etype, etype_len);
      append_str(&req, "\r\n");
    }
  }
  append_body(&req, body, n);
  conn_send(c, &req);
}

static void send_raw(unsigned method, const uint8_t *path, size_t path_len, const uint8_t *body, size_t n)
{
  static const char *const methods[] = {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"};
  struct buf req;
  struct conn *c;

  if (rt_request_start(&c, &req)) {
    append_str(&req, methods[method % 6]);
    c->head = !strcmp(methods[method % 6], "HEAD");
    append_str(&req, " " FZ_RT_PREFIX);
    append_encoded(&req, path, path_len, "-_.~/");
    append_str(&req, " HTTP/1.1\r\n");
  }
  append_body(&req, body, n);
  conn_send(c, &req);
}

/* ---- running the loop ---- */
static void one_iteration_done(void *cls)
{
  loop_stop(cls);
}

/* lemu blocks SIGCHLD in the thread that creates its loop and reads it from a signalfd; libFuzzer
 * started a thread of its own before (its RSS watcher), where SIGCHLD is not blocked, so the
 * kernel may deliver it there and it is lost. An environment that has exited (not yet reaped:
 * WNOWAIT) gets a SIGCHLD raised in this thread, where the signalfd sees it. `lemu serve` has no
 * such thread. */
static void nudge_children(void)
{
  struct env *e;

  for (e = ctx->envs; e; e = e->next) {
    siginfo_t si;
    memset(&si, 0, sizeof(si));
    if (e->pid > 0 && waitid(P_PID, (id_t)e->pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == e->pid) {
      raise(SIGCHLD);
      return;
    }
  }
}

static void iterate(void)
{
  struct loop_timer t;

  nudge_children();
  loop_timer_init(&t, one_iteration_done, ctx->loop);
  if (loop_timer_start(ctx->loop, &t, 0) != LEMU_ERR_OK)
    abort();
  loop_run(ctx->loop);
  loop_timer_stop(ctx->loop, &t);
}

/* Iterate until nothing reaches our connections for a few iterations in a row. */
static void pump_quiet(void)
{
  unsigned quiet = 0, total = 0;

  while (quiet < FZ_QUIET_ITERATIONS && total++ < 10000) {
    unsigned long before = activity;
    iterate();
    quiet = activity == before ? quiet + 1 : 0;
  }
}

static void remember_delivery(const struct fuzz_resp *r)
{
  FUZZ_CHECK(r->rt_request_id[0] && strlen(r->rt_request_id) == LEMU_UUID_LEN);
  if (strcmp(ids[0], r->rt_request_id) != 0) {
    memcpy(ids[1], ids[0], sizeof(ids[1]));
    memcpy(ids[0], r->rt_request_id, sizeof(ids[0]));
  }
}

/* The pipelining connection: its answers, one at a time and in order (a POST's, then its GET
 * /next's), each consumed as it is read; never more answers than requests. */
static void check_pipe(struct conn *c)
{
  for (;;) {
    const char *d = c->in.data ? c->in.data : "";
    struct fuzz_resp r[1];
    bool malformed;
    size_t used, one;
    unsigned s;

    if (fuzz_parse_responses(d, c->in.len, false, r, 1, &malformed, &used) == 0 || malformed) {
      if (malformed)
        fuzz_dump("pipelined answers", c->in.data, c->in.len);
      FUZZ_CHECK(!malformed);
      break;
    }
    FUZZ_CHECK(c->got < c->want);
    s = r[0].status;
    if (c->got % 2 == 0) { /* the POST /response's */
      FUZZ_CHECK(s == 202 || s == 400 || s == 403 || s == 404 || s == 413 || s == 500);
    } else {               /* the GET /next's */
      FUZZ_CHECK(s == 200 || s == 400 || s == 403 || s == 404 || s == 500);
      if (s == 200)
        remember_delivery(&r[0]);
    }
    c->got++;
    one = (size_t)(r[0].body - d) + r[0].body_len;
    memmove(c->in.data, c->in.data + one, c->in.len - one);
    c->in.len -= one;
  }
  if (c->eof) {
    FUZZ_CHECK(c->in.len == 0 || c->closed_by_us); /* nothing truncated */
    conn_free(c);
  }
}

/* Check what came back on every connection; remember /next deliveries; free finished ones (a
 * GET /next's connection, left open by lemu, is closed here once its answer is in). */
static void check_conns(void)
{
  size_t i;

  for (i = 0; i < FZ_MAX_CONNS; i++) {
    struct conn *c = &conns[i];
    struct fuzz_resp r[2];
    bool malformed;
    size_t used, n;

    if (c->fd < 0)
      continue;
    if (c->kind == C_PIPE) {
      check_pipe(c);
      continue;
    }
    n = fuzz_parse_responses(c->in.data ? c->in.data : "", c->in.len, c->head, r, 2, &malformed, &used);
    if (malformed || n > 1 || (c->eof && !c->closed_by_us && (used != c->in.len || n != 1)) ||
        (c->kind == C_NEXT && n == 1 && used != c->in.len))
      fuzz_dump(c->kind == C_INVOKE ? "invoke answer" : c->kind == C_NEXT ? "next answer" : "runtime answer",
                c->in.data, c->in.len);
    FUZZ_CHECK(!malformed);
    FUZZ_CHECK(n <= 1); /* one request, one answer */
    if (c->eof && !c->closed_by_us) {
      FUZZ_CHECK(used == c->in.len); /* nothing truncated */
      FUZZ_CHECK(n == 1);            /* lemu closed it only after answering */
    }
    if (c->kind == C_NEXT && n == 1)
      FUZZ_CHECK(used == c->in.len); /* nothing after the answer (closed by us below) */
    if (n == 1) {
      if (c->kind == C_INVOKE) {
        if (r[0].error_type[0]) {
          int id;
          bool found = false;
          for (id = 0; id < AWS_ERR__COUNT; id++)
            found |= aws_error_status((enum aws_api_error)id) == r[0].status &&
                     !strcmp(aws_error_type((enum aws_api_error)id), r[0].error_type);
          FUZZ_CHECK(found);
        } else {
          FUZZ_CHECK(r[0].status == 200);
        }
      } else {
        unsigned s = r[0].status;
        FUZZ_CHECK(s == 202 || s == 400 || s == 403 || s == 404 || s == 413 || s == 500 ||
                   (s == 200 && c->kind == C_NEXT));
        if (s == 200)
          remember_delivery(&r[0]);
      }
    }
    if (c->eof || c->closed_by_us || (c->kind == C_NEXT && n == 1))
      conn_free(c);
  }
}

/* Wait (bounded) until every connection whose request cannot be left waiting is answered. */
static void wait_answers(void)
{
  uint64_t start = util_now_us();

  for (;;) {
    size_t i;
    bool pending = false;
    for (i = 0; i < FZ_MAX_CONNS; i++)
      pending |= conns[i].fd >= 0 && conns[i].kind == C_RT && !conns[i].eof && !conns[i].closed_by_us;
    if (!pending)
      return;
    if (util_now_us() - start > (uint64_t)FZ_BOUND_MS * 1000u)
      break;
    iterate();
  }
  FUZZ_CHECK(!"a Runtime API request that cannot wait was not answered");
}

/* The harness hangs up c (a caller or a runtime closing its end). An open GET /next is always the
 * one the environment is parked in (check_conns() closes a /next once it is answered, and every
 * other /next is answered at once); lemu must notice the hang-up and drop it, not keep an idle
 * environment whose next invocation would go into a dead connection. */
static bool next_pending(void);

static void conn_hang_up(struct conn *c)
{
  uint64_t start = util_now_us();
  struct env *env = live_env();
  /* A pipelining connection whose GET /next is unanswered holds the parked one when no other
   * GET /next is open: a second GET /next is refused at once while one is parked. */
  bool parked_next = c->kind == C_NEXT || (c->kind == C_PIPE && c->got < c->want && env &&
                                           env->state == ENV_IDLE && env->next_req && !next_pending());

  if (parked_next)
    FUZZ_CHECK(env && env->state == ENV_IDLE && env->next_req != NULL);
  c->closed_by_us = true;
  conn_free(c);
  if (!parked_next)
    return;
  next_hang_ups++;
  while ((env = live_env()) && env->next_req && util_now_us() - start < (uint64_t)FZ_BOUND_MS * 1000u)
    iterate();
  FUZZ_CHECK(env && env->next_req == NULL); /* dropped: the environment's process is still there */
  FUZZ_CHECK(env->state == ENV_ANSWERED);   /* not idle: no invocation goes to it until it asks */
}

static void close_oldest(void)
{
  size_t i;

  for (i = 0; i < FZ_MAX_CONNS; i++)
    if (conns[i].fd >= 0 && !conns[i].eof) {
      conn_hang_up(&conns[i]);
      return;
    }
}

static void hang_up_next(void)
{
  size_t i;

  for (i = 0; i < FZ_MAX_CONNS; i++)
    if (conns[i].fd >= 0 && conns[i].kind == C_NEXT && !conns[i].eof) {
      conn_hang_up(&conns[i]);
      return;
    }
}

/* A running invocation was delivered to a GET /next the harness held, and it was the last one: the
 * harness has read its id (bounded: the delivery may still be on its way). */
static void check_running_delivered(void)
{
  uint64_t start = util_now_us();
  struct env *env;

  while ((env = live_env()) && env->state == ENV_BUSY && env->inv && strcmp(env->inv->request_id, ids[0]) != 0) {
    if (util_now_us() - start > (uint64_t)FZ_BOUND_MS * 1000u)
      FUZZ_CHECK(!"an invocation runs that no open GET /next was given");
    iterate();
    check_conns();
  }
}

static bool next_pending(void)
{
  size_t i;

  for (i = 0; i < FZ_MAX_CONNS; i++)
    if (conns[i].fd >= 0 && conns[i].kind == C_NEXT && !conns[i].eof)
      return true;
  return false;
}

static size_t open_conns(enum conn_kind kind)
{
  size_t i, n = 0;

  for (i = 0; i < FZ_MAX_CONNS; i++)
    n += conns[i].fd >= 0 && conns[i].kind == kind && !conns[i].eof;
  return n;
}

/* Bring the environment back to idle in a GET /next with nothing else open (see the top). */
static void settle(void)
{
  int step;

  if (pipe_conn) { /* the pipelining runtime hangs up when the input ends */
    pump_quiet();
    check_conns();
    if (pipe_conn)
      conn_hang_up(pipe_conn);
  }

  for (step = 0; step < 40; step++) {
    struct env *env;
    uint64_t start;

    pump_quiet();
    wait_answers();
    check_conns();
    check_running_delivered();
    env = live_env();
    if (getenv("FUZZ_VERBOSE"))
      fprintf(stderr, "settle %d: env %s state %d, open: next %zu rt %zu invoke %zu\n", step, env ? "live" : "none",
              env ? (int)env->state : -1, open_conns(C_NEXT), open_conns(C_RT), open_conns(C_INVOKE));
    if (!env) {
      /* wait for a dying environment to be reaped, then spawn a new one with an Invoke */
      for (start = util_now_us(); ctx->envs && util_now_us() - start < (uint64_t)FZ_BOUND_MS * 1000u;)
        iterate();
      FUZZ_CHECK(ctx->envs == NULL);
      if (open_conns(C_INVOKE) == 0) {
        send_invoke((const uint8_t *)"{}", 2);
      }
      continue;
    }
    switch (env->state) {
    case ENV_STARTING:
    case ENV_ANSWERED:
      if (!next_pending())
        send_next();
      break;
    case ENV_BUSY: {
      /* the harness answers with the running invocation's id (read from lemu's own record) */
      const char *id = env->inv ? env->inv->request_id : "";
      send_post("response", (const uint8_t *)id, strlen(id), NULL, 0, false, (const uint8_t *)"\"ok\"", 4);
      break;
    }
    case ENV_IDLE:
      if (open_conns(C_INVOKE) == 0 && open_conns(C_RT) == 0 && open_conns(C_NEXT) == 1) {
        FUZZ_CHECK(env->next_req != NULL);
        return;
      }
      if (open_conns(C_NEXT) == 0 && open_conns(C_INVOKE) == 0)
        send_invoke((const uint8_t *)"{}", 2);
      break;
    default:
      break;
    }
  }
  FUZZ_CHECK(!"the environment did not come back to idle");
}

static void report(void)
{
  fprintf(stderr, "fuzz_runtime_api: %lu inputs, %lu environments spawned after the first, %lu parked /next hung up\n",
          runs, ctx->next_env_id - first_env_id, next_hang_ups);
}

static void setup_once(void)
{
  char dir[512], path[600];
  FILE *f;
  size_t i;

  if (ctx)
    return;
  for (i = 0; i < FZ_MAX_CONNS; i++)
    conns[i].fd = -1;
  snprintf(dir, sizeof(dir), "%s/rtcode", fuzz_scratch());
  snprintf(path, sizeof(path), "%s/bootstrap", dir);
  if (mkdir(dir, 0755) != 0 || !(f = fopen(path, "w")))
    abort();
  /* never calls the Runtime API: it only waits to be killed */
  fputs("#!/bin/sh\nexec sleep 100000\n", f);
  if (fclose(f) != 0 || chmod(path, 0755) != 0)
    abort();
  ctx = fuzz_server_create(config_json);
  fn = registry_find(ctx->reg, "rt");
  FUZZ_CHECK(fn != NULL);
  send_invoke((const uint8_t *)"{}", 2); /* spawns the environment */
  settle();
  first_env_id = ctx->next_env_id;
  atexit(report);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct reader r = {data, data + size};
  int ops = 0;

  setup_once();
  while (r.p < r.end && ops++ < FZ_MAX_OPS) {
    unsigned op = take_byte(&r) & 7, which;
    const uint8_t *id, *etype, *body, *path;
    size_t id_len, etype_len, body_len, path_len;
    bool with_etype;

    switch (op) {
    case 0:
      send_next();
      break;
    case 1:
    case 2:
      which = take_byte(&r);
      if ((which & 3) < 2) {
        id = (const uint8_t *)ids[which & 1];
        id_len = strlen(ids[which & 1]);
      } else {
        id_len = take_text(&r, &id);
      }
      with_etype = op == 2 && (which & 4);
      etype_len = with_etype ? take_text(&r, &etype) : 0;
      if (!with_etype)
        etype = NULL;
      body_len = take_body(&r, &body);
      send_post(op == 1 ? "response" : "error", id, id_len, etype, etype_len, with_etype, body, body_len);
      break;
    case 3:
      which = take_byte(&r);
      with_etype = which & 1;
      etype_len = with_etype ? take_text(&r, &etype) : 0;
      if (!with_etype)
        etype = NULL;
      body_len = take_body(&r, &body);
      send_post("init/error", NULL, 0, etype, etype_len, with_etype, body, body_len);
      break;
    case 4:
      body_len = take_body(&r, &body);
      send_invoke(body, body_len);
      break;
    case 5:
      close_oldest();
      break;
    case 6:
      which = take_byte(&r);
      path_len = take_text(&r, &path);
      body_len = take_body(&r, &body);
      send_raw(which, path, path_len, body, body_len);
      break;
    default: {
      /* only with 'K' after it: a spawn costs far more than any request (keeps exec/s up) */
      unsigned key = take_byte(&r);
      struct env *env = key == FZ_KILL_KEY ? live_env() : NULL;
      if (key == FZ_HANG_UP_KEY)
        hang_up_next();
      if (key == FZ_PIPE_KEY) {
        body_len = take_body(&r, &body);
        send_pipelined(body, body_len);
      }
      if (env && env->pid > 0 && kill(-env->pid, SIGKILL) == 0) {
        /* wait (bounded) until it has exited, so what follows sees it gone: deterministic */
        uint64_t start = util_now_us();
        siginfo_t si;
        do {
          memset(&si, 0, sizeof(si));
          if (waitid(P_PID, (id_t)env->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0 || si.si_pid == env->pid)
            break;
          usleep(100);
        } while (util_now_us() - start < (uint64_t)FZ_BOUND_MS * 1000u);
      }
      break;
    }
    }
    pump_quiet();
    check_conns();
    check_running_delivered();
    if (getenv("FUZZ_VERBOSE"))
      fprintf(stderr, "op %u done\n", op);
  }
  settle();
  FUZZ_CHECK(ctx->invocations == NULL);
  FUZZ_CHECK(fn->in_flight == 0);
  FUZZ_CHECK(live_env() && live_env()->state == ENV_IDLE);
  if (++runs % FZ_FD_EVERY == 0 || runs == 32)
    fuzz_check_fds(&fd_baseline, FZ_FD_SLACK, runs, 32);
  return 0;
}
