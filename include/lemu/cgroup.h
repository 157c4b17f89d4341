/* Memory and process limits per execution environment through cgroups (design.md §2). Detected
 * once at start: cgroup v2 (memory.max / memory.peak / memory.events, pids.max, cgroup.kill) when
 * lemu may create a delegated child group, else cgroup v1 (memory.limit_in_bytes,
 * memory.max_usage_in_bytes, memory.oom_control, and the pids hierarchy), else none (envpool then
 * falls back to sampling the handler's RSS). Each environment gets its own group, which is also how
 * lemu finds and kills every process of an environment, even one that left its process group. */
#ifndef LEMU_CGROUP_H
#define LEMU_CGROUP_H

#include <stdbool.h>
#include <sys/types.h>

#include "lemu/err.h"
#include "lemu/loop.h"

#define CGROUP_MAX_PIDS 1024 /* Lambda's limit of processes and threads per environment */

enum cgroup_mode { CGROUP_NONE, CGROUP_V1, CGROUP_V2 };

struct cgroup_env {
  char *mem_dir;    /* NULL when the environment has no group */
  char *pids_dir;
  /* Until spawned: the files the child writes "0" into to join its groups (CLOEXEC), -1 if none.
   * v1: the groups' `tasks` files, not `cgroup.procs`: moving the calling thread alone (the child
   * has only one) skips the cgroup_threadgroup_rwsem write lock, whose RCU grace period made every
   * cold start wait 5-45 ms; the process and all it forks are then in the group all the same.
   * v2: cgroup.procs, used only when clone3(CLONE_INTO_CGROUP) on dir_fd is not available. */
  int attach_fd[2];
  int dir_fd;       /* v2: the group's directory, for CLONE_INTO_CGROUP until spawned; else -1 */
  int peak_fd;      /* memory.peak (v2) or memory.max_usage_in_bytes (v1), open for pread; or -1 */
  int memory_mb;    /* the memory limit written */
};

struct cgroup_sys {
  enum cgroup_mode mode;
  char *mem_base;   /* lemu's parent group for environments (memory hierarchy; v2: the only one) */
  char *pids_base;  /* v1 pids hierarchy parent, or NULL */
  char *moved_from; /* v2: the group lemu moved itself out of, restored at cleanup */
  char reason[256]; /* why cgroups are not used (mode NONE) */
  /* The next environment's groups, made ahead while lemu is idle (the mkdirs and limit writes were
   * ~0.25-0.3 ms of every cold start): limits written, no process in them, no file of them open
   * (the spawn opens the attach and peak files). spare.mem_dir is NULL when there is none. envpool
   * arms spare_timer after a spawn and makes the spare when it fires, for spare_want_mb (the memory
   * size last spawned); a spare of another size is taken all the same, its limit rewritten. */
  struct cgroup_env spare;
  unsigned long spare_seq;
  int spare_want_mb;
  struct loop_timer spare_timer;
};

/* Detect and prepare (creates lemu-<pid> parent groups). Never fails: mode NONE says why. */
void cgroup_sys_init(struct cgroup_sys *sys);
void cgroup_sys_cleanup(struct cgroup_sys *sys);
const char *cgroup_mode_name(const struct cgroup_sys *sys);

/* A group for one environment with the memory limit in MB: the spare (its limit rewritten if it was
 * made for another size), else a new one. On failure the environment runs without a group
 * (env->mem_dir NULL) and the reason is logged. */
lemu_err_t cgroup_env_create(struct cgroup_sys *sys, unsigned long id, int memory_mb,
                             struct cgroup_env *env);
/* Make the spare group for memory_mb now if there is none (quietly: on failure there is none, and
 * the next environment creates its own). */
void cgroup_make_spare(struct cgroup_sys *sys, int memory_mb);
/* Close the attach fds and dir_fd after the child has been spawned. */
void cgroup_env_spawned(struct cgroup_env *env);
/* Peak memory of the group in MB, or -1 when unknown: one pread() of the file opened at creation. */
int cgroup_env_peak_mb(const struct cgroup_env *env);
/* true when the kernel's OOM killer has killed a process of this group. */
bool cgroup_env_oom_killed(const struct cgroup_env *env);
/* SIGKILL every process in the group (repeatedly, in case one forks meanwhile). */
void cgroup_env_kill_all(const struct cgroup_env *env);
/* Kill what is left and remove the group. */
void cgroup_env_destroy(struct cgroup_env *env);

#endif
