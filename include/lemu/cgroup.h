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

#define CGROUP_MAX_PIDS 1024 /* Lambda's limit of processes and threads per environment */

enum cgroup_mode { CGROUP_NONE, CGROUP_V1, CGROUP_V2 };

struct cgroup_sys {
  enum cgroup_mode mode;
  char *mem_base;   /* lemu's parent group for environments (memory hierarchy; v2: the only one) */
  char *pids_base;  /* v1 pids hierarchy parent, or NULL */
  char *moved_from; /* v2: the group lemu moved itself out of, restored at cleanup */
  char reason[256]; /* why cgroups are not used (mode NONE) */
};

struct cgroup_env {
  char *mem_dir;    /* NULL when the environment has no group */
  char *pids_dir;
  int procs_fd[2];  /* open cgroup.procs files the child writes "0" into (CLOEXEC), -1 if none */
};

/* Detect and prepare (creates lemu-<pid> parent groups). Never fails: mode NONE says why. */
void cgroup_sys_init(struct cgroup_sys *sys);
void cgroup_sys_cleanup(struct cgroup_sys *sys);
const char *cgroup_mode_name(const struct cgroup_sys *sys);

/* A group for one environment with the memory limit in MB. On failure the environment runs without
 * a group (env->mem_dir NULL) and the reason is logged once. */
lemu_err_t cgroup_env_create(const struct cgroup_sys *sys, unsigned long id, int memory_mb,
                             struct cgroup_env *env);
/* Close the procs fds after the child has been spawned. */
void cgroup_env_spawned(struct cgroup_env *env);
/* Peak memory of the group in MB, or -1 when unknown. */
int cgroup_env_peak_mb(const struct cgroup_env *env);
/* true when the kernel's OOM killer has killed a process of this group. */
bool cgroup_env_oom_killed(const struct cgroup_env *env);
/* SIGKILL every process in the group (repeatedly, in case one forks meanwhile). */
void cgroup_env_kill_all(const struct cgroup_env *env);
/* Kill what is left and remove the group. */
void cgroup_env_destroy(struct cgroup_env *env);

#endif
