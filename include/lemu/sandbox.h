/* What happens between fork and exec of a handler process: its own process group, death with
 * lemu (PR_SET_PDEATHSIG), a clean signal mask, stdin from /dev/null, stdout+stderr into one pipe
 * (Lambda merges them into one log stream), cwd at the code directory, Lambda's environment.
 * Only async-signal-safe calls run in the child; an exec failure comes back as an errno through a
 * CLOEXEC pipe (libuv's uv_spawn pattern). Limits and the seccomp filter will be added here. */
#ifndef LEMU_SANDBOX_H
#define LEMU_SANDBOX_H

#include <sys/types.h>

#include "lemu/err.h"

struct sandbox_spec {
  const char *path;        /* program to exec */
  char *const *argv;
  char *const *envp;
  const char *cwd;
  int output_fd;           /* becomes the child's stdout and stderr */
};

/* Start the process. On success *pid is its pid (also its process group id). LEMU_ERR_SPAWN with
 * *exec_errno set when fork or exec failed (ENOENT for a missing bootstrap, EACCES when it is not
 * executable, ...). */
lemu_err_t sandbox_spawn(const struct sandbox_spec *spec, pid_t *pid, int *exec_errno);

/* Called once at start: makes lemu the reaper of its handlers' orphans, so a grandchild cannot
 * escape by being reparented to init. */
void sandbox_init(void);

#endif
