/* Execution environments: one handler process (its process group), its Runtime API socket and its
 * output pipe. An environment is spawned for an invocation when none is idle, waits in GET /next
 * between invocations (the function's idle list), and is discarded after a timeout, a crash or an
 * init failure, so the next invoke is a cold start. envpool owns every struct env. */
#ifndef LEMU_ENVPOOL_H
#define LEMU_ENVPOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "lemu/buf.h"
#include "lemu/cgroup.h"
#include "lemu/err.h"
#include "lemu/loop.h"
#include "lemu/util.h"

struct lemu_ctx;
struct function;
struct invocation;
struct http_req;

#define ENV_INIT_LIMIT_US (10u * 1000u * 1000u) /* on-demand init phase limit (reference §4) */

enum env_state {
  ENV_STARTING,  /* spawned, init phase: has not called GET /next yet */
  ENV_IDLE,      /* waiting in GET /next (next_req suspended), on the function's idle list */
  ENV_BUSY,      /* an invocation was delivered and has not been answered */
  ENV_ANSWERED,  /* answered its invocation; its next GET /next makes it idle again */
  ENV_DEAD,      /* killed or exited; freed once its process is reaped */
};

enum env_last { ENV_LAST_NONE, ENV_LAST_RESPONSE, ENV_LAST_ERROR };

struct env {
  struct lemu_ctx *ctx;
  struct function *fn;        /* holds a reference */
  uint64_t generation;        /* fn->generation it was spawned with */
  enum env_state state;
  pid_t pid;                  /* also the process group id; 0 once reaped */
  int listen_fd;              /* its Runtime API socket: the environment's identity */
  unsigned port;
  int out_fd;                 /* read end of its stdout+stderr pipe, -1 when closed */
  struct buf out_line;        /* partial output line */
  struct http_req *next_req;  /* suspended GET /next while idle */
  struct invocation *inv;     /* assigned (STARTING/ANSWERED) or running (BUSY) invocation */
  uint64_t spawned_us;
  double init_ms;             /* init phase length, reported on the first invoke; < 0 once used */
  bool suppressed_init;       /* re-init after an init timeout: runs under the invoke deadline */
  struct loop_timer init_timer;
  char last_request_id[LEMU_UUID_LEN + 1]; /* the invocation it answered last */
  enum env_last last;
  char log_stream[96];        /* YYYY/MM/DD/[$LATEST]<32 hex> */
  int max_memory_mb;          /* last peak read, kept for the REPORT after the process is gone */
  int status_fd;              /* its main process's /proc/PID/status, open for pread (VmHWM); -1 */
  uint64_t hwm_read_us;       /* when VmHWM was last read from status_fd */
  unsigned long id;
  struct cgroup_env cg;       /* its memory/pids groups (cg.mem_dir NULL without cgroups) */
  char *tmpdir;               /* its TMPDIR (owned) */
  bool oom;                   /* killed at its memory limit (RSS sampling mode) */
  bool held;                  /* answered an invocation a timeout fault holds: waits to be killed */
  struct env *next, *prev;    /* ctx->envs */
  struct env *idle_next, *idle_prev; /* fn->idle */
};

/* Spawn an environment of fn with inv assigned to it. On exec failure returns LEMU_ERR_SPAWN and
 * sets *exec_errno (the caller reports Runtime.InvalidEntrypoint). */
lemu_err_t envpool_spawn(struct lemu_ctx *ctx, struct function *fn, struct invocation *inv,
                         struct env **out, int *exec_errno);
/* An idle environment of fn, taken off the idle list (its next_req still suspended), or NULL. */
struct env *envpool_take_idle(struct function *fn);
/* An environment of fn that answered its last invocation and will call /next any moment, with no
 * invocation assigned yet; NULL if none. */
struct env *envpool_find_answered(struct lemu_ctx *ctx, struct function *fn);
/* Keep a held environment's GET /next suspended (not idle) until the environment is killed. */
void envpool_hold_next(struct env *env, struct http_req *next_req);
/* Make env idle with its suspended GET /next. */
void envpool_park(struct env *env, struct http_req *next_req);
/* Kill the environment's whole process group; it is freed when reaped. Idempotent. */
void envpool_kill(struct env *env);
/* Read whatever the handler has written so far (before an answer is final). */
void envpool_drain_output(struct env *env);
/* Peak memory of the environment in MB (for REPORT's Max Memory Used); the last value read once
 * the process is gone. */
int envpool_max_memory_mb(struct env *env);
/* The loop's child handler: a reaped pid. */
void envpool_on_child_exit(pid_t pid, int status, long maxrss_kb, void *ctx);
/* fn was updated or deleted: kill its idle environments now; busy ones are discarded when their
 * invocation ends (their generation is stale). */
void envpool_retire(struct lemu_ctx *ctx, struct function *fn);
/* true when env runs an older generation of its function's code or configuration. */
bool envpool_is_stale(const struct env *env);
/* Start the RSS sampler that enforces memory limits when cgroups are not available. */
void envpool_start_rss_sampler(struct lemu_ctx *ctx);
/* Kill every environment and wait (bounded) for them to be reaped; frees them all. */
void envpool_shutdown(struct lemu_ctx *ctx);

#endif
