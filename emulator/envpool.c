/* Execution environments (see include/lemu/envpool.h). */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lemu/aws_errors.h"
#include "lemu/envpool.h"
#include "lemu/http_server.h"
#include "lemu/invoker.h"
#include "lemu/logs.h"
#include "lemu/registry.h"
#include "lemu/sandbox.h"
#include "lemu/cgroup.h"
#include "lemu/server.h"

#define ENV_LISTEN_BACKLOG 64
#define ENV_READ_CHUNK 65536
#define ENV_MAX_LINE (256 * 1024)   /* a longer line is logged in pieces */
#define ENV_SHUTDOWN_WAIT_US (1000u * 1000u)
#define ENV_SHUTDOWN_POLL_NS (5 * 1000 * 1000)
/* The next environment's cgroups are made this long after the last spawn: after a cold start has
 * answered (a C one takes ~2 ms), and not between the spawns of a burst. */
#define ENV_SPARE_CGROUP_DELAY_US (5u * 1000u)

static void env_free(struct env *env);

static void idle_unlink(struct env *env)
{
  struct function *fn = env->fn;

  if (env->idle_prev)
    env->idle_prev->idle_next = env->idle_next;
  else if (fn->idle == env)
    fn->idle = env->idle_next;
  if (env->idle_next)
    env->idle_next->idle_prev = env->idle_prev;
  env->idle_next = env->idle_prev = NULL;
}

static void on_next_req_closed(struct http_req *req, void *owner)
{
  struct env *env = owner;

  (void)req;
  env->next_req = NULL;
  if (env->state == ENV_IDLE) {
    /* The runtime hung up while waiting: it is not idle any more. */
    idle_unlink(env);
    env->state = ENV_ANSWERED;
  }
}

void envpool_hold_next(struct env *env, struct http_req *next_req)
{
  env->next_req = next_req;
  next_req->owner = env;
  next_req->on_close = on_next_req_closed;
  next_req->close_on_peer_fin = true;
}

void envpool_park(struct env *env, struct http_req *next_req)
{
  struct function *fn = env->fn;

  env->state = ENV_IDLE;
  env->next_req = next_req;
  next_req->owner = env;
  next_req->on_close = on_next_req_closed;
  next_req->close_on_peer_fin = true;
  env->idle_prev = NULL;
  env->idle_next = fn->idle;
  if (fn->idle)
    fn->idle->idle_prev = env;
  fn->idle = env;
}

bool envpool_is_stale(const struct env *env)
{
  return env->generation != env->fn->generation || env->fn->removed;
}

struct env *envpool_take_idle(struct function *fn)
{
  struct env *env;

  while ((env = fn->idle) != NULL) {
    if (!envpool_is_stale(env)) {
      idle_unlink(env);
      return env;
    }
    envpool_kill(env); /* unlinks it */
  }
  return NULL;
}

void envpool_retire(struct lemu_ctx *ctx, struct function *fn)
{
  struct env *env;

  (void)ctx;
  while ((env = fn->idle) != NULL)
    envpool_kill(env);
}

struct env *envpool_find_answered(struct lemu_ctx *ctx, struct function *fn)
{
  struct env *env;

  for (env = ctx->envs; env; env = env->next)
    if (env->fn == fn && env->state == ENV_ANSWERED && !env->inv && !envpool_is_stale(env))
      return env;
  return NULL;
}

/* Write buffered output lines to the log; a line goes into the tail of the invocation running. */
static void env_emit_line(struct env *env, const char *p, size_t n)
{
  struct invocation *inv = env->inv;
  struct logs_tail *tail = inv && inv->phase == INV_RUNNING ? inv->tail : NULL;

  if (n > 0 && p[n - 1] == '\r')
    n--;
  logs_function_line(env->fn->cfg.name, tail, p, n);
}

static void env_take_output(struct env *env, const char *p, size_t n)
{
  while (n > 0) {
    const char *nl = memchr(p, '\n', n);
    size_t chunk = nl ? (size_t)(nl - p) : n;

    if (env->out_line.len + chunk > ENV_MAX_LINE) {
      /* Too long for one line: emit what we have as a line of its own. */
      size_t room = ENV_MAX_LINE - env->out_line.len;
      buf_append(&env->out_line, p, room);
      env_emit_line(env, env->out_line.data, env->out_line.len);
      buf_reset(&env->out_line);
      p += room;
      n -= room;
      continue;
    }
    if (!nl) {
      buf_append(&env->out_line, p, chunk);
      return;
    }
    if (env->out_line.len) {
      buf_append(&env->out_line, p, chunk);
      env_emit_line(env, env->out_line.data, env->out_line.len);
      buf_reset(&env->out_line);
    } else {
      env_emit_line(env, p, chunk);
    }
    p += chunk + 1;
    n -= chunk + 1;
  }
}

static void env_close_output(struct env *env)
{
  if (env->out_fd < 0)
    return;
  if (env->out_line.len) {
    env_emit_line(env, env->out_line.data, env->out_line.len);
    buf_reset(&env->out_line);
  }
  loop_unwatch(env->ctx->loop, env->out_fd);
  close(env->out_fd);
  env->out_fd = -1;
}

/* Read at most max_reads chunks; returns false at EOF. */
static bool env_read_output(struct env *env, int max_reads)
{
  char chunk[ENV_READ_CHUNK];

  while (env->out_fd >= 0 && max_reads-- > 0) {
    ssize_t r = read(env->out_fd, chunk, sizeof(chunk));
    if (r > 0) {
      env_take_output(env, chunk, (size_t)r);
      continue;
    }
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
      return true;
    env_close_output(env);
    return false;
  }
  return env->out_fd >= 0;
}

void envpool_drain_output(struct env *env)
{
  /* Bounded: a handler that floods stdout cannot hold the answer back forever. */
  env_read_output(env, 64);
}

static void on_output(int fd, uint32_t events, void *cls)
{
  (void)fd;
  (void)events;
  env_read_output(cls, 1);
}

static void on_runtime_accept(int fd, uint32_t events, void *cls)
{
  struct env *env = cls;

  (void)events;
  for (;;) {
    struct sockaddr_in addr;
    socklen_t len = sizeof(addr);
    int c = accept4(fd, (struct sockaddr *)&addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0)
      return;
    http_server_add_connection(env->ctx->rt, c, (struct sockaddr *)&addr, len, env);
  }
}

static void on_init_timeout(void *cls)
{
  struct env *env = cls;
  struct invocation *inv = env->inv;
  char line[128];
  int n;

  if (env->state != ENV_STARTING)
    return;
  n = snprintf(line, sizeof(line), "INIT_REPORT Init Duration: %.2f ms\tPhase: init\tStatus: timeout",
               (double)ENV_INIT_LIMIT_US / 1000.0);
  logs_function_line(env->fn->cfg.name, NULL, line, (size_t)n);
  env->inv = NULL;
  envpool_kill(env);
  if (inv)
    invoker_init_timeout(inv); /* Lambda retries init inside the invoke phase */
}

static void on_spare_cgroup(void *cls)
{
  struct cgroup_sys *cg = cls;

  cgroup_make_spare(cg, cg->spare_want_mb);
}

/* A spawn took the spare groups (or made its own): have the next cold start's made ahead, for the
 * size just spawned, once lemu has been free of spawns for a moment. A spare of another size is
 * still taken; only its limit is rewritten then. */
static void want_spare_cgroup(struct lemu_ctx *ctx, int memory_mb)
{
  struct cgroup_sys *cg = &ctx->cg;

  if (cg->mode == CGROUP_NONE || cg->spare.mem_dir)
    return;
  cg->spare_want_mb = memory_mb;
  cg->spare_timer.fn = on_spare_cgroup;
  cg->spare_timer.cls = cg;
  loop_timer_start(ctx->loop, &cg->spare_timer, ENV_SPARE_CGROUP_DELAY_US);
}

static int env_listen(unsigned *port)
{
  struct sockaddr_in addr;
  socklen_t len = sizeof(addr);
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

  if (fd < 0)
    return -1;
  memset(&addr, 0, sizeof(addr));
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, ENV_LISTEN_BACKLOG) < 0 ||
      getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
    close(fd);
    return -1;
  }
  *port = ntohs(addr.sin_port);
  return fd;
}

static void make_log_stream(char *out, size_t n, const char *version)
{
  char hex[33], date[16];
  time_t now = time(NULL);
  struct tm tm;

  gmtime_r(&now, &tm);
  strftime(date, sizeof(date), "%Y/%m/%d", &tm);
  util_random_hex(hex, 32);
  snprintf(out, n, "%s/[%s]%s", date, version, hex);
}

lemu_err_t envpool_spawn(struct lemu_ctx *ctx, struct function *fn, struct invocation *inv,
                         struct env **out, int *exec_errno)
{
  struct env *env = calloc(1, sizeof(*env));
  char **envp = NULL;
  char *api = NULL, *stream = NULL, *tmp = NULL;
  int pipefd[2] = {-1, -1};
  lemu_err_t rc = LEMU_ERR_SPAWN;
  size_t i;

  *exec_errno = 0;
  *out = NULL;
  if (!env) {
    *exec_errno = ENOMEM;
    return LEMU_ERR_NOMEM;
  }
  env->ctx = ctx;
  env->fn = function_ref(fn);
  env->generation = fn->generation;
  env->out_fd = -1;
  env->status_fd = -1;
  env->init_ms = -1;
  buf_init(&env->out_line, ENV_MAX_LINE);
  loop_timer_init(&env->init_timer, on_init_timeout, env);
  env->id = ++ctx->next_env_id;
  cgroup_env_create(&ctx->cg, env->id, fn->cfg.memory_mb, &env->cg);
  env->tmpdir = ephemeral_create(&ctx->sb.eph, env->id, fn->cfg.ephemeral_mb);
  env->listen_fd = env_listen(&env->port);
  if (env->listen_fd < 0 || pipe2(pipefd, O_CLOEXEC) < 0) {
    *exec_errno = errno;
    goto fail;
  }
  fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
  env->out_fd = pipefd[0];
  make_log_stream(env->log_stream, sizeof(env->log_stream), fn->version);
  envp = calloc(fn->n_base_env + 4, sizeof(char *));
  api = util_asprintf("AWS_LAMBDA_RUNTIME_API=127.0.0.1:%u", env->port);
  stream = util_asprintf("AWS_LAMBDA_LOG_STREAM_NAME=%s", env->log_stream);
  tmp = util_asprintf("TMPDIR=%s", env->tmpdir ? env->tmpdir : "/tmp");
  if (!envp || !api || !stream || !tmp) {
    *exec_errno = ENOMEM;
    goto fail;
  }
  for (i = 0; i < fn->n_base_env; i++)
    envp[i] = fn->base_env[i];
  envp[i++] = api;
  envp[i++] = stream;
  envp[i++] = tmp;
  {
    struct sandbox_spec spec = {
      .path = fn->exec_path, .argv = fn->argv, .envp = envp, .cwd = fn->cfg.code_dir,
      .output_fd = pipefd[1], .cgroup_fds = env->cg.attach_fd, .cgroup_dir_fd = env->cg.dir_fd,
      .sb = &ctx->sb,
    };
    env->spawned_us = util_now_us();
    rc = sandbox_spawn(&spec, &env->pid, exec_errno);
    cgroup_env_spawned(&env->cg);
    want_spare_cgroup(ctx, fn->cfg.memory_mb);
  }
  close(pipefd[1]);
  pipefd[1] = -1;
  if (rc)
    goto fail;
  {
    char path[32];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)env->pid);
    env->status_fd = open(path, O_RDONLY | O_CLOEXEC); /* VmHWM, see envpool_max_memory_mb() */
  }
  if (loop_watch(ctx->loop, env->listen_fd, EPOLLIN, on_runtime_accept, env) ||
      loop_watch(ctx->loop, env->out_fd, EPOLLIN, on_output, env)) {
    kill(-env->pid, SIGKILL);
    *exec_errno = ENOMEM;
    rc = LEMU_ERR_NOMEM;
    goto fail;
  }
  env->state = ENV_STARTING;
  env->inv = inv;
  if (inv)
    inv->env = env;
  loop_timer_start(ctx->loop, &env->init_timer, ENV_INIT_LIMIT_US);
  env->next = ctx->envs;
  if (ctx->envs)
    ctx->envs->prev = env;
  ctx->envs = env;
  ctx->n_envs++;
  fn->n_envs++;
  free(envp);
  free(api);
  free(stream);
  free(tmp);
  *out = env;
  return LEMU_ERR_OK;
fail:
  if (env->status_fd >= 0)
    close(env->status_fd);
  if (env->out_fd >= 0) {
    loop_unwatch(ctx->loop, env->out_fd);
    close(env->out_fd);
  }
  if (pipefd[1] >= 0)
    close(pipefd[1]);
  if (env->listen_fd >= 0) {
    loop_unwatch(ctx->loop, env->listen_fd);
    close(env->listen_fd);
  }
  buf_cleanup(&env->out_line);
  cgroup_env_destroy(&env->cg);
  ephemeral_destroy(&ctx->sb.eph, env->tmpdir);
  function_unref(env->fn);
  free(envp);
  free(api);
  free(stream);
  free(tmp);
  free(env);
  return rc;
}

void envpool_kill(struct env *env)
{
  if (env->state == ENV_DEAD)
    return;
  if (env->state == ENV_IDLE)
    idle_unlink(env);
  env->state = ENV_DEAD;
  loop_timer_stop(env->ctx->loop, &env->init_timer);
  if (env->pid > 0)
    kill(-env->pid, SIGKILL);
  cgroup_env_kill_all(&env->cg); /* also what left the process group */
  if (env->next_req) {
    struct http_req *req = env->next_req;
    env->next_req = NULL;
    req->on_close = NULL;
    aws_rapi_error_send(req, AWS_RAPI_INTERNAL);
  }
}

/* A "Key:   N kB" field of /proc/<pid>/status, in KB (0 when unknown). */
static long proc_status_kb(pid_t pid, const char *key)
{
  char path[64], line[256];
  size_t klen = strlen(key);
  FILE *f;
  long kb = 0;

  snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
  f = fopen(path, "r");
  if (!f)
    return 0;
  while (fgets(line, sizeof(line), f))
    if (strncmp(line, key, klen) == 0) {
      kb = strtol(line + klen, NULL, 10);
      break;
    }
  fclose(f);
  return kb;
}

/* VmHWM of the environment's main process in KB from its open status file (0 when unknown):
 * one pread() instead of opening and parsing /proc/PID/status through stdio at every invoke. */
static long status_hwm_kb(int fd)
{
  char buf[2048];
  ssize_t r;
  const char *p;

  if (fd < 0)
    return 0;
  r = pread(fd, buf, sizeof(buf) - 1, 0); /* VmHWM is in the first ~600 bytes */
  if (r <= 0)
    return 0;
  buf[r] = '\0';
  p = strstr(buf, "\nVmHWM:");
  return p ? strtol(p + 7, NULL, 10) : 0;
}

/* How long a VmHWM reading is reused when the environment has a memory group (see below). */
#define ENV_HWM_FRESH_US (100u * 1000u)

int envpool_max_memory_mb(struct env *env)
{
  /* The group's peak counts what the environment allocated; the main process's peak RSS also
   * counts the runtime's pages that another group already had in the page cache. Lambda's VM is
   * fresh, so it sees both: report the larger. Both come from files opened once per environment.
   * The group's peak (one pread, < 1 us) is read at every invoke's end. VmHWM costs ~6 us (the
   * kernel formats all of /proc/PID/status; at 64 busy environments it was 8 % of lemu's CPU), so
   * with a group it is re-read only when the last reading is 100 ms old or more: an invocation
   * that ran 100 ms or longer always gets a fresh one, and what a reused reading can miss is only
   * pages of the page cache charged to another group mapped during the last < 100 ms (everything
   * the environment itself allocates or reads in is in its group's peak, read now). Peaks only
   * grow, so a reused reading is a real peak at most 100 ms old, never above the current one.
   * Without a group VmHWM is the only source: read each time. */
  int mb = cgroup_env_peak_mb(&env->cg);

  if (env->pid > 0) {
    uint64_t now = util_now_us();
    if (env->cg.peak_fd < 0 || now - env->hwm_read_us >= ENV_HWM_FRESH_US) {
      int hwm = (int)((status_hwm_kb(env->status_fd) + 1023) / 1024);
      env->hwm_read_us = now;
      if (hwm > mb)
        mb = hwm;
    }
  }
  if (mb > env->max_memory_mb)
    env->max_memory_mb = mb;
  return env->max_memory_mb;
}

/* The /proc scan behind kill_orphans() when the kernel has no /proc/PID/task/TID/children
 * (CONFIG_PROC_CHILDREN): every process's PPid, O(processes on the machine). */
static void kill_orphans_scan(const pid_t *envs, size_t n_envs);

static int pid_cmp(const void *a, const void *b)
{
  pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

  return x < y ? -1 : x > y;
}

static void kill_if_orphan(pid_t pid, const pid_t *envs, size_t n_envs)
{
  if (pid > 0 && !bsearch(&pid, envs, n_envs, sizeof(*envs), pid_cmp))
    kill(pid, SIGKILL); /* reaped by the loop's SIGCHLD handling, or at shutdown */
}

/* lemu is the subreaper of its handlers: a process that escaped its environment's process group
 * (double fork + setsid) is reparented to lemu when its parent dies. Without cgroups this is the
 * only way to find it: kill every child of lemu that is not a live environment's runtime. lemu's
 * children are listed per thread (a reparented orphan goes to one of lemu's threads) in
 * /proc/self/task/TID/children, so this is O(lemu's children), not a walk of every process on
 * the machine at every environment's death. */
static void kill_orphans(struct lemu_ctx *ctx)
{
  pid_t *envs = malloc((ctx->n_envs ? ctx->n_envs : 1) * sizeof(*envs));
  size_t n_envs = 0;
  struct env *env;
  DIR *tasks;
  struct dirent *e;
  bool listed = true;

  if (!envs)
    return;
  for (env = ctx->envs; env; env = env->next)
    if (env->pid > 0 && n_envs < ctx->n_envs)
      envs[n_envs++] = env->pid;
  qsort(envs, n_envs, sizeof(*envs), pid_cmp);
  tasks = opendir("/proc/self/task");
  while (tasks && listed && (e = readdir(tasks)) != NULL) {
    char path[300], chunk[4096]; /* d_name is at most 255 bytes */
    ssize_t r;
    pid_t pid = 0;
    int fd;

    if (e->d_name[0] < '1' || e->d_name[0] > '9')
      continue;
    snprintf(path, sizeof(path), "/proc/self/task/%s/children", e->d_name);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      snprintf(path, sizeof(path), "/proc/self/task/%s", e->d_name);
      if (errno == ENOENT && access(path, F_OK) == 0)
        listed = false; /* the thread is there, its list is not: no CONFIG_PROC_CHILDREN */
      continue;         /* otherwise the thread ended meanwhile */
    }
    /* "PID PID ... " in chunks: a number may be cut between two reads. */
    while ((r = read(fd, chunk, sizeof(chunk))) > 0)
      for (ssize_t i = 0; i < r; i++) {
        if (chunk[i] >= '0' && chunk[i] <= '9') {
          pid = pid * 10 + (chunk[i] - '0');
          continue;
        }
        kill_if_orphan(pid, envs, n_envs);
        pid = 0;
      }
    kill_if_orphan(pid, envs, n_envs);
    close(fd);
  }
  if (tasks)
    closedir(tasks);
  if (!tasks || !listed)
    kill_orphans_scan(envs, n_envs);
  free(envs);
}

static void kill_orphans_scan(const pid_t *envs, size_t n_envs)
{
  DIR *d = opendir("/proc");
  struct dirent *e;
  pid_t self = getpid();

  if (!d)
    return;
  while ((e = readdir(d)) != NULL) {
    char path[64], line[256];
    FILE *f;
    pid_t pid = (pid_t)strtol(e->d_name, NULL, 10), ppid = 0;

    if (pid <= 0)
      continue;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    f = fopen(path, "re");
    if (!f)
      continue;
    while (fgets(line, sizeof(line), f))
      if (strncmp(line, "PPid:", 5) == 0) {
        ppid = (pid_t)strtol(line + 5, NULL, 10);
        break;
      }
    fclose(f);
    if (ppid == self)
      kill_if_orphan(pid, envs, n_envs);
  }
  closedir(d);
}

static void env_free(struct env *env)
{
  struct lemu_ctx *ctx = env->ctx;

  if (env->state == ENV_IDLE)
    idle_unlink(env);
  loop_timer_stop(ctx->loop, &env->init_timer);
  if (env->next_req) {
    struct http_req *req = env->next_req;
    env->next_req = NULL;
    req->on_close = NULL;
    aws_rapi_error_send(req, AWS_RAPI_INTERNAL);
  }
  env_close_output(env);
  if (env->listen_fd >= 0) {
    loop_unwatch(ctx->loop, env->listen_fd);
    close(env->listen_fd);
  }
  http_server_untag(ctx->rt, env);
  if (ctx->cg.mode == CGROUP_NONE)
    kill_orphans(ctx);
  if (env->prev)
    env->prev->next = env->next;
  else
    ctx->envs = env->next;
  if (env->next)
    env->next->prev = env->prev;
  ctx->n_envs--;
  env->fn->n_envs--;
  if (env->status_fd >= 0)
    close(env->status_fd);
  buf_cleanup(&env->out_line);
  cgroup_env_destroy(&env->cg);
  ephemeral_destroy(&ctx->sb.eph, env->tmpdir);
  function_unref(env->fn);
  free(env);
}

void envpool_on_child_exit(pid_t pid, int status, long maxrss_kb, void *cls)
{
  struct lemu_ctx *ctx = cls;
  struct env *env;
  struct invocation *inv;

  for (env = ctx->envs; env; env = env->next)
    if (env->pid == pid)
      break;
  if (!env)
    return; /* an orphaned grandchild we reaped as subreaper, or a failed exec */
  env_read_output(env, 1024);
  if (maxrss_kb > 0 && (int)((maxrss_kb + 1023) / 1024) > env->max_memory_mb)
    env->max_memory_mb = (int)((maxrss_kb + 1023) / 1024);
  kill(-pid, SIGKILL); /* whatever the handler left behind in its group dies with it */
  env->pid = 0;
  inv = env->inv;
  if (inv) {
    bool oom = env->oom || cgroup_env_oom_killed(&env->cg);
    enum env_state was = env->state;
    if (env->state == ENV_IDLE)
      idle_unlink(env);
    env->state = ENV_DEAD; /* so the requeue below cannot pick this environment again */
    if (was == ENV_ANSWERED) {
      env->inv = NULL;
      inv->env = NULL;
      invoker_requeue(inv); /* it never took the invocation we queued on it */
    } else {
      invoker_env_died(inv, status, oom); /* still linked: REPORT reads its memory and init */
      env->inv = NULL;
    }
  } else if (env->state != ENV_DEAD) {
    char reason[64];
    aws_exit_reason(status, reason, sizeof(reason));
    logs_debug("environment of %s exited while idle (%s)", env->fn->cfg.name, reason);
  }
  env_free(env);
}

#define ENV_RSS_SAMPLE_US (50u * 1000u)

/* Without cgroups: sample each environment's main process and kill it past its MemorySize. */
static void on_rss_sample(void *cls)
{
  struct lemu_ctx *ctx = cls;
  struct env *env;

  for (env = ctx->envs; env; env = env->next) {
    long kb;
    if (env->pid <= 0 || env->state == ENV_DEAD)
      continue;
    kb = proc_status_kb(env->pid, "VmRSS:");
    if ((int)((kb + 1023) / 1024) > env->max_memory_mb)
      env->max_memory_mb = (int)((kb + 1023) / 1024);
    if (kb > (long)env->fn->cfg.memory_mb * 1024) {
      env->oom = true;
      kill(-env->pid, SIGKILL); /* reported as Runtime.OutOfMemory when it is reaped */
    }
  }
  loop_timer_start(ctx->loop, &ctx->rss_timer, ENV_RSS_SAMPLE_US);
}

void envpool_start_rss_sampler(struct lemu_ctx *ctx)
{
  loop_timer_init(&ctx->rss_timer, on_rss_sample, ctx);
  loop_timer_start(ctx->loop, &ctx->rss_timer, ENV_RSS_SAMPLE_US);
}

void envpool_shutdown(struct lemu_ctx *ctx)
{
  struct env *env;
  uint64_t until = util_now_us() + ENV_SHUTDOWN_WAIT_US;

  if (ctx->cg.spare_timer.fn) /* armed once an environment was spawned; the spare goes with cgroups */
    loop_timer_stop(ctx->loop, &ctx->cg.spare_timer);
  for (env = ctx->envs; env; env = env->next) {
    if (env->inv) {
      struct invocation *inv = env->inv;
      env->inv = NULL;
      inv->env = NULL;
      invoker_abort(inv);
    }
    envpool_kill(env);
  }
  kill_orphans(ctx);
  /* Reap until no child is left: the environments, and their orphaned descendants that were
   * reparented to us (lemu is a subreaper), so none is left as a zombie for init. */
  while (util_now_us() < until) {
    int status;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      envpool_on_child_exit(pid, status, 0, ctx);
    } else if (pid == 0) {
      struct timespec ts = {0, ENV_SHUTDOWN_POLL_NS};
      nanosleep(&ts, NULL);
    } else {
      break; /* ECHILD: nothing left */
    }
  }
  while (ctx->envs)
    env_free(ctx->envs);
}
